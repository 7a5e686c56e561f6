//! The billing routes' rules against the in-memory adapter: accounts, idempotent deposits,
//! balances and the ledger (with the saga's charges and refunds), and the routing by route key.

use chrono::{DateTime, Duration, Utc};
use order_adapters::memory::MemoryBilling;
use order_core::billing::{EntryType, LedgerEntry};
use order_core::clock::{Clock, FixedClock};
use order_core::money::{Currency, Money};
use order_core::order::OrderId;
use order_core::ports::BillingStore;
use order_core::saga::{ChargePaymentInput, CompensationInput, charge_payment, refund_payment};
use order_http::ApiError;
use order_http::billing::{BillingApi, REPLAYED_HEADER};
use serde_json::{Value, json};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

/// The test keeps a handle on the clock the API owns, to move time between writes.
struct SharedClock(Arc<FixedClock>);

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn api() -> (BillingApi<MemoryBilling>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::at(t0()));
    let api = BillingApi {
        billing: MemoryBilling::default(),
        clock: Box::new(SharedClock(clock.clone())),
    };
    (api, clock)
}

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

async fn opened(user: &str) -> (BillingApi<MemoryBilling>, Arc<FixedClock>) {
    let (api, clock) = api();
    api.open_account(user, b"", None).await.unwrap();
    (api, clock)
}

async fn balance(api: &BillingApi<MemoryBilling>, user: &str) -> i64 {
    api.balance(user).await.unwrap().balance.amount
}

/// Every entry of the ledger, walking it `limit` at a time.
async fn walk(api: &BillingApi<MemoryBilling>, user: &str, limit: u32) -> Vec<LedgerEntry> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = api
            .transactions(user, Some(&limit.to_string()), cursor.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= limit as usize);
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

fn field_names(error: &ApiError) -> Vec<String> {
    match error {
        ApiError::InvalidRequest(errors) => errors.iter().map(|e| e.field.clone()).collect(),
        other => panic!("not an invalid request: {other:?}"),
    }
}

#[tokio::test]
async fn opening_an_account_is_idempotent() {
    let (api, _) = api();
    let (account, created) = api.open_account("alice", b"", None).await.unwrap();
    assert!(created);
    assert_eq!(account.balance, eur(0));
    assert_eq!(account.user_id, "alice");

    // An existing account comes back as it is, even when another currency is asked for.
    for again in [&b"{}"[..], &body(json!({"currency": "USD"}))] {
        let (same, created) = api.open_account("alice", again, None).await.unwrap();
        assert!(!created);
        assert_eq!(same, account);
    }

    let (usd, created) = api
        .open_account("bob", &body(json!({"currency": "USD"})), None)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(usd.balance.currency.as_str(), "USD");
}

#[tokio::test]
async fn opening_an_account_refuses_malformed_bodies() {
    let (api, _) = api();
    for (bad, fields) in [
        (json!({"currency": "eur"}), vec!["currency"]),
        (json!({"currency": 978}), vec!["currency"]),
        (json!({"currency": "EUR", "balance": 100}), vec!["balance"]),
        (json!([]), vec![""]),
    ] {
        let err = api
            .open_account("alice", &body(bad.clone()), None)
            .await
            .unwrap_err();
        assert_eq!(field_names(&err), fields, "{bad}");
    }
    let err = api.open_account("alice", b"{", None).await.unwrap_err();
    assert!(matches!(err, ApiError::MalformedJson(_)), "{err:?}");
    assert!(
        api.billing.account("alice").await.unwrap().is_none(),
        "a refused request opened an account"
    );
}

#[tokio::test]
async fn a_deposit_credits_the_account_and_the_ledger() {
    let (api, _) = opened("alice").await;
    let deposit = api
        .deposit(
            "alice",
            None,
            &body(json!({"amount": 5000, "currency": "EUR"})),
            None,
        )
        .await
        .unwrap();
    assert!(!deposit.replayed);
    assert_eq!(deposit.entry.kind, EntryType::Deposit);
    assert_eq!(deposit.entry.amount, eur(5000));
    assert_eq!(deposit.entry.order_id, None);
    assert_eq!(deposit.entry.created_at, t0());
    assert_eq!(balance(&api, "alice").await, 5000);

    // Without a key, every request is a deposit of its own.
    api.deposit(
        "alice",
        None,
        &body(json!({"amount": 5000, "currency": "EUR"})),
        None,
    )
    .await
    .unwrap();
    assert_eq!(balance(&api, "alice").await, 10_000);
    assert_eq!(walk(&api, "alice", 10).await.len(), 2);
}

