//! notify: records the saga's outcome for the customer, once per order and outcome.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoNotifications;
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::metrics;
use shared::saga::{self, NotifyInput, NotifyOutput};

/// This step's name in fault plans.
const STEP: &str = "notify";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("NOTIFICATIONS_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &faults::plan_from_env(&client)?;
    let notifications = &DynamoNotifications::new(client, table);
    lambda_runtime::run(service_fn(move |event| {
        handler(notifications, faults, event)
    }))
    .await
}

async fn handler(
    notifications: &DynamoNotifications,
    faults: &impl FaultPlan,
    event: LambdaEvent<Value>,
) -> Result<NotifyOutput, Diagnostic> {
    let scope = faults::scope_of(&event.payload);
    let input: NotifyInput = saga::parse_input(event.payload)?;
    let order_id = input.order_id.to_string();
    let (outcome, reason) = (input.outcome, input.reason.clone());
    let step = faults::around(
        faults,
        STEP,
        &scope,
        None,
        saga::notify(notifications, &SystemClock, input),
    );
    let output = metrics::timed_step(STEP, &order_id, step).await?;
    // Counted once per order: a retry that finds the notification recorded counts nothing.
    if output.notified {
        metrics::emit_outcome(STEP, &order_id, outcome, reason.as_deref());
    }
    Ok(output)
}
