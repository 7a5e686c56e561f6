//! audit-api: admin `GET /admin/audit` - the audit trail of a time range, as JSON or CSV, a page
//! at a time. The rules live in `order_lambda::api::audit`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoAudit;
use order_lambda::api::audit::AuditApi;
use order_lambda::api::correlation;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("AUDIT_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let api = &AuditApi {
        log: DynamoAudit::new(aws_sdk_dynamodb::Client::new(&aws), table),
    };
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(api, request).instrument(span))
    }))
    .await
}

async fn handler(api: &AuditApi<DynamoAudit>, request: Request) -> Result<Response<Body>, Error> {
    Ok(api.handle(&request).await)
}
