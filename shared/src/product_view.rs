//! The order side's product view: the names and prices new orders are priced from, kept current
//! from `ProductUpdated` events instead of reading the inventory's table.
//!
//! catalog-api publishes a snapshot of the product after every admin change, numbered by the
//! product's `version`. The sync-product function applies each snapshot to the view with a
//! conditional write that only a newer version passes, so a duplicate, a redelivery or a
//! snapshot that arrives after a newer one changes nothing and is not an error.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::events::{DomainEvent, EventType};
use crate::inventory::Product;
use crate::money::Money;
use crate::notification::{NotifyError, parse_message};
use crate::ports::{ProductViewStore, ViewWrite};
use crate::values::Sku;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A product as the order side knows it: enough to price an order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedProduct {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    /// The inventory's version of the product this entry was copied from.
    pub product_version: u64,
    /// When the view last changed this entry.
    pub updated_at: DateTime<Utc>,
}

impl ListedProduct {
    /// The entry for `product` as it stands in the inventory (seeding, and the backfill).
    pub fn of(product: &Product, now: DateTime<Utc>) -> Self {
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            price: product.price.clone(),
            product_version: product.version,
            updated_at: now,
        }
    }
}

/// The `data` of a `ProductUpdated` event: the product right after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductSnapshot {
    pub name: String,
    pub price: Money,
    pub available: i64,
    pub product_version: u64,
}

