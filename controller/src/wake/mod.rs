//! The wake endpoint and the wait page (DESIGN.md §5).
//!
//! The handler is written once, over `http::Request<Bytes>` → `http::Response<Bytes>`:
//! [`handle`]. [`router`] serves it with axum (local, `snoozectl dev`); the Lambda wraps the
//! same function with `lambda_http`:
//!
//! ```ignore
//! // state: Arc<WakeState>, built once in main from WakeConfig::from_env() and the store.
//! lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
//!     let state = state.clone();
//!     async move {
//!         let (parts, body) = req.into_parts();
//!         let req = http::Request::from_parts(parts, bytes::Bytes::copy_from_slice(body.as_ref()));
//!         let resp = snooze::wake::handle(&state, req).await;
//!         Ok::<_, std::convert::Infallible>(resp.map(http_body_util::Full::new))
//!     }
//! }))
//! .await
//! ```
//!
//! That exact wrapper is what `controller/tests/wake_http.rs` drives with API Gateway v2 event
//! fixtures (through `lambda_http`'s own adapter). The wake Lambda (`lambdas/wake`) runs it
//! behind one more step: it takes the raw event and checks what `lambda_http`'s conversion would
//! panic on (a body marked base64 that is not, a URI that cannot be built) first, answering a
//! malformed event 400 itself (`snooze_wake::event`). Keep
//! `lambda_http`'s default stage handling (do not set `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`;
//! either way works, see [`route`]). HTML and JSON responses go back as text, `Set-Cookie` as
//! API Gateway's `cookies` array.
//!
//! | route | does |
//! |---|---|
//! | `GET /` | the page of [`WakeConfig::default_service`], else 404 |
//! | `GET /s/{name}[/{path}]` | records a wake (debounced), then 302 to the endpoint when Ready, else the wait page |
//! | `GET /api/v1/services/{name}` | status JSON ([`StatusView`]), no side effects |
//! | `POST /api/v1/services/{name}/wake[?wait=N]` | records a wake; 202 + status JSON (200 when Ready); `wait` ≤ [`WakeConfig::max_wait`] |
//! | `GET /healthz` | `ok` |
//!
//! "Ready" here is [`StatusView::ready`]: phase Ready with a usable endpoint and, for a member
//! of a group, nothing it waits for ([`crate::model::Status::ready_for_visitors`]); a Ready
//! member whose dependency is not Ready gets the wait page, which lists the group's members.
//!
//! The handler never writes anything but `wakeRequestedAt` ([`Store::record_wake`], which never
//! creates a record), and writes nothing for `HEAD`, bots ([`bots`]), unknown names, switched-off
//! or invalid records, a wrong token, or a record that turned `Failed` less than
//! [`WakeConfig::failed_retry_after`] ago (default 60 s) visited without `?retry` (the "Try
//! again" button adds it; a wake after `Failed` starts a fresh attempt). Every problem is
//! a response (4xx for bad input, 503 when the store fails), never a panic. See [`route`] for
//! API Gateway stage prefixes and relative URLs, [`token`] for `access: token`.

pub mod bots;
pub mod hosts;
pub mod page;
pub mod route;
pub mod status;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use serde::Serialize;
use tracing::{info, warn};

use crate::model::{
    Access, Entry, Mode, Phase, Record, Scheme, Theme, Timestamp, normalize_host, validate_name,
};
use crate::store::{self, Store, Touch};
use page::{Content, Notice, PageData, Tone, WaitPage};
use route::Target;

pub use hosts::HostIndex;
pub use route::ROUTES;
pub use status::{StatusView, view, view_record, wake_pending};

/// Configuration errors ([`WakeConfig::from_env`]): the variable, its value and what is wrong
/// (`invalid SNOOZE_WAKE_DEBOUNCE="soon": not a duration; try 10s`). The handler itself has no
/// error type: every failure becomes a response.
pub use crate::config::Error;

/// Debounce for the first wake after `Failed`, so a "Try again" is written even within
/// [`WakeConfig::debounce`] of the failed attempt's own wake, while a burst of clicks is
/// still one write.
pub const RETRY_DEBOUNCE: Duration = Duration::from_secs(1);

/// Largest request body read by the local server ([`router`]; the wake endpoint needs none):
/// 64 KiB; larger is 413 (tower-http's `RequestBodyLimitLayer`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long the local server ([`router`]) waits for the next piece of a request body before
/// answering 408 (tower-http's `RequestBodyTimeoutLayer`: the wait restarts with each piece).
/// (Behind API Gateway the body has arrived before the Lambda runs.)
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Query keys the handler reads or reserves; each may appear at most once (else 400), so a
/// proxy and the handler can never disagree about which value counts.
pub const RESERVED_QUERY_KEYS: &[&str] = &["name", "service", "token", "wait", "retry", "seen"];

/// Query keys removed from the query forwarded to the service on redirect.
const PRIVATE_QUERY_KEYS: &[&str] = &["token", "retry"];

