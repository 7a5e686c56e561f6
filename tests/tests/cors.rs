//! Issue 16, finding 10: a browser on an origin of `CorsAllowedOrigins` may call the API, any other
//! origin is refused. API Gateway answers the preflight itself from the API's CORS configuration;
//! the local stacks deploy with `CorsAllowedOrigins=http://localhost:5173` (local/deploy.py).

use e2e::Stack;

const ALLOWED: &str = "http://localhost:5173";

async fn preflight(stack: &Stack, origin: &str) -> reqwest::Response {
    stack
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/orders", stack.gateway),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .expect("preflight")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_lowercase)
}

#[tokio::test]
#[ignore = "needs the local stack: make test"]
async fn a_listed_origin_may_call_the_api_and_another_may_not() {
    let stack = Stack::connect().await;
    let allowed = preflight(&stack, ALLOWED).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("post"), "{methods}");
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(headers.contains(name), "{name} not in {headers}");
    }

    let other = preflight(&stack, "https://elsewhere.example").await;
    assert_eq!(
        header(&other, "access-control-allow-origin"),
        None,
        "an origin not listed is not allowed"
    );

    // An actual call from the listed origin carries the origin back and exposes Location.
    let user = stack.user(None).await;
    let response = stack
        .http
        .get(format!("{}/orders", stack.gateway))
        .bearer_auth(&user.token)
        .header("Origin", ALLOWED)
        .send()
        .await
        .expect("GET /orders");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    let exposed = header(&response, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("location"), "{exposed}");
}
