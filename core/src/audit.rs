//! The audit trail: every order status change, stock movement and money movement, with who
//! made it (`Actor`), why, the values before and after, and the correlation id that ties it to
//! the API request, the saga execution and the events.
//!
//! How an entry comes to be: each writer stamps the item it changes with `lastChange` (a
//! `Stamp`) in the same write, so the stamp can never disagree with the change. The audit
//! function reads the orders', inventory's and billing's DynamoDB streams and turns each
//! record's old and new image into at most one `AuditEntry` (`entry_from_change`), appended
//! with a conditional put keyed by the stream record: a redelivered record writes nothing, and
//! an entry is never updated. Reading the change from the stream, not from the writer, means a
//! writer cannot forget to audit: a write without a stamp is still audited, as `UNATTRIBUTED`.

use crate::clock::format_time;
use crate::error::StoreError;
use crate::page::{Page, PageRequest};
use crate::values::OrderId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::future::Future;
use uuid::Uuid;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    /// A customer, through the API.
    User,
    /// An admin, through the admin routes.
    Admin,
    /// The order saga (its Lambda steps and its own status writes).
    Saga,
    /// The scheduled cleanup (or the operator's tool acting as it).
    Scheduler,
    /// Seeding, or a write that left no stamp.
    System,
}

impl ActorType {
    /// As it is stored and reported (`user`, `saga`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Saga => "saga",
            Self::Scheduler => "scheduler",
            Self::System => "system",
        }
    }
}

/// Who changes something and on which request: what a caller hands the port that writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedBy {
    pub actor: ActorType,
    /// The user's or admin's id (the JWT `sub`); none for the saga and the scheduler.
    pub actor_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl ChangedBy {
    pub fn user(id: &str, correlation_id: Option<&str>) -> Self {
        Self::new(ActorType::User, Some(id), correlation_id)
    }

    /// The customer who owns the item changed (an order's `userId` names them).
    pub fn owner() -> Self {
        Self::new(ActorType::User, None, None)
    }

    pub fn admin(id: &str, correlation_id: Option<&str>) -> Self {
        Self::new(ActorType::Admin, Some(id), correlation_id)
    }

    pub fn saga(correlation_id: Option<&str>) -> Self {
        Self::new(ActorType::Saga, None, correlation_id)
    }

    pub fn scheduler(correlation_id: Option<&str>) -> Self {
        Self::new(ActorType::Scheduler, None, correlation_id)
    }

    pub fn system() -> Self {
        Self::new(ActorType::System, None, None)
    }

    fn new(actor: ActorType, id: Option<&str>, correlation_id: Option<&str>) -> Self {
        Self {
            actor,
            actor_id: id.map(str::to_owned),
            correlation_id: correlation_id.map(str::to_owned),
        }
    }

    /// The stamp a write puts on the item it changes.
    pub fn stamp(&self, reason: &str, order_id: Option<OrderId>, at: DateTime<Utc>) -> Stamp {
        Stamp {
            at: format_time(at),
            actor: self.actor,
            actor_id: self.actor_id.clone(),
            reason: reason.to_owned(),
            order_id: order_id.map(|o| o.to_string()),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// Why stock or money moved, as stamped by the writers (order statuses use their own names).
pub mod reason {
    pub const ORDER_PLACED: &str = "ORDER_PLACED";
    pub const CANCEL_REQUESTED: &str = "CANCEL_REQUESTED";
    pub const RESERVE: &str = "RESERVE";
    pub const RELEASE: &str = "RELEASE";
    pub const STOCK_ADJUSTED: &str = "STOCK_ADJUSTED";
    pub const PRODUCT_UPDATED: &str = "PRODUCT_UPDATED";
    pub const SEED: &str = "SEED";
    pub const CHARGE: &str = "CHARGE";
    pub const REFUND: &str = "REFUND";
    pub const DEPOSIT: &str = "DEPOSIT";
    pub const ACCOUNT_OPENED: &str = "ACCOUNT_OPENED";
    pub const SHIPPED: &str = "SHIPPED";
    pub const DELIVERED: &str = "DELIVERED";
    /// A change whose write left no stamp of its own (an older stamp is not trusted).
    pub const UNATTRIBUTED: &str = "UNATTRIBUTED";
}

/// `lastChange` on an order, product or account item: written by the same write as the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// RFC 3339; the writer's clock (the state's entered time for the saga's own writes).
    pub at: String,
    pub actor: ActorType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// What changed: an order, a product's stock, or an account's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    OrderStatus,
    Stock,
    Balance,
}

impl Action {
    /// As it is stored and reported (`ORDER_STATUS`, `STOCK`, `BALANCE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderStatus => "ORDER_STATUS",
            Self::Stock => "STOCK",
            Self::Balance => "BALANCE",
        }
    }
}

