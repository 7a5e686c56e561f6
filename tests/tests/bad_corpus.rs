//! A corpus of malformed requests on every route of openapi.yaml, through the gateway: each one
//! gets a 4xx RFC 9457 problem document (never a 5xx) and changes nothing.
//!
//! `bad_input.rs` covers the basic malformed `POST /orders` bodies and `tests/contract/` the
//! generated ones (schemathesis), forged cursors, 70 KiB bodies and customers on admin routes;
//! this corpus adds what those do not send: 1 MiB bodies and deep nesting on every route with a
//! body, invalid UTF-8, numbers at and past every limit, NoSQL/SQL injection strings in ids, SKUs,
//! codes and query parameters, forged identity claims in bodies (`userId`, `sub`, `admin`,
//! `uses`, `available`, `balance`...), bad `Idempotency-Key` headers, wrong media types, and a
//! token without a subject on every route.
//!
//! No state change is checked by snapshotting, around every case, each DynamoDB partition a case
//! could touch (the customer's and a victim's account, ledger, deposit keys, cart, profile,
//! orders and idempotency records, the product's stock and price, the promotion and its uses,
//! the payments and reservations of the seeded orders), and the saga executions around the run.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::{Stack, User};
use futures::future::join_all;
use order_lambda::order::OrderId;
use order_lambda::ports::OrderStore;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const MIB: usize = 1024 * 1024;

/// Who sends a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Customer,
    Admin,
    /// A token whose `sub` is empty (no caller identity), signed by no key the API trusts.
    NoSubject,
}

/// One malformed request and the status it must get.
struct Case {
    /// The operation of openapi.yaml, `METHOD /path/{param}`.
    route: &'static str,
    what: String,
    caller: Caller,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    expect: u16,
}

impl Case {
    /// A request on `route` with its path parameters filled from the fixture.
    fn new(fx: &Fixture, route: &'static str, what: impl Into<String>) -> Self {
        let template = route.split_once(' ').expect("METHOD /path").1;
        let path = template
            .replace("{id}", &fx.my_order)
            .replace("{sku}", fx.sku.as_str())
            .replace("{code}", &fx.code);
        Self {
            route,
            what: what.into(),
            caller: if route_is_admin(route) {
                Caller::Admin
            } else {
                Caller::Customer
            },
            path,
            headers: Vec::new(),
            body: None,
            expect: 400,
        }
    }

    fn method(&self) -> &'static str {
        self.route.split_once(' ').expect("METHOD /path").0
    }

    fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// A body sent as `application/json`.
    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.body(body, Some("application/json"))
    }

    /// A body with this `Content-Type` (none: no header at all).
    fn body(mut self, body: impl Into<Vec<u8>>, content_type: Option<&str>) -> Self {
        if let Some(content_type) = content_type {
            self.headers
                .push(("content-type", content_type.as_bytes().to_vec()));
        }
        self.body = Some(body.into());
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn by(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }

    fn expect(mut self, status: u16) -> Self {
        self.expect = status;
        self
    }
}

fn route_is_admin(route: &str) -> bool {
    matches!(
        route,
        "PUT /products/{sku}"
            | "POST /products/{sku}/stock"
            | "PUT /promotions/{code}"
            | "POST /admin/orders/{id}/ship"
            | "POST /admin/orders/{id}/deliver"
            | "GET /admin/audit"
    )
}

/// What the corpus runs against: two customers with an account, a deposit made with a key, a
/// profile, a cart and a completed order each; a product; a promotion no order can reach.
struct Fixture {
    me: User,
    /// The customer whose data forged claims and foreign ids point at.
    victim: User,
    admin: User,
    nobody: User,
    sku: order_lambda::order::Sku,
    /// A well-formed SKU that is not in the catalog.
    unknown_sku: String,
    /// A promotion whose minimum total no order here reaches.
    code: String,
    /// A well-formed code that names no promotion.
    unknown_code: String,
    my_order: String,
    victim_order: String,
    order_key: String,
    deposit_key: String,
}

/// The executions started since `before` for orders of the corpus's users. Other tests run on the
/// same stack at the same time, so the stack's count of executions proves nothing; each new one is
/// traced to its order's owner (an execution is named by its order id, `-cancel` for a
/// cancellation).
async fn executions_for_the_corpus(
    stack: &Stack,
    fx: &Fixture,
    before: &BTreeSet<String>,
) -> Vec<String> {
    let users = [&fx.me.id, &fx.victim.id, &fx.admin.id, &fx.nobody.id];
    let mut ours = Vec::new();
    for name in stack.execution_names().await {
        if before.contains(&name) {
            continue;
        }
        let Ok(order_id) = name.get(..36).unwrap_or(&name).parse::<OrderId>() else {
            continue; // not one of the API's: it names every execution by its order
        };
        let order = stack.orders.get(order_id).await.expect("read the order");
        if order.is_some_and(|o| users.contains(&&o.user_id)) {
            ours.push(name);
        }
    }
    ours
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string().to_uppercase()[..16]
    )
}

fn expect_status(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "fixture: {what}: {}", answer.1);
    answer.1
}

