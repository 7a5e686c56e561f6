//! create-order: `POST /orders`. Prices the order from the order side's product view, saves it `PENDING` and
//! starts the saga named by the order id (announcing `OrderCreated` first); an
//! `Idempotency-Key` makes retries safe.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::{DynamoOrders, DynamoProductView};
use order_lambda::adapters::sfn::StepFunctionsSaga;
use order_lambda::adapters::sns::SnsEvents;
use order_lambda::api::correlation;
use order_lambda::api::orders::OrdersApi;
use order_lambda::api::{self, ApiError};
use order_lambda::clock::SystemClock;
use order_lambda::metrics;

/// This function's name in metrics.
const SERVICE: &str = "create-order";

type Api = OrdersApi<DynamoProductView, DynamoOrders, StepFunctionsSaga, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let orders_table = order_lambda::config::required("ORDERS_TABLE")?;
    let saga_arn = order_lambda::config::required("ORDER_SAGA_ARN")?;
    let aws = order_lambda::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let api: &Api = &OrdersApi {
        catalog: DynamoProductView::new(dynamodb.clone(), orders_table.clone()),
        orders: DynamoOrders::new(dynamodb, orders_table),
        saga: StepFunctionsSaga::new(aws_sdk_sfn::Client::new(&aws), saga_arn),
        events: order_lambda::config::events(&aws)?,
        clock: Box::new(SystemClock),
    };
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(api, request).instrument(span))
    }))
    .await
}

async fn handler(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    Ok(match place_order(api, &request).await {
        Ok(accepted) => {
            let mut response = api::json_response(StatusCode::ACCEPTED, &accepted);
            if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", accepted.order_id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(error) => api::problem_response(&error),
    })
}

async fn place_order(api: &Api, request: &Request) -> Result<api::orders::OrderAccepted, ApiError> {
    let user_id = api::caller(request)?;
    api::require_json(request)?;
    let key = api::idempotency_key(request)?;
    let correlation_id = correlation::of_request(request);
    let (accepted, created) = api
        .place_order_reporting(
            &user_id,
            key,
            api::body_bytes(request),
            Some(&correlation_id),
        )
        .await?;
    if created {
        metrics::emit_count(SERVICE, "OrdersCreated", &accepted.order_id.to_string());
    }
    tracing::info!(order_id = %accepted.order_id, created, "order accepted");
    Ok(accepted)
}
