//! cancel-order: `POST /orders/{id}/cancel`. Records the customer's cancellation; the saga
//! then gives back stock and money exactly once and ends the order `CANCELLED`.

use lambda_http::http::StatusCode;
use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoOrders;
use order_lambda::adapters::sfn::StepFunctionsSaga;
use order_lambda::api::correlation;
use order_lambda::api::orders::Cancellation;
use order_lambda::api::{self, ApiError};
use order_lambda::clock::{Clock, FixedClock, SystemClock};
use order_lambda::metrics;
use order_lambda::order::Order;

/// This function's name in metrics.
const SERVICE: &str = "cancel-order";

struct Ports {
    orders: DynamoOrders,
    saga: StepFunctionsSaga,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("ORDERS_TABLE")?;
    let saga_arn = order_lambda::config::required("ORDER_SAGA_ARN")?;
    let aws = order_lambda::config::aws().await;
    let ports = &Ports {
        orders: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
        saga: StepFunctionsSaga::new(aws_sdk_sfn::Client::new(&aws), saga_arn),
    };
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(ports, request).instrument(span))
    }))
    .await
}

async fn handler(ports: &Ports, request: Request) -> Result<Response<Body>, Error> {
    Ok(match cancel(ports, &request).await {
        Ok((order, Cancellation::Accepted)) => api::json_response(StatusCode::ACCEPTED, &order),
        Ok((order, Cancellation::AlreadyCancelled)) => api::json_response(StatusCode::OK, &order),
        Err(error) => api::problem_response(&error),
    })
}

async fn cancel(ports: &Ports, request: &Request) -> Result<(Order, Cancellation), ApiError> {
    let user_id = api::caller(request)?;
    let id = api::path_param(request, "id");
    // The time this call records: a repeated request keeps the first one's, so it is not
    // counted again.
    let now = SystemClock.now();
    let clock = FixedClock::at(now);
    let (order, cancellation) =
        api::orders::cancel_order(&ports.orders, &ports.saga, &clock, &user_id, &id).await?;
    if cancellation == Cancellation::Accepted && order.cancel_requested_at == Some(now) {
        let order_id = order.order_id.to_string();
        metrics::emit_count(SERVICE, "CancellationsRequested", &order_id);
    }
    Ok((order, cancellation))
}
