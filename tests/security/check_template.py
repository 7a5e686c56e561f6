"""Security checks on template.yaml as CloudFormation will see it, and on the code for secrets.

The template is translated with aws-sam-translator (as CloudFormation's SAM transform does it, in
AWS and in the local cloud), so every role, policy and resource SAM generates is checked too, not
only what template.yaml spells out.
Checks, one line each (per resource):

* iam-actions:    no IAM policy statement allows `*`, `service:*` or any other wildcard action,
                  and none uses NotAction / NotResource;
* iam-resources:  no statement allows `Resource: "*"` (or any wildcard ARN) except the exceptions
                  in ALLOWED_WILDCARD_RESOURCES, each explained there; managed policies only from
                  ALLOWED_MANAGED_POLICIES;
* iam-trust:      roles are assumed by a named AWS service, never by `*`;
* table-sse:      every DynamoDB table has SSESpecification.SSEEnabled;
* queue-sse:      every SQS queue is encrypted (SqsManagedSseEnabled or KmsMasterKeyId);
* topic-kms:      every SNS topic has KmsMasterKeyId;
* jwt-issuer:     the HTTP API's JWT authorizer trusts the stack's own Cognito user pool or the
                  issuer and audience of Parameters, never a literal;
* secret-params:  a Parameter whose name says it is a secret has NoEcho;
* env-secrets:    no function environment variable named like a secret holds a literal;
* no-secrets:     no literal JWT, private key, AWS access key or `secret = "..."` assignment in the
                  template (as written and translated), samconfig.toml, the state machine, events/
                  or the Rust code.

Usage: .venv/bin/python tests/security/check_template.py [--template template.yaml]
Prints `security: N checks passed, M failed`; exit status 1 when any failed.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]


class NoManagedPolicies:
    """aws-sam-translator asks IAM for managed policy ARNs only for names it does not bundle."""

    def load(self):
        return {}


def sam_to_cfn(template_path: Path) -> dict:
    """The template as CloudFormation creates it once the SAM transform has run."""
    import os

    sam = yaml_parse(template_path.read_text())
    sam.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in sam["Resources"].values():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = {"Bucket": "artifacts", "Key": "function.zip"}
        elif resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((template_path.parent / props.pop("DefinitionUri")).read_text())
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator resolves AWS::Region from it
    return transform(sam, {}, NoManagedPolicies())

# Managed policies a role may carry, and why their `Resource: "*"` is acceptable.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        "SAM's default for every function: logs:CreateLogGroup, CreateLogStream and PutLogEvents "
        "so the function can write its own logs"
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        "SAM adds it for `Tracing: Active` (functions) and `Tracing.Enabled` (state machine): "
        "X-Ray's PutTraceSegments, PutTelemetryRecords and GetSampling* take no resource ARNs"
    ),
}

# (role logical id, statement Sid) -> (the only actions the statement may hold, why "*" is needed).
ALLOWED_WILDCARD_RESOURCES = {
    ("OrderSagaStateMachineRole", "DeliverLogs"): (
        {
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        },
        "Step Functions sets up log delivery to CloudWatch Logs with these actions, and none of "
        "them supports resource-level permissions (the Step Functions logging guide grants them on *)",
    ),
    ("NotifyFunctionRole", "SendNotificationEmailToVerifiedRecipients"): (
        {"ses:SendEmail"},
        "in the SES sandbox, SES authorizes a send against each recipient's verified identity too, "
        "and the recipients are not known in the template; the statement's ses:FromAddress "
        "condition keeps it to the configured sender; only with Notifier=aws",
    ),
    ("NotifyFunctionRole", "PublishNotificationSms"): (
        {"sns:Publish"},
        "SMS straight to a phone number has no resource ARN to name (the SNS guide grants Publish on * "
        "for it); only with Notifier=aws",
    ),
}

# A SAM policy template for DynamoDB (DynamoDBCrudPolicy, DynamoDBReadPolicy, ...) grants one named
# table and all of its indexes, `table/<name>/index/*`; a stream reader is granted one table's
# streams, `${Table.Arn}/stream/*`, as AWS's AWSLambdaDynamoDBExecutionRole does (a stream's ARN
# changes when it is turned off and on). The only wildcard ARN suffixes accepted anywhere.
ALLOWED_ARN_SUFFIX = re.compile(r":table/[^*/]+/index/\*$|^\$\{\w+\.Arn\}/stream/\*$")

SECRET_NAME = re.compile(r"(secret|password|passwd|token|api_?key|private_?key|signing_?key|credential)", re.I)
SECRET_PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "a private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a secret assignment": re.compile(
        r"(?i)\b[\w-]*(?:secret|password|passwd|api[_-]?key|private[_-]?key|signing[_-]?key|jwt[_-]?key)[\w-]*"
        # `key: "..."`, `"key": "..."`, `key = '...'`, Rust's `const KEY: &str = "..."` / `b"..."`
        r"\b[\"']?\s*(?::\s*&(?:'static\s+)?(?:str|\[u8\])\s*)?[:=]\s*b?[\"'][^\"'\s<>${}]{8,}[\"']"
    ),
}
# Where secrets must never be written down: what is deployed and what it is built from.
SCANNED = [
    "samconfig.toml",
    "statemachines/*.json",
    "events/*.json",
    "Cargo.toml",
    "core/**/*.rs",
    "adapters/**/*.rs",
    "senders/**/*.rs",
    "faults/**/*.rs",
    "http-api/**/*.rs",
    "lambda/**/*.rs",
    "functions/**/*.rs",
    "functions/*/Cargo.toml",
]


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, subject: str, ok: bool, detail: str):
        if ok:
            self.passed += 1
            print(f"  ok   {name:<14} {subject}: {detail}")
        else:
            self.failed += 1
            print(f"  FAIL {name:<14} {subject}: {detail}")


def render(node) -> str:
    """An intrinsic as readable text, to look for wildcards in ARNs: {"Fn::GetAtt": ["T", "Arn"]} -> ${T.Arn}."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return ",".join(render(n) for n in node)
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return "${" + value + "}"
        if key == "Fn::GetAtt":
            return "${" + (".".join(value) if isinstance(value, list) else value) + "}"
        if key == "Fn::Sub":
            return value if isinstance(value, str) else render(value[0])
        if key == "Fn::Join":
            return value[0].join(render(v) for v in value[1])
        if key == "Fn::If":
            return render(value[1]) + "|" + render(value[2])
    return json.dumps(node, sort_keys=True)


