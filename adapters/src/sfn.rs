//! Starts the order saga on Step Functions.

use crate::dynamodb::classify;
use aws_sdk_sfn::Client;
use order_core::error::StoreError;
use order_core::order::OrderId;
use order_core::ports::{SagaStart, SagaStarter};

#[derive(Debug, Clone)]
pub struct StepFunctionsSaga {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsSaga {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

impl StepFunctionsSaga {
    // Step Functions refuses a second execution of the same name (Standard workflows, for 90
    // days), which makes starting idempotent.
    async fn start_named(&self, name: String, input: &str) -> Result<SagaStart, StoreError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(_) => Ok(SagaStart::Started),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_execution_already_exists()) =>
            {
                Ok(SagaStart::AlreadyStarted)
            }
            Err(e) => Err(classify(e)),
        }
    }
}

impl SagaStarter for StepFunctionsSaga {
    async fn start(&self, order_id: OrderId, input: &str) -> Result<SagaStart, StoreError> {
        self.start_named(order_id.to_string(), input).await
    }

    async fn start_cancellation(
        &self,
        order_id: OrderId,
        input: &str,
    ) -> Result<SagaStart, StoreError> {
        self.start_named(format!("{order_id}-cancel"), input).await
    }
}
