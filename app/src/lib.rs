//! The demo web app that snooze's demo service runs (a Rust rewrite of the replaced system's
//! Express app): a dashboard of the process and machine, demo action buttons, and a live log
//! streamed over Server-Sent Events.
//!
//! Routes (see [`router`]):
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the dashboard (HTML) |
//! | `GET /health` | `200 {"status":"ok"}` |
//! | `GET /api/metrics` | [`Metrics`] as JSON |
//! | `GET /api/logs` | the last 200 [`LogEntry`] as a JSON array, oldest first |
//! | `GET /api/logs/stream` | SSE: a `snapshot` event (JSON array), then one `log` event per new entry, `: heartbeat` comments every `SSE_KEEPALIVE` |
//! | `POST /action` | `{"action":"deploy"}` → [`ActionResult`]; unknown action → 400 `{"error":..,"allowed":[..]}`; bad JSON → 400, wrong content type → 415 |
//! | `GET /static/app.js`, `/static/app.css`, `/static/favicon.svg` | the page's assets |
//!
//! | `GET /api/greeting` | only with `API_URL`: the API's [`Greeting`] fetched server side (502 `{"error":..,"url":..}` when it does not answer) |
//!
//! With `APP_ROLE=api` the binary serves only the tiny JSON API of [`api`] (`/api/greeting`,
//! `/health`) instead: the local demo runs it as `demo-api`, which the dashboard depends on.
//!
//! Configuration comes from the environment ([`Config`]). [`run`] binds, serves, and shuts
//! down gracefully when its signal fires: open SSE streams are ended so they cannot hold
//! shutdown, and after `SHUTDOWN_GRACE` the server stops waiting.

pub mod actions;
pub mod api;
pub mod config;
pub mod ecs;
pub mod logs;
pub mod page;
pub mod system;

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

pub use actions::{Action, ActionResult};
pub use api::{ApiAnswer, Greeting};
pub use config::{AppRole, Config, LogFormat};
pub use ecs::EcsMetadata;
pub use logs::{Level, LogBook, LogEntry, Source};
pub use system::SystemSnapshot;

/// Errors of running the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound (in use, no permission).
    #[error("binding {addr}")]
    Bind {
        /// The address (`HOST`:`PORT`).
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Accepting or serving connections failed.
    #[error("serving http")]
    Serve(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attempts at reading ECS task metadata at start (backing off from 200 ms).
pub const ECS_METADATA_ATTEMPTS: usize = 5;

/// The app's shared state: configuration, the log, the simulated service, ECS metadata and
/// the shutdown switch. Cheap to share as `Arc<App>`.
pub struct App {
    config: Config,
    /// The activity log and its live feed.
    pub logs: LogBook,
    demo: Mutex<actions::DemoState>,
    ecs: RwLock<EcsMetadata>,
    started: Instant,
    started_at: DateTime<Utc>,
    shutdown: watch::Sender<bool>,
    /// The client of the calls to `API_URL` (timeout `API_TIMEOUT`), or why it could not be
    /// built (then each call is an [`ApiAnswer::Failed`] saying so).
    api_client: std::result::Result<reqwest::Client, String>,
}

/// The JSON of `GET /api/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Who this is.
    pub app: AppInfo,
    /// Machine reading (hostname, cpu_count, memory, load_average) at the top level.
    #[serde(flatten)]
    pub system: SystemSnapshot,
    /// ECS task metadata, tagged by `state` (see [`EcsMetadata`]).
    pub ecs: EcsMetadata,
    /// Open SSE log streams.
    pub log_subscribers: usize,
    /// Simulated replica count of the demo actions.
    pub demo_replicas: u32,
}

/// The identity part of [`Metrics`].
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// `APP_NAME`.
    pub name: String,
    /// `APP_ENV`.
    pub environment: String,
    /// `APP_VERSION`.
    pub version: String,
    /// `GIT_SHA`.
    pub git_sha: String,
    /// Process id.
    pub pid: u32,
    /// Start time (UTC, RFC 3339).
    pub started_at: String,
    /// Whole seconds since start.
    pub uptime_seconds: u64,
}

