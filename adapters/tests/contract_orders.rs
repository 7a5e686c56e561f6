//! The order side's ports' contracts, run on every adapter: in memory and on DynamoDB (in
//! process, embedded-dynamodb). `OrderStore`, `FulfilmentStore`, `PromotionStore`,
//! `CartStore` and the cleanup's sweeps (`OrderSweep`, `CartSweep`), one contract each. An
//! adapter that passes behaves as the ordering, fulfilment and cleanup rules assume; where the
//! two differ, this is where it shows.
//!
//! Statuses are written only through the ports: an order is inserted in the status a check
//! needs (the state machine's status writes have no port). So `request_cancellation_for`'s
//! `held_before` is checked on orders that count from `createdAt`, not on `RESERVED` ones,
//! which count from `reservedAt`, a time only the state machine writes.

mod support;

use chrono::{DateTime, Duration, Utc};
use order_adapters::dynamodb::DynamoOrders;
use order_adapters::memory::MemoryOrders;
use order_core::audit::ChangedBy;
use order_core::cart::{Cart, CartItem};
use order_core::error::StoreError;
use order_core::money::Money;
use order_core::order::{Fulfilment, Milestone, Order, OrderId, OrderLine, OrderStatus, Step};
use order_core::page::{Page, PageRequest};
use order_core::ports::{
    CartStore, CartSweep, FulfilmentStore, IdempotencyRecord, InsertOutcome, OrderStore,
    OrderSweep, PromotionStore, Upsert,
};
use order_core::promotion::{Discount, Promotion};
use std::future::Future;
use support::{eur, order_at, sku, t0};

fn dynamo() -> DynamoOrders {
    DynamoOrders::new(support::dynamodb(), "OrdersTable")
}

// ---------------------------------------------------------------------------------------------
// OrderStore

pub async fn orders_contract<S: OrderStore + PromotionStore>(make: impl Fn() -> S) {
    an_inserted_order_reads_back_as_written(make()).await;
    an_idempotency_key_is_written_with_its_order_and_taken_once(make()).await;
    a_promotion_use_is_counted_with_its_order_while_uses_are_left(make()).await;
    a_retry_with_a_taken_key_counts_no_promotion_use(make()).await;
    a_users_orders_list_newest_first_a_page_at_a_time(make()).await;
    a_status_filter_keeps_paging_through_every_order(make()).await;
    a_cancellation_is_accepted_until_the_order_ships(make()).await;
    a_cancellation_is_refused_once_shipped_delivered_or_cancelled(make()).await;
}

