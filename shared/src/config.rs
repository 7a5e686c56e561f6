//! Configuration comes from environment variables set by `template.yaml` (see ARCHITECTURE.md),
//! read once at start. A missing variable stops the function at init with its name.

use thiserror::Error;

#[derive(Debug, Error)]
#[error(
    "environment variable {0} is not set; template.yaml sets it for every function that needs it"
)]
pub struct MissingVar(pub &'static str);

pub fn required(name: &'static str) -> Result<String, MissingVar> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingVar(name))
}

/// The SDK configuration, loaded once per process. It honours the standard settings, among
/// them `AWS_ENDPOINT_URL`, which points every client at the local cloud (moto, LocalStack).
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
