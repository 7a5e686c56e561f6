//! notify: tells buyers about their orders. Consumes the buyer-facing domain events from
//! NotifyQueue (SQS, partial batch failures) and sends each on the inbox and the channels of the
//! user's profile, once per event and channel. The rules live in `order_lambda::notification`.
//!
//! `NOTIFIER` picks how notifications go out: `record` (the default, the local stack) stores
//! each in the notifications table, where `GET /notifications` lists them; `aws` records them
//! the same way and sends email by SES and sms and push by SNS (`order_lambda::sending`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn, tracing};
use order_lambda::adapters::channels::AwsChannels;
use order_lambda::adapters::dynamodb::{DynamoNotifications, DynamoProfiles};
use order_lambda::clock::SystemClock;
use order_lambda::config::NotifierConfig;
use order_lambda::error::StoreError;
use order_lambda::faults::FaultPlan;
use order_lambda::notification::Notification;
use order_lambda::ports::{Notifier, Sent};
use order_lambda::sending::SendingNotifier;

/// The notifier `NOTIFIER` chose, fixed at start.
enum Notifiers {
    Record(DynamoNotifications),
    Aws(SendingNotifier<DynamoNotifications, AwsChannels, SystemClock>),
}

impl Notifier for Notifiers {
    async fn send(&self, notification: &Notification) -> Result<Sent, StoreError> {
        match self {
            Self::Record(record) => record.send(notification).await,
            Self::Aws(aws) => Box::pin(aws.send(notification)).await,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // As text: returned from main, an error is printed with `Debug`, and the message is what
    // names the variable and the values it takes.
    let config = NotifierConfig::from_env().map_err(|e| e.to_string())?;
    let notifications_table = order_lambda::config::required("NOTIFICATIONS_TABLE")?;
    let users_table = order_lambda::config::required("USERS_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let faults = &order_lambda::config::fault_plan(|| client.clone())?;
    let profiles = &DynamoProfiles::new(client.clone(), users_table);
    let store = DynamoNotifications::new(client, notifications_table);
    let notifier = &match config {
        NotifierConfig::Record => Notifiers::Record(store),
        NotifierConfig::Aws {
            from_address,
            configuration_set,
        } => Notifiers::Aws(SendingNotifier::new(
            store,
            AwsChannels::from_config(&aws, from_address, configuration_set),
            SystemClock,
        )),
    };
    lambda_runtime::run(service_fn(move |event| {
        // Boxed, as the other functions' handlers are: the batch's future nests the channels'
        // SDK futures, too deep for rustc's layout query in an optimised build otherwise.
        Box::pin(handler(profiles, notifier, faults, event))
    }))
    .await
}

async fn handler(
    profiles: &DynamoProfiles,
    notifier: &Notifiers,
    faults: &impl FaultPlan,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Diagnostic> {
    // When Lambda stops the invocation (milliseconds since the epoch).
    let deadline = i64::try_from(event.context.deadline)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis);
    Ok(order_lambda::notify_queue::handle_batch(
        event.payload,
        profiles,
        notifier,
        faults,
        &SystemClock,
        deadline,
    )
    .await)
}
