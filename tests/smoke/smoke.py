"""`make smoke`: proves that a deployed stack works, from nothing but its name.

It reads the stack's outputs (CloudFormation DescribeStacks), signs three throwaway users in to the
stack's Cognito user pool (a buyer, another buyer, an admin), and through the API:

1. the admin creates a product and stocks it (it reaches the order side's price view by event);
2. the buyer opens an account and deposits money;
3. an order reaches COMPLETED, and its notification and its audit trail are there;
4. a second order is cancelled by the buyer and refunded (the balance comes back);
5. a malformed order is a 400 problem naming the field;
6. the other buyer gets 404 for the buyer's order.

Then it deletes its users (the product and orders stay, marked SMOKE-<run>). Each step prints one
line; the first failure stops it with exit status 1.

    smoke.py --stack order-saga-dev [--region eu-central-1]     against AWS (your credentials)
    smoke.py                                                    against the local stack whose env
                                                                is loaded (STACK_NAME, AWS_ENDPOINT_URL)

It needs only the stack's own outputs: ApiUrl (or ApiId locally), UserPoolId and JwtAudience (the
app client), so it works with the stack's own user pool (no JwtIssuer given).
"""

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3


class Failed(Exception):
    pass


def step(what: str):
    print(f"smoke: ok   {what}", flush=True)


def until(what: str, probe, seconds: float = 60, every: float = 0.5):
    """Polls probe() until it returns something truthy; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise Failed(f"{what}: not within {seconds:.0f} s (last seen: {last!r})")


class Api:
    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def call(self, token: str, method: str, path: str, body=None, headers=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=35) as response:
                status, raw, content_type = response.status, response.read(), response.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, raw, content_type = error.code, error.read(), error.headers.get("Content-Type")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload, content_type


class Users:
    """Throwaway users of the stack's pool, deleted at the end."""

    def __init__(self, cognito, pool: str, client: str, run: str):
        self.cognito, self.pool, self.client, self.run = cognito, pool, client, run
        self.created = []
        # Meets the template's password policy (12+, upper, lower, digit).
        self.password = f"Sm0ke-{secrets.token_urlsafe(12)}"

    def sign_in(self, role: str, groups=()) -> str:
        name = f"smoke-{self.run}-{role}"
        self.cognito.admin_create_user(
            UserPoolId=self.pool, Username=name, TemporaryPassword=self.password, MessageAction="SUPPRESS"
        )
        self.created.append(name)
        self.cognito.admin_set_user_password(UserPoolId=self.pool, Username=name, Password=self.password, Permanent=True)
        for group in groups:
            self.cognito.admin_add_user_to_group(UserPoolId=self.pool, Username=name, GroupName=group)
        result = self.cognito.admin_initiate_auth(
            UserPoolId=self.pool,
            ClientId=self.client,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": self.password},
        )
        return result["AuthenticationResult"]["AccessToken"]

    def delete(self):
        for name in self.created:
            try:
                self.cognito.admin_delete_user(UserPoolId=self.pool, Username=name)
            except Exception as error:  # noqa: BLE001 - cleanup goes on, and says what it left
                print(f"smoke: could not delete user {name}: {error}", file=sys.stderr)


def expect(status, payload, want, what):
    if status != want:
        raise Failed(f"{what}: answered {status}, expected {want}: {payload}")
    return payload


def order_and_wait(api: Api, token: str, sku: str, quantity: int, status: str):
    placed = expect(*api.call(token, "POST", "/orders", {"items": [{"sku": sku, "quantity": quantity}]},
                              {"Idempotency-Key": str(uuid.uuid4())})[:2], 202, "POST /orders")
    order_id = placed["orderId"]
    order = until(f"order {order_id} {status}",
                  lambda: (lambda s, o, _: o if s == 200 and o.get("status") == status else None)(
                      *api.call(token, "GET", f"/orders/{order_id}")), seconds=120)
    return order_id, placed["total"]["amount"], order


