//! Promotion codes on `POST /orders`, and admin `PUT /promotions/{code}`, against the
//! in-memory adapters.

use chrono::{DateTime, Utc};
use order_adapters::memory::{MemoryEvents, MemoryOrders, MemoryProductView, MemorySaga};
use order_core::clock::FixedClock;
use order_core::inventory::Product;
use order_core::money::{Currency, Money};
use order_core::order::{OrderStatus, Sku};
use order_core::ports::{OrderStore, OrderSweep, PromotionStore, Upsert};
use order_core::saga::SagaInput;
use order_http::ApiError;
use order_http::orders::OrdersApi;
use order_http::orders::{Cancellation, cancel_order};
use order_http::promotions::put_promotion;
use serde_json::{Value, json};
use std::sync::Arc;

type Api = OrdersApi<MemoryProductView, MemoryOrders, MemorySaga, MemoryEvents>;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

async fn api() -> Api {
    let catalog = MemoryProductView::default();
    catalog
        .put_product(&Product {
            sku: Sku::try_from("TSHIRT").unwrap(),
            name: "T-shirt".into(),
            price: eur(2000),
            available: 100,
            reserved: 0,
            version: 1,
        })
        .await
        .unwrap();
    OrdersApi {
        catalog,
        orders: MemoryOrders::default(),
        saga: MemorySaga::default(),
        events: MemoryEvents::default(),
        clock: Box::new(FixedClock::at(t0())),
    }
}

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn promo(kind: &str, value: i64, max_uses: i64) -> Value {
    let mut p = json!({"kind": kind, "value": value, "validFrom": "2026-11-01T00:00:00Z",
        "validTo": "2026-12-01T00:00:00Z", "maxUses": max_uses});
    if kind == "FIXED" {
        p["currency"] = json!("EUR");
    }
    p
}

fn order(quantity: u32, code: &str) -> Vec<u8> {
    body(json!({"items":[{"sku":"TSHIRT","quantity":quantity}],"promoCode":code}))
}

fn refused_field(error: ApiError) -> String {
    match error {
        ApiError::Unprocessable { kind, errors, .. } => {
            assert_eq!(kind, "promotion-refused");
            errors[0].field.clone()
        }
        other => panic!("expected a refused promotion, got {other:?}"),
    }
}

#[tokio::test]
async fn a_percent_code_discounts_the_total_the_saga_charges() {
    let api = api().await;
    let (outcome, view) = put_promotion(&api.orders, "TEN", &body(promo("PERCENT", 10, 5)))
        .await
        .unwrap();
    assert_eq!((outcome, view.uses), (Upsert::Created, 0));
    let accepted = api
        .place_order("alice", None, &order(2, "TEN"))
        .await
        .unwrap();
    assert_eq!(accepted.total, eur(3600));
    let stored = api.orders.get(accepted.order_id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.subtotal,
            stored.discount,
            stored.promo_code.as_deref()
        ),
        (eur(4000), eur(400), Some("TEN"))
    );
    let input: SagaInput = serde_json::from_str(&api.saga.started()[&accepted.order_id]).unwrap();
    assert_eq!(input.total, eur(3600));
    assert_eq!(api.orders.promotion("TEN").await.unwrap().unwrap().uses, 1);
}

#[tokio::test]
async fn a_fixed_code_never_takes_more_than_the_subtotal() {
    let api = api().await;
    put_promotion(&api.orders, "BIG", &body(promo("FIXED", 5000, 5)))
        .await
        .unwrap();
    let accepted = api
        .place_order("alice", None, &order(1, "BIG"))
        .await
        .unwrap();
    assert_eq!(accepted.total, eur(0));
}

