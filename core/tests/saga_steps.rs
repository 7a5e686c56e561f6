//! The saga's steps against the in-memory adapters: effects, idempotency and typed errors.

use chrono::{DateTime, Utc};
use order_adapters::memory::{MemoryBilling, MemoryInventory};
use order_core::billing::{Account, DeclineReason, PaymentStatus};
use order_core::clock::FixedClock;
use order_core::inventory::{Product, ReservationLine, ReservationStatus};
use order_core::money::{Currency, Money};
use order_core::order::{OrderId, Sku};
use order_core::ports::{BillingStore, InventoryStore};
use order_core::saga::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

fn sku(s: &str) -> Sku {
    Sku::try_from(s).unwrap()
}

fn line(s: &str, quantity: u32) -> ReservationLine {
    ReservationLine {
        sku: sku(s),
        quantity,
    }
}

async fn stocked(items: &[(&str, i64)]) -> MemoryInventory {
    let inventory = MemoryInventory::default();
    for (s, available) in items {
        inventory
            .put_product(&Product {
                sku: sku(s),
                name: s.to_string(),
                price: eur(1000),
                available: *available,
                reserved: 0,
                version: 1,
            })
            .await
            .unwrap();
    }
    inventory
}

fn stock(inventory: &MemoryInventory, s: &str) -> (i64, i64) {
    let p = inventory.product(&sku(s)).unwrap();
    (p.available, p.reserved)
}

async fn funded(user: &str, balance: i64) -> MemoryBilling {
    let billing = MemoryBilling::default();
    billing
        .put_account(&Account {
            user_id: user.into(),
            balance,
            currency: Currency::try_from("EUR").unwrap(),
        })
        .await
        .unwrap();
    billing
}

async fn balance(billing: &MemoryBilling, user: &str) -> i64 {
    billing.account(user).await.unwrap().unwrap().balance
}

#[tokio::test]
async fn reserve_takes_every_line_and_is_idempotent() {
    let inventory = stocked(&[("A", 5), ("B", 2)]).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    let input = || ReserveStockInput {
        user_id: "alice".into(),
        order_id: order,
        lines: vec![line("A", 3), line("B", 2)],
    };

    let first = reserve_stock(&inventory, &clock, &by(), input())
        .await
        .unwrap();
    assert_eq!(first.status, ReservationStatus::Held);
    assert_eq!(stock(&inventory, "A"), (2, 3));
    assert_eq!(stock(&inventory, "B"), (0, 2));

    let second = reserve_stock(&inventory, &clock, &by(), input())
        .await
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(
        stock(&inventory, "A"),
        (2, 3),
        "a repeated reserve changed stock"
    );
}

