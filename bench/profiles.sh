#!/usr/bin/env bash
# Release-profile sweep (not part of `make bench`: it builds every function once per profile, from
# nothing, which is most of half an hour on 2 cores). For each profile: a cold build (empty
# profile directory) of every function and the floors, timed (wall and CPU), then one interleaved
# cold-start run over all of them; writes bench/results/profiles.json, which `make bench` puts in
# BENCHMARKS.md.
#   bench/profiles.sh [PROFILE...]   default: release release-fat
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
sweep="$repo/target-bench/sweep" # its own target directory: make bench's release build stays
mkdir -p "$sweep"
profiles=("$@")
((${#profiles[@]})) || profiles=(release release-fat)
[[ " ${profiles[*]} " == *" release "* ]] || profiles=(release "${profiles[@]}")
packages=() functions=()
for dir in functions/*/; do
  functions+=("$(basename "$dir")")
  packages+=(-p "$(basename "$dir")")
done
cargo build -p bench
rows=() names=()
for p in "${profiles[@]}"; do
  rm -rf "${sweep:?}/$p"
  echo "bench: cold build, profile $p: ${#functions[@]} functions and the floors"
  # bash's `time` reports the CPU of every process cargo started (rustc, the linker, build scripts).
  TIMEFORMAT="%R %U %S"
  { time CARGO_TARGET_DIR="$sweep" cargo build --profile "$p" --bins "${packages[@]}" -p bench-floor 2>&3; } 3>&2 2>"$sweep/$p.time"
  read -r wall user sys <"$sweep/$p.time"
  rows+=("$p=$wall:$user:$sys")
  for b in hello-floor sdk-floor "${functions[@]}"; do names+=("$p/$b"); done
done
target/debug/bench cold --bin-dir "$sweep" --floor release/hello-floor --runs "${BENCH_RUNS:-40}" \
  --out "$sweep/cold.json" "${names[@]}"
target/debug/bench profiles --cold "$sweep/cold.json" --out bench/results/profiles.json \
  --functions "$(IFS=,; echo "${functions[*]}")" "${rows[@]}"
target/debug/bench report --results bench/results --out BENCHMARKS.md