/// One immutable line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// UUIDv7 with the change's time, derived from the stream record: the same every delivery.
    pub audit_id: String,
    /// RFC 3339 with milliseconds.
    pub at: String,
    pub action: Action,
    /// `ORDER#<id>`, `PRODUCT#<sku>` or `ACCOUNT#<userId>`.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub actor: ActorType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    pub reason: String,
    /// The audited fields before the change (`null` for a new item).
    pub before: Value,
    /// The audited fields after the change (`null` for a deleted item).
    pub after: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl AuditEntry {
    /// The trail an entry belongs to: the order's when it is about one, else its subject's.
    pub fn trail(&self) -> String {
        match &self.order_id {
            Some(order_id) => format!("ORDER#{order_id}"),
            None => self.subject.clone(),
        }
    }
}

/// Which table a stream record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Orders,
    Inventory,
    Billing,
}

/// The fields of an order item the trail follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderImage {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub cancel_requested_at: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub last_change: Option<Stamp>,
}

/// The fields of a product item the trail follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductImage {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub available: i64,
    #[serde(default)]
    pub reserved: i64,
    #[serde(default)]
    pub price: Option<i64>,
    #[serde(default)]
    pub last_change: Option<Stamp>,
}

/// The fields of an account item the trail follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountImage {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub balance: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub last_change: Option<Stamp>,
}

/// An item's image before or after, as far as the trail needs it.
#[derive(Debug, Clone)]
pub enum Image {
    Order(OrderImage),
    Product(ProductImage),
    Account(AccountImage),
}

/// One stream record, reduced to what `entry_from_change` reads.
#[derive(Debug, Clone)]
pub struct Change {
    /// The stream record's `eventID`: unique per record, the same on every delivery.
    pub event_id: String,
    /// When the stream saw the change; used only when the write left no stamp.
    pub seen_at: DateTime<Utc>,
    pub old: Option<Image>,
    pub new: Option<Image>,
}

