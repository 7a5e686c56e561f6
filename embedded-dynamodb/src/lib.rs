//! DynamoDB in process, for the adapters' contract tests: an `aws_sdk_dynamodb::Client` whose
//! "HTTP" calls are answered by the [dynoxide](https://crates.io/crates/dynoxide-rs) engine
//! (DynamoDB over an in-memory SQLite, checked against real DynamoDB by a public conformance
//! suite), with every table of `template.yaml` created (`tables.json`, generated from the
//! template by `tables.py`; `make lint` checks it is current).
//!
//! This is glue, not an emulator: it stands in for the socket between the SDK and a DynamoDB
//! endpoint, nothing more. What dynoxide does not do (see ../shared notes and ARCHITECTURE.md):
//! transaction conflicts between concurrent writers, eventual consistency of the indexes (they
//! read their writes here), TTL deletion unless swept.
//!
//! The SDK still does everything it does against AWS — serialising the request, signing it,
//! parsing the JSON reply and mapping `__type` to its typed errors — so code that takes a
//! `Client` is exercised as in production; only the socket is replaced by a function call.
//!
//! Why not dynoxide's own HTTP server: its `dispatch(db, operation, body)` is private in 3.2.0
//! (the `server` module only exposes `serve_on(TcpListener, ..)`), and running it would need a
//! port, axum and an HTTP client in every test. The few lines of dispatch below call the same
//! public `Database` methods the server calls.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
pub use dynoxide::DynoxideError;
use dynoxide::actions as a;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use dynoxide::Database;

/// Never resolved or connected to; it only has to be a valid URL so the SDK skips its
/// region-based endpoint resolution.
pub const ENDPOINT: &str = "http://dynoxide.local";

const TARGET_PREFIX: &str = "DynamoDB_20120810.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The tables of `template.yaml`, by logical id (`OrdersTable`, ...), as CreateTable requests.
const TABLES: &str = include_str!("../tables.json");

/// A fresh in-memory database with every table of `template.yaml`, named by its logical id
/// (`OrdersTable`, `InventoryTable`, ...). Each call is a database of its own: tests that each
/// make one cannot see each other's items.
pub fn with_tables() -> Result<Database, String> {
    let db = Database::memory().map_err(|e| e.to_string())?;
    let tables: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(TABLES).map_err(|e| e.to_string())?;
    for (name, mut request) in tables {
        request["TableName"] = name.clone().into();
        request["BillingMode"] = "PAY_PER_REQUEST".into();
        let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        match dispatch(&db, "CreateTable", &body) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("creating {name}: {e}")),
            None => return Err("CreateTable is not routed".into()),
        }
    }
    Ok(db)
}

/// A client on `db`. `Database` is a cheap `Arc` clone, so several clients (or the test itself,
/// through dynoxide's own API) can share one database.
pub fn client_for(db: Database) -> Client {
    client_with(DynoxideHttpClient::new(db))
}

/// A client whose requests go to `http` (a [`DynoxideHttpClient`], maybe with a fault hook).
pub fn client_with(http: DynoxideHttpClient) -> Client {
    Client::from_conf(config_with(http).build())
}

/// The configuration of [`client_with`]'s client, for a caller that adds to it (an interceptor)
/// before building.
pub fn config_with(http: DynoxideHttpClient) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "dynoxide-shim",
        ))
        .endpoint_url(ENDPOINT)
        .http_client(http)
        // The engine is deterministic: a retried 500 fails the same way, only slower (standard
        // retry sleeps with backoff between 3 attempts), and a test should see the first error.
        .retry_config(RetryConfig::disabled())
}

/// Answers a request instead of the engine, or lets it through (`None`): a fault drawn by a
/// test or the simulator, given the operation's name and its DynamoDB JSON body. The answer is
/// an HTTP status and a DynamoDB error body (`__type`, message), as DynamoDB answers.
pub type FaultHook = Arc<dyn Fn(&str, &[u8]) -> Option<(u16, Vec<u8>)> + Send + Sync>;

/// How many calls the engine answered and the time it took, by operation, JSON in and out
/// included: what a benchmark reads to tell the engine's share of a run from the rest (the SDK's
/// pipeline, the code under test). Two clock reads and an uncontended lock per call.
#[derive(Debug, Default)]
pub struct EngineTime(Mutex<BTreeMap<String, OperationTime>>);

/// One operation's calls and their time.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct OperationTime {
    pub calls: u64,
    pub time: Duration,
}

impl std::ops::AddAssign for OperationTime {
    fn add_assign(&mut self, other: Self) {
        self.calls += other.calls;
        self.time += other.time;
    }
}

