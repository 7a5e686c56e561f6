# The front door. `make dev` serves the API locally, `make test` runs every test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

USER ?= alice

.PHONY: bench-sim help dev test unit e2e contract lint fmt clippy build token api invoke smoke load stack-up stack-down bench redrive sim

help:
	@echo "make dev    - build, start the local AWS stack (ministack), seed demo data, serve the API (its URL is printed)"
	@echo "make test   - unit tests and the template's security check, then end-to-end tests against a local stack on test ports"
	@echo "make lint   - rustfmt, clippy, openapi.yaml's routes, the saga diagram against its definition, cfn-lint, sam validate, ASL validator, checkov"
	@echo "make contract - openapi.yaml against template.yaml and (schemathesis) against a local stack"
	@echo "make token USER=alice [ARGS=\"--scope admin\"] - print an access token of the local stack's Cognito user pool"
	@echo "make api    - print the running dev stack's API URL"
	@echo "make invoke FN=reserve-stock EVENT=events/reserve-stock.json - invoke one function of the running dev stack"
	@echo "make redrive QUEUE=<name or url> [PROFILE=dev] - move a dead-letter queue's messages back (ordertracker dlq redrive) on a local stack"
	@echo "make smoke STACK=<name> [REGION=..] - prove a deployed stack works (without STACK: the local dev stack)"
	@echo "make load STACK=<name> [RATE=83 DURATION=60 WARMUP=10 USERS=20] - open-loop load on a deployed stack's API"
	@echo "make bench  - measure cold start, sizes, per-order work, load and cost; regenerates BENCHMARKS.md"
	@echo "make bench-sim - the simulator's speed alone (BENCHMARKS.md, section 8)"
	@echo "make sim [SCHEDULES=1000 SEED=1 ARGS=\"--orders 20 --fault-rate 0.5 ...\"] - the saga's simulator: schedules with faults, properties checked; SCHEDULES=1 SEED=<seed> replays one"

build:
	cargo build --workspace --bins

dev: build
	local/stack.sh dev

# Unit tests need no cloud; end-to-end tests start their own stack on the test ports.
# The last line adds up every cargo test result, so a run ends with its counts.
test:
	@mkdir -p target; status=0; \
	{ start=$$(date +%s); $(MAKE) --no-print-directory unit && echo "make test: build and unit tests took $$(( $$(date +%s) - start )) s" && \
	  $(MAKE) --no-print-directory e2e || rc=$$?; echo "make test: $$(( $$(date +%s) - start )) s in all"; exit $${rc:-0}; } 2>&1 | tee target/test.log || status=$$?; \
	awk '/^test result:/ { passed += $$4; failed += $$6 } \
	     END { printf "\nunit and end-to-end tests together:\ntests: %d passed, %d failed\n", passed, failed }' target/test.log; \
	exit $$status

# Every cargo command of `make test` selects the whole workspace with its tests, so cargo resolves
# one set of features and compiles each dependency once (a `-p` selection, or a build without the
# tests and their dev-dependencies, resolves another set and compiles the SDK again). One build
# makes the functions and every test binary; the Python tools install beside it. The end-to-end
# tests are #[ignore]d in the unit run: `make e2e` runs them.
unit:
	@mkdir -p target; { local/bootstrap.sh && tests/contract/run.sh install; } >target/tools.log 2>&1 & tools=$$!; \
	status=0; cargo build --workspace --bins --tests || status=$$?; \
	wait $$tools || { cat target/tools.log; exit 1; }; cat target/tools.log; exit $$status
	cargo test --workspace
	.venv/bin/python -m unittest discover -s local/tests
	.venv/bin/python tests/security/check_template.py

# Three stacks, three lanes of tests at once (tests/e2e.sh says which and why), the contract test in
# the third. Any lane failing fails it.
e2e:
	tests/e2e.sh

contract:
	cargo build --workspace --bins --tests
	local/stack.sh test-run -- tests/contract/run.sh

stack-up: build
	local/stack.sh up $(or $(PROFILE),test)

stack-down:
	local/stack.sh down $(or $(PROFILE),test)

