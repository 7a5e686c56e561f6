//! Per-order work: moto's own request recorder (`/moto-api/recorder/*`) logs every AWS request
//! the stack makes while K orders run one after another through the happy path: our functions'
//! SDK calls (user agent `aws-sdk-rust`) and the state machine's service integrations and Lambda
//! invocations (moto's interpreter calls moto over HTTP with boto3). The execution history gives
//! state transitions and Lambda durations. The recording is then replayed against moto to
//! measure the emulator's raw rate for the same calls (its ceiling).

use crate::load::place_order;
use crate::stack::{Stack, component_cpu, cpu_delta};
use crate::util::{median, write_json};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?
        .1
        .as_str()
}

fn body_of(entry: &Value) -> Vec<u8> {
    let body = entry["body"].as_str().unwrap_or("");
    if entry["body_encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    }
}

/// The caller of the local poller's requests: it reads the tables' streams and the queues and
/// invokes the consumers, as Lambda's event source mappings do on AWS (stream reads are free
/// there; a queue's polls cost by the hour, not by the order). Counted apart from the order's.
const EVENT_SOURCE_MAPPING: &str = "event source mapping";

/// How long the local poller must have handed out nothing before the asynchronous work of the
/// orders (audit entries from the streams, notifications from the queue) counts as done.
const QUIET: Duration = Duration::from_secs(3);

/// Waits until the poller's log has not grown for [`QUIET`] (at most a minute); returns its
/// length then.
async fn drained(poller_log: &Path) -> u64 {
    let len = || std::fs::metadata(poller_log).map_or(0, |m| m.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (len(), Instant::now());
    while since.elapsed() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = len();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

/// Batches and records the poller handed each consumer, from its log lines
/// (`poller: audit: 7 stream record(s)`, `poller: notify: batch of 1, 0 failed`).
fn batches(log: &str) -> BTreeMap<String, (f64, f64)> {
    let mut by_function: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in log.lines() {
        let Some((function, rest)) = line
            .strip_prefix("poller: ")
            .and_then(|l| l.split_once(": "))
        else {
            continue;
        };
        let records = rest
            .strip_prefix("batch of ")
            .and_then(|r| r.split(',').next())
            .or_else(|| rest.strip_suffix(" stream record(s)"))
            .and_then(|n| n.parse::<f64>().ok());
        if let Some(n) = records {
            let entry = by_function.entry(function.to_string()).or_default();
            entry.0 += 1.0;
            entry.1 += n;
        }
    }
    by_function
}

/// (service, operation, caller) of a recorded request.
pub fn classify(entry: &Value) -> (String, String, String) {
    let ua = header(entry, "User-Agent")
        .unwrap_or("")
        .to_ascii_lowercase();
    let caller = if ua.contains("local-poller") {
        EVENT_SOURCE_MAPPING
    } else if ua.contains("aws-sdk-rust") {
        "our functions"
    } else if ua.contains("boto") {
        "state machine"
    } else {
        "other"
    };
    let url = entry["url"].as_str().unwrap_or("");
    let (service, op) = if let Some(t) = header(entry, "X-Amz-Target") {
        let (prefix, op) = t.split_once('.').unwrap_or((t, ""));
        let service = match prefix {
            p if p.starts_with("DynamoDBStreams") => "DynamoDB Streams",
            p if p.starts_with("DynamoDB") => "DynamoDB",
            p if p.starts_with("AWSStepFunctions") => "Step Functions",
            p if p.starts_with("AmazonSQS") => "SQS",
            p => p,
        };
        (service.to_string(), op.to_string())
    } else if url.contains("/2015-03-31/functions/") {
        ("Lambda".to_string(), "Invoke".to_string())
    } else {
        let body = String::from_utf8_lossy(&body_of(entry)).to_string();
        let action = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("?")
            .to_string();
        let service = if body.contains("TopicArn=") || action == "Publish" {
            "SNS"
        } else if body.contains("QueueUrl=") {
            "SQS"
        } else {
            "other"
        };
        (service.to_string(), action)
    };
    (service, op, caller.to_string())
}

/// The tables a DynamoDB request names, without the stack's prefix and random suffix.
fn tables(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(t) = body["TableName"].as_str() {
        names.push(t.to_string());
    }
    for item in body["TransactItems"].as_array().into_iter().flatten() {
        for v in item.as_object().into_iter().flat_map(|m| m.values()) {
            if let Some(t) = v["TableName"].as_str() {
                names.push(t.to_string());
            }
        }
    }
    names.extend(
        body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned()),
    );
    let mut short: Vec<String> = names
        .iter()
        .map(|n| {
            let n = n.strip_prefix("order-saga-scratch-").unwrap_or(n);
            match n.rsplit_once('-') {
                Some((base, suffix))
                    if suffix.len() >= 8
                        && suffix
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
                {
                    base.to_string()
                }
                _ => n.to_string(),
            }
        })
        .collect();
    short.sort();
    short.dedup();
    short
}

/// DynamoDB on-demand request units of one recorded call: (read units, write units), for items
/// under 1 KB (ours are: see maxDynamoBodyBytes in the results).
fn units(op: &str, body: &Value) -> (f64, f64) {
    let consistent = body["ConsistentRead"].as_bool() == Some(true);
    let read = if consistent { 1.0 } else { 0.5 };
    match op {
        "GetItem" | "Query" | "Scan" => (read, 0.0),
        "PutItem" | "UpdateItem" | "DeleteItem" => (0.0, 1.0),
        "TransactWriteItems" => (
            0.0,
            2.0 * body["TransactItems"].as_array().map_or(0, Vec::len) as f64,
        ),
        "TransactGetItems" => (
            2.0 * body["TransactItems"].as_array().map_or(0, Vec::len) as f64,
            0.0,
        ),
        "BatchWriteItem" => (
            0.0,
            body["RequestItems"].as_object().map_or(0, |m| {
                m.values().filter_map(Value::as_array).map(Vec::len).sum()
            }) as f64,
        ),
        "BatchGetItem" => (
            body["RequestItems"].as_object().map_or(0, |m| {
                m.values()
                    .filter_map(|t| t["Keys"].as_array())
                    .map(Vec::len)
                    .sum()
            }) as f64
                * read,
            0.0,
        ),
        _ => (0.0, 0.0),
    }
}

fn ts(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(v.as_str()?)
            .ok()
            .map(|d| d.timestamp_micros() as f64 / 1e6)
    })
}

