use super::wire::{
    Item, MAX_RACE_RETRIES, cancellation_reasons, classify, classify_transaction, condition_failed,
    conflicted, decode_cursor, encode_cursor, from_item, get, is_condition_failure, key,
    pause_after_conflict, put_if_absent, s, stamp, to_item, written,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use order_core::audit::{ChangedBy, Stamp, reason};
use order_core::clock::format_time;
use order_core::delivery::DeliverySlot;
use order_core::error::StoreError;
use order_core::money::{Currency, Money};
use order_core::order::{Fulfilment, Guard, Milestone, Step};
use order_core::order::{Order, OrderId, OrderLine, OrderStatus, Sku};
use order_core::page::{Page, PageRequest};
use order_core::ports::{
    FulfilmentStore, IdempotencyRecord, InsertOutcome, OrderStore, idempotency_expiry,
};
use serde::{Deserialize, Serialize};

/// Orders and the idempotency records of `POST /orders`, in the orders table.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    pub(super) client: Client,
    pub(super) table: String,
}

impl DynamoOrders {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put_new(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderItem {
    pk: String,
    sk: String,
    order_id: OrderId,
    user_id: String,
    status: OrderStatus,
    lines: Vec<LineItem>,
    /// Absent on orders written before promotions: then it is the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtotal: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    promo_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    total: i64,
    currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The user's orders index (ByUser): newest first, since order ids sort by time.
    gsi1pk: String,
    gsi1sk: String,
    // Written by the state machine's status updates and by cancel-order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reserved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paid_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancel_requested_at: Option<DateTime<Utc>>,
    // Written by fulfilment (fulfilment-api).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivered_at: Option<DateTime<Utc>>,
    // Written by CompleteOrder from schedule-delivery's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_to: Option<DateTime<Utc>>,
    /// Who made the last change and why (`order_core::audit`), written by every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_change: Option<Stamp>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    sku: Sku,
    name: String,
    quantity: u32,
    unit_price: i64,
    line_total: i64,
}

impl OrderItem {
    fn from_order(order: &Order) -> Self {
        Self {
            pk: order_pk(order.order_id),
            sk: "ORDER".into(),
            order_id: order.order_id,
            user_id: order.user_id.clone(),
            status: order.status,
            lines: order
                .lines
                .iter()
                .map(|l| LineItem {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.amount,
                    line_total: l.line_total.amount,
                })
                .collect(),
            subtotal: Some(order.subtotal.amount),
            discount: Some(order.discount.amount),
            promo_code: order.promo_code.clone(),
            correlation_id: order.correlation_id.clone(),
            total: order.total.amount,
            currency: order.total.currency.clone(),
            reason: order.reason.clone(),
            created_at: order.created_at,
            updated_at: order.updated_at,
            gsi1pk: user_gsi_pk(&order.user_id),
            gsi1sk: format!("ORDER#{}", order.order_id),
            reserved_at: None,
            paid_at: None,
            completed_at: None,
            cancelled_at: None,
            cancel_requested_at: order.cancel_requested_at,
            shipped_at: None,
            delivered_at: None,
            delivery_from: None,
            delivery_to: None,
            last_change: Some(
                ChangedBy::user(&order.user_id, order.correlation_id.as_deref()).stamp(
                    reason::ORDER_PLACED,
                    None,
                    order.created_at,
                ),
            ),
        }
    }

    fn into_order(self) -> Order {
        let money = |amount| Money::new(amount, self.currency.clone());
        Order {
            order_id: self.order_id,
            user_id: self.user_id,
            status: self.status,
            lines: self
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    sku: l.sku,
                    name: l.name,
                    quantity: l.quantity,
                    unit_price: money(l.unit_price),
                    line_total: money(l.line_total),
                })
                .collect(),
            subtotal: money(self.subtotal.unwrap_or(self.total)),
            discount: money(self.discount.unwrap_or(0)),
            promo_code: self.promo_code,
            correlation_id: self.correlation_id,
            total: money(self.total),
            reason: self.reason,
            cancel_requested_at: self.cancel_requested_at,
            delivery: self
                .delivery_from
                .zip(self.delivery_to)
                .map(|(from, to)| DeliverySlot { from, to }),
            created_at: self.created_at,
            updated_at: self.updated_at,
            timeline: Milestone::timeline(&[
                (Step::Created, Some(self.created_at)),
                (Step::Reserved, self.reserved_at),
                (Step::Paid, self.paid_at),
                (Step::Completed, self.completed_at),
                (Step::CancelRequested, self.cancel_requested_at),
                (Step::Cancelled, self.cancelled_at),
                (Step::Shipped, self.shipped_at),
                (Step::Delivered, self.delivered_at),
            ]),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyItem {
    pk: String,
    sk: String,
    user_id: String,
    key: String,
    order_id: OrderId,
    request_hash: String,
    created_at: DateTime<Utc>,
    expires_at: i64,
}

fn user_gsi_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

const BY_USER_INDEX: &str = "ByUser";

/// Only the exact index key of one of this user's orders passes: another user's cursor must
/// not page through their orders, and a malformed start key would make DynamoDB fail the query.
fn decode_orders_cursor(cursor: &str, user_id: &str) -> Result<Item, StoreError> {
    let start = decode_cursor(cursor, &["pk", "sk", "gsi1pk", "gsi1sk"])?;
    let text = |name: &str| {
        start
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    };
    let order_id = text("gsi1sk")
        .and_then(|sk| sk.strip_prefix("ORDER#"))
        .and_then(|id| id.parse::<OrderId>().ok())
        .ok_or(StoreError::InvalidCursor)?;
    let expected = [
        ("pk", order_pk(order_id)),
        ("sk", "ORDER".to_owned()),
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

fn order_pk(order_id: OrderId) -> String {
    format!("ORDER#{order_id}")
}

// The user is the partition and the key the sort key, so no choice of either can collide.
fn idempotency_key(user_id: &str, key: &str) -> (String, String) {
    (format!("IDEMPOTENCY#{user_id}"), format!("KEY#{key}"))
}

impl OrderStore for DynamoOrders {
    async fn list_for_user(
        &self,
        user_id: &str,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| decode_orders_cursor(c, user_id))
            .transpose()?;
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .key_condition_expression("gsi1pk = :user")
            .expression_attribute_values(":user", s(user_gsi_pk(user_id)))
            .scan_index_forward(false)
            .limit(i32::try_from(page.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        if let Some(status) = status {
            query = query
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        let output = query.send().await.map_err(classify)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<OrderItem>(item).map(OrderItem::into_order))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_cursor: output.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }

    async fn request_cancellation(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(order_id), "ORDER")))
            .update_expression(
                "SET cancelRequestedAt = if_not_exists(cancelRequestedAt, :now), \
                 cancelReason = if_not_exists(cancelReason, :reason), updatedAt = :now, \
                 lastChange = :change",
            )
            .expression_attribute_values(
                ":change",
                stamp(&ChangedBy::owner().stamp(reason::CANCEL_REQUESTED, None, now))?,
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", s(format_time(now)))
            .expression_attribute_values(":reason", s("USER_CANCELLED"))
            .return_values(ReturnValue::AllNew);
        let requestable: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.cancellation_may_be_requested())
            .collect();
        let condition = StatusCondition::within("from", &requestable);
        let result = condition
            .values_into(update)
            .condition_expression(condition.expression)
            .send()
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(|item| from_item::<OrderItem>(item).map(OrderItem::into_order))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn insert(
        &self,
        order: &Order,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        let order_item = to_item(&OrderItem::from_order(order))?;
        if idempotency.is_none() && order.promo_code.is_none() {
            // A plain PutItem has no idempotency token: when the first attempt commits and its
            // reply is lost, the SDK's retry meets the condition. Order ids are fresh UUIDv7s, so
            // an identical item there is that first attempt; anything else is a real clash.
            if put_if_absent(&self.client, &self.table, order_item.clone()).await? {
                return Ok(InsertOutcome::Inserted);
            }
            let stored = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(order_pk(order.order_id), "ORDER")))
                .consistent_read(true)
                .send()
                .await
                .map_err(classify)?
                .item;
            return if stored.as_ref() == Some(&order_item) {
                Ok(InsertOutcome::Inserted)
            } else {
                Err(StoreError::Internal(format!(
                    "order {} exists with other contents",
                    order.order_id
                )))
            };
        }
        // One transaction: [idempotency record], order, [promotion use]. The reasons of a
        // cancelled transaction come in this order.
        let mut items = Vec::new();
        if let Some(record) = idempotency {
            let (pk, sk) = idempotency_key(&record.user_id, &record.key);
            let record_item = to_item(&IdempotencyItem {
                pk,
                sk,
                user_id: record.user_id.clone(),
                key: record.key.clone(),
                order_id: record.order_id,
                request_hash: record.request_hash.clone(),
                created_at: record.created_at,
                expires_at: idempotency_expiry(record),
            })?;
            items.push(
                TransactWriteItem::builder()
                    .put(self.put_new(record_item)?)
                    .build(),
            );
        }
        items.push(
            TransactWriteItem::builder()
                .put(self.put_new(order_item)?)
                .build(),
        );
        if let Some(code) = &order.promo_code {
            items.push(
                TransactWriteItem::builder()
                    .update(super::promotion_uses::count_use(&self.table, code)?)
                    .build(),
            );
        }
        // Concurrent requests with one key, or for one promotion, collide as TransactionConflict:
        // retried here, so the loser answers with the winner's replay or the used-up promotion.
        for attempt in 1..=MAX_RACE_RETRIES {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(InsertOutcome::Inserted),
                Err(e) => e,
            };
            match cancellation_reasons(&error) {
                Some(reasons) if idempotency.is_some() && condition_failed(reasons.first()) => {
                    return Ok(InsertOutcome::IdempotencyKeyTaken);
                }
                Some(reasons) if order.promo_code.is_some() && condition_failed(reasons.last()) => {
                    return Ok(InsertOutcome::PromotionUsedUp);
                }
                Some(reasons) if conflicted(reasons) && attempt < MAX_RACE_RETRIES => {
                    pause_after_conflict(attempt).await;
                }
                _ => return Err(classify_transaction(error)),
            }
        }
        Err(StoreError::Transient(format!(
            "order {} kept meeting conflicting transactions",
            order.order_id
        )))
    }

    async fn get(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        let item: Option<OrderItem> =
            get(&self.client, &self.table, key(order_pk(order_id), "ORDER")).await?;
        Ok(item.map(OrderItem::into_order))
    }

    async fn idempotency_record(
        &self,
        user_id: &str,
        key_value: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (pk, sk) = idempotency_key(user_id, key_value);
        let item: Option<IdempotencyItem> = get(&self.client, &self.table, key(pk, &sk)).await?;
        Ok(item.map(|i| IdempotencyRecord {
            user_id: i.user_id,
            key: i.key,
            order_id: i.order_id,
            request_hash: i.request_hash,
            created_at: i.created_at,
        }))
    }
}

impl FulfilmentStore for DynamoOrders {
    async fn fulfil(
        &self,
        order_id: OrderId,
        step: Fulfilment,
        by: &ChangedBy,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        let at = match step {
            Fulfilment::Ship => "shippedAt",
            Fulfilment::Deliver => "deliveredAt",
        };
        // The same attribute the customer's cancellation writes: whichever lands first wins.
        let Some((_, guard)) =
            OrderStatus::sources(step.to()).find(|(from, _)| *from == step.from())
        else {
            return Ok(None);
        };
        let condition = match guard_condition(guard) {
            Some(guard) => format!("#status = :from AND {guard}"),
            None => "#status = :from".to_owned(),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(order_id), "ORDER")))
            .update_expression(
                "SET #status = :to, #at = if_not_exists(#at, :now), updatedAt = :now, \
                 lastChange = :change",
            )
            .expression_attribute_values(
                ":change",
                stamp(&by.stamp(step.to().as_str(), None, now))?,
            )
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#at", at)
            .expression_attribute_values(":from", s(step.from().as_str()))
            .expression_attribute_values(":to", s(step.to().as_str()))
            .expression_attribute_values(":now", s(format_time(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(|item| from_item::<OrderItem>(item).map(OrderItem::into_order))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }
}

/// The orders by status, oldest first (`status` + `createdAt`): what the scheduled cleanup and
/// `ordertracker stuck` look for. Its keys are the order's own attributes, so the status writes
/// of the state machine keep it current without writing anything else.
const BY_STATUS_INDEX: &str = "ByStatus";

/// The orders whose cancellation was requested, by status, oldest request first (`status` +
/// `cancelRequestedAt`). Sparse: an order without a request is not in it, so the `COMPLETED`
/// partition holds only completed orders whose cancellation has not finished yet.
const CANCEL_REQUESTED_INDEX: &str = "CancelRequested";

/// The settled orders whose outcome event is still due, by status, oldest settling write first
/// (`status` + `announceDueAt`). Sparse: the announcement removes `announceDueAt`, so only
/// orders whose execution stopped in between stay in it.
const ANNOUNCE_DUE_INDEX: &str = "AnnounceDue";

type UpdateBuilder = aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

/// The condition a guard of the status table puts on a write, if any.
fn guard_condition(guard: Guard) -> Option<&'static str> {
    match guard {
        Guard::NotCancelling => Some("attribute_not_exists(cancelRequestedAt)"),
        Guard::Any => None,
        Guard::Cancelling => Some("attribute_exists(cancelRequestedAt)"),
    }
}

/// A condition over `#status` and the values it names (`:name`, status).
struct StatusCondition {
    expression: String,
    values: Vec<(String, OrderStatus)>,
}

impl StatusCondition {
    /// `#status IN (…)` over `statuses`, their values named `:{prefix}{i}`.
    fn within(prefix: &str, statuses: &[OrderStatus]) -> Self {
        let values: Vec<(String, OrderStatus)> = statuses
            .iter()
            .enumerate()
            .map(|(i, status)| (format!(":{prefix}{i}"), *status))
            .collect();
        let names: Vec<&str> = values.iter().map(|(name, _)| name.as_str()).collect();
        Self {
            expression: format!("#status IN ({})", names.join(", ")),
            values,
        }
    }

