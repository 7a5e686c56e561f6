//! The scheduled cleanup (functions/cleanup) against the local stack. The test stacks switch the
//! schedule off, so each test invokes the function with the sample scheduled event from `events/`
//! and a fixed clock (the event's `time`). A run acts on the whole stack, so these tests take
//! turns.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use e2e::{Fault, Stack, User};
use futures::StreamExt;
use order_lambda::billing::PaymentStatus;
use order_lambda::cart::{Cart, CartItem};
use order_lambda::clock::format_time;
use order_lambda::order::{OrderId, Sku};
use order_lambda::ports::{BillingStore, CartStore};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// One cleanup test at a time: a run with a clock 31 minutes ahead expires every reservation
/// on the stack, including another test's.
static TURN: Mutex<()> = Mutex::const_new(());

/// Invokes the cleanup with `events/cleanup.json` at `now`, with `detail` as the run's limits.
async fn cleanup(stack: &Stack, now: DateTime<Utc>, detail: Value) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/cleanup.json");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("events/cleanup.json"))
            .expect("JSON");
    event["time"] = json!(format_time(now));
    event["detail"] = detail;
    let (status, report) = stack.invoke("cleanup", &event).await;
    assert_eq!(status, 200, "cleanup failed: {report}");
    assert_eq!(report["errors"], 0, "{report}");
    report
}

fn count(report: &Value, job: &str, what: &str) -> u64 {
    report[job][what]
        .as_u64()
        .unwrap_or_else(|| panic!("{job}.{what} in {report}"))
}

async fn put_cart(stack: &Stack, user: &str, sku: &Sku, at: DateTime<Utc>) {
    let mut cart = Cart::empty(user);
    cart.items.push(CartItem {
        sku: sku.clone(),
        quantity: 1,
    });
    assert!(
        stack
            .orders
            .save_cart(&cart, 0, at)
            .await
            .expect("save cart")
    );
}

