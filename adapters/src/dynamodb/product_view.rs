use super::wire::{
    Item, batch_get, build, classify, from_item, is_condition_failure, key, n, to_item,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use chrono::{DateTime, Utc};
use order_core::error::StoreError;
use order_core::money::{Currency, Money};
use order_core::order::Sku;
use order_core::ports::{PriceList, ProductViewStore, ViewWrite};
use order_core::product_view::ListedProduct;
use serde::{Deserialize, Serialize};

/// The order side's product view, in the orders table (`PRODUCT#<sku>` / `PRODUCT`).
#[derive(Debug, Clone)]
pub struct DynamoProductView {
    client: Client,
    table: String,
}

impl DynamoProductView {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewItem {
    pk: String,
    sk: String,
    sku: Sku,
    name: String,
    price: i64,
    currency: Currency,
    product_version: u64,
    updated_at: DateTime<Utc>,
}

impl From<&ListedProduct> for ViewItem {
    fn from(p: &ListedProduct) -> Self {
        Self {
            pk: format!("PRODUCT#{}", p.sku),
            sk: "PRODUCT".into(),
            sku: p.sku.clone(),
            name: p.name.clone(),
            price: p.price.amount,
            currency: p.price.currency.clone(),
            product_version: p.product_version,
            updated_at: p.updated_at,
        }
    }
}

impl From<ViewItem> for ListedProduct {
    fn from(item: ViewItem) -> Self {
        Self {
            sku: item.sku,
            name: item.name,
            price: Money::new(item.price, item.currency),
            product_version: item.product_version,
            updated_at: item.updated_at,
        }
    }
}

fn view_key(sku: &Sku) -> Item {
    key(format!("PRODUCT#{sku}"), "PRODUCT")
}

impl PriceList for DynamoProductView {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<ListedProduct>, StoreError> {
        let mut unique: Vec<&Sku> = skus.iter().collect();
        unique.sort();
        unique.dedup();
        if unique.is_empty() {
            return Ok(vec![]);
        }
        let keys = build(
            KeysAndAttributes::builder()
                .set_keys(Some(unique.into_iter().map(view_key).collect()))
                .build(),
        )?;
        batch_get(&self.client, &self.table, keys, "product view")
            .await?
            .into_iter()
            .map(|item| from_item::<ViewItem>(item).map(ListedProduct::from))
            .collect()
    }
}

impl ProductViewStore for DynamoProductView {
    async fn apply(&self, product: &ListedProduct) -> Result<ViewWrite, StoreError> {
        let version = i64::try_from(product.product_version).map_err(|_| {
            StoreError::Internal(format!("product {} version out of range", product.sku))
        })?;
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&ViewItem::from(product))?))
            // Only a newer snapshot passes: a redelivery or an overtaken one writes nothing.
            .condition_expression("attribute_not_exists(pk) OR productVersion < :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match written {
            Ok(_) => Ok(ViewWrite::Applied),
            Err(e) if is_condition_failure(&e) => Ok(ViewWrite::Stale),
            Err(e) => Err(classify(e)),
        }
    }
}
