//! A local wake endpoint over a SQLite store, for the browser test, schemathesis and the
//! benchmark. Not part of the product: `snoozectl dev` serves the same router for real.
//!
//! ```text
//! wake_server serve   --db PATH [--port 0] [--seed]   # prints "listening http://127.0.0.1:PORT"
//! wake_server publish --db PATH NAME --phase Waking [--step pending] [--url URL] [--message M] [--recent 30,42]
//!                     [--group '{"waitingFor":["api"],"members":[{"name":"api","phase":"Waking"},…]}']
//! wake_server get     --db PATH NAME                 # the record as JSON
//! ```
//!
//! `publish` plays the reconciler: it replaces `status` (the only way the tests move a record
//! through its phases), so the server needs nothing test-only.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use snooze::model::{
    Access, EndpointStatus, Entry, GroupStatus, LastWake, Mode, Phase, Record, Status, Step, Theme,
    Timestamp,
};
use snooze::store::{Error as StoreError, SqliteStore, StatusGuard, Store};
use snooze::wake::{WakeConfig, WakeState, router};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the wake endpoint on 127.0.0.1.
    Serve {
        /// SQLite file (created when missing).
        #[arg(long)]
        db: PathBuf,
        /// Port; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Store the example records (demo, dark, locked, off, flaky, and the group `shop`: web
        /// depends on api) first.
        #[arg(long)]
        seed: bool,
        /// Tokio worker threads (1 for the one-core benchmark).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Replace a record's status, as the reconciler would.
    Publish {
        #[arg(long)]
        db: PathBuf,
        name: String,
        /// Asleep, Waking, Ready, Sleeping, Failed.
        #[arg(long)]
        phase: String,
        /// requested, scaling, provisioning, pending, running, healthy, ready.
        #[arg(long)]
        step: Option<String>,
        /// Endpoint URL (for Ready).
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value = "")]
        message: String,
        /// Past wake durations in seconds, comma-separated.
        #[arg(long, value_delimiter = ',')]
        recent: Vec<f64>,
        /// `status.group` as JSON (camelCase, as the reconciler writes it: `waitingFor`,
        /// `heldBy`, `readyBy`, `members` with `name`, `wave`, `phase`, `step`, `message`,
        /// `optional`); absent: no group.
        #[arg(long, value_parser = parse_group)]
        group: Option<Box<GroupStatus>>,
    },
    /// Print a record as JSON.
    Get {
        #[arg(long)]
        db: PathBuf,
        name: String,
    },
}

/// The example records. `locked`'s token is `letmein`.
pub fn seed_records() -> Vec<Record> {
    let mut demo = Record::test("demo");
    demo.spec.page.title = Some("Demo app".into());
    let mut dark = Record::test("dark");
    dark.spec.page.title = Some("Dark demo".into());
    dark.spec.page.theme = Theme::Dark;
    let mut locked = Record::test("locked");
    locked.spec.wake.access = Access::Token;
    // sha256("letmein")
    locked.spec.wake.token_sha256 =
        Some("1c8bfe8f801d79745c4631d09fff36c82aa37fc4cce4fc946683d7b336b63032".into());
    let mut off = Record::test("off");
    off.spec.mode = Mode::Off;
    let mut flaky = Record::test("flaky");
    flaky.spec.page.title = Some("Flaky service".into());
    let mut api = Record::test("api");
    api.spec.groups = vec!["shop".into()];
    let mut web = Record::test("web");
    web.spec.page.title = Some("Web shop".into());
    web.spec.groups = vec!["shop".into()];
    web.spec.depends_on = vec!["api".into()];
    vec![demo, dark, locked, off, flaky, api, web]
}

/// `--group`: a [`GroupStatus`] from its JSON; a clear error for anything else.
fn parse_group(s: &str) -> Result<Box<GroupStatus>, String> {
    serde_json::from_str(s).map_err(|e| format!("not a status.group JSON object: {e}"))
}

