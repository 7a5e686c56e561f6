//! The outside channels of `NOTIFIER=aws`: email through SES v2 `SendEmail`, sms through SNS
//! `Publish` to a phone number, push through SNS `Publish` to a platform endpoint. Each call's
//! error is sorted into what a retry may mend and what it cannot (`ChannelError`).

use crate::notification::{self, Channel, Notification};
use crate::ports::{ChannelError, ChannelSender};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;
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
            .operation_timeout(crate::sending::SEND_TIMEOUT)
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
