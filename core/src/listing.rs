//! What the order side knows of a product: enough to price an order line. The product view
//! (`product_view`) keeps these current; pricing (`order`) reads them.

use crate::inventory::Product;
use crate::money::Money;
use crate::values::Sku;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A product as the order side knows it: enough to price an order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedProduct {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    /// The inventory's version of the product this entry was copied from.
    pub product_version: u64,
    /// When the view last changed this entry.
    pub updated_at: DateTime<Utc>,
}

impl ListedProduct {
    /// The entry for `product` as it stands in the inventory (seeding, and the backfill).
    pub fn of(product: &Product, now: DateTime<Utc>) -> Self {
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            price: product.price.clone(),
            product_version: product.version,
            updated_at: now,
        }
    }
}
