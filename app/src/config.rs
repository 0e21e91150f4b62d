//! Configuration of the demo app: every field comes from an environment variable (or the
//! matching command-line flag), with a default that suits a local run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default for a terminal).
    Plain,
    /// One JSON object per line (for CloudWatch Logs and other collectors).
    Json,
}

/// Which of its two roles the binary plays (env `APP_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppRole {
    /// The dashboard (HTML page, metrics, actions, live log); the default.
    Dashboard,
    /// A tiny JSON API: `GET /api/greeting` and `GET /health`, nothing else. The local demo
    /// runs it as `demo-api`, the member of group `demo` that the dashboard depends on.
    Api,
}

/// The demo app's configuration.
///
/// Each field is read from the environment variable named in its docs, or from the flag of the
/// same name (`--port 9000`). The container image sets `HOST=0.0.0.0` and `LOG_FORMAT=json`.
#[derive(Debug, Clone, Parser)]
#[command(name = "snooze-demo-app", version, about = "The demo web app that snooze wakes and puts to sleep", long_about = None)]
pub struct Config {
    /// Address to bind. Env `HOST`; default `127.0.0.1` (the container image sets `0.0.0.0`).
    #[arg(long, env = "HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,

    /// TCP port to listen on; `0` picks a free port (logged at start). Env `PORT`; default `8080`.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// What this process serves: `dashboard` (the page and its routes) or `api` (only
    /// `GET /api/greeting` and `GET /health`). Env `APP_ROLE`; default `dashboard`.
    #[arg(long, env = "APP_ROLE", value_enum, default_value_t = AppRole::Dashboard)]
    pub role: AppRole,

    /// Base URL of a demo app running with `APP_ROLE=api` (`http://127.0.0.1:8082`). When set,
    /// the dashboard shows a card with that API's greeting, fetched server side from
    /// `{API_URL}/api/greeting` on every page load (and proxied at the dashboard's own
    /// `GET /api/greeting`), or the error when the API does not answer within
    /// `API_TIMEOUT`. Must be an `http://` or `https://` URL. Env `API_URL`; unset: no card.
    #[arg(long, env = "API_URL", value_parser = parse_api_url)]
    pub api_url: Option<reqwest::Url>,

    /// Timeout of each call to `API_URL`. Env `API_TIMEOUT` (humantime); default `2s`.
    #[arg(long, env = "API_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub api_timeout: Duration,

    /// Name shown on the dashboard and in `/api/metrics`. Env `APP_NAME`; default `snooze demo`.
    #[arg(long, env = "APP_NAME", default_value = "snooze demo")]
    pub app_name: String,

    /// Environment label (`dev`, `staging`, `prod`, ...). Env `APP_ENV`; default `local`.
    #[arg(long, env = "APP_ENV", default_value = "local")]
    pub app_env: String,

    /// Version label. Env `APP_VERSION`; default the crate version.
    #[arg(long, env = "APP_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    pub app_version: String,

    /// Git commit the build came from. Env `GIT_SHA`; default `unknown`.
    #[arg(long, env = "GIT_SHA", default_value = "unknown")]
    pub git_sha: String,

    /// Period of the heartbeat entry added to the log. Env `HEARTBEAT_INTERVAL`
    /// (humantime: `30s`, `1m`); default `30s`.
    #[arg(long, env = "HEARTBEAT_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// Period of the keep-alive comment (`: heartbeat`) on the SSE log stream. Env
    /// `SSE_KEEPALIVE` (humantime); default `10s`.
    #[arg(long, env = "SSE_KEEPALIVE", default_value = "10s", value_parser = parse_duration)]
    pub sse_keepalive: Duration,

    /// Base URL of the ECS task metadata endpoint v4, set by the ECS agent in every Fargate
    /// container. Env `ECS_CONTAINER_METADATA_URI_V4`; unset outside ECS.
    #[arg(long, env = "ECS_CONTAINER_METADATA_URI_V4")]
    pub ecs_metadata_uri: Option<String>,

    /// Timeout of each request to the ECS metadata endpoint. Env `ECS_METADATA_TIMEOUT`
    /// (humantime); default `2s`.
    #[arg(long, env = "ECS_METADATA_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub ecs_metadata_timeout: Duration,

