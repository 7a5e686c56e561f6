//! schedule-delivery: the saga's step after payment. Books a delivery slot for the order
//! through the `DeliveryService` port (locally: the first whole-hour window after a lead time);
//! CompleteOrder records the slot on the order.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoFaults;
use shared::clock::SystemClock;
use shared::delivery::LeadTimeDelivery;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{self, ScheduleDeliveryInput, ScheduleDeliveryOutput};

/// This step's name in fault plans.
const STEP: &str = "schedule-delivery";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let delivery = &LeadTimeDelivery::from_env()?;
    // This step calls no AWS service itself: build a client only for a local fault plan.
    let faults = &match faults::table_from_env()? {
        Some(table) => {
            let client = aws_sdk_dynamodb::Client::new(&shared::config::aws().await);
            Some(DynamoFaults::new(client, table))
        }
        None => None,
    };
    lambda_runtime::run(service_fn(move |event| handler(delivery, faults, event))).await
}

async fn handler(
    delivery: &LeadTimeDelivery,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<ScheduleDeliveryOutput, Diagnostic> {
    let scope = faults::scope_of(&event.payload);
    let order_id = metrics::order_id_of(&event.payload);
    let input: ScheduleDeliveryInput = saga::parse_input(event.payload)?;
    let booking = saga::schedule_delivery(delivery, &SystemClock, input);
    let step = faults::around(faults, STEP, &scope, None, booking);
    metrics::timed_step(STEP, &order_id, step).await
}
