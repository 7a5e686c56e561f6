//! The inventory port's contract (`InventoryStore`, with its `Catalog`), run on every adapter:
//! in memory and on DynamoDB (in process, embedded-dynamodb). An adapter that passes behaves
//! as the saga's rules assume; where the two differ, this is where it shows.

mod support;

use order_adapters::dynamodb::DynamoInventory;
use order_adapters::memory::MemoryInventory;
use order_core::audit::ChangedBy;
use order_core::inventory::{Product, ReservationLine, ReservationStatus};
use order_core::page::PageRequest;
use order_core::ports::{
    Catalog, InventoryStore, ReleaseOutcome, ReserveError, StockError, StockKey, StockOutcome,
    Upsert,
};
use support::{eur, order_at, saga, sku, t0};

pub async fn inventory_contract<S: InventoryStore>(make: impl Fn() -> S) {
    reserving_takes_every_line_or_none(make()).await;
    a_repeated_reserve_returns_the_reservation_and_takes_nothing_more(make()).await;
    a_sku_named_twice_is_refused_and_takes_nothing(make()).await;
    a_release_gives_back_once(make()).await;
    a_release_without_a_reservation_voids_a_late_reserve(make()).await;
    stock_adjustments_never_go_below_zero_and_keys_apply_once(make()).await;
    an_upsert_keeps_the_stock_and_counts_the_version(make()).await;
    the_catalog_lists_in_sku_order_a_page_at_a_time(make()).await;
}

