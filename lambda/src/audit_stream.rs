//! The audit function's stream consumer: each order, stock and balance change of the orders',
//! inventory's and billing's DynamoDB streams turned into one trail entry
//! (`order_core::audit::entry_from_change`).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use order_adapters::dynamodb::stream::image;
use order_core::audit::{AuditEntry, AuditLog, Change, Image, Sources, entry_from_change};
use order_core::error::StoreError;

/// Appends the entries of one batch of stream records, in order. At the first record that
/// fails, it stops and names that record: Lambda then retries the shard from it (the
/// mapping's `ReportBatchItemFailures`), so no change is skipped and none is audited twice
/// (a redelivered record's put finds its entry and writes nothing).
pub async fn record_batch(
    log: &impl AuditLog,
    sources: &Sources,
    event: Event,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let sequence = record.change.sequence_number.clone();
        let span = tracing::info_span!("audit record", event_id = %record.event_id);
        let outcome = record_one(log, sources, record).await;
        let _entered = span.enter();
        match outcome {
            Ok(Some(entry)) => {
                tracing::info!(audit_id = %entry.audit_id, subject = %entry.subject,
                    reason = %entry.reason, "audited");
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "audit record failed; the shard is retried from it");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    response
}

async fn record_one(
    log: &impl AuditLog,
    sources: &Sources,
    record: EventRecord,
) -> Result<Option<AuditEntry>, StoreError> {
    let arn = record.event_source_arn.as_deref().unwrap_or_default();
    let Some(source) = sources.of(arn) else {
        return Err(StoreError::Internal(format!(
            "a record from an unknown stream {arn:?}"
        )));
    };
    let read = |item: serde_dynamo::Item| -> Result<Option<Image>, StoreError> {
        if item.is_empty() {
            return Ok(None);
        }
        image(source, item).map_err(|e| StoreError::Internal(format!("reading an image: {e}")))
    };
    let change = Change {
        event_id: record.event_id,
        seen_at: record.change.approximate_creation_date_time,
        old: read(record.change.old_image)?,
        new: read(record.change.new_image)?,
    };
    match entry_from_change(&change) {
        Some(entry) => {
            log.append(&entry).await?;
            Ok(Some(entry))
        }
        None => Ok(None),
    }
}
