//! `POST /orders`: arbitrary bytes as the body that create-order hands to
//! `OrdersApi::place_order`, against an in-memory catalog and promotions.
//!
//! Input: one byte of flags (bit 0: send an `Idempotency-Key` and replay the request), then the
//! body. Oracles: never a panic or a 5xx; a refusal is a 4xx problem and stores nothing; an
//! accepted body satisfies openapi.yaml's `OrderRequest` and `OrderRequest::from_json` agrees;
//! the stored order is priced from the catalog, adds up and is discounted within its subtotal;
//! a replay with the same key returns the same order and stores and starts nothing more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_adapters::memory::MemorySaga;
use order_core::order::{MAX_LINES, MAX_QUANTITY, OrderRequest};
use order_core::promotion::Discount;
use order_http::orders::OrdersApi;
use order_http::{ApiError, problem_response};
use order_saga_fuzz::*;
use serde_json::Value;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let key = (flags & 1 == 1).then_some("fuzz-key");
    let api = OrdersApi {
        catalog: product_view(),
        orders: orders(),
        saga: MemorySaga::default(),
        events: order_adapters::memory::MemoryEvents::default(),
        clock: clock(),
    };
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let validated = parsed.as_ref().map(OrderRequest::from_json);

    let accepted = match block_on(api.place_order(USER, key, body)) {
        Ok(accepted) => accepted,
        Err(error) => {
            let status = check_answer(&problem_response(&error)).0;
            assert!((400..500).contains(&status), "{error:?}");
            if let Some(Ok(request)) = &validated {
                assert!(
                    !matches!(
                        error,
                        ApiError::InvalidRequest(_) | ApiError::MalformedJson(_)
                    ),
                    "from_json accepted {request:?}, place_order refused it as malformed: {error:?}"
                );
            }
            assert_eq!(api.orders.count(), 0, "a refused order was stored");
            assert!(
                api.saga.started().is_empty(),
                "a refused order started a saga"
            );
            return;
        }
    };

    // What was accepted is an OrderRequest as openapi.yaml describes it.
    assert!(body.len() <= MAX_BODY_BYTES);
    let json = parsed.expect("accepted a body that is not JSON");
    let object = accepted_object(&json, &["items", "promoCode"]);
    let items = object["items"].as_array().expect("items is an array");
    assert!((1..=MAX_LINES).contains(&items.len()));
    let mut skus = HashSet::new();
    for item in items {
        let item = accepted_object(item, &["sku", "quantity"]);
        let sku = accepted_string(item.get("sku"), &SKU, "SKU");
        assert!(skus.insert(sku), "accepted {sku} twice");
        accepted_integer(item.get("quantity"), 1, i64::from(MAX_QUANTITY));
    }
    if object.contains_key("promoCode") {
        accepted_string(object.get("promoCode"), &PROMO_CODE, "promotion code");
    }
    let request = validated
        .expect("parsed")
        .expect("OrderRequest::from_json accepts what place_order accepted");

    // The stored order is the request, priced from the catalog.
    let accepted = serde_json::to_value(&accepted).expect("the answer serializes");
    let order = check_accepted_order(&accepted, &api.orders);
    assert_eq!(order.lines.len(), request.items.len());
    for (line, item) in order.lines.iter().zip(&request.items) {
        assert_eq!((&line.sku, line.quantity), (&item.sku, item.quantity));
    }
    assert_eq!(order.promo_code, request.promo_code);
    if let Some(code) = &order.promo_code {
        let promo = promotions()
            .into_iter()
            .find(|p| &p.code == code)
            .expect("only a seeded code is accepted");
        assert!(
            promo.valid_from <= now() && now() < promo.valid_to,
            "{code} is not valid now"
        );
        if let Some(min) = &promo.min_total {
            assert!(order.subtotal.amount >= min.amount && order.subtotal.currency == min.currency);
        }
        let expected = match &promo.discount {
            Discount::Percent(p) => order.subtotal.amount * p / 100,
            Discount::Fixed(m) => {
                assert_eq!(m.currency, order.subtotal.currency);
                m.amount.min(order.subtotal.amount)
            }
        };
        assert_eq!(order.discount.amount, expected, "{code} on {order:?}");
    }
    assert_eq!(api.orders.count(), 1);
    assert_eq!(api.saga.started().len(), 1);
    assert!(api.saga.started().contains_key(&order.order_id));

    // A retry with the same key is the same order, and nothing more.
    if let Some(key) = key {
        let again = block_on(api.place_order(USER, Some(key), body)).expect("a replay is accepted");
        assert_eq!(again.order_id, order.order_id);
        assert_eq!(api.orders.count(), 1);
        assert_eq!(api.saga.started().len(), 1);
        check_promotion_uses(&api.orders);
    }
});
