//! audit: appends the audit trail. Reads the orders', inventory's and billing's DynamoDB streams
//! (one event source mapping each, partial batch failures) and turns every order status change,
//! stock movement and balance change into one immutable entry in AUDIT_TABLE. The rules live in
//! `order_lambda::audit`.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use order_lambda::adapters::dynamodb::DynamoAudit;
use order_lambda::audit::Sources;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let audit_table = order_lambda::config::required("AUDIT_TABLE")?;
    let sources = &Sources {
        orders: order_lambda::config::required("ORDERS_TABLE")?,
        inventory: order_lambda::config::required("INVENTORY_TABLE")?,
        billing: order_lambda::config::required("BILLING_TABLE")?,
    };
    let aws = order_lambda::config::aws().await;
    let log = &DynamoAudit::new(aws_sdk_dynamodb::Client::new(&aws), audit_table);
    lambda_runtime::run(service_fn(move |event| handler(log, sources, event))).await
}

async fn handler(
    log: &DynamoAudit,
    sources: &Sources,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Diagnostic> {
    Ok(Box::pin(order_lambda::audit_stream::record_batch(
        log,
        sources,
        event.payload,
    ))
    .await)
}
