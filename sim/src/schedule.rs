//! One schedule: a seed decides everything. Several users place orders at once on shared stock
//! and accounts; their saga executions advance one state at a time in an order the seed draws;
//! customers cancel at any point between two states; faults are drawn into the calls. At the
//! end, the properties are checked (`properties`). The same seed is the same run.

use crate::asl::{Call, Definition, Execution, Outcome, Resources, TaskError};
use crate::choices::{Choice, Choices, Kind};
use crate::cloud::{self, Cloud};
use crate::products::{ProductQueue, Topic};
use crate::properties::{self, Violation};
use chrono::{DateTime, Duration, Utc};
use embedded_dynamodb::OperationTime;
use order_adapters::dynamodb::{DynamoInventory, DynamoOrders, DynamoProductView};
use order_adapters::memory::MemoryEvents;
use order_core::audit::ChangedBy;
use order_core::billing::{Account, EntryType, LedgerEntry};
use order_core::cleanup::{self, CleanupConfig};
use order_core::clock::Clock;
use order_core::error::StoreError;
use order_core::listing::ListedProduct;
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, OrderRequest, Sku};
use order_core::ordering::{self, PlaceOrder};
use order_core::ports::{
    BillingStore, DepositKey, DepositOutcome, InventoryStore, ProductViewStore, SagaStart,
    SagaStarter, StockOutcome,
};
use order_http::catalog::CatalogApi;
use order_lambda::steps;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// What a schedule is made of, besides its seed.
#[derive(Debug, Clone)]
pub struct Shape {
    pub orders: usize,
    pub users: usize,
    pub products: usize,
    /// Units of each product at the start.
    pub stock: i64,
    /// Each user's balance at the start, in cents.
    pub balance: i64,
    /// The chance that a call meets a fault.
    pub fault_rate: f64,
    /// The chance that, between two states, a customer cancels one of their orders.
    pub cancel_rate: f64,
    /// The share of the adapters' DynamoDB transactions cancelled by a `TransactionConflict`.
    pub conflict_rate: f64,
    /// EXPRESS workflows: a start is not deduplicated by name, and each start may run twice
    /// (at least once); this is the chance of the second run.
    pub express_duplicates: Option<f64>,
    /// Executions interleave at state granularity (the default); `false` runs each to its end
    /// before the next starts, in start order: the schedule a cross-check can replay elsewhere.
    pub interleave: bool,
    /// The chance that, in a virtual second, somebody calls the API: a customer places another
    /// order or deposits, an admin changes a product's stock or price. Each call with an
    /// `Idempotency-Key` is sometimes sent twice (a client's retry). Per second, not per step:
    /// with the steps' time shared among the running executions, a per-step chance would place
    /// more orders the more executions run, and never settle (seed 4466).
    pub api_rate: f64,
    /// The scheduled cleanup's period (template.yaml's `rate(5 minutes)`): it runs while the
    /// executions do, at the schedule's time.
    pub cleanup_every: Option<Duration>,
    /// The share of orders whose compensations give up: every call of refund-payment and
    /// release-reservation for them fails (a broken deploy, a dependency down), so the saga
    /// dead-letters them `COMPENSATION_FAILED`, and the operator redrives the compensation DLQ
    /// once the schedule is over (`ordertracker dlq redrive`, which retries each order).
    pub compensation_outage: f64,
    /// Only these choices happen (`choices`): what the shrinker narrows and `--keep` replays.
    /// `None`: all that the seed draws.
    pub keep: Option<BTreeSet<Choice>>,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            orders: 10,
            users: 4,
            products: 3,
            stock: 6,
            balance: 6_000,
            fault_rate: 0.3,
            cancel_rate: 0.03,
            conflict_rate: 0.0,
            express_duplicates: None,
            interleave: true,
            api_rate: 0.1,
            cleanup_every: Some(Duration::minutes(5)),
            compensation_outage: 0.1,
            keep: None,
        }
    }
}

