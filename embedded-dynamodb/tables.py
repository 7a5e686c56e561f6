"""The DynamoDB tables of template.yaml as CreateTable requests, for the in-process engine the
adapters' contract tests run on (embedded-dynamodb). Writes tables.json beside this file;
--check fails when it no longer matches the template (`make lint` runs it), so the tests' tables
cannot drift from the deployed ones.

Only what decides how requests behave is kept: keys, attribute types and the global secondary
indexes. Billing, streams, TTL and encryption change nothing a contract test can see.
"""

import json
import pathlib
import sys

from samtranslator.yaml_helper import yaml_parse  # reads CloudFormation's !Ref/!Sub tags

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATE = HERE.parent / "template.yaml"
OUT = HERE / "tables.json"


def tables(template):
    out = {}
    for name, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        table = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
        }
        indexes = [
            {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")}
            for gsi in props.get("GlobalSecondaryIndexes", [])
        ]
        if indexes:
            table["GlobalSecondaryIndexes"] = indexes
        out[name] = table
    return out


def main():
    text = json.dumps(tables(yaml_parse(TEMPLATE.read_text())), indent=2) + "\n"
    if sys.argv[1:] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(HERE.parent)} does not match template.yaml's tables: run "
                  f"`.venv/bin/python {pathlib.Path(__file__).relative_to(HERE.parent)}`")
            return 1
        print(f"{len(json.loads(text))} tables match template.yaml")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
