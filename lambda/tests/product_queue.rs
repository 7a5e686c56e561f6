//! The product view's sync (`order_core::product_view`) and the sync-product function's batches
//! (`order_lambda::product_sync`) against the in-memory view.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use order_lambda::adapters::memory::MemoryProductView;
use order_lambda::clock::FixedClock;
use order_lambda::error::StoreError;
use order_lambda::events::{DomainEvent, EventType};
use order_lambda::inventory::Product;
use order_lambda::money::Currency;
use order_lambda::money::Money;
use order_lambda::ports::PriceList;
use order_lambda::product_queue::handle_batch;
use order_lambda::product_view::*;
use order_lambda::values::Sku;
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
