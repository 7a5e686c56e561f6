//! The sample events in `events/` stay in step with the code: each parses as its function's
//! input, and the HTTP ones carry a caller the API accepts.

use order_lambda::api::orders::OrdersApi;
use order_lambda::api::{self};
use order_lambda::saga::*;
use std::path::PathBuf;

fn event(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&event(name)).unwrap()
}

#[test]
fn every_step_event_parses_as_its_input() {
    for name in ["reserve-stock.json", "reserve-stock-out-of-stock.json"] {
        parse_input::<ReserveStockInput>(json(name)).unwrap();
    }
    for name in ["charge-payment.json", "charge-payment-declined.json"] {
        parse_input::<ChargePaymentInput>(json(name)).unwrap();
    }
    parse_input::<ScheduleDeliveryInput>(json("schedule-delivery.json")).unwrap();
    for name in ["release-reservation.json", "refund-payment.json"] {
        parse_input::<CompensationInput>(json(name)).unwrap();
    }
}

/// The notify events are SQS batches as NotifyQueue delivers them: each record's body a
/// raw-delivered domain event, with its type as the `type` message attribute. Run through the
/// consumer over in-memory stores, every record succeeds and lands in the inbox.
#[tokio::test]
async fn notify_events_are_batches_of_domain_events_the_consumer_takes() {
    use aws_lambda_events::event::sqs::SqsEvent;
    use order_lambda::adapters::memory::{MemoryNotifications, MemoryProfiles};
    use order_lambda::events::EventType;
    use order_lambda::ports::NotificationStore;
    for (name, event_type) in [
        ("notify-completed.json", EventType::OrderCompleted),
        ("notify-cancelled.json", EventType::OrderCancelled),
    ] {
        let batch: SqsEvent = serde_json::from_value(json(name)).unwrap();
        assert!(!batch.records.is_empty(), "{name}");
        for record in &batch.records {
            let event = order_lambda::sqs::event_of(record).unwrap();
            assert_eq!(event.event_type, event_type, "{name}");
            assert_eq!(
                event.event_id,
                order_lambda::events::event_id(event.order_id.unwrap(), event_type),
                "{name}: the id the publisher derives"
            );
        }
        let notifications = MemoryNotifications::default();
        let response = order_lambda::notify_queue::handle_batch(
            batch.clone(),
            &MemoryProfiles::default(),
            &notifications,
            &order_lambda::faults::NoFaults,
            &order_lambda::clock::SystemClock,
            None,
        )
        .await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: {response:?}"
        );
        let inbox = notifications.for_user("alice").await.unwrap();
        assert_eq!(inbox.len(), batch.records.len(), "{name}");
    }
}

#[tokio::test]
async fn http_events_carry_a_caller_and_the_expected_bodies() {
    use order_lambda::adapters::memory::{MemoryOrders, MemorySaga};
    let api = OrdersApi {
        catalog: order_lambda::adapters::memory::MemoryProductView::default(),
        orders: MemoryOrders::default(),
        saga: MemorySaga::default(),
        events: order_lambda::adapters::memory::MemoryEvents::default(),
        clock: Box::new(order_lambda::clock::SystemClock),
    };
    for (name, user) in [
        ("create-order.json", "alice"),
        ("create-order-duplicate.json", "alice"),
        ("create-order-out-of-stock.json", "alice"),
        ("create-order-declined.json", "bob"),
        ("create-order-invalid.json", "alice"),
        ("get-order.json", "alice"),
    ] {
        let request = lambda_http::request::from_str(&event(name)).unwrap();
        assert_eq!(api::caller(&request).unwrap(), user, "{name}");
        if name.starts_with("create-order") {
            api::require_json(&request).unwrap();
            // An empty catalog: valid bodies fail on pricing (422), the invalid one on shape (400).
            let err = api
                .place_order(user, None, api::body_bytes(&request))
                .await
                .unwrap_err();
            let expected = if name.ends_with("invalid.json") {
                400
            } else {
                422
            };
            assert_eq!(err.status().as_u16(), expected, "{name}: {err:?}");
        }
    }
}

