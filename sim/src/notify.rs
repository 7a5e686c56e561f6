//! The notify function in process: what reaches the domain events topic (the state machine's
//! publishes and the steps' events) fans out to NotifyQueue when it passes the subscription's
//! filter policy (template.yaml: raw delivery, on the `type` attribute), and the function's
//! handler (`order_lambda::notify_queue::handle_batch`) takes the queue in batches of 10, as
//! its event source mapping does: at least once (a batch is sometimes delivered again), a
//! record the answer names comes back after its visibility timeout, and one received
//! `maxReceiveCount` times moves to NotifyDlq, which the operator redrives once. Then every
//! settled order's outcome must be in its buyer's inbox exactly once, or dead-lettered.

use crate::cloud::{self, Cloud};
use crate::queue::Queue;
use crate::schedule::Report;
use order_adapters::dynamodb::{DynamoNotifications, DynamoProfiles};
use order_core::events::EventType;
use order_core::invariants::Checked;
use order_core::order::{OrderId, OrderStatus};
use order_core::ports::NotificationStore;
use order_lambda::faults::{Fault, MemoryFaults};
use order_lambda::notify_queue;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// NotifyQueue's subscription filter policy (template.yaml, `NotifySubscription`).
pub const FILTER: [&str; 5] = [
    "OrderCompleted",
    "OrderCancelled",
    "OrderShipped",
    "OrderDelivered",
    "RefundIssued",
];
/// NotifyQueue: the notify function's `BatchSize`, the queue's `RedrivePolicy.maxReceiveCount`.
const NOTIFY_QUEUE: Queue = Queue {
    name: "NotifyQueue",
    batch: 10,
    max_receives: 3,
};

/// What the delivery did.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    pub messages: usize,
    pub receives: usize,
    /// Messages the operator moved back from NotifyDlq (`make redrive`), once.
    pub redriven: usize,
    /// Orders whose message is still in NotifyDlq after the redrive.
    pub dead_lettered: HashSet<String>,
}

/// Fans the topic's messages out to the queue and lets the notify handler consume it, with
/// faults planned for some buyers (a transient failure, or a crash after the write); then the
/// operator redrives NotifyDlq once and the handler consumes what comes back.
pub async fn deliver(
    cloud: &Cloud,
    users: &[String],
    rng: &mut ChaCha8Rng,
) -> Result<Delivered, String> {
    order_lambda::metrics::silence();
    let messages: Vec<Value> = cloud
        .topic_messages()
        .into_iter()
        .filter(|(attribute, _)| FILTER.contains(&attribute.as_str()))
        .map(|(_, body)| body)
        .collect();
    let faults = MemoryFaults::default();
    for user in users {
        let plan = (0..rng.random_range(0..=4))
            .map(|_| {
                if rng.random_bool(0.5) {
                    Fault::Transient
                } else {
                    Fault::CrashAfterWrite
                }
            })
            .collect();
        faults.plan(notify_queue::STEP, user, plan);
    }
    let consumer = Consumer {
        profiles: DynamoProfiles::new(cloud.client.clone(), cloud::USERS_TABLE),
        notifier: DynamoNotifications::new(cloud.client.clone(), cloud::NOTIFICATIONS_TABLE),
        faults,
        cloud,
    };
    let mut delivered = Delivered {
        messages: messages.len(),
        ..Delivered::default()
    };
    let dead = consumer.consume(messages, rng, &mut delivered).await?;
    delivered.redriven = dead.len();
    for body in consumer.consume(dead, rng, &mut delivered).await? {
        if let Some(order) = body["orderId"].as_str() {
            delivered.dead_lettered.insert(order.to_owned());
        }
    }
    Ok(delivered)
}

struct Consumer<'a> {
    profiles: DynamoProfiles,
    notifier: DynamoNotifications,
    faults: MemoryFaults,
    cloud: &'a Cloud,
}

impl Consumer<'_> {
    /// Consumes `messages` until the queue is empty; returns what went to the DLQ.
    async fn consume(
        &self,
        messages: Vec<Value>,
        rng: &mut ChaCha8Rng,
        delivered: &mut Delivered,
    ) -> Result<Vec<Value>, String> {
        NOTIFY_QUEUE
            .drain(messages, rng, &mut delivered.receives, |event| {
                notify_queue::handle_batch(
                    event,
                    &self.profiles,
                    &self.notifier,
                    &self.faults,
                    &self.cloud.clock,
                    None,
                )
            })
            .await
    }
}

/// Every settled order's outcome is in its buyer's inbox once (or its message was dead-lettered,
/// or never published: the event DLQ), and no notification of any event and channel is there
/// twice. An order settled by an execution that stopped before announcing it (EXPRESS's five
/// minutes) counts too: the cleanup announces what the settling write left due.
pub async fn check(
    cloud: &Cloud,
    users: &[String],
    settled: &Checked,
    report: &Report,
    violation: &mut impl FnMut(String),
) -> Result<(), String> {
    let delivered = &report.notify;
    let announced: HashSet<String> = cloud
        .topic_messages()
        .into_iter()
        .filter(|(t, _)| t == "OrderCompleted" || t == "OrderCancelled")
        .filter_map(|(_, body)| body["orderId"].as_str().map(str::to_owned))
        .collect();
    let notifications = DynamoNotifications::new(cloud.client.clone(), cloud::NOTIFICATIONS_TABLE);
    let parked: HashSet<String> = cloud
        .sent_to(cloud::EVENT_DLQ)
        .iter()
        .filter_map(|m| m["event"]["orderId"].as_str().map(str::to_owned))
        .collect();
    let mut per: HashMap<(OrderId, EventType, String), usize> = HashMap::new();
    for user in users {
        for n in notifications
            .for_user(user)
            .await
            .map_err(|e| e.to_string())?
        {
            let channel = serde_json::to_value(&n)
                .ok()
                .and_then(|v| v["channel"].as_str().map(str::to_owned))
                .unwrap_or_default();
            *per.entry((n.order_id, n.event_type, channel)).or_default() += 1;
        }
    }
    for ((order_id, event, channel), count) in &per {
        if *count > 1 {
            violation(format!(
                "order {order_id}: {count} {event:?} notifications on {channel}"
            ));
        }
    }
    for (order_id, status) in &settled.settled {
        let expected = match status {
            OrderStatus::Completed => EventType::OrderCompleted,
            OrderStatus::Cancelled => EventType::OrderCancelled,
            _ => continue,
        };
        let id = order_id.to_string();
        let inbox = per
            .get(&(*order_id, expected, "inbox".to_owned()))
            .copied()
            .unwrap_or_default();
        if inbox == 0 && !delivered.dead_lettered.contains(&id) && !parked.contains(&id) {
            let published = if announced.contains(&id) {
                "published"
            } else {
                "never published"
            };
            violation(format!(
                "{} order {order_id}: no {expected:?} in its buyer's inbox ({published}), \
                 nothing dead-lettered",
                status.as_str()
            ));
        }
    }
    Ok(())
}
