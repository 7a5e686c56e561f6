//! Structured logs: one JSON object per line (the template's `LogFormat: JSON`), read from each
//! function's CloudWatch Logs group, and every line written for an order names the Lambda request id, the order
//! id and the correlation id of the request that created the order, in every function the order
//! passes through: the API, the saga's steps and the notify consumer.

use e2e::Stack;
use serde_json::{Value, json};
/// The JSON lines `binary` wrote so far, from its CloudWatch Logs group.
async fn json_lines(stack: &Stack, binary: &str) -> Vec<Value> {
    stack
        .function_log(binary)
        .await
        .iter()
        .flat_map(|message| message.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// The value of span field `field` on a line: its current span or any span it is inside.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a str> {
    let spans = line["spans"].as_array().into_iter().flatten();
    std::iter::once(&line["span"])
        .chain(spans)
        .find_map(|span| span[field].as_str())
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn every_line_for_an_order_names_its_request_order_and_correlation_ids() {
    let stack = Stack::connect().await;
    let buyer = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_500).await;
    let correlation_id = format!("logs-{}", uuid::Uuid::new_v4().simple());
    let response = stack
        .http
        .post(format!("{}/orders", stack.gateway))
        .bearer_auth(&buyer.token)
        .header("X-Correlation-Id", &correlation_id)
        .json(&json!({"items": [{"sku": sku, "quantity": 1}]}))
        .send()
        .await
        .expect("POST /orders");
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await.expect("JSON answer");
    let id = accepted["orderId"].as_str().expect("orderId").to_owned();
    let order = stack.wait_for_status(&buyer, &id, "COMPLETED").await;
    assert_eq!(order["correlationId"], correlation_id.as_str(), "{order}");
    stack.wait_for_notifications(&buyer.id, 1).await;

    for binary in [
        "create-order",
        "reserve-stock",
        "charge-payment",
        "schedule-delivery",
        "notify",
    ] {
        let lines = json_lines(&stack, binary).await;
        let ours: Vec<&Value> = lines
            .iter()
            .filter(|l| span_field(l, "correlation_id") == Some(correlation_id.as_str()))
            .collect();
        assert!(
            !ours.is_empty(),
            "{binary} wrote no line naming correlation id {correlation_id}"
        );
        for line in &ours {
            assert!(
                span_field(line, "requestId").is_some_and(|r| !r.is_empty()),
                "{binary}: no Lambda request id: {line}"
            );
            // The API's line names the order in its fields; the others in their span.
            let order_id = span_field(line, "order_id").or(line["fields"]["order_id"].as_str());
            assert_eq!(order_id, Some(id.as_str()), "{binary}: {line}");
        }
        // And no line that names the order lacks the correlation id.
        let stray: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                span_field(l, "order_id") == Some(id.as_str())
                    && span_field(l, "correlation_id") != Some(correlation_id.as_str())
            })
            .collect();
        assert!(stray.is_empty(), "{binary}: {stray:?}");
    }
}
