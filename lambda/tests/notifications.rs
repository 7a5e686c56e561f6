//! The notify consumer and `GET /notifications` over the in-memory adapters, with a clock the
//! test controls: who is told on which channel, once per event and channel however often the
//! event comes, partial batch failures, and listing newest first a page at a time.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use chrono::{DateTime, Duration, Utc};
use order_lambda::adapters::memory::{MemoryNotifications, MemoryProfiles};
use order_lambda::api::notifications::NotificationsApi;
use order_lambda::clock::FixedClock;
use order_lambda::events::{DomainEvent, EventType};
use order_lambda::faults::MemoryFaults;
use order_lambda::faults::{Fault, NoFaults};
use order_lambda::notification::{Channel, Notification, NotifyError, notification_id};
use order_lambda::notify::Delivery;
use order_lambda::notify_queue;
use order_lambda::order::OrderId;
use order_lambda::ports::{NotificationStore, ProfileSaved, ProfileStore, Sent};
use order_lambda::profile::{self, Profile};
use serde_json::{Value, json};
use std::collections::HashSet;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn order(n: i64) -> OrderId {
    OrderId::new_at(t0() - Duration::minutes(60) + Duration::seconds(n))
}

fn completed(order_id: OrderId, user: &str) -> DomainEvent {
    DomainEvent::for_order(
        EventType::OrderCompleted,
        order_id,
        user,
        t0(),
        json!({"total": {"amount": 2500, "currency": "EUR"}}),
    )
}

fn cancelled(order_id: OrderId, user: &str, reason: &str) -> DomainEvent {
    DomainEvent::for_order(
        EventType::OrderCancelled,
        order_id,
        user,
        t0(),
        json!({"total": {"amount": 2500, "currency": "EUR"}, "reason": reason}),
    )
}

async fn with_profile(user: &str, channels: Vec<profile::Channel>) -> MemoryProfiles {
    let profiles = MemoryProfiles::default();
    let saved = profiles
        .save_profile(&Profile {
            user_id: user.to_owned(),
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            phone: "+441234567890".into(),
            channels,
            push_endpoint: None,
            updated_at: t0(),
        })
        .await
        .unwrap();
    assert_eq!(saved, ProfileSaved::Created);
    profiles
}

/// An SQS record as the NotifyQueue delivers it: the raw envelope, its type as an attribute.
fn message(id: &str, body: &str, event_type: Option<&str>) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    if let Some(event_type) = event_type {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = Some(event_type.to_owned());
        attribute.data_type = Some("String".into());
        message.message_attributes.insert("type".into(), attribute);
    }
    message
}

fn event_message(id: &str, event: &DomainEvent) -> SqsMessage {
    message(
        id,
        &serde_json::to_string(event).unwrap(),
        Some(event.event_type.as_str()),
    )
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut batch = SqsEvent::default();
    batch.records = records;
    batch
}