    /// How long shutdown waits for open connections after SIGTERM before exiting anyway.
    /// Env `SHUTDOWN_GRACE` (humantime); default `10s`.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log line format on stdout. Env `LOG_FORMAT` (`plain` or `json`); default `plain`.
    /// The level filter comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Instead of serving: GET `http://127.0.0.1:$PORT/health` and exit 0 when it answers
    /// 200, 1 otherwise. For the container HEALTHCHECK (the runtime image has no curl).
    #[arg(long)]
    pub healthcheck: bool,
}

fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

/// `API_URL`: an absolute `http`/`https` URL with a host.
fn parse_api_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s.trim())
        .map_err(|e| format!("{s:?} is not a URL ({e}); expected e.g. http://127.0.0.1:8082"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{s:?} is not an http:// or https:// URL with a host; expected e.g. http://127.0.0.1:8082"
        ));
    }
    Ok(url)
}

impl Config {
    /// The address to bind: `host:port`.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// A configuration for tests: loopback, port 0, fast heartbeats, no ECS metadata.
    /// Reads no environment variable.
    pub fn for_tests() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            role: AppRole::Dashboard,
            api_url: None,
            api_timeout: Duration::from_secs(2),
            app_name: "snooze demo".into(),
            app_env: "test".into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            git_sha: "0123456789abcdef".into(),
            heartbeat_interval: Duration::from_secs(30),
            sse_keepalive: Duration::from_secs(10),
            ecs_metadata_uri: None,
            ecs_metadata_timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            log_format: LogFormat::Plain,
            healthcheck: false,
        }
    }

    /// The ECS metadata base URI, or None when unset or empty.
    pub fn ecs_metadata_base(&self) -> Option<&str> {
        self.ecs_metadata_uri
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The URL of the API's greeting: `{API_URL}/api/greeting` (one `/` between them), or
    /// None when `API_URL` is unset.
    pub fn greeting_url(&self) -> Option<String> {
        self.api_url
            .as_ref()
            .map(|u| format!("{}/api/greeting", u.as_str().trim_end_matches('/')))
    }

    /// The Git SHA cut to 12 characters for display.
    pub fn short_sha(&self) -> &str {
        let end = self
            .git_sha
            .char_indices()
            .nth(12)
            .map_or(self.git_sha.len(), |(i, _)| i);
        &self.git_sha[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_defaults_and_durations() {
        let c = Config::try_parse_from([
            "snooze-demo-app",
            "--port",
            "9000",
            "--host",
            "0.0.0.0",
            "--heartbeat-interval",
            "250ms",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.listen_addr().to_string(), "0.0.0.0:9000");
        assert_eq!(c.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(Config::try_parse_from(["snooze-demo-app", "--sse-keepalive", "soon"]).is_err());
        let empty = Config::try_parse_from(["snooze-demo-app", "--ecs-metadata-uri", ""]).unwrap();
        assert_eq!(empty.ecs_metadata_base(), None);
    }

    #[test]
    fn role_and_api_url_parse_and_bad_ones_are_refused() {
        let c = Config::try_parse_from(["snooze-demo-app"]).unwrap();
        assert_eq!((c.role, c.greeting_url()), (AppRole::Dashboard, None));
        let c = Config::try_parse_from([
            "snooze-demo-app",
            "--role",
            "api",
            "--api-url",
            "http://127.0.0.1:8082/",
        ])
        .unwrap();
        assert_eq!(c.role, AppRole::Api);
        assert_eq!(
            c.greeting_url().as_deref(),
            Some("http://127.0.0.1:8082/api/greeting")
        );
        for bad in ["127.0.0.1:8082", "ftp://example.com", "not a url"] {
            let e = Config::try_parse_from(["snooze-demo-app", "--api-url", bad]).unwrap_err();
            assert!(
                e.to_string().contains("expected e.g. http://"),
                "{bad}: {e}"
            );
        }
        assert!(Config::try_parse_from(["snooze-demo-app", "--role", "db"]).is_err());
    }

    #[test]
    fn short_sha_cuts_to_twelve() {
        let mut c = Config::for_tests();
        assert_eq!(c.short_sha(), "0123456789ab");
        c.git_sha = "abc".into();
        assert_eq!(c.short_sha(), "abc");
    }
}
