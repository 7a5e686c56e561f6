//! The audit table. One item per entry, written once with a conditional put and never updated.
//!
//! Item layout: `pk` = the entry's trail (`ORDER#<orderId>` for everything an order did, else
//! `PRODUCT#<sku>` or `ACCOUNT#<userId>`), `sk` = `<at>#<auditId>`, so an order's trail is one
//! Query in time order. The `ByTime` index answers the compliance report: `gsi1pk` =
//! `HOUR#<yyyy-mm-ddThh>` (UTC), `gsi1sk` = `<at>#<auditId>`. An hour bucket takes every entry of
//! that hour: about 6 entries per order is 500 writes/s at 5,000 orders/minute, under the
//! 1,000 a partition takes; shard the bucket before going far past that.

use super::wire::{classify, from_item, put_if_absent, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use chrono::{DateTime, Duration, DurationRound, Utc};
use order_core::audit::{Action, ActorType, AuditEntry, AuditLog};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::order::OrderId;
use order_core::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const BY_TIME_INDEX: &str = "ByTime";
/// Empty hours one page of the report looks through before it answers with a cursor.
const MAX_HOURS_PER_PAGE: usize = 48;
/// An order's trail is short (about ten entries); this only bounds a pathological one.
const MAX_TRAIL: usize = 1000;

#[derive(Debug, Clone)]
pub struct DynamoAudit {
    client: Client,
    table: String,
}

impl DynamoAudit {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    audit_id: String,
    at: String,
    action: Action,
    subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
    actor: ActorType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor_id: Option<String>,
    reason: String,
    /// Compact JSON: kept as text so numbers and nulls come back exactly as written.
    before: String,
    after: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
}

impl AuditItem {
    fn from_entry(e: &AuditEntry) -> Result<Self, StoreError> {
        let at = DateTime::parse_from_rfc3339(&e.at)
            .map_err(|_| StoreError::Internal(format!("audit entry time {:?}", e.at)))?
            .with_timezone(&Utc);
        let sort = format!("{}#{}", e.at, e.audit_id);
        Ok(Self {
            pk: e.trail(),
            sk: sort.clone(),
            gsi1pk: hour_bucket(at),
            gsi1sk: sort,
            audit_id: e.audit_id.clone(),
            at: e.at.clone(),
            action: e.action,
            subject: e.subject.clone(),
            order_id: e.order_id.clone(),
            actor: e.actor,
            actor_id: e.actor_id.clone(),
            reason: e.reason.clone(),
            before: e.before.to_string(),
            after: e.after.to_string(),
            correlation_id: e.correlation_id.clone(),
        })
    }

    fn into_entry(self) -> Result<AuditEntry, StoreError> {
        let json = |text: &str| {
            serde_json::from_str(text)
                .map_err(|e| StoreError::Internal(format!("audit item {}: {e}", self.audit_id)))
        };
        Ok(AuditEntry {
            before: json(&self.before)?,
            after: json(&self.after)?,
            audit_id: self.audit_id,
            at: self.at,
            action: self.action,
            subject: self.subject,
            order_id: self.order_id,
            actor: self.actor,
            actor_id: self.actor_id,
            reason: self.reason,
            correlation_id: self.correlation_id,
        })
    }
}

fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

fn hour_bucket(at: DateTime<Utc>) -> String {
    format!("HOUR#{}", hour_start(at).format("%Y-%m-%dT%H"))
}

/// Where the next page of a report goes on: an hour, and the index key within it, if any.
#[derive(Serialize, Deserialize)]
struct ReportCursor {
    hour: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<HashMap<String, String>>,
}

fn encode(cursor: &ReportCursor) -> Option<String> {
    let json = serde_json::to_vec(cursor).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// A cursor passes only with an hour inside the range and, with a key, exactly an index key of
/// that hour's bucket: a forged one cannot steer the query anywhere else.
fn decode(
    cursor: &str,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<ReportCursor, StoreError> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let c: ReportCursor = serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    if c.hour != hour_start(c.hour) || c.hour < first || c.hour > last {
        return Err(StoreError::InvalidCursor);
    }
    if let Some(key) = &c.key {
        let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
        names.sort_unstable();
        let well_formed = names == ["gsi1pk", "gsi1sk", "pk", "sk"]
            && key.get("gsi1pk") == Some(&hour_bucket(c.hour))
            && key.get("gsi1sk") == key.get("sk");
        if !well_formed {
            return Err(StoreError::InvalidCursor);
        }
    }
    Ok(c)
}

impl AuditLog for DynamoAudit {
    async fn append(&self, entry: &AuditEntry) -> Result<bool, StoreError> {
        put_if_absent(
            &self.client,
            &self.table,
            to_item(&AuditItem::from_entry(entry)?)?,
        )
        .await
    }

    async fn trail(&self, order_id: OrderId) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("ORDER#{order_id}")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item::<AuditItem>(item)?.into_entry()?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || entries.len() >= MAX_TRAIL {
                return Ok(entries);
            }
        }
    }

    async fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let last_ms = to - Duration::milliseconds(1);
        let (first_hour, last_hour) = (hour_start(from), hour_start(last_ms));
        if to <= from {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let mut cursor = match &page.cursor {
            Some(c) => decode(c, first_hour, last_hour)?,
            None => ReportCursor {
                hour: first_hour,
                key: None,
            },
        };
        // `at#auditId` sorts as text the way it sorts in time; '~' sorts after every id.
        let (low, high) = (format_time(from), format!("{}#~", format_time(last_ms)));
        let mut items = Vec::new();
        for _ in 0..MAX_HOURS_PER_PAGE {
            let want = page.limit as usize - items.len();
            let start = cursor.key.take().map(|key| {
                key.into_iter()
                    .map(|(k, v)| (k, AttributeValue::S(v)))
                    .collect()
            });
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_TIME_INDEX)
                .key_condition_expression("gsi1pk = :h AND gsi1sk BETWEEN :low AND :high")
                .expression_attribute_values(":h", s(hour_bucket(cursor.hour)))
                .expression_attribute_values(":low", s(low.clone()))
                .expression_attribute_values(":high", s(high.clone()))
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                items.push(from_item::<AuditItem>(item)?.into_entry()?);
            }
            match output.last_evaluated_key {
                Some(key) => {
                    cursor.key = Some(
                        key.into_iter()
                            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone())))
                            .collect(),
                    );
                }
                None if cursor.hour >= last_hour => {
                    return Ok(Page {
                        items,
                        next_cursor: None,
                    });
                }
                None => cursor.hour += Duration::hours(1),
            }
            if items.len() >= page.limit as usize {
                break;
            }
        }
        Ok(Page {
            items,
            next_cursor: encode(&cursor),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn buckets_are_utc_hours() {
        assert_eq!(hour_bucket(t(7, 59)), "HOUR#2026-11-23T07");
        assert_eq!(hour_start(t(7, 59)), t(7, 0));
    }

    #[test]
    fn report_cursors_stay_inside_their_range() {
        let ok = encode(&ReportCursor {
            hour: t(8, 0),
            key: None,
        })
        .unwrap();
        assert!(decode(&ok, t(7, 0), t(9, 0)).is_ok());
        assert_eq!(
            decode(&ok, t(9, 0), t(10, 0)).err(),
            Some(StoreError::InvalidCursor)
        );
        let forged = encode(&ReportCursor {
            hour: t(8, 0),
            key: Some(HashMap::from([
                ("pk".into(), "ORDER#x".into()),
                ("sk".into(), "a".into()),
                ("gsi1pk".into(), "HOUR#2026-11-23T03".into()),
                ("gsi1sk".into(), "a".into()),
            ])),
        })
        .unwrap();
        assert_eq!(
            decode(&forged, t(7, 0), t(9, 0)).err(),
            Some(StoreError::InvalidCursor)
        );
        assert_eq!(
            decode("%%", t(7, 0), t(9, 0)).err(),
            Some(StoreError::InvalidCursor)
        );
    }
}
