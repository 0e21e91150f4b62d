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
    fn short_sha_cuts_to_twelve() {
        let mut c = Config::for_tests();
        assert_eq!(c.short_sha(), "0123456789ab");
        c.git_sha = "abc".into();
        assert_eq!(c.short_sha(), "abc");
    }
}
