//! Delivery scheduling, the saga's step after payment: a slot in which the order will arrive.
//! Behind the `DeliveryService` port so a carrier's API can replace the local rule.

use crate::error::StoreError;
use crate::values::OrderId;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// When the order will arrive: a window, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySlot {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

pub trait DeliveryService: Send + Sync {
    /// A slot for the order, booked at `now`. Asking again for the same order may give a later
    /// slot; the saga records the first one it gets (CompleteOrder writes it if absent).
    fn schedule(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<DeliverySlot, StoreError>> + Send;
}

/// The local rule: the first whole-hour window that starts at least `lead` after booking.
#[derive(Debug, Clone, Copy)]
pub struct LeadTimeDelivery {
    pub lead: Duration,
    pub window: Duration,
}

impl LeadTimeDelivery {
    pub const DEFAULT_LEAD_HOURS: i64 = 24;
    pub const WINDOW_HOURS: i64 = 2;

    /// From `DELIVERY_LEAD_HOURS` (default 24), as `order_lambda::config::delivery` reads it: a
    /// bad value stops the function at init.
    pub fn from_lead_hours(value: Option<String>) -> Result<Self, String> {
        let hours = match value {
            Some(value) => value
                .parse::<i64>()
                .ok()
                .filter(|h| (0..=24 * 30).contains(h))
                .ok_or_else(|| {
                    format!("DELIVERY_LEAD_HOURS must be 0..=720 hours, not {value:?}")
                })?,
            None => Self::DEFAULT_LEAD_HOURS,
        };
        Ok(Self {
            lead: Duration::hours(hours),
            window: Duration::hours(Self::WINDOW_HOURS),
        })
    }

    pub fn slot_for(&self, now: DateTime<Utc>) -> DeliverySlot {
        let earliest = now + self.lead;
        let hour = Duration::hours(1);
        let from = match earliest.duration_trunc(hour) {
            Ok(start) if start == earliest => start,
            Ok(start) => start + hour,
            Err(_) => earliest,
        };
        DeliverySlot {
            from,
            to: from + self.window,
        }
    }
}

impl DeliveryService for LeadTimeDelivery {
    async fn schedule(
        &self,
        _order_id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<DeliverySlot, StoreError> {
        Ok(self.slot_for(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_slot_starts_on_the_first_whole_hour_after_the_lead_time() {
        let rule = LeadTimeDelivery {
            lead: Duration::hours(24),
            window: Duration::hours(2),
        };
        let slot = rule.slot_for(at("2026-11-22T15:20:00Z"));
        assert_eq!(slot.from, at("2026-11-23T16:00:00Z"));
        assert_eq!(slot.to, at("2026-11-23T18:00:00Z"));
        let on_the_hour = rule.slot_for(at("2026-11-22T15:00:00Z"));
        assert_eq!(on_the_hour.from, at("2026-11-23T15:00:00Z"));
    }
}
