//! Billing accounts and payments. A payment is keyed by order id, so an order is charged at
//! most once and refunded at most once.

use crate::money::{Currency, Money};
use crate::order::OrderId;
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
