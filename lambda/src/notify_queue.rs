//! The notify function's SQS consumer: each record's event delivered by
//! `order_core::notify::deliver`, through the fault plan and timed, with partial batch
//! failures.

use crate::metrics;
use crate::sqs;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use order_core::clock::Clock;
use order_core::events::{DomainEvent, EventType};
use order_core::notification::Outcome;
use order_core::notify::deliver;
use order_core::ports::{Notifier, ProfileStore};
use order_core::saga::StepError;
use order_faults::{self as faults, FaultPlan, diagnostic};
use serde_json::Value;
use tracing::Instrument;

/// This consumer's name in fault plans and metrics.
pub const STEP: &str = "notify";

/// The longest one record may take: a send on each outside channel (email, sms, push), each
/// bounded by `sending::SEND_TIMEOUT`, and the notification table's writes around them. The notify
/// function's timeout (template.yaml, 10 s) is above it, so a batch always gets a record done.
pub const RECORD_BUDGET: chrono::Duration = chrono::Duration::seconds(7);

/// The notify function's SQS entry point: each record on its own, and only the records that
/// failed in `batchItemFailures` (the queue's mapping has `ReportBatchItemFailures`), so a bad
/// message never makes a good one come back. A record fails when its body is not an event this
/// consumer knows, when a store or channel fails, or when a fault planned for the event's user
/// under `notify` says so. Each record is timed (`StepLatency`, step `notify`); an order's
/// `OrdersCompleted` / `OrdersCancelled` is counted when its inbox notification is first
/// recorded, so once per order however often the event comes.
///
/// A record without a message id (never sent by SQS) is reported with an empty id, which fails
/// the whole batch, as Lambda treats it: nothing is lost.
pub async fn handle_batch(
    batch: SqsEvent,
    profiles: &impl ProfileStore,
    notifier: &impl Notifier,
    faults: &impl FaultPlan,
    clock: &dyn Clock,
    deadline: Option<DateTime<Utc>>,
) -> SqsBatchResponse {
    let out_of_time = || deadline.is_some_and(|at| at - clock.now() < RECORD_BUDGET);
    sqs::each_record(&batch, out_of_time, |record| {
        // Boxed, as each step's future is (`announce`): nested in the runtime's and the
        // wrappers' futures, its type is too deep for rustc's layout query otherwise.
        Box::pin(async move {
            handle_record(record, profiles, notifier, faults, clock)
                .await
                .map_err(|e| format!("{}: {}", e.error_type, e.error_message))
        })
    })
    .await
}

async fn handle_record(
    record: &SqsMessage,
    profiles: &impl ProfileStore,
    notifier: &impl Notifier,
    faults: &impl FaultPlan,
    clock: &dyn Clock,
) -> Result<(), Diagnostic> {
    let event = sqs::event_of(record).map_err(|e| diagnostic(e.into()))?;
    let order_id = event.order_id.map(|o| o.to_string()).unwrap_or_default();
    // The record's log lines name its order and the correlation id the event carries.
    let span = tracing::info_span!("order", order_id, correlation_id = %event.correlation_id);
    handle_event(&event, profiles, notifier, faults, clock)
        .instrument(span)
        .await
}

async fn handle_event(
    event: &DomainEvent,
    profiles: &impl ProfileStore,
    notifier: &impl Notifier,
    faults: &impl FaultPlan,
    clock: &dyn Clock,
) -> Result<(), Diagnostic> {
    let order_id = event.order_id.map(|o| o.to_string()).unwrap_or_default();
    let step = async {
        Box::pin(deliver(event, profiles, notifier, clock))
            .await
            .map_err(StepError::from)
    };
    let delivery = metrics::timed_step(
        STEP,
        &order_id,
        faults::around(faults, STEP, &event.user_id, None, step),
    )
    .await?;
    if delivery.first_on_inbox() {
        let outcome = match event.event_type {
            EventType::OrderCompleted => Some(Outcome::Completed),
            EventType::OrderCancelled => Some(Outcome::Cancelled),
            _ => None,
        };
        if let Some(outcome) = outcome {
            let reason = event.data.get("reason").and_then(Value::as_str);
            metrics::emit_outcome(STEP, &order_id, outcome, reason);
        }
    }
    Ok(())
}
