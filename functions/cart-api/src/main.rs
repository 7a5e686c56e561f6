//! cart-api: `GET /cart`, `PUT /cart/items/{sku}`, `DELETE /cart/items/{sku}`, `DELETE /cart`
//! and `POST /cart/checkout`, routed on API Gateway's route key. The caller's own cart only;
//! checkout places the order as create-order does. The rules live in `order_lambda::api::cart`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::{DynamoOrders, DynamoProductView};
use order_lambda::adapters::sfn::StepFunctionsSaga;
use order_lambda::adapters::sns::SnsEvents;
use order_lambda::api::cart::CartApi;
use order_lambda::api::correlation;
use order_lambda::api::orders::OrdersApi;
use order_lambda::clock::SystemClock;

type Api = CartApi<DynamoProductView, DynamoOrders, StepFunctionsSaga, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let orders_table = order_lambda::config::required("ORDERS_TABLE")?;
    let saga_arn = order_lambda::config::required("ORDER_SAGA_ARN")?;
    let aws = order_lambda::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let api: &Api = &CartApi {
        orders: OrdersApi {
            catalog: DynamoProductView::new(dynamodb.clone(), orders_table.clone()),
            orders: DynamoOrders::new(dynamodb, orders_table),
            saga: StepFunctionsSaga::new(aws_sdk_sfn::Client::new(&aws), saga_arn),
            events: order_lambda::config::events(&aws)?,
            clock: Box::new(SystemClock),
        },
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
    Ok(api.handle(&request).await)
}
