//! What each subcommand does, apart from how it is printed.

use crate::history::{self, Execution};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Duration, Utc};
use order_adapters::dynamodb::{
    DynamoAudit, DynamoBilling, DynamoInventory, DynamoNotifications, DynamoOrders,
};
use order_adapters::sfn::StepFunctionsSaga;
use order_adapters::sns::SnsEvents;
use order_core::audit::{AuditEntry, AuditLog};
use order_core::billing::Payment;
use order_core::cleanup::{self, CleanupConfig, Compensation, Ports, SAGA_FAILED};
use order_core::clock::{Clock, SystemClock};
use order_core::events::EventPublisher;
use order_core::inventory::Reservation;
use order_core::notification::Notification;
use order_core::order::{Order, OrderId, OrderStatus};
use order_core::page::PageRequest;
use order_core::ports::{
    BillingStore, InventoryStore, NotificationStore, OrderStore, OrderSweep, SagaStart, SagaStarter,
};
use order_core::saga::SagaInput;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

pub enum Failure {
    /// Bad usage, an unknown order or queue: exit status 2.
    Usage(String),
    /// Anything else: exit status 1.
    Failed(String),
}

fn failed(what: &str) -> impl Fn(String) -> Failure + '_ {
    move |e| Failure::Failed(format!("{what}: {e}"))
}

trait OrFail<T> {
    fn or_fail(self, what: &str) -> Result<T, Failure>;
}

impl<T, E: std::fmt::Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: &str) -> Result<T, Failure> {
        self.map_err(|e| failed(what)(e.to_string()))
    }
}

/// Ages on the command line: `90s`, `15m`, `2h`, `1d` (a bare number is minutes).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not an age like 90s, 15m, 2h or 1d"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "" | "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("'{text}': the unit is s, m, h or d")),
    }
}

/// The saga state machine's type, which decides what can be known of its executions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    Standard,
    /// DescribeExecution and GetExecutionHistory serve no EXPRESS execution (their ARNs are
    /// `…:express:…`, and their history goes to CloudWatch Logs only): whether one exists or
    /// still runs cannot be known here.
    Express,
}

/// What `show` and `stuck` print for an EXPRESS saga's execution.
pub const UNKNOWN_EXPRESS: &str = "unknown (EXPRESS)";

/// An order's executions, as far as they can be known.
#[derive(Debug, Clone)]
pub enum Executions {
    /// STANDARD: those that exist (the saga under the order id, and `<id>-cancel`).
    Known(Vec<Execution>),
    /// EXPRESS: none can be looked up, running or not.
    Unknown,
}

pub struct Context {
    pub orders: DynamoOrders,
    pub inventory: DynamoInventory,
    pub billing: DynamoBilling,
    pub notifications: DynamoNotifications,
    pub saga: StepFunctionsSaga,
    pub events: SnsEvents,
    pub saga_arn: String,
    /// `None` when `AUDIT_TABLE` is not set: `show` says so, `report` refuses.
    pub audit: Option<DynamoAudit>,
    pub sfn: aws_sdk_sfn::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// How long after an order's creation (or its cancellation request) an EXPRESS execution of
    /// it may still be running: `SAGA_DEADLINE_MINUTES` (25), as for the cleanup's timed-out
    /// sagas, or `retry --saga-deadline`.
    pub saga_deadline: Duration,
    /// The state machine's type, described once when first needed.
    workflow: OnceLock<Workflow>,
}

fn var(name: &'static str) -> Result<String, Failure> {
    order_adapters::config::required(name).map_err(|e| {
        Failure::Usage(format!(
            "{e} (ordertracker reads the functions' variables; locally: set -a; source local/.state/dev/env; set +a)"
        ))
    })
}

impl Context {
    pub async fn from_env() -> Result<Self, Failure> {
        let orders = var("ORDERS_TABLE")?;
        let inventory = var("INVENTORY_TABLE")?;
        let billing = var("BILLING_TABLE")?;
        let notifications = var("NOTIFICATIONS_TABLE")?;
        let saga_arn = var("ORDER_SAGA_ARN")?;
        // Only the deadline matters here; the cleanup's other limits are not ordertracker's.
        let saga_deadline = CleanupConfig::from_vars(|name| {
            (name == "SAGA_DEADLINE_MINUTES")
                .then(|| std::env::var(name).ok())
                .flatten()
        })
        .map_err(Failure::Usage)?
        .saga_deadline;
        let aws = order_adapters::config::aws().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let sfn = aws_sdk_sfn::Client::new(&aws);
        Ok(Self {
            orders: DynamoOrders::new(dynamodb.clone(), orders),
            inventory: DynamoInventory::new(dynamodb.clone(), inventory),
            billing: DynamoBilling::new(dynamodb.clone(), billing),
            notifications: DynamoNotifications::new(dynamodb.clone(), notifications),
            saga: StepFunctionsSaga::new(sfn.clone(), saga_arn.clone()),
            events: order_adapters::config::events(&aws)
                .map_err(|e| Failure::Usage(e.to_string()))?,
            saga_arn,
            audit: std::env::var("AUDIT_TABLE")
                .ok()
                .filter(|t| !t.is_empty())
                .map(|table| DynamoAudit::new(dynamodb.clone(), table)),
            sfn,
            sqs: aws_sdk_sqs::Client::new(&aws),
            saga_deadline,
            workflow: OnceLock::new(),
        })
    }