/// How the wake endpoint behaves. Each setting is a clap argument with its env var
/// (`snoozectl dev --help` lists them; the Lambda reads them with [`WakeConfig::from_env`]).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct WakeConfig {
    /// The record `GET /` shows; unset: `GET /` is 404 (`snoozectl dev`: the first record by
    /// name).
    #[arg(long, env = "SNOOZE_DEFAULT_SERVICE", value_name = "NAME", value_parser = default_service)]
    pub default_service: Option<String>,
    /// Wake writes for one record closer together than this are one write (humantime, at most
    /// 5m). A minute of steady hits costs at most 2 writes; the idle clock runs from the last
    /// write, so a service can fall asleep up to this much earlier than `idleTimeout` after the
    /// last hit.
    #[arg(long = "wake-debounce", env = "SNOOZE_WAKE_DEBOUNCE", value_name = "DURATION",
          default_value = "30s", value_parser = |v: &str| crate::config::duration_at_most(v, Duration::from_secs(300)))]
    pub debounce: Duration,
    /// User-Agent substrings that get the page but never wake, used unless a record sets
    /// `spec.wake.ignoreUserAgents`. Default [`bots::DEFAULT_BOTS`]; not read from the env.
    #[arg(skip = bots::DEFAULT_BOTS.iter().map(|s| s.to_string()).collect::<Vec<_>>())]
    pub bots: Vec<String>,
    /// Upper bound of `POST /api/v1/services/{name}/wake?wait=N` (humantime, at most 29s: API
    /// Gateway's integration timeout is 30 s).
    #[arg(long = "wake-max-wait", env = "SNOOZE_WAKE_MAX_WAIT", value_name = "DURATION",
          default_value = "25s", value_parser = |v: &str| crate::config::duration_at_most(v, Duration::from_secs(29)))]
    pub max_wait: Duration,
    /// Whether the access cookie of `access: token` records is marked `Secure` (`true` or
    /// `false`). Only plain-HTTP local setups turn it off.
    #[arg(long, env = "SNOOZE_COOKIE_SECURE", value_name = "BOOL", default_value = "true",
          action = clap::ArgAction::Set, value_parser = crate::config::boolean)]
    pub cookie_secure: bool,
    /// The path prefix browsers use in front of `/s/{name}`, for the access cookie's `Path`
    /// (e.g. `/wake` behind an API mapping key; empty on a custom domain root). Unset: the
    /// stage prefix the handler saw, if any. Page URLs never need it: they are relative.
    #[arg(long, env = "SNOOZE_PUBLIC_PATH_PREFIX", value_name = "PATH", num_args = 0..=1,
          default_missing_value = "", value_parser = public_path_prefix)]
    pub public_path_prefix: Option<String>,
    /// How long a `Failed` service shows its failure before a plain visit (without `?retry`)
    /// starts a fresh attempt again: reloading the page right after a failure does not restart
    /// a crashing service, a visitor who comes back later does not have to find the "Try again"
    /// button. Default 60 s ([`DEFAULT_FAILED_RETRY_AFTER`]); not read from the env.
    #[arg(skip = DEFAULT_FAILED_RETRY_AFTER)]
    pub failed_retry_after: Duration,
    /// How often a held status request (`?wait=N&seen=KEY`, the wait page's) reads the record
    /// again while nothing changed (humantime, 50ms..=5s). Each read is one store read: a
    /// held request of 20 s costs at most 20 s / this (80 DynamoDB reads at 250 ms).
    #[arg(long = "status-watch-every", env = "SNOOZE_STATUS_WATCH_EVERY", value_name = "DURATION",
          default_value = "250ms", value_parser = watch_every)]
    pub watch_every: Duration,
    /// Scheme of the stable addresses of route-mode records (`https` behind a load balancer;
    /// `http` for `snoozectl dev`). Not read from the env.
    #[arg(skip = Scheme::Https)]
    pub stable_scheme: Scheme,
    /// Port of the stable addresses when not the scheme's default (`snoozectl dev`: its listen
    /// port). Not read from the env.
    #[arg(skip)]
    pub stable_port: Option<u16>,
}

/// Value parser of [`WakeConfig::watch_every`].
fn watch_every(v: &str) -> Result<Duration, String> {
    let d = crate::config::duration_at_most(v, Duration::from_secs(5))?;
    if d < Duration::from_millis(50) {
        return Err("at least 50ms".into());
    }
    Ok(d)
}

/// The path on a route-mode record's stable address that the wake endpoint always answers
/// (never the service): its status JSON, held open with `?wait=N&seen=KEY` like
/// `GET /api/v1/services/{name}`. The wait page on the stable address polls it.
pub const STABLE_STATUS_PATH: &str = "/.well-known/snooze/status";

/// Default of [`WakeConfig::failed_retry_after`].
pub const DEFAULT_FAILED_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Default for WakeConfig {
    fn default() -> Self {
        Self {
            default_service: None,
            debounce: Duration::from_secs(30),
            bots: bots::DEFAULT_BOTS.iter().map(|s| s.to_string()).collect(),
            max_wait: Duration::from_secs(25),
            cookie_secure: true,
            public_path_prefix: None,
            failed_retry_after: DEFAULT_FAILED_RETRY_AFTER,
            watch_every: Duration::from_millis(250),
            stable_scheme: Scheme::Https,
            stable_port: None,
        }
    }
}

impl WakeConfig {
    /// Reads the `SNOOZE_*` variables of the fields ([`crate::config::from_env`]): unset or
    /// empty variables keep the default (an empty `SNOOZE_PUBLIC_PATH_PREFIX` is the empty
    /// prefix).
    ///
    /// Errors: [`Error::Invalid`] naming the variable, its value and what would be accepted.
    pub fn from_env() -> Result<Self, Error> {
        crate::config::from_env()
    }

    /// The stable address of `host` (normalised): `{stable_scheme}://{host}[:{stable_port}]/`,
    /// e.g. `https://demo.example.com/` or `http://demo.localhost:8080/`.
    pub fn stable_url(&self, host: &str) -> String {
        match self.stable_port {
            Some(port) => format!("{}://{host}:{port}/", self.stable_scheme.as_str()),
            None => format!("{}://{host}/", self.stable_scheme.as_str()),
        }
    }

    /// Like [`WakeConfig::from_env`] with an explicit lookup (tests, other sources).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        crate::config::from_lookup(get)
    }
}

/// Value parser of [`WakeConfig::default_service`]: a record name.
fn default_service(v: &str) -> Result<String, String> {
    let v = v.trim();
    validate_name(v)?;
    Ok(v.to_string())
}

/// Value parser of [`WakeConfig::public_path_prefix`]: `/path` (trailing `/` dropped) or empty.
fn public_path_prefix(v: &str) -> Result<String, String> {
    let p = v.trim().trim_end_matches('/');
    if !(p.is_empty() || (p.starts_with('/') && !p.starts_with("//")))
        || p.chars()
            .any(|ch| ch.is_whitespace() || ch == ';' || ch == ',')
    {
        return Err("use a path like /wake, or empty".to_string());
    }
    Ok(p.to_string())
}

/// Called with the service name after a wake was written (not when debounced).
pub type OnWake = Arc<dyn Fn(&str) + Send + Sync>;

/// What the handler needs: the store, the configuration and an optional hook.
pub struct WakeState {
    /// Where records are read and `wakeRequestedAt` is written.
    pub store: Arc<dyn Store>,
    /// Behaviour ([`WakeConfig::from_env`] or built by the caller).
    pub config: WakeConfig,
    /// Runs after a wake was written; `snoozectl dev` uses it to reconcile at once.
    pub on_wake: Option<OnWake>,
    /// Which record claims a `Host`, for requests routed by host rather than by path (the
    /// wake Lambda behind the shared load balancer); read from `store` on first use.
    pub hosts: HostIndex,
}

