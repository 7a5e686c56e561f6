//! Path parameters, query parameters and the `Idempotency-Key` header: arbitrary text where
//! the API expects an order id, a SKU, a promotion code, a page `limit` or `cursor`, an order
//! `status` or a key, through the same code the functions run.
//!
//! Input: a selector byte, then the value as UTF-8 (API Gateway hands the functions text).
//! Oracles: never a panic or a 5xx, answers are JSON; a value the API accepts matches
//! openapi.yaml's pattern or range for it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_adapters::memory::MemorySaga;
use order_core::page::PageRequest;
use order_http::billing::BillingApi;
use order_http::cart::CartApi;
use order_http::catalog::CatalogApi;
use order_http::orders::{OrdersApi, get_order, list_orders};
use order_http::promotions::PromotionsApi;
use order_http::{ApiError, problem_response};
use order_saga_fuzz::*;

const SELECTORS: u8 = 10;
const PROMOTION: &[u8] =
    br#"{"kind":"PERCENT","value":5,"validFrom":"2026-01-01T00:00:00Z","validTo":"2027-01-01T00:00:00Z","maxUses":9}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, value)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    match selector % SELECTORS {
        0 => order_id(value),
        1 => product_sku(value),
        2 => cart_sku(value),
        3 => products_page(Some(value), None),
        4 => products_page(None, Some(value)),
        5 => order_status(value),
        6 => ledger_page(value),
        7 => promotion_code(value),
        8 => deposit_key(value),
        _ => order_key(value),
    }
});

/// A refusal, checked as an answer, and whether it was a 400 naming `field`.
fn refused(error: &ApiError, field: &str) -> bool {
    let (status, problem) = check_answer(&problem_response(error));
    assert!((400..500).contains(&status));
    status == 400
        && problem["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == field))
}

/// `GET /orders/{id}`: anything but a UUIDv7 is a 400 naming `id` (uppercase hex reads the same).
fn order_id(value: &str) {
    let orders = orders();
    match block_on(get_order(&orders, USER, value)) {
        Ok(order) => panic!("found {order:?} in an empty store"),
        Err(error) => {
            if !refused(&error, "id") {
                assert!(
                    matches(&ORDER_ID, &value.to_ascii_lowercase()),
                    "took {value:?} for an order id: {error:?}"
                );
            }
        }
    }
}

/// `GET /products/{sku}` through catalog-api: a SKU the pattern refuses is a 400.
fn product_sku(value: &str) {
    let api = CatalogApi {
        inventory: catalog(),
        events: order_adapters::memory::MemoryEvents::default(),
    };
    let mut event = Event::new("GET", "/products/{sku}");
    event.path_params.push(("sku", value));
    let Some(request) = event.request() else {
        return;
    };
    let (status, _) = check_answer(&block_on(api.handle(&request)));
    if status != 400 {
        assert!(matches(&SKU, value), "took {value:?} for a SKU ({status})");
    }
}

/// `DELETE /cart/items/{sku}` through cart-api.
fn cart_sku(value: &str) {
    let api = CartApi {
        orders: OrdersApi {
            catalog: product_view(),
            orders: orders(),
            saga: MemorySaga::default(),
            events: order_adapters::memory::MemoryEvents::default(),
            clock: clock(),
        },
    };
    let mut event = Event::new("DELETE", "/cart/items/{sku}");
    event.path_params.push(("sku", value));
    let Some(request) = event.request() else {
        return;
    };
    let (status, cart) = check_answer(&block_on(api.handle(&request)));
    if status == 200 {
        assert!(matches(&SKU, value), "took {value:?} for a SKU");
        let removed = ["SKU-MUG", "A"].contains(&value);
        assert_eq!(
            cart["items"].as_array().map(Vec::len),
            Some(if removed { 1 } else { 2 })
        );
    }
}

/// A `limit` the API takes is a whole number from 1 to 100.
fn check_limit(limit: Option<&str>) {
    if let Some(limit) = limit {
        let digits = limit.strip_prefix('+').unwrap_or(limit);
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "took the limit {limit:?}"
        );
        let n: u64 = digits.parse().expect("digits");
        assert!((1..=100).contains(&n), "took the limit {limit:?}");
    }
}