impl Shape {
    /// The shape `make sim` gives seed `seed` when none is asked for: four kinds in turn, so one
    /// batch meets them all. Faults in every call (0); customers cancelling often (1); EXPRESS
    /// executions, some started twice (2); no faults but transaction conflicts the retries
    /// absorb, where every cancellation must have a business reason (3).
    pub fn mixed(seed: u64) -> Self {
        let base = Self::default();
        match seed % 4 {
            0 => base,
            1 => Self {
                cancel_rate: 0.1,
                ..base
            },
            2 => Self {
                express_duplicates: Some(0.3),
                ..base
            },
            _ => Self {
                fault_rate: 0.0,
                conflict_rate: 0.3,
                ..base
            },
        }
    }

    /// Without the API calls and cleanup runs during the executions: the shape the regression
    /// seeds were found in, before those were drawn.
    pub fn without_operators(self) -> Self {
        Self {
            api_rate: 0.0,
            cleanup_every: None,
            ..self
        }
    }

    /// Without compensations that give up: the shape the regression seeds were found in, before
    /// those were drawn.
    pub fn without_outages(self) -> Self {
        Self {
            compensation_outage: 0.0,
            ..self
        }
    }

    fn express(&self) -> bool {
        self.express_duplicates.is_some()
    }
}

/// What one schedule did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub seed: u64,
    pub executions: usize,
    pub states: usize,
    pub faults: usize,
    pub cancels: usize,
    pub statuses: HashMap<String, usize>,
    pub violations: Vec<Violation>,
    /// Items the cleanup failed on.
    pub cleanup_errors: usize,
    /// Every execution, in the order they ended.
    pub ended: Vec<Ended>,
    /// Every order, in the order it was placed: its id, its owner and the body it was placed
    /// with.
    pub placed: Vec<Placed>,
    /// Units admins added (or took) during the schedule, as the changes they were told were
    /// applied.
    pub restocked: HashMap<Sku, i64>,
    /// Cents each user deposited during the schedule, as the deposits they were told were made.
    pub deposited: HashMap<String, i64>,
    /// API calls made between the states.
    pub api_calls: usize,
    /// Scheduled cleanup runs between the states.
    pub cleanup_runs: usize,
    /// Stream records the audit function was given.
    pub audit_records: usize,
    /// What NotifyQueue delivered to the notify function.
    pub notify: crate::notify::Delivered,
    /// Orders the operator retried from the compensation DLQ, and what each retry did.
    pub redriven: Vec<(OrderId, String)>,
    /// `ProductUpdated` records ProductQueue handed to sync-product (redeliveries included).
    pub product_receives: usize,
    /// What is left in ProductDlq after the operator's redrive.
    pub product_dead_letters: Vec<Value>,
    /// The choices that happened, in the order they did (what the shrinker narrows).
    pub choices: Vec<Choice>,
    /// The DynamoDB calls the engine answered and its time, by operation (JSON in and out
    /// included): the part of a schedule no change to the simulator can save.
    pub engine: BTreeMap<String, OperationTime>,
    /// How many of them the SDK carried (the adapters' calls), and those calls' time end to end
    /// (the SDK's pipeline and the engine's answers).
    pub sdk_calls: u64,
    pub sdk_time: std::time::Duration,
    /// The engine's part of `sdk_time`.
    pub sdk_engine_time: std::time::Duration,
}

/// An order the schedule placed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order_id: OrderId,
    pub user: String,
    pub body: Value,
}

/// An execution that ended: its name, the states it went through, and how it ended (its output
/// names the errors it caught).
#[derive(Debug, Clone)]
pub struct Ended {
    pub name: String,
    pub states: Vec<String>,
    pub outcome: Outcome,
}

const PRICE: i64 = 1_000;

/// Past every task's TimeoutSeconds (15 s for a Lambda step, 5 s otherwise): the state machine
/// sees `States.Timeout`.
const TIMED_OUT: Duration = Duration::seconds(20);

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

