//! Serving a saga step: the envelope around its input, and its errors as Lambda reports them.

use crate::metrics;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use order_core::saga::{StepError, parse_input};
use order_faults::FaultPlan;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use tracing::Instrument;

/// A step's error as Lambda reports it: its `error_type` is what the state machine matches.
pub use order_faults::diagnostic;

/// What a step's handler takes from the state machine's payload: the step's own input, and
/// around it the ids for logs, metrics and fault plans.
pub struct StepCall<T> {
    pub input: T,
    pub order_id: String,
    /// The fault-plan scope (the order's user).
    pub scope: String,
    pub correlation_id: String,
    /// Where the step's log lines go: a span naming the order and the correlation id.
    pub span: tracing::Span,
}

impl<T: DeserializeOwned> StepCall<T> {
    /// Takes the envelope's `correlationId` off the payload, then parses the rest strictly.
    pub fn parse(mut payload: serde_json::Value) -> Result<Self, Diagnostic> {
        let span = crate::correlation::order_span(&payload);
        let correlation_id = crate::correlation::take(&mut payload);
        let scope = order_faults::scope_of(&payload);
        let order_id = metrics::order_id_of(&payload);
        Ok(Self {
            input: parse_input(payload).map_err(diagnostic)?,
            order_id,
            scope,
            correlation_id,
            span,
        })
    }
}

/// Serves the saga step named `step` until the runtime stops: each invocation's payload is
/// parsed (`StepCall`), the step's `rule` runs on its input and correlation id through the fault
/// planned for the call (`business` names the step's own business error, for a `Business`
/// fault), timed (`StepLatency`), in a span naming the order and the correlation id; a failure
/// reaches the state machine with its stable `error_type`.
pub async fn serve<I, O, Fut>(
    step: &'static str,
    faults: &impl FaultPlan,
    business: impl Fn(&I) -> Option<StepError>,
    rule: impl Fn(I, String) -> Fut,
) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned,
    O: Serialize,
    Fut: Future<Output = Result<O, StepError>>,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        // Boxed: nested in the runtime's futures, the step's type is too deep for rustc's layout
        // query in an optimised build otherwise.
        Box::pin(handle(step, faults, &business, &rule, event.payload))
    }))
    .await
}

/// One invocation of a step: what [`serve`] does with each payload.
pub async fn handle<I, O, Fut>(
    step: &str,
    faults: &impl FaultPlan,
    business: impl Fn(&I) -> Option<StepError>,
    rule: impl Fn(I, String) -> Fut,
    payload: Value,
) -> Result<O, Diagnostic>
where
    I: DeserializeOwned,
    Fut: Future<Output = Result<O, StepError>>,
{
    let call: StepCall<I> = StepCall::parse(payload)?;
    let business = business(&call.input);
    let run = rule(call.input, call.correlation_id);
    let faulted = order_faults::around(faults, step, &call.scope, business, run);
    metrics::timed_step(step, &call.order_id, faulted)
        .instrument(call.span)
        .await
}

/// [`handle`] without its latency metric or span: the envelope, the rule and its errors as
/// Lambda reports them, for callers that run many steps in one process (the simulator).
pub async fn call<I, O, Fut>(
    rule: impl Fn(I, String) -> Fut,
    payload: Value,
) -> Result<O, Diagnostic>
where
    I: DeserializeOwned,
    Fut: Future<Output = Result<O, StepError>>,
{
    let call: StepCall<I> = StepCall::parse(payload)?;
    rule(call.input, call.correlation_id)
        .await
        .map_err(diagnostic)
}
