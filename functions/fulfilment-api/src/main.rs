//! fulfilment-api: admin `POST /admin/orders/{id}/ship` (`COMPLETED → SHIPPED`) and
//! `POST /admin/orders/{id}/deliver` (`SHIPPED → DELIVERED`). The rules live in
//! `shared::api::fulfilment`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use shared::adapters::dynamodb::DynamoOrders;
use shared::adapters::sns::SnsEvents;
use shared::api::fulfilment::FulfilmentApi;
use shared::clock::SystemClock;
use shared::correlation;

type Api = FulfilmentApi<DynamoOrders, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("ORDERS_TABLE")?;
    let aws = shared::config::aws().await;
    let api: &Api = &FulfilmentApi {
        orders: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
        events: shared::config::events(&aws)?,
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
