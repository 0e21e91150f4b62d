//! Benchmark of the wake endpoint: the axum server over a SQLite store, pinned to one core and
//! one tokio worker thread, against a load generator on loopback. Prints figures; asserts
//! nothing (the tests do that).
//!
//! ```text
//! cargo run --release -p snooze --example wake_bench              # everything (~90 s)
//! cargo run --release -p snooze --example wake_bench -- --secs 5 --spread-secs 60 --connections 32
//! SNOOZE_WAKE_DEBOUNCE=30s cargo run --release -p snooze --example wake_bench   # another debounce
//! ```
//!
//! Scenarios, each bounded in time:
//! 1. `GET /api/v1/services/demo` (status JSON; a consistent SQLite read per request);
//! 2. `GET /s/demo` (wait page; a read + a debounced wake write attempt per request);
//! 3. 1,000 wake hits in a burst, and 1,000 spread evenly over `--spread-secs` (default 60):
//!    actual store writes, counted with the store's change counter.
//!
//! The server runs in a child process (`wake_bench serve`) under `taskset -c 0` with a
//! single-threaded tokio runtime, so every thread it has (worker and SQLite blocking pool)
//! shares one core; the load generator re-runs itself under `taskset -c 1` when there are two
//! CPUs (`SNOOZE_WAKE_BENCH_PINNED=1` skips that, to compare). The machine is shared: figures
//! vary from run to run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use snooze::model::{Phase, Record, Status, Step, Timestamp};
use snooze::store::{SqliteStore, StatusGuard, Store};
use snooze::wake::{WakeConfig, WakeState, router};

struct Args {
    secs: u64,
    spread_secs: u64,
    connections: usize,
}

fn parse_args() -> Result<(Option<PathBuf>, Args)> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        secs: 5,
        spread_secs: 60,
        connections: 32,
    };
    let mut serve = None;
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| name.to_string())
        };
        match a.as_str() {
            "serve" => serve = Some(PathBuf::from(it.next().context("serve needs a db path")?)),
            "--secs" => args.secs = num("--secs")?,
            "--spread-secs" => args.spread_secs = num("--spread-secs")?,
            "--connections" => args.connections = num("--connections")? as usize,
            "--bench" => {}
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok((serve, args))
}

fn main() -> Result<()> {
    let (serve, args) = parse_args()?;
    if let Some(db) = serve {
        // The server: one worker thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(run_server(db));
    }
    if let Some(status) = repin_load_generator()? {
        std::process::exit(status.code().unwrap_or(1));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_bench(args))
}

/// Set by [`repin_load_generator`] in the re-executed load generator.
const PINNED_ENV: &str = "SNOOZE_WAKE_BENCH_PINNED";

/// Re-runs this benchmark under `taskset -c 1`, so the load generator never shares the
/// server's core 0 (sharing it puts a scheduler time slice, ~4 ms, into the server's p99).
/// Returns the child's exit status, or `None` when this process is already the pinned one, or
/// `taskset` or a second CPU is missing (then the figures say so).
fn repin_load_generator() -> Result<Option<std::process::ExitStatus>> {
    if std::env::var_os(PINNED_ENV).is_some() {
        return Ok(None);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = has_taskset();
    if cpus < 2 || !taskset {
        eprintln!("the load generator is not pinned (needs taskset and 2 CPUs; have {cpus})");
        return Ok(None);
    }
    let status = Command::new("taskset")
        .args(["-c", "1"])
        .arg(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(PINNED_ENV, "1")
        .status()?;
    Ok(Some(status))
}

/// Whether `taskset` (util-linux) can be run.
fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

async fn run_server(db: PathBuf) -> Result<()> {
    let store = Arc::new(SqliteStore::open(&db)?);
    // SNOOZE_WAKE_DEBOUNCE etc. apply (WakeConfig::from_env).
    let state = Arc::new(WakeState::new(store, WakeConfig::from_env()?));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, router(state)).await?;
    Ok(())
}

fn start_server(db: &std::path::Path) -> Result<(Child, String)> {
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let pinned = has_taskset();
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe);
        c
    } else {
        eprintln!("taskset not found: the server is not pinned to one core");
        Command::new(&exe)
    };
    let mut child = cmd
        .arg("serve")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .context("server did not start")?
        .to_string();
    Ok((child, addr))
}

