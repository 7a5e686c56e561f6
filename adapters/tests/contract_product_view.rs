//! The product view's contract (`ProductViewStore`, with its `PriceList`), run on every adapter:
//! in memory and on DynamoDB (in process, embedded-dynamodb; the view lives in OrdersTable).
//! An adapter that passes behaves as the order side's pricing assumes; where the two differ,
//! this is where it shows.

mod support;

use order_adapters::dynamodb::DynamoProductView;
use order_adapters::memory::MemoryProductView;
use order_core::ports::{PriceList, ProductViewStore, ViewWrite};
use order_core::product_view::ListedProduct;
use support::{eur, sku, t0};

pub async fn product_view_contract<S: ProductViewStore>(make: impl Fn() -> S) {
    an_entry_for_an_unknown_sku_is_applied_and_priced_from(make()).await;
    the_same_version_again_is_stale_and_changes_nothing(make()).await;
    an_older_version_is_stale_and_a_newer_one_applies(make()).await;
    the_price_list_holds_only_known_skus(make()).await;
}

#[tokio::test]
async fn in_memory() {
    product_view_contract(MemoryProductView::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    product_view_contract(|| DynamoProductView::new(support::dynamodb(), "OrdersTable")).await;
}

fn listed(code: &str, name: &str, amount: i64, version: u64) -> ListedProduct {
    ListedProduct {
        sku: sku(code),
        name: name.into(),
        price: eur(amount),
        product_version: version,
        updated_at: t0() + chrono::Duration::seconds(i64::try_from(version).unwrap_or(0)),
    }
}

async fn entry_of(store: &impl PriceList, code: &str) -> Option<ListedProduct> {
    let mut found = store.products(&[sku(code)]).await.unwrap();
    assert!(found.len() <= 1, "one entry per SKU: {found:?}");
    found.pop()
}

async fn an_entry_for_an_unknown_sku_is_applied_and_priced_from(store: impl ProductViewStore) {
    assert_eq!(entry_of(&store, "MUG").await, None);
    let mug = listed("MUG", "Mug", 1_250, 3);
    assert_eq!(store.apply(&mug).await.unwrap(), ViewWrite::Applied);
    assert_eq!(entry_of(&store, "MUG").await, Some(mug));
}

async fn the_same_version_again_is_stale_and_changes_nothing(store: impl ProductViewStore) {
    let first = listed("MUG", "Mug", 1_250, 2);
    assert_eq!(store.apply(&first).await.unwrap(), ViewWrite::Applied);
    assert_eq!(
        store.apply(&first).await.unwrap(),
        ViewWrite::Stale,
        "a redelivery"
    );
    let mut rewritten = listed("MUG", "Renamed mug", 9_999, 2);
    rewritten.updated_at = first.updated_at + chrono::Duration::hours(1);
    assert_eq!(store.apply(&rewritten).await.unwrap(), ViewWrite::Stale);
    assert_eq!(entry_of(&store, "MUG").await, Some(first));
}

async fn an_older_version_is_stale_and_a_newer_one_applies(store: impl ProductViewStore) {
    let v3 = listed("MUG", "Mug v3", 1_300, 3);
    assert_eq!(store.apply(&v3).await.unwrap(), ViewWrite::Applied);
    let v2 = listed("MUG", "Mug v2", 1_200, 2);
    assert_eq!(
        store.apply(&v2).await.unwrap(),
        ViewWrite::Stale,
        "overtaken"
    );
    assert_eq!(entry_of(&store, "MUG").await, Some(v3));
    let v4 = listed("MUG", "Mug v4", 1_400, 4);
    assert_eq!(store.apply(&v4).await.unwrap(), ViewWrite::Applied);
    assert_eq!(entry_of(&store, "MUG").await, Some(v4));
    // Versions of one SKU say nothing about another's.
    let cup = listed("CUP", "Cup", 500, 1);
    assert_eq!(store.apply(&cup).await.unwrap(), ViewWrite::Applied);
    assert_eq!(entry_of(&store, "CUP").await, Some(cup));
}

async fn the_price_list_holds_only_known_skus(store: impl ProductViewStore) {
    let mug = listed("MUG", "Mug", 1_250, 1);
    let cup = listed("CUP", "Cup", 500, 7);
    store.apply(&mug).await.unwrap();
    store.apply(&cup).await.unwrap();
    let mut found = store
        .products(&[sku("MUG"), sku("NOPE"), sku("CUP")])
        .await
        .unwrap();
    found.sort_by(|a, b| a.sku.cmp(&b.sku));
    assert_eq!(found, [cup, mug.clone()]);
    assert_eq!(
        store.products(&[sku("NOPE")]).await.unwrap(),
        [],
        "an unknown SKU is simply absent"
    );
    assert_eq!(store.products(&[]).await.unwrap(), []);
    assert_eq!(store.products(&[sku("MUG")]).await.unwrap(), [mug]);
}