impl Fixture {
    async fn new(stack: &Stack) -> Self {
        let me = stack.user(Some(10_000)).await;
        let victim = stack.user(Some(10_000)).await;
        let admin = stack.admin().await;
        let nobody = User {
            id: String::new(),
            token: token_without_a_subject(),
        };
        let sku = stack.product(10, 1999).await;
        let code = unique("BC");
        let terms = json!({"kind": "PERCENT", "value": 10, "validFrom": "2020-01-01T00:00:00Z",
            "validTo": "2099-01-01T00:00:00Z", "maxUses": 5,
            "minTotal": {"amount": 100_000_000, "currency": "EUR"}});
        let answer = stack
            .send_json(&admin, "PUT", &format!("/promotions/{code}"), &terms)
            .await;
        expect_status(answer, 201, "promotion");

        let order_key = unique("order-");
        let deposit_key = unique("deposit-");
        let mut orders = Vec::new();
        for user in [&me, &victim] {
            let profile = json!({"name": "Corpus Tester", "email": "corpus@example.com",
                "phone": "+4915112345678", "channels": ["email"]});
            let answer = stack.send_json(user, "PUT", "/users/me", &profile).await;
            expect_status(answer, 201, "profile");
            let answer = stack
                .post_raw(
                    user,
                    "/billing/deposit",
                    Some(br#"{"amount":2500,"currency":"EUR"}"#),
                    Some(&deposit_key),
                )
                .await;
            expect_status(answer, 201, "deposit");
            let answer = stack
                .send_json(
                    user,
                    "PUT",
                    &format!("/cart/items/{sku}"),
                    &json!({"quantity": 2}),
                )
                .await;
            expect_status(answer, 200, "cart");
            let order = json!({"items": [{"sku": sku.as_str(), "quantity": 1}]});
            let answer = stack.post_order(user, &order, Some(&order_key)).await;
            let accepted = expect_status(answer, 202, "order");
            orders.push(accepted["orderId"].as_str().expect("orderId").to_owned());
        }
        for (user, id) in [(&me, &orders[0]), (&victim, &orders[1])] {
            let order = stack.wait_until_settled(user, id).await;
            assert_eq!(order["status"], "COMPLETED", "fixture order: {order}");
        }
        Self {
            me,
            victim,
            admin,
            nobody,
            sku,
            unknown_sku: unique("SKU-NONE-"),
            code,
            unknown_code: unique("NOCODE"),
            victim_order: orders.pop().expect("victim's order"),
            my_order: orders.pop().expect("my order"),
            order_key,
            deposit_key,
        }
    }

    fn token(&self, caller: Caller) -> &str {
        match caller {
            Caller::Customer => &self.me.token,
            Caller::Admin => &self.admin.token,
            Caller::NoSubject => &self.nobody.token,
        }
    }
}

/// Every malformed request, grouped by route.
fn corpus(fx: &Fixture) -> Vec<Case> {
    use Caller::{Customer, NoSubject};
    let sku = fx.sku.as_str();
    let victim = fx.victim.id.as_str();
    let pad = |field: &str| format!(r#"{{"{field}":"{}"}}"#, "a".repeat(MIB));
    // `{"items":[{"a":{"a":...1...}}]}`: 5000 objects deep, under the 64 KiB limit.
    let deep = |open: &str, close: &str| {
        format!(
            "{open}{}1{}{close}",
            r#"{"a":"#.repeat(5_000),
            "}".repeat(5_000)
        )
    };
    let order =
        |quantity: &str| format!(r#"{{"items":[{{"sku":"{sku}","quantity":{quantity}}}]}}"#);
    let ok_order = order("1");
    let with_promo = |code: &str| {
        format!(r#"{{"items":[{{"sku":"{sku}","quantity":1}}],"promoCode":"{code}"}}"#)
    };
    let fifty_one: Vec<Value> = (0..51)
        .map(|i| json!({"sku": format!("SKU-L{i}"), "quantity": 1}))
        .collect();
    let profile = |field: &str, value: Value| {
        let mut p = json!({"name": "Mallory", "email": "mallory@example.com",
            "phone": "+4915112345678", "channels": ["email"]});
        p[field] = value;
        p.to_string()
    };
    let promo = |field: &str, value: Value| {
        let mut p = json!({"kind": "PERCENT", "value": 10, "validFrom": "2026-01-01T00:00:00Z",
            "validTo": "2027-01-01T00:00:00Z", "maxUses": 100});
        if value.is_null() {
            p.as_object_mut().expect("object").remove(field);
        } else {
            p[field] = value;
        }
        p.to_string()
    };
    let product = |name: Value, price: Value| json!({"name": name, "price": price}).to_string();
    let eur = |amount: Value| json!({"amount": amount, "currency": "EUR"});
    let long_key = "k".repeat(129);
    let bad_utf8_name = b"{\"name\":\"\xc3\x28\",\"price\":{\"amount\":1,\"currency\":\"EUR\"}}";
    let case = |route: &'static str, what: &str| Case::new(fx, route, what);

    let mut cases = vec![
        // POST /orders (bad_input.rs has the basic bodies)
        case("POST /orders", "a 1 MiB body").json(pad("items")).expect(413),
        case("POST /orders", "objects nested 5000 deep").json(deep(r#"{"items":["#, "]}")),
        case("POST /orders", "a float quantity").json(order("1.0")),
        case("POST /orders", "quantity 1001").json(order("1001")),
        case("POST /orders", "quantity past u64").json(order("18446744073709551616")),
        case("POST /orders", "quantity NaN").json(order("NaN")),
        case("POST /orders", "quantity null").json(order("null")),
        case("POST /orders", "51 lines").json(json!({"items": fifty_one}).to_string()),
        case("POST /orders", "a 65-character SKU")
            .json(json!({"items": [{"sku": "S".repeat(65), "quantity": 1}]}).to_string()),
        case("POST /orders", "NoSQL operator as items").json(r#"{"items":{"$ne":null}}"#),
        case("POST /orders", "NoSQL operator as a SKU")
            .json(r#"{"items":[{"sku":{"$gt":""},"quantity":1}]}"#),
        case("POST /orders", "forged sub and admin claims").json(format!(
            r#"{{"items":[{{"sku":"{sku}","quantity":1}}],"sub":"{victim}","admin":true}}"#
        )),
        case("POST /orders", "forged total").json(
            json!({"items": [{"sku": sku, "quantity": 1}], "total": eur(json!(1))}).to_string(),
        ),
        case("POST /orders", "SQL injection as promo code").json(with_promo("X' OR '1'='1")),
        case("POST /orders", "lower-case promo code").json(with_promo("welcome10")),
        case("POST /orders", "promo code below its minimum total")
            .json(with_promo(&fx.code))
            .expect(422),
        case("POST /orders", "unknown promo code")
            .json(with_promo(&fx.unknown_code))
            .expect(422),
        case("POST /orders", "JSON null").json("null"),
        case("POST /orders", "trailing garbage").json(format!("{ok_order} x")),
        case("POST /orders", "a UTF-8 byte order mark")
            .json([b"\xEF\xBB\xBF".as_slice(), ok_order.as_bytes()].concat()),
        case("POST /orders", "a 129-character Idempotency-Key")
            .json(ok_order.clone())
            .header("idempotency-key", long_key.clone()),
        case("POST /orders", "an Idempotency-Key with a space")
            .json(ok_order.clone())
            .header("idempotency-key", "two words"),
        case("POST /orders", "an empty Idempotency-Key")
            .json(ok_order.clone())
            .header("idempotency-key", ""),
        case("POST /orders", "an Idempotency-Key that is not ASCII")
            .json(ok_order.clone())
            .header("idempotency-key", b"\xff\xfe".to_vec()),
        case("POST /orders", "the Idempotency-Key of another order")
            .json(order("2"))
            .header("idempotency-key", fx.order_key.clone())
            .expect(422),
        case("POST /orders", "XML").body(ok_order.clone(), Some("application/xml")).expect(415),
        case("POST /orders", "a form")
            .body(format!("sku={sku}&quantity=1"), Some("application/x-www-form-urlencoded"))
            .expect(415),
        case("POST /orders", "multipart")
            .body(ok_order.clone(), Some("multipart/form-data; boundary=x"))
            .expect(415),
        case("POST /orders", "a Content-Type that is not ASCII")
            .body(ok_order.clone(), Some("application/\u{fffd}json"))
            .expect(415),
        // GET /orders
        case("GET /orders", "limit=0").path("/orders?limit=0"),
        case("GET /orders", "limit=101").path("/orders?limit=101"),
        case("GET /orders", "limit=-1").path("/orders?limit=-1"),
        case("GET /orders", "limit=1e2").path("/orders?limit=1e2"),
        case("GET /orders", "an empty limit").path("/orders?limit="),
        case("GET /orders", "limit past u64").path("/orders?limit=99999999999999999999999"),
        case("GET /orders", "a lower-case status").path("/orders?status=pending"),
        case("GET /orders", "SQL injection as status")
            .path("/orders?status=PENDING%27%20OR%20%271%27%3D%271"),
        case("GET /orders", "NoSQL operator as cursor")
            .path("/orders?cursor=%7B%22%24ne%22%3Anull%7D"),
        case("GET /orders", "a 4 KiB cursor").path(format!("/orders?cursor={}", "A".repeat(4096))),
        // GET /notifications
        case("GET /notifications", "limit=0").path("/notifications?limit=0"),
        case("GET /notifications", "limit=101").path("/notifications?limit=101"),
        case("GET /notifications", "limit=1e2").path("/notifications?limit=1e2"),
        case("GET /notifications", "NoSQL operator as cursor")
            .path("/notifications?cursor=%7B%22%24ne%22%3Anull%7D"),
        case("GET /notifications", "a 4 KiB cursor")
            .path(format!("/notifications?cursor={}", "A".repeat(4096))),
        // GET /admin/audit (admin)
        case("GET /admin/audit", "no range").path("/admin/audit"),
        case("GET /admin/audit", "a date without a time")
            .path("/admin/audit?from=2026-11-01&to=2026-11-02"),
        case("GET /admin/audit", "a range ending before it starts")
            .path("/admin/audit?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z"),
        case("GET /admin/audit", "a range of 32 days")
            .path("/admin/audit?from=2026-10-01T00:00:00Z&to=2026-11-02T00:00:00Z"),
        case("GET /admin/audit", "format=xml")
            .path("/admin/audit?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&format=xml"),
        case("GET /admin/audit", "limit=1001")
            .path("/admin/audit?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&limit=1001"),
        case("GET /admin/audit", "SQL injection as from")
            .path("/admin/audit?from=1%27%20OR%20%271%27%3D%271&to=2026-11-02T00:00:00Z"),
        case("GET /admin/audit", "NoSQL operator as cursor").path(
            "/admin/audit?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&cursor=%7B%22%24ne%22%3Anull%7D",
        ),
        case("GET /admin/audit", "a 4 KiB cursor").path(format!(
            "/admin/audit?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&cursor={}",
            "A".repeat(4096)
        )),
        case("GET /admin/audit", "a customer reading the audit")
            .path("/admin/audit?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z")
            .by(Caller::Customer)
            .expect(403),
        // GET /orders/{id}
        case("GET /orders/{id}", "not a UUID").path("/orders/not-an-id"),
        case("GET /orders/{id}", "a UUIDv4").path("/orders/67e55044-10b1-426f-9247-bb680e5fe0c8"),
        case("GET /orders/{id}", "SQL injection").path("/orders/1%27%20OR%20%271%27%3D%271"),
        case("GET /orders/{id}", "a 1000-character id")
            .path(format!("/orders/{}", "7".repeat(1000))),
        case("GET /orders/{id}", "another customer's order")
            .path(format!("/orders/{}", fx.victim_order))
            .expect(404),
        // POST /orders/{id}/cancel
        case("POST /orders/{id}/cancel", "not a UUID").path("/orders/ORDER%23x/cancel"),
        case("POST /orders/{id}/cancel", "NoSQL operator")
            .path("/orders/%7B%22%24ne%22%3A1%7D/cancel"),
        case("POST /orders/{id}/cancel", "another customer's order")
            .path(format!("/orders/{}/cancel", fx.victim_order))
            .expect(404),
        case("POST /orders/{id}/cancel", "another customer's order, forged sub in the body")
            .path(format!("/orders/{}/cancel", fx.victim_order))
            .json(format!(r#"{{"sub":"{victim}","userId":"{victim}"}}"#))
            .expect(404),
        // POST /admin/orders/{id}/ship and /deliver (admin; the fixture's orders are COMPLETED)
        case("POST /admin/orders/{id}/ship", "not a UUID").path("/admin/orders/ORDER%23x/ship"),
        case("POST /admin/orders/{id}/ship", "NoSQL operator")
            .path("/admin/orders/%7B%22%24ne%22%3A1%7D/ship"),
        case("POST /admin/orders/{id}/ship", "an unknown order")
            .path("/admin/orders/67e55044-10b1-7000-9247-bb680e5fe0c8/ship")
            .expect(404),
        case("POST /admin/orders/{id}/ship", "a customer shipping their own order")
            .by(Customer)
            .expect(403),
        case("POST /admin/orders/{id}/ship", "a customer, forged admin claims in the body")
            .by(Customer)
            .json(r#"{"admin":true,"scope":"admin","groups":["admin"]}"#)
            .expect(403),
        case("POST /admin/orders/{id}/deliver", "not a UUID")
            .path("/admin/orders/1%27%20OR%20%271%27%3D%271/deliver"),
        case("POST /admin/orders/{id}/deliver", "a completed order never shipped").expect(409),
        case("POST /admin/orders/{id}/deliver", "a customer delivering their own order")
            .by(Customer)
            .expect(403),
        // GET /products
        case("GET /products", "limit=0").path("/products?limit=0"),
        case("GET /products", "limit=abc").path("/products?limit=abc"),
        case("GET /products", "NoSQL operator as cursor").path("/products?cursor=%24gt"),
        // GET /products/{sku}
        case("GET /products/{sku}", "SQL injection as SKU")
            .path("/products/x%27%20OR%20%271%27%3D%271"),
        case("GET /products/{sku}", "a 65-character SKU")
            .path(format!("/products/{}", "S".repeat(65))),
        case("GET /products/{sku}", "a key prefix as SKU").path("/products/PRODUCT%23SKU-MUG"),
        // PUT /products/{sku} (admin)
        case("PUT /products/{sku}", "a 1 MiB body").json(pad("name")).expect(413),
        case("PUT /products/{sku}", "objects nested 5000 deep")
            .json(deep(r#"{"name":"x","price":"#, "}")),
        case("PUT /products/{sku}", "a zero price").json(product(json!("Mug"), eur(json!(0)))),
        case("PUT /products/{sku}", "a negative price")
            .json(product(json!("Mug"), eur(json!(-1999)))),
        case("PUT /products/{sku}", "a price past the maximum")
            .json(product(json!("Mug"), eur(json!(1_000_000_001)))),
        case("PUT /products/{sku}", "a price of 1e300")
            .json(product(json!("Mug"), eur(json!(1e300)))),
        case("PUT /products/{sku}", "a price as a string")
            .json(product(json!("Mug"), eur(json!("1999")))),
        case("PUT /products/{sku}", "a lower-case currency")
            .json(product(json!("Mug"), json!({"amount": 1999, "currency": "eur"}))),
        case("PUT /products/{sku}", "a blank name").json(product(json!("   "), eur(json!(1999)))),
        case("PUT /products/{sku}", "a name with a NUL")
            .json(product(json!("Mu\u{0}g"), eur(json!(1999)))),
        case("PUT /products/{sku}", "a 201-character name")
            .json(product(json!("n".repeat(201)), eur(json!(1999)))),
        case("PUT /products/{sku}", "a lone surrogate in the name")
            .json(r#"{"name":"\ud800","price":{"amount":1999,"currency":"EUR"}}"#),
        case("PUT /products/{sku}", "forged stock").json(
            json!({"name": "Mug", "price": eur(json!(1999)), "available": 1_000_000, "reserved": 0})
                .to_string(),
        ),
        case("PUT /products/{sku}", "invalid UTF-8 in the name")
            .json(bad_utf8_name),
        case("PUT /products/{sku}", "an invalid SKU in the path")
            .path("/products/SKU%20WITH%20SPACES")
            .json(product(json!("Mug"), eur(json!(1999)))),
        case("PUT /products/{sku}", "plain text")
            .body(product(json!("Mug"), eur(json!(1999))), Some("text/plain"))
            .expect(415),
        case("PUT /products/{sku}", "a customer claiming admin in the body")
            .by(Customer)
            .json(r#"{"name":"Mug","admin":true,"scope":"admin","groups":["admin"]}"#)
            .expect(403),
        case("PUT /products/{sku}", "a customer creating a product")
            .by(Customer)
            .path(format!("/products/{}", fx.unknown_sku))
            .json(product(json!("Mug"), eur(json!(1))))
            .expect(403),
        // POST /products/{sku}/stock (admin)
        case("POST /products/{sku}/stock", "a 1 MiB body").json(pad("delta")).expect(413),
        case("POST /products/{sku}/stock", "delta 0").json(r#"{"delta":0}"#),
        case("POST /products/{sku}/stock", "delta 2.5").json(r#"{"delta":2.5}"#),
        case("POST /products/{sku}/stock", "delta as a string").json(r#"{"delta":"5"}"#),
        case("POST /products/{sku}/stock", "delta 1000001").json(r#"{"delta":1000001}"#),
        case("POST /products/{sku}/stock", "delta -1000001").json(r#"{"delta":-1000001}"#),
        case("POST /products/{sku}/stock", "delta past i64")
            .json(r#"{"delta":-9223372036854775809}"#),
        case("POST /products/{sku}/stock", "no delta").json(r#"{"available":1000}"#),
        case("POST /products/{sku}/stock", "a write-off below zero")
            .json(r#"{"delta":-1000000}"#)
            .expect(409),
        case("POST /products/{sku}/stock", "an unknown SKU")
            .path(format!("/products/{}/stock", fx.unknown_sku))
            .json(r#"{"delta":5}"#)
            .expect(404),
        case("POST /products/{sku}/stock", "NoSQL operator as SKU")
            .path("/products/%24ne/stock")
            .json(r#"{"delta":5}"#),
        case("POST /products/{sku}/stock", "a customer restocking, forged admin claim")
            .by(Customer)
            .json(r#"{"delta":5,"admin":true}"#)
            .expect(403),
        // POST /billing/accounts
        case("POST /billing/accounts", "a 1 MiB body").json(pad("currency")).expect(413),
        case("POST /billing/accounts", "a lower-case currency").json(r#"{"currency":"usd"}"#),
        case("POST /billing/accounts", "a currency as a number").json(r#"{"currency":978}"#),
        case("POST /billing/accounts", "a forged opening balance")
            .json(r#"{"currency":"EUR","balance":{"amount":100000000,"currency":"EUR"}}"#),
        case("POST /billing/accounts", "a forged owner")
            .json(format!(r#"{{"currency":"EUR","userId":"{victim}"}}"#)),
        case("POST /billing/accounts", "an array").json("[]"),
        case("POST /billing/accounts", "invalid UTF-8").json(b"{\"currency\":\"\xff\"}".to_vec()),
        case("POST /billing/accounts", "plain text")
            .body(r#"{"currency":"EUR"}"#, Some("text/plain"))
            .expect(415),
        // POST /billing/deposit
        case("POST /billing/deposit", "a 1 MiB body").json(pad("amount")).expect(413),
        case("POST /billing/deposit", "objects nested 5000 deep").json(deep(r#"{"amount":"#, "}")),
        case("POST /billing/deposit", "a zero amount").json(eur(json!(0)).to_string()),
        case("POST /billing/deposit", "a negative amount").json(eur(json!(-5000)).to_string()),
        case("POST /billing/deposit", "an amount past the maximum")
            .json(eur(json!(100_000_001)).to_string()),
        case("POST /billing/deposit", "an amount of 1e308")
            .json(r#"{"amount":1e308,"currency":"EUR"}"#),
        case("POST /billing/deposit", "a fractional amount").json(eur(json!(10.5)).to_string()),
        case("POST /billing/deposit", "an amount as a string").json(eur(json!("5000")).to_string()),
        case("POST /billing/deposit", "no currency").json(r#"{"amount":5000}"#),
        case("POST /billing/deposit", "a four-letter currency")
            .json(r#"{"amount":5000,"currency":"EURO"}"#),
        case("POST /billing/deposit", "another currency than the account's")
            .json(r#"{"amount":5000,"currency":"USD"}"#)
            .expect(422),
        case("POST /billing/deposit", "into another customer's account")
            .json(format!(r#"{{"amount":5000,"currency":"EUR","userId":"{victim}"}}"#)),
        case("POST /billing/deposit", "a NoSQL update expression as amount")
            .json(r#"{"amount":{"$inc":5000},"currency":"EUR"}"#),
        case("POST /billing/deposit", "the Idempotency-Key of another amount")
            .json(eur(json!(2600)).to_string())
            .header("idempotency-key", fx.deposit_key.clone())
            .expect(422),
        case("POST /billing/deposit", "a 129-character Idempotency-Key")
            .json(eur(json!(100)).to_string())
            .header("idempotency-key", long_key.clone()),
        case("POST /billing/deposit", "an Idempotency-Key with a control character")
            .json(eur(json!(100)).to_string())
            .header("idempotency-key", "a\tb"),
        case("POST /billing/deposit", "an Idempotency-Key that is not ASCII")
            .json(eur(json!(100)).to_string())
            .header("idempotency-key", "schlüssel".as_bytes().to_vec()),
        // GET /billing/transactions
        case("GET /billing/transactions", "limit=0").path("/billing/transactions?limit=0"),
        case("GET /billing/transactions", "limit=-5").path("/billing/transactions?limit=-5"),
        case("GET /billing/transactions", "a cursor naming another account").path(format!(
            "/billing/transactions?cursor=ACCOUNT%23{victim}"
        )),
        // PUT /cart/items/{sku}
        case("PUT /cart/items/{sku}", "a 1 MiB body").json(pad("quantity")).expect(413),
        case("PUT /cart/items/{sku}", "quantity 0").json(r#"{"quantity":0}"#),
        case("PUT /cart/items/{sku}", "quantity -1").json(r#"{"quantity":-1}"#),
        case("PUT /cart/items/{sku}", "quantity 1001").json(r#"{"quantity":1001}"#),
        case("PUT /cart/items/{sku}", "quantity 2.5").json(r#"{"quantity":2.5}"#),
        case("PUT /cart/items/{sku}", "quantity as a string").json(r#"{"quantity":"2"}"#),
        case("PUT /cart/items/{sku}", "a forged price").json(r#"{"quantity":1,"unitPrice":1}"#),
        case("PUT /cart/items/{sku}", "into another customer's cart")
            .json(format!(r#"{{"quantity":1,"userId":"{victim}"}}"#)),
        case("PUT /cart/items/{sku}", "an unknown SKU")
            .path(format!("/cart/items/{}", fx.unknown_sku))
            .json(r#"{"quantity":1}"#)
            .expect(422),
        case("PUT /cart/items/{sku}", "SQL injection as SKU")
            .path("/cart/items/x%27%3B%20DROP%20TABLE%20carts%3B--")
            .json(r#"{"quantity":1}"#),
        case("PUT /cart/items/{sku}", "invalid UTF-8").json(b"{\"quantity\":\xff}".to_vec()),
        case("PUT /cart/items/{sku}", "a form")
            .body("quantity=1", Some("application/x-www-form-urlencoded"))
            .expect(415),
        // DELETE /cart/items/{sku}
        case("DELETE /cart/items/{sku}", "NoSQL operator as SKU")
            .path("/cart/items/%7B%22%24ne%22%3A%22%22%7D"),
        case("DELETE /cart/items/{sku}", "a 65-character SKU")
            .path(format!("/cart/items/{}", "S".repeat(65))),
        case("DELETE /cart/items/{sku}", "a key prefix as SKU").path("/cart/items/CART%23x"),
        // POST /cart/checkout
        case("POST /cart/checkout", "a 1 MiB body").json(pad("promoCode")).expect(413),
        case("POST /cart/checkout", "a lower-case promo code").json(r#"{"promoCode":"welcome10"}"#),
        case("POST /cart/checkout", "a promo code as a number").json(r#"{"promoCode":10}"#),
        case("POST /cart/checkout", "NoSQL operator as promo code")
            .json(r#"{"promoCode":{"$ne":""}}"#),
        case("POST /cart/checkout", "forged items")
            .json(format!(r#"{{"items":[{{"sku":"{sku}","quantity":1000}}]}}"#)),
        case("POST /cart/checkout", "another customer's cart")
            .json(format!(r#"{{"userId":"{victim}","sub":"{victim}"}}"#)),
        case("POST /cart/checkout", "a promo code below its minimum total")
            .json(format!(r#"{{"promoCode":"{}"}}"#, fx.code))
            .expect(422),
        case("POST /cart/checkout", "an unknown promo code")
            .json(format!(r#"{{"promoCode":"{}"}}"#, fx.unknown_code))
            .expect(422),
        case("POST /cart/checkout", "an array").json("[]"),
        case("POST /cart/checkout", "a 129-character Idempotency-Key")
            .header("idempotency-key", long_key),
        case("POST /cart/checkout", "XML")
            .body("<checkout/>", Some("application/xml"))
            .expect(415),
        // PUT /promotions/{code} (admin)
        case("PUT /promotions/{code}", "a 1 MiB body").json(pad("kind")).expect(413),
        case("PUT /promotions/{code}", "a lower-case code in the path")
            .path("/promotions/welcome10")
            .json(promo("value", json!(10))),
        case("PUT /promotions/{code}", "SQL injection as code")
            .path("/promotions/X%27%20OR%20%271%27%3D%271")
            .json(promo("value", json!(10))),
        case("PUT /promotions/{code}", "an unknown kind").json(promo("kind", json!("FREE"))),
        case("PUT /promotions/{code}", "0 percent").json(promo("value", json!(0))),
        case("PUT /promotions/{code}", "101 percent").json(promo("value", json!(101))),
        case("PUT /promotions/{code}", "a negative percent").json(promo("value", json!(-10))),
        case("PUT /promotions/{code}", "a percent with a currency")
            .json(promo("currency", json!("EUR"))),
        case("PUT /promotions/{code}", "FIXED without a currency")
            .json(promo("kind", json!("FIXED"))),
        case("PUT /promotions/{code}", "validTo before validFrom")
            .json(promo("validTo", json!("2025-01-01T00:00:00Z"))),
        case("PUT /promotions/{code}", "a date that is not RFC 3339")
            .json(promo("validFrom", json!("01/01/2026"))),
        case("PUT /promotions/{code}", "maxUses 0").json(promo("maxUses", json!(0))),
        case("PUT /promotions/{code}", "maxUses past the maximum")
            .json(promo("maxUses", json!(1_000_001))),
        case("PUT /promotions/{code}", "no maxUses").json(promo("maxUses", Value::Null)),
        case("PUT /promotions/{code}", "a negative minimum total")
            .json(promo("minTotal", json!({"amount": -1, "currency": "EUR"}))),
        case("PUT /promotions/{code}", "forged uses").json(promo("uses", json!(-1000))),
        case("PUT /promotions/{code}", "a customer claiming admin in the body")
            .by(Customer)
            .json(promo("admin", json!(true)))
            .expect(403),
        // PUT /users/me
        case("PUT /users/me", "a 1 MiB body").json(pad("name")).expect(413),
        case("PUT /users/me", "objects nested 5000 deep").json(deep(r#"{"name":"#, "}")),
        case("PUT /users/me", "an email without a domain")
            .json(profile("email", json!("mallory@"))),
        case("PUT /users/me", "an email with an injection")
            .json(profile("email", json!("x'; DROP TABLE users;--@example.com"))),
        case("PUT /users/me", "a phone number without +")
            .json(profile("phone", json!("4915112345678"))),
        case("PUT /users/me", "a phone number as a number")
            .json(profile("phone", json!(4915112345678_i64))),
        case("PUT /users/me", "no channels").json(profile("channels", json!([]))),
        case("PUT /users/me", "an unknown channel").json(profile("channels", json!(["fax"]))),
        case("PUT /users/me", "a channel twice").json(profile("channels", json!(["sms", "sms"]))),
        case("PUT /users/me", "a push endpoint that is a topic")
            .json(profile("pushEndpoint", json!("arn:aws:sns:us-east-1:123456789012:orders-events"))),
        case("PUT /users/me", "a push endpoint as a URL")
            .json(profile("pushEndpoint", json!("https://evil.example.com/push"))),
        case("PUT /users/me", "a blank name").json(profile("name", json!(" \t "))),
        case("PUT /users/me", "a 101-character name").json(profile("name", json!("n".repeat(101)))),
        case("PUT /users/me", "a name with an escape sequence")
            .json(profile("name", json!("Mal\u{1b}[31mlory"))),
        case("PUT /users/me", "someone else's profile").json(profile("userId", json!(victim))),
        case("PUT /users/me", "a forged sub").json(profile("sub", json!(victim))),
        case("PUT /users/me", "a forged updatedAt")
            .json(profile("updatedAt", json!("2999-01-01T00:00:00Z"))),
        case("PUT /users/me", "invalid UTF-8").json(b"{\"name\":\"\xed\xa0\x80\"}".to_vec()),
        case("PUT /users/me", "no Content-Type and not JSON").body("name=Mallory", None),
        case("PUT /users/me", "plain text")
            .body(profile("name", json!("Mallory")), Some("text/plain; charset=utf-8"))
            .expect(415),
    ];
    // A token that names nobody (`"sub": ""`): every route that acts for a caller refuses it, the
    // catalog's reads included (a token must name someone). No user pool issues one, so the API's
    // authorizer refuses it first; `order_lambda::api::caller` refuses it too (its unit test).
    let mut routes: Vec<&'static str> = cases.iter().map(|c| c.route).collect();
    routes.extend([
        "GET /cart",
        "DELETE /cart",
        "GET /billing/balance",
        "GET /users/me",
    ]);
    routes.extend(["GET /products", "GET /products/{sku}"]);
    routes.sort_unstable();
    routes.dedup();
    for route in routes {
        let mut case = case(route, "a token without a subject")
            .by(NoSubject)
            .expect(401);
        if !route.starts_with("GET ") && !route.starts_with("DELETE ") {
            case = case.json("{}");
        }
        cases.push(case);
    }
    cases
}

/// A JWT with an empty `sub`, signed by no key the API trusts (`alg: none`).
fn token_without_a_subject() -> String {
    use base64::Engine as _;
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    format!(
        "{}.{}.",
        part(json!({"alg": "none", "typ": "JWT"})),
        part(json!({"sub": "", "iat": now, "exp": now + 3600}))
    )
}

/// The operations of openapi.yaml (`METHOD /path`), read from its `paths:` section.
fn openapi_routes() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml");
    let mut routes = BTreeSet::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if line.starts_with("components:") {
            break;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            current = Some(p);
        } else if let (Some(p), Some(method)) = (
            current,
            line.strip_prefix("    ").and_then(|m| m.strip_suffix(':')),
        ) && ["get", "put", "post", "delete", "patch"].contains(&method)
        {
            routes.insert(format!("{} /{p}", method.to_uppercase()));
        }
    }
    routes
}

/// What came back.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

async fn send(stack: &Stack, fx: &Fixture, case: &Case) -> Answer {
    let method = reqwest::Method::from_bytes(case.method().as_bytes()).expect("method");
    let mut request = stack
        .http
        .request(method, format!("{}{}", stack.gateway, case.path))
        .bearer_auth(fx.token(case.caller));
    for (name, value) in &case.headers {
        request = request.header(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).expect("a header value reqwest can send"),
        );
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.expect("request through the gateway");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

/// Why an answer is not the 4xx problem document the case expects, if it is not. A request the
/// API's JWT authorizer refuses never reaches a function: API Gateway answers it itself, with
/// `401 {"message":"Unauthorized"}` (its documented answer), not a problem document.
fn check_answer(case: &Case, answer: &Answer) -> Option<String> {
    if matches!(case.caller, Caller::NoSubject) {
        let body = serde_json::from_str::<Value>(&answer.body).ok();
        let gateway = answer.status == 401
            && answer.content_type.as_deref() == Some("application/json")
            && body == Some(json!({"message": "Unauthorized"}));
        return (!gateway)
            .then(|| "not API Gateway's own 401 {\"message\":\"Unauthorized\"}".into());
    }
    let mut problems = Vec::new();
    if answer.status != case.expect {
        problems.push(format!(
            "status {}, expected {}",
            answer.status, case.expect
        ));
    }
    if !(400..500).contains(&answer.status) {
        problems.push("not a 4xx".into());
    }
    if answer.content_type.as_deref() != Some("application/problem+json") {
        problems.push(format!("content type {:?}", answer.content_type));
    }
    match serde_json::from_str::<Value>(&answer.body) {
        Ok(problem) => {
            let text = |field: &str| problem[field].as_str().filter(|s| !s.is_empty());
            if !text("type").is_some_and(|t| t.starts_with("urn:problem:order-saga:")) {
                problems.push("no `type` urn:problem:order-saga:…".into());
            }
            if text("title").is_none() {
                problems.push("no `title`".into());
            }
            if text("detail").is_none() {
                problems.push("no `detail`".into());
            }
            if problem["status"] != answer.status {
                problems.push(format!("`status` {} in the body", problem["status"]));
            }
        }
        Err(_) => problems.push("the body is not JSON".into()),
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

type Item = BTreeMap<String, AttributeValue>;
/// Every item of every watched partition, by `table partition`.
type Snapshot = BTreeMap<String, Vec<Item>>;

/// (table variable, index, partition attribute, partition value) of every partition a case could
/// touch.
fn watched(fx: &Fixture) -> Vec<(&'static str, Option<&'static str>, &'static str, String)> {
    let mut w = Vec::new();
    for user in [&fx.me.id, &fx.victim.id] {
        w.push(("ORDERS_TABLE", None, "pk", format!("CART#{user}")));
        w.push(("ORDERS_TABLE", None, "pk", format!("IDEMPOTENCY#{user}")));
        w.push((
            "ORDERS_TABLE",
            Some("ByUser"),
            "gsi1pk",
            format!("USER#{user}"),
        ));
        w.push(("BILLING_TABLE", None, "pk", format!("ACCOUNT#{user}")));
        w.push(("BILLING_TABLE", None, "pk", format!("IDEMPOTENCY#{user}")));
        w.push(("USERS_TABLE", None, "pk", format!("USER#{user}")));
    }
    for order in [&fx.my_order, &fx.victim_order] {
        w.push(("ORDERS_TABLE", None, "pk", format!("ORDER#{order}")));
        w.push((
            "INVENTORY_TABLE",
            None,
            "pk",
            format!("RESERVATION#{order}"),
        ));
        w.push(("BILLING_TABLE", None, "pk", format!("PAYMENT#{order}")));
    }
    for code in [&fx.code, &fx.unknown_code] {
        w.push(("ORDERS_TABLE", None, "pk", format!("PROMO#{code}")));
    }
    for sku in [fx.sku.as_str(), &fx.unknown_sku] {
        w.push(("INVENTORY_TABLE", None, "pk", format!("PRODUCT#{sku}")));
    }
    w
}

async fn snapshot(stack: &Stack, fx: &Fixture) -> Snapshot {
    let queries = watched(fx)
        .into_iter()
        .map(|(table, index, attr, value)| async move {
            let table_name = std::env::var(table).unwrap_or_else(|_| panic!("{table} is not set"));
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let page = stack
                    .dynamodb
                    .query()
                    .table_name(&table_name)
                    .set_index_name(index.map(str::to_owned))
                    .key_condition_expression("#p = :p")
                    .expression_attribute_names("#p", attr)
                    .expression_attribute_values(":p", AttributeValue::S(value.clone()))
                    .set_consistent_read(index.is_none().then_some(true))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("query {table} {value}: {e:?}"));
                items.extend(
                    page.items()
                        .iter()
                        .map(|i| i.clone().into_iter().collect::<Item>()),
                );
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
            (
                format!(
                    "{table} {}{value}",
                    index.map(|i| format!("{i} ")).unwrap_or_default()
                ),
                items,
            )
        });
    join_all(queries).await.into_iter().collect()
}

/// The partitions whose items differ, with both versions.
fn differences(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    before
        .iter()
        .filter(|(key, items)| after.get(*key) != Some(*items))
        .map(|(key, items)| {
            let cut = |s: String| s.chars().take(600).collect::<String>();
            format!(
                "{key}: before {} after {}",
                cut(format!("{items:?}")),
                cut(format!("{:?}", after.get(key)))
            )
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_requests_on_every_route_get_problems_and_change_nothing() {
    let stack = Stack::connect().await;
    let fx = Fixture::new(&stack).await;
    let cases = corpus(&fx);

    let documented = openapi_routes();
    let covered: BTreeSet<String> = cases.iter().map(|c| c.route.to_owned()).collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "corpus and openapi.yaml disagree: routes without a case {missing:?}, \
         cases on routes openapi.yaml lacks {unknown:?}"
    );

    let executions_before: BTreeSet<String> = stack.execution_names().await.into_iter().collect();
    let mut before = snapshot(&stack, &fx).await;
    let partitions = before.len();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &cases {
        let answer = send(&stack, &fx, case).await;
        let after = snapshot(&stack, &fx).await;
        compared += 1;
        let changed = differences(&before, &after);
        let label = format!(
            "{} {} ({})",
            case.route,
            case.path.chars().take(80).collect::<String>(),
            case.what
        );
        let verdict = check_answer(case, &answer);
        if verdict.is_none() && changed.is_empty() {
            println!("  ok   {} {label}", answer.status);
        } else {
            println!("  FAIL {} {label}", answer.status);
            let mut why = vec![format!(
                "{label}: answered {} {:?} {}",
                answer.status,
                answer.content_type,
                answer.body.chars().take(300).collect::<String>()
            )];
            why.extend(verdict);
            why.extend(changed.iter().map(|c| format!("state changed: {c}")));
            failures.push(why.join("\n    "));
        }
        before = after;
    }
    let started = executions_for_the_corpus(&stack, &fx, &executions_before).await;
    compared += 1;
    if !started.is_empty() {
        failures.push(format!(
            "saga executions started for the corpus's users: {started:?}"
        ));
    }

    println!(
        "bad corpus: {} cases sent, {} of {} routes covered, {compared} state snapshots compared \
         ({partitions} partitions each, and the saga executions), {} failed",
        cases.len(),
        covered.len(),
        documented.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} malformed requests were mishandled:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}