impl WakeState {
    /// A state without a hook.
    pub fn new(store: Arc<dyn Store>, config: WakeConfig) -> Self {
        Self {
            hosts: HostIndex::new(store.clone()),
            store,
            config,
            on_wake: None,
        }
    }

    /// Sets [`WakeState::on_wake`].
    pub fn with_on_wake(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_wake = Some(Arc::new(f));
        self
    }
}

impl std::fmt::Debug for WakeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeState")
            .field("config", &self.config)
            .field("on_wake", &self.on_wake.is_some())
            .finish_non_exhaustive()
    }
}

/// The parsed query string: decoded pairs plus the raw form (for forwarding).
struct Query {
    pairs: Vec<(String, String)>,
    raw: String,
}

impl Query {
    fn parse(raw: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for key in RESERVED_QUERY_KEYS {
            if pairs.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(format!("the query parameter {key:?} may appear only once"));
            }
        }
        Ok(Self {
            pairs,
            raw: raw.to_string(),
        })
    }

    /// Like [`Query::parse`] without the one-value rule: on a stable address the query is the
    /// service's own, and a repeated key is none of the wake endpoint's business.
    fn parse_lenient(raw: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            raw: raw.to_string(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The raw query without the pieces whose decoded key is in `drop`, encoding untouched.
    fn raw_without(&self, drop: &[&str]) -> String {
        self.raw
            .split('&')
            .filter(|piece| !piece.is_empty())
            .filter(|piece| {
                let key = form_urlencoded::parse(piece.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned());
                !key.is_some_and(|k| drop.contains(&k.as_str()))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Per-request facts the route handlers share.
struct Ctx<'a> {
    head: bool,
    prefix: Option<&'a str>,
    rel: &'a str,
    query: Query,
    headers: &'a HeaderMap,
    now: Timestamp,
    nonce: String,
    /// The request came to a route-mode record's stable address (by `Host`), not to
    /// `/s/{name}`: the page reloads itself instead of redirecting, and polls
    /// [`STABLE_STATUS_PATH`].
    via_host: bool,
}

/// Handles one request. Never panics on any input and never returns 5xx for bad input (503
/// only when the store fails). See the module docs for the routes.
pub async fn handle(state: &WakeState, req: Request<Bytes>) -> Response<Bytes> {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path();
    let routed = route::route(path);
    let method = &parts.method;
    let head = method == Method::HEAD;
    let query = match Query::parse(parts.uri.query().unwrap_or("")) {
        Ok(q) => q,
        Err(msg) => return bad_request(&routed.target, routed.rel, &msg, head),
    };
    let ctx = Ctx {
        head,
        prefix: routed.prefix,
        rel: routed.rel,
        query,
        headers: &parts.headers,
        now: Timestamp::now(),
        nonce: hex::encode(rand::random::<[u8; 16]>()),
        via_host: false,
    };
    let allowed: &[Method] = match routed.target {
        Target::Wake(_) => &[Method::POST],
        _ => &[Method::GET, Method::HEAD],
    };
    if !allowed.contains(method) && routed.target != Target::NotFound {
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut resp = error_response(
            &routed.target,
            routed.rel,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            &format!("This address answers {allow}."),
            &ctx,
        );
        if let Ok(v) = HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return resp;
    }
    match routed.target {
        Target::Healthz => text_response(StatusCode::OK, "ok\n", head),
        Target::StageRoot(stage) => {
            let q = if ctx.query.raw.is_empty() {
                String::new()
            } else {
                format!("?{}", ctx.query.raw)
            };
            redirect_response(&format!("{stage}/{q}"))
        }
        Target::NotFound => error_response(
            &routed.target,
            routed.rel,
            StatusCode::NOT_FOUND,
            "not_found",
            "Page not found",
            "There is nothing at this address.",
            &ctx,
        ),
        Target::Root => match &state.config.default_service {
            Some(name) => page(state, &ctx, name, "").await,
            None => notice_response(
                StatusCode::NOT_FOUND,
                "No default service",
                "Open a service by its address, /s/NAME.",
                Tone::Info,
                Theme::Auto,
                &ctx,
                vec![],
            ),
        },
        Target::Page { name, rest } => page(state, &ctx, name, rest).await,
        Target::Status(name) => api_status(state, &ctx, name).await,
        Target::Wake(name) => api_wake(state, &ctx, name).await,
    }
}

/// Handles one request that came to the stable address of route-mode record `name` while the
/// address points at the wake endpoint (the router resolved the `Host`; see
/// [`crate::router`]). Never panics, never 5xx for bad input:
///
/// | request | answer |
/// |---|---|
/// | `GET/HEAD` [`STABLE_STATUS_PATH`]`[?wait=N&seen=KEY]` | the status JSON, held like `GET /api/v1/services/{name}` |
/// | `GET/HEAD` any other path | a wake (debounced; not for bots or `HEAD`) and the wait page, which reloads this same URL once the address points at the service |
/// | any other method | a wake, then `503` with the status JSON and `Retry-After` (an API client retries the same request) |
///
/// A request body is never read here; the local server answers one over [`MAX_BODY_BYTES`]
/// with 413 before it gets this far, so a large upload to a sleeping service does not wake it.
pub async fn handle_host(state: &WakeState, req: Request<Bytes>, name: &str) -> Response<Bytes> {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path();
    let method = &parts.method;
    let head = method == Method::HEAD;
    let ctx = Ctx {
        head,
        prefix: None,
        rel: path,
        query: Query::parse_lenient(parts.uri.query().unwrap_or("")),
        headers: &parts.headers,
        now: Timestamp::now(),
        nonce: hex::encode(rand::random::<[u8; 16]>()),
        via_host: true,
    };
    let read = method == Method::GET || head;
    if path == STABLE_STATUS_PATH {
        if !read {
            return api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this address answers GET, HEAD",
                None,
                head,
            );
        }
        return api_status(state, &ctx, name).await;
    }
    if read && !(method == Method::GET && asks_for_json(&parts.headers)) {
        return page(state, &ctx, name, path).await;
    }
    // An API client (POST, PUT, ..., or a GET that asks for JSON and not HTML): wake, and say
    // when to try again.
    let mut resp = api_wake(state, &ctx, name).await;
    if resp.status() == StatusCode::ACCEPTED || resp.status() == StatusCode::OK {
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        if !resp.headers().contains_key(header::RETRY_AFTER) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
    resp
}

/// True when a request's `Accept` header names a JSON media type (`application/json` or a
/// `+json` suffix) and no HTML one (`text/html`, `application/xhtml+xml`): an API client, which
/// gets a `503` with the status JSON instead of the wait page. A request without `Accept`, or
/// with `*/*` alone, is a browser's (or curl's) and gets the page.
pub fn asks_for_json(headers: &http::HeaderMap) -> bool {
    let types = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| range.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    let json = types
        .iter()
        .any(|t| t == "application/json" || t.ends_with("+json"));
    let html = types
        .iter()
        .any(|t| t == "text/html" || t == "application/xhtml+xml");
    json && !html
}

/// The host a request was sent to, normalised ([`normalize_host`]): the `Host` header, else
/// the URI's authority (HTTP/2). `None` when neither names a DNS host (an IP literal, a
/// malformed header).
pub fn request_host(parts: &http::request::Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .and_then(normalize_host)
}

/// Whether a request may see a token-protected record; the token to remember when it came
/// from the query.
enum Authz {
    Granted { remember: Option<String> },
    Denied,
}

fn authorize(record: &Record, name: &str, ctx: &Ctx<'_>) -> Authz {
    if record.spec.wake.access != Access::Token {
        return Authz::Granted { remember: None };
    }
    let Some(expected) = record.spec.wake.token_sha256.as_deref() else {
        return Authz::Denied;
    };
    let query_token = ctx.query.get("token");
    for (i, candidate) in token::presented_tokens(name, query_token, ctx.headers)
        .into_iter()
        .enumerate()
    {
        if token::token_matches(candidate, expected) {
            let from_query = i == 0 && query_token.is_some();
            return Authz::Granted {
                remember: from_query.then(|| candidate.to_string()),
            };
        }
    }
    Authz::Denied
}

/// Inside quiet hours (`spec.schedule.asleep`, and no forced wake holds): when they end, in
/// the schedule's zone for people (`Tue 2026-12-01 06:00 CET`). The precedence function decides
/// ([`Record::quiet_until`], rows 1–5 of the precedence).
pub fn quiet_until(r: &Record, now: Timestamp) -> Option<String> {
    let until = r.quiet_until(now, Duration::ZERO)?;
    let schedule = r.spec.schedule.as_ref()?;
    Some(schedule.local_time(until))
}

/// This month's budget reached (`spec.budget`, and no forced wake holds): what a visitor is
/// told, `<title> reached its monthly budget of $10.00 (this month: $12.50). It can be woken
/// again on 2026-12-01 00:00 UTC, or by an operator with snoozectl wake --force.` The
/// precedence function decides ([`Record::over_budget`], rows 1–4 of the precedence).
pub fn over_budget(r: &Record, now: Timestamp) -> Option<String> {
    let reached = r.over_budget(now)?;
    Some(budget_sentence(r.title(), &reached))
}

/// The plain sentence of [`over_budget`] for `title`.
pub fn budget_sentence(title: &str, reached: &crate::model::ledger::BudgetReached) -> String {
    use crate::model::ledger::dollars;
    format!(
        "{title} reached its monthly budget of {} (this month: {}). It can be woken again on {}, \
         or by an operator with snoozectl wake --force.",
        dollars(reached.budget),
        dollars(reached.cost),
        reached.until_words()
    )
}

/// Why a record cannot be woken, if it cannot.
fn switched_off(r: &Record) -> bool {
    r.spec.mode == Mode::Off || !r.spec.wake.enabled
}

fn is_invalid(r: &Record) -> bool {
    r.status.as_ref().is_some_and(|s| s.phase == Phase::Invalid)
        || !crate::model::validate(r).is_empty()
}

/// True when a preserved path is safe to append to the endpoint: it starts with exactly one
/// `/`, and neither it nor its percent-decoded form starts with `//` or contains `\` or a
/// control character.
pub fn safe_preserved_path(rest: &str) -> bool {
    if rest.is_empty() {
        return true;
    }
    let decoded = urlencoding::decode_binary(rest.as_bytes());
    let decoded = String::from_utf8_lossy(&decoded);
    [rest, decoded.as_ref()].iter().all(|p| {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p.contains('\\')
            && !p.chars().any(char::is_control)
    })
}

/// The redirect target: the published endpoint, plus (when `preserve`) the visitor's path
/// after `/s/{name}` and the query without `token`/`retry`. `None` when the endpoint is not an
/// absolute http(s) URL, the path is unsafe ([`safe_preserved_path`]), or the result would
/// leave the endpoint's scheme and authority.
pub fn redirect_target(endpoint: &str, preserve: bool, rest: &str, query: &str) -> Option<String> {
    let base = status::usable_endpoint(endpoint)?;
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let base_path = base.path();
    let (path, query) = if preserve {
        if !safe_preserved_path(rest) {
            return None;
        }
        let path = if rest.is_empty() {
            base_path.to_string()
        } else {
            format!("{}{rest}", base_path.trim_end_matches('/'))
        };
        (path, query)
    } else {
        (base_path.to_string(), "")
    };
    let mut out = format!("{scheme}://{authority}{path}");
    let own_query = base.query().unwrap_or("");
    let joined: Vec<&str> = [own_query, query]
        .into_iter()
        .filter(|q| !q.is_empty())
        .collect();
    if !joined.is_empty() {
        out.push('?');
        out.push_str(&joined.join("&"));
    }
    let check: http::Uri = out.parse().ok()?;
    (check.scheme_str() == Some(scheme) && check.authority().map(|a| a.as_str()) == Some(authority))
        .then_some(out)
}

async fn load(state: &WakeState, name: &str) -> Result<Option<Entry>, store::Error> {
    state.store.get(name).await
}

async fn page(state: &WakeState, ctx: &Ctx<'_>, name: &str, rest: &str) -> Response<Bytes> {
    let span = tracing::info_span!("wake_page", service = %name);
    let _g = span.enter();
    if let Err(reason) = validate_name(name) {
        return notice_response(
            StatusCode::BAD_REQUEST,
            "Not a service name",
            &reason,
            Tone::Error,
            Theme::Auto,
            ctx,
            vec![],
        );
    }
    let entry = match load(state, name).await {
        Ok(Some(e)) => e,
        Ok(None) => return unknown_service(name, ctx),
        Err(e) => return store_failed(&e, true, ctx),
    };
    let mut record = match entry {
        Entry::Record(r) => *r,
        Entry::Malformed(_) => {
            return notice_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{name} cannot be woken"),
                status::INVALID_MESSAGE,
                Tone::Error,
                Theme::Auto,
                ctx,
                vec![],
            );
        }
    };
    // A route-mode record lives at its stable address: `/s/{name}` sends the visitor there
    // (path and query kept), where the same wait page, or the service, answers.
    if !ctx.via_host
        && let Some(host) = record.spec.route_host()
        && safe_preserved_path(rest)
    {
        let base = state.config.stable_url(&host);
        let path = rest.strip_prefix('/').unwrap_or(rest);
        let q = ctx.query.raw_without(&["retry"]);
        let target = if q.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{q}")
        };
        return redirect_response(&target);
    }
    let theme = record.spec.page.theme;
    let mut cookies = vec![];
    match authorize(&record, name, ctx) {
        Authz::Denied => {
            return notice_response(
                StatusCode::FORBIDDEN,
                "Access token needed",
                "This service needs a valid access link. Ask whoever shared it for a new one.",
                Tone::Error,
                theme,
                ctx,
                vec![],
            );
        }
        Authz::Granted {
            remember: Some(tok),
        } => {
            let prefix = state
                .config
                .public_path_prefix
                .clone()
                .unwrap_or_else(|| ctx.prefix.map(|p| format!("/{p}")).unwrap_or_default());
            if let Some(c) = token::set_cookies(name, &tok, &prefix, state.config.cookie_secure) {
                cookies.extend(c);
            }
        }
        Authz::Granted { remember: None } => {}
    }
    let title = record.title().to_string();
    if is_invalid(&record) {
        return notice_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{title} cannot be woken"),
            status::INVALID_MESSAGE,
            Tone::Error,
            theme,
            ctx,
            cookies,
        );
    }
    if switched_off(&record) {
        return notice_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{title} is switched off"),
            "Waking it from this page is turned off. An operator can switch it back on.",
            Tone::Info,
            theme,
            ctx,
            cookies,
        );
    }
    if let Some(sentence) = over_budget(&record, ctx.now) {
        return notice_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{title} reached its monthly budget"),
            &sentence,
            Tone::Info,
            theme,
            ctx,
            cookies,
        );
    }
    if let Some(until) = quiet_until(&record, ctx.now) {
        return notice_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{title} is asleep until {until}"),
            "These are its quiet hours: it cannot be woken from this page before then. An \
             operator can still wake it with snoozectl wake --force.",
            Tone::Info,
            theme,
            ctx,
            cookies,
        );
    }
    let preserve = record.spec.wake.preserve_path;
    if preserve && !safe_preserved_path(rest) {
        return notice_response(
            StatusCode::BAD_REQUEST,
            "This address cannot be forwarded",
            "The path must start with a single '/' and contain no backslashes.",
            Tone::Error,
            theme,
            ctx,
            cookies,
        );
    }
    let ua = ctx
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bot = match &record.spec.wake.ignore_user_agents {
        Some(list) => bots::is_bot(ua, list),
        None => bots::is_bot(ua, &state.config.bots),
    };
    let failed_since = record
        .status
        .as_ref()
        .filter(|s| s.phase == Phase::Failed)
        .map(|s| s.phase_since.unwrap_or(ctx.now));
    let failed = failed_since.is_some();
    let pending = wake_pending(&record);
    let retry = ctx.query.get("retry").is_some()
        || failed_since.is_some_and(|t| ctx.now.since(t) >= state.config.failed_retry_after);
    let write = !ctx.head && !bot && (!failed || pending || retry);
    if write {
        match wake_and_see(state, name, &mut record, ctx.now).await {
            Ok(()) => {}
            Err(store::Error::NotFound(_)) => return unknown_service(name, ctx),
            Err(e) => return store_failed(&e, true, ctx),
        }
    }
    let mut v = view_record(&record, ctx.now);
    if ctx.via_host && v.ready {
        // The status says the address points at the service, yet this request reached the
        // wake endpoint: the route is being switched. Keep polling instead of reloading.
        v = status::not_yet_routed(v, &record);
    }
    if let (false, true, Some(url)) = (ctx.via_host, v.ready, v.url.as_deref()) {
        let q = ctx.query.raw_without(PRIVATE_QUERY_KEYS);
        if let Some(target) = redirect_target(url, preserve, rest, &q) {
            let mut resp = redirect_response(&target);
            add_cookies(&mut resp, &cookies);
            return resp;
        }
        warn!(service = %name, url, "endpoint url unusable for a redirect; showing the wait page");
    }
    let polling = v.in_progress() && !bot && !ctx.head;
    let own_query = ctx.query.raw_without(&["retry"]);
    let retry_query = if own_query.is_empty() {
        "retry=1".to_string()
    } else {
        format!("{own_query}&retry=1")
    };
    // On a stable address the page's URLs are absolute paths on the same host: the path is
    // the service's own, and the status lives at a fixed path.
    let (refresh_url, retry_url, poll_url) = if ctx.via_host {
        let with = |q: &str| {
            if q.is_empty() {
                ctx.rel.to_string()
            } else {
                format!("{}?{q}", ctx.rel)
            }
        };
        (
            with(&own_query),
            with(&retry_query),
            STABLE_STATUS_PATH.to_string(),
        )
    } else {
        (
            route::self_url(ctx.rel, &own_query),
            route::self_url(ctx.rel, &retry_query),
            route::status_url(ctx.rel, name),
        )
    };
    let heading = match v.phase {
        Phase::Waking => format!("{title} is waking up"),
        Phase::Failed => format!("{title} could not be started"),
        Phase::Sleeping => format!("{title} is going to sleep"),
        Phase::Ready => format!("{title} is ready"),
        _ => format!("{title} is asleep"),
    };
    let data = PageData {
        title: heading,
        theme,
        nonce: ctx.nonce.clone(),
        content: Content::Wait(WaitPage {
            service_title: title,
            refresh: polling.then(|| (v.retry_after_seconds.unwrap_or(2), refresh_url.clone())),
            poll_url: polling.then_some(poll_url),
            retry_url,
            view: v,
        }),
    };
    let mut resp = html_response(StatusCode::OK, &data, ctx.head);
    add_cookies(&mut resp, &cookies);
    resp
}

