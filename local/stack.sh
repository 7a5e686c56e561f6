#!/usr/bin/env bash
# The local AWS cloud, without Docker: ministack (a LocalStack-compatible emulator, one process on
# one port) runs DynamoDB, Step Functions, Lambda (the workspace's binaries as provided.al2023
# functions), SQS, SNS, the HTTP API with its JWT authorizer, Cognito, EventBridge and CloudWatch
# Logs; local/deploy.py deploys template.yaml into it as `sam deploy` would. One stack per profile
# (ports in ARCHITECTURE.md); its pid, log and env file live in local/.state/<profile>/.
#
#   stack.sh up dev|test|test2|test3|scratch    start the profile's stack in the background and wait until it serves
#   stack.sh down dev|test|test2|test3|scratch  stop it
#   stack.sh test-run -- CMD...     up test, run CMD with the env file's variables, down, exit with CMD's status
#   stack.sh dev                    up dev, seed demo data, show how to call the API, deploy each
#                                   rebuilt function again, down on Ctrl-C
#   stack.sh token USER [--group G] [--scope admin] [--json]   print an access token of the stack's user pool
#   stack.sh invoke FUNCTION [EVENT_FILE]   invoke a function (its binary name) with an event, print the answer
#
# The dev stack's cleanup schedule fires by itself (rate(5 minutes)), and Step Functions waits and
# retries take real time there (SFN_WAIT_SCALE=0 make dev skips them). The test and scratch stacks
# switch their schedules off (their tests run the cleanup with a fixed clock) and skip the waits.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="$venv/bin/python"
# STACK_BINARIES: another build's binaries (make bench runs the stack on its release build).
binaries_dir="${STACK_BINARIES:-${CARGO_TARGET_DIR:-$repo/target}/debug}"
# Everything here talks to the local endpoint only; a developer's real AWS profile must not leak in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

die() { echo "stack: $*" >&2; exit 1; }

profile() {
  case "${1:-}" in
    dev) port=4566 ;;
    test) port=4577 ;;
    # make test's second and third lanes (tests/e2e.sh).
    test2) port=4578 ;;
    test3) port=4579 ;;
    # A second test stack, so that a test run can go on beside `make test` (same checkout).
    scratch) port=4588 ;;
    *) die "unknown profile '${1:-}' (dev, test, test2, test3 or scratch)" ;;
  esac
  name="$1"
  state="$repo/local/.state/$1"
  env_file="$state/env"
  stack="order-saga-$1"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# shellcheck source=/dev/null
load_env() { set -a; source "$env_file"; set +a; }

fail() {
  echo "stack: $1; end of $2:" >&2
  tail -n 30 "$2" >&2
  down "$name"
  exit 1
}

up() {
  profile "$1"
  local t0=$SECONDS pid
  mkdir -p "$state"
  if [[ -f "$state/ministack.pid" ]]; then
    pid="$(cat "$state/ministack.pid")"
    # A live stack of this profile may be another `make test` in this checkout: never stop it
    # from under that run; only clear what a dead one left behind.
    kill -0 -- "-$pid" 2>/dev/null && die "a $name stack is already running; stop it with 'local/stack.sh down $name' first"
    down "$name"
  fi
  port_open "$port" && die "port $port is taken by another program (the $name stack needs it)"
  "$repo/local/bootstrap.sh"
  rm -rf "$state/tmp" && mkdir -p "$state/tmp"

  local wait_scale=0 schedules=off
  if [[ "$name" == dev ]]; then wait_scale="${SFN_WAIT_SCALE:-1}" schedules=on; fi
  # Functions inherit AWS_ENDPOINT_URL from ministack's own environment: they call it back.
  # LAMBDA_WARM_TTL_SECONDS: a warm function process lives as long as on AWS (a few minutes idle).
  setsid env GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 MINISTACK_HOST=127.0.0.1 \
    AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_DEFAULT_REGION=us-east-1 \
    SFN_WAIT_SCALE="$wait_scale" PYTHONUNBUFFERED=1 TMPDIR="$state/tmp" LOG_LEVEL="${MINISTACK_LOG_LEVEL:-INFO}" \
    "$python" "$repo/local/cloud.py" >"$state/ministack.log" 2>&1 </dev/null &
  echo $! >"$state/ministack.pid"
  local started=$SECONDS
  until port_open "$port"; do
    kill -0 "$(cat "$state/ministack.pid")" 2>/dev/null || fail "ministack exited at start" "$state/ministack.log"
    ((SECONDS - started < 30)) || fail "ministack did not come up on :$port within 30 s" "$state/ministack.log"
    sleep 0.1
  done
  "$python" "$repo/local/deploy.py" deploy --stack "$stack" --port "$port" --binaries "$binaries_dir" \
    --env-file "$env_file" --schedules "$schedules" || { down "$name"; die "deploy failed"; }
  load_env
  echo "stack: $name is up in $((SECONDS - t0)) s: API on $GATEWAY_URL, AWS on $AWS_ENDPOINT_URL, env in ${env_file#"$repo"/}"
}

