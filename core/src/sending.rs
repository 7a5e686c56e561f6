//! The production `Notifier` (`NOTIFIER=aws`): records every notification in the notifications
//! table, as the local one does (the inbox and `GET /notifications` read it), and sends those of
//! the outside channels (email, sms, push) through a `ChannelSender` (SES, SNS).
//!
//! Why claim, then send, then settle: SQS delivers at least once and a failed event comes back
//! whole, so one notification id meets many deliveries, sometimes two at once (SNS may hand the
//! queue a duplicate). Recording first and sending after would lose the message whenever the send
//! fails (the retry finds it recorded); sending first would send again on every retry until the
//! record is written. So a conditional write first claims the id for a lease, only the claimant
//! sends, and the outcome is written after. A send that failed and may succeed later gives the
//! claim back for the retry. The one window left is a crash (or a lost write) between a send and
//! its settling: after the lease a redelivery sends again. A duplicate message in that rare case
//! is the price of never losing one; SES and SNS `Publish` take no idempotency key to do better.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::notification::{Channel, Notification};
use crate::ports::{
    ChannelError, ChannelSender, Claim, NotificationStore, Notifier, SendLog, Sent, Settled,
};

/// How long a claim keeps other deliveries from sending: longer than one send may take (the
/// SES/SNS clients time out after `SEND_TIMEOUT`), shorter than NotifyQueue's visibility timeout
/// (90 s), so the retry after a crash finds it run out.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// The time one send may take before the SDK gives up on it (well inside `LEASE`). SES's
/// SendEmail and SNS's Publish answer in well under a second; one slower than this is
/// `Transient`, its claim given back and its event delivered again. Three of them fit in
/// `notification::RECORD_BUDGET`, which fits in the notify function's 10 s timeout.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug)]
pub struct SendingNotifier<S, C, K> {
    store: S,
    sender: C,
    clock: K,
}

impl<S, C, K> SendingNotifier<S, C, K> {
    pub fn new(store: S, sender: C, clock: K) -> Self {
        Self {
            store,
            sender,
            clock,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn sender(&self) -> &C {
        &self.sender
    }

    pub fn clock(&self) -> &K {
        &self.clock
    }
}

impl<S, C, K> Notifier for SendingNotifier<S, C, K>
where
    S: NotificationStore + SendLog,
    C: ChannelSender,
    K: Clock,
{
    async fn send(&self, notification: &Notification) -> Result<Sent, StoreError> {
        let id = notification.notification_id;
        if notification.channel == Channel::Inbox {
            // The inbox is the table: recording is sending.
            return Ok(if self.store.record(notification).await? {
                Sent::Sent
            } else {
                Sent::AlreadySent
            });
        }
        let now = self.clock.now();
        match self.store.claim(notification, now, now + LEASE).await? {
            Claim::Claimed => {}
            Claim::Done => return Ok(Sent::AlreadySent),
            Claim::Busy => {
                return Err(StoreError::Transient(format!(
                    "notification {id} is being sent by another delivery"
                )));
            }
        }
        let channel = notification.channel;
        match self.sender.send(notification).await {
            Ok(()) => {
                // The message is out: a failed settle must not fail the event, or its retry
                // would send again once the lease runs out.
                if let Err(error) = self.store.settle(id, &Settled::Delivered).await {
                    tracing::warn!(notification_id = %id, %channel, %error, "sent, but recording it as delivered failed");
                }
                Ok(Sent::Sent)
            }
            Err(ChannelError::Undeliverable(reason)) => {
                // Kept with its reason and not retried: no retry can reach this address.
                tracing::warn!(notification_id = %id, %channel, reason, "notification undeliverable");
                self.store
                    .settle(id, &Settled::Undeliverable(reason))
                    .await?;
                Ok(Sent::Undeliverable)
            }
            Err(error) => {
                if let Err(release) = self.store.release(id).await {
                    tracing::warn!(notification_id = %id, %channel, error = %release, "giving the claim back failed; the retry waits for the lease");
                }
                Err(match error {
                    ChannelError::Transient(m) => StoreError::Transient(m),
                    other => StoreError::Internal(other.to_string()),
                })
            }
        }
    }
}