/// The debounce of a wake write for `record`: [`WakeConfig::debounce`], except when the last
/// wake no longer counts: [`RETRY_DEBOUNCE`] when the record is `Failed` with no newer wake
/// pending or waits for a group member that is `Failed` ([`status::failed_dependencies`]), and the time from the last wake to an operator's newer `sleepRequestedAt` (at most
/// [`RETRY_DEBOUNCE`]) — so a visit after a failure or after `snoozectl sleep`, however soon,
/// always wakes, while a burst of hits is still one write.
pub fn wake_debounce(config: &WakeConfig, record: &Record) -> Duration {
    let failed = record
        .status
        .as_ref()
        .is_some_and(|s| s.phase == Phase::Failed);
    let d = &record.desired;
    match (d.sleep_requested_at, d.wake_requested_at) {
        // Slept since the last wake: at most the time between the two, so a visit right after
        // the sleep request is written (the store compares with the last wake), while hits
        // racing that write still find a newer wake than this window and are debounced.
        (Some(slept), Some(woken)) if slept >= woken => RETRY_DEBOUNCE.min(slept.since(woken)),
        (Some(_), None) => RETRY_DEBOUNCE,
        _ if failed && !wake_pending(record) => RETRY_DEBOUNCE,
        // A dependency it waits for failed: the next visit is the retry of the group (a
        // member's wake releases the dependency's Failed latch in the pass).
        _ if (record.status.as_ref())
            .is_some_and(|s| !status::failed_dependencies(s).is_empty()) =>
        {
            RETRY_DEBOUNCE
        }
        _ => config.debounce,
    }
}

