//! The scheduled cleanup (functions/cleanup, every 5 minutes) and the compensation it shares
//! with the operator's tool (`ordertracker retry`).
//!
//! One run does three jobs, a page of each in turn, until everything is done or its budget
//! (time and items) is spent; what is left waits for the next run, so any backlog drains over
//! several runs and no run times out:
//!
//! - **abandoned carts**: a cart untouched for longer than the cart TTL is emptied (its lines
//!   go, its version moves on so a stale writer never matches it, `expiredAt` records when);
//! - **expired reservations**: an order `RESERVED` for longer than the reservation TTL without
//!   being paid is cancelled with reason `EXPIRED`. First the cancellation is *requested* with the
//!   same conditional write as the customer's cancel (`cancelRequestedAt`, only while the order
//!   is still `RESERVED` since before the cutoff). That write is the decision point: every
//!   forward status write of the saga is conditional on that attribute being absent, so a saga
//!   that got the order to `PAID` first wins (the order is no longer expired and nothing is
//!   written), and a saga still running loses (its next write fails and it compensates itself).
//!   Then the cleanup compensates itself, with the same idempotent steps as the saga (refund,
//!   release, cancel, notify): refund and release happen exactly once, whoever runs them first,
//!   and a step the saga still runs late meets the `VOIDED` marker and fails instead of taking
//!   stock or money for a cancelled order;
//! - **lost sagas**: an order still `PENDING` a while after it was written may have had no saga
//!   (the API crashed between writing the order and starting it): its saga is started under the
//!   order id, which Step Functions treats as the same execution when it exists. An order still
//!   `PENDING` whose execution has ended (it can no longer move) is treated as expired once it
//!   is older than the reservation TTL: a reservation may be held for it;
//! - **timed-out sagas**: an order still `PAID` longer after its creation than the saga can run
//!   (`SAGA_DEADLINE_MINUTES`: the execution timeout and a margin) has a saga that stopped
//!   between the charge and completion: an execution timeout (EXPRESS executions stop at five
//!   minutes, possibly mid-compensation), or an operator's `StopExecution`. It is cancelled with
//!   reason `SAGA_TIMED_OUT` and compensated the same way, so money and stock come back exactly
//!   once even when no execution is left to do it. (A `RESERVED` one is an expired reservation,
//!   above; a `PENDING` one a lost saga.) Should its saga still be running after all (one that
//!   the lost-saga job started late), the cancellation request makes its next forward write
//!   fail and it compensates itself: both compensations are the same idempotent steps.
//!
//! - **unfinished cancellations**: a `COMPLETED` order whose cancellation the customer's
//!   cancel-order accepted (`cancelRequestedAt`) longer ago than the saga can run still holds its
//!   money and stock: its `<id>-cancel` execution stopped (EXPRESS stops at five minutes, inside
//!   RefundPayment's retries) or never started (StartExecution throttled after the request was
//!   recorded). It is compensated the same way and cancelled `USER_CANCELLED`, read from the
//!   sparse `CancelRequested` index, so no run reads the completed orders nobody cancelled.
//!
//! - **unannounced outcomes**: a `COMPLETED` or `CANCELLED` order whose outcome event is still
//!   due longer after the write that settled it than the saga can run: the write marks the event
//!   due (`announceDueAt`, with the status, in the same write) and the announcement, or the
//!   parking of the event in the event DLQ, clears it; an execution stopped in between (EXPRESS
//!   stops at five minutes) or a cleanup run that crashed after cancelling leaves it due. The
//!   event is published with the id every publisher of it uses (`events::event_id`), so one the
//!   execution did publish after all is a duplicate its consumers drop. Read from the sparse
//!   `AnnounceDue` index: an announced order is not in it.
//!   An order fulfilment shipped while its completion was still due stays in the index's
//!   `SHIPPED` partition, which no job reads: its buyer hears of it through `OrderShipped`.
//!
//! Orders the saga finished (`COMPLETED` without a cancellation request, `CANCELLED`) and those
//! fulfilment moved on (`SHIPPED`, `DELIVERED`) are never looked at, except through the sparse
//! index of their due announcements: each job reads only orders in a status the saga has not
//! finished with.
//!
//! Time comes from the scheduled event's `time` (tests pass a fixed one); the budget is measured
//! on the wall clock. DynamoDB TTL (`expiresAt`) is only a backstop: it deletes late and runs no
//! compensation.

