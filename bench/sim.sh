#!/usr/bin/env bash
# `make bench-sim` (and the end of `make bench`): the simulator's speed. Runs the default batch
# (1000 schedules from seed 1, the four shapes in turn) on one thread, then on one per core,
# writes bench/results/sim.json with the machine it ran on, and BENCHMARKS.md again from the
# results (BENCH_SIM_REPORT=0: not). A measurement: never fails on a time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
schedules="${BENCH_SIM_SCHEDULES:-1000}"
cargo build --release -q -p sim
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
loadavg="$(cut -d' ' -f1-3 /proc/loadavg)"
for threads in 1 "$(nproc)"; do
  target/release/sim --schedules "$schedules" --seed 1 --threads "$threads" --json "$scratch/$threads.json"
done
python3 - "$scratch" "$repo/bench/results/sim.json" "$loadavg" <<'PY'
import datetime, json, os, pathlib, sys
scratch, out, loadavg = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
runs = [json.loads(p.read_text()) for p in sorted(scratch.glob("*.json"), key=lambda p: int(p.stem))]
json.dump({
    "command": "bench/sim.sh",
    "machine": {"cores": os.cpu_count(), "cpu": cpu, "memoryGiB": round(mem_kb / 1024 / 1024, 1),
                "loadavg": loadavg,
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
    "runs": runs,
}, open(out, "w"), indent=2)
print(f"bench: wrote {out}")
PY
if [[ "${BENCH_SIM_REPORT:-1}" == 1 ]]; then
  cargo run -q -p bench -- report --results "$repo/bench/results" --out "$repo/BENCHMARKS.md"
fi
