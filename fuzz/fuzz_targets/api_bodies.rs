//! Every other route with a body, through the `handle` of its API in `order_http` (what the
//! Lambda function runs) with a request built from an API Gateway v2 event: `PUT /products/{sku}`,
//! `POST /products/{sku}/stock`, `POST /billing/accounts`, `POST /billing/deposit`,
//! `PUT /cart/items/{sku}`, `POST /cart/checkout`, `PUT /promotions/{code}`, `PUT /users/me`.
//!
//! Input: a route byte, a flags byte (bit 0: send an `Idempotency-Key` and replay the request;
//! bit 1: no `Content-Type`; bit 2: the path names something new rather than something that
//! exists; bit 3: the caller is no admin), then the body. Oracles: every answer is JSON and no
//! 5xx, every refusal a problem that changed nothing; an accepted body satisfies openapi.yaml's
//! schema for the route, and the stores hold exactly what it asked for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_adapters::memory::{
    MemoryBilling, MemoryInventory, MemoryOrders, MemoryProductView, MemoryProfiles, MemorySaga,
};
use order_core::cart::MAX_CART_LINES;
use order_core::order::MAX_QUANTITY;
use order_core::ports::{
    BillingStore, CartStore, Catalog, OrderStore, ProfileStore, PromotionStore,
};
use order_core::promotion::{Discount, MAX_FIXED, MAX_USES};
use order_http::billing::{BillingApi, MAX_DEPOSIT};
use order_http::cart::CartApi;
use order_http::catalog::{CatalogApi, MAX_PRICE, MAX_STOCK_DELTA};
use order_http::orders::OrdersApi;
use order_http::profiles::ProfilesApi;
use order_http::promotions::PromotionsApi;
use order_saga_fuzz::*;
use serde_json::Value;

const ROUTES: usize = 8;

struct Input<'a> {
    route: usize,
    replay: bool,
    content_type: bool,
    new_target: bool,
    admin: bool,
    body: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let [route, flags, body @ ..] = data else {
        return;
    };
    let input = Input {
        route: usize::from(*route) % ROUTES,
        replay: flags & 1 != 0,
        content_type: flags & 2 == 0,
        new_target: flags & 4 != 0,
        admin: flags & 8 == 0,
        body,
    };
    match input.route {
        0 => put_product(&input),
        1 => adjust_stock(&input),
        2 => open_account(&input),
        3 => deposit(&input),
        4 => put_cart_item(&input),
        5 => checkout(&input),
        6 => put_promotion(&input),
        _ => put_profile(&input),
    }
});

/// The event of `input` on a route, with the body sent as JSON.
fn event<'a>(input: &'a Input, method: &'static str, route: &'static str) -> Event<'a> {
    let mut event = Event::new(method, route);
    event.admin = input.admin;
    event.body = Some(input.body);
    if input.content_type {
        event.headers.push(("content-type", "application/json"));
    }
    if input.replay {
        event.headers.push(("idempotency-key", "fuzz-key"));
    }
    event
}

fn json(input: &Input) -> Value {
    assert!(
        input.body.len() <= MAX_BODY_BYTES,
        "accepted {} bytes",
        input.body.len()
    );
    serde_json::from_slice(input.body).expect("accepted a body that is not JSON")
}

fn catalog_api() -> CatalogApi<MemoryInventory, order_adapters::memory::MemoryEvents> {
    CatalogApi {
        inventory: catalog(),
        events: order_adapters::memory::MemoryEvents::default(),
    }
}

fn product(
    api: &CatalogApi<MemoryInventory, order_adapters::memory::MemoryEvents>,
    s: &str,
) -> Option<order_core::inventory::Product> {
    block_on(api.inventory.products(&[sku(s)]))
        .expect("read")
        .into_iter()
        .next()
}

