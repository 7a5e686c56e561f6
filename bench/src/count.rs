//! Per-order work on the local stack (ministack), while K orders run one after another through
//! the happy path:
//!
//! * **AWS calls over HTTP** (our functions' SDK calls): ministack's CloudTrail recording
//!   (`cloudtrail._recording_enabled`, switched on for the window through `/_ministack/config`)
//!   logs every API request that reaches it over HTTP, with its user agent and request
//!   parameters; read back with `LookupEvents`. The benchmark's own requests (its user agent) are
//!   left out, and the API's own requests (`/_aws/execute-api/…`) are never recorded.
//! * **The state machine's service integrations and Lambda invocations** run inside ministack,
//!   not over HTTP, so CloudTrail does not see them: they are counted from each execution's
//!   history (every `TaskScheduled` names its resource; the state's `Parameters` in the deployed
//!   definition name the table). The history also gives state transitions and Lambda durations.
//! * **Lambda invocations and durations** of every function, the event source mappings' consumers
//!   (audit off the tables' streams, notify off its queue) included: the `REPORT RequestId: …
//!   Duration: N ms` line Lambda writes to each function's log group per invocation (CloudWatch
//!   Logs, `FilterLogEvents`), and the records each consumer batch held from ministack's own log
//!   (`ESM: Lambda … processed N …`).
//!
//! The recorded requests are then replayed against ministack ([`ceiling`]) to measure the
//! emulator's own rate for the same calls.

use crate::load::place_order;
use crate::stack::{Stack, cpu_delta, cpu_sample};
use crate::util::{median, write_json};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the event source mappings' consumers must have had no invocation before the
/// asynchronous work of the orders (audit entries off the streams, notifications off the queue)
/// counts as done.
const QUIET: Duration = Duration::from_secs(3);

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One `REPORT` line of a function's log group: (function binary, epoch ms, duration ms).
#[derive(Debug, PartialEq)]
pub struct Report {
    pub binary: String,
    pub at_ms: i64,
    pub duration_ms: f64,
}

/// The duration of a Lambda `REPORT RequestId: … Duration: 12 ms …` line.
pub fn report_duration(message: &str) -> Option<f64> {
    let rest = message.strip_prefix("REPORT RequestId:")?;
    let (_, after) = rest.split_once("\tDuration: ")?;
    after.split_whitespace().next()?.parse().ok()
}