/// The sync-product event is a ProductQueue batch: a newer snapshot and then an older one of
/// the same product. Both records succeed; the view keeps the newer one.
#[tokio::test]
async fn the_sync_product_event_applies_its_newest_snapshot() {
    use aws_lambda_events::event::sqs::SqsEvent;
    use order_lambda::adapters::memory::MemoryProductView;
    use order_lambda::ports::PriceList;
    let batch: SqsEvent = serde_json::from_value(json("sync-product.json")).unwrap();
    assert_eq!(batch.records.len(), 2);
    for record in &batch.records {
        let event = order_lambda::sqs::event_of(record).unwrap();
        let version = event.data["productVersion"].as_u64().unwrap();
        assert_eq!(
            event.event_id,
            order_lambda::events::product_event_id(event.sku.as_ref().unwrap(), version),
            "the id the publisher derives"
        );
    }
    let view = MemoryProductView::default();
    let response =
        order_lambda::product_queue::handle_batch(batch, &view, &order_lambda::clock::SystemClock)
            .await;
    assert!(response.batch_item_failures.is_empty());
    let sku = order_lambda::order::Sku::try_from("SKU-MUG").unwrap();
    let held = view.products(&[sku]).await.unwrap();
    assert_eq!(
        held.iter()
            .map(|p| (p.price.amount, p.product_version))
            .collect::<Vec<_>>(),
        [(1399, 3)]
    );
}

/// Every function has at least one sample event in `events/`, named after it.
#[test]
fn every_function_has_a_sample_event() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let events: Vec<String> = std::fs::read_dir(root.join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for function in std::fs::read_dir(root.join("functions")).unwrap() {
        let name = function.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            events
                .iter()
                .any(|e| e == &format!("{name}.json") || e.starts_with(&format!("{name}-"))),
            "no sample event for functions/{name} in events/"
        );
    }
}

/// The HTTP events of the APIs behind one function each are answered, over empty in-memory
/// stores, with a deliberate status: never a 5xx.
#[tokio::test]
async fn api_events_are_answered_without_a_server_error() {
    use order_lambda::adapters::memory::{
        MemoryBilling, MemoryInventory, MemoryOrders, MemoryProfiles, MemorySaga,
    };
    use order_lambda::api::billing::BillingApi;
    use order_lambda::api::cart::CartApi;
    use order_lambda::api::catalog::CatalogApi;
    use order_lambda::api::profiles::ProfilesApi;
    use order_lambda::api::promotions::PromotionsApi;
    let orders_api = || OrdersApi {
        catalog: order_lambda::adapters::memory::MemoryProductView::default(),
        orders: MemoryOrders::default(),
        saga: MemorySaga::default(),
        events: order_lambda::adapters::memory::MemoryEvents::default(),
        clock: Box::new(order_lambda::clock::SystemClock),
    };
    let request = |name: &str| lambda_http::request::from_str(&event(name)).unwrap();
    let mut answered = Vec::new();
    for name in [
        "billing-api-open-account.json",
        "billing-api-deposit.json",
        "billing-api-balance.json",
        "billing-api-transactions.json",
    ] {
        let api = BillingApi {
            billing: MemoryBilling::default(),
            clock: Box::new(order_lambda::clock::SystemClock),
        };
        answered.push((name, api.handle(&request(name)).await.status()));
    }
    for name in [
        "catalog-api-list-products.json",
        "catalog-api-put-product.json",
        "catalog-api-restock.json",
    ] {
        let api = CatalogApi {
            inventory: MemoryInventory::default(),
            events: order_lambda::adapters::memory::MemoryEvents::default(),
        };
        answered.push((name, api.handle(&request(name)).await.status()));
    }
    for name in [
        "users-api-put-profile.json",
        "users-api-get-profile.json",
        "users-api-list-notifications.json",
    ] {
        // As the users-api function routes them.
        let request = request(name);
        let status = if order_lambda::api::notifications::serves(&request) {
            let api = order_lambda::api::notifications::NotificationsApi {
                notifications: order_lambda::adapters::memory::MemoryNotifications::default(),
            };
            api.handle(&request).await.status()
        } else {
            let api = ProfilesApi {
                profiles: MemoryProfiles::default(),
                clock: Box::new(order_lambda::clock::SystemClock),
            };
            api.handle(&request).await.status()
        };
        answered.push((name, status));
    }
    for name in ["cart-api-put-item.json", "cart-api-checkout.json"] {
        let api = CartApi {
            orders: orders_api(),
        };
        answered.push((name, api.handle(&request(name)).await.status()));
    }
    let api = PromotionsApi {
        promotions: MemoryOrders::default(),
    };
    let name = "promotions-api-put.json";
    answered.push((name, api.handle(&request(name)).await.status()));
    for name in ["fulfilment-api-ship.json", "fulfilment-api-deliver.json"] {
        let api = order_lambda::api::fulfilment::FulfilmentApi {
            orders: MemoryOrders::default(),
            events: order_lambda::adapters::memory::MemoryEvents::default(),
            clock: Box::new(order_lambda::clock::SystemClock),
        };
        answered.push((name, api.handle(&request(name)).await.status()));
    }
    for (name, status) in &answered {
        assert!(!status.is_server_error(), "{name}: {status}");
    }
    // The ones whose answer does not depend on stored data.
    let status = |wanted: &str| answered.iter().find(|(n, _)| *n == wanted).unwrap().1;
    assert_eq!(status("catalog-api-put-product.json").as_u16(), 201);
    assert_eq!(status("users-api-put-profile.json").as_u16(), 201);
    assert_eq!(status("users-api-list-notifications.json").as_u16(), 200);
    assert_eq!(status("promotions-api-put.json").as_u16(), 201);
    assert_eq!(status("billing-api-open-account.json").as_u16(), 201);
    // An admin on an order the empty store does not hold.
    assert_eq!(status("fulfilment-api-ship.json").as_u16(), 404);
    assert_eq!(status("fulfilment-api-deliver.json").as_u16(), 404);

    // cancel-order and list-orders call the orders API's functions directly.
    for (name, user) in [
        ("cancel-order.json", "alice"),
        ("list-orders.json", "alice"),
    ] {
        let request = request(name);
        assert_eq!(api::caller(&request).unwrap(), user, "{name}");
    }
    let listed = api::orders::list_orders(
        &MemoryOrders::default(),
        "alice",
        Some("COMPLETED"),
        &order_lambda::page::PageRequest::first(5),
    )
    .await
    .unwrap();
    assert!(listed.items.is_empty());
}

