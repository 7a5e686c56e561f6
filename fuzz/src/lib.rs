//! What the fuzz targets share: the in-memory world the API rules run against, API Gateway v2
//! requests built the way Lambda hands them to a function, and the oracles: every answer is a
//! JSON document and never a 5xx (in-memory stores cannot fail), every refusal is an RFC 9457
//! problem, and whatever is accepted satisfies openapi.yaml's schema and the domain's rules.
//!
//! A target panics (which libFuzzer reports as a crash) when an oracle does not hold.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use order_adapters::memory::{MemoryBilling, MemoryInventory, MemoryOrders, MemoryProductView};
use order_core::billing::Account;
use order_core::cart::{Cart, CartItem};
use order_core::clock::{Clock, FixedClock};
use order_core::inventory::Product;
use order_core::money::{Currency, Money};
use order_core::order::{MAX_LINES, MAX_QUANTITY, Order, OrderStatus, Sku};
use order_core::ports::{
    BillingStore, CartStore, Catalog, InventoryStore, OrderStore, PromotionStore,
};
use order_core::promotion::{Discount, Promotion};
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::future::Future;
use std::sync::LazyLock;

/// The caller of every request.
pub const USER: &str = "fuzz-user";
/// The largest body the API reads (openapi.yaml: 65536 bytes).
pub const MAX_BODY_BYTES: usize = 65_536;

/// Runs the API's futures; the in-memory stores never wait, so a current-thread runtime will do.
pub fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime");
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The time every request is made at: promotions below are valid then.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .expect("a time")
        .to_utc()
}

pub fn clock() -> Box<dyn Clock> {
    Box::new(FixedClock::at(now()))
}

pub fn currency(code: &str) -> Currency {
    Currency::try_from(code).expect("a currency")
}

pub fn sku(s: &str) -> Sku {
    Sku::try_from(s).expect("a SKU")
}

/// The catalog: ordinary products, one at the highest price the API lets an admin set (so
/// totals get large), and one priced in another currency.
pub fn products() -> Vec<Product> {
    let product = |s: &str, price: i64, code: &str, available: i64| Product {
        sku: sku(s),
        name: format!("{s} name"),
        price: Money::new(price, currency(code)),
        available,
        reserved: 0,
        version: 1,
    };
    vec![
        product("SKU-MUG", 1299, "EUR", 10),
        product("SKU-TSHIRT", 1999, "EUR", 5),
        product("A", 1, "EUR", 1000),
        product("B", order_http::catalog::MAX_PRICE, "EUR", 1000),
        product("SKU-USD", 500, "USD", 7),
    ]
}

/// The order side's view of the same products: what orders and carts are priced from.
pub fn product_view() -> MemoryProductView {
    let view = MemoryProductView::default();
    for p in products() {
        block_on(view.put_product(&p)).expect("seed a view entry");
    }
    view
}

pub fn catalog() -> MemoryInventory {
    let inventory = MemoryInventory::default();
    for p in products() {
        block_on(inventory.put_product(&p)).expect("seed a product");
    }
    inventory
}

/// `SAVE10` (10 %), `FIXED500` (5.00 EUR off), `MIN100` (5 % from 100.00 EUR), `EXPIRED`, `LATER`.
pub fn promotions() -> Vec<Promotion> {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("a time").to_utc();
    let promo =
        |code: &str, discount: Discount, from: &str, to: &str, min: Option<i64>| Promotion {
            code: code.to_owned(),
            discount,
            valid_from: at(from),
            valid_to: at(to),
            max_uses: 3,
            min_total: min.map(|a| Money::new(a, currency("EUR"))),
            uses: 0,
        };
    let (from, to) = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    vec![
        promo("SAVE10", Discount::Percent(10), from, to, None),
        promo(
            "FIXED500",
            Discount::Fixed(Money::new(500, currency("EUR"))),
            from,
            to,
            None,
        ),
        promo("MIN100", Discount::Percent(5), from, to, Some(10_000)),
        promo(
            "EXPIRED",
            Discount::Percent(50),
            "2025-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            None,
        ),
        promo(
            "LATER",
            Discount::Percent(50),
            "2027-01-01T00:00:00Z",
            "2028-01-01T00:00:00Z",
            None,
        ),
    ]
}

/// The orders table: the promotions, and the caller's cart (`SKU-MUG` ×2, `A` ×1).
pub fn orders() -> MemoryOrders {
    let orders = MemoryOrders::default();
    for p in promotions() {
        block_on(orders.put_promotion(&p)).expect("seed a promotion");
    }
    let cart = Cart {
        user_id: USER.to_owned(),
        items: vec![
            CartItem {
                sku: sku("SKU-MUG"),
                quantity: 2,
            },
            CartItem {
                sku: sku("A"),
                quantity: 1,
            },
        ],
        updated_at: None,
        version: 0,
    };
    assert!(block_on(orders.save_cart(&cart, 0, now())).expect("seed the cart"));
    orders
}

/// The caller's EUR account with 10.00 EUR.
pub fn billing() -> MemoryBilling {
    let billing = MemoryBilling::default();
    let account = Account {
        user_id: USER.to_owned(),
        balance: 1000,
        currency: currency("EUR"),
    };
    block_on(billing.put_account(&account)).expect("seed an account");
    billing
}