def as_list(node) -> list:
    return node if isinstance(node, list) else [node]


def policy_documents(resources: dict):
    """(subject, role logical id or None, document) of every identity and resource policy."""
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield f"{logical_id}/{policy.get('PolicyName', '?')}", logical_id, policy.get("PolicyDocument", {})
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = [render(r).strip("${}") for r in props.get("Roles", [])]
            yield logical_id, roles[0] if len(roles) == 1 else None, props.get("PolicyDocument", {})
        elif kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"):
            yield logical_id, None, props.get("PolicyDocument", {})


def statements(document: dict) -> list:
    """The document's statements, with both branches of a conditional one (`Fn::If`), so that a
    statement granted under a condition is checked like any other."""
    found = []
    for statement in as_list(document.get("Statement", [])):
        if isinstance(statement, dict) and list(statement) == ["Fn::If"]:
            branches = statement["Fn::If"][1:]
            found.extend(b for b in branches if isinstance(b, dict) and b != {"Ref": "AWS::NoValue"})
        else:
            found.append(statement)
    return found


def check_policies(resources: dict, report: Report):
    for subject, role, document in policy_documents(resources):
        for index, statement in enumerate(statements(document)):
            sid = statement.get("Sid", f"#{index}")
            where = f"{subject}/{sid}"
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                report.check("iam-actions", where, False, "NotAction/NotResource allows everything else")
                continue
            actions = [render(a) for a in as_list(statement.get("Action", []))]
            wild_actions = [a for a in actions if "*" in a]
            report.check(
                "iam-actions",
                where,
                not wild_actions and bool(actions),
                f"wildcard actions {wild_actions}" if wild_actions else f"{len(actions)} named actions",
            )
            if "Principal" in statement:  # a resource policy: who, not what
                principals = render(statement["Principal"])
                open_to_all = principals in ("*", '{"AWS": "*"}') and "Condition" not in statement
                report.check("iam-resources", where, not open_to_all, f"principal {principals}")
                continue
            wild = [r for r in (render(r) for r in as_list(statement.get("Resource", []))) if "*" in r]
            allowed = ALLOWED_WILDCARD_RESOURCES.get((role, sid))
            if not wild:
                report.check("iam-resources", where, True, "named resources only")
            elif all(ALLOWED_ARN_SUFFIX.search(r) for r in wild):
                report.check("iam-resources", where, True, f"{wild}: a table's indexes or streams")
            elif allowed and set(actions) <= allowed[0]:
                report.check("iam-resources", where, True, f'Resource "*" allowed: {allowed[1]}')
            else:
                report.check("iam-resources", where, False, f"wildcard resources {wild} for {actions}")