use crate::announce::{self, OrderOutcome, Origin};
use crate::audit::ChangedBy;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::events::EventPublisher;
use crate::notification::Outcome;
use crate::order::{Order, OrderStatus};
use crate::page::PageRequest;
use crate::ports::{
    BillingStore, CartSweep, InventoryStore, OrderStore, OrderSweep, SagaStart, SagaStarter,
};
use crate::saga::{self, CompensationInput, SagaInput, StepError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The reason an expired order is cancelled with.
pub const EXPIRED: &str = "EXPIRED";
/// The reason an order the operator's tool compensates is cancelled with (unless the order
/// already carries one).
pub const SAGA_FAILED: &str = "SAGA_FAILED";
/// The reason an order whose saga stopped after the charge is cancelled with.
pub const SAGA_TIMED_OUT: &str = "SAGA_TIMED_OUT";
/// The reason cancel-order records; a completed order's unfinished cancellation ends with it.
pub const USER_CANCELLED: &str = "USER_CANCELLED";

/// Limits, from the function's environment (template.yaml); every one has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupConfig {
    /// `CART_TTL_MINUTES` (30): a cart untouched this long is emptied.
    pub cart_ttl: Duration,
    /// `RESERVATION_TTL_MINUTES` (30): an order reserved this long without payment is cancelled.
    pub reservation_ttl: Duration,
    /// `PENDING_GRACE_MINUTES` (5): an order still `PENDING` this long gets its saga started.
    pub pending_grace: Duration,
    /// `SAGA_DEADLINE_MINUTES` (25): an order still `PAID` this long after its creation has a
    /// saga that stopped (template.yaml: 25 for STANDARD's 20-minute execution timeout, 10 for
    /// EXPRESS's 5 minutes).
    pub saga_deadline: Duration,
    /// `CLEANUP_PAGE_SIZE` (100): items read per query.
    pub page_size: u32,
    /// `CLEANUP_TIME_BUDGET_SECONDS` (60): a run stops starting work after this long; the
    /// function's timeout (template.yaml) leaves room for the item in hand.
    pub time_budget: std::time::Duration,
    /// `CLEANUP_MAX_ITEMS` (unset: no limit): items a run may act on.
    pub max_items: Option<usize>,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            cart_ttl: Duration::minutes(30),
            reservation_ttl: Duration::minutes(30),
            pending_grace: Duration::minutes(5),
            saga_deadline: Duration::minutes(25),
            page_size: 100,
            time_budget: std::time::Duration::from_secs(60),
            max_items: None,
        }
    }
}

impl CleanupConfig {
    /// From variables looked up by name (`order_lambda::config::cleanup` reads the environment);
    /// a malformed value is an error naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            var(name)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{name} must be a positive whole number, not {v:?}"))
                })
                .transpose()
        };
        let minutes = |name: &str, default: Duration| -> Result<Duration, String> {
            Ok(number(name)?
                .map(|m| Duration::minutes(i64::try_from(m).unwrap_or(i64::MAX / 60_000)))
                .unwrap_or(default))
        };
        let defaults = Self::default();
        Ok(Self {
            cart_ttl: minutes("CART_TTL_MINUTES", defaults.cart_ttl)?,
            reservation_ttl: minutes("RESERVATION_TTL_MINUTES", defaults.reservation_ttl)?,
            pending_grace: minutes("PENDING_GRACE_MINUTES", defaults.pending_grace)?,
            saga_deadline: minutes("SAGA_DEADLINE_MINUTES", defaults.saga_deadline)?,
            page_size: number("CLEANUP_PAGE_SIZE")?
                .map(|n| u32::try_from(n.min(1000)).unwrap_or(1000))
                .unwrap_or(defaults.page_size),
            time_budget: number("CLEANUP_TIME_BUDGET_SECONDS")?
                .map(std::time::Duration::from_secs)
                .unwrap_or(defaults.time_budget),
            max_items: number("CLEANUP_MAX_ITEMS")?
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }

    /// These limits, lowered (never raised) by a run's own.
    pub fn limited_by(&self, limits: &RunLimits) -> Self {
        let mut config = self.clone();
        if let Some(ms) = limits.time_budget_ms {
            config.time_budget = config.time_budget.min(std::time::Duration::from_millis(ms));
        }
        if let Some(n) = limits.max_items {
            config.max_items = Some(config.max_items.map_or(n, |m| m.min(n)));
        }
        config
    }
}

