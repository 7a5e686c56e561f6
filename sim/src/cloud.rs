//! The cloud the simulated state machine calls, in process: one DynamoDB (embedded-dynamodb)
//! under both the definition's DynamoDB integrations and the steps' DynamoDB adapters, the
//! saga's Lambda steps served by the same handlers as the functions (`order_lambda::step` and
//! `order_lambda::steps`), and the topic and queues as recorders of what was sent to them.

use crate::asl::{Call, Resources, TaskError};
use crate::choices::{Choices, Kind};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use chrono::{DateTime, Duration, Utc};
use embedded_dynamodb::{Database, DynoxideHttpClient, EngineTime, FaultHook};
use order_adapters::dynamodb::{DynamoBilling, DynamoInventory, DynamoOrders};
use order_adapters::memory::MemoryEvents;
use order_core::clock::Clock;
use order_core::delivery::LeadTimeDelivery;
use order_lambda::{step, steps};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub const ORDERS_TABLE: &str = "OrdersTable";
pub const INVENTORY_TABLE: &str = "InventoryTable";
pub const BILLING_TABLE: &str = "BillingTable";
pub const AUDIT_TABLE: &str = "AuditTable";
pub const NOTIFICATIONS_TABLE: &str = "NotificationsTable";
pub const USERS_TABLE: &str = "UsersTable";
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:000000000000:domain-events";
pub const COMPENSATION_DLQ: &str =
    "https://sqs.us-east-1.amazonaws.com/000000000000/compensation-dlq";
pub const EVENT_DLQ: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/event-dlq";
pub const STATE_MACHINE_ARN: &str = "arn:aws:states:us-east-1:000000000000:stateMachine:order-saga";

pub const LAMBDA_PREFIX: &str = "arn:aws:lambda:us-east-1:000000000000:function:";