#[tokio::test]
async fn a_deposit_key_credits_once_and_refuses_another_amount() {
    let (api, clock) = opened("alice").await;
    let request = body(json!({"amount": 5000, "currency": "EUR"}));
    let first = api
        .deposit("alice", Some("dep-1"), &request, None)
        .await
        .unwrap();
    assert!(!first.replayed);

    clock.advance(Duration::seconds(5));
    // The same deposit in other formatting and field order is the same request.
    let retry = api
        .deposit(
            "alice",
            Some("dep-1"),
            br#"{ "currency":"EUR", "amount":5000 }"#,
            None,
        )
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.entry, first.entry);
    assert_eq!(balance(&api, "alice").await, 5000, "credited twice");

    let reused = api
        .deposit(
            "alice",
            Some("dep-1"),
            &body(json!({"amount": 5001, "currency": "EUR"})),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(reused, ApiError::IdempotencyKeyReused),
        "{reused:?}"
    );
    assert_eq!(reused.status().as_u16(), 422);
    assert_eq!(reused.kind(), "idempotency-key-reused");

    // Keys belong to their user: bob's "dep-1" is a deposit of its own.
    api.open_account("bob", b"", None).await.unwrap();
    let bobs = api
        .deposit("bob", Some("dep-1"), &request, None)
        .await
        .unwrap();
    assert!(!bobs.replayed);
    assert_ne!(bobs.entry.id, first.entry.id);

    assert_eq!(balance(&api, "alice").await, 5000);
    assert_eq!(walk(&api, "alice", 10).await, vec![first.entry]);

    let bad_key = api
        .deposit("alice", Some(""), &request, None)
        .await
        .unwrap_err();
    assert_eq!(field_names(&bad_key), ["Idempotency-Key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deposits_with_one_key_credit_once() {
    let (api, _) = opened("alice").await;
    let api = Arc::new(api);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                let request = body(json!({"amount": 700, "currency": "EUR"}));
                api.deposit("alice", Some("same"), &request, None).await
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap().entry.id);
    }
    assert_eq!(ids.len(), 1, "one key made several deposits");
    assert_eq!(balance(&api, "alice").await, 700);
    assert_eq!(walk(&api, "alice", 10).await.len(), 1);
}

#[tokio::test]
async fn a_deposit_in_another_currency_is_refused() {
    let (api, _) = opened("alice").await;
    let err = api
        .deposit(
            "alice",
            None,
            &body(json!({"amount": 100, "currency": "USD"})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 422);
    assert_eq!(err.kind(), "currency-mismatch");
    assert!(err.to_string().contains("EUR"), "{err}");
    match &err {
        ApiError::Unprocessable { errors, .. } => assert_eq!(errors[0].field, "currency"),
        other => panic!("{other:?}"),
    }
    assert_eq!(balance(&api, "alice").await, 0);
    assert!(walk(&api, "alice", 10).await.is_empty());
}

#[tokio::test]
async fn without_an_account_every_route_is_not_found() {
    let (api, _) = api();
    let deposit = api
        .deposit(
            "carol",
            Some("k"),
            &body(json!({"amount": 100, "currency": "EUR"})),
            None,
        )
        .await
        .unwrap_err();
    let balance = api.balance("carol").await.unwrap_err();
    let ledger = api.transactions("carol", None, None).await.unwrap_err();
    for err in [deposit, balance, ledger] {
        assert_eq!(err.status().as_u16(), 404);
        assert_eq!(err.kind(), "not-found");
        assert!(err.to_string().contains("carol"), "{err}");
    }
    assert!(
        api.billing
            .deposit_key("carol", "k")
            .await
            .unwrap()
            .is_none(),
        "a failed deposit kept its key"
    );
}

#[tokio::test]
async fn malformed_deposits_name_their_fields() {
    let (api, _) = opened("alice").await;
    let cases = [
        (json!({"amount": 0, "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": -5, "currency": "EUR"}), vec!["amount"]),
        (
            json!({"amount": 100_000_001, "currency": "EUR"}),
            vec!["amount"],
        ),
        (json!({"amount": 10.5, "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": 1e300, "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": "100", "currency": "EUR"}), vec!["amount"]),
        (json!({"amount": 100}), vec!["currency"]),
        (json!({"amount": 100, "currency": "euro"}), vec!["currency"]),
        (json!({"amount": 100, "currency": null}), vec!["currency"]),
        (
            json!({"amount": 100, "currency": "EUR", "userId": "bob"}),
            vec!["userId"],
        ),
        (json!({}), vec!["amount", "currency"]),
        (json!([1]), vec![""]),
        (json!("5000"), vec![""]),
    ];
    for (bad, fields) in cases {
        let err = api
            .deposit("alice", None, &body(bad.clone()), None)
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 400, "{bad}");
        assert_eq!(field_names(&err), fields, "{bad}");
    }
    for raw in [&b""[..], b"amount=5", b"{\"amount\":", &[b'{', 0xff, b'}']] {
        let err = api.deposit("alice", None, raw, None).await.unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson(_)), "{err:?}");
    }
    let huge = vec![b' '; order_http::MAX_BODY_BYTES + 1];
    let err = api.deposit("alice", None, &huge, None).await.unwrap_err();
    assert_eq!(err.status().as_u16(), 413);

    // The largest deposit is accepted.
    api.deposit(
        "alice",
        None,
        &body(json!({"amount": 100_000_000, "currency": "EUR"})),
        None,
    )
    .await
    .unwrap();
    assert_eq!(balance(&api, "alice").await, 100_000_000);
    assert_eq!(walk(&api, "alice", 10).await.len(), 1);
}

