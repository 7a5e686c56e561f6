//! Configuration comes from environment variables set by `template.yaml` (see ARCHITECTURE.md),
//! read once at start: here, and nowhere below this crate. A missing or malformed variable stops
//! the function at init with its name.

pub use order_adapters::config::{AWS_ROOTS, MissingVar, aws, events, required};
use order_core::cleanup::CleanupConfig;
use order_core::delivery::LeadTimeDelivery;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The cleanup's limits and ages (`CLEANUP_*`, `SAGA_DEADLINE_MINUTES`, …).
pub fn cleanup() -> Result<CleanupConfig, String> {
    CleanupConfig::from_vars(var)
}

/// The delivery rule's lead time (`DELIVERY_LEAD_HOURS`).
pub fn delivery() -> Result<LeadTimeDelivery, String> {
    LeadTimeDelivery::from_lead_hours(var("DELIVERY_LEAD_HOURS"))
}

/// Where a function's fault plan comes from: the faults table, in a build with fault injection.
#[cfg(feature = "fault-injection")]
pub type FaultPlanFromEnv = order_faults::DynamoFaults;
/// Where a function's fault plan comes from: nowhere, in a build without fault injection.
#[cfg(not(feature = "fault-injection"))]
pub type FaultPlanFromEnv = order_faults::NoFaults;

/// The fault plan this function injects from (`order_faults`): the local stack's table named by
/// `FAULTS_TABLE`, refused when `STAGE` is `prod`, or none at all. The DynamoDB client is made
/// only when there is a table to read.
pub fn fault_plan(
    client: impl FnOnce() -> aws_sdk_dynamodb::Client,
) -> Result<Option<FaultPlanFromEnv>, order_faults::RefusedInProduction> {
    let table = order_faults::table_for(
        std::env::var("FAULTS_TABLE").ok(),
        std::env::var("STAGE").ok().as_deref(),
    )?;
    #[cfg(feature = "fault-injection")]
    let plan = table.map(|table| order_faults::DynamoFaults::new(client(), table));
    #[cfg(not(feature = "fault-injection"))]
    let plan = {
        let _ = client;
        if table.is_some() {
            tracing::warn!("FAULTS_TABLE is set, but this build has no fault injection");
        }
        None
    };
    Ok(plan)
}

/// How notifications go out, from `NOTIFIER` (read once at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifierConfig {
    /// `record` (the default, the local stack): stored in the notifications table only.
    Record,
    /// `aws`: recorded, and sent by SES (from `NOTIFY_FROM_ADDRESS`, with the configuration set
    /// `NOTIFY_CONFIGURATION_SET` if set) and SNS.
    Aws {
        from_address: String,
        configuration_set: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierConfigError {
    #[error(
        "NOTIFIER={0} is not supported: `record` (the default) stores notifications in NOTIFICATIONS_TABLE, `aws` also sends them by SES and SNS"
    )]
    Unknown(String),
    #[error("NOTIFIER=aws: {0} (the parameter NotifyFromAddress)")]
    Missing(#[from] MissingVar),
}

impl NotifierConfig {
    pub fn from_env() -> Result<Self, NotifierConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `from_env` over any lookup, so it is testable without touching the process environment.
    pub fn from_lookup(
        var: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Self, NotifierConfigError> {
        let set = |name| var(name).filter(|v: &String| !v.is_empty());
        match set("NOTIFIER").as_deref() {
            None | Some("record") => Ok(Self::Record),
            Some("aws") => Ok(Self::Aws {
                from_address: set("NOTIFY_FROM_ADDRESS")
                    .ok_or(MissingVar("NOTIFY_FROM_ADDRESS"))?,
                configuration_set: set("NOTIFY_CONFIGURATION_SET"),
            }),
            Some(other) => Err(NotifierConfigError::Unknown(
                other.chars().take(32).collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&'static str, &str)]) -> Result<NotifierConfig, NotifierConfigError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        NotifierConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn record_is_the_default_and_aws_needs_a_sender() {
        assert_eq!(config(&[]).ok(), Some(NotifierConfig::Record));
        assert_eq!(
            config(&[("NOTIFIER", "record")]).ok(),
            Some(NotifierConfig::Record)
        );
        assert_eq!(
            config(&[
                ("NOTIFIER", "aws"),
                ("NOTIFY_FROM_ADDRESS", "shop@example.com")
            ])
            .ok(),
            Some(NotifierConfig::Aws {
                from_address: "shop@example.com".into(),
                configuration_set: None
            })
        );
        let missing = config(&[("NOTIFIER", "aws"), ("NOTIFY_FROM_ADDRESS", "")]);
        assert!(
            missing
                .err()
                .is_some_and(|e| e.to_string().contains("NOTIFY_FROM_ADDRESS"))
        );
        let unknown = config(&[("NOTIFIER", "ses")]);
        assert!(
            unknown
                .err()
                .is_some_and(|e| e.to_string().contains("NOTIFIER=ses"))
        );
    }
}