/// The scheduled event (EventBridge's `Scheduled Event`); only `time` and `detail` matter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduledEvent {
    /// EventBridge's id of this run's event: the run's correlation id in the logs.
    #[serde(default)]
    pub id: Option<String>,
    /// When the run was scheduled: the cleanup's "now". Absent: the system clock.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// A schedule's (or a test's) own limits; they can only lower the configured ones.
    #[serde(default)]
    pub detail: RunLimits,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunLimits {
    #[serde(default)]
    pub time_budget_ms: Option<u64>,
    #[serde(default)]
    pub max_items: Option<usize>,
}

/// How far a run may go: a deadline on the wall clock and a number of items.
#[derive(Debug)]
pub struct Budget {
    started: Instant,
    limit: std::time::Duration,
    max_items: usize,
    used: usize,
}

impl Budget {
    pub fn new(config: &CleanupConfig) -> Self {
        Self {
            started: Instant::now(),
            limit: config.time_budget,
            max_items: config.max_items.unwrap_or(usize::MAX),
            used: 0,
        }
    }

    pub fn spent(&self) -> bool {
        self.used >= self.max_items || self.started.elapsed() >= self.limit
    }

    fn remaining_items(&self) -> usize {
        self.max_items.saturating_sub(self.used)
    }

    /// Takes one item from the budget; `false` when there is none left.
    fn take(&mut self) -> bool {
        if self.spent() {
            return false;
        }
        self.used += 1;
        true
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartCounts {
    /// Stale carts looked at.
    pub examined: usize,
    /// Emptied by this run.
    pub expired: usize,
    /// Changed by the customer (or expired by a concurrent run) between the read and the write.
    pub skipped: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiryCounts {
    /// Candidates looked at (reserved, pending with an ended saga, or paid with a stopped saga,
    /// before the cutoff).
    pub examined: usize,
    /// Moved to `CANCELLED` by this run.
    pub cancelled: usize,
    /// Payments this run gave back.
    pub refunded: usize,
    /// Reservations this run gave back.
    pub released: usize,
    /// Not expired after all (paid meanwhile, or reserved too recently): nothing written.
    pub not_expired: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCounts {
    /// `PENDING` orders past the grace period looked at.
    pub examined: usize,
    /// Sagas started (or found running: Step Functions answers a start of a running
    /// execution with the same name and input like a new start).
    pub started: usize,
    /// Sagas that had ended with the order still `PENDING` (expired once old enough).
    pub ended: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnounceCounts {
    /// Settled orders found with their outcome event still due.
    pub examined: usize,
    /// Outcome events this run published (and marked announced).
    pub announced: usize,
}

/// What one run did: the function's result, and its last log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    pub now: DateTime<Utc>,
    pub carts: CartCounts,
    pub expired_orders: ExpiryCounts,
    pub recovered_orders: RecoveryCounts,
    /// Orders left `PAID` by a saga that stopped (the timed-out-sagas job).
    pub timed_out_orders: ExpiryCounts,
    /// `COMPLETED` orders whose accepted cancellation never finished (`not_expired`: finished
    /// by its own execution meanwhile).
    pub unfinished_cancellations: ExpiryCounts,
    /// Settled orders whose outcome event was still due (the unannounced-outcomes job).
    pub unannounced_outcomes: AnnounceCounts,
    /// Items that failed (each logged); they are tried again by the next run.
    pub errors: usize,
    /// The first few failures, for the result.
    pub error_samples: Vec<String>,
    /// Every job reached the end of its backlog: nothing is left for the next run.
    pub drained: bool,
    /// The run stopped on its budget (time or items) with work left.
    pub budget_exhausted: bool,
    pub elapsed_ms: u64,
}

impl CleanupReport {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            carts: CartCounts::default(),
            expired_orders: ExpiryCounts::default(),
            recovered_orders: RecoveryCounts::default(),
            timed_out_orders: ExpiryCounts::default(),
            unfinished_cancellations: ExpiryCounts::default(),
            unannounced_outcomes: AnnounceCounts::default(),
            errors: 0,
            error_samples: Vec::new(),
            drained: false,
            budget_exhausted: false,
            elapsed_ms: 0,
        }
    }

    fn failed(&mut self, what: String) {
        tracing::warn!(error = %what, "cleanup item failed; the next run tries again");
        self.errors += 1;
        if self.error_samples.len() < 10 {
            self.error_samples.push(what);
        }
    }
}

/// The ports the cleanup and the compensation act through.
pub struct Ports<'a, O, I, B, S, E> {
    pub orders: &'a O,
    pub inventory: &'a I,
    pub billing: &'a B,
    pub saga: &'a S,
    pub events: &'a E,
}

/// What one compensation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compensation {
    pub refunded: bool,
    pub released: bool,
    /// This call moved the order to `CANCELLED`.
    pub cancelled: bool,
}