/// The entry a change makes, or `None` when nothing the trail follows changed (a saga retry
/// that rewrote the same status, a cart, a payment record, a ledger line...).
pub fn entry_from_change(change: &Change) -> Option<AuditEntry> {
    let (action, subject, before, after, stamp, order_correlation, owner) =
        match (&change.old, &change.new) {
            (old, Some(Image::Order(new))) => {
                let old = match old {
                    Some(Image::Order(o)) => Some(o),
                    _ => None,
                };
                let before = old.map(order_fields);
                let after = order_fields(new);
                if before.as_ref() == Some(&after) {
                    return None;
                }
                let order_id = new.order_id.clone().or_else(|| strip(&new.pk, "ORDER#"))?;
                (
                    Action::OrderStatus,
                    format!("ORDER#{order_id}"),
                    before.unwrap_or(Value::Null),
                    after,
                    fresh_stamp(
                        old.and_then(|o| o.last_change.as_ref()),
                        new.last_change.as_ref(),
                    ),
                    new.correlation_id.clone(),
                    new.user_id.clone(),
                )
            }
            (old, Some(Image::Product(new))) => {
                let old = match old {
                    Some(Image::Product(p)) => Some(p),
                    _ => None,
                };
                let before = old.map(product_fields);
                let after = product_fields(new);
                if before.as_ref() == Some(&after) {
                    return None;
                }
                let sku = new.sku.clone().or_else(|| strip(&new.pk, "PRODUCT#"))?;
                (
                    Action::Stock,
                    format!("PRODUCT#{sku}"),
                    before.unwrap_or_else(|| json!({"available": 0, "reserved": 0, "price": null})),
                    after,
                    fresh_stamp(
                        old.and_then(|p| p.last_change.as_ref()),
                        new.last_change.as_ref(),
                    ),
                    None,
                    None,
                )
            }
            (old, Some(Image::Account(new))) => {
                let old = match old {
                    Some(Image::Account(a)) => Some(a),
                    _ => None,
                };
                let before = old.map(account_fields);
                let after = account_fields(new);
                if before.as_ref() == Some(&after) {
                    return None;
                }
                let user = new.user_id.clone().or_else(|| strip(&new.pk, "ACCOUNT#"))?;
                (
                    Action::Balance,
                    format!("ACCOUNT#{user}"),
                    before.unwrap_or_else(|| json!({"balance": 0, "currency": new.currency})),
                    after,
                    fresh_stamp(
                        old.and_then(|a| a.last_change.as_ref()),
                        new.last_change.as_ref(),
                    ),
                    None,
                    new.user_id.clone(),
                )
            }
            // A deleted item: our writers never delete these; TTL or a hand-made delete would.
            (Some(old), None) => {
                let (action, subject, before) = match old {
                    Image::Order(o) => (Action::OrderStatus, o.pk.clone(), order_fields(o)),
                    Image::Product(p) => (Action::Stock, p.pk.clone(), product_fields(p)),
                    Image::Account(a) => (Action::Balance, a.pk.clone(), account_fields(a)),
                };
                (action, subject, before, Value::Null, None, None, None)
            }
            (None, None) => return None,
        };
    let at = stamp
        .and_then(|s| DateTime::parse_from_rfc3339(&s.at).ok())
        .map_or(change.seen_at, |t| t.with_timezone(&Utc));
    let order_id = match action {
        Action::OrderStatus => strip(&subject, "ORDER#"),
        _ => stamp.and_then(|s| s.order_id.clone()),
    };
    Some(AuditEntry {
        audit_id: audit_id(at, &change.event_id).to_string(),
        at: format_time(at),
        action,
        subject,
        order_id,
        actor: stamp.map_or(ActorType::System, |s| s.actor),
        // A customer's stamp may leave the id to the item: the order's or account's owner.
        actor_id: stamp.and_then(|s| match (&s.actor_id, s.actor) {
            (Some(id), _) => Some(id.clone()),
            (None, ActorType::User) => owner,
            (None, _) => None,
        }),
        reason: stamp.map_or_else(|| reason::UNATTRIBUTED.to_owned(), |s| s.reason.clone()),
        before,
        after,
        correlation_id: stamp
            .and_then(|s| s.correlation_id.clone())
            .or(order_correlation),
    })
}

/// The new image's stamp, unless it is the old image's one left over: a write that did not
/// stamp keeps the previous stamp on the item, and that stamp describes another change.
fn fresh_stamp<'a>(old: Option<&Stamp>, new: Option<&'a Stamp>) -> Option<&'a Stamp> {
    match (old, new) {
        (Some(old), Some(new)) if old == new => None,
        (_, new) => new,
    }
}

fn strip(key: &str, prefix: &str) -> Option<String> {
    key.strip_prefix(prefix)
        .filter(|rest| !rest.is_empty())
        .map(str::to_owned)
}

fn order_fields(order: &OrderImage) -> Value {
    let mut fields = json!({
        "status": order.status,
        "cancelRequested": order.cancel_requested_at.is_some(),
    });
    if let Some(reason) = &order.reason {
        fields["reason"] = json!(reason);
    }
    fields
}

fn product_fields(product: &ProductImage) -> Value {
    json!({"available": product.available, "reserved": product.reserved, "price": product.price})
}

fn account_fields(account: &AccountImage) -> Value {
    json!({"balance": account.balance, "currency": account.currency})
}

/// A UUIDv7 with the change's millisecond time and 74 bits of SHA-256 of the stream record's
/// id: the same record always gives the same id, so its conditional put is idempotent.
pub fn audit_id(at: DateTime<Utc>, event_id: &str) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let digest = Sha256::digest(event_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    Uuid::from_bytes(bytes)
}