def smoke(api: Api, users: Users, run: str):
    admin = users.sign_in("admin", ["admin"])
    buyer = users.sign_in("buyer")
    other = users.sign_in("other")
    step("three users signed in to the stack's user pool (one in the admin group)")

    sku = f"SMOKE-{run}".upper()
    expect(*api.call(admin, "PUT", f"/products/{sku}", {"name": f"Smoke test {run}",
                                                       "price": {"amount": 1500, "currency": "EUR"}})[:2],
           201, f"PUT /products/{sku}")
    expect(*api.call(admin, "POST", f"/products/{sku}/stock", {"delta": 10},
                     {"Idempotency-Key": str(uuid.uuid4())})[:2], 200, f"POST /products/{sku}/stock")
    step(f"the admin created {sku} at 15.00 EUR and stocked 10")

    expect(*api.call(buyer, "POST", "/billing/accounts", {"currency": "EUR"})[:2], 201, "POST /billing/accounts")
    expect(*api.call(buyer, "POST", "/billing/deposit", {"amount": 10_000, "currency": "EUR"},
                     {"Idempotency-Key": str(uuid.uuid4())})[:2], 201, "POST /billing/deposit")
    step("the buyer opened an account and deposited 100.00 EUR")

    # The order side prices from its view of the catalog, which ProductUpdated keeps current:
    # until it has the product, the SKU is unknown there (422).
    until(f"{sku} in the order side's price view",
          lambda: api.call(buyer, "PUT", f"/cart/items/{sku}", {"quantity": 1})[0] == 200, seconds=60)
    expect(*api.call(buyer, "DELETE", "/cart")[:2], 200, "DELETE /cart")
    order_id, total, order = order_and_wait(api, buyer, sku, 2, "COMPLETED")
    step(f"order {order_id} COMPLETED ({total / 100:.2f} EUR)")

    until(f"the OrderCompleted notification of {order_id}",
          lambda: any(n.get("orderId") == order_id and n.get("type") == "OrderCompleted"
                      for n in (api.call(buyer, "GET", "/notifications")[1] or {}).get("items", [])))
    step("the buyer was notified (GET /notifications)")
    until(f"the audit trail of {order_id}",
          lambda: any(e.get("after", {}).get("status") == "COMPLETED"
                      for e in (api.call(buyer, "GET", f"/orders/{order_id}")[1] or {}).get("trail", [])))
    step("the order's audit trail records its completion (GET /orders/{id})")

    cancelled_id, cancelled_total, _ = order_and_wait(api, buyer, sku, 1, "COMPLETED")
    status, _, _ = api.call(buyer, "POST", f"/orders/{cancelled_id}/cancel")
    if status not in (200, 202):
        raise Failed(f"POST /orders/{cancelled_id}/cancel: answered {status}")
    until(f"order {cancelled_id} CANCELLED",
          lambda: (api.call(buyer, "GET", f"/orders/{cancelled_id}")[1] or {}).get("status") == "CANCELLED",
          seconds=120)
    balance = until("the refund in the balance",
                    lambda: (lambda b: b if b == 10_000 - total else None)(
                        (api.call(buyer, "GET", "/billing/balance")[1] or {}).get("balance", {}).get("amount")))
    step(f"order {cancelled_id} cancelled and refunded: balance {balance / 100:.2f} EUR")

    status, problem, content_type = api.call(buyer, "POST", "/orders", {"items": "none"})
    fields = [e.get("field") for e in (problem or {}).get("errors", [])] if isinstance(problem, dict) else []
    if status != 400 or content_type != "application/problem+json" or "items" not in fields:
        raise Failed(f"a malformed order: answered {status} {content_type} {problem}")
    step("a malformed order is a 400 problem naming `items`")

    status, _, _ = api.call(other, "GET", f"/orders/{order_id}")
    if status != 404:
        raise Failed(f"another user's GET /orders/{order_id}: answered {status}, expected 404")
    step("another user's order is a 404")


def main() -> int:
    parser = argparse.ArgumentParser(description="Prove that a deployed stack works.")
    parser.add_argument("--stack", default=os.environ.get("STACK_NAME"), help="the stack's name")
    parser.add_argument("--region", default=None)
    args = parser.parse_args()
    if not args.stack:
        parser.error("--stack is required (or load a local stack's env file)")
    session = boto3.Session(region_name=args.region)
    cloudformation = session.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [k for k in ("UserPoolId", "JwtAudience") if k not in outputs]
    if missing:
        print(f"smoke: the stack has no {', '.join(missing)} output: deployed with an identity provider of "
              "your own (JwtIssuer); sign in there and call the API by hand", file=sys.stderr)
        return 2
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    base = f"{endpoint}/_aws/execute-api/{outputs['ApiId']}" if endpoint else outputs["ApiUrl"]
    run = uuid.uuid4().hex[:8]
    print(f"smoke: stack {args.stack} ({stack['StackStatus']}), API {base}, run {run}")
    users = Users(session.client("cognito-idp"), outputs["UserPoolId"], outputs["JwtAudience"], run)
    started = time.monotonic()
    try:
        smoke(Api(base), users, run)
    except Failed as failure:
        print(f"smoke: FAIL {failure}", file=sys.stderr)
        return 1
    finally:
        users.delete()
    print(f"smoke: the deployment works ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
