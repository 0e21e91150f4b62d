//! The wake Lambda's adapter: `lambda_http` request in, [`snooze::wake::handle`] in the middle,
//! `lambda_http` response out. The wake logic lives in the library; this crate only converts.

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use snooze::wake::{WakeConfig, WakeState, handle};

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
