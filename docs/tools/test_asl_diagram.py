"""Tests of asl_diagram.py: python3 -m unittest discover -s docs/tools"""

import contextlib
import copy
import io
import json
import shutil
import tempfile
import unittest
from pathlib import Path

import asl_diagram

# A small saga: a Choice, a Task with two Catches, a Fail and a Succeed.
TINY = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.cancel", "BooleanEquals": True, "Next": "Refund"}],
            "Default": "Charge",
        },
        "Charge": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Next": "Done",
            "Retry": [{"ErrorEquals": ["Transient"], "MaxAttempts": 3}],
            "Catch": [
                {"ErrorEquals": ["PaymentDeclined"], "Next": "Refund"},
                {"ErrorEquals": ["States.Timeout", "States.TaskFailed"], "Next": "GaveUp"},
            ],
        },
        "Refund": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"},
        "GaveUp": {"Type": "Fail", "Error": "CompensationFailed"},
    },
}

MARKDOWN = f"# Saga\n\nBefore.\n\n{asl_diagram.BEGIN}\n{asl_diagram.END}\n\nAfter.\n"


def edges(diagram: str) -> list[str]:
    return [line.strip() for line in diagram.splitlines() if "-->" in line or "-.->" in line]


class Drawing(unittest.TestCase):
    def test_every_transition_of_a_small_definition_is_an_edge(self):
        self.assertEqual(edges(asl_diagram.mermaid(TINY)), [
            "start --> Route",
            'Route -->|"$.cancel == true"| Refund',
            'Route -->|"otherwise"| Charge',
            "Charge --> Done",
            'Charge -.->|"PaymentDeclined"| Refund',
            'Charge -.->|"States.Timeout, States.TaskFailed"| GaveUp',
            "Refund --> succeeded",
            "Done --> succeeded",
            'GaveUp -->|"CompensationFailed"| failed',
        ])

    def test_one_node_per_state_shaped_by_its_type(self):
        diagram = asl_diagram.mermaid(TINY)
        for node in ('Route{"Route"}', 'Charge["Charge"]', 'Refund[/"Refund"/]', 'Done(["Done"])',
                     'GaveUp(["GaveUp"])', 'start(("start"))', 'succeeded(("succeeded"))', 'failed(("failed"))'):
            self.assertIn(f"\n  {node}\n", diagram)
        self.assertIn("class GaveUp fail", diagram)
        self.assertIn("class Done succeed", diagram)

    def test_the_output_does_not_depend_on_anything_but_the_definition(self):
        self.assertEqual(asl_diagram.mermaid(TINY), asl_diagram.mermaid(copy.deepcopy(TINY)))

    def test_compound_conditions_read_as_they_are_meant(self):
        rule = {"And": [{"Variable": "$.a", "IsPresent": False},
                        {"Or": [{"Variable": "$.s", "StringEquals": "PAID"},
                                {"Variable": "$.n", "NumericGreaterThanPath": "$.m"}]},
                        {"Not": {"Variable": "$.s", "StringEquals": "X"}}],
                "Next": "B"}
        self.assertEqual(asl_diagram.condition(rule, "t"),
                         "$.a is not present and\n($.s == 'PAID' or $.n > $.m) and\nnot ($.s == 'X')")
        same_variable = {"Or": [{"Variable": "$.s", "StringEquals": "A"}, {"Variable": "$.s", "StringEquals": "B"}]}
        self.assertEqual(asl_diagram.condition(same_variable, "t"), "$.s in ('A', 'B')")

    def test_markup_in_a_label_is_escaped(self):
        rule = {"Variable": "$.x", "StringEquals": 'a"<b>#', "Next": "B"}
        self.assertEqual(asl_diagram.label(asl_diagram.condition(rule, "t")),
                         '"$.x == \'a#quot;#lt;b#gt;#35;\'"')

    def test_nested_parallel_and_map_states_are_walked(self):
        definition = {
            "StartAt": "Fan",
            "States": {
                "Fan": {"Type": "Parallel", "Next": "Each", "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "Next": "C"},
                                                "C": {"Type": "Fail"}}},
                ]},
                "Each": {"Type": "Map", "End": True, "ItemProcessor": {
                    "StartAt": "D", "States": {"D": {"Type": "Pass", "End": True}}}},
            },
        }
        diagram = asl_diagram.mermaid(definition)
        self.assertIn('subgraph Fan["Fan (Parallel)"]', diagram)
        self.assertIn('subgraph Each["Each (Map)"]', diagram)
        self.assertIn('B{{"B"}}', diagram)
        for edge in ("start --> Fan", "Fan --> Each", "Each --> succeeded", "start_Fan_branch_1 --> A",
                     "A --> end_Fan_branch_1", "B --> C", "C --> failed_Fan_branch_2", "start_Each --> D",
                     "D --> end_Each"):
            self.assertIn(edge, edges(diagram))

    def test_an_unknown_state_type_is_refused_not_guessed(self):
        definition = copy.deepcopy(TINY)
        definition["States"]["Charge"]["Type"] = "Task2"
        with self.assertRaisesRegex(asl_diagram.DefinitionError, "Charge: unknown state Type 'Task2'"):
            asl_diagram.mermaid(definition)

    def test_an_unknown_choice_operator_is_refused(self):
        definition = copy.deepcopy(TINY)
        definition["States"]["Route"]["Choices"][0] = {"Variable": "$.x", "StringSortsBefore": "a", "Next": "Done"}
        with self.assertRaisesRegex(asl_diagram.DefinitionError, "unknown choice operator StringSortsBefore"):
            asl_diagram.mermaid(definition)

    def test_a_transition_to_a_missing_state_is_refused(self):
        definition = copy.deepcopy(TINY)
        definition["States"]["Charge"]["Catch"][0]["Next"] = "Nowhere"
        with self.assertRaisesRegex(asl_diagram.DefinitionError, "Charge: Catch Next 'Nowhere' is not a state"):
            asl_diagram.mermaid(definition)

    def test_a_state_with_neither_next_nor_end_is_refused(self):
        definition = copy.deepcopy(TINY)
        del definition["States"]["Refund"]["End"]
        with self.assertRaisesRegex(asl_diagram.DefinitionError, "Refund: a Pass state needs exactly one of Next and End"):
            asl_diagram.mermaid(definition)