# Replays a dead-letter queue of a running local stack (default dev) with the operator's tool: a
# message from a DLQ with one source queue (NotifyDlq) is moved back to it, attributes and all.
# QUEUE is a name or URL, e.g. the NOTIFY_DLQ_URL or PRODUCT_DLQ_URL of local/.state/dev/env.
redrive:
	@[[ -n "$(QUEUE)" ]] || { echo "usage: make redrive QUEUE=<queue name or url> [PROFILE=dev]" >&2; exit 2; }
	@env_file=local/.state/$(or $(PROFILE),dev)/env; \
	[[ -f $$env_file ]] || { echo "no $$env_file: start the stack first (local/stack.sh up $(or $(PROFILE),dev))" >&2; exit 1; }; \
	set -a; . $$env_file; set +a; cargo run -q -p ordertracker -- dlq redrive '$(QUEUE)'

# ARGS="--scope admin" (or --group admin) signs in a member of the admin group.
token:
	@local/stack.sh token $(USER) $(ARGS)

# A deployed stack (STACK=<name>, your AWS credentials) or, without STACK, a local one (PROFILE, dev
# by default): its outputs are all it needs.
STACK_ENV = env_file=local/.state/$(or $(PROFILE),dev)/env; \
	if [[ -z "$(STACK)" ]]; then [[ -f $$env_file ]] || { echo "make $@ STACK=<stack name> [REGION=..] for a deployed stack, or start a local one (make dev)" >&2; exit 2; }; \
	set -a; . $$env_file; set +a; fi

smoke:
	@local/bootstrap.sh >/dev/null
	@$(STACK_ENV); .venv/bin/python tests/smoke/smoke.py $(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION))

# Open-loop orders at RATE per second for DURATION s after WARMUP s (tests/smoke/loadsetup.py makes
# USERS users with money and a product first, and deletes the users after).
load:
	@local/bootstrap.sh >/dev/null
	@cargo build -q --workspace --bins
	@$(STACK_ENV); mkdir -p target/load; setup=target/load/setup-$$$$.json; \
	where="$(if $(STACK),--stack $(STACK)) $(if $(REGION),--region $(REGION))"; \
	.venv/bin/python tests/smoke/loadsetup.py create --out $$setup --users $(or $(USERS),20) $$where; \
	status=0; target/debug/load --setup $$setup --rate $(or $(RATE),83.3) --duration $(or $(DURATION),60) \
	  --warmup $(or $(WARMUP),10) || status=$$?; \
	.venv/bin/python tests/smoke/loadsetup.py delete --setup $$setup $$where; rm -f $$setup; exit $$status

# The running dev stack's API URL (PROFILE=test for the test stack).
api:
	@env_file=local/.state/$(or $(PROFILE),dev)/env; \
	[[ -f $$env_file ]] || { echo "no $$env_file: start the stack first (make dev)" >&2; exit 1; }; \
	sed -n "s/^GATEWAY_URL=//p" $$env_file | tr -d "'"

# One function of the running dev stack (PROFILE=test for the test stack) with a sample event.
invoke:
	@[[ -n "$(FN)" ]] || { echo "usage: make invoke FN=<function> [EVENT=events/<file>.json] [PROFILE=dev]" >&2; exit 2; }
	@STACK_PROFILE=$(or $(PROFILE),dev) local/stack.sh invoke $(FN) $(EVENT)

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# The linters' Python and npm tools install while clippy compiles.
lint:
	@mkdir -p target; { local/lint/lint.sh install && tests/contract/run.sh install; } >target/lint-tools.log 2>&1 & \
	tools=$$!; status=0; $(MAKE) --no-print-directory fmt clippy || status=$$?; \
	wait $$tools || { cat target/lint-tools.log; exit 1; }; cat target/lint-tools.log; exit $$status
	tests/contract/run.sh routes
	@# The saga's diagram in docs/ must match its definition (standard library only, no install).
	python3 -m unittest discover -s docs/tools
	python3 docs/tools/asl_diagram.py --check
	local/lint/lint.sh

# The simulator (sim/): the real state machine, steps and adapters in process; fails with the
# seed of the first schedule that breaks a property.
# Without ARGS each seed takes one of four shapes in turn (faults, frequent cancels, EXPRESS
# duplicates, conflicts only); ARGS="--fault-rate 0.5 --orders 20 ..." fixes one.
SCHEDULES ?= 1000
SEED ?= 1
ARGS ?=
sim:
	cargo run --release -q -p sim -- --schedules $(SCHEDULES) --seed $(SEED) $(ARGS)

# Measurements, not tests (never fails on a time): its own scratch stack, raw results in bench/results/.
bench:
	bench/run.sh

# The simulator's speed alone (BENCHMARKS.md, section 8): `make bench` runs it too.
bench-sim:
	bench/sim.sh
