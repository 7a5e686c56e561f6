#!/usr/bin/env bash
# Release-profile sweep (not part of `make bench`: each profile rebuilds every dependency, which
# takes many minutes per profile on 2 cores). Builds create-order and the floor binaries with each
# profile into target-bench/<profile>, times the build, then starts all of them in one interleaved
# cold-start run; writes bench/results/profiles.json, which `make bench` puts in BENCHMARKS.md.
#   bench/profiles.sh [PROFILE...]   default: release release-thin release-nolto release-o3 release-unwind
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
release_dir="$repo/target-bench"
mkdir -p "$release_dir/sweep"
profiles=("$@")
((${#profiles[@]})) || profiles=(release release-thin release-nolto release-o3 release-unwind)
[[ " ${profiles[*]} " == *" release "* ]] || profiles=(release "${profiles[@]}")
cargo build -p bench
rows=() names=()
for p in "${profiles[@]}"; do
  fresh=$([[ -d "$release_dir/$p" ]] && echo incremental || echo cold)
  t=$SECONDS
  CARGO_TARGET_DIR="$release_dir" cargo build --profile "$p" -p create-order -p bench-floor
  rows+=("$p=$((SECONDS - t)):$fresh")
  names+=("$p/hello-floor" "$p/sdk-floor" "$p/create-order")
done
target/debug/bench cold --bin-dir "$release_dir" --floor release/hello-floor --runs "${BENCH_RUNS:-40}" \
  --out "$release_dir/sweep/cold.json" "${names[@]}"
target/debug/bench profiles --cold "$release_dir/sweep/cold.json" --out bench/results/profiles.json "${rows[@]}"
