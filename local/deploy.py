"""Deploy template.yaml into the local moto cloud and write the env file that tests and functions source.

Steps: translate SAM to CloudFormation with aws-sam-translator, adapt it to what moto can create,
create the stack, then repair what moto gets wrong:
* Functions need code in S3: every function points at one dummy zip. Their real code is the cargo
  binary named by `Metadata.BuildProperties.Binary`, recorded as the function's `local:binary` tag,
  which launcher.py reads to invoke it on `cargo lambda watch`.
* moto ignores `DefinitionSubstitutions`: a state machine is created with a placeholder and gets its
  substituted definition once the stack exists. This also checks that it landed in moto's executing
  backend (launcher.py arranges that).
* moto skips some resource types without a word. `AWS::SNS::Subscription` is created here through the
  API (and its filter policy and raw delivery read back); other skipped types are listed in the output.
* moto's SQS event source mapping is not Lambda's: it invokes inside SendMessage, one record at a time,
  and ignores batchItemFailures. Every mapping moto made is switched off and deleted, and written to the
  pollers file instead, which local/poller.py serves the way Lambda does.
* Template parameters get the local values in LOCAL_PARAMETERS (short timeouts, so tests run quickly).
Values that exist only once the stack does (ARNs, queue URLs) are resolved by moto itself, through
extra stack outputs that stand in for the intrinsics.

Usage: deploy.py --stack NAME --moto-port 4566 --lambda-port 9000 --gateway-port 3000 --env-file local/.state/dev/env \
                 --binaries-file local/.state/dev/binaries --pollers-file local/.state/dev/pollers.json
"""

import argparse
import io
import json
import os
import re
import shlex
import zipfile
from pathlib import Path

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

import devjwt

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
CODE_BUCKET = "local-cloud-code"
CODE_KEY = "placeholder.zip"
BINARY_TAG = "local:binary"
PLACEHOLDER_DEFINITION = json.dumps({"StartAt": "Deploying", "States": {"Deploying": {"Type": "Pass", "End": True}}})
# Resource types that moto 5.2.5 accepts in a stack but never creates. The HTTP API is served by
# gateway.py; alarms, queue policies and schedules have no local effect.
IGNORED_TYPES = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::Schedule",
}
# Parameter values of the local stacks, where the template's defaults suit AWS but would make tests wait.
LOCAL_PARAMETERS = {
    # A failed notification comes back after 2 s instead of 90 s (so a message reaches NotifyDlq in
    # seconds). The debug binaries answer well within it; a slower run only sees an early redelivery.
    "NotifyQueueVisibilityTimeout": "2",
    # The same for a product snapshot sync-product failed on (ProductQueue -> ProductDlq).
    "ProductQueueVisibilityTimeout": "2",
}


class NoManagedPolicies:
    """aws-sam-translator asks IAM for managed policy ARNs only for names it does not bundle."""

    def load(self):
        return {}


def sam_to_cfn(template_path: Path) -> dict:
    sam = yaml_parse(template_path.read_text())
    sam.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in sam["Resources"].values():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = {"Bucket": CODE_BUCKET, "Key": CODE_KEY}
        elif resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            # `sam deploy` uploads a local DefinitionUri; inlining it is the local equivalent.
            props["Definition"] = json.loads((template_path.parent / props.pop("DefinitionUri")).read_text())
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # the translator resolves AWS::Region from it
    return transform(sam, {}, NoManagedPolicies())


def defer_definitions(cfn: dict) -> dict:
    """Create state machines with a placeholder; returns {logical_id: (definition, substitutions)}.

    moto ignores DefinitionSubstitutions, and its Fn::Sub (Python's string.Template) would turn the
    ASL's `$$.` context paths into `$.`, so the substitution happens here once the values exist."""
    deferred = {}
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and "DefinitionString" in props:
            definition = props["DefinitionString"]
            if isinstance(definition, dict) and "Fn::Join" in definition:  # how the translator inlines JSON
                separator, parts = definition["Fn::Join"]
                definition = separator.join(parts)
            substitutions = resolve_later(cfn, props.pop("DefinitionSubstitutions", {}))
            props["DefinitionString"] = PLACEHOLDER_DEFINITION
            deferred[logical_id] = (definition, substitutions)
    return deferred


def function_binaries(cfn: dict) -> dict:
    binaries = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise SystemExit(f"deploy: {logical_id} has no Metadata.BuildProperties.Binary")
            binaries[logical_id] = binary
    return binaries


