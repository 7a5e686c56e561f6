//! The adapters against replies that real DynamoDB gives and the local emulators never do: a
//! transaction cancelled by a conflicting one (`TransactionCanceledException` with the reason
//! `TransactionConflict`, documented under TransactWriteItems' errors), and a write that
//! commits while its reply is lost (the SDK retries a 500, and a plain PutItem has no
//! idempotency token). A scripted wire answers each call the way AWS would.

use super::{DynamoBilling, DynamoInventory, DynamoOrders};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use chrono::{TimeZone, Utc};
use order_core::audit::ChangedBy;
use order_core::error::StoreError;
use order_core::inventory::ReservationLine;
use order_core::money::{Currency, Money};
use order_core::order::{Milestone, Order, OrderId, OrderLine, OrderStatus, Sku, Step};
use order_core::ports::{
    BillingStore, ChargeError, IdempotencyRecord, InsertOutcome, InventoryStore, OrderStore,
    ReserveError,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the scripted wire saw and holds: the operations called, and the item a PutItem stored.
#[derive(Default)]
struct Wire {
    calls: Vec<String>,
    stored: Option<Value>,
}

type Reply = (u16, Value);

/// A client whose every call is answered by `answer(operation, request body, wire)`.
fn client(
    answer: impl Fn(&str, &Value, &mut Wire) -> Reply + Send + Sync + 'static,
) -> (aws_sdk_dynamodb::Client, Arc<Mutex<Wire>>) {
    let wire = Arc::new(Mutex::new(Wire::default()));
    let seen = wire.clone();
    let http = infallible_client_fn(move |request| {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
            .unwrap_or_default()
            .to_owned();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let mut wire = seen.lock().unwrap();
        wire.calls.push(operation.clone());
        let (status, reply) = answer(&operation, &body, &mut wire);
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(reply.to_string())
            .unwrap()
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)))
        .http_client(http)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), wire)
}

fn error(kind: &str, message: &str) -> Value {
    json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message})
}

/// A transaction cancelled because another one was writing item `index` of `items`.
fn conflict(items: usize, index: usize) -> Reply {
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            if i == index {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let mut body = error(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons",
    );
    body["CancellationReasons"] = Value::Array(reasons);
    (400, body)
}

fn transaction_items(body: &Value) -> usize {
    body["TransactItems"].as_array().map_or(0, Vec::len)
}

fn eur() -> Currency {
    Currency::try_from("EUR").unwrap()
}

fn sku() -> Sku {
    Sku::try_from("MUG-1".to_owned()).unwrap()
}

fn order(promo: Option<&str>) -> Order {
    let at = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let total = Money::new(2598, eur());
    Order {
        order_id: OrderId::new_at(at),
        user_id: "alice".into(),
        status: OrderStatus::Pending,
        lines: vec![OrderLine {
            sku: sku(),
            name: "Mug".into(),
            quantity: 2,
            unit_price: Money::new(1299, eur()),
            line_total: total.clone(),
        }],
        subtotal: total.clone(),
        discount: Money::new(0, eur()),
        promo_code: promo.map(str::to_owned),
        total,
        reason: None,
        cancel_requested_at: None,
        delivery: None,
        created_at: at,
        updated_at: at,
        timeline: vec![Milestone {
            step: Step::Created,
            at,
        }],
        correlation_id: None,
    }
}

#[tokio::test]
async fn a_reservation_cancelled_by_a_conflicting_transaction_is_transient() {
    // Another order for the same hot SKU is reserving it at the same moment.
    let (client, _) = client(|operation, body, _| match operation {
        "TransactWriteItems" => conflict(transaction_items(body), 1),
        other => panic!("unexpected {other}"),
    });
    let inventory = DynamoInventory::new(client, "inventory");
    let lines = [ReservationLine {
        sku: sku(),
        quantity: 2,
    }];
    let result = inventory
        .reserve(
            OrderId::new_at(Utc::now()),
            &lines,
            &ChangedBy::saga(None),
            Utc::now(),
        )
        .await;
    assert!(
        matches!(result, Err(ReserveError::Store(StoreError::Transient(_)))),
        "a conflict must be retried by the state machine (Transient), got {result:?}"
    );
}

#[tokio::test]
async fn a_charge_cancelled_by_a_conflicting_deposit_is_transient() {
    let (client, _) = client(|operation, body, _| match operation {
        "TransactWriteItems" => conflict(transaction_items(body), 1),
        other => panic!("unexpected {other}"),
    });
    let billing = DynamoBilling::new(client, "billing");
    let result = billing
        .charge(
            OrderId::new_at(Utc::now()),
            "alice",
            &Money::new(2598, eur()),
            &ChangedBy::saga(None),
            Utc::now(),
        )
        .await;
    assert!(
        matches!(result, Err(ChargeError::Store(StoreError::Transient(_)))),
        "a conflict must be retried by the state machine (Transient), got {result:?}"
    );
}

#[tokio::test]
async fn an_order_whose_transaction_meets_a_conflicting_one_is_written_on_a_retry() {
    // Two requests with one promotion at once: the first attempt collides, the second commits.
    let (client, wire) = client(|operation, body, wire| match operation {
        "TransactWriteItems" if wire.calls.len() == 1 => conflict(transaction_items(body), 1),
        "TransactWriteItems" => (200, json!({})),
        other => panic!("unexpected {other}"),
    });
    let orders = DynamoOrders::new(client, "orders");
    let placed = order(Some("WELCOME10"));
    let record = IdempotencyRecord {
        user_id: "alice".into(),
        key: "key-1".into(),
        order_id: placed.order_id,
        request_hash: "hash".into(),
        created_at: placed.created_at,
    };
    let outcome = orders.insert(&placed, Some(&record)).await;
    assert_eq!(outcome, Ok(InsertOutcome::Inserted));
    assert_eq!(wire.lock().unwrap().calls.len(), 2, "one retry");
}

#[tokio::test]
async fn an_order_whose_first_write_committed_with_its_reply_lost_is_inserted() {
    // The first PutItem commits, then its reply is lost (a 500); the SDK's retry meets the
    // condition; the stored item is the first attempt's own.
    let (client, wire) = client(|operation, body, wire| match operation {
        "PutItem" if wire.stored.is_none() => {
            wire.stored = Some(body["Item"].clone());
            (500, error("InternalServerError", "reply lost after commit"))
        }
        "PutItem" => (
            400,
            error(
                "ConditionalCheckFailedException",
                "The conditional request failed",
            ),
        ),
        "GetItem" => (200, json!({"Item": wire.stored.clone()})),
        other => panic!("unexpected {other}"),
    });
    let orders = DynamoOrders::new(client, "orders");
    let placed = order(None);
    assert_eq!(
        orders.insert(&placed, None).await,
        Ok(InsertOutcome::Inserted)
    );
    assert_eq!(
        wire.lock().unwrap().calls,
        ["PutItem", "PutItem", "GetItem"]
    );
}

#[tokio::test]
async fn an_order_id_taken_by_other_contents_is_still_refused() {
    let (client, _) = client(|operation, body, _| match operation {
        "PutItem" => (
            400,
            error(
                "ConditionalCheckFailedException",
                "The conditional request failed",
            ),
        ),
        "GetItem" => {
            let _ = body;
            (
                200,
                json!({"Item": {"pk": {"S": "ORDER#other"}, "sk": {"S": "ORDER"}}}),
            )
        }
        other => panic!("unexpected {other}"),
    });
    let orders = DynamoOrders::new(client, "orders");
    let result = orders.insert(&order(None), None).await;
    assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
}
