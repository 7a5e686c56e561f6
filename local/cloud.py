"""Starts ministack, the local cloud, with the one correction it needs to run this saga as AWS does,
and one socket setting that makes every Lambda invocation about 40 ms faster.

Step Functions' `sns:publish` integration takes `MessageAttributes` as a JSON map, which is how the
state machine passes the `type` attribute (`{"type": {"DataType": "String", "StringValue":
"OrderCompleted"}}`), and SNS delivers them to subscribers. ministack 1.5.33 hands that map to its
query-protocol parser, which reads only `MessageAttributes.entry.N.*` fields, so the attributes are
dropped and a subscription with a filter policy (the notify queue's) never gets OrderCompleted or
OrderCancelled. The map is flattened into the query form before ministack's own publish runs.
local/tests/test_cloud.py checks that the correction is still needed and still applies.

The setting: ministack serves each function's Lambda Runtime API with Python's `http.server`,
which answers `GET /runtime/invocation/next` in two writes (headers, then the event). With Nagle's
algorithm on, the event waits for the function's delayed ACK of the headers, about 40 ms on Linux,
on every invocation (ten per order). `disable_nagle_algorithm` is `http.server`'s own switch for
TCP_NODELAY; `bench/knobs.sh` measured it (BENCHMARKS.md, "ministack's settings").

Usage: cloud.py (ministack's own settings come from the environment: local/stack.sh sets them).
"""

import http.server

import ministack.services.stepfunctions as stepfunctions

SNS_PUBLISH = "arn:aws:states:::sns:publish"
_publish = stepfunctions._invoke_sns_publish


def as_query_parameters(parameters: dict) -> dict:
    """The task's parameters with a JSON `MessageAttributes` map in SNS's query form."""
    attributes = parameters.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return parameters
    flat = {key: value for key, value in parameters.items() if key != "MessageAttributes"}
    for number, (name, value) in enumerate(attributes.items(), start=1):
        flat[f"MessageAttributes.entry.{number}.Name"] = name
        for field in ("DataType", "StringValue", "BinaryValue"):
            if field in value:
                flat[f"MessageAttributes.entry.{number}.Value.{field}"] = value[field]
    return flat


def publish(resource, parameters):
    return _publish(resource, as_query_parameters(parameters))


def install():
    stepfunctions._invoke_sns_publish = publish
    stepfunctions._SERVICE_DISPATCH[SNS_PUBLISH] = publish
    http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True


if __name__ == "__main__":
    install()
    from ministack.app import main

    main()
