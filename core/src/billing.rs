//! Billing accounts and payments. A payment is keyed by order id, so an order is charged at
//! most once and refunded at most once.

use crate::money::{Currency, Money};
use crate::values::OrderId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub user_id: String,
    /// Minor units of `currency`.
    pub balance: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Charged,
    Refunded,
    /// A refund found no charge and left this marker, so that a charge still in flight
    /// fails instead of taking money for a cancelled order.
    Voided,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub order_id: OrderId,
    pub user_id: String,
    pub amount: Money,
    pub status: PaymentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a charge was declined; the saga cancels the order with `PAYMENT_DECLINED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclineReason {
    NoAccount,
    InsufficientFunds,
    CurrencyMismatch,
}

impl DeclineReason {
    /// Why `account` cannot pay `amount`, or `None` when it can.
    pub fn judge(account: Option<&Account>, amount: &Money) -> Option<Self> {
        match account {
            None => Some(Self::NoAccount),
            Some(a) if a.currency != amount.currency => Some(Self::CurrencyMismatch),
            Some(a) if a.balance < amount.amount => Some(Self::InsufficientFunds),
            Some(_) => None,
        }
    }
}

/// What moved money on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryType {
    Deposit,
    Charge,
    Refund,
}

/// One movement of money on an account, written in the same transaction as the movement
/// itself, so the ledger never misses or repeats one. `amount` is always positive; `kind`
/// says which way it went. No balance after the entry: a DynamoDB transaction cannot read
/// the balance it updates, and a value computed outside it could be wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
}

impl LedgerEntry {
    /// A new entry with a fresh UUIDv7 id taken at `now`: ids sort by creation time.
    pub fn new(
        kind: EntryType,
        amount: Money,
        order_id: Option<OrderId>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: crate::values::uuid_v7_at(now).hyphenated().to_string(),
            kind,
            amount,
            order_id,
            created_at: now,
        }
    }

    /// Where the entry sorts in its account's ledger: by time, then id. The DynamoDB sort key
    /// is `TX#` followed by this, so both adapters list entries in the same order.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", crate::clock::format_time(self.created_at), self.id)
    }
}