fn failed(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn channels_of(sent: &[Notification]) -> Vec<(Channel, String)> {
    let mut channels: Vec<(Channel, String)> = sent
        .iter()
        .map(|n| (n.channel, n.address.clone()))
        .collect();
    channels.sort();
    channels
}

#[tokio::test]
async fn channels_follow_the_profile_and_the_inbox_is_always_there() {
    let profiles = with_profile(
        "ada",
        vec![
            profile::Channel::Email,
            profile::Channel::Sms,
            profile::Channel::Push,
        ],
    )
    .await;
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = completed(order(1), "ada");

    let delivery = order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap();
    assert!(delivery.first_on_inbox());
    let sent = store.for_user("ada").await.unwrap();
    assert_eq!(
        channels_of(&sent),
        vec![
            (Channel::Inbox, "ada".to_owned()),
            (Channel::Email, "ada@example.com".to_owned()),
            (Channel::Sms, "+441234567890".to_owned()),
            (Channel::Push, "ada".to_owned()),
        ]
    );
    for n in &sent {
        assert_eq!(n.event_id, event.event_id);
        assert_eq!(
            n.notification_id,
            notification_id(event.event_id, n.channel)
        );
        assert_eq!(n.event_type, EventType::OrderCompleted);
        assert_eq!(Some(n.order_id), event.order_id);
        assert_eq!(n.sent_at, t0());
        assert_eq!(
            n.text,
            format!(
                "Your order {} is confirmed. We charged 25.00 EUR.",
                event.order_id.unwrap()
            )
        );
    }
}

#[tokio::test]
async fn only_the_channels_the_profile_asks_for() {
    let profiles = with_profile("ada", vec![profile::Channel::Sms]).await;
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = cancelled(order(1), "ada", "PAYMENT_DECLINED");
    order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap();
    let sent = store.for_user("ada").await.unwrap();
    assert_eq!(
        channels_of(&sent),
        vec![
            (Channel::Inbox, "ada".to_owned()),
            (Channel::Sms, "+441234567890".to_owned()),
        ]
    );
    assert!(sent[0].text.contains("because the payment was declined"));
    assert!(
        sent[0]
            .text
            .ends_with("Anything charged for it has been refunded in full.")
    );
}

#[tokio::test]
async fn without_a_profile_the_inbox_alone() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = completed(order(1), "carol");
    order_lambda::notify::deliver(&event, &MemoryProfiles::default(), &store, &clock)
        .await
        .unwrap();
    let sent = store.for_user("carol").await.unwrap();
    assert_eq!(
        channels_of(&sent),
        vec![(Channel::Inbox, "carol".to_owned())]
    );
}

#[tokio::test]
async fn a_redelivered_event_sends_nothing_new() {
    let profiles = with_profile("ada", vec![profile::Channel::Email]).await;
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = completed(order(1), "ada");
    order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap();
    clock.advance(Duration::minutes(5));

    let again = order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap();
    assert_eq!(
        again,
        Delivery::Sent(vec![
            (Channel::Inbox, Sent::AlreadySent),
            (Channel::Email, Sent::AlreadySent)
        ])
    );
    assert!(!again.first_on_inbox(), "the outcome is not counted twice");
    let sent = store.for_user("ada").await.unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|n| n.sent_at == t0()), "never overwritten");

    // The same event in two messages (SNS delivers at least once, a redrive sends it again).
    let response = notify_queue::handle_batch(
        batch(vec![
            event_message("m-1", &event),
            event_message("m-2", &event),
        ]),
        &profiles,
        &store,
        &NoFaults,
        &clock,
        None,
    )
    .await;
    assert!(failed(&response).is_empty());
    assert_eq!(store.all().len(), 2);
}

#[tokio::test]
async fn events_users_are_not_told_about_are_acknowledged() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = DomainEvent::for_order(
        EventType::PaymentSucceeded,
        order(1),
        "ada",
        t0(),
        json!({"amount": {"amount": 2500, "currency": "EUR"}}),
    );
    let delivery =
        order_lambda::notify::deliver(&event, &MemoryProfiles::default(), &store, &clock)
            .await
            .unwrap();
    assert_eq!(delivery, Delivery::Ignored(EventType::PaymentSucceeded));
    let response = notify_queue::handle_batch(
        batch(vec![event_message("m-1", &event)]),
        &MemoryProfiles::default(),
        &store,
        &NoFaults,
        &clock,
        None,
    )
    .await;
    assert!(failed(&response).is_empty());
    assert!(store.all().is_empty());
}

#[tokio::test]
async fn shipped_delivered_and_refunded_are_told_too() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let id = order(1);
    for event in [
        DomainEvent::for_order(EventType::OrderShipped, id, "ada", t0(), json!({})),
        DomainEvent::for_order(EventType::OrderDelivered, id, "ada", t0(), json!({})),
        DomainEvent::for_order(
            EventType::RefundIssued,
            id,
            "ada",
            t0(),
            json!({"amount": {"amount": 1999, "currency": "EUR"}}),
        ),
    ] {
        order_lambda::notify::deliver(&event, &MemoryProfiles::default(), &store, &clock)
            .await
            .unwrap();
    }
    let texts: HashSet<String> = store.all().into_iter().map(|n| n.text).collect();
    assert!(texts.contains(&format!("Your order {id} has shipped and is on its way.")));
    assert!(texts.contains(&format!("Your order {id} has been delivered.")));
    assert!(texts.contains(&format!(
        "We refunded 19.99 EUR for your order {id} to your account."
    )));
}

