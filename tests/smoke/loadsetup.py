"""The users and the product `make load` orders with, made before the load and taken away after.

    loadsetup.py create --out FILE [--stack NAME] [--region R] [--users 20] [--stock 1000000]
        signs in N throwaway users of the stack's user pool, opens each an account with money for
        every order it may place, creates a product LOAD-<run> with the stock, waits until the
        order side prices it, and writes {"api", "sku", "run", "users": [{"name", "token"}]}
    loadsetup.py delete --setup FILE [--stack NAME] [--region R]
        deletes those users (the product and the orders stay, marked LOAD-<run>)

The stack comes from --stack (AWS, your credentials) or from a loaded local env file
(STACK_NAME, AWS_ENDPOINT_URL), as for smoke.py.
"""

import argparse
import json
import sys
import uuid

import smoke


def stack_of(args):
    import boto3

    session = boto3.Session(region_name=args.region)
    stack = args.stack or smoke.os.environ.get("STACK_NAME")
    if not stack:
        sys.exit("loadsetup: --stack is required (or load a local stack's env file)")
    described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    endpoint = smoke.os.environ.get("AWS_ENDPOINT_URL")
    api = f"{endpoint}/_aws/execute-api/{outputs['ApiId']}" if endpoint else outputs["ApiUrl"].rstrip("/")
    return session, outputs, api


def create(args):
    session, outputs, api = stack_of(args)
    run = uuid.uuid4().hex[:8]
    users = smoke.Users(session.client("cognito-idp"), outputs["UserPoolId"], outputs["JwtAudience"], f"load-{run}")
    client = smoke.Api(api)
    admin = users.sign_in("admin", ["admin"])
    sku = f"LOAD-{run}".upper()
    smoke.expect(*client.call(admin, "PUT", f"/products/{sku}", {"name": f"Load test {run}",
                                                                "price": {"amount": 100, "currency": "EUR"}})[:2],
                 201, f"PUT /products/{sku}")
    smoke.expect(*client.call(admin, "POST", f"/products/{sku}/stock", {"delta": args.stock},
                              {"Idempotency-Key": str(uuid.uuid4())})[:2], 200, "POST stock")
    made = []
    for number in range(args.users):
        token = users.sign_in(f"u{number}")
        smoke.expect(*client.call(token, "POST", "/billing/accounts", {"currency": "EUR"})[:2], 201, "open account")
        smoke.expect(*client.call(token, "POST", "/billing/deposit", {"amount": 100_000_000, "currency": "EUR"},
                                  {"Idempotency-Key": str(uuid.uuid4())})[:2], 201, "deposit")
        made.append({"name": users.created[-1], "token": token})
    probe = made[0]["token"]
    smoke.until(f"{sku} in the order side's price view",
                lambda: client.call(probe, "PUT", f"/cart/items/{sku}", {"quantity": 1})[0] == 200)
    client.call(probe, "DELETE", "/cart")
    with open(args.out, "w") as out:
        json.dump({"api": api, "sku": sku, "run": run, "admin": users.created[0], "users": made}, out)
    print(f"loadsetup: {len(made)} users with money, {sku} with {args.stock} in stock; setup in {args.out}")


def delete(args):
    session, outputs, _ = stack_of(args)
    with open(args.setup) as setup_file:
        setup = json.load(setup_file)
    users = smoke.Users(session.client("cognito-idp"), outputs["UserPoolId"], outputs["JwtAudience"], setup["run"])
    users.created = [setup["admin"]] + [u["name"] for u in setup["users"]]
    users.delete()
    print(f"loadsetup: deleted {len(users.created)} users of run {setup['run']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["create", "delete"])
    parser.add_argument("--stack")
    parser.add_argument("--region")
    parser.add_argument("--out")
    parser.add_argument("--setup")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--stock", type=int, default=1_000_000)
    args = parser.parse_args()
    try:
        {"create": create, "delete": delete}[args.command](args)
    except smoke.Failed as failure:
        sys.exit(f"loadsetup: {failure}")


if __name__ == "__main__":
    main()
