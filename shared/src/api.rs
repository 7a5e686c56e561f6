//! The orders API: placing an order (idempotently) and reading it back, plus the HTTP
//! helpers every API function shares (caller identity, problem+json errors).

use crate::clock::Clock;
use crate::error::StoreError;
use crate::money::Money;
use crate::order::{FieldError, Order, OrderId, OrderRequest, OrderStatus, price_lines};
use crate::ports::{Catalog, IdempotencyRecord, InsertOutcome, OrderStore, SagaStarter};
use crate::saga::SagaInput;
use chrono::Duration;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use thiserror::Error;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// How long a key protects retries; after that the record may expire (TTL backstop).
const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request carries no verified caller identity")]
    Unauthorized,
    #[error("the body is {0} bytes; the limit is {MAX_BODY_BYTES}")]
    PayloadTooLarge(usize),
    #[error("the body must be application/json, not {0}")]
    UnsupportedMediaType(String),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request has invalid fields")]
    InvalidRequest(Vec<FieldError>),
    #[error("the order cannot be placed")]
    UnprocessableOrder(Vec<FieldError>),
    #[error("this Idempotency-Key was used for a different request; use a new key for a new order")]
    IdempotencyKeyReused,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MalformedJson(_) | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnprocessableOrder(_) | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable name for the problem (the `type` of the problem document).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::MalformedJson(_) => "malformed-json",
            Self::InvalidRequest(_) => "invalid-request",
            Self::UnprocessableOrder(_) => "unprocessable-order",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::NotFound(_) => "not-found",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::InvalidRequest(e) | Self::UnprocessableOrder(e) => e,
            _ => &[],
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Transient(m) => Self::Unavailable(format!("try again shortly ({m})")),
            StoreError::Internal(m) => Self::Internal(m),
        }
    }
}

/// An RFC 9457 problem document, with the invalid fields listed in `errors`.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub errors: &'a [FieldError],
}

/// What `POST /orders` answers: the order was accepted and its saga started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAccepted {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub total: Money,
}

impl From<&Order> for OrderAccepted {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.order_id,
            status: order.status,
            total: order.total.clone(),
        }
    }
}

/// The orders API over its ports. Built once per process in `main`.
pub struct OrdersApi<C, O, S> {
    pub catalog: C,
    pub orders: O,
    pub saga: S,
    pub clock: Box<dyn Clock>,
}

impl<C: Catalog, O: OrderStore, S: SagaStarter> OrdersApi<C, O, S> {
    /// Places an order for `user_id`. With an idempotency key, a retry of the same request
    /// returns the same order and starts no second saga; a retry also finishes the work of
    /// an attempt that crashed between saving the order and starting its saga.
    pub async fn place_order(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<OrderAccepted, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let key = idempotency_key.map(validate_idempotency_key).transpose()?;
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let request = OrderRequest::from_json(&json).map_err(ApiError::InvalidRequest)?;
        let fingerprint = request.fingerprint();

        if let Some(key) = key
            && let Some(record) = self.orders.idempotency_record(user_id, key).await?
        {
            return self.replay(user_id, &record, &fingerprint).await;
        }

        let skus: Vec<_> = request.items.iter().map(|i| i.sku.clone()).collect();
        let products = self.catalog.products(&skus).await?;
        let (lines, total) =
            price_lines(&request, &products).map_err(ApiError::UnprocessableOrder)?;
        let now = self.clock.now();
        let order = Order {
            order_id: OrderId::new_at(now),
            user_id: user_id.to_owned(),
            status: OrderStatus::Pending,
            lines,
            total,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        let record = key.map(|key| IdempotencyRecord {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
            order_id: order.order_id,
            request_hash: fingerprint.clone(),
            created_at: now,
        });
        match self.orders.insert(&order, record.as_ref()).await? {
            InsertOutcome::Inserted => {}
            InsertOutcome::IdempotencyKeyTaken => {
                // A concurrent request with the same key won the race: answer as it did.
                let key = key.unwrap_or_default();
                let record = self
                    .orders
                    .idempotency_record(user_id, key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unavailable("a concurrent request holds this key; retry".into())
                    })?;
                return self.replay(user_id, &record, &fingerprint).await;
            }
        }
        self.start_saga(&order).await?;
        Ok(OrderAccepted::from(&order))
    }

