"""Deploy template.yaml into the local cloud (ministack) the way `sam package` and `sam deploy` do,
add what ministack leaves out, and write the env file that tests and tools source.

What sam does, done here:
* each function's code is its built binary (`Metadata.BuildProperties.Binary`, from target/debug)
  zipped as `bootstrap` and uploaded to the cloud's S3; the state machine's DefinitionUri is inlined;
* the template goes to S3 and the stack is created from its URL: it is over CloudFormation's
  51,200-character TemplateBody limit, which ministack enforces as AWS does. ministack's
  CloudFormation applies the SAM transform itself.

Added for the local stacks only, never in template.yaml: a fault-plan table (FaultsTable) and its
name in every function's FAULTS_TABLE (faults/src/lib.rs; the functions refuse it in the prod
stage), and the parameter values of LOCAL_PARAMETERS.

Glue where ministack 1.5.33 falls short of AWS (each in ARCHITECTURE.md, "Local cloud"):
* Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON for a function whose LoggingConfig says JSON; ministack
  does not, so those functions get the variable in their environment.
* SAM puts an HttpApi's routes, integrations, JWT authorizer and CORS configuration in the API's
  OpenAPI Body, which ministack ignores: they are created here from the template's HttpApi events
  and properties, with the issuer and audience the stack resolved (its outputs).
* TimeToLiveSpecification is ignored: UpdateTimeToLive for each table that has one.
* `--schedules off` (the test stacks) disables the stack's EventBridge rules: their tests run the
  cleanup themselves with a fixed clock, and a run on the real clock would race them.

`deploy.py update-code` re-zips the functions whose binary changed since the last deploy and calls
UpdateFunctionCode, as `sam sync --code` would (`make dev` runs it after each build).
"""

import argparse
import concurrent.futures
import hashlib
import io
import json
import os
import re
import shlex
import sys
import time
import zipfile
from pathlib import Path

import boto3
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
CODE_BUCKET = "local-cloud-artifacts"
# Parameter values of the local stacks, where the template's defaults suit AWS but make tests wait.
LOCAL_PARAMETERS = {
    # A failed notification comes back after 10 s instead of 90 s, so a message reaches NotifyDlq
    # in half a minute: the least AWS accepts (the notify function's timeout).
    "NotifyQueueVisibilityTimeout": "10",
    # The same for a product snapshot sync-product failed on (ProductQueue -> ProductDlq).
    "ProductQueueVisibilityTimeout": "10",
    # A local web client's origin (Vite's default port), so the API's CORS answers can be tested.
    "CorsAllowedOrigins": "http://localhost:5173",
}
FAULTS_TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    },
}


def session():
    return boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)


def binaries_of(template: dict) -> dict:
    """{logical id: binary name} of every function."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if not binary:
                raise SystemExit(f"deploy: {logical_id} has no Metadata.BuildProperties.Binary")
            found[logical_id] = binary
    return found


def zip_bootstrap(binary: Path) -> bytes:
    """The binary as `bootstrap` in a zip, executable, as `sam build` packs a provided.al2023 function.
    Stored, not deflated: the debug binaries are 40 MB each and this runs on every stack start."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        entry = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        entry.external_attr = 0o755 << 16
        archive.writestr(entry, binary.read_bytes())
    return buffer.getvalue()


def package(template: dict, binaries_dir: Path, s3) -> dict:
    """Uploads every function's zip; returns {binary: (bucket, key)}."""
    missing = [b for b in set(binaries_of(template).values()) if not (binaries_dir / b).is_file()]
    if missing:
        raise SystemExit(f"deploy: {', '.join(sorted(missing))} not in {binaries_dir}: run 'make build' first")

    def upload(binary):
        code = zip_bootstrap(binaries_dir / binary)
        key = f"functions/{binary}-{hashlib.sha256(code).hexdigest()[:16]}.zip"
        s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=code)
        return binary, key

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return dict(pool.map(upload, sorted(set(binaries_of(template).values()))))


def packaged_template(template_path: Path, keys: dict, faults: bool) -> dict:
    template = yaml_parse(template_path.read_text())
    template["Globals"]["Function"].pop("CodeUri", None)
    binaries = binaries_of(template)
    for logical_id, resource in template["Resources"].items():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = {"Bucket": CODE_BUCKET, "Key": keys[binaries[logical_id]]}
            # Lambda sets AWS_LAMBDA_LOG_FORMAT for a function logging JSON (lambda_runtime's
            # subscriber reads it); ministack does not, so the variable is given here.
            if props.get("LoggingConfig", {}).get("LogFormat") == "JSON":
                variables = props.setdefault("Environment", {}).setdefault("Variables", {})
                variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        elif resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((template_path.parent / props.pop("DefinitionUri")).read_text())
    if faults:
        template["Resources"]["FaultsTable"] = FAULTS_TABLE
        variables = template["Globals"]["Function"].setdefault("Environment", {}).setdefault("Variables", {})
        variables["FAULTS_TABLE"] = {"Ref": "FaultsTable"}
    return template


