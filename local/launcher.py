"""Run moto (pinned 5.2.5) as the local AWS, with Step Functions executing and Lambda on cargo-lambda.

moto runs Lambda code in Docker, which this project does not have, and lets conditional writes race.
Nine patches fix that:

* `LambdaFunction._invoke_lambda` POSTs the event to `cargo lambda watch` instead. The binary to run is
  the function's `local:binary` tag, which deploy.py sets from the SAM `BuildProperties.Binary`.
  cargo-lambda answers a function error with HTTP 500 and an `{errorType, errorMessage}` payload;
  reporting it as errored makes moto set `X-Amz-Function-Error`, so ASL `Retry`/`Catch` match the
  Rust `Diagnostic.error_type`.
* CloudFormation creates state machines in moto's plain Step Functions backend, which never runs an
  execution. Pointing that module's backend registry at the executing (parser) backend makes a state
  machine deployed from the template the same one `StartExecution` runs.
* DynamoDB requests are serialized (see `serialize_dynamodb`), so a condition and its write
  are atomic, as on DynamoDB, and reads never see a table mid-change.
* moto hands a DynamoDB stream's records to a mapped function inside the write itself (holding
  that lock while the function writes back: a deadlock) and then forgets them. It is switched off:
  the records stay in the stream, and local/poller.py reads them with GetRecords, as Lambda does.
* A cancelled transaction puts back a deep copy of each table it touched, stream included, so a
  shard iterator handed out before it reads a stream nobody writes to any more: it stalls. Each
  GetRecords now reads the table's current stream, and forgets the iterator it used (moto keeps
  every iterator it ever made; a poller asks for one a few times a second).
* That copy is taken before every transaction, and deep-copied every stream record with its images:
  with streams on, each transaction cost more than the one before (9 GB and minutes per request
  after a few thousand orders). A copied stream now shares the (immutable) records and copies only
  the list, so a restore still drops exactly the records of the cancelled transaction.
* moto answers a Query on a table's own key by listing and sorting every item of the table, under
  the lock every request takes: with the audit table's thousands of entries, each
  `GET /orders/{id}` (the order's trail) cost more than the one before. Such a Query now reads only
  its partition (index queries still scan, as before).
* moto keeps every model instance it ever made in a list, for its dashboard: every item of every
  table a transaction copied, every stream record. The memory grew by gigabytes over a test run and
  the whole server slowed with it (the garbage collector walks them all). Only the instances the
  tests read back from the dashboard (`/moto-api/data.json`: SES and SNS) are kept now.
* A Lambda function's `docker_client` is an AttributeError instead of a call to a Docker engine, so
  that moto's model dump (`/moto-api/data.json`, which reads every attribute of every model and
  skips only such errors) works with functions deployed: tests read what moto's SES and SNS "sent"
  from it (tests/tests/notifiers.rs).

Usage: launcher.py --port 4566 --lambda-port 9000
"""

import argparse
import copy
import functools
import json
import threading

from moto import server
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.core.common_models import BaseModel
from moto.core.config import default_user_config
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

import invoke as local_invoke

BINARY_TAG = "local:binary"
INVOKE_TIMEOUT_SECONDS = 120
# Of cargo lambda's queue per function (invoke.py): the saga's steps; the gateway has its own share.
INVOKE_SHARE = 30


def cargo_lambda_invoke(lambda_port):
    def _invoke_lambda(self, event="{}"):
        binary = self.tags.get(BINARY_TAG)
        if not binary:
            return _error("LocalCloud.NoBinary", f"function {self.function_name} has no {BINARY_TAG} tag"), True, ""
        # moto hands over the parsed payload, or the string "{}" for an empty one.
        payload = b"{}" if event == "{}" else json.dumps(event).encode()
        try:
            # Not the function's own Timeout: under load moto answers the function's SDK calls slowly, and
            # timing those out would fail sagas that AWS would run. This only stops a hung function.
            status, body = local_invoke.call(lambda_port, binary, payload, INVOKE_TIMEOUT_SECONDS, INVOKE_SHARE)
        except local_invoke.Throttled as error:  # the state machine's Retry takes it, as on AWS
            return _error("Lambda.TooManyRequestsException", str(error)), True, ""
        except local_invoke.TimedOut:
            return _error("Sandbox.Timedout", f"Task timed out after {INVOKE_TIMEOUT_SECONDS} seconds"), True, ""
        except OSError as error:
            return _error("LocalCloud.Unreachable", f"cargo lambda watch on :{lambda_port}: {error}"), True, ""
        # 500 = the function returned an error
        return body.decode(), not 200 <= status < 300, ""

    return _invoke_lambda


