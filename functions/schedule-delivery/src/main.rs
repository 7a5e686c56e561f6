//! schedule-delivery: the saga's step after payment. Books a delivery slot for the order
//! through the `DeliveryService` port (locally: the first whole-hour window after a lead time);
//! CompleteOrder records the slot on the order. Publishes `DeliveryScheduled`.

use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use shared::adapters::sns::SnsEvents;
use shared::announce::{self, Origin};
use shared::clock::SystemClock;
use shared::delivery::LeadTimeDelivery;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{ScheduleDeliveryInput, ScheduleDeliveryOutput, StepCall};

/// This step's name in fault plans.
const STEP: &str = "schedule-delivery";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let delivery = &LeadTimeDelivery::from_env()?;
    let aws = shared::config::aws().await;
    let events = &shared::config::events(&aws)?;
    // The booking itself calls no AWS service: a DynamoDB client only for a local fault plan.
    let faults = &shared::config::fault_plan(|| aws_sdk_dynamodb::Client::new(&aws))?;
    lambda_runtime::run(service_fn(move |event| {
        handler(delivery, events, faults, event)
    }))
    .await
}

async fn handler(
    delivery: &LeadTimeDelivery,
    events: &SnsEvents,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ScheduleDeliveryOutput, Diagnostic> {
    let call: StepCall<ScheduleDeliveryInput> = StepCall::parse(event.payload)?;
    let input = call.input;
    let origin = Origin {
        correlation_id: &call.correlation_id,
        clock: &SystemClock,
    };
    let booking = announce::schedule_delivery(delivery, events, origin, input);
    let step = faults::around(faults, STEP, &call.scope, None, booking);
    // Boxed: nested in the runtime's futures, the step's type is too deep for rustc's layout
    // query in an optimised build otherwise.
    Box::pin(metrics::timed_step(STEP, &call.order_id, step).instrument(call.span)).await
}
