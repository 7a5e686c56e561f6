"""asl_paths.py on small synthetic definitions, and on the real one."""

import json
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "local" / "lint"))
import asl_paths  # noqa: E402

ORDER = asl_paths.from_fields(["$.orderId", "$.userId"], {}, "test")
CANCEL = asl_paths.from_fields(["$.orderId", "$.userId", "$.cancel"], {"$.cancel": True}, "test")
TASK = "arn:aws:lambda:us-east-1:123456789012:function:f"


def machine(states, start=None):
    return {"StartAt": start or next(iter(states)), "States": states}


def task(next_=None, **kw):
    s = {"Type": "Task", "Resource": TASK, **kw}
    if next_:
        s["Next"] = next_
    else:
        s["End"] = True
    return s


def reads(*paths, next_=None, **kw):
    """A task whose Parameters read these paths."""
    params = {f"p{i}.$": p for i, p in enumerate(paths)}
    return task(next_, Parameters=params, ResultPath=None, **kw)


def findings(definition, kinds=None):
    return asl_paths.check(definition, kinds or {"order": ORDER})


class Basics(unittest.TestCase):
    def test_set_on_every_path_passes(self):
        d = machine({
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.userId", "StringEquals": "a", "Next": "A"}], "Default": "B"},
            "A": {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.x", "Next": "Use"},
            "B": task("Use", ResultPath="$.x"),
            "Use": reads("$.x", "$.orderId"),
        })
        self.assertEqual(findings(d), [])

    def test_missing_on_one_branch_fails_naming_the_branch(self):
        d = machine({
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.userId", "StringEquals": "a", "Next": "A"}], "Default": "B"},
            "A": {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.x", "Next": "Use"},
            "B": {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.y", "Next": "Use"},
            "Use": reads("$.x.v"),
        })
        [f] = findings(d)
        self.assertEqual((f.state, f.path, f.fields), ("Use", "$.x.v", ["Parameters.p0.$"]))
        self.assertEqual(f.trail, "Route -(Default)-> B -> Use")
        self.assertIn("Use: $.x.v (Parameters.p0.$)", str(f))

    def test_known_literal_children_only(self):
        d = machine({
            "A": {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.x", "Next": "Use"},
            "Use": reads("$.x.v", "$.x.w"),
        })
        self.assertEqual([f.path for f in findings(d)], ["$.x.w"])

    def test_task_result_counts_as_everything_under_its_result_path(self):
        d = machine({"T": task("Use", ResultPath="$.r"), "Use": reads("$.r.a.b")})
        self.assertEqual(findings(d), [])

    def test_result_selector_shape_is_used(self):
        d = machine({
            # ResultSelector reads the task's result: any JSONPath syntax is fine there.
            "T": task("Use", ResultSelector={"item.$": "$.Item", "first.$": "$.Items[0]", "n": 1},
                      ResultPath="$.r"),
            "Use": reads("$.r.item.anything", "$.r.n", "$.r.other"),
        })
        self.assertEqual([f.path for f in findings(d)], ["$.r.other"])

    def test_catch_result_path_sets_the_error_object(self):
        d = machine({
            "T": task("Ok", ResultPath="$.r", Catch=[
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]),
            "Ok": {"Type": "Succeed"},
            "Failed": reads("$.error.Error", "$.error.Cause", "$.orderId", "$.error.Other"),
        })
        [f] = findings(d)
        self.assertEqual((f.path, f.trail), ("$.error.Other", "T -(Catch[0])-> Failed"))

    def test_catch_without_result_path_replaces_the_input(self):
        d = machine({
            "T": task("Ok", ResultPath="$.r", Catch=[
                {"ErrorEquals": ["States.ALL"], "Next": "Failed"}]),
            "Ok": {"Type": "Succeed"},
            "Failed": reads("$.Error", "$.orderId"),
        })
        self.assertEqual([f.path for f in findings(d)], ["$.orderId"])

    def test_result_path_null_passes_the_input_through(self):
        d = machine({"T": task("Use", ResultPath=None), "Use": reads("$.orderId", "$.r")})
        [f] = findings(d)
        self.assertEqual(f.path, "$.r")

    def test_result_path_root_replaces_the_input(self):
        d = machine({
            "P": {"Type": "Pass", "Result": {"a": 1}, "Next": "Use"},
            "Use": reads("$.a", "$.orderId"),
        })
        [f] = findings(d)
        self.assertEqual(f.path, "$.orderId")
        self.assertEqual(f.trail, "P -> Use (it is dropped or replaced at P)")

    def test_pass_parameters_copy_what_they_read(self):
        d = machine({
            "T": task("P", ResultPath=None, Catch=[
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "P"}]),
            "P": {"Type": "Pass", "Parameters": {"why": "x", "error.$": "$.error"},
                  "ResultPath": "$.c", "Next": "Use"},
            "Use": reads("$.c.why"),
        })
        # P reads $.error, which the T -> P (Next) edge does not set.
        [f] = findings(d)
        self.assertEqual((f.state, f.path, f.trail), ("P", "$.error", "T -> P"))

    def test_input_path_and_output_path_narrow(self):
        d = machine({
            "A": {"Type": "Pass", "Result": {"inner": {"k": 1}}, "ResultPath": "$.box",
                  "OutputPath": "$.box", "Next": "B"},
            "B": reads("$.inner.k", "$.orderId", next_="C"),
            "C": reads("$.k", InputPath="$.inner"),
        })
        self.assertEqual([(f.state, f.path) for f in findings(d)], [("B", "$.orderId")])

    def test_output_path_to_a_missing_path_is_a_finding(self):
        d = machine({"P": {"Type": "Pass", "OutputPath": "$.nope", "End": True}})
        self.assertEqual([f.path for f in findings(d)], ["$.nope"])

    def test_context_object_is_always_there(self):
        d = machine({"T": task(Parameters={
            "id.$": "$$.Execution.Id", "at.$": "$$.State.EnteredTime",
            "s.$": "States.Format('{} {}', $$.Execution.Name, $$.StateMachine.Id)"})})
        self.assertEqual(findings(d), [])

    def test_loop_reaches_a_fixed_point(self):
        d = machine({
            "Start": {"Type": "Pass", "Result": 1, "ResultPath": "$.n", "Next": "Body"},
            "Body": reads("$.n", "$.late", next_="Again"),
            "Again": {"Type": "Choice", "Choices": [
                {"Variable": "$.n", "NumericEquals": 1, "Next": "Set"}], "Default": "Done"},
            "Set": {"Type": "Pass", "Result": 2, "ResultPath": "$.late", "Next": "Body"},
            "Done": {"Type": "Succeed"},
        })
        [f] = findings(d)
        self.assertEqual((f.state, f.path, f.trail), ("Body", "$.late", "Start -> Body"))


class Intrinsics(unittest.TestCase):
    def test_paths_inside_intrinsics_are_read(self):
        d = machine({"T": task(Parameters={
            "a.$": "States.Format('ORDER#{}', $.orderId)",
            "b.$": "States.JsonToString(States.Array($.userId, $.missing1))",
            "c.$": "States.Format('it\\'s $.notapath {}', $.missing2)",
            "d.$": "States.ArrayGetItem(States.Array(1, 2), 0)",
            "e.$": "States.UUID()",
        })})
        self.assertEqual(sorted(f.path for f in findings(d)), ["$.missing1", "$.missing2"])

    def test_intrinsic_result_has_no_children(self):
        d = machine({
            "P": {"Type": "Pass", "Parameters": {"s.$": "States.Format('{}', $.orderId)",
                                                 "j.$": "States.StringToJson($.userId)"},
                  "ResultPath": "$.v", "Next": "Use"},
            "Use": reads("$.v.s", "$.v.j.any", "$.v.s.x"),
        })
        self.assertEqual([f.path for f in findings(d)], ["$.v.s.x"])

    def test_unknown_intrinsic_is_refused(self):
        d = machine({"T": task(Parameters={"a.$": "States.Frobnicate($.orderId)"})})
        with self.assertRaisesRegex(asl_paths.Unsupported, "intrinsic function"):
            findings(d)


class Choices(unittest.TestCase):
    def test_is_present_guards_its_true_branch(self):
        d = machine({
            "Has": {"Type": "Choice", "Choices": [
                {"Variable": "$.opt", "IsPresent": True, "Next": "Use"}], "Default": "Other"},
            "Use": reads("$.opt"),
            "Other": reads("$.opt"),
        }, start="Has")
        kinds = {"maybe": asl_paths.Facts(
            ORDER.must, asl_paths.from_fields(["$.orderId", "$.userId", "$.opt"], {}, "t").may)}
        [f] = findings(d, kinds)
        self.assertEqual((f.state, f.path, f.trail), ("Other", "$.opt", "Has -(Default)-> Other"))

    def test_is_present_false_guards_the_rules_after_it(self):
        d = machine({
            "T": task("Check", ResultPath="$.r"),
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.r.x", "IsPresent": False, "Next": "Done"},
                {"Variable": "$.r.x", "StringEquals": "a", "Next": "Done"}], "Default": "Done"},
            "Done": {"Type": "Succeed"},
        })
        self.assertEqual(findings(d), [])

    def test_and_stops_at_a_failed_is_present(self):
        d = machine({
            "Route": {"Type": "Choice", "Choices": [{"And": [
                {"Variable": "$.flag", "IsPresent": True},
                {"Variable": "$.flag", "BooleanEquals": True}], "Next": "Done"}],
                "Default": "Done"},
            "Done": {"Type": "Succeed"},
        })
        self.assertEqual(findings(d), [])

    def test_comparing_an_unguarded_variable_is_a_finding(self):
        d = machine({
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.flag", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Done"},
            "Done": {"Type": "Succeed"},
        })
        [f] = findings(d)
        self.assertEqual((f.state, f.path, f.fields), ("Route", "$.flag", ["Choices[0].Variable"]))

    def test_path_comparator_reads_its_operand(self):
        d = machine({
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.userId", "StringEqualsPath": "$.owner", "Next": "Done"}],
                "Default": "Done"},
            "Done": {"Type": "Succeed"},
        })
        self.assertEqual([f.path for f in findings(d)], ["$.owner"])

    def test_routing_on_the_input_kind(self):
        # Only a cancellation has $.cancel, so only it reaches Cancel, and only the order
        # input reaches Forward; each branch reads what its own input has.
        d = machine({
            "Route": {"Type": "Choice", "Choices": [{"And": [
                {"Variable": "$.cancel", "IsPresent": True},
                {"Variable": "$.cancel", "BooleanEquals": True}], "Next": "Cancel"}],
                "Default": "Forward"},
            "Cancel": reads("$.cancel", next_="Join"),
            "Forward": task("Join", ResultPath="$.error"),
            "Join": reads("$.error"),
        })
        [f] = findings(d, {"order": ORDER, "cancel": CANCEL})
        self.assertEqual((f.state, f.path, f.kind), ("Join", "$.error", "cancel"))
        self.assertEqual(f.trail, "Route -(Choices[0])-> Cancel -> Join")


