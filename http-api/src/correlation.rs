//! The correlation id: one id that ties an order's API request, its saga execution, the events
//! about it and every log line written for it together.
//!
//! It is born with the request that creates the order: the caller's own `X-Correlation-Id`
//! when it sends a usable one, otherwise the API Gateway request id. The order keeps it, the
//! saga's input and every step's input carry it, every event's envelope has it, and each
//! function writes its log lines inside a span that names it (lambda_runtime's JSON logs put
//! the span's fields on every line, beside the Lambda request id).

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tracing::Span;

/// The header a caller may send its own correlation id in.
pub const HEADER: &str = "x-correlation-id";

const MAX_LEN: usize = 128;

/// A caller's id is used when it is 1 to 128 of `A-Z a-z 0-9 . _ -`: safe in logs and keys.
pub fn is_valid(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The request's correlation id: a valid `X-Correlation-Id`, else the API Gateway request id,
/// else the Lambda request id (an invocation without a gateway, such as a test's).
pub fn of_request(request: &Request) -> String {
    let header = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_valid(id));
    if let Some(id) = header {
        return id.to_owned();
    }
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    gateway
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_default()
}

/// The span an API invocation logs in.
pub fn request_span(request: &Request) -> Span {
    tracing::info_span!("request", correlation_id = %of_request(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_callers() {
        assert!(is_valid("checkout-2026.11_22"));
        assert!(is_valid(&"a".repeat(128)));
        for bad in [
            "",
            "with space",
            "new\nline",
            "quote\"",
            "ünï",
            &"a".repeat(129),
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_callers_header_wins_and_a_bad_one_falls_back_to_the_request_id() {
        let with = |header: Option<&str>| {
            let mut builder = lambda_http::http::Request::builder();
            if let Some(value) = header {
                builder = builder.header(HEADER, value);
            }
            let request: Request = builder
                .body(lambda_http::Body::Empty)
                .unwrap_or_default()
                .with_request_context(RequestContext::ApiGatewayV2({
                    let mut context =
                        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
                    context.request_id = Some("gw-request-1".into());
                    context
                }));
            of_request(&request)
        };
        assert_eq!(with(Some("mine-1")), "mine-1");
        assert_eq!(with(Some("not mine")), "gw-request-1");
        assert_eq!(with(None), "gw-request-1");
    }
}
