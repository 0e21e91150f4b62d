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
//! exit 1; add context with `anyhow::Context`, each cause becomes a `caused by:` line; for a
//! list of problems return a [`Failure`], whose details are printed one per line). Print
//! results on stdout through [`emit`] (a closed pipe is not a panic), diagnostics through
//! `tracing` (stderr, `RUST_LOG`). Shared output helpers (relative times, tables, YAML/JSON
//! views of entries) are in [`render`]; manifests are read by [`crate::manifest`] and
//! [`crate::store::apply_one`] creates or updates one record.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

use crate::model::group::Groups;
use crate::model::{Entry, Record};
use crate::store::{self, ConnectOptions, Store};

pub mod agent;
pub mod apply;
pub mod cost;
pub mod delete;
pub mod describe;
pub mod dev;
pub mod discover;
pub mod edit;
pub mod get;
pub mod init;
pub mod reconcile;
pub mod render;
pub mod schema;
pub mod wake;

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
    /// Where records live: `sqlite://PATH` (embedded, the default) or `dynamodb://TABLE` (needs
    /// a snoozectl built with the cargo feature `aws`).
    #[arg(long, global = true, env = "SNOOZE_STORE", default_value = store::DEFAULT_STORE_URL)]
    pub store: String,
    /// AWS region for `dynamodb://` stores (default: the SDK's region chain).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Endpoint URL for an AWS emulator (moto, dynalite), e.g. `http://127.0.0.1:5000`.
    #[arg(long, global = true, env = "SNOOZE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

impl GlobalArgs {
    /// The AWS options (`--region`, `--endpoint-url`) for [`store::connect`] and SDK clients.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// Opens the store named by `--store`, which must exist: a missing SQLite file is an error
    /// that says where it was looked for (run from another folder, a `get` would otherwise
    /// create an empty store and report no services). Errors name the store URL.
    pub async fn connect(&self) -> anyhow::Result<Arc<dyn Store>> {
        if let Ok(store::StoreUrl::Sqlite(path)) = store::StoreUrl::parse(&self.store)
            && !path.exists()
        {
            let shown = std::path::absolute(&path).unwrap_or(path);
            return Err(Failure::new(
                format!("no store at {}", shown.display()),
                vec![
                    "run snoozectl in the folder where `snoozectl dev` or `apply` ran, pass \
                     --store (or SNOOZE_STORE), or create an empty store with `snoozectl init`"
                        .into(),
                ],
            )
            .into());
        }
        self.connect_or_create().await
    }

    /// Opens the store named by `--store`, creating a missing SQLite file (`apply`, `init`; a
    /// DynamoDB table must exist, see `snoozectl init`). Errors name the store URL.
    pub async fn connect_or_create(&self) -> anyhow::Result<Arc<dyn Store>> {
        store::connect(&self.store, &self.connect_options())
            .await
            .with_context(|| format!("cannot open store {}", self.store))
    }
}

/// What a verb's NAME argument names: one record (`NAME` or `service/NAME`, kubectl style) or
/// every member of a group (`group/NAME`: the records whose `spec.groups` contains NAME).
/// Parsed by clap (`FromStr`), so another kind (`pod/x`) or an empty name is a usage error
/// (exit 2). Record and group names are DNS labels, so a `/` never belongs to a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ref {
    /// One record, by name.
    Service(String),
    /// The members of a group, by the group's name.
    Group(String),
}

impl std::str::FromStr for Ref {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match s.split_once('/') {
            None => ("service", s),
            Some(split) => split,
        };
        if name.is_empty() {
            return Err(format!(
                "{s:?} has no name: use NAME, service/NAME or group/NAME"
            ));
        }
        match kind {
            "service" | "services" | "svc" => Ok(Ref::Service(name.to_string())),
            "group" | "groups" => Ok(Ref::Group(name.to_string())),
            other => Err(format!(
                "unknown kind {other:?} in {s:?}: use NAME, service/NAME or group/NAME"
            )),
        }
    }
}

/// Parses a verb's NAME argument that names one record only (`delete`, `edit`): `NAME` or
/// `service/NAME`, as [`Ref`]; `group/NAME` is refused (clap makes it a usage error, exit 2)
/// with `group/NAME is not supported by VERB` wording, since these verbs act on one record.
pub fn parse_service(s: &str) -> Result<String, String> {
    match s.parse::<Ref>()? {
        Ref::Service(name) => Ok(name),
        Ref::Group(_) => Err(format!(
            "{s:?}: group/NAME is not supported by this verb; name one record (NAME or \
             service/NAME), or list the group's members with `snoozectl get {s}`"
        )),
    }
}

impl std::fmt::Display for Ref {
    /// `service/NAME` or `group/NAME`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Service(n) => write!(f, "service/{n}"),
            Ref::Group(n) => write!(f, "group/{n}"),
        }
    }
}