/// The scheduled event parses as the cleanup's input: its `time` is the run's clock, and an
/// empty `detail` keeps the configured limits.
#[test]
fn the_scheduled_event_gives_the_cleanup_its_clock() {
    let event: order_lambda::cleanup::ScheduledEvent =
        serde_json::from_value(json("cleanup.json")).unwrap();
    assert_eq!(
        event.time.map(order_lambda::clock::format_time).as_deref(),
        Some("2026-11-22T12:00:00.000Z")
    );
    assert_eq!(event.detail, order_lambda::cleanup::RunLimits::default());
}

#[tokio::test]
async fn the_audit_sample_is_an_orders_stream_batch_of_two_changes_and_a_retry() {
    use aws_lambda_events::event::dynamodb::Event;
    use order_lambda::adapters::memory::MemoryAudit;
    use order_lambda::audit::{Action, ActorType, Sources};
    let batch: Event = serde_json::from_value(json("audit-orders-stream.json")).unwrap();
    let sources = Sources {
        orders: "order-saga-OrdersTable-SAMPLE".into(),
        inventory: "order-saga-InventoryTable-SAMPLE".into(),
        billing: "order-saga-BillingTable-SAMPLE".into(),
    };
    let log = MemoryAudit::default();
    let response = order_lambda::audit_stream::record_batch(&log, &sources, batch.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let entries = log.entries();
    // The third record rewrote RESERVED (a saga retry): no entry.
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e.action == Action::OrderStatus));
    assert_eq!(entries[0].actor, ActorType::User);
    assert_eq!(entries[0].after["status"], "PENDING");
    assert_eq!(entries[1].actor, ActorType::Saga);
    assert_eq!(entries[1].before["status"], "PENDING");
    assert_eq!(
        entries[1].correlation_id.as_deref(),
        Some("sample-request-1")
    );
    // Delivered again, as a retried shard is: nothing new.
    order_lambda::audit_stream::record_batch(&log, &sources, batch).await;
    assert_eq!(log.entries().len(), 2);
    // A record from a stream this function does not know fails, and is named.
    let mut foreign: Event = serde_json::from_value(json("audit-orders-stream.json")).unwrap();
    foreign.records[0].event_source_arn =
        Some("arn:aws:dynamodb:us-east-1:1:table/other/stream/x".into());
    let response = order_lambda::audit_stream::record_batch(&log, &sources, foreign).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some("100000000000000000001")
    );
}
