//! The system's promises, checked from what is stored after a scenario has settled: stock,
//! money, orders and notifications. Every violation is collected, then reported together.

use crate::{Stack, User};
use order_lambda::events::EventType;
use order_lambda::invariants::{self, World};
use order_lambda::order::{OrderId, Sku};
use order_lambda::ports::NotificationStore;
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
/// and every saga execution has ended. Orders, stock and money are the promises the simulator
/// checks too, by the same code (`order_lambda::invariants`); the notifications are this one's.
pub async fn check(stack: &Stack, scenario: &Scenario<'_>) -> Checked {
    let mut c = Checker {
        violations: Vec::new(),
        checks: 0,
    };
    let mut checked = Checked::default();
    let compensation_dlq = stack.dlq_order_ids("COMPENSATION_DLQ_URL").await;
    checked.dlq_messages = compensation_dlq.len();

    // Every order answers its owner through the API.
    for (order_id, user) in &scenario.orders {
        let (code, _) = stack.get_order(user, &order_id.to_string()).await;
        c.check(code == 200, || {
            format!("order {order_id}: GET answered {code}")
        });
    }
    let world = World {
        products: scenario
            .products
            .iter()
            .map(|(sku, initial)| {
                let restocked = scenario.restocked.get(sku).copied().unwrap_or(0);
                (sku.clone(), initial + restocked)
            })
            .collect(),
        users: scenario
            .users
            .iter()
            .map(|(user, initial)| (user.id.clone(), *initial))
            .collect(),
        orders: scenario.orders.iter().map(|(id, _)| *id).collect(),
        compensation_dlq,
    };
    let shared = invariants::check(&stack.orders, &stack.inventory, &stack.billing, &world)
        .await
        .expect("read the stores");
    c.checks += shared.checks;
    c.violations.extend(shared.violations);
    checked.orders = world.orders.len();
    checked.statuses = shared.statuses;
    checked.products = shared.products;
    checked.accounts = shared.accounts;
    checked.ledger_entries = shared.ledger_entries;
    let status_of: HashMap<OrderId, String> = shared
        .settled
        .iter()
        .map(|(id, status)| (*id, status.as_str().to_owned()))
        .collect();

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

/// The in-app channel every buyer has, profile or not.
fn is_inbox(notification: &order_lambda::notification::Notification) -> bool {
    serde_json::to_value(notification).is_ok_and(|n| n["channel"] == "inbox")
}
