//! What the contract tests share: a DynamoDB client on a fresh in-process database with the
//! template's tables (embedded-dynamodb), and a few values.
#![allow(dead_code)] // each contract binary uses part of it

use chrono::{DateTime, Utc};
use order_core::audit::ChangedBy;
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, Sku};

/// A client on a database of its own, holding every table of template.yaml by logical id
/// (`OrdersTable`, `InventoryTable`, `BillingTable`, `UsersTable`, `NotificationsTable`,
/// `AuditTable`).
pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    let db = embedded_dynamodb::with_tables().unwrap_or_else(|e| panic!("embedded DynamoDB: {e}"));
    embedded_dynamodb::client_for(db)
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap_or_else(|e| panic!("{e}"))
        .to_utc()
}

pub fn eur(amount: i64) -> Money {
    Money::new(
        amount,
        Currency::try_from("EUR").unwrap_or_else(|e| panic!("{e}")),
    )
}

pub fn sku(s: &str) -> Sku {
    Sku::try_from(s).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh order id (UUIDv7) dated `minutes` after `t0`: each call is another id.
pub fn order_at(minutes: i64) -> OrderId {
    OrderId::new_at(t0() + chrono::Duration::minutes(minutes))
}

pub fn saga() -> ChangedBy {
    ChangedBy::saga(Some("contract"))
}
