//! sync-product: keeps the order side's product view current. Consumes `ProductUpdated` from
//! ProductQueue (SQS, partial batch failures) and writes each snapshot to the view in the
//! orders table unless the view holds that version or a newer one. The rules live in
//! `order_lambda::product_view`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use order_lambda::adapters::dynamodb::DynamoProductView;
use order_lambda::clock::SystemClock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let orders_table = order_lambda::config::required("ORDERS_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let view = &DynamoProductView::new(aws_sdk_dynamodb::Client::new(&aws), orders_table);
    lambda_runtime::run(service_fn(move |event| {
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(view, event))
    }))
    .await
}

async fn handler(
    view: &DynamoProductView,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Diagnostic> {
    Ok(order_lambda::product_queue::handle_batch(event.payload, view, &SystemClock).await)
}