#[tokio::test]
async fn orders_in_memory() {
    orders_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn orders_on_dynamodb() {
    orders_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// FulfilmentStore

pub async fn fulfilment_contract<S: OrderStore + FulfilmentStore>(make: impl Fn() -> S) {
    a_completed_order_ships_then_delivers_once(make()).await;
    fulfilment_moves_only_from_its_status(make()).await;
    a_cancellation_and_shipping_never_both_land(make()).await;
}

#[tokio::test]
async fn fulfilment_in_memory() {
    fulfilment_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn fulfilment_on_dynamodb() {
    fulfilment_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// PromotionStore

pub async fn promotions_contract<S: OrderStore + PromotionStore>(make: impl Fn() -> S) {
    a_new_promotion_reads_back_with_no_uses(make()).await;
    replacing_a_promotion_keeps_its_uses(make()).await;
}

#[tokio::test]
async fn promotions_in_memory() {
    promotions_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn promotions_on_dynamodb() {
    promotions_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// CartStore

pub async fn carts_contract<S: CartStore>(make: impl Fn() -> S) {
    a_cart_is_created_only_from_version_zero(make()).await;
    a_stale_writer_loses_and_changes_nothing(make()).await;
    an_emptied_cart_keeps_its_version(make()).await;
}

#[tokio::test]
async fn carts_in_memory() {
    carts_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn carts_on_dynamodb() {
    carts_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// OrderSweep

pub async fn sweep_contract<S: OrderStore + OrderSweep>(make: impl Fn() -> S) {
    orders_in_a_status_list_oldest_first_a_page_at_a_time(make()).await;
    unfinished_cancellations_are_completed_orders_whose_cancel_was_requested(make()).await;
    a_sweep_requests_a_cancellation_only_from_the_given_statuses(make()).await;
    a_sweep_request_keeps_the_first_request_and_its_reason(make()).await;
    mark_cancelled_moves_once_and_keeps_the_requested_reason(make()).await;
    a_completed_order_nobody_cancelled_is_never_cancelled(make()).await;
    a_cancellation_is_due_to_be_announced_until_marked_announced(make()).await;
}

#[tokio::test]
async fn sweep_in_memory() {
    sweep_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn sweep_on_dynamodb() {
    sweep_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// CartSweep

pub async fn cart_sweep_contract<S: CartStore + CartSweep>(make: impl Fn() -> S) {
    stale_carts_are_carts_with_lines_oldest_first_a_page_at_a_time(make()).await;
    expiring_empties_a_stale_cart_once_and_moves_its_version(make()).await;
    a_cart_changed_since_it_was_read_is_not_expired(make()).await;
}

#[tokio::test]
async fn cart_sweep_in_memory() {
    cart_sweep_contract(MemoryOrders::default).await;
}

#[tokio::test]
async fn cart_sweep_on_dynamodb() {
    cart_sweep_contract(dynamo).await;
}

// ---------------------------------------------------------------------------------------------
// Where the adapters disagree (see each test's ignore reason).

/// `request_cancellation`: "Repeating it changes nothing."
async fn a_repeated_cancellation_request_keeps_the_first(store: impl OrderStore) {
    let o = order("alice", 0, OrderStatus::Paid);
    store.insert(&o, None).await.unwrap();
    let first = store
        .request_cancellation(o.order_id, at(1))
        .await
        .unwrap()
        .unwrap();
    let again = store
        .request_cancellation(o.order_id, at(2))
        .await
        .unwrap()
        .unwrap();
    // Only `updatedAt` moves: the request's time and the rest are the first request's.
    assert_eq!(again.updated_at, at(2));
    assert_eq!(
        Order {
            updated_at: first.updated_at,
            ..again.clone()
        },
        first,
        "a repeat keeps the first request"
    );
    assert_eq!(store.get(o.order_id).await.unwrap(), Some(again));
}

#[tokio::test]
async fn a_repeated_cancellation_request_keeps_the_first_in_memory() {
    a_repeated_cancellation_request_keeps_the_first(MemoryOrders::default()).await;
}

#[tokio::test]
async fn a_repeated_cancellation_request_keeps_the_first_on_dynamodb() {
    a_repeated_cancellation_request_keeps_the_first(dynamo()).await;
}

/// `OrderSweep::request_cancellation_for` requests "the way the customer's cancel does
/// (`cancelRequestedAt`, `cancelReason`, both kept if present)", and `mark_cancelled` cancels
/// "with the requested reason if one was recorded": the customer's cancel records
/// `USER_CANCELLED` (`cleanup::USER_CANCELLED`, "the reason cancel-order records"), which a
/// later sweep's reason does not replace.
async fn the_customers_request_records_its_reason<S: OrderStore + OrderSweep>(store: S) {
    let o = order("alice", 0, OrderStatus::Pending);
    store.insert(&o, None).await.unwrap();
    store
        .request_cancellation(o.order_id, at(1))
        .await
        .unwrap()
        .unwrap();
    let swept = store
        .request_cancellation_for(o.order_id, &[OrderStatus::Pending], None, "EXPIRED", at(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        swept.cancel_requested_at,
        Some(at(1)),
        "the first request is kept"
    );
    assert!(
        store
            .mark_cancelled(o.order_id, &[OrderStatus::Pending], "EXPIRED", at(3))
            .await
            .unwrap()
    );
    let cancelled = store.get(o.order_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.reason.as_deref(), Some("USER_CANCELLED"));
}

#[tokio::test]
async fn the_customers_request_records_its_reason_on_dynamodb() {
    the_customers_request_records_its_reason(dynamo()).await;
}

#[tokio::test]
async fn the_customers_request_records_its_reason_in_memory() {
    the_customers_request_records_its_reason(MemoryOrders::default()).await;
}

/// `OrderStore::insert`: the order, its key's record and its promotion use are written "all or
/// nothing": an insert refused for an order id already stored spends neither the key nor a use.
async fn an_insert_refused_for_a_taken_order_id_writes_nothing<S: OrderStore + PromotionStore>(
    store: S,
) {
    store.put_promotion(&promotion("MANY", 5)).await.unwrap();
    let o = with_promotion(order("alice", 0, OrderStatus::Pending), "MANY");
    store.insert(&o, Some(&key_for(&o, "k-1"))).await.unwrap();
    let clash = store.insert(&o, Some(&key_for(&o, "k-2"))).await;
    assert!(matches!(clash, Err(StoreError::Internal(_))), "{clash:?}");
    assert_eq!(
        store.idempotency_record("alice", "k-2").await.unwrap(),
        None
    );
    assert_eq!(store.promotion("MANY").await.unwrap().unwrap().uses, 1);
}

#[tokio::test]
async fn an_insert_refused_for_a_taken_order_id_writes_nothing_on_dynamodb() {
    an_insert_refused_for_a_taken_order_id_writes_nothing(dynamo()).await;
}

#[tokio::test]
async fn an_insert_refused_for_a_taken_order_id_writes_nothing_in_memory() {
    an_insert_refused_for_a_taken_order_id_writes_nothing(MemoryOrders::default()).await;
}

/// `OrderSweep::cancellations_unfinished`: "oldest request first".
async fn unfinished_cancellations_list_oldest_request_first<S: OrderStore + OrderSweep>(store: S) {
    let store = &store;
    let first_placed = order("alice", 0, OrderStatus::Completed);
    let then_placed = order("alice", 1, OrderStatus::Completed);
    for o in [&first_placed, &then_placed] {
        store.insert(o, None).await.unwrap();
    }
    for (o, when) in [(&first_placed, 6), (&then_placed, 5)] {
        store
            .request_cancellation(o.order_id, at(when))
            .await
            .unwrap()
            .unwrap();
    }
    let listed = every_page(1, |page| async move {
        store.cancellations_unfinished(at(30), &page).await
    })
    .await;
    assert_eq!(
        ids(&listed),
        [then_placed.order_id, first_placed.order_id],
        "the request at +5 min before the one at +6"
    );
}

#[tokio::test]
async fn unfinished_cancellations_list_oldest_request_first_on_dynamodb() {
    unfinished_cancellations_list_oldest_request_first(dynamo()).await;
}

#[tokio::test]
async fn unfinished_cancellations_list_oldest_request_first_in_memory() {
    unfinished_cancellations_list_oldest_request_first(MemoryOrders::default()).await;
}

/// `PromotionStore::put_promotion` "creates or replaces": a code never stored is `Created`.
async fn a_new_promotion_is_created(store: impl PromotionStore) {
    let (created, _) = store
        .put_promotion(&promotion("SAVE10", 100))
        .await
        .unwrap();
    assert_eq!(created, Upsert::Created);
    let (updated, _) = store.put_promotion(&promotion("SAVE10", 50)).await.unwrap();
    assert_eq!(updated, Upsert::Updated);
}

#[tokio::test]
async fn a_new_promotion_is_created_in_memory() {
    a_new_promotion_is_created(MemoryOrders::default()).await;
}

#[tokio::test]
async fn a_new_promotion_is_created_on_dynamodb() {
    a_new_promotion_is_created(dynamo()).await;
}

// ---------------------------------------------------------------------------------------------
// Values

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// A new order of `user`, created `minutes` after `t0` (its id too), in `status`: two mugs.
fn order(user: &str, minutes: i64, status: OrderStatus) -> Order {
    let created = at(minutes);
    let total = eur(2_598);
    Order {
        order_id: order_at(minutes),
        user_id: user.to_owned(),
        status,
        lines: vec![OrderLine {
            sku: sku("MUG"),
            name: "Mug".into(),
            quantity: 2,
            unit_price: eur(1_299),
            line_total: total.clone(),
        }],
        subtotal: total.clone(),
        discount: eur(0),
        promo_code: None,
        total,
        reason: None,
        cancel_requested_at: None,
        delivery: None,
        created_at: created,
        updated_at: created,
        timeline: vec![Milestone {
            step: Step::Created,
            at: created,
        }],
        correlation_id: Some(format!("corr-{minutes}")),
    }
}

fn with_promotion(mut order: Order, code: &str) -> Order {
    order.promo_code = Some(code.to_owned());
    order.discount = eur(260);
    order.total = Money::new(order.subtotal.amount - 260, order.subtotal.currency.clone());
    order
}

fn key_for(order: &Order, key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        user_id: order.user_id.clone(),
        key: key.to_owned(),
        order_id: order.order_id,
        request_hash: format!("hash-of-{key}"),
        created_at: order.created_at,
    }
}

fn promotion(code: &str, max_uses: i64) -> Promotion {
    Promotion {
        code: code.to_owned(),
        discount: Discount::Percent(10),
        valid_from: at(-60 * 24),
        valid_to: at(60 * 24),
        max_uses,
        min_total: None,
        uses: 0,
    }
}

fn cart(user: &str, lines: &[(&str, u32)]) -> Cart {
    Cart {
        user_id: user.to_owned(),
        items: lines
            .iter()
            .map(|(code, quantity)| CartItem {
                sku: sku(code),
                quantity: *quantity,
            })
            .collect(),
        updated_at: None,
        version: 0,
    }
}

fn steps(order: &Order) -> Vec<Step> {
    order.timeline.iter().map(|m| m.step).collect()
}

fn admin() -> ChangedBy {
    ChangedBy::admin("admin-1", None)
}

/// Every item of a paged list, following cursors until there are none; no page holds more
/// than `limit`.
async fn every_page<T, F, Fut>(limit: u32, mut next: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut seen = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..50 {
        let got = next(page).await.unwrap();
        assert!(
            got.items.len() <= limit as usize,
            "a page of {}",
            got.items.len()
        );
        seen.extend(got.items);
        match got.next_cursor {
            Some(cursor) => {
                page = PageRequest {
                    limit,
                    cursor: Some(cursor),
                }
            }
            None => return seen,
        }
    }
    panic!("the cursors never ended");
}

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(|o| o.order_id).collect()
}

async fn status_of(store: &impl OrderStore, order_id: OrderId) -> OrderStatus {
    store.get(order_id).await.unwrap().unwrap().status
}

// ---------------------------------------------------------------------------------------------
// OrderStore's checks

async fn an_inserted_order_reads_back_as_written(store: impl OrderStore) {
    let o = order("alice", 0, OrderStatus::Pending);
    assert_eq!(
        store.insert(&o, None).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.get(o.order_id).await.unwrap(), Some(o));
    let done = order("alice", 1, OrderStatus::Completed);
    store.insert(&done, None).await.unwrap();
    assert_eq!(store.get(done.order_id).await.unwrap(), Some(done));
    assert_eq!(store.get(order_at(2)).await.unwrap(), None);
}

async fn an_idempotency_key_is_written_with_its_order_and_taken_once(store: impl OrderStore) {
    let first = order("alice", 0, OrderStatus::Pending);
    let record = key_for(&first, "k-1");
    assert_eq!(
        store.insert(&first, Some(&record)).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        store.idempotency_record("alice", "k-1").await.unwrap(),
        Some(record)
    );
    assert_eq!(store.get(first.order_id).await.unwrap(), Some(first));
    let retry = order("alice", 1, OrderStatus::Pending);
    assert_eq!(
        store
            .insert(&retry, Some(&key_for(&retry, "k-1")))
            .await
            .unwrap(),
        InsertOutcome::IdempotencyKeyTaken
    );
    assert_eq!(
        store.get(retry.order_id).await.unwrap(),
        None,
        "nothing written"
    );
    let bobs = order("bob", 2, OrderStatus::Pending);
    assert_eq!(
        store
            .insert(&bobs, Some(&key_for(&bobs, "k-1")))
            .await
            .unwrap(),
        InsertOutcome::Inserted,
        "keys are per user"
    );
    assert_eq!(
        store.idempotency_record("carol", "k-1").await.unwrap(),
        None
    );
}

async fn a_promotion_use_is_counted_with_its_order_while_uses_are_left(
    store: impl OrderStore + PromotionStore,
) {
    store.put_promotion(&promotion("ONCE", 1)).await.unwrap();
    let first = with_promotion(order("alice", 0, OrderStatus::Pending), "ONCE");
    assert_eq!(
        store
            .insert(&first, Some(&key_for(&first, "k-1")))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.get(first.order_id).await.unwrap(), Some(first));
    assert_eq!(store.promotion("ONCE").await.unwrap().unwrap().uses, 1);
    let second = with_promotion(order("bob", 1, OrderStatus::Pending), "ONCE");
    assert_eq!(
        store
            .insert(&second, Some(&key_for(&second, "k-2")))
            .await
            .unwrap(),
        InsertOutcome::PromotionUsedUp
    );
    assert_eq!(store.get(second.order_id).await.unwrap(), None);
    assert_eq!(
        store.idempotency_record("bob", "k-2").await.unwrap(),
        None,
        "the key is not spent on a refused order"
    );
    assert_eq!(store.promotion("ONCE").await.unwrap().unwrap().uses, 1);
    let unknown = with_promotion(order("bob", 2, OrderStatus::Pending), "NOPE");
    assert_eq!(
        store.insert(&unknown, None).await.unwrap(),
        InsertOutcome::PromotionUsedUp,
        "a code that is gone"
    );
    assert_eq!(store.get(unknown.order_id).await.unwrap(), None);
    assert_eq!(store.promotion("NOPE").await.unwrap(), None);
}

async fn a_retry_with_a_taken_key_counts_no_promotion_use(store: impl OrderStore + PromotionStore) {
    store.put_promotion(&promotion("MANY", 5)).await.unwrap();
    let first = with_promotion(order("alice", 0, OrderStatus::Pending), "MANY");
    store
        .insert(&first, Some(&key_for(&first, "k-1")))
        .await
        .unwrap();
    let retry = with_promotion(order("alice", 1, OrderStatus::Pending), "MANY");
    assert_eq!(
        store
            .insert(&retry, Some(&key_for(&retry, "k-1")))
            .await
            .unwrap(),
        InsertOutcome::IdempotencyKeyTaken
    );
    assert_eq!(
        store.promotion("MANY").await.unwrap().unwrap().uses,
        1,
        "a retry with a taken key counts no use"
    );
    assert_eq!(store.get(retry.order_id).await.unwrap(), None);
    assert_eq!(
        store.idempotency_record("alice", "k-1").await.unwrap(),
        Some(key_for(&first, "k-1")),
        "the key still names the first order"
    );
}

async fn a_users_orders_list_newest_first_a_page_at_a_time(store: impl OrderStore) {
    let store = &store;
    let mine: Vec<Order> = (0..5)
        .map(|m| order("alice", m, OrderStatus::Pending))
        .collect();
    for o in &mine {
        store.insert(o, None).await.unwrap();
    }
    store
        .insert(&order("bob", 10, OrderStatus::Pending), None)
        .await
        .unwrap();
    let listed = every_page(2, |page| async move {
        store.list_for_user("alice", None, &page).await
    })
    .await;
    let newest_first: Vec<Order> = mine.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);
    let first = store
        .list_for_user("alice", None, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(ids(&first.items), ids(&newest_first[..2]));
    assert!(first.next_cursor.is_some());
    let none = store
        .list_for_user("carol", None, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!((none.items, none.next_cursor), (vec![], None));
}

async fn a_status_filter_keeps_paging_through_every_order(store: impl OrderStore) {
    let store = &store;
    use OrderStatus::*;
    let statuses = [
        Completed, Pending, Pending, Pending, Completed, Pending, Completed,
    ];
    let mine: Vec<Order> = statuses
        .iter()
        .enumerate()
        .map(|(m, s)| order("alice", m as i64, *s))
        .collect();
    for o in &mine {
        store.insert(o, None).await.unwrap();
    }
    store
        .insert(&order("bob", 20, Completed), None)
        .await
        .unwrap();
    let completed = every_page(2, |page| async move {
        store.list_for_user("alice", Some(Completed), &page).await
    })
    .await;
    let expected: Vec<OrderId> = mine
        .iter()
        .rev()
        .filter(|o| o.status == Completed)
        .map(|o| o.order_id)
        .collect();
    assert_eq!(ids(&completed), expected);
    let shipped = every_page(2, |page| async move {
        store.list_for_user("alice", Some(Shipped), &page).await
    })
    .await;
    assert_eq!(shipped, vec![]);
}

async fn a_cancellation_is_accepted_until_the_order_ships(store: impl OrderStore) {
    use OrderStatus::*;
    for (m, status) in [Pending, Reserved, Paid, Completed].into_iter().enumerate() {
        let o = order("alice", m as i64, status);
        store.insert(&o, None).await.unwrap();
        let asked = store
            .request_cancellation(o.order_id, at(30))
            .await
            .unwrap();
        let asked = asked.unwrap_or_else(|| panic!("{status:?} is cancellable"));
        assert_eq!(
            asked.status, status,
            "the saga cancels; the request only asks"
        );
        assert_eq!(asked.cancel_requested_at, Some(at(30)));
        assert_eq!(asked.updated_at, at(30));
        assert_eq!(steps(&asked), [Step::Created, Step::CancelRequested]);
        let again = store
            .request_cancellation(o.order_id, at(31))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{status:?}: a repeat is still accepted"));
        assert_eq!(
            (again.status, again.cancel_requested_at),
            (status, Some(at(30))),
            "a repeat keeps the first request"
        );
        let stored = store.get(o.order_id).await.unwrap().unwrap();
        assert_eq!(stored.cancel_requested_at, Some(at(30)));
    }
    assert_eq!(
        store
            .request_cancellation(order_at(9), at(30))
            .await
            .unwrap(),
        None,
        "no such order"
    );
}

async fn a_cancellation_is_refused_once_shipped_delivered_or_cancelled(store: impl OrderStore) {
    use OrderStatus::*;
    for (m, status) in [Shipped, Delivered, Cancelled, CompensationFailed]
        .into_iter()
        .enumerate()
    {
        let o = order("alice", m as i64, status);
        store.insert(&o, None).await.unwrap();
        assert_eq!(
            store
                .request_cancellation(o.order_id, at(30))
                .await
                .unwrap(),
            None,
            "{status:?} is not cancellable"
        );
        assert_eq!(
            store.get(o.order_id).await.unwrap(),
            Some(o),
            "{status:?}: nothing written"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// FulfilmentStore's checks

async fn a_completed_order_ships_then_delivers_once(store: impl OrderStore + FulfilmentStore) {
    let o = order("alice", 0, OrderStatus::Completed);
    store.insert(&o, None).await.unwrap();
    let shipped = store
        .fulfil(o.order_id, Fulfilment::Ship, &admin(), at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (shipped.status, shipped.updated_at),
        (OrderStatus::Shipped, at(10))
    );
    assert_eq!(steps(&shipped), [Step::Created, Step::Shipped]);
    assert_eq!(store.get(o.order_id).await.unwrap(), Some(shipped.clone()));
    assert_eq!(
        store
            .fulfil(o.order_id, Fulfilment::Ship, &admin(), at(11))
            .await
            .unwrap(),
        None,
        "shipped once"
    );
    let delivered = store
        .fulfil(o.order_id, Fulfilment::Deliver, &admin(), at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(
        delivered.timeline,
        [
            Milestone {
                step: Step::Created,
                at: at(0)
            },
            Milestone {
                step: Step::Shipped,
                at: at(10)
            },
            Milestone {
                step: Step::Delivered,
                at: at(20)
            },
        ]
    );
    assert_eq!(
        store
            .fulfil(o.order_id, Fulfilment::Deliver, &admin(), at(21))
            .await
            .unwrap(),
        None,
        "delivered once"
    );
    assert_eq!(store.get(o.order_id).await.unwrap(), Some(delivered));
}

async fn fulfilment_moves_only_from_its_status(store: impl OrderStore + FulfilmentStore) {
    use OrderStatus::*;
    for (m, status) in [
        Pending,
        Reserved,
        Paid,
        Cancelled,
        CompensationFailed,
        Completed,
    ]
    .into_iter()
    .enumerate()
    {
        let o = order("alice", m as i64, status);
        store.insert(&o, None).await.unwrap();
        if status != Completed {
            assert_eq!(
                store
                    .fulfil(o.order_id, Fulfilment::Ship, &admin(), at(10))
                    .await
                    .unwrap(),
                None,
                "{status:?} does not ship"
            );
        }
        assert_eq!(
            store
                .fulfil(o.order_id, Fulfilment::Deliver, &admin(), at(10))
                .await
                .unwrap(),
            None,
            "{status:?} is not delivered before it ships"
        );
        assert_eq!(
            store.get(o.order_id).await.unwrap(),
            Some(o),
            "nothing written"
        );
    }
    assert_eq!(
        store
            .fulfil(order_at(9), Fulfilment::Ship, &admin(), at(10))
            .await
            .unwrap(),
        None,
        "no such order"
    );
    assert_eq!(store.get(order_at(9)).await.unwrap(), None);
}

async fn a_cancellation_and_shipping_never_both_land(store: impl OrderStore + FulfilmentStore) {
    let cancelled_first = order("alice", 0, OrderStatus::Completed);
    store.insert(&cancelled_first, None).await.unwrap();
    store
        .request_cancellation(cancelled_first.order_id, at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .fulfil(cancelled_first.order_id, Fulfilment::Ship, &admin(), at(6))
            .await
            .unwrap(),
        None,
        "a cancellation stops shipping"
    );
    assert_eq!(
        status_of(&store, cancelled_first.order_id).await,
        OrderStatus::Completed
    );
    let shipped_first = order("alice", 1, OrderStatus::Completed);
    store.insert(&shipped_first, None).await.unwrap();
    store
        .fulfil(shipped_first.order_id, Fulfilment::Ship, &admin(), at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .request_cancellation(shipped_first.order_id, at(6))
            .await
            .unwrap(),
        None,
        "shipping stops a cancellation"
    );
    let stored = store.get(shipped_first.order_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.cancel_requested_at),
        (OrderStatus::Shipped, None)
    );
}

// ---------------------------------------------------------------------------------------------
// PromotionStore's checks

async fn a_new_promotion_reads_back_with_no_uses(store: impl PromotionStore) {
    let asked = Promotion {
        uses: 7,
        ..promotion("SAVE10", 100)
    };
    let (_, stored) = store.put_promotion(&asked).await.unwrap();
    assert_eq!(stored, promotion("SAVE10", 100), "only orders count uses");
    assert_eq!(store.promotion("SAVE10").await.unwrap(), Some(stored));
    assert_eq!(store.promotion("SAVE20").await.unwrap(), None);
}

async fn replacing_a_promotion_keeps_its_uses(store: impl OrderStore + PromotionStore) {
    store.put_promotion(&promotion("SAVE", 3)).await.unwrap();
    for m in 0..2 {
        let o = with_promotion(order("alice", m, OrderStatus::Pending), "SAVE");
        assert_eq!(
            store.insert(&o, None).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
    let fixed = Promotion {
        code: "SAVE".into(),
        discount: Discount::Fixed(eur(500)),
        valid_from: at(0),
        valid_to: at(60),
        max_uses: 10,
        min_total: Some(eur(2_000)),
        uses: 0,
    };
    let (updated, stored) = store.put_promotion(&fixed).await.unwrap();
    assert_eq!(updated, Upsert::Updated);
    assert_eq!(stored, Promotion { uses: 2, ..fixed });
    assert_eq!(store.promotion("SAVE").await.unwrap(), Some(stored));
    let (again, percent) = store.put_promotion(&promotion("SAVE", 2)).await.unwrap();
    assert_eq!(again, Upsert::Updated);
    assert_eq!(
        percent,
        Promotion {
            uses: 2,
            ..promotion("SAVE", 2)
        },
        "the fixed amount and the minimum are gone"
    );
    assert_eq!(store.promotion("SAVE").await.unwrap(), Some(percent));
    let over = with_promotion(order("bob", 5, OrderStatus::Pending), "SAVE");
    assert_eq!(
        store.insert(&over, None).await.unwrap(),
        InsertOutcome::PromotionUsedUp,
        "the new terms' limit counts the old uses"
    );
}

// ---------------------------------------------------------------------------------------------
// CartStore's checks

async fn a_cart_is_created_only_from_version_zero(store: impl CartStore) {
    assert_eq!(store.cart("alice").await.unwrap(), None);
    let filled = cart("alice", &[("MUG", 2)]);
    assert!(store.save_cart(&filled, 0, at(1)).await.unwrap());
    let stored = store.cart("alice").await.unwrap().unwrap();
    assert_eq!(
        stored,
        Cart {
            updated_at: Some(at(1)),
            version: 1,
            ..filled.clone()
        }
    );
    assert!(
        !store
            .save_cart(&cart("alice", &[("CUP", 1)]), 0, at(2))
            .await
            .unwrap(),
        "a second creation loses"
    );
    assert!(
        !store.save_cart(&filled, 5, at(2)).await.unwrap(),
        "a version never stored"
    );
    assert_eq!(store.cart("alice").await.unwrap(), Some(stored));
    assert_eq!(store.cart("bob").await.unwrap(), None, "one cart per user");
}

async fn a_stale_writer_loses_and_changes_nothing(store: impl CartStore) {
    assert!(
        store
            .save_cart(&cart("alice", &[("MUG", 1)]), 0, at(1))
            .await
            .unwrap()
    );
    let first = store.cart("alice").await.unwrap().unwrap();
    let mut mine = first.clone();
    mine.set(&sku("CUP"), 3).unwrap();
    assert!(store.save_cart(&mine, first.version, at(2)).await.unwrap());
    let theirs = cart("alice", &[("PLATE", 1)]);
    assert!(
        !store
            .save_cart(&theirs, first.version, at(3))
            .await
            .unwrap(),
        "the other writer read version {}",
        first.version
    );
    let stored = store.cart("alice").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.items, mine.items);
    assert_eq!(stored.updated_at, Some(at(2)));
}

async fn an_emptied_cart_keeps_its_version(store: impl CartStore) {
    assert!(
        store
            .save_cart(&cart("alice", &[("MUG", 1)]), 0, at(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .save_cart(&cart("alice", &[]), 1, at(2))
            .await
            .unwrap()
    );
    let emptied = store.cart("alice").await.unwrap().unwrap();
    assert_eq!((emptied.items.len(), emptied.version), (0, 2));
    for stale in [0, 1] {
        assert!(
            !store
                .save_cart(&cart("alice", &[("CUP", 1)]), stale, at(3))
                .await
                .unwrap(),
            "a writer that read version {stale}"
        );
    }
    assert!(
        store
            .save_cart(&cart("alice", &[("CUP", 1)]), 2, at(4))
            .await
            .unwrap()
    );
    assert_eq!(store.cart("alice").await.unwrap().unwrap().version, 3);
}

// ---------------------------------------------------------------------------------------------
// OrderSweep's checks

async fn orders_in_a_status_list_oldest_first_a_page_at_a_time(
    store: impl OrderStore + OrderSweep,
) {
    let store = &store;
    use OrderStatus::*;
    let pending: Vec<Order> = (0..5).map(|m| order("alice", m, Pending)).collect();
    for o in pending.iter().rev() {
        store.insert(o, None).await.unwrap();
    }
    store
        .insert(&order("bob", 6, Reserved), None)
        .await
        .unwrap();
    store
        .insert(&order("bob", 30, Pending), None)
        .await
        .unwrap();
    let listed = every_page(2, |page| async move {
        store.orders_in_status(Pending, at(10), &page).await
    })
    .await;
    assert_eq!(listed, pending, "oldest first, created before the cut");
    let reserved = every_page(2, |page| async move {
        store.orders_in_status(Reserved, at(10), &page).await
    })
    .await;
    assert_eq!(reserved.len(), 1);
    let early = every_page(2, |page| async move {
        store.orders_in_status(Pending, at(0), &page).await
    })
    .await;
    assert_eq!(early, vec![], "created before the cut, strictly");
}

/// `OrderSweep::announcements_due` and `mark_announced`: a cancellation leaves its event due
/// from the cancelling write, oldest first and strictly before the cut, in its status only, until
/// it is marked announced in that status, once.
async fn a_cancellation_is_due_to_be_announced_until_marked_announced(
    store: impl OrderStore + OrderSweep,
) {
    let store = &store;
    use OrderStatus::*;
    let later = order("alice", 0, Paid);
    let first = order("alice", 1, Pending);
    let running = order("alice", 2, Paid);
    for o in [&later, &first, &running] {
        store.insert(o, None).await.unwrap();
    }
    for (o, from, when) in [(&later, Paid, 10), (&first, Pending, 5)] {
        let from = [from];
        let moved = store.mark_cancelled(o.order_id, &from, "EXPIRED", at(when));
        assert!(moved.await.unwrap());
    }
    let due = |before: i64, status: OrderStatus| {
        every_page(1, move |page| async move {
            store.announcements_due(status, at(before), &page).await
        })
    };
    let oldest_first = [first.order_id, later.order_id];
    assert_eq!(ids(&due(20, Cancelled).await), oldest_first);
    assert_eq!(ids(&due(10, Cancelled).await), [first.order_id], "strictly");
    assert_eq!(ids(&due(20, Completed).await), [], "in its status only");

    let completed = store.mark_announced(later.order_id, Completed).await;
    assert!(
        !completed.unwrap(),
        "announced only in the status it settled in"
    );
    assert!(
        store
            .mark_announced(later.order_id, Cancelled)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_announced(later.order_id, Cancelled)
            .await
            .unwrap()
    );
    let never_settled = store.mark_announced(running.order_id, Paid).await;
    assert!(!never_settled.unwrap(), "nothing was due");
    assert_eq!(ids(&due(20, Cancelled).await), [first.order_id]);
    let stored = store.get(later.order_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.reason.as_deref()),
        (Cancelled, Some("EXPIRED")),
        "marking it announced changes nothing else"
    );
}

async fn unfinished_cancellations_are_completed_orders_whose_cancel_was_requested(
    store: impl OrderStore + OrderSweep,
) {
    let store = &store;
    use OrderStatus::*;
    let old = order("alice", 0, Completed);
    let older = order("alice", 1, Completed);
    let recent = order("alice", 2, Completed);
    let nobody = order("alice", 3, Completed);
    let running = order("alice", 4, Paid);
    for o in [&old, &older, &recent, &nobody, &running] {
        store.insert(o, None).await.unwrap();
    }
    for (o, when) in [(&old, 6), (&older, 5), (&recent, 40), (&running, 5)] {
        store
            .request_cancellation(o.order_id, at(when))
            .await
            .unwrap()
            .unwrap();
    }
    let listed = every_page(1, |page| async move {
        store.cancellations_unfinished(at(30), &page).await
    })
    .await;
    let mut found = ids(&listed);
    found.sort();
    assert_eq!(
        found,
        [old.order_id, older.order_id],
        "requested before the cut, each once"
    );
    assert!(
        store
            .mark_cancelled(old.order_id, &[Completed], "USER_CANCELLED", at(50))
            .await
            .unwrap()
    );
    let left = every_page(1, |page| async move {
        store.cancellations_unfinished(at(30), &page).await
    })
    .await;
    assert_eq!(
        ids(&left),
        [older.order_id],
        "a finished cancellation is gone"
    );
}

async fn a_sweep_requests_a_cancellation_only_from_the_given_statuses(
    store: impl OrderStore + OrderSweep,
) {
    use OrderStatus::*;
    let pending = order("alice", 0, Pending);
    let paid = order("alice", 1, Paid);
    let shipped = order("alice", 2, Shipped);
    for o in [&pending, &paid, &shipped] {
        store.insert(o, None).await.unwrap();
    }
    assert_eq!(
        store
            .request_cancellation_for(pending.order_id, &[Paid], None, "SAGA_TIMED_OUT", at(20))
            .await
            .unwrap(),
        None,
        "PENDING is not in from"
    );
    assert_eq!(
        store
            .request_cancellation_for(pending.order_id, &[Pending], Some(at(0)), "EXPIRED", at(20))
            .await
            .unwrap(),
        None,
        "held since creation, not before it"
    );
    assert_eq!(
        store
            .request_cancellation_for(shipped.order_id, &[Shipped], None, "EXPIRED", at(20))
            .await
            .unwrap(),
        None,
        "the table never cancels a shipped order"
    );
    assert_eq!(
        store
            .request_cancellation_for(order_at(9), &[Pending], None, "EXPIRED", at(20))
            .await
            .unwrap(),
        None,
        "no such order"
    );
    for o in [&pending, &paid, &shipped] {
        assert_eq!(store.get(o.order_id).await.unwrap().as_ref(), Some(o));
    }
    let asked = store
        .request_cancellation_for(pending.order_id, &[Pending], Some(at(1)), "EXPIRED", at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (asked.status, asked.cancel_requested_at, asked.updated_at),
        (Pending, Some(at(20)), at(20))
    );
    assert_eq!(steps(&asked), [Step::Created, Step::CancelRequested]);
    assert_eq!(store.get(pending.order_id).await.unwrap(), Some(asked));
    let timed_out = store
        .request_cancellation_for(
            paid.order_id,
            &[Reserved, Paid],
            None,
            "SAGA_TIMED_OUT",
            at(21),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timed_out.cancel_requested_at, Some(at(21)));
}

async fn a_sweep_request_keeps_the_first_request_and_its_reason(
    store: impl OrderStore + OrderSweep,
) {
    use OrderStatus::*;
    let o = order("alice", 0, Paid);
    store.insert(&o, None).await.unwrap();
    store
        .request_cancellation_for(o.order_id, &[Paid], None, "SAGA_TIMED_OUT", at(10))
        .await
        .unwrap()
        .unwrap();
    let again = store
        .request_cancellation_for(o.order_id, &[Paid], None, "EXPIRED", at(11))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.cancel_requested_at,
        Some(at(10)),
        "the first request is kept"
    );
    assert_eq!(steps(&again), [Step::Created, Step::CancelRequested]);
    assert!(
        store
            .mark_cancelled(o.order_id, &[Paid], "SAGA_FAILED", at(12))
            .await
            .unwrap()
    );
    let cancelled = store.get(o.order_id).await.unwrap().unwrap();
    assert_eq!(
        (cancelled.status, cancelled.reason.as_deref()),
        (Cancelled, Some("SAGA_TIMED_OUT")),
        "the first requested reason"
    );
}

async fn mark_cancelled_moves_once_and_keeps_the_requested_reason(
    store: impl OrderStore + OrderSweep,
) {
    use OrderStatus::*;
    let early = [Pending, Reserved, Paid];
    let pending = order("alice", 0, Pending);
    let reserved = order("alice", 1, Reserved);
    let failed = order("alice", 2, CompensationFailed);
    let delivered = order("alice", 3, Delivered);
    for o in [&pending, &reserved, &failed, &delivered] {
        store.insert(o, None).await.unwrap();
    }
    assert!(
        !store
            .mark_cancelled(reserved.order_id, &[Pending], "EXPIRED", at(10))
            .await
            .unwrap(),
        "RESERVED is not in from"
    );
    assert_eq!(status_of(&store, reserved.order_id).await, Reserved);
    assert!(
        store
            .mark_cancelled(pending.order_id, &early, "EXPIRED", at(10))
            .await
            .unwrap()
    );
    let cancelled = store.get(pending.order_id).await.unwrap().unwrap();
    assert_eq!(
        (cancelled.status, cancelled.reason.as_deref()),
        (Cancelled, Some("EXPIRED"))
    );
    assert_eq!(steps(&cancelled), [Step::Created, Step::Cancelled]);
    assert!(
        !store
            .mark_cancelled(pending.order_id, &early, "SAGA_FAILED", at(11))
            .await
            .unwrap(),
        "CANCELLED already"
    );
    assert_eq!(
        store
            .get(pending.order_id)
            .await
            .unwrap()
            .unwrap()
            .reason
            .as_deref(),
        Some("EXPIRED")
    );
    assert!(
        store
            .mark_cancelled(
                failed.order_id,
                &[CompensationFailed],
                "SAGA_FAILED",
                at(10)
            )
            .await
            .unwrap(),
        "the operator finishes a failed compensation"
    );
    assert_eq!(status_of(&store, failed.order_id).await, Cancelled);
    assert!(
        !store
            .mark_cancelled(delivered.order_id, &[Delivered, Shipped], "EXPIRED", at(10))
            .await
            .unwrap(),
        "nothing cancels a delivered order"
    );
    assert_eq!(status_of(&store, delivered.order_id).await, Delivered);
    assert!(
        !store
            .mark_cancelled(order_at(9), &early, "EXPIRED", at(10))
            .await
            .unwrap(),
        "no such order"
    );
}

async fn a_completed_order_nobody_cancelled_is_never_cancelled(
    store: impl OrderStore + OrderSweep,
) {
    use OrderStatus::*;
    let done = order("alice", 0, Completed);
    let asked = order("alice", 1, Completed);
    for o in [&done, &asked] {
        store.insert(o, None).await.unwrap();
    }
    assert_eq!(
        store
            .request_cancellation_for(done.order_id, &[Completed], None, "SAGA_FAILED", at(10))
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .mark_cancelled(done.order_id, &[Paid, Completed], "SAGA_FAILED", at(10))
            .await
            .unwrap()
    );
    assert_eq!(store.get(done.order_id).await.unwrap(), Some(done));
    store
        .request_cancellation(asked.order_id, at(5))
        .await
        .unwrap()
        .unwrap();
    let again = store
        .request_cancellation_for(asked.order_id, &[Completed], None, "USER_CANCELLED", at(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.cancel_requested_at, Some(at(5)));
    assert!(
        store
            .mark_cancelled(asked.order_id, &[Paid, Completed], "USER_CANCELLED", at(11))
            .await
            .unwrap(),
        "a completed order whose cancellation was requested"
    );
    let cancelled = store.get(asked.order_id).await.unwrap().unwrap();
    assert_eq!(
        (cancelled.status, cancelled.reason.as_deref()),
        (Cancelled, Some("USER_CANCELLED"))
    );
}

// ---------------------------------------------------------------------------------------------
// CartSweep's checks

async fn stale_carts_are_carts_with_lines_oldest_first_a_page_at_a_time(
    store: impl CartStore + CartSweep,
) {
    let store = &store;
    for (user, minutes) in [("carol", 2), ("alice", 0), ("bob", 1), ("dave", 40)] {
        assert!(
            store
                .save_cart(&cart(user, &[("MUG", 1)]), 0, at(minutes))
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .save_cart(&cart("erin", &[("MUG", 1)]), 0, at(3))
            .await
            .unwrap()
    );
    assert!(
        store.save_cart(&cart("erin", &[]), 1, at(4)).await.unwrap(),
        "an emptied cart has nothing to clean up"
    );
    let stale = every_page(
        2,
        |page| async move { store.stale_carts(at(30), &page).await },
    )
    .await;
    let users: Vec<&str> = stale.iter().map(|c| c.user_id.as_str()).collect();
    assert_eq!(users, ["alice", "bob", "carol"], "oldest first");
    assert_eq!(stale[0], store.cart("alice").await.unwrap().unwrap());
    let forged = PageRequest {
        limit: 2,
        cursor: Some("not-a-cursor".into()),
    };
    assert_eq!(
        store.stale_carts(at(30), &forged).await.err(),
        Some(StoreError::InvalidCursor)
    );
}

async fn expiring_empties_a_stale_cart_once_and_moves_its_version(
    store: impl CartStore + CartSweep,
) {
    assert!(
        store
            .save_cart(&cart("alice", &[("MUG", 1)]), 0, at(0))
            .await
            .unwrap()
    );
    let read = store.cart("alice").await.unwrap().unwrap();
    assert!(store.expire_cart(&read, at(30), at(60)).await.unwrap());
    let expired = store.cart("alice").await.unwrap().unwrap();
    assert_eq!(
        (expired.items.len(), expired.version),
        (0, read.version + 1)
    );
    assert!(
        !store.expire_cart(&read, at(30), at(61)).await.unwrap(),
        "expired already"
    );
    assert!(
        !store.expire_cart(&expired, at(90), at(91)).await.unwrap(),
        "an empty cart is not expired again"
    );
    let stale = store
        .stale_carts(at(120), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(stale.items, vec![]);
    assert!(
        !store
            .save_cart(&cart("alice", &[("CUP", 1)]), read.version, at(62))
            .await
            .unwrap(),
        "a writer that read the expired cart never matches it"
    );
    assert!(
        store
            .save_cart(&cart("alice", &[("CUP", 1)]), expired.version, at(62))
            .await
            .unwrap()
    );
}

async fn a_cart_changed_since_it_was_read_is_not_expired(store: impl CartStore + CartSweep) {
    assert!(
        store
            .save_cart(&cart("alice", &[("MUG", 1)]), 0, at(0))
            .await
            .unwrap()
    );
    let read = store.cart("alice").await.unwrap().unwrap();
    assert!(
        store
            .save_cart(&cart("alice", &[("MUG", 2)]), read.version, at(5))
            .await
            .unwrap()
    );
    assert!(
        !store.expire_cart(&read, at(30), at(60)).await.unwrap(),
        "the customer changed it meanwhile"
    );
    let now = store.cart("alice").await.unwrap().unwrap();
    assert!(
        !store.expire_cart(&now, at(5), at(60)).await.unwrap(),
        "touched since the cut"
    );
    assert_eq!(store.cart("alice").await.unwrap(), Some(now));
}
