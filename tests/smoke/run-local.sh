#!/usr/bin/env bash
# make smoke and a short, slow make load against the local stack whose env is loaded, each ending
# with a cargo-style result line so that make test counts them. The load is a check that the tool
# works end to end (offered, completed, settled), not a measurement: make bench measures.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="$repo/.venv/bin/python"
result() { # name status
  if [[ $2 -eq 0 ]]; then echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out ($1)"
  else echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out ($1)"; fi
}
status=0
"$python" "$repo/tests/smoke/smoke.py"; smoke=$?
result smoke "$smoke"
setup="$(mktemp)"
load=1
if "$python" "$repo/tests/smoke/loadsetup.py" create --out "$setup" --users 3 --stock 1000; then
  out="$("${CARGO_TARGET_DIR:-$repo/target}/debug/load" --setup "$setup" --rate 4 --duration 10 --warmup 2 --json)"
  echo "$out"
  # Every order of the measured window completed, and none failed.
  "$python" - "$out" <<'PY' && load=0
import json, sys
summary = json.loads(sys.argv[1].splitlines()[-1])
sys.exit(0 if summary["orders"] > 0 and summary["completed"] == summary["orders"] and not summary["errors"] else 1)
PY
  "$python" "$repo/tests/smoke/loadsetup.py" delete --setup "$setup"
fi
rm -f "$setup"
result load "$load"
((smoke == 0 && load == 0)) || status=1
exit "$status"