def check_roles(resources: dict, report: Report):
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource.get("Properties", {})
        for arn in (render(a) for a in props.get("ManagedPolicyArns", [])):
            arn = arn.replace("${AWS::Partition}", "aws")
            why = ALLOWED_MANAGED_POLICIES.get(arn)
            report.check("iam-resources", f"{logical_id} {arn.rsplit('/', 1)[-1]}", why is not None,
                         why or f"managed policy {arn} is not on the allow-list")
        principals = []
        for statement in as_list(props.get("AssumeRolePolicyDocument", {}).get("Statement", [])):
            principal = statement.get("Principal", {})
            principals += as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
            if principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS", []))):
                principals.append("*")
        ok = bool(principals) and "*" not in principals
        report.check("iam-trust", logical_id, ok, f"assumed by {principals}")


def check_encryption(resources: dict, report: Report):
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            sse = props.get("SSESpecification", {}).get("SSEEnabled")
            report.check("table-sse", logical_id, sse is True, f"SSESpecification.SSEEnabled is {sse}")
        elif kind == "AWS::SQS::Queue":
            managed, kms = props.get("SqsManagedSseEnabled"), props.get("KmsMasterKeyId")
            ok = managed is True or bool(kms)
            how = "SSE-SQS" if managed is True else f"KMS {render(kms)}" if kms else "no encryption at rest"
            report.check("queue-sse", logical_id, ok, how)
        elif kind == "AWS::SNS::Topic":
            kms = props.get("KmsMasterKeyId")
            report.check("topic-kms", logical_id, bool(kms), f"KmsMasterKeyId {render(kms)}" if kms else "no KmsMasterKeyId")


def parameter_ref(node, parameters: dict) -> bool:
    return isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in parameters


def trusted(node, parameters: dict, resources: dict) -> bool:
    """A parameter, the stack's own Cognito user pool's issuer URL or app client, or a condition
    choosing between such: never a literal issuer or audience."""
    if parameter_ref(node, parameters):
        return True
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        return all(trusted(branch, parameters, resources) for branch in node["Fn::If"][1:])
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return resources.get(node["Ref"], {}).get("Type") == "AWS::Cognito::UserPoolClient"
    if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        match = re.fullmatch(r"https://cognito-idp\.\$\{AWS::Region\}\.amazonaws\.com/\$\{(\w+)\}", node["Fn::Sub"])
        return bool(match) and resources.get(match.group(1), {}).get("Type") == "AWS::Cognito::UserPool"
    return False


