//! users-api: `PUT /users/me` and `GET /users/me`, the caller's own profile, and
//! `GET /notifications`, the caller's notifications. The rules live in `shared::api::profiles`
//! and `shared::api::notifications`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use shared::adapters::dynamodb::{DynamoNotifications, DynamoProfiles};
use shared::api::notifications::{self, NotificationsApi};
use shared::api::profiles::ProfilesApi;
use shared::clock::SystemClock;
use shared::correlation;

struct Apis {
    profiles: ProfilesApi<DynamoProfiles>,
    notifications: NotificationsApi<DynamoNotifications>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let users_table = shared::config::required("USERS_TABLE")?;
    let notifications_table = shared::config::required("NOTIFICATIONS_TABLE")?;
    let aws = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let apis = &Apis {
        profiles: ProfilesApi {
            profiles: DynamoProfiles::new(client.clone(), users_table),
            clock: Box::new(SystemClock),
        },
        notifications: NotificationsApi {
            notifications: DynamoNotifications::new(client, notifications_table),
        },
    };
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(apis, request).instrument(span))
    }))
    .await
}

async fn handler(apis: &Apis, request: Request) -> Result<Response<Body>, Error> {
    Ok(if notifications::serves(&request) {
        apis.notifications.handle(&request).await
    } else {
        apis.profiles.handle(&request).await
    })
}