#[tokio::test]
async fn the_ledger_is_newest_first_and_pages_cover_it_once() {
    let (api, clock) = opened("alice").await;
    let mut made = Vec::new();
    for amount in 1..=7 {
        let d = api
            .deposit(
                "alice",
                None,
                &body(json!({"amount": amount, "currency": "EUR"})),
                None,
            )
            .await
            .unwrap();
        made.push(d.entry);
        clock.advance(Duration::milliseconds(1));
    }
    made.reverse();
    assert_eq!(walk(&api, "alice", 100).await, made);
    for limit in [1, 2, 3, 7] {
        assert_eq!(walk(&api, "alice", limit).await, made, "limit {limit}");
    }
    let full = api.transactions("alice", Some("7"), None).await.unwrap();
    assert_eq!(full.next_cursor, None, "a last page promised more");

    let first = api.transactions("alice", None, None).await.unwrap();
    assert_eq!(first.items.len(), 7, "default page size");

    for (limit, cursor, field) in [
        (Some("0"), None, "limit"),
        (Some("101"), None, "limit"),
        (Some("x"), None, "limit"),
        (None, Some("forged"), "cursor"),
    ] {
        let err = api.transactions("alice", limit, cursor).await.unwrap_err();
        assert_eq!(field_names(&err), [field]);
    }
}

#[tokio::test]
async fn charges_and_refunds_appear_in_the_ledger_once() {
    let (api, clock) = opened("alice").await;
    api.deposit(
        "alice",
        None,
        &body(json!({"amount": 10_000, "currency": "EUR"})),
        None,
    )
    .await
    .unwrap();
    let order = OrderId::new_at(t0());
    let charge = || ChargePaymentInput {
        order_id: order,
        user_id: "alice".into(),
        amount: eur(2_500),
    };
    clock.advance(Duration::seconds(1));
    charge_payment(&api.billing, clock.as_ref(), &by(), charge())
        .await
        .unwrap();
    clock.advance(Duration::seconds(1));
    charge_payment(&api.billing, clock.as_ref(), &by(), charge())
        .await
        .unwrap();
    clock.advance(Duration::seconds(1));
    for _ in 0..2 {
        refund_payment(
            &api.billing,
            clock.as_ref(),
            &by(),
            CompensationInput { order_id: order },
        )
        .await
        .unwrap();
    }
    // A refund of an order never charged moves no money and writes no entry.
    refund_payment(
        &api.billing,
        clock.as_ref(),
        &by(),
        CompensationInput {
            order_id: OrderId::new_at(t0() + Duration::seconds(9)),
        },
    )
    .await
    .unwrap();

    let ledger = walk(&api, "alice", 1).await;
    let kinds: Vec<EntryType> = ledger.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EntryType::Refund, EntryType::Charge, EntryType::Deposit]
    );
    assert_eq!(ledger[0].order_id, Some(order));
    assert_eq!(ledger[1].order_id, Some(order));
    assert_eq!(ledger[0].amount, eur(2_500));
    assert_eq!(ledger[1].amount, eur(2_500));
    assert_eq!(ledger[1].created_at, t0() + Duration::seconds(1));
    assert_eq!(balance(&api, "alice").await, 10_000);

    // A declined charge writes nothing either.
    let too_much = ChargePaymentInput {
        order_id: OrderId::new_at(t0() + Duration::seconds(20)),
        user_id: "alice".into(),
        amount: eur(1_000_000),
    };
    assert!(
        charge_payment(&api.billing, clock.as_ref(), &by(), too_much)
            .await
            .is_err()
    );
    assert_eq!(walk(&api, "alice", 10).await.len(), 3);
}

