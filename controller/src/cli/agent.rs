//! `snoozectl agent`: the in-task activity agent (DESIGN.md §6), run as a sidecar container in
//! the service's task. It shares the app's network namespace (awsvpc), counts the TCP
//! connections to the app port that moved data since its previous sample (or, with
//! `--count established`, every established one) and records them as `lastActivityAt` of its
//! record ([`crate::activity::run_agent`], ADR 0008).
//!
//! | setting  | flag         | env                      | default                    |
//! |----------|--------------|--------------------------|----------------------------|
//! | store    | `--table`    | `SNOOZE_TABLE`           | the global `--store`       |
//! | record   | `--service`  | `SNOOZE_SERVICE`         | required                   |
//! | app port | `--port`     | `SNOOZE_PORT`            | required                   |
//! | interval | `--interval` | `SNOOZE_AGENT_INTERVAL`  | `15s`                      |
//! | debounce | `--debounce` | `SNOOZE_AGENT_DEBOUNCE`  | `30s`                      |
//! | count    | `--count`    | `SNOOZE_AGENT_COUNT`     | `moved`                    |
//!
//! Exits 0 on SIGTERM or Ctrl-C; store errors never stop it.

use std::process::ExitCode;
use std::time::Duration;

use crate::activity;
use crate::model::HumanDuration;

use super::GlobalArgs;

/// Arguments of `snoozectl agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DynamoDB table of the records; sets the store to `dynamodb://TABLE` (else `--store`).
    #[arg(long, env = "SNOOZE_TABLE")]
    pub table: Option<String>,
    /// Name of the record whose `lastActivityAt` this agent writes.
    #[arg(long, env = "SNOOZE_SERVICE")]
    pub service: String,
    /// The app's TCP port: connections whose local port is this count as activity.
    #[arg(long, env = "SNOOZE_PORT")]
    pub port: u16,
    /// How often connections are counted (humantime, e.g. `15s`).
    #[arg(long, env = "SNOOZE_AGENT_INTERVAL", default_value = "15s")]
    pub interval: HumanDuration,
    /// Activity writes closer together than this are skipped by the store (keep it well
    /// below the record's `idleTimeout`, whose minimum is 1m).
    #[arg(long, env = "SNOOZE_AGENT_DEBOUNCE", default_value = "30s")]
    pub debounce: HumanDuration,
    /// What counts as activity: `moved`, connections that sent or received data since the
    /// previous sample (idle keep-alive connections and load-balancer health checks do not
    /// count; falls back to `established`, with a warning, where the kernel's sock_diag cannot
    /// be read); `established`, every established connection.
    #[arg(long, env = "SNOOZE_AGENT_COUNT", value_enum, default_value_t = activity::Count::Moved)]
    pub count: activity::Count,
}

/// Runs the agent until SIGTERM or Ctrl-C; exit code 0. Fails (exit 1) only when the store
/// cannot be opened or the arguments are unusable.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    if args.interval.get() < Duration::from_millis(100) {
        anyhow::bail!(
            "--interval {} is too short; use at least 100ms",
            args.interval
        );
    }
    let mut global = global.clone();
    if let Some(table) = args.table.as_deref().filter(|t| !t.trim().is_empty()) {
        global.store = format!("dynamodb://{}", table.trim());
    }
    let store = global.connect().await?;
    let config = activity::AgentConfig {
        service: args.service,
        port: args.port,
        every: args.interval.get(),
        debounce: args.debounce.get(),
        count: args.count,
    };
    activity::run_agent(store, config, shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// Completes on the first SIGTERM (Unix) or Ctrl-C (SIGINT). If a signal handler cannot be
/// installed, that signal is simply not waited for.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
