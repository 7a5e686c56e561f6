//! What must hold after every schedule, read from the stores: every order ended (or gave up
//! loudly, with a message in the compensation DLQ), stock and money conserved exactly, no
//! double charge, a completed order holds its lines and its payment, a cancelled one neither.

use crate::asl::Outcome;
use crate::cloud::{self, Cloud};
use crate::schedule::{Ended, Report, Shape, initial_stock};
use order_core::billing::{EntryType, PaymentStatus};
use order_core::inventory::ReservationStatus;
use order_core::order::{OrderId, OrderStatus, Sku};
use order_core::page::PageRequest;
use order_core::ports::{BillingStore, InventoryStore, OrderStore};
use std::collections::HashMap;

pub type Violation = String;

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
    for Ended { name, outcome, .. } in ended {
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

    let dlq: Vec<String> = cloud
        .sent_to(cloud::COMPENSATION_DLQ)
        .iter()
        .filter_map(|m| m["order"]["orderId"].as_str().map(str::to_owned))
        .collect();
    // Orders the state machine announced completed (`OrderCompleted` on the topic).
    let announced_completed: Vec<String> = cloud
        .sent_to(cloud::TOPIC_ARN)
        .iter()
        .filter(|e| e["type"] == "OrderCompleted")
        .filter_map(|e| e["orderId"].as_str().map(str::to_owned))
        .collect();
    let mut held_by_sku: HashMap<Sku, i64> = HashMap::new();
    let mut status_of = HashMap::new();
    for order_id in report.placed.iter().map(|p| &p.order_id) {
        let order = cloud
            .orders
            .get(*order_id)
            .await
            .map_err(read)?
            .ok_or_else(|| format!("order {order_id} is gone"))?;
        *checked
            .statuses
            .entry(order.status.as_str().to_owned())
            .or_default() += 1;
        status_of.insert(*order_id, order.status);
        let ended = matches!(
            order.status,
            OrderStatus::Completed | OrderStatus::Cancelled
        ) || (order.status == OrderStatus::CompensationFailed
            && dlq.contains(&order_id.to_string()));
        if !ended {
            violation(format!(
                "order {order_id} ended {} (without a DLQ message when failed)",
                order.status.as_str()
            ));
        }
        // A cancellation the customer was told was accepted ends the order cancelled (or given
        // up loudly), whatever the saga was doing.
        if order.cancel_requested_at.is_some()
            && !matches!(
                order.status,
                OrderStatus::Cancelled | OrderStatus::CompensationFailed
            )
        {
            violation(format!(
                "order {order_id}: its cancellation was accepted, but it ended {}",
                order.status.as_str()
            ));
        }
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
        let reservation = cloud.inventory.reservation(*order_id).await.map_err(read)?;
        let held = reservation
            .as_ref()
            .filter(|r| r.status == ReservationStatus::Held);
        for line in held.iter().flat_map(|r| &r.lines) {
            *held_by_sku.entry(line.sku.clone()).or_default() += i64::from(line.quantity);
        }
        let payment = cloud.billing.payment(*order_id).await.map_err(read)?;
        let charged = payment
            .as_ref()
            .filter(|p| p.status == PaymentStatus::Charged);
        match order.status {
            OrderStatus::Completed => {
                let mut ordered: Vec<_> = order
                    .lines
                    .iter()
                    .map(|l| (l.sku.clone(), l.quantity))
                    .collect();
                let mut holds: Vec<_> = held
                    .iter()
                    .flat_map(|r| &r.lines)
                    .map(|l| (l.sku.clone(), l.quantity))
                    .collect();
                ordered.sort();
                holds.sort();
                if ordered != holds {
                    violation(format!(
                        "completed order {order_id} holds {holds:?}, ordered {ordered:?}"
                    ));
                }
                if charged.is_none_or(|p| p.amount != order.total) {
                    violation(format!(
                        "completed order {order_id}: payment {payment:?}, total {}",
                        order.total
                    ));
                }
            }
            OrderStatus::Cancelled => {
                // Without faults beyond what the retries absorb (conflicts only), an order is
                // cancelled only for a business reason.
                let business = ["OUT_OF_STOCK", "PAYMENT_DECLINED", "USER_CANCELLED"];
                if shape.fault_rate == 0.0
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
                if held.is_some() {
                    violation(format!("cancelled order {order_id} still holds stock"));
                }
                if charged.is_some() {
                    violation(format!("cancelled order {order_id} is still charged"));
                }
            }
            _ => {}
        }
    }

    let initial = initial_stock(skus, shape);
    for sku in skus {
        let product = cloud
            .inventory
            .stock(sku)
            .await
            .map_err(read)?
            .ok_or_else(|| format!("product {sku} is gone"))?;
        let start = initial.get(sku).copied().unwrap_or_default()
            + report.restocked.get(sku).copied().unwrap_or_default();
        if product.available < 0 || product.reserved < 0 {
            violation(format!(
                "{sku}: available {}, reserved {}",
                product.available, product.reserved
            ));
        }
        if product.available + product.reserved != start {
            violation(format!(
                "{sku}: {start} at the start, {} available + {} reserved now",
                product.available, product.reserved
            ));
        }
        let held = held_by_sku.get(sku).copied().unwrap_or_default();
        if product.reserved != held {
            violation(format!(
                "{sku}: {} reserved, held reservations add up to {held}",
                product.reserved
            ));
        }
    }

    for user in users {
        let account = cloud
            .billing
            .account(user)
            .await
            .map_err(read)?
            .ok_or_else(|| format!("account {user} is gone"))?;
        let mut entries = Vec::new();
        let mut page = PageRequest::first(100);
        loop {
            let got = cloud.billing.ledger(user, &page).await.map_err(read)?;
            entries.extend(got.items);
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let mut balance = shape.balance;
        let mut deposits = 0;
        let mut per_order: HashMap<OrderId, (u32, u32)> = HashMap::new();
        for entry in &entries {
            let counts = entry.order_id.map(|o| per_order.entry(o).or_default());
            match entry.kind {
                EntryType::Deposit => {
                    balance += entry.amount.amount;
                    deposits += entry.amount.amount;
                }
                EntryType::Charge => {
                    balance -= entry.amount.amount;
                    counts.into_iter().for_each(|c| c.0 += 1);
                }
                EntryType::Refund => {
                    balance += entry.amount.amount;
                    counts.into_iter().for_each(|c| c.1 += 1);
                }
            }
        }
        if balance != account.balance || account.balance < 0 {
            violation(format!(
                "{user}: the ledger says {balance}, the account {}",
                account.balance
            ));
        }
        // Each deposit the customer was told was made is in the ledger once.
        let told = report.deposited.get(user).copied().unwrap_or_default();
        if deposits != told {
            violation(format!(
                "{user}: deposits of {told} were made, the ledger holds {deposits}"
            ));
        }
        for (order_id, (charges, refunds)) in per_order {
            let status = status_of.get(&order_id).copied();
            let fine = charges <= 1
                && refunds <= charges
                && (status != Some(OrderStatus::Completed) || (charges, refunds) == (1, 0))
                && (status != Some(OrderStatus::Cancelled) || charges == refunds);
            if !fine {
                violation(format!(
                    "order {order_id} ({status:?}): {charges} charges, {refunds} refunds"
                ));
            }
        }
    }
    crate::audit::check(cloud, skus, users, &mut violation).await?;
    Ok(checked)
}