fn put_product(input: &Input) {
    let api = catalog_api();
    let target = if input.new_target {
        "SKU-NEW"
    } else {
        "SKU-MUG"
    };
    let mut e = event(input, "PUT", "/products/{sku}");
    e.path_params.push(("sku", target));
    let Some(request) = e.request() else { return };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let before = products().into_iter().find(|p| p.sku.as_str() == target);
    let after = product(&api, target);
    if status >= 400 {
        assert_eq!(after, before, "a refused change was written");
        return;
    }
    assert!(input.admin, "a customer changed the catalog");
    assert_eq!(status, if before.is_some() { 200 } else { 201 });
    let json = json(input);
    let body = accepted_object(&json, &["name", "price"]);
    let name = accepted_name(body.get("name"), 200);
    let price = accepted_object(&body["price"], &["amount", "currency"]);
    let amount = accepted_integer(price.get("amount"), 1, MAX_PRICE);
    let code = accepted_string(price.get("currency"), &CURRENCY, "currency");
    let after = after.expect("the product is stored");
    assert_eq!(
        (
            after.name.as_str(),
            after.price.amount,
            after.price.currency.as_str()
        ),
        (name, amount, code)
    );
    let (available, reserved) = before.map_or((0, 0), |p| (p.available, p.reserved));
    assert_eq!(
        (after.available, after.reserved),
        (available, reserved),
        "stock is untouched"
    );
    assert_eq!(answer["available"], available);
}

fn adjust_stock(input: &Input) {
    let api = catalog_api();
    let target = if input.new_target {
        "SKU-NEW"
    } else {
        "SKU-TSHIRT"
    };
    let mut e = event(input, "POST", "/products/{sku}/stock");
    e.path_params.push(("sku", target));
    let Some(request) = e.request() else { return };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let before = products().into_iter().find(|p| p.sku.as_str() == target);
    let after = product(&api, target);
    check_stock(&api.inventory);
    if status >= 400 {
        assert_eq!(after, before, "a refused change was written");
        return;
    }
    assert!(input.admin, "a customer changed the stock");
    let json = json(input);
    let body = accepted_object(&json, &["delta"]);
    let delta = accepted_integer(body.get("delta"), -MAX_STOCK_DELTA, MAX_STOCK_DELTA);
    assert_ne!(delta, 0, "accepted a delta of 0");
    let (before, after) = (before.expect("existed"), after.expect("exists"));
    assert_eq!(after.available, before.available + delta);
    assert!(after.available >= 0);
    assert_eq!(after.reserved, before.reserved);
    assert_eq!(answer["available"], after.available);
}

fn billing_api(with_account: bool) -> BillingApi<MemoryBilling> {
    BillingApi {
        billing: if with_account {
            billing()
        } else {
            MemoryBilling::default()
        },
        clock: clock(),
    }
}

fn ledger_len(api: &BillingApi<MemoryBilling>) -> usize {
    let page = order_core::page::PageRequest::first(100);
    block_on(api.billing.ledger(USER, &page)).map_or(0, |p| p.items.len())
}

fn open_account(input: &Input) {
    let api = billing_api(!input.new_target);
    let before = balance(&api.billing);
    let Some(request) = event(input, "POST", "/billing/accounts").request() else {
        return;
    };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let after = balance(&api.billing);
    if status >= 400 {
        assert_eq!(after, before, "a refused request changed the account");
        return;
    }
    // The body may be empty (EUR), or {"currency": "..."}.
    let currency = if input.body.iter().all(u8::is_ascii_whitespace) {
        "EUR".to_owned()
    } else {
        let json = json(input);
        let body = accepted_object(&json, &["currency"]);
        match body.get("currency") {
            None => "EUR".to_owned(),
            v => accepted_string(v, &CURRENCY, "currency").to_owned(),
        }
    };
    let after = after.expect("an account exists");
    match before {
        Some(before) => {
            assert_eq!(status, 200);
            assert_eq!(after, before, "an existing account is answered as it is");
        }
        None => {
            assert_eq!(status, 201);
            assert_eq!(
                (after.balance, after.currency.as_str()),
                (0, currency.as_str())
            );
        }
    }
    assert_eq!(answer["balance"]["amount"], after.balance);
}

