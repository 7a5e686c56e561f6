//! What must hold after every schedule: the promises the end-to-end tests check too
//! (`order_core::invariants`: every order ended or gave up loudly, stock and money conserved
//! exactly, no double charge, a completed order holds its lines and its payment, a cancelled one
//! neither), and those only the simulator sees: how each execution ended, every change in the
//! orders table's stream, what the state machine announced, the deposits each customer was told
//! were made, and the audit trail.

use crate::asl::Outcome;
use crate::cloud::{self, Cloud};
use crate::schedule::{Ended, Report, Shape, initial_stock};
use order_core::billing::EntryType;
use order_core::invariants::{self, World};
use order_core::order::{OrderId, OrderStatus, Sku};
use order_core::ports::OrderStore;
use std::collections::{HashMap, HashSet};

pub type Violation = String;

/// The most states an execution may enter (see `check`).
const MAX_ENTERED: usize = 60;

#[derive(Debug, Default)]
pub struct Checked {
    pub statuses: HashMap<String, usize>,
    pub violations: Vec<Violation>,
}

pub async fn check(
    cloud: &Cloud,
    skus: &[Sku],
    shape: &Shape,
    users: &[String],
    report: &Report,
) -> Result<Checked, String> {
    let ended = &report.ended;
    let mut checked = Checked::default();
    let mut violation = |v: String| checked.violations.push(v);
    let read = |e: order_core::error::StoreError| e.to_string();

    // Executions end as the definition allows: succeeded, failed because a compensation gave
    // up, or stopped leaving the order to the cleanup because it could not be read; an EXPRESS
    // one may also be stopped at its five minutes, its order left to the cleanup. Anything
    // else (a runtime error, a STANDARD timeout) is a hole in the definition.
    for Ended {
        name,
        outcome,
        states,
    } in ended
    {
        // No execution spins: the definition's longest path enters about 20 states (a retry
        // is not a new entry), and a claim that finds the order moved on re-reads it once or
        // twice. More is a loop, which EXPRESS would run for five minutes and STANDARD to its
        // history quota, paying for every transition.
        if states.len() > MAX_ENTERED {
            violation(format!(
                "execution {name} entered {} states, a loop: …{}",
                states.len(),
                states[states.len() - 6..].join(" > ")
            ));
        }
        match outcome {
            Outcome::Succeeded(_) => {}
            Outcome::Failed(e)
                if ["CompensationFailed", "OrderUnread"].contains(&e.error.as_str()) => {}
            Outcome::TimedOut if shape.express_duplicates.is_some() => {}
            other => violation(format!("execution {name} ended {other:?}")),
        }
    }

    // Once its cancellation was requested, an order never moves forward (the status table's
    // guard), read from the orders table's stream: no change from an image with
    // `cancelRequestedAt` to a later forward status. (Not from the timeline's times: a claim
    // writes `$$.State.EnteredTime`, which stays the first attempt's across retries, so it may
    // be earlier than a move another execution made between the attempts.)
    for record in cloud.stream_records(cloud::ORDERS_TABLE)? {
        let change = &record["dynamodb"];
        if change["Keys"]["sk"]["S"] != "ORDER" {
            continue;
        }
        let (old, new) = (&change["OldImage"], &change["NewImage"]);
        let status = |image: &serde_json::Value| image["status"]["S"].as_str().map(str::to_owned);
        let forward = ["RESERVED", "PAID", "COMPLETED"];
        if old["cancelRequestedAt"].is_object()
            && status(new) != status(old)
            && status(new).is_some_and(|s| forward.contains(&s.as_str()))
        {
            violation(format!(
                "order {} moved from {:?} to {:?} after its cancellation was requested at {}",
                change["Keys"]["pk"]["S"],
                status(old),
                status(new),
                old["cancelRequestedAt"]["S"]
            ));
        }
    }

    // The promises the end-to-end tests check too (order_core::invariants).
    let compensation_dlq: HashSet<OrderId> = cloud
        .sent_to(cloud::COMPENSATION_DLQ)
        .iter()
        .filter_map(|m| m["order"]["orderId"].as_str()?.parse().ok())
        .collect();
    let initial = initial_stock(skus, shape);
    let world = World {
        products: skus
            .iter()
            .map(|sku| {
                let start = initial.get(sku).copied().unwrap_or_default()
                    + report.restocked.get(sku).copied().unwrap_or_default();
                (sku.clone(), start)
            })
            .collect(),
        users: users.iter().map(|u| (u.clone(), shape.balance)).collect(),
        orders: report.placed.iter().map(|p| p.order_id).collect(),
        compensation_dlq,
    };
    let shared = invariants::check(&cloud.orders, &cloud.inventory, &cloud.billing, &world)
        .await
        .map_err(read)?;
    shared.violations.iter().cloned().for_each(&mut violation);

    // The operator's redrive of the compensation DLQ finished every compensation that gave up.
    if let Some(count) = shared
        .statuses
        .get("COMPENSATION_FAILED")
        .filter(|n| **n > 0)
    {
        violation(format!(
            "{count} order(s) still COMPENSATION_FAILED after the operator's redrive: {:?}",
            report.redriven
        ));
    }

    // Orders the state machine announced completed (`OrderCompleted` on the topic).
    let announced_completed: HashSet<String> = cloud
        .sent_to(cloud::TOPIC_ARN)
        .iter()
        .filter(|e| e["type"] == "OrderCompleted")
        .filter_map(|e| e["orderId"].as_str().map(str::to_owned))
        .collect();
    for order_id in &world.orders {
        let Some(order) = cloud.orders.get(*order_id).await.map_err(read)? else {
            continue;
        };
        // A completed order is only ever cancelled because its customer asked.
        if order.status == OrderStatus::Cancelled
            && order.cancel_requested_at.is_none()
            && announced_completed.contains(&order_id.to_string())
        {
            violation(format!(
                "order {order_id} was announced completed, then cancelled ({:?}) without a request",
                order.reason
            ));
        }
        // Without faults beyond what the retries absorb (conflicts only), an order is cancelled
        // only for a business reason.
        let business = ["OUT_OF_STOCK", "PAYMENT_DECLINED", "USER_CANCELLED"];
        if order.status == OrderStatus::Cancelled
            && shape.fault_rate == 0.0
            && !order
                .reason
                .as_deref()
                .is_some_and(|r| business.contains(&r))
        {
            violation(format!(
                "order {order_id} was cancelled {:?} though every fault was one its retries absorb",
                order.reason
            ));
        }
    }

    // Each deposit a customer was told was made is in the ledger once.
    for user in users {
        let ledger = invariants::whole_ledger(&cloud.billing, user)
            .await
            .map_err(read)?;
        let deposits: i64 = ledger
            .iter()
            .filter(|e| e.kind == EntryType::Deposit)
            .map(|e| e.amount.amount)
            .sum();
        let told = report.deposited.get(user).copied().unwrap_or_default();
        if deposits != told {
            violation(format!(
                "{user}: deposits of {told} were made, the ledger holds {deposits}"
            ));
        }
    }

    crate::audit::check(cloud, skus, users, &mut violation).await?;
    crate::notify::check(cloud, users, &shared, report, &mut violation).await?;
    crate::products::check(cloud, skus, &report.product_dead_letters, &mut violation).await?;
    checked.statuses = shared.statuses.into_iter().collect();
    Ok(checked)
}
