//! schedule-delivery: the saga's step after payment. Books a delivery slot for the order
//! through the `DeliveryService` port (locally: the first whole-hour window after a lead time);
//! CompleteOrder records the slot on the order. Publishes `DeliveryScheduled`.

use order_lambda::announce::{self, Origin};
use order_lambda::clock::SystemClock;
use order_lambda::saga::ScheduleDeliveryInput;
use order_lambda::{config, step};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let delivery = &config::delivery()?;
    let aws = config::aws().await;
    let events = &config::events(&aws)?;
    // The booking itself calls no AWS service: a DynamoDB client only for a local fault plan.
    let faults = &config::fault_plan(|| aws_sdk_dynamodb::Client::new(&aws))?;
    let no_business_error = |_: &ScheduleDeliveryInput| None;
    step::serve(
        "schedule-delivery",
        faults,
        no_business_error,
        |input, correlation_id| async move {
            let origin = Origin {
                correlation_id: &correlation_id,
                clock: &SystemClock,
            };
            announce::schedule_delivery(delivery, events, origin, input).await
        },
    )
    .await
}
