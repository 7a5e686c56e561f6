//! The saga under injected faults (faults/src/lib.rs): each test plans the faults a user's
//! next step calls meet, places an order and checks where it ends and that stock, money and
//! notifications moved exactly once.

use e2e::{Fault, Stack, User};
use order_lambda::billing::PaymentStatus;
use order_lambda::inventory::ReservationStatus;
use order_lambda::order::{OrderId, Sku};
use order_lambda::page::PageRequest;
use order_lambda::ports::{BillingStore, InventoryStore};
use serde_json::{Value, json};

const PRICE: i64 = 1_250;
const STOCK: i64 = 10;
const BALANCE: i64 = 10_000;

struct Placed {
    user: User,
    sku: Sku,
    order: Value,
    order_id: OrderId,
}

/// A fresh user and product, the faults planned, one order of 2 units placed and settled.
async fn place_with_faults(stack: &Stack, plans: Vec<(&str, Vec<Fault>)>) -> Placed {
    let user = stack.user(Some(BALANCE)).await;
    let sku = stack.product(STOCK, PRICE).await;
    for (function, faults) in plans {
        stack.plan_faults(&user, function, faults).await;
    }
    let (status, accepted) = stack
        .post_order(&user, &json!({"items":[{"sku": sku, "quantity": 2}]}), None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["orderId"].as_str().expect("orderId").to_owned();
    stack.wait_for_execution(&id).await;
    let order = stack.wait_until_settled(&user, &id).await;
    Placed {
        order_id: id.parse().expect("order id"),
        user,
        sku,
        order,
    }
}

/// The order completed: 2 units held once, charged once, one completion notification.
async fn assert_completed_once(stack: &Stack, placed: &Placed) {
    assert_eq!(placed.order["status"], "COMPLETED", "{}", placed.order);
    assert_eq!(stack.stock(&placed.sku).await, (STOCK - 2, 2), "stock");
    assert_eq!(stack.balance(&placed.user).await, BALANCE - 2 * PRICE);
    let payment = stack.billing.payment(placed.order_id).await.unwrap();
    assert_eq!(payment.map(|p| p.status), Some(PaymentStatus::Charged));
    let ledger = stack
        .billing
        .ledger(&placed.user.id, &PageRequest::first(50))
        .await
        .unwrap();
    let charges = ledger.items.iter().filter(|e| e.order_id.is_some()).count();
    assert_eq!(charges, 1, "one ledger entry for the order: {ledger:?}");
    // No profile: the in-app inbox only, once, whatever the notify function met on the way.
    let sent = stack.wait_for_notifications(&placed.user.id, 1).await;
    assert_eq!(sent.len(), 1, "one notification: {sent:?}");
}

/// The order was cancelled for `reason`, with stock and money exactly as before it.
async fn assert_cancelled_cleanly(stack: &Stack, placed: &Placed, reason: &str) {
    assert_eq!(placed.order["status"], "CANCELLED", "{}", placed.order);
    assert_eq!(placed.order["reason"], reason, "{}", placed.order);
    assert_eq!(
        stack.stock(&placed.sku).await,
        (STOCK, 0),
        "stock back once"
    );
    assert_eq!(
        stack.balance(&placed.user).await,
        BALANCE,
        "money back once"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn transient_faults_in_every_forward_step_are_retried_to_completion() {
    let stack = Stack::connect().await;
    let placed = place_with_faults(
        &stack,
        vec![
            ("reserve-stock", vec![Fault::Transient]),
            ("charge-payment", vec![Fault::Transient, Fault::Transient]),
            ("notify", vec![Fault::Transient]),
        ],
    )
    .await;
    assert_completed_once(&stack, &placed).await;
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_crash_after_each_forward_write_is_retried_without_doing_anything_twice() {
    let stack = Stack::connect().await;
    let placed = place_with_faults(
        &stack,
        vec![
            ("reserve-stock", vec![Fault::CrashAfterWrite]),
            ("charge-payment", vec![Fault::CrashAfterWrite]),
            ("notify", vec![Fault::CrashAfterWrite]),
        ],
    )
    .await;
    assert_completed_once(&stack, &placed).await;
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_reserve_that_hangs_past_its_timeout_is_retried_and_its_late_write_is_harmless() {
    let stack = Stack::connect().await;
    // The task times out at 15 s; the hung call still reserves, 2 s later, beside the retry.
    let placed = place_with_faults(
        &stack,
        vec![("reserve-stock", vec![Fault::Delay { ms: 17_000 }])],
    )
    .await;
    assert_completed_once(&stack, &placed).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        stack.stock(&placed.sku).await,
        (STOCK - 2, 2),
        "after the hung call finished"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn business_faults_cancel_with_their_reason_and_compensations_survive_faults() {
    let stack = Stack::connect().await;
    let declined = place_with_faults(
        &stack,
        vec![
            ("charge-payment", vec![Fault::Business]),
            (
                "release-reservation",
                vec![Fault::Transient, Fault::CrashAfterWrite],
            ),
        ],
    )
    .await;
    assert_cancelled_cleanly(&stack, &declined, "PAYMENT_DECLINED").await;
    let reservation = stack
        .inventory
        .reservation(declined.order_id)
        .await
        .unwrap();
    assert_eq!(
        reservation.map(|r| r.status),
        Some(ReservationStatus::Released)
    );

    let short = place_with_faults(&stack, vec![("reserve-stock", vec![Fault::Business])]).await;
    assert_cancelled_cleanly(&stack, &short, "OUT_OF_STOCK").await;
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_compensation_that_never_succeeds_ends_compensation_failed_with_a_dlq_message() {
    let _queue = e2e::COMPENSATION_DLQ.lock().await;
    let stack = Stack::connect().await;
    // Declined, then every release attempt (1 + 8 retries) fails: the saga gives up loudly.
    let placed = place_with_faults(
        &stack,
        vec![
            ("charge-payment", vec![Fault::Business]),
            ("release-reservation", vec![Fault::Transient; 9]),
        ],
    )
    .await;
    assert_eq!(
        placed.order["status"], "COMPENSATION_FAILED",
        "{}",
        placed.order
    );
    assert_eq!(
        stack.stock(&placed.sku).await,
        (STOCK - 2, 2),
        "still held: nothing gave it back"
    );
    assert!(
        stack
            .dlq_has_message_for("COMPENSATION_DLQ_URL", &placed.order_id)
            .await,
        "the compensation DLQ names the order {}",
        placed.order_id
    );

    // The fault is gone; the release step itself now gives the stock back, once.
    let (status, released) = stack
        .invoke("release-reservation", &json!({"orderId": placed.order_id}))
        .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["released"], true);
    assert_eq!(stack.stock(&placed.sku).await, (STOCK, 0));
}
