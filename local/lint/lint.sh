#!/usr/bin/env bash
# Lints the infrastructure: cfn-lint, sam validate --lint, the ASL validator, the saga's JSONPath
# reads against what every path into each state sets (asl_paths.py), DefinitionSubstitutions
# against the ASL placeholders, what a first deploy on a new account needs (check_deployable.py),
# that deployed builds have no fault injection, and checkov. Installs its pinned tools on first use (and again
# whenever a pin changes) into local/lint/, offline from then on. No AWS credentials needed.
# Exit status: 0 when every check passed, 1 otherwise.
set -uo pipefail

LINT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LINT_DIR/../.." && pwd)"
cd "$ROOT"

TEMPLATE=template.yaml
PYTHON="${PYTHON:-python3}"
SAM_VENV="$LINT_DIR/.venv-sam"
CHECKOV_VENV="$LINT_DIR/.venv-checkov"

# No credentials, no telemetry, no update checks: a region is all sam needs to validate offline.
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 BC_SKIP_MAPPING=TRUE
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

log() { printf '%s\n' "lint: $*"; }

fingerprint() { # the inputs an install depends on
  { "$PYTHON" --version 2>&1; node --version 2>/dev/null; cat "$@"; } | sha256sum | cut -d' ' -f1
}

# ensure_venv DIR REQUIREMENTS: (re)create DIR from REQUIREMENTS unless it was built from the same pins.
ensure_venv() {
  local dir="$1" req="$2" want
  want="$(fingerprint "$req")"
  if [[ -x "$dir/bin/python" && "$(cat "$dir/.lint-stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  log "installing $(basename "$req") into ${dir#"$ROOT"/} (once per change of pins)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" &&
    "$dir/bin/pip" install --quiet --upgrade pip &&
    "$dir/bin/pip" install --quiet -r "$req" &&
    echo "$want" >"$dir/.lint-stamp"
}

ensure_node_modules() {
  local want
  want="$(fingerprint "$LINT_DIR/package.json" "$LINT_DIR/package-lock.json")"
  if [[ -d "$LINT_DIR/node_modules" && "$(cat "$LINT_DIR/node_modules/.lint-stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  log "installing asl-validator into local/lint/node_modules (npm ci)"
  (cd "$LINT_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) &&
    echo "$want" >"$LINT_DIR/node_modules/.lint-stamp"
}

install_ok=1
# The two Python installs are independent: run them side by side.
ensure_venv "$SAM_VENV" "$LINT_DIR/requirements.txt" & sam_pid=$!
ensure_venv "$CHECKOV_VENV" "$LINT_DIR/requirements-checkov.txt" & checkov_pid=$!
ensure_node_modules || install_ok=0
wait "$sam_pid" || install_ok=0
wait "$checkov_pid" || install_ok=0
if [[ $install_ok -ne 1 ]]; then
  log "FAIL: could not install the lint tools"
  exit 1
fi
# `lint.sh install`: the tools only (make lint installs them while clippy compiles).
if [[ "${1:-}" == install ]]; then
  log "tools installed"
  exit 0
fi

declare -a RESULTS=()
failed=0
# run NAME COMMAND...: runs one check, records PASS/FAIL.
run() {
  local name="$1"; shift
  printf '\n==> %s\n' "$name"
  if "$@"; then
    RESULTS+=("PASS  $name")
  else
    RESULTS+=("FAIL  $name")
    failed=1
  fi
}

asl_validate() {
  local f ok=0
  shopt -s nullglob
  local files=(statemachines/*.asl.json)
  if [[ ${#files[@]} -eq 0 ]]; then echo "no statemachines/*.asl.json"; return 1; fi
  for f in "${files[@]}"; do
    "$LINT_DIR/node_modules/.bin/asl-validator" --json-path "$f" || ok=1
  done
  return $ok
}

# Every ${Key} in an ASL file must be a DefinitionSubstitutions key of the state machine that
# uses that file, and every key must be used: a typo would otherwise only show up at run time.
# Fault injection (order-faults' `fault-injection` feature) is on in the workspace's builds, where the
# local stack and the tests use it, and off in what a plain build selects (the default members),
# which is what `sam build` builds: `cargo lambda build --release --bin <function>`. `cargo tree`
# resolves the features without compiling.
fault_injection_only_in_workspace_builds() {
  local feature='order-faults feature "fault-injection"'
  if ! cargo tree --workspace -e features --prefix none | grep -qF "$feature"; then
    echo "fault injection is off in the workspace build: the end-to-end tests cannot plan faults"
    return 1
  fi
  if cargo tree -e features --prefix none | grep -qF "$feature"; then
    echo "fault injection is on in a plain build (sam build's): a deployed function could read a plan"
    return 1
  fi
  echo "on with --workspace, off in the default members (sam build)"
}

# The layers (ARCHITECTURE.md, "Crates"): the compiler refuses an import against the crates'
# dependencies; this refuses the dependencies that would let one in. The core links nothing of
# AWS, Lambda or DynamoDB's serde; the operator's CLI neither the HTTP API's runtime nor SES.
layers_hold() {
  local tree
  tree=$(cargo tree -p order-core -e normal --prefix none --format '{p}' | grep -E '^(aws|lambda_|serde_dynamo)' || true)
  if [ -n "$tree" ]; then
    echo "order-core depends on $(echo "$tree" | head -3 | tr '\n' ' ')"
    return 1
  fi
  tree=$(cargo tree -p ordertracker -e normal --prefix none --format '{p}' | grep -E '^(lambda_http|aws-sdk-sesv2) ' || true)
  if [ -n "$tree" ]; then
    echo "ordertracker links $(echo "$tree" | tr '\n' ' ')"
    return 1
  fi
  echo "order-core: no aws_*, lambda_* or serde_dynamo; ordertracker: no lambda_http or aws-sdk-sesv2"
}

check_substitutions() {
  "$SAM_VENV/bin/python" - "$TEMPLATE" <<'PY'
import json, re, sys
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1]).read())
ok, seen = True, 0
for name, res in template.get("Resources", {}).items():
    if res.get("Type") != "AWS::Serverless::StateMachine":
        continue
    props = res.get("Properties", {})
    uri = props.get("DefinitionUri")
    if not isinstance(uri, str):
        continue
    seen += 1
    used = set(re.findall(r"\$\{([^}]+)\}", open(uri).read()))
    given = set((props.get("DefinitionSubstitutions") or {}).keys())
    for key in sorted(used - given):
        print(f"{name}: {uri} uses ${{{key}}} but DefinitionSubstitutions has no {key}"); ok = False
    for key in sorted(given - used):
        print(f"{name}: DefinitionSubstitutions.{key} is not used in {uri}"); ok = False
    if ok:
        print(f"{name}: {len(used)} placeholders in {uri} match DefinitionSubstitutions")
if seen == 0:
    print("no AWS::Serverless::StateMachine with a DefinitionUri"); ok = False
sys.exit(0 if ok else 1)
PY
}

run "cfn-lint" "$SAM_VENV/bin/cfn-lint" "$TEMPLATE"
run "sam validate --lint" "$SAM_VENV/bin/sam" validate --lint --template "$TEMPLATE"
run "asl-validator" asl_validate
# Standard library only; the start inputs it assumes are in local/lint/saga-inputs.json.
run "asl paths" "$PYTHON" "$LINT_DIR/asl_paths.py" statemachines/order-saga.asl.json
run "definition substitutions" check_substitutions
# What makes a first deploy fail on a real account though the linters pass (check_deployable.py).
run "deployable" "$SAM_VENV/bin/python" "$LINT_DIR/check_deployable.py"
run "fault injection only in workspace builds" fault_injection_only_in_workspace_builds
run "layers" layers_hold
run "contract tables match the template" "$SAM_VENV/bin/python" embedded-dynamodb/tables.py --check
run "checkov" "$CHECKOV_VENV/bin/checkov" -f "$TEMPLATE" --framework cloudformation --skip-download --compact --quiet

printf '\n==> summary\n'
printf '  %s\n' "${RESULTS[@]}"
if [[ $failed -ne 0 ]]; then
  log "FAILED"
  exit 1
fi
log "all checks passed"
