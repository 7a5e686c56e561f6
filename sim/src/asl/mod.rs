//! An interpreter of the Amazon States Language, as much of it as `order-saga.asl.json` uses,
//! on a virtual clock. It refuses a definition that uses anything else rather than guess.
//!
//! What it implements, and where AWS documents it:
//! - States `Task`, `Pass`, `Choice`, `Succeed`, `Fail`; `Next`/`End`; the machine's
//!   `TimeoutSeconds` (the execution times out) —
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html>.
//! - `Parameters` and `ResultSelector` (fields ending in `.$` take a path or an intrinsic),
//!   `ResultPath` (`null` discards the result, `$` replaces the input, `$.a.b` sets a field,
//!   making the objects on the way), no `InputPath`/`OutputPath` (the definition uses neither;
//!   their default is `$`) —
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html>.
//!   A path that selects nothing fails the execution with `States.Runtime`.
//! - Paths `$`, `$.a.b` and the context object `$$.Execution.Id`, `$$.Execution.Name`,
//!   `$$.Execution.StartTime`, `$$.State.Name`, `$$.State.EnteredTime`, `$$.State.RetryCount`
//!   — <https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html>.
//!   Anything else in a path (`[`, `*`, `..`) is refused at load.
//! - The intrinsic `States.Format` —
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html>.
//! - Choice rules `And`, `Or`, `Not`, `IsPresent`, `BooleanEquals`, `StringEquals`; a comparison
//!   on a path that selects nothing is `States.Runtime`; `And`/`Or` stop at the first rule that
//!   decides them (the definition guards a comparison with `IsPresent` in the same `And`); no
//!   rule matching and no `Default` is `States.NoChoiceMatched` —
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html>.
//! - `Retry` (`ErrorEquals`, `IntervalSeconds` 1, `MaxAttempts` 3, `BackoffRate` 2 by default,
//!   `MaxDelaySeconds`, `JitterStrategy` `FULL`: a delay drawn uniformly from zero to the
//!   computed one) and `Catch` (`ErrorEquals`, `ResultPath`, `Next`; the error output is
//!   `{"Error", "Cause"}`); `States.ALL` matches every error but `States.Runtime`, and must be
//!   alone and last; `States.TaskFailed` matches every error but `States.Timeout` (and
//!   `States.Runtime`); retriers count their attempts separately; a Task's `TimeoutSeconds`
//!   turns a call that took longer into `States.Timeout` —
//!   <https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html>.
//!
//! Time never passes on its own: a task says how long it took, a retry's delay is added, and
//! both move the execution's clock. The jitter is drawn from the caller's seeded generator, so
//! one seed is one run.

mod path;
mod template;

pub use path::Path;
use template::Template;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

/// Why a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(message: impl Into<String>) -> Refused {
    Refused(message.into())
}

/// An error a state raised: its name (`States.Timeout`, `OutOfStock`, ...) and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    fn runtime(cause: impl Into<String>) -> Self {
        Self::new(RUNTIME, cause)
    }
}

const ALL: &str = "States.ALL";
const TASK_FAILED: &str = "States.TaskFailed";
const TIMEOUT: &str = "States.Timeout";
const RUNTIME: &str = "States.Runtime";
const NO_CHOICE: &str = "States.NoChoiceMatched";

/// What one call of a task resource did: its result or error, and how long it took.
#[derive(Debug, Clone)]
pub struct Call {
    pub result: Result<Value, TaskError>,
    pub took: Duration,
}

/// Where tasks go: the resource (an ARN after the definition's substitutions), the task's
/// input after `Parameters`, and the context the call is made in.
pub trait Resources {
    fn call(&self, resource: &str, input: Value, context: &Value) -> impl Future<Output = Call>;
}

/// A loaded definition.
#[derive(Debug, Clone)]
pub struct Definition {
    start_at: String,
    timeout: Option<Duration>,
    states: BTreeMap<String, State>,
}

#[derive(Debug, Clone)]
enum State {
    Task(Box<TaskState>),
    Pass {
        result: Option<Value>,
        parameters: Option<Template>,
        result_path: ResultPath,
        next: Next,
    },
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Succeed,
    Fail {
        error: String,
        cause: String,
    },
}

