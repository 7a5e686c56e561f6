//! `make load`: an open-loop load generator for a deployed stack's API. Orders arrive at a fixed
//! rate whatever the API's latency (an open loop: a slow API does not slow the arrivals, as real
//! shoppers would not wait for each other), each `POST /orders` with its own `Idempotency-Key`,
//! then `GET /orders/{id}` until the order settles. After a warm-up, it reports the orders/s
//! achieved, the latency from `POST` to the order's `COMPLETED` milestone (p50/p95/p99), and the
//! errors by kind: HTTP statuses (429 is API Gateway's throttle), orders cancelled with a reason
//! (`RESERVATION_FAILED` and `PAYMENT_FAILED` are a saga whose retries ran out, e.g. on Lambda
//! throttles), and orders that did not settle in time.
//!
//! Its users, their money and the product come from `tests/smoke/loadsetup.py` (`make load` makes
//! them before and deletes the users after): a JSON file naming the API, the tokens and the SKU.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "An open-loop load generator for the orders API (make load).")]
struct Args {
    /// The setup loadsetup.py wrote: {"api", "sku", "users": [{"token"}]}.
    #[arg(long)]
    setup: std::path::PathBuf,
    /// Orders started per second (5,000 a minute is 83.3).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of measured load, after the warm-up.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds of load before measuring (cold starts, scaling up).
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds an order may take to settle before it counts as not settled.
    #[arg(long, default_value_t = 120)]
    settle_timeout: u64,
    /// Milliseconds between two `GET /orders/{id}` of one order.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Print the summary as JSON too.
    #[arg(long)]
    json: bool,
}

#[derive(Deserialize)]
struct Setup {
    api: String,
    sku: String,
    users: Vec<SetupUser>,
}

#[derive(Deserialize)]
struct SetupUser {
    token: String,
}

/// What became of one order started in the measured window.
enum Outcome {
    Completed(Duration),
    /// An HTTP status other than the expected one, on the POST or a GET.
    Status(u16),
    /// Cancelled (or failed) by the saga, with its reason.
    Settled(String),
    NotSettled,
    Transport(String),
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    // reqwest's rustls takes the process's crypto provider: aws-lc, as the SDK uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = Args::parse();
    let setup: Setup = serde_json::from_str(
        &std::fs::read_to_string(&args.setup)
            .map_err(|e| format!("reading {}: {e}", args.setup.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.setup.display()))?;
    if setup.users.is_empty() || !args.rate.is_finite() || args.rate <= 0.0 {
        return Err("the setup names no users, or the rate is not positive".into());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(35))
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    let setup = Arc::new(setup);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let total = Duration::from_secs(args.warmup + args.duration);
    let measured_from = Duration::from_secs(args.warmup);
    let bar = ProgressBar::new(total.as_secs());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut sent = 0u64;
    let mut measured = 0u64;
    loop {
        let due = interval.mul_f64(sent as f64);
        let elapsed = started.elapsed();
        if due >= total {
            break;
        }
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
        let counts = due >= measured_from;
        measured += u64::from(counts);
        let user = sent as usize % setup.users.len();
        let (http, setup, tally) = (http.clone(), setup.clone(), tally.clone());
        let settle = Duration::from_secs(args.settle_timeout);
        let poll = Duration::from_millis(args.poll_ms);
        tasks.push(tokio::spawn(async move {
            let outcome = one_order(&http, &setup, user, settle, poll).await;
            if counts {
                let mut tally = tally.lock().await;
                match outcome {
                    Outcome::Completed(latency) => tally.latencies.push(latency),
                    Outcome::Status(status) => {
                        *tally.errors.entry(format!("HTTP {status}")).or_default() += 1
                    }
                    Outcome::Settled(reason) => *tally.errors.entry(reason).or_default() += 1,
                    Outcome::NotSettled => {
                        *tally
                            .errors
                            .entry("not settled in time".into())
                            .or_default() += 1
                    }
                    Outcome::Transport(kind) => *tally.errors.entry(kind).or_default() += 1,
                }
            }
        }));
        sent += 1;
        bar.set_position(started.elapsed().as_secs().min(total.as_secs()));
        bar.set_message(format!("{sent} orders started"));
    }
    bar.set_message(format!("{sent} orders started; waiting for them to settle"));
    for task in tasks {
        let _ = task.await;
    }
    bar.finish_and_clear();
    let wall = started.elapsed();
    let tally = tally.lock().await;
    report(&args, &tally, measured, wall);
    Ok(())
}

async fn one_order(
    http: &reqwest::Client,
    setup: &Setup,
    user: usize,
    settle: Duration,
    poll: Duration,
) -> Outcome {
    let token = &setup.users[user].token;
    let posted = Instant::now();
    let posted_at = chrono::Utc::now();
    let response = http
        .post(format!("{}/orders", setup.api))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"items": [{"sku": setup.sku, "quantity": 1}]}))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Outcome::Transport(transport_kind(&e)),
    };
    if response.status().as_u16() != 202 {
        return Outcome::Status(response.status().as_u16());
    }
    let accepted: Value = response.json().await.unwrap_or(Value::Null);
    let Some(id) = accepted["orderId"].as_str().map(str::to_owned) else {
        return Outcome::Transport("202 without an orderId".into());
    };
    while posted.elapsed() < settle {
        tokio::time::sleep(poll).await;
        let response = http
            .get(format!("{}/orders/{id}", setup.api))
            .bearer_auth(token)
            .send()
            .await;
        let order: Value = match response {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                return Outcome::Status(r.status().as_u16());
            }
            Ok(_) | Err(_) => continue,
        };
        match order["status"].as_str() {
            Some("COMPLETED" | "SHIPPED" | "DELIVERED") => {
                return Outcome::Completed(completed_after(&order, posted_at, posted));
            }
            Some("CANCELLED") => {
                let reason = order["reason"].as_str().unwrap_or("?");
                return Outcome::Settled(format!("CANCELLED {reason}"));
            }
            Some("COMPENSATION_FAILED") => return Outcome::Settled("COMPENSATION_FAILED".into()),
            _ => {}
        }
    }
    Outcome::NotSettled
}