def resolve_later(cfn: dict, node):
    """Swap each intrinsic in node for a "<<name>>" placeholder and a stack output that moto resolves."""
    outputs = cfn.setdefault("Outputs", {})
    if isinstance(node, dict) and len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
        name = f"LocalCloudResolve{len(outputs)}"
        outputs[name] = {"Value": node}
        return f"<<{name}>>"
    if isinstance(node, dict):
        return {key: resolve_later(cfn, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_later(cfn, value) for value in node]
    return node


def fill(node, outputs: dict):
    if isinstance(node, str):
        return re.sub(r"<<(LocalCloudResolve\d+)>>", lambda m: outputs[m.group(1)], node)
    if isinstance(node, dict):
        return {key: fill(value, outputs) for key, value in node.items()}
    if isinstance(node, list):
        return [fill(value, outputs) for value in node]
    return node


def subscribe(sns, props: dict):
    attributes = {}
    for name in ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
        if name in props:
            value = props[name]
            if isinstance(value, bool):
                value = str(value).lower()
            attributes[name] = value if isinstance(value, str) else json.dumps(value)
    return sns.subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


def check_subscription(sns, arn: str, props: dict):
    """moto skips AWS::SNS::Subscription, so a wrong or missing attribute would only show as messages
    that go where AWS would not send them: read back what the subscription carries."""
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    for name in ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy"):
        if name not in props:
            continue
        want, got = props[name], attributes.get(name)
        if name == "FilterPolicy":
            want, got = (want if isinstance(want, dict) else json.loads(want)), json.loads(got or "null")
        elif isinstance(want, bool):
            want = str(want).lower()
        if got != want:
            raise SystemExit(f"deploy: subscription {arn} has {name} {got!r}, the template says {want!r}")


def take_over_event_source_mappings(awslambda, sqs, binaries_by_function: dict) -> list:
    """Switch off and delete every event source mapping moto made; return them for local/poller.py.

    Disabled first: moto's queue keeps its own reference to a mapping and would go on delivering to a
    deleted one."""
    pollers = []
    for page in awslambda.get_paginator("list_event_source_mappings").paginate():
        for mapping in page["EventSourceMappings"]:
            awslambda.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            awslambda.delete_event_source_mapping(UUID=mapping["UUID"])
            source, function_name = mapping["EventSourceArn"], mapping["FunctionArn"].split(":")[6]
            if ":dynamodb:" in source and "/stream/" in source:
                pollers.append(
                    {
                        "kind": "stream",
                        "function": binaries_by_function[function_name],
                        "functionName": function_name,
                        "streamArn": source,
                        "region": source.split(":")[3],
                        "batchSize": mapping.get("BatchSize") or 100,
                        "maximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds") or 0,
                        "startingPosition": mapping.get("StartingPosition") or "TRIM_HORIZON",
                        "maximumRetryAttempts": mapping.get("MaximumRetryAttempts", -1),
                        "onFailure": ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
                        "reportBatchItemFailures": "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
                    }
                )
                continue
            if not source.startswith("arn:aws:sqs:"):
                print(f"  note: event source mapping {source} -> {function_name} removed; nothing serves it locally")
                continue
            pollers.append(
                {
                    "kind": "queue",
                    "function": binaries_by_function[function_name],  # the name cargo lambda serves
                    "functionName": function_name,
                    "queueArn": source,
                    "queueUrl": sqs.get_queue_url(QueueName=source.split(":")[5])["QueueUrl"],
                    "region": source.split(":")[3],
                    "batchSize": mapping.get("BatchSize") or 10,
                    "maximumBatchingWindowInSeconds": mapping.get("MaximumBatchingWindowInSeconds") or 0,
                    "reportBatchItemFailures": "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
                }
            )
    return pollers