/// Records a wake for `record` (read by this request) and leaves in `record` what the answer
/// must show: the wake just written, or, when the write was debounced, the record as stored
/// now. A debounced write means a wake newer than this request's read may be stored (visitors
/// arriving together: the first one's wake debounces the others'); answering from the older
/// read would show them `Asleep`, and their page would not poll, so it would never move on.
async fn wake_and_see(
    state: &WakeState,
    name: &str,
    record: &mut Record,
    now: Timestamp,
) -> Result<(), store::Error> {
    let debounce = wake_debounce(&state.config, record);
    if record_wake(state, name, now, debounce).await? {
        record.desired.wake_requested_at = Some(now);
    } else if let Some(Entry::Record(stored)) = load(state, name).await? {
        *record = *stored;
    }
    Ok(())
}

/// Writes the wake; `Ok(true)` when written (and the hook ran), `Ok(false)` when debounced.
async fn record_wake(
    state: &WakeState,
    name: &str,
    now: Timestamp,
    debounce: Duration,
) -> Result<bool, store::Error> {
    match state.store.record_wake(name, now, debounce).await? {
        Touch::Written => {
            info!(service = %name, "wake recorded");
            if let Some(hook) = &state.on_wake {
                hook(name);
            }
            Ok(true)
        }
        Touch::Debounced => Ok(false),
    }
}

