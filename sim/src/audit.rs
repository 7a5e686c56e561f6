//! The audit function in process: the orders', inventory's and billing's streams delivered to
//! `order_lambda::audit_stream::record_batch` (the function's handler) in batches, as the event
//! source mappings deliver them: at least once (a batch is sometimes delivered again), and a
//! batch that names a failed record is retried from it. Then the trail must add up to what the
//! tables hold.

use crate::cloud::{self, Cloud};
use aws_lambda_events::event::dynamodb::Event;
use chrono::{DateTime, Duration, DurationRound, Utc};
use order_adapters::dynamodb::DynamoAudit;
use order_core::audit::{Action, AuditEntry, AuditLog, Sources};
use order_core::order::Sku;
use order_core::page::PageRequest;
use order_core::ports::{BillingStore, InventoryStore};
use order_lambda::audit_stream;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeSet;

/// template.yaml's `BatchSize` for the audit function's stream mappings.
const BATCH: usize = 100;

/// What the delivery did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delivered {
    pub records: usize,
    pub batches: usize,
    pub redelivered: usize,
}

/// Delivers every record of the three streams to the audit function's handler.
pub async fn deliver(cloud: &Cloud, rng: &mut ChaCha8Rng) -> Result<Delivered, String> {
    let log = DynamoAudit::new(cloud.client.clone(), cloud::AUDIT_TABLE);
    let sources = Sources {
        orders: cloud::ORDERS_TABLE.to_owned(),
        inventory: cloud::INVENTORY_TABLE.to_owned(),
        billing: cloud::BILLING_TABLE.to_owned(),
    };
    let mut delivered = Delivered::default();
    for table in cloud::STREAMED {
        let records = cloud.stream_records(table)?;
        delivered.records += records.len();
        let mut from = 0;
        // Bounded: a batch that keeps failing would block its shard on AWS too (until the
        // records expire); here it is a broken property, reported by the trail's sums.
        let mut attempts = 0;
        while from < records.len() && attempts < 10 * records.len() {
            attempts += 1;
            let to = (from + BATCH).min(records.len());
            let batch = &records[from..to];
            let times = if rng.random_bool(0.2) { 2 } else { 1 };
            let mut failed_at = None;
            for _ in 0..times {
                let event: Event = serde_json::from_value(json!({ "Records": batch }))
                    .map_err(|e| format!("a {table} stream batch does not decode: {e}"))?;
                delivered.batches += 1;
                let answer = audit_stream::record_batch(&log, &sources, event).await;
                failed_at = answer
                    .batch_item_failures
                    .first()
                    .and_then(|f| f.item_identifier.clone());
            }
            delivered.redelivered += times - 1;
            from = match failed_at {
                Some(sequence) => batch
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"] == sequence.as_str())
                    .map_or(to, |at| from + at),
                None => to,
            };
        }
    }
    Ok(delivered)
}

/// The trail adds up: each product's stock entries sum to its stock, and each account's balance
/// entries to its balance (a change audited twice, or missed, breaks the sum).
pub async fn check(
    cloud: &Cloud,
    skus: &[Sku],
    users: &[String],
    violation: &mut impl FnMut(String),
) -> Result<usize, String> {
    let log = DynamoAudit::new(cloud.client.clone(), cloud::AUDIT_TABLE);
    let read = |e: order_core::error::StoreError| e.to_string();
    // The trail is kept by hour, and a schedule writes in a few hours spread over days (its
    // executions, then each cleanup run past the deadlines): the hours that hold entries are
    // found from a scan of their times, and each run of consecutive hours is read through the
    // adapter. The scan's count then says nothing was left out.
    let times = cloud.scan(cloud::AUDIT_TABLE, &["at"])?;
    let hours: BTreeSet<DateTime<Utc>> = times
        .iter()
        .filter_map(|item| item["at"]["S"].as_str())
        .filter_map(|at| DateTime::parse_from_rfc3339(at).ok())
        .filter_map(|at| at.to_utc().duration_trunc(Duration::hours(1)).ok())
        .collect();
    let mut ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for hour in hours {
        match ranges.last_mut() {
            Some((_, to)) if *to == hour => *to = hour + Duration::hours(1),
            _ => ranges.push((hour, hour + Duration::hours(1))),
        }
    }
    let mut trail: Vec<AuditEntry> = Vec::new();
    for (from, to) in ranges {
        let mut page = PageRequest::first(1000);
        loop {
            let got = log.between(from, to, &page).await.map_err(read)?;
            trail.extend(got.items);
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
    }
    if trail.len() != times.len() {
        violation(format!(
            "the audit table holds {} entries, its report by time gave {}",
            times.len(),
            trail.len()
        ));
    }
    let delta = |e: &AuditEntry, field: &str| {
        e.after[field].as_i64().unwrap_or(0) - e.before[field].as_i64().unwrap_or(0)
    };
    let sum = |action: Action, subject: &str, field: &str| -> i64 {
        trail
            .iter()
            .filter(|e| e.action == action && e.subject == subject)
            .map(|e| delta(e, field))
            .sum()
    };
    for sku in skus {
        let Some(product) = cloud.inventory.stock(sku).await.map_err(read)? else {
            continue;
        };
        let subject = format!("PRODUCT#{sku}");
        let audited = (
            sum(Action::Stock, &subject, "available"),
            sum(Action::Stock, &subject, "reserved"),
        );
        if audited != (product.available, product.reserved) {
            violation(format!(
                "{sku}: the audit trail adds up to {audited:?} (available, reserved), the table holds ({}, {})",
                product.available, product.reserved
            ));
        }
    }
    for user in users {
        let Some(account) = cloud.billing.account(user).await.map_err(read)? else {
            continue;
        };
        let audited = sum(Action::Balance, &format!("ACCOUNT#{user}"), "balance");
        if audited != account.balance {
            violation(format!(
                "{user}: the audit trail adds up to {audited}, the balance is {}",
                account.balance
            ));
        }
    }
    Ok(trail.len())
}
