//! release-reservation: compensation of reserve-stock. Gives the order's reserved stock back
//! exactly once; an order that holds no reservation is a successful no-op.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{self, CompensationInput, ReleaseReservationOutput};

/// This step's name in fault plans.
const STEP: &str = "release-reservation";

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
) -> Result<ReleaseReservationOutput, Diagnostic> {
    let scope = faults::scope_of(&event.payload);
    let order_id = metrics::order_id_of(&event.payload);
    let input: CompensationInput = saga::parse_input(event.payload)?;
    let step = faults::around(
        faults,
        STEP,
        &scope,
        None,
        saga::release_reservation(inventory, &SystemClock, input),
    );
    metrics::timed_step(STEP, &order_id, step).await
}