/// An HTTP API request as API Gateway (payload format 2.0) hands it to the function.
pub struct Event<'a> {
    pub method: &'static str,
    /// The route as the template names it: `/products/{sku}`.
    pub route: &'static str,
    pub path_params: Vec<(&'static str, &'a str)>,
    pub query: Vec<(&'static str, &'a str)>,
    pub headers: Vec<(&'static str, &'a str)>,
    /// The caller's token carries the `admin` scope.
    pub admin: bool,
    pub body: Option<&'a [u8]>,
}

impl<'a> Event<'a> {
    pub fn new(method: &'static str, route: &'static str) -> Self {
        Self {
            method,
            route,
            path_params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            admin: false,
            body: None,
        }
    }

    /// The request lambda_http makes of the event, or `None` when the event is one API
    /// Gateway could not send (lambda_http refuses it before any of our code runs).
    pub fn request(&self) -> Option<Request> {
        use base64::Engine;
        let route_key = format!("{} {}", self.method, self.route);
        // API Gateway's rawPath and rawQueryString are percent-encoded; pathParameters are
        // decoded, and lambda_http decodes the query from rawQueryString.
        let mut path = self.route.to_owned();
        for (name, value) in &self.path_params {
            path = path.replace(&format!("{{{name}}}"), &percent_encode(value));
        }
        let raw_query = self
            .query
            .iter()
            .map(|(name, value)| format!("{name}={}", percent_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let mut claims = json!({"sub": USER, "iss": "fuzz", "aud": "fuzz"});
        let mut scopes = Value::Null;
        if self.admin {
            claims["scope"] = json!("admin");
            scopes = json!(["admin"]);
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "fuzz",
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "requestId": "fuzz",
                "routeKey": route_key,
                "stage": "$default",
                "time": "01/Jun/2026:12:00:00 +0000",
                "timeEpoch": 1_780_315_200_000_i64,
                "http": {"method": self.method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "fuzz"},
                "authorizer": {"jwt": {"claims": claims, "scopes": scopes}}
            },
            "isBase64Encoded": false
        });
        if !self.path_params.is_empty() {
            let params: Map<String, Value> = self
                .path_params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect();
            event["pathParameters"] = Value::Object(params);
        }
        if !self.query.is_empty() {
            let query: Map<String, Value> = self
                .query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                .collect();
            event["queryStringParameters"] = Value::Object(query);
        }
        if let Some(body) = self.body {
            event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
            event["isBase64Encoded"] = json!(true);
        }
        // A header value that cannot be an HTTP one (a control character, say) never reaches a
        // function: API Gateway refuses it. lambda_http refuses such an event too.
        lambda_http::request::from_str(&event.to_string()).ok()
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The status and JSON body of an answer, after the checks every answer must pass: a JSON
/// document with its content type, never a 5xx, and a 4xx is an RFC 9457 problem.
pub fn check_answer(response: &Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let body: &[u8] = response.body().as_ref();
    let text = String::from_utf8_lossy(body);
    assert!(status < 500, "a {status} answer: {text}");
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{text}");
        check_problem(&json, status);
    } else {
        assert_eq!(content_type, "application/json", "{text}");
    }
    (status, json)
}

/// A problem document as openapi.yaml's `Problem` describes it.
pub fn check_problem(problem: &Value, status: u16) {
    let kind = problem["type"].as_str().unwrap_or_default();
    assert!(
        matches(&PROBLEM_TYPE, kind),
        "problem type {kind:?}: {problem}"
    );
    assert!(
        !problem["title"].as_str().unwrap_or_default().is_empty(),
        "{problem}"
    );
    assert!(
        !problem["detail"].as_str().unwrap_or_default().is_empty(),
        "{problem}"
    );
    assert_eq!(problem["status"], status, "{problem}");
    if let Some(errors) = problem.get("errors") {
        let errors = errors.as_array().expect("errors is an array");
        assert!(!errors.is_empty(), "{problem}");
        for e in errors {
            assert!(
                e["field"].is_string() && e["message"].is_string(),
                "{problem}"
            );
        }
    }
}

fn pattern(p: &str) -> Regex {
    Regex::new(p).expect("a pattern of openapi.yaml")
}

// The patterns of openapi.yaml's schemas, copied as they are there.
pub static SKU: LazyLock<Regex> = LazyLock::new(|| pattern("^[A-Za-z0-9._-]{1,64}$"));
pub static PROMO_CODE: LazyLock<Regex> = LazyLock::new(|| pattern("^[A-Z0-9_-]{1,32}$"));
pub static CURRENCY: LazyLock<Regex> = LazyLock::new(|| pattern("^[A-Z]{3}$"));
pub static ORDER_ID: LazyLock<Regex> = LazyLock::new(|| {
    pattern("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
});
pub static IDEMPOTENCY_KEY: LazyLock<Regex> = LazyLock::new(|| pattern("^[!-~]{1,128}$"));
/// `ProductName` and the profile's `name` (their lengths differ).
pub static NAME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$",
    )
});
pub static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    )
});
pub static PHONE: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\+[1-9][0-9]{7,14}$"));
pub static PROBLEM_TYPE: LazyLock<Regex> =
    LazyLock::new(|| pattern("^urn:problem:order-saga:[a-z]+(-[a-z]+)*$"));

