//! Carts in the orders table: `CART#<user>` / `CART`, versioned for optimistic concurrency.

use super::{DynamoOrders, classify, get, is_condition_failure, key, n, to_item};
use crate::cart::{CART_TTL, Cart, CartItem};
use crate::error::StoreError;
use crate::order::Sku;
use crate::ports::CartStore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

fn cart_pk(user_id: &str) -> String {
    format!("CART#{user_id}")
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CartRecord {
    pk: String,
    sk: String,
    user_id: String,
    items: Vec<LineRecord>,
    updated_at: DateTime<Utc>,
    version: i64,
    expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct LineRecord {
    sku: Sku,
    quantity: u32,
}

impl CartStore for DynamoOrders {
    async fn cart(&self, user_id: &str) -> Result<Option<Cart>, StoreError> {
        let record: Option<CartRecord> =
            get(&self.client, &self.table, key(cart_pk(user_id), "CART")).await?;
        Ok(record.map(|r| Cart {
            user_id: r.user_id,
            items: r
                .items
                .into_iter()
                .map(|l| CartItem {
                    sku: l.sku,
                    quantity: l.quantity,
                })
                .collect(),
            updated_at: Some(r.updated_at),
            version: r.version,
        }))
    }

    async fn save_cart(
        &self,
        cart: &Cart,
        expected: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = to_item(&CartRecord {
            pk: cart_pk(&cart.user_id),
            sk: "CART".into(),
            user_id: cart.user_id.clone(),
            items: cart
                .items
                .iter()
                .map(|i| LineRecord {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                })
                .collect(),
            updated_at: now,
            version: expected + 1,
            expires_at: (now + CART_TTL).timestamp(),
        })?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = if expected == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }
}
