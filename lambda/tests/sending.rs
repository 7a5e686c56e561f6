//! The production notifier's composition (`sending::SendingNotifier`) over the in-memory
//! notifications store and a scripted channel: each notification id goes out once however often
//! its event comes, a failed channel fails only its own event and goes out on the retry, and an
//! undeliverable address is recorded once and never tried again.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use chrono::{DateTime, Duration, Utc};
use order_lambda::adapters::memory::{MemoryNotifications, MemoryProfiles, SendState};
use order_lambda::clock::FixedClock;
use order_lambda::error::StoreError;
use order_lambda::events::{DomainEvent, EventType};
use order_lambda::faults::NoFaults;
use order_lambda::notification::{self, Channel, Notification, notification_id};
use order_lambda::order::OrderId;
use order_lambda::ports::{
    ChannelError, ChannelSender, Claim, NotificationStore, Notifier, ProfileStore, SendLog, Sent,
};
use order_lambda::profile::{self, Profile};
use order_lambda::sending::{LEASE, SendingNotifier};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// A channel that records what it sent and fails as scripted, per address.
#[derive(Default)]
struct ScriptedChannel {
    sent: Mutex<Vec<(Channel, String, String)>>,
    attempts: Mutex<u32>,
    failures: Mutex<HashMap<String, VecDeque<ChannelError>>>,
}

impl ScriptedChannel {
    fn fail(&self, address: &str, errors: Vec<ChannelError>) {
        self.failures
            .lock()
            .unwrap()
            .insert(address.to_owned(), errors.into());
    }

    fn sent(&self) -> Vec<(Channel, String, String)> {
        self.sent.lock().unwrap().clone()
    }

    fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }
}

impl ChannelSender for ScriptedChannel {
    async fn send(&self, n: &Notification) -> Result<(), ChannelError> {
        *self.attempts.lock().unwrap() += 1;
        let scripted = self
            .failures
            .lock()
            .unwrap()
            .get_mut(&n.address)
            .and_then(VecDeque::pop_front);
        if let Some(error) = scripted {
            return Err(error);
        }
        self.sent
            .lock()
            .unwrap()
            .push((n.channel, n.address.clone(), n.text.clone()));
        Ok(())
    }
}

type Notifier_ = SendingNotifier<MemoryNotifications, ScriptedChannel, FixedClock>;

fn notifier() -> Notifier_ {
    SendingNotifier::new(
        MemoryNotifications::default(),
        ScriptedChannel::default(),
        FixedClock::at(t0()),
    )
}

fn completed(n: i64, user: &str) -> DomainEvent {
    DomainEvent::for_order(
        EventType::OrderCompleted,
        OrderId::new_at(t0() - Duration::minutes(60) + Duration::seconds(n)),
        user,
        t0(),
        json!({"total": {"amount": 2500, "currency": "EUR"}}),
    )
}

fn sms(event: &DomainEvent, phone: &str) -> Notification {
    Notification {
        notification_id: notification_id(event.event_id, Channel::Sms),
        event_id: event.event_id,
        event_type: event.event_type,
        order_id: event.order_id.expect("an order event"),
        user_id: event.user_id.clone(),
        channel: Channel::Sms,
        address: phone.to_owned(),
        text: notification::render(event).unwrap(),
        sent_at: t0(),
    }
}

async fn with_profile(user: &str, channels: Vec<profile::Channel>) -> MemoryProfiles {
    let profiles = MemoryProfiles::default();
    profiles
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
    profiles
}

fn batch_of(id: &str, event: &DomainEvent) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(serde_json::to_string(event).unwrap());
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(event.event_type.as_str().to_owned());
    attribute.data_type = Some("String".into());
    message.message_attributes.insert("type".into(), attribute);
    let mut batch = SqsEvent::default();
    batch.records = vec![message];
    batch
}

#[tokio::test]
async fn a_notification_goes_out_once_and_is_recorded_as_delivered() {
    let notifier = notifier();
    let n = sms(&completed(1, "ada"), "+441234567890");

    assert_eq!(notifier.send(&n).await, Ok(Sent::Sent));
    assert_eq!(notifier.send(&n).await, Ok(Sent::AlreadySent));

    assert_eq!(notifier.sender().sent().len(), 1);
    assert_eq!(notifier.sender().attempts(), 1);
    assert_eq!(
        notifier.store().send_state(n.notification_id),
        Some(SendState::Delivered)
    );
    // Recorded for the listing, as the local notifier records it.
    assert_eq!(notifier.store().for_user("ada").await.unwrap(), vec![n]);
}

#[tokio::test]
async fn the_inbox_is_recorded_and_never_sent_on_a_channel() {
    let notifier = notifier();
    let event = completed(2, "ada");
    let mut inbox = sms(&event, "ada");
    inbox.channel = Channel::Inbox;
    inbox.notification_id = notification_id(event.event_id, Channel::Inbox);

    assert_eq!(notifier.send(&inbox).await, Ok(Sent::Sent));
    assert_eq!(notifier.send(&inbox).await, Ok(Sent::AlreadySent));
    assert_eq!(notifier.sender().attempts(), 0);
    assert_eq!(notifier.store().all().len(), 1);
}

