//! `snoozectl dev`: the whole loop on one machine, no AWS (DESIGN.md §1).
//!
//! One process runs every part, wired the way the Lambdas are in AWS:
//!
//! | part | here | in AWS |
//! |---|---|---|
//! | store | SQLite file (default `sqlite://.snooze/snooze.db`, shared with the other verbs) | DynamoDB |
//! | platform | [`LocalPlatform`]: the record's `spec.target.local` as a child process | ECS |
//! | wake endpoint | [`wake::router`] served by axum on `--listen` ([`front`]) | Lambda behind API Gateway |
//! | router (route mode) | [`LocalRouter`], read by the [`front`] door: `http://{host}:{port}/` by `Host`, a reverse proxy once Ready | a shared load balancer |
//! | reconciler | [`Reconciler`] with [`LocalPlatform`] and a no-keep-alive HTTP prober | Lambda |
//! | triggers | a wake (`on_wake`), a store change (polled [`Store::change_token`]), a child starting or exiting ([`LocalPlatform::changes`]), requeues, a periodic resync | DynamoDB stream, ECS events, schedule |
//! | activity | redirect mode: [`activity::read_established`] on each Ready local service's port; route mode: requests and open streams through the proxy ([`front::ProxyActivity`]) | `snoozectl agent` sidecar |
//!
//! It prints one line per phase transition (`12:00:01 demo  Asleep → Waking (wake requested)`)
//! and, at start, the URL to open per service. [`run`] returns when its `shutdown` future
//! completes (Ctrl-C/SIGTERM in the CLI), after stopping every child process.
//!
//! Durations are real: there is no time-scaling hatch, because the wake endpoint and the activity
//! measurement write wall-clock timestamps that the reconciler compares with its own clock; a
//! scaled reconciler clock would disagree with them. Short loops use short manifests instead
//! (`idleTimeout: 1m`, the validated minimum).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

pub mod front;

use crate::activity;
use crate::manifest::{parse_all, read_sources};
use crate::model::{Entry, Phase, Record, RouteTo, Scheme, Target, Timestamp};
use crate::platform::Platform as _;
use crate::platform::local::LocalPlatform;
use crate::reconcile::events::JsonLinesSink;
use crate::reconcile::{
    Hooks, HttpProber, PassInfo, PassReport, Reason, Reconciler, Runtime, RuntimeOptions, Scope,
    SystemClock, Trigger,
};
use crate::router::{LocalRouter, RouteTarget, Router as _};
use crate::store::{self, Store, apply_one};
use crate::wake::{WakeConfig, WakeState};

/// Default `--listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `--manifests`.
pub const DEFAULT_MANIFESTS: &str = "manifests/local";

/// How the dev stack runs. [`DevOptions::default`] gives the `snoozectl dev` defaults.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Manifest files or directories applied at start (`--manifests`, default `manifests/local`).
    /// Empty: apply nothing, use what the store has.
    pub manifests: Vec<PathBuf>,
    /// Address of the wake endpoint (`--listen`, default `127.0.0.1:8080`; port 0 picks one).
    pub listen: SocketAddr,
    /// Store URL (the global `--store`, default [`store::DEFAULT_STORE_URL`], the file every
    /// `snoozectl` verb uses, so they act on the running stack).
    pub store: String,
    /// Directory relative commands and `workingDir`s are resolved against (default: the
    /// current directory).
    pub base_dir: PathBuf,
    /// Full pass over every record this often (default 10 s). With `events: false` this is the
    /// only trigger (the schedule-only design, for comparison in the benchmark).
    pub resync: Duration,
    /// React to wakes, store changes, child process events and requeues (default true).
    pub events: bool,
    /// How often the store's change token is polled (default 250 ms).
    pub change_poll: Duration,
    /// Longest wait before a Waking/Sleeping record is looked at again, whatever its requeue
    /// says (default 1 s; local observation is cheap).
    pub transition_poll: Duration,
    /// How often connections to Ready local services are counted (default 2 s).
    pub activity_every: Duration,
    /// Debounce of activity writes (default 10 s; keep it well below `idleTimeout`).
    pub activity_debounce: Duration,
    /// SIGTERM → SIGKILL grace for child processes (default 5 s).
    pub grace: Duration,
    /// A file every phase change is appended to as one JSON line (`--events-file`, env
    /// `SNOOZE_EVENTS_FILE`; [`crate::reconcile::events::JsonLinesSink`], the shape of
    /// docs/reference/events.md). Default none: no events.
    pub events_file: Option<PathBuf>,
    /// The wake endpoint's configuration (default: [`WakeConfig::default`] with insecure
    /// cookies, since the local endpoint is plain HTTP, status watches that read the SQLite
    /// store every 100 ms, and the first service as `GET /`). Stable addresses are always
    /// `http://{host}:{listen port}/`.
    pub wake: WakeConfig,
}

