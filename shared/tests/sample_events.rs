//! The sample events in `events/` stay in step with the code: each parses as its function's
//! input, and the HTTP ones carry a caller the API accepts.

use shared::api::{self, OrdersApi};
use shared::saga::*;
use std::path::PathBuf;

fn event(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&event(name)).unwrap()
}

#[test]
fn every_step_event_parses_as_its_input() {
    for name in ["reserve-stock.json", "reserve-stock-out-of-stock.json"] {
        parse_input::<ReserveStockInput>(json(name)).unwrap();
    }
    for name in ["charge-payment.json", "charge-payment-declined.json"] {
        parse_input::<ChargePaymentInput>(json(name)).unwrap();
    }
    parse_input::<ScheduleDeliveryInput>(json("schedule-delivery.json")).unwrap();
    for name in ["release-reservation.json", "refund-payment.json"] {
        parse_input::<CompensationInput>(json(name)).unwrap();
    }
    for name in ["notify-completed.json", "notify-cancelled.json"] {
        parse_input::<NotifyInput>(json(name)).unwrap();
    }
}

#[tokio::test]
async fn http_events_carry_a_caller_and_the_expected_bodies() {
    use shared::adapters::memory::{MemoryInventory, MemoryOrders, MemorySaga};
    let api = OrdersApi {
        catalog: MemoryInventory::default(),
        orders: MemoryOrders::default(),
        saga: MemorySaga::default(),
        clock: Box::new(shared::clock::SystemClock),
    };
    for (name, user) in [
        ("create-order.json", "alice"),
        ("create-order-duplicate.json", "alice"),
        ("create-order-out-of-stock.json", "alice"),
        ("create-order-declined.json", "bob"),
        ("create-order-invalid.json", "alice"),
        ("get-order.json", "alice"),
    ] {
        let request = lambda_http::request::from_str(&event(name)).unwrap();
        assert_eq!(api::caller(&request).unwrap(), user, "{name}");
        if name.starts_with("create-order") {
            api::require_json(&request).unwrap();
            // An empty catalog: valid bodies fail on pricing (422), the invalid one on shape (400).
            let err = api
                .place_order(user, None, api::body_bytes(&request))
                .await
                .unwrap_err();
            let expected = if name.ends_with("invalid.json") {
                400
            } else {
                422
            };
            assert_eq!(err.status().as_u16(), expected, "{name}: {err:?}");
        }
    }
}