impl EngineTime {
    /// Runs `call`, counted and timed as `operation`.
    pub fn time<T>(&self, operation: &str, call: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let answer = call();
        let took = started.elapsed();
        let mut by_operation = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = match by_operation.get_mut(operation) {
            Some(entry) => entry,
            None => by_operation.entry(operation.to_owned()).or_default(),
        };
        *entry += OperationTime {
            calls: 1,
            time: took,
        };
        answer
    }

    pub fn by_operation(&self) -> BTreeMap<String, OperationTime> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every operation's together.
    pub fn total(&self) -> OperationTime {
        let mut total = OperationTime::default();
        for time in self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            total += *time;
        }
        total
    }
}

/// The SDK's `HttpClient`, answering every request from a dynoxide [`Database`].
#[derive(Clone)]
pub struct DynoxideHttpClient {
    db: Database,
    faults: Option<FaultHook>,
    engine_time: Arc<EngineTime>,
}

impl DynoxideHttpClient {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            faults: None,
            engine_time: Arc::default(),
        }
    }

    /// Every request first goes to `faults`, which may answer it instead of the engine.
    pub fn with_faults(db: Database, faults: FaultHook) -> Self {
        Self {
            faults: Some(faults),
            ..Self::new(db)
        }
    }

    /// The calls this client (and its clones) passed to the engine, and the engine's time.
    pub fn engine_time(&self) -> Arc<EngineTime> {
        self.engine_time.clone()
    }
}

impl std::fmt::Debug for DynoxideHttpClient {
    // `Database` has no Debug; the SDK requires one for its config dumps.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynoxideHttpClient")
    }
}

impl HttpClient for DynoxideHttpClient {
    // Timeouts and TLS settings mean nothing without a connection: every call gets the same one.
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for DynoxideHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // The engine is synchronous (its SQLite work is microseconds in memory), so the answer
        // is ready before the future is returned; no blocking-pool hop, works on any runtime.
        HttpConnectorFuture::ready(self.answer(&request))
    }
}

impl DynoxideHttpClient {
    fn answer(&self, request: &HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        // DynamoDB JSON bodies are always buffered by the SDK; a streaming body would be a bug.
        let body = request.body().bytes().ok_or_else(|| {
            ConnectorError::other("dynoxide-shim: streaming request body".into(), None)
        })?;
        let injected = target
            .strip_prefix(TARGET_PREFIX)
            .zip(self.faults.as_ref())
            .and_then(|(operation, faults)| faults(operation, body));
        let (status, reply) = match (injected, target.strip_prefix(TARGET_PREFIX)) {
            (Some(answer), _) => answer,
            (None, Some(operation)) => match self
                .engine_time
                .time(operation, || dispatch(&self.db, operation, body))
            {
                Some(Ok(json)) => (200, json),
                Some(Err(e)) => (e.status_code(), e.to_json().into_bytes()),
                None => (400, unknown_operation()),
            },
            (None, None) => (400, unknown_operation()),
        };
        let status =
            StatusCode::try_from(status).map_err(|e| ConnectorError::other(Box::new(e), None))?;
        let mut response = HttpResponse::new(status, SdkBody::from(reply));
        response.headers_mut().insert("content-type", CONTENT_TYPE);
        Ok(response)
    }
}