impl Default for DevOptions {
    fn default() -> Self {
        Self {
            manifests: vec![PathBuf::from(DEFAULT_MANIFESTS)],
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            store: store::DEFAULT_STORE_URL.into(),
            base_dir: crate::platform::local::default_base_dir(),
            resync: Duration::from_secs(10),
            events: true,
            change_poll: Duration::from_millis(250),
            transition_poll: Duration::from_secs(1),
            activity_every: Duration::from_secs(2),
            activity_debounce: Duration::from_secs(10),
            grace: crate::platform::local::DEFAULT_GRACE,
            events_file: None,
            wake: WakeConfig {
                cookie_secure: false,
                watch_every: Duration::from_millis(100),
                ..WakeConfig::default()
            },
        }
    }
}

/// Where the stack's readable lines go (stdout in the CLI).
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// Takes an exclusive lock next to a SQLite store (`<db>.dev-lock`), so a second
/// `snoozectl dev` on the same store fails at once instead of fighting the first over the same
/// services. `None` for other stores. The OS releases the lock when the process ends.
///
/// Errors: another `snoozectl dev` holds the lock; the lock file cannot be created.
pub fn lock_store(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let store::StoreUrl::Sqlite(db) = store::StoreUrl::parse(url)? else {
        return Ok(None);
    };
    let path = db.with_extension("dev-lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another snoozectl dev is already running on {url} (lock {}); stop it first, or give this one its own --store",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// A running dev stack (see [`Dev::start`]).
pub struct Dev {
    /// Held for the stack's lifetime: one `snoozectl dev` per SQLite store (see [`lock_store`]).
    _lock: Option<std::fs::File>,
    addr: SocketAddr,
    platform: LocalPlatform,
    store: Arc<dyn Store>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Where a stored entry differs from a manifest's record, for the "kept" line: the differing
/// `spec.*` fields and `metadata.labels` (`spec.idleTimeout, metadata.labels`), or
/// `the stored item is malformed`.
fn spec_differences(stored: &Entry, manifest: &Record) -> String {
    let Entry::Record(r) = stored else {
        return "the stored item is malformed".into();
    };
    let json = |spec: &crate::model::Spec| serde_json::to_value(spec).unwrap_or_default();
    let (old, new) = (json(&r.spec), json(&manifest.spec));
    let mut fields: Vec<String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(|m| m.keys())
        .filter(|k| old.get(k.as_str()) != new.get(k.as_str()))
        .map(|k| format!("spec.{k}"))
        .collect();
    fields.sort();
    fields.dedup();
    if r.metadata.labels != manifest.metadata.labels {
        fields.push("metadata.labels".into());
    }
    fields.join(", ")
}

/// The local ports that more than one record claims, or that the wake endpoint (`listen`) uses,
/// one line each (`port 8081: services a, b`). A service on a port another program holds would
/// be taken for that program, so `snoozectl dev` refuses to start with any.
pub fn port_clashes(records: &[&Record], listen: SocketAddr) -> Vec<String> {
    let mut claims: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for r in records {
        if let Target::Local(t) = &r.spec.target {
            claims.entry(t.port).or_default().push(r.name());
        }
    }
    claims
        .into_iter()
        .filter_map(|(port, mut names)| {
            names.sort_unstable();
            if listen.port() != 0 && port == listen.port() {
                Some(format!(
                    "port {port}: {} {} and the wake endpoint (--listen {listen})",
                    if names.len() == 1 {
                        "service"
                    } else {
                        "services"
                    },
                    names.join(", ")
                ))
            } else if names.len() > 1 {
                Some(format!(
                    "port {port}: services {} (each local service needs its own port)",
                    names.join(", ")
                ))
            } else {
                None
            }
        })
        .collect()
}

impl Dev {
    /// Opens the store, creates the manifests' records that are not stored yet (a stored record
    /// that differs is kept, never overwritten, and a line says so), restores the local
    /// desiredCounts last published, binds the wake endpoint and starts the reconcile and
    /// activity loops. Readable lines go to `say`.
    ///
    /// Errors: the store cannot be opened, a manifest does not parse or validate (every problem
    /// is listed), the address cannot be bound.
    pub async fn start(opts: DevOptions, say: Say) -> anyhow::Result<Dev> {
        let lock = lock_store(&opts.store)?;
        let store = store::connect(&opts.store, &store::ConnectOptions::default())
            .await
            .with_context(|| format!("cannot open store {}", opts.store))?;
        // Opened before anything starts, so a path that cannot be written is a start-up error.
        let events: Option<Arc<JsonLinesSink>> = match &opts.events_file {
            Some(path) => Some(Arc::new(JsonLinesSink::open(path)?)),
            None => None,
        };
        let records = if opts.manifests.is_empty() {
            Vec::new()
        } else {
            let (sources, errors) = read_sources(&opts.manifests, false);
            if !errors.is_empty() {
                anyhow::bail!("cannot read manifests:\n  {}", errors.join("\n  "));
            }
            parse_all(&sources)
                .map_err(|errs| anyhow::anyhow!("invalid manifests:\n  {}", errs.join("\n  ")))?
        };
        let stored = store.list().await.context("cannot list records")?;
        // What will be stored: the stored records (kept even where a manifest differs) and
        // the manifests' new ones.
        let mut all: Vec<&Record> = stored
            .iter()
            .filter_map(|e| match e {
                Entry::Record(r) => Some(&**r),
                Entry::Malformed(_) => None,
            })
            .collect();
        all.extend(
            records
                .iter()
                .filter(|m| !stored.iter().any(|e| e.name() == m.name())),
        );
        let clashes = port_clashes(&all, opts.listen);
        if !clashes.is_empty() {
            anyhow::bail!("local ports clash:\n  {}", clashes.join("\n  "));
        }
        let mut created = false;
        for record in &records {
            match stored.iter().find(|e| e.name() == record.name()) {
                None => {
                    apply_one(store.as_ref(), record)
                        .await
                        .with_context(|| format!("cannot apply {}", record.name()))?;
                    debug!(service = record.name(), "created from the manifests");
                    created = true;
                }
                Some(Entry::Record(r))
                    if r.spec == record.spec && r.metadata.labels == record.metadata.labels => {}
                Some(entry) => say(&format!(
                    "  {}: kept the stored record; it differs from the manifests ({}). To use \
                     the manifests instead: snoozectl --store {} apply -f {}",
                    record.name(),
                    spec_differences(entry, record),
                    opts.store,
                    opts.manifests
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" -f ")
                )),
            }
        }
        let entries = if created {
            store.list().await.context("cannot list records")?
        } else {
            stored
        };

        let platform = LocalPlatform::with_grace(opts.base_dir.clone(), opts.grace);
        // The local platform's desiredCounts live in this process (ECS keeps them across
        // controller restarts): restore the ones last published, so a restart within the idle
        // timeout starts the service again at once instead of taking it for drift.
        for e in &entries {
            if let Entry::Record(r) = e
                && let Target::Local(_) = &r.spec.target
                && let Some(desired) = r.status.as_ref().map(|s| s.replicas.desired)
                && desired >= 1
            {
                platform
                    .scale(&r.spec.target, desired)
                    .await
                    .with_context(|| format!("cannot restore {}", r.name()))?;
                debug!(service = r.name(), desired, "restored desiredCount");
            }
        }
        // The routes of route-mode records start where their status says they point (the
        // wake endpoint when it says nothing): the first pass then finds no drift, and points
        // a route at a restored process only once it is Ready again.
        let routes = LocalRouter::new();
        for e in &entries {
            if let Entry::Record(r) = e
                && let Some(host) = r.spec.route_host()
            {
                let target = match r.status.as_ref().and_then(|s| s.route.as_ref()) {
                    Some(rt) if rt.host == host && rt.to == RouteTo::Service => rt
                        .backend
                        .clone()
                        .map_or(RouteTarget::Wake, RouteTarget::Service),
                    _ => RouteTarget::Wake,
                };
                routes
                    .point(r.name(), &host, &target, None)
                    .await
                    .with_context(|| format!("cannot route {host}"))?;
            }
        }
        let prober = HttpProber::new().context("cannot build the HTTP client")?;
        let reconciler = Reconciler::new(
            store.clone(),
            Arc::new(platform.clone()),
            Arc::new(prober),
            Arc::new(SystemClock),
        )
        .with_router(Arc::new(routes.clone()));

        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let addr = listener.local_addr().context("listener address")?;
        let (triggers, trigger_rx) = mpsc::unbounded_channel::<Trigger>();
        let mut config = opts.wake.clone();
        if config.default_service.is_none() {
            config.default_service = entries.first().map(|e| e.name().to_string());
        }
        config.stable_scheme = Scheme::Http;
        config.stable_port = Some(addr.port());
        let mut state = WakeState::new(store.clone(), config);
        if opts.events {
            let wakes = triggers.clone();
            state = state.with_on_wake(move |name| {
                let _ = wakes.send(Trigger::Records(vec![name.to_string()], Reason::Wake));
            });
        }
        let state = Arc::new(state);

        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let front = Arc::new(front::Front::new(state.clone(), routes.clone()));
        let app = front::app(front.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let mut server_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                warn!(error = %e, "wake endpoint stopped");
            }
        }));
        if opts.events {
            tasks.push(tokio::spawn(watch_store(
                store.clone(),
                opts.change_poll,
                triggers.clone(),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(watch_processes(
                platform.clone(),
                triggers,
                stop_rx.clone(),
            )));
        }
        let mut runtime = Runtime::with_options(
            reconciler,
            RuntimeOptions {
                resync: opts.resync,
                resync_scope: Scope::All,
                requeues: opts.events,
                min_requeue: Duration::ZERO,
                transition_poll: Some(opts.transition_poll),
            },
        );
        if let Some(sink) = &events {
            runtime = runtime.with_events(sink.clone());
        }
        let hooks = DevHooks {
            store: store.clone(),
            platform: platform.clone(),
            say: say.clone(),
            last_error: Mutex::new(HashMap::new()),
        };
        let mut runtime_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let stop = async move {
                let _ = runtime_stop.wait_for(|s| *s).await;
            };
            runtime.run(trigger_rx, &hooks, stop).await;
        }));
        tasks.push(tokio::spawn(activity_loop(
            store.clone(),
            opts.clone(),
            front.activity.clone(),
            stop_rx,
        )));

        say(&format!(
            "snooze dev: wake endpoint on http://{addr}, store {}, {} service(s)",
            opts.store,
            entries.len()
        ));
        for e in &entries {
            let Entry::Record(r) = e else {
                say(&format!("  {}  (malformed record, ignored)", e.name()));
                continue;
            };
            let what = match &r.spec.target {
                Target::Local(t) => format!(
                    "local process on port {}, asleep after {} idle",
                    t.port, r.spec.idle_timeout
                ),
                Target::Ecs(t) => format!("ECS {}/{}: not run locally", t.cluster, t.service),
            };
            match r.spec.route_host() {
                Some(host) => say(&format!(
                    "  open {}   ({what})",
                    state.config.stable_url(&host)
                )),
                None => say(&format!("  open http://{addr}/s/{}   ({what})", r.name())),
            }
        }
        if let Some(sink) = &events {
            say(&format!(
                "  phase changes are appended to {} (one JSON line each)",
                sink.path().display()
            ));
        }
        say("Ctrl-C stops everything.");
        Ok(Dev {
            _lock: lock,
            addr,
            platform,
            store,
            stop,
            tasks,
        })
    }

    /// The wake endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store the stack uses.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The local platform (process ids, recent output).
    pub fn platform(&self) -> &LocalPlatform {
        &self.platform
    }

    /// Stops the loops and the wake endpoint, then every child process (SIGTERM, SIGKILL after
    /// the grace period).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.platform.shutdown().await;
    }
}

