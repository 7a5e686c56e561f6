//! release-reservation: compensation of reserve-stock. Gives the order's reserved stock back
//! exactly once; an order that holds no reservation is a successful no-op.

use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::audit::ChangedBy;
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{self, CompensationInput, ReleaseReservationOutput, StepCall};

/// This step's name in fault plans.
const STEP: &str = "release-reservation";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("INVENTORY_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &shared::config::fault_plan(|| client.clone())?;
    let inventory = &DynamoInventory::new(client, table);
    lambda_runtime::run(service_fn(move |event| handler(inventory, faults, event))).await
}

async fn handler(
    inventory: &DynamoInventory,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ReleaseReservationOutput, Diagnostic> {
    let call: StepCall<CompensationInput> = StepCall::parse(event.payload)?;
    let input = call.input;
    let by = ChangedBy::saga(Some(&call.correlation_id));
    let step = faults::around(
        faults,
        STEP,
        &call.scope,
        None,
        saga::release_reservation(inventory, &SystemClock, &by, input),
    );
    // Boxed: nested in the runtime's futures, the step's type is too deep for rustc's layout
    // query in an optimised build otherwise.
    Box::pin(metrics::timed_step(STEP, &call.order_id, step).instrument(call.span)).await
}
