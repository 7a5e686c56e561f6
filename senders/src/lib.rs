//! The outside channels of `NOTIFIER=aws`: email through SES v2 `SendEmail`, sms through SNS
//! `Publish` to a phone number, push through SNS `Publish` to a platform endpoint. Each call's
//! error is sorted into what a retry may mend and what it cannot (`ChannelError`).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
use order_core::notification::{self, Channel, Notification};
use order_core::ports::{ChannelError, ChannelSender};
// SES and SNS share the SDK's error and raw response types; these are re-exported by each.
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The SMS type SNS bills and routes as time-critical, so it is not dropped for cost.
const SMS_TYPE: &str = "AWS.SNS.SMS.SMSType";

#[derive(Debug, Clone)]
pub struct AwsChannels {
    ses: aws_sdk_sesv2::Client,
    sns: aws_sdk_sns::Client,
    /// The verified SES identity notifications come from (`NOTIFY_FROM_ADDRESS`).
    from: String,
    /// An SES configuration set for delivery events (`NOTIFY_CONFIGURATION_SET`), if any.
    configuration_set: Option<String>,
}

impl AwsChannels {
    pub fn new(
        ses: aws_sdk_sesv2::Client,
        sns: aws_sdk_sns::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            ses,
            sns,
            from: from.into(),
            configuration_set,
        }
    }

    /// SES and SNS clients on `aws`, each call bounded by `sending::SEND_TIMEOUT` so that a
    /// hung send ends well inside its claim's lease.
    pub fn from_config(
        aws: &aws_config::SdkConfig,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(order_core::sending::SEND_TIMEOUT)
            .build();
        let ses = aws_sdk_sesv2::config::Builder::from(aws)
            .timeout_config(timeouts.clone())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(aws)
            .timeout_config(timeouts)
            .build();
        Self::new(
            aws_sdk_sesv2::Client::from_conf(ses),
            aws_sdk_sns::Client::from_conf(sns),
            from,
            configuration_set,
        )
    }

    async fn email(&self, n: &Notification) -> Result<(), ChannelError> {
        let content = |text: String| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| ChannelError::Misconfigured(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(notification::subject(n))?)
            .body(Body::builder().text(content(n.text.clone())?).build())
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&n.address).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                classify(
                    e,
                    // The recipient or the message itself is refused (in the SES sandbox also an
                    // unverified recipient): this address will not take it.
                    &["MessageRejected", "BadRequestException"],
                    &["TooManyRequestsException", "LimitExceededException"],
                )
            })
    }

    async fn sms(&self, n: &Notification) -> Result<(), ChannelError> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| ChannelError::Misconfigured(e.to_string()))?;
        self.sns
            .publish()
            .phone_number(&n.address)
            .message(&n.text)
            .message_attributes(SMS_TYPE, transactional)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, SNS_UNDELIVERABLE, SNS_TRANSIENT))
    }

    async fn push(&self, n: &Notification) -> Result<(), ChannelError> {
        if !n.address.starts_with("arn:") {
            // The profile names no device endpoint: there is nothing to push to.
            return Err(ChannelError::Undeliverable(
                "the profile has no push endpoint".into(),
            ));
        }
        self.sns
            .publish()
            .target_arn(&n.address)
            .message(&n.text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, SNS_UNDELIVERABLE, SNS_TRANSIENT))
    }
}

/// A malformed number or ARN, or an endpoint the platform disabled (an uninstalled app) or that
/// was deleted: no retry reaches it.
const SNS_UNDELIVERABLE: &[&str] = &[
    "InvalidParameter",
    "InvalidParameterValue",
    "EndpointDisabled",
    "NotFound",
];
const SNS_TRANSIENT: &[&str] = &["Throttled", "Throttling", "InternalError"];

impl ChannelSender for AwsChannels {
    async fn send(&self, n: &Notification) -> Result<(), ChannelError> {
        match n.channel {
            Channel::Email => self.email(n).await,
            Channel::Sms => self.sms(n).await,
            Channel::Push => self.push(n).await,
            Channel::Inbox => Err(ChannelError::Misconfigured(
                "the inbox is recorded, not sent".into(),
            )),
        }
    }
}

