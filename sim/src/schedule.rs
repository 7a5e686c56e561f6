//! One schedule: a seed decides everything. Several users place orders at once on shared stock
//! and accounts; their saga executions advance one state at a time in an order the seed draws;
//! customers cancel at any point between two states; faults are drawn into the calls. At the
//! end, the properties are checked (`properties`). The same seed is the same run.

use crate::asl::{Call, Definition, Execution, Outcome, Resources, TaskError};
use crate::cloud::{self, Cloud};
use crate::properties::{self, Violation};
use chrono::{DateTime, Duration, Utc};
use order_adapters::dynamodb::DynamoProductView;
use order_core::billing::Account;
use order_core::cleanup::{self, CleanupConfig};
use order_core::clock::{Clock, FixedClock};
use order_core::error::StoreError;
use order_core::inventory::Product;
use order_core::listing::ListedProduct;
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, OrderRequest, Sku};
use order_core::ordering::{self, PlaceOrder};
use order_core::ports::{BillingStore, InventoryStore, ProductViewStore, SagaStart, SagaStarter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

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
struct Starter {
    started: Mutex<Vec<(String, String)>>,
    names: Mutex<BTreeSet<String>>,
    express: Option<(f64, Mutex<ChaCha8Rng>)>,
}

impl Starter {
    fn new(shape: &Shape, seed: u64) -> Self {
        Self {
            started: Mutex::new(Vec::new()),
            names: Mutex::new(BTreeSet::new()),
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
                if twice {
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

impl SagaStarter for Starter {
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
    faults: RefCell<usize>,
    /// Calls that timed out and have not committed yet.
    late: RefCell<Vec<(String, Value, Value)>>,
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
}

impl Resources for Faulty<'_> {
    async fn call(&self, resource: &str, input: Value, context: &Value) -> Call {
        let (fault, kind) = {
            let mut rng = self.rng.borrow_mut();
            (rng.random_bool(self.rate), rng.random_range(0..3_u8))
        };
        if !fault {
            return self.cloud.call(resource, input, context).await;
        }
        *self.faults.borrow_mut() += 1;
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
    let cloud = Cloud::with_conflicts(t0(), shape.conflict_rate, seed ^ 0xc0)?;
    let mut report = Report {
        seed,
        ..Report::default()
    };

    // The world: products, their view, accounts.
    let skus: Vec<Sku> = (0..shape.products)
        .map(|i| Sku::try_from(format!("P{i}").as_str()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let view = DynamoProductView::new(cloud.client.clone(), cloud::ORDERS_TABLE);
    for sku in &skus {
        let product = Product {
            sku: sku.clone(),
            name: format!("{sku} product"),
            price: Money::new(PRICE, eur()),
            available: shape.stock,
            reserved: 0,
            version: 1,
        };
        store(cloud.inventory.put_product(&product).await)?;
        store(view.apply(&ListedProduct::of(&product, t0())).await)?;
    }
    let users: Vec<String> = (0..shape.users).map(|i| format!("user-{i}")).collect();
    for user in &users {
        let account = Account {
            user_id: user.clone(),
            balance: shape.balance,
            currency: eur(),
        };
        store(cloud.billing.put_account(&account).await)?;
    }

    // The orders, placed through the order use case; their sagas start by name.
    let starter = Starter::new(shape, seed);
    let clock = FixedClock::at(t0());
    let placing = PlaceOrder {
        catalog: &view,
        orders: &cloud.orders,
        saga: &starter,
        events: &cloud.step_events,
        clock: &clock,
    };
    let mut orders = Vec::new();
    for _ in 0..shape.orders {
        let user = users[rng.random_range(0..users.len())].clone();
        let lines = rng.random_range(1..=2_usize);
        let mut items = Vec::new();
        for sku in &skus {
            if items.len() < lines && rng.random_bool(0.5) {
                items.push(json!({"sku": sku.as_str(), "quantity": rng.random_range(1..=3_u32)}));
            }
        }
        if items.is_empty() {
            items.push(json!({"sku": skus[0].as_str(), "quantity": 1}));
        }
        let body = json!({ "items": items });
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
        faults: RefCell::new(0),
        late: RefCell::new(Vec::new()),
    };
    let mut running: Vec<Execution<'_>> = Vec::new();
    let start = |running: &mut Vec<Execution<'d>>, report: &mut Report| -> Result<(), String> {
        for (name, input) in starter.take() {
            let input: Value = serde_json::from_str(&input).map_err(|e| e.to_string())?;
            running.push(Execution::start(
                definition,
                cloud::STATE_MACHINE_ARN,
                &name,
                input,
                cloud.clock.now(),
            ));
            report.executions += 1;
        }
        Ok(())
    };
    start(&mut running, &mut report)?;
    let mut ended = Vec::new();
    // One clock for the whole schedule: a second passes between two scheduler steps, and an
    // execution's own time (its calls, its retries' delays) moves it on.
    let mut now = t0();
    while !running.is_empty() {
        now += Duration::seconds(1);
        if rng.random_bool(shape.cancel_rate) {
            let (order_id, user) = &orders[rng.random_range(0..orders.len())];
            cloud.clock.set(now);
            // Refused cancellations (shipped, cancelled already) are answers, not failures.
            let _ = ordering::cancel(&cloud.orders, &starter, &cloud.clock, user, *order_id).await;
            report.cancels += 1;
            start(&mut running, &mut report)?;
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
    report.faults = *faulty.faults.borrow();

    // Then the scheduled cleanup, with the clock past every deadline, finishes what a saga left
    // (an execution that stopped leaves its order to it), and the executions it starts run out.
    let ports = cleanup::Ports {
        orders: &cloud.orders,
        inventory: &cloud.inventory,
        billing: &cloud.billing,
        saga: &starter,
        events: &cloud.step_events,
    };
    for _ in 0..3 {
        now += Duration::days(2);
        cloud.clock.set(now);
        let cleaned = cleanup::run(&ports, &cloud.clock, &CleanupConfig::default()).await;
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
    let checked = properties::check(&cloud, &skus, shape, &users, &orders, &report.ended).await?;
    report.statuses = checked.statuses;
    report.violations = checked.violations;
    drop(faulty);
    Ok((report, cloud))
}

fn store<T>(result: Result<T, StoreError>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}

/// The units `shape` starts each product with, by SKU.
pub fn initial_stock(skus: &[Sku], shape: &Shape) -> HashMap<Sku, i64> {
    skus.iter().map(|s| (s.clone(), shape.stock)).collect()
}
