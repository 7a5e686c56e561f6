//! Many orders at once, with and without injected faults, then every invariant checked
//! (tests/src/invariants.rs): no oversell, no double charge, every order settled.
//!
//! The chaos scenario prints its seed; `CHAOS_SEED=… CHAOS_RATE=… make test` replays a plan.
//! Which order meets which planned fault depends on timing, the plan itself does not.

use e2e::invariants::{self, Scenario};
use e2e::{Fault, Stack, User};
use futures::StreamExt;
use order_lambda::order::{OrderId, Sku};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The scenarios here each load the local cloud to its ceiling: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Places `body` for `user` as a careful client does: with an `Idempotency-Key`, retried with
/// backoff when the gateway gives up on a busy function (503/504 after 30 s), which the key
/// makes safe. Under these loads the local cloud, one Python process behind every call, may keep
/// the first wave of orders queued for longer than API Gateway waits.
async fn place(stack: &Stack, user: &User, body: &Value) -> OrderId {
    let key = uuid::Uuid::new_v4().to_string();
    let mut backoff = Duration::from_secs(1);
    let mut attempts = 0;
    let (status, accepted) = loop {
        let (status, answer) = stack.post_order(user, body, Some(&key)).await;
        attempts += 1;
        if !matches!(status, 502..=504) || attempts == 8 {
            break (status, answer);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
    };
    assert!(status == 202 || status == 200, "{status} {accepted}");
    accepted["orderId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an order id")
}

/// Waits until every order has settled and every execution for it has ended.
async fn settle(stack: &Stack, orders: &[(OrderId, &User)]) -> HashMap<OrderId, Value> {
    let settled: Vec<(OrderId, Value)> = futures::stream::iter(orders.iter())
        .map(|(id, user)| async move {
            let order = stack.wait_until_settled(user, &id.to_string()).await;
            (*id, order)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let names: std::collections::HashSet<String> =
        stack.execution_names().await.into_iter().collect();
    for (id, _) in orders {
        for name in [id.to_string(), format!("{id}-cancel")] {
            if names.contains(&name) {
                stack.wait_for_execution(&name).await;
            }
        }
    }
    // A settled order is read again: a cancellation may have completed after the first read.
    let mut latest = HashMap::new();
    for (id, user) in orders {
        latest.insert(*id, stack.get_order(user, &id.to_string()).await.1);
    }
    assert_eq!(latest.len(), settled.len());
    latest
}

fn count(orders: &HashMap<OrderId, Value>, status: &str, reason: Option<&str>) -> usize {
    orders
        .values()
        .filter(|o| o["status"] == status && reason.is_none_or(|r| o["reason"] == r))
        .count()
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn two_hundred_orders_for_fifty_units_sell_exactly_fifty() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = Stack::connect().await;
    let started = Instant::now();
    let sku = stack.product(50, 700).await;
    let mut users = Vec::new();
    for _ in 0..20 {
        users.push(stack.user(Some(1_000_000)).await);
    }
    let body = json!({"items":[{"sku": sku, "quantity": 1}]});
    let orders: Vec<(OrderId, &User)> = futures::stream::iter((0..200).map(|i| &users[i % 20]))
        .map(|user| {
            let body = &body;
            let stack = &stack;
            async move { (place(stack, user, body).await, user) }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let settled = settle(&stack, &orders).await;

    let outcomes: std::collections::BTreeMap<String, usize> =
        settled.values().fold(Default::default(), |mut m, o| {
            *m.entry(format!("{} {}", o["status"], o["reason"]))
                .or_default() += 1;
            m
        });
    assert_eq!(count(&settled, "COMPLETED", None), 50, "{outcomes:?}");
    assert_eq!(
        count(&settled, "CANCELLED", Some("OUT_OF_STOCK")),
        150,
        "{outcomes:?}"
    );
    assert_eq!(stack.stock(&sku).await, (0, 50), "all 50 sold, none left");
    let checked = invariants::check(
        &stack,
        &Scenario {
            products: vec![(sku, 50)],
            users: users.iter().map(|u| (u, 1_000_000)).collect(),
            orders,
            ..Scenario::default()
        },
    )
    .await;
    println!(
        "contention: 200 concurrent orders for 50 units in {:.1} s: {checked}",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn fifty_concurrent_orders_on_an_account_that_pays_for_ten_charge_exactly_ten() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = Stack::connect().await;
    let started = Instant::now();
    let price = 1_000;
    let buyer = stack.user(Some(10 * price)).await;
    let sku = stack.product(100, price).await;
    let body = json!({"items":[{"sku": sku, "quantity": 1}]});
    let orders: Vec<(OrderId, &User)> = futures::future::join_all(
        (0..50).map(|_| async { (place(&stack, &buyer, &body).await, &buyer) }),
    )
    .await;
    let settled = settle(&stack, &orders).await;

    assert_eq!(count(&settled, "COMPLETED", None), 10);
    assert_eq!(count(&settled, "CANCELLED", Some("PAYMENT_DECLINED")), 40);
    assert_eq!(stack.balance(&buyer).await, 0);
    assert_eq!(stack.stock(&sku).await, (90, 10));
    let checked = invariants::check(
        &stack,
        &Scenario {
            products: vec![(sku, 100)],
            users: vec![(&buyer, 10 * price)],
            orders,
            ..Scenario::default()
        },
    )
    .await;
    println!(
        "double spend: 50 concurrent orders, money for 10, in {:.1} s: {checked}",
        started.elapsed().as_secs_f64()
    );
}

// The saga's Lambda steps. The notify consumer is not one: it reads the events queue after
// the saga, and its faults are tested in notifications.rs.
const STEPS: [&str; 5] = [
    "reserve-stock",
    "charge-payment",
    "schedule-delivery",
    "release-reservation",
    "refund-payment",
];

/// One call's fault, drawn at `rate`; `Business` only where the step has a business error.
fn draw(rng: &mut StdRng, rate: f64, step: &str) -> Fault {
    if !rng.random_bool(rate) {
        return Fault::Pass;
    }
    let roll = rng.random_range(0..100);
    let has_business_error = matches!(step, "reserve-stock" | "charge-payment");
    match roll {
        0..40 => Fault::Transient,
        40..65 => Fault::CrashAfterWrite,
        65..80 => Fault::Delay {
            ms: rng.random_range(50..500),
        },
        80..90 => Fault::DelayAfterWrite {
            ms: rng.random_range(50..500),
        },
        90..98 if has_business_error => Fault::Business,
        90..98 => Fault::Transient,
        // A hang: past the task's 15 s timeout, so the call is retried while it still runs.
        _ => Fault::Delay { ms: 16_000 },
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn three_hundred_orders_under_random_faults_keep_every_invariant() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let stack = Stack::connect().await;
    let started = Instant::now();
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map(|d| d.as_nanos() as u64).unwrap_or_default()
        });
    let rate: f64 = std::env::var("CHAOS_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|r| (0.0..=1.0).contains(r))
        .unwrap_or(0.2);
    println!("chaos: seed {seed}, fault rate {rate} (replay: CHAOS_SEED={seed} CHAOS_RATE={rate})");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut products: Vec<(Sku, i64)> = Vec::new();
    for _ in 0..10 {
        let price = rng.random_range(300..2_000);
        products.push((stack.product(60, price).await, 60));
    }
    let mut users: Vec<(User, i64)> = Vec::new();
    let mut planned = 0;
    for _ in 0..20 {
        let balance = rng.random_range(30_000..80_000);
        let user = stack.user(Some(balance)).await;
        for step in STEPS {
            let plan: Vec<Fault> = (0..40).map(|_| draw(&mut rng, rate, step)).collect();
            planned += plan.iter().filter(|f| **f != Fault::Pass).count();
            stack.plan_faults(&user, step, plan).await;
        }
        users.push((user, balance));
    }
    // 300 orders of 1–3 distinct products, 1–3 units each; one in ten cancelled by its buyer
    // after 0–1.5 s; ten restocks of 5 units by an admin along the way.
    let work: Vec<(usize, Value, Option<u64>)> = (0..300)
        .map(|i| {
            let how_many = rng.random_range(1..=3);
            let lines: Vec<Value> = products
                .choose_multiple(&mut rng, how_many)
                .map(|(sku, _)| json!({"sku": sku, "quantity": rng.random_range(1..=3)}))
                .collect();
            let cancel_after = rng.random_bool(0.1).then(|| rng.random_range(0..1_500));
            (i % users.len(), json!({ "items": lines }), cancel_after)
        })
        .collect();
    let restocks: Vec<Sku> = (0..10)
        .map(|_| products.choose(&mut rng).expect("products").0.clone())
        .collect();
    println!(
        "chaos: {planned} faults planned over 20 users x {} steps",
        STEPS.len()
    );

    let admin = stack.admin().await;
    let restocking = async {
        let mut restocked: HashMap<Sku, i64> = HashMap::new();
        for sku in &restocks {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (status, answer) = stack
                .send_json(
                    &admin,
                    "POST",
                    &format!("/products/{sku}/stock"),
                    &json!({"delta": 5}),
                )
                .await;
            assert_eq!(status, 200, "{answer}");
            *restocked.entry(sku.clone()).or_default() += 5;
        }
        restocked
    };
    let ordering = futures::stream::iter(work.iter())
        .map(|(owner, body, cancel_after)| {
            let user = &users[*owner].0;
            let stack = &stack;
            async move {
                let id = place(stack, user, body).await;
                if let Some(ms) = cancel_after {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                    let (mut status, mut answer) = stack.cancel_order(user, &id.to_string()).await;
                    for _ in 0..4 {
                        if !matches!(status, 502..=504) {
                            break;
                        }
                        (status, answer) = stack.cancel_order(user, &id.to_string()).await;
                    }
                    // 200: the saga had cancelled it already (out of stock, declined).
                    assert!(matches!(status, 200 | 202), "{status} {answer}");
                }
                (id, user)
            }
        })
        .buffer_unordered(20)
        .collect::<Vec<_>>();
    let (restocked, orders) = tokio::join!(restocking, ordering);
    let placed_in = started.elapsed();
    settle(&stack, &orders).await;

    // Then the scheduled cleanup runs, as its schedule would half an hour later: with every
    // order settled it must find nothing to take back, and the invariants must still hold.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/cleanup.json"),
        )
        .expect("events/cleanup.json"),
    )
    .expect("JSON");
    event["time"] = json!(order_lambda::clock::format_time(
        chrono::Utc::now() + chrono::Duration::minutes(31)
    ));
    for run in 1..=5 {
        let (status, report) = stack.invoke("cleanup", &event).await;
        assert_eq!(status, 200, "cleanup: {report}");
        assert_eq!(report["errors"], 0, "cleanup: {report}");
        println!("chaos: cleanup run {run}: {report}");
        if report["drained"] == true {
            break;
        }
    }

    let checked = invariants::check(
        &stack,
        &Scenario {
            products,
            restocked,
            users: users.iter().map(|(u, b)| (u, *b)).collect(),
            orders,
        },
    )
    .await;
    println!(
        "chaos: seed {seed}: placed in {:.1} s, settled in {:.1} s: {checked}",
        placed_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