/// The events of `binary`'s log group from `start_ms` on (and up to `end_ms`) whose message
/// matches `pattern` (CloudWatch Logs filter syntax; "" for all): (epoch ms, message) each.
async fn log_events(
    stack: &Stack,
    binary: &str,
    pattern: &str,
    start_ms: i64,
    end_ms: Option<i64>,
) -> Vec<(i64, String)> {
    let mut query = json!({
        "logGroupName": stack.log_group(binary),
        "filterPattern": pattern,
        "startTime": start_ms,
        "limit": 10000,
    });
    if let Some(end) = end_ms {
        query["endTime"] = json!(end);
    }
    let found = stack
        .aws_json("Logs_20140328.FilterLogEvents", "1.1", query)
        .await;
    found["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["timestamp"].as_i64()?, e["message"].as_str()?.to_string())))
        .collect()
}

/// The `REPORT` lines of `binary`'s log group from `start_ms` on (and up to `end_ms`).
async fn reports(stack: &Stack, binary: &str, start_ms: i64, end_ms: Option<i64>) -> Vec<Report> {
    log_events(stack, binary, "REPORT", start_ms, end_ms)
        .await
        .into_iter()
        .filter_map(|(at_ms, message)| {
            Some(Report {
                binary: binary.to_string(),
                at_ms,
                duration_ms: report_duration(&message)?,
            })
        })
        .collect()
}

/// The handler's own time of a saga step, from its log line
/// `{"level":"INFO","fields":{"message":"step finished","step":"…","millis":9.0},…}`.
pub fn step_millis(message: &str) -> Option<f64> {
    let line: Value = serde_json::from_str(message).ok()?;
    let fields = &line["fields"];
    (fields["message"] == "step finished")
        .then(|| fields["millis"].as_f64())
        .flatten()
}

/// Waits until `consumers` (the functions event source mappings invoke) have had no invocation
/// for [`QUIET`] (at most two minutes).
async fn drained(stack: &Stack, consumers: &BTreeMap<String, String>, since_ms: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let count = || async {
        let mut n = 0;
        for binary in consumers.keys() {
            n += reports(stack, binary, since_ms, None).await.len();
        }
        n
    };
    let (mut last, mut since) = (count().await, Instant::now());
    while since.elapsed() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = count().await;
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}

/// The CloudTrail events ministack recorded between `start` and `end` (epoch seconds), oldest
/// first. `LookupEvents` answers at most 50, newest first, without a next token: the window is
/// read backwards, each page ending at the oldest event of the previous one.
async fn cloudtrail(stack: &Stack, start: f64, end: f64) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    let mut until = end;
    loop {
        let page = stack
            .aws_json(
                "CloudTrail_20131101.LookupEvents",
                "1.1",
                json!({"StartTime": start, "EndTime": until, "MaxResults": 50}),
            )
            .await;
        let page = page["Events"].as_array().cloned().unwrap_or_default();
        let mut fresh = 0;
        for e in &page {
            let id = e["EventId"].as_str().unwrap_or("").to_string();
            if seen.insert(id) {
                fresh += 1;
                events.push(e.clone());
            }
        }
        if page.len() < 50 || fresh == 0 {
            break;
        }
        until = page
            .iter()
            .filter_map(|e| e["EventTime"].as_f64())
            .fold(until, f64::min);
    }
    events.sort_by(|a, b| f(&a["EventTime"]).total_cmp(&f(&b["EventTime"])));
    events
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// A recorded AWS request: what the CloudTrail event says of it.
pub struct Call {
    /// "DynamoDB", "SQS", "SNS", "Step Functions", … (the event source's service).
    pub service: String,
    pub op: String,
    pub user_agent: String,
    /// The request's parameters: the JSON body (JSON protocols) or the form fields (query).
    pub params: Value,
}

impl Call {
    pub fn of(event: &Value) -> Option<Call> {
        let detail: Value = serde_json::from_str(event["CloudTrailEvent"].as_str()?).ok()?;
        let source = detail["eventSource"].as_str()?;
        let service = match source.trim_end_matches(".amazonaws.com") {
            "dynamodb" => "DynamoDB",
            "dynamodbstreams" => "DynamoDB Streams",
            "sqs" => "SQS",
            "sns" => "SNS",
            "states" | "stepfunctions" => "Step Functions",
            "lambda" => "Lambda",
            "logs" => "CloudWatch Logs",
            "cognito-idp" => "Cognito",
            "sesv2" | "ses" => "SES",
            s => s,
        };
        // A query-protocol request (SNS) carries its Action in the form body, which ministack
        // does not read for the event's name (`POST.sns`); its parameters have it.
        let op = match detail["requestParameters"]["Action"].as_str() {
            Some(action) => action,
            None => detail["eventName"].as_str()?,
        };
        Some(Call {
            service: service.to_string(),
            op: op.to_string(),
            user_agent: detail["userAgent"].as_str().unwrap_or("").to_string(),
            params: detail["requestParameters"].clone(),
        })
    }

    /// Who made it: the functions (the Rust SDK), the benchmark itself, or something else.
    pub fn caller(&self) -> &'static str {
        let ua = self.user_agent.to_ascii_lowercase();
        if ua.contains(crate::stack::USER_AGENT) {
            "bench"
        } else if ua.contains("aws-sdk-rust") {
            "our functions"
        } else {
            "other"
        }
    }
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
    let mut short: Vec<String> = names.iter().map(|n| short_table(n)).collect();
    short.sort();
    short.dedup();
    short
}

/// `order-saga-scratch-OrdersTable-1A2B3C4D` → `OrdersTable`.
fn short_table(name: &str) -> String {
    let n = name.strip_prefix("order-saga-scratch-").unwrap_or(name);
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
}

