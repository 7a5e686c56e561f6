#!/usr/bin/env bash
# The end-to-end tests (tests/tests/*.rs, all #[ignore]d in unit runs) and the contract test, on three
# local stacks at once, then their output one lane after the other.
#
#   lane A, stack `test`:  the tests that run the scheduled cleanup with a clock far ahead (chaos,
#                          cleanup, express). A cleanup acts on every order of its stack, so these
#                          must not share a stack with tests whose orders are in flight; cargo runs
#                          their binaries one after another.
#   lane B, stack `test2`: every other end-to-end test file.
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

whole_stack=(chaos cleanup express)
lane_a=() lane_b=()
for file in tests/tests/*.rs; do
  name="$(basename "$file" .rs)"
  if [[ " ${whole_stack[*]} " == *" $name "* ]]; then lane_a+=(--test "$name"); else lane_b+=(--test "$name"); fi
done

cargo build --workspace --bins --tests || exit 1

stacks=(test test2 test3)
down() { for stack in "${stacks[@]}"; do local/stack.sh down "$stack" >/dev/null 2>&1; done; }
trap down EXIT
ups=()
for stack in "${stacks[@]}"; do
  local/stack.sh up "$stack" >"$logs/stack-$stack.log" 2>&1 &
  ups+=($!)
done
status=0
for up in "${ups[@]}"; do wait "$up" || status=1; done
for stack in "${stacks[@]}"; do cat "$logs/stack-$stack.log"; done
((status == 0)) || exit 1

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
lane test cargo test --workspace "${lane_a[@]}" -- --ignored --show-output >"$logs/lane-a.log" 2>&1 &
a=$!
lane test2 cargo test --workspace "${lane_b[@]}" -- --ignored --show-output >"$logs/lane-b.log" 2>&1 &
b=$!
lane test3 tests/contract/run.sh >"$logs/lane-c.log" 2>&1 &
c=$!
for lane in "$a" "$b" "$c"; do wait "$lane" || status=1; done
echo "== lane A (stack test: ${whole_stack[*]})"
cat "$logs/lane-a.log"
echo "== lane B (stack test2: the other end-to-end tests)"
cat "$logs/lane-b.log"
echo "== lane C (stack test3: the contract test)"
cat "$logs/lane-c.log"
echo "e2e: the three lanes done in $((SECONDS - started)) s"
exit "$status"
