//! The production notifier (`NOTIFIER=aws`) against the local cloud: email through SES v2
//! `SendEmail`, sms through SNS `Publish` to a number, push through SNS `Publish` to a platform
//! endpoint, each recorded in the notifications table and sent once however often it is sent
//! again, and a push to a profile without an endpoint recorded as undeliverable. What the cloud
//! sent is read back from ministack's introspection endpoints (`/_ministack/ses/messages`,
//! `/_ministack/sns/sms-messages`); ministack accepts a push to a platform endpoint without
//! recording it, and accepts numbers and disabled endpoints that SNS refuses, so those answers
//! are tested against SNS's documented errors in `senders/src/lib.rs`.

use chrono::Utc;
use e2e::Stack;
use order_lambda::adapters::channels::AwsChannels;
use order_lambda::adapters::dynamodb::DynamoNotifications;
use order_lambda::clock::SystemClock;
use order_lambda::events::{DomainEvent, EventType};
use order_lambda::notification::{self, Channel, Notification, notification_id};
use order_lambda::order::OrderId;
use order_lambda::ports::{NotificationStore, Notifier, Sent};
use order_lambda::sending::SendingNotifier;
use serde_json::{Value, json};

async fn introspect(stack: &Stack, path: &str) -> Value {
    stack
        .http
        .get(format!("{}{path}", stack.endpoint))
        .send()
        .await
        .expect("the local cloud's introspection endpoint")
        .json()
        .await
        .expect("JSON")
}

/// The emails the local cloud's SES accepted for `to`.
async fn emails_to(stack: &Stack, to: &str) -> Vec<Value> {
    let sent = introspect(stack, "/_ministack/ses/messages").await;
    sent["messages"]
        .as_object()
        .into_iter()
        .flat_map(|accounts| accounts.values())
        .flat_map(|messages| messages.as_array().cloned().unwrap_or_default())
        .filter(|m| {
            m["To"]
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d == to))
        })
        .collect()
}

/// The SMS the local cloud's SNS sent to `phone`.
async fn sms_to(stack: &Stack, phone: &str) -> Vec<Value> {
    let sent = introspect(
        stack,
        &format!(
            "/_ministack/sns/sms-messages?phoneNumber={}",
            phone.replace('+', "%2B")
        ),
    )
    .await;
    sent["sms_messages"][phone]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The `delivery` and `failure` attributes of a notification's item.
async fn delivery(stack: &Stack, n: &Notification) -> (Option<String>, Option<String>) {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(std::env::var("NOTIFICATIONS_TABLE").expect("NOTIFICATIONS_TABLE"))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "NOTIFICATION#{}",
                n.notification_id
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("NOTIFICATION".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("get the notification's item")
        .item
        .unwrap_or_default();
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    (text("delivery"), text("failure"))
}

#[tokio::test]
#[ignore = "needs the local stack: local/stack.sh up dev, and its env (see the module's doc)"]
async fn ses_and_sns_send_each_notification_once_and_record_what_cannot_be_delivered() {
    let stack = Stack::connect().await;
    let aws = order_lambda::config::aws().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..12];

    // SES sends only from a verified identity.
    let from = format!("shop-{run}@example.com");
    aws_sdk_sesv2::Client::new(&aws)
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .expect("create the sender identity");
    let sns = aws_sdk_sns::Client::new(&aws);
    let app = sns
        .create_platform_application()
        .name(format!("orders-{run}"))
        .platform("GCM")
        .attributes("PlatformCredential", "test-key")
        .send()
        .await
        .expect("create a platform application")
        .platform_application_arn
        .expect("application arn");
    let device = sns
        .create_platform_endpoint()
        .platform_application_arn(app)
        .token(format!("device-{run}"))
        .send()
        .await
        .expect("create a platform endpoint")
        .endpoint_arn
        .expect("endpoint arn");

    let store = DynamoNotifications::new(
        stack.dynamodb.clone(),
        std::env::var("NOTIFICATIONS_TABLE").expect("NOTIFICATIONS_TABLE"),
    );
    let notifier = SendingNotifier::new(
        store,
        AwsChannels::from_config(&aws, &from, None),
        SystemClock,
    );

    let user = format!("notifiers-{run}");
    let now = Utc::now();
    let order_id = OrderId::new_at(now);
    let event = DomainEvent::for_order(
        EventType::OrderCompleted,
        order_id,
        &user,
        now,
        json!({"total": {"amount": 2500, "currency": "EUR"}}),
    );
    let text = notification::render(&event).expect("render");
    let digits = u64::from_str_radix(&run[..8], 16).expect("hex") % 10_000_000;
    let phone = format!("+1555{digits:07}");
    let email = format!("ada-{run}@example.com");
    // One event, so each channel once; the undeliverable ones use a second and third event.
    let on = |event: &DomainEvent, channel: Channel, address: &str| Notification {
        notification_id: notification_id(event.event_id, channel),
        event_id: event.event_id,
        event_type: event.event_type,
        order_id,
        user_id: user.clone(),
        channel,
        address: address.to_owned(),
        text: text.clone(),
        sent_at: now,
    };
    let good = [
        on(&event, Channel::Email, &email),
        on(&event, Channel::Sms, &phone),
        on(&event, Channel::Push, &device),
    ];
    for n in &good {
        assert_eq!(notifier.send(n).await, Ok(Sent::Sent), "{:?}", n.channel);
        assert_eq!(
            notifier.send(n).await,
            Ok(Sent::AlreadySent),
            "{:?}",
            n.channel
        );
        assert_eq!(delivery(&stack, n).await, (Some("DELIVERED".into()), None));
    }

    let emails = emails_to(&stack, &email).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["Source"], from.as_str());
    assert_eq!(
        emails[0]["Subject"],
        notification::subject(&good[0]).as_str()
    );
    assert_eq!(emails[0]["BodyText"], text.as_str());
    let sms = sms_to(&stack, &phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["Message"], text.as_str());

    // An address no retry reaches: a push channel whose profile names no endpoint (the address
    // is then the user id). (A number SNS refuses and a disabled endpoint: channels.rs.)
    let last = DomainEvent::for_order(EventType::OrderDelivered, order_id, &user, now, json!({}));
    let bad = [on(&last, Channel::Push, &user)];
    for n in &bad {
        assert_eq!(
            notifier.send(n).await,
            Ok(Sent::Undeliverable),
            "{}",
            n.address
        );
        assert_eq!(
            notifier.send(n).await,
            Ok(Sent::AlreadySent),
            "{}",
            n.address
        );
        let (state, failure) = delivery(&stack, n).await;
        assert_eq!(state.as_deref(), Some("UNDELIVERABLE"), "{}", n.address);
        assert!(failure.is_some_and(|f| !f.is_empty()), "{}", n.address);
    }
    // All four are in the user's notifications, as `GET /notifications` lists them.
    assert_eq!(
        stack
            .notifications
            .for_user(&user)
            .await
            .expect("list")
            .len(),
        4
    );
}
