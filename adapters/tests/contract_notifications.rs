//! The notifications' contract (`NotificationStore`, the recording `Notifier`, and the `SendLog`
//! of outside channels), run on every adapter: in memory and on DynamoDB (in process,
//! embedded-dynamodb; notifications and their sends live in NotificationsTable). An adapter
//! that passes behaves as notify and users-api assume; where the two differ, this is where it
//! shows.

mod support;

use chrono::{DateTime, Duration, Utc};
use order_adapters::dynamodb::DynamoNotifications;
use order_adapters::memory::MemoryNotifications;
use order_core::error::StoreError;
use order_core::events::EventType;
use order_core::notification::{Channel, Notification, notification_id};
use order_core::order::OrderId;
use order_core::page::PageRequest;
use order_core::ports::{Claim, NotificationStore, Notifier, SendLog, Sent, Settled};
use support::{order_at, t0};
use uuid::Uuid;

/// What every adapter of the notifications table is.
pub trait Notifications: NotificationStore + Notifier + SendLog {}
impl<T: NotificationStore + Notifier + SendLog> Notifications for T {}

pub async fn notifications_contract<S: Notifications>(make: impl Fn() -> S) {
    a_notification_is_recorded_once_and_never_overwritten(make()).await;
    sending_an_id_twice_sends_it_once(make()).await;
    a_users_notifications_list_newest_first_a_page_at_a_time(make()).await;
    a_cursor_this_store_did_not_hand_out_is_refused(make()).await;
    a_claim_stores_the_notification_and_holds_off_others_for_its_lease(make()).await;
    a_claim_whose_lease_ran_out_unsettled_is_claimed_again(make()).await;
    a_settled_send_is_final(make()).await;
    a_given_back_claim_is_claimed_again_at_once(make()).await;
    a_notification_recorded_without_a_claim_counts_as_sent(make()).await;
}