/// A group as read from the whole table: its members in start order and the table's group
/// graph ([`Groups::of`] over every record that parses), for `get`, `describe`, `wake` and
/// `sleep` of `group/NAME`.
#[derive(Clone, Debug)]
pub struct GroupView {
    /// The group's name.
    pub name: String,
    /// Membership and dependencies of the whole table.
    pub groups: Groups,
    /// The records whose `spec.groups` contains the group, in start order
    /// ([`Groups::start_order`]: by wave, names sorted within a wave; members on a dependency
    /// cycle last).
    pub members: Vec<Record>,
}

impl GroupView {
    /// The group `name` among `entries` (a whole `list`; malformed items are in no group).
    /// `None` when no record is in it.
    pub fn of(entries: &[Entry], name: &str) -> Option<Self> {
        let records: Vec<&Record> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Record(r) => Some(r.as_ref()),
                Entry::Malformed(_) => None,
            })
            .collect();
        let groups = Groups::of(records.iter().copied());
        let members: Vec<Record> = groups
            .start_order(name)
            .concat()
            .iter()
            .filter_map(|m| records.iter().find(|r| &r.metadata.name == m))
            .map(|r| (*r).clone())
            .collect();
        if members.is_empty() {
            return None;
        }
        Some(Self {
            name: name.to_string(),
            groups,
            members,
        })
    }

    /// Reads the whole table and returns group `name`. Errors (exit 1, like a missing record)
    /// when no record is in the group: `group "NAME" not found: no record has it in
    /// spec.groups`.
    pub async fn read(store: &dyn Store, name: &str) -> anyhow::Result<Self> {
        let entries = store.list().await.context("cannot list services")?;
        Self::of(&entries, name).ok_or_else(|| {
            anyhow::anyhow!("group {name:?} not found: no record has it in spec.groups")
        })
    }
}

/// The verbs. See the module docs for how to add one.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List records: NAME PHASE DESIRED/RUNNING ENDPOINT SLEEPS-IN AGE (group/NAME: a group's
    /// members in start order).
    Get(get::Args),
    /// Show one record in readable form: spec, desired facts, status, conditions (group/NAME:
    /// a group's start order, ETA, problems and members).
    Describe(describe::Args),
    /// Create or update records from manifest files (validates everything first).
    Apply(apply::Args),
    /// Find ECS services by tag (default snooze.enable=true) and create their missing records;
    /// a dry run unless --apply. Never changes an existing record.
    Discover(discover::Args),
    /// Edit a record's labels and spec in $VISUAL/$EDITOR (validated; compare-and-swap save).
    Edit(edit::Args),
    /// Delete a record.
    Delete(delete::Args),
    /// Ask for a service, or every member of group/NAME, to be woken now (sets
    /// desired.wakeRequestedAt; with --force also desired.wakeForcedAt, which wakes it inside
    /// quiet hours).
    Wake(wake::WakeArgs),
    /// Ask for a service, or every member of group/NAME, to be put to sleep now (sets
    /// desired.sleepRequestedAt).
    Sleep(wake::Args),
    /// Show what services were billed and saved in a month (UTC), from their ledgers: AWAKE
    /// COST ALWAYS-ON SAVED WAKES MEDIAN-WAKE and a total.
    Cost(cost::Args),
    /// Print the JSON Schema of a record.
    Schema(schema::Args),
    /// Run the in-task activity agent: record connections to the app port as activity.
    Agent(agent::Args),
    /// Run the whole loop locally: store, wake endpoint, reconciler, services as processes.
    Dev(dev::Args),
    /// Create the store: the DynamoDB table for dynamodb:// stores, the file for sqlite://.
    Init(init::Args),
    /// Run reconcile passes: observe, decide, scale, publish status (`--once`, `--watch`).
    Reconcile(reconcile::Args),
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Get(args) => get::run(global, args).await,
        Command::Describe(args) => describe::run(global, args).await,
        Command::Apply(args) => apply::run(global, args).await,
        Command::Discover(args) => discover::run(global, args).await,
        Command::Edit(args) => edit::run(global, args).await,
        Command::Delete(args) => delete::run(global, args).await,
        Command::Wake(args) => wake::run_wake(global, args).await,
        Command::Sleep(args) => wake::run_sleep(global, args).await,
        Command::Cost(args) => cost::run(global, args).await,
        Command::Schema(args) => schema::run(global, args).await,
        Command::Agent(args) => agent::run(global, args).await,
        Command::Dev(args) => dev::run(global, args).await,
        Command::Init(args) => init::run(global, args).await,
        Command::Reconcile(args) => reconcile::run(global, args).await,
    }
}

/// Entry point of the `snoozectl` binary: parses arguments (usage errors exit 2), initialises
/// tracing on stderr (filter from `RUST_LOG`, default [`DEFAULT_LOG_FILTER`]; colours only on a
/// terminal), runs the verb on a tokio
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
    if let Some(line) = needs_missing_aws(&cli) {
        // Like a usage error: this binary cannot do what the command line asks (exit 2).
        eprintln!("error: {line}");
        return ExitCode::from(2);
    }
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