#[derive(Serialize)]
struct ApiError<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusView>,
}

fn api_error(
    code: StatusCode,
    error: &str,
    message: impl Into<String>,
    status: Option<StatusView>,
    head: bool,
) -> Response<Bytes> {
    json_response(
        code,
        &ApiError {
            error,
            message: message.into(),
            status,
        },
        head,
    )
}

async fn api_status(state: &WakeState, ctx: &Ctx<'_>, name: &str) -> Response<Bytes> {
    if let Err(reason) = validate_name(name) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            reason,
            None,
            ctx.head,
        );
    }
    let entry = match load(state, name).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no service named {name:?}"),
                None,
                ctx.head,
            );
        }
        Err(e) => return store_failed(&e, false, ctx),
    };
    if let Entry::Record(r) = &entry
        && let Authz::Denied = authorize(r, name, ctx)
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a valid token is needed (cookie, ?token= or Authorization: Bearer)",
            None,
            ctx.head,
        );
    }
    let mut v = stable_view(state, &entry, ctx.now);
    let wait = match ctx.query.get("wait").map(|w| w.trim().parse::<u64>()) {
        None => 0,
        Some(Ok(n)) if n <= state.config.max_wait.as_secs() => n,
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_wait",
                format!(
                    "wait must be a whole number of seconds from 0 to {}",
                    state.config.max_wait.as_secs()
                ),
                None,
                ctx.head,
            );
        }
    };
    if wait > 0
        && !ctx.head
        && let Some(seen) = ctx.query.get("seen")
        && seen == v.change_key
    {
        v = watch_view(state, name, seen, Duration::from_secs(wait))
            .await
            .unwrap_or(v);
    }
    json_response(StatusCode::OK, &v, ctx.head)
}

/// [`view`] of `entry` with its stable address filled in ([`StatusView::address`], route mode
/// only; the wake endpoint knows its scheme and port).
fn stable_view(state: &WakeState, entry: &Entry, now: Timestamp) -> StatusView {
    let mut v = view(entry, now);
    if let Entry::Record(r) = entry {
        v.address = r.spec.route_host().map(|h| state.config.stable_url(&h));
    }
    v
}

/// Re-reads the record every [`WakeConfig::watch_every`] until its view's
/// [`StatusView::change_key`] differs from `seen`, or `wait` is over; the last view read
/// (`None` if no read succeeded). At most `wait / watch_every` store reads.
async fn watch_view(
    state: &WakeState,
    name: &str,
    seen: &str,
    wait: Duration,
) -> Option<StatusView> {
    let every = state.config.watch_every;
    let last = std::sync::Mutex::new(None::<StatusView>);
    let read = || async {
        let entry = match state.store.get(name).await {
            Ok(Some(e)) => e,
            _ => return Err(()),
        };
        let v = stable_view(state, &entry, Timestamp::now());
        let changed = v.change_key != seen;
        *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        if changed { Ok(()) } else { Err(()) }
    };
    let times = (wait.as_millis() / every.as_millis().max(1)) as usize;
    let policy = ConstantBuilder::default()
        .with_delay(every)
        .with_max_times(times);
    let _ = tokio::time::timeout(wait, read.retry(policy)).await;
    last.into_inner().unwrap_or_else(|p| p.into_inner())
}