/// From the POST to the order's `COMPLETED` milestone (the service's clock, so the poll interval
/// adds nothing); the time the client saw it when the timeline has no such milestone.
fn completed_after(
    order: &Value,
    posted_at: chrono::DateTime<chrono::Utc>,
    posted: Instant,
) -> Duration {
    order["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["step"] == "COMPLETED")
        .and_then(|m| m["at"].as_str())
        .and_then(|at| at.parse::<chrono::DateTime<chrono::Utc>>().ok())
        .and_then(|at| (at - posted_at).to_std().ok())
        .unwrap_or_else(|| posted.elapsed())
}

fn transport_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "client timeout".into()
    } else if error.is_connect() {
        "connection refused".into()
    } else {
        "transport error".into()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(args: &Args, tally: &Tally, measured: u64, wall: Duration) {
    let mut latencies = tally.latencies.clone();
    latencies.sort();
    let completed = latencies.len();
    let errors: usize = tally.errors.values().sum();
    let achieved = completed as f64 / args.duration as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p95, p99) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
    );
    let throttles = tally.errors.get("HTTP 429").copied().unwrap_or(0);
    println!(
        "load: {:.1} orders/s offered for {} s after {} s of warm-up: {measured} orders, {completed} completed ({achieved:.1}/s), {errors} errors, {throttles} throttled (429); wall {:.0} s",
        args.rate,
        args.duration,
        args.warmup,
        wall.as_secs_f64()
    );
    println!(
        "load: POST to COMPLETED p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        ms(p50),
        ms(p95),
        ms(p99)
    );
    for (kind, count) in &tally.errors {
        println!("load: error {kind}: {count}");
    }
    if args.json {
        println!(
            "{}",
            json!({"offeredPerSecond": args.rate, "seconds": args.duration, "warmupSeconds": args.warmup,
                "orders": measured, "completed": completed, "completedPerSecond": achieved,
                "p50Ms": ms(p50), "p95Ms": ms(p95), "p99Ms": ms(p99), "errors": tally.errors,
                "throttled": throttles})
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn latency_is_taken_from_the_completed_milestone() {
        let posted_at: chrono::DateTime<chrono::Utc> = "2026-12-06T10:00:00Z".parse().unwrap();
        let order = json!({"timeline": [{"step": "CREATED", "at": "2026-12-06T10:00:00.100Z"},
            {"step": "COMPLETED", "at": "2026-12-06T10:00:01.250Z"}]});
        assert_eq!(
            completed_after(&order, posted_at, Instant::now()),
            Duration::from_millis(1250)
        );
    }
}