    /// The condition of a move to `CANCELLED` from one of `from`, as the status table allows
    /// each (a completed order only once its cancellation was requested: a late execution or an
    /// operator's compensation never cancels an order nobody cancelled). `None` when the table
    /// allows none of them.
    fn cancelling_from(from: &[OrderStatus]) -> Option<Self> {
        let mut alternatives = Vec::new();
        let mut values = Vec::new();
        for (i, guard) in [Guard::Any, Guard::Cancelling, Guard::NotCancelling]
            .into_iter()
            .enumerate()
        {
            let statuses: Vec<OrderStatus> = from
                .iter()
                .copied()
                .filter(|s| {
                    OrderStatus::sources(OrderStatus::Cancelled).any(|(f, g)| f == *s && g == guard)
                })
                .collect();
            if statuses.is_empty() {
                continue;
            }
            let within = Self::within(&format!("from{i}_"), &statuses);
            values.extend(within.values);
            alternatives.push(match guard_condition(guard) {
                Some(guard) => format!("{} AND {guard}", within.expression),
                None => within.expression,
            });
        }
        // DynamoDB refuses redundant parentheses (around the whole expression, or doubled): an
        // alternative is parenthesized only when there are several and it is a conjunction.
        let expression = match alternatives.len() {
            0 => return None,
            1 => alternatives.remove(0),
            _ => alternatives
                .iter()
                .map(|a| {
                    if a.contains(" AND ") {
                        format!("({a})")
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" OR "),
        };
        Some(Self { expression, values })
    }

    /// The update with this condition's values; the expression is the caller's to set (it may
    /// add to it).
    fn values_into(&self, mut update: UpdateBuilder) -> UpdateBuilder {
        for (name, status) in &self.values {
            update = update.expression_attribute_values(name, s(status.as_str()));
        }
        update
    }
}

impl DynamoOrders {
    /// A page of the orders in `status` whose `time` attribute (the index's sort key) is before
    /// `before`, oldest first, from a `status`-keyed index.
    async fn status_index_page(
        &self,
        index: &str,
        time: &str,
        status: OrderStatus,
        before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &["pk", "sk", "status", time]))
            .transpose()?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#status = :status AND #time < :before")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#time", time)
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":before", s(format_time(before)))
            .scan_index_forward(true)
            .limit(i32::try_from(page.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<OrderItem>(item).map(OrderItem::into_order))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_cursor: output.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }
}

impl order_core::ports::OrderSweep for DynamoOrders {
    async fn orders_in_status(
        &self,
        status: OrderStatus,
        created_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.status_index_page(BY_STATUS_INDEX, "createdAt", status, created_before, page)
            .await
    }

