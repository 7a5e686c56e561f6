//! What the customer is told about their orders, and on which channels.
//!
//! The notify function consumes the domain events a buyer hears about (`OrderCompleted`,
//! `OrderCancelled`, `OrderShipped`, `OrderDelivered`, `RefundIssued`) from its SQS queue. For
//! each it renders one short text and sends it on every channel of the user's profile (email,
//! sms, push) and always on the in-app inbox, so that a user without a profile still finds their
//! notifications in `GET /notifications`.
//!
//! Delivery is at least once (SNS to SQS, and a message that failed comes back), so every
//! notification has an id derived from the event's id and the channel: a second delivery of the
//! event, or a redriven message, finds each id sent already and sends nothing new.

use crate::error::StoreError;
use crate::events::{DomainEvent, EventType};
use crate::money::Money;
use crate::order::OrderId;
use crate::profile::{self, Profile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

pub use crate::order::Outcome;

/// Where a notification goes: the profile's channels, and the in-app inbox that every user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Inbox,
    Email,
    Sms,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<profile::Channel> for Channel {
    fn from(channel: profile::Channel) -> Self {
        match channel {
            profile::Channel::Email => Self::Email,
            profile::Channel::Sms => Self::Sms,
            profile::Channel::Push => Self::Push,
        }
    }
}

/// One message sent (or recorded) on one channel about one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `notification_id(event_id, channel)`: the same event on the same channel is one
    /// notification, however often it is delivered.
    pub notification_id: Uuid,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub order_id: OrderId,
    pub user_id: String,
    pub channel: Channel,
    /// The email address, the E.164 phone number, the push endpoint ARN (the user id for the
    /// inbox, and for push when the profile names no endpoint).
    pub address: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

impl Notification {
    /// The order outcome this notification tells of, if it tells of one.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.event_type {
            EventType::OrderCompleted => Some(Outcome::Completed),
            EventType::OrderCancelled => Some(Outcome::Cancelled),
            _ => None,
        }
    }
}

/// The id of the notification of `event_id` on `channel`: laid out like `events::event_id`, a
/// UUIDv7 with the event id's millisecond time (so ids sort by order) and 74 bits of SHA-256
/// of the pair.
pub fn notification_id(event_id: Uuid, channel: Channel) -> Uuid {
    let digest = Sha256::digest(format!("{event_id}/{channel}"));
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&event_id.as_bytes()[..6]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    Uuid::from_bytes(bytes)
}

/// The event types users are told about; any other is acknowledged and dropped.
pub const TOLD: [EventType; 5] = [
    EventType::OrderCompleted,
    EventType::OrderCancelled,
    EventType::OrderShipped,
    EventType::OrderDelivered,
    EventType::RefundIssued,
];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotifyError {
    /// The message is not an event we can tell anyone about (not JSON, not an envelope, an
    /// unknown type, data missing); retrying will not mend it: it ends in the dead-letter queue.
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The text of the notification of `event`, the same on every channel.
pub fn render(event: &DomainEvent) -> Result<String, NotifyError> {
    let order = order_of(event)?;
    Ok(match event.event_type {
        EventType::OrderCompleted => {
            let total: Money = field(event, "total")?;
            format!("Your order {order} is confirmed. We charged {total}.")
        }
        EventType::OrderCancelled => {
            let reason: Option<String> = field(event, "reason").ok();
            let why = match reason.as_deref() {
                Some("OUT_OF_STOCK") => "some items are out of stock",
                Some("PAYMENT_DECLINED") => "the payment was declined",
                Some("USER_CANCELLED") => "you asked us to",
                Some("EXPIRED") => "it was not paid in time",
                _ => "we could not complete it",
            };
            // A cancelled order may have been charged first (a customer's cancellation of a
            // completed order): the refund is part of the cancellation.
            format!(
                "Your order {order} was cancelled because {why}. Anything charged for it has been refunded in full."
            )
        }
        EventType::OrderShipped => format!("Your order {order} has shipped and is on its way."),
        EventType::OrderDelivered => format!("Your order {order} has been delivered."),
        EventType::RefundIssued => {
            let amount: Money = field(event, "amount")?;
            format!("We refunded {amount} for your order {order} to your account.")
        }
        other => {
            return Err(NotifyError::Malformed(format!(
                "{other} events are not told to users"
            )));
        }
    })
}

/// The subject line of a notification sent by email: short, and naming what happened.
pub fn subject(notification: &Notification) -> String {
    let what = match notification.event_type {
        EventType::OrderCompleted => "is confirmed",
        EventType::OrderCancelled => "was cancelled",
        EventType::OrderShipped => "has shipped",
        EventType::OrderDelivered => "has been delivered",
        EventType::RefundIssued => "was refunded",
        _ => "has news",
    };
    format!("Your order {} {what}", notification.order_id)
}

/// The order a buyer-facing event is about; one without is malformed.
pub(crate) fn order_of(event: &DomainEvent) -> Result<OrderId, NotifyError> {
    event.order_id.ok_or_else(|| {
        NotifyError::Malformed(format!(
            "{} {} has no orderId",
            event.event_type, event.event_id
        ))
    })
}

fn field<T: serde::de::DeserializeOwned>(
    event: &DomainEvent,
    name: &str,
) -> Result<T, NotifyError> {
    let value = event.data.get(name).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value).map_err(|e| {
        NotifyError::Malformed(format!(
            "{} {}: data.{name}: {e}",
            event.event_type, event.event_id
        ))
    })
}

