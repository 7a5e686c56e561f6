"""local/cloud.py's correction of ministack: still needed, and still right.

Runs in the local cloud's venv (make test: .venv/bin/python -m unittest discover -s local/tests).
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import cloud  # noqa: E402
from ministack.services import sns  # noqa: E402

PUBLISH = {
    "TopicArn": "arn:aws:sns:us-east-1:000000000000:events",
    "Message": {"type": "OrderCompleted"},
    "MessageAttributes": {"type": {"DataType": "String", "StringValue": "OrderCompleted"}},
}


class SnsPublishAttributes(unittest.TestCase):
    def test_ministack_still_drops_a_json_attribute_map(self):
        # The day this fails, ministack reads the map itself and cloud.py can go.
        self.assertEqual(sns._parse_message_attributes(PUBLISH), {})

    def test_the_flattened_parameters_carry_every_attribute(self):
        flat = cloud.as_query_parameters(PUBLISH)
        self.assertEqual(
            sns._parse_message_attributes(flat),
            {"type": {"DataType": "String", "StringValue": "OrderCompleted"}},
        )
        self.assertEqual(flat["TopicArn"], PUBLISH["TopicArn"])
        self.assertEqual(flat["Message"], PUBLISH["Message"])
        self.assertNotIn("MessageAttributes", flat)

    def test_parameters_without_a_map_are_passed_unchanged(self):
        plain = {"TopicArn": PUBLISH["TopicArn"], "Message": "hello"}
        self.assertIs(cloud.as_query_parameters(plain), plain)

    def test_install_replaces_the_integration_ministack_dispatches_to(self):
        cloud.install()
        from ministack.services import stepfunctions

        self.assertIs(stepfunctions._SERVICE_DISPATCH[cloud.SNS_PUBLISH], cloud.publish)


class RuntimeApiSockets(unittest.TestCase):
    def test_the_runtime_api_handlers_take_the_no_delay_switch(self):
        # ministack's Runtime API handlers are http.server's: the class attribute reaches them.
        import http.server
        import inspect

        from ministack.core import lambda_runtime

        self.assertIn("http.server.BaseHTTPRequestHandler", inspect.getsource(lambda_runtime))
        cloud.install()
        self.assertTrue(http.server.BaseHTTPRequestHandler.disable_nagle_algorithm)


if __name__ == "__main__":
    unittest.main()
