//! fulfilment-api: admin `POST /admin/orders/{id}/ship` (`COMPLETED → SHIPPED`) and
//! `POST /admin/orders/{id}/deliver` (`SHIPPED → DELIVERED`). The rules live in
//! `shared::api::fulfilment`.

use lambda_http::{Body, Error, Request, Response, service_fn, tracing};
use shared::adapters::dynamodb::DynamoOrders;
use shared::api::fulfilment::FulfilmentApi;
use shared::clock::SystemClock;

type Api = FulfilmentApi<DynamoOrders>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("ORDERS_TABLE")?;
    let aws = shared::config::aws().await;
    let api: &Api = &FulfilmentApi {
        orders: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
        clock: Box::new(SystemClock),
    };
    lambda_http::run(service_fn(move |request| handler(api, request))).await
}

async fn handler(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    Ok(api.handle(&request).await)
}