#[tokio::test]
async fn a_bad_record_fails_alone() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let good = completed(order(1), "ada");
    let mut unknown: Value = serde_json::to_value(completed(order(2), "ada")).unwrap();
    unknown["type"] = json!("OrderTeleported");
    let no_total =
        DomainEvent::for_order(EventType::OrderCompleted, order(3), "ada", t0(), json!({}));
    let response = notify_queue::handle_batch(
        batch(vec![
            message("not-json", "{\"eventId\":", Some("OrderCompleted")),
            event_message("good", &good),
            message(
                "unknown-type",
                &unknown.to_string(),
                Some("OrderTeleported"),
            ),
            message(
                "mismatched-attribute",
                &serde_json::to_string(&completed(order(4), "ada")).unwrap(),
                Some("OrderShipped"),
            ),
            event_message("no-total", &no_total),
        ]),
        &MemoryProfiles::default(),
        &store,
        &NoFaults,
        &clock,
        None,
    )
    .await;
    assert_eq!(
        failed(&response),
        vec![
            "not-json",
            "unknown-type",
            "mismatched-attribute",
            "no-total"
        ]
    );
    let sent = store.all();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].event_id, good.event_id);
    // The answer is what Lambda reads: only the failed ids.
    let answer = serde_json::to_value(&response).unwrap();
    assert_eq!(
        answer["batchItemFailures"][0],
        json!({"itemIdentifier": "not-json"})
    );
}

