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

DynamoDB stream mappings (moto would hand records over inside the write; launcher.py stops that) get
one thread per stream that does what Lambda's stream pollers do:
* GetRecords from the mapping's StartingPosition, up to BatchSize records, gathered for up to the
  batching window, sent in order as one DynamoDB stream event;
* on success, go on after the batch; with ReportBatchItemFailures and a failure named by its sequence
  number, go on from that record; on a function error, from the batch's first record, after a pause;
* after MaximumRetryAttempts failed tries of the same record (-1: forever, until the record expires),
  send its position and the error to the OnFailure destination (an SQS queue) and go past it.
Records stay in order: a shard never moves on past a record that has not succeeded or been parked.

Not emulated: scaling out to several concurrent batches per mapping, BisectBatchOnFunctionError, stream
filter criteria (the function skips items it does not follow), and the 6 MB payload limit.

Usage: poller.py --pollers-file local/.state/dev/pollers.json --moto-port 4566 --lambda-port 9000
Logs one line per batch: function, batch size, failed messages.
"""

import argparse
import base64
import json
import threading
import time
from pathlib import Path

import boto3
import botocore.config

import invoke as local_invoke

INVOKE_TIMEOUT_SECONDS = 120  # as launcher.py: only stops a hung function
INVOKE_SHARE = 5  # of cargo lambda's queue per function (invoke.py); one batch per mapping at a time


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
    try:
        # 500: the function returned an error or crashed.
        return local_invoke.call(lambda_port, function, json.dumps(event).encode(), INVOKE_TIMEOUT_SECONDS,
                                 INVOKE_SHARE)
    except (OSError, local_invoke.Throttled, local_invoke.TimedOut) as error:
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


def stream_event(records: list, mapping: dict) -> dict:
    """The event Lambda sends a function for a batch of stream records (times as epoch seconds)."""
    out = []
    for r in records:
        change = dict(r["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            change["ApproximateCreationDateTime"] = created.timestamp()
        out.append(
            {
                "eventID": r["eventID"],
                "eventName": r["eventName"],
                "eventVersion": r.get("eventVersion", "1.1"),
                "eventSource": "aws:dynamodb",
                "awsRegion": mapping["region"],
                "dynamodb": change,
                "eventSourceARN": mapping["streamArn"],
            }
        )
    return {"Records": out}


def first_failed(status: int, payload: bytes, sequences: list, report_failures: bool):
    """The index of the record to retry from, or None when the whole batch succeeded."""
    if status != 200:
        return 0
    if not report_failures:
        return None
    try:
        answer = json.loads(payload or b"null")
        if answer is None or (isinstance(answer, dict) and not answer.get("batchItemFailures")):
            return None
        ids = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0
    if not all(i in sequences for i in ids):
        return 0  # an identifier not in the batch fails the whole batch, as on AWS
    return min(sequences.index(i) for i in ids)


class StreamPoller:
    """One shard's reader (moto keeps one shard per stream)."""

    def __init__(self, streams, sqs, mapping: dict, lambda_port: int):
        self.streams, self.sqs, self.mapping, self.lambda_port = streams, sqs, mapping, lambda_port
        arn = mapping["streamArn"]
        self.shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        position = "LATEST" if mapping["startingPosition"] == "LATEST" else "TRIM_HORIZON"
        self.iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=self.shard, ShardIteratorType=position)[
            "ShardIterator"
        ]
        self.pending = []  # records read but not yet done, oldest first
        self.tries = 0  # failed tries of pending[0]

    def read(self):
        limit = self.mapping["batchSize"] - len(self.pending)
        if limit <= 0:
            return
        answer = self.streams.get_records(ShardIterator=self.iterator, Limit=limit)
        self.pending += answer.get("Records", [])
        self.iterator = answer.get("NextShardIterator") or self.iterator

    def poll_once(self):
        mapping = self.mapping
        self.read()
        deadline = time.monotonic() + mapping["maximumBatchingWindowInSeconds"]
        while self.pending and len(self.pending) < mapping["batchSize"] and time.monotonic() < deadline:
            time.sleep(0.1)
            self.read()
        if not self.pending:
            time.sleep(0.2)
            return
        batch = self.pending[: mapping["batchSize"]]
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        status, payload = invoke(self.lambda_port, mapping["function"], stream_event(batch, mapping))
        failed = first_failed(status, payload, sequences, mapping["reportBatchItemFailures"])
        if failed is None:
            self.pending = self.pending[len(batch):]
            self.tries = 0
            print(f"poller: {mapping['function']}: {len(batch)} stream record(s)", flush=True)
            return
        if failed > 0:
            self.pending = self.pending[failed:]
            self.tries = 0
        self.tries += 1
        error = payload[:300].decode(errors="replace")
        print(f"poller: {mapping['function']}: stream record {sequences[failed]} failed (try {self.tries}): {error}",
              flush=True)
        limit = mapping["maximumRetryAttempts"]
        if limit is not None and limit >= 0 and self.tries > limit:
            self.park(self.pending[0], error)
            self.pending = self.pending[1:]
            self.tries = 0
        else:
            time.sleep(min(0.2 * 2 ** min(self.tries, 5), 5))

    def park(self, record: dict, error: str):
        """What Lambda sends an on-failure destination: where the record is, not the record."""
        destination = self.mapping.get("onFailure")
        sequence = record["dynamodb"]["SequenceNumber"]
        if not destination:
            print(f"poller: {self.mapping['function']}: stream record {sequence} dropped (no destination)", flush=True)
            return
        body = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.mapping["functionName"]},
            "responseContext": {"functionError": "Unhandled"},
            "DDBStreamBatchInfo": {
                "shardId": self.shard,
                "startSequenceNumber": sequence,
                "endSequenceNumber": sequence,
                "batchSize": 1,
                "streamArn": self.mapping["streamArn"],
            },
            "error": error,
        }
        url = self.sqs.get_queue_url(QueueName=destination.split(":")[5])["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        print(f"poller: {self.mapping['function']}: stream record {sequence} parked in {destination}", flush=True)


def poll_stream(poller: StreamPoller):
    while True:
        try:
            poller.poll_once()
        except Exception as error:  # moto briefly busy, or going down with the stack: try again
            print(f"poller: {poller.mapping['function']}: {poller.mapping['streamArn']}: {error}", flush=True)
            threading.Event().wait(1)


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
        def client(service):
            return boto3.client(
                service,
                endpoint_url=f"http://127.0.0.1:{args.moto_port}",
                region_name=mapping["region"],
                aws_access_key_id="test",
                aws_secret_access_key="test",
                # Names the caller in moto's request recorder: `make bench` counts these polls apart
                # from the order's own calls (on AWS, Lambda's event source mappings make them).
                config=botocore.config.Config(user_agent_extra="local-poller"),
            )

        sqs = client("sqs")
        if mapping.get("kind") == "stream":
            poller = StreamPoller(client("dynamodbstreams"), sqs, mapping, args.lambda_port)
            thread = threading.Thread(target=poll_stream, args=(poller,))
            thread.start()
            threads.append(thread)
            print(f"poller: {mapping['streamArn']} -> {mapping['function']} (batch {mapping['batchSize']})", flush=True)
            continue
        thread = threading.Thread(target=poll, args=(sqs, mapping, args.lambda_port))
        thread.start()
        threads.append(thread)
        print(f"poller: {mapping['queueUrl']} -> {mapping['function']} (batch {mapping['batchSize']}, "
              f"partial failures {'on' if mapping['reportBatchItemFailures'] else 'off'})", flush=True)
    # stack.sh waits for this line.
    print(f"poller: polling {len(threads)} queue(s) and stream(s) for their functions, a line per batch in poller.log", flush=True)
    if not threads:
        threading.Event().wait()  # stay up like the other services; stack.sh down stops it
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
