#!/usr/bin/env bash
# Where a function's start goes (not part of `make bench`: it rebuilds every dependency with
# symbols, many minutes on 2 cores). Builds create-order and the floors with the release profile
# but unstripped, starts each STARTS times under `perf record` against a Runtime API that accepts
# the connection and never answers (a start ends at its first request; `timeout` ends the
# process), and groups the samples (bench start-groups). Writes bench/results/start-profile.json,
# which `make bench` puts in BENCHMARKS.md.
#   bench/start-profile.sh          STARTS=200 HZ=20000 by default; BIN_DIR=DIR uses binaries built
#                                   already (unstripped, the release profile) instead of building
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
command -v perf >/dev/null || { echo "start-profile: needs perf (apt install linux-perf or linux-tools-\$(uname -r))" >&2; exit 2; }
starts="${STARTS:-200}" hz="${HZ:-20000}"
release_dir="$repo/target-bench"
if [[ -z "${BIN_DIR:-}" ]]; then
  CARGO_TARGET_DIR="$release_dir" cargo build --profile release-symbols -p create-order -p bench-floor
fi
bin="${BIN_DIR:-$release_dir/release-symbols}"
cargo build -p bench
port=9919
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(1024)
held = []
while True:
    c, _ = s.accept(); held.append(c)  # never answers: the function waits at its first request
" &
listener=$!
trap 'kill $listener 2>/dev/null' EXIT
sleep 0.5
# What a Lambda sandbox sets, and what the template sets for create-order (dummy values: a start
# builds clients but sends nothing).
lambda_env=(AWS_LAMBDA_RUNTIME_API=127.0.0.1:$port AWS_LAMBDA_FUNCTION_NAME=bench AWS_LAMBDA_FUNCTION_VERSION='$LATEST'
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  AWS_SESSION_TOKEN=test ORDERS_TABLE=OrdersTable ORDER_SAGA_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:OrderSaga
  EVENTS_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:DomainEvents RUST_LOG=info)
names=(hello-floor sdk-floor create-order)
# One `perf record` per binary: in one recording, perf put the samples of a start's first moments
# (exec, the loader) under another binary's name.
for name in "${names[@]}"; do
  perf record -q -F "$hz" -o "$release_dir/start-profile-$name.perf" -- bash -c '
    for ((i = 0; i < '"$starts"'; i++)); do
      env -i '"${lambda_env[*]@Q}"' timeout -s KILL 0.05 "'"$bin/$name"'" 2>/dev/null || true
    done 2>/dev/null'
done
target/debug/bench start-groups --perf-prefix "$release_dir/start-profile-" --starts "$starts" --hz "$hz" \
  --out bench/results/start-profile.json "${names[@]}"