fn parse_phase(s: &str) -> Result<Phase> {
    Ok(match s {
        "Asleep" => Phase::Asleep,
        "Waking" => Phase::Waking,
        "Ready" => Phase::Ready,
        "Sleeping" => Phase::Sleeping,
        "Failed" => Phase::Failed,
        "Invalid" => Phase::Invalid,
        _ => bail!("unknown phase {s:?}"),
    })
}

fn parse_step(s: &str) -> Result<Step> {
    Step::ALL
        .into_iter()
        .find(|x| x.as_str() == s)
        .with_context(|| format!("unknown step {s:?}"))
}

fn open(db: &PathBuf) -> Result<Arc<SqliteStore>> {
    Ok(Arc::new(
        SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?,
    ))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            db,
            port,
            seed,
            threads,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            rt.block_on(serve(db, port, seed))
        }
        Cmd::Publish {
            db,
            name,
            phase,
            step,
            url,
            message,
            recent,
            group,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let store = open(&db)?;
                let entry = store
                    .get(&name)
                    .await?
                    .with_context(|| format!("no record {name}"))?;
                let Entry::Record(record) = entry else {
                    bail!("{name} is malformed")
                };
                let phase = parse_phase(&phase)?;
                let old = record.status.clone().unwrap_or_default();
                let now = Timestamp::now();
                let wake_started_at = match phase {
                    Phase::Waking | Phase::Failed | Phase::Ready => record
                        .desired
                        .wake_requested_at
                        .or(old.wake_started_at)
                        .or(Some(now)),
                    _ => old.wake_started_at,
                };
                let status = Status {
                    phase,
                    phase_since: if old.phase == phase {
                        old.phase_since.or(Some(now))
                    } else {
                        Some(now)
                    },
                    observed_generation: record.metadata.generation,
                    step: step.as_deref().map(parse_step).transpose()?,
                    endpoint: url.map(|u| EndpointStatus {
                        ip: "127.0.0.1".into(),
                        url: u,
                        task_arn: "arn:local:task/1".into(),
                    }),
                    wake_started_at,
                    last_wake: (phase == Phase::Ready).then(|| {
                        let requested_at = wake_started_at.unwrap_or(now);
                        LastWake {
                            requested_at,
                            ready_at: now,
                            seconds: now.since(requested_at).as_secs_f64(),
                        }
                    }),
                    recent_wake_seconds: if recent.is_empty() {
                        old.recent_wake_seconds
                    } else {
                        recent
                    },
                    message,
                    group: group.map(|g| *g),
                    ..Status::default()
                };
                store
                    .publish_status(&name, &status, StatusGuard::exists())
                    .await?;
                Ok(())
            })
        }
        Cmd::Get { db, name } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let store = open(&db)?;
                match store.get(&name).await? {
                    Some(Entry::Record(r)) => println!("{}", serde_json::to_string(&*r)?),
                    Some(Entry::Malformed(m)) => println!("{}", m.raw),
                    None => bail!("no record {name}"),
                }
                Ok(())
            })
        }
    }
}

async fn serve(db: PathBuf, port: u16, seed: bool) -> Result<()> {
    let store = open(&db)?;
    if seed {
        for r in seed_records() {
            match store.apply(&r, None).await {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if store
                .get(r.name())
                .await?
                .is_some_and(|e| matches!(e, Entry::Record(ref x) if x.status.is_none()))
            {
                let status = Status {
                    phase: Phase::Asleep,
                    phase_since: Some(Timestamp::now()),
                    observed_generation: 1,
                    ..Status::default()
                };
                store
                    .publish_status(r.name(), &status, StatusGuard::exists())
                    .await?;
            }
        }
    }
    let config = WakeConfig {
        cookie_secure: false,
        ..WakeConfig::from_env()?
    };
    let state = Arc::new(WakeState::new(store, config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening http://{addr}");
    std::io::stdout().flush()?;
    axum::serve(listener, router(state)).await?;
    Ok(())
}