/// The `ProductUpdated` event of `product` as stored after an admin's change.
pub fn product_updated(
    product: &Product,
    admin: &str,
    correlation_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DomainEvent, StoreError> {
    let data = serde_json::to_value(ProductSnapshot {
        name: product.name.clone(),
        price: product.price.clone(),
        available: product.available,
        product_version: product.version,
    })
    .map_err(|e| StoreError::Internal(format!("snapshot of {}: {e}", product.sku)))?;
    let event =
        DomainEvent::product_updated(product.sku.clone(), product.version, admin, now, data);
    Ok(match correlation_id {
        Some(id) => event.correlated(id),
        None => event,
    })
}

#[derive(Debug, Error)]
pub enum SyncError {
    /// Not a product snapshot this consumer can apply; retrying will not mend it.
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NotifyError> for SyncError {
    fn from(error: NotifyError) -> Self {
        match error {
            NotifyError::Malformed(m) => Self::Malformed(m),
            NotifyError::Store(e) => Self::Store(e),
        }
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Applied,
    /// The view held this version or a newer one already.
    Stale,
    /// Not a `ProductUpdated` (the subscription's filter lets none through): acknowledged.
    Ignored(EventType),
}

/// The view entry a `ProductUpdated` event describes.
pub fn listed_product(event: &DomainEvent, now: DateTime<Utc>) -> Result<ListedProduct, SyncError> {
    let sku = event.sku.clone().ok_or_else(|| {
        SyncError::Malformed(format!("ProductUpdated {} has no sku", event.event_id))
    })?;
    let snapshot: ProductSnapshot = serde_json::from_value(event.data.clone()).map_err(|e| {
        SyncError::Malformed(format!("ProductUpdated {} data: {e}", event.event_id))
    })?;
    if snapshot.product_version == 0 {
        return Err(SyncError::Malformed(format!(
            "ProductUpdated {} has productVersion 0",
            event.event_id
        )));
    }
    Ok(ListedProduct {
        sku,
        name: snapshot.name,
        price: snapshot.price,
        product_version: snapshot.product_version,
        updated_at: now,
    })
}

/// Applies one event to the view: a newer version replaces the entry, an older or equal one
/// is left out (already applied, or overtaken by a newer snapshot).
pub async fn sync(
    event: &DomainEvent,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> Result<Synced, SyncError> {
    if event.event_type != EventType::ProductUpdated {
        return Ok(Synced::Ignored(event.event_type));
    }
    let product = listed_product(event, clock.now())?;
    Ok(match view.apply(&product).await? {
        ViewWrite::Applied => Synced::Applied,
        ViewWrite::Stale => Synced::Stale,
    })
}

/// The sync-product function's SQS entry point: each record on its own, only the failed ones
/// in `batchItemFailures` (the mapping has `ReportBatchItemFailures`), so one bad message
/// never brings the good ones back. A record without a message id fails the whole batch, as
/// Lambda treats it: nothing is lost.
pub async fn handle_batch(
    batch: SqsEvent,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &batch.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        match Box::pin(handle_record(record, view, clock)).await {
            Ok(synced) => tracing::info!(message_id, ?synced, "product event handled"),
            Err(error) => {
                tracing::warn!(message_id, %error, "a product record failed; it comes back after the visibility timeout");
                response.add_failure(message_id);
            }
        }
    }
    response
}

async fn handle_record(
    record: &SqsMessage,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> Result<Synced, SyncError> {
    let event = parse_message(record)?;
    let sku = event.sku.as_ref().map(Sku::to_string).unwrap_or_default();
    let span = tracing::info_span!("product", sku, correlation_id = %event.correlation_id);
    tracing::Instrument::instrument(sync(&event, view, clock), span).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryProductView;
    use crate::clock::FixedClock;
    use crate::money::Currency;
    use crate::ports::PriceList;
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0)
            .single()
            .unwrap_or_default()
    }

    fn sku(s: &str) -> Sku {
        Sku::try_from(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn product(name: &str, amount: i64, version: u64) -> Product {
        Product {
            sku: sku("MUG"),
            name: name.into(),
            price: Money::new(
                amount,
                Currency::try_from("EUR").unwrap_or_else(|e| panic!("{e}")),
            ),
            available: 5,
            reserved: 0,
            version,
        }
    }

    fn event(amount: i64, version: u64) -> DomainEvent {
        product_updated(&product("mug", amount, version), "admin", None, t0())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(id: &str, event: &serde_json::Value) -> serde_json::Value {
        json!({"messageId": id, "body": event.to_string(), "messageAttributes": {}})
    }

    async fn price(view: &MemoryProductView) -> Option<(i64, u64)> {
        view.products(&[sku("MUG")])
            .await
            .unwrap_or_default()
            .first()
            .map(|p| (p.price.amount, p.product_version))
    }

    #[tokio::test]
    async fn a_newer_version_applies_and_an_older_or_equal_one_is_ignored() {
        let view = MemoryProductView::default();
        let clock = FixedClock::at(t0());
        let applied = sync(&event(1000, 2), &view, &clock).await.ok();
        assert_eq!(applied, Some(Synced::Applied));
        assert_eq!(price(&view).await, Some((1000, 2)));

        let newer = sync(&event(1200, 3), &view, &clock).await.ok();
        assert_eq!(newer, Some(Synced::Applied));
        assert_eq!(price(&view).await, Some((1200, 3)));

        // The same snapshot again (a redelivery) and one that arrives late change nothing.
        for (amount, version) in [(1200, 3), (1000, 2), (900, 1)] {
            let stale = sync(&event(amount, version), &view, &clock).await.ok();
            assert_eq!(stale, Some(Synced::Stale), "version {version}");
        }
        assert_eq!(price(&view).await, Some((1200, 3)));
    }

    #[tokio::test]
    async fn other_event_types_are_acknowledged_and_leave_the_view_alone() {
        let view = MemoryProductView::default();
        let mut other = event(1000, 1);
        other.event_type = EventType::OrderShipped;
        let synced = sync(&other, &view, &FixedClock::at(t0())).await.ok();
        assert_eq!(synced, Some(Synced::Ignored(EventType::OrderShipped)));
        assert_eq!(price(&view).await, None);
    }

    #[tokio::test]
    async fn a_bad_record_alone_fails_its_batch() {
        let view = MemoryProductView::default();
        let good = serde_json::to_value(event(1500, 4)).unwrap_or_default();
        let mut no_sku = good.clone();
        no_sku.as_object_mut().map(|o| o.remove("sku"));
        let mut bad_data = good.clone();
        bad_data["data"]["price"] = json!("cheap");
        let batch: SqsEvent = serde_json::from_value(json!({"Records": [
            record("m1", &json!({"not": "an event"})),
            record("m2", &good),
            record("m3", &no_sku),
            record("m4", &bad_data),
        ]}))
        .unwrap_or_else(|e| panic!("{e}"));
        let response = handle_batch(batch, &view, &FixedClock::at(t0())).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, ["m1", "m3", "m4"]);
        assert_eq!(price(&view).await, Some((1500, 4)));
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_record_for_a_retry() {
        let view = MemoryProductView::default();
        view.fail_next(1);
        let clock = FixedClock::at(t0());
        assert!(matches!(
            sync(&event(1000, 1), &view, &clock).await,
            Err(SyncError::Store(StoreError::Transient(_)))
        ));
        assert_eq!(price(&view).await, None);
        let retried = sync(&event(1000, 1), &view, &clock).await.ok();
        assert_eq!(retried, Some(Synced::Applied));
    }
}
