#!/usr/bin/env bash
# The local AWS cloud, without Docker: moto (launcher.py) for every AWS API, `cargo lambda watch` for
# the Lambda APIs, the workspace's debug binaries as function instances, gateway.py for the HTTP API,
# poller.py for the SQS event source mappings (Lambda's queue pollers; deploy.py removes moto's own).
# One set of processes per profile (ports in ARCHITECTURE.md); pids, logs and the env file live in
# local/.state/<profile>/.
#
#   stack.sh up dev|test|scratch            start the profile's stack in the background and wait until it serves
#   stack.sh down dev|test          stop it
#   stack.sh test-run -- CMD...     up test, run CMD with the env file's variables, down, exit with CMD's status
#   stack.sh dev                    up dev, seed demo data, show how to call the API, down on Ctrl-C
#   stack.sh token USER [--group G] [--scope S]   print a development JWT for the gateway
#
# moto never fires EventBridge schedules: the dev stack runs the cleanup function itself every
# CLEANUP_INTERVAL_SECONDS (default 60; 0 or off switches it off). The test and scratch stacks never
# do: their tests invoke it with a fixed clock.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="$venv/bin/python"
# STACK_BINARIES: another build's binaries (make bench runs the stack on its release build).
binaries_dir="${STACK_BINARIES:-${CARGO_TARGET_DIR:-$repo/target}/debug}"
services=(moto lambda functions poller gateway cleanup-ticker) # in start order
# Instances per function: concurrent invocations beyond this wait in cargo lambda's queue.
instances=8
# Everything here talks to the local endpoints only; a developer's real AWS profile must not leak in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

die() { echo "stack: $*" >&2; exit 1; }

profile() {
  case "${1:-}" in
    dev) moto_port=4566 lambda_port=9000 gateway_port=3000 ;;
    test) moto_port=4577 lambda_port=9010 gateway_port=3010 ;;
    # A second test stack, so that a test run can go on beside `make test` (same checkout).
    scratch) moto_port=4588 lambda_port=9020 gateway_port=3020 ;;
    *) die "unknown profile '${1:-}' (dev, test or scratch)" ;;
  esac
  name="$1"
  state="$repo/local/.state/$1"
  env_file="$state/env"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# shellcheck source=/dev/null
load_env() { set -a; source "$env_file"; set +a; }

# Each service runs in its own process group (setsid), so that down also stops its children.
start() {
  local service="$1"
  shift
  setsid "$@" >"$state/$service.log" 2>&1 </dev/null &
  echo $! >"$state/$service.pid"
}

fail() {
  echo "stack: $1; end of $2:" >&2
  tail -n 30 "$2" >&2
  down "$name"
  exit 1
}

wait_ready() {
  local service="$1" port="$2" timeout="$3" started=$SECONDS
  until port_open "$port"; do
    if ! kill -0 "$(cat "$state/$service.pid")" 2>/dev/null || ((SECONDS - started >= timeout)); then
      fail "$service did not come up on :$port within ${timeout}s" "$state/$service.log"
    fi
    sleep 0.1
  done
}

# Runs as the `functions` service: $instances long-lived processes per binary, each polling cargo lambda
# watch's Runtime API like a Lambda sandbox. cargo lambda could start them itself, but it wraps every
# instance in `cargo run` and a recursive file watcher, which costs a second per instance, rebuilds when
# sources change and exhausts inotify limits at this concurrency.
serve_functions() {
  profile "$1"
  load_env
  mkdir -p "$state/functions"
  while read -r binary; do
    for ((i = 1; i <= instances; i++)); do
      while :; do
        # LOG_FORMAT JSON: as the template's LoggingConfig makes Lambda set it (one JSON object per line).
        AWS_LAMBDA_FUNCTION_NAME="$binary" AWS_LAMBDA_FUNCTION_VERSION="\$LATEST" AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
          AWS_LAMBDA_LOG_FORMAT=JSON \
          AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$lambda_port/.rt/$binary" \
          "$binaries_dir/$binary" >>"$state/functions/$binary.log" 2>&1 || true
        # An instance that exits (a crash, a failed start) is replaced, as Lambda starts a new sandbox.
        echo "stack: an instance of $binary exited; starting another in 2 s" >>"$state/functions/$binary.log"
        sleep 2
      done &
    done
  done <"$state/binaries"
  wait
}