/// The template's `DefinitionSubstitutions`, pointing at this cloud.
pub fn substitutions() -> HashMap<String, String> {
    let lambda = |name: &str| format!("{LAMBDA_PREFIX}{name}");
    [
        ("ReserveStockFunctionArn", lambda(steps::RESERVE_STOCK)),
        ("ChargePaymentFunctionArn", lambda(steps::CHARGE_PAYMENT)),
        (
            "ScheduleDeliveryFunctionArn",
            lambda(steps::SCHEDULE_DELIVERY),
        ),
        (
            "ReleaseReservationFunctionArn",
            lambda(steps::RELEASE_RESERVATION),
        ),
        ("RefundPaymentFunctionArn", lambda(steps::REFUND_PAYMENT)),
        ("OrdersTableName", ORDERS_TABLE.to_owned()),
        ("DomainEventsTopicArn", TOPIC_ARN.to_owned()),
        ("CompensationDlqUrl", COMPENSATION_DLQ.to_owned()),
        ("EventDlqUrl", EVENT_DLQ.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The clock the steps read: the execution's virtual time, set before each call.
#[derive(Debug)]
pub struct VirtualClock(Mutex<DateTime<Utc>>);

impl VirtualClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *lock(&self.0) = now;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The in-process cloud: its stores, what it was sent, and its clock.
pub struct Cloud {
    db: Database,
    pub client: Client,
    pub orders: DynamoOrders,
    pub inventory: DynamoInventory,
    pub billing: DynamoBilling,
    /// What the steps published (through the `EventPublisher` port).
    pub step_events: MemoryEvents,
    /// What the state machine published to the topic and sent to queues, as sent.
    sent: Mutex<Vec<(String, Value)>>,
    /// The state machine's publishes with their `type` attribute.
    topic: Mutex<Vec<(String, Value)>>,
    pub clock: VirtualClock,
    /// The engine's calls and time: those the adapters sent through the SDK, and the rest (the
    /// state machine's integrations, setting up, the simulator's own reads).
    pub through_sdk: Arc<EngineTime>,
    pub direct: Arc<EngineTime>,
    /// The adapters' calls end to end, the SDK's pipeline and the engine's answer together.
    pub sdk_time: Arc<SdkTime>,
    /// What each stream's reader has read, by table.
    streams: Mutex<HashMap<String, StreamRead>>,
    delivery: LeadTimeDelivery,
    /// How long each call takes on the virtual clock.
    pub call_time: Duration,
}

impl Cloud {
    pub fn new(now: DateTime<Utc>) -> Result<Self, String> {
        Self::with_conflicts(now, 0.0, 0, Arc::default())
    }

    /// A cloud whose DynamoDB cancels a share (`rate`) of the adapters' transactions with
    /// `TransactionConflict`, as DynamoDB does when two touch one item at once, never more than
    /// twice in a row (what the adapters and the state machine retry absorbs). Drawn from `seed`;
    /// a conflict happens only if `choices` keeps it.
    pub fn with_conflicts(
        now: DateTime<Utc>,
        rate: f64,
        seed: u64,
        choices: Arc<Choices>,
    ) -> Result<Self, String> {
        let direct = Arc::new(EngineTime::default());
        let db = direct.time(
            "CreateTable (the template's six tables)",
            embedded_dynamodb::with_tables,
        )?;
        // The streams the audit function reads (template.yaml: NEW_AND_OLD_IMAGES).
        for table in STREAMED {
            let spec = json!({
                "TableName": table,
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}
            });
            engine(&db, &direct, "UpdateTable", &spec)?;
        }
        let http = if rate > 0.0 {
            // Counted per transaction (the items it writes), so a retry of one meets at most
            // two conflicts in a row, whatever else runs between.
            let draws = Mutex::new((ChaCha8Rng::seed_from_u64(seed), HashMap::new()));
            let hook: FaultHook = Arc::new(move |operation, body| {
                if operation != "TransactWriteItems" {
                    return None;
                }
                let items = transaction_items(body);
                let mut draws = lock(&draws);
                let (rng, in_a_row) = &mut *draws;
                let count: &mut u32 = in_a_row.entry(items).or_default();
                if *count >= 2 || !rng.random_bool(rate) || !choices.allow(Kind::Conflict) {
                    *count = 0;
                    return None;
                }
                *count += 1;
                Some((400, conflict(body)))
            });
            DynoxideHttpClient::with_faults(db.clone(), hook)
        } else {
            DynoxideHttpClient::new(db.clone())
        };
        let through_sdk = http.engine_time();
        let sdk_time = Arc::new(SdkTime::default());
        let client = Client::from_conf(
            embedded_dynamodb::config_with(http)
                .interceptor(TimeSdkCalls(sdk_time.clone()))
                .build(),
        );
        Ok(Self {
            through_sdk,
            sdk_time,
            direct,
            orders: DynamoOrders::new(client.clone(), ORDERS_TABLE),
            inventory: DynamoInventory::new(client.clone(), INVENTORY_TABLE),
            billing: DynamoBilling::new(client.clone(), BILLING_TABLE),
            client,
            db,
            step_events: MemoryEvents::default(),
            streams: Mutex::default(),
            sent: Mutex::new(Vec::new()),
            topic: Mutex::new(Vec::new()),
            clock: VirtualClock::at(now),
            delivery: LeadTimeDelivery::from_lead_hours(None)?,
            call_time: Duration::milliseconds(20),
        })
    }

    /// Every change of `table` its stream holds, oldest first (DynamoDB Streams' records:
    /// `eventName`, `dynamodb.Keys`, `OldImage`, `NewImage`), each with the `eventSourceARN`
    /// that Lambda's event source mapping adds. The reader keeps its place in each shard, as an
    /// event source mapping does: a second read fetches only the records written since.
    pub fn stream_records(&self, table: &str) -> Result<Vec<Value>, String> {
        let described = self.engine("DescribeTable", &json!({ "TableName": table }))?;
        let arn = described["Table"]["LatestStreamArn"].clone();
        let stream = self.engine("DescribeStream", &json!({ "StreamArn": arn }))?;
        let mut streams = lock(&self.streams);
        let read = streams.entry(table.to_owned()).or_default();
        for shard in stream["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = shard["ShardId"].as_str().unwrap_or_default().to_owned();
            let mut iterator = match read.next.get(&id) {
                Some(next) => next.clone(),
                None => {
                    let start = json!({
                        "StreamArn": arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"
                    });
                    self.engine("GetShardIterator", &start)?["ShardIterator"].clone()
                }
            };
            // A closed shard's last page has no next iterator: it stays read (`null`).
            while iterator.is_string() {
                let got = self.engine(
                    "GetRecords",
                    &json!({ "ShardIterator": iterator, "Limit": 1000 }),
                )?;
                let page = got["Records"].as_array().cloned().unwrap_or_default();
                let fetched = !page.is_empty();
                read.records.extend(page.into_iter().map(|mut record| {
                    record["eventSourceARN"] = arn.clone();
                    record
                }));
                iterator = got["NextShardIterator"].clone();
                read.next.insert(id.clone(), iterator.clone());
                if !fetched {
                    break;
                }
            }
        }
        Ok(read.records.clone())
    }

    /// One call of the engine's API outside the SDK, timed with the state machine's own calls.
    fn engine(&self, operation: &str, request: &Value) -> Result<Value, String> {
        engine(&self.db, &self.direct, operation, request)
    }

    /// Every item of `table` with only the attributes `projection` names (a raw Scan, page by
    /// page, straight to the engine: for what a property needs to know beyond the adapters).
    pub fn scan(&self, table: &str, projection: &[&str]) -> Result<Vec<Value>, String> {
        let names: serde_json::Map<String, Value> = projection
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("#p{i}"), json!(name)))
            .collect();
        let expression: Vec<String> = names.keys().cloned().collect();
        let mut request = json!({
            "TableName": table,
            "ProjectionExpression": expression.join(","),
            "ExpressionAttributeNames": names,
        });
        let mut items = Vec::new();
        loop {
            let page = self.engine("Scan", &request)?;
            items.extend(page["Items"].as_array().cloned().unwrap_or_default());
            match page.get("LastEvaluatedKey") {
                Some(key) if key.is_object() => request["ExclusiveStartKey"] = key.clone(),
                _ => return Ok(items),
            }
        }
    }

    /// Every message on the domain events topic with its `type` attribute (what subscription
    /// filter policies read): the state machine's publishes, then the steps' events (published
    /// by `SnsEvents` with the event's type as the attribute).
    pub fn topic_messages(&self) -> Vec<(String, Value)> {
        let mut messages: Vec<(String, Value)> = lock(&self.topic).clone();
        for event in self.step_events.published() {
            if let Ok(body) = serde_json::to_value(&event) {
                messages.push((event.event_type.as_str().to_owned(), body));
            }
        }
        messages
    }

    /// What the state machine sent to `target` (the topic's ARN or a queue's URL).
    pub fn sent_to(&self, target: &str) -> Vec<Value> {
        lock(&self.sent)
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, body)| body.clone())
            .collect()
    }

    async fn lambda(&self, function: &str, payload: Value) -> Result<Value, TaskError> {
        let clock: &dyn Clock = &self.clock;
        let (inventory, billing, events) = (&self.inventory, &self.billing, &self.step_events);
        let delivery = &self.delivery;
        match function {
            steps::RESERVE_STOCK => reply(
                step::call(
                    |i, c| steps::reserve_stock(inventory, events, clock, i, c),
                    payload,
                )
                .await,
            ),
            steps::CHARGE_PAYMENT => reply(
                step::call(
                    |i, c| steps::charge_payment(billing, events, clock, i, c),
                    payload,
                )
                .await,
            ),
            steps::SCHEDULE_DELIVERY => reply(
                step::call(
                    |i, c| steps::schedule_delivery(delivery, events, clock, i, c),
                    payload,
                )
                .await,
            ),
            steps::RELEASE_RESERVATION => reply(
                step::call(
                    |i, c| steps::release_reservation(inventory, clock, i, c),
                    payload,
                )
                .await,
            ),
            steps::REFUND_PAYMENT => reply(
                step::call(
                    |i, c| steps::refund_payment(billing, events, clock, i, c),
                    payload,
                )
                .await,
            ),
            other => Err(TaskError::new(
                "Lambda.ResourceNotFoundException",
                format!("no function {other}"),
            )),
        }
    }

    /// A DynamoDB integration (`arn:aws:states:::dynamodb:<action>`): the task's parameters are
    /// the API's request; its errors are named `DynamoDB.<exception>`.
    fn dynamodb(&self, operation: &str, parameters: &Value) -> Result<Value, TaskError> {
        let body = serde_json::to_vec(parameters)
            .map_err(|e| TaskError::new("States.Runtime", e.to_string()))?;
        let answer = self.direct.time(operation, || {
            embedded_dynamodb::dispatch(&self.db, operation, &body)
        });
        match answer {
            Some(Ok(reply)) => serde_json::from_slice(&reply)
                .map_err(|e| TaskError::new("DynamoDB.AmazonDynamoDBException", e.to_string())),
            Some(Err(e)) => {
                let name = e.error_type().rsplit('#').next().unwrap_or_default();
                Err(TaskError::new(format!("DynamoDB.{name}"), e.to_string()))
            }
            None => Err(TaskError::new(
                "States.Runtime",
                format!("dynamodb:{operation} is not an integration this cloud has"),
            )),
        }
    }

    fn send(&self, target: &Value, body: &Value) -> Result<Value, TaskError> {
        let target = target.as_str().unwrap_or_default().to_owned();
        lock(&self.sent).push((target, body.clone()));
        Ok(serde_json::json!({ "MessageId": format!("m-{}", lock(&self.sent).len()) }))
    }
}

