//! promotions-api: admin `PUT /promotions/{code}`. The rules live in `order_lambda::api::promotions`;
//! the uses are counted by the order write (create-order, cart-api).

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoOrders;
use order_lambda::api::correlation;
use order_lambda::api::promotions::PromotionsApi;

type Api = PromotionsApi<DynamoOrders>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("ORDERS_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let api: &Api = &PromotionsApi {
        promotions: DynamoOrders::new(aws_sdk_dynamodb::Client::new(&aws), table),
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