class TheSaga(unittest.TestCase):
    def test_the_repositorys_definition_draws_every_state(self):
        definition = json.loads(asl_diagram.DEFINITION.read_text())
        diagram = asl_diagram.mermaid(definition)
        for name in definition["States"]:
            self.assertIn(f'{name}"', diagram)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)
        self.definition = self.dir / "saga.asl.json"
        self.mmd = self.dir / "saga.mmd"
        self.markdown = self.dir / "saga.md"
        self.definition.write_text(json.dumps(TINY))
        self.markdown.write_text(MARKDOWN)

    def run_main(self, *extra):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = asl_diagram.main(["--definition", str(self.definition), "--mmd", str(self.mmd),
                                     "--markdown", str(self.markdown), *extra])
        return code, out.getvalue() + err.getvalue()

    def test_writing_then_checking_passes(self):
        self.assertEqual(self.run_main()[0], 0)
        self.assertEqual(self.mmd.read_text(), asl_diagram.mermaid(TINY))
        text = self.markdown.read_text()
        self.assertTrue(text.startswith("# Saga\n\nBefore.\n\n"))
        self.assertTrue(text.endswith("\n\nAfter.\n"))
        self.assertIn(f"{asl_diagram.BEGIN}\n```mermaid\n{asl_diagram.mermaid(TINY)}```\n{asl_diagram.END}", text)
        code, output = self.run_main("--check")
        self.assertEqual(code, 0, output)
        self.assertEqual(self.run_main()[0], 0)  # writing again changes nothing
        self.assertEqual(self.markdown.read_text(), text)

    def test_check_fails_after_a_state_is_renamed(self):
        self.run_main()
        renamed = json.loads(json.dumps(TINY).replace('"Refund"', '"RefundPayment"'))
        self.definition.write_text(json.dumps(renamed))
        code, output = self.run_main("--check")
        self.assertEqual(code, 1)
        self.assertIn("no longer match", output)
        self.assertIn("run python3 docs/tools/asl_diagram.py", output)
        self.assertIn('+  RefundPayment[/"RefundPayment"/]', output)
        self.assertEqual(self.mmd.read_text(), asl_diagram.mermaid(TINY))  # --check writes nothing

    def test_check_fails_when_only_the_markdown_block_was_edited(self):
        self.run_main()
        self.markdown.write_text(self.markdown.read_text().replace("Charge --> Done", "Charge --> Refund"))
        code, output = self.run_main("--check")
        self.assertEqual(code, 1)
        self.assertIn("saga.md no longer match", output)

    def test_markdown_without_its_markers_is_an_error(self):
        self.markdown.write_text("# Saga\n")
        code, output = self.run_main("--check")
        self.assertEqual(code, 2)
        self.assertIn("needs exactly one pair of these marker lines", output)

    def test_an_unknown_state_type_exits_2_with_the_state_named(self):
        broken = copy.deepcopy(TINY)
        broken["States"]["Done"]["Type"] = "Succeeded"
        self.definition.write_text(json.dumps(broken))
        code, output = self.run_main()
        self.assertEqual(code, 2)
        self.assertIn("Done: unknown state Type 'Succeeded'", output)
        self.assertFalse(self.mmd.exists())


if __name__ == "__main__":
    unittest.main()
