//! Promotion codes: what they take off an order, and when they may be used.

use crate::money::{Currency, Money};
use crate::values::FieldError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub const MAX_CODE_LEN: usize = 32;
pub const MAX_USES: i64 = 1_000_000;
pub const MAX_FIXED: i64 = 100_000_000;

/// A promotion code: 1 to 32 capital letters, digits, `-` and `_`.
pub fn validate_code(code: &str) -> Result<String, String> {
    let valid = !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(code.to_owned())
    } else {
        Err(format!(
            "'{}' is not a promotion code (1 to {MAX_CODE_LEN} capital letters, digits, '-' or '_')",
            code.chars().take(64).collect::<String>()
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discount {
    /// Percent of the subtotal, 1 to 100, rounded down to the minor unit.
    Percent(i64),
    /// A fixed amount, never more than the subtotal.
    Fixed(Money),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    pub code: String,
    pub discount: Discount,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub max_uses: i64,
    pub min_total: Option<Money>,
    /// How many orders used it; only the order transaction counts up, and nothing counts down:
    /// a cancelled order's use is not given back. It was spent when the order was accepted,
    /// which keeps a limited code from being farmed by ordering and cancelling
    /// (`http-api/tests/promotions.rs`, `a_cancelled_orders_promotion_use_is_not_given_back`).
    pub uses: i64,
}

impl Promotion {
    /// `PUT /promotions/{code}`'s body: every problem named at once.
    pub fn from_json(code: &str, body: &Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        let mut errors: Vec<FieldError> = body
            .keys()
            .filter(|k| {
                !matches!(
                    k.as_str(),
                    "kind"
                        | "value"
                        | "currency"
                        | "validFrom"
                        | "validTo"
                        | "maxUses"
                        | "minTotal"
                )
            })
            .map(|k| FieldError::new(k.chars().take(64).collect::<String>(), "unknown field"))
            .collect();
        let code = validate_code(code)
            .map_err(|m| errors.push(FieldError::new("code", m)))
            .ok();
        let kind = match body.get("kind").and_then(Value::as_str) {
            Some(k @ ("PERCENT" | "FIXED")) => Some(k),
            _ => {
                errors.push(FieldError::new("kind", "must be \"PERCENT\" or \"FIXED\""));
                None
            }
        };
        let value = body.get("value").and_then(Value::as_i64);
        let currency = match body.get("currency") {
            None => None,
            Some(v) => parse_currency(v, "currency", &mut errors),
        };
        let discount = match kind {
            Some("PERCENT") => {
                if body.contains_key("currency") {
                    errors.push(FieldError::new(
                        "currency",
                        "only a FIXED promotion has one",
                    ));
                }
                match value {
                    Some(p @ 1..=100) => Some(Discount::Percent(p)),
                    _ => {
                        errors.push(FieldError::new(
                            "value",
                            "must be a whole percent from 1 to 100",
                        ));
                        None
                    }
                }
            }
            Some(_) => {
                if !body.contains_key("currency") {
                    errors.push(FieldError::new("currency", "is required for FIXED"));
                }
                match value {
                    Some(a @ 1..=MAX_FIXED) => currency.map(|c| Discount::Fixed(Money::new(a, c))),
                    _ => {
                        errors.push(FieldError::new(
                            "value",
                            format!("must be a whole number of minor units from 1 to {MAX_FIXED}"),
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        let time = |name: &str, errors: &mut Vec<FieldError>| match body
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        {
            Some(t) => Some(t.to_utc()),
            None => {
                errors.push(FieldError::new(name, "must be an RFC 3339 date-time"));
                None
            }
        };
        let valid_from = time("validFrom", &mut errors);
        let valid_to = time("validTo", &mut errors);
        if let (Some(from), Some(to)) = (valid_from, valid_to)
            && to <= from
        {
            errors.push(FieldError::new("validTo", "must be after validFrom"));
        }
        let max_uses = match body.get("maxUses").and_then(Value::as_i64) {
            Some(n @ 1..=MAX_USES) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "maxUses",
                    format!("must be a whole number from 1 to {MAX_USES}"),
                ));
                None
            }
        };
        let min_total = match body.get("minTotal") {
            None => None,
            Some(Value::Object(m)) => {
                errors.extend(
                    m.keys()
                        .filter(|k| !matches!(k.as_str(), "amount" | "currency"))
                        .map(|k| {
                            FieldError::new(
                                format!("minTotal.{}", k.chars().take(64).collect::<String>()),
                                "unknown field",
                            )
                        }),
                );
                let amount = match m.get("amount").and_then(Value::as_i64) {
                    Some(a @ 0..=MAX_FIXED) => Some(a),
                    _ => {
                        errors.push(FieldError::new(
                            "minTotal.amount",
                            format!("must be a whole number of minor units from 0 to {MAX_FIXED}"),
                        ));
                        None
                    }
                };
                let c = match m.get("currency") {
                    Some(v) => parse_currency(v, "minTotal.currency", &mut errors),
                    None => {
                        errors.push(FieldError::new("minTotal.currency", "is required"));
                        None
                    }
                };
                amount.zip(c).map(|(a, c)| Money::new(a, c))
            }
            Some(_) => {
                errors.push(FieldError::new("minTotal", "must be an object"));
                None
            }
        };
        match (code, discount, valid_from, valid_to, max_uses) {
            (Some(code), Some(discount), Some(valid_from), Some(valid_to), Some(max_uses))
                if errors.is_empty() =>
            {
                Ok(Self {
                    code,
                    discount,
                    valid_from,
                    valid_to,
                    max_uses,
                    min_total,
                    uses: 0,
                })
            }
            _ => Err(errors),
        }
    }

    /// What the code takes off `subtotal` at `now`, or why it cannot be used. The uses left
    /// are checked here and again, atomically, by the write that saves the order.
    pub fn discount_for(&self, subtotal: &Money, now: DateTime<Utc>) -> Result<Money, String> {
        if now < self.valid_from {
            return Err(format!(
                "'{}' is not valid before {}",
                self.code, self.valid_from
            ));
        }
        if now >= self.valid_to {
            return Err(format!("'{}' expired at {}", self.code, self.valid_to));
        }
        if self.uses >= self.max_uses {
            return Err(format!("'{}' has no uses left", self.code));
        }
        if let Some(min) = &self.min_total {
            if min.currency != subtotal.currency {
                return Err(format!(
                    "'{}' applies to orders in {}, not {}",
                    self.code, min.currency, subtotal.currency
                ));
            }
            if subtotal.amount < min.amount {
                return Err(format!("'{}' needs an order of at least {min}", self.code));
            }
        }
        let amount = match &self.discount {
            Discount::Percent(p) => {
                // i128: a large subtotal times 100 cannot overflow.
                let off = i128::from(subtotal.amount) * i128::from(*p) / 100;
                i64::try_from(off).unwrap_or(subtotal.amount)
            }
            Discount::Fixed(m) => {
                if m.currency != subtotal.currency {
                    return Err(format!(
                        "'{}' is worth {m}; the order is in {}",
                        self.code, subtotal.currency
                    ));
                }
                m.amount
            }
        };
        Ok(Money::new(
            amount.clamp(0, subtotal.amount.max(0)),
            subtotal.currency.clone(),
        ))
    }
}

fn parse_currency(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<Currency> {
    match value.as_str() {
        Some(code) => Currency::try_from(code.chars().take(8).collect::<String>())
            .map_err(|m| errors.push(FieldError::new(field, m)))
            .ok(),
        None => {
            errors.push(FieldError::new(field, "must be a string such as \"EUR\""));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eur(a: i64) -> Money {
        Money::new(a, Currency::try_from("EUR").unwrap())
    }

    fn promo(body: Value) -> Result<Promotion, Vec<String>> {
        Promotion::from_json("SAVE10", body.as_object().unwrap())
            .map_err(|e| e.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn parses_and_names_every_bad_field() {
        let ok = promo(
            json!({"kind":"PERCENT","value":10,"validFrom":"2026-01-01T00:00:00Z",
            "validTo":"2027-01-01T00:00:00Z","maxUses":5}),
        )
        .unwrap();
        assert_eq!(ok.discount, Discount::Percent(10));
        let errors = promo(json!({"kind":"FIXED","value":0,"validFrom":"x",
            "validTo":"2027-01-01T00:00:00Z","maxUses":0,"minTotal":{"amount":-1},"extra":1}))
        .unwrap_err();
        for f in [
            "extra",
            "currency",
            "value",
            "validFrom",
            "maxUses",
            "minTotal.amount",
            "minTotal.currency",
        ] {
            assert!(errors.contains(&f.to_owned()), "{f} not in {errors:?}");
        }
        assert!(validate_code("save10").is_err());
    }

    #[test]
    fn discounts_never_exceed_the_subtotal() {
        let mut p = promo(json!({"kind":"FIXED","value":5000,"currency":"EUR",
            "validFrom":"2026-01-01T00:00:00Z","validTo":"2027-01-01T00:00:00Z","maxUses":5}))
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(p.discount_for(&eur(1999), now).unwrap(), eur(1999));
        assert_eq!(p.discount_for(&eur(9999), now).unwrap(), eur(5000));
        p.discount = Discount::Percent(15);
        assert_eq!(p.discount_for(&eur(1999), now).unwrap(), eur(299));
        p.uses = 5;
        assert!(p.discount_for(&eur(1999), now).is_err());
        p.uses = 0;
        let later = DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert!(p.discount_for(&eur(1999), later).is_err());
    }
}
