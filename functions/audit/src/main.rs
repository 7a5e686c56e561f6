//! audit: appends the audit trail. Reads the orders', inventory's and billing's DynamoDB streams
//! (one event source mapping each, partial batch failures) and turns every order status change,
//! stock movement and balance change into one immutable entry in AUDIT_TABLE. The rules live in
//! `shared::audit`.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use shared::adapters::dynamodb::DynamoAudit;
use shared::audit::{self, Sources};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let audit_table = shared::config::required("AUDIT_TABLE")?;
    let sources = &Sources {
        orders: shared::config::required("ORDERS_TABLE")?,
        inventory: shared::config::required("INVENTORY_TABLE")?,
        billing: shared::config::required("BILLING_TABLE")?,
    };
    let aws = shared::config::aws().await;
    let log = &DynamoAudit::new(aws_sdk_dynamodb::Client::new(&aws), audit_table);
    lambda_runtime::run(service_fn(move |event| handler(log, sources, event))).await
}

async fn handler(
    log: &DynamoAudit,
    sources: &Sources,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    Ok(Box::pin(audit::record_batch(log, sources, event.payload)).await)
}
