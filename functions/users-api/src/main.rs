//! users-api: `PUT /users/me` and `GET /users/me`, the caller's own profile, and
//! `GET /notifications`, the caller's notifications. The rules live in `order_lambda::api::profiles`
//! and `order_lambda::api::notifications`.

use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, Response, service_fn};
use order_lambda::adapters::dynamodb::{DynamoNotifications, DynamoProfiles};
use order_lambda::api::correlation;
use order_lambda::api::notifications::{self, NotificationsApi};
use order_lambda::api::profiles::ProfilesApi;
use order_lambda::clock::SystemClock;

struct Apis {
    profiles: ProfilesApi<DynamoProfiles>,
    notifications: NotificationsApi<DynamoNotifications>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let users_table = order_lambda::config::required("USERS_TABLE")?;
    let notifications_table = order_lambda::config::required("NOTIFICATIONS_TABLE")?;
    let aws = order_lambda::config::aws().await;
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
