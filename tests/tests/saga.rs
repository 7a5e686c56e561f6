//! The order saga end to end: through the local gateway, the real state machine on the
//! emulated Step Functions, the Rust functions and DynamoDB. `make test` runs these.

use e2e::Stack;
use serde_json::json;

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn happy_path_completes_takes_stock_and_money() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(10_000)).await;
    let shirt = stack.product(10, 1999).await;
    let mug = stack.product(5, 1299).await;

    let (status, accepted) = stack
        .post_order(
            &user,
            &json!({"items":[{"sku": shirt, "quantity": 2},{"sku": mug, "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "PENDING");
    let total = 2 * 1999 + 1299;
    assert_eq!(
        accepted["total"],
        json!({"amount": total, "currency": "EUR"})
    );

    let id = accepted["orderId"].as_str().unwrap();
    let order = stack.wait_until_settled(&user, id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    // Delivery was booked after payment: a two-hour slot at least a day ahead.
    let from: chrono::DateTime<chrono::Utc> =
        order["delivery"]["from"].as_str().unwrap().parse().unwrap();
    let to: chrono::DateTime<chrono::Utc> =
        order["delivery"]["to"].as_str().unwrap().parse().unwrap();
    assert_eq!(to - from, chrono::Duration::hours(2), "{order}");
    assert!(
        from >= chrono::Utc::now() + chrono::Duration::hours(23),
        "{order}"
    );
    assert_eq!(order["lines"][0]["unitPrice"]["amount"], 1999);
    assert!(order.get("reason").is_none());

    assert_eq!(stack.stock(&shirt).await, (8, 2));
    assert_eq!(stack.stock(&mug).await, (4, 1));
    assert_eq!(stack.balance(&user).await, 10_000 - total);

    // The buyer hears of it through the events queue, after the saga: on the inbox only (no
    // profile), once.
    let notes = stack.wait_for_notifications(&user.id, 1).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        notes[0].event_type,
        order_lambda::events::EventType::OrderCompleted
    );
    assert_eq!(notes[0].order_id.to_string(), id);
    assert!(
        stack.execution_names().await.contains(&id.to_string()),
        "execution not named by order id"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn out_of_stock_cancels_without_touching_stock_or_money() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(10_000)).await;
    let plenty = stack.product(10, 500).await;
    let scarce = stack.product(1, 500).await;

    let (status, accepted) = stack
        .post_order(
            &user,
            &json!({"items":[{"sku": plenty, "quantity": 3},{"sku": scarce, "quantity": 2}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let order = stack
        .wait_until_settled(&user, accepted["orderId"].as_str().unwrap())
        .await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "OUT_OF_STOCK");

    assert_eq!(stack.stock(&plenty).await, (10, 0));
    assert_eq!(stack.stock(&scarce).await, (1, 0));
    assert_eq!(stack.balance(&user).await, 10_000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn declined_payment_releases_the_reservation_and_cancels() {
    let stack = Stack::connect().await;
    let poor = stack.user(Some(1_000)).await;
    let sku = stack.product(5, 1_500).await;

    let (status, accepted) = stack
        .post_order(&poor, &json!({"items":[{"sku": sku, "quantity": 1}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let order = stack
        .wait_until_settled(&poor, accepted["orderId"].as_str().unwrap())
        .await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "PAYMENT_DECLINED");
    assert_eq!(stack.stock(&sku).await, (5, 0), "stock not returned");
    assert_eq!(stack.balance(&poor).await, 1_000);

    // No billing account at all is a decline too.
    let stranger = stack.user(None).await;
    let (_, accepted) = stack
        .post_order(
            &stranger,
            &json!({"items":[{"sku": sku, "quantity": 2}]}),
            None,
        )
        .await;
    let order = stack
        .wait_until_settled(&stranger, accepted["orderId"].as_str().unwrap())
        .await;
    assert_eq!(order["reason"], "PAYMENT_DECLINED", "{order}");
    assert_eq!(stack.stock(&sku).await, (5, 0));
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn twenty_concurrent_retries_with_one_key_make_one_order_and_one_execution() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(100_000)).await;
    let sku = stack.product(50, 700).await;
    let body = json!({"items":[{"sku": sku, "quantity": 1}]});
    let key = format!("key-{}", uuid::Uuid::new_v4());

    let answers =
        futures::future::join_all((0..20).map(|_| stack.post_order(&user, &body, Some(&key))))
            .await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}");
            body["orderId"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one key gave several orders: {ids:?}");

    let order = stack.wait_until_settled(&user, &ids[0]).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert_eq!(
        stack.stock(&sku).await,
        (49, 1),
        "more than one reservation"
    );
    assert_eq!(
        stack.balance(&user).await,
        100_000 - 700,
        "more than one charge"
    );
    let executions = stack.execution_names().await;
    assert_eq!(executions.iter().filter(|n| **n == ids[0]).count(), 1);

    // After the saga finished, the same key still answers with the same order.
    let (status, again) = stack.post_order(&user, &body, Some(&key)).await;
    assert_eq!(status, 202);
    assert_eq!(again["orderId"], ids[0].as_str());
    assert_eq!(again["status"], "COMPLETED");

    // The same key with another body is refused.
    let (status, problem) = stack
        .post_order(
            &user,
            &json!({"items":[{"sku": sku, "quantity": 2}]}),
            Some(&key),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:problem:order-saga:idempotency-key-reused"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn another_user_cannot_read_my_order() {
    let stack = Stack::connect().await;
    let alice = stack.user(Some(10_000)).await;
    let mallory = stack.user(Some(10_000)).await;
    let sku = stack.product(5, 100).await;
    let (_, accepted) = stack
        .post_order(
            &alice,
            &json!({"items":[{"sku": sku, "quantity": 1}]}),
            None,
        )
        .await;
    let id = accepted["orderId"].as_str().unwrap();

    let (status, problem) = stack.get_order(&mallory, id).await;
    assert_eq!(status, 404, "{problem}");
    assert!(problem.get("lines").is_none());
    let (status, _) = stack.get_order(&alice, id).await;
    assert_eq!(status, 200);

    let anonymous = stack
        .http
        .get(format!("{}/orders/{id}", stack.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    stack.wait_until_settled(&alice, id).await;
}
