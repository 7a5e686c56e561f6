//! Admin fulfilment (`POST /admin/orders/{id}/ship`, `/deliver`) against the in-memory orders,
//! with a fixed clock: the moves, their idempotency, the refusals, and the customer's
//! cancellation once an order has shipped.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lambda_http::{Body, Request, Response};
use order_adapters::memory::{MemoryEvents, MemoryOrders, MemorySaga};
use order_core::clock::{Clock, FixedClock};
use order_core::money::{Currency, Money};
use order_core::order::{Fulfilment, Milestone, Order, OrderId, OrderLine, OrderStatus, Sku, Step};
use order_core::ports::OrderStore;
use order_http::ApiError;
use order_http::fulfilment::{Fulfilled, FulfilmentApi, fulfil_order};
use order_http::orders::{Cancellation, cancel_order};
use serde_json::{Value, json};
use std::sync::Arc;

type Api = FulfilmentApi<MemoryOrders, MemoryEvents>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// The test's handle on the clock the API reads.
#[derive(Clone)]
struct TestClock(Arc<FixedClock>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn api() -> (Api, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::at(t0()));
    let api = FulfilmentApi {
        orders: MemoryOrders::default(),
        events: MemoryEvents::default(),
        clock: Box::new(TestClock(clock.clone())),
    };
    (api, clock)
}

/// An order of alice's, moved by the saga to `status` an hour before `t0`.
async fn order_in(api: &Api, status: OrderStatus) -> OrderId {
    let created = t0() - Duration::hours(1);
    let eur = Currency::try_from("EUR").unwrap();
    let total = Money::new(2598, eur.clone());
    let order = Order {
        order_id: OrderId::new_at(created),
        user_id: "alice".into(),
        status: OrderStatus::Pending,
        lines: vec![OrderLine {
            sku: Sku::try_from("SKU-MUG").unwrap(),
            name: "Mug".into(),
            quantity: 2,
            unit_price: Money::new(1299, eur.clone()),
            line_total: total.clone(),
        }],
        subtotal: total.clone(),
        discount: Money::new(0, eur),
        promo_code: None,
        total,
        reason: None,
        cancel_requested_at: None,
        delivery: None,
        created_at: created,
        updated_at: created,
        timeline: vec![Milestone {
            step: Step::Created,
            at: created,
        }],
        correlation_id: None,
    };
    api.orders.insert(&order, None).await.unwrap();
    let path: &[OrderStatus] = match status {
        OrderStatus::Pending => &[],
        OrderStatus::Reserved => &[OrderStatus::Reserved],
        OrderStatus::Paid => &[OrderStatus::Reserved, OrderStatus::Paid],
        OrderStatus::Completed => &[
            OrderStatus::Reserved,
            OrderStatus::Paid,
            OrderStatus::Completed,
        ],
        other => &[OrderStatus::Reserved, other],
    };
    for (i, status) in path.iter().enumerate() {
        let at = created + Duration::minutes(i as i64 + 1);
        api.orders.set_status(order.order_id, *status, at);
    }
    order.order_id
}

async fn ship(api: &Api, id: OrderId) -> Result<(Order, Fulfilled), ApiError> {
    fulfil_order(
        &api.orders,
        &*api.clock,
        &id.to_string(),
        Fulfilment::Ship,
        &by(),
    )
    .await
}

async fn deliver(api: &Api, id: OrderId) -> Result<(Order, Fulfilled), ApiError> {
    fulfil_order(
        &api.orders,
        &*api.clock,
        &id.to_string(),
        Fulfilment::Deliver,
        &by(),
    )
    .await
}

fn steps(order: &Order) -> Vec<Step> {
    order.timeline.iter().map(|m| m.step).collect()
}

fn at(order: &Order, step: Step) -> Option<DateTime<Utc>> {
    order.timeline.iter().find(|m| m.step == step).map(|m| m.at)
}

#[tokio::test]
async fn a_completed_order_ships_then_delivers_each_once_at_the_clocks_time() {
    let (api, clock) = api();
    let id = order_in(&api, OrderStatus::Completed).await;

    let (shipped, outcome) = ship(&api, id).await.unwrap();
    assert_eq!(outcome, Fulfilled::Moved);
    assert_eq!(shipped.status, OrderStatus::Shipped);
    assert_eq!(at(&shipped, Step::Shipped), Some(t0()));
    assert_eq!(shipped.updated_at, t0());

    // Repeated later: the same order, nothing written (the first time is kept).
    clock.advance(Duration::minutes(5));
    let (again, outcome) = ship(&api, id).await.unwrap();
    assert_eq!(outcome, Fulfilled::Already);
    assert_eq!(again, shipped);

    clock.advance(Duration::hours(20));
    let delivered_at = t0() + Duration::minutes(5) + Duration::hours(20);
    let (delivered, outcome) = deliver(&api, id).await.unwrap();
    assert_eq!(outcome, Fulfilled::Moved);
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(at(&delivered, Step::Delivered), Some(delivered_at));
    assert_eq!(
        steps(&delivered),
        [
            Step::Created,
            Step::Reserved,
            Step::Paid,
            Step::Completed,
            Step::Shipped,
            Step::Delivered
        ]
    );

    clock.advance(Duration::minutes(1));
    let (again, outcome) = deliver(&api, id).await.unwrap();
    assert_eq!((outcome, &again), (Fulfilled::Already, &delivered));
    // A late retry of the shipping finds the order past it: answered, not refused.
    let (late, outcome) = ship(&api, id).await.unwrap();
    assert_eq!((outcome, &late), (Fulfilled::Already, &delivered));
}

