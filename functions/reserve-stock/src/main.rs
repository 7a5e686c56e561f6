//! reserve-stock: the saga's first step. Reserves every line of the order in one
//! transaction, all or nothing; fails with `OutOfStock` naming the SKUs that are short.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{self, ReserveStockInput, ReserveStockOutput, StepError};

/// This step's name in fault plans.
const STEP: &str = "reserve-stock";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("INVENTORY_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &faults::plan_from_env(&client)?;
    let inventory = &DynamoInventory::new(client, table);
    lambda_runtime::run(service_fn(move |event| handler(inventory, faults, event))).await
}

async fn handler(
    inventory: &DynamoInventory,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ReserveStockOutput, Diagnostic> {
    let scope = faults::scope_of(&event.payload);
    let order_id = metrics::order_id_of(&event.payload);
    let input: ReserveStockInput = saga::parse_input(event.payload)?;
    let short = StepError::OutOfStock(input.lines.iter().map(|l| l.sku.clone()).collect());
    let step = faults::around(
        faults,
        STEP,
        &scope,
        Some(short),
        saga::reserve_stock(inventory, &SystemClock, input),
    );
    metrics::timed_step(STEP, &order_id, step).await
}
