"""Proof that the simulator can fail: plants each of five real bugs in turn, runs `make sim`'s
default batch (the four shapes in turn from seed 1) until a schedule breaks a property, prints
the seed that caught it and the choices the shrinker left, and puts the code back (from a copy
taken at start, not from git).

    python3 sim/planted_bugs.py [1 2 ...]      # all five without arguments

Each bug is one the project once had or guards against (issue 18): a compensation without its
VOIDED marker, MarkOrderPaid without its cancellation guard, the cancel branch reading a path
it does not set, a second Express execution compensating instead of stopping, and a transaction
conflict treated as a final error.
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASL = "statemachines/order-saga.asl.json"
INVENTORY = "adapters/src/dynamodb/inventory.rs"
WIRE = "adapters/src/dynamodb/wire.rs"
ORIGINAL = {path: (ROOT / path).read_text() for path in (ASL, INVENTORY, WIRE)}
BATCH = ["--schedules", "400", "--seed", "1"]


def restore():
    for path, text in ORIGINAL.items():
        (ROOT / path).write_text(text)


def replace(path, old, new):
    text = (ROOT / path).read_text()
    assert old in text, f"{path} no longer has the code this bug plants into"
    (ROOT / path).write_text(text.replace(old, new, 1))


def edit_definition(change):
    definition = json.loads((ROOT / ASL).read_text())
    change(definition["States"])
    (ROOT / ASL).write_text(json.dumps(definition, indent=2))


def no_voided_marker():
    replace(INVENTORY, """        let item = to_item(&reservation_item(
            order_id,
            ReservationStatus::Voided,
            &[],
            now,
        ))?;
        put_if_absent(&self.client, &self.table, item).await""", """        let _ = (order_id, now);
        Ok(true)""")


def paid_without_cancellation_guard():
    def change(states):
        parameters = states["MarkOrderPaid"]["Parameters"]
        parameters["ConditionExpression"] = parameters["ConditionExpression"].replace(
            " AND attribute_not_exists(#cancelRequestedAt)", "")
        del parameters["ExpressionAttributeNames"]["#cancelRequestedAt"]
    edit_definition(change)


def cancel_branch_reads_reservation():
    def change(states):
        states["RefundPayment"]["Parameters"]["orderId.$"] = "$.reservation.orderId"
    edit_definition(change)


def second_execution_compensates():
    def change(states):
        for name in ("IsAnotherExecutionAheadBeforePayment", "IsAnotherExecutionAheadAfterPayment"):
            for choice in states[name]["Choices"]:
                if choice["Next"] == "AnotherExecutionIsAhead":
                    choice["Next"] = states[name]["Default"]
    edit_definition(change)


def conflict_is_final():
    replace(WIRE, "    if cancellation_reasons(&error).is_some_and(conflicted) {",
            "    if cancellation_reasons(&error).is_some_and(conflicted) && false {")


BUGS = [
    ("a release without its VOIDED marker", no_voided_marker),
    ("MarkOrderPaid without attribute_not_exists(cancelRequestedAt)", paid_without_cancellation_guard),
    ("the cancel branch reads $.reservation, which it does not set", cancel_branch_reads_reservation),
    ("a second Express execution compensates instead of stopping", second_execution_compensates),
    ("a transaction conflict is a final error", conflict_is_final),
]


def main():
    chosen = [int(a) for a in sys.argv[1:]] or range(1, len(BUGS) + 1)
    missed = 0
    for number in chosen:
        name, plant = BUGS[number - 1]
        plant()
        try:
            run = subprocess.run(["cargo", "run", "--release", "-q", "-p", "sim", "--", *BATCH],
                                 cwd=ROOT,
                                 capture_output=True, text=True, timeout=3600)
        finally:
            restore()
        # The seed and its first violation, then what the shrinker left and how to replay it.
        out = (run.stdout + run.stderr).splitlines()
        lines = [l for l in out if l.startswith(("sim:", "  "))][:2]
        lines += [l for l in out if l.startswith(("sim: shrunk", "replay:"))]
        caught = run.returncode == 1 and any("broke" in l for l in lines)
        missed += not caught
        print(f"{number}. {name}: {'caught' if caught else 'NOT CAUGHT'}", *lines, sep="\n   ",
              flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