def create_stack(cloudformation, s3, stack: str, template: dict, parameters: dict):
    s3.put_object(Bucket=CODE_BUCKET, Key=f"{stack}.template.json", Body=json.dumps(template).encode())
    endpoint = cloudformation.meta.endpoint_url
    cloudformation.create_stack(
        StackName=stack,
        TemplateURL=f"{endpoint}/{CODE_BUCKET}/{stack}.template.json",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    while True:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS"):
            break
        time.sleep(0.2)
    if described["StackStatus"] != "CREATE_COMPLETE":
        for event in cloudformation.describe_stack_events(StackName=stack)["StackEvents"]:
            if event["ResourceStatus"].endswith("FAILED"):
                print(f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason')}", file=sys.stderr)
        raise SystemExit(f"deploy: stack {stack} ended {described['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def http_api_routes(template: dict):
    """(api logical id, function logical id, "METHOD /path", auth) of every HttpApi event."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            api = props.get("ApiId", {}).get("Ref") if isinstance(props.get("ApiId"), dict) else None
            yield api, logical_id, f"{props['Method'].upper()} {props['Path']}", props.get("Auth")


def serve_http_api(template: dict, physical: dict, outputs: dict, apigateway, awslambda):
    """Routes, integrations and the JWT authorizer of each HttpApi, as SAM's OpenAPI Body has them."""
    routes = 0
    authorizers = {}
    for api, function, route_key, auth in http_api_routes(template):
        api = api or next(l for l, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::HttpApi")
        api_id = physical[api]
        api_auth = template["Resources"][api]["Properties"].get("Auth", {})
        authorizer_name = (auth or {}).get("Authorizer", api_auth.get("DefaultAuthorizer"))
        route = {"ApiId": api_id, "RouteKey": route_key}
        if authorizer_name and authorizer_name != "NONE":
            if (api_id, authorizer_name) not in authorizers:
                source = api_auth["Authorizers"][authorizer_name]
                # The template's issuer and audience are intrinsics (the stack's own user pool or a
                # parameter); the stack resolved them into its outputs.
                authorizers[(api_id, authorizer_name)] = apigateway.create_authorizer(
                    ApiId=api_id,
                    Name=authorizer_name,
                    AuthorizerType="JWT",
                    IdentitySource=[source.get("IdentitySource", "$request.header.Authorization")],
                    JwtConfiguration={"Issuer": outputs["JwtIssuer"], "Audience": [outputs["JwtAudience"]]},
                )["AuthorizerId"]
            route.update(AuthorizationType="JWT", AuthorizerId=authorizers[(api_id, authorizer_name)])
        arn = awslambda.get_function_configuration(FunctionName=physical[function])["FunctionArn"]
        integration = apigateway.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0"
        )["IntegrationId"]
        apigateway.create_route(**route, Target=f"integrations/{integration}")
        routes += 1
    return routes


def resolve(node, parameters: dict, conditions: dict):
    """The few intrinsics an HttpApi's CorsConfiguration uses: Ref to a parameter, Fn::If on a
    condition given, Fn::Split."""
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return parameters.get(value, node)
        if key == "Fn::If":
            condition, yes, no = value
            return resolve(yes if conditions[condition] else no, parameters, conditions)
        if key == "Fn::Split":
            separator, text = value
            return resolve(text, parameters, conditions).split(separator)
    if isinstance(node, dict):
        return {k: resolve(v, parameters, conditions) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, parameters, conditions) for v in node]
    return node


def serve_cors(template: dict, physical: dict, parameters: dict, apigateway) -> int:
    """Each HttpApi's CorsConfiguration (HasCorsOrigins: a non-empty CorsAllowedOrigins)."""
    conditions = {"HasCorsOrigins": parameters.get("CorsAllowedOrigins", "") != ""}
    configured = 0
    for logical_id, resource in template["Resources"].items():
        cors = resource.get("Properties", {}).get("CorsConfiguration")
        if resource["Type"] != "AWS::Serverless::HttpApi" or cors is None:
            continue
        cors = resolve(cors, parameters, conditions)
        if cors == {"Ref": "AWS::NoValue"}:
            continue
        apigateway.update_api(ApiId=physical[logical_id], CorsConfiguration=cors)
        configured += 1
    return configured


def enable_ttl(template: dict, physical: dict, dynamodb) -> int:
    enabled = 0
    for logical_id, resource in template["Resources"].items():
        spec = resource.get("Properties", {}).get("TimeToLiveSpecification")
        if resource["Type"] == "AWS::DynamoDB::Table" and spec and spec.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=physical[logical_id],
                TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": True},
            )
            enabled += 1
    return enabled


def env_name(logical_id: str) -> str:
    """OrdersTable -> ORDERS_TABLE, CompensationDlq -> COMPENSATION_DLQ."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", logical_id).upper()


def function_env_name(binary: str) -> str:
    """reserve-stock -> FUNCTION_RESERVE_STOCK: the deployed name of the function serving it."""
    return "FUNCTION_" + binary.upper().replace("-", "_")


def write_env(path: Path, env: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items())))
    partial.replace(path)


def deploy(args):
    endpoint = f"http://127.0.0.1:{args.port}"
    aws = session()
    client = lambda service: aws.client(service, endpoint_url=endpoint)  # noqa: E731
    s3, cloudformation, awslambda = client("s3"), client("cloudformation"), client("lambda")
    started = time.monotonic()

    s3.create_bucket(Bucket=CODE_BUCKET)
    plain = yaml_parse(args.template.read_text())
    keys = package(plain, args.binaries, s3)
    template = packaged_template(args.template, keys, faults=True)
    packaged = time.monotonic()
    outputs = create_stack(cloudformation, s3, args.stack, template, {**LOCAL_PARAMETERS, "Stage": "dev"})
    created = time.monotonic()
    resources = cloudformation.list_stack_resources(StackName=args.stack)["StackResourceSummaries"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    kinds = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}

    routes = serve_http_api(template, physical, outputs, client("apigatewayv2"), awslambda)
    cors = serve_cors(template, physical, LOCAL_PARAMETERS, client("apigatewayv2"))
    ttl = enable_ttl(template, physical, client("dynamodb"))
    events = client("events")
    rules = [physical[l] for l, kind in kinds.items() if kind == "AWS::Events::Rule"]
    if args.schedules == "off":
        for rule in rules:
            events.disable_rule(Name=rule)

    env = {}
    binaries = binaries_of(template)
    for logical_id, binary in binaries.items():
        env[function_env_name(binary)] = physical[logical_id]
        configuration = awslambda.get_function_configuration(FunctionName=physical[logical_id])
        env["LOG_GROUP_" + function_env_name(binary).removeprefix("FUNCTION_")] = configuration.get(
            "LoggingConfig", {}
        ).get("LogGroup", f"/aws/lambda/{physical[logical_id]}")
        # What the functions are configured with, so that a tool run with the env file (ordertracker,
        # the tests) sees the same tables, queues and limits.
        variables = dict(configuration["Environment"]["Variables"])
        variables.pop("AWS_LAMBDA_LOG_FORMAT", None)
        for key, value in variables.items():
            if env.get(key, value) != value:
                print(f"deploy: warning: {key} differs between functions; the env file keeps {env[key]!r}")
            env.setdefault(key, value)
    for logical_id, kind in kinds.items():
        if kind == "AWS::DynamoDB::Table":
            env[env_name(logical_id)] = physical[logical_id]
        elif kind == "AWS::SQS::Queue":
            env[f"{env_name(logical_id)}_URL"] = physical[logical_id]
        elif kind == "AWS::SNS::Topic":
            env[f"{env_name(logical_id)}_ARN"] = physical[logical_id]
        elif kind == "AWS::StepFunctions::StateMachine":
            env[f"{env_name(logical_id)}_ARN"] = physical[logical_id]
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        GATEWAY_URL=f"{endpoint}/_aws/execute-api/{outputs['ApiId']}",
        JWT_ISSUER=outputs["JwtIssuer"],
        COGNITO_CLIENT_ID=outputs["JwtAudience"],
        COGNITO_USER_POOL_ID=outputs["UserPoolId"],
        STACK_NAME=args.stack,
        BINARIES_DIR=str(args.binaries.resolve()),
    )
    write_env(args.env_file, env)
    (args.env_file.parent / "code.json").write_text(json.dumps(keys, indent=1) + "\n")
    print(
        f"deploy: {args.stack}: {len(binaries)} functions packaged in {packaged - started:.1f} s, "
        f"stack created in {created - packaged:.1f} s; {routes} routes, {cors} CORS configuration(s), {ttl} tables with TTL, "
        f"{len(rules)} schedule(s) {'off' if args.schedules == 'off' else 'on'}; {len(env)} variables in {args.env_file}"
    )


def update_code(args):
    """Deploys again each function whose binary changed since the last deploy or update."""
    env = dict(line.split("=", 1) for line in args.env_file.read_text().splitlines() if "=" in line)
    known_path = args.env_file.parent / "code.json"
    known = json.loads(known_path.read_text())
    aws = session()
    awslambda = aws.client("lambda", endpoint_url=f"http://127.0.0.1:{args.port}")
    changed = []
    for binary in sorted(known):
        path = args.binaries / binary
        if not path.is_file():
            continue
        code = zip_bootstrap(path)
        digest = hashlib.sha256(code).hexdigest()[:16]
        if known[binary].endswith(f"-{digest}.zip"):
            continue
        awslambda.update_function_code(FunctionName=shlex.split(env[function_env_name(binary)])[0], ZipFile=code)
        known[binary] = f"functions/{binary}-{digest}.zip"
        changed.append(binary)
    known_path.write_text(json.dumps(known, indent=1) + "\n")
    if changed:
        print(f"deploy: new code for {', '.join(changed)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["deploy", "update-code"])
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--port", type=int, required=True, help="the local cloud's port")
    parser.add_argument("--binaries", type=Path, default=REPO / "target" / "debug")
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--schedules", choices=["on", "off"], default="on")
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    {"deploy": deploy, "update-code": update_code}[args.command](args)


if __name__ == "__main__":
    main()