/// `GET /products?limit=&cursor=` through catalog-api.
fn products_page(limit: Option<&str>, cursor: Option<&str>) {
    let api = CatalogApi {
        inventory: catalog(),
        events: order_adapters::memory::MemoryEvents::default(),
    };
    let mut event = Event::new("GET", "/products");
    event.query.extend(limit.map(|l| ("limit", l)));
    event.query.extend(cursor.map(|c| ("cursor", c)));
    let Some(request) = event.request() else {
        return;
    };
    let (status, page) = check_answer(&block_on(api.handle(&request)));
    if status == 200 {
        check_limit(limit);
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 100);
    }
}

/// `GET /orders?status=`: one of the statuses, or a 400 naming `status`.
fn order_status(value: &str) {
    let orders = orders();
    match block_on(list_orders(
        &orders,
        USER,
        Some(value),
        &PageRequest::first(20),
    )) {
        Ok(page) => {
            assert!(
                [
                    "PENDING",
                    "RESERVED",
                    "PAID",
                    "COMPLETED",
                    "CANCELLED",
                    "COMPENSATION_FAILED"
                ]
                .contains(&value),
                "took the status {value:?}"
            );
            assert!(page.items.is_empty());
        }
        Err(error) => assert!(refused(&error, "status"), "{error:?}"),
    }
}

/// `GET /billing/transactions?limit=&cursor=` through billing-api, the value as both.
fn ledger_page(value: &str) {
    let api = BillingApi {
        billing: billing(),
        clock: clock(),
    };
    for (name, limit) in [("limit", Some(value)), ("cursor", None)] {
        let mut event = Event::new("GET", "/billing/transactions");
        event.query.push((name, value));
        let Some(request) = event.request() else {
            continue;
        };
        let (status, _) = check_answer(&block_on(api.handle(&request)));
        if status == 200 {
            check_limit(limit);
        }
    }
}

/// `PUT /promotions/{code}` through promotions-api with a valid body.
fn promotion_code(value: &str) {
    let api = PromotionsApi {
        promotions: orders(),
    };
    let mut event = Event::new("PUT", "/promotions/{code}");
    event.admin = true;
    event.path_params.push(("code", value));
    event.headers.push(("content-type", "application/json"));
    event.body = Some(PROMOTION);
    let Some(request) = event.request() else {
        return;
    };
    let (status, promotion) = check_answer(&block_on(api.handle(&request)));
    if status < 400 {
        assert!(
            matches(&PROMO_CODE, value),
            "took {value:?} for a promotion code"
        );
        assert_eq!(promotion["code"], value);
    }
}

/// `POST /billing/deposit` through billing-api with a valid body and this `Idempotency-Key`.
fn deposit_key(value: &str) {
    let api = BillingApi {
        billing: billing(),
        clock: clock(),
    };
    let mut event = Event::new("POST", "/billing/deposit");
    event.headers.push(("content-type", "application/json"));
    event.headers.push(("idempotency-key", value));
    event.body = Some(br#"{"amount":100,"currency":"EUR"}"#);
    let Some(request) = event.request() else {
        return;
    };
    let (status, _) = check_answer(&block_on(api.handle(&request)));
    if status < 400 {
        assert!(matches(&IDEMPOTENCY_KEY, value), "took the key {value:?}");
    }
}

/// `POST /orders` with a valid body and this `Idempotency-Key`, as create-order passes it.
fn order_key(value: &str) {
    let api = OrdersApi {
        catalog: product_view(),
        orders: orders(),
        saga: MemorySaga::default(),
        events: order_adapters::memory::MemoryEvents::default(),
        clock: clock(),
    };
    let body = br#"{"items":[{"sku":"SKU-MUG","quantity":1}]}"#;
    match block_on(api.place_order(USER, Some(value), body)) {
        Ok(_) => assert!(matches(&IDEMPOTENCY_KEY, value), "took the key {value:?}"),
        Err(error) => assert!(refused(&error, "Idempotency-Key"), "{error:?}"),
    }
}
