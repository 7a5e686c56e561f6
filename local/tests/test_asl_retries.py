"""The saga's Retry lists name DynamoDB's transient errors the way Step Functions emits them.

An optimized DynamoDB integration (arn:aws:states:::dynamodb:*) reports an error as
"DynamoDB." followed by the AWS SDK for Java (v1) exception class
(docs.aws.amazon.com/step-functions/latest/dg/connect-ddb.html, "Exception prefix differences":
"For optimized integrations, the exception prefix will be DynamoDB (uppercase DB)"); an error
without a class of its own arrives as DynamoDB.AmazonDynamoDBException (AWS's sample
aws-samples/aws-stepfunctions-examples, sam/app-control-concurrency-with-dynamodb, catches it by
that name). Whether the server errors carry the "Exception" suffix is stated nowhere we found,
so both spellings are retried (issue 14). ARCHITECTURE.md, "Errors the state machine matches".
"""

import json
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DEFINITION = ROOT / "statemachines" / "order-saga.asl.json"

TRANSIENT_DYNAMODB = {
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.InternalServerError",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.ServiceUnavailable",
    "DynamoDB.TransactionConflictException",
    "DynamoDB.AmazonDynamoDBException",
    "States.Timeout",
}


class RetryNames(unittest.TestCase):
    def test_every_dynamodb_task_retries_every_spelling_of_a_transient_error(self):
        states = json.loads(DEFINITION.read_text())["States"]
        dynamodb = {
            name: state
            for name, state in states.items()
            if state.get("Type") == "Task"
            and state.get("Resource", "").startswith("arn:aws:states:::dynamodb:")
        }
        self.assertGreaterEqual(len(dynamodb), 7, sorted(dynamodb))
        for name, state in dynamodb.items():
            retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            missing = TRANSIENT_DYNAMODB - retried
            self.assertFalse(missing, f"{name} does not retry {sorted(missing)}")

    def test_no_dynamodb_task_uses_the_sdk_integrations_spelling(self):
        # "DynamoDb." (lower-case b) is the AWS SDK integration's prefix; the optimized one never
        # emits it, so a Retry naming it would silently never match.
        text = DEFINITION.read_text()
        self.assertNotIn('"DynamoDb.', text)


if __name__ == "__main__":
    unittest.main()
