//! `POST /orders` and `GET /orders/{id}` rules against the in-memory adapters.

use chrono::{DateTime, Utc};
use order_adapters::memory::{MemoryEvents, MemoryOrders, MemoryProductView, MemorySaga};
use order_core::clock::FixedClock;
use order_core::events::EventType;
use order_core::inventory::Product;
use order_core::money::{Currency, Money};
use order_core::order::{OrderStatus, Sku};
use order_core::saga::SagaInput;
use order_http::orders::{OrdersApi, get_order};
use order_http::{ApiError, MAX_BODY_BYTES};
use serde_json::json;

type Api = OrdersApi<MemoryProductView, MemoryOrders, MemorySaga, MemoryEvents>;

async fn api() -> Api {
    let catalog = MemoryProductView::default();
    for (sku, price) in [("TSHIRT", 1999), ("MUG", 1299)] {
        catalog
            .put_product(&Product {
                sku: Sku::try_from(sku).unwrap(),
                name: sku.to_lowercase(),
                price: Money::new(price, Currency::try_from("EUR").unwrap()),
                available: 10,
                reserved: 0,
                version: 1,
            })
            .await
            .unwrap();
    }
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc();
    OrdersApi {
        catalog,
        orders: MemoryOrders::default(),
        saga: MemorySaga::default(),
        events: MemoryEvents::default(),
        clock: Box::new(FixedClock::at(t0)),
    }
}

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn an_order_is_priced_saved_pending_and_its_saga_started() {
    let api = api().await;
    let accepted = api
        .place_order(
            "alice",
            None,
            &body(json!({"items":[{"sku":"TSHIRT","quantity":2},{"sku":"MUG","quantity":1}]})),
        )
        .await
        .unwrap();
    assert_eq!(accepted.status, OrderStatus::Pending);
    assert_eq!(
        accepted.total,
        Money::new(2 * 1999 + 1299, Currency::try_from("EUR").unwrap())
    );

    let order = get_order(&api.orders, "alice", &accepted.order_id.to_string())
        .await
        .unwrap();
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[0].unit_price.amount, 1999);

    let started = api.saga.started();
    let input: SagaInput = serde_json::from_str(&started[&accepted.order_id]).unwrap();
    assert_eq!(input, SagaInput::for_order(&order));
    assert_eq!(input.user_id, "alice");
}

#[tokio::test]
async fn the_same_key_and_body_give_the_same_order_and_one_saga() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    let first = api
        .place_order("alice", Some("k-1"), &request)
        .await
        .unwrap();
    for _ in 0..3 {
        let again = api
            .place_order("alice", Some("k-1"), &request)
            .await
            .unwrap();
        assert_eq!(again.order_id, first.order_id);
    }
    assert_eq!(api.orders.count(), 1);
    assert_eq!(api.saga.started().len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let api = api().await;
    api.place_order(
        "alice",
        Some("k-1"),
        &body(json!({"items":[{"sku":"MUG","quantity":1}]})),
    )
    .await
    .unwrap();
    let err = api
        .place_order(
            "alice",
            Some("k-1"),
            &body(json!({"items":[{"sku":"MUG","quantity":2}]})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::IdempotencyKeyReused), "{err:?}");
    assert_eq!(err.status().as_u16(), 422);
    assert_eq!(api.orders.count(), 1);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    let alice = api.place_order("alice", Some("k"), &request).await.unwrap();
    let bob = api.place_order("bob", Some("k"), &request).await.unwrap();
    assert_ne!(alice.order_id, bob.order_id);
}

#[tokio::test]
async fn a_retry_starts_the_saga_a_crashed_attempt_did_not() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    api.saga.fail_next(1);
    let err = api
        .place_order("alice", Some("k-crash"), &request)
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 503);
    assert_eq!(
        api.orders.count(),
        1,
        "the order was written before the start failed"
    );
    assert!(api.saga.started().is_empty());

    let retried = api
        .place_order("alice", Some("k-crash"), &request)
        .await
        .unwrap();
    assert_eq!(api.orders.count(), 1);
    assert!(api.saga.started().contains_key(&retried.order_id));
}

#[tokio::test]
async fn an_order_is_announced_before_its_saga_starts_and_a_lost_announcement_is_retried() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    api.events.fail_next(1);
    let err = api
        .place_order("alice", Some("k-announce"), &request)
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 503, "{err}");
    assert_eq!(api.orders.count(), 1, "saved before the announcement");
    assert!(
        api.saga.started().is_empty(),
        "no saga for an order never announced"
    );

    let retried = api
        .place_order("alice", Some("k-announce"), &request)
        .await
        .unwrap();
    assert!(api.saga.started().contains_key(&retried.order_id));
    let announced = api.events.published();
    assert_eq!(announced.len(), 1, "{announced:?}");
    let created = &announced[0];
    assert_eq!(created.event_type, EventType::OrderCreated);
    assert_eq!(
        (created.order_id, created.user_id.as_str()),
        (Some(retried.order_id), "alice")
    );
    assert_eq!(
        created.data,
        json!({"total": {"amount": 1299, "currency": "EUR"}})
    );
}

