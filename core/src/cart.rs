//! The shopping cart: one per user, lines of SKU and quantity, priced only at checkout.

use crate::values::{Sku, truncate_chars};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

pub const MAX_CART_LINES: usize = 50;
/// The TTL backstop: a cart untouched this long may disappear.
pub const CART_TTL: Duration = Duration::days(30);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartItem {
    pub sku: Sku,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    #[serde(skip)]
    pub user_id: String,
    pub items: Vec<CartItem>,
    /// When the cart was last changed; `None` for a cart never filled (or emptied).
    pub updated_at: Option<DateTime<Utc>>,
    /// Optimistic concurrency: every save is conditional on the version it read; 0 = no cart.
    #[serde(skip)]
    pub version: i64,
}

impl Cart {
    pub fn empty(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            items: Vec::new(),
            updated_at: None,
            version: 0,
        }
    }

    /// Sets a line's quantity (adds the line if new); `Err` when a new line would exceed
    /// `MAX_CART_LINES`.
    pub fn set(&mut self, sku: &Sku, quantity: u32) -> Result<(), String> {
        if let Some(item) = self.items.iter_mut().find(|i| &i.sku == sku) {
            item.quantity = quantity;
            return Ok(());
        }
        if self.items.len() >= MAX_CART_LINES {
            return Err(format!(
                "the cart holds {MAX_CART_LINES} lines already; '{}' cannot be added",
                truncate_chars(sku.as_str(), 64)
            ));
        }
        self.items.push(CartItem {
            sku: sku.clone(),
            quantity,
        });
        Ok(())
    }

    /// Removes a line; `false` when there was none.
    pub fn remove(&mut self, sku: &Sku) -> bool {
        let before = self.items.len();
        self.items.retain(|i| &i.sku != sku);
        self.items.len() != before
    }

    /// The lines not covered by `ordered` (a line ordered with the same quantity goes; one
    /// changed or added since stays).
    pub fn without(&self, ordered: &[CartItem]) -> Vec<CartItem> {
        self.items
            .iter()
            .filter(|i| !ordered.contains(i))
            .cloned()
            .collect()
    }
}