class Refusals(unittest.TestCase):
    def assertRefused(self, definition, pattern):
        with self.assertRaisesRegex(asl_paths.Unsupported, pattern):
            findings(definition)

    def test_map_and_parallel(self):
        self.assertRefused(machine({"M": {"Type": "Map", "ItemsPath": "$.lines",
                                          "End": True}}), "Type 'Map'")
        self.assertRefused(machine({"M": {"Type": "Parallel", "Branches": [],
                                          "End": True}}), "Type 'Parallel'")

    def test_jsonata_and_variables(self):
        self.assertRefused({"QueryLanguage": "JSONata", "StartAt": "S",
                            "States": {"S": {"Type": "Succeed"}}}, "JSONata")
        self.assertRefused(machine({"P": {"Type": "Pass", "Assign": {"x": 1}, "End": True}}),
                           "Assign")
        self.assertRefused(machine({"T": task(Parameters={"a.$": "$x"})}), "JSONPath syntax")

    def test_array_and_wildcard_paths(self):
        for p in ("$.lines[0]", "$.lines[*].sku", "$..sku", "$.a[?(@.b)]"):
            self.assertRefused(machine({"T": task(Parameters={"a.$": p})}), "JSONPath syntax")

    def test_unknown_keys(self):
        self.assertRefused(machine({"T": task(Credentials={"RoleArn": "x"})}), "Credentials")
        self.assertRefused(machine({"T": task(Catch=[{"ErrorEquals": ["States.ALL"],
                                                      "Next": "T", "Foo": 1}])}), "Foo")
        self.assertRefused(machine({"C": {"Type": "Choice", "Choices": [
            {"Variable": "$.orderId", "StringFrobs": "a", "Next": "C"}]}}), "StringFrobs")


