//! catalog-api: `GET /products`, `GET /products/{sku}`, and for admins `PUT /products/{sku}`
//! and `POST /products/{sku}/stock`, each admin change announced as `ProductUpdated`. The rules
//! live in `order_lambda::api::catalog`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoInventory;
use order_lambda::adapters::sns::SnsEvents;
use order_lambda::api::catalog::CatalogApi;
use order_lambda::api::correlation;

type Api = CatalogApi<DynamoInventory, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("INVENTORY_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let api: &Api = &CatalogApi {
        inventory: DynamoInventory::new(aws_sdk_dynamodb::Client::new(&aws), table),
        events: order_lambda::config::events(&aws)?,
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
