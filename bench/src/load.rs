//! Throughput and latency: C workers each place an order through the HTTP API (ministack's API
//! Gateway at `GATEWAY_URL`, with a Cognito access token), wait for its terminal status, and place
//! the next, for a fixed time per concurrency level. Latency is from just before `POST /orders` to
//! the terminal milestone's time in the order's own timeline (the saga's status write), so the
//! polling interval does not inflate it.

use crate::stack::{Stack, cpu_delta, cpu_sample};
use crate::util::{quantile, write_json};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TERMINAL: [&str; 3] = ["COMPLETED", "CANCELLED", "COMPENSATION_FAILED"];

pub struct Outcome {
    pub order_id: Option<String>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    /// `GET /orders/{id}` requests the client made for it.
    pub polls: usize,
}

/// Places one order and waits for its terminal status: the first `GET /orders/{id}` after
/// `first_poll`, then one every `poll`.
pub async fn place_order(
    stack: &Stack,
    token: &str,
    first_poll: Duration,
    poll: Duration,
) -> Outcome {
    let started: DateTime<Utc> = Utc::now();
    let body = json!({"items": [{"sku": "SKU-BENCH", "quantity": 1}]});
    let (status, created) = stack.api("POST", "/orders", token, Some(body)).await;
    let Some(id) = created["orderId"]
        .as_str()
        .map(str::to_string)
        .filter(|_| status == 202)
    else {
        return Outcome {
            order_id: None,
            latency_ms: None,
            error: Some(format!("POST /orders: {status} {created}")),
            polls: 0,
        };
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut polls = 0;
    loop {
        tokio::time::sleep(if polls == 0 { first_poll } else { poll }).await;
        polls += 1;
        let (s, order) = stack
            .api("GET", &format!("/orders/{id}"), token, None)
            .await;
        let st = order["status"].as_str().unwrap_or("");
        if s == 200 && TERMINAL.contains(&st) {
            if st != "COMPLETED" {
                return Outcome {
                    order_id: Some(id),
                    latency_ms: None,
                    error: Some(format!("ended {st}: {}", order["reason"])),
                    polls,
                };
            }
            let at = order["timeline"]
                .as_array()
                .and_then(|t| t.iter().find(|m| m["step"] == "COMPLETED"))
                .and_then(|m| m["at"].as_str())
                .and_then(|a| DateTime::parse_from_rfc3339(a).ok());
            let latency = at.map(|a| {
                (a.with_timezone(&Utc) - started)
                    .num_microseconds()
                    .unwrap_or(0) as f64
                    / 1000.0
            });
            return Outcome {
                order_id: Some(id),
                latency_ms: latency,
                error: None,
                polls,
            };
        }
        if Instant::now() > deadline {
            return Outcome {
                order_id: Some(id),
                latency_ms: None,
                error: Some(format!("no terminal status in 180 s (last {s} {st})")),
                polls,
            };
        }
    }
}

pub async fn run(
    stack: Arc<Stack>,
    users: Vec<(String, String)>,
    levels: &[usize],
    seconds: u64,
    poll_ms: u64,
    warmup_seconds: u64,
    out: &Path,
) {
    if warmup_seconds > 0 {
        // Discarded: the first level would otherwise also pay the stack's first function starts.
        let c = levels.first().copied().unwrap_or(1);
        eprintln!("load: warm-up, {c} clients for {warmup_seconds} s (not counted)");
        level(&stack, &users, c, warmup_seconds, poll_ms).await;
    }
    let mut results = Vec::new();
    for &c in levels {
        results.push(level(&stack, &users, c, seconds, poll_ms).await);
    }
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "secondsPerLevel": seconds,
            "pollMs": poll_ms,
            "warmupSeconds": warmup_seconds,
            "levels": results,
        }),
    );
}