async fn cart_lines(stack: &Stack, user: &str) -> usize {
    stack
        .orders
        .cart(user)
        .await
        .expect("read cart")
        .map_or(0, |c| c.items.len())
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_stale_cart_goes_and_a_fresh_one_stays() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(10, 500).await;
    let (stale, fresh) = (stack.user(None).await, stack.user(None).await);
    // Last changed two hours ago (written as the cart API would have then).
    put_cart(&stack, &stale.id, &sku, Utc::now() - Duration::hours(2)).await;
    // Changed just now, through the API.
    let (status, body) = stack
        .send_json(
            &fresh,
            "PUT",
            &format!("/cart/items/{sku}"),
            &json!({"quantity": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let report = cleanup(&stack, Utc::now(), json!({})).await;
    assert!(count(&report, "carts", "expired") >= 1, "{report}");

    let (status, cart) = stack.get(&stale, "/cart").await;
    assert_eq!(status, 200);
    assert_eq!(
        cart["items"],
        json!([]),
        "the stale cart is emptied: {cart}"
    );
    assert_eq!(
        cart_lines(&stack, &fresh.id).await,
        1,
        "the fresh cart stays"
    );
    let (_, cart) = stack.get(&fresh, "/cart").await;
    assert_eq!(cart["items"][0]["quantity"], 2);

    // The emptied cart is still a cart: the customer can fill it again.
    let (status, body) = stack
        .send_json(
            &stale,
            "PUT",
            &format!("/cart/items/{sku}"),
            &json!({"quantity": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let again = cleanup(&stack, Utc::now(), json!({})).await;
    assert_eq!(cart_lines(&stack, &stale.id).await, 1, "{again}");
}

/// Places an order of `quantity` units and waits until it is `RESERVED` while charge-payment is
/// held by `hold`.
async fn reserved_order(stack: &Stack, user: &User, sku: &Sku, hold: Fault) -> String {
    stack.plan_faults(user, "charge-payment", vec![hold]).await;
    let (status, body) = stack
        .post_order(user, &json!({"items": [{"sku": sku, "quantity": 2}]}), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["orderId"].as_str().expect("orderId").to_owned();
    stack.wait_for_status(user, &id, "RESERVED").await;
    id
}

/// Two cleanup runs at once, 31 minutes after the reservation; what they did together.
async fn two_concurrent_runs(stack: &Stack) -> (Value, Value) {
    let now = Utc::now() + Duration::minutes(31);
    tokio::join!(
        cleanup(stack, now, json!({})),
        cleanup(stack, now, json!({}))
    )
}

fn sum(runs: &(Value, Value), what: &str) -> u64 {
    count(&runs.0, "expiredOrders", what) + count(&runs.1, "expiredOrders", what)
}

async fn payment_status(stack: &Stack, id: &str) -> Option<PaymentStatus> {
    let id: OrderId = id.parse().expect("order id");
    stack
        .billing
        .payment(id)
        .await
        .expect("read payment")
        .map(|p| p.status)
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn an_expired_reservation_is_released_and_cancelled_once_while_the_saga_races() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(5, 1000).await;
    let user = stack.user(Some(10_000)).await;
    // The saga is held in charge-payment, before it charges: the order is RESERVED and unpaid.
    let id = reserved_order(&stack, &user, &sku, Fault::Delay { ms: 6_000 }).await;
    assert_eq!(stack.stock(&sku).await, (3, 2));

    let runs = two_concurrent_runs(&stack).await;
    assert_eq!(
        sum(&runs, "cancelled"),
        1,
        "cancelled exactly once: {runs:?}"
    );
    assert_eq!(sum(&runs, "released"), 1, "released exactly once: {runs:?}");
    assert_eq!(
        sum(&runs, "refunded"),
        0,
        "nothing was charged yet: {runs:?}"
    );
    let order = stack.wait_for_status(&user, &id, "CANCELLED").await;
    assert_eq!(order["reason"], "EXPIRED", "{order}");
    assert_eq!(stack.stock(&sku).await, (5, 0));

    // The held charge now runs late: it meets the refund's VOIDED marker and takes nothing;
    // the saga compensates (nothing left to give back) and ends cancelled.
    assert_eq!(stack.wait_for_execution(&id).await, "SUCCEEDED");
    assert_eq!(
        payment_status(&stack, &id).await,
        Some(PaymentStatus::Voided)
    );
    assert_eq!(stack.balance(&user).await, 10_000);
    assert_eq!(stack.stock(&sku).await, (5, 0), "stock came back once");
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(
        order["reason"], "EXPIRED",
        "the cleanup's reason wins: {order}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn an_expired_reservation_that_was_charged_is_refunded_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(5, 1000).await;
    let user = stack.user(Some(10_000)).await;
    // The charge has happened, the saga is held before marking the order PAID: the support
    // case "the customer paid but the order says awaiting payment", past the TTL.
    let id = reserved_order(&stack, &user, &sku, Fault::DelayAfterWrite { ms: 6_000 }).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while payment_status(&stack, &id).await != Some(PaymentStatus::Charged) {
        assert!(std::time::Instant::now() < deadline, "never charged");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stack.balance(&user).await, 10_000 - 2_000);

    let runs = two_concurrent_runs(&stack).await;
    assert_eq!(sum(&runs, "cancelled"), 1, "{runs:?}");
    assert_eq!(sum(&runs, "refunded"), 1, "refunded exactly once: {runs:?}");
    assert_eq!(sum(&runs, "released"), 1, "{runs:?}");

    // The saga's MarkOrderPaid now fails on the cancellation request; its own refund and
    // release find nothing left.
    assert_eq!(stack.wait_for_execution(&id).await, "SUCCEEDED");
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    assert_eq!(order["reason"], "EXPIRED");
    assert_eq!(
        stack.balance(&user).await,
        10_000,
        "money back exactly once"
    );
    assert_eq!(stack.stock(&sku).await, (5, 0), "stock back exactly once");
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_paid_order_is_never_expired() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(5, 1000).await;
    let user = stack.user(Some(10_000)).await;
    let (status, body) = stack
        .post_order(
            &user,
            &json!({"items": [{"sku": sku, "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["orderId"].as_str().expect("orderId").to_owned();
    stack.wait_for_status(&user, &id, "COMPLETED").await;

    cleanup(&stack, Utc::now() + Duration::minutes(31), json!({})).await;
    let (_, order) = stack.get_order(&user, &id).await;
    assert_eq!(order["status"], "COMPLETED", "{order}");
    assert_eq!(stack.balance(&user).await, 9_000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_pending_order_whose_saga_never_started_is_recovered_and_completes() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(5, 1000).await;
    let user = stack.user(Some(10_000)).await;
    // What create-order leaves when it crashes between writing the order and starting its saga.
    let now = Utc::now();
    let id = stack.lost_pending_order(&user, &sku, 1000).await;

    // Within the grace period nothing happens: the API may still be starting it.
    let early = cleanup(&stack, now + Duration::minutes(1), json!({})).await;
    assert!(!stack.execution_names().await.contains(&id), "{early}");

    let report = cleanup(&stack, now + Duration::minutes(6), json!({})).await;
    assert!(
        count(&report, "recoveredOrders", "started") >= 1,
        "{report}"
    );
    assert_eq!(stack.wait_for_execution(&id).await, "SUCCEEDED");
    let (_, stored) = stack.get_order(&user, &id).await;
    assert_eq!(stored["status"], "COMPLETED", "{stored}");
    assert_eq!(stack.balance(&user).await, 9_000);

    // Running again starts nothing twice.
    cleanup(&stack, now + Duration::minutes(6), json!({})).await;
    assert_eq!(stack.balance(&user).await, 9_000);
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn the_budget_drains_a_backlog_over_several_runs() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(10, 500).await;
    let prefix = format!("backlog-{}", uuid::Uuid::new_v4().simple());
    let users: Vec<String> = (0..250).map(|i| format!("{prefix}-{i:03}")).collect();
    let old = Utc::now() - Duration::hours(3);
    futures::stream::iter(&users)
        .for_each_concurrent(16, |user| put_cart(&stack, user, &sku, old))
        .await;

    let mut runs = Vec::new();
    loop {
        let report = cleanup(&stack, Utc::now(), json!({"maxItems": 100})).await;
        let expired = count(&report, "carts", "expired");
        assert!(expired <= 100, "a run stays within its budget: {report}");
        runs.push(expired);
        if report["drained"] == true {
            break;
        }
        assert_eq!(report["budgetExhausted"], true, "{report}");
        assert!(runs.len() < 20, "the backlog never drains: {runs:?}");
    }
    assert!(
        runs.len() >= 3,
        "250 carts at 100 a run take three runs: {runs:?}"
    );
    for user in &users {
        assert_eq!(cart_lines(&stack, user).await, 0, "{user}'s cart was left");
    }
}

/// The order item's `announceDueAt`: set while its outcome event is still due.
async fn announce_due_at(stack: &Stack, id: &str) -> Option<String> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(std::env::var("ORDERS_TABLE").expect("ORDERS_TABLE"))
        .key("pk", AttributeValue::S(format!("ORDER#{id}")))
        .key("sk", AttributeValue::S("ORDER".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("read the order item")
        .item
        .expect("the order item");
    item.get("announceDueAt")
        .and_then(|v| v.as_s().ok())
        .cloned()
}

/// An execution stopped between `CompleteOrder` and its announcement (EXPRESS stops at five
/// minutes) leaves the order `COMPLETED` with its outcome event due. The local stack's
/// executions run to the end, so the test puts the mark back as such an execution leaves it,
/// settled 30 minutes ago: the cleanup publishes the event and clears the mark, once, and the
/// buyer, who had it from the execution, is not told twice (the event's id is the same).
#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn an_outcome_a_stopped_execution_left_due_is_announced_once() {
    let _turn = TURN.lock().await;
    let stack = Stack::connect().await;
    let sku = stack.product(5, 1000).await;
    let user = stack.user(Some(10_000)).await;
    let body = json!({"items": [{"sku": sku, "quantity": 1}]});
    let (status, accepted) = stack.post_order(&user, &body, None).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["orderId"].as_str().expect("orderId").to_owned();
    assert_eq!(stack.wait_for_execution(&id).await, "SUCCEEDED");
    assert_eq!(
        announce_due_at(&stack, &id).await,
        None,
        "the execution announced its outcome (MarkOrderCompletedAnnounced)"
    );

    let settled = format_time(Utc::now() - Duration::minutes(30));
    stack
        .dynamodb
        .update_item()
        .table_name(std::env::var("ORDERS_TABLE").expect("ORDERS_TABLE"))
        .key("pk", AttributeValue::S(format!("ORDER#{id}")))
        .key("sk", AttributeValue::S("ORDER".into()))
        .update_expression("SET announceDueAt = :at")
        .expression_attribute_values(":at", AttributeValue::S(settled))
        .send()
        .await
        .expect("leave the outcome due");

    let report = cleanup(&stack, Utc::now(), json!({})).await;
    assert!(
        count(&report, "unannouncedOutcomes", "announced") >= 1,
        "{report}"
    );
    assert_eq!(announce_due_at(&stack, &id).await, None, "{report}");
    let again = cleanup(&stack, Utc::now(), json!({})).await;
    assert_eq!(
        count(&again, "unannouncedOutcomes", "announced"),
        0,
        "{again}"
    );

    let told = stack.wait_for_notifications(&user.id, 1).await;
    let completed = told
        .iter()
        .filter(|n| n.event_type == order_lambda::events::EventType::OrderCompleted)
        .count();
    assert_eq!(completed, 1, "{told:?}");
}