down() {
  profile "$1"
  local pid
  if [[ -f "$state/ministack.pid" ]]; then
    pid="$(cat "$state/ministack.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in {1..50}; do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$state/ministack.pid"
  fi
  rm -f "$env_file"
  rm -rf "$state/tmp"
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

# Deploys a function again when its binary changes (after `make build`), as `sam sync --code` would.
redeploy_loop() {
  while sleep 2; do
    "$python" "$repo/local/deploy.py" update-code --stack "$stack" --port "$port" --binaries "$binaries_dir" \
      --env-file "$env_file" || true
  done
}

dev() {
  local redeploy=""
  trap 'echo; [[ -n "$redeploy" ]] && kill "$redeploy" 2>/dev/null; pkill -P $$ 2>/dev/null; down dev; echo "stack: dev stopped"' EXIT
  trap 'exit 0' INT TERM
  up dev
  load_env
  echo "stack: demo data"
  (cd "$repo/local" && "$python" seed.py)
  cat <<EOF

Try it (alice has 500.00 EUR, bob 20.00, carol no account; SKU-POSTER has 3 left, SKU-HOODIE none):

  API=$GATEWAY_URL
  TOKEN=\$(make -s token USER=alice)
  curl -s -X POST \$API/orders -H "Authorization: Bearer \$TOKEN" \\
       -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\
       -d '{"items":[{"sku":"SKU-TSHIRT","quantity":2},{"sku":"SKU-MUG","quantity":1}]}'
  # then, with the orderId it answered, until "status" is COMPLETED (or CANCELLED with a reason):
  curl -s \$API/orders/ORDER_ID -H "Authorization: Bearer \$TOKEN"

'make build' in another terminal deploys the rebuilt functions here. The emulator's log follows
(every function's output too); Ctrl-C stops the stack.
EOF
  redeploy_loop &
  redeploy=$!
  # In the background, so that a TERM (not only Ctrl-C's INT to the whole group) stops the stack.
  tail -n 0 -F "$state/ministack.log" &
  wait $!
}

invoke() {
  local profile_name="${STACK_PROFILE:-dev}" function="${1:-}" event="${2:-}"
  [[ -n "$function" ]] || die "usage: stack.sh invoke FUNCTION [EVENT_FILE] (STACK_PROFILE=test for the test stack)"
  profile "$profile_name"
  [[ -f "$env_file" ]] || die "no $name stack is running (make dev)"
  load_env
  local variable="FUNCTION_${function^^}"
  variable="${variable//-/_}"
  [[ -n "${!variable:-}" ]] || die "no function '$function' in the $name stack"
  "$python" - "${!variable}" "$event" <<'PY'
import json, sys, boto3
name, event = sys.argv[1], sys.argv[2]
payload = open(event, "rb").read() if event else b"{}"
answer = boto3.client("lambda").invoke(FunctionName=name, Payload=payload)
body = answer["Payload"].read().decode()
print(body)
if answer.get("FunctionError"):
    sys.exit(f"invoke: {name} failed ({answer['FunctionError']})")
PY
}

case "${1:-}" in
  up | down) [[ $# -eq 2 ]] || die "usage: stack.sh $1 dev|test|test2|test3|scratch"; "$1" "$2" ;;
  test-run) shift; test_run "$@" ;;
  dev) dev ;;
  token)
    shift
    # Inside a test run the stack's variables are already set; otherwise read the profile's.
    if [[ -z "${COGNITO_USER_POOL_ID:-}" ]]; then
      profile "${STACK_PROFILE:-dev}"
      [[ -f "$env_file" ]] || die "no $name stack is running (make dev, or STACK_PROFILE=test for the test stack)"
      load_env
    fi
    "$python" "$repo/local/signin.py" "$@"
    ;;
  invoke) shift; invoke "$@" ;;
  *) sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
