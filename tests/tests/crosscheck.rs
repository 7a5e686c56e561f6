//! The simulator against the local cloud (issue 18): fault-free schedules of the simulator, each
//! order's saga run to its end before the next starts, are replayed on the stack (the same
//! world, the same orders placed through the API in the same order, each waited for until its
//! execution ended) and both must end in the same state: every order's status, reason, total,
//! milestones, reservation, payment and execution path; every user's balance and ledger; every
//! product's stock. A difference is a bug in the simulator, the emulator or the code
//! (docs/simulation.md, "Cross-check").

use e2e::{Stack, User};
use futures::StreamExt;
use order_lambda::adapters::dynamodb::{DynamoBilling, DynamoInventory, DynamoOrders};
use order_lambda::order::{OrderId, Sku};
use order_lambda::page::PageRequest;
use order_lambda::ports::{BillingStore, InventoryStore, OrderStore};
use serde_json::{Value, json};
use sim::asl::{Definition, Outcome};
use sim::schedule::{self, Report, Shape};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Instant;

/// A schedule the stack can replay: no faults, no cancels, no conflicts, STANDARD executions,
/// each run to its end before the next starts (so no outcome depends on timing).
fn sequential(orders: usize, balance: i64) -> Shape {
    Shape {
        orders,
        balance,
        fault_rate: 0.0,
        cancel_rate: 0.0,
        conflict_rate: 0.0,
        express_duplicates: None,
        interleave: false,
        ..Shape::default()
    }
    .without_operators()
    .without_outages()
}

/// The sample: `CROSSCHECK_SCHEDULES` schedules (16 unless set) from seed `CROSSCHECK_SEED` (1
/// unless set), taking three worlds in turn: the default one (ten orders, four users of 60 EUR,
/// three products of six units) for half of them; a busier, poorer one (sixteen orders, 30 EUR
/// each) for a quarter; and one of five products of three units and rich users for a quarter,
/// where orders of two lines run out on one of them. Completions and both kinds of business
/// cancellation come up (checked below).
fn sample() -> Vec<(Shape, u64)> {
    let plain = sequential(10, 6_000);
    let poor = sequential(16, 3_000);
    let scarce = Shape {
        products: 5,
        stock: 3,
        ..sequential(12, 20_000)
    };
    let number = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
    };
    let first = number("CROSSCHECK_SEED", 1);
    (0..number("CROSSCHECK_SCHEDULES", 16))
        .map(|i| {
            let shape = match i % 4 {
                0 | 1 => plain.clone(),
                2 => poor.clone(),
                _ => scarce.clone(),
            };
            (shape, first + i)
        })
        .collect()
}

