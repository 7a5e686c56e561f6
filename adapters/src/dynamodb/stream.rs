//! Images of DynamoDB stream records, as the audit trail reads them: the orders', inventory's
//! and billing's items in the shape this crate writes them.

use order_core::audit::{Image, Source};

/// Reads an image of a stream record from `source`, or `None` for items the trail does not
/// follow (carts, reservations, payments, ledger lines, keys, the product view...).
pub fn image<T>(source: Source, item: T) -> Result<Option<Image>, serde_dynamo::Error>
where
    T: Into<serde_dynamo::Item>,
{
    let item: serde_dynamo::Item = item.into();
    let key = |name: &str| match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    let (pk, sk) = (key("pk"), key("sk"));
    Ok(match (source, sk.as_str()) {
        (Source::Orders, "ORDER") if pk.starts_with("ORDER#") => {
            Some(Image::Order(serde_dynamo::from_item(item)?))
        }
        (Source::Inventory, "PRODUCT") if pk.starts_with("PRODUCT#") => {
            Some(Image::Product(serde_dynamo::from_item(item)?))
        }
        (Source::Billing, "ACCOUNT") if pk.starts_with("ACCOUNT#") => {
            Some(Image::Account(serde_dynamo::from_item(item)?))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_the_trail_does_not_follow_are_skipped() {
        let cart = serde_dynamo::Item::from(std::collections::HashMap::from([
            (
                "pk".to_owned(),
                serde_dynamo::AttributeValue::S("CART#alice".into()),
            ),
            (
                "sk".to_owned(),
                serde_dynamo::AttributeValue::S("CART".into()),
            ),
        ]));
        assert!(image(Source::Orders, cart).unwrap().is_none());
    }
}
