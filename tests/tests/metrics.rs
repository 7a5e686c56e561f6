//! Business metrics in CloudWatch embedded metric format: the functions' output, read from their
//! CloudWatch Logs groups, carries one EMF line per metric, found here by the `orderId` property.

use e2e::Stack;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The EMF lines for `order_id` that `binary` wrote so far, from its CloudWatch Logs group.
async fn emf_lines(stack: &Stack, binary: &str, order_id: &str) -> Vec<Value> {
    stack
        .function_log(binary)
        .await
        .iter()
        .flat_map(|message| message.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("_aws").is_some() && v["orderId"] == order_id)
        .collect()
}

/// Waits until `binary` has written an EMF line for `order_id` with metric `metric`.
async fn wait_for(stack: &Stack, binary: &str, order_id: &str, metric: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<Value> = emf_lines(stack, binary, order_id)
            .await
            .into_iter()
            .filter(|v| v.get(metric).is_some())
            .collect();
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn metric_names(line: &Value) -> Vec<String> {
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn saga_outcomes_and_step_latency_are_emitted_per_order() {
    let stack = Stack::connect().await;
    let rich = stack.user(Some(10_000)).await;
    let poor = stack.user(Some(1_000)).await;
    let sku = stack.product(10, 2500).await;

    let body = json!({"items":[{"sku": sku, "quantity": 1}]});
    let (status, completed) = stack.post_order(&rich, &body, None).await;
    assert_eq!(status, 202, "{completed}");
    let (status, declined) = stack.post_order(&poor, &body, None).await;
    assert_eq!(status, 202, "{declined}");
    let completed = completed["orderId"].as_str().unwrap().to_owned();
    let declined = declined["orderId"].as_str().unwrap().to_owned();

    let order = stack.wait_until_settled(&rich, &completed).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    let order = stack.wait_until_settled(&poor, &declined).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "PAYMENT_DECLINED", "{order}");

    for id in [&completed, &declined] {
        let created = wait_for(&stack, "create-order", id, "OrdersCreated").await;
        assert_eq!(created.len(), 1, "OrdersCreated for {id}: {created:?}");
        let line = &created[0];
        assert_eq!(line["OrdersCreated"], 1.0);
        assert_eq!(line["Service"], "create-order");
        assert_eq!(metric_names(line), ["OrdersCreated"]);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "OrderSaga");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert!(line["_aws"]["Timestamp"].is_i64(), "{line}");

        let latency = wait_for(&stack, "reserve-stock", id, "StepLatency").await;
        assert!(
            !latency.is_empty(),
            "no StepLatency of reserve-stock for {id}"
        );
        for line in &latency {
            assert_eq!(line["Step"], "reserve-stock", "{line}");
            assert!(line["StepLatency"].as_f64().unwrap() >= 0.0, "{line}");
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Metrics"],
                json!([{"Name": "StepLatency", "Unit": "Milliseconds"}])
            );
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["Service", "Step"]])
            );
        }
    }

    let outcome = wait_for(&stack, "notify", &completed, "OrdersCompleted").await;
    assert_eq!(outcome.len(), 1, "OrdersCompleted: {outcome:?}");
    let notify = emf_lines(&stack, "notify", &completed).await;
    assert!(
        notify.iter().all(|l| l.get("OrdersCancelled").is_none()),
        "{notify:?}"
    );

    let outcome = wait_for(&stack, "notify", &declined, "OrdersCancelled").await;
    assert_eq!(outcome.len(), 1, "OrdersCancelled: {outcome:?}");
    assert_eq!(outcome[0]["Reason"], "PAYMENT_DECLINED", "{:?}", outcome[0]);
    assert_eq!(
        outcome[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Service", "Reason"]])
    );
    let notify = emf_lines(&stack, "notify", &declined).await;
    assert!(
        notify.iter().all(|l| l.get("OrdersCompleted").is_none()),
        "{notify:?}"
    );
    // The notify step times itself too.
    assert!(
        notify.iter().any(|l| l["Step"] == "notify"),
        "no StepLatency of notify: {notify:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_cancellation_is_counted_once_however_often_it_is_requested() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 700).await;
    let (status, accepted) = stack
        .post_order(&user, &json!({"items":[{"sku": sku, "quantity": 1}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["orderId"].as_str().unwrap().to_owned();
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");

    for _ in 0..2 {
        let (status, order) = stack.cancel_order(&user, &id).await;
        assert!(status == 200 || status == 202, "{status} {order}");
    }
    let outcome = wait_for(&stack, "notify", &id, "OrdersCancelled").await;
    assert_eq!(outcome.len(), 1, "OrdersCancelled: {outcome:?}");
    assert_eq!(outcome[0]["Reason"], "USER_CANCELLED", "{:?}", outcome[0]);

    let requested = wait_for(&stack, "cancel-order", &id, "CancellationsRequested").await;
    assert_eq!(requested.len(), 1, "CancellationsRequested: {requested:?}");
    assert_eq!(requested[0]["Service"], "cancel-order");
    let completed = wait_for(&stack, "notify", &id, "OrdersCompleted").await;
    assert_eq!(completed.len(), 1, "OrdersCompleted: {completed:?}");
}