/// Schedules replayed on the stack at once (their worlds are disjoint): more only queue up on
/// the emulator, one process behind every call.
const AT_ONCE: usize = 16;

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fault_free_schedules_end_the_same_on_the_simulator_and_the_local_cloud() {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition =
        Definition::load(text, &sim::cloud::substitutions()).expect("the saga's definition loads");
    let started = Instant::now();

    // The simulator first: it is fast, and a sample without every kind of ending is refused
    // before the stack is touched.
    let mut simulated = Vec::new();
    for (shape, seed) in sample() {
        let (report, cloud) = schedule::run_keeping(&definition, &shape, seed)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: the simulator failed: {e}"));
        assert!(
            report.violations.is_empty() && report.faults == 0 && report.cancels == 0,
            "seed {seed}: a cross-checked schedule has no faults, no cancels and no broken \
             property: {} faults, {} cancels, {:?}",
            report.faults,
            report.cancels,
            report.violations
        );
        // The replay places the shape's orders at one price; anything else the simulator did to
        // its world (another order, a price change, a restock, a deposit) is not replayed and
        // would show as a difference.
        assert_eq!(
            report.placed.len(),
            shape.orders,
            "seed {seed}: the simulator placed orders the shape did not ask for"
        );
        let world = World::simulated(&report, &shape);
        let mut prices = std::collections::BTreeSet::new();
        for (id, _) in &world.orders {
            let order = cloud
                .orders
                .get(*id)
                .await
                .expect("read a simulated order")
                .expect("the simulator saved its orders");
            prices.extend(order.lines.iter().map(|l| l.unit_price.amount));
        }
        assert_eq!(
            prices.len(),
            1,
            "seed {seed}: the simulated orders were priced {prices:?}, not at one price"
        );
        let price = *prices.first().expect("one price");
        let state = final_state(
            Stores {
                orders: &cloud.orders,
                inventory: &cloud.inventory,
                billing: &cloud.billing,
            },
            &world,
            &simulated_paths(&report),
        )
        .await;
        simulated.push(Simulated {
            shape,
            seed,
            report,
            price,
            state,
        });
    }
    let sim_took = started.elapsed();
    let mut endings: BTreeMap<String, usize> = BTreeMap::new();
    for run in &simulated {
        let ends = run.endings();
        println!(
            "crosscheck: seed {} ({}): {ends:?}",
            run.seed,
            describe(&run.shape)
        );
        for (ending, n) in ends {
            *endings.entry(ending).or_default() += n;
        }
    }
    for ending in ["COMPLETED", "OUT_OF_STOCK", "PAYMENT_DECLINED"] {
        assert!(
            endings.get(ending).is_some_and(|n| *n > 0),
            "the sample has no {ending} order, so it cannot show the two clouds agree on it: \
             {endings:?}"
        );
    }

    // Then the stack: several schedules at once, each one's orders one at a time.
    let stack = Stack::connect().await;
    let replayed: Vec<FinalState> = futures::stream::iter(&simulated)
        .map(|run| replay(&stack, run))
        .buffered(AT_ONCE)
        .collect()
        .await;
    let mut differences = Vec::new();
    let mut fields = 0;
    for (run, cloud) in simulated.iter().zip(&replayed) {
        fields += run.state.len();
        // In order: by subject (orders by their place), then field; each key once.
        let keys: std::collections::BTreeSet<_> = run.state.keys().chain(cloud.keys()).collect();
        for key in keys {
            let (sim, local) = (run.state.get(key), cloud.get(key));
            if sim != local {
                differences.push(format!(
                    "seed {} ({}): {} {}: simulator {}, local cloud {}",
                    run.seed,
                    describe(&run.shape),
                    key.0,
                    key.1,
                    sim.map_or("(none)", String::as_str),
                    local.map_or("(none)", String::as_str),
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "the simulator and the local cloud ended differently ({} differences):\n  {}",
        differences.len(),
        differences.join("\n  ")
    );
    // The paths both engines took, so a reader sees which states the sample went through.
    let mut paths: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &simulated {
        for ((subject, field), path) in &run.state {
            if matches!(subject, Subject::Order(..)) && *field == "execution" {
                *paths.entry(path.as_str()).or_default() += 1;
            }
        }
    }
    for (path, n) in &paths {
        println!("crosscheck: {n} executions {path}");
    }
    let seeds: Vec<u64> = simulated.iter().map(|r| r.seed).collect();
    println!(
        "crosscheck: {} schedules (seeds {seeds:?}), {} orders {endings:?}, {fields} fields equal; \
         simulator {:.1} s, local cloud {:.1} s",
        simulated.len(),
        simulated
            .iter()
            .map(|r| r.report.placed.len())
            .sum::<usize>(),
        sim_took.as_secs_f64(),
        (started.elapsed() - sim_took).as_secs_f64(),
    );
}

/// A shape in a line, for the report and a difference.
fn describe(shape: &Shape) -> String {
    format!(
        "{} orders, {} users of {} cents, {} products of {} units",
        shape.orders, shape.users, shape.balance, shape.products, shape.stock
    )
}

/// One simulated schedule and the state it ended in.
struct Simulated {
    shape: Shape,
    seed: u64,
    report: Report,
    /// The price every simulated order paid per unit.
    price: i64,
    state: FinalState,
}

impl Simulated {
    /// How many orders ended each way: `COMPLETED`, or the reason of a cancellation.
    fn endings(&self) -> BTreeMap<String, usize> {
        let mut endings = BTreeMap::new();
        for (key, status) in &self.state {
            if let (Subject::Order(..), "status") = key {
                let ending = match self.state.get(&(key.0.clone(), "reason")) {
                    Some(reason) if reason != "-" => reason.clone(),
                    _ => status.clone(),
                };
                *endings.entry(ending).or_default() += 1;
            }
        }
        endings
    }
}

/// What a field belongs to, named the same on both clouds: the simulator's names (`user-1`,
/// `P0`), the orders by their place in the schedule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Order(usize, String),
    User(String),
    Product(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Order(index, user) => write!(f, "order {index} ({user})"),
            Self::User(user) => write!(f, "{user}"),
            Self::Product(sku) => write!(f, "product {sku}"),
        }
    }
}

/// The final state, field by field.
type FinalState = BTreeMap<(Subject, &'static str), String>;

/// One cloud's world: its ids for the simulator's orders, users and products, position by
/// position.
struct World {
    orders: Vec<(OrderId, String)>,
    users: Vec<(String, String)>,
    skus: Vec<(Sku, String)>,
}

impl World {
    fn simulated(report: &Report, shape: &Shape) -> Self {
        Self {
            orders: report
                .placed
                .iter()
                .map(|p| (p.order_id, p.user.clone()))
                .collect(),
            users: (0..shape.users)
                .map(|i| format!("user-{i}"))
                .map(|u| (u.clone(), u))
                .collect(),
            skus: (0..shape.products)
                .map(|i| {
                    let name = format!("P{i}");
                    (Sku::try_from(name.as_str()).expect("a SKU"), name)
                })
                .collect(),
        }
    }
}

struct Stores<'a> {
    orders: &'a DynamoOrders,
    inventory: &'a DynamoInventory,
    billing: &'a DynamoBilling,
}

/// The simulator's execution of each order: its status and the states it entered.
fn simulated_paths(report: &Report) -> HashMap<String, String> {
    report
        .ended
        .iter()
        .map(|e| {
            let status = match &e.outcome {
                Outcome::Succeeded(_) => "SUCCEEDED".to_owned(),
                Outcome::Failed(error) => format!("FAILED {}", error.error),
                Outcome::TimedOut => "TIMED_OUT".to_owned(),
            };
            (e.name.clone(), path(&status, &e.states))
        })
        .collect()
}

fn path(status: &str, states: &[String]) -> String {
    format!("{status}: {}", states.join(" > "))
}

/// Reads the final state of `world` from one cloud's stores, through the same adapters on both.
/// `executions`: each execution's path by name (an order id).
async fn final_state(
    stores: Stores<'_>,
    world: &World,
    executions: &HashMap<String, String>,
) -> FinalState {
    let mut state = FinalState::new();
    let index: HashMap<OrderId, usize> = world
        .orders
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    for (i, (id, user)) in world.orders.iter().enumerate() {
        let subject = Subject::Order(i, user.clone());
        let mut field = |name: &'static str, value: String| {
            state.insert((subject.clone(), name), value);
        };
        let order = stores
            .orders
            .get(*id)
            .await
            .expect("read an order")
            .unwrap_or_else(|| panic!("order {id} is missing"));
        field("status", order.status.as_str().to_owned());
        field("reason", order.reason.unwrap_or_else(|| "-".into()));
        field("total", money(&order.total));
        let steps: Vec<String> = order.timeline.iter().map(|m| wire(json!(m.step))).collect();
        field("milestones", steps.join(", "));
        field("delivery booked", order.delivery.is_some().to_string());
        let reservation = stores
            .inventory
            .reservation(*id)
            .await
            .expect("read a reservation");
        field(
            "reservation",
            reservation.map_or("-".into(), |r| {
                let lines: Vec<String> = r
                    .lines
                    .iter()
                    .map(|l| format!("{} x{}", sku_name(world, &l.sku), l.quantity))
                    .collect();
                format!("{} [{}]", wire(json!(r.status)), lines.join(", "))
            }),
        );
        let payment = stores.billing.payment(*id).await.expect("read a payment");
        field(
            "payment",
            payment.map_or("-".into(), |p| {
                format!("{} {}", wire(json!(p.status)), money(&p.amount))
            }),
        );
        field(
            "execution",
            executions
                .get(&id.to_string())
                .cloned()
                .unwrap_or_else(|| "(no execution)".into()),
        );
    }
    for (id, name) in &world.users {
        let subject = Subject::User(name.clone());
        let account = stores
            .billing
            .account(id)
            .await
            .expect("read an account")
            .unwrap_or_else(|| panic!("{name} has no account"));
        state.insert(
            (subject.clone(), "balance"),
            format!("{} {}", account.balance, account.currency.as_str()),
        );
        // Oldest first, as the entries were made; each names its order by its place.
        let mut ledger = full_ledger(stores.billing, id).await;
        ledger.reverse();
        let entries: Vec<String> = ledger
            .iter()
            .map(|e| {
                let order = e.order_id.map_or("no order".into(), |o| {
                    index
                        .get(&o)
                        .map_or(format!("order {o} not placed here"), |i| {
                            format!("order {i}")
                        })
                });
                format!("{} {} for {order}", wire(json!(e.kind)), money(&e.amount))
            })
            .collect();
        state.insert((subject, "ledger"), format!("[{}]", entries.join(", ")));
    }
    for (sku, name) in &world.skus {
        let product = stores
            .inventory
            .stock(sku)
            .await
            .expect("read a product")
            .unwrap_or_else(|| panic!("product {name} is missing"));
        let subject = Subject::Product(name.clone());
        state.insert(
            (subject.clone(), "available"),
            product.available.to_string(),
        );
        state.insert((subject, "reserved"), product.reserved.to_string());
    }
    state
}

/// Replays one simulated schedule on the stack and reads the state it ended in.
async fn replay(stack: &Stack, run: &Simulated) -> FinalState {
    let shape = &run.shape;
    let users: Vec<User> =
        futures::future::join_all((0..shape.users).map(|_| stack.user(Some(shape.balance)))).await;
    let skus: Vec<Sku> = futures::future::join_all(
        (0..shape.products).map(|_| stack.product(shape.stock, run.price)),
    )
    .await;
    let mut orders = Vec::new();
    let mut executions = HashMap::new();
    for (i, placed) in run.report.placed.iter().enumerate() {
        let user = &users[position(&placed.user, "user-")];
        let body = on_stack(&placed.body, &skus);
        let (status, accepted) = stack.post_order(user, &body, None).await;
        assert_eq!(status, 202, "seed {}, order {i}: {accepted}", run.seed);
        let id = accepted["orderId"]
            .as_str()
            .unwrap_or_else(|| panic!("seed {}, order {i}: no orderId in {accepted}", run.seed))
            .to_owned();
        // To the execution's end, as the simulator ran it, before the next order.
        stack.wait_until_settled(user, &id).await;
        let status = stack.wait_for_execution(&id).await;
        executions.insert(id.clone(), path(&status, &entered_states(stack, &id).await));
        orders.push((
            id.parse::<OrderId>().expect("an order id"),
            placed.user.clone(),
        ));
    }
    let world = World {
        orders,
        users: users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), format!("user-{i}")))
            .collect(),
        skus: skus
            .into_iter()
            .enumerate()
            .map(|(i, sku)| (sku, format!("P{i}")))
            .collect(),
    };
    final_state(
        Stores {
            orders: &stack.orders,
            inventory: &stack.inventory,
            billing: &stack.billing,
        },
        &world,
        &executions,
    )
    .await
}

