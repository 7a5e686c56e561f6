//! notify: tells buyers about their orders. Consumes the buyer-facing domain events from
//! NotifyQueue (SQS, partial batch failures) and sends each on the inbox and the channels of the
//! user's profile, once per event and channel. The rules live in `shared::notification`.
//!
//! `NOTIFIER` picks how notifications go out: `record` (the default, and the only one so far)
//! stores each in the notifications table, where `GET /notifications` lists them.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use shared::adapters::dynamodb::{DynamoNotifications, DynamoProfiles};
use shared::clock::SystemClock;
use shared::faults::{self, FaultPlan};
use shared::notification;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    match std::env::var("NOTIFIER").unwrap_or_default().as_str() {
        "" | "record" => {}
        other => {
            return Err(format!(
                "NOTIFIER={} is not supported; `record` (the default) stores notifications in NOTIFICATIONS_TABLE",
                other.chars().take(32).collect::<String>()
            )
            .into());
        }
    }
    let notifications_table = shared::config::required("NOTIFICATIONS_TABLE")?;
    let users_table = shared::config::required("USERS_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &faults::plan_from_env(&client)?;
    let profiles = &DynamoProfiles::new(client.clone(), users_table);
    let notifier = &DynamoNotifications::new(client, notifications_table);
    lambda_runtime::run(service_fn(move |event| {
        handler(profiles, notifier, faults, event)
    }))
    .await
}

async fn handler(
    profiles: &DynamoProfiles,
    notifier: &DynamoNotifications,
    faults: &impl FaultPlan,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Diagnostic> {
    Ok(notification::handle_batch(event.payload, profiles, notifier, faults, &SystemClock).await)
}