def serialize_dynamodb():
    """moto serves requests on many threads and checks a write's condition, then applies it, with
    no lock between: two concurrent conditional writes can both pass (seen: a promotion with 5
    uses used 6 times). DynamoDB applies each conditional write and transaction atomically per
    item; one lock around every write gives the local cloud that guarantee. Reads take it too:
    a transaction deep-copies its tables while a concurrent request iterates them, and moto then
    answers 500 "dictionary changed size during iteration" (seen: 200 orders for one product)."""
    lock = threading.RLock()

    def locked(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)

        return wrapper

    # Writes reached from Step Functions' direct integrations call the backend, not the handler.
    for name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    DynamoHandler.call_action = locked(DynamoHandler.call_action)


def keep_stream_records(self, function_arn, items, source):
    """Replaces moto's in-write delivery of stream records: nothing is sent, nothing is dropped."""
    return None


def follow_restored_streams():
    read = ShardIterator.get

    def get(self, limit=1000):
        table = self.streams_backend.dynamodb.tables.get(self.stream_shard.table.name)
        if table is not None and table.stream_shard is not None:
            self.stream_shard = table.stream_shard
        return read(self, limit)

    ShardIterator.get = get
    get_records = DynamoDBStreamsBackend.get_records

    def get_records_once(self, iterator_arn, limit):
        try:
            return get_records(self, iterator_arn, limit)
        finally:
            self.shard_iterators.pop(iterator_arn, None)

    DynamoDBStreamsBackend.get_records = get_records_once


def copy_streams_shallowly():
    def deepcopy(self, memo):
        shard = StreamShard.__new__(StreamShard)
        memo[id(self)] = shard
        shard.__dict__.update(self.__dict__)
        shard.table = copy.deepcopy(self.table, memo)  # the table being copied (memo has it)
        shard.items = list(self.items)  # records are never changed once made
        return shard

    StreamShard.__deepcopy__ = deepcopy


def query_partitions_directly():
    query, all_items = Table.query, Table.all_items
    local = threading.local()

    def query_by_key(self, hash_key, *args, **kwargs):
        # index_name is the 7th argument after hash_key (moto passes them positionally).
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        direct = index_name is None and hash_key is not None and self.range_key_attr
        local.partition = hash_key if direct else None
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            local.partition = None

    def items_of_partition(self):
        partition = getattr(local, "partition", None)
        if partition is None:
            return all_items(self)
        return sorted(self.items.get(partition, {}).values(), key=lambda item: item.range_key)

    Table.query = query_by_key
    Table.all_items = items_of_partition


# The services whose model instances `/moto-api/data.json` must still list (tests/tests/notifiers.rs).
DASHBOARD_SERVICES = {"ses", "sesv2", "sns"}


def track_only_dashboard_services():
    def new(cls, *args, **kwargs):
        instance = object.__new__(cls)
        if cls.__module__.split(".")[1] in DASHBOARD_SERVICES:
            cls.instances_tracked.append(instance)
        return instance

    BaseModel.__new__ = new


def no_docker_client(self):
    raise AttributeError("no Docker engine here: Lambda functions run on cargo lambda watch")


def _error(error_type, message):
    return json.dumps({"errorType": error_type, "errorMessage": message})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-port", type=int, required=True)
    args = parser.parse_args()

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends
    LambdaFunction._invoke_lambda = cargo_lambda_invoke(args.lambda_port)
    LambdaBackend.send_dynamodb_items = keep_stream_records
    follow_restored_streams()
    copy_streams_shallowly()
    query_partitions_directly()
    track_only_dashboard_services()
    serialize_dynamodb()
    LambdaFunction.docker_client = property(no_docker_client)
    server.main(["--host", "127.0.0.1", "--port", str(args.port)])


if __name__ == "__main__":
    main()