/// DynamoDB on-demand request units of one call: (read units, write units), for items under 1 KB
/// (ours are: see maxDynamoBodyBytes in the results).
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

/// (service, operation) of a Step Functions optimised integration's resource:
/// `arn:aws:states:::dynamodb:updateItem` → ("DynamoDB", "UpdateItem").
fn integration(resource: &str) -> (String, String) {
    let tail = resource
        .strip_prefix("arn:aws:states:::")
        .unwrap_or(resource)
        .trim_end_matches(".sync")
        .trim_end_matches(".waitForTaskToken");
    let tail = tail.strip_prefix("aws-sdk:").unwrap_or(tail);
    let (service, action) = tail.split_once(':').unwrap_or((tail, ""));
    let service = match service {
        "dynamodb" => "DynamoDB",
        "sns" => "SNS",
        "sqs" => "SQS",
        "events" => "EventBridge",
        "states" => "Step Functions",
        s => s,
    };
    let mut op = action.to_string();
    if let Some(first) = op.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    (service.to_string(), op)
}

/// Batches and records each event source mapping handed a consumer, from ministack's log lines
/// (`ESM: Lambda <name> processed 7 DynamoDB stream records from <table>`, `… processed 1 SQS
/// messages from <queue>`): {deployed function name: (batches, records, source)}, the source
/// being "SQS" or "DynamoDB stream".
pub fn esm_batches(log: &str) -> BTreeMap<String, (f64, f64, &'static str)> {
    let mut out: BTreeMap<String, (f64, f64, &'static str)> = BTreeMap::new();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once("ESM: Lambda ") else {
            continue;
        };
        let Some((function, rest)) = rest.split_once(" processed ") else {
            continue;
        };
        let Some(n) = rest
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<f64>().ok())
        else {
            continue;
        };
        let source = if rest.contains(" SQS messages") {
            "SQS"
        } else if rest.contains(" DynamoDB stream records") {
            "DynamoDB stream"
        } else {
            "other"
        };
        let entry = out
            .entry(function.to_string())
            .or_insert((0.0, 0.0, source));
        entry.0 += 1.0;
        entry.1 += n;
    }
    out
}

