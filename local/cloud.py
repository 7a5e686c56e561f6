"""Starts ministack, the local cloud, with the one correction it needs to run this saga as AWS does.

Step Functions' `sns:publish` integration takes `MessageAttributes` as a JSON map, which is how the
state machine passes the `type` attribute (`{"type": {"DataType": "String", "StringValue":
"OrderCompleted"}}`), and SNS delivers them to subscribers. ministack 1.5.33 hands that map to its
query-protocol parser, which reads only `MessageAttributes.entry.N.*` fields, so the attributes are
dropped and a subscription with a filter policy (the notify queue's) never gets OrderCompleted or
OrderCancelled. The map is flattened into the query form before ministack's own publish runs.
local/tests/test_cloud.py checks that the correction is still needed and still applies.

Usage: cloud.py (ministack's own settings come from the environment: local/stack.sh sets them).
"""

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


if __name__ == "__main__":
    install()
    from ministack.app import main

    main()
