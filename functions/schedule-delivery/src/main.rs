//! schedule-delivery: the saga's step after payment. Books a delivery slot for the order
//! through the `DeliveryService` port (locally: the first whole-hour window after a lead time);
//! CompleteOrder records the slot on the order. Publishes `DeliveryScheduled`.

use order_lambda::clock::SystemClock;
use order_lambda::{config, step, steps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let delivery = &config::delivery()?;
    let aws = config::aws().await;
    let events = &config::events(&aws)?;
    // The booking itself calls no AWS service: a DynamoDB client only for a local fault plan.
    let faults = &config::fault_plan(|| aws_sdk_dynamodb::Client::new(&aws))?;
    step::serve(
        steps::SCHEDULE_DELIVERY,
        faults,
        steps::no_business_error,
        |input, id| steps::schedule_delivery(delivery, events, &SystemClock, input, id),
    )
    .await
}