    async fn replay(
        &self,
        user_id: &str,
        record: &IdempotencyRecord,
        fingerprint: &str,
    ) -> Result<OrderAccepted, ApiError> {
        if record.request_hash != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        let order = self
            .orders
            .get(record.order_id)
            .await?
            .filter(|o| o.user_id == user_id)
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "idempotency record points at missing order {}",
                    record.order_id
                ))
            })?;
        // PENDING means the saga may never have started (the first attempt crashed).
        if order.status == OrderStatus::Pending {
            self.start_saga(&order).await?;
        }
        Ok(OrderAccepted::from(&order))
    }

    async fn start_saga(&self, order: &Order) -> Result<(), ApiError> {
        let input = serde_json::to_string(&SagaInput::for_order(order))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        self.saga.start(order.order_id, &input).await.map_err(|e| {
            tracing::error!(order_id = %order.order_id, error = %e, "saga did not start");
            ApiError::Unavailable(format!(
                "order {} was saved but its processing did not start; retry with the same Idempotency-Key",
                order.order_id
            ))
        })?;
        Ok(())
    }
}

/// The caller's own order; anyone else's is indistinguishable from a missing one.
pub async fn get_order(
    orders: &impl OrderStore,
    user_id: &str,
    order_id: &str,
) -> Result<Order, ApiError> {
    let id: OrderId = order_id
        .parse()
        .map_err(|m| ApiError::InvalidRequest(vec![FieldError::new("id", m)]))?;
    orders
        .get(id)
        .await?
        .filter(|o| o.user_id == user_id)
        .ok_or_else(|| ApiError::NotFound(format!("no order {id}")))
}

fn validate_idempotency_key(key: &str) -> Result<&str, ApiError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(key)
    } else {
        Err(ApiError::InvalidRequest(vec![FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
        )]))
    }
}

/// When an idempotency record may be dropped, in epoch seconds (the table's TTL attribute).
pub fn idempotency_expiry(record: &IdempotencyRecord) -> i64 {
    (record.created_at + IDEMPOTENCY_WINDOW).timestamp()
}

/// The verified caller: the JWT `sub` claim that API Gateway's authorizer passed on.
/// Never taken from the body.
pub fn caller(request: &Request) -> Result<String, ApiError> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .filter(|sub| !sub.is_empty())
            .cloned()
            .ok_or(ApiError::Unauthorized),
        _ => Err(ApiError::Unauthorized),
    }
}

/// A body must be JSON when it says what it is; a missing Content-Type is taken as JSON.
pub fn require_json(request: &Request) -> Result<(), ApiError> {
    match request.headers().get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(value) => {
            let mime = value
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim();
            let mime = mime.to_ascii_lowercase();
            if mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
            {
                Ok(())
            } else {
                Err(ApiError::UnsupportedMediaType(
                    mime.chars().take(100).collect(),
                ))
            }
        }
    }
}

pub fn body_bytes(request: &Request) -> &[u8] {
    request.body().as_ref()
}

pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(json) => with_body(status, "application/json", json),
        Err(e) => problem_response(&ApiError::Internal(e.to_string())),
    }
}

pub fn problem_response(error: &ApiError) -> Response<Body> {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, "request failed");
    }
    let problem = Problem {
        kind: format!("urn:problem:order-saga:{}", error.kind()),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: error.to_string(),
        errors: error.field_errors(),
    };
    let body = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".into());
    let mut response = with_body(status, "application/problem+json", body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
