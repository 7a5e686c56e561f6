//! reserve-stock: the saga's first step. Reserves every line of the order in one
//! transaction, all or nothing; fails with `OutOfStock` naming the SKUs that are short.

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
    let events = &config::events(&aws)?;
    let inventory = &DynamoInventory::new(client, table);
    step::serve(
        steps::RESERVE_STOCK,
        faults,
        steps::out_of_stock,
        |input, id| steps::reserve_stock(inventory, events, &SystemClock, input, id),
    )
    .await
}
