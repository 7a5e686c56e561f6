//! Value types every part of the domain shares: order ids, SKUs, and the field errors of a refused
//! request. A module of their own below `order`, so that the modules using them need not import
//! the order's rules (and the rules' modules need not import each other back).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The longest SKU.
pub const MAX_SKU_LEN: usize = 64;

/// A UUIDv7: unique, and sortable by the time it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(Uuid);

impl OrderId {
    /// Takes the time from the caller's clock, so ids made in tests are reproducible in order.
    pub fn new_at(time: DateTime<Utc>) -> Self {
        Self(uuid_v7_at(time))
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

/// A UUIDv7 with `time`'s milliseconds and random bits: the operating system's, or, with the
/// `seeded-ids` feature, those `seeded_ids::seed_thread` set for this thread (the simulator's
/// replays need the same ids from the same seed).
pub fn uuid_v7_at(time: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(time.timestamp_millis()).unwrap_or(0);
    #[cfg(feature = "seeded-ids")]
    if let Some(bytes) = seeded_ids::next() {
        return uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid();
    }
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        (millis % 1000) as u32 * 1_000_000,
    );
    Uuid::new_v7(ts)
}

/// Reproducible ids for the simulator: a thread seeded here draws the random part of every new
/// id from its seed. Only `sim` enables the feature; a workspace build shares it with the
/// functions it builds, where no thread is ever seeded, and `sam build` (one function at a time)
/// leaves it out.
#[cfg(feature = "seeded-ids")]
pub mod seeded_ids {
    use std::cell::Cell;

    thread_local! {
        static STATE: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// From now on, this thread's new ids draw their random bits from `seed`.
    pub fn seed_thread(seed: u64) {
        STATE.with(|s| s.set(Some(seed)));
    }

    /// Back to the operating system's random bits.
    pub fn unseed_thread() {
        STATE.with(|s| s.set(None));
    }

    /// Ten bytes from the thread's seed (splitmix64), if it has one.
    pub(super) fn next() -> Option<[u8; 10]> {
        STATE.with(|s| {
            let mut state = s.get()?;
            let mut draw = || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            let (a, b) = (draw().to_le_bytes(), draw().to_le_bytes());
            s.set(Some(state));
            let mut bytes = [0; 10];
            bytes[..8].copy_from_slice(&a);
            bytes[8..].copy_from_slice(&b[..2]);
            Some(bytes)
        })
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for OrderId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the canonical hyphenated form: it is what we hand out and what keys hold.
        match Uuid::try_parse(s) {
            Ok(id)
                if s.len() == 36
                    && id.get_version_num() == 7
                    && id.get_variant() == uuid::Variant::RFC4122 =>
            {
                Ok(Self(id))
            }
            _ => Err(format!("'{}' is not an order id", truncate_chars(s, 64))),
        }
    }
}

impl TryFrom<String> for OrderId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> Self {
        id.to_string()
    }
}

/// A stock-keeping unit: 1 to 64 characters of letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = !s.is_empty()
            && s.len() <= MAX_SKU_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if valid {
            Ok(Self(s))
        } else {
            Err(format!(
                "'{}' is not a SKU (1 to {MAX_SKU_LEN} letters, digits, '-', '_' or '.')",
                truncate_chars(&s, 80)
            ))
        }
    }
}

impl TryFrom<&str> for Sku {
    type Error = String;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::try_from(s.to_owned())
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> Self {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem with a request, naming the field as a JSON path (`items[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The first `max_chars` characters of `s` (for quoting input in messages).
pub fn truncate_chars(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
