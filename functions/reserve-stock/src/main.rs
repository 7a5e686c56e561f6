//! reserve-stock: the saga's first step. Reserves every line of the order in one
//! transaction, all or nothing; fails with `OutOfStock` naming the SKUs that are short.

use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoInventory;
use shared::adapters::sns::SnsEvents;
use shared::announce::{self, Origin};
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{ReserveStockInput, ReserveStockOutput, StepCall, StepError};

/// This step's name in fault plans.
const STEP: &str = "reserve-stock";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("INVENTORY_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &shared::config::fault_plan(|| client.clone())?;
    let events = &shared::config::events(&aws)?;
    let inventory = &DynamoInventory::new(client, table);
    lambda_runtime::run(service_fn(move |event| {
        handler(inventory, events, faults, event)
    }))
    .await
}

async fn handler(
    inventory: &DynamoInventory,
    events: &SnsEvents,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ReserveStockOutput, Diagnostic> {
    let call: StepCall<ReserveStockInput> = StepCall::parse(event.payload)?;
    let input = call.input;
    let origin = Origin {
        correlation_id: &call.correlation_id,
        clock: &SystemClock,
    };
    let short = StepError::OutOfStock(input.lines.iter().map(|l| l.sku.clone()).collect());
    let step = faults::around(
        faults,
        STEP,
        &call.scope,
        Some(short),
        announce::reserve_stock(inventory, events, origin, input),
    );
    // Boxed: nested in the runtime's futures, the step's type is too deep for rustc's layout
    // query in an optimised build otherwise.
    Box::pin(metrics::timed_step(STEP, &call.order_id, step).instrument(call.span)).await
}
