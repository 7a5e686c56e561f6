//! The audit log's contract (`AuditLog`), run on every adapter: in memory and on DynamoDB (in
//! process, embedded-dynamodb; the trail lives in AuditTable). An adapter that passes behaves as
//! the audit function, get-order and audit-api assume; where the two differ, this is where it
//! shows.

mod support;

use chrono::{DateTime, Duration, Utc};
use order_adapters::dynamodb::DynamoAudit;
use order_adapters::memory::MemoryAudit;
use order_core::audit::{Action, ActorType, AuditEntry, AuditLog, audit_id};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::order::OrderId;
use order_core::page::PageRequest;
use serde_json::json;
use support::{order_at, t0};

pub async fn audit_contract<S: AuditLog>(make: impl Fn() -> S) {
    an_entry_is_appended_once(make()).await;
    an_orders_trail_holds_only_its_entries_oldest_first(make()).await;
    between_holds_from_up_to_but_not_to_oldest_first(make()).await;
    between_goes_a_page_at_a_time_across_hours(make()).await;
    an_empty_range_holds_nothing(make()).await;
}

#[tokio::test]
async fn in_memory() {
    audit_contract(MemoryAudit::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    audit_contract(|| DynamoAudit::new(support::dynamodb(), "AuditTable")).await;
}

fn dynamo() -> DynamoAudit {
    DynamoAudit::new(support::dynamodb(), "AuditTable")
}

fn ms(millis: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(millis)
}

fn minutes(m: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m)
}

/// An entry at `at`, with a fresh id (the stream record's id is new each call).
fn entry(at: DateTime<Utc>, action: Action, subject: &str, order: Option<OrderId>) -> AuditEntry {
    let event_id = uuid::Uuid::now_v7().to_string();
    AuditEntry {
        audit_id: audit_id(at, &event_id).to_string(),
        at: format_time(at),
        action,
        subject: subject.into(),
        order_id: order.map(|o| o.to_string()),
        actor: ActorType::Saga,
        actor_id: None,
        reason: "RESERVE".into(),
        before: json!({"available": 5, "reserved": 0, "price": 1250}),
        after: json!({"available": 3, "reserved": 2, "price": 1250}),
        correlation_id: Some("req-1".into()),
    }
}

fn status(at: DateTime<Utc>, order: OrderId) -> AuditEntry {
    AuditEntry {
        before: json!({"status": "PENDING", "cancelRequested": false}),
        after: json!({"status": "RESERVED", "cancelRequested": false}),
        reason: "RESERVED".into(),
        ..entry(
            at,
            Action::OrderStatus,
            &format!("ORDER#{order}"),
            Some(order),
        )
    }
}

fn stock(at: DateTime<Utc>, order: Option<OrderId>) -> AuditEntry {
    entry(at, Action::Stock, "PRODUCT#MUG", order)
}

fn ids(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.audit_id.as_str()).collect()
}

async fn append_all(store: &impl AuditLog, entries: &[&AuditEntry]) {
    for e in entries {
        assert!(store.append(e).await.unwrap(), "{} is new", e.audit_id);
    }
}

/// Every entry of `[from, to)`, page after page of at most `limit`.
async fn every_page(
    store: &impl AuditLog,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Vec<AuditEntry> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..50 {
        let got = store.between(from, to, &page).await.unwrap();
        assert!(
            got.items.len() <= limit as usize,
            "a page holds at most its limit"
        );
        seen.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return seen,
        }
    }
    panic!("still paging after 50 pages");
}

async fn an_entry_is_appended_once(store: impl AuditLog) {
    let o0 = order_at(0);
    let first = status(ms(0), o0);
    assert!(
        store.append(&first).await.unwrap(),
        "the first append adds it"
    );
    assert!(
        !store.append(&first).await.unwrap(),
        "a redelivered stream record adds nothing"
    );
    let rewritten = AuditEntry {
        reason: "CANCELLED".into(),
        after: json!({"status": "CANCELLED", "cancelRequested": true}),
        ..first.clone()
    };
    assert!(
        !store.append(&rewritten).await.unwrap(),
        "an entry is never updated"
    );
    assert_eq!(store.trail(o0).await.unwrap(), [first]);
}

async fn an_orders_trail_holds_only_its_entries_oldest_first(store: impl AuditLog) {
    let (o0, o1) = (order_at(0), order_at(1));
    let placed = AuditEntry {
        before: json!(null),
        ..status(ms(0), o0)
    };
    let reserved = stock(ms(1_000), Some(o0));
    let charged = AuditEntry {
        before: json!({"balance": 5000, "currency": "EUR"}),
        after: json!({"balance": 3750, "currency": "EUR"}),
        reason: "CHARGE".into(),
        ..entry(ms(2_000), Action::Balance, "ACCOUNT#alice", Some(o0))
    };
    let paid = status(ms(3_000), o0);
    let other_order = status(ms(1_500), o1);
    let restock = AuditEntry {
        actor: ActorType::Admin,
        actor_id: Some("admin-1".into()),
        reason: "STOCK_ADJUSTED".into(),
        ..stock(ms(1_200), None)
    };
    // Appended out of time order, as stream shards deliver them.
    append_all(
        &store,
        &[&paid, &other_order, &charged, &placed, &restock, &reserved],
    )
    .await;
    assert_eq!(
        store.trail(o0).await.unwrap(),
        [placed, reserved, charged, paid]
    );
    assert_eq!(store.trail(o1).await.unwrap(), [other_order]);
    assert_eq!(store.trail(order_at(2)).await.unwrap(), []);
}

