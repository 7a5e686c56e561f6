//! Fault injection for the saga's Lambda steps, for tests and the local stack only.
//!
//! A test writes a plan: for one function and one scope (the user the order belongs to), the
//! faults its next calls meet, in order. Each call takes the first fault left, so "fail twice,
//! then work" is a plan of two faults. Scoping by user, not by order id, lets a test plan before
//! the order exists (the saga starts as soon as `POST /orders` answers) and keeps concurrent
//! tests apart; no id has a meaning of its own.
//!
//! The plan lives in a table the local stack creates and names in `FAULTS_TABLE`. The template
//! never sets that variable nor grants access to such a table, and a function refuses to start
//! when it is set in the `prod` stage. Reading the table is compiled only with the
//! `fault-injection` feature, which `sam build` leaves off: a deployed function's plan is
//! [`NoFaults`] whatever its environment says. This module imports no adapter and reads no
//! environment: `order_lambda::config::fault_plan` does both, as the functions' glue.

#[cfg(feature = "fault-injection")]
mod dynamodb;
mod memory;

#[cfg(feature = "fault-injection")]
pub use dynamodb::DynamoFaults;
pub use memory::MemoryFaults;

use lambda_runtime::Diagnostic;
use order_core::error::StoreError;
use order_core::saga::StepError;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use thiserror::Error;

/// What one call of a step meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// Runs normally: a place holder, so a plan can say "the second call fails".
    Pass,
    /// Fails with `Transient` before doing anything; the state machine retries it.
    Transient,
    /// Fails with the step's own business error (`OutOfStock`, `PaymentDeclined`).
    Business,
    /// Waits before running. Longer than the task's `TimeoutSeconds` is a hang: the state
    /// machine times the call out and retries while this one still runs and writes late.
    Delay { ms: u64 },
    /// Runs the step, then waits before replying: its write is visible while the saga waits.
    DelayAfterWrite { ms: u64 },
    /// Runs the step, then fails as Lambda reports a crashed sandbox (`Runtime.ExitError`): the
    /// write happened, the reply is lost. The hard case for idempotency.
    CrashAfterWrite,
}

/// The error type Lambda gives a sandbox that exited during an invocation.
pub const CRASH_ERROR_TYPE: &str = "Runtime.ExitError";

/// Where plans are kept. Taking a fault consumes it, atomically, so concurrent calls never
/// meet the same one.
pub trait FaultPlan: Send + Sync {
    fn take(
        &self,
        function: &str,
        scope: &str,
    ) -> impl Future<Output = Result<Option<Fault>, StoreError>> + Send;
}

/// Production: no plan, nothing injected, no call made.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaults;

impl FaultPlan for NoFaults {
    async fn take(&self, _function: &str, _scope: &str) -> Result<Option<Fault>, StoreError> {
        Ok(None)
    }
}

impl<P: FaultPlan> FaultPlan for Option<P> {
    async fn take(&self, function: &str, scope: &str) -> Result<Option<Fault>, StoreError> {
        match self {
            Some(plan) => plan.take(function, scope).await,
            None => Ok(None),
        }
    }
}

#[derive(Debug, Error)]
#[error("FAULTS_TABLE is set in the prod stage: fault injection is for tests and the local stack")]
pub struct RefusedInProduction;

/// The faults table to read, if any: refused in the `prod` stage. (`order_lambda::config::fault_plan`
/// reads both from the environment.)
pub fn table_for(
    table: Option<String>,
    stage: Option<&str>,
) -> Result<Option<String>, RefusedInProduction> {
    match table.filter(|t| !t.is_empty()) {
        Some(_) if stage == Some("prod") => Err(RefusedInProduction),
        table => Ok(table),
    }
}

