//! The cart routes and checkout against the in-memory adapters.

use chrono::{DateTime, Utc};
use order_adapters::memory::{MemoryEvents, MemoryOrders, MemoryProductView, MemorySaga};
use order_core::cart::{Cart, MAX_CART_LINES};
use order_core::clock::FixedClock;
use order_core::inventory::Product;
use order_core::money::{Currency, Money};
use order_core::order::{OrderStatus, Sku};
use order_core::ports::{CartStore, OrderStore};
use order_http::ApiError;
use order_http::cart::CartApi;
use order_http::orders::OrdersApi;
use order_http::promotions::put_promotion;
use serde_json::{Value, json};

type Api = CartApi<MemoryProductView, MemoryOrders, MemorySaga, MemoryEvents>;

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

async fn api() -> Api {
    let catalog = MemoryProductView::default();
    for i in 0..=MAX_CART_LINES {
        catalog
            .put_product(&Product {
                sku: Sku::try_from(format!("SKU-{i}")).unwrap(),
                name: format!("product {i}"),
                price: eur(1000),
                available: 100,
                reserved: 0,
                version: 1,
            })
            .await
            .unwrap();
    }
    CartApi {
        orders: OrdersApi {
            catalog,
            orders: MemoryOrders::default(),
            saga: MemorySaga::default(),
            events: MemoryEvents::default(),
            clock: Box::new(FixedClock::at(t0())),
        },
    }
}

fn qty(n: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({ "quantity": n })).unwrap()
}

fn lines(cart: &Cart) -> Vec<(String, u32)> {
    cart.items
        .iter()
        .map(|i| (i.sku.to_string(), i.quantity))
        .collect()
}