#[tokio::test]
async fn a_move_the_status_does_not_allow_is_a_409_naming_the_status_and_changes_nothing() {
    let (api, _) = api();
    for status in [
        OrderStatus::Pending,
        OrderStatus::Reserved,
        OrderStatus::Paid,
        OrderStatus::Cancelled,
        OrderStatus::CompensationFailed,
    ] {
        let id = order_in(&api, status).await;
        let before = api.orders.get(id).await.unwrap().unwrap();
        for step in [Fulfilment::Ship, Fulfilment::Deliver] {
            let err = fulfil_order(&api.orders, &*api.clock, &id.to_string(), step, &by())
                .await
                .unwrap_err();
            assert_eq!(err.status().as_u16(), 409, "{status:?} {step:?}: {err}");
            assert_eq!(err.kind(), "conflict");
            assert!(
                err.to_string().contains(status.as_str()),
                "{status:?} {step:?}: {err}"
            );
        }
        assert_eq!(api.orders.get(id).await.unwrap().unwrap(), before);
    }
    // Delivered without being shipped.
    let id = order_in(&api, OrderStatus::Completed).await;
    let err = deliver(&api, id).await.unwrap_err();
    assert_eq!(err.status().as_u16(), 409);
    assert!(err.to_string().contains("COMPLETED"), "{err}");
    assert!(err.to_string().contains("SHIPPED"), "{err}");
    let order = api.orders.get(id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Completed);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_and_400() {
    let (api, _) = api();
    let unknown = OrderId::new_at(t0());
    for step in [Fulfilment::Ship, Fulfilment::Deliver] {
        let err = fulfil_order(&api.orders, &*api.clock, &unknown.to_string(), step, &by())
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 404, "{err}");
        let err = fulfil_order(&api.orders, &*api.clock, "not-an-id", step, &by())
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 400, "{err}");
        let ApiError::InvalidRequest(fields) = err else {
            panic!("not an invalid request")
        };
        assert_eq!(fields[0].field, "id");
    }
    assert_eq!(api.orders.count(), 0, "a refused move writes nothing");
}

#[tokio::test]
async fn a_cancellation_and_the_shipping_never_both_land() {
    let (api, _) = api();
    let saga = MemorySaga::default();

    // The customer first: the completed order is not shipped.
    let cancelled = order_in(&api, OrderStatus::Completed).await;
    let id = cancelled;
    let (_, outcome) = cancel_order(&api.orders, &saga, &*api.clock, "alice", &id.to_string())
        .await
        .unwrap();
    assert_eq!(outcome, Cancellation::Accepted);
    let err = ship(&api, id).await.unwrap_err();
    assert_eq!(err.status().as_u16(), 409);
    assert!(err.to_string().contains("cancellation"), "{err}");
    let order = api.orders.get(id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Completed);
    assert_eq!(at(&order, Step::Shipped), None);

    // The admin first: the customer can no longer cancel, shipped or delivered.
    let id = order_in(&api, OrderStatus::Completed).await;
    ship(&api, id).await.unwrap();
    for moved in [OrderStatus::Shipped, OrderStatus::Delivered] {
        if moved == OrderStatus::Delivered {
            deliver(&api, id).await.unwrap();
        }
        let err = cancel_order(&api.orders, &saga, &*api.clock, "alice", &id.to_string())
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 409, "{moved:?}: {err}");
        assert!(err.to_string().contains(moved.as_str()), "{err}");
        assert!(err.to_string().contains("no longer be cancelled"), "{err}");
        let order = api.orders.get(id).await.unwrap().unwrap();
        assert_eq!(order.status, moved);
        assert!(order.cancel_requested_at.is_none());
    }
    let compensated: Vec<OrderId> = saga.cancellations().into_keys().collect();
    assert_eq!(
        compensated,
        [cancelled],
        "compensations for the cancelled order only, none for the shipped one"
    );
}

#[tokio::test]
async fn concurrent_ships_move_the_order_once_and_all_answer_200() {
    let (api, _) = api();
    let id = order_in(&api, OrderStatus::Completed).await;
    let answers = tokio::join!(ship(&api, id), ship(&api, id), ship(&api, id));
    let answers = [answers.0.unwrap(), answers.1.unwrap(), answers.2.unwrap()];
    let moved = answers
        .iter()
        .filter(|(_, outcome)| *outcome == Fulfilled::Moved)
        .count();
    assert_eq!(moved, 1);
    assert!(
        answers
            .iter()
            .all(|(o, _)| o.status == OrderStatus::Shipped)
    );
}

// Through the function's entry point: the admin check, the routes, the answers.

