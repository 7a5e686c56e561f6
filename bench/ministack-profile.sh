#!/usr/bin/env bash
# Where ministack's CPU goes under load (not part of `make bench`): the scratch stack on the release
# build, `bench load` at LEVEL clients, and py-spy sampling ministack's Python process meanwhile,
# only the thread holding the GIL (--gil: the process can run Python on one core at a time, so
# these samples are what that core did). Writes bench/results/ministack-profile.json (shares by
# part of the emulator, bench pyprofile), which `make bench` puts in BENCHMARKS.md. The stack gets
# this script's environment, so a setting can be profiled: MINISTACK_LOG_LEVEL=WARNING bench/….
#   LEVEL=16 DURATION=30 RATE=50 by default
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
level="${LEVEL:-16}" duration="${DURATION:-30}" rate="${RATE:-50}" warmup=5
release_dir="$repo/target-bench"
venv="$release_dir/py-spy"
want="$(sha256sum <bench/requirements-profile.txt | cut -d' ' -f1)"
if [[ "$(cat "$venv/.bench-tools" 2>/dev/null)" != "$want" ]]; then
  rm -rf "$venv" && python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r bench/requirements-profile.txt
  echo "$want" >"$venv/.bench-tools"
fi
functions=()
for dir in functions/*/; do functions+=(-p "$(basename "$dir")"); done
# BENCH_BUILD=0: the binaries already in target-bench/release (say, while the tree does not build).
[[ "${BENCH_BUILD:-1}" == 0 ]] || CARGO_TARGET_DIR="$release_dir" cargo build --release --bins "${functions[@]}" -p bench
bench="$release_dir/release/bench"
trap 'local/stack.sh down scratch' EXIT
STACK_BINARIES="$release_dir/release" local/stack.sh up scratch
"$bench" load --repo "$repo" --levels "$level" --seconds "$((duration + 6))" --warmup-seconds "$warmup" \
  --out "$release_dir/ministack-profile-load.json" 2> >(tee "$release_dir/ministack-profile-load.log" >&2) &
load=$!
# Sampling starts 2 s into the measured level: after the seeding and the warm-up.
until grep -q "warm-up" "$release_dir/ministack-profile-load.log" 2>/dev/null; do sleep 0.5; done
sleep "$((warmup + 2))"
"$venv/bin/py-spy" record --pid "$(cat local/.state/scratch/ministack.pid)" --gil --rate "$rate" \
  --duration "$duration" --format raw --nonblocking --output "$release_dir/ministack-profile.txt"
wait "$load"
local/stack.sh down scratch
trap - EXIT
"$bench" pyprofile --raw "$release_dir/ministack-profile.txt" --load "$release_dir/ministack-profile-load.json" \
  --rate "$rate" --out bench/results/ministack-profile.json
