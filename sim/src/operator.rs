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

/// Retries the order of every message in the compensation DLQ, in the order they were sent;
/// each order with what its retry did (or why it failed).
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
    for message in cloud.sent_to(cloud::COMPENSATION_DLQ) {
        let Some(order_id) = message["order"]["orderId"]
            .as_str()
            .and_then(|id| id.parse::<OrderId>().ok())
        else {
            continue;
        };
        let done = match ports.orders.get(order_id).await {
            Ok(Some(order)) => {
                let executions = if express {
                    Executions::Unknown
                } else {
                    Executions::Known(executions_of(ended, order_id))
                };
                let plan = ops::plan(&order, &executions, now, saga_deadline);
                match ops::carry_out(ports, &cloud.clock, &order, plan, express, saga_deadline)
                    .await
                {
                    Ok(outcome) => outcome.action,
                    Err(Failure::Usage(e) | Failure::Failed(e)) => format!("failed: {e}"),
                }
            }
            Ok(None) => "failed: no such order".to_owned(),
            Err(e) => format!("failed: reading the order: {e}"),
        };
        redriven.push((order_id, done));
    }
    redriven
}

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