pub async fn run(stack: Arc<Stack>, token: &str, orders: usize, out: &Path, recording_out: &Path) {
    let moto = stack.moto();
    let lambda_port = stack
        .var("LAMBDA_ENDPOINT_URL")
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_string();
    for step in ["stop-recording", "reset-recording"] {
        stack
            .http
            .post(format!("{moto}/moto-api/recorder/{step}"))
            .send()
            .await
            .expect("recorder");
    }
    // One unrecorded warm-up order, so that no first-call effects land in the counts.
    let warm = place_order(&stack, token, Duration::from_millis(100)).await;
    assert!(
        warm.error.is_none(),
        "warm-up order failed: {:?}",
        warm.error
    );
    let poller_log = stack.repo.join("local/.state/scratch/poller.log");
    let log_start = drained(&poller_log).await;
    let cpu0 = component_cpu(&stack.repo, &lambda_port);
    stack
        .http
        .post(format!("{moto}/moto-api/recorder/start-recording"))
        .send()
        .await
        .expect("recorder");
    let mut ids = Vec::new();
    let bar = indicatif::ProgressBar::new(orders as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("per-order count {bar:40} {pos}/{len}")
            .expect("template"),
    );
    // Orders one after another; each waits for its execution to end (DescribeExecution straight
    // at moto, left out of the counts), so no client polling lands in the recording.
    let saga = stack.var("ORDER_SAGA_ARN");
    let exec_arn = |id: &str| format!("{}:{id}", saga.replace(":stateMachine:", ":execution:"));
    for _ in 0..orders {
        let body = json!({"items": [{"sku": "SKU-BENCH", "quantity": 1}]});
        let (status, created) = stack.api("POST", "/orders", token, Some(body)).await;
        let id = created["orderId"]
            .as_str()
            .filter(|_| status == 202)
            .unwrap_or_else(|| panic!("POST /orders: {status} {created}"))
            .to_string();
        let t_wait = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let d = stack
                .aws(
                    "AWSStepFunctions.DescribeExecution",
                    "states",
                    json!({"executionArn": exec_arn(&id)}),
                )
                .await;
            if let Some(st) = d["status"].as_str().filter(|s| *s != "RUNNING") {
                assert_eq!(st, "SUCCEEDED", "execution of {id}");
                break;
            }
            assert!(
                t_wait.elapsed() < Duration::from_secs(120),
                "execution of {id} still running after 120 s"
            );
        }
        ids.push(id);
        bar.inc(1);
    }
    bar.finish_and_clear();
    // The audit function and notify run after the saga, off the streams and the queue.
    let log_end = drained(&poller_log).await;
    stack
        .http
        .post(format!("{moto}/moto-api/recorder/stop-recording"))
        .send()
        .await
        .expect("recorder");
    let cpu = cpu_delta(&cpu0, &component_cpu(&stack.repo, &lambda_port));
    let text = stack
        .http
        .get(format!("{moto}/moto-api/recorder/download-recording"))
        .send()
        .await
        .expect("download recording")
        .text()
        .await
        .expect("recording text");
    std::fs::write(recording_out, &text).expect("save recording");
    stack
        .http
        .post(format!("{moto}/moto-api/recorder/reset-recording"))
        .send()
        .await
        .expect("recorder");

    let log = std::fs::read(&poller_log).unwrap_or_default();
    let window = log
        .get(log_start as usize..(log_end as usize).min(log.len()))
        .unwrap_or_default();
    let consumers = batches(&String::from_utf8_lossy(window));
    let k = orders as f64;
    let async_invocations: BTreeMap<&String, f64> =
        consumers.iter().map(|(f, (b, _))| (f, b / k)).collect();
    let async_records: BTreeMap<&String, f64> =
        consumers.iter().map(|(f, (_, r))| (f, r / k)).collect();

    let mut calls: BTreeMap<String, f64> = BTreeMap::new();
    let mut polls: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    let mut local_only: BTreeMap<String, f64> = BTreeMap::new();
    let (mut rru, mut wru, mut max_body) = (0.0, 0.0, 0usize);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (service, op, caller) = classify(&entry);
        // Our own polling of DescribeExecution above is the benchmark's, not the order's.
        if op == "DescribeExecution" {
            continue;
        }
        if caller == EVENT_SOURCE_MAPPING {
            *polls.entry(format!("{service} {op}")).or_default() += 1.0 / k;
            continue;
        }
        let raw = body_of(&entry);
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let on = if service == "DynamoDB" {
            format!(" {}", tables(&body).join("+"))
        } else {
            String::new()
        };
        // The fault plan table exists only on the local stack (FAULTS_TABLE is never set on AWS).
        if on == " faults" {
            *local_only
                .entry(format!("{service} {op}{on} ({caller})"))
                .or_default() += 1.0 / k;
            continue;
        }
        *calls
            .entry(format!("{service} {op}{on} ({caller})"))
            .or_default() += 1.0 / k;
        *by_service.entry(service.clone()).or_default() += 1.0 / k;
        if service == "DynamoDB" {
            max_body = max_body.max(raw.len());
            let (r, w) = units(&op, &body);
            rru += r / k;
            wru += w / k;
        }
    }

    // State transitions, Lambda invocations and their durations, from the execution history.
    let mut transitions = Vec::new();
    let mut history_events = Vec::new();
    let mut invocations = Vec::new();
    let mut exec_ms = Vec::new();
    let mut lambda_ms: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for id in &ids {
        let h = stack
            .aws(
                "AWSStepFunctions.GetExecutionHistory",
                "states",
                json!({"executionArn": exec_arn(id)}),
            )
            .await;
        let events = h["events"].as_array().cloned().unwrap_or_default();
        let kind = |e: &Value| e["type"].as_str().unwrap_or("").to_string();
        history_events.push(events.len() as f64);
        transitions.push(
            events
                .iter()
                .filter(|e| kind(e).ends_with("StateEntered"))
                .count() as f64,
        );
        invocations.push(
            events
                .iter()
                .filter(|e| {
                    kind(e) == "LambdaFunctionScheduled"
                        || (kind(e) == "TaskScheduled"
                            && e["taskScheduledEventDetails"]["resourceType"] == "lambda")
                })
                .count() as f64,
        );
        let start = events
            .iter()
            .find(|e| kind(e) == "ExecutionStarted")
            .and_then(|e| ts(&e["timestamp"]));
        let end = events
            .iter()
            .find(|e| kind(e) == "ExecutionSucceeded")
            .and_then(|e| ts(&e["timestamp"]));
        if let (Some(s), Some(e)) = (start, end) {
            exec_ms.push((e - s) * 1000.0);
        }
        // Lambda started → succeeded, named by the state that ran it.
        let mut state = String::new();
        let mut started: Option<f64> = None;
        for e in &events {
            let t = kind(e);
            if t == "TaskStateEntered" {
                state = e["stateEnteredEventDetails"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
            } else if t == "LambdaFunctionStarted"
                || (t == "TaskStarted" && e["taskStartedEventDetails"]["resourceType"] == "lambda")
            {
                started = ts(&e["timestamp"]);
            } else if (t == "LambdaFunctionSucceeded"
                || (t == "TaskSucceeded"
                    && e["taskSucceededEventDetails"]["resourceType"] == "lambda"))
                && let (Some(s), Some(end)) = (started.take(), ts(&e["timestamp"]))
            {
                lambda_ms
                    .entry(state.clone())
                    .or_default()
                    .push((end - s) * 1000.0);
            }
        }
    }
    let lambda_ms_median: BTreeMap<String, f64> = lambda_ms
        .iter()
        .map(|(k, v)| (k.clone(), median(v)))
        .collect();
    let cpu_per_order: BTreeMap<String, f64> = cpu
        .iter()
        .map(|(c, s)| (c.clone(), s * 1000.0 / k))
        .collect();
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "orders": orders,
            "callsPerOrder": calls,
            "callsPerOrderByService": by_service,
            "localOnlyCallsPerOrder": local_only,
            "dynamoReadUnitsPerOrder": rru,
            "dynamoWriteUnitsPerOrder": wru,
            "maxDynamoBodyBytes": max_body,
            "stateTransitionsPerOrder": median(&transitions),
            "historyEventsPerOrder": median(&history_events),
            "sagaLambdaInvocationsPerOrder": median(&invocations),
            "asyncLambdaInvocationsPerOrder": async_invocations,
            "asyncRecordsPerOrder": async_records,
            "eventSourcePollsPerOrder": polls,
            "executionMsMedian": median(&exec_ms),
            "sagaLambdaMsMedianByState": lambda_ms_median,
            "cpuMsPerOrderByComponent": cpu_per_order,
        }),
    );
}