    /// The saga state machine's type (DescribeStateMachine, once).
    pub async fn workflow(&self) -> Result<Workflow, Failure> {
        use aws_sdk_sfn::types::StateMachineType;
        if let Some(workflow) = self.workflow.get() {
            return Ok(*workflow);
        }
        let described = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(&self.saga_arn)
            .send()
            .await
            .map_err(|e| {
                Failure::Failed(format!(
                    "describing the state machine {} (its type decides whether its executions can be looked up): {}",
                    self.saga_arn,
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                ))
            })?;
        let workflow = match described.r#type() {
            StateMachineType::Standard => Workflow::Standard,
            StateMachineType::Express => Workflow::Express,
            other => {
                return Err(Failure::Failed(format!(
                    "the state machine {} has type {}, neither STANDARD nor EXPRESS",
                    self.saga_arn,
                    other.as_str()
                )));
            }
        };
        Ok(*self.workflow.get_or_init(|| workflow))
    }

    fn ports(
        &self,
    ) -> Ports<'_, DynamoOrders, DynamoInventory, DynamoBilling, StepFunctionsSaga, SnsEvents> {
        Ports {
            orders: &self.orders,
            inventory: &self.inventory,
            billing: &self.billing,
            saga: &self.saga,
            events: &self.events,
        }
    }

    fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.saga_arn.replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// The saga execution `name`, with its history; `None` when there is none. STANDARD only:
    /// under EXPRESS, `None` would not mean that there is none.
    async fn execution(&self, name: &str) -> Result<Option<Execution>, Failure> {
        let arn = self.execution_arn(name);
        let described = match self
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(d) => d,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(Failure::Failed(format!(
                    "describing execution {name}: {}",
                    aws_sdk_sfn::error::DisplayErrorContext(&e)
                )));
            }
        };
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(&arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    Failure::Failed(format!(
                        "history of {name}: {}",
                        aws_sdk_sfn::error::DisplayErrorContext(&e)
                    ))
                })?;
            token = page.next_token().map(str::to_owned);
            events.extend(page.events().iter().cloned());
            if token.is_none() {
                break;
            }
        }
        events.sort_by_key(|e| e.id());
        let (steps, failure) = history::steps(&events);
        let (error, cause) = failure.map_or((None, None), |(e, c)| (Some(e), Some(c)));
        Ok(Some(Execution {
            name: name.to_owned(),
            status: described.status().as_str().to_owned(),
            start: Some(history::time(described.start_date())),
            stop: described.stop_date().map(history::time),
            steps,
            error,
            cause,
        }))
    }

    /// The executions an order can have: its saga, and a cancellation of a completed order;
    /// under EXPRESS, unknown (nothing is asked: the answer would be "none" either way).
    async fn executions(&self, order_id: OrderId) -> Result<Executions, Failure> {
        if self.workflow().await? == Workflow::Express {
            return Ok(Executions::Unknown);
        }
        let mut found = Vec::new();
        for name in [order_id.to_string(), format!("{order_id}-cancel")] {
            found.extend(self.execution(&name).await?);
        }
        Ok(Executions::Known(found))
    }
}

fn parse_id(text: &str) -> Result<OrderId, Failure> {
    text.trim()
        .parse::<OrderId>()
        .map_err(|e| Failure::Usage(format!("'{text}' is not an order id: {e}")))
}

async fn order(ctx: &Context, id: OrderId) -> Result<Order, Failure> {
    ctx.orders
        .get(id)
        .await
        .or_fail("reading the order")?
        .ok_or_else(|| Failure::Usage(format!("no order {id}")))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order: Order,
    pub payment: Option<Payment>,
    pub reservation: Option<Reservation>,
    pub notifications: Vec<Notification>,
    pub audit: Vec<AuditEntry>,
    /// Why the audit trail could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_note: Option<String>,
    /// Empty when there is none, and under EXPRESS (see `executions_unknown`).
    pub executions: Vec<Execution>,
    /// Why the executions are not shown: an EXPRESS saga's cannot be looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executions_unknown: Option<String>,
}

