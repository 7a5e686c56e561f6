//! Stock and reservations. A reservation moves units from `available` to `reserved` for one
//! order, all lines or none; releasing it moves them back exactly once.

use crate::money::Money;
use crate::values::{OrderId, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A catalog entry with its stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    /// Units that can still be reserved.
    pub available: i64,
    /// Units held by reservations of orders in flight.
    pub reserved: i64,
    /// Counts the admin changes (name, price, stock), each in the same write as the change;
    /// reservations do not move it. `ProductUpdated` carries it, so the order side's view
    /// can tell a newer snapshot from an older one.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationLine {
    pub sku: Sku,
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// The units are out of `available` and held for the order.
    Held,
    /// The units went back to `available`.
    Released,
    /// A release found nothing to release and left this marker, so that a reserve still in
    /// flight (a timed-out call that commits late) fails instead of holding stock forever.
    Voided,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub order_id: OrderId,
    pub status: ReservationStatus,
    pub lines: Vec<ReservationLine>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
