//! A saga step's envelope and errors as its function serves them (`order_lambda::step`).

use chrono::{DateTime, Utc};
use order_lambda::billing::DeclineReason;
use order_lambda::money::{Currency, Money};
use order_lambda::order::OrderId;
use order_lambda::saga::{ChargePaymentInput, StepError};
use order_lambda::step::{StepCall, diagnostic};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::try_from("EUR").unwrap())
}

#[test]
fn step_errors_become_diagnostics_with_stable_types() {
    let d = diagnostic(StepError::PaymentDeclined(DeclineReason::NoAccount));
    assert_eq!(d.error_type, "PaymentDeclined");
    assert!(d.error_message.contains("NoAccount"));
    let d = diagnostic(StepError::Transient("throttled".into()));
    assert_eq!(d.error_type, "Transient");
}

#[test]
fn a_step_call_takes_the_correlation_id_off_and_parses_the_rest_strictly() {
    let order = OrderId::new_at(t0());
    let payload = |extra: (&str, serde_json::Value)| {
        let mut p = serde_json::json!({"orderId": order, "userId": "alice",
            "amount": {"amount": 100, "currency": "EUR"}});
        p[extra.0] = extra.1;
        p
    };
    let call =
        StepCall::<ChargePaymentInput>::parse(payload(("correlationId", "req-9".into()))).unwrap();
    assert_eq!(call.correlation_id, "req-9");
    assert_eq!(
        (call.scope.as_str(), call.order_id),
        ("alice", order.to_string())
    );
    assert_eq!(call.input.amount, eur(100));
    // Without one, the order id stands in; any other unknown field is still refused.
    let call = StepCall::<ChargePaymentInput>::parse(payload(("userId", "alice".into()))).unwrap();
    assert_eq!(call.correlation_id, order.to_string());
    let refused = StepCall::<ChargePaymentInput>::parse(payload(("surprise", 1.into())));
    assert_eq!(
        refused.err().map(|e| e.error_type),
        Some("InvalidInput".to_owned())
    );
}