async fn api_wake(state: &WakeState, ctx: &Ctx<'_>, name: &str) -> Response<Bytes> {
    let span = tracing::info_span!("wake_api", service = %name);
    let _g = span.enter();
    if let Err(reason) = validate_name(name) {
        return api_error(StatusCode::BAD_REQUEST, "invalid_name", reason, None, false);
    }
    let max = state.config.max_wait.as_secs();
    // On a stable address the query is the service's own: no `wait` there.
    let wait = match ctx.query.get("wait").filter(|_| !ctx.via_host) {
        None => 0,
        Some(w) => match w.trim().parse::<u64>() {
            Ok(n) if n <= max => n,
            _ => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_wait",
                    format!("wait must be a whole number of seconds from 0 to {max}"),
                    None,
                    false,
                );
            }
        },
    };
    let entry = match load(state, name).await {
        Ok(Some(e)) => e,
        Ok(None) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no service named {name:?}"),
                None,
                false,
            );
        }
        Err(e) => return store_failed(&e, false, ctx),
    };
    let mut record = match entry {
        Entry::Record(r) => *r,
        m @ Entry::Malformed(_) => {
            return api_error(
                StatusCode::CONFLICT,
                "invalid",
                status::INVALID_MESSAGE,
                Some(view(&m, ctx.now)),
                false,
            );
        }
    };
    if let Authz::Denied = authorize(&record, name, ctx) {
        return api_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a valid token is needed (cookie, ?token= or Authorization: Bearer)",
            None,
            false,
        );
    }
    if is_invalid(&record) {
        return api_error(
            StatusCode::CONFLICT,
            "invalid",
            status::INVALID_MESSAGE,
            Some(view_record(&record, ctx.now)),
            false,
        );
    }
    if switched_off(&record) {
        return api_error(
            StatusCode::CONFLICT,
            "switched_off",
            "waking this service is switched off (spec.mode off or spec.wake.enabled false)",
            Some(view_record(&record, ctx.now)),
            false,
        );
    }
    if let Some(sentence) = over_budget(&record, ctx.now) {
        return api_error(
            StatusCode::CONFLICT,
            "over_budget",
            sentence,
            Some(view_record(&record, ctx.now)),
            false,
        );
    }
    if let Some(until) = quiet_until(&record, ctx.now) {
        return api_error(
            StatusCode::CONFLICT,
            "quiet_hours",
            format!(
                "asleep until {until} (quiet hours, spec.schedule.asleep); an operator can \
                 wake it with snoozectl wake --force"
            ),
            Some(view_record(&record, ctx.now)),
            false,
        );
    }
    match wake_and_see(state, name, &mut record, ctx.now).await {
        Ok(()) => {}
        Err(store::Error::NotFound(_)) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no service named {name:?}"),
                None,
                false,
            );
        }
        Err(e) => return store_failed(&e, false, ctx),
    }
    let mut v = view_record(&record, ctx.now);
    v.address = record
        .spec
        .route_host()
        .map(|h| state.config.stable_url(&h));
    if wait > 0 && !v.ready {
        let address = v.address.take();
        v = wait_until_ready(state, name, Duration::from_secs(wait))
            .await
            .unwrap_or(v);
        v.address = address;
    }
    let code = if v.ready {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let retry_after = v.retry_after_seconds;
    let mut resp = json_response(code, &v, false);
    if let Some(s) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

/// Re-reads the record every 250 ms until it is Ready, `Failed`/`Invalid`, or `wait` is over;
/// the last view read (`None` if no read succeeded).
async fn wait_until_ready(state: &WakeState, name: &str, wait: Duration) -> Option<StatusView> {
    const EVERY: Duration = Duration::from_millis(250);
    let last = std::sync::Mutex::new(None::<StatusView>);
    let read = || async {
        let v = match state.store.get(name).await {
            Ok(Some(e)) => view(&e, Timestamp::now()),
            _ => return Err(()),
        };
        let settled = v.ready || matches!(v.phase, Phase::Failed | Phase::Invalid);
        *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        if settled { Ok(()) } else { Err(()) }
    };
    let times = (wait.as_millis() / EVERY.as_millis()) as usize;
    let policy = ConstantBuilder::default()
        .with_delay(EVERY)
        .with_max_times(times);
    let _ = tokio::time::timeout(wait, read.retry(policy)).await;
    last.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn unknown_service(name: &str, ctx: &Ctx<'_>) -> Response<Bytes> {
    notice_response(
        StatusCode::NOT_FOUND,
        "No such service",
        &format!("There is no service called \u{201c}{name}\u{201d}. Check the address."),
        Tone::Error,
        Theme::Auto,
        ctx,
        vec![],
    )
}

fn store_failed(e: &store::Error, html: bool, ctx: &Ctx<'_>) -> Response<Bytes> {
    warn!(error = %e, "store read or write failed");
    let mut resp = if html {
        notice_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The service registry could not be reached. Try again in a few seconds.",
            Tone::Error,
            Theme::Auto,
            ctx,
            vec![],
        )
    } else {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the record store could not be reached; retry",
            None,
            ctx.head,
        )
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    resp
}

/// A 4xx that answers in the route's language: JSON under `/api/`, else an HTML notice.
fn error_response(
    target: &Target<'_>,
    rel: &str,
    code: StatusCode,
    error: &str,
    heading: &str,
    text: &str,
    ctx: &Ctx<'_>,
) -> Response<Bytes> {
    let api = matches!(target, Target::Status(_) | Target::Wake(_)) || rel.starts_with("/api/");
    if api {
        api_error(code, error, text.to_string(), None, ctx.head)
    } else {
        notice_response(code, heading, text, Tone::Error, Theme::Auto, ctx, vec![])
    }
}

fn bad_request(target: &Target<'_>, rel: &str, msg: &str, head: bool) -> Response<Bytes> {
    let ctx = Ctx::bare(head, rel);
    error_response(
        target,
        rel,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "Bad request",
        msg,
        &ctx,
    )
}

static EMPTY_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);

