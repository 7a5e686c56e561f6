//! Domain events against their JSON Schemas (events/schemas).
//!
//! The plain tests prove the schemas themselves: every file compiles, a valid event of each type
//! built from the domain's own types passes, and broken ones (a missing field, a wrong currency,
//! an unknown reason, …) fail. The end-to-end test (`make test`) subscribes a queue of its own to
//! the stack's `DomainEventsTopic` with raw delivery, drives four orders that between them make
//! every event type, and checks every message it receives against the schema of its type.

use e2e::{Stack, User, eur};
use futures::FutureExt;
use jsonschema::{Retrieve, Uri, Validator};
use order_lambda::events::{DomainEvent, EventType, event_id, product_event_id};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schemas")
}

/// Serves the schemas' relative `$ref`s (`envelope.schema.json`, `…#/$defs/money`) from
/// events/schemas: the schemas carry no `$id`, so only the file name of the reference counts.
struct SchemaFiles(PathBuf);

impl Retrieve for SchemaFiles {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        let name = name.split('#').next().unwrap_or_default();
        if !name.ends_with(".schema.json") {
            return Err(format!("{uri}: not one of the event schemas").into());
        }
        let text = std::fs::read_to_string(self.0.join(name))
            .map_err(|e| format!("{uri}: events/schemas/{name}: {e}"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn read_schema(name: &str) -> Value {
    let path = schemas_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// Compiles a schema (checked against the draft 2020-12 meta-schema), with formats asserted.
fn compile(name: &str) -> Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .with_retriever(SchemaFiles(schemas_dir()))
        .build(&read_schema(name))
        .unwrap_or_else(|e| panic!("{name} does not compile: {e}"))
}

/// The validators of every event type, by type name.
struct Schemas(HashMap<&'static str, Validator>);

impl Schemas {
    fn load() -> Self {
        Self(
            EventType::ALL
                .iter()
                .map(|t| (t.as_str(), compile(&format!("{t}.schema.json"))))
                .collect(),
        )
    }

    /// Every way `event` breaks the schema of `event_type`, one line each.
    fn errors(&self, event_type: &str, event: &Value) -> Vec<String> {
        let Some(validator) = self.0.get(event_type) else {
            return vec![format!("no schema for type {event_type:?}")];
        };
        validator
            .iter_errors(event)
            .map(|e| format!("at '{}': {e}", e.instance_path()))
            .collect()
    }

    /// The errors against the schema the event's own `type` names.
    fn check(&self, event: &Value) -> Vec<String> {
        match event["type"].as_str() {
            Some(event_type) => self.errors(event_type, event),
            None => vec!["no string `type`".into()],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schemas themselves (plain `cargo test -p e2e`)
// ---------------------------------------------------------------------------------------------

fn order_id() -> order_lambda::order::OrderId {
    order_lambda::order::OrderId::new_at(chrono::Utc::now())
}

fn money(amount: i64) -> Value {
    serde_json::to_value(order_lambda::money::Money::new(amount, eur())).expect("money")
}

/// A valid `data` of each type, made of the domain's own types where it has them (so a change in
/// how they serialise shows here), shaped as core/src/announce.rs publishes it.
fn valid_data(event_type: EventType) -> Value {
    use order_lambda::billing::DeclineReason;
    use order_lambda::delivery::DeliverySlot;
    use order_lambda::inventory::ReservationLine;
    use order_lambda::order::Sku;
    let sku = |s: &str| Sku::try_from(s.to_owned()).expect("sku");
    let from = chrono::Utc::now();
    match event_type {
        EventType::OrderCreated | EventType::OrderCompleted => json!({ "total": money(5297) }),
        EventType::StockReserved => json!({ "lines": [
            ReservationLine { sku: sku("SKU-TSHIRT"), quantity: 2 },
            ReservationLine { sku: sku("SKU-MUG"), quantity: 1 },
        ]}),
        EventType::StockFailed => {
            json!({ "reason": "OUT_OF_STOCK", "skus": [sku("SKU-HOODIE")] })
        }
        EventType::PaymentSucceeded | EventType::RefundIssued => {
            json!({ "amount": money(5297) })
        }
        EventType::PaymentFailed => {
            json!({ "amount": money(5997), "reason": DeclineReason::InsufficientFunds })
        }
        EventType::DeliveryScheduled => json!({ "slot": DeliverySlot {
            from,
            to: from + chrono::Duration::hours(2),
        }}),
        EventType::OrderCancelled => json!({ "total": money(0), "reason": "PAYMENT_DECLINED" }),
        EventType::OrderShipped | EventType::OrderDelivered => json!({}),
        EventType::ProductUpdated => json!(order_lambda::product_view::ProductSnapshot {
            name: "Mug".into(),
            price: order_lambda::money::Money::new(1299, eur()),
            available: 7,
            product_version: 3,
        }),
    }
}

fn valid_event(event_type: EventType) -> Value {
    if event_type == EventType::ProductUpdated {
        let sku = order_lambda::order::Sku::try_from("SKU-MUG").expect("sku");
        let event = DomainEvent::product_updated(
            sku,
            3,
            "admin",
            chrono::Utc::now(),
            valid_data(event_type),
        );
        return serde_json::to_value(event).expect("event");
    }
    let event = DomainEvent::for_order(
        event_type,
        order_id(),
        "alice",
        chrono::Utc::now(),
        valid_data(event_type),
    );
    serde_json::to_value(event).expect("event")
}

#[test]
fn every_schema_compiles_and_describes_its_type() {
    let mut files: Vec<String> = std::fs::read_dir(schemas_dir())
        .expect("events/schemas")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = EventType::ALL
        .iter()
        .map(|t| format!("{t}.schema.json"))
        .chain(["envelope.schema.json".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "one schema per event type, and the envelope"
    );

    let readme = std::fs::read_to_string(schemas_dir().join("README.md")).expect("README.md");
    compile("envelope.schema.json");
    for t in EventType::ALL {
        let name = format!("{t}.schema.json");
        let schema = read_schema(&name);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(schema["title"], t.as_str(), "{name}");
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Published by ")),
            "{name}: a description saying who publishes it and when"
        );
        assert_eq!(schema["properties"]["type"]["const"], t.as_str(), "{name}");
        assert_eq!(
            schema["allOf"],
            json!([{ "$ref": "envelope.schema.json" }]),
            "{name}"
        );
        compile(&name);
        assert!(
            readme.contains(&format!("| `{t}` |")),
            "events/schemas/README.md has no row for {t}"
        );
    }
}

#[test]
fn a_valid_event_of_every_type_passes_its_schema_and_no_other() {
    let schemas = Schemas::load();
    for t in EventType::ALL {
        let event = valid_event(t);
        assert_eq!(schemas.check(&event), Vec::<String>::new(), "{event:#}");
        for other in EventType::ALL.iter().filter(|o| **o != t) {
            assert!(
                !schemas.errors(other.as_str(), &event).is_empty(),
                "a {t} passed the schema of {other}"
            );
        }
    }
    // Every reason the domain has is accepted where it belongs.
    let cancellations = [
        "OUT_OF_STOCK",
        "RESERVATION_FAILED",
        "PAYMENT_DECLINED",
        "PAYMENT_FAILED",
        "USER_CANCELLED",
        order_lambda::cleanup::EXPIRED,
        order_lambda::cleanup::SAGA_FAILED,
        order_lambda::cleanup::SAGA_TIMED_OUT,
    ];
    for reason in cancellations {
        let mut event = valid_event(EventType::OrderCancelled);
        event["data"]["reason"] = json!(reason);
        assert_eq!(schemas.check(&event), Vec::<String>::new(), "{reason}");
    }
    use order_lambda::billing::DeclineReason;
    for reason in [
        DeclineReason::NoAccount,
        DeclineReason::InsufficientFunds,
        DeclineReason::CurrencyMismatch,
    ] {
        let mut event = valid_event(EventType::PaymentFailed);
        event["data"]["reason"] = json!(reason);
        assert_eq!(schemas.check(&event), Vec::<String>::new(), "{reason:?}");
    }
}

/// Takes `key` out of the object at `pointer`.
fn remove(event: &mut Value, pointer: &str, key: &str) {
    let object = event.pointer_mut(pointer).and_then(Value::as_object_mut);
    assert!(
        object.expect("an object there").remove(key).is_some(),
        "{pointer}/{key} was there"
    );
}

#[test]
fn broken_events_are_rejected() {
    let schemas = Schemas::load();
    type Breakage = fn(&mut Value);
    let cases: [(EventType, &str, Breakage); 29] = [
        (EventType::OrderCreated, "no eventId", |e| {
            remove(e, "", "eventId")
        }),
        (EventType::OrderCreated, "no data", |e| {
            remove(e, "", "data")
        }),
        (EventType::OrderCreated, "no data.total", |e| {
            e["data"] = json!({})
        }),
        (EventType::PaymentFailed, "no data.reason", |e| {
            remove(e, "/data", "reason")
        }),
        (EventType::OrderCreated, "lower-case currency", |e| {
            e["data"]["total"]["currency"] = json!("eur")
        }),
        (EventType::PaymentSucceeded, "four-letter currency", |e| {
            e["data"]["amount"]["currency"] = json!("EURO")
        }),
        (EventType::RefundIssued, "no currency", |e| {
            e["data"]["amount"] = json!({ "amount": 1500 })
        }),
        (EventType::OrderCompleted, "a decimal amount", |e| {
            e["data"]["total"]["amount"] = json!(12.5)
        }),
        (EventType::OrderCompleted, "an amount as a string", |e| {
            e["data"]["total"]["amount"] = json!("1500")
        }),
        (EventType::PaymentSucceeded, "nothing charged", |e| {
            e["data"]["amount"]["amount"] = json!(0)
        }),
        (EventType::OrderCreated, "an unknown envelope field", |e| {
            e["traceId"] = json!("x")
        }),
        (EventType::OrderCreated, "an unknown data field", |e| {
            e["data"]["subtotal"] = money(1)
        }),
        (EventType::OrderShipped, "data in an empty event", |e| {
            e["data"] = json!({ "carrier": "DHL" })
        }),
        (EventType::OrderCreated, "version 2", |e| {
            e["version"] = json!(2)
        }),
        (EventType::OrderCreated, "an eventId that is no UUID", |e| {
            e["eventId"] = json!("not-a-uuid")
        }),
        (
            EventType::OrderCreated,
            "an occurredAt that is no date-time",
            |e| e["occurredAt"] = json!("yesterday"),
        ),
        (EventType::OrderCreated, "an empty userId", |e| {
            e["userId"] = json!("")
        }),
        (EventType::OrderCreated, "an unknown type", |e| {
            e["type"] = json!("OrderLost")
        }),
        (
            EventType::OrderCancelled,
            "an unknown cancellation reason",
            |e| e["data"]["reason"] = json!("UNKNOWN"),
        ),
        (EventType::PaymentFailed, "an unknown decline reason", |e| {
            e["data"]["reason"] = json!("CARD_EXPIRED")
        }),
        (EventType::StockFailed, "no SKU short of stock", |e| {
            e["data"]["skus"] = json!([])
        }),
        (EventType::StockReserved, "a line of quantity 0", |e| {
            e["data"]["lines"][0]["quantity"] = json!(0)
        }),
        (EventType::StockReserved, "a SKU with a space", |e| {
            e["data"]["lines"][0]["sku"] = json!("SKU MUG")
        }),
        (
            EventType::DeliveryScheduled,
            "a slot without its end",
            |e| remove(e, "/data/slot", "to"),
        ),
        (EventType::OrderCreated, "a sku beside its orderId", |e| {
            e["sku"] = json!("SKU-MUG")
        }),
        (EventType::ProductUpdated, "no sku", |e| {
            remove(e, "", "sku")
        }),
        (
            EventType::ProductUpdated,
            "an orderId beside its sku",
            |e| e["orderId"] = json!(order_id()),
        ),
        (EventType::ProductUpdated, "productVersion 0", |e| {
            e["data"]["productVersion"] = json!(0)
        }),
        (EventType::ProductUpdated, "a negative stock", |e| {
            e["data"]["available"] = json!(-1)
        }),
    ];
    for (event_type, what, breakage) in cases {
        let mut event = valid_event(event_type);
        breakage(&mut event);
        assert!(
            !schemas.errors(event_type.as_str(), &event).is_empty(),
            "{event_type} with {what} passed its schema: {event:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: what the stack publishes
// ---------------------------------------------------------------------------------------------

/// The topic's ARN from the env file the stack writes (`local/.state/<profile>/env`).
fn topic_arn() -> String {
    ["DOMAIN_EVENTS_TOPIC_ARN", "EVENTS_TOPIC_ARN"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .expect("DOMAIN_EVENTS_TOPIC_ARN is not set: the end-to-end tests run against the local stack; use `make test`")
}

/// A queue of this test's own, subscribed to the topic with raw delivery.
struct Tap {
    sns: aws_sdk_sns::Client,
    queue_url: String,
    subscription_arn: String,
}

impl Tap {
    async fn open(stack: &Stack) -> Self {
        let sns = aws_sdk_sns::Client::new(&order_lambda::config::aws().await);
        let topic = topic_arn();
        let name = format!("events-e2e-{}", uuid::Uuid::new_v4().simple());
        let queue_url = stack
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create the test's queue")
            .queue_url
            .expect("queue URL");
        let attributes = stack
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue ARN")
            .clone();
        // What AWS needs before SNS may send to the queue (the local cloud does not check it).
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": { "ArnEquals": { "aws:SourceArn": topic } },
            }],
        });
        stack
            .sqs
            .set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::Policy,
                policy.to_string(),
            )
            .send()
            .await
            .expect("queue policy");
        let subscription_arn = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .return_subscription_arn(true)
            .send()
            .await
            .expect("subscribe the queue to the topic")
            .subscription_arn
            .expect("subscription ARN");
        let tap = Self {
            sns,
            queue_url,
            subscription_arn,
        };
        let attributes = tap
            .sns
            .get_subscription_attributes()
            .subscription_arn(&tap.subscription_arn)
            .send()
            .await
            .expect("subscription attributes");
        assert_eq!(
            attributes
                .attributes()
                .and_then(|a| a.get("RawMessageDelivery"))
                .map(String::as_str),
            Some("true"),
            "raw message delivery is on"
        );
        tap
    }

    /// One receive (waiting up to a second), the messages deleted once read.
    async fn receive(&self, stack: &Stack) -> Vec<Received> {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from the test's queue");
        let mut received = Vec::new();
        for message in out.messages() {
            received.push(Received {
                body: message.body().unwrap_or_default().to_owned(),
                type_attribute: message
                    .message_attributes()
                    .and_then(|a| a.get("type"))
                    .map(|v| {
                        (
                            v.data_type().to_owned(),
                            v.string_value().map(str::to_owned),
                        )
                    }),
            });
            if let Some(handle) = message.receipt_handle() {
                stack
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete a received message");
            }
        }
        received
    }

    async fn close(self, stack: &Stack) {
        let unsubscribed = self
            .sns
            .unsubscribe()
            .subscription_arn(&self.subscription_arn)
            .send()
            .await;
        let deleted = stack
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await;
        if let Err(e) = unsubscribed {
            eprintln!("unsubscribing the test's queue: {e}");
        }
        if let Err(e) = deleted {
            eprintln!("deleting the test's queue: {e}");
        }
    }
}

struct Received {
    body: String,
    /// The SQS message attribute `type`: its data type and string value.
    type_attribute: Option<(String, Option<String>)>,
}

/// An order the test drove, and the events (with their exact `data`, where it is known before)
/// it must have published: these and no others.
struct Expected {
    path: &'static str,
    user: User,
    order_id: String,
    events: Vec<(EventType, Option<Value>)>,
    /// The order as the API shows it at the end (for the delivery slot).
    order: Value,
}

async fn place(
    stack: &Stack,
    user: &User,
    sku: &order_lambda::order::Sku,
    quantity: u32,
) -> String {
    let (status, accepted) = stack
        .post_order(
            user,
            &json!({"items":[{"sku": sku, "quantity": quantity}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    accepted["orderId"].as_str().expect("orderId").to_owned()
}

/// Completed, then shipped and delivered by an admin: OrderCreated, StockReserved,
/// PaymentSucceeded, DeliveryScheduled, OrderCompleted, OrderShipped, OrderDelivered.
async fn shipped_and_delivered(stack: &Stack) -> Expected {
    let admin = stack.admin().await;
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_500).await;
    let id = place(stack, &user, &sku, 2).await;
    stack.wait_for_status(&user, &id, "COMPLETED").await;
    for step in ["ship", "deliver"] {
        let (status, order) = stack
            .post_raw(&admin, &format!("/admin/orders/{id}/{step}"), None, None)
            .await;
        assert_eq!(status, 200, "{step}: {order}");
    }
    let order = stack.wait_for_status(&user, &id, "DELIVERED").await;
    let total = money(3_000);
    Expected {
        path: "shipped and delivered",
        events: vec![
            (EventType::OrderCreated, Some(json!({ "total": total }))),
            (
                EventType::StockReserved,
                Some(json!({ "lines": [{ "sku": sku, "quantity": 2 }] })),
            ),
            (
                EventType::PaymentSucceeded,
                Some(json!({ "amount": total })),
            ),
            (EventType::DeliveryScheduled, None),
            (EventType::OrderCompleted, Some(json!({ "total": total }))),
            (EventType::OrderShipped, Some(json!({}))),
            (EventType::OrderDelivered, Some(json!({}))),
        ],
        user,
        order_id: id,
        order,
    }
}

/// Nothing in stock: OrderCreated, StockFailed, OrderCancelled (OUT_OF_STOCK).
async fn out_of_stock(stack: &Stack) -> Expected {
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(0, 1_500).await;
    let id = place(stack, &user, &sku, 1).await;
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["reason"], "OUT_OF_STOCK", "{order}");
    let total = money(1_500);
    Expected {
        path: "out of stock",
        events: vec![
            (EventType::OrderCreated, Some(json!({ "total": total }))),
            (
                EventType::StockFailed,
                Some(json!({ "reason": "OUT_OF_STOCK", "skus": [sku] })),
            ),
            (
                EventType::OrderCancelled,
                Some(json!({ "total": total, "reason": "OUT_OF_STOCK" })),
            ),
        ],
        user,
        order_id: id,
        order,
    }
}

/// Not enough money: OrderCreated, StockReserved, PaymentFailed (INSUFFICIENT_FUNDS),
/// OrderCancelled (PAYMENT_DECLINED); the refund finds nothing charged, so no RefundIssued.
async fn payment_declined(stack: &Stack) -> Expected {
    let user = stack.user(Some(1_000)).await;
    let sku = stack.product(5, 1_500).await;
    let id = place(stack, &user, &sku, 1).await;
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["reason"], "PAYMENT_DECLINED", "{order}");
    let total = money(1_500);
    Expected {
        path: "payment declined",
        events: vec![
            (EventType::OrderCreated, Some(json!({ "total": total }))),
            (
                EventType::StockReserved,
                Some(json!({ "lines": [{ "sku": sku, "quantity": 1 }] })),
            ),
            (
                EventType::PaymentFailed,
                Some(json!({ "amount": total, "reason": "INSUFFICIENT_FUNDS" })),
            ),
            (
                EventType::OrderCancelled,
                Some(json!({ "total": total, "reason": "PAYMENT_DECLINED" })),
            ),
        ],
        user,
        order_id: id,
        order,
    }
}

/// Completed, then cancelled by the customer: the forward events, then RefundIssued and
/// OrderCancelled (USER_CANCELLED).
async fn cancelled_after_completion(stack: &Stack) -> Expected {
    let user = stack.user(Some(10_000)).await;
    let sku = stack.product(10, 1_200).await;
    let id = place(stack, &user, &sku, 1).await;
    stack.wait_for_status(&user, &id, "COMPLETED").await;
    let (status, answer) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 202, "{answer}");
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "USER_CANCELLED", "{order}");
    let total = money(1_200);
    Expected {
        path: "cancelled after completion",
        events: vec![
            (EventType::OrderCreated, Some(json!({ "total": total }))),
            (
                EventType::StockReserved,
                Some(json!({ "lines": [{ "sku": sku, "quantity": 1 }] })),
            ),
            (
                EventType::PaymentSucceeded,
                Some(json!({ "amount": total })),
            ),
            (EventType::DeliveryScheduled, None),
            (EventType::OrderCompleted, Some(json!({ "total": total }))),
            (EventType::RefundIssued, Some(json!({ "amount": total }))),
            (
                EventType::OrderCancelled,
                Some(json!({ "total": total, "reason": "USER_CANCELLED" })),
            ),
        ],
        user,
        order_id: id,
        order,
    }
}

/// A product an admin created and restocked through catalog-api: its ProductUpdated snapshots
/// (versions 1 and 2) must arrive, keyed by `sku`, with the admin as `userId`.
struct ProductExpected {
    admin: User,
    sku: order_lambda::order::Sku,
    snapshots: Vec<Value>,
}

async fn product_changed(stack: &Stack) -> ProductExpected {
    let admin = stack.admin().await;
    let sku =
        order_lambda::order::Sku::try_from(format!("SKU-EVT-{}", uuid::Uuid::new_v4().simple()))
            .expect("sku");
    let price = json!({"amount": 2_200, "currency": "EUR"});
    let (status, created) = stack
        .send_json(
            &admin,
            "PUT",
            &format!("/products/{sku}"),
            &json!({"name": "Event lamp", "price": price}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, stock) = stack
        .send_json(
            &admin,
            "POST",
            &format!("/products/{sku}/stock"),
            &json!({"delta": 4}),
        )
        .await;
    assert_eq!(status, 200, "{stock}");
    let snapshot = |available: i64, version: u64| json!({"name": "Event lamp", "price": price, "available": available, "productVersion": version});
    ProductExpected {
        snapshots: vec![snapshot(0, 1), snapshot(4, 2)],
        admin,
        sku,
    }
}

/// What is wrong with (or still missing from) the product's ProductUpdated events.
fn product_problems(product: &ProductExpected, messages: &[Received]) -> Vec<String> {
    let events: Vec<Value> = messages
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(&m.body).ok())
        .filter(|e| e["type"] == "ProductUpdated" && e["sku"] == product.sku.as_str())
        .collect();
    let mut problems = Vec::new();
    for want in &product.snapshots {
        let version = want["productVersion"].as_u64().unwrap_or_default();
        let copies: Vec<&Value> = events
            .iter()
            .filter(|e| e["data"]["productVersion"] == version)
            .collect();
        if copies.is_empty() {
            problems.push(format!(
                "ProductUpdated of {} version {version}",
                product.sku
            ));
        }
        for event in copies {
            let id = product_event_id(&product.sku, version).to_string();
            if event["eventId"] != id.as_str()
                || event["userId"] != product.admin.id.as_str()
                || event["data"] != *want
                || event.get("orderId").is_some()
            {
                problems.push(format!(
                    "ProductUpdated of {} version {version}: expected eventId {id}, userId {}, data {want}, no orderId: {event}",
                    product.sku, product.admin.id
                ));
            }
        }
    }
    problems
}

/// The events received so far, by (orderId, type).
fn seen(messages: &[Received]) -> HashMap<(String, String), Vec<Value>> {
    let mut seen: HashMap<(String, String), Vec<Value>> = HashMap::new();
    for message in messages {
        if let Ok(event) = serde_json::from_str::<Value>(&message.body) {
            let key = (
                event["orderId"].as_str().unwrap_or_default().to_owned(),
                event["type"].as_str().unwrap_or_default().to_owned(),
            );
            seen.entry(key).or_default().push(event);
        }
    }
    seen
}

fn missing(expected: &[Expected], messages: &[Received]) -> Vec<String> {
    let seen = seen(messages);
    expected
        .iter()
        .flat_map(|e| {
            let seen = &seen;
            e.events.iter().filter_map(move |(t, _)| {
                let key = (e.order_id.clone(), t.as_str().to_owned());
                (!seen.contains_key(&key))
                    .then(|| format!("{t} of the {} order {}", e.path, e.order_id))
            })
        })
        .collect()
}

fn parse_time(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value.as_str()?.parse().ok()
}

/// Everything wrong with the received messages, one line each.
fn problems(schemas: &Schemas, expected: &[Expected], messages: &[Received]) -> Vec<String> {
    let mut problems = Vec::new();
    // Every message: JSON, valid against the schema of its type, with a matching attribute.
    let mut by_id: HashMap<String, (String, String, String)> = HashMap::new();
    for message in messages {
        let event: Value = match serde_json::from_str(&message.body) {
            Ok(event) => event,
            Err(e) => {
                problems.push(format!(
                    "a message body is not JSON ({e}): {}",
                    message.body
                ));
                continue;
            }
        };
        let event_type = event["type"].as_str().unwrap_or_default().to_owned();
        for error in schemas.check(&event) {
            problems.push(format!("{event_type} {error}: {event}"));
        }
        match &message.type_attribute {
            Some((data_type, Some(value))) if data_type == "String" && *value == event_type => {}
            other => problems.push(format!(
                "{event_type}: the message attribute `type` is {other:?}, not the String {event_type:?}: {event}"
            )),
        }
        // Copies of one event (same eventId) are the same event.
        let identity = (
            event_type.clone(),
            event["orderId"].as_str().unwrap_or_default().to_owned(),
            event["userId"].as_str().unwrap_or_default().to_owned(),
        );
        let id = event["eventId"].as_str().unwrap_or_default().to_owned();
        if let Some(first) = by_id.get(&id) {
            if *first != identity {
                problems.push(format!(
                    "eventId {id} stands for two events: (type, orderId, userId) {first:?} and {identity:?}"
                ));
            }
        } else {
            by_id.insert(id, identity);
        }
    }

    // The driven orders: exactly the expected types, each with the expected envelope and data.
    let seen = seen(messages);
    for e in expected {
        let order_id: order_lambda::order::OrderId = e.order_id.parse().expect("order id");
        let wanted: HashSet<&str> = e.events.iter().map(|(t, _)| t.as_str()).collect();
        for (order, event_type) in seen.keys() {
            if *order == e.order_id && !wanted.contains(event_type.as_str()) {
                problems.push(format!(
                    "the {} order {} published an unexpected {event_type}: {:?}",
                    e.path,
                    e.order_id,
                    seen[&(order.clone(), event_type.clone())]
                ));
            }
        }
        // One correlation id for all of the order's events, whoever published them (the API,
        // the steps, the state machine): the one its OrderCreated carries.
        let correlation = seen
            .get(&(e.order_id.clone(), "OrderCreated".to_owned()))
            .and_then(|copies| copies.first())
            .map(|created| created["correlationId"].clone());
        for (t, data) in &e.events {
            let copies = seen
                .get(&(e.order_id.clone(), t.as_str().to_owned()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for event in copies {
                let id = event_id(order_id, *t).to_string();
                if event["eventId"] != id.as_str() {
                    problems.push(format!(
                        "{t} of the {} order: eventId {}, not {id} (events::event_id): {event}",
                        e.path, event["eventId"]
                    ));
                }
                if correlation
                    .as_ref()
                    .is_none_or(|c| event["correlationId"] != *c || c == e.order_id.as_str())
                {
                    problems.push(format!(
                        "{t} of the {} order: correlationId {}, not its OrderCreated's {correlation:?}: {event}",
                        e.path, event["correlationId"]
                    ));
                }
                if event["userId"] != e.user.id.as_str() {
                    problems.push(format!(
                        "{t} of the {} order: userId {}, not the customer {:?}: {event}",
                        e.path, event["userId"], e.user.id
                    ));
                }
                if let Some(data) = data
                    && event["data"] != *data
                {
                    problems.push(format!(
                        "{t} of the {} order: data {}, expected {data}",
                        e.path, event["data"]
                    ));
                }
            }
            // A retried booking may announce a later slot; one copy has the order's own.
            if *t == EventType::DeliveryScheduled && !copies.is_empty() {
                let booked = (
                    parse_time(&e.order["delivery"]["from"]),
                    parse_time(&e.order["delivery"]["to"]),
                );
                let announced: Vec<_> = copies
                    .iter()
                    .map(|c| {
                        (
                            parse_time(&c["data"]["slot"]["from"]),
                            parse_time(&c["data"]["slot"]["to"]),
                        )
                    })
                    .collect();
                if booked.0.is_none() || !announced.contains(&booked) {
                    problems.push(format!(
                        "DeliveryScheduled of the {} order announced {announced:?}, the order has {}",
                        e.path, e.order["delivery"]
                    ));
                }
            }
        }
    }
    problems
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn every_published_event_matches_the_schema_of_its_type() {
    let stack = Stack::connect().await;
    let schemas = Schemas::load();
    let tap = Tap::open(&stack).await;

    // Drive the orders and collect their events; the queue goes away whatever happens.
    let run = AssertUnwindSafe(async {
        let (a, b, c, d, product) = tokio::join!(
            shipped_and_delivered(&stack),
            out_of_stock(&stack),
            payment_declined(&stack),
            cancelled_after_completion(&stack),
            product_changed(&stack),
        );
        let expected = vec![a, b, c, d];
        let mut messages = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            messages.extend(tap.receive(&stack).await);
            let complete = missing(&expected, &messages).is_empty()
                && product_problems(&product, &messages).is_empty();
            if complete || Instant::now() >= deadline {
                break;
            }
        }
        // Late copies and unexpected events: read until the queue stays empty for 3 s.
        let mut quiet = 0;
        while quiet < 3 && Instant::now() < deadline + Duration::from_secs(30) {
            let batch = tap.receive(&stack).await;
            quiet = if batch.is_empty() { quiet + 1 } else { 0 };
            messages.extend(batch);
        }
        (expected, product, messages)
    })
    .catch_unwind()
    .await;
    tap.close(&stack).await;
    let (expected, product, messages) =
        run.unwrap_or_else(|panic| std::panic::resume_unwind(panic));

    let mut counts: BTreeMap<String, usize> = EventType::ALL
        .iter()
        .map(|t| (t.as_str().to_owned(), 0))
        .collect();
    for message in &messages {
        let event: Value = serde_json::from_str(&message.body).unwrap_or_default();
        *counts
            .entry(event["type"].as_str().unwrap_or("(no type)").to_owned())
            .or_default() += 1;
    }
    let ids: HashSet<String> = messages
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(&m.body).ok())
        .filter_map(|e| e["eventId"].as_str().map(str::to_owned))
        .collect();
    println!(
        "received {} messages, {} distinct events: {counts:?}",
        messages.len(),
        ids.len()
    );
    for e in &expected {
        println!("{} order {}", e.path, e.order_id);
    }

    let missing = missing(&expected, &messages);
    assert!(
        missing.is_empty(),
        "not published within 60 s: {}",
        missing.join("; ")
    );
    let product_problems = product_problems(&product, &messages);
    assert!(
        product_problems.is_empty(),
        "the product's events: {}",
        product_problems.join("; ")
    );
    let problems = problems(&schemas, &expected, &messages);
    assert!(
        problems.is_empty(),
        "{} problems with the published events:\n{}",
        problems.len(),
        problems.join("\n")
    );
    for t in EventType::ALL {
        assert!(counts[t.as_str()] > 0, "no {t} received at all");
    }
}