pub async fn run(stack: Arc<Stack>, token: &str, orders: usize, out: &Path, recording_out: &Path) {
    // One unrecorded warm-up order, so that no first-call effects (a function's first process
    // start, its SDK's first connection) land in the counts.
    let consumers = stack.event_source_mappings().await;
    let warm_from = (now_epoch() * 1000.0) as i64;
    let warm = place_order(
        &stack,
        token,
        Duration::from_millis(100),
        Duration::from_millis(100),
    )
    .await;
    assert!(
        warm.error.is_none(),
        "warm-up order failed: {:?}",
        warm.error
    );
    drained(&stack, &consumers, warm_from).await;
    // What the stack burns with nothing to do (its warm function environments' Runtime API
    // threads wake every 100 ms, the event source mappings' poller every second): subtracted
    // from the window's CPU below, and reported.
    let idle0 = cpu_sample(&stack);
    let t_idle = Instant::now();
    tokio::time::sleep(QUIET).await;
    let idle = cpu_delta(&idle0, &cpu_sample(&stack));
    let idle_secs = t_idle.elapsed().as_secs_f64();
    let idle_cores: BTreeMap<String, f64> = idle
        .iter()
        .filter(|(k, _)| !k.starts_with("function "))
        .map(|(k, v)| (k.clone(), v / idle_secs))
        .collect();
    let log_path = stack.state_dir().join("ministack.log");
    let log_len = || std::fs::metadata(&log_path).map_or(0, |m| m.len());
    let log_start = log_len();
    stack
        .configure("cloudtrail._recording_enabled", json!(true))
        .await;
    let cpu0 = cpu_sample(&stack);
    let t0 = now_epoch();
    let mut ids = Vec::new();
    let bar = indicatif::ProgressBar::new(orders as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("per-order count {bar:40} {pos}/{len}")
            .expect("template"),
    );
    // Orders one after another; each waits for its execution to end (DescribeExecution straight
    // at the emulator, with the benchmark's user agent, left out of the counts), so no client
    // polling of the API (get-order's own calls) lands in the recording.
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
    // audit and notify run after the saga, off the streams and the queue.
    drained(&stack, &consumers, (t0 * 1000.0) as i64).await;
    let t1 = now_epoch();
    let cpu1 = cpu_sample(&stack);
    let cpu = cpu_delta(&cpu0, &cpu1);
    let log_end = log_len();
    // What a client's look at an order costs: one `GET /orders/{id}` per order, one at a time.
    for id in &ids {
        let (s, _) = stack
            .api("GET", &format!("/orders/{id}"), token, None)
            .await;
        assert_eq!(s, 200, "GET /orders/{id}");
    }
    let t2 = now_epoch();
    let poll_cpu = cpu_delta(&cpu1, &cpu_sample(&stack));
    stack
        .configure("cloudtrail._recording_enabled", json!(false))
        .await;
    let k = orders as f64;
    let net = |cpu: &BTreeMap<String, f64>, secs: f64| -> BTreeMap<String, f64> {
        cpu.iter()
            .map(|(c, v)| {
                let idle = idle_cores.get(c).copied().unwrap_or(0.0) * secs;
                (c.clone(), ((v - idle) * 1000.0 / k).max(0.0))
            })
            .collect()
    };
    let cpu_per_order = net(&cpu, t1 - t0);
    let cpu_per_poll = net(&poll_cpu, t2 - t1);
    let mut poll_calls: BTreeMap<String, f64> = BTreeMap::new();
    for e in cloudtrail(&stack, t1, t2).await {
        if let Some(call) = Call::of(&e).filter(|c| c.caller() == "our functions") {
            let on = if call.service == "DynamoDB" {
                format!(" {}", tables(&call.params).join("+"))
            } else {
                String::new()
            };
            *poll_calls
                .entry(format!("{} {}{on}", call.service, call.op))
                .or_default() += 1.0 / k;
        }
    }

    // Our functions' calls, from CloudTrail.
    let events = cloudtrail(&stack, t0, t1).await;
    let mut recording = String::new();
    let mut calls: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_service: BTreeMap<String, f64> = BTreeMap::new();
    let mut local_only: BTreeMap<String, f64> = BTreeMap::new();
    let mut others: BTreeMap<String, f64> = BTreeMap::new();
    let mut bench_calls: BTreeMap<String, f64> = BTreeMap::new();
    let (mut rru, mut wru, mut max_body) = (0.0, 0.0, 0usize);
    for e in &events {
        let Some(call) = Call::of(e) else { continue };
        let caller = call.caller();
        if caller == "bench" {
            *bench_calls
                .entry(format!("{} {}", call.service, call.op))
                .or_default() += 1.0 / k;
            continue;
        }
        let on = if call.service == "DynamoDB" {
            format!(" {}", tables(&call.params).join("+"))
        } else {
            String::new()
        };
        let key = format!("{} {}{on} ({caller})", call.service, call.op);
        // The fault plan table exists only on the local stack (FAULTS_TABLE is never set on AWS).
        if on.starts_with(" Faults") {
            *local_only.entry(key).or_default() += 1.0 / k;
            continue;
        }
        if caller != "our functions" {
            *others.entry(key).or_default() += 1.0 / k;
            continue;
        }
        recording.push_str(
            &json!({"service": call.service, "op": call.op, "params": call.params}).to_string(),
        );
        recording.push('\n');
        *calls.entry(key).or_default() += 1.0 / k;
        *by_service.entry(call.service.clone()).or_default() += 1.0 / k;
        if call.service == "DynamoDB" {
            max_body = max_body.max(call.params.to_string().len());
            let (r, w) = units(&call.op, &call.params);
            rru += r / k;
            wru += w / k;
        }
    }
    std::fs::write(recording_out, &recording).expect("save recording");

    // The state machine: integrations, Lambda tasks, transitions and durations, from the history.
    let definition: Value = serde_json::from_str(
        stack
            .aws(
                "AWSStepFunctions.DescribeStateMachine",
                json!({"stateMachineArn": saga}),
            )
            .await["definition"]
            .as_str()
            .unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    let mut transitions = Vec::new();
    let mut history_events = Vec::new();
    let mut invocations = Vec::new();
    let mut exec_ms = Vec::new();
    let mut lambda_ms: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut saga_functions: HashSet<String> = HashSet::new();
    for id in &ids {
        let h = stack
            .aws(
                "AWSStepFunctions.GetExecutionHistory",
                json!({"executionArn": exec_arn(id), "maxResults": 1000}),
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
        let mut lambdas = 0.0;
        let mut state = String::new();
        let mut scheduled: Option<f64> = None;
        for e in &events {
            let t = kind(e);
            if t.ends_with("StateEntered") {
                state = e["stateEnteredEventDetails"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
            } else if t == "TaskScheduled" || t == "LambdaFunctionScheduled" {
                let details = &e["taskScheduledEventDetails"];
                let resource = details["resource"].as_str().unwrap_or("");
                if t == "LambdaFunctionScheduled" || details["resourceType"] == "lambda" {
                    lambdas += 1.0;
                    if let Some(name) = resource.rsplit(":function:").next() {
                        saga_functions.insert(name.split(':').next().unwrap_or(name).to_string());
                    }
                    scheduled = ts(&e["timestamp"]);
                    *calls
                        .entry("Lambda Invoke (state machine)".to_string())
                        .or_default() += 1.0 / k;
                    *by_service.entry("Lambda".to_string()).or_default() += 1.0 / k;
                    continue;
                }
                let (service, op) = integration(resource);
                let params = &definition["States"][&state]["Parameters"];
                let on = if service == "DynamoDB" {
                    let (r, w) = units(&op, params);
                    rru += r / k;
                    wru += w / k;
                    params["TableName"]
                        .as_str()
                        .map(|t| format!(" {}", short_table(t)))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                *calls
                    .entry(format!("{service} {op}{on} (state machine)"))
                    .or_default() += 1.0 / k;
                *by_service.entry(service).or_default() += 1.0 / k;
            } else if (t == "TaskSucceeded" || t == "LambdaFunctionSucceeded")
                && let (Some(s), Some(end)) = (scheduled.take(), ts(&e["timestamp"]))
            {
                lambda_ms
                    .entry(state.clone())
                    .or_default()
                    .push((end - s) * 1000.0);
            }
        }
        invocations.push(lambdas);
    }

    // Every function's invocations and durations in the window, from its REPORT lines.
    let from_ms = (t0 * 1000.0) as i64;
    let to_ms = (t1 * 1000.0) as i64 + 1;
    let mut binaries: Vec<String> = stack.functions().into_values().collect();
    binaries.sort();
    binaries.dedup();
    let mut invocations_by_function: BTreeMap<String, f64> = BTreeMap::new();
    let mut report_ms: BTreeMap<String, f64> = BTreeMap::new();
    for binary in &binaries {
        let lines = reports(&stack, binary, from_ms, Some(to_ms)).await;
        if lines.is_empty() {
            continue;
        }
        invocations_by_function.insert(binary.clone(), lines.len() as f64 / k);
        let ms: Vec<f64> = lines.iter().map(|r| r.duration_ms).collect();
        report_ms.insert(binary.clone(), median(&ms));
    }
    // The saga steps' own handler time (what Lambda bills, less the runtime's hand-offs).
    let functions = stack.functions();
    let saga_binaries: Vec<String> = saga_functions
        .iter()
        .filter_map(|name| functions.get(name).cloned())
        .collect();
    let mut step_ms: BTreeMap<String, f64> = BTreeMap::new();
    for binary in &saga_binaries {
        let ms: Vec<f64> = log_events(&stack, binary, "", from_ms, Some(to_ms))
            .await
            .iter()
            .filter_map(|(_, m)| step_millis(m))
            .collect();
        if !ms.is_empty() {
            step_ms.insert(binary.clone(), median(&ms));
        }
    }
    let async_invocations: BTreeMap<String, f64> = consumers
        .keys()
        .filter_map(|c| Some((c.clone(), *invocations_by_function.get(c)?)))
        .collect();
    // Records per consumer batch, from ministack's log (INFO level) over the same window.
    let log = std::fs::read(&log_path).unwrap_or_default();
    let window = log
        .get(log_start as usize..(log_end as usize).min(log.len()))
        .unwrap_or_default();
    // (Only at LOG_LEVEL INFO, local/stack.sh's default; without them the column stays empty.)
    let mut async_records: BTreeMap<String, f64> = BTreeMap::new();
    for (name, (_, records, _)) in esm_batches(&String::from_utf8_lossy(window)) {
        let binary = functions.get(&name).cloned().unwrap_or(name);
        *async_records.entry(binary).or_default() += records / k;
    }

    let triggers: BTreeMap<String, &str> = invocations_by_function
        .keys()
        .map(|b| {
            let trigger = if saga_binaries.contains(b) {
                "state machine"
            } else if consumers.contains_key(b) {
                "event source mapping"
            } else {
                "HTTP API"
            };
            (b.clone(), trigger)
        })
        .collect();
    let lambda_ms_median: BTreeMap<String, f64> = lambda_ms
        .iter()
        .map(|(k, v)| (k.clone(), median(v)))
        .collect();
    eprintln!(
        "count: {} CloudTrail events, {} recorded calls of our functions; {:.1} transitions per order",
        events.len(),
        recording.lines().count(),
        median(&transitions)
    );
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "orders": orders,
            "windowSeconds": t1 - t0,
            "callsPerOrder": calls,
            "callsPerOrderByService": by_service,
            "localOnlyCallsPerOrder": local_only,
            "otherCallsPerOrder": others,
            "benchCallsPerOrder": bench_calls,
            "dynamoReadUnitsPerOrder": rru,
            "dynamoWriteUnitsPerOrder": wru,
            "maxDynamoBodyBytes": max_body,
            "stateTransitionsPerOrder": median(&transitions),
            "historyEventsPerOrder": median(&history_events),
            "sagaLambdaInvocationsPerOrder": median(&invocations),
            "invocationsPerOrderByFunction": invocations_by_function,
            "reportMsMedianByFunction": report_ms,
            "stepMsMedianByFunction": step_ms,
            "triggerByFunction": triggers,
            "asyncLambdaInvocationsPerOrder": async_invocations,
            "asyncRecordsPerOrder": async_records,
            "asyncSourceByFunction": consumers,
            "executionMsMedian": median(&exec_ms),
            "sagaLambdaMsMedianByState": lambda_ms_median,
            "cpuMsPerOrderByComponent": cpu_per_order,
            "idleCpuCoresByComponent": idle_cores,
            "pollCallsPerRequest": poll_calls,
            "cpuMsPerPollByComponent": cpu_per_poll,
        }),
    );
}

/// A recorded request to send again: target or form action, content type, body.
struct Replay {
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// The HTTP request a recorded call was: JSON protocols (DynamoDB, SQS, Step Functions) by
/// `X-Amz-Target`, SNS by its query form.
fn replay_of(call: &Value) -> Option<Replay> {
    let service = call["service"].as_str()?;
    let op = call["op"].as_str()?;
    let params = &call["params"];
    let auth = |scope: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{scope}/aws4_request, SignedHeaders=host, Signature=0"
        )
    };
    let json_call = |target: String, scope: &str| Replay {
        headers: vec![
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.0".to_string()),
            ("Authorization", auth(scope)),
        ],
        body: params.to_string(),
    };
    match service {
        "DynamoDB" => Some(json_call(format!("DynamoDB_20120810.{op}"), "dynamodb")),
        "SQS" => Some(json_call(format!("AmazonSQS.{op}"), "sqs")),
        "SNS" => {
            let mut form = url_form(params);
            if !form.contains("Action=") {
                form = format!("Action={op}&Version=2010-03-31&{form}");
            }
            Some(Replay {
                headers: vec![
                    (
                        "Content-Type",
                        "application/x-www-form-urlencoded; charset=utf-8".to_string(),
                    ),
                    ("Authorization", auth("sns")),
                ],
                body: form,
            })
        }
        _ => None,
    }
}

