//! The system's promises, checked from what is stored after a scenario has settled: stock,
//! money, orders and notifications. Every violation is collected, then reported together.

use crate::{Stack, User};
use order_lambda::billing::{EntryType, PaymentStatus};
use order_lambda::events::EventType;
use order_lambda::inventory::ReservationStatus;
use order_lambda::order::{OrderId, Sku};
use order_lambda::page::PageRequest;
use order_lambda::ports::{BillingStore, InventoryStore, NotificationStore};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a scenario set up and did, for the checker to hold the stored state against.
#[derive(Default)]
pub struct Scenario<'a> {
    /// Every product the scenario's orders use, with the stock it started with.
    pub products: Vec<(Sku, i64)>,
    /// Units added (or taken) through `POST /products/{sku}/stock` during the scenario.
    pub restocked: HashMap<Sku, i64>,
    /// Every user, with the balance their account started with (no ledger entry for it).
    pub users: Vec<(&'a User, i64)>,
    /// Every order placed, with its owner.
    pub orders: Vec<(OrderId, &'a User)>,
}

/// How many of each thing the checker looked at, for the scenario's summary line.
#[derive(Debug, Default)]
pub struct Checked {
    pub orders: usize,
    pub statuses: BTreeMap<String, usize>,
    pub products: usize,
    pub accounts: usize,
    pub ledger_entries: usize,
    pub notifications: usize,
    pub dlq_messages: usize,
    pub invariants: usize,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} orders {:?}, {} products, {} accounts, {} ledger entries, {} notifications, {} DLQ messages: {} invariant checks held",
            self.orders,
            self.statuses,
            self.products,
            self.accounts,
            self.ledger_entries,
            self.notifications,
            self.dlq_messages,
            self.invariants
        )
    }
}

struct Checker {
    violations: Vec<String>,
    checks: usize,
}

impl Checker {
    fn check(&mut self, held: bool, violation: impl FnOnce() -> String) {
        self.checks += 1;
        if !held {
            self.violations.push(violation());
        }
    }
}