def check_jwt(sam: dict, cfn: dict, report: Report):
    """The issuer and audience are the stack's own user pool or deployment settings, never
    literals in the template."""
    parameters = cfn.get("Parameters", {})
    resources = cfn.get("Resources", {})
    found = 0
    # SAM's HttpApi authorizers, as written in template.yaml.
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] != "AWS::Serverless::HttpApi":
            continue
        for name, authorizer in resource.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).items():
            config = authorizer.get("JwtConfiguration")
            if config is None:
                continue
            found += 1
            issuer = config.get("issuer")
            audiences = as_list(config.get("audience", []))
            report.check("jwt-issuer", f"{logical_id}/{name}", trusted(issuer, parameters, resources),
                         f"issuer {render(issuer)}")
            report.check("jwt-issuer", f"{logical_id}/{name} audience",
                         bool(audiences) and all(trusted(a, parameters, resources) for a in audiences),
                         f"audience {[render(a) for a in audiences]}")
    # What the translation hands API Gateway: the OpenAPI body's authorizers, and plain resources.
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        configs = []
        if resource["Type"] == "AWS::ApiGatewayV2::Api":
            schemes = (props.get("Body") or {}).get("components", {}).get("securitySchemes", {})
            configs = [(n, s.get("x-amazon-apigateway-authorizer", {}).get("jwtConfiguration")) for n, s in schemes.items()]
        elif resource["Type"] == "AWS::ApiGatewayV2::Authorizer" and props.get("AuthorizerType") == "JWT":
            configs = [(logical_id, {"issuer": props.get("JwtConfiguration", {}).get("Issuer")})]
        for name, config in configs:
            if config is None:
                continue
            found += 1
            issuer = config.get("issuer")
            report.check("jwt-issuer", f"{logical_id} (translated) {name}", trusted(issuer, parameters, resources),
                         f"issuer {render(issuer)}")
    if not found:
        report.check("jwt-issuer", "template", False, "no JWT authorizer found")


def check_parameters_and_env(cfn: dict, report: Report):
    for name, parameter in cfn.get("Parameters", {}).items():
        if SECRET_NAME.search(name):
            report.check("secret-params", name, parameter.get("NoEcho") in (True, "true"),
                         "NoEcho" if parameter.get("NoEcho") else "a secret-looking Parameter without NoEcho")
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        literal = [k for k, v in variables.items()
                   if SECRET_NAME.search(k) and isinstance(v, str) and not v.startswith("{{resolve:")]
        report.check("env-secrets", logical_id, not literal,
                     f"literal secrets in {literal}" if literal else f"{len(variables)} variables, no literal secrets")


def scan_for_secrets(template: Path, cfn: dict, report: Report):
    texts = {template.name: template.read_text(), "translated template": json.dumps(cfn, indent=1)}
    for pattern in SCANNED:
        for path in sorted(REPO.glob(pattern)):
            if "target" not in path.parts:
                texts[str(path.relative_to(REPO))] = path.read_text(errors="replace")
    for name, text in texts.items():
        found = [f"{what} on line {text.count(chr(10), 0, m.start()) + 1}"
                 for what, regex in SECRET_PATTERNS.items() for m in regex.finditer(text)]
        report.check("no-secrets", name, not found, ", ".join(found) if found else "none found")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    args = parser.parse_args()

    from samtranslator import __version__ as sam_version
    from samtranslator.yaml_helper import yaml_parse

    sam = yaml_parse(args.template.read_text())
    cfn = sam_to_cfn(args.template)
    print(f"security: {args.template.name} translated by aws-sam-translator {sam_version}: "
          f"{len(cfn['Resources'])} resources")
    report = Report()
    check_policies(cfn["Resources"], report)
    check_roles(cfn["Resources"], report)
    check_encryption(cfn["Resources"], report)
    check_jwt(sam, cfn, report)
    check_parameters_and_env(cfn, report)
    scan_for_secrets(args.template, cfn, report)
    print(f"security: {report.passed} checks passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
