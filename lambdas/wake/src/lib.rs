//! The wake Lambda's adapter: the raw event in, checked by [`event::check`] (a malformed event
//! is a 400, never a panic), converted by `lambda_http`, [`snooze::wake::handle`] in the middle,
//! `lambda_http`'s response out in the shape of the event's origin ([`handle_event`]). The wake
//! logic lives in the library; this crate only converts.

pub mod event;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Adapter, Body, LambdaEvent, Request, RequestExt, Response, Service, service_fn};
use serde_json::Value;
use snooze::wake::{WakeConfig, WakeState, handle, handle_by_host};
use tracing::{error, warn};

use crate::event::Origin;

/// The wake Lambda's configuration, read from the environment at cold start
/// ([`Config::from_env`]); each setting is a clap argument with its env var
/// ([`snooze::config`]).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// DynamoDB table of the records (required; set by Terraform).
    #[arg(long, env = "SNOOZE_TABLE", value_name = "TABLE")]
    pub table: String,
    /// Endpoint of an AWS emulator (tests only).
    #[arg(long, env = "SNOOZE_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The wake endpoint's settings (`SNOOZE_DEFAULT_SERVICE`, `SNOOZE_WAKE_DEBOUNCE`, ...).
    #[command(flatten)]
    pub wake: WakeConfig,
}

impl Config {
    /// Reads [`Config`] from the process environment; unset and empty variables are the same
    /// (but an empty `SNOOZE_PUBLIC_PATH_PREFIX` is the empty prefix).
    ///
    /// Errors: `SNOOZE_TABLE` unset or empty, or a value a setting refuses; each message names
    /// the variable.
    pub fn from_env() -> Result<Self, snooze::config::Error> {
        snooze::config::from_env()
    }

    /// Like [`Config::from_env`], with the variables looked up through `get` (tests).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, snooze::config::Error> {
        snooze::config::from_lookup(get)
    }
}

/// Converts an API Gateway or load balancer request (as `lambda_http` decoded it: base64 bodies
/// already decoded, the `cookies` array already folded into the `Cookie` header), runs the wake
/// handler and converts the answer. A request from an Application Load Balancer is served by
/// its `Host` ([`handle_by_host`]: a route-mode record's stable address, else the path
/// routes); one from API Gateway by its path ([`handle`]). UTF-8 bodies (HTML, JSON) go back as text, anything else as binary
/// (API Gateway then base64-encodes it). Never fails: the handler answers every input.
pub async fn serve(state: &WakeState, req: Request) -> Response<Body> {
    let by_host = matches!(req.request_context_ref(), Some(RequestContext::Alb(_)));
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let req = http::Request::from_parts(parts, body);
    let resp = if by_host {
        handle_by_host(state, req).await
    } else {
        handle(state, req).await
    };
    resp.map(|b| match String::from_utf8(b.to_vec()) {
        Ok(s) if s.is_empty() => Body::Empty,
        Ok(s) => Body::Text(s),
        Err(e) => Body::Binary(e.into_bytes()),
    })
}

/// Handles one raw invocation payload: [`event::check`] first (a malformed event is answered
/// 400 in its origin's shape, [`event::bad_request`]), then `lambda_http`'s [`Adapter`] around
/// [`serve`], whose response is serialized in the origin's shape. Never fails and never panics
/// on any payload: this is what `main` runs under `lambda_runtime::run`.
pub async fn handle_event(state: &Arc<WakeState>, event: LambdaEvent<Value>) -> Value {
    let LambdaEvent { payload, context } = event;
    let origin = Origin::of(&payload);
    let request = match event::check(&payload) {
        Ok(r) => r,
        Err(reason) => {
            warn!(request_id = %context.request_id, ?origin, reason, "malformed event rejected");
            return event::bad_request(origin, &reason);
        }
    };
    let state = state.clone();
    let mut adapter = Adapter::from(service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(serve(&state, req).await) }
    }));
    let response = match adapter.call(LambdaEvent::new(request, context)).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    serde_json::to_value(response).unwrap_or_else(|e| {
        error!(error = %e, "the response could not be serialized");
        event::answer(
            origin,
            http::StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "internal", "message": "the response could not be encoded"}),
        )
    })
}