/// Checks every invariant; panics listing each violation. Call once every order has settled
/// and every saga execution has ended.
pub async fn check(stack: &Stack, scenario: &Scenario<'_>) -> Checked {
    let mut c = Checker {
        violations: Vec::new(),
        checks: 0,
    };
    let mut checked = Checked::default();
    let compensation_dlq = stack.dlq_order_ids("COMPENSATION_DLQ_URL").await;
    checked.dlq_messages = compensation_dlq.len();

    // Orders: terminal, or given up loudly; what each holds matches where it ended.
    let mut held_by_sku: HashMap<Sku, i64> = HashMap::new();
    let mut status_of: HashMap<OrderId, String> = HashMap::new();
    for (order_id, user) in &scenario.orders {
        let (code, order) = stack.get_order(user, &order_id.to_string()).await;
        c.check(code == 200, || {
            format!("order {order_id}: GET answered {code}")
        });
        let status = order["status"].as_str().unwrap_or("?").to_owned();
        *checked.statuses.entry(status.clone()).or_default() += 1;
        // A shipped or delivered order was completed by the saga and holds what a completed one does.
        let status = match status.as_str() {
            "SHIPPED" | "DELIVERED" => "COMPLETED".to_owned(),
            _ => status,
        };
        status_of.insert(*order_id, status.clone());
        checked.orders += 1;
        c.check(
            matches!(status.as_str(), "COMPLETED" | "CANCELLED")
                || (status == "COMPENSATION_FAILED" && compensation_dlq.contains(order_id)),
            || format!("order {order_id} ended {status} (without a DLQ message when failed)"),
        );
        check_reservation(stack, &mut c, *order_id, &status, &order, &mut held_by_sku).await;
        check_payment(stack, &mut c, *order_id, &status, &order).await;
    }

    // Stock: nothing created or lost, never negative, reservations add up.
    for (sku, initial) in &scenario.products {
        let (available, reserved) = stack.stock(sku).await;
        let restocked = scenario.restocked.get(sku).copied().unwrap_or(0);
        checked.products += 1;
        c.check(available >= 0 && reserved >= 0, || {
            format!("{sku}: available {available}, reserved {reserved}: negative")
        });
        c.check(initial + restocked == available + reserved, || {
            format!(
                "{sku}: {initial} initial + {restocked} restocked != {available} available + {reserved} reserved"
            )
        });
        let held = held_by_sku.get(sku).copied().unwrap_or(0);
        c.check(reserved == held, || {
            format!("{sku}: product says {reserved} reserved, held reservations add up to {held}")
        });
    }

    // Money: every account's ledger explains its balance; at most one charge and one refund
    // per order, a refund only after a charge, a standing charge only for a completed order.
    for (user, initial) in &scenario.users {
        let Some(account) = stack.billing.account(&user.id).await.expect("read account") else {
            continue;
        };
        checked.accounts += 1;
        let ledger = full_ledger(stack, &user.id).await;
        checked.ledger_entries += ledger.len();
        let mut sum = *initial;
        let mut per_order: HashMap<OrderId, (usize, usize)> = HashMap::new();
        for entry in &ledger {
            match entry.kind {
                EntryType::Deposit => sum += entry.amount.amount,
                EntryType::Charge => sum -= entry.amount.amount,
                EntryType::Refund => sum += entry.amount.amount,
            }
            if let Some(order_id) = entry.order_id {
                let counts = per_order.entry(order_id).or_default();
                match entry.kind {
                    EntryType::Charge => counts.0 += 1,
                    EntryType::Refund => counts.1 += 1,
                    EntryType::Deposit => {}
                }
            }
        }
        c.check(sum == account.balance, || {
            format!(
                "{}: initial {initial} + ledger = {sum}, but the balance is {}",
                user.id, account.balance
            )
        });
        c.check(account.balance >= 0, || {
            format!("{}: balance {} < 0", user.id, account.balance)
        });
        for (order_id, (charges, refunds)) in per_order {
            let status = status_of.get(&order_id).map(String::as_str).unwrap_or("?");
            c.check(charges <= 1 && refunds <= charges, || {
                format!("order {order_id}: {charges} charges, {refunds} refunds")
            });
            c.check(
                status != "COMPLETED" || (charges == 1 && refunds == 0),
                || format!("completed order {order_id}: {charges} charges, {refunds} refunds"),
            );
            c.check(status != "CANCELLED" || charges == refunds, || {
                format!("cancelled order {order_id}: {charges} charges, {refunds} refunds")
            });
        }
    }

    // Notifications: the buyer's inbox has one notice of each terminal order's outcome, or its
    // event is dead-lettered (unpublished: EventDlq; undeliverable: NotifyDlq). The notify
    // function reads the events queue after the saga, so the notices are waited for.
    let expected = |status: &str| match status {
        "COMPLETED" => Some(EventType::OrderCompleted),
        "CANCELLED" => Some(EventType::OrderCancelled),
        _ => None,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (sent, dead_letters) = loop {
        let dead_letters: HashSet<OrderId> = stack
            .dlq_order_ids("EVENT_DLQ_URL")
            .await
            .union(&stack.dlq_order_ids("NOTIFY_DLQ_URL").await)
            .copied()
            .collect();
        let mut sent: HashMap<(OrderId, EventType), usize> = HashMap::new();
        let mut users_seen = HashSet::new();
        for (_, user) in &scenario.orders {
            if users_seen.insert(user.id.clone()) {
                let notices = stack
                    .notifications
                    .for_user(&user.id)
                    .await
                    .expect("read notifications");
                for n in notices.iter().filter(|n| is_inbox(n)) {
                    *sent.entry((n.order_id, n.event_type)).or_default() += 1;
                }
            }
        }
        let all_there = status_of.iter().all(|(order_id, status)| {
            expected(status).is_none_or(|t| {
                sent.contains_key(&(*order_id, t)) || dead_letters.contains(order_id)
            })
        });
        if all_there || std::time::Instant::now() >= deadline {
            break (sent, dead_letters);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    checked.dlq_messages += dead_letters.len();
    checked.notifications = sent.values().sum();
    for (order_id, status) in &status_of {
        let completed = sent
            .get(&(*order_id, EventType::OrderCompleted))
            .copied()
            .unwrap_or(0);
        let cancelled = sent
            .get(&(*order_id, EventType::OrderCancelled))
            .copied()
            .unwrap_or(0);
        let dead_lettered = dead_letters.contains(order_id);
        match status.as_str() {
            "COMPLETED" => c.check(
                (completed == 1 || (completed == 0 && dead_lettered)) && cancelled == 0,
                || format!("completed order {order_id}: {completed} completion, {cancelled} cancellation notices"),
            ),
            // A customer's cancellation of a completed order follows its completion notice.
            "CANCELLED" => c.check(
                (cancelled == 1 || (cancelled == 0 && dead_lettered)) && completed <= 1,
                || format!("cancelled order {order_id}: {cancelled} cancellation, {completed} completion notices"),
            ),
            _ => {}
        }
    }

    checked.invariants = c.checks;
    assert!(
        c.violations.is_empty(),
        "{} invariant violations:\n  {}",
        c.violations.len(),
        c.violations.join("\n  ")
    );
    checked
}

/// A completed order holds exactly its lines; any other settled order holds nothing.
async fn check_reservation(
    stack: &Stack,
    c: &mut Checker,
    order_id: OrderId,
    status: &str,
    order: &Value,
    held_by_sku: &mut HashMap<Sku, i64>,
) {
    let reservation = stack
        .inventory
        .reservation(order_id)
        .await
        .expect("read reservation");
    let held = reservation
        .as_ref()
        .filter(|r| r.status == ReservationStatus::Held);
    if let Some(r) = held {
        for line in &r.lines {
            *held_by_sku.entry(line.sku.clone()).or_default() += i64::from(line.quantity);
        }
    }
    match status {
        "COMPLETED" => {
            let ordered: Vec<(String, u64)> = order["lines"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .map(|l| {
                            (
                                l["sku"].as_str().unwrap_or("").to_owned(),
                                l["quantity"].as_u64().unwrap_or(0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let holds: Vec<(String, u64)> = held
                .map(|r| {
                    r.lines
                        .iter()
                        .map(|l| (l.sku.to_string(), u64::from(l.quantity)))
                        .collect()
                })
                .unwrap_or_default();
            c.check(sorted(ordered.clone()) == sorted(holds.clone()), || {
                format!("completed order {order_id} holds {holds:?}, ordered {ordered:?}")
            });
        }
        "CANCELLED" => c.check(held.is_none(), || {
            format!("cancelled order {order_id} still holds stock")
        }),
        _ => {}
    }
}

/// A completed order's payment is charged for its total; a cancelled one's is not standing.
async fn check_payment(
    stack: &Stack,
    c: &mut Checker,
    order_id: OrderId,
    status: &str,
    order: &Value,
) {
    let payment = stack.billing.payment(order_id).await.expect("read payment");
    match status {
        "COMPLETED" => c.check(
            payment.as_ref().is_some_and(|p| {
                p.status == PaymentStatus::Charged
                    && Some(p.amount.amount) == order["total"]["amount"].as_i64()
            }),
            || {
                format!(
                    "completed order {order_id}: payment {payment:?}, total {}",
                    order["total"]
                )
            },
        ),
        "CANCELLED" => c.check(
            payment
                .as_ref()
                .is_none_or(|p| p.status != PaymentStatus::Charged),
            || format!("cancelled order {order_id}: payment still charged {payment:?}"),
        ),
        _ => {}
    }
}

async fn full_ledger(stack: &Stack, user_id: &str) -> Vec<order_lambda::billing::LedgerEntry> {
    let mut entries = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = stack
            .billing
            .ledger(user_id, &page)
            .await
            .expect("read ledger");
        entries.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return entries,
        }
    }
}

fn sorted(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
    v.sort();
    v
}

/// The in-app channel every buyer has, profile or not.
fn is_inbox(notification: &order_lambda::notification::Notification) -> bool {
    serde_json::to_value(notification).is_ok_and(|n| n["channel"] == "inbox")
}
