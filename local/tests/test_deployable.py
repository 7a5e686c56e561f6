"""check_deployable.py on the real template and samconfig, and on each finding put back."""

import copy
import sys
import tomllib
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "local" / "lint"))
import check_deployable as check  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
SAMCONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text())


def failures(template=TEMPLATE, samconfig=SAMCONFIG, name=None):
    report = check.Report()
    for run in (check.check_reserved_concurrency, check.check_identity, check.check_stream_arns,
                check.check_visibility, check.check_deletion_policy):
        run(template, report)
    check.check_beta_features(samconfig, report)
    return [line for line in report.lines if "FAIL" in line and (name is None or name in line)]


class Deployable(unittest.TestCase):
    def test_the_template_and_samconfig_pass(self):
        self.assertEqual(failures(), [])

    def test_reserved_concurrency_fails(self):
        template = copy.deepcopy(TEMPLATE)
        template["Resources"]["CleanupFunction"]["Properties"]["ReservedConcurrentExecutions"] = 1
        self.assertEqual(len(failures(template, name="reserved-concurrency")), 1)

    def test_a_placeholder_issuer_fails(self):
        template = copy.deepcopy(TEMPLATE)
        template["Parameters"]["JwtIssuer"]["Default"] = "https://auth.example.com/"
        self.assertEqual(len(failures(template, name="identity")), 1)

    def test_a_build_without_beta_features_fails(self):
        samconfig = copy.deepcopy(SAMCONFIG)
        del samconfig["prod"]["build"]["parameters"]["beta_features"]
        self.assertEqual(len(failures(samconfig=samconfig, name="beta-features")), 1)

    def test_a_stream_named_by_its_own_arn_fails(self):
        template = copy.deepcopy(TEMPLATE)
        for _, statement in check.statements(template):
            if statement.get("Sid") == "ReadStreams":
                statement["Resource"][0] = {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}
        self.assertEqual(len(failures(template, name="stream-arns")), 1)

    def test_a_visibility_below_the_consumers_timeout_fails(self):
        template = copy.deepcopy(TEMPLATE)
        template["Parameters"]["NotifyQueueVisibilityTimeout"]["MinValue"] = 0
        self.assertEqual(len(failures(template, name="visibility")), 1)

    def test_a_table_kept_after_a_failed_create_fails(self):
        template = copy.deepcopy(TEMPLATE)
        template["Resources"]["OrdersTable"]["DeletionPolicy"] = "Retain"
        self.assertEqual(len(failures(template, name="deletion-policy")), 1)


if __name__ == "__main__":
    unittest.main()