/// Network failures, timeouts and 5xx may mend; the codes named are sorted as listed; any other
/// error is taken as ours to fix (`Misconfigured`): the event goes back to the queue and then to
/// its DLQ rather than being dropped on an error nobody foresaw.
fn classify<E>(
    error: SdkError<E, HttpResponse>,
    undeliverable: &[&str],
    transient: &[&str],
) -> ChannelError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&error).to_string();
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ChannelError::Transient(message)
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if undeliverable.contains(&code) {
                ChannelError::Undeliverable(message)
            } else if transient.contains(&code) || service.raw().status().is_server_error() {
                ChannelError::Transient(message)
            } else {
                ChannelError::Misconfigured(message)
            }
        }
        _ => ChannelError::Misconfigured(message),
    }
}

/// The channels against the answers SNS documents for addresses no retry reaches, which the local
/// cloud never gives (it accepts any number, and a publish to a disabled endpoint): `Publish`'s
/// `InvalidParameter` for a number it cannot send to, and `EndpointDisabled` for a platform
/// endpoint whose app was uninstalled (API Reference, Publish, "Errors"). A scripted wire answers
/// as SNS would; the SES client is never called.
#[cfg(test)]
mod sns_semantics {
    use super::*;
    use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::infallible_client_fn;
    use chrono::Utc;
    use order_core::events::EventType;
    use order_core::order::OrderId;
    use std::sync::{Arc, Mutex};

    fn sns_error(code: &str, message: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>7a62c49f-347e-4fc4-9331-6e8e7a96aa73</RequestId></ErrorResponse>"
        )
    }

    /// Channels whose SNS answers each `Publish` with `answer(form body)`; what was sent.
    fn channels(
        answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
    ) -> (AwsChannels, Arc<Mutex<Vec<String>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = sent.clone();
        let http = infallible_client_fn(move |request| {
            let body = request
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            seen.lock().unwrap().push(body.clone());
            let (status, reply) = answer(&body);
            http::Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .body(reply)
                .unwrap()
        });
        let sns = aws_sdk_sns::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(
                aws_sdk_sns::config::retry::RetryConfig::standard()
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .http_client(http.clone())
            .build();
        let ses = aws_sdk_sesv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http)
            .build();
        let channels = AwsChannels::new(
            aws_sdk_sesv2::Client::from_conf(ses),
            aws_sdk_sns::Client::from_conf(sns),
            "shop@example.com",
            None,
        );
        (channels, sent)
    }

    fn notification(channel: Channel, address: &str) -> Notification {
        let now = Utc::now();
        let event_id = uuid::Uuid::now_v7();
        Notification {
            notification_id: order_core::notification::notification_id(event_id, channel),
            event_id,
            event_type: EventType::OrderShipped,
            order_id: OrderId::new_at(now),
            user_id: "ada".into(),
            channel,
            address: address.into(),
            text: "Your order is on its way.".into(),
            sent_at: now,
        }
    }

    #[tokio::test]
    async fn a_number_sns_cannot_send_to_is_undeliverable() {
        let (channels, sent) = channels(|_| {
            (
                400,
                sns_error(
                    "InvalidParameter",
                    "Invalid parameter: PhoneNumber Reason: +0123456789 is not valid to publish to",
                ),
            )
        });
        let answer = channels
            .send(&notification(Channel::Sms, "+0123456789"))
            .await;
        assert!(
            matches!(answer, Err(ChannelError::Undeliverable(_))),
            "{answer:?}"
        );
        assert_eq!(sent.lock().unwrap().len(), 1, "not retried");
    }

    #[tokio::test]
    async fn a_disabled_platform_endpoint_is_undeliverable() {
        let endpoint = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/orders/5c1d8f0e";
        let (channels, _) =
            channels(|_| (400, sns_error("EndpointDisabled", "Endpoint is disabled")));
        let answer = channels.send(&notification(Channel::Push, endpoint)).await;
        assert!(
            matches!(answer, Err(ChannelError::Undeliverable(_))),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_throttled_publish_is_transient_and_a_sent_one_is_sent() {
        let (throttled, _) = channels(|_| (400, sns_error("Throttling", "Rate exceeded")));
        let answer = throttled
            .send(&notification(Channel::Sms, "+15550100"))
            .await;
        assert!(
            matches!(answer, Err(ChannelError::Transient(_))),
            "{answer:?}"
        );
        let (sending, sent) = channels(|_| {
            (
                200,
                "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\
                 <PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId>\
                 </PublishResult><ResponseMetadata><RequestId>f187a3c1</RequestId>\
                 </ResponseMetadata></PublishResponse>"
                    .into(),
            )
        });
        let answer = sending.send(&notification(Channel::Sms, "+15550100")).await;
        assert!(answer.is_ok(), "{answer:?}");
        let body = sent.lock().unwrap().join("");
        assert!(body.contains("PhoneNumber=%2B15550100"), "{body}");
    }
}
