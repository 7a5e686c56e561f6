//! Carts in the orders table: `CART#<user>` / `CART`, versioned for optimistic concurrency.

use super::orders::DynamoOrders;
use super::wire::{
    classify, decode_cursor, encode_cursor, from_item, get, key, n, s, to_item, written,
};
use chrono::{DateTime, Utc};
use order_core::cart::{CART_TTL, Cart, CartItem};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::order::Sku;
use order_core::page::{Page, PageRequest};
use order_core::ports::CartStore;
use order_core::ports::CartSweep;
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
    /// The stale-cart index (`StaleCarts`: `cartIndex` + `updatedAt`) holds only carts with
    /// lines: an empty or expired cart has nothing to clean up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cart_index: Option<String>,
    /// When the scheduled cleanup emptied the cart (it was untouched past the cart TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expired_at: Option<DateTime<Utc>>,
}

/// The one partition of the `StaleCarts` index.
const STALE_CARTS_PARTITION: &str = "CART";
const STALE_CARTS_INDEX: &str = "StaleCarts";

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
            cart_index: (!cart.items.is_empty()).then(|| STALE_CARTS_PARTITION.to_owned()),
            expired_at: None,
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
        written(put.send().await)
    }
}

fn into_cart(r: CartRecord) -> Cart {
    Cart {
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
    }
}

impl CartSweep for DynamoOrders {
    async fn stale_carts(
        &self,
        untouched_since: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Cart>, StoreError> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &["pk", "sk", "cartIndex", "updatedAt"]))
            .transpose()?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(STALE_CARTS_INDEX)
            .key_condition_expression("cartIndex = :carts AND updatedAt < :since")
            .expression_attribute_values(":carts", s(STALE_CARTS_PARTITION))
            .expression_attribute_values(":since", s(format_time(untouched_since)))
            .scan_index_forward(true)
            .limit(i32::try_from(page.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<CartRecord>(item).map(into_cart))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_cursor: output.last_evaluated_key.as_ref().and_then(encode_cursor),
        })
    }

    async fn expire_cart(
        &self,
        cart: &Cart,
        untouched_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // An emptied cart keeps its version (moved on), as DELETE /cart leaves it: a writer
        // that read the old version can never match it again.
        let item = to_item(&CartRecord {
            pk: cart_pk(&cart.user_id),
            sk: "CART".into(),
            user_id: cart.user_id.clone(),
            items: Vec::new(),
            updated_at: now,
            version: cart.version + 1,
            expires_at: (now + CART_TTL).timestamp(),
            cart_index: None,
            expired_at: Some(now),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "version = :expected AND updatedAt < :since AND attribute_exists(cartIndex)",
            )
            .expression_attribute_values(":expected", n(cart.version))
            .expression_attribute_values(":since", s(format_time(untouched_since)))
            .send()
            .await;
        written(result)
    }
}