fn eur() -> Currency {
    Currency::try_from("EUR").unwrap_or_else(|_| unreachable!("EUR is a currency"))
}

/// Starts executions by name; the scheduler picks them up. STANDARD: once per name
/// (StartExecution's idempotency). EXPRESS: every start runs, some twice.
struct Starter<'c> {
    started: Mutex<Vec<(String, String)>>,
    names: Mutex<BTreeSet<String>>,
    express: Option<(f64, Mutex<ChaCha8Rng>)>,
    choices: &'c Choices,
}

impl<'c> Starter<'c> {
    fn new(shape: &Shape, seed: u64, choices: &'c Choices) -> Self {
        Self {
            started: Mutex::new(Vec::new()),
            names: Mutex::new(BTreeSet::new()),
            choices,
            express: shape
                .express_duplicates
                .map(|p| (p, Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xe7)))),
        }
    }

    fn start_named(&self, name: String, input: &str) -> SagaStart {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        match &self.express {
            None => {
                let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
                if !names.insert(name.clone()) {
                    return SagaStart::AlreadyStarted;
                }
            }
            Some((duplicates, rng)) => {
                let twice = rng
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .random_bool(*duplicates);
                if twice && self.choices.allow(Kind::Duplicate) {
                    started.push((name.clone(), input.to_owned()));
                }
            }
        }
        started.push((name, input.to_owned()));
        SagaStart::Started
    }

    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.started.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SagaStarter for Starter<'_> {
    async fn start(&self, order_id: OrderId, input: &str) -> Result<SagaStart, StoreError> {
        Ok(self.start_named(order_id.to_string(), input))
    }

    async fn start_cancellation(
        &self,
        order_id: OrderId,
        input: &str,
    ) -> Result<SagaStart, StoreError> {
        Ok(self.start_named(format!("{order_id}-cancel"), input))
    }
}

/// The cloud with faults drawn into its calls. A fault before a call leaves no effect; a fault
/// after it (a crash, a reply lost) leaves the effect and fails the call; a late call times out
/// now and commits later, at a point the scheduler draws (possibly after the compensation that
/// undid the rest of its order): what makes idempotency and the voided markers matter.
struct Faulty<'a> {
    cloud: &'a Cloud,
    rng: RefCell<ChaCha8Rng>,
    rate: f64,
    /// Calls that timed out and have not committed yet.
    late: RefCell<Vec<(String, Value, Value)>>,
    /// `Shape::compensation_outage`, and the seed that picks the orders it takes.
    outage: (f64, u64),
    choices: &'a Choices,
}

impl Faulty<'_> {
    /// Commits one late call, if any (its reply goes nowhere).
    async fn commit_late(&self, rng: &mut ChaCha8Rng) {
        let call = {
            let mut late = self.late.borrow_mut();
            if late.is_empty() {
                return;
            }
            let at = rng.random_range(0..late.len());
            late.swap_remove(at)
        };
        let (resource, input, context) = call;
        let _ = self.cloud.call(&resource, input, &context).await;
    }

    /// A compensation step called for an order the outage takes: the same orders for a seed,
    /// whatever the interleaving (a hash of the order id and the seed, not a draw).
    fn outage_takes(&self, resource: &str, input: &Value) -> bool {
        let (share, seed) = self.outage;
        let compensation = resource
            .strip_prefix(cloud::LAMBDA_PREFIX)
            .is_some_and(|f| f == steps::REFUND_PAYMENT || f == steps::RELEASE_RESERVATION);
        let Some(order_id) = input["orderId"]
            .as_str()
            .filter(|_| compensation && share > 0.0)
        else {
            return false;
        };
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let hash = order_id
            .bytes()
            .chain(seed.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        ((hash % 10_000) as f64) < share * 10_000.0
    }
}