struct Figures {
    requests: usize,
    errors: usize,
    secs: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms  ({} requests, {} non-2xx, {:.1} s)",
            self.requests as f64 / self.secs,
            self.p50_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
            self.max_us as f64 / 1000.0,
            self.requests,
            self.errors,
            self.secs
        )
    }
}

/// `connections` keep-alive clients hitting `url` as fast as they can for `secs` (after a
/// 1 s warm-up that is not counted).
async fn load(url: &str, connections: usize, secs: u64) -> Result<Figures> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(connections)
        .build()?;
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + Duration::from_secs(secs);
    let mut tasks = vec![];
    for _ in 0..connections {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(64 * 1024);
            let mut errors = 0usize;
            loop {
                let t = Instant::now();
                if t >= stop_at {
                    break;
                }
                let r = client.get(&url).send().await;
                let ok = match r {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if t >= warm_until {
                    lat.push(t.elapsed().as_micros() as u64);
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = vec![];
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Ok(Figures {
        requests: all.len(),
        errors,
        secs: secs as f64,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: all.last().copied().unwrap_or(0),
    })
}

async fn writes(store: &SqliteStore) -> Result<u64> {
    store
        .change_token()
        .await?
        .context("sqlite has a change counter")
}

/// Sends `n` wake hits (`GET /s/{name}`) spread evenly over `over` (zero: a burst, 16 at a
/// time) and returns the store writes they caused.
async fn wake_hits(
    store: &SqliteStore,
    base: &str,
    name: &str,
    n: usize,
    over: Duration,
) -> Result<(u64, Duration)> {
    let client = reqwest::Client::new();
    let url = format!("{base}/s/{name}");
    let w0 = writes(store).await?;
    let t0 = Instant::now();
    if over.is_zero() {
        for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
            let reqs = chunk.iter().map(|_| client.get(&url).send());
            for r in futures::future::join_all(reqs).await {
                r?.error_for_status()?;
            }
        }
    } else {
        let gap = over / n as u32;
        for i in 0..n {
            tokio::time::sleep_until((t0 + gap * i as u32).into()).await;
            client.get(&url).send().await?.error_for_status()?;
        }
    }
    Ok((writes(store).await? - w0, t0.elapsed()))
}

async fn run_bench(args: Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let store = SqliteStore::open(&db)?;
    let waking = Status {
        phase: Phase::Waking,
        phase_since: Some(Timestamp::now()),
        step: Some(Step::Pending),
        wake_started_at: Some(Timestamp::now()),
        recent_wake_seconds: vec![38.0, 41.0, 45.0],
        ..Status::default()
    };
    for name in ["demo", "burst", "spread"] {
        store.apply(&Record::test(name), None).await?;
        store
            .publish_status(name, &waking, StatusGuard::exists())
            .await?;
    }
    let (mut child, addr) = start_server(&db)?;
    let base = format!("http://{addr}");
    let result = async {
        println!("wake endpoint benchmark: server pinned to CPU 0 with 1 tokio worker thread, SQLite store, {} keep-alive connections", args.connections);
        let status = load(&format!("{base}/api/v1/services/demo"), args.connections, args.secs).await?;
        println!("status JSON  GET /api/v1/services/demo  {status}");
        let page = load(&format!("{base}/s/demo"), args.connections, args.secs).await?;
        println!("wait page    GET /s/demo                {page}");
        let (w, took) = wake_hits(&store, &base, "burst", 1000, Duration::ZERO).await?;
        println!("wake writes: 1000 hits in a burst ({:.2} s): {w} store write(s)", took.as_secs_f64());
        let over = Duration::from_secs(args.spread_secs);
        let (w, took) = wake_hits(&store, &base, "spread", 1000, over).await?;
        println!(
            "wake writes: 1000 hits spread over {:.0} s: {w} store write(s) (debounce {} s)",
            took.as_secs_f64(),
            WakeConfig::from_env()?.debounce.as_secs()
        );
        anyhow::Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}
