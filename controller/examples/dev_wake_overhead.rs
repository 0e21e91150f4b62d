//! Benchmark: the controller's overhead on a wake in the local stack.
//!
//! overhead = (time the status endpoint first says Ready) − (time the app first answered its
//! health probe), both seen from outside by this program polling every 5 ms over fresh
//! connections: `GET /api/v1/services/demo` on the dev stack and `GET /health` on the app.
//!
//! Event-driven path (this design): `snooze::dev::Dev` in-process with the real demo app as a
//! local process, N wakes (`POST /api/v1/services/demo/wake`), each followed by a sleep request
//! and a wait for Asleep with the process gone.
//!
//! Schedule-only path (the replaced design: reconcile only on a 60 s schedule), in the same
//! run: a second stack with events switched off and a 60 s resync, N services (default 50, one
//! demo app process each, on their own ports), each woken once at an offset spread evenly over
//! one schedule period, all measured at once (polling every 20 ms: 50 pollers at 5 ms would
//! load the machine the measurement runs on). Wakes on separate services run concurrently
//! because one schedule serves them all, as in the replaced system; it takes about 3 minutes.
//!
//! ```text
//! cargo build -p snooze-demo-app && cargo run -p snooze --example dev_wake_overhead -- [--wakes 50] [--scheduled 50]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use snooze::dev::{Dev, DevOptions};
use snooze::model::Timestamp;
use snooze::wake::WakeConfig;

const SCHEDULE: Duration = Duration::from_secs(60);

struct Wake {
    /// Wake request → first healthy answer of the app.
    startup: Duration,
    /// First healthy answer → status says Ready.
    overhead: Duration,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{name:<44} n={:<3} p50={:>8.1} ms  p99={:>8.1} ms  min={:>8.1} ms  max={:>8.1} ms",
        v.len(),
        percentile(&v, 50.0),
        percentile(&v, 99.0),
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    );
}

async fn start(
    dir: &std::path::Path,
    app: &std::path::Path,
    services: &[(String, u16)],
    events: bool,
) -> Result<Dev> {
    let manifests = dir.join(format!("manifests-{events}"));
    std::fs::create_dir_all(&manifests)?;
    for (name, port) in services {
        std::fs::write(
            manifests.join(format!("{name}.yaml")),
            format!(
                "apiVersion: snooze/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  target:\n    local:\n      command: {app}\n      port: {port}\n  idleTimeout: 30m\n  wakeTimeout: 5m\n  readiness:\n    httpGet: {{path: /health, timeout: 2s}}\n",
                app = app.display()
            ),
        )?;
    }
    let opts = DevOptions {
        manifests: vec![manifests],
        listen: "127.0.0.1:0".parse()?,
        store: format!("sqlite://{}/bench-{events}.db", dir.display()),
        base_dir: dir.to_path_buf(),
        events,
        resync: if events {
            Duration::from_secs(10)
        } else {
            SCHEDULE
        },
        // Every wake of the benchmark must be written, none debounced.
        wake: WakeConfig {
            debounce: Duration::ZERO,
            cookie_secure: false,
            ..WakeConfig::default()
        },
        ..DevOptions::default()
    };
    Dev::start(opts, Arc::new(|_: &str| {})).await
}

