//! The saga's steps with their domain events: which event each result announces, with what
//! data, and that a retried step announces the same event (same id) again.

use chrono::{DateTime, Utc};
use order_adapters::memory::{MemoryBilling, MemoryEvents, MemoryInventory};
use order_core::announce::{self, OrderOutcome, Origin};
use order_core::billing::Account;
use order_core::clock::FixedClock;
use order_core::events::{EventType, event_id};
use order_core::inventory::{Product, ReservationLine};
use order_core::money::{Currency, Money};
use order_core::notification::Outcome;
use order_core::order::{OrderId, Sku};
use order_core::ports::{BillingStore, InventoryStore};
use order_core::saga::{
    ChargePaymentInput, CompensationInput, ReserveStockInput, ScheduleDeliveryInput,
};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// Every event here belongs to the request `corr-1`.
fn origin(clock: &FixedClock) -> Origin<'_> {
    Origin {
        correlation_id: "corr-1",
        clock,
    }
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

fn types(events: &MemoryEvents) -> Vec<EventType> {
    events.published().iter().map(|e| e.event_type).collect()
}

async fn stocked(available: i64) -> MemoryInventory {
    let inventory = MemoryInventory::default();
    inventory
        .put_product(&Product {
            sku: Sku::try_from("A").unwrap(),
            name: "A".into(),
            price: eur(1000),
            available,
            reserved: 0,
            version: 1,
        })
        .await
        .unwrap();
    inventory
}

async fn funded(balance: i64) -> MemoryBilling {
    let billing = MemoryBilling::default();
    billing
        .put_account(&Account {
            user_id: "alice".into(),
            balance,
            currency: Currency::try_from("EUR").unwrap(),
        })
        .await
        .unwrap();
    billing
}

fn reserve(order_id: OrderId, quantity: u32) -> ReserveStockInput {
    ReserveStockInput {
        order_id,
        lines: vec![ReservationLine {
            sku: Sku::try_from("A").unwrap(),
            quantity,
        }],
        user_id: "alice".into(),
    }
}

fn charge(order_id: OrderId, amount: i64) -> ChargePaymentInput {
    ChargePaymentInput {
        order_id,
        user_id: "alice".into(),
        amount: eur(amount),
    }
}

