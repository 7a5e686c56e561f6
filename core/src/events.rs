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
//! `ProductUpdated` is about a product, not an order: its subject is `sku` (no `orderId`) and its
//! id derives from the SKU and the product's version, so a republished snapshot keeps its id.

use crate::error::StoreError;
use crate::values::{OrderId, Sku};
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
    ProductUpdated,
}

impl EventType {
    pub const ALL: [Self; 12] = [
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
        Self::ProductUpdated,
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
            Self::ProductUpdated => "ProductUpdated",
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
    /// The order an order event is about; absent from product events. Left out of the JSON
    /// when absent, so order events read exactly as before product events existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// The product a product event (`ProductUpdated`) is about; absent from order events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// The customer who placed the order; for a product event, the admin who changed it.
    pub user_id: String,
    /// Ties the event to the request that created the order, its saga and its log lines
    /// (`order_http::correlation`).
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
            order_id: Some(order_id),
            sku: None,
            user_id: user_id.into(),
            correlation_id: order_id.to_string(),
            data,
        }
    }

    /// A `ProductUpdated` event: the snapshot `data` of `sku` at `product_version`, changed by
    /// `admin`; its id is `product_event_id(sku, product_version)`.
    pub fn product_updated(
        sku: Sku,
        product_version: u64,
        admin: impl Into<String>,
        occurred_at: DateTime<Utc>,
        data: Value,
    ) -> Self {
        Self {
            event_id: product_event_id(&sku, product_version),
            event_type: EventType::ProductUpdated,
            version: ENVELOPE_VERSION,
            occurred_at,
            order_id: None,
            correlation_id: format!("{sku}@{product_version}"),
            sku: Some(sku),
            user_id: admin.into(),
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

/// The id of the `ProductUpdated` event of `sku` at `product_version`: the same for every
/// publication of that snapshot (a retried admin request republishes it). A UUIDv8 (custom
/// layout, RFC 9562 variant) of 122 bits of SHA-256 of the pair; no time to sort by here.
pub fn product_event_id(sku: &Sku, product_version: u64) -> Uuid {
    let digest = Sha256::digest(format!(
        "{sku}/{product_version}/{}",
        EventType::ProductUpdated
    ));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = 0x80 | (bytes[6] & 0x0f);
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
    use serde_json::json;

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
        assert!(json.get("sku").is_none());
        let back: DomainEvent = serde_json::from_value(json).unwrap_or_else(|_| event.clone());
        assert_eq!(back, event);
    }

    #[test]
    fn an_order_event_serialises_its_fields_in_the_old_order() {
        let order = order_at(1_700_000_000_000);
        let at = Utc.timestamp_millis_opt(0).single().unwrap_or_default();
        let event = DomainEvent::for_order(EventType::OrderShipped, order, "alice", at, json!({}));
        let text = serde_json::to_string(&event).unwrap_or_default();
        let keys: Vec<&str> = [
            "eventId",
            "type",
            "version",
            "occurredAt",
            "orderId",
            "userId",
            "correlationId",
            "data",
        ]
        .into_iter()
        .filter(|k| text.contains(&format!("\"{k}\"")))
        .collect();
        assert_eq!(keys.len(), 8);
        let positions: Vec<usize> = keys
            .iter()
            .filter_map(|k| text.find(&format!("\"{k}\"")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn a_product_event_is_keyed_by_sku_and_version() {
        let sku = Sku::try_from("MUG").unwrap_or_else(|_| unreachable!());
        let at = Utc.timestamp_millis_opt(0).single().unwrap_or_default();
        let event = DomainEvent::product_updated(sku.clone(), 3, "admin", at, json!({}));
        let json = serde_json::to_value(&event).unwrap_or_default();
        assert_eq!(json["type"], "ProductUpdated");
        assert_eq!(json["sku"], "MUG");
        assert!(json.get("orderId").is_none());
        assert_eq!(json["eventId"], product_event_id(&sku, 3).to_string());
        assert_eq!(product_event_id(&sku, 3), product_event_id(&sku, 3));
        assert_ne!(product_event_id(&sku, 3), product_event_id(&sku, 4));
        assert_eq!(product_event_id(&sku, 3).get_version_num(), 8);
        let back: DomainEvent = serde_json::from_value(json).unwrap_or_else(|_| event.clone());
        assert_eq!(back, event);
    }
}
