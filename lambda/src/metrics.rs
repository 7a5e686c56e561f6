//! Business metrics in CloudWatch's embedded metric format (EMF): one JSON object per line on
//! stdout, which CloudWatch Logs turns into metrics without any API call or IAM permission.
//!
//! Each object names its metrics and dimensions under `_aws` and carries their values as
//! top-level members; other top-level members (such as `orderId`) are plain properties,
//! searchable in Logs Insights but not dimensions.
//!
//! Emitting is the thin handlers' business, never the domain rules'.

use order_core::clock::{Clock, SystemClock};
use order_core::order::Outcome;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::io::Write;
use std::time::Instant;

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "OrderSaga";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub value: f64,
}

impl<'a> Metric<'a> {
    /// One occurrence of `name`.
    pub fn count(name: &'a str) -> Self {
        Self {
            name,
            unit: Unit::Count,
            value: 1.0,
        }
    }

    pub fn milliseconds(name: &'a str, value: f64) -> Self {
        Self {
            name,
            unit: Unit::Milliseconds,
            value,
        }
    }
}

/// What one EMF line says besides its namespace and time.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub metrics: Vec<Metric<'a>>,
    /// Dimensions besides `Service`, as name and value.
    pub dimensions: Vec<(&'a str, String)>,
    /// Top-level properties that are not dimensions, e.g. `orderId`.
    pub properties: Vec<(&'a str, String)>,
}

/// The namespace from `METRICS_NAMESPACE`, `OrderSaga` when unset or empty.
pub fn namespace() -> String {
    namespace_from(std::env::var("METRICS_NAMESPACE").ok())
}

fn namespace_from(value: Option<String>) -> String {
    value
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

/// The EMF object for `record`, with a `Service` dimension naming the emitting function.
/// Metric values are written after properties and dimension values after both, so a
/// property can never shadow a metric or a dimension.
pub fn build(namespace: &str, service: &str, clock: &dyn Clock, record: &Record<'_>) -> Value {
    let mut dimension_names = vec!["Service"];
    dimension_names.extend(record.dimensions.iter().map(|(name, _)| *name));
    let metrics: Vec<Value> = record
        .metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
        .collect();
    let mut object = Map::new();
    object.insert(
        "_aws".into(),
        json!({
            "Timestamp": clock.now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_names],
                "Metrics": metrics,
            }],
        }),
    );
    for (name, value) in &record.properties {
        object.insert((*name).into(), Value::String(value.clone()));
    }
    for metric in &record.metrics {
        object.insert(metric.name.into(), json!(metric.value));
    }
    object.insert("Service".into(), Value::String(service.to_owned()));
    for (name, value) in &record.dimensions {
        object.insert((*name).into(), Value::String(value.clone()));
    }
    Value::Object(object)
}

/// Set by `silence`: no EMF lines from this process.
static SILENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops this process writing EMF lines: the simulator (`sim/`) runs the handlers thousands of
/// times in one process, where no CloudWatch reads stdout. Functions never call it.
pub fn silence() {
    SILENT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Writes `record` as one EMF line on stdout, in a single locked write so that it is never
/// interleaved with the JSON log lines that share stdout.
pub fn emit(service: &str, record: &Record<'_>) {
    if SILENT.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut line = build(&namespace(), service, &SystemClock, record).to_string();
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    // A metric that cannot be written must not fail the invocation.
    let _ = stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush());
}

/// One `name` count for the order `order_id`, dimensioned by `Service` only.
pub fn emit_count(service: &str, name: &str, order_id: &str) {
    emit(
        service,
        &Record {
            metrics: vec![Metric::count(name)],
            dimensions: vec![],
            properties: vec![("orderId", order_id.to_owned())],
        },
    );
}

/// The reason dimension of an order cancelled without one.
pub const UNKNOWN_REASON: &str = "UNKNOWN";

/// `OrdersCompleted`, or `OrdersCancelled` by `Reason`, for an order's saga outcome.
pub fn outcome_record<'a>(order_id: &str, outcome: Outcome, reason: Option<&str>) -> Record<'a> {
    let (metric, dimensions) = match outcome {
        Outcome::Completed => ("OrdersCompleted", vec![]),
        Outcome::Cancelled => (
            "OrdersCancelled",
            vec![(
                "Reason",
                reason
                    .filter(|r| !r.is_empty())
                    .unwrap_or(UNKNOWN_REASON)
                    .to_owned(),
            )],
        ),
    };
    Record {
        metrics: vec![Metric::count(metric)],
        dimensions,
        properties: vec![("orderId", order_id.to_owned())],
    }
}

/// Emits the outcome of an order's saga: call it once, when the outcome is newly recorded.
pub fn emit_outcome(service: &str, order_id: &str, outcome: Outcome, reason: Option<&str>) {
    emit(service, &outcome_record(order_id, outcome, reason));
}

/// The `orderId` of a saga step's input, empty when absent.
pub fn order_id_of(payload: &Value) -> String {
    payload
        .get("orderId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The `StepLatency` record of a saga step that took `millis`.
pub fn step_latency<'a>(step: &'a str, order_id: &str, millis: f64) -> Record<'a> {
    Record {
        metrics: vec![Metric::milliseconds("StepLatency", millis)],
        dimensions: vec![("Step", step.to_owned())],
        properties: vec![("orderId", order_id.to_owned())],
    }
}