impl Resources for Faulty<'_> {
    async fn call(&self, resource: &str, input: Value, context: &Value) -> Call {
        let (fault, kind) = {
            let mut rng = self.rng.borrow_mut();
            (rng.random_bool(self.rate), rng.random_range(0..3_u8))
        };
        // (Drawn first: the draws of the other calls stay as they were without outages.)
        let outage = self.outage_takes(resource, &input);
        let fault = (fault || outage) && self.choices.allow(Kind::Fault);
        if outage && fault {
            return Call {
                result: Err(TaskError::new(
                    "Lambda.ServiceException",
                    "injected: this order's compensations fail until the operator retries them",
                )),
                took: Duration::milliseconds(20),
            };
        }
        if !fault {
            return self.cloud.call(resource, input, context).await;
        }
        let lambda = resource.contains(":function:");
        let dynamodb = resource.contains(":::dynamodb:");
        match kind {
            // Before the call: a throttle or a transient error, nothing done.
            0 => Call {
                result: Err(if lambda {
                    TaskError::new("Lambda.TooManyRequestsException", "injected: throttled")
                } else if dynamodb {
                    TaskError::new(
                        "DynamoDB.ProvisionedThroughputExceededException",
                        "injected: throttled",
                    )
                } else {
                    TaskError::new("SNS.ThrottledException", "injected: throttled")
                }),
                took: Duration::milliseconds(5),
            },
            // After the call: its reply lost in a crash of the sandbox.
            1 if lambda => {
                let _ = self.cloud.call(resource, input, context).await;
                Call {
                    result: Err(TaskError::new(
                        "Runtime.ExitError",
                        "injected: crashed after the write",
                    )),
                    took: Duration::milliseconds(20),
                }
            }
            // After the call: its reply lost (a DynamoDB or SNS call that committed).
            1 => {
                let done = self.cloud.call(resource, input, context).await;
                Call {
                    result: done.result,
                    took: TIMED_OUT,
                }
            }
            // A late call: times out now, commits later.
            _ => {
                self.late
                    .borrow_mut()
                    .push((resource.to_owned(), input, context.clone()));
                Call {
                    result: Ok(json!({})),
                    took: TIMED_OUT,
                }
            }
        }
    }
}

/// Runs the schedule of `seed`.
pub async fn run(definition: &Definition, shape: &Shape, seed: u64) -> Result<Report, String> {
    run_keeping(definition, shape, seed)
        .await
        .map(|(report, _)| report)
}

