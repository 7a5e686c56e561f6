//! charge-payment: debits the customer's billing account and records the payment under the
//! order id in one transaction; never charges an order twice. Fails with `PaymentDeclined`.

use order_lambda::adapters::dynamodb::DynamoBilling;
use order_lambda::clock::SystemClock;
use order_lambda::{config, step, steps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = config::required("BILLING_TABLE")?;
    let aws = config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &config::fault_plan(|| client.clone())?;
    let events = &config::events(&aws)?;
    let billing = &DynamoBilling::new(client, table);
    step::serve(
        steps::CHARGE_PAYMENT,
        faults,
        steps::declined,
        |input, id| steps::charge_payment(billing, events, &SystemClock, input, id),
    )
    .await
}
