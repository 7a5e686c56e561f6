//! release-reservation: compensation of reserve-stock. Gives the order's reserved stock back
//! exactly once; an order that holds no reservation is a successful no-op.

use order_lambda::adapters::dynamodb::DynamoInventory;
use order_lambda::audit::ChangedBy;
use order_lambda::clock::SystemClock;
use order_lambda::saga::{self, CompensationInput};
use order_lambda::{config, step};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::required("INVENTORY_TABLE")?;
    let aws = config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &config::fault_plan(|| client.clone())?;
    let inventory = &DynamoInventory::new(client, table);
    let no_business_error = |_: &CompensationInput| None;
    step::serve(
        "release-reservation",
        faults,
        no_business_error,
        |input, correlation_id| async move {
            let by = ChangedBy::saga(Some(&correlation_id));
            saga::release_reservation(inventory, &SystemClock, &by, input).await
        },
    )
    .await
}
