"""Lambda's SQS event source mapping, for the local cloud (moto's own invokes inside SendMessage and
ignores partial batch failures, so deploy.py removes it and writes the mappings to pollers.json).

One thread per mapping does what Lambda's pollers do:
* long-poll ReceiveMessage for up to BatchSize messages (the queue's visibility timeout hides them),
  and gather more until the batch is full or MaximumBatchingWindowInSeconds has passed;
* send the function one SQS event with every message as a record, on cargo lambda watch's Invoke API;
* on success, delete the batch, except the messages the function names in `batchItemFailures` when
  the mapping has ReportBatchItemFailures (a malformed answer, or an itemIdentifier not in the batch,
  fails the whole batch, as on AWS);
* on a function error (cargo lambda answers HTTP 500), delete nothing.
A message left in the queue comes back after the visibility timeout; the queue's RedrivePolicy moves it
to the dead-letter queue after maxReceiveCount receives (moto does that, as SQS does).

Not emulated: scaling out to several concurrent batches per mapping, and the 6 MB payload limit.

Usage: poller.py --pollers-file local/.state/dev/pollers.json --moto-port 4566 --lambda-port 9000
Logs one line per batch: function, batch size, failed messages.
"""

import argparse
import base64
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

INVOKE_TIMEOUT_SECONDS = 120  # as launcher.py: only stops a hung function


def sqs_event(messages: list, mapping: dict) -> dict:
    """The event Lambda sends a function for a batch of SQS messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {name: message_attribute(v) for name, v in m.get("MessageAttributes", {}).items()},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping["queueArn"],
                "awsRegion": mapping["region"],
            }
            for m in messages
        ]
    }


def message_attribute(value: dict) -> dict:
    """SQS's {StringValue|BinaryValue, DataType} as a Lambda record spells it (binary in base64)."""
    if "BinaryValue" in value:
        first = {"binaryValue": base64.b64encode(value["BinaryValue"]).decode()}
    else:
        first = {"stringValue": value.get("StringValue")}
    return first | {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }


def failed_ids(status: int, payload: bytes, batch_ids: set, report_failures: bool) -> set:
    """The messages to leave in the queue, given the function's answer."""
    if status != 200:
        return batch_ids  # a function error: the whole batch comes back
    if not report_failures:
        return set()
    try:
        answer = json.loads(payload or b"null")
        if answer is None or (isinstance(answer, dict) and not answer.get("batchItemFailures")):
            return set()  # null, {}, a null or empty list: everything succeeded
        ids = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return batch_ids  # not JSON, not an object, a bad key name: the whole batch failed
    if not all(isinstance(i, str) and i in batch_ids for i in ids):
        return batch_ids  # a null, empty or unknown itemIdentifier fails the whole batch too
    return set(ids)


def invoke(lambda_port: int, function: str, event: dict) -> tuple:
    request = urllib.request.Request(
        f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:  # 500: the function returned an error or crashed
        return error.code, error.read()
    except (urllib.error.URLError, TimeoutError) as error:
        return 0, str(error).encode()


def receive(sqs, url: str, count: int, wait_seconds: int) -> list:
    return sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=min(count, 10),  # SQS's limit per receive
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def next_batch(sqs, mapping: dict) -> list:
    """Long-polls for a first message, then gathers more until the batch is full or the batching
    window (MaximumBatchingWindowInSeconds) has passed, as Lambda does."""
    url, size = mapping["queueUrl"], mapping["batchSize"]
    messages = receive(sqs, url, size, 1)
    deadline = time.monotonic() + mapping["maximumBatchingWindowInSeconds"]
    while messages and len(messages) < size and time.monotonic() < deadline:
        more = receive(sqs, url, size - len(messages), 0)
        messages += more
        if not more:
            time.sleep(0.1)
    return messages


def poll_once(sqs, mapping: dict, lambda_port: int):
    function, url = mapping["function"], mapping["queueUrl"]
    messages = next_batch(sqs, mapping)
    if not messages:
        return
    status, payload = invoke(lambda_port, function, sqs_event(messages, mapping))
    failed = failed_ids(status, payload, {m["MessageId"] for m in messages}, mapping["reportBatchItemFailures"])
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
        for failure in sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", []):
            print(f"poller: {function}: deleting a processed message: {failure}", flush=True)
    error = "" if status == 200 else f" (HTTP {status}: {payload[:300].decode(errors='replace')})"
    print(f"poller: {function}: batch of {len(messages)}, {len(failed)} failed{error}", flush=True)


def poll(sqs, mapping: dict, lambda_port: int):
    while True:
        try:
            poll_once(sqs, mapping, lambda_port)
        except Exception as error:  # moto briefly busy, or going down with the stack: try again
            print(f"poller: {mapping['function']}: {mapping['queueUrl']}: {error}", flush=True)
            threading.Event().wait(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pollers-file", type=Path, required=True)
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--lambda-port", type=int, required=True)
    args = parser.parse_args()

    mappings = json.loads(args.pollers_file.read_text())
    threads = []
    for mapping in mappings:
        # Created here, one at a time (boto3's client creation is not thread-safe), then used by one thread.
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{args.moto_port}",
            region_name=mapping["region"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        thread = threading.Thread(target=poll, args=(sqs, mapping, args.lambda_port))
        thread.start()
        threads.append(thread)
        print(f"poller: {mapping['queueUrl']} -> {mapping['function']} (batch {mapping['batchSize']}, "
              f"partial failures {'on' if mapping['reportBatchItemFailures'] else 'off'})", flush=True)
    # stack.sh waits for this line.
    print(f"poller: polling {len(threads)} queue(s) for their functions, a line per batch in poller.log", flush=True)
    if not threads:
        threading.Event().wait()  # stay up like the other services; stack.sh down stops it
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
