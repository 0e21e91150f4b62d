//! `snoozectl`, the operator CLI: kubectl-like verbs over the record [`Store`](crate::store::Store).
//!
//! ```text
//! snoozectl [--store URL] [--region R] [--endpoint-url URL] <verb> [args]
//! ```
//!
//! Exit codes: `0` ok, `1` error (printed on stderr as `error: <one line>` plus `  caused by:`
//! detail lines), `2` usage error (clap's message).
//!
//! # Adding a verb
//!
//! Each verb (or group of related verbs) lives in its own file `cli/<verb>.rs` exposing
//!
//! ```ignore
//! /// Arguments of `snoozectl <verb>`.
//! #[derive(Debug, clap::Args)]
//! pub struct Args { /* clap fields */ }
//!
//! /// Runs `snoozectl <verb>`.
//! pub async fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<ExitCode> { ... }
//! ```
//!
//! Then, in this file: add `pub mod <verb>;`, a variant `Verb(<verb>::Args)` with a `///` doc
//! line (clap shows it as the verb's help) to [`Command`], and one arm in [`run`]. Use
//! [`GlobalArgs::connect`] for the store (it honours `--store`, `--region`, `--endpoint-url`);
//! return `Ok(ExitCode::SUCCESS)` on success and `Err(..)` for failures (printed by [`main`],
//! exit 1). Print results on stdout, diagnostics through `tracing` (stderr, `RUST_LOG`).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

pub mod schema;

/// The default store: a SQLite file under `.snooze/` in the working directory.
pub const DEFAULT_STORE: &str = "sqlite://.snooze/snooze.db";

/// `snoozectl`: operate snooze service records.
#[derive(Debug, Parser)]
#[command(name = "snoozectl", version, about, propagate_version = true)]
pub struct Cli {
    /// Options every verb understands.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The verb to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every verb (flags or environment variables).
#[derive(Clone, Debug, clap::Args)]
pub struct GlobalArgs {
    /// Where records live: `sqlite://PATH` (embedded, the default) or `dynamodb://TABLE`.
    #[arg(long, global = true, env = "SNOOZE_STORE", default_value = DEFAULT_STORE)]
    pub store: String,
    /// AWS region for `dynamodb://` stores (default: the SDK's region chain).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint URL for an AWS emulator (moto, dynalite), e.g. `http://127.0.0.1:5000`.
    #[arg(long, global = true, env = "SNOOZE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

/// The verbs. See the module docs for how to add one.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the JSON Schema of a record.
    Schema(schema::Args),
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Schema(args) => schema::run(global, args).await,
    }
}

/// Entry point of the `snoozectl` binary: parses arguments (usage errors exit 2), initialises
/// tracing on stderr (filter from `RUST_LOG`, default `warn`), runs the verb on a tokio
/// runtime and maps the outcome to an exit code (0 ok, 1 error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" with exit code 0; usage errors have 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    init_tracing();
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints `error: <message>` and one `  caused by: <source>` line per cause, on stderr.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
