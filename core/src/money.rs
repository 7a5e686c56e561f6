//! Money is an integer amount of minor units (cents) with an ISO 4217 currency code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 code: exactly three ASCII capital letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ISO 4217's "no currency", for records that move no money (a voided payment).
    pub fn none() -> Self {
        Self("XXX".to_owned())
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(format!("'{code}' is not an ISO 4217 currency code"))
        }
    }
}

impl TryFrom<&str> for Currency {
    type Error = String;
    fn try_from(code: &str) -> Result<Self, Self::Error> {
        Self::try_from(code.to_owned())
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units: 1999 EUR is 19.99 EUR.
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// `None` on overflow; prices are checked, never wrapped.
    pub fn checked_mul(&self, factor: i64) -> Option<Self> {
        Some(Self::new(
            self.amount.checked_mul(factor)?,
            self.currency.clone(),
        ))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:02} {}",
            self.amount / 100,
            (self.amount % 100).abs(),
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_three_capital_letters() {
        assert!(Currency::try_from("EUR").is_ok());
        for bad in ["eur", "EURO", "E1R", "", "€UR"] {
            assert!(Currency::try_from(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn multiplication_overflow_is_detected() {
        let price = Money::new(i64::MAX / 2, Currency::try_from("EUR").unwrap());
        assert!(price.checked_mul(3).is_none());
        assert_eq!(price.checked_mul(2).unwrap().amount, i64::MAX - 1);
    }

    #[test]
    fn displays_minor_units_as_decimal() {
        let m = Money::new(2598, Currency::try_from("EUR").unwrap());
        assert_eq!(m.to_string(), "25.98 EUR");
    }
}
