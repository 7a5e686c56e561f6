//! charge-payment: debits the customer's billing account and records the payment under the
//! order id in one transaction; never charges an order twice. Fails with `PaymentDeclined`.

use order_lambda::adapters::dynamodb::DynamoBilling;
use order_lambda::announce::{self, Origin};
use order_lambda::billing::DeclineReason;
use order_lambda::clock::SystemClock;
use order_lambda::saga::{ChargePaymentInput, StepError};
use order_lambda::{config, step};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::required("BILLING_TABLE")?;
    let aws = config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &config::fault_plan(|| client.clone())?;
    let events = &config::events(&aws)?;
    let billing = &DynamoBilling::new(client, table);
    // A planned business fault is a declined payment.
    let declined =
        |_: &ChargePaymentInput| Some(StepError::PaymentDeclined(DeclineReason::InsufficientFunds));
    step::serve(
        "charge-payment",
        faults,
        declined,
        |input, correlation_id| async move {
            let origin = Origin {
                correlation_id: &correlation_id,
                clock: &SystemClock,
            };
            announce::charge_payment(billing, events, origin, input).await
        },
    )
    .await
}
