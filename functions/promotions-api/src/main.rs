//! promotions-api: admin `PUT /promotions/{code}`. The rules live in `shared::api::promotions`;
//! the uses are counted by the order write (create-order, cart-api).

use lambda_http::{Body, Error, Request, Response, service_fn, tracing};
use shared::adapters::dynamodb::DynamoOrders;
use shared::api::promotions::PromotionsApi;

type Api = PromotionsApi<DynamoOrders>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("ORDERS_TABLE")?;
    let aws = shared::config::aws().await;
    let api: &Api = &PromotionsApi {
        promotions: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
    };
    lambda_http::run(service_fn(move |request| handler(api, request))).await
}

async fn handler(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    Ok(api.handle(&request).await)
}
