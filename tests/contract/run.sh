#!/usr/bin/env bash
# The contract test: openapi.yaml against template.yaml's routes, and against the running API.
#
#   tests/contract/run.sh routes   only check that template.yaml and openapi.yaml list the same routes
#                                  (no stack needed; `make lint` runs this)
#   tests/contract/run.sh install  only install its tools
#   tests/contract/run.sh          the route check, schemathesis and the probes against $GATEWAY_URL
#                                  (`make contract`, and `make test` inside its end-to-end stack)
#
# schemathesis (settings in schemathesis.toml) sends requests generated from openapi.yaml, valid and
# invalid (wrong types, out of range, missing or unknown fields, bad headers, other methods, no or a bad
# token) and checks every answer: no 5xx, a documented status code, content type, headers and body.
# A fixed seed and a bounded number of examples per operation keep it to about a minute. probes.py
# then sends what schemathesis cannot generate (forged page cursors, bodies over 64 KiB, a customer on
# admin routes) and checks the answers the same way. Tokens come from `local/stack.sh token`: alice
# (seeded with an account) and an admin for the operations tagged `admin`. The demo catalog is seeded
# so that generated orders can succeed.
# Tools are pinned in requirements.txt and installed once into tests/contract/.venv.
# Reports land in target/contract/. The last line is cargo-style (`test result: ... N passed; M
# failed`), so `make test` counts it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

ensure_venv() {
  mkdir -p "$repo/local/.state"
  exec 8>"$repo/local/.state/contract-venv.lock"
  flock 8
  local want
  want="$(sha256sum <"$here/requirements.txt" | cut -d' ' -f1) $("$python" --version 2>&1)"
  if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
    echo "contract: installing tests/contract/requirements.txt into tests/contract/.venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"
    echo "$want" >"$venv/.stamp"
  fi
  flock -u 8
}

routes() {
  "$venv/bin/python" "$here/routes_match.py" --template "$repo/template.yaml" --openapi "$repo/openapi.yaml"
}

ensure_venv
case "${1:-all}" in
  routes) routes; exit ;;
  install) exit ;; # the venv only (make test installs it while it compiles)
  all) ;;
  *) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2 ;;
esac

routes_status=0
routes || routes_status=1

# Without a stack to test, say so in the form `make test` counts.
give_up() {
  echo "contract: $1" >&2
  echo "test result: FAILED. $((1 - routes_status)) passed; $((routes_status + 1)) failed; 0 ignored; 0 measured; 0 filtered out (contract)"
  exit 1
}
[[ -n "${GATEWAY_URL:-}" ]] || give_up "GATEWAY_URL is not set; run under 'local/stack.sh test-run --'"
report_dir="$repo/target/contract"
rm -rf "$report_dir"
mkdir -p "$report_dir"
# The demo catalog (SKU-TSHIRT, SKU-MUG, ...), so that generated orders can also succeed (202).
"$repo/.venv/bin/python" "$repo/local/seed.py" >"$report_dir/seed.log" 2>&1 ||
  give_up "seeding the stack failed (is it still up?): $(tail -n 1 "$report_dir/seed.log")"
CONTRACT_USER_TOKEN="$("$repo/local/stack.sh" token alice 2>/dev/null)" || give_up "no token" # seeded: an account with money
CONTRACT_ADMIN_TOKEN="$("$repo/local/stack.sh" token contract-admin --scope admin 2>/dev/null)" || give_up "no admin token"
CONTRACT_USER=alice
export GATEWAY_URL CONTRACT_USER CONTRACT_USER_TOKEN CONTRACT_ADMIN_TOKEN

started=$SECONDS
st_status=0
(cd "$here" && "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$repo/openapi.yaml" \
  --report junit,ndjson --report-junit-path "$report_dir/junit.xml" \
  --report-ndjson-path "$report_dir/events.ndjson") || st_status=$?
st_elapsed=$((SECONDS - started))

# Counts from the reports: a JUnit test case per operation (and one for the stateful phase), failed
# when any check failed on it; the generated test cases from the NDJSON events.
read -r st_tests st_failed st_cases < <("$venv/bin/python" - "$report_dir/junit.xml" "$report_dir/events.ndjson" <<'PY'
import json, sys, xml.etree.ElementTree as ET
try:
    tests = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    tests = []
failed = [t for t in tests if t.find("failure") is not None or t.find("error") is not None]
cases = 0
try:
    with open(sys.argv[2]) as events:
        for line in events:
            finished = json.loads(line).get("ScenarioFinished")
            if finished:
                cases += len((finished.get("recorder") or {}).get("cases") or {})
except (OSError, ValueError):
    pass
print(len(tests), len(failed), cases)
PY
)
# schemathesis failed without failing a test case (a bad config, an unreachable API): count it.
if ((st_status != 0 && st_failed == 0)); then st_failed=1; st_tests=$((st_tests + 1)); fi
echo "contract: schemathesis exit $st_status in ${st_elapsed} s: $st_tests tests, $((st_tests - st_failed)) passed," \
  "$st_failed failed, $st_cases generated requests; reports in ${report_dir#"$repo"/}"

echo
echo "contract: probes (requests schemathesis does not generate)"
probes_out="$report_dir/probes.txt"
"$venv/bin/python" "$here/probes.py" "$repo/openapi.yaml" | tee "$probes_out" || true
read -r probes_passed probes_failed < <(sed -n 's/^probes: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$probes_out")
if [[ -z "${probes_passed:-}" ]]; then probes_passed=0 probes_failed=1; fi # probes.py itself failed

passed=$((1 - routes_status + st_tests - st_failed + probes_passed))
failed=$((routes_status + st_failed + probes_failed))
echo
echo "contract: done in $((SECONDS - started)) s"
if ((failed == 0)); then verdict=ok; else verdict=FAILED; fi
echo "test result: $verdict. $passed passed; $failed failed; 0 ignored; 0 measured; 0 filtered out (contract: routes_match, schemathesis, probes)"
((failed == 0))