impl App {
    /// New state. ECS metadata starts as `not_configured` when `ECS_CONTAINER_METADATA_URI_V4`
    /// is unset, else `pending` until [`App::load_ecs_metadata`] finishes.
    pub fn new(config: Config) -> Arc<Self> {
        let ecs = if config.ecs_metadata_base().is_some() {
            EcsMetadata::Pending
        } else {
            EcsMetadata::NotConfigured
        };
        let api_client = reqwest::Client::builder()
            .timeout(config.api_timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", ecs::error_chain(&e)));
        Arc::new(App {
            api_client,
            config,
            logs: LogBook::new(),
            demo: Mutex::new(actions::DemoState::default()),
            ecs: RwLock::new(ecs),
            started: Instant::now(),
            started_at: Utc::now(),
            shutdown: watch::channel(false).0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads ECS task metadata (up to [`ECS_METADATA_ATTEMPTS`] tries) and keeps the result
    /// for `/api/metrics` and the page. Does nothing when the endpoint is not configured.
    pub async fn load_ecs_metadata(&self) -> EcsMetadata {
        let state = ecs::load(
            self.config.ecs_metadata_base(),
            self.config.ecs_metadata_timeout,
            ECS_METADATA_ATTEMPTS,
        )
        .await;
        match &state {
            EcsMetadata::Loaded(t) => {
                self.logs.push(
                    Level::Info,
                    Source::System,
                    format!(
                        "running as ECS task {} ({}:{}) in cluster {}",
                        t.task_id(),
                        t.family,
                        t.revision,
                        t.cluster_name()
                    ),
                );
            }
            EcsMetadata::Failed { error } => {
                self.logs.push(
                    Level::Warn,
                    Source::System,
                    format!("ECS task metadata unavailable: {error}"),
                );
            }
            _ => {}
        }
        *self.ecs.write().unwrap_or_else(|e| e.into_inner()) = state.clone();
        state
    }

    /// The current ECS metadata state.
    pub fn ecs_metadata(&self) -> EcsMetadata {
        self.ecs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Time since the state was created.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything `/api/metrics` returns, read now.
    pub fn metrics(&self) -> Metrics {
        let c = &self.config;
        Metrics {
            app: AppInfo {
                name: c.app_name.clone(),
                environment: c.app_env.clone(),
                version: c.app_version.clone(),
                git_sha: c.git_sha.clone(),
                pid: std::process::id(),
                started_at: self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                uptime_seconds: self.uptime().as_secs(),
            },
            system: SystemSnapshot::read(),
            ecs: self.ecs_metadata(),
            log_subscribers: self.logs.subscribers(),
            demo_replicas: self
                .demo
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replicas(),
        }
    }

    /// Performs a demo action, adds its log entry, returns its result.
    pub fn perform(&self, action: Action) -> ActionResult {
        let key_id = format!("key-{:08x}", rand::random::<u32>());
        let result = self.demo.lock().unwrap_or_else(|e| e.into_inner()).perform(
            action,
            &self.config.app_version,
            &key_id,
        );
        let level = if result.ok { Level::Info } else { Level::Warn };
        self.logs.push(
            level,
            Source::Action,
            format!("{action}: {}", result.message),
        );
        result
    }

    /// Starts shutdown: ends every SSE stream and the heartbeat. Idempotent.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether [`App::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once [`App::shutdown`] is called.
    pub fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            // An error means the sender is gone, which also means shutdown.
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Calls the API at `API_URL` (`GET {API_URL}/api/greeting`); None when `API_URL` is unset.
    pub async fn api_answer(&self) -> Option<ApiAnswer> {
        let url = self.config.greeting_url()?;
        Some(match &self.api_client {
            Ok(client) => api::fetch_greeting(client, url).await,
            Err(error) => ApiAnswer::Failed {
                url,
                error: error.clone(),
            },
        })
    }

    fn page_data(&self, api: Option<ApiAnswer>) -> page::PageData {
        let c = &self.config;
        page::PageData {
            app_name: c.app_name.clone(),
            app_env: c.app_env.clone(),
            app_version: c.app_version.clone(),
            git_sha: c.short_sha().to_owned(),
            uptime_seconds: self.uptime().as_secs(),
            pid: std::process::id(),
            system: SystemSnapshot::read(),
            ecs: self.ecs_metadata(),
            logs: self.logs.last(logs::SNAPSHOT_LEN),
            api,
        }
    }
}

/// The router of the configured role (`APP_ROLE`): the dashboard's routes in the crate docs,
/// or the API's of [`api`]; either with latency recording, a JSON 404 and security headers
/// (`Content-Security-Policy: default-src 'self'`, `X-Content-Type-Options`).
pub fn router(app: Arc<App>) -> Router {
    let routes = match app.config.role {
        AppRole::Dashboard => dashboard_routes(),
        AppRole::Api => api::routes(),
    };
    routes
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))) })
        .layer(middleware::from_fn_with_state(app.clone(), record_request))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

fn dashboard_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/api/greeting", get(api_greeting))
        .route("/health", get(health))
        .route("/api/metrics", get(metrics))
        .route("/api/logs", get(recent_logs))
        .route("/api/logs/stream", get(log_stream))
        .route("/action", post(action))
        .route(
            "/static/app.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/app.js"),
                )
            }),
        )
        .route(
            "/static/app.css",
            get(|| asset("text/css; charset=utf-8", include_str!("../static/app.css"))),
        )
        .route(
            "/static/favicon.svg",
            get(|| asset("image/svg+xml", include_str!("../static/favicon.svg"))),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

async fn record_request(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let response = next.run(req).await;
    app.demo
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record_request(t0.elapsed());
    response
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn dashboard(State(app): State<Arc<App>>) -> maud::Markup {
    let api = app.api_answer().await;
    page::render(&app.page_data(api))
}

/// The dashboard's `GET /api/greeting`: the API's answer passed on, or 404 when `API_URL` is
/// unset.
async fn api_greeting(State(app): State<Arc<App>>) -> Response {
    match app.api_answer().await {
        Some(answer) => answer.into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no API configured (API_URL is not set)"})),
        )
            .into_response(),
    }
}

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(app): State<Arc<App>>) -> Json<Metrics> {
    Json(app.metrics())
}

