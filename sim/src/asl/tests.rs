use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn load(definition: Value) -> Result<Definition, Refused> {
    Definition::load(&definition.to_string(), &HashMap::new())
}

/// Answers each call from a script, and remembers what it was called with.
struct Script {
    answers: RefCell<Vec<Result<Value, TaskError>>>,
    calls: RefCell<Vec<(String, Value)>>,
    took: Duration,
}

impl Script {
    fn new(answers: Vec<Result<Value, TaskError>>) -> Self {
        Self {
            answers: RefCell::new(answers),
            calls: RefCell::new(Vec::new()),
            took: Duration::milliseconds(10),
        }
    }
}

impl Resources for Script {
    async fn call(&self, resource: &str, input: Value, _context: &Value) -> Call {
        self.calls.borrow_mut().push((resource.to_owned(), input));
        let mut answers = self.answers.borrow_mut();
        let result = if answers.is_empty() {
            Ok(json!({}))
        } else {
            answers.remove(0)
        };
        Call {
            result,
            took: self.took,
        }
    }
}

async fn run(definition: &Definition, input: Value, script: &Script) -> (Outcome, Vec<String>) {
    let mut execution = Execution::start(
        definition,
        "arn:aws:states:us-east-1:1:stateMachine:m",
        "e-1",
        input,
        t0(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let outcome = execution.run(script, &mut rng).await.clone();
    let visited = execution
        .history()
        .iter()
        .map(|v| v.state.clone())
        .collect();
    (outcome, visited)
}

fn one_task(task: Value) -> Definition {
    let mut task = task;
    task["Type"] = json!("Task");
    task["Resource"] = json!("r");
    task["Next"] = json!("Done");
    load(json!({
        "StartAt": "T",
        "States": {
            "T": task,
            "Done": {"Type": "Succeed"},
            "Caught": {"Type": "Pass", "End": true},
        }
    }))
    .unwrap()
}

#[test]
fn paths_are_plain_fields_on_the_input_or_the_context() {
    let p = Path::parse("$.a.b").unwrap();
    assert_eq!(
        p.select(&json!({"a": {"b": 1}}), &json!({})),
        Some(&json!(1))
    );
    assert_eq!(p.select(&json!({"a": 1}), &json!({})), None);
    let c = Path::parse("$$.Execution.Id").unwrap();
    assert_eq!(
        c.select(&json!({}), &json!({"Execution": {"Id": "x"}})),
        Some(&json!("x"))
    );
    for refused in ["$.a[0]", "$..a", "$.*", "a.b", "$a"] {
        assert!(Path::parse(refused).is_err(), "{refused}");
    }
}

#[test]
fn states_format_fills_its_placeholders_in_order() {
    let t = Template::load(&json!({"pk.$": "States.Format('ORDER#{}/{}', $.id, $.n)"})).unwrap();
    assert_eq!(
        t.render(&json!({"id": "o-1", "n": 2}), &json!({})).unwrap(),
        json!({"pk": "ORDER#o-1/2"})
    );
    assert!(Template::load(&json!({"x.$": "States.Format('{}', $.a, $.b)"})).is_err());
    assert!(Template::load(&json!({"x.$": "States.JsonToString($.a)"})).is_err());
}

#[test]
fn a_missing_path_in_parameters_is_a_runtime_error() {
    let t = Template::load(&json!({"x.$": "$.missing"})).unwrap();
    let error = t.render(&json!({}), &json!({})).unwrap_err();
    assert_eq!(error.error, "States.Runtime");
}

#[test]
fn result_path_discards_replaces_or_sets_a_field() {
    let input = json!({"a": 1});
    assert_eq!(ResultPath::Discard.apply(&input, json!(2)).unwrap(), input);
    assert_eq!(
        ResultPath::At(vec![]).apply(&input, json!(2)).unwrap(),
        json!(2)
    );
    assert_eq!(
        ResultPath::At(vec!["b".into(), "c".into()])
            .apply(&input, json!(2))
            .unwrap(),
        json!({"a": 1, "b": {"c": 2}})
    );
    let into_number = ResultPath::At(vec!["a".into(), "c".into()]).apply(&input, json!(2));
    assert_eq!(into_number.unwrap_err().error, "States.Runtime");
}

#[test]
fn what_the_interpreter_does_not_know_is_refused() {
    let with = |state: Value| load(json!({"StartAt": "S", "States": {"S": state}}));
    assert!(with(json!({"Type": "Wait", "Seconds": 1, "End": true})).is_err());
    assert!(with(json!({"Type": "Pass", "End": true, "InputPath": "$.a"})).is_err());
    assert!(with(json!({"Type": "Pass", "Next": "Nowhere"})).is_err());
    assert!(with(json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "S"}]})).is_err());
    assert!(
        with(json!({"Type": "Task", "Resource": "r", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "S"}]}))
        .is_err()
    );
    assert!(with(json!({"Type": "Task", "Resource": "r", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}, {"ErrorEquals": ["X"], "Next": "S"}]})).is_err());
    let unreplaced = Definition::load(
        r#"{"StartAt":"S","States":{"S":{"Type":"Task","Resource":"${Fn}","End":true}}}"#,
        &HashMap::new(),
    );
    assert!(unreplaced.is_err());
}

#[tokio::test]
async fn a_retried_error_waits_its_backoff_on_the_virtual_clock_then_succeeds() {
    let definition = one_task(json!({
        "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}]
    }));
    let script = Script::new(vec![
        Err(TaskError::new("Transient", "1")),
        Err(TaskError::new("Transient", "2")),
        Ok(json!({"ok": true})),
    ]);
    let mut execution = Execution::start(&definition, "arn:m", "e", json!({}), t0());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let outcome = execution.run(&script, &mut rng).await.clone();
    assert_eq!(outcome, Outcome::Succeeded(json!({"ok": true})));
    // Three calls of 10 ms and waits of 1 s and 2 s (no jitter).
    assert_eq!(execution.now() - t0(), Duration::milliseconds(3_030));
}

