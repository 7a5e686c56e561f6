//! refund-payment: compensation of charge-payment. Credits the order's payment back exactly
//! once; an order that was never charged is a successful no-op.

use order_lambda::adapters::dynamodb::DynamoBilling;
use order_lambda::announce::{self, Origin};
use order_lambda::audit::ChangedBy;
use order_lambda::clock::SystemClock;
use order_lambda::saga::CompensationInput;
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
    let no_business_error = |_: &CompensationInput| None;
    step::serve(
        "refund-payment",
        faults,
        no_business_error,
        |input, correlation_id| async move {
            let origin = Origin {
                correlation_id: &correlation_id,
                clock: &SystemClock,
            };
            let by = ChangedBy::saga(Some(&correlation_id));
            announce::refund_payment(billing, events, origin, &by, input).await
        },
    )
    .await
}