fn fields(error: ApiError) -> Vec<String> {
    match error {
        ApiError::InvalidRequest(e)
        | ApiError::UnprocessableOrder(e)
        | ApiError::Unprocessable { errors: e, .. } => e.into_iter().map(|e| e.field).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unfilled_cart_is_empty_with_no_update_time() {
    let api = api().await;
    let cart = api.cart("alice").await.unwrap();
    assert_eq!(
        serde_json::to_value(&cart).unwrap(),
        json!({"items": [], "updatedAt": null})
    );
}

#[tokio::test]
async fn lines_are_set_replaced_removed_and_cleared() {
    let api = api().await;
    api.set_item("alice", "SKU-1", &qty(2)).await.unwrap();
    api.set_item("alice", "SKU-2", &qty(1)).await.unwrap();
    let cart = api.set_item("alice", "SKU-1", &qty(5)).await.unwrap();
    assert_eq!(lines(&cart), [("SKU-1".into(), 5), ("SKU-2".into(), 1)]);
    assert_eq!(cart.updated_at, Some(t0()));
    let cart = api.remove_item("alice", "SKU-1").await.unwrap();
    assert_eq!(lines(&cart), [("SKU-2".into(), 1)]);
    // Removing a line that is not there changes nothing and is no error.
    assert_eq!(api.remove_item("alice", "SKU-9").await.unwrap(), cart);
    assert!(api.clear("alice").await.unwrap().items.is_empty());
    // Bob's cart is his own.
    assert!(api.cart("bob").await.unwrap().items.is_empty());
}

#[tokio::test]
async fn bad_lines_are_refused_naming_the_field() {
    let api = api().await;
    assert_eq!(
        fields(api.set_item("alice", "NOPE", &qty(1)).await.unwrap_err()),
        ["sku"]
    );
    assert_eq!(
        fields(api.set_item("alice", "bad sku", &qty(1)).await.unwrap_err()),
        ["sku"]
    );
    for bad in [
        qty(0),
        qty(1001),
        b"{\"quantity\":\"2\"}".to_vec(),
        b"{}".to_vec(),
    ] {
        assert_eq!(
            fields(api.set_item("alice", "SKU-1", &bad).await.unwrap_err()),
            ["quantity"]
        );
    }
    assert_eq!(
        fields(
            api.set_item("alice", "SKU-1", b"{\"quantity\":1,\"price\":1}")
                .await
                .unwrap_err()
        ),
        ["price"]
    );
    assert!(matches!(
        api.set_item("alice", "SKU-1", b"[1").await,
        Err(ApiError::MalformedJson(_))
    ));
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_lines() {
    let api = api().await;
    for i in 0..MAX_CART_LINES {
        api.set_item("alice", &format!("SKU-{i}"), &qty(1))
            .await
            .unwrap();
    }
    let error = api
        .set_item("alice", &format!("SKU-{MAX_CART_LINES}"), &qty(1))
        .await
        .unwrap_err();
    assert!(matches!(
        &error,
        ApiError::Unprocessable {
            kind: "cart-full",
            ..
        }
    ));
    assert_eq!(fields(error), ["sku"]);
    // Changing a line already there is still fine.
    api.set_item("alice", "SKU-0", &qty(3)).await.unwrap();
}

#[tokio::test]
async fn checkout_orders_the_cart_with_a_promo_and_empties_it() {
    let api = api().await;
    put_promotion(
        &api.orders.orders,
        "HALF",
        &serde_json::to_vec(
            &json!({"kind":"PERCENT","value":50,"validFrom":"2026-01-01T00:00:00Z",
            "validTo":"2027-01-01T00:00:00Z","maxUses":1}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    api.set_item("alice", "SKU-1", &qty(2)).await.unwrap();
    api.set_item("alice", "SKU-2", &qty(1)).await.unwrap();
    let accepted = api
        .checkout("alice", None, br#"{"promoCode":"HALF"}"#, None)
        .await
        .unwrap();
    assert_eq!(accepted.status, OrderStatus::Pending);
    assert_eq!(accepted.total, eur(1500));
    let order = api
        .orders
        .orders
        .get(accepted.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((order.subtotal, order.discount), (eur(3000), eur(1500)));
    assert!(api.orders.saga.started().contains_key(&accepted.order_id));
    assert!(api.cart("alice").await.unwrap().items.is_empty());
    // An empty cart cannot be checked out.
    let error = api.checkout("alice", None, b"", None).await.unwrap_err();
    assert!(matches!(
        &error,
        ApiError::Unprocessable {
            kind: "empty-cart",
            ..
        }
    ));
}

#[tokio::test]
async fn a_retried_checkout_returns_the_same_order_even_with_the_cart_emptied() {
    let api = api().await;
    api.set_item("alice", "SKU-1", &qty(1)).await.unwrap();
    let first = api
        .checkout("alice", Some("c1"), b"{}", None)
        .await
        .unwrap();
    assert!(api.cart("alice").await.unwrap().items.is_empty());
    let again = api
        .checkout("alice", Some("c1"), b"{}", None)
        .await
        .unwrap();
    assert_eq!(first.order_id, again.order_id);
    assert_eq!(api.orders.orders.count(), 1);
    // Items added after the first checkout stay, and the key still answers with its order.
    api.set_item("alice", "SKU-2", &qty(4)).await.unwrap();
    let third = api.checkout("alice", Some("c1"), b"", None).await.unwrap();
    assert_eq!(third.order_id, first.order_id);
    assert_eq!(
        lines(&api.cart("alice").await.unwrap()),
        [("SKU-2".into(), 4)]
    );
}

#[tokio::test]
async fn a_retry_after_a_crash_before_emptying_tidies_the_cart() {
    let api = api().await;
    api.set_item("alice", "SKU-1", &qty(1)).await.unwrap();
    let cart = api.cart("alice").await.unwrap();
    // The first attempt placed the order but never emptied the cart.
    let placed = api
        .orders
        .place_order(
            "alice",
            Some("c2"),
            br#"{"items":[{"sku":"SKU-1","quantity":1}]}"#,
        )
        .await
        .unwrap();
    assert_eq!(api.cart("alice").await.unwrap(), cart);
    let retried = api.checkout("alice", Some("c2"), b"", None).await.unwrap();
    assert_eq!(retried.order_id, placed.order_id);
    assert!(api.cart("alice").await.unwrap().items.is_empty());
}

#[tokio::test]
async fn lines_added_or_changed_after_the_order_was_placed_survive() {
    let api = api().await;
    api.set_item("alice", "SKU-1", &qty(1)).await.unwrap();
    api.set_item("alice", "SKU-2", &qty(1)).await.unwrap();
    let stale = api.cart("alice").await.unwrap();
    // The order is placed from the cart; before the cart is emptied, another request changes
    // SKU-2 and adds SKU-3.
    let placed = api
        .orders
        .place_order(
            "alice",
            Some("c3"),
            br#"{"items":[{"sku":"SKU-1","quantity":1},{"sku":"SKU-2","quantity":1}]}"#,
        )
        .await
        .unwrap();
    api.set_item("alice", "SKU-2", &qty(7)).await.unwrap();
    api.set_item("alice", "SKU-3", &qty(2)).await.unwrap();
    // A write conditional on the version read before the changes loses.
    let emptied = Cart {
        items: vec![],
        ..stale.clone()
    };
    assert!(
        !api.orders
            .orders
            .save_cart(&emptied, stale.version, t0())
            .await
            .unwrap()
    );
    // The checkout takes out only what was ordered as it was ordered.
    let retried = api.checkout("alice", Some("c3"), b"", None).await.unwrap();
    assert_eq!(retried.order_id, placed.order_id);
    assert_eq!(
        lines(&api.cart("alice").await.unwrap()),
        [("SKU-2".into(), 7), ("SKU-3".into(), 2)]
    );
}

#[tokio::test]
async fn malformed_checkout_bodies_are_400() {
    let api = api().await;
    api.set_item("alice", "SKU-1", &qty(1)).await.unwrap();
    for (body, field) in [
        (json!({"promoCode": 7}), "promoCode"),
        (json!({"promoCode": "lower"}), "promoCode"),
        (json!({"items": []}), "items"),
    ] {
        let body: Value = body;
        assert_eq!(
            fields(
                api.checkout("alice", None, &serde_json::to_vec(&body).unwrap(), None)
                    .await
                    .unwrap_err()
            ),
            [field]
        );
    }
    assert_eq!(
        fields(
            api.checkout("alice", None, br#"{"promoCode":"NOPE"}"#, None)
                .await
                .unwrap_err()
        ),
        ["promoCode"]
    );
    assert_eq!(api.cart("alice").await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn a_repeated_identical_change_right_after_the_first_writes_nothing() {
    // Concurrent twins of one request (client retries) then never contend for the cart.
    let api = api().await;
    let body = qty(3);
    for _ in 0..10 {
        api.set_item("alice", "SKU-1", &body).await.unwrap();
    }
    let cart = api.cart("alice").await.unwrap();
    assert_eq!(lines(&cart), [("SKU-1".to_owned(), 3)]);
    assert_eq!(cart.version, 1, "one write for ten identical requests");
    api.set_item("alice", "SKU-1", &qty(4)).await.unwrap();
    assert_eq!(
        api.cart("alice").await.unwrap().version,
        2,
        "a real change writes"
    );
}
