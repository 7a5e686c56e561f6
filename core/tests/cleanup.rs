//! The scheduled cleanup's rules against the in-memory adapters, with a fixed clock.

use chrono::{DateTime, Duration, TimeZone, Utc};
use order_adapters::memory::{
    MemoryBilling, MemoryEvents, MemoryInventory, MemoryOrders, MemorySaga,
};
use order_core::billing::{Account, PaymentStatus};
use order_core::cart::{Cart, CartItem};
use order_core::cleanup::{self, CleanupConfig, Ports, RunLimits};
use order_core::clock::FixedClock;
use order_core::events::EventType;
use order_core::inventory::{Product, ReservationLine, ReservationStatus};
use order_core::money::{Currency, Money};
use order_core::order::{Milestone, Order, OrderId, OrderLine, OrderStatus, Sku, Step};
use order_core::ports::{BillingStore, CartStore, InventoryStore, OrderStore};

struct World {
    orders: MemoryOrders,
    inventory: MemoryInventory,
    billing: MemoryBilling,
    saga: MemorySaga,
    events: MemoryEvents,
}

type MemoryPorts<'a> =
    Ports<'a, MemoryOrders, MemoryInventory, MemoryBilling, MemorySaga, MemoryEvents>;

impl World {
    fn new() -> Self {
        Self {
            orders: MemoryOrders::default(),
            inventory: MemoryInventory::default(),
            billing: MemoryBilling::default(),
            saga: MemorySaga::default(),
            events: MemoryEvents::default(),
        }
    }