#[tokio::test]
async fn in_memory() {
    inventory_contract(MemoryInventory::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    inventory_contract(|| DynamoInventory::new(support::dynamodb(), "InventoryTable")).await;
}

fn product(code: &str, available: i64) -> Product {
    Product {
        sku: sku(code),
        name: format!("{code} product"),
        price: eur(1_000),
        available,
        reserved: 0,
        version: 1,
    }
}

fn line(code: &str, quantity: u32) -> ReservationLine {
    ReservationLine {
        sku: sku(code),
        quantity,
    }
}

async fn stock_of(store: &impl InventoryStore, code: &str) -> (i64, i64) {
    let p = store.stock(&sku(code)).await.unwrap().unwrap();
    (p.available, p.reserved)
}

async fn reserving_takes_every_line_or_none(store: impl InventoryStore) {
    let o0 = order_at(0);
    let o1 = order_at(1);
    let o2 = order_at(2);
    store.put_product(&product("MUG", 5)).await.unwrap();
    store.put_product(&product("CUP", 1)).await.unwrap();
    let short = store
        .reserve(o0, &[line("MUG", 2), line("CUP", 2)], &saga(), t0())
        .await;
    assert_eq!(
        short.err(),
        Some(ReserveError::OutOfStock(vec![sku("CUP")]))
    );
    assert_eq!(
        stock_of(&store, "MUG").await,
        (5, 0),
        "a short order takes nothing"
    );
    let unknown = store
        .reserve(o1, &[line("MUG", 1), line("NOPE", 1)], &saga(), t0())
        .await;
    assert_eq!(
        unknown.err(),
        Some(ReserveError::OutOfStock(vec![sku("NOPE")]))
    );
    let held = store
        .reserve(o2, &[line("MUG", 2), line("CUP", 1)], &saga(), t0())
        .await
        .unwrap();
    assert_eq!(held.status, ReservationStatus::Held);
    assert_eq!(stock_of(&store, "MUG").await, (3, 2));
    assert_eq!(stock_of(&store, "CUP").await, (0, 1));
    let read = store.reservation(o2).await.unwrap().unwrap();
    assert_eq!(read.lines, held.lines);
}

async fn a_repeated_reserve_returns_the_reservation_and_takes_nothing_more(
    store: impl InventoryStore,
) {
    let o0 = order_at(0);
    store.put_product(&product("MUG", 5)).await.unwrap();
    let first = store
        .reserve(o0, &[line("MUG", 2)], &saga(), t0())
        .await
        .unwrap();
    let again = store
        .reserve(o0, &[line("MUG", 2)], &saga(), t0())
        .await
        .unwrap();
    assert_eq!(again.lines, first.lines);
    assert_eq!(stock_of(&store, "MUG").await, (3, 2));
}

async fn a_sku_named_twice_is_refused_and_takes_nothing(store: impl InventoryStore) {
    let o0 = order_at(0);
    store.put_product(&product("MUG", 1)).await.unwrap();
    let twice = store
        .reserve(o0, &[line("MUG", 1), line("MUG", 1)], &saga(), t0())
        .await;
    assert!(
        matches!(twice, Err(ReserveError::Store(_))),
        "a SKU named twice: {twice:?}"
    );
    assert_eq!(stock_of(&store, "MUG").await, (1, 0));
    assert_eq!(store.reservation(o0).await.unwrap(), None);
}

async fn a_release_gives_back_once(store: impl InventoryStore) {
    let o0 = order_at(0);
    store.put_product(&product("MUG", 5)).await.unwrap();
    store
        .reserve(o0, &[line("MUG", 2)], &saga(), t0())
        .await
        .unwrap();
    let by = saga();
    assert_eq!(
        store.release(o0, &by, t0()).await.unwrap(),
        ReleaseOutcome::Released
    );
    assert_eq!(
        store.release(o0, &by, t0()).await.unwrap(),
        ReleaseOutcome::NothingHeld
    );
    assert_eq!(stock_of(&store, "MUG").await, (5, 0));
    let released = store.reservation(o0).await.unwrap().unwrap();
    assert_eq!(released.status, ReservationStatus::Released);
    let again = store.reserve(o0, &[line("MUG", 2)], &saga(), t0()).await;
    assert_eq!(
        again.err(),
        Some(ReserveError::AlreadyCompensated(
            ReservationStatus::Released
        ))
    );
}

async fn a_release_without_a_reservation_voids_a_late_reserve(store: impl InventoryStore) {
    let o0 = order_at(0);
    store.put_product(&product("MUG", 5)).await.unwrap();
    assert_eq!(
        store.release(o0, &saga(), t0()).await.unwrap(),
        ReleaseOutcome::NothingHeld
    );
    let late = store.reserve(o0, &[line("MUG", 1)], &saga(), t0()).await;
    assert_eq!(
        late.err(),
        Some(ReserveError::AlreadyCompensated(ReservationStatus::Voided))
    );
    assert_eq!(stock_of(&store, "MUG").await, (5, 0));
}

async fn stock_adjustments_never_go_below_zero_and_keys_apply_once(store: impl InventoryStore) {
    store.put_product(&product("MUG", 2)).await.unwrap();
    let admin = ChangedBy::admin("admin-1", None);
    let below = store
        .adjust_stock(&sku("MUG"), -3, None, &admin, t0())
        .await;
    assert_eq!(below.err(), Some(StockError::Insufficient { available: 2 }));
    let unknown = store
        .adjust_stock(&sku("NOPE"), 1, None, &admin, t0())
        .await;
    assert_eq!(unknown.err(), Some(StockError::UnknownProduct));
    let key = StockKey {
        user_id: "admin-1".into(),
        key: "k-1".into(),
        sku: sku("MUG"),
        delta: 3,
        created_at: t0(),
    };
    let added = store
        .adjust_stock(&sku("MUG"), 3, Some(&key), &admin, t0())
        .await
        .unwrap();
    assert!(
        matches!(added, StockOutcome::Adjusted(ref p) if p.available == 5),
        "{added:?}"
    );
    let repeated = store
        .adjust_stock(&sku("MUG"), 3, Some(&key), &admin, t0())
        .await
        .unwrap();
    assert_eq!(repeated, StockOutcome::IdempotencyKeyTaken);
    assert_eq!(stock_of(&store, "MUG").await, (5, 0));
    assert_eq!(store.stock_key("admin-1", "k-1").await.unwrap(), Some(key));
    assert_eq!(
        store.stock_key("admin-2", "k-1").await.unwrap(),
        None,
        "keys are per caller"
    );
}

async fn an_upsert_keeps_the_stock_and_counts_the_version(store: impl InventoryStore) {
    let admin = ChangedBy::admin("admin-1", None);
    let (created, new) = store
        .upsert_product(&sku("MUG"), "Mug", &eur(900), &admin, t0())
        .await
        .unwrap();
    assert_eq!(created, Upsert::Created);
    assert_eq!((new.available, new.reserved), (0, 0));
    store
        .adjust_stock(&sku("MUG"), 4, None, &admin, t0())
        .await
        .unwrap();
    let (updated, renamed) = store
        .upsert_product(&sku("MUG"), "Big mug", &eur(1_200), &admin, t0())
        .await
        .unwrap();
    assert_eq!(updated, Upsert::Updated);
    assert_eq!((renamed.name.as_str(), renamed.available), ("Big mug", 4));
    assert!(
        renamed.version > new.version,
        "{} after {}",
        renamed.version,
        new.version
    );
}

async fn the_catalog_lists_in_sku_order_a_page_at_a_time(store: impl InventoryStore) {
    for code in ["C", "A", "B"] {
        store.put_product(&product(code, 1)).await.unwrap();
    }
    let found = Catalog::products(&store, &[sku("B"), sku("NOPE")])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(),
        ["B"]
    );
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = store.list_products(&page).await.unwrap();
        seen.extend(got.items.iter().map(|p| p.sku.to_string()));
        match got.next_cursor {
            Some(cursor) => {
                page = PageRequest {
                    limit: 2,
                    cursor: Some(cursor),
                }
            }
            None => break,
        }
    }
    assert_eq!(seen, ["A", "B", "C"]);
}