/// The time the SDK's calls take, from the first interceptor hook to the last (building the
/// request, signing it, the engine's answer, parsing it): the sum of the ends less the sum of the
/// starts, so it needs nothing per call, and every call that starts ends (the last hook runs on
/// errors too). It also holds the conflict draws, which run in the connector (a JSON parse per
/// transaction, a few dozen a schedule): a little of the simulator counted as the SDK's.
#[derive(Debug)]
pub struct SdkTime {
    since: Instant,
    starts: AtomicU64,
    ends: AtomicU64,
}

impl Default for SdkTime {
    fn default() -> Self {
        Self {
            since: Instant::now(),
            starts: AtomicU64::new(0),
            ends: AtomicU64::new(0),
        }
    }
}

impl SdkTime {
    fn mark(&self, at: &AtomicU64) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        at.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn total(&self) -> std::time::Duration {
        let (ends, starts) = (
            self.ends.load(Ordering::Relaxed),
            self.starts.load(Ordering::Relaxed),
        );
        std::time::Duration::from_nanos(ends.saturating_sub(starts))
    }
}

#[derive(Debug)]
struct TimeSdkCalls(Arc<SdkTime>);

impl Intercept for TimeSdkCalls {
    fn name(&self) -> &'static str {
        "TimeSdkCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.mark(&self.0.starts);
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.mark(&self.0.ends);
        Ok(())
    }
}

