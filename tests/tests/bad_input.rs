//! Malformed requests through the gateway: always a 4xx problem document, never a 5xx,
//! and nothing written.

use e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_orders_get_problem_json_and_change_nothing() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(5, 100).await;
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", vec![], "application/json"),
        ("not json", b"items=1".to_vec(), "application/json"),
        (
            "truncated",
            br#"{"items":[{"sku":"#.to_vec(),
            "application/json",
        ),
        (
            "invalid utf-8",
            vec![b'{', 0xff, 0xfe, b'}'],
            "application/json",
        ),
        ("array", b"[]".to_vec(), "application/json"),
        ("no items", b"{}".to_vec(), "application/json"),
        (
            "items not array",
            br#"{"items":"x"}"#.to_vec(),
            "application/json",
        ),
        (
            "empty items",
            br#"{"items":[]}"#.to_vec(),
            "application/json",
        ),
        (
            "zero quantity",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":0}}]}}"#).into_bytes(),
            "application/json",
        ),
        (
            "negative quantity",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":-2}}]}}"#).into_bytes(),
            "application/json",
        ),
        (
            "huge quantity",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":1e300}}]}}"#).into_bytes(),
            "application/json",
        ),
        (
            "string quantity",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":"1"}}]}}"#).into_bytes(),
            "application/json",
        ),
        (
            "unknown sku",
            br#"{"items":[{"sku":"NO-SUCH-SKU","quantity":1}]}"#.to_vec(),
            "application/json",
        ),
        (
            "injection sku",
            br#"{"items":[{"sku":"x' OR '1'='1","quantity":1}]}"#.to_vec(),
            "application/json",
        ),
        (
            "forged user",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":1}}],"userId":"alice"}}"#)
                .into_bytes(),
            "application/json",
        ),
        (
            "forged price",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":1,"unitPrice":1}}]}}"#).into_bytes(),
            "application/json",
        ),
        (
            "duplicate sku",
            format!(
                r#"{{"items":[{{"sku":"{sku}","quantity":1}},{{"sku":"{sku}","quantity":1}}]}}"#
            )
            .into_bytes(),
            "application/json",
        ),
        ("deep nesting", deep.into_bytes(), "application/json"),
        ("too large", vec![b' '; 70 * 1024], "application/json"),
        (
            "wrong media type",
            format!(r#"{{"items":[{{"sku":"{sku}","quantity":1}}]}}"#).into_bytes(),
            "text/plain",
        ),
    ];
    for (name, body, content_type) in cases {
        let response = stack
            .http
            .post(format!("{}/orders", stack.gateway))
            .bearer_auth(&user.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let media = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let problem: Value = response.json().await.unwrap_or(Value::Null);
        assert!((400..500).contains(&status), "{name}: {status} {problem}");
        assert_eq!(media.as_deref(), Some("application/problem+json"), "{name}");
        assert_eq!(problem["status"], status, "{name}: {problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:problem:order-saga:"),
            "{name}"
        );
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{name}");
    }
    assert_eq!(stack.stock(&sku).await, (5, 0));
    assert_eq!(stack.balance(&user).await, 10_000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn field_errors_name_the_field() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let (status, problem) = stack
        .post_order(
            &user,
            &json!({"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":5000}]}),
            None,
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "items[1].quantity",
        "{problem}"
    );

    let (status, problem) = stack.get_order(&user, "not-an-id").await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "id");

    let (status, _) = stack
        .get_order(
            &user,
            &order_lambda::order::OrderId::new_at(chrono_now()).to_string(),
        )
        .await;
    assert_eq!(status, 404);
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