#[tokio::test]
async fn reserve_is_all_or_nothing_and_names_the_short_skus() {
    let inventory = stocked(&[("A", 5), ("B", 1), ("C", 0)]).await;
    let err = reserve_stock(
        &inventory,
        &FixedClock::at(t0()),
        &by(),
        ReserveStockInput {
            user_id: "alice".into(),
            order_id: OrderId::new_at(t0()),
            lines: vec![line("A", 2), line("B", 2), line("C", 1), line("NOPE", 1)],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        StepError::OutOfStock(vec![sku("B"), sku("C"), sku("NOPE")])
    );
    assert_eq!(err.error_type(), "OutOfStock");
    assert!(err.to_string().contains("B, C, NOPE"));
    assert_eq!(
        stock(&inventory, "A"),
        (5, 0),
        "a failed reserve took stock"
    );
}

#[tokio::test]
async fn release_gives_stock_back_exactly_once() {
    let inventory = stocked(&[("A", 5)]).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    reserve_stock(
        &inventory,
        &clock,
        &by(),
        ReserveStockInput {
            user_id: "alice".into(),
            order_id: order,
            lines: vec![line("A", 4)],
        },
    )
    .await
    .unwrap();
    let first = release_reservation(
        &inventory,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    let second = release_reservation(
        &inventory,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(first.released);
    assert!(!second.released);
    assert_eq!(stock(&inventory, "A"), (5, 0));
}

#[tokio::test]
async fn release_without_reservation_is_a_noop_that_blocks_a_late_reserve() {
    let inventory = stocked(&[("A", 5)]).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    let out = release_reservation(
        &inventory,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(!out.released);
    // A reserve that arrives after its compensation (a timed-out call retried late) must not
    // hold stock that nobody will ever release.
    let late = reserve_stock(
        &inventory,
        &clock,
        &by(),
        ReserveStockInput {
            user_id: "alice".into(),
            order_id: order,
            lines: vec![line("A", 1)],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(late.error_type(), "AlreadyCompensated");
    assert_eq!(stock(&inventory, "A"), (5, 0));
}

#[tokio::test]
async fn reserve_rejects_malformed_lines() {
    let inventory = stocked(&[("A", 5)]).await;
    let clock = FixedClock::at(t0());
    for lines in [
        vec![],
        vec![line("A", 0)],
        vec![line("A", 1001)],
        vec![line("A", 1), line("A", 1)],
    ] {
        let err = reserve_stock(
            &inventory,
            &clock,
            &by(),
            ReserveStockInput {
                user_id: "alice".into(),
                order_id: OrderId::new_at(t0()),
                lines,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput");
    }
    assert_eq!(stock(&inventory, "A"), (5, 0));
}

#[tokio::test]
async fn charge_debits_once_and_refund_credits_once() {
    let billing = funded("alice", 10_000).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    let input = || ChargePaymentInput {
        order_id: order,
        user_id: "alice".into(),
        amount: eur(2_500),
    };

    let first = charge_payment(&billing, &clock, &by(), input())
        .await
        .unwrap();
    let again = charge_payment(&billing, &clock, &by(), input())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.status, PaymentStatus::Charged);
    assert_eq!(balance(&billing, "alice").await, 7_500, "charged twice");

    let refund = refund_payment(
        &billing,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    let refund_again = refund_payment(
        &billing,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(refund.refunded && !refund_again.refunded);
    assert_eq!(
        balance(&billing, "alice").await,
        10_000,
        "refunded twice or not at all"
    );

    let after_refund = charge_payment(&billing, &clock, &by(), input())
        .await
        .unwrap_err();
    assert_eq!(after_refund.error_type(), "AlreadyCompensated");
    assert_eq!(balance(&billing, "alice").await, 10_000);
}

#[tokio::test]
async fn charge_declines_with_a_reason() {
    let billing = funded("bob", 1_000).await;
    let clock = FixedClock::at(t0());
    let cases = [
        ("bob", eur(1_001), DeclineReason::InsufficientFunds),
        ("carol", eur(1), DeclineReason::NoAccount),
        (
            "bob",
            Money::new(10, Currency::try_from("USD").unwrap()),
            DeclineReason::CurrencyMismatch,
        ),
    ];
    for (user, amount, reason) in cases {
        let err = charge_payment(
            &billing,
            &clock,
            &by(),
            ChargePaymentInput {
                order_id: OrderId::new_at(t0()),
                user_id: user.into(),
                amount,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err, StepError::PaymentDeclined(reason));
        assert_eq!(err.error_type(), "PaymentDeclined");
    }
    assert_eq!(balance(&billing, "bob").await, 1_000);
}

#[tokio::test]
async fn exact_balance_is_enough() {
    let billing = funded("bob", 1_000).await;
    let out = charge_payment(
        &billing,
        &FixedClock::at(t0()),
        &by(),
        ChargePaymentInput {
            order_id: OrderId::new_at(t0()),
            user_id: "bob".into(),
            amount: eur(1_000),
        },
    )
    .await
    .unwrap();
    assert_eq!(out.amount, eur(1_000));
    assert_eq!(balance(&billing, "bob").await, 0);
}

#[tokio::test]
async fn a_second_charge_with_another_amount_is_refused() {
    let billing = funded("alice", 10_000).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    charge_payment(
        &billing,
        &clock,
        &by(),
        ChargePaymentInput {
            order_id: order,
            user_id: "alice".into(),
            amount: eur(100),
        },
    )
    .await
    .unwrap();
    let err = charge_payment(
        &billing,
        &clock,
        &by(),
        ChargePaymentInput {
            order_id: order,
            user_id: "alice".into(),
            amount: eur(200),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert_eq!(balance(&billing, "alice").await, 9_900);
}

#[tokio::test]
async fn refund_without_charge_blocks_a_late_charge() {
    let billing = funded("alice", 10_000).await;
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    let refund = refund_payment(
        &billing,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(!refund.refunded);
    let late = charge_payment(
        &billing,
        &clock,
        &by(),
        ChargePaymentInput {
            order_id: order,
            user_id: "alice".into(),
            amount: eur(100),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(late.error_type(), "AlreadyCompensated");
    assert_eq!(balance(&billing, "alice").await, 10_000);
}

/// Issue 14, bug 7: a 100 % code (or a FIXED code worth the subtotal) makes a total of 0, which
/// the API accepts. The charge settles it without touching any account (the buyer may have
/// none): a payment record of 0, idempotent like any charge, refunded and voided like one.
#[tokio::test]
async fn a_zero_total_is_settled_without_a_charge_even_without_an_account() {
    let billing = MemoryBilling::default();
    let clock = FixedClock::at(t0());
    let order = OrderId::new_at(t0());
    let input = || ChargePaymentInput {
        order_id: order,
        user_id: "carol".into(),
        amount: eur(0),
    };
    let first = charge_payment(&billing, &clock, &by(), input()).await;
    let first = first.expect("a zero total is settled, not refused");
    let again = charge_payment(&billing, &clock, &by(), input())
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        (first.status, first.amount.amount),
        (PaymentStatus::Charged, 0)
    );
    assert!(
        billing.account("carol").await.unwrap().is_none(),
        "no account made"
    );
    let refund = refund_payment(
        &billing,
        &clock,
        &by(),
        CompensationInput { order_id: order },
    )
    .await
    .unwrap();
    assert!(refund.refunded);
    let payment = billing.payment(order).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    assert!(billing.account("carol").await.unwrap().is_none());

    // Voided first (a compensation that overtook it), a late zero charge fails like any other.
    let voided = OrderId::new_at(t0());
    refund_payment(
        &billing,
        &clock,
        &by(),
        CompensationInput { order_id: voided },
    )
    .await
    .unwrap();
    let late = charge_payment(
        &billing,
        &clock,
        &by(),
        ChargePaymentInput {
            order_id: voided,
            ..input()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(late.error_type(), "AlreadyCompensated");
}

#[tokio::test]
async fn charge_rejects_negative_amounts() {
    let billing = funded("alice", 10_000).await;
    for amount in [-1, -5] {
        let err = charge_payment(
            &billing,
            &FixedClock::at(t0()),
            &by(),
            ChargePaymentInput {
                order_id: OrderId::new_at(t0()),
                user_id: "alice".into(),
                amount: eur(amount),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput");
    }
    assert_eq!(balance(&billing, "alice").await, 10_000);
}

#[test]
fn malformed_payloads_are_invalid_input() {
    let err = parse_input::<ReserveStockInput>(serde_json::json!({"orderId": "x", "lines": []}))
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    let err = parse_input::<ChargePaymentInput>(serde_json::json!({"orderId": OrderId::new_at(t0()), "userId": "a", "amount": {"amount": 1.5, "currency": "EUR"}})).unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
}

#[tokio::test]
async fn delivery_is_booked_after_the_lead_time_for_a_named_buyer() {
    use order_core::delivery::LeadTimeDelivery;
    let rule = LeadTimeDelivery {
        lead: chrono::Duration::hours(24),
        window: chrono::Duration::hours(2),
    };
    let clock = FixedClock::at(t0());
    let order_id = OrderId::new_at(t0());
    let input = |user: &str| ScheduleDeliveryInput {
        order_id,
        user_id: user.into(),
    };
    let booked = schedule_delivery(&rule, &clock, input("alice"))
        .await
        .unwrap();
    assert_eq!(booked.order_id, order_id);
    assert_eq!(booked.slot.from, t0() + chrono::Duration::hours(24));
    assert_eq!(booked.slot.to, t0() + chrono::Duration::hours(26));
    let error = schedule_delivery(&rule, &clock, input(""))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput");
}

fn by() -> order_core::audit::ChangedBy {
    order_core::audit::ChangedBy::saga(Some("test"))
}