/// Gives the order's money and stock back and cancels it: the saga's compensations, with the
/// saga's own idempotent steps (refund-payment's and release-reservation's rules), so each
/// happens exactly once whoever runs it first. The caller has made sure the saga can no longer
/// move the order forward (a cancellation request, or an order whose saga has ended).
pub async fn compensate<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    order: &Order,
    from: &[OrderStatus],
    reason: &str,
) -> Result<Compensation, StepError>
where
    O: OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
{
    let input = || CompensationInput {
        order_id: order.order_id,
    };
    let correlation_id = order.correlation();
    let origin = Origin {
        correlation_id: &correlation_id,
        clock,
    };
    // The cleanup's own compensations are the scheduler's, on the order's correlation id.
    let by = ChangedBy::scheduler(Some(&correlation_id));
    let refunded = announce::refund_payment(ports.billing, ports.events, origin, &by, input())
        .await?
        .refunded;
    let released = saga::release_reservation(ports.inventory, clock, &by, input())
        .await?
        .released;
    let cancelled = ports
        .orders
        .mark_cancelled(order.order_id, from, reason, clock.now())
        .await?;
    // Announced on every call, not only the one that cancelled: an earlier call may have
    // cancelled and then failed to publish. The event's id is the same each time.
    let reason = Some(reason.to_owned());
    announce_settled(ports, origin, order, OrderStatus::Cancelled, reason).await?;
    Ok(Compensation {
        refunded,
        released,
        cancelled,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Expire,
    Recover,
    TimedOut,
    Cancellations,
    /// The outcome events still due of the orders in this status (`COMPLETED`, `CANCELLED`).
    Announce(OrderStatus),
    Carts,
}

struct JobState {
    job: Job,
    cursor: Option<String>,
    done: bool,
}

/// One run: a page of each job in turn until every job is done or the budget is spent.
pub async fn run<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
) -> CleanupReport
where
    O: OrderStore + OrderSweep + CartSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
    S: SagaStarter,
{
    let started = Instant::now();
    let now = clock.now();
    let mut report = CleanupReport::new(now);
    let mut budget = Budget::new(config);
    let jobs = [
        Job::Expire,
        Job::Recover,
        Job::TimedOut,
        Job::Cancellations,
        Job::Announce(OrderStatus::Completed),
        Job::Announce(OrderStatus::Cancelled),
        Job::Carts,
    ];
    let mut jobs = jobs.map(|job| JobState {
        job,
        cursor: None,
        done: false,
    });
    while jobs.iter().any(|j| !j.done) && !budget.spent() {
        for state in jobs.iter_mut().filter(|j| !j.done) {
            if budget.spent() {
                break;
            }
            let limit = u32::try_from(budget.remaining_items().min(config.page_size as usize))
                .unwrap_or(config.page_size)
                .max(1);
            let page = PageRequest {
                limit,
                cursor: state.cursor.take(),
            };
            let next = match state.job {
                Job::Expire => {
                    let sweep = Sweep::Expired;
                    sweep_page(ports, clock, config, &page, &mut budget, &mut report, sweep).await
                }
                Job::Recover => {
                    recover_page(ports, clock, config, &page, &mut budget, &mut report).await
                }
                Job::TimedOut => {
                    let sweep = Sweep::TimedOut;
                    sweep_page(ports, clock, config, &page, &mut budget, &mut report, sweep).await
                }
                Job::Cancellations => {
                    cancellations_page(ports, clock, config, &page, &mut budget, &mut report).await
                }
                Job::Announce(status) => {
                    let (budget, report) = (&mut budget, &mut report);
                    announcements_page(ports, clock, config, &page, budget, report, status).await
                }
                Job::Carts => {
                    carts_page(ports, clock, config, &page, &mut budget, &mut report).await
                }
            };
            match next {
                Ok(PageEnd::Next(cursor)) => state.cursor = Some(cursor),
                Ok(PageEnd::Last) => state.done = true,
                Ok(PageEnd::Interrupted) => {}
                Err(e) => {
                    // A query that fails ends this job for the run; the next run starts over.
                    report.failed(format!("{:?} query: {e}", state.job));
                    state.done = true;
                }
            }
        }
    }
    report.drained = jobs.iter().all(|j| j.done);
    report.budget_exhausted = !report.drained;
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

enum PageEnd {
    Next(String),
    Last,
    /// The budget ran out inside the page.
    Interrupted,
}

fn page_end(next_cursor: Option<String>, interrupted: bool) -> PageEnd {
    match (interrupted, next_cursor) {
        (true, _) => PageEnd::Interrupted,
        (false, Some(cursor)) => PageEnd::Next(cursor),
        (false, None) => PageEnd::Last,
    }
}

/// The two ways the cleanup takes an order back: they differ in the reason written, the report
/// counts and the log line, not in what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// A reservation held past its time to live without payment (or a `PENDING` order whose
    /// saga ended), cancelled `EXPIRED`.
    Expired,
    /// An order left `PAID` by a saga that stopped, cancelled `SAGA_TIMED_OUT`.
    TimedOut,
}

impl Sweep {
    /// The status this sweep's job pages through, and its cutoff at `now`.
    fn target(self, config: &CleanupConfig, now: DateTime<Utc>) -> (OrderStatus, DateTime<Utc>) {
        match self {
            Self::Expired => (OrderStatus::Reserved, now - config.reservation_ttl),
            Self::TimedOut => (OrderStatus::Paid, now - config.saga_deadline),
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::Expired => EXPIRED,
            Self::TimedOut => SAGA_TIMED_OUT,
        }
    }

    fn counts(self, report: &mut CleanupReport) -> &mut ExpiryCounts {
        match self {
            Self::Expired => &mut report.expired_orders,
            Self::TimedOut => &mut report.timed_out_orders,
        }
    }

    fn log(self, order: &Order, done: &Compensation) {
        let (order_id, user_id) = (&order.order_id, &order.user_id);
        let (refunded, released, cancelled) = (done.refunded, done.released, done.cancelled);
        match self {
            Self::Expired => tracing::info!(%order_id, %user_id, refunded, released, cancelled,
                "order expired: reservation held past its time to live without payment"),
            Self::TimedOut => tracing::warn!(%order_id, %user_id, refunded, released, cancelled,
                "order cancelled: its saga stopped after the charge (execution timed out or stopped)"),
        }
    }
}

/// A page of the orders in `sweep`'s status since before its cutoff (by creation: a reservation
/// is never older than its order, so this finds every candidate, and the conditional write
/// checks the reservation's own time), each taken back.
async fn sweep_page<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
    page: &PageRequest,
    budget: &mut Budget,
    report: &mut CleanupReport,
    sweep: Sweep,
) -> Result<PageEnd, StoreError>
where
    O: OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
{
    let (status, cutoff) = sweep.target(config, report.now);
    let found = ports.orders.orders_in_status(status, cutoff, page).await?;
    for order in &found.items {
        if !budget.take() {
            return Ok(PageEnd::Interrupted);
        }
        if let Err(e) = take_back(ports, clock, order, status, cutoff, sweep, report).await {
            report.failed(format!(
                "cancelling order {} ({}): {e}",
                order.order_id,
                sweep.reason()
            ));
        }
    }
    Ok(page_end(found.next_cursor, false))
}

