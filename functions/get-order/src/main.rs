//! get-order: `GET /orders/{id}`. The caller's own order with its status, lines, total and
//! the reason when cancelled, and its audit trail (`trail`: every status change and the stock
//! and money it moved, oldest first); another user's order is a 404.

use lambda_http::http::StatusCode;
use lambda_http::tracing::{self, Instrument};
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use order_lambda::adapters::dynamodb::{DynamoAudit, DynamoOrders};
use order_lambda::api::correlation;
use order_lambda::api::{self, ApiError};
use order_lambda::audit::{AuditEntry, AuditLog};
use order_lambda::order::Order;

/// The order as stored, with its trail.
#[derive(serde::Serialize)]
struct OrderWithTrail {
    #[serde(flatten)]
    order: Order,
    trail: Vec<AuditEntry>,
}

struct Stores {
    orders: DynamoOrders,
    audit: DynamoAudit,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let table = order_lambda::config::required("ORDERS_TABLE")?;
    let audit_table = order_lambda::config::required("AUDIT_TABLE")?;
    let aws = order_lambda::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let stores = &Stores {
        orders: DynamoOrders::new(client.clone(), table),
        audit: DynamoAudit::new(client, audit_table),
    };
    lambda_http::run(service_fn(move |request: Request| {
        // Every log line of the invocation names the request's correlation id.
        let span = correlation::request_span(&request);
        // Boxed, so the runtime's future type stays shallow enough for an optimised build.
        Box::pin(handler(stores, request).instrument(span))
    }))
    .await
}

async fn handler(stores: &Stores, request: Request) -> Result<Response<Body>, Error> {
    Ok(match get_order(stores, &request).await {
        Ok(order) => api::json_response(StatusCode::OK, &order),
        Err(error) => api::problem_response(&error),
    })
}

async fn get_order(stores: &Stores, request: &Request) -> Result<OrderWithTrail, ApiError> {
    let user_id = api::caller(request)?;
    let params = request.path_parameters();
    let id = params.first("id").unwrap_or_default();
    // The owner check comes first: another user's order (and its trail) is a 404.
    let order = api::orders::get_order(&stores.orders, &user_id, id).await?;
    let trail = stores.audit.trail(order.order_id).await?;
    Ok(OrderWithTrail { order, trail })
}