pub fn matches(re: &Regex, s: &str) -> bool {
    re.is_match(s)
}

/// The body as a JSON object whose keys are all among `known` (openapi.yaml's
/// `additionalProperties: false`): what an accepted body must be.
pub fn accepted_object<'a>(body: &'a Value, known: &[&str]) -> &'a Map<String, Value> {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("accepted a non-object: {body}"));
    for key in object.keys() {
        assert!(
            known.contains(&key.as_str()),
            "accepted an unknown field {key:?}: {body}"
        );
    }
    object
}

/// An integer of the JSON body within `min..=max`, as the schema requires.
pub fn accepted_integer(value: Option<&Value>, min: i64, max: i64) -> i64 {
    let n = value
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("accepted a non-integer {value:?}"));
    assert!(
        (min..=max).contains(&n),
        "accepted {n}, outside {min}..={max}"
    );
    n
}

pub fn accepted_string<'a>(value: Option<&'a Value>, re: &Regex, what: &str) -> &'a str {
    let s = value
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("accepted a {what} that is no string: {value:?}"));
    assert!(matches(re, s), "accepted the {what} {s:?}");
    s
}

/// A name of 1 to `max` characters (Unicode code points, as JSON Schema counts them).
pub fn accepted_name(value: Option<&Value>, max: usize) -> &str {
    let name = accepted_string(value, &NAME, "name");
    let chars = name.chars().count();
    assert!(
        (1..=max).contains(&chars),
        "accepted a name of {chars} characters"
    );
    name
}

/// A stored order the saga may run: lines priced from the catalog, totals that add up, a
/// discount within the subtotal, one currency.
pub fn check_order(order: &Order, user: &str) {
    let catalog = products();
    assert_eq!(order.user_id, user);
    assert_eq!(order.status, OrderStatus::Pending);
    assert!((1..=MAX_LINES).contains(&order.lines.len()), "{order:?}");
    let mut seen = HashSet::new();
    let currency = &order.total.currency;
    let mut subtotal = 0i64;
    for line in &order.lines {
        assert!(seen.insert(line.sku.clone()), "a SKU twice: {order:?}");
        assert!(matches(&SKU, line.sku.as_str()));
        assert!((1..=MAX_QUANTITY).contains(&line.quantity), "{order:?}");
        let product = catalog
            .iter()
            .find(|p| p.sku == line.sku)
            .unwrap_or_else(|| panic!("ordered {} that the catalog lacks", line.sku));
        assert_eq!(line.unit_price, product.price, "the price is the catalog's");
        assert_eq!(line.name, product.name);
        assert_eq!(
            line.line_total.amount,
            line.unit_price.amount * i64::from(line.quantity)
        );
        assert_eq!(
            &line.line_total.currency, currency,
            "one currency: {order:?}"
        );
        subtotal += line.line_total.amount;
    }
    assert_eq!(order.subtotal.amount, subtotal);
    assert!(order.subtotal.amount > 0);
    assert!(
        (0..=order.subtotal.amount).contains(&order.discount.amount),
        "{order:?}"
    );
    assert_eq!(
        order.total.amount,
        order.subtotal.amount - order.discount.amount
    );
    assert!(order.total.amount >= 0);
    for m in [&order.subtotal, &order.discount] {
        assert_eq!(&m.currency, currency);
    }
    if order.promo_code.is_none() {
        assert_eq!(order.discount.amount, 0);
    }
}

/// Promotions never count more uses than they allow.
pub fn check_promotion_uses(orders: &MemoryOrders) {
    for p in promotions() {
        let stored = block_on(orders.promotion(&p.code))
            .expect("read a promotion")
            .expect("seeded");
        assert!((0..=stored.max_uses).contains(&stored.uses), "{stored:?}");
    }
}

/// Every product keeps non-negative stock.
pub fn check_stock(inventory: &MemoryInventory) {
    let skus: Vec<Sku> = products().into_iter().map(|p| p.sku).collect();
    for p in block_on(inventory.products(&skus)).expect("read products") {
        assert!(p.available >= 0 && p.reserved >= 0, "{p:?}");
    }
}

/// The order an accepted `POST /orders` or checkout made, checked; with the stores it lives in.
pub fn check_accepted_order(accepted: &Value, orders: &MemoryOrders) -> Order {
    let id = accepted["orderId"].as_str().expect("an orderId");
    assert!(matches(&ORDER_ID, id), "order id {id}");
    let order = block_on(orders.get(id.parse().expect("an order id")))
        .expect("read the order")
        .expect("the accepted order is stored");
    check_order(&order, USER);
    assert_eq!(accepted["total"]["amount"], order.total.amount);
    check_promotion_uses(orders);
    order
}

/// The caller's balance.
pub fn balance(billing: &MemoryBilling) -> Option<Account> {
    block_on(billing.account(USER)).expect("read the account")
}