    async fn cancellations_unfinished(
        &self,
        requested_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.status_index_page(
            CANCEL_REQUESTED_INDEX,
            "cancelRequestedAt",
            OrderStatus::Completed,
            requested_before,
            page,
        )
        .await
    }

    async fn announcements_due(
        &self,
        status: OrderStatus,
        settled_before: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.status_index_page(
            ANNOUNCE_DUE_INDEX,
            "announceDueAt",
            status,
            settled_before,
            page,
        )
        .await
    }

    async fn mark_announced(
        &self,
        order_id: OrderId,
        status: OrderStatus,
    ) -> Result<bool, StoreError> {
        // No `lastChange`: nothing the audit trail records changes (as the state machine's own
        // MarkOrder…Announced states).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(order_id), "ORDER")))
            .update_expression("REMOVE announceDueAt")
            .condition_expression("#status = :status AND attribute_exists(announceDueAt)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .send()
            .await;
        written(result)
    }

    async fn request_cancellation_for(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        held_before: Option<DateTime<Utc>>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, StoreError> {
        if from.is_empty() {
            return Ok(None);
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(order_id), "ORDER")))
            .update_expression(
                "SET cancelRequestedAt = if_not_exists(cancelRequestedAt, :now), \
                 cancelReason = if_not_exists(cancelReason, :reason), updatedAt = :now, \
                 lastChange = :change",
            )
            .expression_attribute_values(
                ":change",
                stamp(&ChangedBy::scheduler(None).stamp(reason::CANCEL_REQUESTED, None, now))?,
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", s(format_time(now)))
            .expression_attribute_values(":reason", s(reason))
            .return_values(ReturnValue::AllNew);
        let Some(cancelling) = StatusCondition::cancelling_from(from) else {
            return Ok(None);
        };
        let mut update = cancelling.values_into(update);
        let mut condition = cancelling.expression;
        if condition.contains(" OR ") {
            condition = format!("({condition})");
        }
        if let Some(held_before) = held_before {
            // RESERVED counts from the reservation, every other status from the order's creation.
            condition.push_str(
                " AND ((#status = :reservedStatus AND reservedAt < :held) \
                 OR (#status <> :reservedStatus AND createdAt < :held))",
            );
            update = update
                .expression_attribute_values(":reservedStatus", s("RESERVED"))
                .expression_attribute_values(":held", s(format_time(held_before)));
        }
        match update.condition_expression(condition).send().await {
            Ok(output) => output
                .attributes
                .map(|item| from_item::<OrderItem>(item).map(OrderItem::into_order))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn mark_cancelled(
        &self,
        order_id: OrderId,
        from: &[OrderStatus],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if from.is_empty() {
            return Ok(false);
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(order_id), "ORDER")))
            .update_expression(
                "SET #status = :cancelled, #reason = if_not_exists(cancelReason, :reason), \
                 updatedAt = :now, cancelledAt = if_not_exists(cancelledAt, :now), \
                 announceDueAt = :now, lastChange = :change",
            )
            .expression_attribute_values(
                ":change",
                stamp(&ChangedBy::scheduler(None).stamp(reason, None, now))?,
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#reason", "reason")
            .expression_attribute_values(":cancelled", s("CANCELLED"))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(format_time(now)));
        let Some(cancelling) = StatusCondition::cancelling_from(from) else {
            return Ok(false);
        };
        let update = cancelling.values_into(update);
        written(
            update
                .condition_expression(cancelling.expression)
                .send()
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn expression(from: &[OrderStatus]) -> Option<String> {
        StatusCondition::cancelling_from(from).map(|c| c.expression)
    }

    /// DynamoDB answers `Invalid ConditionExpression: The expression has redundant parentheses`
    /// to a condition wrapped whole in parentheses: the cleanup's cancellations met it.
    #[test]
    fn a_cancellation_condition_has_no_redundant_parentheses() {
        assert_eq!(
            expression(&[Pending, Reserved, Paid]).unwrap(),
            "#status IN (:from0_0, :from0_1, :from0_2)"
        );
        assert_eq!(
            expression(&[Completed]).unwrap(),
            "#status IN (:from1_0) AND attribute_exists(cancelRequestedAt)"
        );
        assert_eq!(
            expression(&[Paid, Completed]).unwrap(),
            "#status IN (:from0_0) OR (#status IN (:from1_0) AND attribute_exists(cancelRequestedAt))"
        );
        assert_eq!(
            expression(&[CompensationFailed]).unwrap(),
            "#status IN (:from0_0)"
        );
    }

    #[test]
    fn statuses_the_table_never_cancels_are_left_out() {
        assert_eq!(expression(&[Shipped, Delivered]), None);
        let condition = StatusCondition::cancelling_from(&[Pending, Shipped]).unwrap();
        assert_eq!(condition.values, vec![(":from0_0".to_owned(), Pending)]);
    }
}