async fn recent_logs(State(app): State<Arc<App>>) -> Json<Vec<LogEntry>> {
    Json(app.logs.last(logs::SNAPSHOT_LEN))
}

/// Body of `POST /action`.
#[derive(Debug, Deserialize)]
struct ActionRequest {
    action: String,
}

async fn action(
    State(app): State<Arc<App>>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> Response {
    let allowed = Action::allowed();
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => {
            // Axum answers 422 for well-formed JSON of the wrong shape; to a caller it is
            // just a bad request.
            let status = match rejection.status() {
                StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                s => s,
            };
            return (
                status,
                Json(json!({"error": rejection.body_text(), "allowed": allowed})),
            )
                .into_response();
        }
    };
    match request.action.parse::<Action>() {
        Ok(a) => Json(app.perform(a)).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": e.to_string(), "allowed": allowed})),
        )
            .into_response(),
    }
}

async fn log_stream(State(app): State<Arc<App>>) -> impl IntoResponse {
    let keep_alive = KeepAlive::new()
        .interval(app.config.sse_keepalive)
        .text("heartbeat");
    let stream = log_events(app.clone()).take_until(app.shutdown_signal());
    (
        [("x-accel-buffering", "no")],
        Sse::new(stream).keep_alive(keep_alive),
    )
}

fn snapshot_event(entries: &[LogEntry]) -> Event {
    Event::default()
        .event("snapshot")
        .json_data(entries)
        .unwrap_or_else(|_| Event::default().event("snapshot").data("[]"))
}