/// A recorded request to send again: URL, headers, body.
type Replay = (String, Vec<(String, String)>, Vec<u8>);

/// Replays the recorded DynamoDB, SQS and SNS requests (the same calls, same bodies) against
/// moto from `concurrency` clients for `seconds`: moto's raw rate for the saga's own AWS calls.
pub async fn ceiling(
    stack: Arc<Stack>,
    recording: &Path,
    per_order: &Path,
    concurrency: usize,
    seconds: u64,
    out: &Path,
) {
    let text = std::fs::read_to_string(recording).expect("read recording");
    let moto = stack.moto();
    let entries: Vec<Replay> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            let (service, _, caller) = classify(e);
            matches!(service.as_str(), "DynamoDB" | "SQS" | "SNS") && caller != EVENT_SOURCE_MAPPING
        })
        .filter(|e| {
            tables(&serde_json::from_slice(&body_of(e)).unwrap_or(Value::Null)) != ["faults"]
        })
        .map(|e| {
            let url = e["url"].as_str().unwrap_or("/");
            let path = url
                .find("://")
                .and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..]))
                .unwrap_or("/");
            let headers = e["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .filter(|(k, _)| {
                            !["host", "content-length", "transfer-encoding", "connection"]
                                .contains(&k.to_ascii_lowercase().as_str())
                        })
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            (format!("{moto}{path}"), headers, body_of(&e))
        })
        .collect();
    assert!(
        !entries.is_empty(),
        "no DynamoDB/SQS/SNS calls in the recording"
    );
    let entries = Arc::new(entries);
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("moto ceiling {bar:40} {elapsed}")
            .expect("template"),
    );
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (stack, entries, sent, failed) =
            (stack.clone(), entries.clone(), sent.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < end {
                let (url, headers, body) = &entries[i % entries.len()];
                let mut req = stack.http.post(url).body(body.clone());
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                match req.send().await {
                    Ok(r) if r.status().is_server_error() => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let _ = r.bytes().await;
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
                i += concurrency;
            }
        }));
    }
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        bar.set_position(t0.elapsed().as_secs());
    }
    for t in tasks {
        let _ = t.await;
    }
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let n = sent.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed;
    let per = crate::util::read_json(per_order).expect("per-order results");
    let calls: f64 = ["DynamoDB", "SQS", "SNS"]
        .iter()
        .filter_map(|s| per["callsPerOrderByService"][s].as_f64())
        .sum();
    eprintln!(
        "ceiling: {n} requests in {elapsed:.1} s = {rate:.0}/s; {calls:.1} such calls per order → {:.1} orders/s",
        rate / calls
    );
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "concurrency": concurrency,
            "requests": n,
            "serverErrors": failed.load(Ordering::Relaxed),
            "seconds": elapsed,
            "requestsPerSecond": rate,
            "callsPerOrder": calls,
            "ordersPerSecondCeiling": rate / calls,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_read_from_the_poller_log() {
        let log = "poller: audit: 7 stream record(s)\n\
                   poller: notify: batch of 2, 0 failed\n\
                   poller: audit: 1 stream record(s)\n\
                   poller: notify: deleting a processed message: {}\n\
                   poller: audit: stream record 42 failed (try 1): boom\n\
                   poller: notify: batch of 1, 1 failed (HTTP 500: x)\n";
        let counted = batches(log);
        assert_eq!(counted["audit"], (2.0, 8.0));
        assert_eq!(counted["notify"], (2.0, 3.0));
        assert_eq!(counted.len(), 2);
    }

    #[test]
    fn the_pollers_requests_are_told_apart() {
        let poll = json!({
            "headers": {"User-Agent": "Boto3/1.35 md/Botocore local-poller", "X-Amz-Target": "DynamoDBStreams_20120810.GetRecords"},
            "url": "http://127.0.0.1:4588/", "body": "{}"
        });
        let (service, op, caller) = classify(&poll);
        assert_eq!(
            (service.as_str(), op.as_str(), caller.as_str()),
            ("DynamoDB Streams", "GetRecords", EVENT_SOURCE_MAPPING)
        );
        let ours = json!({
            "headers": {"user-agent": "aws-sdk-rust/1.3", "X-Amz-Target": "DynamoDB_20120810.PutItem"},
            "url": "http://127.0.0.1:4588/", "body": "{}"
        });
        assert_eq!(
            classify(&ours),
            ("DynamoDB".into(), "PutItem".into(), "our functions".into())
        );
    }
}
