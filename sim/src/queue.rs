//! An SQS standard queue drained by a Lambda event source mapping, in process: batches of up to
//! `batch` records, at least once (a batch is sometimes delivered again), a record the answer
//! names in `batchItemFailures` back after its visibility timeout (behind what is waiting), and
//! one received `max_receives` times moved to the queue's DLQ (its `RedrivePolicy`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::HashSet;

/// A queue's delivery settings (template.yaml): its mapping's `BatchSize` and its
/// `maxReceiveCount`.
pub struct Queue {
    pub name: &'static str,
    pub batch: usize,
    pub max_receives: u32,
}

impl Queue {
    /// Hands `messages` (raw bodies) to `handle` until the queue is empty; returns what went to
    /// the DLQ. `receives` counts every record handed out (a record's id is unique by it).
    pub async fn drain<F, Fut>(
        &self,
        messages: Vec<Value>,
        rng: &mut ChaCha8Rng,
        receives: &mut usize,
        mut handle: F,
    ) -> Result<Vec<Value>, String>
    where
        F: FnMut(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        // (message, receives so far); the queue hands out the oldest first.
        let mut queue: Vec<(Value, u32)> = messages.into_iter().map(|m| (m, 0)).collect();
        let mut dead = Vec::new();
        while !queue.is_empty() {
            let take = queue.len().min(self.batch);
            let batch: Vec<(Value, u32)> = queue.drain(..take).collect();
            let records: Vec<Value> = batch
                .iter()
                .enumerate()
                .map(|(i, (body, _))| {
                    json!({
                        "messageId": format!("m-{receives}-{i}"),
                        "body": body.to_string(),
                        "eventSource": "aws:sqs",
                        "attributes": {},
                        "messageAttributes": {},
                    })
                })
                .collect();
            // At least once: a batch is sometimes delivered again.
            let times = if rng.random_bool(0.2) { 2 } else { 1 };
            let mut failed: HashSet<String> = HashSet::new();
            for _ in 0..times {
                let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))
                    .map_err(|e| format!("a {} batch does not decode: {e}", self.name))?;
                failed = handle(event)
                    .await
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect();
            }
            *receives += batch.len() * times;
            for ((body, received), record) in batch.into_iter().zip(&records) {
                let id = record["messageId"].as_str().unwrap_or_default();
                if !failed.contains(id) {
                    continue;
                }
                if received + 1 >= self.max_receives {
                    dead.push(body);
                } else {
                    // Back after its visibility timeout, behind what is waiting.
                    queue.push((body, received + 1));
                }
            }
        }
        Ok(dead)
    }
}
