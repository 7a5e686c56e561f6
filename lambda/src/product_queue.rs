//! The sync-product function's SQS consumer: each product event applied to the order side's
//! product view by `order_core::product_view::sync`, with partial batch failures.

use crate::sqs;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use order_core::clock::Clock;
use order_core::order::Sku;
use order_core::ports::ProductViewStore;
use order_core::product_view::{SyncError, Synced, sync};

/// Applies each record on its own, only the failed ones in `batchItemFailures`.
pub async fn handle_batch(
    batch: SqsEvent,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> SqsBatchResponse {
    sqs::each_record(
        &batch,
        || false,
        |record| {
            Box::pin(async move {
                let message_id = record.message_id.as_deref().unwrap_or_default();
                let synced = handle_record(record, view, clock)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(message_id, ?synced, "product event handled");
                Ok(())
            })
        },
    )
    .await
}

async fn handle_record(
    record: &SqsMessage,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> Result<Synced, SyncError> {
    let event = sqs::event_of(record)?;
    let sku = event.sku.as_ref().map(Sku::to_string).unwrap_or_default();
    let span = tracing::info_span!("product", sku, correlation_id = %event.correlation_id);
    tracing::Instrument::instrument(sync(&event, view, clock), span).await
}
