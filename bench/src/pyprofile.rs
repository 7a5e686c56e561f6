//! Where ministack's CPU goes: `py-spy record --gil --format raw` samples of its one Python process
//! (only the thread holding the GIL, so the samples are what its one usable core did), grouped by
//! the part of the emulator each sample was in (bench/ministack-profile.sh).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The named parts of ministack, each by the files its frames are in, in the order they are tried
/// on a frame (the last, any file of ministack, catches the rest of it).
const PARTS: &[(&[&str], &str)] = &[
    (&[STEP_FUNCTIONS], "Step Functions interpreter"),
    (
        &["ministack/services/sns.py", "ministack/services/sqs.py"],
        "SNS and SQS",
    ),
    (
        &["ministack/services/cloudwatch_logs.py"],
        "CloudWatch Logs (function output)",
    ),
    (
        &["ministack/services/cloudtrail.py"],
        "CloudTrail recording",
    ),
    (
        &[
            "ministack/core/lambda_runtime.py",
            "socketserver.py",
            "http/server.py",
        ],
        "Lambda Runtime API and function processes (ministack's side)",
    ),
    (
        &["ministack/services/lambda_svc.py"],
        "Lambda service (invoke, event source mappings)",
    ),
    (
        &[
            "ministack/services/apigateway",
            "ministack/services/cognito.py",
        ],
        "API Gateway (routes, JWT authorizer)",
    ),
    (&["logging/"], "Python logging (ministack's log)"),
    (
        &["hypercorn/", "h11/", "asyncio/"],
        "HTTP server and event loop (hypercorn, h11, asyncio)",
    ),
    (&["ministack/"], "request routing and the rest of ministack"),
];

const STEP_FUNCTIONS: &str = "ministack/services/stepfunctions.py";

fn in_file(frame: &str, file: &str) -> bool {
    frame.contains(&format!("({file}")) || frame.contains(&format!("/{file}"))
}

/// The part of ministack a stack of frames (root first, `function (file:line)` each) was in: the
/// first frame from the leaf up that belongs to a named part decides, so a JSON decode inside
/// DynamoDB's handler counts as DynamoDB.
pub fn group(frames: &[&str]) -> &'static str {
    let waiting_for_next = frames
        .iter()
        .any(|f| f.contains("RuntimeAPIHandler.do_GET"))
        && frames.iter().any(|f| f.starts_with("Queue.get"));
    if waiting_for_next {
        return "Lambda environments waiting for their next event (each wakes every 100 ms)";
    }
    let from_state_machine = frames.iter().any(|f| in_file(f, STEP_FUNCTIONS));
    for frame in frames.iter().rev() {
        if in_file(frame, "ministack/services/dynamodb") {
            return if from_state_machine {
                "DynamoDB, the state machine's integrations"
            } else {
                "DynamoDB, API requests"
            };
        }
        if let Some((_, part)) = PARTS
            .iter()
            .find(|(files, _)| files.iter().any(|file| in_file(frame, file)))
        {
            return part;
        }
    }
    if frames.iter().any(|f| in_file(f, "threading.py")) {
        "threads starting and stopping"
    } else {
        "other"
    }
}

/// bench/results/ministack-profile.json from py-spy's raw output (`frame;frame;… count` lines).
pub fn run(raw: &Path, load: &Path, rate: u64, out: &Path) {
    let text = std::fs::read_to_string(raw).unwrap_or_else(|e| panic!("{}: {e}", raw.display()));
    let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
    let mut inclusive: BTreeMap<String, f64> = BTreeMap::new();
    let mut total = 0.0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((stack, n)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<f64>() else { continue };
        let frames: Vec<&str> = stack.split(';').collect();
        total += n;
        *groups.entry(group(&frames)).or_default() += n;
        let mut seen: Vec<String> = Vec::new();
        for f in &frames {
            // `name (file:line)` → `name (file)`, once per sample.
            let name = match f.rsplit_once(':') {
                Some((head, line))
                    if line
                        .trim_end_matches(')')
                        .chars()
                        .all(|c| c.is_ascii_digit()) =>
                {
                    format!("{head})")
                }
                _ => f.to_string(),
            };
            if f.contains("ministack/") && !seen.contains(&name) {
                seen.push(name.clone());
                *inclusive.entry(name).or_default() += n;
            }
        }
    }
    let share = |v: f64| if total > 0.0 { v / total } else { f64::NAN };
    let mut top: Vec<(String, f64)> = inclusive.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    let load = crate::util::read_json(load).unwrap_or(Value::Null);
    crate::util::write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "command": "bench/ministack-profile.sh",
            "samplesWithGil": total,
            "rateHz": rate,
            "load": load["levels"].as_array().and_then(|l| l.last()).cloned(),
            "shareByGroup": groups.iter().map(|(g, v)| (g.to_string(), share(*v))).collect::<BTreeMap<_, _>>(),
            "topInclusive": top.iter().take(25).map(|(f, v)| json!({"function": f, "share": share(*v)})).collect::<Vec<_>>(),
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn a_sample_belongs_to_the_innermost_named_part() {
        let dynamo_from_sfn = [
            "_run_execution (ministack/services/stepfunctions.py:1800)",
            "_invoke_dynamodb (ministack/services/stepfunctions.py:2300)",
            "_update_item (ministack/services/dynamodb.py:900)",
            "deepcopy (copy.py:128)",
        ];
        assert_eq!(
            group(&dynamo_from_sfn),
            "DynamoDB, the state machine's integrations"
        );
        let http = [
            "run (asyncio/runners.py:118)",
            "app (ministack/app.py:700)",
            "HTTPStream.app_send (hypercorn/protocol/http_stream.py:200)",
            "Connection.send (h11/_connection.py:500)",
        ];
        assert_eq!(
            group(&http),
            "HTTP server and event loop (hypercorn, h11, asyncio)"
        );
        let idle = [
            "Thread.run (threading.py:982)",
            "ProvidedWorker._build_handler_class.<locals>.RuntimeAPIHandler.do_GET (ministack/core/lambda_runtime.py:1938)",
            "Queue.get (queue.py:180)",
            "Condition.wait (threading.py:331)",
        ];
        assert_eq!(
            group(&idle),
            "Lambda environments waiting for their next event (each wakes every 100 ms)"
        );
        assert_eq!(
            group(&["Thread._bootstrap (threading.py:1002)"]),
            "threads starting and stopping"
        );
    }
}