pub async fn show(ctx: &Context, id: &str) -> Result<OrderView, Failure> {
    let id = parse_id(id)?;
    let order = order(ctx, id).await?;
    let payment = ctx
        .billing
        .payment(id)
        .await
        .or_fail("reading the payment")?;
    let reservation = ctx
        .inventory
        .reservation(id)
        .await
        .or_fail("reading the reservation")?;
    let notifications = ctx
        .notifications
        .for_user(&order.user_id)
        .await
        .or_fail("reading notifications")?
        .into_iter()
        .filter(|n| n.order_id == id)
        .collect();
    let (audit, audit_note) = audit_trail(ctx, id).await;
    let (executions, executions_unknown) = match ctx.executions(id).await? {
        Executions::Known(found) => (found, None),
        Executions::Unknown => (
            Vec::new(),
            Some(
                "the saga is an EXPRESS workflow: Step Functions cannot describe its executions \
                 or their history (see the state machine's CloudWatch Logs)"
                    .to_owned(),
            ),
        ),
    };
    Ok(OrderView {
        order,
        payment,
        reservation,
        notifications,
        audit,
        audit_note,
        executions,
        executions_unknown,
    })
}

/// The order's audit trail, oldest first, read as `GET /orders/{id}` reads it. A trail that
/// cannot be read does not hide the rest of the order: `show` prints why instead.
async fn audit_trail(ctx: &Context, id: OrderId) -> (Vec<AuditEntry>, Option<String>) {
    let Some(audit) = &ctx.audit else {
        return (Vec::new(), Some("AUDIT_TABLE is not set".into()));
    };
    match audit.trail(id).await {
        Ok(entries) => (entries, None),
        Err(e) => (
            Vec::new(),
            Some(format!("the audit table could not be read: {e}")),
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StuckOrder {
    pub order_id: OrderId,
    pub user_id: String,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub age_minutes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub cancel_requested: bool,
    /// The saga's execution status (`NONE` when it never started; `unknown (EXPRESS)` when
    /// executions cannot be looked up).
    pub execution: String,
    /// Its last step, with the error it failed on.
    pub stopped_at: String,
}

pub async fn stuck(
    ctx: &Context,
    older_than: Duration,
    limit: usize,
) -> Result<Vec<StuckOrder>, Failure> {
    let now = SystemClock.now();
    let before = now - older_than;
    let mut rows = Vec::new();
    // The unfinished statuses (by creation), then COMPLETED orders whose accepted cancellation
    // never finished (by the time it was requested: their `-cancel` execution stopped or never
    // started).
    for status in [
        Some(OrderStatus::Pending),
        Some(OrderStatus::Reserved),
        Some(OrderStatus::Paid),
        Some(OrderStatus::CompensationFailed),
        None,
    ] {
        let mut cursor = None;
        loop {
            if rows.len() >= limit {
                return Ok(rows);
            }
            let page = PageRequest { limit: 100, cursor };
            let found = match status {
                Some(status) => ctx
                    .orders
                    .orders_in_status(status, before, &page)
                    .await
                    .or_fail("listing orders by status")?,
                None => ctx
                    .orders
                    .cancellations_unfinished(before, &page)
                    .await
                    .or_fail("listing completed orders with an unfinished cancellation")?,
            };
            for order in found.items {
                if rows.len() >= limit {
                    break;
                }
                let (execution, stopped_at) = match ctx.executions(order.order_id).await? {
                    Executions::Unknown => (UNKNOWN_EXPRESS.to_owned(), UNKNOWN_EXPRESS.to_owned()),
                    Executions::Known(found) => {
                        let last = found.last();
                        (
                            last.map_or("NONE".into(), |e| format!("{} {}", e.name, e.status)),
                            last.map_or("never started".into(), Execution::stopped_at),
                        )
                    }
                };
                rows.push(StuckOrder {
                    order_id: order.order_id,
                    user_id: order.user_id.clone(),
                    status: order.status,
                    created_at: order.created_at,
                    age_minutes: (now - order.created_at).num_minutes(),
                    reason: order.reason.clone(),
                    cancel_requested: order.cancel_requested_at.is_some(),
                    execution,
                    stopped_at,
                });
            }
            cursor = found.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(rows)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryOutcome {
    pub order_id: OrderId,
    pub before: OrderStatus,
    pub after: OrderStatus,
    /// What was done, in words.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    /// `false` when nothing was missing: the retry changed nothing.
    pub changed: bool,
}

/// What `retry` does with an order, decided from what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An execution is still running: it finishes or compensates by itself.
    LeaveRunning { execution: String, at: String },
    /// EXPRESS: an execution may still be running until `until` (the saga deadline after the
    /// order's creation, or after its cancellation request when that came later); nothing can
    /// tell, so nothing is compensated before then.
    WaitForDeadline { until: DateTime<Utc> },
    /// Start the saga under the order id (STANDARD: it never started; EXPRESS: a second
    /// execution of one order is harmless, every step being idempotent by order id).
    StartSaga,
    /// Nothing to retry.
    Nothing(String),
    /// `CANCELLED`: refund and release again, giving back only what was missed.
    GiveBack,
    /// `COMPENSATION_FAILED`: the compensations the saga gave up on, then `CANCELLED`.
    FinishCompensation { reason: String },
    /// Request the cancellation while the order is in one of `from`, then compensate.
    Compensate { from: Vec<OrderStatus> },
}

/// The rule of [`retry`], over what was read: the order, its executions, the time and the saga
/// deadline (which matters only when the executions are unknown).
pub fn plan(
    order: &Order,
    executions: &Executions,
    now: DateTime<Utc>,
    deadline: Duration,
) -> Plan {
    let before = order.status;
    match before {
        OrderStatus::CompensationFailed => {
            return Plan::FinishCompensation {
                reason: order.reason.clone().unwrap_or_else(|| SAGA_FAILED.into()),
            };
        }
        OrderStatus::Completed if order.cancel_requested_at.is_none() => {
            return Plan::Nothing("nothing to retry: the order is COMPLETED".into());
        }
        // Fulfilment moved it on after the saga: the saga is done and nothing is owed.
        OrderStatus::Shipped | OrderStatus::Delivered => {
            return Plan::Nothing(format!(
                "nothing to retry: the order is {}",
                before.as_str()
            ));
        }
        _ => {}
    }
    let has_main = match executions {
        Executions::Known(found) => {
            if let Some(running) = found.iter().find(|e| e.status == "RUNNING") {
                return Plan::LeaveRunning {
                    execution: running.name.clone(),
                    at: running.stopped_at(),
                };
            }
            found.iter().any(|e| e.name == order.order_id.to_string())
        }
        Executions::Unknown => {
            // Any execution was started at the order's creation or, for a cancellation, when
            // it was requested (a PENDING order's saga is started again, a COMPLETED one's
            // `-cancel` execution starts).
            let started = order
                .cancel_requested_at
                .map_or(order.created_at, |at| at.max(order.created_at));
            let until = started + deadline;
            match before {
                OrderStatus::Pending => return Plan::StartSaga,
                OrderStatus::Cancelled => return Plan::GiveBack,
                _ if now < until => return Plan::WaitForDeadline { until },
                _ => true,
            }
        }
    };
    match before {
        OrderStatus::Pending if !has_main => Plan::StartSaga,
        OrderStatus::Cancelled => Plan::GiveBack,
        // PENDING/RESERVED/PAID whose saga ended, or COMPLETED with a cancellation that never ran
        // (one nobody cancelled is left alone above). Only from the status read: an order that
        // moved on since (a saga completing it) is not taken back on a stale read.
        _ => Plan::Compensate { from: vec![before] },
    }
}

/// Resumes an order, never blindly restarting it:
///
/// - a saga still running is left alone (it will finish or compensate by itself);
/// - `PENDING` with no execution: the saga is started under the order id (what create-order
///   failed to do; harmless if it runs);
/// - `PENDING`, `RESERVED` or `PAID` whose saga ended without finishing, and `COMPLETED` with a
///   cancellation that never ran: the cancellation is requested as the customer's would be (so
///   nothing can move the order forward any more), while the order is still in the status read
///   (never for a `COMPLETED` order nobody cancelled), then the saga's compensations run here with
///   its own idempotent steps: refund, release, cancel (reason `SAGA_FAILED` unless one was
///   recorded), notify. The state machine cannot be restarted past the payment: a new execution
///   would fail `MarkOrderReserved` on a `PAID` order and release without refunding;
/// - `COMPENSATION_FAILED`: the same compensations, then `CANCELLED` with the recorded reason;
/// - `CANCELLED`: refund and release run again, which finds nothing to give back unless
///   something was missed; `COMPLETED`, `SHIPPED` and `DELIVERED` are left alone.
///
/// Under EXPRESS no execution can be looked up: a `PENDING` order gets its saga started (a
/// second execution is harmless), and the others are compensated only once older than the saga
/// deadline, when no execution can still be running.
pub async fn retry(ctx: &Context, id: &str) -> Result<RetryOutcome, Failure> {
    let id = parse_id(id)?;
    // The executions first, then the order: an execution found ended has made its last write,
    // so the order read next is what it left. (Read the other way round, a saga completing
    // between the two reads would look ended with the order still PAID.)
    let executions = ctx.executions(id).await?;
    let order = order(ctx, id).await?;
    let clock = SystemClock;
    let plan = plan(&order, &executions, clock.now(), ctx.saga_deadline);
    let express = matches!(executions, Executions::Unknown);
    carry_out(
        &ctx.ports(),
        &clock,
        &order,
        plan,
        express,
        ctx.saga_deadline,
    )
    .await
}

/// What [`retry`] does once it has read the order and its executions and made its `plan`, over
/// the ports alone (the simulator's operator runs it on its in-process cloud). `express`: the
/// executions could not be looked up.
pub async fn carry_out<O, I, B, S, E>(
    ports: &Ports<'_, O, I, B, S, E>,
    clock: &dyn Clock,
    order: &Order,
    plan: Plan,
    express: bool,
    saga_deadline: Duration,
) -> Result<RetryOutcome, Failure>
where
    O: OrderStore + OrderSweep,
    I: InventoryStore,
    B: BillingStore,
    S: SagaStarter,
    E: EventPublisher,
{
    let id = order.order_id;
    let before = order.status;
    let outcome =
        |action: String, compensation: Option<Compensation>, changed: bool, after| RetryOutcome {
            order_id: id,
            before,
            after,
            action,
            compensation,
            changed,
        };
    match plan {
        Plan::LeaveRunning { execution, at } => Ok(outcome(
            format!(
                "nothing done: execution {execution} is still running (at {at}); it finishes or compensates by itself"
            ),
            None,
            false,
            before,
        )),
        Plan::WaitForDeadline { until } => Ok(outcome(
            format!(
                "nothing done: the saga is an EXPRESS workflow, whose executions cannot be looked up, \
                 and one may still be running until {} ({} min after the order {}; SAGA_DEADLINE_MINUTES \
                 or --saga-deadline): it finishes or compensates by itself, and retry (or the cleanup) \
                 compensates the order after that",
                until.format("%Y-%m-%d %H:%M:%S UTC"),
                saga_deadline.num_minutes(),
                if order
                    .cancel_requested_at
                    .is_some_and(|at| at > order.created_at)
                {
                    "'s cancellation was requested"
                } else {
                    "was created"
                },
            ),
            None,
            false,
            before,
        )),
        Plan::Nothing(why) => Ok(outcome(why, None, false, before)),
        Plan::StartSaga => {
            let input =
                serde_json::to_string(&SagaInput::for_order(order)).or_fail("saga input")?;
            let correlation_id = order.correlation();
            let origin = order_core::announce::Origin {
                correlation_id: &correlation_id,
                clock,
            };
            order_core::announce::order_created(ports.events, origin, order)
                .await
                .or_fail("announcing the order")?;
            let started = ports
                .saga
                .start(id, &input)
                .await
                .or_fail("starting the saga")?;
            Ok(outcome(
                match (started, express) {
                    (SagaStart::Started, false) => {
                        "started the saga under the order id (it had never started)".into()
                    }
                    (SagaStart::Started, true) => {
                        "started the saga under the order id (EXPRESS: whether it had started cannot be known; a second execution is harmless)".into()
                    }
                    (SagaStart::AlreadyStarted, _) => {
                        "the saga had started meanwhile; nothing done".into()
                    }
                },
                None,
                started == SagaStart::Started,
                before,
            ))
        }
        Plan::GiveBack => {
            let input = || order_core::saga::CompensationInput { order_id: id };
            let correlation_id = order.correlation();
            let origin = order_core::announce::Origin {
                correlation_id: &correlation_id,
                clock,
            };
            // The operator's retry finishes the scheduler's work, and is audited as it.
            let by = order_core::audit::ChangedBy::scheduler(Some(&correlation_id));
            let refunded = order_core::announce::refund_payment(
                ports.billing,
                ports.events,
                origin,
                &by,
                input(),
            )
            .await
            .or_fail("refunding")?
            .refunded;
            let released =
                order_core::saga::release_reservation(ports.inventory, clock, &by, input())
                    .await
                    .or_fail("releasing")?
                    .released;
            let done = Compensation {
                refunded,
                released,
                ..Compensation::default()
            };
            let changed = refunded || released;
            Ok(outcome(
                if changed {
                    "the order was CANCELLED but held money or stock: given back now".into()
                } else {
                    "nothing missing: the order is CANCELLED and holds no money or stock".into()
                },
                Some(done),
                changed,
                before,
            ))
        }
        Plan::FinishCompensation { reason } => {
            let done = cleanup::compensate(
                ports,
                clock,
                order,
                &[OrderStatus::CompensationFailed],
                &reason,
            )
            .await
            .or_fail("compensating (the order stays COMPENSATION_FAILED; retry again)")?;
            Ok(outcome(
                format!(
                    "ran the compensations the saga gave up on; the order is CANCELLED ({reason})"
                ),
                Some(done),
                true,
                after_status(ports.orders, id).await?,
            ))
        }
        Plan::Compensate { from } => {
            let Some(requested) = ports
                .orders
                .request_cancellation_for(id, &from, None, SAGA_FAILED, clock.now())
                .await
                .or_fail("requesting the cancellation")?
            else {
                return Ok(outcome(
                    "the order changed meanwhile; nothing done (run show and retry again)".into(),
                    None,
                    false,
                    after_status(ports.orders, id).await?,
                ));
            };
            let done = cleanup::compensate(ports, clock, &requested, &from, SAGA_FAILED)
                .await
                .or_fail("compensating (the cancellation is requested; retry again)")?;
            Ok(outcome(
                "the saga had ended without finishing: money and stock given back, order cancelled"
                    .into(),
                Some(done),
                true,
                after_status(ports.orders, id).await?,
            ))
        }
    }
}

async fn after_status(orders: &impl OrderStore, id: OrderId) -> Result<OrderStatus, Failure> {
    Ok(orders
        .get(id)
        .await
        .or_fail("reading the order")?
        .ok_or_else(|| Failure::Usage(format!("no order {id}")))?
        .status)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqMessage {
    pub message_id: String,
    /// The order it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub kind: String,
    pub body: Value,
    /// The body as received, and its message attributes: what a move back to the source queue
    /// sends, so the consumer gets the message it failed on, byte for byte.
    #[serde(skip)]
    pub raw_body: String,
    #[serde(skip)]
    pub attributes: HashMap<String, aws_sdk_sqs::types::MessageAttributeValue>,
}

async fn queue_url(ctx: &Context, queue: &str) -> Result<String, Failure> {
    if queue.starts_with("http://") || queue.starts_with("https://") {
        return Ok(queue.to_owned());
    }
    ctx.sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| {
            Failure::Usage(format!(
                "no queue '{queue}': {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ))
        })
        .map(|o| o.queue_url().unwrap_or_default().to_owned())
}

fn classify(body: &Value) -> (String, Option<String>) {
    if let Some(id) = body["order"]["orderId"].as_str() {
        ("compensation".into(), Some(id.to_owned()))
    } else if let Some(id) = body["event"]["orderId"].as_str() {
        // A domain event the state machine could not publish (Announce* states).
        ("event".into(), Some(id.to_owned()))
    } else {
        (
            "message".into(),
            body["orderId"].as_str().map(str::to_owned),
        )
    }
}

/// Reads every message without consuming it: each is hidden for a few seconds while the
/// queue is paged, then visible again.
async fn peek(
    ctx: &Context,
    url: &str,
    hide_seconds: i32,
) -> Result<Vec<(DlqMessage, String)>, Failure> {
    let mut seen = HashMap::new();
    loop {
        let received = ctx
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(hide_seconds)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                Failure::Failed(format!(
                    "receiving: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })?;
        let mut new = 0;
        for message in received.messages() {
            let id = message.message_id().unwrap_or_default().to_owned();
            if seen.contains_key(&id) {
                continue;
            }
            new += 1;
            let body: Value = serde_json::from_str(message.body().unwrap_or_default())
                .unwrap_or_else(|_| Value::String(message.body().unwrap_or_default().to_owned()));
            let (kind, order_id) = classify(&body);
            let receipt = message.receipt_handle().unwrap_or_default().to_owned();
            seen.insert(
                id.clone(),
                (
                    DlqMessage {
                        message_id: id,
                        order_id,
                        kind,
                        body,
                        raw_body: message.body().unwrap_or_default().to_owned(),
                        attributes: message.message_attributes().cloned().unwrap_or_default(),
                    },
                    receipt,
                ),
            );
        }
        if new == 0 {
            break;
        }
    }
    Ok(seen.into_values().collect())
}

pub async fn dlq_list(ctx: &Context, queue: &str) -> Result<Vec<DlqMessage>, Failure> {
    let url = queue_url(ctx, queue).await?;
    let peeked = peek(ctx, &url, 5).await?;
    // Listing leaves the queue as it was: each message is visible again at once, so a redrive
    // right after a list finds them all.
    for (_, receipt) in &peeked {
        ctx.sqs
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| {
                Failure::Failed(format!(
                    "making a listed message visible again: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })?;
    }
    let mut messages: Vec<DlqMessage> = peeked.into_iter().map(|(m, _)| m).collect();
    messages.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    Ok(messages)
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RedriveOutcome {
    pub replayed: usize,
    pub failed: usize,
    pub failures: Vec<String>,
}

/// Replays each message; deletes it only once the replay succeeded.
pub async fn dlq_redrive(
    ctx: &Context,
    queue: &str,
    progress: bool,
) -> Result<RedriveOutcome, Failure> {
    let url = queue_url(ctx, queue).await?;
    // Hidden long enough to replay them all; a message whose replay fails comes back after it.
    let messages = peek(ctx, &url, 120).await?;
    let sources = source_queues(ctx, &url).await;
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(messages.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut outcome = RedriveOutcome::default();
    for (message, receipt) in messages {
        let result = replay(ctx, &message, &sources).await;
        match result {
            Ok(()) => {
                ctx.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| Failure::Failed(format!("deleting a replayed message: {e}")))?;
                outcome.replayed += 1;
            }
            Err(e) => {
                outcome.failed += 1;
                outcome
                    .failures
                    .push(format!("{}: {e}", message.message_id));
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(outcome)
}

/// The queues whose redrive policy sends their dead letters to `dlq`: SQS's
/// ListDeadLetterSourceQueues, or where an emulator lacks that call (ministack 1.5.33), the queues
/// whose `RedrivePolicy` names the queue's ARN, read with ListQueues and GetQueueAttributes.
async fn source_queues(ctx: &Context, dlq: &str) -> Vec<String> {
    if let Ok(listed) = ctx
        .sqs
        .list_dead_letter_source_queues()
        .queue_url(dlq)
        .send()
        .await
    {
        return listed.queue_urls().to_vec();
    }
    let attribute = |url: &str, name: QueueAttributeName| {
        let sqs = ctx.sqs.clone();
        let url = url.to_owned();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(name.clone())
                .send()
                .await
                .ok()
                .and_then(|o| o.attributes().and_then(|a| a.get(&name)).cloned())
        }
    };
    let Some(arn) = attribute(dlq, QueueAttributeName::QueueArn).await else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    let mut pages = ctx.sqs.list_queues().into_paginator().send();
    while let Some(Ok(page)) = pages.next().await {
        for url in page.queue_urls() {
            let policy = attribute(url, QueueAttributeName::RedrivePolicy).await;
            let target = policy
                .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned));
            if target.as_deref() == Some(arn.as_str()) {
                sources.push(url.clone());
            }
        }
    }
    sources
}

/// A dead-letter queue fed by a source queue's redrive policy gets its messages moved back,
/// whatever they hold; the state machine's own dead letters (no source queue) are replayed by
/// kind: a compensation is retried, an unpublished event is published.
async fn replay(ctx: &Context, message: &DlqMessage, sources: &[String]) -> Result<(), String> {
    if let [source] = sources {
        return ctx
            .sqs
            .send_message()
            .queue_url(source)
            .message_body(&message.raw_body)
            .set_message_attributes(
                (!message.attributes.is_empty()).then(|| message.attributes.clone()),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    match (message.kind.as_str(), &message.order_id) {
        ("compensation", Some(id)) => retry(ctx, id).await.map(|_| ()).map_err(|e| match e {
            Failure::Usage(m) | Failure::Failed(m) => m,
        }),
        ("event", Some(_)) => {
            let event: order_core::events::DomainEvent =
                serde_json::from_value(message.body["event"].clone()).map_err(|e| e.to_string())?;
            ctx.events.publish(&event).await.map_err(|e| e.to_string())
        }
        _ => Err("not a saga message and no single source queue to move it back to".into()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

/// The compliance report: every audit entry with `from <= at < to`, oldest first, read a
/// page at a time through the audit table's time index (as `GET /admin/audit` reads it).
pub async fn report(
    ctx: &Context,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    progress: bool,
) -> Result<Vec<AuditEntry>, Failure> {
    if from >= to {
        return Err(Failure::Usage("--from must be before --to".into()));
    }
    let audit = ctx
        .audit
        .as_ref()
        .ok_or_else(|| Failure::Usage("AUDIT_TABLE is not set".into()))?;
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("reading the audit table");
        bar
    });
    let mut entries = Vec::new();
    let mut page = PageRequest {
        limit: 1_000,
        cursor: None,
    };
    loop {
        let read = audit
            .between(from, to, &page)
            .await
            .or_fail("reading the audit table")?;
        entries.extend(read.items);
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "reading the audit table: {} entries",
                entries.len()
            ));
            bar.tick();
        }
        match read.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_people_write_them() {
        assert_eq!(parse_age("90s"), Ok(Duration::seconds(90)));
        assert_eq!(parse_age("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_age("15"), Ok(Duration::minutes(15)));
        assert_eq!(parse_age("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_age("1d"), Ok(Duration::days(1)));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("5w").is_err());
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::minutes(minute)
    }

    /// An order created at minute 0, in `status`.
    fn order(status: OrderStatus, cancel_requested_at: Option<DateTime<Utc>>) -> Order {
        let eur = order_core::money::Currency::try_from("EUR").expect("EUR");
        let total = order_core::money::Money::new(1_000, eur.clone());
        Order {
            order_id: OrderId::new_at(at(0)),
            user_id: "user-1".into(),
            status,
            lines: Vec::new(),
            subtotal: total.clone(),
            discount: order_core::money::Money::new(0, eur),
            promo_code: None,
            total,
            reason: None,
            cancel_requested_at,
            delivery: None,
            created_at: at(0),
            updated_at: at(0),
            timeline: Vec::new(),
            correlation_id: None,
        }
    }

    fn execution(name: String, status: &str) -> Execution {
        Execution {
            name,
            status: status.into(),
            start: Some(at(0)),
            stop: None,
            steps: Vec::new(),
            error: None,
            cause: None,
        }
    }

    const DEADLINE: i64 = 25;

    fn plan_at(order: &Order, executions: &Executions, minute: i64) -> Plan {
        plan(order, executions, at(minute), Duration::minutes(DEADLINE))
    }

    #[test]
    fn under_express_an_order_is_compensated_only_past_the_saga_deadline() {
        for status in [OrderStatus::Reserved, OrderStatus::Paid] {
            let order = order(status, None);
            assert_eq!(
                plan_at(&order, &Executions::Unknown, DEADLINE - 1),
                Plan::WaitForDeadline {
                    until: at(DEADLINE)
                },
                "{status:?}"
            );
            assert!(
                matches!(
                    plan_at(&order, &Executions::Unknown, DEADLINE),
                    Plan::Compensate { .. }
                ),
                "{status:?}"
            );
        }
        // A completed order's `-cancel` execution starts when the cancellation is requested.
        let cancelled_late = order(OrderStatus::Completed, Some(at(60)));
        assert_eq!(
            plan_at(&cancelled_late, &Executions::Unknown, 61),
            Plan::WaitForDeadline {
                until: at(60 + DEADLINE)
            }
        );
        assert!(matches!(
            plan_at(&cancelled_late, &Executions::Unknown, 60 + DEADLINE),
            Plan::Compensate { .. }
        ));
        // A PENDING order gets its saga started (a second EXPRESS execution is harmless).
        let pending = order(OrderStatus::Pending, None);
        assert_eq!(plan_at(&pending, &Executions::Unknown, 1), Plan::StartSaga);
        // The rest does not depend on the executions.
        assert_eq!(
            plan_at(
                &order(OrderStatus::Cancelled, None),
                &Executions::Unknown,
                1
            ),
            Plan::GiveBack
        );
        assert!(matches!(
            plan_at(
                &order(OrderStatus::Completed, None),
                &Executions::Unknown,
                1
            ),
            Plan::Nothing(_)
        ));
        assert!(matches!(
            plan_at(
                &order(OrderStatus::CompensationFailed, None),
                &Executions::Unknown,
                1
            ),
            Plan::FinishCompensation { .. }
        ));
    }

    #[test]
    fn the_cancellation_is_requested_from_the_status_read_and_never_for_a_completed_order_nobody_cancelled()
     {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Reserved,
            OrderStatus::Paid,
        ] {
            let read = order(status, None);
            let ended = Executions::Known(vec![execution(read.order_id.to_string(), "ABORTED")]);
            assert_eq!(
                plan_at(&read, &ended, 1),
                Plan::Compensate { from: vec![status] },
                "STANDARD, {status:?}"
            );
            if status != OrderStatus::Pending {
                assert_eq!(
                    plan_at(&read, &Executions::Unknown, DEADLINE),
                    Plan::Compensate { from: vec![status] },
                    "EXPRESS past the deadline, {status:?}"
                );
            }
        }
        // COMPLETED only with a cancellation request (its `-cancel` execution stopped).
        let cancelled = order(OrderStatus::Completed, Some(at(1)));
        let cancel_ended = Executions::Known(vec![
            execution(cancelled.order_id.to_string(), "SUCCEEDED"),
            execution(format!("{}-cancel", cancelled.order_id), "ABORTED"),
        ]);
        assert_eq!(
            plan_at(&cancelled, &cancel_ended, 2),
            Plan::Compensate {
                from: vec![OrderStatus::Completed]
            }
        );
        let completed = order(OrderStatus::Completed, None);
        for executions in [cancel_ended, Executions::Unknown] {
            assert!(
                matches!(
                    plan_at(&completed, &executions, 10 * DEADLINE),
                    Plan::Nothing(_)
                ),
                "{executions:?}"
            );
        }
    }

    #[test]
    fn under_standard_a_running_execution_is_left_alone_whatever_the_age() {
        let paid = order(OrderStatus::Paid, None);
        let id = paid.order_id.to_string();
        let running = Executions::Known(vec![execution(id.clone(), "RUNNING")]);
        assert!(matches!(
            plan_at(&paid, &running, 10 * DEADLINE),
            Plan::LeaveRunning { .. }
        ));
        let ended = Executions::Known(vec![execution(id, "ABORTED")]);
        assert!(matches!(plan_at(&paid, &ended, 1), Plan::Compensate { .. }));
        let pending = order(OrderStatus::Pending, None);
        assert_eq!(
            plan_at(&pending, &Executions::Known(Vec::new()), 1),
            Plan::StartSaga
        );
    }
}