/// One level: `c` clients for `seconds`, then the orders in flight are waited for.
async fn level(
    stack: &Arc<Stack>,
    users: &[(String, String)],
    c: usize,
    seconds: u64,
    poll_ms: u64,
) -> Value {
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "load c={c:<3} {{bar:40}} {{elapsed}}/{seconds}s {{msg}}"
        ))
        .expect("progress template"),
    );
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0 = cpu_sample(stack);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..c {
        let stack = stack.clone();
        let token = users[w % users.len()].1.clone();
        let (done, errors) = (done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            // The client's first look comes when its recent orders took (the median of its
            // last 5 latencies), then every poll_ms: polling is load on the emulator too
            // (a `GET /orders/{id}` is an API request, a get-order invocation and two reads),
            // and a fixed fast poll spends it on orders that cannot be done yet.
            let mut recent: std::collections::VecDeque<f64> = Default::default();
            while Instant::now() < end {
                let first = if recent.is_empty() {
                    poll_ms as f64
                } else {
                    crate::util::median(recent.make_contiguous())
                };
                let o = place_order(
                    &stack,
                    &token,
                    Duration::from_secs_f64(first / 1000.0),
                    Duration::from_millis(poll_ms),
                )
                .await;
                if let Some(l) = o.latency_ms {
                    recent.push_back(l);
                    if recent.len() > 5 {
                        recent.pop_front();
                    }
                }
                if o.error.is_some() {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                outcomes.push(o);
            }
            outcomes
        }));
    }
    let ticker = {
        let (bar, done, errors) = (bar.clone(), done.clone(), errors.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let el = t0.elapsed().as_secs_f64();
                bar.set_position(el.min(seconds as f64) as u64);
                let d = done.load(std::sync::atomic::Ordering::Relaxed);
                bar.set_message(format!(
                    "{d} orders ({:.1}/s), {} errors{}",
                    d as f64 / el,
                    errors.load(std::sync::atomic::Ordering::Relaxed),
                    if el > seconds as f64 {
                        ", draining"
                    } else {
                        ""
                    }
                ));
            }
        })
    };
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.expect("worker"));
    }
    ticker.abort();
    let elapsed = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let cpu = cpu_delta(&cpu0, &cpu_sample(stack));
    let lat: Vec<f64> = outcomes.iter().filter_map(|o| o.latency_ms).collect();
    let errs: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            Some(format!(
                "order {}: {}",
                o.order_id.as_deref().unwrap_or("-"),
                o.error.as_ref()?
            ))
        })
        .collect();
    let ok = outcomes.iter().filter(|o| o.error.is_none()).count();
    let polls: usize = outcomes.iter().map(|o| o.polls).sum();
    let cpu_share: Value = cpu
        .iter()
        .map(|(k, v)| (k.clone(), json!(v / elapsed)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let cpu_per_order: Value = cpu
        .iter()
        .map(|(k, v)| (k.clone(), json!(v * 1000.0 / ok.max(1) as f64)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let r = json!({
        "concurrency": c,
        "orders": ok,
        "errors": errs.len(),
        "errorSamples": errs.iter().take(5).collect::<Vec<_>>(),
        "seconds": elapsed,
        "ordersPerSecond": ok as f64 / elapsed,
        "pollsPerOrder": polls as f64 / outcomes.len().max(1) as f64,
        "latencyMs": {"p50": quantile(&lat, 0.5), "p95": quantile(&lat, 0.95), "p99": quantile(&lat, 0.99), "max": quantile(&lat, 1.0)},
        "cpuCoresByComponent": cpu_share,
        "cpuMsPerOrderByComponent": cpu_per_order,
    });
    eprintln!(
        "load c={c}: {ok} orders in {elapsed:.1} s = {:.2}/s, p50 {:.0} ms p95 {:.0} ms p99 {:.0} ms, {} errors, {:.1} polls per order; CPU cores used {}",
        ok as f64 / elapsed,
        quantile(&lat, 0.5),
        quantile(&lat, 0.95),
        quantile(&lat, 0.99),
        errs.len(),
        polls as f64 / outcomes.len().max(1) as f64,
        r["cpuCoresByComponent"]
    );
    r
}
