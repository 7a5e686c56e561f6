//! `make sim`: runs schedules of the saga in process and checks the properties after each.
//!
//! ```text
//! sim [--schedules N] [--seed S] [--orders K] [--fault-rate R] [--cancel-rate R]
//!     [--conflict-rate R] [--compensation-outage R] [--express-duplicates P] [--threads T]
//!     [--json FILE] [--keep CHOICES]
//! ```
//! Schedule `i` runs with seed `S + i`, in the shape its seed picks (`Shape::mixed`) unless a
//! shape flag is given; the first that breaks a property is printed with its
//! seed and violations, and the run fails. `--schedules 1 --seed <seed>` replays one exactly.
//! Schedules share nothing, so `T` threads (one per core by default) each run every `T`-th
//! seed on a runtime of their own; a seed's schedule is the same on any thread. `--json` also
//! writes the batch's figures to FILE (`bench/sim.sh` reads them for BENCHMARKS.md). A failing
//! schedule is shrunk to the fewest choices that still fail (`sim::choices`); `--keep` with the
//! list it prints (`o0,f12,c3`) replays them.

use embedded_dynamodb::OperationTime;
use sim::asl::Definition;
use sim::choices::{self, Kind};
use sim::cloud;
use sim::schedule::Report;
use sim::schedule::{self, Shape};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    schedules: u64,
    seed: u64,
    shape: Shape,
    /// No shape flag given: each seed takes `Shape::mixed(seed)`.
    mixed: bool,
    threads: u64,
    json: Option<String>,
    /// `--keep`: only these choices happen (what the shrinker prints).
    keep: Option<std::collections::BTreeSet<choices::Choice>>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        schedules: 100,
        seed: 1,
        shape: Shape::default(),
        mixed: true,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        json: None,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        if !matches!(
            flag.as_str(),
            "--schedules" | "--seed" | "--threads" | "--json" | "--keep"
        ) {
            args.mixed = false;
        }
        match flag.as_str() {
            "--schedules" => args.schedules = value.parse().map_err(|e| bad(&e))?,
            "--seed" => args.seed = value.parse().map_err(|e| bad(&e))?,
            "--json" => args.json = Some(value.clone()),
            "--keep" => args.keep = Some(choices::parse_set(&value).map_err(|e| bad(&e))?),
            "--threads" => args.threads = value.parse::<u64>().map_err(|e| bad(&e))?.max(1),
            "--orders" => args.shape.orders = value.parse().map_err(|e| bad(&e))?,
            "--fault-rate" => args.shape.fault_rate = value.parse().map_err(|e| bad(&e))?,
            "--cancel-rate" => args.shape.cancel_rate = value.parse().map_err(|e| bad(&e))?,
            "--conflict-rate" => args.shape.conflict_rate = value.parse().map_err(|e| bad(&e))?,
            "--compensation-outage" => {
                args.shape.compensation_outage = value.parse().map_err(|e| bad(&e))?;
            }
            "--express-duplicates" => {
                args.shape.express_duplicates = Some(value.parse().map_err(|e| bad(&e))?);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Runs of the shrinker at most, from each schedule it starts from (a minute or two each on
/// this machine).
const SHRINK_BUDGET: usize = 500;

/// Shrinks the failing schedule of `seed` to the fewest choices (orders, faults, cancels, API
/// calls, duplicates, conflicts, cleanup runs) that still break a property
/// (`sim::choices::shrink`), and prints how to replay them. It also shrinks the first failing
/// schedule of the seed with fewer orders drawn (another count is another schedule: other
/// draws), and prints the smaller of the two.
async fn shrink(definition: &Definition, shape: &Shape, failed: &Report) {
    let seed = failed.seed;
    let run = |shape: Shape| async move {
        schedule::run(definition, &shape, seed)
            .await
            .ok()
            .filter(|r| !r.violations.is_empty())
    };
    let mut starts = vec![(shape.clone(), failed.choices.clone())];
    let mut runs = 0;
    for orders in 1..shape.orders {
        runs += 1;
        let fewer = Shape {
            orders,
            ..shape.clone()
        };
        if let Some(report) = run(fewer.clone()).await {
            starts.push((fewer, report.choices));
            break;
        }
    }
    let mut best: Option<(Shape, Report)> = None;
    for (shape, taken) in starts {
        let with = |keep| Shape {
            keep: Some(keep),
            ..shape.clone()
        };
        let shrunk = choices::shrink(taken, SHRINK_BUDGET, |keep| {
            let failing = run(with(keep));
            async move { failing.await.map(|r| r.choices) }
        })
        .await;
        runs += shrunk.runs + 1;
        let Some(report) = run(with(shrunk.kept.into_iter().collect())).await else {
            eprintln!("sim: a shrunk schedule did not fail again (a bug in the shrinker)");
            return;
        };
        let size = |r: &Report| (r.choices.len(), r.states);
        if best.as_ref().is_none_or(|(_, b)| size(&report) < size(b)) {
            best = Some((shape, report));
        }
    }
    let Some((shape, smallest)) = best else {
        return;
    };
    let count = |kind| smallest.choices.iter().filter(|c| c.kind == kind).count();
    let mut replay = format!(
        "--orders {} --fault-rate {} --cancel-rate {} --conflict-rate {} --compensation-outage {}",
        shape.orders,
        shape.fault_rate,
        shape.cancel_rate,
        shape.conflict_rate,
        shape.compensation_outage
    );
    if let Some(p) = shape.express_duplicates {
        replay.push_str(&format!(" --express-duplicates {p}"));
    }
    replay.push_str(&format!(
        " --keep {}",
        choices::format_set(&smallest.choices)
    ));
    eprintln!(
        "sim: shrunk in {} runs to {} of {} choices: {} orders (and {} placed by the API), {} faults, {} cancels, {} API calls, {} duplicate executions, {} conflicts, {} cleanup runs; {} states (from {}):\n  {}\nreplay: make sim SEED={seed} SCHEDULES=1 ARGS=\"{replay}\"",
        runs,
        smallest.choices.len(),
        failed.choices.len(),
        count(Kind::Order),
        smallest.placed.len().saturating_sub(count(Kind::Order)),
        count(Kind::Fault),
        count(Kind::Cancel),
        count(Kind::Api),
        count(Kind::Duplicate),
        count(Kind::Conflict),
        count(Kind::Cleanup),
        smallest.states,
        failed.states,
        smallest.violations.join("\n  "),
    );
}

/// What a thread's schedules added up to.
#[derive(Default)]
struct Totals {
    schedules: u64,
    states: usize,
    faults: usize,
    cancels: usize,
    redriven: usize,
    engine: BTreeMap<String, OperationTime>,
    sdk_calls: u64,
    sdk_time: std::time::Duration,
    sdk_engine_time: std::time::Duration,
    statuses: BTreeMap<String, usize>,
    /// The first schedule that broke a property, with its shape.
    failed: Option<(Shape, Report)>,
}

/// Runs every `threads`-th schedule from `first`, until one breaks a property or `stop` is set
/// (another thread found one).
fn run_share(
    args: &Args,
    definition: &Definition,
    first: u64,
    stop: &AtomicBool,
) -> Result<Totals, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut totals = Totals::default();
    let mut i = first;
    while i < args.schedules && !stop.load(Ordering::Relaxed) {
        let seed = args.seed + i;
        i += args.threads;
        let shape = Shape {
            keep: args.keep.clone(),
            ..if args.mixed {
                Shape::mixed(seed)
            } else {
                args.shape.clone()
            }
        };
        let report = runtime
            .block_on(schedule::run(definition, &shape, seed))
            .map_err(|e| format!("seed {seed}: the schedule could not run: {e}"))?;
        totals.schedules += 1;
        totals.states += report.states;
        totals.faults += report.faults;
        totals.cancels += report.cancels;
        totals.redriven += report.redriven.len();
        totals.sdk_calls += report.sdk_calls;
        totals.sdk_time += report.sdk_time;
        totals.sdk_engine_time += report.sdk_engine_time;
        for (operation, time) in &report.engine {
            *totals.engine.entry(operation.clone()).or_default() += *time;
        }
        for (status, n) in &report.statuses {
            *totals.statuses.entry(status.clone()).or_default() += n;
        }
        if !report.violations.is_empty() {
            stop.store(true, Ordering::Relaxed);
            totals.failed = Some((shape, report));
            break;
        }
    }
    Ok(totals)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = match Definition::load(text, &cloud::substitutions()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sim: the definition is refused: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let shares: Vec<Result<Totals, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.threads)
            .map(|t| {
                let (args, definition, stop) = (&args, &definition, &stop);
                scope.spawn(move || run_share(args, definition, t, stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a schedule thread panicked".to_owned()))
            })
            .collect()
    });
    let mut all = Totals::default();
    for share in shares {
        let share = match share {
            Ok(share) => share,
            Err(e) => {
                eprintln!("sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        all.schedules += share.schedules;
        all.states += share.states;
        all.faults += share.faults;
        all.cancels += share.cancels;
        all.redriven += share.redriven;
        all.sdk_calls += share.sdk_calls;
        all.sdk_time += share.sdk_time;
        all.sdk_engine_time += share.sdk_engine_time;
        for (operation, time) in share.engine {
            *all.engine.entry(operation).or_default() += time;
        }
        for (status, n) in share.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        // The smallest failing seed any thread found.
        if let Some((shape, report)) = share.failed
            && all
                .failed
                .as_ref()
                .is_none_or(|(_, r)| report.seed < r.seed)
        {
            all.failed = Some((shape, report));
        }
    }
    if let Some((shape, report)) = all.failed {
        let seed = report.seed;
        if std::env::var_os("SIM_TRACE").is_some() {
            for ended in &report.ended {
                eprintln!(
                    "{}: {}\n  {:?}",
                    ended.name,
                    ended.states.join(" > "),
                    ended.outcome
                );
            }
        }
        eprintln!(
            "sim: seed {seed} broke {} properties (replay: make sim SEED={seed} SCHEDULES=1):\n  {}",
            report.violations.len(),
            report.violations.join("\n  ")
        );
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(shrink(&definition, &shape, &report));
        }
        return ExitCode::FAILURE;
    }
    let secs = started.elapsed().as_secs_f64();
    let states = all.states;
    let engine_calls: u64 = all.engine.values().map(|t| t.calls).sum();
    let engine_secs: f64 = all.engine.values().map(|t| t.time.as_secs_f64()).sum();
    let sdk_secs = all.sdk_time.as_secs_f64();
    println!(
        "sim: {} schedules from seed {} ({} orders each, {}), 0 property violations; {states} states, {} faults, {} cancels, {} compensations redriven; orders {:?}; {secs:.1} s on {} threads, {:.0} schedules/s, {:.0} states/s; the DynamoDB engine answered {} calls in {engine_secs:.1} s of the threads' time; {} of them came through the SDK, whose calls took {sdk_secs:.1} s end to end ({:.1} s of it the SDK's own)",
        all.schedules,
        args.seed,
        args.shape.orders,
        if args.mixed {
            "four shapes in turn"
        } else {
            "one shape"
        },
        all.faults,
        all.cancels,
        all.redriven,
        all.statuses,
        args.threads,
        all.schedules as f64 / secs,
        states as f64 / secs,
        engine_calls,
        all.sdk_calls,
        sdk_secs - all.sdk_engine_time.as_secs_f64(),
    );
    if let Some(path) = &args.json {
        let figures = serde_json::json!({
            "schedules": all.schedules,
            "seed": args.seed,
            "threads": args.threads,
            "ordersPerSchedule": args.shape.orders,
            "mixed": args.mixed,
            "seconds": secs,
            "states": states,
            "faults": all.faults,
            "cancels": all.cancels,
            "redriven": all.redriven,
            "statuses": all.statuses,
            "schedulesPerSecond": all.schedules as f64 / secs,
            "statesPerSecond": states as f64 / secs,
            "engineCalls": engine_calls,
            "sdkCalls": all.sdk_calls,
            "sdkSeconds": sdk_secs,
            "sdkEngineSeconds": all.sdk_engine_time.as_secs_f64(),
            "engineSeconds": engine_secs,
            "engineByOperation": all.engine.iter().map(|(operation, t)| {
                (operation.clone(), serde_json::json!({"calls": t.calls, "seconds": t.time.as_secs_f64()}))
            }).collect::<serde_json::Map<_, _>>(),
            "violations": 0,
        });
        if let Err(e) = std::fs::write(path, figures.to_string()) {
            eprintln!("sim: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