fn deposit(input: &Input) {
    let api = billing_api(!input.new_target);
    let before = balance(&api.billing);
    let Some(request) = event(input, "POST", "/billing/deposit").request() else {
        return;
    };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let after = balance(&api.billing);
    if status >= 400 {
        assert_eq!(after, before, "a refused deposit changed the account");
        assert_eq!(ledger_len(&api), 0, "a refused deposit is in the ledger");
        return;
    }
    assert_eq!(status, 201);
    let json = json(input);
    let body = accepted_object(&json, &["amount", "currency"]);
    let amount = accepted_integer(body.get("amount"), 1, MAX_DEPOSIT);
    let code = accepted_string(body.get("currency"), &CURRENCY, "currency");
    let (before, after) = (before.expect("an account"), after.expect("an account"));
    assert_eq!(
        code,
        before.currency.as_str(),
        "a deposit in another currency"
    );
    assert_eq!(after.balance, before.balance + amount);
    assert_eq!(answer["amount"]["amount"], amount);
    assert_eq!(ledger_len(&api), 1);
    if input.replay {
        let again = check_answer(&block_on(api.handle(&request)));
        assert_eq!(
            again,
            (status, answer),
            "a replay answers the first deposit"
        );
        assert_eq!(
            balance(&api.billing).expect("account").balance,
            after.balance,
            "credited twice"
        );
        assert_eq!(ledger_len(&api), 1);
    }
}

type Carts =
    CartApi<MemoryProductView, MemoryOrders, MemorySaga, order_adapters::memory::MemoryEvents>;

fn cart_api() -> Carts {
    CartApi {
        orders: OrdersApi {
            catalog: product_view(),
            orders: orders(),
            saga: MemorySaga::default(),
            events: order_adapters::memory::MemoryEvents::default(),
            clock: clock(),
        },
    }
}

fn cart(api: &Carts) -> order_core::cart::Cart {
    block_on(api.orders.orders.cart(USER))
        .expect("read")
        .expect("seeded")
}

fn put_cart_item(input: &Input) {
    let api = cart_api();
    let target = if input.new_target {
        "SKU-TSHIRT"
    } else {
        "SKU-MUG"
    };
    let mut e = event(input, "PUT", "/cart/items/{sku}");
    e.path_params.push(("sku", target));
    let Some(request) = e.request() else { return };
    let before = cart(&api);
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let after = cart(&api);
    if status >= 400 {
        assert_eq!(after, before, "a refused change was written");
        return;
    }
    let json = json(input);
    let body = accepted_object(&json, &["quantity"]);
    let quantity = accepted_integer(body.get("quantity"), 1, i64::from(MAX_QUANTITY));
    assert!(after.items.len() <= MAX_CART_LINES);
    for item in &after.items {
        assert!((1..=MAX_QUANTITY).contains(&item.quantity));
        if item.sku.as_str() == target {
            assert_eq!(i64::from(item.quantity), quantity);
        } else {
            assert!(before.items.contains(item), "another line changed");
        }
    }
    assert!(after.items.iter().any(|i| i.sku.as_str() == target));
    assert_eq!(
        answer["items"].as_array().map(Vec::len),
        Some(after.items.len())
    );
}

fn checkout(input: &Input) {
    let api = cart_api();
    let before = cart(&api);
    let Some(request) = event(input, "POST", "/cart/checkout").request() else {
        return;
    };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let orders = block_on(api.orders.orders.list_for_user(
        USER,
        None,
        &order_core::page::PageRequest::first(10),
    ))
    .expect("list");
    if status >= 400 {
        assert_eq!(cart(&api), before, "a refused checkout changed the cart");
        assert!(orders.items.is_empty(), "a refused checkout ordered");
        assert!(api.orders.saga.started().is_empty());
        return;
    }
    assert_eq!(status, 202);
    if !input.body.iter().all(u8::is_ascii_whitespace) {
        let json = json(input);
        let body = accepted_object(&json, &["promoCode"]);
        if body.contains_key("promoCode") {
            accepted_string(body.get("promoCode"), &PROMO_CODE, "promotion code");
        }
    }
    let order = check_accepted_order(&answer, &api.orders.orders);
    assert_eq!(
        order.lines.len(),
        before.items.len(),
        "the order is the cart"
    );
    assert!(
        cart(&api).items.is_empty(),
        "the ordered lines left the cart"
    );
    assert_eq!(orders.items.len(), 1);
    if input.replay {
        let again = check_answer(&block_on(api.handle(&request)));
        assert_eq!(again.0, 202);
        assert_eq!(
            again.1["orderId"], answer["orderId"],
            "a replay is the same order"
        );
        assert_eq!(api.orders.saga.started().len(), 1);
    }
}

