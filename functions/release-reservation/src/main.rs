//! release-reservation: compensation of reserve-stock. Gives the order's reserved stock back
//! exactly once; an order that holds no reservation is a successful no-op.

use order_lambda::adapters::dynamodb::DynamoInventory;
use order_lambda::clock::SystemClock;
use order_lambda::{config, step, steps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::required("INVENTORY_TABLE")?;
    let aws = config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &config::fault_plan(|| client.clone())?;
    let inventory = &DynamoInventory::new(client, table);
    step::serve(
        steps::RELEASE_RESERVATION,
        faults,
        steps::no_business_error,
        |input, id| steps::release_reservation(inventory, &SystemClock, input, id),
    )
    .await
}
