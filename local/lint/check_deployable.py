"""Checks template.yaml and samconfig.toml for what makes a first `sam deploy` fail on a real account
though every linter passes (each found by a review against AWS's documentation, issue 16):

* reserved-concurrency: no function reserves concurrency. Reserving any needs 100 unreserved
  executions left in the account; a new account has 10 in all, so the stack rolls back.
* identity: with no JwtIssuer given, the stack creates the user pool its authorizer trusts (a
  placeholder issuer answers every request 401).
* beta-features: every samconfig environment that builds sets `beta_features = true`; the
  rust-cargolambda build method is a beta feature and `sam build` stops to ask otherwise.
* stream-arns: stream reads are granted on `${Table.Arn}/stream/*`, never on a stream's own ARN,
  which changes whenever the stream is turned off and on.
* visibility: each SQS queue a function consumes hides a message at least as long as the
  function may run (its Timeout); Lambda refuses to create the mapping otherwise. A visibility set
  by a parameter counts as the parameter's MinValue.
* deletion-policy: a kept table is `RetainExceptOnCreate`, so a failed first create leaves no
  orphaned table behind to block the next attempt.

Usage: check_deployable.py [--template template.yaml] [--samconfig samconfig.toml]
Prints a line per check and `deployable: N checks passed, M failed`; exit status 1 when any failed.
"""

import argparse
import sys
import tomllib
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]


class Report:
    def __init__(self):
        self.passed = self.failed = 0
        self.lines = []

    def check(self, name: str, subject: str, ok: bool, detail: str):
        self.lines.append(f"  {'ok  ' if ok else 'FAIL'} {name:<20} {subject}: {detail}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def functions(template: dict):
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def check_reserved_concurrency(template: dict, report: Report):
    globals_ = template.get("Globals", {}).get("Function", {})
    report.check("reserved-concurrency", "Globals", "ReservedConcurrentExecutions" not in globals_, "none reserved")
    for name, function in functions(template).items():
        reserved = function.get("Properties", {}).get("ReservedConcurrentExecutions")
        report.check("reserved-concurrency", name, reserved is None,
                     "none reserved" if reserved is None else f"reserves {reserved}")


def check_identity(template: dict, report: Report):
    issuer = template.get("Parameters", {}).get("JwtIssuer", {})
    pools = [r for r in template["Resources"].values() if r["Type"] == "AWS::Cognito::UserPool"]
    condition = template.get("Conditions", {}).get(pools[0].get("Condition", ""), {}) if pools else {}
    ok = issuer.get("Default") == "" and bool(pools) and condition == {"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}
    report.check("identity", "JwtIssuer", ok,
                 "empty by default, and then the stack's own user pool" if ok
                 else f"default {issuer.get('Default')!r} with {len(pools)} user pool(s) created on it")


def check_beta_features(samconfig: dict, report: Report):
    for environment, commands in samconfig.items():
        if not isinstance(commands, dict) or "build" not in commands:
            continue
        build = commands["build"].get("parameters", {})
        report.check("beta-features", f"[{environment}.build.parameters]", build.get("beta_features") is True,
                     f"beta_features = {build.get('beta_features')}")


def statements(template: dict):
    for name, function in functions(template).items():
        for policy in function.get("Properties", {}).get("Policies", []):
            if isinstance(policy, dict):
                for statement in policy.get("Statement", []):
                    yield name, statement


def check_stream_arns(template: dict, report: Report):
    found = 0
    for name, statement in statements(template):
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if not any(str(a).startswith("dynamodb:") and "Stream" in str(a) or a == "dynamodb:GetRecords" for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        for resource in resources:
            found += 1
            by_table = isinstance(resource, dict) and str(resource.get("Fn::Sub", "")).endswith(".Arn}/stream/*")
            report.check("stream-arns", f"{name}/{statement.get('Sid')}", by_table, f"{resource}")
    if not found:
        report.check("stream-arns", "template", True, "no stream reads")


def timeout_of(template: dict, function: str) -> int:
    props = template["Resources"][function].get("Properties", {})
    return int(props.get("Timeout", template.get("Globals", {}).get("Function", {}).get("Timeout", 3)))


def least_visibility(template: dict, queue: str):
    value = template["Resources"][queue].get("Properties", {}).get("VisibilityTimeout", 30)
    if isinstance(value, dict) and "Ref" in value:
        parameter = template.get("Parameters", {}).get(value["Ref"], {})
        return parameter.get("MinValue"), f"parameter {value['Ref']} (MinValue {parameter.get('MinValue')})"
    return value, f"{value} s"


def check_visibility(template: dict, report: Report):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = resource["Properties"]
        source = props.get("EventSourceArn", {})
        queue = source.get("Fn::GetAtt", [None])[0] if isinstance(source, dict) else None
        if queue not in template["Resources"] or template["Resources"][queue]["Type"] != "AWS::SQS::Queue":
            continue
        function = props.get("FunctionName", {}).get("Ref")
        timeout = timeout_of(template, function)
        least, how = least_visibility(template, queue)
        ok = least is not None and int(least) >= timeout
        report.check("visibility", f"{queue} -> {function}", ok, f"visibility {how}, function timeout {timeout} s")


def check_deletion_policy(template: dict, report: Report):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        policy = resource.get("DeletionPolicy", "Delete")
        report.check("deletion-policy", name, policy != "Retain", f"DeletionPolicy {policy}")


def run(template_path: Path, samconfig_path: Path) -> Report:
    template = yaml_parse(template_path.read_text())
    samconfig = tomllib.loads(samconfig_path.read_text())
    report = Report()
    check_reserved_concurrency(template, report)
    check_identity(template, report)
    check_beta_features(samconfig, report)
    check_stream_arns(template, report)
    check_visibility(template, report)
    check_deletion_policy(template, report)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args()
    report = run(args.template, args.samconfig)
    print("\n".join(report.lines))
    print(f"deployable: {report.passed} checks passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
