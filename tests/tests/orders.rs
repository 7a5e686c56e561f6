//! Order history and cancellation end to end, including cancellations racing the saga.

use e2e::{Fault, Stack};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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

/// Where a cancellation lands: the saga step held (by a planned delay) while it arrives, what
/// must be true before it is sent, and the status the cancellation must find.
struct CancelPoint {
    name: &'static str,
    hold: Option<(&'static str, Fault)>,
    ready: Ready,
    finds: &'static str,
}

enum Ready {
    Status(&'static str),
    /// The held step has written: stock reserved, or money taken.
    StockHeld,
    Charged,
    /// The saga's execution has ended.
    SagaEnded,
}

const HOLD_MS: u64 = 5_000;

/// Places an order, cancels it at `point` while the saga is held there, and checks that it
/// ends `CANCELLED` with stock and money back exactly once, also after every execution ended.
async fn cancel_at(stack: &Stack, point: &CancelPoint) {
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_500).await;
    if let Some((function, fault)) = point.hold {
        stack.plan_faults(&user, function, vec![fault]).await;
    }
    let (status, accepted) = stack
        .post_order(&user, &json!({"items":[{"sku": sku, "quantity": 2}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["orderId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = match point.ready {
            Ready::Status(status) => stack.get_order(&user, &id).await.1["status"] == status,
            Ready::StockHeld => stack.stock(&sku).await == (8, 2),
            Ready::Charged => stack.balance(&user).await == 7_000,
            Ready::SagaEnded => stack.wait_for_execution(&id).await == "SUCCEEDED",
        };
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: never ready to cancel",
            point.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, answer) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 202, "{}: {answer}", point.name);
    assert_eq!(answer["status"], point.finds, "{}: {answer}", point.name);
    let (status, _) = stack.cancel_order(&user, &id).await;
    assert!(status == 202 || status == 200, "{}: {status}", point.name);

    let order = stack.wait_until_settled(&user, &id).await;
    for execution in [id.clone(), format!("{id}-cancel")] {
        if stack.execution_names().await.contains(&execution) {
            stack.wait_for_execution(&execution).await;
        }
    }
    assert_eq!(order["status"], "CANCELLED", "{}: {order}", point.name);
    assert_eq!(order["reason"], "USER_CANCELLED", "{}: {order}", point.name);
    assert_eq!(
        stack.stock(&sku).await,
        (10, 0),
        "{}: stock back once",
        point.name
    );
    assert_eq!(
        stack.balance(&user).await,
        10_000,
        "{}: money back once",
        point.name
    );
    let (status, again) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 200, "{}: {again}", point.name);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn cancelling_at_every_step_of_the_saga_gives_everything_back_once() {
    let stack = Stack::connect().await;
    let hold = |function, fault| Some((function, fault));
    let points = [
        CancelPoint {
            name: "before the reservation",
            hold: hold("reserve-stock", Fault::Delay { ms: HOLD_MS }),
            ready: Ready::Status("PENDING"),
            finds: "PENDING",
        },
        CancelPoint {
            name: "stock reserved, order not yet marked",
            hold: hold("reserve-stock", Fault::DelayAfterWrite { ms: HOLD_MS }),
            ready: Ready::StockHeld,
            finds: "PENDING",
        },
        CancelPoint {
            name: "reserved, before the charge",
            hold: hold("charge-payment", Fault::Delay { ms: HOLD_MS }),
            ready: Ready::Status("RESERVED"),
            finds: "RESERVED",
        },
        CancelPoint {
            name: "charged, order not yet marked paid",
            hold: hold("charge-payment", Fault::DelayAfterWrite { ms: HOLD_MS }),
            ready: Ready::Charged,
            finds: "RESERVED",
        },
        CancelPoint {
            name: "paid, while delivery is booked",
            hold: hold("schedule-delivery", Fault::Delay { ms: HOLD_MS }),
            ready: Ready::Status("PAID"),
            finds: "PAID",
        },
        CancelPoint {
            name: "after the saga ended",
            hold: None,
            ready: Ready::SagaEnded,
            finds: "COMPLETED",
        },
    ];
    futures::future::join_all(points.iter().map(|point| cancel_at(&stack, point))).await;
    println!(
        "cancelled at {} points: {}",
        points.len(),
        points.iter().map(|p| p.name).collect::<Vec<_>>().join("; ")
    );
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