    fn ports(&self) -> MemoryPorts<'_> {
        Ports {
            orders: &self.orders,
            inventory: &self.inventory,
            billing: &self.billing,
            saga: &self.saga,
            events: &self.events,
        }
    }

    async fn run(&self, now: DateTime<Utc>, config: &CleanupConfig) -> cleanup::CleanupReport {
        cleanup::run(&self.ports(), &FixedClock::at(now), config).await
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn eur() -> Currency {
    Currency::try_from("EUR").unwrap()
}

fn sku() -> Sku {
    Sku::try_from("SKU-MUG").unwrap()
}

async fn cart(world: &World, user: &str, at: DateTime<Utc>) -> Cart {
    let mut cart = Cart::empty(user);
    cart.items.push(CartItem {
        sku: sku(),
        quantity: 2,
    });
    assert!(world.orders.save_cart(&cart, 0, at).await.unwrap());
    world.orders.cart(user).await.unwrap().unwrap()
}

/// An order for 2 mugs at 12.99 by `user`, created at `at`, in the world's stores.
async fn order(world: &World, user: &str, at: DateTime<Utc>) -> Order {
    let price = Money::new(1299, eur());
    let total = Money::new(2598, eur());
    let order = Order {
        order_id: OrderId::new_at(at),
        user_id: user.to_owned(),
        status: OrderStatus::Pending,
        lines: vec![OrderLine {
            sku: sku(),
            name: "Mug".into(),
            quantity: 2,
            unit_price: price,
            line_total: total.clone(),
        }],
        subtotal: total.clone(),
        discount: Money::new(0, eur()),
        promo_code: None,
        total,
        reason: None,
        cancel_requested_at: None,
        delivery: None,
        created_at: at,
        updated_at: at,
        timeline: vec![Milestone {
            step: Step::Created,
            at,
        }],
        correlation_id: None,
    };
    world.orders.insert(&order, None).await.unwrap();
    order
}

async fn stock_and_account(world: &World, user: &str) {
    world
        .inventory
        .put_product(&Product {
            sku: sku(),
            name: "Mug".into(),
            price: Money::new(1299, eur()),
            available: 10,
            reserved: 0,
            version: 1,
        })
        .await
        .unwrap();
    world
        .billing
        .put_account(&Account {
            user_id: user.to_owned(),
            balance: 10_000,
            currency: eur(),
        })
        .await
        .unwrap();
}

/// What the saga has done by the time the order is RESERVED at `at`, and optionally charged.
async fn reserve(world: &World, order: &Order, at: DateTime<Utc>, charge: bool) {
    let lines = vec![ReservationLine {
        sku: sku(),
        quantity: 2,
    }];
    world
        .inventory
        .reserve(order.order_id, &lines, &by(), at)
        .await
        .unwrap();
    world
        .orders
        .set_status(order.order_id, OrderStatus::Reserved, at);
    if charge {
        world
            .billing
            .charge(order.order_id, &order.user_id, &order.total, &by(), at)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_stale_cart_is_emptied_and_a_fresh_one_stays() {
    let world = World::new();
    let config = CleanupConfig::default();
    cart(&world, "stale", t0()).await;
    cart(&world, "fresh", t0() + Duration::minutes(20)).await;
    let now = t0() + Duration::minutes(31);

    let report = world.run(now, &config).await;
    assert_eq!(report.carts.expired, 1, "{report:?}");
    assert!(report.drained);
    let stale = world.orders.cart("stale").await.unwrap().unwrap();
    assert!(stale.items.is_empty());
    assert_eq!(
        stale.version, 2,
        "the version moves on, so a stale writer never matches"
    );
    assert_eq!(
        world
            .orders
            .cart("fresh")
            .await
            .unwrap()
            .unwrap()
            .items
            .len(),
        1
    );

    let again = world.run(now, &config).await;
    assert_eq!(
        again.carts.examined, 0,
        "an emptied cart is not stale any more"
    );
}

#[tokio::test]
async fn a_cart_changed_between_read_and_write_is_kept() {
    let world = World::new();
    let read = cart(&world, "busy", t0()).await;
    let mut changed = read.clone();
    changed.items[0].quantity = 5;
    assert!(
        world
            .orders
            .save_cart(&changed, read.version, t0() + Duration::minutes(40))
            .await
            .unwrap()
    );
    use order_core::ports::CartSweep;
    let expired = world
        .orders
        .expire_cart(
            &read,
            t0() + Duration::minutes(10),
            t0() + Duration::minutes(41),
        )
        .await
        .unwrap();
    assert!(!expired);
    assert_eq!(
        world.orders.cart("busy").await.unwrap().unwrap().items[0].quantity,
        5
    );
}

#[tokio::test]
async fn an_expired_reservation_is_refunded_released_and_cancelled_exactly_once() {
    let world = World::new();
    stock_and_account(&world, "alice").await;
    let order = order(&world, "alice", t0()).await;
    reserve(&world, &order, t0(), true).await;
    assert_eq!(
        world
            .billing
            .account("alice")
            .await
            .unwrap()
            .unwrap()
            .balance,
        10_000 - 2598
    );
    let config = CleanupConfig::default();
    let now = t0() + Duration::minutes(31);

    // Two runs at once, then a third: one effect.
    let (a, b) = tokio::join!(world.run(now, &config), world.run(now, &config));
    let c = world.run(now, &config).await;
    let total = |f: fn(&cleanup::CleanupReport) -> usize| f(&a) + f(&b) + f(&c);
    assert_eq!(
        total(|r| r.expired_orders.cancelled),
        1,
        "{a:?} {b:?} {c:?}"
    );
    assert_eq!(total(|r| r.expired_orders.refunded), 1);
    assert_eq!(total(|r| r.expired_orders.released), 1);

    let stored = world.orders.get(order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Cancelled);
    assert_eq!(stored.reason.as_deref(), Some("EXPIRED"));
    assert_eq!(
        world
            .billing
            .account("alice")
            .await
            .unwrap()
            .unwrap()
            .balance,
        10_000
    );
    let payment = world
        .billing
        .payment(order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    let product = world.inventory.product(&sku()).unwrap();
    assert_eq!((product.available, product.reserved), (10, 0));
    // Announced: the refund and the cancellation, each under its one id.
    let announced: Vec<_> = world
        .events
        .published()
        .iter()
        .filter(|e| e.order_id == Some(order.order_id))
        .map(|e| (e.event_type, e.data["reason"].clone()))
        .collect();
    assert_eq!(
        announced,
        [
            (EventType::RefundIssued, serde_json::Value::Null),
            (EventType::OrderCancelled, serde_json::json!("EXPIRED"))
        ]
    );
}

#[tokio::test]
async fn a_recent_reservation_and_a_paid_order_are_left_alone() {
    let world = World::new();
    stock_and_account(&world, "bob").await;
    // Created long ago, but reserved only 10 minutes before the run: not expired.
    let late = order(&world, "bob", t0()).await;
    reserve(&world, &late, t0() + Duration::minutes(30), false).await;
    // Paid: the saga won the race; the cleanup leaves it to the saga (until the saga deadline).
    let paid = order(&world, "bob", t0() + Duration::seconds(1)).await;
    reserve(&world, &paid, t0(), true).await;
    world.orders.set_status(
        paid.order_id,
        OrderStatus::Paid,
        t0() + Duration::seconds(2),
    );

    let config = CleanupConfig {
        saga_deadline: Duration::minutes(60),
        ..CleanupConfig::default()
    };
    let report = world.run(t0() + Duration::minutes(40), &config).await;
    assert_eq!(report.expired_orders.cancelled, 0, "{report:?}");
    assert_eq!(report.expired_orders.not_expired, 1);
    assert_eq!(report.timed_out_orders.examined, 0, "{report:?}");
    let late = world.orders.get(late.order_id).await.unwrap().unwrap();
    assert_eq!(late.status, OrderStatus::Reserved);
    assert!(late.cancel_requested_at.is_none());
    let reservation = world
        .inventory
        .reservation(paid.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reservation.status, ReservationStatus::Held);
}

/// A saga that stopped between the charge and completion (an EXPRESS execution cut at five
/// minutes, a StopExecution) leaves the order PAID with no execution to finish it.
#[tokio::test]
async fn an_order_left_paid_by_a_stopped_saga_is_refunded_released_and_cancelled_once() {
    let world = World::new();
    stock_and_account(&world, "carol").await;
    let stuck = order(&world, "carol", t0()).await;
    reserve(&world, &stuck, t0(), true).await;
    world
        .orders
        .set_status(stuck.order_id, OrderStatus::Paid, t0());
    // Paid just as recently, but created inside the deadline: its saga may still be running.
    let young = order(&world, "carol", t0() + Duration::minutes(9)).await;
    reserve(&world, &young, t0() + Duration::minutes(9), true).await;
    world.orders.set_status(
        young.order_id,
        OrderStatus::Paid,
        t0() + Duration::minutes(9),
    );
    let config = CleanupConfig {
        saga_deadline: Duration::minutes(10),
        ..CleanupConfig::default()
    };

    let early = world.run(t0() + Duration::minutes(9), &config).await;
    assert_eq!(early.timed_out_orders.examined, 0, "{early:?}");

    let now = t0() + Duration::minutes(11);
    let (a, b) = tokio::join!(world.run(now, &config), world.run(now, &config));
    let c = world.run(now, &config).await;
    let total = |f: fn(&cleanup::CleanupReport) -> usize| f(&a) + f(&b) + f(&c);
    assert_eq!(
        total(|r| r.timed_out_orders.cancelled),
        1,
        "{a:?} {b:?} {c:?}"
    );
    assert_eq!(total(|r| r.timed_out_orders.refunded), 1);
    assert_eq!(total(|r| r.timed_out_orders.released), 1);

    let stored = world.orders.get(stuck.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Cancelled);
    assert_eq!(stored.reason.as_deref(), Some(cleanup::SAGA_TIMED_OUT));
    let young = world.orders.get(young.order_id).await.unwrap().unwrap();
    assert_eq!(young.status, OrderStatus::Paid, "inside the deadline");
    // Only the young order's charge and reservation remain.
    assert_eq!(
        world
            .billing
            .account("carol")
            .await
            .unwrap()
            .unwrap()
            .balance,
        10_000 - 2598
    );
    let product = world.inventory.product(&sku()).unwrap();
    assert_eq!((product.available, product.reserved), (8, 2));
    let payment = world
        .billing
        .payment(stuck.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    // The cancellation the cleanup announced is not due again.
    let later = world.run(now + Duration::minutes(11), &config).await;
    assert_eq!(later.unannounced_outcomes.examined, 0, "{later:?}");
}

#[tokio::test]
async fn shipped_and_delivered_orders_are_never_stuck() {
    use order_core::order::Fulfilment;
    use order_core::ports::FulfilmentStore;
    let world = World::new();
    stock_and_account(&world, "erin").await;
    let mut fulfilled = Vec::new();
    for (i, steps) in [
        &[Fulfilment::Ship][..],
        &[Fulfilment::Ship, Fulfilment::Deliver],
    ]
    .into_iter()
    .enumerate()
    {
        let order = order(&world, "erin", t0() + Duration::seconds(i as i64)).await;
        reserve(&world, &order, t0(), true).await;
        for status in [OrderStatus::Paid, OrderStatus::Completed] {
            world.orders.set_status(order.order_id, status, t0());
        }
        for step in steps {
            let moved = world
                .orders
                .fulfil(
                    order.order_id,
                    *step,
                    &order_core::audit::ChangedBy::admin("admin-1", None),
                    t0(),
                )
                .await;
            assert!(moved.unwrap().is_some(), "{step:?}");
        }
        fulfilled.push(order.order_id);
    }

    // Hours later, far past every time to live: nothing to expire, recover or give back.
    let report = world
        .run(t0() + Duration::hours(6), &CleanupConfig::default())
        .await;
    assert_eq!(report.expired_orders.examined, 0, "{report:?}");
    assert_eq!(report.recovered_orders.examined, 0, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    for (id, status) in fulfilled
        .into_iter()
        .zip([OrderStatus::Shipped, OrderStatus::Delivered])
    {
        let stored = world.orders.get(id).await.unwrap().unwrap();
        assert_eq!(stored.status, status);
        assert!(stored.cancel_requested_at.is_none());
        let payment = world.billing.payment(id).await.unwrap().unwrap();
        assert_eq!(payment.status, PaymentStatus::Charged);
        let reservation = world.inventory.reservation(id).await.unwrap().unwrap();
        assert_eq!(reservation.status, ReservationStatus::Held);
    }
    assert!(
        world.events.published().iter().all(|e| e.user_id != "erin"),
        "nothing announced for orders left alone"
    );
}

/// Issue 14, bug 4: cancel-order accepts the cancellation of a COMPLETED order, then starts
/// `<id>-cancel`. If that execution stops (EXPRESS's five minutes inside RefundPayment's retries)
/// or never starts (StartExecution throttled), the order stays COMPLETED with its money and
/// stock, unshippable. Past the saga deadline the cleanup finishes the cancellation once; a
/// completed order nobody cancelled is left alone.
#[tokio::test]
async fn an_accepted_cancellation_of_a_completed_order_that_never_finished_is_finished_once() {
    let world = World::new();
    stock_and_account(&world, "frank").await;
    let mut completed = Vec::new();
    for i in 0..2 {
        let order = order(&world, "frank", t0() + Duration::seconds(i)).await;
        reserve(&world, &order, t0(), true).await;
        for status in [OrderStatus::Paid, OrderStatus::Completed] {
            world.orders.set_status(order.order_id, status, t0());
        }
        completed.push(order);
    }
    let (cancelled, kept) = (&completed[0], &completed[1]);
    // The customer's cancellation is accepted at t0 + 1 min; its execution never runs.
    let requested = world
        .orders
        .request_cancellation(cancelled.order_id, t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert!(requested.is_some());
    let config = CleanupConfig {
        saga_deadline: Duration::minutes(10),
        ..CleanupConfig::default()
    };

    // Inside the deadline the cancellation may still be running: nothing is done.
    world.run(t0() + Duration::minutes(10), &config).await;
    let stored = world.orders.get(cancelled.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Completed, "inside the deadline");

    let now = t0() + Duration::minutes(12);
    let (a, b) = tokio::join!(world.run(now, &config), world.run(now, &config));
    assert_eq!(a.errors + b.errors, 0, "{a:?} {b:?}");
    let total = |f: fn(&cleanup::ExpiryCounts) -> usize| {
        f(&a.unfinished_cancellations) + f(&b.unfinished_cancellations)
    };
    assert_eq!(total(|c| c.cancelled), 1, "{a:?} {b:?}");
    assert_eq!(total(|c| c.refunded), 1, "{a:?} {b:?}");
    assert_eq!(total(|c| c.released), 1, "{a:?} {b:?}");
    let stored = world.orders.get(cancelled.order_id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        OrderStatus::Cancelled,
        "an accepted cancellation left unfinished: {stored:?}"
    );
    assert_eq!(stored.reason.as_deref(), Some("USER_CANCELLED"));
    let payment = world
        .billing
        .payment(cancelled.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    // Money and stock back once; the order nobody cancelled keeps its charge and its stock.
    let balance = world
        .billing
        .account("frank")
        .await
        .unwrap()
        .unwrap()
        .balance;
    assert_eq!(balance, 10_000 - 2598);
    let product = world.inventory.product(&sku()).unwrap();
    assert_eq!((product.available, product.reserved), (8, 2));
    let kept = world.orders.get(kept.order_id).await.unwrap().unwrap();
    assert_eq!(kept.status, OrderStatus::Completed);
    assert!(
        world
            .events
            .published()
            .iter()
            .filter(|e| e.event_type == EventType::OrderCancelled)
            .all(|e| e.order_id == Some(cancelled.order_id)),
        "only the cancelled order is announced cancelled"
    );
}

#[tokio::test]
async fn a_pending_order_without_a_saga_gets_one_and_an_ended_one_expires() {
    let world = World::new();
    stock_and_account(&world, "carol").await;
    let lost = order(&world, "carol", t0()).await;
    let young = order(&world, "carol", t0() + Duration::minutes(9)).await;
    let config = CleanupConfig::default();

    let report = world.run(t0() + Duration::minutes(10), &config).await;
    assert_eq!(report.recovered_orders.started, 1, "{report:?}");
    assert!(world.saga.started().contains_key(&lost.order_id));
    assert!(
        !world.saga.started().contains_key(&young.order_id),
        "within the grace period"
    );

    // Its saga ended without moving it (say it was stopped); once past the reservation TTL the
    // order is compensated and cancelled, whatever it may hold.
    let report = world.run(t0() + Duration::minutes(20), &config).await;
    assert_eq!(report.recovered_orders.ended, 1, "{report:?}");
    assert_eq!(report.expired_orders.cancelled, 0, "not old enough yet");
    let report = world.run(t0() + Duration::minutes(31), &config).await;
    assert_eq!(report.expired_orders.cancelled, 1, "{report:?}");
    let stored = world.orders.get(lost.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Cancelled);
    assert_eq!(stored.reason.as_deref(), Some("EXPIRED"));
}

#[tokio::test]
async fn a_backlog_drains_over_several_runs_within_each_runs_budget() {
    let world = World::new();
    let backlog = 10_000;
    for i in 0..backlog {
        cart(
            &world,
            &format!("user-{i:05}"),
            t0() + Duration::milliseconds(i),
        )
        .await;
    }
    let config = CleanupConfig::default().limited_by(&RunLimits {
        time_budget_ms: None,
        max_items: Some(3_000),
    });
    let now = t0() + Duration::hours(2);
    let mut runs = Vec::new();
    loop {
        let report = world.run(now, &config).await;
        assert!(report.carts.expired <= 3_000, "{report:?}");
        runs.push(report.carts.expired);
        if report.drained {
            break;
        }
        assert!(report.budget_exhausted);
        assert!(runs.len() < 10, "never drains: {runs:?}");
    }
    assert_eq!(runs, vec![3_000, 3_000, 3_000, 1_000]);
}

#[tokio::test]
async fn a_spent_time_budget_does_nothing_and_says_so() {
    let world = World::new();
    cart(&world, "dave", t0()).await;
    let config = CleanupConfig {
        time_budget: std::time::Duration::ZERO,
        ..CleanupConfig::default()
    };
    let report = world.run(t0() + Duration::hours(1), &config).await;
    assert_eq!(report.carts.examined, 0);
    assert!(report.budget_exhausted && !report.drained);
}

#[test]
fn limits_come_from_the_environment_and_a_run_can_only_lower_them() {
    let vars = |name: &str| match name {
        "CART_TTL_MINUTES" => Some("45".to_owned()),
        "CLEANUP_MAX_ITEMS" => Some("500".to_owned()),
        _ => None,
    };
    let config = CleanupConfig::from_vars(vars).unwrap();
    assert_eq!(config.cart_ttl, Duration::minutes(45));
    assert_eq!(config.reservation_ttl, Duration::minutes(30));
    assert_eq!(config.max_items, Some(500));
    let raised = config.limited_by(&RunLimits {
        time_budget_ms: Some(3_600_000),
        max_items: Some(10_000),
    });
    assert_eq!(raised.max_items, Some(500));
    assert_eq!(raised.time_budget, std::time::Duration::from_secs(60));
    assert!(
        CleanupConfig::from_vars(|n| (n == "RESERVATION_TTL_MINUTES").then(|| "soon".into()))
            .is_err()
    );
}

fn by() -> order_core::audit::ChangedBy {
    order_core::audit::ChangedBy::saga(Some("test"))
}

/// An execution stopped between the write that settled its order and the announcement
/// (EXPRESS's five minutes) leaves the outcome event due. Once the saga deadline has passed, the
/// cleanup publishes it under the id every publisher of it uses, and only once; a publish that
/// fails leaves it due for the next run.
#[tokio::test]
async fn an_outcome_no_execution_announced_is_announced_once_after_the_deadline() {
    use order_core::ports::OrderSweep;
    let world = World::new();
    let completed = order(&world, "dave", t0()).await;
    world
        .orders
        .set_status(completed.order_id, OrderStatus::Completed, t0());
    let cancelled = order(&world, "dave", t0()).await;
    let pending = [OrderStatus::Pending];
    let moved = world
        .orders
        .mark_cancelled(cancelled.order_id, &pending, "OUT_OF_STOCK", t0());
    assert!(moved.await.unwrap());
    let announced = order(&world, "dave", t0()).await;
    world
        .orders
        .set_status(announced.order_id, OrderStatus::Completed, t0());
    let marked = world
        .orders
        .mark_announced(announced.order_id, OrderStatus::Completed);
    assert!(marked.await.unwrap());
    let config = CleanupConfig {
        saga_deadline: Duration::minutes(10),
        ..CleanupConfig::default()
    };

    let early = world.run(t0() + Duration::minutes(9), &config).await;
    assert_eq!(early.unannounced_outcomes.examined, 0, "{early:?}");

    world.events.fail_next(1);
    let now = t0() + Duration::minutes(11);
    let failed = world.run(now, &config).await;
    assert_eq!(failed.unannounced_outcomes.announced, 1, "{failed:?}");
    assert_eq!(failed.errors, 1, "{failed:?}");
    let retried = world.run(now, &config).await;
    assert_eq!(retried.unannounced_outcomes.announced, 1, "{retried:?}");
    let after = world.run(now + Duration::minutes(30), &config).await;
    assert_eq!(after.unannounced_outcomes.examined, 0, "{after:?}");

    let outcomes: Vec<_> = world
        .events
        .published()
        .into_iter()
        .filter(|e| {
            matches!(
                e.event_type,
                EventType::OrderCompleted | EventType::OrderCancelled
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    for (order, event_type) in [
        (&completed, EventType::OrderCompleted),
        (&cancelled, EventType::OrderCancelled),
    ] {
        let event = outcomes
            .iter()
            .find(|e| e.order_id == Some(order.order_id))
            .unwrap();
        assert_eq!(event.event_type, event_type);
        let id = order_core::events::event_id(order.order_id, event_type);
        assert_eq!(
            event.event_id, id,
            "the id the state machine publishes it under"
        );
    }
    let cancellation = outcomes
        .iter()
        .find(|e| e.order_id == Some(cancelled.order_id))
        .unwrap();
    assert_eq!(cancellation.data["reason"], "OUT_OF_STOCK");
}
