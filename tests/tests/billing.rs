//! The billing routes end to end: through the local gateway, the billing-api function and
//! DynamoDB, with the saga's charges and refunds in the same ledger. `make test` runs these.

use e2e::{Stack, User};
use serde_json::{Value, json};
use std::collections::HashSet;

const DEPOSIT: &str = "/billing/deposit";

fn eur(amount: i64) -> Value {
    json!({"amount": amount, "currency": "EUR"})
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A fresh user with an account opened through the API.
async fn customer(stack: &Stack) -> User {
    let user = stack.user(None).await;
    let (status, body) = stack.post_raw(&user, "/billing/accounts", None, None).await;
    assert_eq!(status, 201, "{body}");
    user
}

async fn balance(stack: &Stack, user: &User) -> i64 {
    let (status, body) = stack.get(user, "/billing/balance").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["balance"]["currency"], "EUR");
    body["balance"]["amount"].as_i64().expect("amount")
}

/// Every ledger entry, following the cursors `limit` at a time.
async fn ledger(stack: &Stack, user: &User, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut query = format!("limit={limit}");
    loop {
        let (status, page) = stack
            .get(user, &format!("/billing/transactions?{query}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit as usize, "{page}");
        all.extend(items);
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit={limit}&cursor={cursor}"),
            None => return all,
        }
    }
}

fn assert_problem(status: u16, body: &Value, expected: u16, kind: &str, case: &str) {
    assert_eq!(status, expected, "{case}: {body}");
    assert_eq!(
        body["type"],
        format!("urn:problem:order-saga:{kind}"),
        "{case}: {body}"
    );
    assert_eq!(body["status"], expected, "{case}: {body}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn opening_an_account_twice_returns_the_same_account() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;

    let (status, first) = stack.post_raw(&user, "/billing/accounts", None, None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first, json!({"userId": user.id, "balance": eur(0)}));

    let (status, again) = stack
        .post_raw(
            &user,
            "/billing/accounts",
            Some(&bytes(&json!({"currency": "EUR"}))),
            None,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    assert_eq!(balance(&stack, &user).await, 0);
    assert!(ledger(&stack, &user, 10).await.is_empty());
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn ten_concurrent_deposits_with_one_key_credit_once() {
    let stack = Stack::connect().await;
    let user = customer(&stack).await;
    let key = format!("deposit-{}", user.id);
    let body = bytes(&eur(5000));

    let answers = futures::future::join_all(
        (0..10).map(|_| stack.post_raw(&user, DEPOSIT, Some(&body), Some(&key))),
    )
    .await;
    let mut ids = HashSet::new();
    for (status, deposit) in &answers {
        assert_eq!(*status, 201, "{deposit}");
        assert_eq!(deposit["type"], "DEPOSIT");
        assert_eq!(deposit["amount"], eur(5000));
        ids.insert(deposit["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "one key made several deposits: {ids:?}");
    assert_eq!(
        balance(&stack, &user).await,
        5000,
        "credited more than once"
    );
    assert_eq!(ledger(&stack, &user, 10).await, vec![answers[0].1.clone()]);

    // The key with another amount is refused and changes nothing.
    let (status, body) = stack
        .post_raw(&user, DEPOSIT, Some(&bytes(&eur(6000))), Some(&key))
        .await;
    assert_problem(status, &body, 422, "idempotency-key-reused", "key reused");
    assert_eq!(balance(&stack, &user).await, 5000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn the_ledger_holds_deposits_and_the_sagas_charges_and_refunds() {
    let stack = Stack::connect().await;
    let user = customer(&stack).await;
    let (status, deposit) = stack
        .post_raw(&user, DEPOSIT, Some(&bytes(&eur(10_000))), None)
        .await;
    assert_eq!(status, 201, "{deposit}");

    let sku = stack.product(10, 1999).await;
    let (status, accepted) = stack
        .post_order(
            &user,
            &json!({"items": [{"sku": sku, "quantity": 2}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let order_id = accepted["orderId"].as_str().expect("orderId").to_owned();
    let order = stack.wait_until_settled(&user, &order_id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert_eq!(balance(&stack, &user).await, 10_000 - 3998);

    // The refund compensation, invoked the way the saga would; twice, with one effect.
    for expected in [true, false] {
        let (status, out) = stack
            .invoke("refund-payment", &json!({"orderId": order_id}))
            .await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["refunded"], expected, "{out}");
    }
    assert_eq!(balance(&stack, &user).await, 10_000);

    let entries = ledger(&stack, &user, 100).await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["REFUND", "CHARGE", "DEPOSIT"], "{entries:?}");
    assert_eq!(entries[2], deposit);
    for entry in &entries[..2] {
        assert_eq!(entry["orderId"], order_id.as_str(), "{entry}");
        assert_eq!(entry["amount"], eur(3998), "{entry}");
        assert!(entry["createdAt"].is_string() && entry["id"].is_string());
    }
    assert!(entries[2].get("orderId").is_none());

    // A page at a time, every entry exactly once and in the same order.
    assert_eq!(ledger(&stack, &user, 1).await, entries);
    assert_eq!(ledger(&stack, &user, 2).await, entries);
    let (_, last) = stack.get(&user, "/billing/transactions?limit=3").await;
    assert!(last.get("nextCursor").is_none(), "{last}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn each_user_sees_only_their_own_account() {
    let stack = Stack::connect().await;
    let alice = customer(&stack).await;
    for amount in [100, 200] {
        let (status, body) = stack
            .post_raw(&alice, DEPOSIT, Some(&bytes(&eur(amount))), None)
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, page) = stack.get(&alice, "/billing/transactions?limit=1").await;
    let alices_cursor = page["nextCursor"].as_str().expect("a next page").to_owned();

    let bob = stack.user(None).await;
    for path in ["/billing/balance", "/billing/transactions"] {
        let (status, body) = stack.get(&bob, path).await;
        assert_problem(status, &body, 404, "not-found", path);
        assert!(body["detail"].as_str().unwrap().contains(&bob.id), "{body}");
    }
    let (status, body) = stack
        .post_raw(&bob, DEPOSIT, Some(&bytes(&eur(100))), Some("k"))
        .await;
    assert_problem(status, &body, 404, "not-found", "deposit without account");

    let (status, _) = stack.post_raw(&bob, "/billing/accounts", None, None).await;
    assert_eq!(status, 201);
    assert_eq!(balance(&stack, &bob).await, 0);
    assert!(ledger(&stack, &bob, 10).await.is_empty());
    // Alice's cursor does not open Alice's ledger to Bob.
    let (status, body) = stack
        .get(
            &bob,
            &format!("/billing/transactions?limit=1&cursor={alices_cursor}"),
        )
        .await;
    assert_problem(status, &body, 400, "invalid-request", "another's cursor");
    assert_eq!(body["errors"][0]["field"], "cursor");
    assert_eq!(balance(&stack, &alice).await, 300);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_billing_requests_get_problem_json_and_change_nothing() {
    let stack = Stack::connect().await;
    let user = customer(&stack).await;
    let deposits: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", vec![], 400, "malformed-json"),
        ("not json", b"amount=5".to_vec(), 400, "malformed-json"),
        (
            "truncated",
            br#"{"amount":"#.to_vec(),
            400,
            "malformed-json",
        ),
        (
            "invalid utf-8",
            vec![b'{', 0xff, 0xfe, b'}'],
            400,
            "malformed-json",
        ),
        ("array", b"[]".to_vec(), 400, "invalid-request"),
        ("no fields", b"{}".to_vec(), 400, "invalid-request"),
        ("zero", bytes(&eur(0)), 400, "invalid-request"),
        ("negative", bytes(&eur(-100)), 400, "invalid-request"),
        ("too much", bytes(&eur(100_000_001)), 400, "invalid-request"),
        (
            "fraction",
            br#"{"amount":10.5,"currency":"EUR"}"#.to_vec(),
            400,
            "invalid-request",
        ),
        (
            "huge",
            br#"{"amount":1e300,"currency":"EUR"}"#.to_vec(),
            400,
            "invalid-request",
        ),
        (
            "string amount",
            br#"{"amount":"100","currency":"EUR"}"#.to_vec(),
            400,
            "invalid-request",
        ),
        (
            "bad currency",
            br#"{"amount":100,"currency":"euro"}"#.to_vec(),
            400,
            "invalid-request",
        ),
        (
            "unknown field",
            br#"{"amount":100,"currency":"EUR","userId":"someone"}"#.to_vec(),
            400,
            "invalid-request",
        ),
        (
            "other currency",
            bytes(&json!({"amount": 100, "currency": "USD"})),
            422,
            "currency-mismatch",
        ),
    ];
    for (case, body, expected, kind) in deposits {
        let (status, problem) = stack.post_raw(&user, DEPOSIT, Some(&body), None).await;
        assert_problem(status, &problem, expected, kind, case);
    }
    let long_key = "k".repeat(129);
    let (status, problem) = stack
        .post_raw(&user, DEPOSIT, Some(&bytes(&eur(100))), Some(&long_key))
        .await;
    assert_problem(status, &problem, 400, "invalid-request", "long key");

    for (case, body) in [
        ("accounts: bad currency", br#"{"currency":"eur"}"#.to_vec()),
        ("accounts: unknown field", br#"{"balance":100}"#.to_vec()),
        ("accounts: not an object", b"7".to_vec()),
    ] {
        let (status, problem) = stack
            .post_raw(&user, "/billing/accounts", Some(&body), None)
            .await;
        assert_problem(status, &problem, 400, "invalid-request", case);
    }
    let (status, problem) = stack
        .post_raw(&user, "/billing/accounts", Some(b"{"), None)
        .await;
    assert_problem(
        status,
        &problem,
        400,
        "malformed-json",
        "accounts: truncated",
    );

    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=forged",
        "cursor=e30",
    ] {
        let (status, problem) = stack
            .get(&user, &format!("/billing/transactions?{query}"))
            .await;
        assert_problem(status, &problem, 400, "invalid-request", query);
    }

    assert_eq!(
        balance(&stack, &user).await,
        0,
        "a refused deposit moved money"
    );
    assert!(ledger(&stack, &user, 10).await.is_empty());
}
