//! `PUT /users/me` and `GET /users/me` against the in-memory profile store, through API
//! Gateway events.

use chrono::{DateTime, Duration, Utc};
use lambda_http::Request;
use order_adapters::memory::MemoryProfiles;
use order_core::clock::{Clock, FixedClock};
use order_core::ports::ProfileStore;
use order_core::profile::{Channel, Profile};
use order_http::profiles::ProfilesApi;
use serde_json::{Value, json};
use std::sync::Arc;

/// The test keeps a handle on the clock it gives the API, to move time on.
struct SharedClock(Arc<FixedClock>);

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn api() -> (ProfilesApi<MemoryProfiles>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::at(t0()));
    let api = ProfilesApi {
        profiles: MemoryProfiles::default(),
        clock: Box::new(SharedClock(clock.clone())),
    };
    (api, clock)
}

fn event(user: Option<&str>, method: &str, body: Option<&str>, content_type: &str) -> Request {
    let mut context = json!({
        "accountId": "123456789012", "apiId": "local", "requestId": "r-1",
        "routeKey": format!("{method} /users/me"), "stage": "$default", "timeEpoch": 0,
        "http": {"method": method, "path": "/users/me", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
    });
    if let Some(user) = user {
        context["authorizer"] = json!({"jwt": {"claims": {"sub": user}, "scopes": null}});
    }
    let mut event = json!({
        "version": "2.0", "routeKey": format!("{method} /users/me"), "rawPath": "/users/me",
        "rawQueryString": "", "headers": {"content-type": content_type, "host": "127.0.0.1"},
        "requestContext": context, "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn call(
    api: &ProfilesApi<MemoryProfiles>,
    user: Option<&str>,
    method: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let response = api
        .handle(&event(user, method, body, "application/json"))
        .await;
    let status = response.status().as_u16();
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let expected = if status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    assert_eq!(media, expected, "{body}");
    (status, body)
}

fn ada() -> Value {
    json!({"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890","channels":["push","email"]})
}

#[tokio::test]
async fn a_profile_is_created_read_back_and_replaced() {
    let (api, clock) = api();
    let (status, problem) = call(&api, Some("ada"), "GET", None).await;
    assert_eq!(status, 404, "no profile before the first PUT");
    assert_eq!(problem["type"], "urn:problem:order-saga:not-found");

    let (status, created) = call(&api, Some("ada"), "PUT", Some(&ada().to_string())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"userId":"ada","name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890",
               "channels":["email","push"],"updatedAt":"2026-11-22T10:00:00Z"})
    );
    let (status, read) = call(&api, Some("ada"), "GET", None).await;
    assert_eq!(status, 200);
    assert_eq!(read, created);

    clock.advance(Duration::minutes(5));
    let mut changed = ada();
    changed["channels"] = json!(["sms"]);
    let (status, updated) = call(&api, Some("ada"), "PUT", Some(&changed.to_string())).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["channels"], json!(["sms"]));
    assert_eq!(updated["updatedAt"], "2026-11-22T10:05:00Z");
    let stored = api.profiles.profile("ada").await.unwrap().unwrap();
    assert_eq!(stored.channels, vec![Channel::Sms]);
}

#[tokio::test]
async fn each_user_sees_only_their_own_profile() {
    let (api, _) = api();
    call(&api, Some("ada"), "PUT", Some(&ada().to_string())).await;
    let (status, _) = call(&api, Some("bob"), "GET", None).await;
    assert_eq!(status, 404);
    let (status, problem) = call(&api, None, "GET", None).await;
    assert_eq!(status, 401, "{problem}");
    let (status, _) = call(&api, None, "PUT", Some(&ada().to_string())).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn malformed_profiles_are_400s_naming_the_field_and_store_nothing() {
    let (api, _) = api();
    let with = |field: &str, value: Value| {
        let mut body = ada();
        body[field] = value;
        body.to_string()
    };
    let without = |field: &str| {
        let mut body = ada();
        body.as_object_mut().unwrap().remove(field);
        body.to_string()
    };
    let cases = [
        (with("name", json!("")), vec!["name"]),
        (with("name", json!("n".repeat(101))), vec!["name"]),
        (with("name", json!(["Ada"])), vec!["name"]),
        (with("name", json!("Ada\u{0}")), vec!["name"]),
        // API Gateway passes a JSON body's bytes that are not UTF-8 as U+FFFD.
        (with("name", json!("Ada\u{FFFD}")), vec!["name"]),
        (with("email", json!("ada")), vec!["email"]),
        (with("email", json!("ada@localhost")), vec!["email"]),
        (with("phone", json!("0441234567890")), vec!["phone"]),
        (with("phone", json!("+44 1234 567890")), vec!["phone"]),
        (with("phone", json!("+1234567")), vec!["phone"]),
        (with("phone", json!(441234567890i64)), vec!["phone"]),
        (with("channels", json!([])), vec!["channels"]),
        (with("channels", json!("email")), vec!["channels"]),
        (
            with("channels", json!(["email", "fax"])),
            vec!["channels[1]"],
        ),
        (with("channels", json!(["sms", "sms"])), vec!["channels[1]"]),
        (with("userId", json!("mallory")), vec!["userId"]),
        (without("email"), vec!["email"]),
        ("[]".to_owned(), vec![""]),
    ];
    for (body, fields) in cases {
        let (status, problem) = call(&api, Some("ada"), "PUT", Some(&body)).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["type"], "urn:problem:order-saga:invalid-request");
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{body}");
    }
    for (body, kind) in [("", "malformed-json"), ("{\"name\":", "malformed-json")] {
        let (status, problem) = call(&api, Some("ada"), "PUT", Some(body)).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(problem["type"], format!("urn:problem:order-saga:{kind}"));
    }
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(70 * 1024));
    let (status, _) = call(&api, Some("ada"), "PUT", Some(&big)).await;
    assert_eq!(status, 413);
    let response = api
        .handle(&event(
            Some("ada"),
            "PUT",
            Some(&ada().to_string()),
            "text/plain",
        ))
        .await;
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(api.profiles.profile("ada").await.unwrap(), None);
}

#[tokio::test]
async fn a_late_write_never_overwrites_a_newer_profile() {
    let (api, _) = api();
    let newer = Profile {
        user_id: "ada".into(),
        name: "Ada, Countess of Lovelace".into(),
        email: "ada@example.org".into(),
        phone: "+441234567891".into(),
        channels: vec![Channel::Email],
        push_endpoint: None,
        updated_at: t0() + Duration::seconds(1),
    };
    api.profiles.save_profile(&newer).await.unwrap();
    let (status, problem) = call(&api, Some("ada"), "PUT", Some(&ada().to_string())).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(api.profiles.profile("ada").await.unwrap(), Some(newer));
}
