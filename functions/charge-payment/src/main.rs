//! charge-payment: debits the customer's billing account and records the payment under the
//! order id in one transaction; never charges an order twice. Fails with `PaymentDeclined`.

use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoBilling;
use shared::adapters::sns::SnsEvents;
use shared::announce::{self, Origin};
use shared::billing::DeclineReason;
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{ChargePaymentInput, ChargePaymentOutput, StepCall, StepError};

/// This step's name in fault plans.
const STEP: &str = "charge-payment";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("BILLING_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &shared::config::fault_plan(|| client.clone())?;
    let events = &shared::config::events(&aws)?;
    let billing = &DynamoBilling::new(client, table);
    lambda_runtime::run(service_fn(move |event| {
        handler(billing, events, faults, event)
    }))
    .await
}

async fn handler(
    billing: &DynamoBilling,
    events: &SnsEvents,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ChargePaymentOutput, Diagnostic> {
    let call: StepCall<ChargePaymentInput> = StepCall::parse(event.payload)?;
    let input = call.input;
    let origin = Origin {
        correlation_id: &call.correlation_id,
        clock: &SystemClock,
    };
    let declined = StepError::PaymentDeclined(DeclineReason::InsufficientFunds);
    let step = faults::around(
        faults,
        STEP,
        &call.scope,
        Some(declined),
        announce::charge_payment(billing, events, origin, input),
    );
    // Boxed: nested in the runtime's futures, the step's type is too deep for rustc's layout
    // query in an optimised build otherwise.
    Box::pin(metrics::timed_step(STEP, &call.order_id, step).instrument(call.span)).await
}