/// In a build without the cargo feature `aws`: the one line ([`crate::without_aws`]) for a
/// command line that needs it (a `dynamodb://` store for a verb that opens the store,
/// `reconcile --platform ecs`, the default platform, or `discover`, which lists ECS services), which `main` prints before exiting 2.
/// `None` in a build with the feature, and for anything else.
pub fn needs_missing_aws(cli: &Cli) -> Option<String> {
    if crate::HAS_AWS {
        return None;
    }
    if let Command::Reconcile(args) = &cli.command
        && args.platform == reconcile::PlatformKind::Ecs
    {
        return Some(crate::without_aws(
            "reconcile --platform ecs (the default; --platform sim needs no AWS)",
        ));
    }
    if let Command::Discover(_) = &cli.command {
        return Some(crate::without_aws(
            "snoozectl discover (it lists ECS services)",
        ));
    }
    let opens_store = !matches!(cli.command, Command::Schema(_));
    match store::StoreUrl::parse(&cli.global.store) {
        Ok(store::StoreUrl::Dynamo(table)) if opens_store => {
            Some(crate::without_aws(&format!("store dynamodb://{table}")))
        }
        _ => None,
    }
}

/// Writes `text` to stdout and flushes. A closed pipe (`snoozectl get -o yaml | head`) is not
/// an error: the output just stops (Rust's `print!` would panic there). Verbs print results
/// through this.
pub fn emit(text: impl AsRef<str>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(text.as_ref().as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("cannot write to stdout"),
    }
}

/// An error with a one-line summary and a list of detail lines (e.g. every problem found in
/// a set of manifests). [`print_error`] prints the summary after `error: ` and each detail
/// indented on its own line.
#[derive(Debug)]
pub struct Failure {
    /// The one-line summary, lowercase, e.g. `3 problems in the manifests; nothing was applied`.
    pub message: String,
    /// One line per problem.
    pub details: Vec<String>,
}

impl Failure {
    /// A failure with a summary and details.
    pub fn new(message: impl Into<String>, details: Vec<String>) -> Self {
        Self {
            message: message.into(),
            details,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Prints an error on stderr: `error: <message>`, then the [`Failure`] details indented, then
/// one `  caused by: <source>` line per cause in the chain. Never a Debug dump.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            for line in &failure.details {
                eprintln!("  {line}");
            }
        }
    }
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// The log filter when `RUST_LOG` is not set: warnings, except the AWS SDK's own (`aws_config`,
/// `aws_runtime`, `aws_smithy_*`, `aws_sdk_*`: its warnings while it looks for credentials, a
/// missing config file, each source it tries, with debug structs) that would come before the
/// one error line that says what is wrong. `RUST_LOG` replaces it whole (e.g.
/// `RUST_LOG=warn,aws_config=debug` to see the credentials chain at work).
pub const DEFAULT_LOG_FILTER: &str =
    "warn,aws_config=error,aws_runtime=error,aws_smithy=error,aws_sdk=error";

fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal, never into a pipe or a file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Phase, Status};

    #[test]
    fn refs_name_a_record_or_a_group() {
        let parse = |s: &str| s.parse::<Ref>();
        assert_eq!(parse("demo"), Ok(Ref::Service("demo".into())));
        assert_eq!(parse("service/demo"), Ok(Ref::Service("demo".into())));
        assert_eq!(parse("group/preview-1"), Ok(Ref::Group("preview-1".into())));
        assert!(
            parse("pod/demo")
                .unwrap_err()
                .contains("unknown kind \"pod\"")
        );
        assert!(parse("group/").unwrap_err().contains("has no name"));
        assert!(parse("").unwrap_err().contains("has no name"));
        assert_eq!(Ref::Group("g".into()).to_string(), "group/g");
        assert_eq!(parse_service("service/demo"), Ok("demo".into()));
        assert!(
            parse_service("group/g")
                .unwrap_err()
                .contains("group/NAME is not supported")
        );
    }

    #[test]
    fn a_group_view_has_its_members_in_start_order() {
        let member = |name: &str, deps: &[&str]| {
            let mut r = Record::test(name).with_status(Status {
                phase: Phase::Asleep,
                ..Status::default()
            });
            r.spec.groups = vec!["g".into()];
            r.spec.depends_on = deps.iter().map(|d| d.to_string()).collect();
            Entry::Record(Box::new(r))
        };
        let entries = vec![
            member("a-web", &["m-api"]),
            member("m-api", &["z-db"]),
            member("z-db", &[]),
            Entry::Record(Box::new(Record::test("other"))),
        ];
        let view = GroupView::of(&entries, "g").expect("members");
        let names: Vec<&str> = view
            .members
            .iter()
            .map(|r| r.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["z-db", "m-api", "a-web"]);
        assert!(GroupView::of(&entries, "nope").is_none());
    }
}
