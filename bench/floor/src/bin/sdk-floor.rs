//! The floor plus what every function adds at start: the SDK configuration and two clients
//! (DynamoDB and Step Functions, as create-order builds them), built once in `main`.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = &aws_sdk_dynamodb::Client::new(&aws);
    let sfn = &aws_sdk_sfn::Client::new(&aws);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let _ = (dynamodb, sfn);
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
