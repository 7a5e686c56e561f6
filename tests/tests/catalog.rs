//! The catalog routes end to end: through the gateway's JWT check, catalog-api and the
//! inventory table with its `BySku` index.

use e2e::{Stack, User};
use order_lambda::order::{OrderId, Sku};
use order_lambda::ports::InventoryStore;
use serde_json::{Value, json};
use std::collections::HashSet;

type Case<'a> = (&'a str, &'a str, &'a [u8], &'a str, Option<&'a str>);

fn new_sku() -> String {
    format!("SKU-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn the_catalog_pages_through_every_product_once() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let mut mine = Vec::new();
    for price in [100, 200, 300] {
        mine.push(stack.product(price / 100, price).await);
    }

    let mut seen: Vec<Value> = Vec::new();
    let mut path = "/products?limit=1".to_owned();
    loop {
        let (status, page) = stack.get(&user, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 1, "{page}");
        seen.extend(items.iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/products?limit=1&cursor={cursor}"),
            None => break,
        }
        assert!(seen.len() < 10_000, "the catalog never ends");
    }
    let skus: Vec<&str> = seen.iter().map(|p| p["sku"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = skus.iter().copied().collect();
    assert_eq!(unique.len(), skus.len(), "a product came twice");
    assert!(skus.is_sorted(), "SKU order");
    for (sku, price) in mine.iter().zip([100, 200, 300]) {
        let item = seen
            .iter()
            .find(|p| p["sku"] == sku.as_str())
            .unwrap_or_else(|| panic!("{sku} missing from the catalog"));
        assert_eq!(
            *item,
            json!({"sku": sku, "name": format!("Test product {sku}"),
                   "price": {"amount": price, "currency": "EUR"}, "available": price / 100})
        );
    }

    // A cursor we did not hand out, even a well-formed key of another item, is a 400.
    // base64url of {"gsi1pk":"RESERVATION","gsi1sk":"x","pk":"RESERVATION#x","sk":"RESERVATION"}
    let forged = "eyJnc2kxcGsiOiJSRVNFUlZBVElPTiIsImdzaTFzayI6IngiLCJwayI6IlJFU0VSVkFUSU9OI3giLCJzayI6IlJFU0VSVkFUSU9OIn0";
    for cursor in ["nonsense!", "e30", forged] {
        let (status, problem) = stack
            .get(&user, &format!("/products?cursor={cursor}"))
            .await;
        assert_eq!(status, 400, "{cursor}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "cursor");
    }
    let (status, problem) = stack.get(&user, "/products?limit=500").await;
    assert_eq!(status, 400);
    assert_eq!(problem["errors"][0]["field"], "limit");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn one_product_by_sku() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let sku = stack.product(4, 1299).await;
    let (status, product) = stack.get(&user, &format!("/products/{sku}")).await;
    assert_eq!(status, 200, "{product}");
    assert_eq!(product["price"], json!({"amount": 1299, "currency": "EUR"}));
    assert_eq!(product["available"], 4);

    let (status, problem) = stack.get(&user, &format!("/products/{}", new_sku())).await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:not-found");

    let (status, problem) = stack.get(&user, "/products/not%20a%20sku").await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "sku");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn an_admin_creates_renames_and_restocks_a_product() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let customer = stack.user(None).await;
    let sku = new_sku();
    let path = format!("/products/{sku}");

    let (status, created) = stack
        .send_json(
            &admin,
            "PUT",
            &path,
            &json!({"name": "Lamp", "price": {"amount": 2500, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"sku": sku, "name": "Lamp", "price": {"amount": 2500, "currency": "EUR"}, "available": 0})
    );
    let typed = Sku::try_from(sku.as_str()).unwrap();
    assert_eq!(stack.stock(&typed).await, (0, 0));

    let (status, stock) = stack
        .send_json(
            &admin,
            "POST",
            &format!("{path}/stock"),
            &json!({"delta": 7}),
        )
        .await;
    assert_eq!(status, 200, "{stock}");
    assert_eq!(stock, json!({"sku": sku, "available": 7, "reserved": 0}));

    let (status, updated) = stack
        .send_json(
            &admin,
            "PUT",
            &path,
            &json!({"name": "Desk lamp", "price": {"amount": 2700, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["available"], 7, "a rename keeps the stock");

    let (status, product) = stack.get(&customer, &path).await;
    assert_eq!(status, 200);
    assert_eq!(product["name"], "Desk lamp");
    assert_eq!(product["price"]["amount"], 2700);

    // The created product reaches the order side's view (ProductUpdated, sync-product) at its
    // latest version: an order can then be placed for it, at the new price.
    let view = stack.wait_for_view(&typed, 3).await;
    assert_eq!((view.name.as_str(), view.price.amount), ("Desk lamp", 2700));
    let buyer = stack.user(Some(10_000)).await;
    let (status, accepted) = stack
        .post_order(
            &buyer,
            &json!({"items": [{"sku": sku, "quantity": 2}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["total"]["amount"], 5400);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn customers_cannot_write_the_catalog() {
    let stack = Stack::connect().await;
    let customer = stack.user(None).await;
    let sku = stack.product(3, 500).await;
    let path = format!("/products/{sku}");
    let (status, problem) = stack
        .send_json(
            &customer,
            "PUT",
            &path,
            &json!({"name": "Free", "price": {"amount": 1, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:forbidden");
    let (status, _) = stack
        .send_json(
            &customer,
            "POST",
            &format!("{path}/stock"),
            &json!({"delta": 100}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = stack
        .send_json(
            &customer,
            "PUT",
            &format!("/products/{}", new_sku()),
            &json!({"name": "Mine", "price": {"amount": 1, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 403);

    let (_, product) = stack.get(&customer, &path).await;
    assert_eq!(product["price"]["amount"], 500);
    assert_eq!(stack.stock(&sku).await, (3, 0));
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn stock_never_goes_below_zero() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let sku = stack.product(3, 500).await;
    let path = format!("/products/{sku}/stock");

    let (status, problem) = stack
        .send_json(&admin, "POST", &path, &json!({"delta": -4}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:conflict");
    assert_eq!(stack.stock(&sku).await, (3, 0), "nothing changed");

    let (status, stock) = stack
        .send_json(&admin, "POST", &path, &json!({"delta": -3}))
        .await;
    assert_eq!(status, 200, "{stock}");
    assert_eq!(stock["available"], 0);

    let (status, problem) = stack
        .send_json(
            &admin,
            "POST",
            &format!("/products/{}/stock", new_sku()),
            &json!({"delta": 5}),
        )
        .await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn reserved_units_cannot_be_restocked_away() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let sku = stack.product(5, 500).await;
    let order_id = OrderId::new_at(chrono::Utc::now()).to_string();
    let (status, reservation) = stack
        .invoke(
            "reserve-stock",
            &json!({"orderId": order_id, "userId": "alice", "lines": [{"sku": sku, "quantity": 3}]}),
        )
        .await;
    assert_eq!(status, 200, "{reservation}");
    assert_eq!(stack.stock(&sku).await, (2, 3));

    let path = format!("/products/{sku}/stock");
    let (status, problem) = stack
        .send_json(&admin, "POST", &path, &json!({"delta": -3}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(stack.stock(&sku).await, (2, 3));

    let (status, stock) = stack
        .send_json(&admin, "POST", &path, &json!({"delta": -2}))
        .await;
    assert_eq!(status, 200, "{stock}");
    assert_eq!(stock, json!({"sku": sku, "available": 0, "reserved": 3}));

    // The order's units are still there to give back.
    let (_, released) = stack
        .invoke("release-reservation", &json!({"orderId": order_id}))
        .await;
    assert_eq!(released["released"], true, "{released}");
    assert_eq!(stack.stock(&sku).await, (3, 0));
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_catalog_writes_get_problem_json_naming_the_field() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let sku = stack.product(3, 500).await;
    let product = format!("/products/{sku}");
    let stock = format!("/products/{sku}/stock");
    // method, path, body, content type, the field the problem names
    let cases: Vec<Case> = vec![
        ("PUT", &product, b"", "application/json", None),
        ("PUT", &product, b"{\"name\":", "application/json", None),
        ("PUT", &product, b"[]", "application/json", Some("")),
        (
            "PUT",
            &product,
            br#"{"price":{"amount":1,"currency":"EUR"}}"#,
            "application/json",
            Some("name"),
        ),
        (
            "PUT",
            &product,
            br#"{"name":"x","price":{"amount":1.5,"currency":"EUR"}}"#,
            "application/json",
            Some("price.amount"),
        ),
        (
            "PUT",
            &product,
            br#"{"name":"x","price":{"amount":100,"currency":"euro"}}"#,
            "application/json",
            Some("price.currency"),
        ),
        (
            "PUT",
            &product,
            br#"{"name":"x","price":{"amount":100,"currency":"EUR"},"available":50}"#,
            "application/json",
            Some("available"),
        ),
        (
            "PUT",
            "/products/bad%20sku",
            br#"{"name":"x","price":{"amount":1,"currency":"EUR"}}"#,
            "application/json",
            Some("sku"),
        ),
        (
            "PUT",
            &product,
            br#"{"name":"x","price":{"amount":1,"currency":"EUR"}}"#,
            "text/plain",
            None,
        ),
        ("POST", &stock, b"{}", "application/json", Some("delta")),
        (
            "POST",
            &stock,
            br#"{"delta":0}"#,
            "application/json",
            Some("delta"),
        ),
        (
            "POST",
            &stock,
            br#"{"delta":"5"}"#,
            "application/json",
            Some("delta"),
        ),
        (
            "POST",
            &stock,
            br#"{"delta":1000001}"#,
            "application/json",
            Some("delta"),
        ),
        (
            "POST",
            &stock,
            br#"{"delta":-9223372036854775808}"#,
            "application/json",
            Some("delta"),
        ),
        (
            "POST",
            &stock,
            br#"{"delta":1e400}"#,
            "application/json",
            None,
        ),
        (
            "POST",
            &stock,
            br#"{"delta":1,"reserved":-3}"#,
            "application/json",
            Some("reserved"),
        ),
    ];
    for (method, path, body, content_type, field) in cases {
        let (status, problem) = stack
            .send(&admin, method, path, Some((body, content_type)))
            .await;
        let what = format!("{method} {path} {}", String::from_utf8_lossy(body));
        assert!((400..500).contains(&status), "{what}: {status} {problem}");
        assert_eq!(problem["status"], status, "{what}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("urn:problem:order-saga:"),
            "{what}: {problem}"
        );
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
        }
    }
    let (_, product) = stack.get(&admin, &product).await;
    assert_eq!(product["name"], format!("Test product {sku}"));
    assert_eq!(stack.stock(&sku).await, (3, 0));
}

/// `POST /products/{sku}/stock` as `admin` with `{"delta": delta}` and an `Idempotency-Key`:
/// the status, the body, and whether the answer says an earlier request made the change.
async fn restock(
    stack: &Stack,
    admin: &User,
    sku: &str,
    delta: i64,
    key: &str,
) -> (u16, Value, bool) {
    let response = stack
        .http
        .post(format!("{}/products/{sku}/stock", stack.gateway))
        .bearer_auth(&admin.token)
        .header("Idempotency-Key", key)
        .json(&json!({ "delta": delta }))
        .send()
        .await
        .expect("POST /products/{sku}/stock");
    let status = response.status().as_u16();
    let replayed = match response.headers().get("idempotent-replayed") {
        None => false,
        Some(value) => {
            assert_eq!(value, "true");
            true
        }
    };
    let body = response.json().await.expect("a JSON answer");
    (status, body, replayed)
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn ten_concurrent_restocks_with_one_key_apply_once() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let sku = stack.product(3, 500).await;
    let key = format!("restock-{}", uuid::Uuid::new_v4().simple());

    let answers =
        futures::future::join_all((0..10).map(|_| restock(&stack, &admin, sku.as_str(), 7, &key)))
            .await;
    let expected = json!({"sku": sku, "available": 10, "reserved": 0});
    for (status, stock, _) in &answers {
        assert_eq!(*status, 200, "{stock}");
        assert_eq!(*stock, expected);
    }
    let fresh = answers.iter().filter(|(_, _, replayed)| !replayed).count();
    assert_eq!(
        fresh, 1,
        "one answer made the change, the others replayed it"
    );
    assert_eq!(stack.stock(&sku).await, (10, 0), "applied more than once");
    let record = stack
        .inventory
        .stock_key(&admin.id, &key)
        .await
        .expect("read the key")
        .expect("the key is recorded");
    assert_eq!((&record.sku, record.delta), (&sku, 7));

    // A retry after a lost answer answers like the first and changes nothing.
    let (status, again, replayed) = restock(&stack, &admin, sku.as_str(), 7, &key).await;
    assert_eq!((status, &again), (200, &expected));
    assert!(replayed);
    assert_eq!(stack.stock(&sku).await, (10, 0));

    // The key with another delta or another product is refused, and nothing changes.
    let other = stack.product(1, 500).await;
    for (target, delta) in [(&sku, 8), (&sku, -7), (&other, 7)] {
        let (status, problem, replayed) =
            restock(&stack, &admin, target.as_str(), delta, &key).await;
        assert_eq!(status, 422, "{target} {delta}: {problem}");
        assert_eq!(
            problem["type"],
            "urn:problem:order-saga:idempotency-key-reused"
        );
        assert!(!replayed);
    }
    assert_eq!(stack.stock(&sku).await, (10, 0));
    assert_eq!(stack.stock(&other).await, (1, 0));

    // Keys belong to their admin: another admin's same key is a change of its own.
    let (status, stock, replayed) =
        restock(&stack, &stack.admin().await, sku.as_str(), 7, &key).await;
    assert_eq!(status, 200, "{stock}");
    assert!(!replayed);
    assert_eq!(stock["available"], 17);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_refused_restock_leaves_its_key_for_a_later_try() {
    let stack = Stack::connect().await;
    let admin = stack.admin().await;
    let sku = stack.product(2, 500).await;
    let key = format!("writeoff-{}", uuid::Uuid::new_v4().simple());

    let (status, problem, _) = restock(&stack, &admin, sku.as_str(), -3, &key).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:conflict");
    assert_eq!(stack.stock(&sku).await, (2, 0));
    let (status, problem, _) = restock(&stack, &admin, &new_sku(), 5, &key).await;
    assert_eq!(status, 404, "{problem}");

    let (status, _) = stack
        .send_json(
            &admin,
            "POST",
            &format!("/products/{sku}/stock"),
            &json!({"delta": 1}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, stock, replayed) = restock(&stack, &admin, sku.as_str(), -3, &key).await;
    assert_eq!(status, 200, "{stock}");
    assert!(!replayed);
    assert_eq!(stock["available"], 0);
    let (status, _, replayed) = restock(&stack, &admin, sku.as_str(), -3, &key).await;
    assert_eq!(status, 200);
    assert!(replayed);
    assert_eq!(stack.stock(&sku).await, (0, 0));
}
