//! Order history and cancellation end to end, including cancellations racing the saga.

use e2e::Stack;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn history_is_mine_newest_first_and_paginated() {
    let stack = Stack::connect().await;
    let alice = stack.user(Some(100_000)).await;
    let bob = stack.user(Some(100_000)).await;
    let sku = stack.product(50, 100).await;
    let mut placed = Vec::new();
    for _ in 0..3 {
        let (_, accepted) = stack
            .post_order(
                &alice,
                &json!({"items":[{"sku": sku, "quantity": 1}]}),
                None,
            )
            .await;
        placed.push(accepted["orderId"].as_str().unwrap().to_owned());
    }
    stack
        .post_order(&bob, &json!({"items":[{"sku": sku, "quantity": 1}]}), None)
        .await;

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (status, page) = stack.list_orders(&alice, &query).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|o| o["orderId"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    placed.reverse();
    assert_eq!(seen, placed, "not exactly my orders, newest first");

    for id in &placed {
        let order = stack.wait_until_settled(&alice, id).await;
        let steps: Vec<&str> = order["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["step"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            ["CREATED", "RESERVED", "PAID", "COMPLETED"],
            "{order}"
        );
    }
    let (_, completed) = stack.list_orders(&alice, "status=COMPLETED&limit=10").await;
    assert_eq!(
        completed["items"].as_array().unwrap().len(),
        3,
        "{completed}"
    );

    let (_, bobs) = stack.list_orders(&bob, "limit=10").await;
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);

    for bad in ["limit=0", "limit=101", "status=LOST", "cursor=bm9wZQ"] {
        let (status, problem) = stack.list_orders(&alice, bad).await;
        assert_eq!(status, 400, "{bad}: {problem}");
    }
    // A cursor from alice's listing does not page through her orders for bob.
    let (_, first) = stack.list_orders(&alice, "limit=1").await;
    let cursor = first["nextCursor"].as_str().unwrap();
    let (status, _) = stack.list_orders(&bob, &format!("cursor={cursor}")).await;
    assert_eq!(status, 400);
}

/// Places an order, cancels it when the saga has reached `at` (or at once), and checks that
/// it ends `CANCELLED` with stock and money back exactly once. Returns the status the
/// cancellation found.
async fn cancel_when(stack: &Stack, at: Option<&str>) -> String {
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_500).await;
    let (status, accepted) = stack
        .post_order(&user, &json!({"items":[{"sku": sku, "quantity": 2}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["orderId"].as_str().unwrap().to_owned();
    if let Some(target) = at {
        for _ in 0..400 {
            let (_, order) = stack.get_order(&user, &id).await;
            if order["status"] == target || order["status"] == "COMPLETED" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let (status, answer) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 202, "{answer}");
    let hit = answer["status"].as_str().unwrap().to_owned();

    // A second request changes nothing.
    let (status, _) = stack.cancel_order(&user, &id).await;
    assert!(status == 202 || status == 200, "{status}");

    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED", "cancelled at {hit}: {order}");
    assert_eq!(order["reason"], "USER_CANCELLED", "{order}");
    assert_eq!(
        stack.stock(&sku).await,
        (10, 0),
        "stock not back exactly once (cancelled at {hit})"
    );
    assert_eq!(
        stack.balance(&user).await,
        10_000,
        "money not back exactly once (cancelled at {hit})"
    );

    let (status, again) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 200, "{again}");
    hit
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn cancelling_at_every_step_of_the_saga_gives_everything_back_once() {
    let stack = Stack::connect().await;
    let mut hits = BTreeSet::new();
    hits.insert(cancel_when(&stack, None).await);
    for target in ["RESERVED", "PAID", "COMPLETED"] {
        for _ in 0..2 {
            hits.insert(cancel_when(&stack, Some(target)).await);
        }
    }
    println!("cancellations arrived while the order was: {hits:?}");
    assert!(hits.contains("PENDING"), "{hits:?}");
    assert!(hits.contains("COMPLETED"), "{hits:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn cancel_is_refused_for_strangers_and_after_a_business_cancellation() {
    let stack = Stack::connect().await;
    let alice = stack.user(Some(10_000)).await;
    let mallory = stack.user(Some(10_000)).await;
    let sku = stack.product(0, 100).await;
    let (_, accepted) = stack
        .post_order(
            &alice,
            &json!({"items":[{"sku": sku, "quantity": 1}]}),
            None,
        )
        .await;
    let id = accepted["orderId"].as_str().unwrap();

    let (status, _) = stack.cancel_order(&mallory, id).await;
    assert_eq!(status, 404);

    let order: Value = stack.wait_until_settled(&alice, id).await;
    assert_eq!(order["reason"], "OUT_OF_STOCK");
    let (status, answer) = stack.cancel_order(&alice, id).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["reason"], "OUT_OF_STOCK",
        "an earlier cancellation keeps its reason"
    );

    let (status, problem) = stack.cancel_order(&alice, "not-an-id").await;
    assert_eq!(status, 400, "{problem}");
}
