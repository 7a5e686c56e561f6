//! The system's promises about stock, money and orders, checked from what the stores hold once
//! every order has settled. One implementation, read through the ports: the end-to-end tests run
//! it on the local cloud's tables (`tests/src/invariants.rs`) and the simulator on its embedded
//! DynamoDB after every schedule (`sim/src/properties.rs`); each adds the promises only it can
//! see (notifications; executions and streams).

use crate::billing::{EntryType, PaymentStatus};
use crate::error::StoreError;
use crate::inventory::ReservationStatus;
use crate::order::{OrderId, OrderStatus, Sku};
use crate::page::PageRequest;
use crate::ports::{BillingStore, InventoryStore, OrderStore};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a scenario set up and did, for the stored state to be held against.
#[derive(Debug, Default)]
pub struct World {
    /// Every product the orders use, with its units at the start plus those admins added (or
    /// took) since, as they were told.
    pub products: Vec<(Sku, i64)>,
    /// Every user, with the balance the account started with (no ledger entry for it).
    pub users: Vec<(String, i64)>,
    /// Every order placed.
    pub orders: Vec<OrderId>,
    /// The orders with a message in the compensation dead-letter queue.
    pub compensation_dlq: HashSet<OrderId>,
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Orders by status as stored.
    pub statuses: BTreeMap<String, usize>,
    /// Each order's status, shipped and delivered counted as completed (the saga completed them).
    pub settled: HashMap<OrderId, OrderStatus>,
    pub products: usize,
    pub accounts: usize,
    pub ledger_entries: usize,
    /// How many promises were checked, and which were broken.
    pub checks: usize,
    pub violations: Vec<String>,
}

impl Checked {
    fn check(&mut self, held: bool, violation: impl FnOnce() -> String) {
        self.checks += 1;
        if !held {
            self.violations.push(violation());
        }
    }
}

/// Checks every order, product and account of `world`:
/// - every order ended (completed or cancelled), or gave up loudly (COMPENSATION_FAILED with a
///   message in the compensation DLQ); an order whose cancellation was accepted ended cancelled
///   (or gave up loudly);
/// - a completed order holds exactly its lines and is charged its total; a cancelled one holds
///   nothing and is not charged;
/// - stock: never negative, nothing made or lost (`available + reserved` is what it started
///   with plus restocks), `reserved` is what the held reservations add up to;
/// - money: each ledger explains its account's balance, never negative; at most one charge and
///   one refund per order, a refund only after a charge; a completed order charged once and not
///   refunded, a cancelled one refunded if charged.
pub async fn check(
    orders: &impl OrderStore,
    inventory: &impl InventoryStore,
    billing: &impl BillingStore,
    world: &World,
) -> Result<Checked, StoreError> {
    let mut c = Checked::default();
    let mut held_by_sku: HashMap<Sku, i64> = HashMap::new();
    for order_id in &world.orders {
        let Some(order) = orders.get(*order_id).await? else {
            c.check(false, || format!("order {order_id} is gone"));
            continue;
        };
        *c.statuses
            .entry(order.status.as_str().to_owned())
            .or_default() += 1;
        let status = match order.status {
            OrderStatus::Shipped | OrderStatus::Delivered => OrderStatus::Completed,
            other => other,
        };
        c.settled.insert(*order_id, status);
        let given_up_loudly =
            status == OrderStatus::CompensationFailed && world.compensation_dlq.contains(order_id);
        c.check(
            matches!(status, OrderStatus::Completed | OrderStatus::Cancelled) || given_up_loudly,
            || {
                format!(
                    "order {order_id} ended {} (without a DLQ message when failed)",
                    order.status.as_str()
                )
            },
        );
        c.check(
            order.cancel_requested_at.is_none()
                || matches!(
                    status,
                    OrderStatus::Cancelled | OrderStatus::CompensationFailed
                ),
            || {
                format!(
                    "order {order_id}: its cancellation was accepted, but it ended {}",
                    order.status.as_str()
                )
            },
        );

        let reservation = inventory.reservation(*order_id).await?;
        let held = reservation
            .as_ref()
            .filter(|r| r.status == ReservationStatus::Held);
        for line in held.iter().flat_map(|r| &r.lines) {
            *held_by_sku.entry(line.sku.clone()).or_default() += i64::from(line.quantity);
        }
        let payment = billing.payment(*order_id).await?;
        let charged = payment
            .as_ref()
            .filter(|p| p.status == PaymentStatus::Charged);
        match status {
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
                c.check(ordered == holds, || {
                    format!("completed order {order_id} holds {holds:?}, ordered {ordered:?}")
                });
                c.check(charged.is_some_and(|p| p.amount == order.total), || {
                    format!(
                        "completed order {order_id}: payment {payment:?}, total {}",
                        order.total
                    )
                });
            }
            OrderStatus::Cancelled => {
                c.check(held.is_none(), || {
                    format!("cancelled order {order_id} still holds stock")
                });
                c.check(charged.is_none(), || {
                    format!("cancelled order {order_id} is still charged: {payment:?}")
                });
            }
            _ => {}
        }
    }

    for (sku, start) in &world.products {
        let Some(product) = inventory.stock(sku).await? else {
            c.check(false, || format!("product {sku} is gone"));
            continue;
        };
        c.products += 1;
        let (available, reserved) = (product.available, product.reserved);
        c.check(available >= 0 && reserved >= 0, || {
            format!("{sku}: available {available}, reserved {reserved}: negative")
        });
        c.check(available + reserved == *start, || {
            format!(
                "{sku}: {start} at the start and restocked, {available} available + {reserved} reserved now"
            )
        });
        let held = held_by_sku.get(sku).copied().unwrap_or_default();
        c.check(reserved == held, || {
            format!("{sku}: {reserved} reserved, held reservations add up to {held}")
        });
    }

    for (user, initial) in &world.users {
        let Some(account) = billing.account(user).await? else {
            continue;
        };
        c.accounts += 1;
        let ledger = whole_ledger(billing, user).await?;
        c.ledger_entries += ledger.len();
        let mut balance = *initial;
        let mut per_order: HashMap<OrderId, (u32, u32)> = HashMap::new();
        for entry in &ledger {
            let counts = entry.order_id.map(|o| per_order.entry(o).or_default());
            match entry.kind {
                EntryType::Deposit => balance += entry.amount.amount,
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
        c.check(balance == account.balance, || {
            format!(
                "{user}: {initial} at the start + the ledger = {balance}, but the balance is {}",
                account.balance
            )
        });
        c.check(account.balance >= 0, || {
            format!("{user}: balance {} < 0", account.balance)
        });
        for (order_id, (charges, refunds)) in per_order {
            let status = c.settled.get(&order_id).copied();
            c.check(charges <= 1 && refunds <= charges, || {
                format!("order {order_id}: {charges} charges, {refunds} refunds")
            });
            c.check(
                status != Some(OrderStatus::Completed) || (charges, refunds) == (1, 0),
                || format!("completed order {order_id}: {charges} charges, {refunds} refunds"),
            );
            c.check(
                status != Some(OrderStatus::Cancelled) || charges == refunds,
                || format!("cancelled order {order_id}: {charges} charges, {refunds} refunds"),
            );
        }
    }
    Ok(c)
}

/// An account's whole ledger, every page.
pub async fn whole_ledger(
    billing: &impl BillingStore,
    user: &str,
) -> Result<Vec<crate::billing::LedgerEntry>, StoreError> {
    let mut entries = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = billing.ledger(user, &page).await?;
        entries.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(entries),
        }
    }
}
