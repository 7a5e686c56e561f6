#!/usr/bin/env bash
# `make bench`: builds what the measurements need, measures, and regenerates BENCHMARKS.md.
# Raw results go to bench/results/. Benchmarks are measurements: nothing here fails on a time.
#
# Knobs (environment): BENCH_RUNS (cold-start runs per binary, 40), BENCH_ORDERS (per-order
# count, 10), BENCH_LEVELS (load concurrency levels, 1,4,8,12,16,24,32), BENCH_SECONDS (per
# level, 20), BENCH_ARM64=0 (skip the arm64 zip build, keep the previous sizes).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
results="$repo/bench/results"
release_dir="$repo/target-bench" # release builds only, so the shared debug target dir is not blocked
mkdir -p "$results" "$release_dir"
t_start=$SECONDS
phases=()
phase() { phases+=("$1 $((SECONDS - t_phase)) s"); echo "bench: $1 took $((SECONDS - t_phase)) s"; }
functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done

# The tools (a minute of pip on a fresh clone, mostly download and unpacking) are needed only from
# the scratch stack on, so they install while the x86_64 build compiles; the build is waited for
# before anything is measured. The local cloud's .venv (ministack) comes from local/bootstrap.sh;
# the bench's own tools (cargo-lambda for the arm64 zips) go to a venv of their own,
# target-bench/venv, pinned in bench/requirements.txt and installed again only when it changes.
tools_venv="$release_dir/venv"
echo "bench: tools (the local cloud's .venv, cargo-lambda in ${tools_venv#"$repo"/}, the arm64 target), in the background"
t_tools=$SECONDS
(
  local/bootstrap.sh
  if [[ "${BENCH_ARM64:-1}" != 0 ]]; then
    want="$(sha256sum <bench/requirements.txt | cut -d' ' -f1)"
    if [[ "$(cat "$tools_venv/.bench-tools" 2>/dev/null)" != "$want" ]]; then
      rm -rf "$tools_venv"
      python3 -m venv "$tools_venv"
      "$tools_venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r bench/requirements.txt
      echo "$want" >"$tools_venv/.bench-tools"
    fi
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
      rustup target add aarch64-unknown-linux-gnu
    fi
  fi
  echo "bench: tools took $((SECONDS - t_tools)) s"
) >"$release_dir/tools.log" 2>&1 &
tools=$!

# One build serves everything: the cold start measures these binaries, the scratch stack runs
# them (so per-order CPU and durations are release figures), and the harness is one of them.
echo "bench: release build (x86_64, [profile.release]) of ${#functions[@]} functions, the floor and the harness"
CARGO_TARGET_DIR="$release_dir" cargo build --release --bins "${packages[@]}" -p bench-floor -p bench
t_phase=$t_tools
wait "$tools" || { cat "$release_dir/tools.log" >&2; exit 1; }
cat "$release_dir/tools.log"
phase "release build, and the tools beside it"

bench="$release_dir/release/bench"
t_phase=$SECONDS
"$bench" cold --bin-dir "$release_dir/release" --floor hello-floor --runs "${BENCH_RUNS:-40}" \
  --out "$results/cold-start.json" hello-floor sdk-floor "${functions[@]}"
# What the SDK's start costs: its HTTPS client loads the system's root certificates (the bundle and
# every file of the certificate directory). Same binaries, one interleaved run, with fewer roots.
certs="$release_dir/certs"
mkdir -p "$certs/empty"
bundle=/etc/ssl/certs/ca-certificates.crt
awk '/BEGIN CERT/{n++} n==1' "$bundle" >"$certs/one.pem"
only_bundle="SSL_CERT_FILE=$bundle;SSL_CERT_DIR=$certs/empty"
one_root="SSL_CERT_FILE=$certs/one.pem;SSL_CERT_DIR=$certs/empty"
"$bench" cold --bin-dir "$release_dir/release" --floor hello-floor --runs "${BENCH_RUNS:-40}" \
  --out "$results/cold-start-certs.json" hello-floor sdk-floor create-order \
  "sdk-floor@$only_bundle" "create-order@$only_bundle" "sdk-floor@$one_root" "create-order@$one_root"
phase "cold start"

echo "bench: scratch stack"
t_phase=$SECONDS
# The stack runs the release build's binaries as its Lambda functions (so per-order CPU and
# durations are release figures), with ministack's settings as local/stack.sh sets them.
export STACK_BINARIES="$release_dir/release"
trap 'local/stack.sh down scratch' EXIT
local/stack.sh up scratch
"$bench" count --repo "$repo" --orders "${BENCH_ORDERS:-10}" --out "$results/per-order.json" \
  --recording "$release_dir/recording.ndjson"
"$bench" load --repo "$repo" --levels "${BENCH_LEVELS:-1,4,8,12,16,24,32}" --seconds "${BENCH_SECONDS:-20}" \
  --out "$results/load.json"
# Last: the replay's writes and publishes set off stream and queue consumers of their own, which
# must not run into the load levels.
"$bench" ceiling --repo "$repo" --recording "$release_dir/recording.ndjson" --per-order "$results/per-order.json" \
  --concurrency 8 --seconds 10 --out "$results/ceiling.json"
local/stack.sh down scratch
trap - EXIT
phase "local stack (per-order count, load, ceiling)"

if [[ "${BENCH_ARM64:-1}" != 0 ]]; then
  echo "bench: arm64 zips (cargo lambda build --release --arm64 --output-format zip)"
  t_phase=$SECONDS
  PATH="$tools_venv/bin:$PATH" CARGO_TARGET_DIR="$release_dir" \
    cargo-lambda lambda build --release --arm64 --output-format zip "${packages[@]}"
  "$bench" sizes --lambda-dir "$release_dir/lambda" --out "$results/artifact-size.json" "${functions[@]}"
  phase "arm64 build"
fi

echo "bench: the simulator (bench/sim.sh)"
t_phase=$SECONDS
BENCH_SIM_REPORT=0 bench/sim.sh
phase "simulator"

total=$((SECONDS - t_start))
joined="$(IFS=';'; echo "${phases[*]}")"
summary="$(date -u +%Y-%m-%dT%H:%MZ), $((total / 60)) min $((total % 60)) s on $(nproc) cores (${joined//;/, })"
echo "$summary" >"$results/run.txt" # bench/profiles.sh regenerates the report with it
"$bench" report --results "$results" --out "$repo/BENCHMARKS.md"
echo "bench: done in $((total / 60)) min $((total % 60)) s"
