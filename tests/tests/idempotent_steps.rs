//! Each saga function invoked twice with the same input has one effect, against DynamoDB on
//! the local stack (invoked straight on the Lambda emulator, as Step Functions does).

use e2e::Stack;
use order_lambda::events::EventType;
use order_lambda::order::OrderId;
use order_lambda::ports::NotificationStore;
use serde_json::json;

fn new_order_id() -> String {
    OrderId::new_at(chrono::Utc::now()).to_string()
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn reserve_and_release_twice_have_one_effect_each() {
    let stack = Stack::connect().await;
    let sku = stack.product(10, 100).await;
    let order_id = new_order_id();
    let reserve =
        json!({"orderId": order_id, "userId": "alice", "lines": [{"sku": sku, "quantity": 4}]});

    let (s1, first) = stack.invoke("reserve-stock", &reserve).await;
    let (s2, second) = stack.invoke("reserve-stock", &reserve).await;
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first, second);
    assert_eq!(stack.stock(&sku).await, (6, 4));

    let release = json!({"orderId": order_id});
    let (_, first) = stack.invoke("release-reservation", &release).await;
    let (_, second) = stack.invoke("release-reservation", &release).await;
    assert_eq!(first["released"], true, "{first}");
    assert_eq!(second["released"], false, "{second}");
    assert_eq!(stack.stock(&sku).await, (10, 0));

    // Once released, the order's reservation is never taken again.
    let (status, error) = stack.invoke("reserve-stock", &reserve).await;
    assert_ne!(status, 200);
    assert_eq!(error["errorType"], "AlreadyCompensated", "{error}");
    assert_eq!(stack.stock(&sku).await, (10, 0));
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn reserve_out_of_stock_is_a_typed_error_that_takes_nothing() {
    let stack = Stack::connect().await;
    let a = stack.product(10, 100).await;
    let b = stack.product(1, 100).await;
    let (status, error) = stack
        .invoke("reserve-stock", &json!({"orderId": new_order_id(), "userId": "alice", "lines": [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 2}]}))
        .await;
    assert_ne!(status, 200);
    assert_eq!(error["errorType"], "OutOfStock", "{error}");
    assert!(
        error["errorMessage"].as_str().unwrap().contains(b.as_str()),
        "{error}"
    );
    assert_eq!(stack.stock(&a).await, (10, 0));
    assert_eq!(stack.stock(&b).await, (1, 0));
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn charge_and_refund_twice_move_money_once_each() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(5_000)).await;
    let order_id = new_order_id();
    let charge = json!({"orderId": order_id, "userId": user.id, "amount": {"amount": 1_200, "currency": "EUR"}});

    let (s1, first) = stack.invoke("charge-payment", &charge).await;
    let (s2, second) = stack.invoke("charge-payment", &charge).await;
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first, second);
    assert_eq!(stack.balance(&user).await, 3_800);

    let refund = json!({"orderId": order_id});
    let (_, first) = stack.invoke("refund-payment", &refund).await;
    let (_, second) = stack.invoke("refund-payment", &refund).await;
    assert_eq!(first["refunded"], true, "{first}");
    assert_eq!(second["refunded"], false, "{second}");
    assert_eq!(stack.balance(&user).await, 5_000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn charge_declines_are_typed_and_take_nothing() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(500)).await;
    let (status, error) = stack
        .invoke("charge-payment", &json!({"orderId": new_order_id(), "userId": user.id, "amount": {"amount": 501, "currency": "EUR"}}))
        .await;
    assert_ne!(status, 200);
    assert_eq!(error["errorType"], "PaymentDeclined", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("InsufficientFunds"),
        "{error}"
    );
    assert_eq!(stack.balance(&user).await, 500);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn compensations_without_a_forward_step_are_noops() {
    let stack = Stack::connect().await;
    let order_id = new_order_id();
    let (status, out) = stack
        .invoke("release-reservation", &json!({"orderId": order_id}))
        .await;
    assert_eq!(
        (status, out["released"].clone()),
        (200, json!(false)),
        "{out}"
    );
    let (status, out) = stack
        .invoke("refund-payment", &json!({"orderId": order_id}))
        .await;
    assert_eq!(
        (status, out["refunded"].clone()),
        (200, json!(false)),
        "{out}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn the_same_event_delivered_twice_notifies_once() {
    let stack = Stack::connect().await;
    let user = stack.user(None).await;
    let order_id: OrderId = new_order_id().parse().unwrap();
    let completed = e2e::order_event(
        EventType::OrderCompleted,
        order_id,
        &user.id,
        json!({"total": {"amount": 100, "currency": "EUR"}}),
    );
    let batch = e2e::sqs_event(&[completed]);
    for delivery in ["first", "second"] {
        let (status, answer) = stack.invoke("notify", &batch).await;
        assert_eq!(status, 200, "{delivery}: {answer}");
        assert_eq!(
            answer["batchItemFailures"],
            json!([]),
            "{delivery}: {answer}"
        );
    }
    let stored = stack.notifications.for_user(&user.id).await.unwrap();
    assert_eq!(
        stored.len(),
        1,
        "the inbox only (no profile), once: {stored:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn malformed_step_input_is_a_typed_error() {
    let stack = Stack::connect().await;
    let (status, error) = stack
        .invoke("reserve-stock", &json!({"orderId": "nope", "lines": "x"}))
        .await;
    assert_ne!(status, 200);
    assert_eq!(error["errorType"], "InvalidInput", "{error}");
}