/// Cancels and compensates one order that has been in `status` since before `cutoff`, if it
/// still is (when it moved on meanwhile, nothing is written), counting and logging for `sweep`.
async fn take_back<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    order: &Order,
    status: OrderStatus,
    cutoff: DateTime<Utc>,
    sweep: Sweep,
    report: &mut CleanupReport,
) -> Result<(), StepError>
where
    O: OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
{
    let reason = sweep.reason();
    sweep.counts(report).examined += 1;
    let Some(order) = ports
        .orders
        .request_cancellation_for(order.order_id, &[status], Some(cutoff), reason, clock.now())
        .await?
    else {
        sweep.counts(report).not_expired += 1;
        return Ok(());
    };
    let done = compensate(
        ports,
        clock,
        &order,
        &[
            OrderStatus::Pending,
            OrderStatus::Reserved,
            OrderStatus::Paid,
        ],
        reason,
    )
    .await?;
    let counts = sweep.counts(report);
    counts.refunded += usize::from(done.refunded);
    counts.released += usize::from(done.released);
    counts.cancelled += usize::from(done.cancelled);
    sweep.log(&order, &done);
    Ok(())
}

async fn recover_page<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
    page: &PageRequest,
    budget: &mut Budget,
    report: &mut CleanupReport,
) -> Result<PageEnd, StoreError>
where
    O: OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
    S: SagaStarter,
{
    let found = ports
        .orders
        .orders_in_status(
            OrderStatus::Pending,
            report.now - config.pending_grace,
            page,
        )
        .await?;
    let expiry_cutoff = report.now - config.reservation_ttl;
    for order in &found.items {
        if !budget.take() {
            return Ok(PageEnd::Interrupted);
        }
        report.recovered_orders.examined += 1;
        let input = match serde_json::to_string(&SagaInput::for_order(order)) {
            Ok(input) => input,
            Err(e) => {
                report.failed(format!("saga input of order {}: {e}", order.order_id));
                continue;
            }
        };
        // Announced before any saga starts (the API may have crashed before announcing it).
        let correlation_id = order.correlation();
        let origin = Origin {
            correlation_id: &correlation_id,
            clock,
        };
        if let Err(e) = announce::order_created(ports.events, origin, order).await {
            report.failed(format!("announcing order {}: {e}", order.order_id));
            continue;
        }
        match ports.saga.start(order.order_id, &input).await {
            Ok(SagaStart::Started) => {
                report.recovered_orders.started += 1;
                tracing::info!(order_id = %order.order_id, user_id = %order.user_id,
                    "saga started for an order left PENDING");
            }
            Ok(SagaStart::AlreadyStarted) => {
                // The execution exists and has ended, yet the order never left PENDING (it was
                // stopped or timed out): it can only be compensated, once old enough.
                report.recovered_orders.ended += 1;
                if order.created_at < expiry_cutoff
                    && let Err(e) = take_back(
                        ports,
                        clock,
                        order,
                        OrderStatus::Pending,
                        expiry_cutoff,
                        Sweep::Expired,
                        report,
                    )
                    .await
                {
                    report.failed(format!("expiring order {}: {e}", order.order_id));
                }
            }
            Err(e) => report.failed(format!("starting the saga of {}: {e}", order.order_id)),
        }
    }
    Ok(page_end(found.next_cursor, false))
}