#[derive(Debug, Clone)]
struct TaskState {
    resource: String,
    parameters: Option<Template>,
    result_selector: Option<Template>,
    result_path: ResultPath,
    timeout: Option<Duration>,
    retry: Vec<Retrier>,
    catch: Vec<Catcher>,
    next: Next,
}

#[derive(Debug, Clone)]
enum Next {
    State(String),
    End,
}

#[derive(Debug, Clone)]
enum ResultPath {
    Discard,
    At(Vec<String>),
}

#[derive(Debug, Clone)]
struct Retrier {
    errors: Vec<String>,
    interval: f64,
    max_attempts: u32,
    backoff: f64,
    max_delay: Option<f64>,
    full_jitter: bool,
}

#[derive(Debug, Clone)]
struct Catcher {
    errors: Vec<String>,
    result_path: ResultPath,
    next: String,
}

#[derive(Debug, Clone)]
enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    IsPresent(Path, bool),
    BooleanEquals(Path, bool),
    StringEquals(Path, String),
}

// What the definition's JSON may hold: anything else is refused (`deny_unknown_fields`).

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawDefinition {
    #[serde(default)]
    comment: Option<String>,
    start_at: String,
    #[serde(default)]
    timeout_seconds: Option<u32>,
    states: BTreeMap<String, RawState>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawState {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    result_selector: Option<Value>,
    #[serde(default)]
    result: Option<Value>,
    // `ResultPath: null` differs from no ResultPath, so it is read as raw JSON.
    #[serde(default, deserialize_with = "present")]
    result_path: Option<Value>,
    #[serde(default)]
    timeout_seconds: Option<u32>,
    #[serde(default)]
    retry: Vec<RawRetrier>,
    #[serde(default)]
    catch: Vec<RawCatcher>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    choices: Vec<Value>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

/// A field that is there, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRetrier {
    error_equals: Vec<String>,
    #[serde(default)]
    interval_seconds: Option<f64>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    backoff_rate: Option<f64>,
    #[serde(default)]
    max_delay_seconds: Option<f64>,
    #[serde(default)]
    jitter_strategy: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawCatcher {
    error_equals: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    result_path: Option<Value>,
    next: String,
    #[serde(default)]
    comment: Option<String>,
}

impl Definition {
    /// Loads `text`, first replacing each `${Key}` by its value in `substitutions` (as the
    /// template's `DefinitionSubstitutions` do); a placeholder left unreplaced is refused.
    pub fn load(text: &str, substitutions: &HashMap<String, String>) -> Result<Self, Refused> {
        let mut text = text.to_owned();
        for (key, value) in substitutions {
            text = text.replace(&format!("${{{key}}}"), value);
        }
        if let Some(at) = text.find("${") {
            let name: String = text[at..].chars().take_while(|c| *c != '}').collect();
            return Err(refused(format!("no substitution for {name}}}")));
        }
        let raw: RawDefinition = serde_json::from_str(&text)
            .map_err(|e| refused(format!("not a definition this interpreter knows: {e}")))?;
        let _ = raw.comment;
        let mut states = BTreeMap::new();
        for (name, state) in raw.states {
            let state = State::load(&name, state)?;
            states.insert(name, state);
        }
        let definition = Self {
            start_at: raw.start_at,
            timeout: raw.timeout_seconds.map(|s| Duration::seconds(s.into())),
            states,
        };
        definition.check_targets()?;
        Ok(definition)
    }

    fn check_targets(&self) -> Result<(), Refused> {
        let known = |target: &str, from: &str| {
            if self.states.contains_key(target) {
                Ok(())
            } else {
                Err(refused(format!(
                    "{from} goes to {target}, which is not a state"
                )))
            }
        };
        known(&self.start_at, "StartAt")?;
        for (name, state) in &self.states {
            match state {
                State::Task(task) => {
                    if let Next::State(next) = &task.next {
                        known(next, name)?;
                    }
                    for catcher in &task.catch {
                        known(&catcher.next, name)?;
                    }
                }
                State::Pass {
                    next: Next::State(next),
                    ..
                } => known(next, name)?,
                State::Choice { choices, default } => {
                    for (_, next) in choices {
                        known(next, name)?;
                    }
                    if let Some(next) = default {
                        known(next, name)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The names of the states, for reports.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }
}

impl State {
    fn load(name: &str, raw: RawState) -> Result<Self, Refused> {
        let at = |what: &str| refused(format!("{name}: {what}"));
        let _ = &raw.comment;
        let only = |allowed: &[&str], raw: &RawState| -> Result<(), Refused> {
            let used = [
                ("Resource", raw.resource.is_some()),
                ("Parameters", raw.parameters.is_some()),
                ("ResultSelector", raw.result_selector.is_some()),
                ("Result", raw.result.is_some()),
                ("ResultPath", raw.result_path.is_some()),
                ("TimeoutSeconds", raw.timeout_seconds.is_some()),
                ("Retry", !raw.retry.is_empty()),
                ("Catch", !raw.catch.is_empty()),
                ("Next", raw.next.is_some()),
                ("End", raw.end.is_some()),
                ("Choices", !raw.choices.is_empty()),
                ("Default", raw.default.is_some()),
                ("Error", raw.error.is_some()),
                ("Cause", raw.cause.is_some()),
            ];
            match used.iter().find(|(f, set)| *set && !allowed.contains(f)) {
                Some((field, _)) => Err(at(&format!("{field} is not allowed in a {}", raw.kind))),
                None => Ok(()),
            }
        };
        let next = |raw: &RawState| -> Result<Next, Refused> {
            match (&raw.next, raw.end) {
                (Some(next), None | Some(false)) => Ok(Next::State(next.clone())),
                (None, Some(true)) => Ok(Next::End),
                _ => Err(at("needs exactly one of Next and End: true")),
            }
        };
        Ok(match raw.kind.as_str() {
            "Task" => {
                only(
                    &[
                        "Resource",
                        "Parameters",
                        "ResultSelector",
                        "ResultPath",
                        "TimeoutSeconds",
                        "Retry",
                        "Catch",
                        "Next",
                        "End",
                    ],
                    &raw,
                )?;
                let resource = raw
                    .resource
                    .clone()
                    .ok_or_else(|| at("a Task needs a Resource"))?;
                let retry = raw
                    .retry
                    .iter()
                    .map(|r| Retrier::load(name, r))
                    .collect::<Result<Vec<_>, _>>()?;
                let catch = raw
                    .catch
                    .iter()
                    .map(|c| {
                        let _ = &c.comment;
                        Ok(Catcher {
                            errors: error_names(name, &c.error_equals)?,
                            result_path: ResultPath::load(name, c.result_path.as_ref())?,
                            next: c.next.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, Refused>>()?;
                last_if_all(name, catch.iter().map(|c| &c.errors))?;
                last_if_all(name, retry.iter().map(|r| &r.errors))?;
                State::Task(Box::new(TaskState {
                    resource,
                    parameters: raw.parameters.as_ref().map(Template::load).transpose()?,
                    result_selector: raw
                        .result_selector
                        .as_ref()
                        .map(Template::load)
                        .transpose()?,
                    result_path: ResultPath::load(name, raw.result_path.as_ref())?,
                    timeout: raw.timeout_seconds.map(|s| Duration::seconds(s.into())),
                    retry,
                    catch,
                    next: next(&raw)?,
                }))
            }
            "Pass" => {
                only(&["Result", "Parameters", "ResultPath", "Next", "End"], &raw)?;
                State::Pass {
                    result: raw.result.clone(),
                    parameters: raw.parameters.as_ref().map(Template::load).transpose()?,
                    result_path: ResultPath::load(name, raw.result_path.as_ref())?,
                    next: next(&raw)?,
                }
            }
            "Choice" => {
                only(&["Choices", "Default"], &raw)?;
                let choices = raw
                    .choices
                    .iter()
                    .map(|c| {
                        let next = c
                            .get("Next")
                            .and_then(Value::as_str)
                            .ok_or_else(|| at("a choice rule needs Next"))?;
                        Ok((Rule::load(name, c, true)?, next.to_owned()))
                    })
                    .collect::<Result<Vec<_>, Refused>>()?;
                State::Choice {
                    choices,
                    default: raw.default.clone(),
                }
            }
            "Succeed" => {
                only(&[], &raw)?;
                State::Succeed
            }
            "Fail" => {
                only(&["Error", "Cause"], &raw)?;
                State::Fail {
                    error: raw.error.clone().unwrap_or_default(),
                    cause: raw.cause.clone().unwrap_or_default(),
                }
            }
            other => return Err(at(&format!("state type {other} is not supported"))),
        })
    }
}

fn error_names(state: &str, names: &[String]) -> Result<Vec<String>, Refused> {
    if names.is_empty() {
        return Err(refused(format!("{state}: ErrorEquals is empty")));
    }
    if names.iter().any(|n| n == ALL) && names.len() > 1 {
        return Err(refused(format!(
            "{state}: States.ALL must be alone in ErrorEquals"
        )));
    }
    Ok(names.to_vec())
}

fn last_if_all<'a>(
    state: &str,
    mut lists: impl Iterator<Item = &'a Vec<String>>,
) -> Result<(), Refused> {
    let mut seen_all = false;
    lists.try_for_each(|errors| {
        if seen_all {
            return Err(refused(format!("{state}: States.ALL must be the last")));
        }
        seen_all = errors.iter().any(|e| e == ALL);
        Ok(())
    })
}

impl Retrier {
    fn load(state: &str, raw: &RawRetrier) -> Result<Self, Refused> {
        let _ = &raw.comment;
        let full_jitter = match raw.jitter_strategy.as_deref() {
            None | Some("NONE") => false,
            Some("FULL") => true,
            Some(other) => {
                return Err(refused(format!(
                    "{state}: JitterStrategy {other} is not known"
                )));
            }
        };
        Ok(Self {
            errors: error_names(state, &raw.error_equals)?,
            interval: raw.interval_seconds.unwrap_or(1.0),
            max_attempts: raw.max_attempts.unwrap_or(3),
            backoff: raw.backoff_rate.unwrap_or(2.0),
            max_delay: raw.max_delay_seconds,
            full_jitter,
        })
    }
}

impl ResultPath {
    fn load(state: &str, raw: Option<&Value>) -> Result<Self, Refused> {
        match raw {
            None => Ok(Self::At(Vec::new())),
            Some(Value::Null) => Ok(Self::Discard),
            Some(Value::String(path)) => {
                let path = Path::parse(path).map_err(|e| refused(format!("{state}: {e}")))?;
                if path.context {
                    return Err(refused(format!("{state}: ResultPath cannot be in $$")));
                }
                Ok(Self::At(path.fields))
            }
            Some(other) => Err(refused(format!(
                "{state}: ResultPath {other} is not a path"
            ))),
        }
    }

    /// The state's output: `input` with `result` placed at this path.
    fn apply(&self, input: &Value, result: Value) -> Result<Value, TaskError> {
        let fields = match self {
            Self::Discard => return Ok(input.clone()),
            Self::At(fields) if fields.is_empty() => return Ok(result),
            Self::At(fields) => fields,
        };
        let mut output = input.clone();
        let mut at = &mut output;
        for field in &fields[..fields.len() - 1] {
            let object = at.as_object_mut().ok_or_else(|| {
                TaskError::runtime(format!(
                    "ResultPath: {field} is inside a value that is not an object"
                ))
            })?;
            at = object
                .entry(field.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let object = at.as_object_mut().ok_or_else(|| {
            TaskError::runtime("ResultPath: the last field is inside a value that is not an object")
        })?;
        object.insert(fields[fields.len() - 1].clone(), result);
        Ok(output)
    }
}

impl Rule {
    fn load(state: &str, raw: &Value, top: bool) -> Result<Self, Refused> {
        let at = |what: String| refused(format!("{state}: {what}"));
        let object = raw
            .as_object()
            .ok_or_else(|| at("a choice rule is not an object".into()))?;
        let allowed_extra: &[&str] = if top { &["Next"] } else { &[] };
        let list = |key: &str| -> Result<Vec<Rule>, Refused> {
            object
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| at(format!("{key} needs a list of rules")))?
                .iter()
                .map(|r| Rule::load(state, r, false))
                .collect()
        };
        let check_keys = |keys: &[&str]| -> Result<(), Refused> {
            match object
                .keys()
                .find(|k| !keys.contains(&k.as_str()) && !allowed_extra.contains(&k.as_str()))
            {
                Some(k) => Err(at(format!("choice field {k} is not supported"))),
                None => Ok(()),
            }
        };
        if object.contains_key("And") {
            check_keys(&["And"])?;
            return Ok(Self::And(list("And")?));
        }
        if object.contains_key("Or") {
            check_keys(&["Or"])?;
            return Ok(Self::Or(list("Or")?));
        }
        if let Some(inner) = object.get("Not") {
            check_keys(&["Not"])?;
            return Ok(Self::Not(Box::new(Rule::load(state, inner, false)?)));
        }
        let variable = object
            .get("Variable")
            .and_then(Value::as_str)
            .ok_or_else(|| at("a choice rule needs Variable".into()))?;
        let variable = Path::parse(variable).map_err(|e| at(e.to_string()))?;
        let comparisons: Vec<&String> = object
            .keys()
            .filter(|k| *k != "Variable" && !allowed_extra.contains(&k.as_str()))
            .collect();
        let [op] = comparisons.as_slice() else {
            return Err(at("a choice rule needs exactly one comparison".into()));
        };
        let value = &object[op.as_str()];
        let boolean = || {
            value
                .as_bool()
                .ok_or_else(|| at(format!("{op} needs true or false")))
        };
        Ok(match op.as_str() {
            "IsPresent" => Self::IsPresent(variable, boolean()?),
            "BooleanEquals" => Self::BooleanEquals(variable, boolean()?),
            "StringEquals" => Self::StringEquals(
                variable,
                value
                    .as_str()
                    .ok_or_else(|| at("StringEquals needs a string".into()))?
                    .to_owned(),
            ),
            other => return Err(at(format!("choice comparison {other} is not supported"))),
        })
    }

    fn matches(&self, input: &Value, context: &Value) -> Result<bool, TaskError> {
        let read = |path: &Path| {
            path.select(input, context)
                .ok_or_else(|| TaskError::runtime(format!("Invalid path '{path}': the choice state's condition path references an undefined value")))
        };
        Ok(match self {
            Self::And(rules) => {
                for rule in rules {
                    if !rule.matches(input, context)? {
                        return Ok(false);
                    }
                }
                true
            }
            Self::Or(rules) => {
                for rule in rules {
                    if rule.matches(input, context)? {
                        return Ok(true);
                    }
                }
                false
            }
            Self::Not(rule) => !rule.matches(input, context)?,
            Self::IsPresent(path, want) => path.select(input, context).is_some() == *want,
            Self::BooleanEquals(path, want) => read(path)?.as_bool() == Some(*want),
            Self::StringEquals(path, want) => read(path)?.as_str() == Some(want.as_str()),
        })
    }
}

fn matches_error(names: &[String], error: &str) -> bool {
    if error == RUNTIME {
        return false;
    }
    names
        .iter()
        .any(|name| name == error || name == ALL || (name == TASK_FAILED && error != TIMEOUT))
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    Failed(TaskError),
    /// The machine's `TimeoutSeconds` passed.
    TimedOut,
}

/// One state the execution went through, for reports and replays.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub state: String,
    pub entered: DateTime<Utc>,
}

/// A running execution: one state at a time (`step`), so a scheduler can interleave many.
pub struct Execution<'d> {
    definition: &'d Definition,
    name: String,
    arn: String,
    started: DateTime<Utc>,
    input: Value,
    now: DateTime<Utc>,
    at: Option<String>,
    data: Value,
    outcome: Option<Outcome>,
    history: Vec<Visit>,
    /// A Task between two attempts: its retriers' counts and when the state was entered.
    retrying: Option<Retrying>,
    /// The workflow type's own limit on a run, when it has one (EXPRESS: five minutes).
    limit: Option<Duration>,
    /// History events so far, and the quota on them (STANDARD: 25,000; EXPRESS keeps none).
    events: usize,
    history_quota: Option<usize>,
}

/// A STANDARD execution's history holds at most 25,000 events; one that would pass it fails
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>). Counted as
/// AWS writes them: a state's entry and exit, and a Task attempt's scheduled, started and
/// succeeded or failed events.
pub const HISTORY_QUOTA: usize = 25_000;

#[derive(Debug, Clone)]
struct Retrying {
    attempts: Vec<u32>,
    retries: u32,
    entered: DateTime<Utc>,
}

/// What one attempt of a Task came to.
enum Attempt {
    Done(Result<Value, TaskError>),
    /// A retrier took the error: the state runs again after its delay.
    Again(Retrying),
}

impl<'d> Execution<'d> {
    pub fn start(
        definition: &'d Definition,
        state_machine_arn: &str,
        name: &str,
        input: Value,
        now: DateTime<Utc>,
    ) -> Self {
        let arn = format!(
            "{}:{name}",
            state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
        );
        Self {
            definition,
            name: name.to_owned(),
            arn,
            started: now,
            now,
            at: Some(definition.start_at.clone()),
            data: input.clone(),
            input,
            outcome: None,
            history: Vec::new(),
            retrying: None,
            limit: None,
            events: 0,
            history_quota: Some(HISTORY_QUOTA),
        }
    }

    /// Stops the execution once it has run `limit`, whatever the definition's TimeoutSeconds:
    /// an EXPRESS workflow runs at most five minutes
    /// (<https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html>) and
    /// then ends as a timed-out execution, its state machine's Catch unasked. It keeps no
    /// execution history, so the history quota does not apply.
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self.history_quota = None;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Moves the execution's clock on to `now` if it is behind: the scheduler's time passed
    /// while other executions ran.
    pub fn catch_up(&mut self, now: DateTime<Utc>) {
        self.now = self.now.max(now);
    }

    pub fn history(&self) -> &[Visit] {
        &self.history
    }

    /// Runs the execution to its end.
    pub async fn run(&mut self, resources: &impl Resources, rng: &mut impl Rng) -> &Outcome {
        while self.outcome.is_none() {
            self.step(resources, rng).await;
        }
        self.outcome.get_or_insert(Outcome::TimedOut)
    }

    /// Runs the current state, then stops at the next one; a Task runs one attempt, and stops at
    /// itself when a retrier takes its error (the delay is on the clock).
    pub async fn step(&mut self, resources: &impl Resources, rng: &mut impl Rng) {
        let Some(name) = self.at.take() else { return };
        if self.timed_out() {
            self.outcome = Some(Outcome::TimedOut);
            return;
        }
        let Some(state) = self.definition.states.get(&name) else {
            self.fail(TaskError::runtime(format!("no state {name}")));
            return;
        };
        self.events += if self.retrying.is_none() { 2 } else { 0 };
        self.events += if matches!(state, State::Task(_)) {
            3
        } else {
            0
        };
        if self.history_quota.is_some_and(|quota| self.events > quota) {
            self.fail(TaskError::runtime(format!(
                "the execution's history passed the quota of {HISTORY_QUOTA} events"
            )));
            return;
        }
        let entered = match &self.retrying {
            Some(retrying) => retrying.entered,
            None => {
                self.history.push(Visit {
                    state: name.clone(),
                    entered: self.now,
                });
                self.now
            }
        };
        let input = std::mem::take(&mut self.data);
        match state {
            State::Succeed => self.outcome = Some(Outcome::Succeeded(input)),
            State::Fail { error, cause } => self.fail(TaskError::new(error, cause)),
            State::Pass {
                result,
                parameters,
                result_path,
                next,
            } => {
                let context = self.context(&name, entered, 0);
                let result = match (parameters, result) {
                    (Some(parameters), _) => parameters.render(&input, &context),
                    (None, Some(result)) => Ok(result.clone()),
                    (None, None) => Ok(input.clone()),
                };
                match result.and_then(|r| result_path.apply(&input, r)) {
                    Ok(output) => self.go(next, output),
                    Err(e) => self.fail(e),
                }
            }
            State::Choice { choices, default } => {
                let context = self.context(&name, entered, 0);
                let mut chosen = None;
                for (rule, next) in choices {
                    match rule.matches(&input, &context) {
                        Ok(true) => {
                            chosen = Some(next.clone());
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => return self.fail(e),
                    }
                }
                match chosen.or_else(|| default.clone()) {
                    Some(next) => {
                        self.data = input;
                        self.at = Some(next);
                    }
                    None => self.fail(TaskError::new(
                        NO_CHOICE,
                        format!("{name}: no rule matched"),
                    )),
                }
            }
            State::Task(task) => {
                let progress = self.retrying.take().unwrap_or_else(|| Retrying {
                    attempts: vec![0; task.retry.len()],
                    retries: 0,
                    entered,
                });
                let output = match self
                    .attempt(&name, task, &input, progress, resources, rng)
                    .await
                {
                    Attempt::Again(progress) => {
                        if self.timed_out() {
                            self.outcome = Some(Outcome::TimedOut);
                        } else {
                            self.retrying = Some(progress);
                            self.data = input;
                            self.at = Some(name);
                        }
                        return;
                    }
                    Attempt::Done(output) => output,
                };
                if self.timed_out() {
                    // The machine's own timeout ends the execution; no Catch sees it.
                    self.outcome = Some(Outcome::TimedOut);
                    return;
                }
                match output {
                    Ok(output) => self.go(&task.next, output),
                    Err(error) if error.error == RUNTIME => self.fail(error),
                    Err(error) => match task
                        .catch
                        .iter()
                        .find(|c| matches_error(&c.errors, &error.error))
                    {
                        Some(catcher) => {
                            let caught = json!({ "Error": error.error, "Cause": error.cause });
                            match catcher.result_path.apply(&input, caught) {
                                Ok(output) => {
                                    self.data = output;
                                    self.at = Some(catcher.next.clone());
                                }
                                Err(e) => self.fail(e),
                            }
                        }
                        None => self.fail(error),
                    },
                }
            }
        }
    }

    /// One call of a Task: its output, the error left when no retrier takes it, or another
    /// attempt after the retrier's delay.
    async fn attempt(
        &mut self,
        name: &str,
        task: &TaskState,
        input: &Value,
        mut progress: Retrying,
        resources: &impl Resources,
        rng: &mut impl Rng,
    ) -> Attempt {
        let context = self.context(name, progress.entered, progress.retries);
        let call_input = match &task.parameters {
            Some(parameters) => match parameters.render(input, &context) {
                Ok(rendered) => rendered,
                Err(e) => return Attempt::Done(Err(e)),
            },
            None => input.clone(),
        };
        let call = resources.call(&task.resource, call_input, &context).await;
        // A call that runs past the Task's TimeoutSeconds is abandoned then: the execution waits
        // no longer than that (the call may still finish, and commit, later).
        self.now += task.timeout.map_or(call.took, |limit| call.took.min(limit));
        let result = match task.timeout {
            Some(limit) if call.took > limit => Err(TaskError::new(
                TIMEOUT,
                format!("{name} ran longer than {} s", limit.num_seconds()),
            )),
            _ => call.result,
        };
        let error = match result {
            Ok(result) => {
                let result = match &task.result_selector {
                    Some(selector) => selector.render(&result, &context),
                    None => Ok(result),
                };
                return Attempt::Done(result.and_then(|r| task.result_path.apply(input, r)));
            }
            Err(error) => error,
        };
        if error.error == RUNTIME {
            return Attempt::Done(Err(error));
        }
        let Some(index) = task
            .retry
            .iter()
            .position(|r| matches_error(&r.errors, &error.error))
        else {
            return Attempt::Done(Err(error));
        };
        let retrier = &task.retry[index];
        if progress.attempts[index] >= retrier.max_attempts {
            return Attempt::Done(Err(error));
        }
        let exponent = i32::try_from(progress.attempts[index]).unwrap_or(i32::MAX);
        let mut delay = retrier.interval * retrier.backoff.powi(exponent);
        if let Some(cap) = retrier.max_delay {
            delay = delay.min(cap);
        }
        if retrier.full_jitter {
            delay = rng.random_range(0.0..=delay);
        }
        progress.attempts[index] += 1;
        progress.retries += 1;
        self.now += Duration::milliseconds((delay * 1000.0).round() as i64);
        Attempt::Again(progress)
    }

    fn go(&mut self, next: &Next, output: Value) {
        match next {
            Next::State(next) => {
                self.data = output;
                self.at = Some(next.clone());
            }
            Next::End => self.outcome = Some(Outcome::Succeeded(output)),
        }
    }

    fn fail(&mut self, error: TaskError) {
        self.at = None;
        self.outcome = Some(Outcome::Failed(error));
    }

    fn timed_out(&self) -> bool {
        [self.definition.timeout, self.limit]
            .into_iter()
            .flatten()
            .any(|limit| self.now - self.started > limit)
    }

    fn context(&self, state: &str, entered: DateTime<Utc>, retries: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.arn,
                "Name": self.name,
                "StartTime": self.started.to_rfc3339_opts(SecondsFormat::Millis, true),
                "Input": self.input,
            },
            "State": {
                "Name": state,
                "EnteredTime": entered.to_rfc3339_opts(SecondsFormat::Millis, true),
                "RetryCount": retries,
            },
        })
    }
}

#[cfg(test)]
mod tests;