/// Runs the dev stack until `shutdown` completes, printing readable lines to stdout.
pub async fn run(opts: DevOptions, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let say: Say = Arc::new(|line: &str| println!("{line}"));
    let dev = Dev::start(opts, say.clone()).await?;
    shutdown.await;
    say("stopping...");
    dev.stop().await;
    say("stopped.");
    Ok(())
}

/// Sends a full pass ([`Reason::Stream`]) whenever the store's change token moves (also by
/// another process, e.g. `snoozectl apply`), polled every `every`.
async fn watch_store(
    store: Arc<dyn Store>,
    every: Duration,
    triggers: mpsc::UnboundedSender<Trigger>,
    mut stop: watch::Receiver<bool>,
) {
    let mut token = store.change_token().await.ok().flatten();
    let mut poll = tokio::time::interval(every);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = poll.tick() => {}
        }
        let now = store.change_token().await.ok().flatten();
        if now != token {
            token = now;
            if triggers.send(Trigger::All(Reason::Stream)).is_err() {
                return;
            }
        }
    }
}

/// Sends a full pass ([`Reason::TaskEvent`]) whenever a child process starts or exits.
async fn watch_processes(
    platform: LocalPlatform,
    triggers: mpsc::UnboundedSender<Trigger>,
    mut stop: watch::Receiver<bool>,
) {
    let mut processes = platform.changes();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = processes.changed() => {
                if changed.is_err() || triggers.send(Trigger::All(Reason::TaskEvent)).is_err() {
                    return;
                }
            }
        }
    }
}

