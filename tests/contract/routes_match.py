"""Fails when template.yaml and openapi.yaml disagree about the routes.

A route is a method and a path. template.yaml has one per `HttpApi` event of an
`AWS::Serverless::Function` (what API Gateway and the local gateway serve); openapi.yaml has one per
operation under `paths`. Every route must be in both, spelled the same (path parameters too).

Usage: routes_match.py [--template template.yaml] [--openapi openapi.yaml]
Exit status: 0 when they match, 1 when they do not, 2 when a file cannot be read.
"""

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


CfnLoader.add_multi_constructor("!", _any_tag)


def template_routes(path: Path) -> dict:
    """{(METHOD, path): where} for every HttpApi event in the template."""
    template = yaml.load(path.read_text(), Loader=CfnLoader) or {}
    routes = {}
    for name, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            method = str(props.get("Method", "ANY")).upper()
            route_path = props.get("Path", "$default")
            routes[(method, route_path)] = f"{name}.Events.{event_name}"
    return routes


def openapi_routes(path: Path) -> dict:
    """{(METHOD, path): operationId} for every operation in the OpenAPI document."""
    spec = yaml.safe_load(path.read_text()) or {}
    routes = {}
    for route_path, item in (spec.get("paths") or {}).items():
        for method in OPENAPI_METHODS:
            if isinstance(item, dict) and method in item:
                routes[(method.upper(), route_path)] = item[method].get("operationId", "?")
    return routes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--openapi", type=Path, default=REPO / "openapi.yaml")
    args = parser.parse_args()
    try:
        deployed = template_routes(args.template)
        published = openapi_routes(args.openapi)
    except (OSError, yaml.YAMLError) as error:
        print(f"routes_match: cannot read the routes: {error}", file=sys.stderr)
        return 2

    missing_in_spec = sorted(set(deployed) - set(published))
    missing_in_template = sorted(set(published) - set(deployed))
    for method, route in missing_in_spec:
        print(f"routes_match: {method} {route} ({deployed[(method, route)]}) is in "
              f"{args.template.name} but not in {args.openapi.name}")
    for method, route in missing_in_template:
        print(f"routes_match: {method} {route} (operationId {published[(method, route)]}) is in "
              f"{args.openapi.name} but not in {args.template.name}")
    if missing_in_spec or missing_in_template:
        print(f"routes_match: FAIL: {len(missing_in_spec) + len(missing_in_template)} route(s) differ "
              f"between {args.template.name} and {args.openapi.name}")
        return 1
    if not deployed:
        print(f"routes_match: FAIL: no HttpApi routes found in {args.template.name}")
        return 1
    print(f"routes_match: ok, {len(deployed)} routes in both {args.template.name} and {args.openapi.name}: "
          + ", ".join(f"{m} {p}" for m, p in sorted(deployed, key=lambda r: (r[1], r[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
