//! The gate in front of `lambda_http`'s event conversion (issue 13, class 8).
//!
//! `lambda_http` turns an event into an `http::Request` with `expect`s and `unwrap`s: a body
//! marked `isBase64Encoded` that is not base64 (`Body::from_maybe_encoded` in
//! `aws_lambda_events`), a host or path that `url` refuses, or a raw query string that
//! `http::Uri` refuses each panic there, before snooze's handler runs, and the client gets
//! API Gateway's 500. An event that does not deserialize at all is an invocation error under
//! `lambda_http::run` (also a 5xx). So the Lambda takes the raw JSON ([`crate::handle_event`])
//! and [`check`] does, without panicking, every fallible step of the conversion first:
//!
//! 1. the raw body: when `isBase64Encoded` is `true`, the body must be standard base64;
//! 2. deserialization as a [`LambdaRequest`] (API Gateway REST v1, HTTP API v2 or ALB);
//! 3. the request URI exactly as `lambda_http` 1.3 builds it (`build_request_uri` and
//!    `apigw_path_with_stage` in its `request.rs`), which must parse as an `http::Uri`.
//!
//! An event that fails a step is answered 400 by [`bad_request`], in the response shape of the
//! integration that sent it ([`Origin::of`], from the raw JSON, so it works for events that do
//! not deserialize too). The checks run on every event type the Lambda accepts; a new type
//! needs a [`Origin`] variant, a branch in [`check_uri`] and a fixture in
//! `lambdas/wake/tests/apigw.rs` (whose property test then feeds it mutated). The property tests
//! drive `lambda_http`'s own conversion after the gate, so a new panic there shows up as a test
//! failure, not as a 500.

use base64::Engine;
use http::HeaderMap;
use lambda_http::aws_lambda_events::alb::AlbTargetGroupResponse;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, http::StatusCode};
use serde_json::{Value, json};

/// The integration an event came from: decides the shape of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// API Gateway REST API (payload format 1.0): `httpMethod`, `multiValueHeaders`.
    ApiGatewayV1,
    /// API Gateway HTTP API (payload format 2.0): `version: "2.0"`, `rawPath`. The deployed
    /// integration, and the answer shape for an event of no recognisable shape.
    ApiGatewayV2,
    /// An Application Load Balancer target group: `requestContext.elb`.
    Alb,
}

impl Origin {
    /// Guesses the origin from the raw event's shape (never fails).
    pub fn of(raw: &Value) -> Origin {
        let context = raw.get("requestContext");
        if context.and_then(|c| c.get("elb")).is_some() {
            Origin::Alb
        } else if raw.get("version").and_then(Value::as_str) == Some("2.0")
            || raw.get("rawPath").is_some()
            || context.and_then(|c| c.get("http")).is_some()
        {
            Origin::ApiGatewayV2
        } else if raw.get("httpMethod").is_some() || raw.get("multiValueHeaders").is_some() {
            Origin::ApiGatewayV1
        } else {
            Origin::ApiGatewayV2
        }
    }
}

/// Checks a raw event and deserializes it. `Err` is the reason for a 400 (see the module docs).
/// Never panics; an `Ok` request converts into an `http::Request` without panicking.
pub fn check(raw: &Value) -> Result<LambdaRequest, String> {
    if !raw.is_object() {
        return Err("the event is not a JSON object".into());
    }
    if raw.get("isBase64Encoded") == Some(&Value::Bool(true))
        && let Some(Value::String(body)) = raw.get("body")
        && let Err(e) = base64::engine::general_purpose::STANDARD.decode(body)
    {
        return Err(format!(
            "the body is marked isBase64Encoded but is not base64: {e}"
        ));
    }
    let request: LambdaRequest = serde_json::from_value(raw.clone())
        .map_err(|e| format!("the event is not an HTTP request event: {e}"))?;
    check_uri(&request)?;
    Ok(request)
}

/// The URI `lambda_http` would build for `request` must parse (see the module docs).
fn check_uri(request: &LambdaRequest) -> Result<(), String> {
    let host_header = |h: &HeaderMap| {
        h.get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (path, headers, host, raw_query) = match request {
        LambdaRequest::ApiGatewayV2(ag) => (
            path_with_stage(
                ag.request_context.stage.as_deref(),
                ag.raw_path.as_deref().unwrap_or_default(),
            ),
            &ag.headers,
            host_header(&ag.headers).or_else(|| ag.request_context.domain_name.clone()),
            ag.raw_query_string.as_deref().filter(|q| !q.is_empty()),
        ),
        // The query of these two is re-encoded by `lambda_http` (form-urlencoded): always valid.
        LambdaRequest::ApiGatewayV1(ag) => (
            path_with_stage(
                ag.request_context.stage.as_deref(),
                ag.path.as_deref().unwrap_or_default(),
            ),
            &ag.headers,
            host_header(&ag.headers).or_else(|| ag.request_context.domain_name.clone()),
            None,
        ),
        LambdaRequest::Alb(alb) => (
            alb.path.clone().unwrap_or_default(),
            &alb.headers,
            host_header(&alb.headers),
            None,
        ),
        _ => return Err("the event is not an HTTP request event this function serves".into()),
    };
    let base = match host {
        None => url::Url::parse(&format!("http://localhost{path}"))
            .map_err(|e| format!("the path does not form a URL: {e}"))?
            .path()
            .to_string(),
        Some(host) => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}"))
                .map_err(|e| format!("the scheme, host and path do not form a URL: {e}"))?
                .to_string()
        }
    };
    let uri = match raw_query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    };
    http::Uri::try_from(uri)
        .map(drop)
        .map_err(|e| format!("the request URI is not valid: {e}"))
}

/// `lambda_http`'s `apigw_path_with_stage`: the stage is prefixed unless it is `$default`, or
/// the path already starts with it, or `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set.
fn path_with_stage(stage: Option<&str>, path: &str) -> String {
    if std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_ok() {
        return path.into();
    }
    match stage {
        None | Some("$default") => path.into(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.into(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// A 400 answer in `origin`'s response shape, with snooze's API error body
/// (`{"error": "bad_request", "message": reason}`).
pub fn bad_request(origin: Origin, reason: &str) -> Value {
    answer(
        origin,
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad_request", "message": reason}),
    )
}

/// A JSON answer with `status` in `origin`'s response shape (the one `lambda_http` builds for
/// that origin).
pub fn answer(origin: Origin, status: StatusCode, body: &Value) -> Value {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    let body = Some(Body::Text(body.to_string()));
    let code = i64::from(status.as_u16());
    let shaped = match origin {
        Origin::ApiGatewayV2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = code;
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Origin::ApiGatewayV1 => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = code;
            r.multi_value_headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
        Origin::Alb => {
            let mut r = AlbTargetGroupResponse::default();
            r.status_code = code;
            r.status_description = Some(format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            ));
            r.multi_value_headers = headers.clone();
            r.headers = headers;
            r.body = body;
            serde_json::to_value(r)
        }
    };
    // The structs hold only text this function wrote: serialization cannot fail. Should it,
    // the bare status still reaches the client.
    shaped.unwrap_or_else(|_| json!({"statusCode": code}))
}
