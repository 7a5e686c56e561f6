use super::{classify, from_item, put_if_absent, s, to_item};
use crate::error::StoreError;
use crate::notification::{Notification, Outcome};
use crate::order::OrderId;
use crate::ports::NotificationStore;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Stored notifications, one partition per user, in the notifications table.
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
    order_id: OrderId,
    user_id: String,
    outcome: Outcome,
    channel: String,
    message: String,
    created_at: DateTime<Utc>,
}

impl NotificationStore for DynamoNotifications {
    async fn record(&self, n: &Notification) -> Result<bool, StoreError> {
        let item = to_item(&NotificationItem {
            pk: format!("USER#{}", n.user_id),
            // One per order and outcome: the key itself deduplicates retries.
            sk: format!("NOTIFICATION#{}#{}", n.order_id, n.outcome.as_str()),
            order_id: n.order_id,
            user_id: n.user_id.clone(),
            outcome: n.outcome,
            channel: n.channel.clone(),
            message: n.message.clone(),
            created_at: n.created_at,
        })?;
        put_if_absent(&self.client, &self.table, item).await
    }

    async fn for_user(&self, user_id: &str) -> Result<Vec<Notification>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("USER#{user_id}")))
            .expression_attribute_values(":prefix", s("NOTIFICATION#"))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        items
            .into_iter()
            .map(|item| {
                from_item::<NotificationItem>(item).map(|i| Notification {
                    order_id: i.order_id,
                    user_id: i.user_id,
                    outcome: i.outcome,
                    channel: i.channel,
                    message: i.message,
                    created_at: i.created_at,
                })
            })
            .collect()
    }
}
