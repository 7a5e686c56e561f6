//! Where a function's start goes: `perf record` over many starts of an unstripped release build
//! (`bench/start-profile.sh`), then this groups `perf report`'s samples by what they were doing.
//! CPU per start, not wall time: the cold-start table holds the wall times.

use crate::util::write_json;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The groups, by shared object and symbol, first match wins.
fn group(dso: &str, kernel: bool, symbol: &str) -> &'static str {
    if kernel {
        return "kernel: exec, page faults, memory maps";
    }
    if ["ld-linux", "libc.so", "libgcc", "libm.so"]
        .iter()
        .any(|d| dso.contains(d))
    {
        return "dynamic loader and libc (malloc)";
    }
    let has = |parts: &[&str]| parts.iter().any(|p| symbol.contains(p));
    if has(&[
        "aws_smithy_json",
        "partition",
        "endpoint_lib",
        "regex",
        "from_utf8",
    ]) {
        "SDK clients: endpoint partitions (JSON and regexes, once per client)"
    } else if has(&["pem::"]) {
        "TLS roots: PEM decoding"
    } else if has(&["tracing"]) {
        "tracing subscriber"
    } else {
        "the rest of the binary (SDK config, clients, runtime)"
    }
}

/// Milliseconds of CPU per start by group, from `perf report -F sample,dso,sym` of one command.
fn groups(report: &str, starts: f64, hz: f64) -> BTreeMap<&'static str, f64> {
    let mut by: BTreeMap<&'static str, f64> = BTreeMap::new();
    for line in report.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(samples), Some(dso), Some(mark)) = (
            words.next().and_then(|n| n.parse::<f64>().ok()),
            words.next(),
            words.next(),
        ) else {
            continue;
        };
        let symbol = words.collect::<Vec<_>>().join(" ");
        *by.entry(group(dso, mark == "[k]", &symbol)).or_default() +=
            samples / hz * 1000.0 / starts;
    }
    by
}

/// `bench start-groups --perf-prefix P --starts N --hz H --out FILE NAME...`: the recording of
/// NAME's starts is `<P><NAME>.perf`.
pub fn run(perf_prefix: &str, starts: u64, hz: u64, names: &[String], out: &Path) {
    let mut rows = serde_json::Map::new();
    for name in names {
        let report = Command::new("perf")
            .args(["report", "--no-children", "-g", "none", "--stdio"])
            .args([
                "--sort",
                "dso,sym",
                "-F",
                "sample,dso,sym",
                "--comm",
                name,
                "-i",
            ])
            .arg(format!("{perf_prefix}{name}.perf"))
            .output()
            .expect("perf report");
        let by = groups(
            &String::from_utf8_lossy(&report.stdout),
            starts as f64,
            hz as f64,
        );
        let total: f64 = by.values().sum();
        eprintln!("start profile: {name}: {total:.2} ms CPU per start");
        rows.insert(name.clone(), json!({"cpuMsPerStart": total, "byGroup": by}));
    }
    write_json(
        out,
        &json!({
            "machine": crate::util::machine(),
            "starts": starts,
            "hz": hz,
            "binaries": Value::Object(rows),
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fall_into_their_groups() {
        let report = "# header\n\
            30  create-order  [.] rustls_pki_types::pem::read\n\
            60  create-order  [.] aws_smithy_json::deserialize::JsonTokenIterator::next\n\
            15  [kernel.kallsyms]  [k] exc_page_fault\n\
            15  libc.so.6  [.] _int_malloc\n\
            30  create-order  [.] create_order::main::{{closure}}\n";
        // 30 samples at 1 kHz over 10 starts = 3 ms per start.
        let by = groups(report, 10.0, 1000.0);
        assert_eq!(by["TLS roots: PEM decoding"], 3.0);
        assert_eq!(
            by["SDK clients: endpoint partitions (JSON and regexes, once per client)"],
            6.0
        );
        assert_eq!(by["kernel: exec, page faults, memory maps"], 1.5);
        assert_eq!(by["dynamic loader and libc (malloc)"], 1.5);
        assert_eq!(
            by["the rest of the binary (SDK config, clients, runtime)"],
            3.0
        );
    }
}
