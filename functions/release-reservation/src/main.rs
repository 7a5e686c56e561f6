//! release-reservation: compensation of reserve-stock. Gives the order's reserved stock back
//! exactly once; an order that holds no reservation is a successful no-op.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::clock::SystemClock;
use shared::saga::{self, ReleaseReservationOutput};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("INVENTORY_TABLE")?;
    let aws = shared::config::aws().await;
    let inventory = &DynamoInventory::new(aws_sdk_dynamodb::Client::new(&aws), table);
    lambda_runtime::run(service_fn(move |event| handler(inventory, event))).await
}

async fn handler(
    inventory: &DynamoInventory,
    event: LambdaEvent<Value>,
) -> Result<ReleaseReservationOutput, Diagnostic> {
    let input = saga::parse_input(event.payload)?;
    Ok(saga::release_reservation(inventory, &SystemClock, input).await?)
}