# A function that fails at start (say, a missing variable) would leave its invocations waiting forever:
# refuse to come up unless every binary has all its instances still running a second after the start.
wait_functions() {
  local group binary running started=$SECONDS
  group="$(cat "$state/functions.pid")"
  count() { pgrep -g "$group" -f -c "^$binaries_dir/$1\$" || true; }
  while read -r binary; do
    [[ -x "$binaries_dir/$binary" ]] || fail "$binaries_dir/$binary is missing: run 'make build' first" "$state/functions.log"
    # On a busy machine the instances take a while to start: wait for all of them (15 s at most)...
    until (($(count "$binary") == instances)) || ((SECONDS - started >= 15)); do sleep 0.2; done
  done <"$state/binaries"
  # ...then make sure none of them died at start (a dead one is restarted only after 2 s).
  sleep 1
  while read -r binary; do
    running="$(count "$binary")"
    ((running == instances)) || fail "function $binary exits at start ($running of $instances instances running)" "$state/functions/$binary.log"
  done <"$state/binaries"
}

# The poller opens no port: it is ready once it says it polls every queue of pollers.json.
wait_poller() {
  local started=$SECONDS
  until grep -q '^poller: polling' "$state/poller.log"; do
    if ! kill -0 "$(cat "$state/poller.pid")" 2>/dev/null || ((SECONDS - started >= 30)); then
      fail "poller did not start within 30s" "$state/poller.log"
    fi
    sleep 0.1
  done
}