/// A page of the `COMPLETED` orders whose cancellation was accepted before the saga deadline
/// and never finished, each compensated and cancelled. The cancellation request is already
/// there, so nothing can move such an order on (shipping requires its absence); a cancel
/// execution still running late runs the same idempotent steps.
async fn cancellations_page<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
    page: &PageRequest,
    budget: &mut Budget,
    report: &mut CleanupReport,
) -> Result<PageEnd, StoreError>
where
    O: OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    E: EventPublisher,
{
    let cutoff = report.now - config.saga_deadline;
    let found = ports.orders.cancellations_unfinished(cutoff, page).await?;
    for order in &found.items {
        if !budget.take() {
            return Ok(PageEnd::Interrupted);
        }
        report.unfinished_cancellations.examined += 1;
        let from = [OrderStatus::Completed];
        match compensate(ports, clock, order, &from, USER_CANCELLED).await {
            Ok(done) => {
                let counts = &mut report.unfinished_cancellations;
                counts.refunded += usize::from(done.refunded);
                counts.released += usize::from(done.released);
                counts.cancelled += usize::from(done.cancelled);
                counts.not_expired += usize::from(!done.cancelled);
                let (order_id, user_id) = (&order.order_id, &order.user_id);
                let (refunded, released, cancelled) =
                    (done.refunded, done.released, done.cancelled);
                tracing::warn!(%order_id, %user_id, refunded, released, cancelled,
                    "accepted cancellation finished: its execution stopped or never started");
            }
            Err(e) => report.failed(format!(
                "finishing the cancellation of order {}: {e}",
                order.order_id
            )),
        }
    }
    Ok(page_end(found.next_cursor, false))
}