#[tokio::test]
async fn full_jitter_waits_at_most_the_capped_delay_and_is_the_same_for_one_seed() {
    let definition = one_task(json!({
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 10,
                   "MaxAttempts": 2, "MaxDelaySeconds": 15, "JitterStrategy": "FULL"}]
    }));
    let mut waits = Vec::new();
    for _ in 0..2 {
        let script = Script::new(vec![
            Err(TaskError::new("X", "")),
            Err(TaskError::new("X", "")),
            Ok(json!(1)),
        ]);
        let mut execution = Execution::start(&definition, "arn:m", "e", json!({}), t0());
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        execution.run(&script, &mut rng).await;
        waits.push(execution.now() - t0() - Duration::milliseconds(30));
    }
    assert_eq!(waits[0], waits[1], "one seed, one run");
    assert!(waits[0] <= Duration::seconds(10 + 15), "{:?}", waits[0]);
}

#[tokio::test]
async fn retries_run_out_then_the_first_matching_catcher_takes_the_error() {
    let definition = one_task(json!({
        "Retry": [{"ErrorEquals": ["Transient"], "MaxAttempts": 1}],
        "Catch": [{"ErrorEquals": ["Other"], "Next": "Done"},
                  {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}]
    }));
    let script = Script::new(vec![
        Err(TaskError::new("Transient", "a")),
        Err(TaskError::new("Transient", "b")),
    ]);
    let (outcome, visited) = run(&definition, json!({"x": 1}), &script).await;
    assert_eq!(
        outcome,
        Outcome::Succeeded(json!({"x": 1, "error": {"Error": "Transient", "Cause": "b"}}))
    );
    assert_eq!(visited, ["T", "Caught"]);
    assert_eq!(script.calls.borrow().len(), 2);
}

#[tokio::test]
async fn task_failed_does_not_match_a_timeout_and_all_does_not_match_a_runtime_error() {
    let definition = one_task(json!({
        "TimeoutSeconds": 1,
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]
    }));
    let mut script = Script::new(vec![Ok(json!(1))]);
    script.took = Duration::seconds(2);
    let (outcome, _) = run(&definition, json!({}), &script).await;
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.error == "States.Timeout"),
        "{outcome:?}"
    );

    let definition = one_task(json!({
        "Parameters": {"x.$": "$.missing"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    }));
    let script = Script::new(vec![]);
    let (outcome, _) = run(&definition, json!({}), &script).await;
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.error == "States.Runtime"),
        "{outcome:?}"
    );
    assert!(
        script.calls.borrow().is_empty(),
        "the task was never called"
    );
}

#[tokio::test]
async fn a_choice_stops_at_its_first_deciding_rule_and_fails_without_a_match() {
    let definition = load(json!({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.cancel", "IsPresent": true},
                         {"Variable": "$.cancel", "BooleanEquals": true}], "Next": "Yes"},
                {"Variable": "$.kind", "StringEquals": "a", "Next": "Yes"}
            ]},
            "Yes": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    let script = Script::new(vec![]);
    let (outcome, _) = run(&definition, json!({"cancel": true}), &script).await;
    assert_eq!(outcome, Outcome::Succeeded(json!({"cancel": true})));
    let (outcome, _) = run(&definition, json!({"kind": "b"}), &script).await;
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.error == "States.NoChoiceMatched"),
        "{outcome:?}"
    );
    // A comparison on a missing path is a runtime error, not a false.
    let (outcome, _) = run(&definition, json!({}), &script).await;
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.error == "States.Runtime"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_machines_timeout_ends_the_execution() {
    let mut definition = one_task(json!({
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 5}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    }));
    definition.timeout = Some(Duration::seconds(150));
    let script = Script::new((0..6).map(|_| Err(TaskError::new("X", ""))).collect());
    let (outcome, _) = run(&definition, json!({}), &script).await;
    assert_eq!(outcome, Outcome::TimedOut);
}

#[tokio::test]
async fn an_express_execution_stops_at_its_limit_before_the_machines_timeout() {
    let mut definition = one_task(json!({
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 100, "MaxAttempts": 5}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    }));
    definition.timeout = Some(Duration::seconds(1200));
    let script = Script::new((0..6).map(|_| Err(TaskError::new("X", ""))).collect());
    let mut execution = Execution::start(
        &definition,
        "arn:aws:states:us-east-1:1:stateMachine:m",
        "e-1",
        json!({}),
        t0(),
    )
    .with_limit(Duration::seconds(300));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    assert_eq!(*execution.run(&script, &mut rng).await, Outcome::TimedOut);
    // Its retries ran until the limit (100 + 200 s of waits), not to the Catch.
    assert!(execution.now() - t0() <= Duration::seconds(400));
}

#[tokio::test]
async fn a_loop_fails_the_execution_at_the_history_quota() {
    let definition = load(json!({
        "StartAt": "Again",
        "States": {"Again": {"Type": "Pass", "Next": "Again"}}
    }))
    .unwrap();
    let (outcome, visited) = run(&definition, json!({}), &Script::new(vec![])).await;
    assert!(
        matches!(outcome, Outcome::Failed(ref e) if e.error == "States.Runtime" && e.cause.contains("25000")),
        "{outcome:?}"
    );
    // Two events (entered, exited) per Pass.
    assert_eq!(visited.len(), 12_500);
}

#[test]
fn the_sagas_definition_loads() {
    let text = include_str!("../../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &crate::cloud::substitutions()).unwrap();
    assert!(definition.state_names().any(|s| s == "ReserveStock"));
}
