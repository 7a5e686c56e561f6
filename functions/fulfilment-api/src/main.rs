//! fulfilment-api: admin `POST /admin/orders/{id}/ship` (`COMPLETED → SHIPPED`) and
//! `POST /admin/orders/{id}/deliver` (`SHIPPED → DELIVERED`). The rules live in
//! `order_lambda::api::fulfilment`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoOrders;
use order_lambda::adapters::sns::SnsEvents;
use order_lambda::api::correlation;
use order_lambda::api::fulfilment::FulfilmentApi;
use order_lambda::clock::SystemClock;

type Api = FulfilmentApi<DynamoOrders, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("ORDERS_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let api: &Api = &FulfilmentApi {
        orders: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
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
    Ok(api.handle(&request).await)
}
