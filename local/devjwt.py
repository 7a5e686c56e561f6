"""Development JWTs for the local gateway: HS256, signed with a secret generated once per checkout.

The secret lives in local/.state/jwt-secret (gitignored), so tokens from `make token` work against any
local stack of this checkout and nowhere else.

Usage: devjwt.py USER [--group admin] [--scope orders/admin]   prints a token valid for 12 hours
(Not named token.py: a script directory lands first on sys.path, and a local `token` module would
shadow the standard library's, which `tokenize`/`traceback` import.)
"""

import argparse
import os
import secrets
import time
from pathlib import Path

import jwt

SECRET_FILE = Path(__file__).resolve().parent / ".state" / "jwt-secret"
ISSUER = "http://127.0.0.1/local-dev-auth"
AUDIENCE = "order-saga-local"
LIFETIME_SECONDS = 12 * 3600


def secret() -> str:
    if not SECRET_FILE.exists():
        SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when two processes race here, one creates the secret and the other reads it.
        try:
            fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass
    return SECRET_FILE.read_text().strip()


def issue(user: str, groups=(), scopes=()) -> str:
    now = int(time.time())
    claims = {"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME_SECONDS}
    if groups:
        claims["cognito:groups"] = list(groups)
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, secret(), algorithm="HS256")


def verify(token: str) -> dict:
    """The token's claims; raises jwt.InvalidTokenError when it is not one of ours or has expired."""
    return jwt.decode(
        token,
        secret(),
        algorithms=["HS256"],
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"require": ["sub", "iss", "aud", "exp", "iat"]},
    )


def main():
    parser = argparse.ArgumentParser(description="Print a development JWT for the local gateway.")
    parser.add_argument("user")
    parser.add_argument("--group", action="append", default=[], help="adds to cognito:groups (repeatable)")
    parser.add_argument("--scope", action="append", default=[], help="adds to the scope claim (repeatable)")
    args = parser.parse_args()
    print(issue(args.user, args.group, args.scope))


if __name__ == "__main__":
    main()