/// Runs the schedule of `seed` and keeps its cloud, to read the final state from.
pub async fn run_keeping<'d>(
    definition: &'d Definition,
    shape: &Shape,
    seed: u64,
) -> Result<(Report, Cloud), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // The same seed makes the same ids (the cleanup's sweeps and the stores' pages go in id
    // order, so other ids would be another schedule).
    order_core::values::seeded_ids::seed_thread(seed ^ 0x1d5);
    let choices = Arc::new(Choices::only(shape.keep.clone()));
    let cloud = Cloud::with_conflicts(t0(), shape.conflict_rate, seed ^ 0xc0, choices.clone())?;
    let mut report = Report {
        seed,
        ..Report::default()
    };

    // The world, made as an admin and the users would make it (each write stamped, so the
    // audit trail has it): products with their stock, their view, accounts.
    let skus: Vec<Sku> = (0..shape.products)
        .map(|i| Sku::try_from(format!("P{i}").as_str()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let view = DynamoProductView::new(cloud.client.clone(), cloud::ORDERS_TABLE);
    let admin = ChangedBy::admin("admin", None);
    for sku in &skus {
        let price = Money::new(PRICE, eur());
        let name = format!("{sku} product");
        store(
            cloud
                .inventory
                .upsert_product(sku, &name, &price, &admin, t0())
                .await,
        )?;
        let product = match cloud
            .inventory
            .adjust_stock(sku, shape.stock, None, &admin, t0())
            .await
        {
            Ok(StockOutcome::Adjusted(product)) => product,
            other => return Err(format!("stocking {sku}: {other:?}")),
        };
        store(view.apply(&ListedProduct::of(&product, t0())).await)?;
    }
    let users: Vec<String> = (0..shape.users).map(|i| format!("user-{i}")).collect();
    for user in &users {
        let account = Account {
            user_id: user.clone(),
            balance: shape.balance,
            currency: eur(),
        };
        let by = ChangedBy::user(user, None);
        store(cloud.billing.open_account(&account, &by, t0()).await)?;
    }

    // The orders, placed through the order use case; their sagas start by name.
    let starter = Starter::new(shape, seed, &choices);
    let placing = PlaceOrder {
        catalog: &view,
        orders: &cloud.orders,
        saga: &starter,
        events: &cloud.step_events,
        clock: &cloud.clock,
    };
    let mut orders = Vec::new();
    for _ in 0..shape.orders {
        let user = users[rng.random_range(0..users.len())].clone();
        let body = draw_order(&mut rng, &skus);
        if !choices.allow(Kind::Order) {
            continue;
        }
        let request = OrderRequest::from_json(&body).map_err(|e| format!("{e:?}"))?;
        let (order, _) = placing
            .place(&user, None, &request, None)
            .await
            .map_err(|e| e.to_string())?;
        report.placed.push(Placed {
            order_id: order.order_id,
            user: user.clone(),
            body,
        });
        orders.push((order.order_id, user));
    }

    // The executions, stepped in an order the seed draws; cancels between the steps.
    let faulty = Faulty {
        cloud: &cloud,
        rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5eed)),
        rate: shape.fault_rate,
        late: RefCell::new(Vec::new()),
        outage: (shape.compensation_outage, seed),
        choices: &choices,
    };
    let mut running: Vec<Execution<'_>> = Vec::new();
    let start = |running: &mut Vec<Execution<'d>>, report: &mut Report| -> Result<(), String> {
        for (name, input) in starter.take() {
            let input: Value = serde_json::from_str(&input).map_err(|e| e.to_string())?;
            let execution = Execution::start(
                definition,
                cloud::STATE_MACHINE_ARN,
                &name,
                input,
                cloud.clock.now(),
            );
            running.push(if shape.express() {
                execution.with_limit(EXPRESS_LIMIT)
            } else {
                execution
            });
            report.executions += 1;
        }
        Ok(())
    };
    start(&mut running, &mut report)?;
    let mut ended = Vec::new();
    // One clock for the whole schedule: a second passes between two scheduler steps, and an
    // execution's own time (its calls, its retries' delays) moves it on.
    let mut now = t0();
    let mut api_rng = ChaCha8Rng::seed_from_u64(seed ^ 0xa91);
    let config = cleanup_config(shape);
    let ports = cleanup::Ports {
        orders: &cloud.orders,
        inventory: &cloud.inventory,
        billing: &cloud.billing,
        saga: &starter,
        events: &cloud.step_events,
    };
    let mut next_cleanup = shape.cleanup_every.map(|every| t0() + every);
    let catalog = CatalogApi {
        inventory: cloud.inventory.clone(),
        events: Topic(&cloud.step_events),
    };
    let mut products = ProductQueue::default();
    let mut product_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9d0);
    let operators = shape.api_rate > 0.0 || shape.cleanup_every.is_some();
    while !running.is_empty() {
        // A virtual second per step, or, with operators on, a second shared among the running
        // executions: on AWS they run side by side, so each moves about once a second however
        // many there are (with a whole second per step, a crowd of executions crawled, orders
        // stayed PENDING past the cleanup's grace, and EXPRESS restarts crowded it further).
        // The regression seeds keep the whole second they were found with.
        let step = if operators {
            Duration::milliseconds(1000 / i64::try_from(running.len()).unwrap_or(1).max(1))
        } else {
            Duration::seconds(1)
        };
        now += step;
        if report.states >= MAX_STATES {
            report.violations.push(format!(
                "the schedule did not settle: {} executions still running after {MAX_STATES} states",
                running.len()
            ));
            break;
        }
        if let Some(at) = next_cleanup.filter(|at| now >= *at) {
            next_cleanup = shape.cleanup_every.map(|every| at.max(now) + every);
            if choices.allow(Kind::Cleanup) {
                cloud.clock.set(now);
                let cleaned = cleanup::run(&ports, &cloud.clock, &config).await;
                report.cleanup_errors += cleaned.errors;
                report.cleanup_runs += 1;
                start(&mut running, &mut report)?;
            }
        }
        if api_rng.random_bool(shape.api_rate * step.as_seconds_f64()) {
            cloud.clock.set(now);
            let call = ApiCall::draw(&mut api_rng, &users, &skus);
            if choices.allow(Kind::Api) {
                let api = Api {
                    cloud: &cloud,
                    placing: &placing,
                    catalog: &catalog,
                };
                if let Some(order) = api.make(call, &mut report).await? {
                    orders.push(order);
                }
            }
            products
                .deliver(&cloud, &view, &mut product_rng, false)
                .await?;
            start(&mut running, &mut report)?;
        }
        if rng.random_bool(shape.cancel_rate) && !orders.is_empty() {
            let (order_id, user) = &orders[rng.random_range(0..orders.len())];
            if choices.allow(Kind::Cancel) {
                cloud.clock.set(now);
                // Refused cancellations (shipped, cancelled already) are answers, not failures.
                let _ =
                    ordering::cancel(&cloud.orders, &starter, &cloud.clock, user, *order_id).await;
                report.cancels += 1;
                start(&mut running, &mut report)?;
            }
        }
        if rng.random_bool(0.2) {
            faulty.commit_late(&mut rng).await;
        }
        let at = if shape.interleave {
            rng.random_range(0..running.len())
        } else {
            0
        };
        running[at].catch_up(now);
        running[at].step(&faulty, &mut rng).await;
        now = now.max(running[at].now());
        report.states += 1;
        if running[at].outcome().is_some() {
            // (swap_remove keeps the regression seeds' schedules as they were found)
            ended.push(if shape.interleave {
                running.swap_remove(at)
            } else {
                running.remove(at)
            });
        }
    }
    // What is still in flight commits after the executions ended; it must change nothing.
    while !faulty.late.borrow().is_empty() {
        faulty.commit_late(&mut rng).await;
    }

    // Then the scheduled cleanup, with the clock past every deadline, finishes what a saga left
    // (an execution that stopped leaves its order to it, and its outcome event due), and the
    // executions it starts run out, until a run starts none.
    for _ in 0..6 {
        now += Duration::days(2);
        cloud.clock.set(now);
        let cleaned = cleanup::run(&ports, &cloud.clock, &config).await;
        report.cleanup_errors += cleaned.errors;
        start(&mut running, &mut report)?;
        if running.is_empty() {
            break;
        }
        for mut execution in running.drain(..) {
            execution.catch_up(now);
            execution.run(&cloud, &mut rng).await;
            ended.push(execution);
        }
    }

    // The operator redrives the compensation DLQ (`ordertracker dlq redrive`): each dead letter's
    // order is retried, past every deadline and after the outage.
    let deadline = config.saga_deadline;
    report.redriven =
        crate::operator::redrive(&cloud, &ports, &ended, shape.express(), now, deadline).await;

    // ProductQueue hands out what is still waiting; the operator redrives ProductDlq once.
    products
        .deliver(&cloud, &view, &mut product_rng, true)
        .await?;
    products.redrive(&cloud, &view, &mut product_rng).await?;
    report.product_receives = products.receives;
    report.product_dead_letters = products.dead;

    // The audit function reads the three streams (after the fact: a stream delivers in order,
    // so a later delivery is the same as a lagging one).
    let delivered =
        crate::audit::deliver(&cloud, &mut ChaCha8Rng::seed_from_u64(seed ^ 0xa0d)).await?;
    report.audit_records = delivered.records;
    // The topic fans out to NotifyQueue, which the notify function consumes.
    report.notify =
        crate::notify::deliver(&cloud, &users, &mut ChaCha8Rng::seed_from_u64(seed ^ 0x707))
            .await?;

    report.ended = ended
        .iter()
        .filter_map(|e| {
            Some(Ended {
                name: e.name().to_owned(),
                states: e.history().iter().map(|v| v.state.clone()).collect(),
                outcome: e.outcome()?.clone(),
            })
        })
        .collect();
    let checked = properties::check(&cloud, &skus, shape, &users, &report).await?;
    report.statuses = checked.statuses;
    report.violations.extend(checked.violations);
    drop(faulty);
    let through_sdk = cloud.through_sdk.total();
    report.sdk_calls = through_sdk.calls;
    report.sdk_engine_time = through_sdk.time;
    report.sdk_time = cloud.sdk_time.total();
    report.engine = cloud.through_sdk.by_operation();
    for (operation, time) in cloud.direct.by_operation() {
        *report.engine.entry(operation).or_default() += time;
    }
    report.choices = choices.taken();
    report.faults = report
        .choices
        .iter()
        .filter(|c| c.kind == Kind::Fault)
        .count();
    Ok((report, cloud))
}

