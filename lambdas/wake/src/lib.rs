//! The wake Lambda's adapter: `lambda_http` request in, [`snooze::wake::handle`] in the middle,
//! `lambda_http` response out. The wake logic lives in the library; this crate only converts.

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use snooze::wake::{WakeState, handle};

/// Converts an API Gateway request (as `lambda_http` decoded it: base64 bodies already
/// decoded, the `cookies` array already folded into the `Cookie` header), runs the wake handler
/// and converts the answer. UTF-8 bodies (HTML, JSON) go back as text, anything else as binary
/// (API Gateway then base64-encodes it). Never fails: the handler answers every input.
pub async fn serve(state: &WakeState, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let resp = handle(state, http::Request::from_parts(parts, body)).await;
    resp.map(|b| match String::from_utf8(b.to_vec()) {
        Ok(s) if s.is_empty() => Body::Empty,
        Ok(s) => Body::Text(s),
        Err(e) => Body::Binary(e.into_bytes()),
    })
}
