//! `bench`: the measurements behind `make bench` (see BENCHMARKS.md). Subcommands:
//!
//!   bench cold --bin-dir DIR --floor NAME --runs N --out FILE NAME...   cold start at a fake Runtime API
//!   bench sizes --lambda-dir DIR --out FILE NAME...                      zipped arm64 bootstrap sizes
//!   bench count --repo DIR --orders K --out FILE --recording FILE        per-order AWS calls, units, CPU
//!   bench ceiling --repo DIR --recording FILE --per-order FILE --out FILE  the emulator's rate for those calls
//!   bench load --repo DIR --levels 1,4,16 --seconds S [--warmup-seconds W] --out FILE  load generator
//!   bench start-groups --perf-prefix P --starts N --hz H --out FILE NAME...  CPU per start by group
//!   bench profiles --cold FILE --functions A,B --out FILE PROFILE=WALL:USER:SYS...  profile sweep table
//!   bench knobs --out FILE 'NAME|VARS|LOAD.json'...                     bench/knobs.sh's table
//!   bench pyprofile --raw FILE --load FILE --rate HZ --out FILE          ministack's CPU by part
//!   bench report --results DIR --out FILE [--wall TEXT]                  BENCHMARKS.md and the plot

mod capacity;
mod cold;
mod count;
mod load;
mod pyprofile;
mod report;
mod sizes;
mod stack;
mod start;
mod util;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

struct Args {
    flags: HashMap<String, String>,
    rest: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Args {
        let (mut flags, mut rest) = (HashMap::new(), Vec::new());
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            if let Some(name) = a.strip_prefix("--") {
                flags.insert(name.to_string(), args.next().unwrap_or_default());
            } else {
                rest.push(a);
            }
        }
        Args { flags, rest }
    }
    fn get(&self, name: &str) -> String {
        self.flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("--{name} is required"))
    }
    fn or(&self, name: &str, default: &str) -> String {
        self.flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.get(name))
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.flags
            .get(name)
            .map_or(default, |v| v.parse().expect("a number"))
    }
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args::parse(argv);
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    match command.as_str() {
        "cold" => cold::run(
            &args.path("bin-dir"),
            &args.rest,
            &args.get("floor"),
            args.num("runs", 30) as usize,
            &args.path("out"),
        ),
        "sizes" => sizes::run(&args.path("lambda-dir"), &args.rest, &args.path("out")),
        "count" => runtime().block_on(async {
            let stack = Arc::new(stack::Stack::open(&args.path("repo")));
            let users = stack.seed(1).await;
            count::run(
                stack,
                &users[0].1,
                args.num("orders", 10) as usize,
                &args.path("out"),
                &args.path("recording"),
            )
            .await;
        }),
        "ceiling" => runtime().block_on(async {
            let stack = Arc::new(stack::Stack::open(&args.path("repo")));
            count::ceiling(
                stack,
                &args.path("recording"),
                &args.path("per-order"),
                args.num("concurrency", 8) as usize,
                args.num("seconds", 10),
                &args.path("out"),
            )
            .await;
        }),
        "load" => runtime().block_on(async {
            let stack = Arc::new(stack::Stack::open(&args.path("repo")));
            let levels: Vec<usize> = args
                .or("levels", "1,4,16")
                .split(',')
                .map(|l| l.parse().expect("a level"))
                .collect();
            // A buyer per client at the highest level: no two clients share an account.
            let most = levels.iter().copied().max().unwrap_or(1) as u64;
            let users = stack.seed(args.num("users", most) as usize).await;
            load::run(
                stack,
                users,
                &levels,
                args.num("seconds", 20),
                args.num("poll-ms", 250),
                args.num("warmup-seconds", 0),
                &args.path("out"),
            )
            .await;
        }),
        "start-groups" => start::run(
            &args.get("perf-prefix"),
            args.num("starts", 200),
            args.num("hz", 20_000),
            &args.rest,
            &args.path("out"),
        ),
        "profiles" => report::profiles(
            &args.path("cold"),
            &args.get("functions").split(',').collect::<Vec<_>>(),
            &args.rest,
            &args.path("out"),
        ),
        "knobs" => report::knobs(&args.rest, &args.path("out")),
        "pyprofile" => pyprofile::run(
            &args.path("raw"),
            &args.path("load"),
            args.num("rate", 50),
            &args.path("out"),
        ),
        "report" => report::run(
            &args.path("results"),
            &args.path("out"),
            args.flags.get("wall").map(String::as_str),
        ),
        _ => {
            eprintln!(
                "{}",
                include_str!("main.rs")
                    .lines()
                    .take(13)
                    .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::process::exit(2);
        }
    }
}