#[tokio::test]
async fn a_fault_planned_for_one_user_fails_only_their_records() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let faults = MemoryFaults::default();
    faults.plan("notify", "bob", vec![Fault::Transient, Fault::Transient]);
    let (ada, bob) = (
        completed(order(1), "ada"),
        cancelled(order(2), "bob", "OUT_OF_STOCK"),
    );
    let (ada_later, bob_later) = (
        DomainEvent::for_order(EventType::OrderShipped, order(1), "ada", t0(), json!({})),
        completed(order(3), "bob"),
    );
    let records = vec![
        event_message("ada-1", &ada),
        event_message("bob-1", &bob),
        event_message("ada-2", &ada_later),
        event_message("bob-2", &bob_later),
    ];
    let profiles = MemoryProfiles::default();
    let response = notify_queue::handle_batch(
        batch(records.clone()),
        &profiles,
        &store,
        &faults,
        &clock,
        None,
    )
    .await;
    assert_eq!(failed(&response), vec!["bob-1", "bob-2"]);
    assert_eq!(store.for_user("ada").await.unwrap().len(), 2);
    assert!(store.for_user("bob").await.unwrap().is_empty());

    // The poison is used up: the messages that came back go through, nothing is sent twice.
    let response =
        notify_queue::handle_batch(batch(records), &profiles, &store, &faults, &clock, None).await;
    assert!(failed(&response).is_empty());
    assert_eq!(store.for_user("ada").await.unwrap().len(), 2);
    assert_eq!(store.for_user("bob").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_crash_after_the_send_fails_the_record_and_the_retry_sends_nothing_new() {
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let faults = MemoryFaults::default();
    faults.plan("notify", "ada", vec![Fault::CrashAfterWrite]);
    let event = completed(order(1), "ada");
    let profiles = MemoryProfiles::default();
    let first = notify_queue::handle_batch(
        batch(vec![event_message("m-1", &event)]),
        &profiles,
        &store,
        &faults,
        &clock,
        None,
    )
    .await;
    assert_eq!(failed(&first), vec!["m-1"]);
    assert_eq!(store.all().len(), 1, "sent before the crash");
    let retry = notify_queue::handle_batch(
        batch(vec![event_message("m-1", &event)]),
        &profiles,
        &store,
        &faults,
        &clock,
        None,
    )
    .await;
    assert!(failed(&retry).is_empty());
    assert_eq!(store.all().len(), 1);
}

#[tokio::test]
async fn a_store_error_fails_the_record_and_every_other_channel_still_goes_out() {
    let profiles = with_profile("ada", vec![profile::Channel::Email]).await;
    let store = MemoryNotifications::default();
    let clock = FixedClock::at(t0());
    let event = completed(order(1), "ada");
    store.fail_next(1);
    let error = order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap_err();
    assert!(matches!(error, NotifyError::Store(_)), "{error:?}");
    assert_eq!(
        channels_of(&store.all()),
        vec![(Channel::Email, "ada@example.com".to_owned())]
    );

    let retry = order_lambda::notify::deliver(&event, &profiles, &store, &clock)
        .await
        .unwrap();
    assert_eq!(
        retry,
        Delivery::Sent(vec![
            (Channel::Inbox, Sent::Sent),
            (Channel::Email, Sent::AlreadySent)
        ])
    );
    assert!(
        retry.first_on_inbox(),
        "the outcome is counted on the retry that records it"
    );

    store.fail_next(2);
    let response = notify_queue::handle_batch(
        batch(vec![event_message("m-1", &completed(order(2), "ada"))]),
        &profiles,
        &store,
        &NoFaults,
        &clock,
        None,
    )
    .await;
    assert_eq!(failed(&response), vec!["m-1"]);
}

/// Ten events for `user`, a minute apart, each on two channels (inbox and email): twenty
/// notifications, pairs of which share their `sentAt`.
async fn twenty_notifications(store: &MemoryNotifications, user: &str) {
    let profiles = with_profile(user, vec![profile::Channel::Email]).await;
    let clock = FixedClock::at(t0());
    for n in 0..10 {
        order_lambda::notify::deliver(&completed(order(n), user), &profiles, store, &clock)
            .await
            .unwrap();
        clock.advance(Duration::minutes(1));
    }
}

#[tokio::test]
async fn listing_is_newest_first_and_pages_without_gaps_or_repeats() {
    let store = MemoryNotifications::default();
    twenty_notifications(&store, "ada").await;
    twenty_notifications(&store, "bob").await;
    let all = store.for_user("ada").await.unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|n| n.user_id == "ada"));
    for pair in all.windows(2) {
        assert!(
            (pair[0].sent_at, pair[0].notification_id) > (pair[1].sent_at, pair[1].notification_id),
            "newest first: {pair:?}"
        );
    }
    assert_eq!(all[0].sent_at, t0() + Duration::minutes(9));

    let api = NotificationsApi {
        notifications: store,
    };
    // 3 does not divide 20, and page boundaries fall between notifications of one `sentAt`.
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = api.list("ada", Some("3"), cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= 3);
        listed.extend(page.items);
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 20, "the pages never end");
    }
    assert_eq!(pages, 7);
    let ids: Vec<_> = listed.iter().map(|n| n.notification_id).collect();
    let expected: Vec<_> = all.iter().map(|n| n.notification_id).collect();
    assert_eq!(ids, expected, "every notification once, in order");

    let first = api.list("ada", None, None).await.unwrap();
    assert_eq!(first.items.len(), 20, "the default page size is 20");
    assert_eq!(first.next_cursor, None);
    let one = api.list("ada", Some("20"), None).await.unwrap();
    assert_eq!(
        one.next_cursor, None,
        "an exactly full last page has no next cursor"
    );
}

