//! The HTTP APIs' rules, one module per resource, and what every API function shares:
//! the caller's identity, problem+json errors, JSON answers.

pub mod audit;
pub mod billing;
pub mod cart;
pub mod catalog;
pub mod correlation;
pub mod fulfilment;
pub mod notifications;
pub mod orders;
pub mod profiles;
pub mod promotions;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use order_core::error::StoreError;
use order_core::order::FieldError;
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
pub use order_core::ports::{IDEMPOTENCY_WINDOW, idempotency_expiry};

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request carries no verified caller identity")]
    Unauthorized,
    #[error("this route needs the admin scope or group")]
    Forbidden,
    #[error("{0}")]
    Conflict(String),
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
    /// A well-formed request the state of the resource refuses (422), with its own `type`.
    #[error("{detail}")]
    Unprocessable {
        kind: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error(
        "this Idempotency-Key was used for a different request; use a new key for a new request"
    )]
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
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MalformedJson(_) | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnprocessableOrder(_)
            | Self::Unprocessable { .. }
            | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable name for the problem (the `type` of the problem document).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::MalformedJson(_) => "malformed-json",
            Self::InvalidRequest(_) => "invalid-request",
            Self::UnprocessableOrder(_) => "unprocessable-order",
            Self::Unprocessable { kind, .. } => kind,
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::NotFound(_) => "not-found",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::InvalidRequest(e)
            | Self::UnprocessableOrder(e)
            | Self::Unprocessable { errors: e, .. } => e,
            _ => &[],
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Transient(m) => {
                tracing::warn!(error = %m, "a dependency is briefly unavailable");
                Self::Unavailable("a dependency is briefly unavailable; try again shortly".into())
            }
            StoreError::Internal(m) => Self::Internal(m),
            StoreError::InvalidCursor => Self::InvalidRequest(vec![FieldError::new(
                "cursor",
                "is not a cursor this API handed out",
            )]),
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

pub fn validate_idempotency_key(key: &str) -> Result<&str, ApiError> {
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

/// Whether the verified token grants admin rights: an `admin` scope, or `admin` among the
/// groups (`groups` or Cognito's `cognito:groups`, which API Gateway passes as `[a b]`).
pub fn is_admin(request: &Request) -> bool {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return false;
    };
    let Some(jwt) = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()) else {
        return false;
    };
    let words = |claim: &str| -> Vec<String> {
        jwt.claims
            .get(claim)
            .map(|v| {
                v.trim_matches(|c| c == '[' || c == ']')
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let scopes = jwt.scopes.clone().unwrap_or_default();
    scopes.iter().chain(&words("scope")).any(|s| s == "admin")
        || words("groups")
            .iter()
            .chain(&words("cognito:groups"))
            .any(|g| g == "admin")
}

/// The caller, who must be an admin.
pub fn admin(request: &Request) -> Result<String, ApiError> {
    let caller = caller(request)?;
    if is_admin(request) {
        Ok(caller)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A path parameter of the route (`{id}`, `{sku}`); API Gateway always fills them.
pub fn path_param(request: &Request, name: &str) -> String {
    request
        .path_parameters()
        .first(name)
        .unwrap_or_default()
        .to_owned()
}

/// A query parameter, if given.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters()
        .first(name)
        .map(str::to_owned)
}

/// A JSON object body of at most `MAX_BODY_BYTES`; anything else is a 4xx naming why.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(body.len()));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::InvalidRequest(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )])),
        Err(e) => Err(ApiError::MalformedJson(e.to_string())),
    }
}

/// Every key of `object` that is not `known`, as an error naming it (`prefix` + key).
pub(crate) fn unknown_fields(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
) -> Vec<FieldError> {
    object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            let name: String = k.chars().take(64).collect();
            FieldError::new(format!("{prefix}{name}"), "unknown field")
        })
        .collect()
}

/// The `Idempotency-Key` header, if sent (its rules are checked by the route).
pub fn idempotency_key(request: &Request) -> Result<Option<&str>, ApiError> {
    request
        .headers()
        .get(IDEMPOTENCY_HEADER)
        .map(|value| {
            value.to_str().map_err(|_| {
                ApiError::InvalidRequest(vec![FieldError::new(
                    "Idempotency-Key",
                    "must be visible ASCII characters",
                )])
            })
        })
        .transpose()
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
        // An internal error's text (SDK details, table names) is logged above, not shown.
        detail: match error {
            ApiError::Internal(_) => "the request failed on our side; it has been logged".into(),
            _ => error.to_string(),
        },
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