/// Where the user is reached: the inbox (always, first), then each channel of their profile.
pub fn recipients(user_id: &str, profile: Option<&Profile>) -> Vec<(Channel, String)> {
    let mut to = vec![(Channel::Inbox, user_id.to_owned())];
    if let Some(profile) = profile {
        for channel in &profile.channels {
            let address = match channel {
                profile::Channel::Email => profile.email.clone(),
                profile::Channel::Sms => profile.phone.clone(),
                // The device's endpoint when the app registered one; else the user id, which a
                // recording notifier keeps and the SNS one finds undeliverable.
                profile::Channel::Push => profile
                    .push_endpoint
                    .clone()
                    .unwrap_or_else(|| user_id.to_owned()),
            };
            to.push(((*channel).into(), address));
        }
    }
    to
}

/// The event a queue message carries: the raw-delivered envelope as its `body`. When the message
/// has a `type` attribute (the SNS subscription's filter reads it) it must agree with the body's.
pub fn parse_message(
    body: Option<&str>,
    type_attribute: Option<&str>,
) -> Result<DomainEvent, NotifyError> {
    let body = body.ok_or_else(|| NotifyError::Malformed("the message has no body".into()))?;
    let event: DomainEvent = serde_json::from_str(body)
        .map_err(|e| NotifyError::Malformed(format!("the body is not a domain event: {e}")))?;
    match type_attribute {
        Some(t) if t != event.event_type.as_str() => Err(NotifyError::Malformed(format!(
            "the type attribute says {}, the body {}",
            t.chars().take(64).collect::<String>(),
            event.event_type
        ))),
        _ => Ok(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(event_type: EventType, data: Value) -> DomainEvent {
        let at = Utc
            .timestamp_millis_opt(1_700_000_000_000)
            .single()
            .unwrap_or_default();
        let order = "0193a0c0-0000-7000-8000-00000000abcd"
            .parse::<OrderId>()
            .unwrap_or_else(|_| OrderId::new_at(at));
        DomainEvent::for_order(event_type, order, "alice", at, data)
    }

    #[test]
    fn notification_ids_are_stable_per_event_and_channel() {
        let e = event(EventType::OrderShipped, serde_json::json!({}));
        let inbox = notification_id(e.event_id, Channel::Inbox);
        assert_eq!(inbox, notification_id(e.event_id, Channel::Inbox));
        assert_ne!(inbox, notification_id(e.event_id, Channel::Email));
        assert_eq!(inbox.get_version_num(), 7);
        assert_eq!(inbox.as_bytes()[..6], e.event_id.as_bytes()[..6]);
    }

    #[test]
    fn texts_keep_the_saga_steps_wording() {
        let completed = event(
            EventType::OrderCompleted,
            serde_json::json!({"total": {"amount": 2500, "currency": "EUR"}}),
        );
        assert_eq!(
            render(&completed).ok().as_deref(),
            Some(
                "Your order 0193a0c0-0000-7000-8000-00000000abcd is confirmed. We charged 25.00 EUR."
            )
        );
        let cancelled = event(
            EventType::OrderCancelled,
            serde_json::json!({"total": {"amount": 2500, "currency": "EUR"}, "reason": "OUT_OF_STOCK"}),
        );
        assert_eq!(
            render(&cancelled).ok().as_deref(),
            Some(
                "Your order 0193a0c0-0000-7000-8000-00000000abcd was cancelled because some items are out of stock. Anything charged for it has been refunded in full."
            )
        );
        let refund = event(
            EventType::RefundIssued,
            serde_json::json!({"amount": {"amount": 1999, "currency": "EUR"}}),
        );
        assert!(render(&refund).is_ok_and(|t| t.starts_with("We refunded 19.99 EUR")));
    }

    #[test]
    fn missing_data_is_malformed_not_a_wrong_text() {
        let completed = event(EventType::OrderCompleted, serde_json::json!({}));
        assert!(matches!(render(&completed), Err(NotifyError::Malformed(_))));
    }

    #[test]
    fn the_inbox_comes_first_and_profiles_add_channels() {
        assert_eq!(
            recipients("bob", None),
            vec![(Channel::Inbox, "bob".to_owned())]
        );
    }

    #[test]
    fn push_goes_to_the_profiles_endpoint_and_else_names_the_user() {
        let endpoint = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/shop/abc";
        let mut profile = Profile {
            user_id: "bob".into(),
            name: "Bob".into(),
            email: "bob@example.com".into(),
            phone: "+441234567890".into(),
            channels: vec![profile::Channel::Push],
            push_endpoint: Some(endpoint.into()),
            updated_at: Utc::now(),
        };
        assert_eq!(
            recipients("bob", Some(&profile)),
            vec![
                (Channel::Inbox, "bob".to_owned()),
                (Channel::Push, endpoint.to_owned())
            ]
        );
        profile.push_endpoint = None;
        assert_eq!(
            recipients("bob", Some(&profile))[1],
            (Channel::Push, "bob".to_owned())
        );
    }
}
