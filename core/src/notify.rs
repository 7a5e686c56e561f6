//! Telling a buyer about an event (`notification` has what is said and to whom): the notify
//! function's rule, over the profile store and the notifier.

use crate::clock::Clock;
use crate::events::{DomainEvent, EventType};
use crate::notification::{
    Channel, Notification, NotifyError, TOLD, notification_id, order_of, recipients, render,
};
use crate::ports::{Notifier, ProfileStore, Sent};

/// What `deliver` did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A type users are not told about: nothing sent, and that is a success.
    Ignored(EventType),
    /// Each channel, and whether this call sent on it or found it sent before.
    Sent(Vec<(Channel, Sent)>),
}

impl Delivery {
    /// Whether this call sent the inbox notification, i.e. it is the first delivery that did.
    pub fn first_on_inbox(&self) -> bool {
        matches!(self, Self::Sent(sent) if sent.contains(&(Channel::Inbox, Sent::Sent)))
    }
}

/// Tells the user about `event` on the inbox and every channel of their profile, once per event
/// and channel. Every channel is tried even when one fails, so that one broken channel does not
/// hold the others back; the first failure is then returned, for the whole event to be delivered
/// again (the channels that went out find their notification sent and send nothing).
pub async fn deliver(
    event: &DomainEvent,
    profiles: &impl ProfileStore,
    notifier: &impl Notifier,
    clock: &dyn Clock,
) -> Result<Delivery, NotifyError> {
    if !TOLD.contains(&event.event_type) {
        return Ok(Delivery::Ignored(event.event_type));
    }
    if event.user_id.is_empty() {
        return Err(NotifyError::Malformed(format!(
            "{} {} has no userId",
            event.event_type, event.event_id
        )));
    }
    let text = render(event)?;
    let order_id = order_of(event)?;
    let profile = profiles.profile(&event.user_id).await?;
    let sent_at = clock.now();
    let mut sent = Vec::new();
    let mut failure = None;
    for (channel, address) in recipients(&event.user_id, profile.as_ref()) {
        let notification = Notification {
            notification_id: notification_id(event.event_id, channel),
            event_id: event.event_id,
            event_type: event.event_type,
            order_id,
            user_id: event.user_id.clone(),
            channel,
            address,
            text: text.clone(),
            sent_at,
        };
        match notifier.send(&notification).await {
            Ok(outcome) => sent.push((channel, outcome)),
            Err(error) => {
                tracing::warn!(event_id = %event.event_id, %channel, %error, "sending a notification failed");
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(Delivery::Sent(sent)),
    }
}
