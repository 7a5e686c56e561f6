//! The catalog routes (`GET /products[/{sku}]`, admin `PUT /products/{sku}` and
//! `POST /products/{sku}/stock`) against the in-memory inventory, through API Gateway events.

use chrono::Utc;
use lambda_http::{Body, Request, Response};
use order_adapters::memory::{MemoryEvents, MemoryInventory};
use order_core::inventory::{Product, ReservationLine};
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, Sku};
use order_core::ports::InventoryStore;
use order_http::billing::REPLAYED_HEADER;
use order_http::catalog::CatalogApi;
use serde_json::{Value, json};

fn sku(s: &str) -> Sku {
    Sku::try_from(s).unwrap()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

async fn api(products: &[(&str, i64, i64)]) -> CatalogApi<MemoryInventory, MemoryEvents> {
    let inventory = MemoryInventory::default();
    for &(s, price, available) in products {
        inventory
            .put_product(&Product {
                sku: sku(s),
                name: format!("{s} name"),
                price: eur(price),
                available,
                reserved: 0,
                version: 1,
            })
            .await
            .unwrap();
    }
    CatalogApi {
        inventory,
        events: MemoryEvents::default(),
    }
}

/// Who calls: nobody (no authorizer), a customer, or an admin by scope or by group.
#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Customer,
    AdminScope,
    AdminGroup,
    /// An admin other than `root`.
    OtherAdmin,
}

/// An API Gateway HTTP API (payload 2.0) event as the gateway sends it.
fn event(caller: Caller, route: &str, path: &str, query: &str, body: Option<&str>) -> Request {
    let (method, _) = route.split_once(' ').unwrap();
    let authorizer = match caller {
        Caller::Anonymous => Value::Null,
        Caller::Customer => json!({"jwt": {"claims": {"sub": "carol"}, "scopes": null}}),
        Caller::AdminScope => {
            json!({"jwt": {"claims": {"sub": "root", "scope": "admin"}, "scopes": ["admin"]}})
        }
        Caller::AdminGroup => {
            json!({"jwt": {"claims": {"sub": "root", "cognito:groups": "[staff admin]"}, "scopes": null}})
        }
        Caller::OtherAdmin => {
            json!({"jwt": {"claims": {"sub": "ops", "scope": "admin"}, "scopes": ["admin"]}})
        }
    };
    let mut context = json!({
        "accountId": "123456789012", "apiId": "local", "requestId": "r-1", "routeKey": route,
        "stage": "$default", "timeEpoch": 0,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
    });
    if !authorizer.is_null() {
        context["authorizer"] = authorizer;
    }
    let mut event = json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "127.0.0.1"},
        "requestContext": context, "isBase64Encoded": false
    });
    if let Some(sku) = path.strip_prefix("/products/") {
        event["pathParameters"] = json!({"sku": sku.trim_end_matches("/stock")});
    }
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn answer(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    if status >= 400 {
        assert_eq!(media, "application/problem+json", "{body}");
        assert_eq!(body["status"], status, "{body}");
    } else {
        assert_eq!(media, "application/json");
    }
    (status, body)
}

async fn call(
    api: &CatalogApi<MemoryInventory, MemoryEvents>,
    caller: Caller,
    route: &str,
    path: &str,
    query: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    answer(
        api.handle(&event(caller, route, path, query, body.as_deref()))
            .await,
    )
}

fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_catalog_pages_in_sku_order_and_every_product_comes_once() {
    let api = api(&[("C", 300, 3), ("A", 100, 1), ("B", 200, 0)]).await;
    let mut seen = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let (status, page) = call(
            &api,
            Caller::Customer,
            "GET /products",
            "/products",
            &query,
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        seen.push(page["items"][0].clone());
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let skus: Vec<&str> = seen.iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["A", "B", "C"]);
    assert_eq!(
        seen[2],
        json!({"sku":"C","name":"C name","price":{"amount":300,"currency":"EUR"},"available":3})
    );

    let (status, page) = call(
        &api,
        Caller::Customer,
        "GET /products",
        "/products",
        "",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert!(
        page.get("nextCursor").is_none(),
        "one page holds all: {page}"
    );
}

#[tokio::test]
async fn bad_page_parameters_are_400s_naming_the_parameter() {
    let api = api(&[("A", 100, 1)]).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=not%20a%20sku!", "cursor"),
    ] {
        let (status, problem) = call(
            &api,
            Caller::Customer,
            "GET /products",
            "/products",
            query,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(problem_fields(&problem), [field], "{query}");
        assert_eq!(problem["type"], "urn:problem:order-saga:invalid-request");
    }
}

#[tokio::test]
async fn one_product_by_sku() {
    let api = api(&[("MUG", 1299, 7)]).await;
    let (status, product) = call(
        &api,
        Caller::Customer,
        "GET /products/{sku}",
        "/products/MUG",
        "",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        product,
        json!({"sku":"MUG","name":"MUG name","price":{"amount":1299,"currency":"EUR"},"available":7})
    );

    let (status, problem) = call(
        &api,
        Caller::Customer,
        "GET /products/{sku}",
        "/products/NOPE",
        "",
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(problem["type"], "urn:problem:order-saga:not-found");

    let (status, problem) = call(
        &api,
        Caller::Customer,
        "GET /products/{sku}",
        "/products/a%20b",
        "",
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(problem_fields(&problem), ["sku"]);
}

#[tokio::test]
async fn an_admin_creates_then_renames_and_reprices_without_touching_stock() {
    let api = api(&[]).await;
    let put = |caller, body| {
        call(
            &api,
            caller,
            "PUT /products/{sku}",
            "/products/LAMP",
            "",
            Some(body),
        )
    };

    let (status, created) = put(
        Caller::AdminScope,
        json!({"name":"Lamp","price":{"amount":2500,"currency":"EUR"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"sku":"LAMP","name":"Lamp","price":{"amount":2500,"currency":"EUR"},"available":0})
    );
    let lamp = api.inventory.product(&sku("LAMP")).unwrap();
    assert_eq!((lamp.available, lamp.reserved), (0, 0));

    api.inventory
        .adjust_stock(
            &sku("LAMP"),
            4,
            None,
            &order_core::audit::ChangedBy::admin("admin-1", None),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (status, updated) = put(
        Caller::AdminGroup,
        json!({"name":"Desk lamp","price":{"amount":2700,"currency":"USD"}}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Desk lamp");
    assert_eq!(updated["price"], json!({"amount":2700,"currency":"USD"}));
    assert_eq!(updated["available"], 4, "stock survives a rename");
}

#[tokio::test]
async fn only_admins_write_the_catalog() {
    let api = api(&[("A", 100, 5)]).await;
    let body = json!({"name":"x","price":{"amount":1,"currency":"EUR"}});
    for (caller, expected) in [(Caller::Customer, 403), (Caller::Anonymous, 401)] {
        let (status, problem) = call(
            &api,
            caller,
            "PUT /products/{sku}",
            "/products/A",
            "",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{problem}");
        let (status, _) = call(
            &api,
            caller,
            "POST /products/{sku}/stock",
            "/products/A/stock",
            "",
            Some(json!({"delta": 1})),
        )
        .await;
        assert_eq!(status, expected);
    }
    let (_, problem) = call(
        &api,
        Caller::Customer,
        "PUT /products/{sku}",
        "/products/A",
        "",
        Some(body),
    )
    .await;
    assert_eq!(problem["type"], "urn:problem:order-saga:forbidden");
    let a = api.inventory.product(&sku("A")).unwrap();
    assert_eq!((a.name.as_str(), a.available), ("A name", 5));
}

#[tokio::test]
async fn product_bodies_are_checked_field_by_field() {
    let api = api(&[]).await;
    let cases = [
        (json!({"price":{"amount":1,"currency":"EUR"}}), vec!["name"]),
        (
            json!({"name":"","price":{"amount":1,"currency":"EUR"}}),
            vec!["name"],
        ),
        (
            json!({"name":"   ","price":{"amount":1,"currency":"EUR"}}),
            vec!["name"],
        ),
        (
            json!({"name":"x".repeat(201),"price":{"amount":1,"currency":"EUR"}}),
            vec!["name"],
        ),
        (
            json!({"name":7,"price":{"amount":1,"currency":"EUR"}}),
            vec!["name"],
        ),
        // API Gateway passes a JSON body's bytes that are not UTF-8 as U+FFFD.
        (
            json!({"name":"Lamp \u{FFFD}(","price":{"amount":1,"currency":"EUR"}}),
            vec!["name"],
        ),
        (json!({"name":"x"}), vec!["price"]),
        (json!({"name":"x","price":1999}), vec!["price"]),
        (
            json!({"name":"x","price":{"amount":0,"currency":"EUR"}}),
            vec!["price.amount"],
        ),
        (
            json!({"name":"x","price":{"amount":-5,"currency":"EUR"}}),
            vec!["price.amount"],
        ),
        (
            json!({"name":"x","price":{"amount":19.99,"currency":"EUR"}}),
            vec!["price.amount"],
        ),
        (
            json!({"name":"x","price":{"amount":"1999","currency":"EUR"}}),
            vec!["price.amount"],
        ),
        (
            json!({"name":"x","price":{"amount":1_000_000_001i64,"currency":"EUR"}}),
            vec!["price.amount"],
        ),
        (
            json!({"name":"x","price":{"amount":1,"currency":"eur"}}),
            vec!["price.currency"],
        ),
        (
            json!({"name":"x","price":{"amount":1}}),
            vec!["price.currency"],
        ),
        (
            json!({"name":"x","price":{"amount":1,"currency":"EUR","tax":1}}),
            vec!["price.tax"],
        ),
        (
            json!({"name":"x","price":{"amount":1,"currency":"EUR"},"available":99}),
            vec!["available"],
        ),
        (json!([]), vec![""]),
    ];
    for (body, fields) in cases {
        let (status, problem) = call(
            &api,
            Caller::AdminScope,
            "PUT /products/{sku}",
            "/products/NEW",
            "",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem_fields(&problem), fields, "{body}");
    }
    let (status, problem) = answer(
        api.handle(&event(
            Caller::AdminScope,
            "PUT /products/{sku}",
            "/products/NEW",
            "",
            Some("{\"name\":"),
        ))
        .await,
    );
    assert_eq!(status, 400);
    assert_eq!(problem["type"], "urn:problem:order-saga:malformed-json");
    let (status, problem) = call(
        &api,
        Caller::AdminScope,
        "PUT /products/{sku}",
        "/products/bad%20sku",
        "",
        Some(json!({"name":"x","price":{"amount":1,"currency":"EUR"}})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(problem_fields(&problem), ["sku"]);
    assert!(
        api.inventory.product(&sku("NEW")).is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn restocking_adds_and_never_goes_below_zero() {
    let api = api(&[("A", 100, 5)]).await;
    let stock = |delta: Value| {
        call(
            &api,
            Caller::AdminScope,
            "POST /products/{sku}/stock",
            "/products/A/stock",
            "",
            Some(json!({ "delta": delta })),
        )
    };
    let (status, answer) = stock(json!(10)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"sku":"A","available":15,"reserved":0}));

    let (status, problem) = stock(json!(-16)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:conflict");
    assert_eq!(api.inventory.product(&sku("A")).unwrap().available, 15);

    let (status, answer) = stock(json!(-15)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["available"], 0);

    for bad in [
        json!(0),
        json!(1.5),
        json!("3"),
        json!(1_000_001),
        json!(-1_000_001),
        json!(i64::MIN),
        json!(null),
    ] {
        let (status, problem) = stock(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert_eq!(problem_fields(&problem), ["delta"], "{bad}");
    }
    for (body, fields) in [
        (json!({}), vec!["delta"]),
        (json!({"delta":1,"reserved":-3}), vec!["reserved"]),
    ] {
        let (status, problem) = call(
            &api,
            Caller::AdminScope,
            "POST /products/{sku}/stock",
            "/products/A/stock",
            "",
            Some(body),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(problem_fields(&problem), fields);
    }

    let (status, problem) = call(
        &api,
        Caller::AdminScope,
        "POST /products/{sku}/stock",
        "/products/GHOST/stock",
        "",
        Some(json!({"delta": 1})),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    assert!(api.inventory.product(&sku("GHOST")).is_none());
}

#[tokio::test]
async fn units_held_by_an_order_cannot_be_written_off() {
    let api = api(&[("A", 100, 5)]).await;
    api.inventory
        .reserve(
            OrderId::new_at(Utc::now()),
            &[ReservationLine {
                sku: sku("A"),
                quantity: 3,
            }],
            &order_core::audit::ChangedBy::saga(None),
            Utc::now(),
        )
        .await
        .unwrap();
    let stock = |delta: i64| {
        call(
            &api,
            Caller::AdminScope,
            "POST /products/{sku}/stock",
            "/products/A/stock",
            "",
            Some(json!({ "delta": delta })),
        )
    };
    let (status, _) = stock(-3).await;
    assert_eq!(status, 409, "only 2 are available");
    let (status, answer) = stock(-2).await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"sku":"A","available":0,"reserved":3}));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let api = api(&[]).await;
    let (status, _) = call(
        &api,
        Caller::AdminScope,
        "DELETE /products/{sku}",
        "/products/A",
        "",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// `POST /products/{sku}/stock` with `{"delta": delta}` and an optional `Idempotency-Key`:
/// the status, the body and whether the answer says it was a replay.
async fn restock(
    api: &CatalogApi<MemoryInventory, MemoryEvents>,
    caller: Caller,
    product: &str,
    delta: i64,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let body = json!({ "delta": delta }).to_string();
    let mut request = event(
        caller,
        "POST /products/{sku}/stock",
        &format!("/products/{product}/stock"),
        "",
        Some(&body),
    );
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    let response = api.handle(&request).await;
    let replayed = match response.headers().get(REPLAYED_HEADER) {
        None => false,
        Some(value) => {
            assert_eq!(value, "true");
            true
        }
    };
    let (status, body) = answer(response);
    (status, body, replayed)
}

fn available(api: &CatalogApi<MemoryInventory, MemoryEvents>, s: &str) -> i64 {
    api.inventory.product(&sku(s)).unwrap().available
}

#[tokio::test]
async fn a_stock_key_applies_the_change_once_and_replays_the_current_stock() {
    let api = api(&[("A", 100, 10)]).await;
    let (status, first, replayed) = restock(&api, Caller::AdminScope, "A", 5, Some("r-1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first, json!({"sku":"A","available":15,"reserved":0}));
    assert!(!replayed);

    // A retry after a lost answer: the same change, nothing applied, said to be a replay.
    let (status, again, replayed) = restock(&api, Caller::AdminScope, "A", 5, Some("r-1")).await;
    assert_eq!((status, &again), (200, &first));
    assert!(replayed);
    assert_eq!(available(&api, "A"), 15, "applied twice");

    // The same caller by group is the same admin (`sub`), so the same key is the same key.
    let (status, _, replayed) = restock(&api, Caller::AdminGroup, "A", 5, Some("r-1")).await;
    assert_eq!(status, 200);
    assert!(replayed);

    // The replay answers the stock as it is now, after other changes.
    let (status, _, _) = restock(&api, Caller::AdminScope, "A", -3, None).await;
    assert_eq!(status, 200);
    let (status, now, replayed) = restock(&api, Caller::AdminScope, "A", 5, Some("r-1")).await;
    assert_eq!(status, 200);
    assert!(replayed);
    assert_eq!(now, json!({"sku":"A","available":12,"reserved":0}));
    assert_eq!(available(&api, "A"), 12);
}

#[tokio::test]
async fn a_stock_key_reused_for_another_change_is_refused() {
    let api = api(&[("A", 100, 10), ("B", 100, 10)]).await;
    let (status, _, _) = restock(&api, Caller::AdminScope, "A", 5, Some("r-1")).await;
    assert_eq!(status, 200);
    for (product, delta) in [("A", 6), ("A", -5), ("B", 5)] {
        let (status, problem, replayed) =
            restock(&api, Caller::AdminScope, product, delta, Some("r-1")).await;
        assert_eq!(status, 422, "{product} {delta}: {problem}");
        assert_eq!(
            problem["type"],
            "urn:problem:order-saga:idempotency-key-reused"
        );
        assert!(!replayed);
    }
    assert_eq!((available(&api, "A"), available(&api, "B")), (15, 10));

    // Keys belong to their admin: another admin's "r-1" is a change of its own.
    let (status, answer, replayed) = restock(&api, Caller::OtherAdmin, "B", 1, Some("r-1")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!replayed);
    assert_eq!(available(&api, "B"), 11);
    let stored = api
        .inventory
        .stock_key("ops", "r-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.sku.as_str(), stored.delta), ("B", 1));
}

#[tokio::test]
async fn without_a_key_every_stock_change_applies() {
    let api = api(&[("A", 100, 10)]).await;
    for expected in [15, 20] {
        let (status, answer, replayed) = restock(&api, Caller::AdminScope, "A", 5, None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["available"], expected);
        assert!(!replayed);
    }
    assert_eq!(available(&api, "A"), 20);
}

#[tokio::test]
async fn a_refused_stock_change_leaves_its_key_unused() {
    let api = api(&[("A", 100, 2)]).await;
    let (status, problem, _) = restock(&api, Caller::AdminScope, "A", -3, Some("w-1")).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:conflict");
    let (status, _, _) = restock(&api, Caller::AdminScope, "GHOST", 1, Some("w-2")).await;
    assert_eq!(status, 404);
    for key in ["w-1", "w-2"] {
        assert!(
            api.inventory
                .stock_key("root", key)
                .await
                .unwrap()
                .is_none(),
            "{key} was kept by a refused change"
        );
    }

    // Once stock came in, the same key and change go through, once.
    let (status, _, _) = restock(&api, Caller::AdminScope, "A", 1, None).await;
    assert_eq!(status, 200);
    let (status, answer, replayed) = restock(&api, Caller::AdminScope, "A", -3, Some("w-1")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!replayed);
    assert_eq!(answer["available"], 0);
    let (status, _, replayed) = restock(&api, Caller::AdminScope, "A", -3, Some("w-1")).await;
    assert_eq!(status, 200);
    assert!(replayed);
    assert_eq!(available(&api, "A"), 0);
}

#[tokio::test]
async fn a_bad_stock_key_is_a_400_naming_it_and_changes_nothing() {
    let api = api(&[("A", 100, 10)]).await;
    let long = "k".repeat(129);
    for key in [long.as_str(), "two words", "caf\u{e9}"] {
        let mut request = event(
            Caller::AdminScope,
            "POST /products/{sku}/stock",
            "/products/A/stock",
            "",
            Some(r#"{"delta":5}"#),
        );
        request.headers_mut().insert(
            "idempotency-key",
            lambda_http::http::HeaderValue::from_bytes(key.as_bytes()).unwrap(),
        );
        let (status, problem) = answer(api.handle(&request).await);
        assert_eq!(status, 400, "{key}: {problem}");
        assert_eq!(problem_fields(&problem), ["Idempotency-Key"], "{key}");
    }
    assert_eq!(available(&api, "A"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_stock_changes_with_one_key_apply_once() {
    let api = std::sync::Arc::new(api(&[("A", 100, 10)]).await);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                api.adjust_stock(
                    "root",
                    Some("same"),
                    "A",
                    br#"{"delta":7}"#,
                    Utc::now(),
                    None,
                )
                .await
            })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        let change = task.await.unwrap().unwrap();
        assert_eq!(change.stock.available, 17);
        fresh += usize::from(!change.replayed);
    }
    assert_eq!(
        fresh, 1,
        "one answer made the change, the others replayed it"
    );
    assert_eq!(available(&api, "A"), 17, "applied more than once");
}

/// `events/catalog-api-restock.json`, sent twice: one change, then its replay.
#[tokio::test]
async fn the_sample_restock_event_is_idempotent() {
    let api = api(&[("SKU-MUG", 1299, 10)]).await;
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events/catalog-api-restock.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let sample = || lambda_http::request::from_str(&text).unwrap();
    let first = api.handle(&sample()).await;
    assert!(first.headers().get(REPLAYED_HEADER).is_none());
    let (status, first) = answer(first);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first, json!({"sku":"SKU-MUG","available":35,"reserved":0}));
    let again = api.handle(&sample()).await;
    assert_eq!(again.headers().get(REPLAYED_HEADER).unwrap(), "true");
    assert_eq!(answer(again), (200, first));
    assert_eq!(available(&api, "SKU-MUG"), 35);
}

/// The `(productVersion, price, available)` of each ProductUpdated published so far.
fn announced(api: &CatalogApi<MemoryInventory, MemoryEvents>) -> Vec<(u64, i64, i64)> {
    api.events
        .published()
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, order_core::events::EventType::ProductUpdated);
            assert_eq!(e.order_id, None);
            let version = e.data["productVersion"].as_u64().unwrap();
            assert_eq!(
                e.event_id,
                order_core::events::product_event_id(e.sku.as_ref().unwrap(), version)
            );
            (
                version,
                e.data["price"]["amount"].as_i64().unwrap(),
                e.data["available"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_admin_change_is_announced_with_the_products_new_version() {
    let api = api(&[]).await;
    let put =
        |amount: i64| Some(json!({"name": "Lamp", "price": {"amount": amount, "currency": "EUR"}}));
    let route = "PUT /products/{sku}";
    let (status, _) = call(
        &api,
        Caller::AdminScope,
        route,
        "/products/L",
        "",
        put(2500),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = restock(&api, Caller::AdminScope, "L", 3, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &api,
        Caller::AdminScope,
        route,
        "/products/L",
        "",
        put(2700),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(announced(&api), [(1, 2500, 0), (2, 2500, 3), (3, 2700, 3)]);
    // A refused change is not announced.
    let (status, _, _) = restock(&api, Caller::AdminScope, "L", -10, None).await;
    assert_eq!(status, 409);
    assert_eq!(announced(&api).len(), 3);
    let admin = api.events.published()[0].user_id.clone();
    assert!(!admin.is_empty());
}

#[tokio::test]
async fn a_change_that_could_not_be_announced_is_a_503_and_its_retry_announces_it() {
    let api = api(&[]).await;
    let put = Some(json!({"name": "Lamp", "price": {"amount": 2500, "currency": "EUR"}}));
    let route = "PUT /products/{sku}";
    api.events.fail_next(1);
    let (status, problem) = call(
        &api,
        Caller::AdminScope,
        route,
        "/products/L",
        "",
        put.clone(),
    )
    .await;
    assert_eq!(status, 503, "{problem}");
    assert!(announced(&api).is_empty());
    let (status, _) = call(&api, Caller::AdminScope, route, "/products/L", "", put).await;
    assert_eq!(status, 200, "the product was written before the failure");
    assert_eq!(announced(&api), [(2, 2500, 0)]);

    // A keyed stock change: its retry is a replay and announces the current snapshot again.
    api.events.fail_next(1);
    let (status, _, _) = restock(&api, Caller::AdminScope, "L", 4, Some("k-1")).await;
    assert_eq!(status, 503);
    let (status, _, replayed) = restock(&api, Caller::AdminScope, "L", 4, Some("k-1")).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(available(&api, "L"), 4, "applied once");
    assert_eq!(announced(&api), [(2, 2500, 0), (3, 2500, 4)]);
    let (status, _, replayed) = restock(&api, Caller::AdminScope, "L", 4, Some("k-1")).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(announced(&api), [(2, 2500, 0), (3, 2500, 4), (3, 2500, 4)]);
}
