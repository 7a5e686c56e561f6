"""A local stand-in for the API Gateway HTTP API of template.yaml.

It serves the routes of the template's `HttpApi` function events, checks JWTs the way the HTTP API's
JWT authorizer would (with the local dev issuer, audience and HS256 secret of devjwt.py instead of the
real identity provider), sends the function a payload format 2.0 event on `cargo lambda watch`, and
turns the function's answer back into an HTTP response.

Usage: gateway.py --port 3000 --lambda-port 9000 [--template template.yaml]
"""

import argparse
import base64
import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from samtranslator.yaml_helper import yaml_parse

import devjwt
import invoke as local_invoke

REPO = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
API_ID = "local"
INTEGRATION_TIMEOUT_SECONDS = 30  # API Gateway's limit for HTTP APIs
# Of cargo lambda's queue per function (invoke.py); past it a request waits, then gets 503.
INVOKE_SHARE = 60
JSON = {"content-type": "application/json"}


class Route:
    def __init__(self, method, path, binary, auth):
        self.method = method.upper()
        self.path = path
        self.binary = binary
        self.auth = auth
        self.key = "$default" if path is None else f"{self.method} {path}"
        literal = path or ""
        pattern = re.sub(
            r"\\\{([A-Za-z0-9_]+)(\\\+)?\\\}",
            lambda m: f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)",
            re.escape(literal),
        )
        self.regex = re.compile(f"^{pattern}$")
        # API Gateway prefers the most specific route: literal paths, then fewer variables, greedy last.
        self.rank = (path is None, "+}" in literal, literal.count("{"), self.method == "ANY", -len(literal))

    def match(self, method, path):
        if self.method not in ("ANY", method):
            return None
        if self.path is None:
            return {}
        found = self.regex.match(path)
        return found.groupdict() if found else None


def load_routes(template_path: Path):
    template = yaml_parse(template_path.read_text())
    resources = template["Resources"]
    global_auth = template.get("Globals", {}).get("HttpApi", {}).get("Auth", {})
    routes = []
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api_id = props.get("ApiId", {})
            api = resources.get(api_id.get("Ref"), {}) if isinstance(api_id, dict) else {}
            default_authorizer = api.get("Properties", {}).get("Auth", global_auth).get("DefaultAuthorizer")
            authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
            path = props.get("Path")
            routes.append(Route(props.get("Method", "ANY"), path, binary, authorizer not in (None, "NONE")))
    return sorted(routes, key=lambda r: r.rank)


def claim_string(value):
    """API Gateway hands JWT claims to the function as strings; arrays as "[a b]"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: list = []
    lambda_port = 0

    def do_request(self):
        started = time.time()
        status = self.handle_request()
        self.log_message('"%s %s" %s %.0fms', self.command, self.path, status, (time.time() - started) * 1000)

    def log_request(self, code="-", size="-"):
        pass  # do_request logs every request once, with its duration

    def __getattr__(self, name):
        # Every method goes through the routes, as on API Gateway: an unrouted one (TRACE,
        # QUERY, …) gets the JSON 404 instead of http.server's HTML 501.
        if name.startswith("do_"):
            return self.do_request
        raise AttributeError(name)

    def handle_request(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        for route in self.routes:
            path_parameters = route.match(self.command, url.path)
            if path_parameters is not None:
                break
        else:
            return self.reply(404, JSON, [], b'{"message":"Not Found"}')

        claims = None
        if route.auth:
            token = re.sub(r"^Bearer\s+", "", self.headers.get("Authorization", ""), flags=re.IGNORECASE)
            try:
                claims = devjwt.verify(token)
            except Exception:  # any reason a token is refused: API Gateway says only this
                return self.reply(401, JSON, [], b'{"message":"Unauthorized"}')

        request_id = str(uuid.uuid4())
        event = self.event(route, url, path_parameters, claims, body, request_id)
        try:
            status, answer = local_invoke.call(
                self.lambda_port, route.binary, json.dumps(event).encode(), INTEGRATION_TIMEOUT_SECONDS, INVOKE_SHARE
            )
            if not 200 <= status < 300:  # the function failed: cargo lambda answers 500
                raise ValueError(answer.decode(errors="replace"))
            response = self.response(json.loads(answer or b"null"))
        except (local_invoke.Throttled, local_invoke.TimedOut) as error:
            self.log_message("%s: %s", route.binary, error)
            return self.reply(503, JSON, [], b'{"message":"Service Unavailable"}', request_id)
        except Exception as error:  # failed, unreachable, or answered nonsense
            self.log_message("%s failed: %s", route.binary, error)
            return self.reply(500, JSON, [], b'{"message":"Internal Server Error"}', request_id)
        return self.reply(*response, request_id)

    def event(self, route, url, path_parameters, claims, body, request_id):
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
        query = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = time.time()
        event = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": url.path,
            "rawQueryString": url.query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "domainName": headers.get("host", ""),
                "domainPrefix": headers.get("host", "").split(".")[0],
                "http": {
                    "method": self.command,
                    "path": url.path,
                    "protocol": self.request_version,
                    "sourceIp": self.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if claims is not None:
            scopes = (claims.get("scope") or claims.get("scp") or "").split()
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": {k: claim_string(v) for k, v in claims.items()}, "scopes": scopes or None}
            }
        if body:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        return event

    @staticmethod
    def response(result):
        """Payload format 2.0: a result without statusCode is a 200 JSON body (API Gateway's guess)."""
        if not (isinstance(result, dict) and "statusCode" in result):
            return 200, JSON, [], json.dumps(result).encode()
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        extra = [(k, str(v)) for k, values in (result.get("multiValueHeaders") or {}).items() for v in values]
        extra += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
        body = result.get("body") or ""
        body = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        return int(result["statusCode"]), headers, extra, body

    def reply(self, status, headers, extra_headers, body, request_id=None):
        self.send_response(status)
        for name, value in list(headers.items()) + extra_headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if request_id:
            self.send_header("apigw-requestid", request_id)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-port", type=int, required=True)
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    args = parser.parse_args()

    Gateway.routes = load_routes(args.template)
    Gateway.lambda_port = args.lambda_port
    devjwt.secret()  # create it now rather than in the first request's thread
    for route in Gateway.routes:
        print(f"  {route.key:<28} -> {route.binary}{'' if route.auth else '  (no auth)'}")
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 drops bursts of connections
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    server.daemon_threads = True
    print(f"gateway: http://127.0.0.1:{args.port} -> cargo lambda watch on :{args.lambda_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