/// The simulator's order body with the stack's SKUs for its `P<n>`.
fn on_stack(body: &Value, skus: &[Sku]) -> Value {
    let items: Vec<Value> = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a simulated order has items: {body}"))
        .iter()
        .map(|item| {
            let sku = item["sku"].as_str().expect("a SKU");
            json!({"sku": skus[position(sku, "P")], "quantity": item["quantity"]})
        })
        .collect();
    json!({ "items": items })
}

/// `3` of `user-3` or `P3`: the simulator names its users and products by position.
fn position(name: &str, prefix: &str) -> usize {
    name.strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the simulator's name {name} is not {prefix}<n>"))
}

fn sku_name(world: &World, sku: &Sku) -> String {
    world
        .skus
        .iter()
        .find(|(s, _)| s == sku)
        .map_or_else(|| format!("{sku} (not in this world)"), |(_, n)| n.clone())
}

/// The states an execution entered, in order.
async fn entered_states(stack: &Stack, name: &str) -> Vec<String> {
    let arn = format!(
        "{}:{name}",
        stack.saga_arn.replacen(":stateMachine:", ":execution:", 1)
    );
    let mut events = Vec::new();
    let mut pages = stack
        .sfn
        .get_execution_history()
        .execution_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        events.extend(
            page.expect("the execution's history")
                .events()
                .iter()
                .cloned(),
        );
    }
    events.sort_by_key(|e| e.id());
    events
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_owned())
        .collect()
}

async fn full_ledger(
    billing: &DynamoBilling,
    user_id: &str,
) -> Vec<order_lambda::billing::LedgerEntry> {
    let mut entries = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = billing.ledger(user_id, &page).await.expect("read a ledger");
        entries.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return entries,
        }
    }
}

fn money(m: &order_lambda::money::Money) -> String {
    format!("{} {}", m.amount, m.currency.as_str())
}

/// A value as the tables and the API spell it (`CHARGED`, `RESERVED`), from its `json!`.
fn wire(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