/// A schedule that runs this many states has a storm of executions that never settles: it is
/// stopped and reported.
const MAX_STATES: usize = 100_000;

/// What an EXPRESS execution may run (then it stops).
const EXPRESS_LIMIT: Duration = Duration::minutes(5);

/// The cleanup function's configuration as template.yaml sets it for the workflow type.
fn cleanup_config(shape: &Shape) -> CleanupConfig {
    CleanupConfig {
        // SAGA_DEADLINE_MINUTES: !If [IsExpress, "10", "25"]
        saga_deadline: Duration::minutes(if shape.express() { 10 } else { 25 }),
        ..CleanupConfig::default()
    }
}

/// One or two lines of the shared products, one to three units each.
fn draw_order(rng: &mut ChaCha8Rng, skus: &[Sku]) -> Value {
    let lines = rng.random_range(1..=2_usize);
    let mut items = Vec::new();
    for sku in skus {
        if items.len() < lines && rng.random_bool(0.5) {
            items.push(json!({"sku": sku.as_str(), "quantity": rng.random_range(1..=3_u32)}));
        }
    }
    if items.is_empty() {
        items.push(json!({"sku": skus[0].as_str(), "quantity": 1}));
    }
    json!({ "items": items })
}

/// An API call between two states, as the seed drew it. A call with an `Idempotency-Key` is
/// sent twice (`sends`) when a client retries after a lost answer.
enum ApiCall {
    /// A customer places an order with an Idempotency-Key; the retry gets the same order.
    Place {
        user: String,
        body: Value,
        sends: usize,
    },
    /// A customer deposits 5 to 20 euros with an Idempotency-Key.
    Deposit {
        user: String,
        cents: i64,
        sends: usize,
    },
    /// An admin adds up to three units, or takes up to two away, with an Idempotency-Key.
    AdjustStock { sku: Sku, delta: i64, sends: usize },
    /// An admin changes a price (an `i32`, as it was drawn when the regression seeds were found).
    PutPrice { sku: Sku, cents: i32 },
}

