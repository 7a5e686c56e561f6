//! Domain events: what happened to an order, told to whoever subscribes to the events topic.
//!
//! One versioned envelope for every event (`eventId`, `type`, `version`, `occurredAt`, the
//! subject's `orderId` or `sku`, `userId`, `data`); the type also travels as the SNS message
//! attribute `type`, so subscriptions filter without reading bodies. The JSON Schema of each
//! event is `events/schemas/<type>.schema.json`.
//!
//! Delivery is at least once: a step that is retried publishes its event again. The event id is
//! derived from the subject and the type (each type happens at most once per order), so the
//! copy has the same id and consumers deduplicate by it. The id is laid out as a UUIDv7 whose
//! time is the order's creation time: events sort by order, and the id is stable across retries.

use crate::error::StoreError;
use crate::order::OrderId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::future::Future;
use uuid::Uuid;

/// The envelope's version; bump it (and the schemas) for an incompatible change.
pub const ENVELOPE_VERSION: u32 = 1;

/// The SNS message attribute that carries the event type.
pub const TYPE_ATTRIBUTE: &str = "type";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    OrderCreated,
    StockReserved,
    StockFailed,
    PaymentSucceeded,
    PaymentFailed,
    DeliveryScheduled,
    OrderCompleted,
    OrderCancelled,
    RefundIssued,
    OrderShipped,
    OrderDelivered,
}

impl EventType {
    pub const ALL: [Self; 11] = [
        Self::OrderCreated,
        Self::StockReserved,
        Self::StockFailed,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::DeliveryScheduled,
        Self::OrderCompleted,
        Self::OrderCancelled,
        Self::RefundIssued,
        Self::OrderShipped,
        Self::OrderDelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "OrderCreated",
            Self::StockReserved => "StockReserved",
            Self::StockFailed => "StockFailed",
            Self::PaymentSucceeded => "PaymentSucceeded",
            Self::PaymentFailed => "PaymentFailed",
            Self::DeliveryScheduled => "DeliveryScheduled",
            Self::OrderCompleted => "OrderCompleted",
            Self::OrderCancelled => "OrderCancelled",
            Self::RefundIssued => "RefundIssued",
            Self::OrderShipped => "OrderShipped",
            Self::OrderDelivered => "OrderDelivered",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The envelope every event travels in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub order_id: OrderId,
    pub user_id: String,
    /// Ties the event to the request that created the order, its saga and its log lines
    /// (`shared::correlation`).
    pub correlation_id: String,
    /// The type's own fields, described by its schema.
    pub data: Value,
}

impl DomainEvent {
    /// An event about an order; its id is `event_id(order_id, event_type)`, its correlation id
    /// the order id until `correlated` names the order's own.
    pub fn for_order(
        event_type: EventType,
        order_id: OrderId,
        user_id: impl Into<String>,
        occurred_at: DateTime<Utc>,
        data: Value,
    ) -> Self {
        Self {
            event_id: event_id(order_id, event_type),
            event_type,
            version: ENVELOPE_VERSION,
            occurred_at,
            order_id,
            user_id: user_id.into(),
            correlation_id: order_id.to_string(),
            data,
        }
    }

    pub fn correlated(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = correlation_id.into();
        self
    }
}

/// The id of the one event of `event_type` about `order_id`: a UUIDv7 layout (version 7,
/// RFC 9562 variant) with the order id's millisecond time and 74 bits of SHA-256 of the pair.
/// Step Functions cannot compute it, so the saga's input carries the ids of the events the
/// state machine publishes itself (`SagaInput::event_ids`).
pub fn event_id(order_id: OrderId, event_type: EventType) -> Uuid {
    let order = order_id.as_uuid().as_bytes();
    let digest = Sha256::digest(format!("{order_id}/{event_type}"));
    let mut bytes = [0u8; 16];
    // 48 bits of Unix milliseconds, as in the order id itself.
    bytes[..6].copy_from_slice(&order[..6]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    Uuid::from_bytes(bytes)
}

/// Where events go: the SNS topic on AWS, a list in tests.
pub trait EventPublisher: Send + Sync {
    /// Publishes the event once more; publishing the same event twice is allowed (consumers
    /// deduplicate by `eventId`). A failure is transient: the caller's retry publishes again.
    fn publish(&self, event: &DomainEvent) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn order_at(ms: i64) -> OrderId {
        OrderId::new_at(Utc.timestamp_millis_opt(ms).single().unwrap_or_default())
    }

    #[test]
    fn an_event_id_is_stable_for_its_order_and_type() {
        let order = order_at(1_700_000_000_123);
        assert_eq!(
            event_id(order, EventType::OrderCompleted),
            event_id(order, EventType::OrderCompleted)
        );
        let ids: std::collections::HashSet<Uuid> =
            EventType::ALL.iter().map(|t| event_id(order, *t)).collect();
        assert_eq!(ids.len(), EventType::ALL.len());
    }

    #[test]
    fn an_event_id_is_a_v7_uuid_sorted_by_the_orders_time() {
        let earlier = order_at(1_700_000_000_000);
        let later = order_at(1_700_000_000_001);
        let id = event_id(earlier, EventType::OrderCancelled);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(
            id.get_timestamp().map(|t| t.to_unix()),
            earlier.as_uuid().get_timestamp().map(|t| t.to_unix())
        );
        for t in EventType::ALL {
            assert!(event_id(earlier, t) < event_id(later, EventType::OrderCreated));
        }
    }

    #[test]
    fn the_envelope_reads_as_documented() {
        let order = order_at(1_700_000_000_000);
        let at = Utc
            .timestamp_millis_opt(1_700_000_001_000)
            .single()
            .unwrap_or_default();
        let event = DomainEvent::for_order(
            EventType::OrderShipped,
            order,
            "alice",
            at,
            serde_json::json!({}),
        );
        let json = serde_json::to_value(&event).unwrap_or_default();
        assert_eq!(json["type"], "OrderShipped");
        assert_eq!(json["version"], 1);
        assert_eq!(json["orderId"], order.to_string());
        assert_eq!(json["userId"], "alice");
        assert_eq!(json["correlationId"], order.to_string());
        assert_eq!(json["occurredAt"], "2023-11-14T22:13:21Z");
        assert_eq!(
            json["eventId"],
            event_id(order, EventType::OrderShipped).to_string()
        );
        let back: DomainEvent = serde_json::from_value(json).unwrap_or_else(|_| event.clone());
        assert_eq!(back, event);
    }
}