#[tokio::test]
async fn unknown_expired_used_up_and_too_small_codes_are_422_naming_promo_code() {
    let api = api().await;
    assert_eq!(
        refused_field(
            api.place_order("alice", None, &order(1, "NOPE"))
                .await
                .unwrap_err()
        ),
        "promoCode"
    );
    let mut early = promo("PERCENT", 10, 5);
    early["validFrom"] = json!("2026-11-30T00:00:00Z");
    put_promotion(&api.orders, "EARLY", &body(early))
        .await
        .unwrap();
    refused_field(
        api.place_order("alice", None, &order(1, "EARLY"))
            .await
            .unwrap_err(),
    );
    let mut min = promo("PERCENT", 10, 5);
    min["minTotal"] = json!({"amount": 5000, "currency": "EUR"});
    put_promotion(&api.orders, "MIN", &body(min)).await.unwrap();
    refused_field(
        api.place_order("alice", None, &order(2, "MIN"))
            .await
            .unwrap_err(),
    );
    assert!(
        api.place_order("alice", None, &order(3, "MIN"))
            .await
            .is_ok()
    );

    put_promotion(&api.orders, "ONCE", &body(promo("PERCENT", 10, 1)))
        .await
        .unwrap();
    api.place_order("alice", None, &order(1, "ONCE"))
        .await
        .unwrap();
    refused_field(
        api.place_order("bob", None, &order(1, "ONCE"))
            .await
            .unwrap_err(),
    );
    assert_eq!(api.orders.promotion("ONCE").await.unwrap().unwrap().uses, 1);
}

#[tokio::test]
async fn a_cancelled_orders_promotion_use_is_not_given_back() {
    let api = api().await;
    put_promotion(&api.orders, "ONCE", &body(promo("PERCENT", 10, 1)))
        .await
        .unwrap();
    let placed = api
        .place_order("alice", Some("k1"), &order(1, "ONCE"))
        .await
        .unwrap();
    let (_, cancellation) = cancel_order(
        &api.orders,
        &api.saga,
        api.clock.as_ref(),
        "alice",
        &placed.order_id.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(cancellation, Cancellation::Accepted);
    // What the saga's compensation ends with.
    assert!(
        api.orders
            .mark_cancelled(
                placed.order_id,
                &[OrderStatus::Pending],
                "USER_CANCELLED",
                t0()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        api.orders
            .get(placed.order_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::Cancelled
    );
    assert_eq!(api.orders.promotion("ONCE").await.unwrap().unwrap().uses, 1);
    let again = api
        .place_order("bob", Some("k2"), &order(1, "ONCE"))
        .await
        .unwrap_err();
    assert_eq!(refused_field(again), "promoCode");
}

#[tokio::test]
async fn a_retried_idempotent_order_counts_one_use() {
    let api = api().await;
    put_promotion(&api.orders, "TWO", &body(promo("PERCENT", 50, 2)))
        .await
        .unwrap();
    let first = api
        .place_order("alice", Some("k1"), &order(1, "TWO"))
        .await
        .unwrap();
    let again = api
        .place_order("alice", Some("k1"), &order(1, "TWO"))
        .await
        .unwrap();
    assert_eq!(first.order_id, again.order_id);
    assert_eq!(api.orders.promotion("TWO").await.unwrap().unwrap().uses, 1);
    // The code is part of the request: the key with another code is another request.
    assert!(matches!(
        api.place_order(
            "alice",
            Some("k1"),
            &body(json!({"items":[{"sku":"TSHIRT","quantity":1}]}))
        )
        .await,
        Err(ApiError::IdempotencyKeyReused)
    ));
}

#[tokio::test]
async fn concurrent_orders_never_use_a_code_more_than_its_uses() {
    let api = api().await;
    put_promotion(&api.orders, "FIVE", &body(promo("PERCENT", 10, 5)))
        .await
        .unwrap();
    let api = Arc::new(api);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                api.place_order(&format!("user{i}"), None, &order(1, "FIVE"))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(refused_field(e), "promoCode"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(api.orders.promotion("FIVE").await.unwrap().unwrap().uses, 5);
}

#[tokio::test]
async fn replacing_terms_keeps_the_uses_and_bad_bodies_name_fields() {
    let api = api().await;
    put_promotion(&api.orders, "KEEP", &body(promo("PERCENT", 10, 5)))
        .await
        .unwrap();
    api.place_order("alice", None, &order(1, "KEEP"))
        .await
        .unwrap();
    let (outcome, view) = put_promotion(&api.orders, "KEEP", &body(promo("FIXED", 100, 9)))
        .await
        .unwrap();
    assert_eq!((outcome, view.uses, view.max_uses), (Upsert::Updated, 1, 9));

    let Err(ApiError::InvalidRequest(errors)) = put_promotion(
        &api.orders,
        "bad code",
        &body(json!({"kind":"HALF","validTo":"2026-01-01T00:00:00Z"})),
    )
    .await
    else {
        panic!("expected 400");
    };
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    for f in ["code", "kind", "validFrom", "maxUses"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert!(matches!(
        put_promotion(&api.orders, "X", b"{not json").await,
        Err(ApiError::MalformedJson(_))
    ));
}