/// A page of the orders in `status` whose outcome event is still due since before the saga
/// deadline, each announced and marked announced.
async fn announcements_page<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
    page: &PageRequest,
    budget: &mut Budget,
    report: &mut CleanupReport,
    status: OrderStatus,
) -> Result<PageEnd, StoreError>
where
    O: OrderSweep,
    E: EventPublisher,
{
    let cutoff = report.now - config.saga_deadline;
    let found = ports.orders.announcements_due(status, cutoff, page).await?;
    for order in &found.items {
        if !budget.take() {
            return Ok(PageEnd::Interrupted);
        }
        report.unannounced_outcomes.examined += 1;
        let correlation_id = order.correlation();
        let origin = Origin {
            correlation_id: &correlation_id,
            clock,
        };
        let reason = order.reason.clone();
        match announce_settled(ports, origin, order, status, reason).await {
            Ok(()) => {
                report.unannounced_outcomes.announced += 1;
                let (order_id, user_id) = (&order.order_id, &order.user_id);
                tracing::warn!(%order_id, %user_id, status = status.as_str(),
                    "outcome announced: the execution that settled the order stopped before it");
            }
            Err(e) => report.failed(format!(
                "announcing the outcome of order {}: {e}",
                order.order_id
            )),
        }
    }
    Ok(page_end(found.next_cursor, false))
}

/// Publishes the outcome event of `order`, settled in `status` (`COMPLETED`, or `CANCELLED`
/// for `reason`), then marks it announced. A crash in between leaves it due, and the
/// unannounced-outcomes job publishes it again under the same id.
async fn announce_settled<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    origin: Origin<'_>,
    order: &Order,
    status: OrderStatus,
    reason: Option<String>,
) -> Result<(), StepError>
where
    O: OrderSweep,
    E: EventPublisher,
{
    let outcome = match status {
        OrderStatus::Completed => Outcome::Completed,
        _ => Outcome::Cancelled,
    };
    announce::order_outcome(
        ports.events,
        origin,
        OrderOutcome {
            order_id: order.order_id,
            user_id: order.user_id.clone(),
            outcome,
            reason,
            total: order.total.clone(),
        },
    )
    .await?;
    ports.orders.mark_announced(order.order_id, status).await?;
    Ok(())
}

async fn carts_page<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    config: &CleanupConfig,
    page: &PageRequest,
    budget: &mut Budget,
    report: &mut CleanupReport,
) -> Result<PageEnd, StoreError>
where
    O: CartSweep,
{
    let cutoff = report.now - config.cart_ttl;
    let found = ports.orders.stale_carts(cutoff, page).await?;
    for cart in &found.items {
        if !budget.take() {
            return Ok(PageEnd::Interrupted);
        }
        report.carts.examined += 1;
        match ports.orders.expire_cart(cart, cutoff, clock.now()).await {
            Ok(true) => {
                report.carts.expired += 1;
                tracing::info!(
                    user_id = %cart.user_id,
                    version = cart.version,
                    updated_at = ?cart.updated_at,
                    lines = cart.items.len(),
                    "cart expired: untouched past its time to live; its lines were removed"
                );
            }
            Ok(false) => report.carts.skipped += 1,
            Err(e) => report.failed(format!("expiring the cart of {}: {e}", cart.user_id)),
        }
    }
    Ok(page_end(found.next_cursor, false))
}