#[tokio::test]
async fn in_memory() {
    notifications_contract(MemoryNotifications::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    notifications_contract(|| DynamoNotifications::new(support::dynamodb(), "NotificationsTable"))
        .await;
}

/// A fresh UUIDv7 event id dated `seconds` after `t0`, as the events carry.
fn event_at(seconds: i64) -> Uuid {
    let secs = u64::try_from(at(seconds).timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, 0))
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn notification(user_id: &str, order_id: OrderId, channel: Channel, sent_at: i64) -> Notification {
    let event_id = event_at(sent_at);
    Notification {
        notification_id: notification_id(event_id, channel),
        event_id,
        event_type: EventType::OrderCompleted,
        order_id,
        user_id: user_id.into(),
        channel,
        address: match channel {
            Channel::Email => format!("{user_id}@example.com"),
            Channel::Sms => "+441234567890".into(),
            _ => user_id.into(),
        },
        text: format!("Your order {order_id} is confirmed."),
        sent_at: at(sent_at),
    }
}

fn ids(found: &[Notification]) -> Vec<Uuid> {
    found.iter().map(|n| n.notification_id).collect()
}

async fn a_notification_is_recorded_once_and_never_overwritten(store: impl Notifications) {
    let first = notification("alice", order_at(0), Channel::Inbox, 0);
    assert!(
        store.record(&first).await.unwrap(),
        "the first record stores"
    );
    assert!(
        !store.record(&first).await.unwrap(),
        "a redelivery stores nothing"
    );
    let rewritten = Notification {
        text: "another text".into(),
        sent_at: at(30),
        ..first.clone()
    };
    assert!(!store.record(&rewritten).await.unwrap());
    assert_eq!(store.for_user("alice").await.unwrap(), [first]);
}

async fn sending_an_id_twice_sends_it_once(store: impl Notifications) {
    let o0 = order_at(0);
    let inbox = notification("alice", o0, Channel::Inbox, 0);
    assert_eq!(store.send(&inbox).await.unwrap(), Sent::Sent);
    assert_eq!(store.send(&inbox).await.unwrap(), Sent::AlreadySent);
    // The same event on another channel is another notification.
    let email = Notification {
        notification_id: notification_id(inbox.event_id, Channel::Email),
        channel: Channel::Email,
        address: "alice@example.com".into(),
        ..inbox.clone()
    };
    assert_eq!(store.send(&email).await.unwrap(), Sent::Sent);
    let recorded = notification("alice", order_at(1), Channel::Inbox, 10);
    store.record(&recorded).await.unwrap();
    assert_eq!(store.send(&recorded).await.unwrap(), Sent::AlreadySent);
    assert_eq!(store.for_user("alice").await.unwrap().len(), 3);
}

async fn a_users_notifications_list_newest_first_a_page_at_a_time(store: impl Notifications) {
    let mut alices = Vec::new();
    for (minutes, seconds) in [(0, 0), (1, 120), (2, 60), (3, 60), (4, 240)] {
        let n = notification("alice", order_at(minutes), Channel::Inbox, seconds);
        store.record(&n).await.unwrap();
        alices.push(n);
    }
    let bobs = notification("bob", order_at(5), Channel::Inbox, 90);
    store.record(&bobs).await.unwrap();
    // Newest first: by `sent_at`, then `notification_id` (two share a `sent_at`).
    alices.sort_by_key(|n| std::cmp::Reverse((n.sent_at, n.notification_id)));

    assert_eq!(ids(&store.for_user("alice").await.unwrap()), ids(&alices));
    assert_eq!(store.for_user("bob").await.unwrap(), [bobs]);
    assert_eq!(store.for_user("carol").await.unwrap(), []);

    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    for _ in 0..10 {
        let got = store.list_for_user("alice", &page).await.unwrap();
        assert!(got.items.len() <= 2, "a page holds at most its limit");
        seen.extend(got.items);
        match got.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, alices);

    let nobody = store
        .list_for_user("carol", &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!((nobody.items, nobody.next_cursor), (vec![], None));
}

async fn a_cursor_this_store_did_not_hand_out_is_refused(store: impl Notifications) {
    store
        .record(&notification("alice", order_at(0), Channel::Inbox, 0))
        .await
        .unwrap();
    for forged in ["not-a-cursor", "%%", "e30"] {
        let page = PageRequest {
            limit: 2,
            cursor: Some(forged.into()),
        };
        assert_eq!(
            store.list_for_user("alice", &page).await.err(),
            Some(StoreError::InvalidCursor),
            "cursor {forged:?}"
        );
    }
}

/// A cursor handed out for one user's notifications does not page through another's.
async fn another_users_cursor_is_refused(store: impl Notifications) {
    for (minutes, user) in [(0, "bob"), (1, "alice"), (2, "alice"), (3, "alice")] {
        let n = notification(user, order_at(minutes), Channel::Inbox, minutes * 60);
        store.record(&n).await.unwrap();
    }
    let first = store
        .list_for_user("alice", &PageRequest::first(1))
        .await
        .unwrap();
    let cursor = first.next_cursor.expect("alice has more than one page");
    let page = PageRequest {
        limit: 1,
        cursor: Some(cursor),
    };
    let bobs = store.list_for_user("bob", &page).await;
    assert_eq!(
        bobs.as_ref().err(),
        Some(&StoreError::InvalidCursor),
        "alice's cursor on bob's list: {bobs:?}"
    );
}

#[tokio::test]
async fn another_users_cursor_is_refused_on_dynamodb() {
    another_users_cursor_is_refused(DynamoNotifications::new(
        support::dynamodb(),
        "NotificationsTable",
    ))
    .await;
}

#[tokio::test]
async fn another_users_cursor_is_refused_in_memory() {
    another_users_cursor_is_refused(MemoryNotifications::default()).await;
}

async fn a_claim_stores_the_notification_and_holds_off_others_for_its_lease(
    store: impl Notifications,
) {
    let email = notification("alice", order_at(0), Channel::Email, 0);
    let id = email.notification_id;
    assert_eq!(
        store.claim(&email, at(0), at(60)).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim(&email, at(1), at(61)).await.unwrap(),
        Claim::Busy,
        "a second delivery while the lease runs"
    );
    assert_eq!(
        store.claim(&email, at(59), at(119)).await.unwrap(),
        Claim::Busy
    );
    assert_eq!(
        store.for_user("alice").await.unwrap(),
        std::slice::from_ref(&email)
    );
    assert!(!store.record(&email).await.unwrap(), "stored by the claim");
    store.settle(id, &Settled::Delivered).await.unwrap();
}

async fn a_claim_whose_lease_ran_out_unsettled_is_claimed_again(store: impl Notifications) {
    let sms = notification("alice", order_at(0), Channel::Sms, 0);
    assert_eq!(
        store.claim(&sms, at(0), at(60)).await.unwrap(),
        Claim::Claimed
    );
    // The claimant crashed: after its lease another delivery claims it, with a lease of its own.
    assert_eq!(
        store.claim(&sms, at(61), at(121)).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim(&sms, at(62), at(122)).await.unwrap(),
        Claim::Busy
    );
    assert_eq!(
        store.claim(&sms, at(122), at(182)).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(store.for_user("alice").await.unwrap().len(), 1);
}

async fn a_settled_send_is_final(store: impl Notifications) {
    let delivered = notification("alice", order_at(0), Channel::Email, 0);
    let undeliverable = notification("alice", order_at(1), Channel::Sms, 0);
    for n in [&delivered, &undeliverable] {
        assert_eq!(store.claim(n, at(0), at(60)).await.unwrap(), Claim::Claimed);
    }
    store
        .settle(delivered.notification_id, &Settled::Delivered)
        .await
        .unwrap();
    let reason = Settled::Undeliverable("invalid number".into());
    store
        .settle(undeliverable.notification_id, &reason)
        .await
        .unwrap();
    for n in [&delivered, &undeliverable] {
        assert_eq!(
            store.claim(n, at(1), at(61)).await.unwrap(),
            Claim::Done,
            "settled, within the old lease"
        );
        assert_eq!(
            store.claim(n, at(3_600), at(3_660)).await.unwrap(),
            Claim::Done,
            "settled, long after the lease"
        );
        // Giving back a settled claim gives nothing back.
        store.release(n.notification_id).await.unwrap();
        assert_eq!(
            store.claim(n, at(3_601), at(3_661)).await.unwrap(),
            Claim::Done
        );
        assert_eq!(store.send(n).await.unwrap(), Sent::AlreadySent);
    }
}

async fn a_given_back_claim_is_claimed_again_at_once(store: impl Notifications) {
    let push = notification("alice", order_at(0), Channel::Push, 0);
    assert_eq!(
        store.claim(&push, at(0), at(60)).await.unwrap(),
        Claim::Claimed
    );
    store.release(push.notification_id).await.unwrap();
    assert_eq!(
        store.claim(&push, at(1), at(61)).await.unwrap(),
        Claim::Claimed,
        "the retry need not wait for the lease"
    );
    assert_eq!(
        store.claim(&push, at(2), at(62)).await.unwrap(),
        Claim::Busy
    );
    store
        .settle(push.notification_id, &Settled::Delivered)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&push, at(3), at(63)).await.unwrap(),
        Claim::Done
    );
    // Giving back what was never claimed is harmless.
    let never = notification("alice", order_at(1), Channel::Push, 0);
    store.release(never.notification_id).await.unwrap();
    assert_eq!(
        store.claim(&never, at(4), at(64)).await.unwrap(),
        Claim::Claimed
    );
}

async fn a_notification_recorded_without_a_claim_counts_as_sent(store: impl Notifications) {
    let recorded = notification("alice", order_at(0), Channel::Email, 0);
    assert!(store.record(&recorded).await.unwrap());
    assert_eq!(
        store.claim(&recorded, at(1), at(61)).await.unwrap(),
        Claim::Done
    );
    let sent = notification("alice", order_at(1), Channel::Sms, 0);
    assert_eq!(store.send(&sent).await.unwrap(), Sent::Sent);
    assert_eq!(
        store.claim(&sent, at(1), at(61)).await.unwrap(),
        Claim::Done
    );
}