#[tokio::test]
async fn a_transient_failure_gives_the_claim_back_and_the_retry_sends_once() {
    let notifier = notifier();
    let n = sms(&completed(3, "ada"), "+441234567890");
    notifier.sender().fail(
        "+441234567890",
        vec![ChannelError::Transient("throttled".into())],
    );

    assert!(matches!(
        notifier.send(&n).await,
        Err(StoreError::Transient(_))
    ));
    assert!(notifier.sender().sent().is_empty());
    // Released: the retry need not wait for the lease.
    assert_eq!(notifier.send(&n).await, Ok(Sent::Sent));
    assert_eq!(notifier.send(&n).await, Ok(Sent::AlreadySent));
    assert_eq!(notifier.sender().attempts(), 2);
    assert_eq!(notifier.sender().sent().len(), 1);
}

#[tokio::test]
async fn a_misconfigured_channel_fails_for_good_but_is_retried_after_the_fix() {
    let notifier = notifier();
    let n = sms(&completed(4, "ada"), "+441234567890");
    notifier.sender().fail(
        "+441234567890",
        vec![ChannelError::Misconfigured("AuthorizationError".into())],
    );

    assert!(matches!(
        notifier.send(&n).await,
        Err(StoreError::Internal(_))
    ));
    assert_eq!(notifier.send(&n).await, Ok(Sent::Sent));
    assert_eq!(notifier.sender().sent().len(), 1);
}

#[tokio::test]
async fn an_undeliverable_address_is_recorded_once_and_never_retried() {
    let notifier = notifier();
    let n = sms(&completed(5, "ada"), "+999000000000");
    notifier.sender().fail(
        "+999000000000",
        vec![ChannelError::Undeliverable("invalid phone number".into())],
    );

    assert_eq!(notifier.send(&n).await, Ok(Sent::Undeliverable));
    assert_eq!(
        notifier.store().send_state(n.notification_id),
        Some(SendState::Undeliverable("invalid phone number".into()))
    );
    assert_eq!(notifier.send(&n).await, Ok(Sent::AlreadySent));
    assert_eq!(notifier.sender().attempts(), 1);
}

#[tokio::test]
async fn a_claim_held_by_another_delivery_waits_for_its_lease() {
    let notifier = notifier();
    let n = sms(&completed(6, "ada"), "+441234567890");
    // Another delivery claimed it and then crashed before settling.
    assert_eq!(
        notifier
            .store()
            .claim(&n, t0(), t0() + LEASE)
            .await
            .unwrap(),
        Claim::Claimed
    );

    assert!(matches!(
        notifier.send(&n).await,
        Err(StoreError::Transient(_))
    ));
    assert_eq!(notifier.sender().attempts(), 0);

    notifier.clock().advance(LEASE + Duration::seconds(1));
    assert_eq!(notifier.send(&n).await, Ok(Sent::Sent));
    assert_eq!(notifier.sender().sent().len(), 1);
}

#[tokio::test]
async fn one_failing_channel_fails_only_its_event_and_the_retry_sends_only_what_is_missing() {
    let profiles = with_profile("ada", vec![profile::Channel::Email, profile::Channel::Sms]).await;
    let notifier = notifier();
    notifier.sender().fail(
        "+441234567890",
        vec![ChannelError::Transient("SNS throttled".into())],
    );
    let failing = completed(7, "ada");
    let response = order_lambda::notify_queue::handle_batch(
        batch_of("m-1", &failing),
        &profiles,
        &notifier,
        &NoFaults,
        notifier.clock(),
        None,
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["m-1"]);
    // Email went out; the sms did not.
    let channels = |n: &Notifier_| -> Vec<Channel> {
        let mut c: Vec<Channel> = n.sender().sent().into_iter().map(|(c, _, _)| c).collect();
        c.sort();
        c
    };
    assert_eq!(channels(&notifier), vec![Channel::Email]);

    // The redelivery sends the sms and nothing else.
    let response = order_lambda::notify_queue::handle_batch(
        batch_of("m-1", &failing),
        &profiles,
        &notifier,
        &NoFaults,
        notifier.clock(),
        None,
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(channels(&notifier), vec![Channel::Email, Channel::Sms]);
    assert_eq!(notifier.store().for_user("ada").await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_undeliverable_channel_does_not_fail_the_event() {
    let profiles = with_profile("ada", vec![profile::Channel::Sms]).await;
    let notifier = notifier();
    notifier.sender().fail(
        "+441234567890",
        vec![ChannelError::Undeliverable("opted out".into())],
    );
    let response = order_lambda::notify_queue::handle_batch(
        batch_of("m-2", &completed(8, "ada")),
        &profiles,
        &notifier,
        &NoFaults,
        notifier.clock(),
        None,
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(notifier.sender().sent().is_empty());
}
