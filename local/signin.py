"""Tokens for a local stack's API, from the stack's own Cognito user pool, as on a deployed stack.

    signin.py USER [--group G]... [--scope admin] [--json]

The user is created on first use (AdminCreateUser with a local password, no invitation), added to
the groups given, and signed in (ADMIN_USER_PASSWORD_AUTH). The access token is printed: RS256,
signed with the pool's keys, checked by the API's JWT authorizer (issuer, expiry, client_id), never
by code of ours. The API's user id is the token's `sub`, which Cognito assigns: --json prints
{"user", "sub", "token"}.

A user's Cognito token carries only the pool's own scope, so admin rights come from the `admin`
group, as on AWS; `--scope admin` is kept as another way to ask for it.

Reads AWS_ENDPOINT_URL, COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID from the environment (the
stack's env file). (Not named token.py: a script's directory comes first on sys.path, and a local
`token` module would shadow the standard library's, which `tokenize` and `traceback` import.)
"""

import argparse
import json
import os
import sys

import boto3

# Local only: every local user has it; the pool's password policy accepts it.
PASSWORD = "Local-stack-password-1"


def cognito():
    return boto3.client(
        "cognito-idp",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def sign_in(client, pool: str, app: str, user: str, groups=()) -> dict:
    try:
        client.admin_create_user(UserPoolId=pool, Username=user, TemporaryPassword=PASSWORD, MessageAction="SUPPRESS")
        client.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
    except client.exceptions.UsernameExistsException:
        pass
    for group in groups:
        client.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName=group)
    signed_in = client.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=app,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    attributes = client.admin_get_user(UserPoolId=pool, Username=user)["UserAttributes"]
    sub = next(a["Value"] for a in attributes if a["Name"] == "sub")
    return {"user": user, "sub": sub, "token": signed_in["AccessToken"]}


def main():
    parser = argparse.ArgumentParser(description="Print an access token of the local stack's user pool.")
    parser.add_argument("user")
    parser.add_argument("--group", action="append", default=[], help="adds the user to a group (repeatable)")
    parser.add_argument("--scope", action="append", default=[], choices=["admin"], help="admin: the admin group")
    parser.add_argument("--json", action="store_true", help='print {"user", "sub", "token"}')
    args = parser.parse_args()
    for name in ("AWS_ENDPOINT_URL", "COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID"):
        if not os.environ.get(name):
            sys.exit(f"token: {name} is not set: start a stack first (make dev)")
    groups = sorted(set(args.group) | {"admin" for _ in args.scope})
    signed_in = sign_in(
        cognito(), os.environ["COGNITO_USER_POOL_ID"], os.environ["COGNITO_CLIENT_ID"], args.user, groups
    )
    print(json.dumps(signed_in) if args.json else signed_in["token"])


if __name__ == "__main__":
    main()
