//! The shared invariant checker holds a settled world and names what breaks it (the simulator
//! and the end-to-end tests rely on it failing; these show it can).

use chrono::{TimeZone, Utc};
use order_adapters::memory::{MemoryBilling, MemoryInventory, MemoryOrders};
use order_core::audit::ChangedBy;
use order_core::billing::Account;
use order_core::invariants::{self, World};
use order_core::inventory::{Product, ReservationLine};
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, Sku};
use order_core::ports::{BillingStore, InventoryStore};

fn eur() -> Currency {
    Currency::try_from("EUR").unwrap()
}

async fn stores(available: i64) -> (MemoryOrders, MemoryInventory, MemoryBilling, Sku) {
    let sku = Sku::try_from("P0").unwrap();
    let inventory = MemoryInventory::default();
    let product = Product {
        sku: sku.clone(),
        name: "P0".into(),
        price: Money::new(1_000, eur()),
        available,
        reserved: 0,
        version: 1,
    };
    inventory.put_product(&product).await.unwrap();
    let billing = MemoryBilling::default();
    let account = Account {
        user_id: "alice".into(),
        balance: 5_000,
        currency: eur(),
    };
    billing.put_account(&account).await.unwrap();
    (MemoryOrders::default(), inventory, billing, sku)
}

#[tokio::test]
async fn a_settled_world_holds() {
    let (orders, inventory, billing, sku) = stores(6).await;
    let world = World {
        products: vec![(sku, 6)],
        users: vec![("alice".into(), 5_000)],
        ..World::default()
    };
    let checked = invariants::check(&orders, &inventory, &billing, &world)
        .await
        .unwrap();
    assert!(checked.violations.is_empty(), "{:?}", checked.violations);
    assert!(checked.checks >= 4);
}

#[tokio::test]
async fn lost_stock_a_stray_reservation_and_a_lost_order_are_named() {
    let (orders, inventory, billing, sku) = stores(6).await;
    // A reservation no order accounts for: stock moves from available to reserved.
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let stray = OrderId::new_at(now);
    let line = ReservationLine {
        sku: sku.clone(),
        quantity: 2,
    };
    inventory
        .reserve(stray, &[line], &ChangedBy::system(), now)
        .await
        .unwrap();
    let lost = OrderId::new_at(now);
    let world = World {
        products: vec![(sku, 7)],
        users: vec![("alice".into(), 4_000)],
        orders: vec![lost],
        ..World::default()
    };
    let checked = invariants::check(&orders, &inventory, &billing, &world)
        .await
        .unwrap();
    let all = checked.violations.join("\n");
    assert!(all.contains(&format!("order {lost} is gone")), "{all}");
    assert!(
        all.contains("7 at the start and restocked, 4 available + 2 reserved"),
        "{all}"
    );
    assert!(
        all.contains("2 reserved, held reservations add up to 0"),
        "{all}"
    );
    assert!(
        all.contains("4000 at the start + the ledger = 4000, but the balance is 5000"),
        "{all}"
    );
}
