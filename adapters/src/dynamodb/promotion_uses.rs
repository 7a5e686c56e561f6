//! A promotion's item and its use counter in the orders table (`PROMO#<code>` / `PROMO`): the
//! promotions adapter reads and writes the item, a checkout's transaction counts a use.

use super::wire::{build, key, n};
use aws_sdk_dynamodb::types::Update;
use order_core::error::StoreError;

pub(super) fn promo_pk(code: &str) -> String {
    format!("PROMO#{code}")
}

pub(super) const PROMO_SK: &str = "PROMO";

/// The transaction item that counts one use: only while the promotion exists and has uses left.
pub(super) fn count_use(table: &str, code: &str) -> Result<Update, StoreError> {
    build(
        Update::builder()
            .table_name(table)
            .set_key(Some(key(promo_pk(code), PROMO_SK)))
            .update_expression("SET #uses = #uses + :one")
            .condition_expression("attribute_exists(pk) AND #uses < maxUses")
            .expression_attribute_names("#uses", "uses")
            .expression_attribute_values(":one", n(1))
            .build(),
    )
}
