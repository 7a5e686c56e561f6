//! notify: records the saga's outcome for the customer, once per order and outcome.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoNotifications;
use shared::clock::SystemClock;
use shared::saga::{self, NotifyOutput};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("NOTIFICATIONS_TABLE")?;
    let aws = shared::config::aws().await;
    let notifications = &DynamoNotifications::new(aws_sdk_dynamodb::Client::new(&aws), table);
    lambda_runtime::run(service_fn(move |event| handler(notifications, event))).await
}

async fn handler(
    notifications: &DynamoNotifications,
    event: LambdaEvent<Value>,
) -> Result<NotifyOutput, Diagnostic> {
    let input = saga::parse_input(event.payload)?;
    Ok(saga::notify(notifications, &SystemClock, input).await?)
}
