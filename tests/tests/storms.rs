//! Idempotency storms: every API write sent ten times at once with the same key (or, where the
//! write is idempotent by nature, the same body), and every saga function invoked ten times at
//! once with the same input. Each must have exactly one effect.

use e2e::{Stack, User};
use futures::future::join_all;
use order_lambda::order::OrderId;
use order_lambda::page::PageRequest;
use order_lambda::ports::{BillingStore, NotificationStore};
use serde_json::{Value, json};

const STORM: usize = 10;

/// Sends the same request `STORM` times at once; the statuses.
async fn storm(
    stack: &Stack,
    user: &User,
    method: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> Vec<(u16, Value)> {
    let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON"));
    join_all((0..STORM).map(|_| async {
        if method == "POST" {
            stack.post_raw(user, path, bytes.as_deref(), key).await
        } else {
            stack
                .send(
                    user,
                    method,
                    path,
                    bytes.as_deref().map(|b| (b, "application/json")),
                )
                .await
        }
    }))
    .await
}

fn assert_all_succeeded(what: &str, answers: &[(u16, Value)]) {
    for (status, body) in answers {
        assert!((200..300).contains(status), "{what}: {status} {body}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn every_api_write_repeated_at_once_has_one_effect() {
    let stack = Stack::connect().await;
    let alice = stack.user(None).await;
    let admin = stack.admin().await;

    // Accounts and deposits.
    let opened = storm(&stack, &alice, "POST", "/billing/accounts", None, None).await;
    assert_all_succeeded("open account", &opened);
    assert_eq!(
        opened.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "one account created: {opened:?}"
    );
    let deposit = json!({"amount": 50_000, "currency": "EUR"});
    let deposited = storm(
        &stack,
        &alice,
        "POST",
        "/billing/deposit",
        Some(&deposit),
        Some("storm-deposit"),
    )
    .await;
    assert_all_succeeded("deposit", &deposited);
    assert_eq!(stack.balance(&alice).await, 50_000, "credited once");

    // Profile: the same PUT ten times leaves one profile with that content.
    let profile = json!({"name": "Alice", "email": "alice@example.com", "phone": "+4915112345678", "channels": ["email"]});
    let put = storm(&stack, &alice, "PUT", "/users/me", Some(&profile), None).await;
    for (status, body) in &put {
        // 409: a concurrent identical write was saved first (optimistic concurrency).
        assert!(
            matches!(status, 200 | 201 | 409),
            "profile: {status} {body}"
        );
    }
    let (_, saved) = stack.get(&alice, "/users/me").await;
    assert_eq!(saved["email"], "alice@example.com", "{saved}");

    // Catalog: the same product PUT, then one keyed restock.
    let sku = format!("SKU-STORM-{}", uuid::Uuid::new_v4().simple());
    let product = json!({"name": "Storm cap", "price": {"amount": 1_000, "currency": "EUR"}});
    let put = storm(
        &stack,
        &admin,
        "PUT",
        &format!("/products/{sku}"),
        Some(&product),
        None,
    )
    .await;
    assert_all_succeeded("put product", &put);
    let restocked = storm(
        &stack,
        &admin,
        "POST",
        &format!("/products/{sku}/stock"),
        Some(&json!({"delta": 20})),
        Some("storm-restock"),
    )
    .await;
    assert_all_succeeded("restock", &restocked);
    let (_, listed) = stack.get(&alice, &format!("/products/{sku}")).await;
    assert_eq!(listed["available"], 20, "restocked once: {listed}");
    // The cart below needs the order side's view of the product: wait until it caught up.
    let typed = order_lambda::order::Sku::try_from(sku.as_str()).expect("sku");
    stack.wait_for_view_of_inventory(&typed).await;

    // Promotion terms.
    let code = format!("STORM{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).to_uppercase();
    let terms = json!({"kind": "PERCENT", "value": 10, "validFrom": "2026-01-01T00:00:00Z", "validTo": "2030-01-01T00:00:00Z", "maxUses": 100});
    let put = storm(
        &stack,
        &admin,
        "PUT",
        &format!("/promotions/{code}"),
        Some(&terms),
        None,
    )
    .await;
    assert_all_succeeded("put promotion", &put);

    // Cart: the same quantity set ten times, then one keyed checkout.
    let item = json!({"quantity": 3});
    let set = storm(
        &stack,
        &alice,
        "PUT",
        &format!("/cart/items/{sku}"),
        Some(&item),
        None,
    )
    .await;
    assert_all_succeeded("cart item", &set);
    let (_, cart) = stack.get(&alice, "/cart").await;
    assert_eq!(cart["items"][0]["quantity"], 3, "{cart}");
    let checkout = json!({"promoCode": code});
    let checked_out = storm(
        &stack,
        &alice,
        "POST",
        "/cart/checkout",
        Some(&checkout),
        Some("storm-checkout"),
    )
    .await;
    assert_all_succeeded("checkout", &checked_out);
    let ids: std::collections::HashSet<&str> = checked_out
        .iter()
        .filter_map(|(_, b)| b["orderId"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one order: {checked_out:?}");
    let order_id = ids.into_iter().next().expect("an order").to_owned();
    let order = stack.wait_until_settled(&alice, &order_id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert_eq!(
        order["total"]["amount"], 2_700,
        "3 x 10.00 less 10%: {order}"
    );

    // Cancel the completed order ten times at once: one refund, stock back once.
    let cancelled = storm(
        &stack,
        &alice,
        "POST",
        &format!("/orders/{order_id}/cancel"),
        None,
        None,
    )
    .await;
    assert_all_succeeded("cancel", &cancelled);
    let order = stack.wait_until_settled(&alice, &order_id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(stack.balance(&alice).await, 50_000, "refunded once");
    let (_, listed) = stack.get(&alice, &format!("/products/{sku}")).await;
    assert_eq!(listed["available"], 20, "stock back once: {listed}");
    let ledger = stack
        .billing
        .ledger(&alice.id, &PageRequest::first(50))
        .await
        .expect("ledger");
    let kinds: Vec<String> = ledger
        .items
        .iter()
        .map(|e| format!("{:?}", e.kind))
        .collect();
    assert_eq!(kinds, ["Refund", "Charge", "Deposit"], "{ledger:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn every_saga_function_invoked_at_once_with_one_input_has_one_effect() {
    let stack = Stack::connect().await;
    let buyer = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_000).await;
    let order_id = OrderId::new_at(chrono::Utc::now());
    let invoke_storm = |function: &'static str, payload: Value| {
        let stack = &stack;
        async move {
            let answers = join_all((0..STORM).map(|_| stack.invoke(function, &payload))).await;
            for (status, body) in &answers {
                assert_eq!(*status, 200, "{function}: {body}");
            }
            answers
        }
    };

    invoke_storm(
        "reserve-stock",
        json!({"orderId": order_id, "userId": buyer.id, "lines": [{"sku": sku, "quantity": 4}]}),
    )
    .await;
    assert_eq!(stack.stock(&sku).await, (6, 4), "reserved once");

    invoke_storm(
        "charge-payment",
        json!({"orderId": order_id, "userId": buyer.id, "amount": {"amount": 4_000, "currency": "EUR"}}),
    )
    .await;
    assert_eq!(stack.balance(&buyer).await, 6_000, "charged once");

    let booked = invoke_storm(
        "schedule-delivery",
        json!({"orderId": order_id, "userId": buyer.id}),
    )
    .await;
    assert!(booked.iter().all(|(_, b)| b["slot"]["from"].is_string()));

    // The same event delivered to every instance at once (SQS is at least once).
    let completed = e2e::order_event(
        order_lambda::events::EventType::OrderCompleted,
        order_id,
        &buyer.id,
        json!({"total": {"amount": 4_000, "currency": "EUR"}}),
    );
    let notified = invoke_storm("notify", e2e::sqs_event(&[completed])).await;
    assert!(
        notified
            .iter()
            .all(|(_, b)| b["batchItemFailures"] == json!([])),
        "{notified:?}"
    );
    let sent = stack.notifications.for_user(&buyer.id).await.expect("read");
    assert_eq!(sent.len(), 1, "one inbox notification: {sent:?}");

    let refunded = invoke_storm("refund-payment", json!({"orderId": order_id})).await;
    assert_eq!(
        refunded
            .iter()
            .filter(|(_, b)| b["refunded"] == true)
            .count(),
        1,
        "{refunded:?}"
    );
    assert_eq!(stack.balance(&buyer).await, 10_000, "refunded once");

    let released = invoke_storm("release-reservation", json!({"orderId": order_id})).await;
    assert_eq!(
        released
            .iter()
            .filter(|(_, b)| b["released"] == true)
            .count(),
        1,
        "{released:?}"
    );
    assert_eq!(stack.stock(&sku).await, (10, 0), "released once");
}
