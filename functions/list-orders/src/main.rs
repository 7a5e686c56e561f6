//! list-orders: `GET /orders?status=&limit=&cursor=`. The caller's orders, newest first.

use lambda_http::http::StatusCode;
use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoOrders;
use order_lambda::api::correlation;
use order_lambda::api::{self, ApiError};
use order_lambda::order::Order;
use order_lambda::page::{Page, PageRequest};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("ORDERS_TABLE")?;
    let aws = order_lambda::config::aws().await;
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
    Ok(match list_orders(orders, &request).await {
        Ok(page) => api::json_response(StatusCode::OK, &page),
        Err(error) => api::problem_response(&error),
    })
}

async fn list_orders(orders: &DynamoOrders, request: &Request) -> Result<Page<Order>, ApiError> {
    let user_id = api::caller(request)?;
    let page = PageRequest::from_query(
        api::query_param(request, "limit").as_deref(),
        api::query_param(request, "cursor").as_deref(),
    )
    .map_err(|e| ApiError::InvalidRequest(vec![e]))?;
    let status = api::query_param(request, "status");
    api::orders::list_orders(orders, &user_id, status.as_deref(), &page).await
}
