//! The order side's product view: the names and prices new orders are priced from, kept current
//! from `ProductUpdated` events instead of reading the inventory's table.
//!
//! catalog-api publishes a snapshot of the product after every admin change, numbered by the
//! product's `version`. The sync-product function applies each snapshot to the view with a
//! conditional write that only a newer version passes, so a duplicate, a redelivery or a
//! snapshot that arrives after a newer one changes nothing and is not an error.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::events::{DomainEvent, EventType};
use crate::inventory::Product;
use crate::money::Money;
use crate::notification::NotifyError;
use crate::ports::{ProductViewStore, ViewWrite};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::listing::ListedProduct;

/// The `data` of a `ProductUpdated` event: the product right after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductSnapshot {
    pub name: String,
    pub price: Money,
    pub available: i64,
    pub product_version: u64,
}

/// The `ProductUpdated` event of `product` as stored after an admin's change.
pub fn product_updated(
    product: &Product,
    admin: &str,
    correlation_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DomainEvent, StoreError> {
    let data = serde_json::to_value(ProductSnapshot {
        name: product.name.clone(),
        price: product.price.clone(),
        available: product.available,
        product_version: product.version,
    })
    .map_err(|e| StoreError::Internal(format!("snapshot of {}: {e}", product.sku)))?;
    let event =
        DomainEvent::product_updated(product.sku.clone(), product.version, admin, now, data);
    Ok(match correlation_id {
        Some(id) => event.correlated(id),
        None => event,
    })
}

#[derive(Debug, Error)]
pub enum SyncError {
    /// Not a product snapshot this consumer can apply; retrying will not mend it.
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NotifyError> for SyncError {
    fn from(error: NotifyError) -> Self {
        match error {
            NotifyError::Malformed(m) => Self::Malformed(m),
            NotifyError::Store(e) => Self::Store(e),
        }
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Applied,
    /// The view held this version or a newer one already.
    Stale,
    /// Not a `ProductUpdated` (the subscription's filter lets none through): acknowledged.
    Ignored(EventType),
}

/// The view entry a `ProductUpdated` event describes.
pub fn listed_product(event: &DomainEvent, now: DateTime<Utc>) -> Result<ListedProduct, SyncError> {
    let sku = event.sku.clone().ok_or_else(|| {
        SyncError::Malformed(format!("ProductUpdated {} has no sku", event.event_id))
    })?;
    let snapshot: ProductSnapshot = serde_json::from_value(event.data.clone()).map_err(|e| {
        SyncError::Malformed(format!("ProductUpdated {} data: {e}", event.event_id))
    })?;
    if snapshot.product_version == 0 {
        return Err(SyncError::Malformed(format!(
            "ProductUpdated {} has productVersion 0",
            event.event_id
        )));
    }
    Ok(ListedProduct {
        sku,
        name: snapshot.name,
        price: snapshot.price,
        product_version: snapshot.product_version,
        updated_at: now,
    })
}

/// Applies one event to the view: a newer version replaces the entry, an older or equal one
/// is left out (already applied, or overtaken by a newer snapshot).
pub async fn sync(
    event: &DomainEvent,
    view: &impl ProductViewStore,
    clock: &dyn Clock,
) -> Result<Synced, SyncError> {
    if event.event_type != EventType::ProductUpdated {
        return Ok(Synced::Ignored(event.event_type));
    }
    let product = listed_product(event, clock.now())?;
    Ok(match view.apply(&product).await? {
        ViewWrite::Applied => Synced::Applied,
        ViewWrite::Stale => Synced::Stale,
    })
}