fn put_promotion(input: &Input) {
    let api = PromotionsApi {
        promotions: orders(),
    };
    let target = if input.new_target {
        "NEWCODE"
    } else {
        "SAVE10"
    };
    let mut e = event(input, "PUT", "/promotions/{code}");
    e.path_params.push(("code", target));
    let Some(request) = e.request() else { return };
    let before = block_on(api.promotions.promotion(target)).expect("read");
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let after = block_on(api.promotions.promotion(target)).expect("read");
    if status >= 400 {
        assert_eq!(after, before, "a refused change was written");
        return;
    }
    assert!(input.admin, "a customer changed a promotion");
    assert_eq!(status, if before.is_some() { 200 } else { 201 });
    let json = json(input);
    let body = accepted_object(
        &json,
        &[
            "kind",
            "value",
            "currency",
            "validFrom",
            "validTo",
            "maxUses",
            "minTotal",
        ],
    );
    let kind = body["kind"].as_str().expect("kind is a string");
    let value = accepted_integer(body.get("value"), 1, MAX_FIXED);
    let after = after.expect("stored");
    match kind {
        "PERCENT" => {
            assert!((1..=100).contains(&value));
            assert!(
                !body.contains_key("currency"),
                "a PERCENT promotion with a currency"
            );
            assert_eq!(after.discount, Discount::Percent(value));
        }
        "FIXED" => {
            let code = accepted_string(body.get("currency"), &CURRENCY, "currency");
            let Discount::Fixed(m) = &after.discount else {
                panic!("{after:?}")
            };
            assert_eq!((m.amount, m.currency.as_str()), (value, code));
        }
        other => panic!("accepted kind {other:?}"),
    }
    let time = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(body[field].as_str().expect("a date-time"))
            .expect("RFC 3339")
            .to_utc()
    };
    assert_eq!(
        (after.valid_from, after.valid_to),
        (time("validFrom"), time("validTo"))
    );
    assert!(after.valid_from < after.valid_to);
    assert_eq!(
        after.max_uses,
        accepted_integer(body.get("maxUses"), 1, MAX_USES)
    );
    match body.get("minTotal") {
        None => assert_eq!(after.min_total, None),
        Some(min) => {
            let min = accepted_object(min, &["amount", "currency"]);
            let amount = accepted_integer(min.get("amount"), 0, MAX_FIXED);
            let code = accepted_string(min.get("currency"), &CURRENCY, "currency");
            let stored = after.min_total.as_ref().expect("stored");
            assert_eq!((stored.amount, stored.currency.as_str()), (amount, code));
        }
    }
    assert_eq!(after.uses, before.map_or(0, |p| p.uses), "uses are kept");
    assert_eq!(answer["code"], target);
}

fn put_profile(input: &Input) {
    let api = ProfilesApi {
        profiles: MemoryProfiles::default(),
        clock: clock(),
    };
    let Some(request) = event(input, "PUT", "/users/me").request() else {
        return;
    };
    let (status, answer) = check_answer(&block_on(api.handle(&request)));
    let stored = block_on(api.profiles.profile(USER)).expect("read");
    if status >= 400 {
        assert_eq!(stored, None, "a refused profile was stored");
        return;
    }
    assert_eq!(status, 201);
    let json = json(input);
    let body = accepted_object(&json, &["name", "email", "phone", "channels"]);
    let name = accepted_name(body.get("name"), 100);
    let email = accepted_string(body.get("email"), &EMAIL, "email");
    assert!(
        email.len() <= 254,
        "accepted an email of {} bytes",
        email.len()
    );
    let phone = accepted_string(body.get("phone"), &PHONE, "phone");
    let channels = body["channels"].as_array().expect("channels is an array");
    assert!((1..=3).contains(&channels.len()));
    let mut names: Vec<&str> = channels
        .iter()
        .map(|c| c.as_str().expect("a string"))
        .collect();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "accepted a channel twice");
    assert!(names.iter().all(|c| ["email", "sms", "push"].contains(c)));
    let stored = stored.expect("stored");
    assert_eq!(
        (
            stored.name.as_str(),
            stored.email.as_str(),
            stored.phone.as_str()
        ),
        (name, email, phone)
    );
    assert_eq!(stored.user_id, USER);
    assert_eq!(answer["channels"].as_array().map(Vec::len), Some(count));
}
