#!/usr/bin/env bash
# The end-to-end tests (tests/tests/*.rs, all #[ignore]d in unit runs) and the contract test, on three
# local stacks at once, then their output one lane after the other.
#
#   lane A, stack `test`:  the tests that run the scheduled cleanup with a clock far ahead (chaos,
#                          cleanup, express). A cleanup acts on every order of its stack, so these
#                          must not share a stack with tests whose orders are in flight, nor run
#                          beside each other: one test at a time.
#   lane B, stack `test2`: every other end-to-end test file, then make smoke and a short make load
#                          (tests/smoke/run-local.sh). The simulator's cross-check (crosscheck.rs)
#                          is here: its worlds are its own and no cleanup runs on this stack.
#   lane C, stack `test3`: tests/contract/run.sh (schemathesis and the probes).
#
# Each lane's stack is its own ministack process: the lanes overlap the saga's real waits (task
# timeouts of the fault tests) and use both cores. The binaries are built once, beforehand, with the
# same cargo selection as the unit tests (`--workspace`, tests included), so nothing is compiled twice.
# Exit status: 0 when every lane passed.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
logs="$repo/target/e2e"
mkdir -p "$logs"

# The end-to-end tests are one binary (tests/tests/main.rs), a module per file: lanes select modules.
whole_stack=(chaos cleanup express)
lane_a=() lane_b=()
for name in "${whole_stack[@]}"; do lane_a+=("$name::") lane_b+=(--skip "$name::"); done

cargo build --workspace --bins --tests || exit 1

# The stacks come up one after another (three deploys at once only slow each other down), the
# contract test's first: it is the longest lane. Each lane starts as soon as its stack serves.
down() { for stack in test3 test test2; do local/stack.sh down "$stack" >/dev/null 2>&1; done; }
trap down EXIT
# --show-output prints what each passing scenario checked (the chaos and load counts).
lane() {
  local profile="$1"
  shift
  (
    set -a
    # shellcheck source=/dev/null
    source "local/.state/$profile/env"
    set +a
    "$@"
  )
}
started=$SECONDS
status=0
lanes=()
local/stack.sh up test3 || exit 1
lane test3 tests/contract/run.sh >"$logs/lane-c.log" 2>&1 &
lanes+=($!)
local/stack.sh up test || status=1
if ((status == 0)); then
  lane test cargo test --workspace --test e2e -- --ignored --show-output --test-threads=1 "${lane_a[@]}" >"$logs/lane-a.log" 2>&1 &
  lanes+=($!)
fi
local/stack.sh up test2 || status=1
if ((status == 0)); then
  lane test2 sh -c 'status=0; cargo test --workspace --test e2e -- --ignored --show-output "$@" || status=1; \
    tests/smoke/run-local.sh || status=1; exit $status' lane-b "${lane_b[@]}" >"$logs/lane-b.log" 2>&1 &
  lanes+=($!)
fi
for pid in "${lanes[@]}"; do wait "$pid" || status=1; done
echo "== lane A (stack test: ${whole_stack[*]})"
cat "$logs/lane-a.log" 2>/dev/null
echo "== lane B (stack test2: the other end-to-end tests, smoke and a short load)"
cat "$logs/lane-b.log" 2>/dev/null
echo "== lane C (stack test3: the contract test)"
cat "$logs/lane-c.log" 2>/dev/null
echo "e2e: the three lanes done in $((SECONDS - started)) s"
exit "$status"
