//! `snoozectl dev`: the whole loop on this machine, no AWS ([`crate::dev`]).
//!
//! ```text
//! snoozectl [--store sqlite://.snooze/snooze.db] dev [--manifests DIR]... [--listen 127.0.0.1:8080] [--resync 10s] [--events-file PATH]
//! ```
//!
//! The stack uses the global `--store` (env `SNOOZE_STORE`), whose default is the same SQLite
//! file every other verb uses, so `snoozectl get`, `wake`, `sleep` or `apply` in another terminal
//! of the same directory act on the running stack with no flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::dev::{self, DevOptions};
use crate::wake::WakeConfig;

use super::GlobalArgs;

/// Arguments of `snoozectl dev`.
#[derive(Debug, clap::Args)]
// The stack serves plain HTTP on this machine: its access cookie is not `Secure` unless
// SNOOZE_COOKIE_SECURE (or --cookie-secure) says so.
#[command(mut_arg("cookie_secure", |a| a.default_value("false")))]
pub struct Args {
    /// Manifest files or directories applied at start (repeatable).
    #[arg(long = "manifests", value_name = "PATH", default_value = dev::DEFAULT_MANIFESTS)]
    pub manifests: Vec<PathBuf>,
    /// Do not apply any manifest; run what the store already holds.
    #[arg(long, conflicts_with = "manifests")]
    pub no_manifests: bool,
    /// Address of the wake endpoint (port 0 picks a free one; the URL is printed).
    #[arg(long, default_value = dev::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// How often every record is reconciled even when nothing happened, e.g. `10s` or `1h`.
    /// Wakes, store changes and process events trigger a pass at once whatever this is.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub resync: std::time::Duration,
    /// Append every phase change to this file as one JSON line (the event of
    /// docs/reference/events.md in EventBridge's envelope); created when missing.
    #[arg(long, env = "SNOOZE_EVENTS_FILE", value_name = "PATH")]
    pub events_file: Option<PathBuf>,
    /// The wake endpoint's settings (flags or their `SNOOZE_*` variables).
    #[command(flatten)]
    pub wake: WakeConfig,
}

/// Runs the dev stack until Ctrl-C or SIGTERM; exit 0 after every child has stopped.
pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> {
    let opts = DevOptions {
        manifests: if args.no_manifests {
            vec![]
        } else {
            args.manifests
        },
        listen: args.listen,
        resync: args.resync.max(std::time::Duration::from_secs(1)),
        store: global.store.clone(),
        wake: args.wake,
        events_file: args.events_file,
        ..DevOptions::default()
    };
    dev::run(opts, super::agent::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