#[tokio::test]
async fn bad_bodies_are_client_errors_that_write_nothing() {
    let api = api().await;
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"".to_vec(), 400),
        (b"{".to_vec(), 400),
        (vec![0xff, 0xfe], 400),
        (body(json!({"items": "x"})), 400),
        (body(json!({"items":[{"sku":"MUG","quantity":-1}]})), 400),
        (
            body(json!({"items":[{"sku":"MUG","quantity":1}], "userId": "mallory"})),
            400,
        ),
        (body(json!({"items":[{"sku":"NOPE","quantity":1}]})), 422),
        (vec![b' '; MAX_BODY_BYTES + 1], 413),
        ("[".repeat(10_000).into_bytes(), 400),
    ];
    for (request, status) in cases {
        let err = api.place_order("alice", None, &request).await.unwrap_err();
        assert_eq!(err.status().as_u16(), status, "{err:?}");
    }
    assert_eq!(api.orders.count(), 0);
    assert!(api.saga.started().is_empty());
}

#[tokio::test]
async fn idempotency_keys_are_validated() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    for key in ["", "has space", &"x".repeat(129)] {
        let err = api
            .place_order("alice", Some(key), &request)
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 400, "{key:?}");
    }
}

#[tokio::test]
async fn another_users_order_is_not_found_and_bad_ids_are_named() {
    let api = api().await;
    let accepted = api
        .place_order(
            "alice",
            None,
            &body(json!({"items":[{"sku":"MUG","quantity":1}]})),
        )
        .await
        .unwrap();
    let err = get_order(&api.orders, "bob", &accepted.order_id.to_string())
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 404);
    let err = get_order(&api.orders, "alice", "../etc/passwd")
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400);
}

mod listing_and_cancelling {
    use super::*;
    use order_core::order::Step;
    use order_core::page::PageRequest;
    use order_core::ports::OrderStore;
    use order_http::orders::{Cancellation, cancel_order, list_orders};

    async fn place(api: &Api, user: &str) -> order_core::order::OrderId {
        api.place_order(
            user,
            None,
            &body(json!({"items":[{"sku":"MUG","quantity":1}]})),
        )
        .await
        .unwrap()
        .order_id
    }

    #[tokio::test]
    async fn my_orders_come_newest_first_in_pages() {
        let api = api().await;
        for _ in 0..5 {
            place(&api, "alice").await;
        }
        place(&api, "bob").await;

        let mut seen = Vec::new();
        let mut page = PageRequest::first(2);
        loop {
            let got = list_orders(&api.orders, "alice", None, &page)
                .await
                .unwrap();
            assert!(got.items.len() <= 2);
            seen.extend(got.items.iter().map(|o| o.order_id));
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "not newest first");
        assert_eq!(
            seen.len(),
            5,
            "bob's order leaked or one of alice's is missing"
        );

        let pending = list_orders(
            &api.orders,
            "alice",
            Some("PENDING"),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
        assert_eq!(pending.items.len(), 5);
        let err = list_orders(
            &api.orders,
            "alice",
            Some("SHIPPED?"),
            &PageRequest::first(10),
        )
        .await
        .unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
    }

    #[tokio::test]
    async fn cancelling_a_running_order_records_the_request_once() {
        let api = api().await;
        let id = place(&api, "alice").await;
        let (order, outcome) = cancel_order(
            &api.orders,
            &api.saga,
            &*api.clock,
            "alice",
            &id.to_string(),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Cancellation::Accepted);
        let first = order.cancel_requested_at.unwrap();
        assert!(
            order
                .timeline
                .iter()
                .any(|m| m.step == Step::CancelRequested)
        );
        // A PENDING order's saga is (re)started so that it compensates even if it never ran.
        assert!(api.saga.started().contains_key(&id));
        let (again, _) = cancel_order(
            &api.orders,
            &api.saga,
            &*api.clock,
            "alice",
            &id.to_string(),
        )
        .await
        .unwrap();
        assert_eq!(again.cancel_requested_at, Some(first));
        assert!(
            api.saga.cancellations().is_empty(),
            "a running saga needs no second execution"
        );
    }

    #[tokio::test]
    async fn another_users_order_cannot_be_cancelled() {
        let api = api().await;
        let id = place(&api, "alice").await;
        let err = cancel_order(&api.orders, &api.saga, &*api.clock, "bob", &id.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 404);
        assert!(
            api.orders
                .get(id)
                .await
                .unwrap()
                .unwrap()
                .cancel_requested_at
                .is_none()
        );
    }
}

#[tokio::test]
async fn reporting_says_whether_the_call_created_the_order() {
    let api = api().await;
    let request = body(json!({"items":[{"sku":"MUG","quantity":1}]}));
    let (first, created) = api
        .place_order_reporting("alice", Some("k-created"), &request, None)
        .await
        .unwrap();
    assert!(created, "a new order is created");
    let (again, created) = api
        .place_order_reporting("alice", Some("k-created"), &request, None)
        .await
        .unwrap();
    assert!(!created, "a replay creates nothing");
    assert_eq!(again, first);
    let (_, created) = api
        .place_order_reporting("alice", None, &request, None)
        .await
        .unwrap();
    assert!(created, "without a key every call is a new order");
}