/// A stream's records read so far, and the iterator each shard's reading goes on from.
#[derive(Debug, Default)]
struct StreamRead {
    records: Vec<Value>,
    next: HashMap<String, Value>,
}

/// The tables with a stream.
pub const STREAMED: [&str; 3] = [ORDERS_TABLE, INVENTORY_TABLE, BILLING_TABLE];

/// One call of the engine's API, outside the SDK (setup and stream reads), timed in `time`.
fn engine(
    db: &Database,
    time: &EngineTime,
    operation: &str,
    request: &Value,
) -> Result<Value, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    match time.time(operation, || {
        embedded_dynamodb::dispatch(db, operation, &body)
    }) {
        Some(Ok(reply)) => serde_json::from_slice(&reply).map_err(|e| e.to_string()),
        Some(Err(e)) => Err(format!("{operation}: {e}")),
        None => Err(format!("{operation} is not an operation of the engine")),
    }
}

/// The keys a transaction writes (not its token, which each call draws anew).
fn transaction_items(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap_or_default();
    let keys: Vec<Value> = body["TransactItems"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    i.as_object()?.values().next().map(|op| {
                        json!([
                            op["TableName"],
                            op.get("Key")
                                .or_else(|| op.get("Item").map(|item| &item["pk"]))
                        ])
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Value::Array(keys).to_string()
}

/// DynamoDB's answer to a transaction another one conflicted with: one reason per item, the
/// first `TransactionConflict`, the others `None`.
fn conflict(body: &[u8]) -> Vec<u8> {
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1);
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            if i == 0 {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
        "CancellationReasons": reasons,
    })
    .to_string()
    .into_bytes()
}

fn reply<T: Serialize>(answer: Result<T, lambda_runtime::Diagnostic>) -> Result<Value, TaskError> {
    match answer {
        Ok(output) => serde_json::to_value(output)
            .map_err(|e| TaskError::new("Runtime.ExitError", e.to_string())),
        Err(d) => Err(TaskError::new(d.error_type, d.error_message)),
    }
}

impl Resources for Cloud {
    async fn call(&self, resource: &str, input: Value, context: &Value) -> Call {
        if let Some(entered) = context["State"]["EnteredTime"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            self.clock.set(entered.to_utc());
        }
        let result = if let Some(function) = resource.strip_prefix(LAMBDA_PREFIX) {
            self.lambda(function, input).await
        } else {
            match resource {
                "arn:aws:states:::dynamodb:updateItem" => self.dynamodb("UpdateItem", &input),
                "arn:aws:states:::dynamodb:getItem" => self.dynamodb("GetItem", &input),
                "arn:aws:states:::dynamodb:putItem" => self.dynamodb("PutItem", &input),
                "arn:aws:states:::sns:publish" => {
                    let attribute = input["MessageAttributes"]["type"]["StringValue"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    lock(&self.topic).push((attribute, input["Message"].clone()));
                    self.send(&input["TopicArn"], &input["Message"])
                }
                "arn:aws:states:::sqs:sendMessage" => {
                    self.send(&input["QueueUrl"], &input["MessageBody"])
                }
                other => Err(TaskError::new(
                    "States.Runtime",
                    format!("resource {other} is not in this cloud"),
                )),
            }
        };
        Call {
            result,
            took: self.call_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    async fn put(cloud: &Cloud, pk: &str) {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        cloud
            .client
            .put_item()
            .table_name(ORDERS_TABLE)
            .item("pk", s(pk))
            .item("sk", s("ORDER"))
            .send()
            .await
            .expect("put");
    }

    fn keys(records: &[Value]) -> Vec<&str> {
        records
            .iter()
            .filter_map(|r| r["dynamodb"]["Keys"]["pk"]["S"].as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_stream_reader_keeps_its_place_and_still_returns_every_record() {
        let cloud = Cloud::new(Utc::now()).expect("cloud");
        let get_records = || cloud.direct.by_operation()["GetRecords"].calls;
        put(&cloud, "o1").await;
        put(&cloud, "o2").await;
        let first = cloud.stream_records(ORDERS_TABLE).expect("read");
        assert_eq!(keys(&first), ["o1", "o2"]);
        assert!(first.iter().all(|r| r["eventSourceARN"].is_string()));
        let before = get_records();
        put(&cloud, "o3").await;
        let second = cloud.stream_records(ORDERS_TABLE).expect("read");
        assert_eq!(keys(&second), ["o1", "o2", "o3"]);
        // The new record's page, then an empty one: nothing read twice.
        assert_eq!(get_records() - before, 2);
        let again = cloud.stream_records(ORDERS_TABLE).expect("read");
        assert_eq!(keys(&again), ["o1", "o2", "o3"]);
        assert_eq!(get_records() - before, 3);
    }
}