#[tokio::test]
async fn a_reservation_announces_stock_reserved_and_a_retry_announces_the_same_event() {
    let (inventory, events, clock) = (
        stocked(5).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let order = OrderId::new_at(t0());
    announce::reserve_stock(&inventory, &events, origin(&clock), reserve(order, 2))
        .await
        .unwrap();
    announce::reserve_stock(&inventory, &events, origin(&clock), reserve(order, 2))
        .await
        .unwrap();
    let published = events.published();
    assert_eq!(types(&events), [EventType::StockReserved; 2]);
    assert_eq!(
        published[0], published[1],
        "the retry's event is the same event"
    );
    let event = &published[0];
    assert_eq!(event.event_id, event_id(order, EventType::StockReserved));
    assert_eq!(
        (event.order_id, event.user_id.as_str()),
        (Some(order), "alice")
    );
    assert_eq!(event.occurred_at, t0());
    assert_eq!(event.correlation_id, "corr-1");
    assert_eq!(
        event.data,
        json!({ "lines": [{ "sku": "A", "quantity": 2 }] })
    );
}

#[tokio::test]
async fn a_shortage_announces_stock_failed_and_still_fails_the_step() {
    let (inventory, events, clock) = (
        stocked(1).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let order = OrderId::new_at(t0());
    let error = announce::reserve_stock(&inventory, &events, origin(&clock), reserve(order, 2))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "OutOfStock");
    assert_eq!(types(&events), [EventType::StockFailed]);
    assert_eq!(
        events.published()[0].data,
        json!({ "reason": "OUT_OF_STOCK", "skus": ["A"] })
    );
}

#[tokio::test]
async fn a_lost_publish_fails_the_step_transiently_and_its_retry_publishes() {
    let (inventory, events, clock) = (
        stocked(5).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let order = OrderId::new_at(t0());
    events.fail_next(1);
    let error = announce::reserve_stock(&inventory, &events, origin(&clock), reserve(order, 2))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "Transient", "Step Functions retries it");
    assert!(events.published().is_empty());
    announce::reserve_stock(&inventory, &events, origin(&clock), reserve(order, 2))
        .await
        .unwrap();
    assert_eq!(types(&events), [EventType::StockReserved]);
    let product = inventory.product(&Sku::try_from("A").unwrap()).unwrap();
    assert_eq!(
        (product.available, product.reserved),
        (3, 2),
        "reserved once"
    );
}

#[tokio::test]
async fn a_charge_announces_payment_succeeded_and_a_decline_payment_failed() {
    let (billing, events, clock) = (
        funded(3_000).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let paid = OrderId::new_at(t0());
    announce::charge_payment(&billing, &events, origin(&clock), charge(paid, 2_500))
        .await
        .unwrap();
    let declined = OrderId::new_at(t0() + chrono::Duration::seconds(1));
    let error =
        announce::charge_payment(&billing, &events, origin(&clock), charge(declined, 2_500))
            .await
            .unwrap_err();
    assert_eq!(error.error_type(), "PaymentDeclined");
    let published = events.published();
    assert_eq!(
        types(&events),
        [EventType::PaymentSucceeded, EventType::PaymentFailed]
    );
    assert_eq!(published[0].order_id, Some(paid));
    assert_eq!(
        published[0].data,
        json!({ "amount": { "amount": 2500, "currency": "EUR" } })
    );
    assert_eq!(published[1].order_id, Some(declined));
    assert_eq!(
        published[1].data,
        json!({ "amount": { "amount": 2500, "currency": "EUR" }, "reason": "INSUFFICIENT_FUNDS" })
    );
}

#[tokio::test]
async fn a_refund_is_announced_even_by_the_retry_that_finds_it_done() {
    let (billing, events, clock) = (
        funded(3_000).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let order = OrderId::new_at(t0());
    announce::charge_payment(&billing, &events, origin(&clock), charge(order, 2_500))
        .await
        .unwrap();
    // The refund is written, then its publish fails: the retry must still announce it.
    events.fail_next(1);
    let refund = || CompensationInput { order_id: order };
    let error = announce::refund_payment(&billing, &events, origin(&clock), &by(), refund())
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "Transient");
    let retried = announce::refund_payment(&billing, &events, origin(&clock), &by(), refund())
        .await
        .unwrap();
    assert!(
        !retried.refunded,
        "the money went back once, on the first call"
    );
    assert_eq!(
        billing.account("alice").await.unwrap().unwrap().balance,
        3_000
    );
    assert_eq!(
        types(&events),
        [EventType::PaymentSucceeded, EventType::RefundIssued]
    );
    assert_eq!(
        events.published()[1].data,
        json!({ "amount": { "amount": 2500, "currency": "EUR" } })
    );
}

#[tokio::test]
async fn an_order_never_charged_announces_no_refund() {
    let (billing, events, clock) = (
        funded(3_000).await,
        MemoryEvents::default(),
        FixedClock::at(t0()),
    );
    let order = OrderId::new_at(t0());
    let output = announce::refund_payment(
        &billing,
        &events,
        origin(&clock),
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(!output.refunded);
    assert!(events.published().is_empty());
}

#[tokio::test]
async fn delivery_and_outcomes_are_announced_with_their_data() {
    let (events, clock) = (MemoryEvents::default(), FixedClock::at(t0()));
    let order = OrderId::new_at(t0());
    let delivery = order_core::delivery::LeadTimeDelivery {
        lead: chrono::Duration::hours(24),
        window: chrono::Duration::hours(2),
    };
    let booked = announce::schedule_delivery(
        &delivery,
        &events,
        origin(&clock),
        ScheduleDeliveryInput {
            order_id: order,
            user_id: "alice".into(),
        },
    )
    .await
    .unwrap();
    let outcome = |outcome, reason: Option<&str>| OrderOutcome {
        order_id: order,
        user_id: "alice".into(),
        outcome,
        reason: reason.map(str::to_owned),
        total: eur(2_500),
    };
    announce::order_outcome(&events, origin(&clock), outcome(Outcome::Completed, None))
        .await
        .unwrap();
    announce::order_outcome(
        &events,
        origin(&clock),
        outcome(Outcome::Cancelled, Some("USER_CANCELLED")),
    )
    .await
    .unwrap();
    let published = events.published();
    assert_eq!(
        types(&events),
        [
            EventType::DeliveryScheduled,
            EventType::OrderCompleted,
            EventType::OrderCancelled
        ]
    );
    assert_eq!(published[0].data, json!({ "slot": booked.slot }));
    assert_eq!(
        published[1].data,
        json!({ "total": { "amount": 2500, "currency": "EUR" } })
    );
    assert_eq!(
        published[2].data,
        json!({ "total": { "amount": 2500, "currency": "EUR" }, "reason": "USER_CANCELLED" })
    );
}

fn by() -> order_core::audit::ChangedBy {
    order_core::audit::ChangedBy::saga(Some("test"))
}
