//! catalog-api: `GET /products`, `GET /products/{sku}`, and for admins `PUT /products/{sku}`
//! and `POST /products/{sku}/stock`, each admin change announced as `ProductUpdated`. The rules
//! live in `shared::api::catalog`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use shared::adapters::dynamodb::DynamoInventory;
use shared::adapters::sns::SnsEvents;
use shared::api::catalog::CatalogApi;
use shared::correlation;

type Api = CatalogApi<DynamoInventory, SnsEvents>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("INVENTORY_TABLE")?;
    let aws = shared::config::aws().await;
    let api: &Api = &CatalogApi {
        inventory: DynamoInventory::new(aws_sdk_dynamodb::Client::new(&aws), table),
        events: shared::config::events(&aws)?,
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
