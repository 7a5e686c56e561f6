//! Promotions in the orders table: `PROMO#<code>` / `PROMO`.

use super::orders::DynamoOrders;
use super::promotion_uses::{PROMO_SK, promo_pk};
use super::wire::{classify, get, key, n, s};
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::money::{Currency, Money};
use order_core::ports::{PromotionStore, Upsert};
use order_core::promotion::{Discount, Promotion};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromoItem {
    code: String,
    kind: String,
    value: i64,
    #[serde(default)]
    currency: Option<Currency>,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
    max_uses: i64,
    #[serde(default)]
    min_total: Option<i64>,
    #[serde(default)]
    min_total_currency: Option<Currency>,
    #[serde(default)]
    uses: i64,
}

impl PromoItem {
    fn into_promotion(self) -> Result<Promotion, StoreError> {
        let discount = match (self.kind.as_str(), self.currency) {
            ("PERCENT", _) => Discount::Percent(self.value),
            ("FIXED", Some(c)) => Discount::Fixed(Money::new(self.value, c)),
            (kind, _) => {
                return Err(StoreError::Internal(format!(
                    "promotion {} has kind {kind} without what it needs",
                    self.code
                )));
            }
        };
        Ok(Promotion {
            code: self.code,
            discount,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            max_uses: self.max_uses,
            min_total: self
                .min_total
                .zip(self.min_total_currency)
                .map(|(a, c)| Money::new(a, c)),
            uses: self.uses,
        })
    }
}

impl PromotionStore for DynamoOrders {
    async fn promotion(&self, code: &str) -> Result<Option<Promotion>, StoreError> {
        let item: Option<PromoItem> =
            get(&self.client, &self.table, key(promo_pk(code), PROMO_SK)).await?;
        item.map(PromoItem::into_promotion).transpose()
    }

    async fn put_promotion(&self, p: &Promotion) -> Result<(Upsert, Promotion), StoreError> {
        let (kind, value, currency) = match &p.discount {
            Discount::Percent(v) => ("PERCENT", *v, None),
            Discount::Fixed(m) => ("FIXED", m.amount, Some(m.currency.clone())),
        };
        let mut set = vec![
            "code = :code",
            "kind = :kind",
            "#value = :value",
            "validFrom = :from",
            "validTo = :to",
            "maxUses = :max",
            "#uses = if_not_exists(#uses, :zero)",
        ];
        let mut remove = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(promo_pk(&p.code), PROMO_SK)))
            .expression_attribute_names("#value", "value")
            .expression_attribute_names("#uses", "uses")
            .expression_attribute_values(":code", s(&p.code))
            .expression_attribute_values(":kind", s(kind))
            .expression_attribute_values(":value", n(value))
            .expression_attribute_values(":from", s(format_time(p.valid_from)))
            .expression_attribute_values(":to", s(format_time(p.valid_to)))
            .expression_attribute_values(":max", n(p.max_uses))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllOld);
        match currency {
            Some(c) => {
                set.push("currency = :currency");
                update = update.expression_attribute_values(":currency", s(c.as_str()));
            }
            None => remove.push("currency"),
        }
        match &p.min_total {
            Some(m) => {
                set.push("minTotal = :min");
                set.push("minTotalCurrency = :minc");
                update = update
                    .expression_attribute_values(":min", n(m.amount))
                    .expression_attribute_values(":minc", s(m.currency.as_str()));
            }
            None => remove.extend(["minTotal", "minTotalCurrency"]),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let output = update
            .update_expression(expression)
            .send()
            .await
            .map_err(classify)?;
        let old_uses = output
            .attributes
            .as_ref()
            .and_then(|a| a.get("uses"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok());
        // An existing promotion's old image holds its terms; a new one's holds at most its key
        // (AWS returns nothing for ALL_OLD on an upsert; the in-process engine of the contract
        // tests returns the key it added), so the terms decide, not whether anything came back.
        let outcome = if output.attributes.is_some_and(|a| a.contains_key("kind")) {
            Upsert::Updated
        } else {
            Upsert::Created
        };
        Ok((
            outcome,
            Promotion {
                uses: old_uses.unwrap_or(0),
                ..p.clone()
            },
        ))
    }
}
