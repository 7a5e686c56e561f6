//! `PUT /users/me` and `GET /users/me` end to end: the gateway's JWT, users-api and the
//! users table.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e::Stack;
use serde_json::{Value, json};

fn ada() -> Value {
    json!({"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+441234567890", "channels": ["sms", "email"]})
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_profile_round_trips_and_stays_its_owners() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let other = stack.user(None).await;

    let (status, problem) = stack.get(&user, "/users/me").await;
    assert_eq!(status, 404, "no profile before the first PUT: {problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:not-found");

    let (status, created) = stack.send_json(&user, "PUT", "/users/me", &ada()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["userId"], user.id.as_str());
    assert_eq!(created["channels"], json!(["email", "sms"]));
    assert!(created["updatedAt"].is_string());

    let (status, read) = stack.get(&user, "/users/me").await;
    assert_eq!(status, 200);
    assert_eq!(read, created);

    let (status, problem) = stack.get(&other, "/users/me").await;
    assert_eq!(
        status, 404,
        "another user sees their own (missing) profile: {problem}"
    );

    let mut changed = ada();
    changed["channels"] = json!(["push"]);
    changed["phone"] = json!("+4915112345678");
    let (status, updated) = stack.send_json(&user, "PUT", "/users/me", &changed).await;
    assert_eq!(status, 200, "{updated}");
    let (_, read) = stack.get(&user, "/users/me").await;
    assert_eq!(read["channels"], json!(["push"]));
    assert_eq!(read["phone"], "+4915112345678");

    // The item as ARCHITECTURE.md describes it.
    let table = std::env::var("USERS_TABLE").expect("USERS_TABLE in the stack's env file");
    let item = stack
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("USER#{}", user.id)))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("profile item");
    assert_eq!(item["email"].as_s().unwrap(), "ada@example.com");
    assert!(item["updatedAt"].as_s().unwrap().ends_with('Z'));
    // No endpoint given, none stored: the profile reads as it did before push endpoints.
    assert!(!item.contains_key("pushEndpoint"));
    assert!(read.get("pushEndpoint").is_none(), "{read}");

    // The device's push endpoint, stored and read back; a PUT without it removes it again.
    let endpoint =
        "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/shop/6f1d2a3b-0c4e-4f5a-8b9c-0d1e2f3a4b5c";
    changed["pushEndpoint"] = json!(endpoint);
    let (status, updated) = stack.send_json(&user, "PUT", "/users/me", &changed).await;
    assert_eq!(status, 200, "{updated}");
    let (_, read) = stack.get(&user, "/users/me").await;
    assert_eq!(read["pushEndpoint"], endpoint);
    let (status, _) = stack.send_json(&user, "PUT", "/users/me", &ada()).await;
    assert_eq!(status, 200);
    let (_, read) = stack.get(&user, "/users/me").await;
    assert!(read.get("pushEndpoint").is_none(), "{read}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_profiles_get_problem_json_naming_the_field() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let with = |field: &str, value: Value| {
        let mut body = ada();
        body[field] = value;
        body.to_string().into_bytes()
    };
    let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
        (vec![], "application/json", None),
        (b"{\"name\":".to_vec(), "application/json", None),
        (vec![b'{', 0xff, b'}'], "application/json", None),
        (b"[]".to_vec(), "application/json", Some("")),
        (with("name", json!("")), "application/json", Some("name")),
        (
            with("name", json!("x".repeat(101))),
            "application/json",
            Some("name"),
        ),
        (
            with("email", json!("not-an-email")),
            "application/json",
            Some("email"),
        ),
        (
            with("phone", json!("12345")),
            "application/json",
            Some("phone"),
        ),
        (
            with("phone", json!("+12 345 678")),
            "application/json",
            Some("phone"),
        ),
        (
            with("channels", json!([])),
            "application/json",
            Some("channels"),
        ),
        (
            with("channels", json!(["email", "carrier-pigeon"])),
            "application/json",
            Some("channels[1]"),
        ),
        (
            with("userId", json!("someone-else")),
            "application/json",
            Some("userId"),
        ),
        (ada().to_string().into_bytes(), "text/plain", None),
        (vec![b' '; 70 * 1024], "application/json", None),
    ];
    for (body, content_type, field) in cases {
        let what = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let (status, problem) = stack
            .send(&user, "PUT", "/users/me", Some((&body, content_type)))
            .await;
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
    let (status, _) = stack.get(&user, "/users/me").await;
    assert_eq!(status, 404, "nothing was stored");
}
