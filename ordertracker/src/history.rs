//! A saga execution's history as a timeline of steps.

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType as T};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRun {
    pub step: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Calls of the task (1 + retries); 0 for states that call nothing.
    pub attempts: u32,
    /// The last error a call of this step met, and its cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub name: String,
    pub status: String,
    pub start: Option<DateTime<Utc>>,
    pub stop: Option<DateTime<Utc>>,
    pub steps: Vec<StepRun>,
    /// Why the execution failed, was aborted or timed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Execution {
    /// Where the execution is (running) or stopped: its last step, with the error if it failed.
    pub fn stopped_at(&self) -> String {
        match self.steps.last() {
            None => "(no step)".into(),
            Some(step) => match (&step.end, &step.error) {
                (None, Some(e)) => format!("{} (failing: {e})", step.step),
                (None, None) => format!("{} (in progress)", step.step),
                (Some(_), _) => step.step.clone(),
            },
        }
    }
}

pub fn time(t: &aws_sdk_sfn::primitives::DateTime) -> DateTime<Utc> {
    t.to_millis()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_default()
}

/// Folds the events (oldest first) into steps.
pub fn steps(events: &[HistoryEvent]) -> (Vec<StepRun>, Option<(String, String)>) {
    let mut steps: Vec<StepRun> = Vec::new();
    let mut failure = None;
    for event in events {
        let at = time(event.timestamp());
        let kind = event.r#type();
        if let Some(entered) = event.state_entered_event_details() {
            steps.push(StepRun {
                step: entered.name().to_owned(),
                start: at,
                end: None,
                duration_ms: None,
                attempts: 0,
                error: None,
                cause: None,
            });
            continue;
        }
        if let Some(exited) = event.state_exited_event_details()
            && let Some(step) = steps
                .iter_mut()
                .rev()
                .find(|s| s.step == exited.name() && s.end.is_none())
        {
            step.end = Some(at);
            step.duration_ms = Some((at - step.start).num_milliseconds());
            continue;
        }
        let error = match kind {
            T::TaskScheduled | T::LambdaFunctionScheduled => {
                if let Some(step) = steps.last_mut() {
                    step.attempts += 1;
                }
                None
            }
            T::TaskFailed => event
                .task_failed_event_details()
                .map(|d| (d.error(), d.cause())),
            T::TaskTimedOut => event
                .task_timed_out_event_details()
                .map(|d| (d.error(), d.cause())),
            T::LambdaFunctionFailed => event
                .lambda_function_failed_event_details()
                .map(|d| (d.error(), d.cause())),
            T::LambdaFunctionTimedOut => event
                .lambda_function_timed_out_event_details()
                .map(|d| (d.error(), d.cause())),
            T::ExecutionFailed => {
                failure = event
                    .execution_failed_event_details()
                    .map(|d| (text(d.error()), text(d.cause())));
                None
            }
            T::ExecutionAborted => {
                failure = Some((
                    event
                        .execution_aborted_event_details()
                        .and_then(|d| d.error())
                        .unwrap_or("ABORTED")
                        .to_owned(),
                    event
                        .execution_aborted_event_details()
                        .and_then(|d| d.cause())
                        .unwrap_or("stopped")
                        .to_owned(),
                ));
                None
            }
            T::ExecutionTimedOut => {
                failure = Some((
                    "States.Timeout".to_owned(),
                    "the execution ran past its TimeoutSeconds".to_owned(),
                ));
                None
            }
            _ => None,
        };
        if let Some((error, cause)) = error
            && let Some(step) = steps.last_mut()
        {
            step.error = Some(text(error));
            step.cause = Some(text(cause));
        }
    }
    (steps, failure)
}

fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_owned()
}
