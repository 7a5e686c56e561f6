//! Publishes domain events to the SNS topic, with the type as a message attribute for filters.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use order_core::error::StoreError;
use order_core::events::{DomainEvent, EventPublisher, TYPE_ATTRIBUTE};

#[derive(Debug, Clone)]
pub struct SnsEvents {
    client: Client,
    topic_arn: String,
}

impl SnsEvents {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl EventPublisher for SnsEvents {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        let body = serde_json::to_string(event)
            .map_err(|e| StoreError::Internal(format!("event {}: {e}", event.event_id)))?;
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event.event_type.as_str())
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .message_attributes(TYPE_ATTRIBUTE, attribute)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// A wrong topic or missing permission will not mend itself; anything else may.
fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let permanent = matches!(
        &error,
        SdkError::ServiceError(service) if matches!(
            service.err().code(),
            Some("NotFound" | "AuthorizationError" | "InvalidParameter" | "InvalidParameterValue")
        )
    );
    let message = DisplayErrorContext(&error).to_string();
    if permanent {
        StoreError::Internal(message)
    } else {
        StoreError::Transient(message)
    }
}