/// The SSE events of one client: a snapshot, then each new entry. A client that falls more
/// than [`logs::BROADCAST_CAPACITY`] entries behind gets a fresh snapshot instead of the
/// entries it missed. Dropping the stream (client gone) drops its receiver.
fn log_events(app: Arc<App>) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let (snapshot, rx) = app.logs.subscribe();
    let first = stream::once(async move { Ok(snapshot_event(&snapshot)) });
    let live = stream::unfold((rx, app), |(mut rx, app)| async move {
        loop {
            match rx.recv().await {
                Ok(entry) => {
                    let event = Event::default()
                        .event("log")
                        .id(entry.seq.to_string())
                        .json_data(&entry);
                    match event {
                        Ok(event) => return Some((Ok(event), (rx, app))),
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping a log entry that did not serialize")
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "slow log stream client: resending a snapshot");
                    let (snapshot, fresh) = app.logs.subscribe();
                    return Some((Ok(snapshot_event(&snapshot)), (fresh, app)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    first.chain(live)
}

/// Adds a heartbeat entry (uptime, memory, open streams) every `HEARTBEAT_INTERVAL` until
/// shutdown.
pub async fn heartbeat_loop(app: Arc<App>) {
    let period = app.config.heartbeat_interval;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = app.shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticks.tick() => {
                let rss = SystemSnapshot::read().memory.rss_bytes.map_or("n/a".into(), page::format_bytes);
                app.logs.push(
                    Level::Info,
                    Source::Heartbeat,
                    format!("heartbeat: up {}, rss {rss}, {} live viewer(s)", page::format_uptime(app.uptime().as_secs()), app.logs.subscribers()),
                );
            }
        }
    }
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down gracefully: stops
/// accepting, ends SSE streams and the heartbeat, waits for open requests at most
/// `SHUTDOWN_GRACE`. Starts the heartbeat loop.
///
/// Errors: [`Error::Serve`] when the listener fails.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let heartbeat = tokio::spawn(heartbeat_loop(app.clone()));
    let on_signal = {
        let app = app.clone();
        async move {
            signal.await;
            app.logs.push(Level::Warn, Source::System, "shutting down");
            app.shutdown();
        }
    };
    let server = axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown(on_signal)
        .into_future();
    let grace = app.config.shutdown_grace;
    let deadline = {
        let down = app.shutdown_signal();
        async move {
            down.await;
            tokio::time::sleep(grace).await;
        }
    };
    tokio::select! {
        served = server => served.map_err(Error::Serve)?,
        _ = deadline => tracing::warn!(grace = ?grace, "connections still open after the shutdown grace period; exiting anyway"),
    }
    heartbeat.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Binds `HOST:PORT`, reads ECS metadata in the background, and serves until `signal`.
///
/// Errors: [`Error::Bind`] when the address cannot be bound, [`Error::Serve`] after.
pub async fn run(config: Config, signal: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let addr = config.listen_addr();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let local = listener.local_addr().map_err(Error::Serve)?;
    let app = App::new(config);
    tracing::info!(addr = %local, "listening");
    app.logs.push(
        Level::Info,
        Source::System,
        format!(
            "{} {} ({}) started in {}, listening on {local}",
            app.config.app_name,
            app.config.app_version,
            app.config.short_sha(),
            app.config.app_env
        ),
    );
    if app.config.ecs_metadata_base().is_some() {
        let app = app.clone();
        tokio::spawn(async move { app.load_ecs_metadata().await });
    }
    serve(listener, app, signal).await
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        _ = term => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// `--healthcheck`: GETs `http://127.0.0.1:$PORT/health` (or `HOST` when it is a specific
/// address) with a 3 s timeout; true on 200.
pub async fn healthcheck(config: &Config) -> bool {
    let host = if config.host.is_unspecified() {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    } else {
        config.host
    };
    let url = format!(
        "http://{}/health",
        std::net::SocketAddr::new(host, config.port)
    );
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(_) => return false,
    };
    matches!(client.get(&url).send().await, Ok(r) if r.status() == StatusCode::OK)
}

/// Installs the stdout tracing subscriber: `LOG_FORMAT` json or plain, level from `RUST_LOG`
/// (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Plain => builder.init(),
    }
}