impl ApiCall {
    /// Every draw a call takes, made whether or not the call happens (`choices`).
    fn draw(rng: &mut ChaCha8Rng, users: &[String], skus: &[Sku]) -> Self {
        let user = users[rng.random_range(0..users.len())].clone();
        let sku = skus[rng.random_range(0..skus.len())].clone();
        let sends = if rng.random_bool(0.3) { 2 } else { 1 };
        match rng.random_range(0..4_u8) {
            0 => Self::Place {
                user,
                body: draw_order(rng, skus),
                sends,
            },
            1 => Self::Deposit {
                user,
                cents: rng.random_range(5..=20) * 100,
                sends,
            },
            2 => Self::AdjustStock {
                sku,
                delta: rng.random_range(-2..=3_i64),
                sends,
            },
            _ => Self::PutPrice {
                sku,
                cents: rng.random_range(8..=12) * 100,
            },
        }
    }
}

/// Makes the API calls, through the same use cases and ports as the HTTP handlers.
struct Api<'a, 'p> {
    cloud: &'a Cloud,
    placing: &'a PlaceOrder<'p, DynamoProductView, DynamoOrders, Starter<'p>, MemoryEvents>,
    catalog: &'a CatalogApi<DynamoInventory, Topic<'p>>,
}

impl Api<'_, '_> {
    /// Makes `call`; a placed order is returned for the scheduler to track.
    async fn make(
        &self,
        call: ApiCall,
        report: &mut Report,
    ) -> Result<Option<(OrderId, String)>, String> {
        report.api_calls += 1;
        let now = self.cloud.clock.now();
        let key = format!("k-{}", report.api_calls);
        match call {
            ApiCall::Place { user, body, sends } => {
                let request = OrderRequest::from_json(&body).map_err(|e| format!("{e:?}"))?;
                let mut first = None;
                for _ in 0..sends {
                    let placed = self.placing.place(&user, Some(&key), &request, None).await;
                    // A refusal (the product's price changed under the view) is an answer.
                    let Ok((order, _)) = placed else { continue };
                    match first {
                        None => first = Some(order.order_id),
                        Some(id) if id != order.order_id => report.violations.push(format!(
                            "{user}'s retry of key {key} placed {} after {id}",
                            order.order_id
                        )),
                        Some(_) => {}
                    }
                }
                Ok(first.map(|order_id| {
                    report.placed.push(Placed {
                        order_id,
                        user: user.clone(),
                        body,
                    });
                    (order_id, user)
                }))
            }
            // As the handler does, each request makes its own entry (its own id, so its own
            // transaction token).
            ApiCall::Deposit { user, cents, sends } => {
                let amount = Money::new(cents, eur());
                let by = ChangedBy::user(&user, None);
                for _ in 0..sends {
                    let entry = LedgerEntry::new(EntryType::Deposit, amount.clone(), None, now);
                    let record = DepositKey {
                        user_id: user.clone(),
                        key: key.clone(),
                        entry: entry.clone(),
                    };
                    let deposited = self
                        .cloud
                        .billing
                        .deposit(&user, &entry, Some(&record), &by)
                        .await;
                    if deposited == Ok(DepositOutcome::Deposited) {
                        *report.deposited.entry(user.clone()).or_default() += amount.amount;
                    }
                }
                Ok(None)
            }
            // Through the catalog API, which announces the product after the change.
            ApiCall::AdjustStock { sku, delta, sends } => {
                let body = json!({ "delta": delta }).to_string();
                for _ in 0..sends {
                    // A refusal (zero, or more than is available) is an answer.
                    let changed = self
                        .catalog
                        .adjust_stock(
                            "admin",
                            Some(&key),
                            sku.as_str(),
                            body.as_bytes(),
                            now,
                            None,
                        )
                        .await;
                    if changed.is_ok_and(|c| !c.replayed) {
                        *report.restocked.entry(sku.clone()).or_default() += delta;
                    }
                }
                Ok(None)
            }
            // The view follows through the product queue (`products.rs`).
            ApiCall::PutPrice { sku, cents } => {
                let body = json!({
                    "name": format!("{sku} product"),
                    "price": { "amount": cents, "currency": "EUR" },
                })
                .to_string();
                let put = self
                    .catalog
                    .put_product("admin", None, sku.as_str(), body.as_bytes(), now)
                    .await;
                if let Err(e) = put {
                    report.violations.push(format!(
                        "an admin's price change of {sku} was refused: {e:?}"
                    ));
                }
                Ok(None)
            }
        }
    }
}

fn store<T>(result: Result<T, StoreError>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}

/// The units `shape` starts each product with, by SKU.
pub fn initial_stock(skus: &[Sku], shape: &Shape) -> HashMap<Sku, i64> {
    skus.iter().map(|s| (s.clone(), shape.stock)).collect()
}
