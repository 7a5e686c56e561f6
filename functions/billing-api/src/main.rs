//! billing-api: `POST /billing/accounts`, `POST /billing/deposit`, `GET /billing/balance` and
//! `GET /billing/transactions`, routed on API Gateway's route key. The caller's own account
//! only; the rules live in `order_lambda::api::billing`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::DynamoBilling;
use order_lambda::api::billing::BillingApi;
use order_lambda::api::correlation;
use order_lambda::clock::SystemClock;

type Api = BillingApi<DynamoBilling>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("BILLING_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let api: &Api = &BillingApi {
        billing: DynamoBilling::new(aws_sdk_dynamodb::Client::new(&aws), table),
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