impl Ctx<'_> {
    /// The context of an answer that does not depend on the request (no query, no headers).
    fn bare(head: bool, rel: &str) -> Ctx<'_> {
        Ctx {
            head,
            prefix: None,
            rel,
            query: Query {
                pairs: vec![],
                raw: String::new(),
            },
            headers: &EMPTY_HEADERS,
            now: Timestamp::now(),
            nonce: hex::encode(rand::random::<[u8; 16]>()),
            via_host: false,
        }
    }
}

/// A request that reaches the wake endpoint by `Host` rather than by path (the wake Lambda
/// behind the shared load balancer, whose default action sends it every host without a rule
/// of its own and every stable address whose rule points at the wake endpoint): a host that a
/// route-mode record claims ([`WakeState::hosts`]) is that record's stable address
/// ([`handle_host`]); any other host (the load balancer's own DNS name, the wake endpoint's
/// domain) is served by path ([`handle`]: `/s/{name}`, the API). When the record store cannot
/// be read to tell: `503` with `Retry-After`.
pub async fn handle_by_host(state: &WakeState, req: Request<Bytes>) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let found = match request_host(&parts) {
        Some(host) => state.hosts.lookup(&host).await,
        None => Ok(None),
    };
    let req = Request::from_parts(parts, body);
    match found {
        Ok(Some(name)) => handle_host(state, req, &name).await,
        Ok(None) => handle(state, req).await,
        Err(e) => {
            let head = req.method() == Method::HEAD;
            store_failed(&e, !asks_for_json(req.headers()), &Ctx::bare(head, "/"))
        }
    }
}

fn notice_response(
    code: StatusCode,
    heading: &str,
    text: &str,
    tone: Tone,
    theme: Theme,
    ctx: &Ctx<'_>,
    cookies: Vec<String>,
) -> Response<Bytes> {
    let data = PageData {
        title: heading.to_string(),
        theme,
        nonce: ctx.nonce.clone(),
        content: Content::Notice(Notice {
            heading: heading.to_string(),
            text: text.to_string(),
            tone,
        }),
    };
    let mut resp = html_response(code, &data, ctx.head);
    add_cookies(&mut resp, &cookies);
    resp
}

fn add_cookies(resp: &mut Response<Bytes>, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

fn common_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The Content-Security-Policy of an HTML response with this nonce.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn html_response(code: StatusCode, data: &PageData, head: bool) -> Response<Bytes> {
    let body = page::render(data);
    let mut resp = Response::new(if head {
        Bytes::new()
    } else {
        Bytes::from(body)
    });
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    common_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(&data.nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    resp
}

fn json_response(code: StatusCode, value: &impl Serialize, head: bool) -> Response<Bytes> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
    let mut resp = Response::new(if head {
        Bytes::new()
    } else {
        Bytes::from(body)
    });
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    common_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text_response(code: StatusCode, text: &'static str, head: bool) -> Response<Bytes> {
    let mut resp = Response::new(if head {
        Bytes::new()
    } else {
        Bytes::from_static(text.as_bytes())
    });
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    common_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn redirect_response(location: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::FOUND;
    let h = resp.headers_mut();
    common_headers(h);
    match HeaderValue::from_str(location) {
        Ok(v) => {
            h.insert(header::LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    resp
}

/// The axum router serving [`handle`] on every path of [`ROUTES`] (and, as a fallback, on
/// stage-prefixed paths). Request bodies are bounded by tower-http's and http-body-util's body
/// wrappers in the handler rather than by router layers, so a request without a body (every
/// `GET`) pays nothing for them (as layers, they cost the status JSON about 8 % of its
/// throughput in `wake_bench`): over [`MAX_BODY_BYTES`] is 413 (a declared `Content-Length`
/// over it at once, before any byte of the body is read), a body that stops arriving for
/// [`BODY_READ_TIMEOUT`] is 408.
pub fn router(state: Arc<WakeState>) -> axum::Router {
    let mut r = axum::Router::new();
    let mut seen = std::collections::BTreeSet::new();
    for (_, p) in ROUTES {
        if seen.insert(*p) {
            r = r.route(&axum_path(p), axum::routing::any(serve));
        }
    }
    r.fallback(serve).with_state(state)
}

/// An OpenAPI / API Gateway path template in axum's syntax (`{proxy+}` → `{*proxy}`).
pub fn axum_path(p: &str) -> String {
    p.replace("{proxy+}", "{*proxy}")
}

async fn serve(
    axum::extract::State(state): axum::extract::State<Arc<WakeState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    match read_body(body).await {
        Ok(bytes) => handle(&state, Request::from_parts(parts, bytes))
            .await
            .map(axum::body::Body::from),
        Err(refused) => refused,
    }
}

/// Reads a request body for the wake endpoint, bounded: over [`MAX_BODY_BYTES`] is a `413`
/// response (at once for a declared `Content-Length`, before any byte is read), a body that
/// stops arriving for [`BODY_READ_TIMEOUT`] is a `408` (both with `Connection: close`). A
/// request without a body costs nothing.
pub async fn read_body(body: axum::body::Body) -> Result<Bytes, axum::response::Response> {
    use http_body_util::BodyExt as _;
    let refuse = |status: StatusCode, text: &'static str| {
        let mut resp = axum::response::Response::new(axum::body::Body::from(text));
        *resp.status_mut() = status;
        // The rest of the body is never read: the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    };
    // The body's size hint is exact for a declared `Content-Length`: refuse a body declared
    // too large before waiting for a byte of it.
    if axum::body::HttpBody::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large\n",
        ));
    }
    if axum::body::HttpBody::is_end_stream(&body) {
        Ok(Bytes::new())
    } else {
        let bounded = tower_http::timeout::TimeoutBody::new(
            BODY_READ_TIMEOUT,
            http_body_util::Limited::new(body, MAX_BODY_BYTES),
        );
        match bounded.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<tower_http::timeout::TimeoutError>() => Err(refuse(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            )),
            Err(_) => Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            )),
        }
    }
}

/// The `404` page for a `Host` that is no record's stable address. It names no record (a
/// stranger learns nothing about what else is served here).
pub fn unknown_host_response(head: bool) -> Response<Bytes> {
    let ctx = Ctx::bare(head, "/");
    notice_response(
        StatusCode::NOT_FOUND,
        "Nothing here",
        "There is no service at this address. Check the address.",
        Tone::Error,
        Theme::Auto,
        &ctx,
        vec![],
    )
}

#[cfg(test)]
mod tests;
