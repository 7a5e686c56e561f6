//! charge-payment: debits the customer's billing account and records the payment under the
//! order id in one transaction; never charges an order twice. Fails with `PaymentDeclined`.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoBilling;
use shared::clock::SystemClock;
use shared::saga::{self, ChargePaymentOutput};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("BILLING_TABLE")?;
    let aws = shared::config::aws().await;
    let billing = &DynamoBilling::new(aws_sdk_dynamodb::Client::new(&aws), table);
    lambda_runtime::run(service_fn(move |event| handler(billing, event))).await
}

async fn handler(
    billing: &DynamoBilling,
    event: LambdaEvent<Value>,
) -> Result<ChargePaymentOutput, Diagnostic> {
    let input = saga::parse_input(event.payload)?;
    Ok(saga::charge_payment(billing, &SystemClock, input).await?)
}
