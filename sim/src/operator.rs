//! The operator, once the schedule is over: `ordertracker dlq redrive` of the compensation DLQ,
//! which retries the order of each dead letter as `ordertracker retry` does, with the tool's own
//! rule (`ordertracker::ops::plan`) and actions (`ordertracker::ops::carry_out`) on the
//! simulator's cloud. The executions the rule is told of are the schedule's, as
//! DescribeExecution would give them (STANDARD); under EXPRESS none can be looked up.

use crate::asl::{Execution, Outcome};
use crate::cloud::{self, Cloud};
use chrono::{DateTime, Duration, Utc};
use order_core::cleanup::Ports;
use order_core::events::EventPublisher;
use order_core::order::OrderId;
use order_core::ports::{BillingStore, InventoryStore, OrderStore, OrderSweep, SagaStarter};
use ordertracker::history;
use ordertracker::ops::{self, Executions, Failure};

/// Retries the order of every message in the compensation DLQ, in the order they were sent, and
/// again those that failed; each retry with what it did (or why it failed).
pub async fn redrive<O, I, B, S, E>(
    cloud: &Cloud,
    ports: &Ports<'_, O, I, B, S, E>,
    ended: &[Execution<'_>],
    express: bool,
    now: DateTime<Utc>,
    saga_deadline: Duration,
) -> Vec<(OrderId, String)>
where
    O: OrderStore + OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    S: SagaStarter,
    E: EventPublisher,
{
    cloud.clock.set(now);
    let mut redriven = Vec::new();
    // A message whose replay fails stays in the queue, and the operator, told how many failed,
    // redrives again (a transaction conflict clears on a retry).
    let mut waiting: Vec<OrderId> = cloud
        .sent_to(cloud::COMPENSATION_DLQ)
        .iter()
        .filter_map(|m| m["order"]["orderId"].as_str()?.parse().ok())
        .collect();
    for _ in 0..REDRIVES {
        if waiting.is_empty() {
            break;
        }
        let mut failed = Vec::new();
        for order_id in waiting {
            // `ordertracker retry <order_id>`: what it did, or why it failed.
            let done = async {
                let order = ports
                    .orders
                    .get(order_id)
                    .await
                    .map_err(|e| format!("reading the order: {e}"))?
                    .ok_or("no such order")?;
                let executions = if express {
                    Executions::Unknown
                } else {
                    Executions::Known(executions_of(ended, order_id))
                };
                let plan = ops::plan(&order, &executions, now, saga_deadline);
                let clock = &cloud.clock;
                match ops::carry_out(ports, clock, &order, plan, express, saga_deadline).await {
                    Ok(outcome) => Ok(outcome.action),
                    Err(Failure::Usage(e) | Failure::Failed(e)) => Err(e),
                }
            }
            .await;
            if done.is_err() {
                failed.push(order_id);
            }
            redriven.push((order_id, done.unwrap_or_else(|e| format!("failed: {e}"))));
        }
        waiting = failed;
    }
    redriven
}

/// How many times the operator redrives the queue while replays fail: until it is empty, as
/// an operator would, bounded. The simulated DynamoDB cancels a transaction at most twice in a
/// row, and a retry's compensation has two (the refund's and the release's): six passes empty
/// it unless a retry fails for another reason, which the properties then report.
const REDRIVES: usize = 6;

/// The order's executions (its saga, and `<id>-cancel`) as DescribeExecution tells of them.
fn executions_of(ended: &[Execution<'_>], order_id: OrderId) -> Vec<history::Execution> {
    let names = [order_id.to_string(), format!("{order_id}-cancel")];
    ended
        .iter()
        .filter(|e| names.iter().any(|n| n == e.name()))
        .map(|e| history::Execution {
            name: e.name().to_owned(),
            status: match e.outcome() {
                None => "RUNNING",
                Some(Outcome::Succeeded(_)) => "SUCCEEDED",
                Some(Outcome::TimedOut) => "TIMED_OUT",
                Some(Outcome::Failed(_)) => "FAILED",
            }
            .to_owned(),
            start: None,
            stop: None,
            steps: Vec::new(),
            error: None,
            cause: None,
        })
        .collect()
}
