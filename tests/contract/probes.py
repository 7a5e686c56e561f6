"""Hand-made requests that schemathesis does not generate, checked against openapi.yaml.

Each probe sends one request to the API at $GATEWAY_URL and validates the answer with schemathesis'
checks against the operation in openapi.yaml (no 5xx, a documented status code, content type, headers
and body schema), plus the status the probe expects:

- forged page cursors: valid base64url JSON naming some key attributes, the caller's own partition
  or another's. Random strings (what schemathesis generates) fail to decode; these get further, to the
  store, and must still be answered 200 or 400, never 500;
- bodies over 64 KiB on every route that takes a body: 413 (schemathesis never sends one that large);
- admin routes with a customer's token: 403 (schemathesis uses the admin token there).

Usage: probes.py OPENAPI  (with GATEWAY_URL, CONTRACT_USER, CONTRACT_USER_TOKEN, CONTRACT_ADMIN_TOKEN)
Prints one line per probe and `probes: N passed, M failed`; exit status 1 when any failed.
"""

import base64
import json
import os
import sys

import requests
import schemathesis
from schemathesis.core.failures import FailureGroup

OVERSIZED = b" " * (70 * 1024) + b"{}"
ORDER_ID = "019a4b1e-7c2d-7f3a-9b1c-2d3e4f5a6b7c"


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def probes(user: str):
    """(operation label, case arguments, expected statuses, what it checks)."""
    forged = [
        {"gsi1pk": f"USER#{user}"},
        {"gsi1pk": f"USER#{user}", "pk": "x"},
        {"gsi1pk": f"USER#{user}", "gsi1sk": "ORDER#x"},
        {"gsi1pk": "USER#someone-else", "gsi1sk": "ORDER#x", "pk": "ORDER#x", "sk": "ORDER"},
        {"pk": f"ACCOUNT#{user}"},
        {"pk": f"ACCOUNT#{user}", "sk": "x"},
        {"pk": "ACCOUNT#someone-else", "sk": "TX#x"},
        {"gsi1pk": "PRODUCT"},
        {"gsi1pk": "PRODUCT", "gsi1sk": "SKU-MUG"},
        {"pk": "PRODUCT#SKU-MUG", "sk": "PRODUCT", "gsi1pk": "PRODUCT", "gsi1sk": "SKU-TSHIRT"},
        {"pk": 1},
        ["pk"],
    ]
    for label in ("GET /orders", "GET /products", "GET /billing/transactions"):
        for value in forged:
            yield label, {"query": {"cursor": cursor(value)}}, {200, 400}, f"forged cursor {json.dumps(value)}"
    for label, path_parameters in (
        ("POST /orders", {}),
        ("PUT /products/{sku}", {"sku": "SKU-MUG"}),
        ("POST /products/{sku}/stock", {"sku": "SKU-MUG"}),
        ("POST /billing/accounts", {}),
        ("POST /billing/deposit", {}),
        ("PUT /users/me", {}),
    ):
        yield label, {"path_parameters": path_parameters, "body": OVERSIZED}, {413}, "a 70 KiB body"
    # schemathesis calls admin routes with the admin token only.
    for label, body in (
        ("PUT /products/{sku}", b'{"name":"Mug","price":{"amount":1,"currency":"EUR"}}'),
        ("POST /products/{sku}/stock", b'{"delta":-50}'),
    ):
        arguments = {"path_parameters": {"sku": "SKU-MUG"}, "body": body, "admin": False}
        yield label, arguments, {403}, "a customer's token"
    for label in ("POST /admin/orders/{id}/ship", "POST /admin/orders/{id}/deliver"):
        yield label, {"path_parameters": {"id": ORDER_ID}, "admin": False}, {403}, "a customer's token"
    day = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}
    yield "GET /admin/audit", {"query": day, "admin": False}, {403}, "a customer's token"


def main() -> int:
    base_url = os.environ["GATEWAY_URL"]
    user = os.environ.get("CONTRACT_USER", "alice")
    tokens = {False: os.environ["CONTRACT_USER_TOKEN"], True: os.environ["CONTRACT_ADMIN_TOKEN"]}
    schema = schemathesis.openapi.from_path(sys.argv[1])
    passed = failed = 0
    for label, arguments, expected, what in probes(user):
        try:
            operation = schema.find_operation_by_label(label)
        except LookupError:
            operation = None
        if operation is None:
            print(f"  SKIP {label}: not in the OpenAPI document")
            continue
        admin = arguments.pop("admin", "admin" in (operation.tags or []))
        headers = {"Authorization": f"Bearer {tokens[admin]}"}
        body = arguments.pop("body", None)
        if body is not None:
            headers["Content-Type"] = "application/json"
        case = operation.Case(headers=headers, **arguments)
        problems = []
        try:
            if body is None:
                response = case.call(base_url=base_url)
            else:
                # Raw bytes: schemathesis would serialize a Python body as JSON.
                response = requests.request(
                    operation.method.upper(), base_url + case.formatted_path, headers=headers, data=body, timeout=35
                )
                response = schemathesis.Response.from_requests(response, verify=True)
            try:
                case.validate_response(response)
            except FailureGroup as group:
                for e in group.exceptions:
                    message = " ".join(getattr(e, "message", "").split())[:300]
                    problems.append(f"{getattr(e, 'title', type(e).__name__)}" + (f": {message}" if message else ""))
            except AssertionError as error:
                problems.append(str(error)[:300])
            if response.status_code not in expected:
                problems.append(f"expected {sorted(expected)}, got {response.status_code}")
            if problems:
                problems.append("answer: " + " ".join(response.text[:400].split()))
            status = response.status_code
        except Exception as error:  # the request itself failed
            problems.append(f"{type(error).__name__}: {error}")
            status = "-"
        request = f"{operation.method.upper()} {case.formatted_path}" + (
            f"?{'&'.join(f'{k}={v}' for k, v in (case.query or {}).items())}" if case.query else ""
        )
        if problems:
            failed += 1
            print(f"  FAIL {label} ({what}): {request} -> {status}")
            for problem in problems:
                print("       " + problem.replace("\n", "\n       "))
        else:
            passed += 1
            print(f"  ok   {label} ({what}) -> {status}")
    print(f"probes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
