//! users-api: `PUT /users/me` and `GET /users/me`, the caller's own profile. The rules live
//! in `shared::api::profiles`.

use lambda_http::{Body, Error, Request, Response, service_fn, tracing};
use shared::adapters::dynamodb::DynamoProfiles;
use shared::api::profiles::ProfilesApi;
use shared::clock::SystemClock;

type Api = ProfilesApi<DynamoProfiles>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = shared::config::required("USERS_TABLE")?;
    let aws = shared::config::aws().await;
    let api: &Api = &ProfilesApi {
        profiles: DynamoProfiles::new(aws_sdk_dynamodb::Client::new(&aws), table),
        clock: Box::new(SystemClock),
    };
    lambda_http::run(service_fn(move |request| handler(api, request))).await
}

async fn handler(api: &Api, request: Request) -> Result<Response<Body>, Error> {
    Ok(api.handle(&request).await)
}