/// What the dev stack does after each pass: a line per phase transition and per new error,
/// the last output of a service that failed, and (after a full pass that read every record)
/// stopping processes no record claims.
struct DevHooks {
    store: Arc<dyn Store>,
    platform: LocalPlatform,
    say: Say,
    /// The last error printed per record, so a repeated one is printed once.
    last_error: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Hooks for DevHooks {
    async fn after_pass(&self, pass: &PassInfo, report: &PassReport) {
        let say = &self.say;
        if let Some(e) = &report.error {
            say(&format!("{} reconcile pass failed: {e}", clock()));
        }
        for r in &report.records {
            if r.changed() {
                say(&format!("{} {r}", clock()));
                if r.after == Some(Phase::Failed) {
                    show_output(&self.store, &self.platform, &r.name, say).await;
                }
            }
            let mut last_error = self.last_error.lock().expect("dev hooks lock");
            match &r.error {
                Some(e) if last_error.get(&r.name) != Some(e) => {
                    say(&format!("{} {}  error: {e}", clock(), r.name));
                    last_error.insert(r.name.clone(), e.clone());
                }
                Some(_) => {}
                None => {
                    last_error.remove(&r.name);
                }
            }
        }
        // After the transition lines, which follow the status they report as closely as
        // possible.
        if pass.full && report.error.is_none() {
            stop_unclaimed(&self.store, &self.platform, say).await;
        }
    }
}

/// Prints the last lines a failed service's process wrote.
async fn show_output(store: &Arc<dyn Store>, platform: &LocalPlatform, name: &str, say: &Say) {
    let Ok(Some(Entry::Record(r))) = store.get(name).await else {
        return;
    };
    let Target::Local(t) = &r.spec.target else {
        return;
    };
    let lines = platform.recent_output(t.port);
    let start = lines.len().saturating_sub(5);
    for line in &lines[start..] {
        say(&format!("         {name} | {line}"));
    }
}

/// Records activity of every Ready local service, every `activity_every`: for a route-mode
/// record, a request or stream through the proxy open at any time since the last look
/// ([`front::ProxyActivity`]; the proxy's idle pooled connections and the readiness probes do
/// not count); for a redirect-mode record, established connections to its port.
async fn activity_loop(
    store: Arc<dyn Store>,
    opts: DevOptions,
    proxied: front::ProxyActivity,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(opts.activity_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_look = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        let since = std::mem::replace(&mut last_look, std::time::Instant::now());
        let entries = match store.list().await {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "activity: cannot list records");
                continue;
            }
        };
        for e in entries {
            let Entry::Record(r) = e else { continue };
            let Target::Local(t) = &r.spec.target else {
                continue;
            };
            if r.status.as_ref().map(|s| s.phase) != Some(Phase::Ready) {
                continue;
            }
            // Route mode: requests and streams through the proxy; redirect mode: connections.
            let active = if r.spec.route_host().is_some() {
                proxied.active_since(r.name(), since)
            } else {
                match activity::read_established(t.port) {
                    Ok(connections) => {
                        debug!(
                            service = r.name(),
                            connections, "activity: counted connections"
                        );
                        connections > 0
                    }
                    Err(e) => {
                        warn!(service = r.name(), error = %e, "activity: cannot read /proc/net/tcp");
                        continue;
                    }
                }
            };
            if active
                && let Err(e) = activity::record_with_backoff(
                    store.as_ref(),
                    r.name(),
                    Timestamp::now(),
                    opts.activity_debounce,
                )
                .await
            {
                warn!(service = r.name(), error = %e, "activity: cannot record");
            }
        }
    }
}

