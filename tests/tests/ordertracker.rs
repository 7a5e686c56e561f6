//! `ordertracker`, the operator's tool, end to end against the local stack: the binary from
//! `target/debug` (built by `make build`), with the stack's environment, as a person runs it.

use chrono::Utc;
use e2e::COMPENSATION_DLQ;
use e2e::{Fault, Stack, ordertracker, ordertracker_with_env};
use order_lambda::order::OrderId;
use serde_json::{Value, json};

const STOCK: i64 = 10;
const PRICE: i64 = 1_000;
const BALANCE: i64 = 10_000;

/// `ordertracker --json ARGS…`, which must succeed: its output.
async fn json_of(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = ordertracker(&all).await;
    assert_eq!(code, 0, "ordertracker {args:?} failed: {err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `ordertracker --json ARGS…` with the variables `vars` set, which must succeed: its output.
async fn json_with_env(args: &[&str], vars: &[(&str, &str)]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = ordertracker_with_env(&all, vars).await;
    assert_eq!(code, 0, "ordertracker {args:?} failed: {err}\n{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `ordertracker --json show ID` once the order's audit trail has caught up with `status`.
async fn shown_with_trail(id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let shown = json_of(&["show", id]).await;
        let caught_up = shown["audit"]
            .as_array()
            .is_some_and(|t| t.iter().any(|e| e["after"]["status"] == status));
        if caught_up {
            return shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} in the trail of {id} after 60 s: {shown:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Places an order of `quantity` units of `sku`, which must be accepted: its id.
async fn place(
    stack: &Stack,
    user: &e2e::User,
    sku: &order_lambda::order::Sku,
    quantity: u32,
) -> String {
    let (status, accepted) = stack
        .post_order(
            user,
            &json!({"items": [{"sku": sku, "quantity": quantity}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    accepted["orderId"].as_str().expect("orderId").to_owned()
}

/// An order whose saga gave up: declined, then every release attempt failed, so it ends
/// `COMPENSATION_FAILED` with 2 units still held and a compensation DLQ message.
async fn compensation_failed_order(stack: &Stack) -> (e2e::User, order_lambda::order::Sku, String) {
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;
    stack
        .plan_faults(&user, "charge-payment", vec![Fault::Business])
        .await;
    stack
        .plan_faults(&user, "release-reservation", vec![Fault::Transient; 9])
        .await;
    let id = place(stack, &user, &sku, 2).await;
    assert_eq!(stack.wait_for_execution(&id).await, "FAILED");
    (user, sku, id)
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn show_stuck_and_retry_repair_an_order_whose_compensation_failed() {
    let _queue = COMPENSATION_DLQ.lock().await;
    let stack = Stack::connect().await;
    let (user, sku, id) = compensation_failed_order(&stack).await;
    stack.wait_until_settled(&user, &id).await;
    assert_eq!(stack.stock(&sku).await, (STOCK - 2, 2));

    // show: the order, the held reservation, the timeline naming the failed step, and the
    // audit trail (the audit function reads the tables' streams, so it lags a little).
    let shown = shown_with_trail(&id, "COMPENSATION_FAILED").await;
    assert_eq!(shown["order"]["status"], "COMPENSATION_FAILED", "{shown}");
    assert_eq!(shown["reservation"]["status"], "HELD");
    let execution = &shown["executions"][0];
    assert_eq!(execution["status"], "FAILED", "{execution}");
    let steps = execution["steps"].as_array().expect("steps");
    let release = steps
        .iter()
        .find(|s| s["step"] == "ReleaseReservation")
        .unwrap_or_else(|| panic!("no ReleaseReservation step: {execution}"));
    assert_eq!(release["error"], "Transient", "{release}");
    assert_eq!(release["attempts"], 9, "{release}");
    let charge = steps
        .iter()
        .find(|s| s["step"] == "ChargePayment")
        .expect("ChargePayment step");
    assert_eq!(charge["error"], "PaymentDeclined", "{charge}");
    let trail = shown["audit"].as_array().expect("audit");
    let statuses: Vec<&str> = trail
        .iter()
        .filter(|e| e["action"] == "ORDER_STATUS")
        .filter_map(|e| e["after"]["status"].as_str())
        .collect();
    // The declined payment's claim (`cancelRequestedAt`, status unchanged) is an entry too.
    assert_eq!(
        statuses,
        ["PENDING", "RESERVED", "RESERVED", "COMPENSATION_FAILED"],
        "{trail:#?}"
    );
    let reserved: i64 = trail
        .iter()
        .filter(|e| e["action"] == "STOCK")
        .map(|e| {
            e["after"]["reserved"].as_i64().unwrap_or(0)
                - e["before"]["reserved"].as_i64().unwrap_or(0)
        })
        .sum();
    assert_eq!(reserved, 2, "the trail holds the reservation: {trail:#?}");
    assert!(
        trail
            .iter()
            .filter(|e| e["action"] != "ORDER_STATUS" || e["after"]["status"] != "PENDING")
            .all(|e| e["actor"] == "saga"),
        "the saga made every change after the buyer's order: {trail:#?}"
    );

    // The same as a table, for a person.
    let (code, text, err) = ordertracker(&["show", &id]).await;
    assert_eq!(code, 0, "{err}");
    for expected in [
        "COMPENSATION_FAILED",
        "ReleaseReservation",
        "Transient",
        "Audit trail",
        "RESERVE",
    ] {
        assert!(text.contains(expected), "`show` lacks {expected}:\n{text}");
    }

    // stuck: it is listed, with where it stopped.
    let stuck = json_of(&["stuck", "--older-than", "0s", "--limit", "1000"]).await;
    let row = stuck
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["orderId"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed as stuck: {stuck}"));
    assert_eq!(row["status"], "COMPENSATION_FAILED");
    assert!(
        row["execution"]
            .as_str()
            .is_some_and(|e| e.ends_with("FAILED")),
        "{row}"
    );

    // The dead-letter queue holds the saga's message about it.
    let queue = std::env::var("COMPENSATION_DLQ_URL").expect("COMPENSATION_DLQ_URL");
    let listed = json_of(&["dlq", "list", &queue]).await;
    assert!(
        listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|m| m["orderId"] == id.as_str() && m["kind"] == "compensation"),
        "{listed}"
    );

    // retry: the release the saga gave up on runs once; the order ends CANCELLED with its reason.
    let retried = json_of(&["retry", &id]).await;
    assert_eq!(retried["before"], "COMPENSATION_FAILED", "{retried}");
    assert_eq!(retried["after"], "CANCELLED", "{retried}");
    assert_eq!(retried["compensation"]["released"], true);
    assert_eq!(
        retried["compensation"]["refunded"], false,
        "nothing was charged"
    );
    assert_eq!(stack.stock(&sku).await, (STOCK, 0));
    assert_eq!(stack.balance(&user).await, BALANCE);
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "PAYMENT_DECLINED");
    let repaired = shown_with_trail(&id, "CANCELLED").await;
    let last = repaired["audit"]
        .as_array()
        .and_then(|t| t.iter().rfind(|e| e["action"] == "ORDER_STATUS"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["before"]["status"], "COMPENSATION_FAILED", "{last}");
    assert_eq!(last["actor"], "scheduler", "the operator's retry: {last}");

    // Again: nothing is missing any more, nothing changes.
    let again = json_of(&["retry", &id]).await;
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(stack.stock(&sku).await, (STOCK, 0));

    // Errors are clear and the exit status says so.
    let (code, _, err) = ordertracker(&["show", "not-an-order"]).await;
    assert_eq!(code, 2, "{err}");
    let missing = OrderId::new_at(Utc::now()).to_string();
    let (code, _, err) = ordertracker(&["retry", &missing]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no order"), "{err}");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn retry_starts_a_saga_that_never_started_and_leaves_a_running_one_alone() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;

    // A running saga (held after the charge: "paid but the order says awaiting payment")
    // is left alone: it finishes by itself.
    stack
        .plan_faults(
            &user,
            "charge-payment",
            vec![Fault::DelayAfterWrite { ms: 4_000 }],
        )
        .await;
    let running = place(&stack, &user, &sku, 1).await;
    stack.wait_for_status(&user, &running, "RESERVED").await;
    let left = json_of(&["retry", &running]).await;
    assert_eq!(left["changed"], false, "{left}");
    assert!(
        left["action"]
            .as_str()
            .is_some_and(|a| a.contains("still running")),
        "{left}"
    );
    stack.wait_for_status(&user, &running, "COMPLETED").await;

    // An order whose saga never started (create-order crashed between writing and starting).
    let lost = stack.lost_pending_order(&user, &sku, PRICE).await;

    let stuck = json_of(&["stuck", "--older-than", "0s", "--limit", "1000"]).await;
    let row = stuck
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["orderId"] == lost.as_str())
        .unwrap_or_else(|| panic!("{lost} not listed: {stuck}"));
    assert_eq!(row["execution"], "NONE", "{row}");
    assert_eq!(row["stoppedAt"], "never started");
    let (code, text, _) = ordertracker(&["show", &lost]).await;
    assert_eq!(code, 0);
    assert!(text.contains("never started"), "{text}");

    let retried = json_of(&["retry", &lost]).await;
    assert_eq!(retried["changed"], true, "{retried}");
    assert_eq!(stack.wait_for_execution(&lost).await, "SUCCEEDED");
    let (_, stored) = stack.get_order(&user, &lost).await;
    assert_eq!(stored["status"], "COMPLETED", "{stored}");
    assert_eq!(stack.balance(&user).await, BALANCE - 2 * PRICE);

    // Retrying a completed order changes nothing.
    let done = json_of(&["retry", &lost]).await;
    assert_eq!(done["changed"], false, "{done}");
    assert_eq!(stack.balance(&user).await, BALANCE - 2 * PRICE);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn report_reads_the_audit_table_and_help_covers_every_subcommand() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;
    let from = Utc::now() - chrono::Duration::seconds(1);
    let id = place(&stack, &user, &sku, 1).await;
    stack.wait_for_status(&user, &id, "COMPLETED").await;
    let trail = shown_with_trail(&id, "COMPLETED").await["audit"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let to = Utc::now() + chrono::Duration::minutes(1);
    let (from, to) = (from.to_rfc3339(), to.to_rfc3339());

    // The report holds the order's whole trail, oldest first, among whatever else happened.
    let report = json_of(&["report", "--from", &from, "--to", &to]).await;
    let rows = report.as_array().expect("a list");
    for entry in &trail {
        assert!(
            rows.iter().any(|r| r["auditId"] == entry["auditId"]),
            "{entry} is not in the report"
        );
    }
    let times: Vec<&str> = rows.iter().filter_map(|r| r["at"].as_str()).collect();
    assert_eq!(times.len(), rows.len());
    assert!(times.is_sorted(), "oldest first: {times:?}");

    // The CSV is the same entries under one header, as GET /admin/audit?format=csv writes it.
    let (code, csv, err) =
        ordertracker(&["report", "--from", &from, "--to", &to, "--format", "csv"]).await;
    assert_eq!(code, 0, "{err}{csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("a header").clone();
    assert_eq!(header.get(0), Some("auditId"), "{header:?}");
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.expect("a CSV row")[0].to_owned())
        .collect();
    assert!(ids.len() >= rows.len(), "entries may have landed since");
    for entry in &trail {
        assert!(ids.iter().any(|i| entry["auditId"] == i.as_str()));
    }

    let (code, _, err) = ordertracker(&["report", "--from", &to, "--to", &from]).await;
    assert_eq!(code, 2, "from after to is a usage error: {err}");
    for sub in [
        vec!["show", "--help"],
        vec!["stuck", "--help"],
        vec!["retry", "--help"],
        vec!["dlq", "list", "--help"],
        vec!["dlq", "redrive", "--help"],
        vec!["report", "--help"],
    ] {
        let (code, out, _) = ordertracker(&sub).await;
        assert_eq!(code, 0, "{sub:?}");
        assert!(out.contains("Usage: ordertracker"), "{sub:?}: {out}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn dlq_list_and_redrive_settle_a_failed_compensation_once() {
    let _queue = COMPENSATION_DLQ.lock().await;
    let stack = Stack::connect().await;
    let (user, sku, id) = compensation_failed_order(&stack).await;
    assert_eq!(stack.stock(&sku).await, (STOCK - 2, 2), "still held");

    let queue = std::env::var("COMPENSATION_DLQ_URL").expect("COMPENSATION_DLQ_URL");
    let listed = json_of(&["dlq", "list", &queue]).await;
    assert!(
        listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|m| m["orderId"] == id.as_str()),
        "the DLQ names the order: {listed}"
    );

    // Other tests' messages may be there too: replaying them is as idempotent as ours.
    let redriven = json_of(&["dlq", "redrive", &queue]).await;
    assert!(
        redriven["replayed"].as_u64().unwrap_or(0) >= 1,
        "{redriven}"
    );
    assert_eq!(redriven["failed"], 0, "{redriven}");
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(stack.stock(&sku).await, (STOCK, 0), "released once");
    assert_eq!(stack.balance(&user).await, BALANCE, "never charged");

    // Safe to run twice: our message is gone, nothing moves again.
    let again = json_of(&["dlq", "list", &queue]).await;
    assert!(
        !again
            .as_array()
            .expect("a list")
            .iter()
            .any(|m| m["orderId"] == id.as_str()),
        "{again}"
    );
    json_of(&["dlq", "redrive", &queue]).await;
    assert_eq!(stack.stock(&sku).await, (STOCK, 0));
}

/// A second state machine, of type EXPRESS, with the deployed saga's definition and role: its
/// ARN. Pointed at it (`ORDER_SAGA_ARN`), ordertracker is in the position it is in on AWS with an
/// EXPRESS saga: DescribeExecution and GetExecutionHistory find no execution of any order (on
/// AWS they do not serve EXPRESS executions, whose ARNs are `…:express:…`; here the orders run
/// under the deployed saga), whether or not one is running.
async fn express_state_machine(stack: &Stack) -> String {
    use aws_sdk_sfn::types::StateMachineType;
    let deployed = stack
        .sfn
        .describe_state_machine()
        .state_machine_arn(&stack.saga_arn)
        .send()
        .await
        .expect("describe the deployed saga");
    let created = stack
        .sfn
        .create_state_machine()
        .name(format!(
            "ordertracker-express-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .definition(deployed.definition())
        .role_arn(deployed.role_arn())
        .r#type(StateMachineType::Express)
        .send()
        .await
        .expect("create an EXPRESS state machine");
    let arn = created.state_machine_arn().to_owned();
    let described = stack
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .expect("describe the EXPRESS state machine");
    // Otherwise ordertracker would rightly treat it as STANDARD, and this proves nothing.
    assert_eq!(
        described.r#type(),
        &StateMachineType::Express,
        "the emulator keeps the type"
    );
    arn
}

fn execution_arn(stack: &Stack, name: &str) -> String {
    format!(
        "{}:{name}",
        stack.saga_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

async fn execution_status(stack: &Stack, name: &str) -> String {
    stack
        .sfn
        .describe_execution()
        .execution_arn(execution_arn(stack, name))
        .send()
        .await
        .expect("describe the execution")
        .status()
        .as_str()
        .to_owned()
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn under_express_retry_leaves_a_young_order_alone_and_compensates_one_past_the_deadline() {
    let stack = Stack::connect().await;
    let express = express_state_machine(&stack).await;
    let env = [
        ("ORDER_SAGA_ARN", express.as_str()),
        ("SAGA_DEADLINE_MINUTES", "10"),
    ];
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;

    // A live saga, held at PAID while its delivery is booked. Under EXPRESS ordertracker cannot
    // see it: it must not compensate an order that young.
    stack
        .plan_faults(
            &user,
            "schedule-delivery",
            vec![Fault::DelayAfterWrite { ms: 10_000 }],
        )
        .await;
    let live = place(&stack, &user, &sku, 1).await;
    stack.wait_for_status(&user, &live, "PAID").await;
    let retried = json_with_env(&["retry", &live], &env).await;
    assert_eq!(
        retried["changed"], false,
        "retry compensated a young order under EXPRESS: {retried:#}"
    );
    assert_eq!(retried["after"], "PAID", "{retried:#}");
    assert!(
        retried["action"]
            .as_str()
            .is_some_and(|a| a.contains("EXPRESS")),
        "says why: {retried:#}"
    );
    // Not vacuous: the saga was live all along, and the order untouched.
    assert_eq!(execution_status(&stack, &live).await, "RUNNING");
    let (_, order) = stack.get_order(&user, &live).await;
    assert_eq!(order["status"], "PAID", "{order}");
    assert!(order.get("cancelRequestedAt").is_none(), "{order}");

    // stuck and show say the execution is unknown, not that the saga never started.
    let stuck = json_with_env(&["stuck", "--older-than", "0s", "--limit", "1000"], &env).await;
    let row = stuck
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["orderId"] == live.as_str())
        .unwrap_or_else(|| panic!("{live} not listed: {stuck}"));
    assert_eq!(row["execution"], "unknown (EXPRESS)", "{row}");
    assert_ne!(row["stoppedAt"], "never started", "{row}");
    let (code, text, err) = ordertracker_with_env(&["show", &live], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("unknown (EXPRESS)"), "{text}");
    assert!(!text.contains("never started"), "{text}");

    // The saga finishes by itself: charged once, nothing refunded.
    assert_eq!(stack.wait_for_execution(&live).await, "SUCCEEDED");
    let order = stack.wait_until_settled(&user, &live).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert_eq!(stack.balance(&user).await, BALANCE - PRICE);

    // An execution that stopped at PAID (as EXPRESS stops one at five minutes): young, it is
    // still left alone (nothing tells ordertracker it stopped); past the saga deadline (the
    // operator's --saga-deadline here) no execution can be running, and it is compensated once.
    let other = stack.user(Some(BALANCE)).await;
    stack
        .plan_faults(
            &other,
            "schedule-delivery",
            vec![Fault::DelayAfterWrite { ms: 3_000 }],
        )
        .await;
    let stopped = place(&stack, &other, &sku, 2).await;
    stack.wait_for_status(&other, &stopped, "PAID").await;
    stack
        .sfn
        .stop_execution()
        .execution_arn(execution_arn(&stack, &stopped))
        .cause("as EXPRESS stops an execution at five minutes")
        .send()
        .await
        .expect("stop the execution");
    assert_eq!(stack.wait_for_execution(&stopped).await, "ABORTED");
    let young = json_with_env(&["retry", &stopped], &env).await;
    assert_eq!(young["changed"], false, "{young:#}");
    assert_eq!(stack.balance(&other).await, BALANCE - 2 * PRICE);

    // Past the operator's deadline of one second, however fast the steps above ran.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let past = json_with_env(&["retry", "--saga-deadline", "1s", &stopped], &env).await;
    assert_eq!(past["changed"], true, "{past:#}");
    assert_eq!(past["after"], "CANCELLED", "{past:#}");
    assert_eq!(past["compensation"]["refunded"], true, "{past:#}");
    assert_eq!(past["compensation"]["released"], true, "{past:#}");
    assert_eq!(stack.balance(&other).await, BALANCE, "refunded once");
    let again = json_with_env(&["retry", "--saga-deadline", "1s", &stopped], &env).await;
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(stack.balance(&other).await, BALANCE);
    assert_eq!(
        stack.stock(&sku).await,
        (STOCK - 1, 1),
        "the stopped order's two units are back; the completed order holds its one"
    );
}

/// A TCP proxy in front of the local AWS endpoint that holds the first request whose bytes
/// contain `marker` (an `X-Amz-Target`, say) until released: it makes something happen between
/// two of ordertracker's calls on every run, not by luck.
struct HoldingProxy {
    url: String,
    arrived: Option<std::sync::mpsc::Receiver<()>>,
    release: std::sync::mpsc::Sender<()>,
}

impl HoldingProxy {
    fn start(upstream: &str, marker: &'static [u8]) -> Self {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::{Arc, Mutex, mpsc};
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(Some((arrived_tx, release_rx))));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let server = TcpStream::connect(&upstream).expect("connect to the endpoint");
                let mut to_server = server.try_clone().expect("clone a socket");
                let mut from_client = client.try_clone().expect("clone a socket");
                let (mut from_server, mut to_client) = (server, client);
                let hold = Arc::clone(&hold);
                std::thread::spawn(move || {
                    let mut buffer = vec![0; 64 * 1024];
                    // The last bytes of the previous read: a marker may straddle two reads.
                    let mut tail: Vec<u8> = Vec::new();
                    loop {
                        let n = match from_client.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut window = std::mem::take(&mut tail);
                        window.extend_from_slice(&buffer[..n]);
                        if window.windows(marker.len()).any(|w| w == marker) {
                            let taken = hold.lock().expect("the hold").take();
                            if let Some((arrived, release)) = taken {
                                let _ = arrived.send(());
                                let _ = release.recv();
                            }
                        }
                        tail = window[window.len().saturating_sub(marker.len())..].to_vec();
                        if to_server.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Write);
                });
            }
        });
        Self {
            url,
            arrived: Some(arrived),
            release,
        }
    }

    /// Waits (60 s at most) until the marked request has arrived and is held.
    async fn wait_for_hold(&mut self) {
        let arrived = self.arrived.take().expect("waited for once");
        tokio::task::spawn_blocking(move || {
            arrived
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the marked request within 60 s")
        })
        .await
        .expect("waited");
    }

    /// Lets the held request go on.
    fn release(&self) {
        let _ = self.release.send(());
    }
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn retry_reads_the_executions_before_the_order_so_a_saga_completing_meanwhile_is_left_alone()
{
    let stack = Stack::connect().await;
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;
    // The saga is held at PAID (after booking delivery), long enough for ordertracker to start
    // and reach its first execution lookup.
    stack
        .plan_faults(
            &user,
            "schedule-delivery",
            vec![Fault::DelayAfterWrite { ms: 8_000 }],
        )
        .await;
    let id = place(&stack, &user, &sku, 1).await;
    stack.wait_for_status(&user, &id, "PAID").await;

    // retry's first DescribeExecution is held until the saga has completed.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let mut proxy = HoldingProxy::start(&endpoint, b"AWSStepFunctions.DescribeExecution");
    let retry = tokio::spawn({
        let (url, id) = (proxy.url.clone(), id.clone());
        async move {
            ordertracker_with_env(&["--json", "retry", &id], &[("AWS_ENDPOINT_URL", &url)]).await
        }
    });
    proxy.wait_for_hold().await;
    // Not vacuous: retry reached its first execution lookup while the order was PAID, so any
    // read of the order it made before that one found it PAID.
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "PAID", "{order}");
    assert_eq!(stack.wait_for_execution(&id).await, "SUCCEEDED");
    stack.wait_for_status(&user, &id, "COMPLETED").await;
    proxy.release();

    let (code, out, err) = retry.await.expect("retry ran");
    assert_eq!(code, 0, "{err}{out}");
    let retried: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        retried["changed"], false,
        "retry compensated an order that completed while it looked: {retried:#}"
    );
    assert!(retried.get("compensation").is_none(), "{retried:#}");
    // It decided on the order as it was once the execution it found ended had ended.
    assert_eq!(
        retried["before"], "COMPLETED",
        "retry decided on the order as read before its executions: {retried:#}"
    );
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert!(order.get("cancelRequestedAt").is_none(), "{order}");
    assert_eq!(stack.balance(&user).await, BALANCE - PRICE, "charged once");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn stuck_lists_a_completed_order_whose_cancellation_stopped_and_retry_finishes_it() {
    let stack = Stack::connect().await;
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;
    let id = place(&stack, &user, &sku, 2).await;
    let order = stack.wait_until_settled(&user, &id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");

    // The customer cancels; the `-cancel` execution's refund waits, and the execution is
    // stopped there (as EXPRESS stops one at five minutes): accepted, never finished.
    stack
        .plan_faults(&user, "refund-payment", vec![Fault::Delay { ms: 3_000 }])
        .await;
    let (status, accepted) = stack.cancel_order(&user, &id).await;
    assert_eq!(status, 202, "{accepted}");
    let cancel = format!("{id}-cancel");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let found = stack
            .sfn
            .describe_execution()
            .execution_arn(execution_arn(&stack, &cancel))
            .send()
            .await;
        if found.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no execution {cancel} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stack
        .sfn
        .stop_execution()
        .execution_arn(execution_arn(&stack, &cancel))
        .cause("as EXPRESS stops an execution at five minutes")
        .send()
        .await
        .expect("stop the cancellation");
    assert_eq!(stack.wait_for_execution(&cancel).await, "ABORTED");
    // The refund in flight may still commit; nothing after it runs.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert!(order.get("cancelRequestedAt").is_some(), "{order}");

    let stuck = json_of(&["stuck", "--older-than", "0s", "--limit", "1000"]).await;
    let row = stuck
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["orderId"] == id.as_str())
        .unwrap_or_else(|| {
            panic!("{id}, COMPLETED with its cancellation stopped, not listed: {stuck:#}")
        });
    assert_eq!(row["status"], "COMPLETED", "{row}");
    assert_eq!(row["cancelRequested"], true, "{row}");
    assert_eq!(row["execution"], format!("{cancel} ABORTED"), "{row}");

    // retry finishes the cancellation: money and stock back once, cancelled as the customer asked.
    let retried = json_of(&["retry", &id]).await;
    assert_eq!(retried["changed"], true, "{retried:#}");
    assert_eq!(retried["after"], "CANCELLED", "{retried:#}");
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["reason"], "USER_CANCELLED", "{order}");
    assert_eq!(stack.balance(&user).await, BALANCE, "refunded once");
    assert_eq!(stack.stock(&sku).await, (STOCK, 0), "released once");
    let stuck = json_of(&["stuck", "--older-than", "0s", "--limit", "1000"]).await;
    assert!(
        !stuck
            .as_array()
            .expect("a list")
            .iter()
            .any(|r| r["orderId"] == id.as_str()),
        "{stuck:#}"
    );
}