/// A form (query protocol) body from CloudTrail's flattened parameters (a field sent twice is a
/// list).
fn url_form(params: &Value) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    let mut pairs = Vec::new();
    for (k, v) in params.as_object().into_iter().flatten() {
        let values: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                .collect(),
            Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        };
        for value in values {
            pairs.push(format!("{}={}", enc(k), enc(&value)));
        }
    }
    pairs.join("&")
}

/// Replays the recorded DynamoDB, SQS and SNS requests of our functions (the same calls, same
/// bodies) against ministack from `concurrency` clients for `seconds`: the emulator's own rate
/// for the saga's AWS calls over HTTP.
pub async fn ceiling(
    stack: Arc<Stack>,
    recording: &Path,
    per_order: &Path,
    concurrency: usize,
    seconds: u64,
    out: &Path,
) {
    let text = std::fs::read_to_string(recording).expect("read recording");
    let calls: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|c| matches!(c["service"].as_str(), Some("DynamoDB" | "SQS" | "SNS")))
        .collect();
    let mix: BTreeMap<String, usize> = calls.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(format!(
            "{} {}",
            c["service"].as_str().unwrap_or(""),
            c["op"].as_str().unwrap_or("")
        ))
        .or_default() += 1;
        m
    });
    let entries: Vec<Replay> = calls.iter().filter_map(replay_of).collect();
    assert!(
        !entries.is_empty(),
        "no DynamoDB/SQS/SNS calls in the recording"
    );
    let endpoint = stack.endpoint();
    let entries = Arc::new(entries);
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_sample(&stack);
    let end = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new(seconds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("emulator ceiling {bar:40} {elapsed}")
            .expect("template"),
    );
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (stack, entries, sent, failed, rejected, endpoint) = (
            stack.clone(),
            entries.clone(),
            sent.clone(),
            failed.clone(),
            rejected.clone(),
            endpoint.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < end {
                let r = &entries[i % entries.len()];
                let mut req = stack.http.post(&endpoint).body(r.body.clone());
                for (k, v) in &r.headers {
                    req = req.header(*k, v);
                }
                match req.send().await {
                    Ok(r) if r.status().is_server_error() => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        if r.status().is_client_error() {
                            rejected.fetch_add(1, Ordering::Relaxed);
                        }
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
    let cpu = cpu_delta(&cpu0, &cpu_sample(&stack));
    let n = sent.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed;
    let per = crate::util::read_json(per_order).expect("per-order results");
    let calls_per_order: f64 = per["callsPerOrder"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            k.ends_with("(our functions)")
                && ["DynamoDB ", "SQS ", "SNS "]
                    .iter()
                    .any(|s| k.starts_with(s))
        })
        .map(|(_, v)| f(v))
        .sum();
    let cpu_share: BTreeMap<String, f64> = cpu
        .iter()
        .filter(|(k, _)| !k.starts_with("function "))
        .map(|(k, v)| (k.clone(), v / elapsed))
        .collect();
    eprintln!(
        "ceiling: {n} requests in {elapsed:.1} s = {rate:.0}/s; {calls_per_order:.1} such calls per order → {:.1} orders/s; CPU cores {cpu_share:?}",
        rate / calls_per_order
    );
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "concurrency": concurrency,
            "mix": mix,
            "requests": n,
            "serverErrors": failed.load(Ordering::Relaxed),
            "clientErrors": rejected.load(Ordering::Relaxed),
            "seconds": elapsed,
            "requestsPerSecond": rate,
            "callsPerOrder": calls_per_order,
            "ordersPerSecondCeiling": rate / calls_per_order,
            "cpuCoresByComponent": cpu_share,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_line_gives_its_duration() {
        let line = "REPORT RequestId: 0f1e\tDuration: 12 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB";
        assert_eq!(report_duration(line), Some(12.0));
        assert_eq!(
            report_duration("START RequestId: 0f1e Version: $LATEST"),
            None
        );
        assert_eq!(report_duration("{\"level\":\"INFO\",\"REPORT\":1}"), None);
    }

    #[test]
    fn a_saga_step_logs_its_own_time() {
        let line = r#"{"level":"INFO","fields":{"message":"step finished","step":"reserve-stock","millis":9.0},"span":{}}"#;
        assert_eq!(step_millis(line), Some(9.0));
        assert_eq!(step_millis(r#"{"fields":{"message":"audited"}}"#), None);
        assert_eq!(step_millis("END RequestId: 1"), None);
    }

    #[test]
    fn consumer_batches_are_read_from_ministacks_log() {
        let log = "2026-12-06 INFO ESM: Lambda order-saga-scratch-AuditFunction-X processed 7 DynamoDB stream records from t1\n\
                   2026-12-06 INFO ESM: Lambda order-saga-scratch-NotifyFunction-Y processed 2 SQS messages from q\n\
                   2026-12-06 INFO ESM: Lambda order-saga-scratch-AuditFunction-X output:\n\
                   2026-12-06 INFO ESM: Lambda order-saga-scratch-AuditFunction-X processed 1 DynamoDB stream records from t2\n\
                   2026-12-06 INFO ESM: Lambda order-saga-scratch-NotifyFunction-Y processed 1 SQS messages from q (1 partial failures)\n";
        let counted = esm_batches(log);
        assert_eq!(
            counted["order-saga-scratch-AuditFunction-X"],
            (2.0, 8.0, "DynamoDB stream")
        );
        assert_eq!(
            counted["order-saga-scratch-NotifyFunction-Y"],
            (2.0, 3.0, "SQS")
        );
        assert_eq!(counted.len(), 2);
    }

    #[test]
    fn cloudtrail_events_are_classified_by_user_agent() {
        let event = |ua: &str, source: &str, name: &str, params: Value| {
            json!({"EventId": "1", "CloudTrailEvent": json!({
                "eventSource": source, "eventName": name, "userAgent": ua,
                "requestParameters": params}).to_string()})
        };
        let ours = Call::of(&event(
            "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0",
            "dynamodb.amazonaws.com",
            "PutItem",
            json!({"TableName": "order-saga-scratch-AuditTable-0A1B2C3D4E"}),
        ))
        .expect("a call");
        assert_eq!(
            (ours.service.as_str(), ours.op.as_str(), ours.caller()),
            ("DynamoDB", "PutItem", "our functions")
        );
        assert_eq!(tables(&ours.params), ["AuditTable"]);
        let bench = Call::of(&event(
            crate::stack::USER_AGENT,
            "states.amazonaws.com",
            "DescribeExecution",
            json!({}),
        ))
        .expect("a call");
        assert_eq!(bench.caller(), "bench");
        let publish = Call::of(&event(
            "aws-sdk-rust/1.3.9",
            "sns.amazonaws.com",
            "POST.sns",
            json!({"Action": "Publish", "TopicArn": "t"}),
        ))
        .expect("a call");
        assert_eq!(
            (publish.service.as_str(), publish.op.as_str()),
            ("SNS", "Publish")
        );
    }

    #[test]
    fn integrations_are_named_by_service_and_operation() {
        assert_eq!(
            integration("arn:aws:states:::dynamodb:updateItem"),
            ("DynamoDB".into(), "UpdateItem".into())
        );
        assert_eq!(
            integration("arn:aws:states:::sns:publish"),
            ("SNS".into(), "Publish".into())
        );
        assert_eq!(
            integration("arn:aws:states:::aws-sdk:dynamodb:transactWriteItems"),
            ("DynamoDB".into(), "TransactWriteItems".into())
        );
    }

    #[test]
    fn an_sns_publish_is_replayed_as_its_query_form() {
        let call = json!({"service": "SNS", "op": "Publish", "params": {
            "Action": "Publish", "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
            "Message": "{\"a\": 1}"}});
        let r = replay_of(&call).expect("a replay");
        assert!(r.body.contains("Action=Publish"));
        assert!(r.body.contains("Message=%7B%22a%22%3A%201%7D"));
        assert!(
            r.body
                .contains("TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At")
        );
    }
}