up() {
  profile "$1"
  local t0=$SECONDS
  mkdir -p "$state"
  if compgen -G "$state/*.pid" >/dev/null; then
    # A live stack of this profile may be another `make test` in this checkout: never stop it
    # from under that run; only clear what a dead one left behind.
    local pidfile alive=()
    for pidfile in "$state"/*.pid; do
      kill -0 -- "-$(cat "$pidfile")" 2>/dev/null && alive+=("$(basename "$pidfile" .pid)")
    done
    ((${#alive[@]} == 0)) || die "a $name stack is already running (${alive[*]}); stop it with 'local/stack.sh down $name' first"
    echo "stack: clearing what a previous $name stack left behind"
    down "$name"
  fi
  for port in "$moto_port" "$lambda_port" "$gateway_port"; do
    port_open "$port" && die "port $port is taken by another program (the $name stack needs $moto_port, $lambda_port, $gateway_port)"
  done
  "$repo/local/bootstrap.sh"
  rm -rf "$state/functions"

  start moto "$python" "$repo/local/launcher.py" --port "$moto_port" --lambda-port "$lambda_port"
  wait_ready moto "$moto_port" 30
  echo "stack: moto on :$moto_port"

  "$python" "$repo/local/deploy.py" --stack "order-saga-$name" --env-file "$env_file" --binaries-file "$state/binaries" \
    --pollers-file "$state/pollers.json" \
    --moto-port "$moto_port" --lambda-port "$lambda_port" --gateway-port "$gateway_port" || { down "$name"; die "deploy failed"; }

  # cargo lambda reads the workspace's binary names through `cargo metadata`, so it runs in the repo.
  (cd "$repo" && start lambda "$venv/bin/cargo-lambda" lambda watch --only-lambda-apis \
    --invoke-address 127.0.0.1 --invoke-port "$lambda_port")
  wait_ready lambda "$lambda_port" 30
  start functions "$repo/local/stack.sh" serve-functions "$name"
  wait_functions
  echo "stack: cargo lambda watch on :$lambda_port, $instances instances of each of $(wc -l <"$state/binaries") functions"

  # After the functions: a first batch would otherwise wait for an instance in cargo lambda's queue.
  start poller "$python" "$repo/local/poller.py" --pollers-file "$state/pollers.json" \
    --moto-port "$moto_port" --lambda-port "$lambda_port"
  wait_poller
  echo "stack: $(grep '^poller: polling' "$state/poller.log" | sed 's/^poller: //')"

  start gateway "$python" "$repo/local/gateway.py" --port "$gateway_port" --lambda-port "$lambda_port"
  wait_ready gateway "$gateway_port" 30
  local interval="${CLEANUP_INTERVAL_SECONDS:-60}"
  if [[ "$name" == dev && "$interval" != off && "$interval" != 0 ]]; then
    [[ "$interval" =~ ^[0-9]+$ ]] || die "CLEANUP_INTERVAL_SECONDS must be a number of seconds, 0 or off"
    start cleanup-ticker "$repo/local/stack.sh" tick-cleanup "$name" "$interval"
    echo "stack: the cleanup function runs every ${interval}s (CLEANUP_INTERVAL_SECONDS=0 switches it off)"
  fi
  echo "stack: $name is up in $((SECONDS - t0)) s: API on http://127.0.0.1:$gateway_port, AWS on http://127.0.0.1:$moto_port, env in ${env_file#"$repo"/}"
}

down() {
  profile "$1"
  local service pid alive pids=()
  for service in "${services[@]}"; do
    [[ -f "$state/$service.pid" ]] && pids+=("$(cat "$state/$service.pid")")
    rm -f "$state/$service.pid"
  done
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in {1..50}; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  rm -f "$env_file"
}

test_run() {
  [[ "${1:-}" == -- ]] && shift
  (($#)) || die "usage: stack.sh test-run -- COMMAND..."
  trap 'down test' EXIT
  up test
  load_env
  local status=0
  "$@" || status=$?
  exit "$status"
}

# Runs as the `cleanup-ticker` service of the dev stack: invokes the cleanup function with a scheduled
# event stamped with the current time, as EventBridge would, every $2 seconds.
tick_cleanup() {
  profile "$1"
  local interval="$2" now
  while sleep "$interval"; do
    now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    curl -s -m 120 -X POST "http://127.0.0.1:$lambda_port/2015-03-31/functions/cleanup/invocations" \
      -d "{\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",\"time\":\"$now\",\"detail\":{}}" || true
    echo
  done
}

dev() {
  trap 'echo; down dev; echo "stack: dev stopped"' EXIT
  trap 'exit 0' INT TERM
  up dev
  load_env
  echo "stack: demo data"
  "$python" "$repo/local/seed.py"
  cat <<EOF

Try it (alice has 500.00 EUR, bob 20.00, carol no account; SKU-POSTER has 3 left, SKU-HOODIE none):

  TOKEN=\$(make -s token USER=alice)
  curl -s -X POST $GATEWAY_URL/orders -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\
       -d '{"items":[{"sku":"SKU-TSHIRT","quantity":2},{"sku":"SKU-MUG","quantity":1}]}'
  # then, with the orderId it answered, until "status" is COMPLETED (or CANCELLED with a reason):
  curl -s $GATEWAY_URL/orders/ORDER_ID -H "Authorization: Bearer \$TOKEN"

Gateway and function logs follow; Ctrl-C stops the stack.
EOF
  tail -n 0 -F "$state/gateway.log" "$state"/functions/*.log
}

case "${1:-}" in
  up | down) [[ $# -eq 2 ]] || die "usage: stack.sh $1 dev|test|scratch"; "$1" "$2" ;;
  test-run) shift; test_run "$@" ;;
  dev) dev ;;
  token) shift; "$repo/local/bootstrap.sh" >&2; "$python" "$repo/local/devjwt.py" "$@" ;;
  serve-functions) serve_functions "$2" ;; # internal: the `functions` service
  tick-cleanup) tick_cleanup "$2" "$3" ;; # internal: the dev stack's `cleanup-ticker` service
  *) sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
