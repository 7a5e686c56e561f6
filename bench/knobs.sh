#!/usr/bin/env bash
# ministack's settings against the saga's local throughput (not part of `make bench`: about 45
# minutes with the defaults). For each setting the scratch stack is started with it, `bench load`
# runs at LEVELS (after a warm-up), and the stack is stopped; the settings run ROUNDS times,
# interleaved, so that whatever else the machine does spreads over all of them (the table shows
# each setting's best round, and every round with the cores the rest of the machine used in it).
# A setting is environment variables: ministack's own (local/stack.sh passes its environment on,
# and takes LOG_LEVEL from MINISTACK_LOG_LEVEL), or an experiment on its Python process
# (bench/pypatch/sitecustomize.py, by BENCH_PY_PATCHES). Writes bench/results/knobs.json, which
# `make bench` puts in BENCHMARKS.md.
#
#   bench/knobs.sh                      the settings below
#   bench/knobs.sh 'NAME|VAR=V VAR=V'…  others ('default|' is the stack as local/stack.sh starts it)
#   LEVELS=8,16,32 SECONDS_PER_LEVEL=20 ROUNDS=3 WARMUP=5 (seconds) by default; OUT=FILE writes
#   the table there instead (and leaves BENCHMARKS.md alone)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
levels="${LEVELS:-8,16,32}" seconds="${SECONDS_PER_LEVEL:-20}" rounds="${ROUNDS:-3}" warmup="${WARMUP:-5}"
release_dir="$repo/target-bench"
out="${OUT:-bench/results/knobs.json}"
runs="$release_dir/knobs${OUT:+-$(basename "$out" .json)}"
settings=("$@")
if ((${#settings[@]} == 0)); then
  settings=(
    "default|"
    "LOG_LEVEL=WARNING|MINISTACK_LOG_LEVEL=WARNING"
    "LAMBDA_WARM_TTL_SECONDS=10|LAMBDA_WARM_TTL_SECONDS=10"
    "LAMBDA_ACCOUNT_CONCURRENCY=16|LAMBDA_ACCOUNT_CONCURRENCY=16"
    "MINISTACK_WORKER_THREADS=16|MINISTACK_WORKER_THREADS=16"
    "MINISTACK_WORKER_THREADS=256|MINISTACK_WORKER_THREADS=256"
    "Runtime API TCP_NODELAY (patch)|BENCH_PY_PATCHES=nodelay"
    "GIL switch interval 20 ms (patch)|BENCH_PY_PATCHES=switch=0.02"
    "TCP_NODELAY + LOG_LEVEL=WARNING|BENCH_PY_PATCHES=nodelay MINISTACK_LOG_LEVEL=WARNING"
  )
fi
functions=()
for dir in functions/*/; do functions+=(-p "$(basename "$dir")"); done
# BENCH_BUILD=0: the binaries already in target-bench/release (say, while the tree does not build).
[[ "${BENCH_BUILD:-1}" == 0 ]] || CARGO_TARGET_DIR="$release_dir" cargo build --release --bins "${functions[@]}" -p bench
bench="$release_dir/release/bench"
rm -rf "$runs" && mkdir -p "$runs"
trap 'local/stack.sh down scratch' EXIT
args=()
for ((round = 1; round <= rounds; round++)); do
  for i in "${!settings[@]}"; do
    name="${settings[$i]%%|*}" vars="${settings[$i]#*|}"
    echo "knobs: round $round/$rounds, $name"
    # shellcheck disable=SC2086 # the setting's assignments are words on purpose
    env $vars PYTHONPATH="$repo/bench/pypatch" STACK_BINARIES="$release_dir/release" local/stack.sh up scratch
    "$bench" load --repo "$repo" --levels "$levels" --seconds "$seconds" --warmup-seconds "$warmup" \
      --out "$runs/$round-$i.json"
    local/stack.sh down scratch
    args+=("$name|$vars|$runs/$round-$i.json")
  done
done
trap - EXIT
"$bench" knobs --out "$out" "${args[@]}"
[[ -n "${OUT:-}" ]] || "$bench" report --results bench/results --out BENCHMARKS.md
