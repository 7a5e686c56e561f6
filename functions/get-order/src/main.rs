//! get-order: `GET /orders/{id}`. The caller's own order with its status, lines, total and
//! the reason when cancelled; another user's order is a 404.

use lambda_http::http::StatusCode;
use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use shared::adapters::dynamodb::DynamoOrders;
use shared::api::{self, ApiError};
use shared::correlation;
use shared::order::Order;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("ORDERS_TABLE")?;
    let aws = shared::config::aws().await;
    let orders = &DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table);
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(orders, request).instrument(span))
    }))
    .await
}

async fn handler(orders: &DynamoOrders, request: Request) -> Result<Response<Body>, Error> {
    Ok(match get_order(orders, &request).await {
        Ok(order) => api::json_response(StatusCode::OK, &order),
        Err(error) => api::problem_response(&error),
    })
}

async fn get_order(orders: &DynamoOrders, request: &Request) -> Result<Order, ApiError> {
    let user_id = api::caller(request)?;
    let params = request.path_parameters();
    let id = params.first("id").unwrap_or_default();
    api::get_order(orders, &user_id, id).await
}