/// The operation named by `X-Amz-Target`, run on `db`; the reply body or the engine's error.
///
/// Mirrors the `match` in dynoxide's (private) `server::dispatch_operation`. Left out: the
/// DynamoDB Streams operations (another SDK crate, another target prefix) and the server's
/// pre-checks of hand-written JSON (mistyped members, over-deep nesting), which requests
/// serialised by the SDK cannot trip. Also crate-private, so not applied: the server reads the
/// transactional/batch/PartiQL operations on an "older" validation layer, which only changes how
/// an invalid number (e.g. `N: "1e400"`) is worded.
///
/// `None`: an operation this shim does not route. Public for callers that speak DynamoDB JSON
/// themselves (the simulator's Step Functions integrations).
pub fn dispatch(
    db: &Database,
    operation: &str,
    body: &[u8],
) -> Option<Result<Vec<u8>, DynoxideError>> {
    Some(match operation {
        "CreateTable" => run(body, |r: a::create_table::CreateTableRequest| {
            db.create_table(r)
        }),
        "DeleteTable" => run(body, |r: a::delete_table::DeleteTableRequest| {
            db.delete_table(r)
        }),
        "DescribeTable" => run(body, |r: a::describe_table::DescribeTableRequest| {
            db.describe_table(r)
        }),
        "ListTables" => run(body, |r: a::list_tables::ListTablesRequest| {
            db.list_tables(r)
        }),
        "UpdateTable" => run(body, |r: a::update_table::UpdateTableRequest| {
            db.update_table(r)
        }),
        "PutItem" => run(body, |r: a::put_item::PutItemRequest| db.put_item(r)),
        "GetItem" => run(body, |r: a::get_item::GetItemRequest| db.get_item(r)),
        "DeleteItem" => run(body, |r: a::delete_item::DeleteItemRequest| {
            db.delete_item(r)
        }),
        "UpdateItem" => run(body, |r: a::update_item::UpdateItemRequest| {
            db.update_item(r)
        }),
        "Query" => run(body, |r: a::query::QueryRequest| db.query(r)),
        "Scan" => run(body, |r: a::scan::ScanRequest| db.scan(r)),
        "BatchGetItem" => run(body, |r: a::batch_get_item::BatchGetItemRequest| {
            db.batch_get_item(r)
        }),
        "BatchWriteItem" => run(body, |r: a::batch_write_item::BatchWriteItemRequest| {
            db.batch_write_item(r)
        }),
        "TransactWriteItems" => run(
            body,
            |r: a::transact_write_items::TransactWriteItemsRequest| db.transact_write_items(r),
        ),
        "TransactGetItems" => run(body, |r: a::transact_get_items::TransactGetItemsRequest| {
            db.transact_get_items(r)
        }),
        "UpdateTimeToLive" => run(
            body,
            |r: a::update_time_to_live::UpdateTimeToLiveRequest| db.update_time_to_live(r),
        ),
        "DescribeTimeToLive" => run(
            body,
            |r: a::describe_time_to_live::DescribeTimeToLiveRequest| db.describe_time_to_live(r),
        ),
        "ExecuteStatement" => run(body, |r: a::execute_statement::ExecuteStatementRequest| {
            db.execute_statement(r)
        }),
        "ExecuteTransaction" => run(
            body,
            |r: a::execute_transaction::ExecuteTransactionRequest| db.execute_transaction(r),
        ),
        "BatchExecuteStatement" => run(
            body,
            |r: a::batch_execute_statement::BatchExecuteStatementRequest| {
                db.batch_execute_statement(r)
            },
        ),
        "TagResource" => run(body, |r: a::tag_resource::TagResourceRequest| {
            db.tag_resource(r)
        }),
        "UntagResource" => run(body, |r: a::untag_resource::UntagResourceRequest| {
            db.untag_resource(r)
        }),
        // DynamoDB Streams' API (another endpoint on AWS), for readers of a table's changes.
        "ListStreams" => run(body, |r: a::list_streams::ListStreamsRequest| {
            db.list_streams(r)
        }),
        "DescribeStream" => run(body, |r: a::describe_stream::DescribeStreamRequest| {
            db.describe_stream(r)
        }),
        "GetShardIterator" => run(body, |r: a::get_shard_iterator::GetShardIteratorRequest| {
            db.get_shard_iterator(r)
        }),
        "GetRecords" => run(body, |r: a::get_records::GetRecordsRequest| {
            db.get_records(r)
        }),
        "ListTagsOfResource" => run(
            body,
            |r: a::list_tags_of_resource::ListTagsOfResourceRequest| db.list_tags_of_resource(r),
        ),
        _ => return None,
    })
}

fn run<Req, Resp>(
    body: &[u8],
    op: impl FnOnce(Req) -> dynoxide::Result<Resp>,
) -> Result<Vec<u8>, DynoxideError>
where
    Req: serde::de::DeserializeOwned,
    Resp: serde::Serialize,
{
    let request = serde_json::from_slice(body).map_err(decode_error)?;
    let response = op(request)?;
    serde_json::to_vec(&response).map_err(|e| DynoxideError::InternalServerError(e.to_string()))
}

/// dynoxide's request types validate while deserialising and tag the DynamoDB error class with
/// a message prefix (see its `serde_errors`; the un-tagging function is crate-private). Only
/// the classes matter here; the SDK never sends a request that fails to decode.
fn decode_error(e: serde_json::Error) -> DynoxideError {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    for (marker, validation) in [
        ("SERIALIZATION_AS_READ:", false),
        ("VALIDATION_AS_READ:", true),
        ("SERIALIZATION:", false),
        ("VALIDATION_REQUEST:", true),
        ("VALIDATION:", true),
    ] {
        if let Some(rest) = msg.strip_prefix(marker) {
            return if validation {
                DynoxideError::ValidationException(rest.to_string())
            } else {
                DynoxideError::SerializationException(rest.to_string())
            };
        }
    }
    if msg.contains("missing field") || msg.contains("unknown variant") {
        DynoxideError::ValidationException(msg.to_string())
    } else {
        DynoxideError::SerializationException(msg.to_string())
    }
}

/// What DynamoDB answers for a target it does not know (the SDK maps it to an unhandled error).
fn unknown_operation() -> Vec<u8> {
    br#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#.to_vec()
}
