//! reserve-stock: the saga's first step. Reserves every line of the order in one
//! transaction, all or nothing; fails with `OutOfStock` naming the SKUs that are short.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::clock::SystemClock;
use shared::saga::{self, ReserveStockOutput};

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
) -> Result<ReserveStockOutput, Diagnostic> {
    let input = saga::parse_input(event.payload)?;
    Ok(saga::reserve_stock(inventory, &SystemClock, input).await?)
}