/// One wake: returns its timings once Ready, then puts the service back to sleep.
async fn one_wake(dev: &Dev, http: &reqwest::Client, port: u16, limit: Duration) -> Result<Wake> {
    let status_url = format!("http://{}/api/v1/services/demo", dev.addr());
    let wake = wake_until_ready(dev, http, "demo", port, Duration::from_millis(5), limit).await?;
    // Back to sleep, and wait for the process to be gone.
    dev.store().request_sleep("demo", Timestamp::now()).await?;
    let t1 = Instant::now();
    loop {
        let s: serde_json::Value = http.get(&status_url).send().await?.json().await?;
        if s["phase"] == "Asleep" && dev.platform().pid(port).is_none() {
            break;
        }
        if t1.elapsed() > limit {
            bail!("not Asleep {limit:?} after the sleep request: {s}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(wake)
}

/// Requests a wake of `name` and polls its status and its app's `/health` every `every` until
/// the status says Ready (error after `limit`).
async fn wake_until_ready(
    dev: &Dev,
    http: &reqwest::Client,
    name: &str,
    port: u16,
    every: Duration,
    limit: Duration,
) -> Result<Wake> {
    let status_url = format!("http://{}/api/v1/services/{name}", dev.addr());
    let health_url = format!("http://127.0.0.1:{port}/health");
    let t0 = Instant::now();
    let r = http.post(format!("{status_url}/wake")).send().await?;
    if !r.status().is_success() {
        bail!("wake answered {}", r.status());
    }
    let mut healthy: Option<Instant> = None;
    let ready = loop {
        if t0.elapsed() > limit {
            bail!("not Ready within {limit:?}");
        }
        if healthy.is_none()
            && http
                .get(&health_url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        {
            healthy = Some(Instant::now());
        }
        let s: serde_json::Value = http.get(&status_url).send().await?.json().await?;
        if s["ready"] == true {
            break Instant::now();
        }
        tokio::time::sleep(every).await;
    };
    let healthy = healthy.context("Ready before the app ever answered its health probe")?;
    Ok(Wake {
        startup: healthy.duration_since(t0),
        overhead: ready.saturating_duration_since(healthy),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let wakes = arg("--wakes", 50);
    let scheduled = arg("--scheduled", 50);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target"));
    let app = target.join("debug/snooze-demo-app");
    if !app.exists() {
        bail!("{} missing: cargo build -p snooze-demo-app", app.display());
    }
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;

    println!(
        "controller overhead on a wake, local stack (snooze::dev), demo app {}",
        app.display()
    );
    println!(
        "machine: {} cores; polling every 5 ms over fresh connections",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    let port = free_port();
    let dev = start(dir.path(), &app, &[("demo".into(), port)], true).await?;
    let mut measured = Vec::new();
    for i in 0..wakes {
        let w = one_wake(&dev, &http, port, Duration::from_secs(60))
            .await
            .with_context(|| format!("wake {}", i + 1))?;
        measured.push(w);
    }
    dev.stop().await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    summary(
        "event-driven: app start (wake → healthy)",
        measured.iter().map(|w| ms(w.startup)).collect(),
    );
    summary(
        "event-driven: overhead (healthy → Ready)",
        measured.iter().map(|w| ms(w.overhead)).collect(),
    );

    if scheduled > 0 {
        // Hold every listener until all ports are picked, so no port is handed out twice.
        let listeners: Vec<_> = (0..scheduled)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let services: Vec<(String, u16)> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| Ok((format!("demo-{i}"), l.local_addr()?.port())))
            .collect::<Result<_>>()?;
        drop(listeners);
        let dev = Arc::new(start(dir.path(), &app, &services, false).await?);
        // Let the first (immediate) resync pass run, so the schedule has a phase.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let spread = SCHEDULE.as_secs_f64() / scheduled as f64;
        let runs: Vec<_> = services
            .into_iter()
            .enumerate()
            .map(|(i, (name, port))| {
                let (dev, http) = (dev.clone(), http.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs_f64(spread * i as f64)).await;
                    let every = Duration::from_millis(20);
                    wake_until_ready(&dev, &http, &name, port, every, Duration::from_secs(200))
                        .await
                        .with_context(|| format!("scheduled wake of {name}"))
                })
            })
            .collect();
        let mut real = Vec::new();
        for run in runs {
            real.push(run.await??);
        }
        if let Ok(dev) = Arc::try_unwrap(dev) {
            dev.stop().await;
        }
        summary(
            "schedule-only 60 s: app start (wake → healthy)",
            real.iter().map(|w| ms(w.startup)).collect(),
        );
        summary(
            "schedule-only 60 s: overhead (healthy → Ready)",
            real.iter().map(|w| ms(w.overhead)).collect(),
        );
    }
    Ok(())
}
