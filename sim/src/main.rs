//! `make sim`: runs schedules of the saga in process and checks the properties after each.
//!
//! ```text
//! sim [--schedules N] [--seed S] [--orders K] [--fault-rate R] [--cancel-rate R]
//!     [--conflict-rate R] [--express-duplicates P]
//! ```
//! Schedule `i` runs with seed `S + i`, in the shape its seed picks (`Shape::mixed`) unless a
//! shape flag is given; the first that breaks a property is printed with its
//! seed and violations, and the run fails. `--schedules 1 --seed <seed>` replays one exactly.

use sim::asl::Definition;
use sim::cloud;
use sim::schedule::{self, Shape};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    schedules: u64,
    seed: u64,
    shape: Shape,
    /// No shape flag given: each seed takes `Shape::mixed(seed)`.
    mixed: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        schedules: 100,
        seed: 1,
        shape: Shape::default(),
        mixed: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        if !matches!(flag.as_str(), "--schedules" | "--seed") {
            args.mixed = false;
        }
        match flag.as_str() {
            "--schedules" => args.schedules = value.parse().map_err(|e| bad(&e))?,
            "--seed" => args.seed = value.parse().map_err(|e| bad(&e))?,
            "--orders" => args.shape.orders = value.parse().map_err(|e| bad(&e))?,
            "--fault-rate" => args.shape.fault_rate = value.parse().map_err(|e| bad(&e))?,
            "--cancel-rate" => args.shape.cancel_rate = value.parse().map_err(|e| bad(&e))?,
            "--conflict-rate" => args.shape.conflict_rate = value.parse().map_err(|e| bad(&e))?,
            "--express-duplicates" => {
                args.shape.express_duplicates = Some(value.parse().map_err(|e| bad(&e))?);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

/// Looks for a smaller schedule of the same seed and shape that still breaks a property: fewer
/// orders first, then no customer cancels, then fewer faults. It shrinks the shape, not the
/// sequence of draws (another order count is another schedule), so what it prints is a smaller
/// failing schedule to replay, not a proof that nothing smaller fails.
async fn shrink(definition: &Definition, shape: &Shape, seed: u64) {
    let fails = |shape: Shape| async move {
        schedule::run(definition, &shape, seed)
            .await
            .is_ok_and(|r| !r.violations.is_empty())
    };
    let mut smallest = shape.clone();
    for orders in 1..shape.orders {
        let fewer = Shape {
            orders,
            ..smallest.clone()
        };
        if fails(fewer.clone()).await {
            smallest = fewer;
            break;
        }
    }
    for simpler in [
        Shape {
            cancel_rate: 0.0,
            ..smallest.clone()
        },
        Shape {
            fault_rate: smallest.fault_rate / 2.0,
            ..smallest.clone()
        },
    ] {
        if fails(simpler.clone()).await {
            smallest = simpler;
        }
    }
    let mut replay = format!(
        "--orders {} --fault-rate {} --cancel-rate {} --conflict-rate {}",
        smallest.orders, smallest.fault_rate, smallest.cancel_rate, smallest.conflict_rate
    );
    if let Some(p) = smallest.express_duplicates {
        replay.push_str(&format!(" --express-duplicates {p}"));
    }
    eprintln!(
        "sim: shrunk to {} orders; replay: make sim SEED={seed} SCHEDULES=1 ARGS=\"{replay}\"",
        smallest.orders
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
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
    let (mut states, mut faults, mut cancels) = (0, 0, 0);
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..args.schedules {
        let seed = args.seed + i;
        let shape = if args.mixed {
            Shape::mixed(seed)
        } else {
            args.shape.clone()
        };
        let report = match schedule::run(&definition, &shape, seed).await {
            Ok(report) => report,
            Err(e) => {
                eprintln!("sim: seed {seed}: the schedule could not run: {e}");
                return ExitCode::FAILURE;
            }
        };
        states += report.states;
        faults += report.faults;
        cancels += report.cancels;
        for (status, n) in &report.statuses {
            *statuses.entry(status.clone()).or_default() += n;
        }
        if !report.violations.is_empty() {
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
            shrink(&definition, &shape, seed).await;
            return ExitCode::FAILURE;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sim: {} schedules from seed {} ({} orders each, {}), 0 property violations; {states} states, {faults} faults, {cancels} cancels; orders {statuses:?}; {secs:.1} s, {:.0} schedules/s, {:.0} states/s",
        args.schedules,
        args.seed,
        args.shape.orders,
        if args.mixed {
            "four shapes in turn"
        } else {
            "one shape"
        },
        args.schedules as f64 / secs,
        states as f64 / secs
    );
    ExitCode::SUCCESS
}