class Contract(unittest.TestCase):
    RUST = """
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub order_id: OrderId,
    /// Only for a cancellation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel: bool,
    pub amount: Money,
}

#[serde(try_from = "String", into = "String")]
pub struct OrderId(Uuid);

pub struct Money {
    pub minor_units: i64,
}
"""

    def contract(self, kinds):
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        (tmp / "src").mkdir()
        (tmp / "src" / "lib.rs").write_text(self.RUST)
        (tmp / "in.json").write_text(json.dumps(
            {"rust": {"dir": "src", "struct": "Start"}, "kinds": kinds}))
        return asl_paths.load_contract(tmp / "in.json", root=tmp)

    def test_matching_contract_loads(self):
        kinds = self.contract({
            "order": {"fields": ["$.orderId", "$.amount.minor_units"]},
            "cancel": {"fields": ["$.orderId", "$.amount.minor_units", "$.cancel"],
                       "values": {"$.cancel": True}}})
        self.assertEqual(set(kinds), {"order", "cancel"})

    def test_missing_and_unknown_fields_are_refused(self):
        with self.assertRaisesRegex(asl_paths.ContractError, r"lacks \$.amount,"):
            self.contract({"order": {"fields": ["$.orderId"]}})
        with self.assertRaisesRegex(asl_paths.ContractError, r"lists \$.extra"):
            self.contract({"order": {"fields": ["$.orderId", "$.amount.minor_units", "$.extra"]}})

    def test_real_contract_matches_saga_input(self):
        kinds = asl_paths.load_contract(ROOT / "local" / "lint" / "saga-inputs.json")
        self.assertEqual(set(kinds), {"order", "cancel"})


class RealDefinition(unittest.TestCase):
    def test_order_saga_reads_only_what_is_set(self):
        definition = json.loads((ROOT / "statemachines" / "order-saga.asl.json").read_text())
        kinds = asl_paths.load_contract(ROOT / "local" / "lint" / "saga-inputs.json")
        found, unreachable = asl_paths.analyse_all(definition, kinds)
        self.assertEqual([str(f) for f in found], [])
        self.assertEqual(unreachable, [])


if __name__ == "__main__":
    unittest.main()
