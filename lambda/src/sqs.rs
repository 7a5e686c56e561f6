//! SQS batches with partial failures: every consumer's queue mapping has
//! `ReportBatchItemFailures`, so only the records that failed come back, and a bad message never
//! brings the good ones back with it.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use order_core::events::{DomainEvent, TYPE_ATTRIBUTE};
use order_core::notification::{NotifyError, parse_message};
use std::future::Future;

/// Handles each record on its own, in order, and names the failed ones in `batchItemFailures`.
/// `out_of_time` is asked before each record: once it says so, the rest are handed back
/// unstarted (a batch that timed out part way would come back whole, with what it had done).
///
/// A record without a message id (never sent by SQS) is reported with an empty id, which fails
/// the whole batch, as Lambda treats it: nothing is lost.
pub async fn each_record<'a, F, Fut>(
    batch: &'a SqsEvent,
    out_of_time: impl Fn() -> bool,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut response = SqsBatchResponse::default();
    for (index, record) in batch.records.iter().enumerate() {
        let message_id = record.message_id.clone().unwrap_or_default();
        if out_of_time() {
            let left = &batch.records[index..];
            tracing::warn!(
                records = left.len(),
                "out of time for the rest of the batch; handed back unstarted"
            );
            for unstarted in left {
                response.add_failure(unstarted.message_id.clone().unwrap_or_default());
            }
            break;
        }
        if let Err(error) = handle(record).await {
            tracing::warn!(
                message_id,
                %error,
                "a record failed; it comes back after the visibility timeout"
            );
            response.add_failure(message_id);
        }
    }
    response
}

/// The domain event a queue message carries (raw delivery: the envelope is the body), checked
/// against the message's `type` attribute when it has one.
pub fn event_of(message: &SqsMessage) -> Result<DomainEvent, NotifyError> {
    let type_attribute = message
        .message_attributes
        .get(TYPE_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref());
    parse_message(message.body.as_deref(), type_attribute)
}
