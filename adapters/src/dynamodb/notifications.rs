//! Notifications in the notifications table, and the recording `Notifier` of the local stack
//! (`NOTIFIER=record`): sending a notification is storing it.
//!
//! Item layout: one item per notification, `pk = NOTIFICATION#<notificationId>`,
//! `sk = NOTIFICATION`, written with a conditional put (never overwritten), so the key itself
//! makes a second send of the same id a no-op. The `ByUser` index lists a user's notifications
//! newest first: `gsi1pk = USER#<userId>`, `gsi1sk = <sentAt>#<notificationId>` (`sentAt` as
//! RFC 3339 with milliseconds and `Z`, which sorts as text the way it sorts in time).
//!
//! A notification sent on an outside channel (`NOTIFIER=aws`, `SendLog`) also carries
//! `delivery` (`SENDING` while claimed, then `DELIVERED` or `UNDELIVERABLE` with `failure`) and,
//! while claimed, `claimedUntil` (epoch milliseconds). An item without `delivery` was recorded
//! by `record` and counts as sent.

use super::wire::{
    Item, classify, decode_cursor, encode_cursor, from_item, is_condition_failure, key, n,
    put_if_absent, s, to_item,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use chrono::{DateTime, Utc};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::events::EventType;
use order_core::notification::{Channel, Notification};
use order_core::order::OrderId;
use order_core::page::{Page, PageRequest};
use order_core::ports::{Claim, NotificationStore, Notifier, SendLog, Sent, Settled};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The index of a user's notifications, newest first.
const BY_USER_INDEX: &str = "ByUser";
const SK: &str = "NOTIFICATION";
const SENDING: &str = "SENDING";

#[derive(Debug, Clone)]
pub struct DynamoNotifications {
    client: Client,
    table: String,
}

impl DynamoNotifications {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    notification_id: Uuid,
    event_id: Uuid,
    #[serde(rename = "type")]
    event_type: EventType,
    order_id: OrderId,
    user_id: String,
    channel: Channel,
    address: String,
    text: String,
    sent_at: DateTime<Utc>,
}

impl NotificationItem {
    fn from_notification(n: &Notification) -> Self {
        Self {
            pk: notification_pk(n.notification_id),
            sk: SK.to_owned(),
            gsi1pk: user_gsi_pk(&n.user_id),
            gsi1sk: format!("{}#{}", format_time(n.sent_at), n.notification_id),
            notification_id: n.notification_id,
            event_id: n.event_id,
            event_type: n.event_type,
            order_id: n.order_id,
            user_id: n.user_id.clone(),
            channel: n.channel,
            address: n.address.clone(),
            text: n.text.clone(),
            sent_at: n.sent_at,
        }
    }

    fn into_notification(self) -> Notification {
        Notification {
            notification_id: self.notification_id,
            event_id: self.event_id,
            event_type: self.event_type,
            order_id: self.order_id,
            user_id: self.user_id,
            channel: self.channel,
            address: self.address,
            text: self.text,
            sent_at: self.sent_at,
        }
    }
}

fn notification_pk(id: Uuid) -> String {
    format!("NOTIFICATION#{id}")
}

fn user_gsi_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// Only the exact index key of one of this user's notifications passes: another user's cursor
/// must not page through their notifications, and a malformed start key would fail the query.
fn decode_notifications_cursor(cursor: &str, user_id: &str) -> Result<Item, StoreError> {
    let start = decode_cursor(cursor, &["pk", "sk", "gsi1pk", "gsi1sk"])?;
    let text = |name: &str| {
        start
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    };
    let id = text("gsi1sk")
        .and_then(|sk| sk.split_once('#'))
        .filter(|(at, _)| DateTime::parse_from_rfc3339(at).is_ok())
        .and_then(|(_, id)| Uuid::try_parse(id).ok())
        .ok_or(StoreError::InvalidCursor)?;
    let expected = [
        ("pk", notification_pk(id)),
        ("sk", SK.to_owned()),
        ("gsi1pk", user_gsi_pk(user_id)),
    ];
    if expected
        .iter()
        .all(|(name, value)| text(name) == Some(value.as_str()))
    {
        Ok(start)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

impl NotificationStore for DynamoNotifications {
    async fn record(&self, n: &Notification) -> Result<bool, StoreError> {
        let item = to_item(&NotificationItem::from_notification(n))?;
        put_if_absent(&self.client, &self.table, item).await
    }

    async fn list_for_user(
        &self,
        user_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Notification>, StoreError> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| decode_notifications_cursor(c, user_id))
            .transpose()?;
        let output = self
            .query_by_user(user_id)
            .limit(i32::try_from(page.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        Ok(Page {
            items: notifications(output.items.unwrap_or_default())?,
            next_cursor: output.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }

    async fn for_user(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let items = self
            .query_by_user(user_id)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        notifications(items)
    }
}

impl DynamoNotifications {
    /// The user's notifications on the `ByUser` index, newest first.
    fn query_by_user(&self, user_id: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .key_condition_expression("gsi1pk = :user")
            .expression_attribute_values(":user", s(user_gsi_pk(user_id)))
            .scan_index_forward(false)
    }
}

fn notifications(items: Vec<Item>) -> Result<Vec<Notification>, StoreError> {
    items
        .into_iter()
        .map(|item| from_item::<NotificationItem>(item).map(NotificationItem::into_notification))
        .collect()
}

impl Notifier for DynamoNotifications {
    async fn send(&self, notification: &Notification) -> Result<Sent, StoreError> {
        Ok(if self.record(notification).await? {
            Sent::Sent
        } else {
            Sent::AlreadySent
        })
    }
}

impl SendLog for DynamoNotifications {
    async fn claim(
        &self,
        notification: &Notification,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut item = to_item(&NotificationItem::from_notification(notification))?;
        item.insert("delivery".into(), s(SENDING));
        item.insert("claimedUntil".into(), n(lease_until.timestamp_millis()));
        // New, or claimed before by a delivery whose lease ran out before it settled. An item
        // without `delivery` (recorded by `record`) or settled never matches.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (delivery = :sending AND claimedUntil < :now)",
            )
            .expression_attribute_values(":sending", s(SENDING))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(classify(e)),
        }
        let stored = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(notification_pk(notification.notification_id), SK)))
            .consistent_read(true)
            .projection_expression("delivery")
            .send()
            .await
            .map_err(classify)?;
        let delivery = stored
            .item
            .as_ref()
            .and_then(|i| i.get("delivery"))
            .and_then(|v| v.as_s().ok());
        // Still SENDING after the condition failed: the lease has not run out.
        Ok(if delivery.map(String::as_str) == Some(SENDING) {
            Claim::Busy
        } else {
            Claim::Done
        })
    }

    async fn settle(&self, notification_id: Uuid, outcome: &Settled) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(notification_pk(notification_id), SK)))
            .condition_expression("attribute_exists(pk)");
        let request = match outcome {
            Settled::Delivered => request
                .update_expression("SET delivery = :d REMOVE claimedUntil")
                .expression_attribute_values(":d", s("DELIVERED")),
            Settled::Undeliverable(reason) => request
                .update_expression("SET delivery = :d, failure = :f REMOVE claimedUntil")
                .expression_attribute_values(":d", s("UNDELIVERABLE"))
                .expression_attribute_values(":f", s(reason.chars().take(512).collect::<String>())),
        };
        request.send().await.map(|_| ()).map_err(classify)
    }

    async fn release(&self, notification_id: Uuid) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(notification_pk(notification_id), SK)))
            .update_expression("SET claimedUntil = :zero")
            .condition_expression("delivery = :sending")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":sending", s(SENDING))
            .send()
            .await;
        match result {
            // Settled meanwhile: nothing to give back.
            Err(e) if is_condition_failure(&e) => Ok(()),
            other => other.map(|_| ()).map_err(classify),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_users_exact_index_key_is_a_cursor() {
        let id = "0193a0c0-0000-7000-8000-00000000abcd";
        let good = super::super::wire::key(format!("NOTIFICATION#{id}"), "NOTIFICATION");
        let mut good = good;
        good.insert("gsi1pk".into(), s("USER#alice"));
        good.insert("gsi1sk".into(), s(format!("2026-01-01T00:00:00.000Z#{id}")));
        let cursor = encode_cursor(&good).unwrap_or_default();
        assert_eq!(
            decode_notifications_cursor(&cursor, "alice"),
            Ok(good.clone())
        );
        assert_eq!(
            decode_notifications_cursor(&cursor, "bob"),
            Err(StoreError::InvalidCursor)
        );
        let mut other = good.clone();
        other.insert("pk".into(), s("NOTIFICATION#x"));
        let cursor = encode_cursor(&other).unwrap_or_default();
        assert_eq!(
            decode_notifications_cursor(&cursor, "alice"),
            Err(StoreError::InvalidCursor)
        );
        let mut no_time = good;
        no_time.insert("gsi1sk".into(), s(format!("x#{id}")));
        let cursor = encode_cursor(&no_time).unwrap_or_default();
        assert_eq!(
            decode_notifications_cursor(&cursor, "alice"),
            Err(StoreError::InvalidCursor)
        );
    }
}