async fn between_holds_from_up_to_but_not_to_oldest_first(store: impl AuditLog) {
    let (from, to) = (minutes(30), minutes(150));
    let (o0, o1) = (order_at(0), order_at(1));
    let before = status(from - Duration::milliseconds(1), o0);
    let at_from = status(from, o0);
    let inside = stock(minutes(45), None);
    let next_hour = stock(minutes(75), Some(o1));
    let last = status(to - Duration::milliseconds(1), o1);
    let at_to = status(to, o1);
    let after = stock(minutes(300), None);
    append_all(
        &store,
        &[
            &after, &last, &at_to, &next_hour, &before, &inside, &at_from,
        ],
    )
    .await;
    let got = store
        .between(from, to, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(got.next_cursor, None, "all of it fits in one page");
    assert_eq!(
        ids(&got.items),
        ids(&[at_from, inside, next_hour, last.clone()])
    );
    assert_eq!(got.items.last(), Some(&last), "entries come back whole");
}

async fn between_goes_a_page_at_a_time_across_hours(store: impl AuditLog) {
    let (o0, o1) = (order_at(0), order_at(1));
    // Three busy hours with two empty ones between, and days of nothing before them.
    let entries = [
        status(minutes(0), o0),
        stock(minutes(5), Some(o0)),
        stock(minutes(10), None),
        status(minutes(70), o1),
        status(minutes(200), o0),
        stock(minutes(201), Some(o1)),
        status(minutes(202), o1),
    ];
    let mut shuffled: Vec<&AuditEntry> = entries.iter().collect();
    shuffled.reverse();
    shuffled.swap(1, 4);
    append_all(&store, &shuffled).await;
    for limit in [1, 2, 3, 100] {
        let seen = every_page(&store, minutes(0), minutes(300), limit).await;
        assert_eq!(ids(&seen), ids(&entries), "pages of {limit}");
    }
    let from_days_before = every_page(&store, t0() - Duration::days(3), minutes(300), 2).await;
    assert_eq!(ids(&from_days_before), ids(&entries));
    let middle = every_page(&store, minutes(5), minutes(201), 2).await;
    assert_eq!(ids(&middle), ids(&entries[1..5]));
}

async fn an_empty_range_holds_nothing(store: impl AuditLog) {
    let o0 = order_at(0);
    append_all(&store, &[&status(minutes(10), o0)]).await;
    for (from, to) in [(minutes(10), minutes(10)), (minutes(20), minutes(0))] {
        let got = store
            .between(from, to, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!((got.items, got.next_cursor), (vec![], None));
    }
}

async fn a_cursor_this_store_did_not_hand_out_is_refused(store: impl AuditLog) {
    append_all(&store, &[&status(minutes(10), order_at(0))]).await;
    for forged in ["not-a-cursor", "%%", "e30"] {
        let page = PageRequest {
            limit: 10,
            cursor: Some(forged.into()),
        };
        let got = store.between(minutes(0), minutes(60), &page).await;
        assert_eq!(
            got.as_ref().err(),
            Some(&StoreError::InvalidCursor),
            "cursor {forged:?}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_cursor_this_store_did_not_hand_out_is_refused_on_dynamodb() {
    a_cursor_this_store_did_not_hand_out_is_refused(dynamo()).await;
}

#[tokio::test]
async fn a_cursor_this_store_did_not_hand_out_is_refused_in_memory() {
    a_cursor_this_store_did_not_hand_out_is_refused(MemoryAudit::default()).await;
}

async fn a_cursor_for_another_range_is_refused(store: impl AuditLog) {
    let (o0, o1) = (order_at(0), order_at(1));
    let early = [status(minutes(0), o0), status(minutes(1), o1)];
    let late = [status(minutes(600), o0), status(minutes(601), o1)];
    append_all(&store, &[&early[0], &early[1], &late[0], &late[1]]).await;
    let first = store
        .between(minutes(0), minutes(60), &PageRequest::first(1))
        .await
        .unwrap();
    let cursor = first.next_cursor.expect("two entries, pages of one");
    let page = PageRequest {
        limit: 1,
        cursor: Some(cursor),
    };
    let elsewhere = store.between(minutes(540), minutes(660), &page).await;
    assert_eq!(
        elsewhere.as_ref().err(),
        Some(&StoreError::InvalidCursor),
        "a cursor of 10:00-11:00 on 19:00-21:00: {elsewhere:?}"
    );
}

#[tokio::test]
async fn a_cursor_for_another_range_is_refused_on_dynamodb() {
    a_cursor_for_another_range_is_refused(dynamo()).await;
}

#[tokio::test]
async fn a_cursor_for_another_range_is_refused_in_memory() {
    a_cursor_for_another_range_is_refused(MemoryAudit::default()).await;
}
