//! The production notifier (`NOTIFIER=aws`) against the local stack's moto: email through SES v2
//! `SendEmail`, sms through SNS `Publish` to a number, push through SNS `Publish` to a platform
//! endpoint, each recorded in the notifications table and sent once however often it is sent
//! again, and each address no retry can reach recorded as undeliverable. What moto "sent" is
//! read back from its model dump (`/moto-api/data.json`), which lists SES messages, SNS SMS and
//! each platform endpoint's messages.
//!
//! Run: `local/stack.sh up dev`, load `local/.state/dev/env`, then
//! `cargo test -p e2e --test notifiers -- --ignored`.

use chrono::Utc;
use e2e::Stack;
use serde_json::{Value, json};
use shared::adapters::channels::AwsChannels;
use shared::adapters::dynamodb::DynamoNotifications;
use shared::clock::SystemClock;
use shared::events::{DomainEvent, EventType};
use shared::notification::{self, Channel, Notification, notification_id};
use shared::order::OrderId;
use shared::ports::{NotificationStore, Notifier, Sent};
use shared::sending::SendingNotifier;

/// Everything moto's models hold, as its dashboard reads it.
async fn moto_models(stack: &Stack) -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (the stack's env)");
    stack
        .http
        .get(format!("{endpoint}/moto-api/data.json"))
        .send()
        .await
        .expect("moto-api")
        .json()
        .await
        .expect("moto's model dump is JSON")
}

fn instances<'a>(models: &'a Value, service: &str, model: &str) -> Vec<&'a Value> {
    models[service][model]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The emails moto's SES accepted for `to`.
fn emails_to<'a>(models: &'a Value, to: &str) -> Vec<&'a Value> {
    instances(models, "ses", "Message")
        .into_iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|d| d == to))
        })
        .collect()
}

fn sms_to<'a>(models: &'a Value, phone: &str) -> Vec<&'a Value> {
    instances(models, "sns", "SMS")
        .into_iter()
        .filter(|m| m["phone_number"] == phone)
        .collect()
}

fn pushed_to(models: &Value, endpoint: &str) -> Vec<String> {
    instances(models, "sns", "PlatformEndpoint")
        .into_iter()
        .filter(|e| e["arn"] == endpoint)
        .flat_map(|e| {
            e["messages"]
                .as_object()
                .map(|m| {
                    m.values()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_else(Vec::new)
        })
        .collect()
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
    let aws = shared::config::aws().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..12];

    // SES sends only from a verified identity (moto checks it as SES does).
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
    let endpoint = |token: String| {
        let sns = sns.clone();
        let app = app.clone();
        async move {
            sns.create_platform_endpoint()
                .platform_application_arn(app)
                .token(token)
                .send()
                .await
                .expect("create a platform endpoint")
                .endpoint_arn
                .expect("endpoint arn")
        }
    };
    let device = endpoint(format!("device-{run}")).await;
    let uninstalled = endpoint(format!("gone-{run}")).await;
    sns.set_endpoint_attributes()
        .endpoint_arn(&uninstalled)
        .attributes("Enabled", "false")
        .send()
        .await
        .expect("disable the endpoint");

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

    let models = moto_models(&stack).await;
    let emails = emails_to(&models, &email);
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["source"], from.as_str());
    assert_eq!(
        emails[0]["subject"],
        notification::subject(&good[0]).as_str()
    );
    assert_eq!(emails[0]["body"], text.as_str());
    let sms = sms_to(&models, &phone);
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["message"], text.as_str());
    assert_eq!(pushed_to(&models, &device), vec![text.clone()]);

    // Addresses no retry reaches: a number SNS refuses, a disabled endpoint, a push channel
    // whose profile names no endpoint (the address is then the user id).
    let later = DomainEvent::for_order(EventType::OrderShipped, order_id, &user, now, json!({}));
    let last = DomainEvent::for_order(EventType::OrderDelivered, order_id, &user, now, json!({}));
    let bad = [
        on(&later, Channel::Sms, "+0123456789"),
        on(&later, Channel::Push, &uninstalled),
        on(&last, Channel::Push, &user),
    ];
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
    let models = moto_models(&stack).await;
    assert!(sms_to(&models, "+0123456789").is_empty());
    assert!(pushed_to(&models, &uninstalled).is_empty());

    // All six are in the user's notifications, as `GET /notifications` lists them.
    assert_eq!(
        stack
            .notifications
            .for_user(&user)
            .await
            .expect("list")
            .len(),
        6
    );
}