def env_name(logical_id: str) -> str:
    """OrdersTable -> ORDERS_TABLE, CompensationDlq -> COMPENSATION_DLQ."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", logical_id).upper()


def create_faults_table(dynamodb, stack: str) -> str:
    """The fault plans the saga's steps read in tests (shared/src/faults.rs). Local only: the
    template has no such table, and the functions refuse one in the prod stage."""
    name = f"{stack}-faults"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    print(f"  faults table (local only) -> {name}")
    return name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--lambda-port", type=int, required=True)
    parser.add_argument("--gateway-port", type=int, required=True)
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--binaries-file", type=Path, required=True, help="gets the functions' binaries, one a line")
    parser.add_argument("--pollers-file", type=Path, required=True, help="gets the SQS event source mappings (JSON)")
    args = parser.parse_args()

    endpoint = f"http://127.0.0.1:{args.moto_port}"
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    client = lambda service: session.client(service, endpoint_url=endpoint)  # noqa: E731
    cloudformation, awslambda, sfn, sns, sqs = (
        client(s) for s in ("cloudformation", "lambda", "stepfunctions", "sns", "sqs")
    )

    cfn = sam_to_cfn(args.template)
    binaries = function_binaries(cfn)
    definitions = defer_definitions(cfn)
    subscriptions = {
        logical_id: resolve_later(cfn, resource.get("Properties", {}))
        for logical_id, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::SNS::Subscription"
    }

    s3 = client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as archive:
        archive.writestr("bootstrap", "# the code runs on cargo lambda watch, see local/launcher.py\n")
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=placeholder.getvalue())

    cloudformation.create_stack(
        StackName=args.stack,
        TemplateBody=json.dumps(cfn),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in LOCAL_PARAMETERS.items()],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=args.stack, WaiterConfig={"Delay": 1})
    stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=args.stack)["StackResourceSummaries"]
    }

    env = {}
    for logical_id, binary in binaries.items():
        function = awslambda.get_function(FunctionName=physical[logical_id])["Configuration"]
        awslambda.tag_resource(Resource=function["FunctionArn"], Tags={BINARY_TAG: binary})
        for key, value in function.get("Environment", {}).get("Variables", {}).items():
            if env.get(key, value) != value:
                print(f"deploy: warning: {key} differs between functions; the env file keeps {env[key]!r}")
            env.setdefault(key, value)
        print(f"  function {logical_id} -> {physical[logical_id]} (binary {binary})")

    # Before the subscriptions: nothing may reach a queue while moto's own mappings still deliver.
    pollers = take_over_event_source_mappings(
        awslambda, sqs, {physical[logical_id]: binary for logical_id, binary in binaries.items()}
    )
    for poller in pollers:
        source = poller.get("queueArn") or poller.get("streamArn")
        print(f"  event source mapping {source} -> {poller['function']} (served by local/poller.py)")

    for logical_id, props in subscriptions.items():
        props = fill(props, outputs)
        arn = subscribe(sns, props)
        check_subscription(sns, arn, props)
        print(f"  subscription {logical_id} -> {arn}")

    for logical_id, resource in cfn["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::StepFunctions::StateMachine":
            arn = physical[logical_id]
            if logical_id in definitions:
                definition, substitutions = definitions[logical_id]
                for key, value in fill(substitutions, outputs).items():
                    definition = definition.replace(f"${{{key}}}", value)
                # Also proves the machine is in the executing backend: the other one is invisible here.
                sfn.update_state_machine(stateMachineArn=arn, definition=definition)
            env.setdefault(f"{env_name(logical_id)}_ARN", arn)
            print(f"  state machine {logical_id} -> {arn}")
        elif kind == "AWS::DynamoDB::Table":
            env.setdefault(env_name(logical_id), physical[logical_id])
        elif kind == "AWS::SQS::Queue":
            env.setdefault(f"{env_name(logical_id)}_URL", physical[logical_id])
        elif kind == "AWS::SNS::Topic":
            env.setdefault(f"{env_name(logical_id)}_ARN", physical[logical_id])
        elif logical_id not in physical and kind not in IGNORED_TYPES | {"AWS::SNS::Subscription"}:
            print(f"  note: moto did not create {logical_id} ({kind})")

    env["FAULTS_TABLE"] = create_faults_table(client("dynamodb"), args.stack)

    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        LAMBDA_ENDPOINT_URL=f"http://127.0.0.1:{args.lambda_port}",
        GATEWAY_URL=f"http://127.0.0.1:{args.gateway_port}",
        JWT_SECRET_FILE=str(devjwt.SECRET_FILE),
        JWT_ISSUER=devjwt.ISSUER,
        JWT_AUDIENCE=devjwt.AUDIENCE,
        # The profile's state directory: functions/<binary>.log holds each function's stdout.
        STACK_STATE_DIR=str(args.env_file.parent.resolve()),
    )
    args.env_file.parent.mkdir(parents=True, exist_ok=True)
    partial = args.env_file.with_suffix(".partial")
    partial.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items())))
    partial.replace(args.env_file)
    args.binaries_file.write_text("".join(f"{binary}\n" for binary in sorted(set(binaries.values()))))
    args.pollers_file.write_text(json.dumps(pollers, indent=2) + "\n")
    print(f"deploy: stack {args.stack} ready, {len(env)} variables in {args.env_file}")


if __name__ == "__main__":
    main()