/// Stops local processes whose port no record claims any more (deleted records, edited
/// ports), so no child of the dev stack runs unmanaged.
async fn stop_unclaimed(store: &Arc<dyn Store>, platform: &LocalPlatform, say: &Say) {
    // A malformed item's port is unknown: leave every process alone until it is fixed.
    let Ok(entries) = store.list().await else {
        return;
    };
    if entries.iter().any(|e| matches!(e, Entry::Malformed(_))) {
        return;
    }
    let claimed = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Record(r) => match &r.spec.target {
                Target::Local(t) => Some(t.port),
                Target::Ecs(_) => None,
            },
            Entry::Malformed(_) => None,
        })
        .collect();
    for port in platform.retain(&claimed).await {
        say(&format!(
            "{} stopped the process on port {port}: no record claims that port any more",
            clock()
        ));
    }
}

/// `HH:MM:SS` (UTC) for the transition lines.
fn clock() -> String {
    Timestamp::now()
        .as_datetime()
        .format("%H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_dev_stack_on_the_same_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("snooze.db").display());
        let first = lock_store(&url).unwrap();
        assert!(first.is_some());
        let err = lock_store(&url).unwrap_err().to_string();
        assert!(
            err.contains("another snoozectl dev is already running"),
            "{err}"
        );
        drop(first);
        assert!(
            lock_store(&url).unwrap().is_some(),
            "free again once the first stack is gone"
        );
        assert!(lock_store("dynamodb://snooze").unwrap().is_none());
    }

    fn local(name: &str, port: u16) -> Record {
        let doc = format!(
            "apiVersion: snooze/v1\nkind: Service\nmetadata: {{name: {name}}}\n\
             spec: {{target: {{local: {{command: app, port: {port}}}}}}}\n"
        );
        crate::model::parse_manifests(&doc, "test.yaml")
            .unwrap()
            .remove(0)
    }

    #[tokio::test]
    async fn a_stored_record_on_the_wake_endpoints_port_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("snooze.db").display());
        let store = store::connect(&url, &store::ConnectOptions::default())
            .await
            .unwrap();
        // Edited in the store to the port the stack is about to listen on; the manifest on
        // disk still says another port, but the stored record is the one kept.
        store.apply(&local("demo", 18391), None).await.unwrap();
        std::fs::write(
            dir.path().join("demo.yaml"),
            "apiVersion: snooze/v1\nkind: Service\nmetadata: {name: demo}\n\
             spec: {target: {local: {command: app, port: 8081}}}\n",
        )
        .unwrap();
        drop(store);
        let opts = DevOptions {
            manifests: vec![dir.path().join("demo.yaml")],
            listen: "127.0.0.1:18391".parse().unwrap(),
            store: url,
            base_dir: dir.path().to_path_buf(),
            ..DevOptions::default()
        };
        let err = Dev::start(opts, Arc::new(|_: &str| {}))
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains(
                "port 18391: service demo and the wake endpoint (--listen 127.0.0.1:18391)"
            ),
            "{err}"
        );
    }

    #[test]
    fn local_ports_must_be_distinct_and_not_the_wake_endpoints() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let (a, b, c) = (local("a", 8081), local("b", 8081), local("c", 8080));
        let ecs = Record::test("ecs");
        assert!(port_clashes(&[&a, &ecs], listen).is_empty());
        assert_eq!(
            port_clashes(&[&b, &a, &c, &ecs], listen),
            vec![
                "port 8080: service c and the wake endpoint (--listen 127.0.0.1:8080)",
                "port 8081: services a, b (each local service needs its own port)",
            ]
        );
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(
            port_clashes(&[&c], any).is_empty(),
            "port 0 picks a free port"
        );
    }
}
