//! DynamoDB adapters. Every write that may be retried is conditional, and every write that
//! touches two items is one transaction, so a retry or a crash never applies half a change.

mod audit;
mod billing;
mod carts;
mod inventory;
mod notifications;
mod orders;
mod product_view;
mod profiles;
mod promotion_uses;
mod promotions;
pub mod stream;
pub mod wire;

pub use audit::DynamoAudit;
pub use billing::DynamoBilling;
pub use inventory::DynamoInventory;
pub use notifications::DynamoNotifications;
pub use orders::DynamoOrders;
pub use product_view::DynamoProductView;
pub use profiles::DynamoProfiles;

/// The helpers every table's adapter shares (and the fault plans' in `order-faults`).
pub use wire::*;

#[cfg(test)]
mod aws_semantics;
