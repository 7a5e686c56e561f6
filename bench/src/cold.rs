//! Cold start: each release binary is started against a fake Lambda Runtime API; the time from
//! spawning the process to its first `GET /runtime/invocation/next` is its init time, and VmHWM
//! at that moment is its peak RSS. Binaries are interleaved in a shuffled order every round, so
//! machine noise falls on all of them alike and ratios against the floor stay meaningful.

use crate::util::{median, quantile, status_kb, write_json};
use serde_json::{Value, json};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a Lambda sandbox sets for a provided.al2023 function (plus every variable our template
/// sets, with dummy values: init builds clients but sends nothing).
fn lambda_env(runtime_api: &str, name: &str) -> Vec<(String, String)> {
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:OrderSaga";
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
        ("ORDERS_TABLE", "OrdersTable"),
        ("INVENTORY_TABLE", "InventoryTable"),
        ("USERS_TABLE", "UsersTable"),
        ("BILLING_TABLE", "BillingTable"),
        ("NOTIFICATIONS_TABLE", "NotificationsTable"),
        ("AUDIT_TABLE", "AuditTable"),
        ("ORDER_SAGA_ARN", arn),
        (
            "EVENTS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:DomainEvents",
        ),
        ("STAGE", "prod"),
        ("RUST_LOG", "info"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    // Experiments: BENCH_COLD_ENV="K=V,K2=V2" adds variables (say, SSL_CERT_FILE).
    .chain(
        std::env::var("BENCH_COLD_ENV")
            .unwrap_or_default()
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
    )
    .collect()
}

/// Reads an HTTP request head; returns its first line once the head is complete.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    head.lines().next().map(str::to_string)
}

struct Sample {
    init_ms: f64,
    peak_rss_kb: u64,
}

pub fn run(bin_dir: &Path, names: &[String], floor: &str, runs: usize, out: &Path) {
    // A name may carry extra variables for an experiment in the same run: `create-order@K=V;K2=V2`.
    let binary = |n: &str| n.split('@').next().unwrap_or(n).to_string();
    let extra = |n: &str| -> Vec<(String, String)> {
        n.split_once('@')
            .map(|(_, e)| {
                e.split(';')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !bin_dir.join(binary(n)).is_file())
        .collect();
    if !missing.is_empty() {
        eprintln!("bench: not built, left out: {missing:?}");
    }
    let names: Vec<String> = names
        .iter()
        .filter(|n| bin_dir.join(binary(n)).is_file())
        .cloned()
        .collect();
    let names = &names[..];
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Runtime API");
    let addr = listener.local_addr().expect("local address").to_string();
    let (tx, rx) = mpsc::channel::<(Instant, String, TcpStream)>();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            if let Some(line) = read_head(&mut stream) {
                let _ = tx.send((Instant::now(), line, stream));
            }
        }
    });

    let mut samples: Vec<Vec<Sample>> = names.iter().map(|_| Vec::new()).collect();
    let mut failures: Vec<String> = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let bar = indicatif::ProgressBar::new((runs * names.len()) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("cold start {bar:40} {pos}/{len} {msg}")
            .expect("progress template"),
    );
    for _ in 0..runs {
        let mut order: Vec<usize> = (0..names.len()).collect();
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for i in order {
            let path: PathBuf = bin_dir.join(binary(&names[i]));
            let t0 = Instant::now();
            let mut child = Command::new(&path)
                .env_clear()
                .envs(lambda_env(&addr, &binary(&names[i])))
                .envs(extra(&names[i]))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
            // A binary that stops at init (a variable missing) says so at once, not after 10 s.
            let deadline = Instant::now() + Duration::from_secs(10);
            let answer = loop {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Err(mpsc::RecvTimeoutError::Timeout)
                        if Instant::now() < deadline
                            && child.try_wait().ok().flatten().is_none() => {}
                    other => break other,
                }
            };
            match answer {
                Ok((t1, line, stream)) if line.contains("/runtime/invocation/next") => {
                    let peak = status_kb(child.id(), "VmHWM:").unwrap_or(0);
                    let _ = child.kill();
                    let _ = child.wait();
                    drop(stream);
                    samples[i].push(Sample {
                        init_ms: (t1 - t0).as_secs_f64() * 1000.0,
                        peak_rss_kb: peak,
                    });
                }
                other => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    failures.push(format!(
                        "{}: no /next request ({:?}, exit {status:?})",
                        names[i],
                        other.map(|o| o.1).ok()
                    ));
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let floor_idx = names.iter().position(|n| n == floor);
    let floor_median =
        floor_idx.map(|i| median(&samples[i].iter().map(|s| s.init_ms).collect::<Vec<_>>()));
    let floor_rss = floor_idx.map(|i| {
        median(
            &samples[i]
                .iter()
                .map(|s| s.peak_rss_kb as f64)
                .collect::<Vec<_>>(),
        )
    });
    let binaries: Vec<Value> = names
        .iter()
        .zip(&samples)
        .map(|(name, s)| {
            let init: Vec<f64> = s.iter().map(|x| x.init_ms).collect();
            let rss: Vec<f64> = s.iter().map(|x| x.peak_rss_kb as f64).collect();
            let size = std::fs::metadata(bin_dir.join(binary(name))).map_or(0, |m| m.len());
            json!({
                "name": name,
                "runs": s.len(),
                "initMsMedian": median(&init),
                "initMsP10": quantile(&init, 0.1),
                "initMsP90": quantile(&init, 0.9),
                "initRatioToFloor": floor_median.map(|f| median(&init) / f),
                "peakRssKbMedian": median(&rss),
                "peakRssKbMax": rss.iter().cloned().fold(0.0, f64::max),
                "rssRatioToFloor": floor_rss.map(|f| median(&rss) / f),
                "binaryBytes": size,
            })
        })
        .collect();
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "binDir": bin_dir.display().to_string(),
            "floor": floor,
            "runsPerBinary": runs,
            "failures": failures,
            "binaries": binaries,
        }),
    );
}