/// `query` as API Gateway passes it: a percent-encoded `rawQueryString`, and decoded.
fn list_request(user: &str, query: Value) -> lambda_http::Request {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let raw: Vec<String> = query
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v.as_str().unwrap())))
        .collect();
    let event = json!({
        "version": "2.0", "routeKey": "GET /notifications", "rawPath": "/notifications",
        "rawQueryString": raw.join("&"), "headers": {"host": "127.0.0.1"},
        "queryStringParameters": query,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "requestId": "r-1",
            "routeKey": "GET /notifications", "stage": "$default", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/notifications", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"sub": user}, "scopes": null}}
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

async fn get(
    api: &NotificationsApi<MemoryNotifications>,
    user: &str,
    query: Value,
) -> (u16, Value) {
    let response = api.handle(&list_request(user, query)).await;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (status, body)
}

#[tokio::test]
async fn the_route_answers_pages_and_refuses_a_bad_cursor_or_limit() {
    let store = MemoryNotifications::default();
    twenty_notifications(&store, "ada").await;
    let api = NotificationsApi {
        notifications: store,
    };
    assert!(order_lambda::api::notifications::serves(&list_request(
        "ada",
        json!({})
    )));

    let (status, page) = get(&api, "ada", json!({"limit": "2"})).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let keys: HashSet<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "notificationId",
            "eventId",
            "type",
            "orderId",
            "userId",
            "channel",
            "address",
            "text",
            "sentAt"
        ])
    );
    assert_eq!(items[0]["type"], "OrderCompleted");
    assert_eq!(items[0]["sentAt"], "2026-11-22T10:09:00Z");
    assert!(page["nextCursor"].is_string());

    let (status, page) = get(&api, "ada", json!({"cursor": page["nextCursor"]})).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 18);

    for cursor in [
        "not-a-cursor",
        "2026-11-22T10:00:00Z#x",
        "x#0193a0c0-0000-7000-8000-00000000abcd",
    ] {
        let (status, problem) = get(&api, "ada", json!({"cursor": cursor})).await;
        assert_eq!(status, 400, "{cursor}: {problem}");
        assert_eq!(problem["type"], "urn:problem:order-saga:invalid-request");
        assert_eq!(problem["errors"][0]["field"], "cursor");
    }
    for limit in ["0", "101", "x"] {
        let (status, problem) = get(&api, "ada", json!({"limit": limit})).await;
        assert_eq!(status, 400, "{limit}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "limit");
    }
    let (status, page) = get(&api, "nobody", json!({})).await;
    assert_eq!((status, page), (200, json!({"items": []})));
}

/// Issue 16, finding 4: a batch that timed out part way came back whole, its notices already
/// sent with it. With less time left than a record may take (`RECORD_BUDGET`), the rest of the
/// batch is handed back unstarted; with time enough, every record is done.
#[tokio::test]
async fn a_batch_with_too_little_time_left_hands_the_rest_back_unstarted() {
    let store = MemoryNotifications::default();
    let profiles = MemoryProfiles::default();
    let (first, second) = (completed(order(1), "ada"), completed(order(2), "bob"));
    let records = vec![event_message("m-1", &first), event_message("m-2", &second)];
    // Time enough for one record, and no more.
    let clock = FixedClock::at(t0());
    let deadline = t0() + notify_queue::RECORD_BUDGET + chrono::Duration::milliseconds(500);
    let response = notify_queue::handle_batch(
        batch(vec![records[0].clone()]),
        &profiles,
        &store,
        &NoFaults,
        &clock,
        Some(deadline),
    )
    .await;
    assert!(failed(&response).is_empty(), "time enough for one");
    let late = FixedClock::at(t0() + chrono::Duration::seconds(1));
    let response = notify_queue::handle_batch(
        batch(records.clone()),
        &profiles,
        &store,
        &NoFaults,
        &late,
        Some(deadline),
    )
    .await;
    assert_eq!(
        failed(&response),
        vec!["m-1", "m-2"],
        "both handed back once less than a record's budget is left"
    );
    assert!(
        store.for_user("bob").await.unwrap().is_empty(),
        "nothing started"
    );
    // Without a deadline (or with time enough) every record is done, the first one once.
    let response =
        notify_queue::handle_batch(batch(records), &profiles, &store, &NoFaults, &late, None).await;
    assert!(failed(&response).is_empty());
    assert_eq!(store.for_user("ada").await.unwrap().len(), 1);
    assert_eq!(store.for_user("bob").await.unwrap().len(), 1);
}
