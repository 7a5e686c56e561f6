//! refund-payment: compensation of charge-payment. Credits the order's payment back exactly
//! once; an order that was never charged is a successful no-op.

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
        steps::REFUND_PAYMENT,
        faults,
        steps::no_business_error,
        |input, id| steps::refund_payment(billing, events, &SystemClock, input, id),
    )
    .await
}
