//! The correlation id on the saga's side (see `order_http::correlation` for where it is born):
//! each step's input carries it in an envelope field, taken off before the step's own input is
//! parsed, and each step logs in a span that names it.

use serde_json::Value;
use tracing::Span;

/// Takes the envelope's `correlationId` off a saga step's input (the step's own input is
/// parsed strictly, without it); the order id when there is none.
pub fn take(payload: &mut Value) -> String {
    let taken = payload
        .as_object_mut()
        .and_then(|fields| fields.remove("correlationId"));
    match taken {
        Some(Value::String(id)) if !id.is_empty() => id,
        _ => payload["orderId"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The span a saga step or an event consumer logs in, from the ids in its input: `orderId`, and
/// `correlationId` (the order id when absent, as for an order created before correlation ids).
pub fn order_span(payload: &Value) -> Span {
    let order_id = payload["orderId"].as_str().unwrap_or_default();
    let correlation_id = payload["correlationId"].as_str().unwrap_or(order_id);
    tracing::info_span!("order", order_id, correlation_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_correlation_id_is_taken_off_its_input() {
        let mut input = serde_json::json!({"orderId": "o-1", "correlationId": "c-1", "lines": []});
        assert_eq!(take(&mut input), "c-1");
        assert_eq!(input, serde_json::json!({"orderId": "o-1", "lines": []}));
        let mut older = serde_json::json!({"orderId": "o-2"});
        assert_eq!(take(&mut older), "o-2");
    }
}