/// An API Gateway v2 event for `route`, as the gateway sends it.
fn event(
    route: &str,
    user: Option<&str>,
    headers: Value,
    body: Option<&str>,
    query: Value,
) -> lambda_http::Request {
    let (method, path) = route.split_once(' ').unwrap();
    let mut context = json!({
        "routeKey": route,
        "accountId": "123456789012",
        "apiId": "api",
        "stage": "$default",
        "requestId": "r",
        "time": "22/Nov/2026:10:00:00 +0000",
        "timeEpoch": 0,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
    });
    if let Some(user) = user {
        context["authorizer"] = json!({"jwt": {"claims": {"sub": user}, "scopes": null}});
    }
    // lambda_http reads the parameters from the raw query string, as API Gateway sends it.
    let raw_query = query
        .as_object()
        .map(|q| {
            q.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    if query.as_object().is_some_and(|q| !q.is_empty()) {
        event["queryStringParameters"] = query;
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn call(
    api: &BillingApi<MemoryBilling>,
    request: lambda_http::Request,
) -> (u16, Value, lambda_http::http::HeaderMap) {
    let response = api.handle(&request).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (status, body, headers)
}

#[tokio::test]
async fn routes_answer_by_route_key() {
    let (api, _) = api();
    let json_type = json!({"content-type": "application/json"});

    let (status, body, _) = call(
        &api,
        event(
            "GET /billing/balance",
            Some("dave"),
            json!({}),
            None,
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["type"], "urn:problem:order-saga:not-found");

    let (status, body, _) = call(
        &api,
        event(
            "POST /billing/accounts",
            Some("dave"),
            json!({}),
            None,
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"userId": "dave", "balance": {"amount": 0, "currency": "EUR"}})
    );
    let (status, _, _) = call(
        &api,
        event(
            "POST /billing/accounts",
            Some("dave"),
            json_type.clone(),
            Some(r#"{"currency":"EUR"}"#),
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 200);

    let deposit = r#"{"amount":5000,"currency":"EUR"}"#;
    let headers = json!({"content-type": "application/json", "idempotency-key": "k-1"});
    let (status, first, h) = call(
        &api,
        event(
            "POST /billing/deposit",
            Some("dave"),
            headers.clone(),
            Some(deposit),
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["type"], "DEPOSIT");
    assert_eq!(first["amount"], json!({"amount": 5000, "currency": "EUR"}));
    assert!(first.get("orderId").is_none());
    assert!(first["id"].is_string() && first["createdAt"].is_string());
    assert!(h.get(REPLAYED_HEADER).is_none());
    let (status, again, h) = call(
        &api,
        event(
            "POST /billing/deposit",
            Some("dave"),
            headers,
            Some(deposit),
            json!({}),
        ),
    )
    .await;
    assert_eq!((status, &again), (201, &first));
    assert_eq!(h.get(REPLAYED_HEADER).unwrap(), "true");

    let (status, body, _) = call(
        &api,
        event(
            "GET /billing/balance",
            Some("dave"),
            json!({}),
            None,
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"balance": {"amount": 5000, "currency": "EUR"}})
    );

    let (status, body, _) = call(
        &api,
        event(
            "GET /billing/transactions",
            Some("dave"),
            json!({}),
            None,
            json!({"limit": "1"}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"items": [first]}), "one entry, no next cursor");

    let (status, body, _) = call(
        &api,
        event(
            "GET /billing/transactions",
            Some("dave"),
            json!({}),
            None,
            json!({"limit": "0"}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "limit");

    let (status, body, _) = call(
        &api,
        event(
            "POST /billing/deposit",
            Some("dave"),
            json!({"content-type": "text/plain"}),
            Some(deposit),
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 415, "{body}");

    let (status, body, h) = call(
        &api,
        event(
            "POST /billing/deposit",
            Some("dave"),
            json_type,
            Some("{"),
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "urn:problem:order-saga:malformed-json");
    assert_eq!(h.get("content-type").unwrap(), "application/problem+json");

    let (status, _, _) = call(
        &api,
        event("GET /billing/balance", None, json!({}), None, json!({})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = call(
        &api,
        event(
            "DELETE /billing/balance",
            Some("dave"),
            json!({}),
            None,
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(balance(&api, "dave").await, 5000);
}

/// The sample events in `events/` (for `make invoke FN=billing-api`) in order: open,
/// deposit twice with one key, balance, ledger.
#[tokio::test]
async fn the_sample_events_drive_every_route() {
    let (api, _) = api();
    let sample = |name: &str| {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(format!("billing-api-{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        lambda_http::request::from_str(&text).unwrap()
    };
    let (status, _, _) = call(&api, sample("open-account")).await;
    assert_eq!(status, 201);
    let (status, first, _) = call(&api, sample("deposit")).await;
    assert_eq!(status, 201, "{first}");
    let (_, again, headers) = call(&api, sample("deposit")).await;
    assert_eq!(again, first);
    assert_eq!(headers.get(REPLAYED_HEADER).unwrap(), "true");
    let (status, body, _) = call(&api, sample("balance")).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"balance": serde_json::to_value(eur(5000)).unwrap()})
        )
    );
    let (status, body, _) = call(&api, sample("transactions")).await;
    assert_eq!((status, body), (200, json!({"items": [first]})));
}

fn by() -> order_core::audit::ChangedBy {
    order_core::audit::ChangedBy::saga(Some("test"))
}
