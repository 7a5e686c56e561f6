//! reserve-stock: the saga's first step. Reserves every line of the order in one
//! transaction, all or nothing; fails with `OutOfStock` naming the SKUs that are short.

use order_lambda::adapters::dynamodb::DynamoInventory;
use order_lambda::announce::{self, Origin};
use order_lambda::clock::SystemClock;
use order_lambda::saga::{ReserveStockInput, StepError};
use order_lambda::{config, step};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::required("INVENTORY_TABLE")?;
    let aws = config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &config::fault_plan(|| client.clone())?;
    let events = &config::events(&aws)?;
    let inventory = &DynamoInventory::new(client, table);
    // A planned business fault is the order's lines out of stock.
    let short = |input: &ReserveStockInput| {
        let skus = input.lines.iter().map(|l| l.sku.clone()).collect();
        Some(StepError::OutOfStock(skus))
    };
    step::serve(
        "reserve-stock",
        faults,
        short,
        |input, correlation_id| async move {
            let origin = Origin {
                correlation_id: &correlation_id,
                clock: &SystemClock,
            };
            announce::reserve_stock(inventory, events, origin, input).await
        },
    )
    .await
}