#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    Customer,
    AdminScope,
    AdminGroup,
}

fn event(caller: Caller, route: &str, id: &str) -> Request {
    let path = route.replace("{id}", id);
    let path = path.split_once(' ').unwrap().1.to_owned();
    let authorizer = match caller {
        Caller::Anonymous => Value::Null,
        Caller::Customer => json!({"jwt": {"claims": {"sub": "alice"}, "scopes": null}}),
        Caller::AdminScope => {
            json!({"jwt": {"claims": {"sub": "ops", "scope": "admin"}, "scopes": ["admin"]}})
        }
        Caller::AdminGroup => {
            json!({"jwt": {"claims": {"sub": "ops", "cognito:groups": "[staff admin]"}, "scopes": null}})
        }
    };
    let mut context = json!({
        "accountId": "123456789012", "apiId": "local", "requestId": "r-1", "routeKey": route,
        "stage": "$default", "timeEpoch": 0,
        "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
    });
    if !authorizer.is_null() {
        context["authorizer"] = authorizer;
    }
    let event = json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": {"host": "127.0.0.1"}, "pathParameters": {"id": id},
        "requestContext": context, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn answer(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let media = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    if status >= 400 {
        assert_eq!(media, "application/problem+json", "{body}");
        assert_eq!(body["status"], status, "{body}");
    } else {
        assert_eq!(media, "application/json");
    }
    (status, body)
}

const SHIP: &str = "POST /admin/orders/{id}/ship";
const DELIVER: &str = "POST /admin/orders/{id}/deliver";

#[tokio::test]
async fn only_admins_ship_and_deliver() {
    let (api, _) = api();
    let id = order_in(&api, OrderStatus::Completed).await.to_string();
    for route in [SHIP, DELIVER] {
        let (status, problem) = answer(api.handle(&event(Caller::Customer, route, &id)).await);
        assert_eq!(status, 403, "{problem}");
        assert_eq!(problem["type"], "urn:problem:order-saga:forbidden");
        let (status, _) = answer(api.handle(&event(Caller::Anonymous, route, &id)).await);
        assert_eq!(status, 401);
    }
    let order = api.orders.get(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(
        order.status,
        OrderStatus::Completed,
        "a refused caller moves nothing"
    );
    assert!(
        api.events.published().is_empty(),
        "a refusal announces nothing"
    );

    let (status, shipped) = answer(api.handle(&event(Caller::AdminScope, SHIP, &id)).await);
    assert_eq!(status, 200, "{shipped}");
    assert_eq!(shipped["status"], "SHIPPED");
    assert_eq!(shipped["userId"], "alice");
    let (status, again) = answer(api.handle(&event(Caller::AdminGroup, SHIP, &id)).await);
    assert_eq!((status, &again), (200, &shipped));
    let (status, delivered) = answer(api.handle(&event(Caller::AdminGroup, DELIVER, &id)).await);
    assert_eq!(status, 200, "{delivered}");
    assert_eq!(delivered["status"], "DELIVERED");
    // Each answered move announces itself; the repeated ship announces the same event again.
    let announced: Vec<(String, String, String)> = api
        .events
        .published()
        .iter()
        .map(|e| {
            (
                e.event_type.to_string(),
                e.order_id.map(|o| o.to_string()).unwrap_or_default(),
                e.user_id.clone(),
            )
        })
        .collect();
    let event = |t: &str| (t.to_owned(), id.clone(), "alice".to_owned());
    assert_eq!(
        announced,
        [
            event("OrderShipped"),
            event("OrderShipped"),
            event("OrderDelivered")
        ]
    );
    let published = api.events.published();
    assert_eq!(published[0].event_id, published[1].event_id);
    assert_ne!(published[0].event_id, published[2].event_id);
    let timeline: Vec<&str> = delivered["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        [
            "CREATED",
            "RESERVED",
            "PAID",
            "COMPLETED",
            "SHIPPED",
            "DELIVERED"
        ]
    );
}

#[tokio::test]
async fn refusals_are_problem_documents() {
    let (api, _) = api();
    let pending = order_in(&api, OrderStatus::Pending).await.to_string();
    let (status, problem) = answer(api.handle(&event(Caller::AdminScope, SHIP, &pending)).await);
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:problem:order-saga:conflict");
    assert!(
        problem["detail"].as_str().unwrap().contains("PENDING"),
        "{problem}"
    );
    let (status, problem) = answer(
        api.handle(&event(Caller::AdminScope, DELIVER, "nope"))
            .await,
    );
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "id");
    let unknown = OrderId::new_at(t0()).to_string();
    let (status, _) = answer(
        api.handle(&event(Caller::AdminScope, DELIVER, &unknown))
            .await,
    );
    assert_eq!(status, 404);
    let (status, _) = answer(
        api.handle(&event(
            Caller::AdminScope,
            "POST /admin/orders/{id}/return",
            &pending,
        ))
        .await,
    );
    assert_eq!(status, 404, "not a fulfilment route");
}

fn by() -> order_core::audit::ChangedBy {
    order_core::audit::ChangedBy::admin("admin-1", None)
}
