#!/usr/bin/env bash
# Fuzzes the API's request parsing and validation with libFuzzer (cargo fuzz); see fuzz/README.md.
#
#   fuzz/run.sh [SECONDS]   build every target, replay fuzz/regressions/, then fuzz each target for
#                           SECONDS (default 20: the CI smoke run), starting from fuzz/seeds/
#
# Installs cargo-fuzz when it is missing. Works on the stable toolchain: cargo fuzz passes nightly
# flags (-Zsanitizer=address and friends), which RUSTC_BOOTSTRAP=1 lets stable rustc take.
# A crash, a leak or a timeout fails the run; libFuzzer leaves the input in
# fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ once it is understood).
# The last line is `fuzz: N passed, M failed` (a target passes when its regressions and its run do).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${1:-20}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2; }
started=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cd "$here"

# One build for every target (release, debug assertions, AddressSanitizer).
cargo fuzz build
echo "fuzz: built in $((SECONDS - started)) s"

passed=0 failed=0
for target in $(cargo fuzz list); do
  ok=1
  regressions=("$here/regressions/$target"/*)
  if [[ -e "${regressions[0]}" ]]; then
    # Files (not directories) as arguments: libFuzzer runs each once and stops.
    echo "fuzz: $target: replaying ${#regressions[@]} regression inputs"
    cargo fuzz run "$target" "${regressions[@]}" -- -runs=1 || ok=0
  fi
  mkdir -p "$here/corpus/$target"
  echo "fuzz: $target: fuzzing for $seconds s"
  # corpus/ (first) keeps what this machine found; seeds/ are the committed starting points.
  cargo fuzz run "$target" "$here/corpus/$target" "$here/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -dict="$here/json.dict" -print_final_stats=1 || ok=0
  if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "fuzz: $target FAILED"; fi
done

echo "fuzz: done in $((SECONDS - started)) s"
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