/// Runs a saga step's handler and emits its `StepLatency`, whether it succeeded or failed.
pub async fn timed_step<T>(step: &str, order_id: &str, handler: impl Future<Output = T>) -> T {
    let started = Instant::now();
    // Boxed: inlined into a step's handler, the nested futures (this, the fault wrapper, the
    // step) made an optimised build overflow rustc's layout query depth.
    let result = Box::pin(handler).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    emit(step, &step_latency(step, order_id, millis));
    // One line per step run, in the caller's span (order and correlation ids).
    tracing::info!(step, millis = millis.round(), "step finished");
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use order_core::clock::FixedClock;

    fn clock() -> FixedClock {
        FixedClock::at(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap())
    }

    /// The spec's rules: every metric named has a numeric top-level value, every dimension a
    /// string one, and `_aws` has a millisecond timestamp.
    fn assert_valid_emf(value: &Value) {
        let aws = &value["_aws"];
        assert!(aws["Timestamp"].is_i64(), "{value}");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert!(!directives.is_empty());
        for directive in directives {
            assert!(directive["Namespace"].is_string(), "{value}");
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(!set.is_empty() && set.len() <= 30);
                for name in set {
                    let name = name.as_str().unwrap();
                    assert!(value[name].is_string(), "dimension {name} in {value}");
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(value[name].is_number(), "metric {name} in {value}");
                assert!(metric["Unit"].is_string());
            }
        }
    }

    #[test]
    fn count_has_the_exact_structure() {
        let record = Record {
            metrics: vec![Metric::count("OrdersCreated")],
            dimensions: vec![],
            properties: vec![("orderId", "o-1".into())],
        };
        let value = build("OrderSaga", "create-order", &clock(), &record);
        assert_eq!(
            value,
            json!({
                "_aws": {
                    "Timestamp": 1_767_323_045_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "OrderSaga",
                        "Dimensions": [["Service"]],
                        "Metrics": [{"Name": "OrdersCreated", "Unit": "Count"}],
                    }],
                },
                "OrdersCreated": 1.0,
                "Service": "create-order",
                "orderId": "o-1",
            })
        );
        assert_valid_emf(&value);
    }

    #[test]
    fn extra_dimensions_join_service_in_one_set() {
        let record = Record {
            metrics: vec![Metric::count("OrdersCancelled")],
            dimensions: vec![("Reason", "OUT_OF_STOCK".into())],
            properties: vec![],
        };
        let value = build("Custom", "notify", &clock(), &record);
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Custom");
        assert_eq!(directive["Dimensions"], json!([["Service", "Reason"]]));
        assert_eq!(value["Reason"], "OUT_OF_STOCK");
        assert_eq!(value["Service"], "notify");
        assert_valid_emf(&value);
    }

    #[test]
    fn step_latency_is_milliseconds_with_a_step_dimension() {
        let value = build(
            "OrderSaga",
            "reserve-stock",
            &clock(),
            &step_latency("reserve-stock", "o-2", 12.5),
        );
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "StepLatency", "Unit": "Milliseconds"}])
        );
        assert_eq!(directive["Dimensions"], json!([["Service", "Step"]]));
        assert_eq!(value["StepLatency"], 12.5);
        assert_eq!(value["Step"], "reserve-stock");
        assert_eq!(value["orderId"], "o-2");
        assert_valid_emf(&value);
    }

    #[test]
    fn a_property_cannot_shadow_a_metric_or_dimension() {
        let record = Record {
            metrics: vec![Metric::count("OrdersCreated")],
            dimensions: vec![],
            properties: vec![("OrdersCreated", "x".into()), ("Service", "y".into())],
        };
        let value = build("OrderSaga", "create-order", &clock(), &record);
        assert_eq!(value["OrdersCreated"], 1.0);
        assert_eq!(value["Service"], "create-order");
        assert_valid_emf(&value);
    }

    #[test]
    fn serialises_to_one_line() {
        let value = build(
            "OrderSaga",
            "notify",
            &clock(),
            &step_latency("notify", "line\nbreak", 1.0),
        );
        assert!(!value.to_string().contains('\n'));
    }

    #[test]
    fn outcomes_count_completed_and_cancelled_by_reason() {
        let completed = build(
            "OrderSaga",
            "notify",
            &clock(),
            &outcome_record("o-4", Outcome::Completed, None),
        );
        assert_eq!(completed["OrdersCompleted"], 1.0);
        assert_eq!(
            completed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service"]])
        );
        assert_eq!(completed["orderId"], "o-4");
        assert_valid_emf(&completed);

        let cancelled = build(
            "OrderSaga",
            "notify",
            &clock(),
            &outcome_record("o-5", Outcome::Cancelled, Some("PAYMENT_DECLINED")),
        );
        assert_eq!(cancelled["OrdersCancelled"], 1.0);
        assert_eq!(cancelled["Reason"], "PAYMENT_DECLINED");
        assert_eq!(
            cancelled["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Reason"]])
        );
        assert_valid_emf(&cancelled);

        let unexplained = outcome_record("o-6", Outcome::Cancelled, None);
        assert_eq!(
            unexplained.dimensions,
            vec![("Reason", UNKNOWN_REASON.to_owned())]
        );
    }

    #[test]
    fn namespace_defaults_when_unset_or_blank() {
        assert_eq!(namespace_from(None), "OrderSaga");
        assert_eq!(namespace_from(Some(" ".into())), "OrderSaga");
        assert_eq!(namespace_from(Some("Other".into())), "Other");
    }

    #[test]
    fn order_id_comes_from_the_step_input() {
        assert_eq!(order_id_of(&json!({"orderId": "o-3"})), "o-3");
        assert_eq!(order_id_of(&json!({})), "");
    }
}