/// Where the trail is kept. Entries are only ever added.
pub trait AuditLog: Send + Sync {
    /// Adds the entry unless it is there already (`false` then: a redelivery). An entry is its
    /// trail, its time and its id; a redelivered stream record makes the same three, since the
    /// id is derived from the record's time and event id (`audit_id`).
    fn append(&self, entry: &AuditEntry) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// An order's trail (its status changes, and the stock and money it moved), oldest first.
    fn trail(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// Every entry with `from <= at < to`, oldest first, a page at a time. A cursor this store
    /// did not hand out, or one for another range, is `StoreError::InvalidCursor`.
    fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuditEntry>, StoreError>> + Send;
}

/// The tables whose streams the audit function reads, by name.
#[derive(Debug, Clone)]
pub struct Sources {
    pub orders: String,
    pub inventory: String,
    pub billing: String,
}

impl Sources {
    /// The table of a stream ARN (`arn:aws:dynamodb:…:table/<name>/stream/<label>`).
    pub fn of(&self, stream_arn: &str) -> Option<Source> {
        let name = stream_arn.split("table/").nth(1)?.split('/').next()?;
        [
            (&self.orders, Source::Orders),
            (&self.inventory, Source::Inventory),
            (&self.billing, Source::Billing),
        ]
        .into_iter()
        .find_map(|(table, source)| (table == name).then_some(source))
    }
}

/// The columns of the CSV report, in order.
pub const CSV_COLUMNS: [&str; 12] = [
    "auditId",
    "at",
    "action",
    "subject",
    "orderId",
    "actor",
    "actorId",
    "reason",
    "before",
    "after",
    "correlationId",
    "trail",
];

/// One CSV row per entry (`before` and `after` as compact JSON), header first when asked.
pub fn to_csv(entries: &[AuditEntry], header: bool) -> Result<String, StoreError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let fail = |e: csv::Error| StoreError::Internal(format!("writing CSV: {e}"));
    if header {
        writer.write_record(CSV_COLUMNS).map_err(fail)?;
    }
    for e in entries {
        writer
            .write_record([
                e.audit_id.as_str(),
                e.at.as_str(),
                e.action.as_str(),
                e.subject.as_str(),
                e.order_id.as_deref().unwrap_or(""),
                e.actor.as_str(),
                e.actor_id.as_deref().unwrap_or(""),
                e.reason.as_str(),
                e.before.to_string().as_str(),
                e.after.to_string().as_str(),
                e.correlation_id.as_deref().unwrap_or(""),
                e.trail().as_str(),
            ])
            .map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| StoreError::Internal(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StoreError::Internal(format!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn stamp(reason: &str, by: ChangedBy, order: Option<&str>, s: i64) -> Stamp {
        Stamp {
            at: format_time(at(s)),
            actor: by.actor,
            actor_id: by.actor_id,
            reason: reason.into(),
            order_id: order.map(str::to_owned),
            correlation_id: by.correlation_id,
        }
    }

    fn product(available: i64, reserved: i64, last: Option<Stamp>) -> Image {
        Image::Product(ProductImage {
            pk: "PRODUCT#SKU-1".into(),
            sk: "PRODUCT".into(),
            sku: Some("SKU-1".into()),
            available,
            reserved,
            price: Some(1299),
            last_change: last,
        })
    }

    fn order(status: &str, last: Option<Stamp>) -> Image {
        Image::Order(OrderImage {
            pk: "ORDER#o1".into(),
            sk: "ORDER".into(),
            order_id: Some("o1".into()),
            user_id: Some("alice".into()),
            status: Some(status.into()),
            reason: None,
            cancel_requested_at: None,
            correlation_id: Some("req-1".into()),
            last_change: last,
        })
    }

    fn change(old: Option<Image>, new: Option<Image>) -> Change {
        Change {
            event_id: "ev-1".into(),
            seen_at: at(100),
            old,
            new,
        }
    }

    #[test]
    fn a_reservation_is_a_stock_movement_of_its_order() {
        let by = ChangedBy::saga(Some("req-1"));
        let new = product(8, 2, Some(stamp(reason::RESERVE, by, Some("o1"), 5)));
        let entry = entry_from_change(&change(Some(product(10, 0, None)), Some(new))).unwrap();
        assert_eq!(entry.action, Action::Stock);
        assert_eq!(entry.subject, "PRODUCT#SKU-1");
        assert_eq!(entry.order_id.as_deref(), Some("o1"));
        assert_eq!(entry.trail(), "ORDER#o1");
        assert_eq!(entry.actor, ActorType::Saga);
        assert_eq!(entry.reason, "RESERVE");
        assert_eq!(entry.before["available"], 10);
        assert_eq!(entry.after["reserved"], 2);
        assert_eq!(entry.at, format_time(at(5)));
        assert_eq!(entry.correlation_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn a_rewrite_of_the_same_values_is_no_entry() {
        let s = stamp(reason::RESERVE, ChangedBy::saga(None), Some("o1"), 5);
        let same = change(
            Some(product(8, 2, Some(s.clone()))),
            Some(product(8, 2, Some(s))),
        );
        assert_eq!(entry_from_change(&same), None);
        let status = change(Some(order("PAID", None)), Some(order("PAID", None)));
        assert_eq!(entry_from_change(&status), None);
    }

    #[test]
    fn a_change_that_kept_an_old_stamp_is_unattributed() {
        let s = stamp(reason::RESERVE, ChangedBy::saga(None), Some("o1"), 5);
        let entry = entry_from_change(&change(
            Some(product(8, 2, Some(s.clone()))),
            Some(product(5, 2, Some(s))),
        ))
        .unwrap();
        assert_eq!(entry.reason, reason::UNATTRIBUTED);
        assert_eq!(entry.actor, ActorType::System);
        assert_eq!(entry.order_id, None);
        assert_eq!(entry.at, format_time(at(100)));
    }

    #[test]
    fn an_order_status_change_takes_the_orders_correlation_id() {
        let s = stamp("RESERVED", ChangedBy::saga(None), None, 7);
        let entry = entry_from_change(&change(
            Some(order("PENDING", None)),
            Some(order("RESERVED", Some(s))),
        ))
        .unwrap();
        assert_eq!(entry.action, Action::OrderStatus);
        assert_eq!(entry.before["status"], "PENDING");
        assert_eq!(entry.after["status"], "RESERVED");
        assert_eq!(entry.order_id.as_deref(), Some("o1"));
        assert_eq!(entry.correlation_id.as_deref(), Some("req-1"));
        let placed = entry_from_change(&change(None, Some(order("PENDING", None)))).unwrap();
        assert_eq!(placed.before, Value::Null);
    }

    #[test]
    fn the_id_is_the_same_for_a_redelivered_record_and_sorts_by_time() {
        let one = audit_id(at(1), "ev-1");
        assert_eq!(one, audit_id(at(1), "ev-1"));
        assert_ne!(one, audit_id(at(1), "ev-2"));
        assert!(one < audit_id(at(2), "ev-0"));
        assert_eq!(one.get_version_num(), 7);
    }

    #[test]
    fn csv_quotes_the_json_columns() {
        let s = stamp(reason::CHARGE, ChangedBy::saga(Some("a,b")), Some("o1"), 1);
        let entry = AuditEntry {
            audit_id: "id".into(),
            at: s.at.clone(),
            action: Action::Balance,
            subject: "ACCOUNT#alice".into(),
            order_id: Some("o1".into()),
            actor: ActorType::Saga,
            actor_id: None,
            reason: "CHARGE".into(),
            before: json!({"balance": 100, "currency": "EUR"}),
            after: json!({"balance": 50, "currency": "EUR"}),
            correlation_id: s.correlation_id,
        };
        let csv = to_csv(&[entry], true).unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
        let row = lines.next().unwrap();
        assert!(
            row.contains(r#""{""balance"":100,""currency"":""EUR""}""#),
            "{row}"
        );
        assert!(row.contains(r#""a,b""#), "{row}");
        assert!(row.ends_with("ORDER#o1"), "{row}");
    }
}