/// The scope a step's payload belongs to: its `userId`, or empty when it has none.
pub fn scope_of(payload: &serde_json::Value) -> String {
    payload
        .get("userId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A step's error as Lambda reports it: `error_type` is the name the state machine's `Retry` and
/// `Catch` match.
pub fn diagnostic(error: StepError) -> Diagnostic {
    Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    }
}

/// Runs `step` through the fault planned for this call, if any. `business` is the step's own
/// business error, for a `Business` fault; a step without one fails with `InternalError`.
pub async fn around<T>(
    plan: &impl FaultPlan,
    function: &str,
    scope: &str,
    business: Option<StepError>,
    step: impl Future<Output = Result<T, StepError>>,
) -> Result<T, Diagnostic> {
    let fault = plan
        .take(function, scope)
        .await
        .map_err(|e| diagnostic(e.into()))?;
    if let Some(fault) = fault.filter(|f| *f != Fault::Pass) {
        tracing::warn!(function, scope, ?fault, "injecting a planned fault");
    }
    let injected = |what: &str| format!("injected fault: {what}");
    match fault {
        None | Some(Fault::Pass) => step.await.map_err(diagnostic),
        Some(Fault::Transient) => Err(diagnostic(StepError::Transient(injected("transient")))),
        Some(Fault::Business) => {
            Err(diagnostic(business.unwrap_or_else(|| {
                StepError::Internal(injected("this step has no business error"))
            })))
        }
        Some(Fault::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            step.await.map_err(diagnostic)
        }
        Some(Fault::DelayAfterWrite { ms }) => {
            let result = step.await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            result.map_err(diagnostic)
        }
        Some(Fault::CrashAfterWrite) => {
            let result = step.await.map(|_| ());
            Err(Diagnostic {
                error_type: CRASH_ERROR_TYPE.to_owned(),
                error_message: injected(&format!(
                    "crashed after the step ran ({result:?}); its reply was lost"
                )),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryFaults;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn call(plan: &MemoryFaults, ran: &AtomicUsize) -> Result<u32, Diagnostic> {
        around(
            plan,
            "charge-payment",
            "alice",
            Some(StepError::InvalidInput("declined".into())),
            async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(7)
            },
        )
        .await
    }

    #[tokio::test]
    async fn each_call_meets_the_next_planned_fault_then_runs_normally() {
        let plan = MemoryFaults::default();
        plan.plan(
            "charge-payment",
            "alice",
            vec![Fault::Transient, Fault::Business, Fault::CrashAfterWrite],
        );
        let ran = AtomicUsize::new(0);

        let first = call(&plan, &ran).await.unwrap_err();
        assert_eq!(first.error_type, "Transient");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a transient fault runs nothing"
        );

        let second = call(&plan, &ran).await.unwrap_err();
        assert_eq!(
            second.error_type, "InvalidInput",
            "the step's business error"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);

        let third = call(&plan, &ran).await.unwrap_err();
        assert_eq!(third.error_type, CRASH_ERROR_TYPE);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "a crash after the write ran it"
        );

        assert_eq!(call(&plan, &ran).await.unwrap(), 7, "the plan is used up");
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn plans_are_per_function_and_scope() {
        let plan = MemoryFaults::default();
        plan.plan("charge-payment", "bob", vec![Fault::Transient]);
        plan.plan("reserve-stock", "alice", vec![Fault::Transient]);
        let ran = AtomicUsize::new(0);
        assert_eq!(call(&plan, &ran).await.unwrap(), 7);
        assert_eq!(
            plan.take("charge-payment", "bob").await.unwrap(),
            Some(Fault::Transient)
        );
    }

    #[tokio::test]
    async fn a_business_fault_without_a_business_error_is_an_internal_error() {
        let plan = MemoryFaults::default();
        plan.plan("notify", "alice", vec![Fault::Business]);
        let error = around(&plan, "notify", "alice", None, async { Ok(()) })
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "InternalError");
    }

    #[test]
    fn faults_are_plain_json_a_test_can_write() {
        let fault: Fault = serde_json::from_str(r#"{"kind":"delayAfterWrite","ms":250}"#).unwrap();
        assert_eq!(fault, Fault::DelayAfterWrite { ms: 250 });
        assert_eq!(
            serde_json::to_string(&Fault::CrashAfterWrite).unwrap(),
            r#"{"kind":"crashAfterWrite"}"#
        );
    }

    #[test]
    fn a_faults_table_is_refused_in_production() {
        assert!(table_for(Some("faults".into()), Some("prod")).is_err());
        assert_eq!(
            table_for(Some("faults".into()), Some("dev"))
                .unwrap()
                .as_deref(),
            Some("faults")
        );
        assert_eq!(table_for(None, Some("prod")).unwrap(), None);
        assert_eq!(table_for(Some(String::new()), None).unwrap(), None);
    }

    #[test]
    fn the_scope_is_the_payloads_user() {
        assert_eq!(
            scope_of(&serde_json::json!({"orderId": "x", "userId": "u1"})),
            "u1"
        );
        assert_eq!(scope_of(&serde_json::json!({"orderId": "x"})), "");
    }
}
