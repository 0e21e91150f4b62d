//! The `local` platform: services as processes on this machine, run by `snoozectl dev`.
//!
//! A record's `spec.target.local` ([`LocalTarget`]) names a command, arguments, environment,
//! working directory and port. This platform plays the ECS service scheduler for it:
//!
//! - [`Platform::scale`]`(target, n ≥ 1)` starts **one** process (several processes cannot share
//!   one port, so any `n ≥ 1` means one; `desiredCount` is reported as 1). The command is resolved
//!   against `workingDir` (itself relative to the directory given to [`LocalPlatform::new`],
//!   normally the one `snoozectl dev` runs in) when it contains a `/`, else looked up in `PATH`.
//!   The environment is inherited, plus `env`, plus `PORT=<port>`. stdout and stderr are kept in
//!   a ring of the last [`LOG_LINES`] lines ([`LocalPlatform::recent_output`]).
//! - `scale(target, 0)` sends SIGTERM to the process group, then SIGKILL after the grace period
//!   ([`DEFAULT_GRACE`], 5 s).
//! - A process that exits by itself while wanted is a STOPPED task with `stopCode`
//!   `EssentialContainerExited` and `stoppedReason` `process exited with status 1: <last stderr
//!   line>` (a command that cannot be started: `TaskFailedToStart`), and — like the ECS scheduler —
//!   a replacement is started after a back-off (1 s, doubling up to 10 s). The last
//!   [`STOPPED_KEPT`] stopped tasks are reported until the next start from zero, so the
//!   reconciler can say why and declare `Failed` when tasks keep stopping.
//!
//! **Accounting** (the savings ledger counts local seconds, never money): a task's `createdAt`
//! and `pullStartedAt` are the process's start (a local process is "billed" from there),
//! `startedAt` when its port listens, `stoppedAt` when it exited; `size` is `None` (local is
//! unpriced). [`Platform::describe_tasks`] finds the live process and the last
//! [`HISTORY_KEPT`] processes of the port that stopped, whatever the reason (a stop asked for
//! by a scale to 0 included, with `stopCode` `ServiceSchedulerInitiated`), by ARN, so a stop
//! between two observations is still counted to the moment.
//!
//! [`Platform::observe`] reports the ECS task phases: PENDING while the process runs but nothing
//! listens on its port yet (checked in `/proc/net/tcp{,6}`, so observing opens no connection that
//! would look like activity), RUNNING once the port is listening, with `127.0.0.1` as private and
//! public IP; DEACTIVATING (desired STOPPED) while a stop is in progress. `health` is `None`:
//! the record's HTTP probe, run by the reconciler, decides healthy.
//!
//! Children never outlive their platform: each runs in its own process group; dropping the last
//! [`LocalPlatform`] clone kills every group (SIGKILL), [`LocalPlatform::shutdown`] stops them
//! gracefully, tokio's `kill_on_drop` covers the direct child, and on Linux the command is
//! started through `setpriv --pdeathsig KILL` (util-linux) when available, so even a `kill -9`
//! of `snoozectl dev` takes its children along. One limit: after a `kill -9` (nothing of
//! `snoozectl dev` runs any more to signal the group), processes that a service itself started
//! in the background survive it, as they would a killed shell; a normal stop, Ctrl-C or SIGTERM
//! stops the whole group. Signals are sent with the `kill` program
//! (`kill -s TERM -- -PGID`), which keeps this crate free of `unsafe`.
//!
//! (`PR_SET_PDEATHSIG` fires when the *thread* that spawned the child ends; children are spawned
//! from tokio worker threads, which live as long as the runtime.)
//!
//! A spec change (command, env) of a service whose process runs takes effect at its next start,
//! like a new task definition for tasks already running.
//!
//! Observations and [`LocalPlatform::changes`] let `snoozectl dev` reconcile as soon as a
//! process starts listening or exits (the local analogue of ECS task state change events).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{Error, Observed, Platform, Result, ServiceObservation, TaskObservation, TaskStatus};
use crate::activity;
use crate::model::{LocalTarget, Target, Timestamp};

/// Time between SIGTERM and SIGKILL on a scale to 0 or shutdown.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Lines of stdout/stderr kept per process.
pub const LOG_LINES: usize = 200;
/// Stopped tasks reported per service (newest first).
pub const STOPPED_KEPT: usize = 5;
/// Stopped processes per service [`Platform::describe_tasks`] still finds by ARN (whatever
/// stopped them).
pub const HISTORY_KEPT: usize = 20;
/// `stoppedReason` of a process stopped by a scale to 0 (or a shutdown).
pub const SCALED_IN_REASON: &str = "Scaling activity initiated by snoozectl dev (scaled to 0)";
/// First delay before a crashed process is replaced; doubles per consecutive crash.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// Longest delay before a crashed process is replaced.
pub const RESTART_DELAY_MAX: Duration = Duration::from_secs(10);
/// How often a started process is checked for a listening port.
pub const LISTEN_POLL: Duration = Duration::from_millis(25);
/// The address every local task has.
pub const LOCAL_IP: &str = "127.0.0.1";

/// Runs local targets as child processes. Cheap to clone (shared state); the children are
/// killed when the last clone is dropped.
#[derive(Clone)]
pub struct LocalPlatform {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LocalPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPlatform")
            .field("base_dir", &self.shared.base_dir)
            .field("grace", &self.shared.grace)
            .finish_non_exhaustive()
    }
}

struct Shared {
    base_dir: PathBuf,
    grace: Duration,
    pdeathsig: Option<PathBuf>,
    services: Mutex<HashMap<u16, Slot>>,
    changes: watch::Sender<u64>,
}

/// Everything known about the service on one port.
struct Slot {
    target: LocalTarget,
    desired: u32,
    live: Option<Live>,
    /// Output of the last process that exited.
    last_output: Option<Arc<Output>>,
    stopped: VecDeque<TaskObservation>,
    /// The last [`HISTORY_KEPT`] processes that stopped, for whatever reason, newest first
    /// (never cleared: what [`Platform::describe_tasks`] finds).
    history: VecDeque<TaskObservation>,
    crashes_in_row: u32,
    /// Bumped on every change of `desired`, so a scheduled restart can tell it is stale.
    epoch: u64,
}

/// A process that was started and has not been seen to exit.
struct Live {
    arn: String,
    pid: u32,
    created_at: Timestamp,
    started_at: Option<Timestamp>,
    stopping: bool,
    output: Arc<Output>,
}

impl Live {
    /// The process as a task: PENDING until its port listens, then RUNNING (with
    /// [`LOCAL_IP`]), DEACTIVATING (desired STOPPED) while a stop is in progress. Billed from
    /// the process start (`pullStartedAt` = `createdAt`); no size (local is unpriced).
    fn observation(&self) -> TaskObservation {
        let (last, desired) = match (self.stopping, self.started_at) {
            (true, _) => (TaskStatus::Deactivating, TaskStatus::Stopped),
            (false, Some(_)) => (TaskStatus::Running, TaskStatus::Running),
            (false, None) => (TaskStatus::Pending, TaskStatus::Running),
        };
        let mut task = TaskObservation::new(self.arn.clone(), last, desired);
        task.created_at = Some(self.created_at);
        task.pull_started_at = Some(self.created_at);
        task.started_at = self.started_at;
        if last == TaskStatus::Running {
            task.private_ip = Some(LOCAL_IP.into());
            task.public_ip = Some(LOCAL_IP.into());
        }
        task
    }

    /// The process as a stopped task at `now`.
    fn stopped(&self, now: Timestamp, code: &str, reason: String) -> TaskObservation {
        let mut t =
            TaskObservation::new(self.arn.clone(), TaskStatus::Stopped, TaskStatus::Stopped);
        t.created_at = Some(self.created_at);
        t.pull_started_at = Some(self.created_at);
        t.started_at = self.started_at;
        t.stopped_at = Some(now);
        t.stop_code = Some(code.into());
        t.stopped_reason = Some(reason);
        t
    }
}

/// Keeps `task` in the slot's history (newest first, at most [`HISTORY_KEPT`]).
fn remember(slot: &mut Slot, task: TaskObservation) {
    slot.history.push_front(task);
    slot.history.truncate(HISTORY_KEPT);
}

/// The bounded output ring of one process.
#[derive(Default)]
struct Output {
    lines: Mutex<VecDeque<String>>,
    /// The last non-empty stderr line before any backtrace: the exit reason's detail.
    last_stderr: Mutex<Option<String>>,
    /// Set at a Rust backtrace's first line (`RUST_BACKTRACE` inherited): the frames that
    /// follow would hide the error line.
    in_backtrace: std::sync::atomic::AtomicBool,
}

impl Output {
    fn push(&self, stream: &str, line: String) {
        let mut lines = self.lines.lock().expect("output lock");
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(format!("{stream}: {line}"));
        drop(lines);
        use std::sync::atomic::Ordering::Relaxed;
        let trimmed = line.trim();
        if stream != "stderr" || trimmed.is_empty() || self.in_backtrace.load(Relaxed) {
            return;
        }
        if trimmed.eq_ignore_ascii_case("stack backtrace:") {
            self.in_backtrace.store(true, Relaxed);
        } else {
            *self.last_stderr.lock().expect("output lock") = Some(line);
        }
    }
}

impl LocalPlatform {
    /// A platform that resolves relative `workingDir`s and commands against `base_dir`
    /// (`snoozectl dev` passes its working directory), with the default grace period.
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self::with_grace(base_dir, DEFAULT_GRACE)
    }

    /// Like [`LocalPlatform::new`] with another SIGTERM → SIGKILL grace period.
    pub fn with_grace(base_dir: impl Into<PathBuf>, grace: Duration) -> Self {
        let pdeathsig = ["/usr/bin/setpriv", "/bin/setpriv"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let (changes, _) = watch::channel(0);
        Self {
            shared: Arc::new(Shared {
                base_dir: base_dir.into(),
                grace,
                pdeathsig,
                services: Mutex::new(HashMap::new()),
                changes,
            }),
        }
    }

    /// A receiver whose value changes whenever a process starts, starts listening, exits or is
    /// stopped; `snoozectl dev` reconciles on it.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// The last lines (at most [`LOG_LINES`]) the current or, if none runs, the last process on
    /// `port` wrote, each prefixed `stdout: ` or `stderr: `.
    pub fn recent_output(&self, port: u16) -> Vec<String> {
        let services = self.shared.services.lock().expect("platform lock");
        let Some(slot) = services.get(&port) else {
            return vec![];
        };
        let output = slot
            .live
            .as_ref()
            .map(|l| l.output.clone())
            .or_else(|| slot.last_output.clone());
        match output {
            Some(o) => o
                .lines
                .lock()
                .expect("output lock")
                .iter()
                .cloned()
                .collect(),
            None => vec![],
        }
    }

    /// The process id of the running (or stopping) process on `port`, if any.
    pub fn pid(&self, port: u16) -> Option<u32> {
        let services = self.shared.services.lock().expect("platform lock");
        services.get(&port)?.live.as_ref().map(|l| l.pid)
    }

    /// Scales to 0 the ports that no record claims any more (its record was deleted, or its
    /// `spec.target.local.port` was changed) and returns them: `claimed` are the ports of the
    /// current local records. Their processes stop like on `scale(.., 0)`.
    pub async fn retain(&self, claimed: &std::collections::HashSet<u16>) -> Vec<u16> {
        let orphans: Vec<(u16, LocalTarget)> = {
            let services = self.shared.services.lock().expect("platform lock");
            services
                .iter()
                .filter(|(port, slot)| {
                    !claimed.contains(port)
                        && (slot.desired > 0 || slot.live.as_ref().is_some_and(|l| !l.stopping))
                })
                .map(|(port, slot)| (*port, slot.target.clone()))
                .collect()
        };
        for (port, target) in &orphans {
            if let Err(e) = self.scale(&Target::Local(target.clone()), 0).await {
                warn!(port, error = %e, "cannot stop an unclaimed local process");
            }
        }
        orphans.into_iter().map(|(port, _)| port).collect()
    }

    /// Stops every process: desiredCount 0 everywhere, SIGTERM to every process group, SIGKILL
    /// to those still running after the grace period. Returns when all have exited (or were
    /// killed). No process is started afterwards unless `scale` is called again.
    pub async fn shutdown(&self) {
        let pids: Vec<u32> = {
            let mut services = self.shared.services.lock().expect("platform lock");
            services
                .values_mut()
                .filter_map(|slot| {
                    slot.desired = 0;
                    slot.epoch += 1;
                    let live = slot.live.as_mut()?;
                    live.stopping = true;
                    Some(live.pid)
                })
                .collect()
        };
        for pid in &pids {
            signal_group(*pid, "TERM").await;
        }
        let deadline = tokio::time::Instant::now() + self.shared.grace;
        while self.any_live() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for pid in &pids {
            signal_group(*pid, "KILL").await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.any_live() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn any_live(&self) -> bool {
        let services = self.shared.services.lock().expect("platform lock");
        services.values().any(|s| s.live.is_some())
    }
}

impl Shared {
    fn changed(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// `(program, working directory)` for a target.
    fn resolve(&self, t: &LocalTarget) -> (PathBuf, PathBuf) {
        let cwd = match t.working_dir.as_deref() {
            Some(d) => self.base_dir.join(d),
            None => self.base_dir.clone(),
        };
        let program = if t.command.contains('/') {
            cwd.join(&t.command)
        } else {
            PathBuf::from(&t.command)
        };
        (program, cwd)
    }
}

/// `Ok` when nothing listens on `port` (a bind on all IPv4 addresses succeeds; std sets
/// `SO_REUSEADDR`, so connections in TIME_WAIT do not count). Errors: `port 8080 is already
/// in use by another program`.
fn port_free(port: u16) -> std::io::Result<()> {
    match std::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(std::io::Error::new(
            e.kind(),
            format!(
                "port {port} is already in use by another program (the wake endpoint, another \
                 service, or something outside snooze); give spec.target.local.port a free port"
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Starts the slot's process (the caller holds the lock). A command that cannot be spawned is
/// recorded as a stopped task (`TaskFailedToStart`) and retried like a crash.
fn start_locked(shared: &Arc<Shared>, port: u16, slot: &mut Slot) {
    let (program, cwd) = shared.resolve(&slot.target);
    let mut cmd = match &shared.pdeathsig {
        Some(setpriv) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&program);
            c
        }
        None => tokio::process::Command::new(&program),
    };
    cmd.args(&slot.target.args)
        .envs(&slot.target.env)
        .env("PORT", port.to_string())
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let now = Timestamp::now();
    let spawned = if let Err(e) = port_free(port) {
        // Another program holds the port (the wake endpoint, another service, something
        // outside snooze): the readiness check would mistake it for this service.
        Err(e)
    } else if !cwd.is_dir() {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("working directory {} does not exist", cwd.display()),
        ))
    } else if find_program(&program).is_none() {
        // Checked here because with `setpriv` in front the spawn itself would succeed.
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            if program.components().count() > 1 {
                "no such executable file".to_string()
            } else {
                "not found in PATH".to_string()
            },
        ))
    } else {
        cmd.spawn()
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let reason = format!("cannot start {}: {e}", program.display());
            info!(port, reason, "local process failed to start");
            let mut t = TaskObservation::new(
                format!("local:{port}:failed-{}", now.as_millis()),
                TaskStatus::Stopped,
                TaskStatus::Stopped,
            );
            t.created_at = Some(now);
            t.stopped_at = Some(now);
            t.stop_code = Some("TaskFailedToStart".into());
            t.stopped_reason = Some(reason);
            record_stop(shared, port, slot, t);
            return;
        }
    };
    let pid = child.id().unwrap_or_default();
    let arn = format!("local:{port}:{pid}");
    info!(port, pid, command = %program.display(), "local process started");
    let output = Arc::new(Output::default());
    let out_done = child
        .stdout
        .take()
        .map(|s| tokio::spawn(read_lines(s, "stdout", output.clone())));
    let err_done = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_lines(s, "stderr", output.clone())));
    slot.live = Some(Live {
        arn,
        pid,
        created_at: now,
        started_at: None,
        stopping: false,
        output: output.clone(),
    });
    // Watch for the port to start listening: the task becomes RUNNING (a change event) without
    // waiting for the next observation.
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LISTEN_POLL).await;
            let Some(shared) = weak.upgrade() else { return };
            let listening = activity::read_listening(port).unwrap_or(false);
            let mut services = shared.services.lock().expect("platform lock");
            let Some(live) = services
                .get_mut(&port)
                .and_then(|s| s.live.as_mut())
                .filter(|l| l.pid == pid)
            else {
                return;
            };
            if live.started_at.is_some() || live.stopping {
                return;
            }
            if listening {
                live.started_at = Some(Timestamp::now());
                drop(services);
                debug!(port, pid, "local process is listening");
                shared.changed();
                return;
            }
        }
    });
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let status = child.wait().await;
        // Let the readers drain what the process wrote last (bounded: a grandchild may hold
        // the pipe open).
        for done in [out_done, err_done].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_millis(500), done).await;
        }
        exited(&weak, port, pid, status, &output);
    });
    shared.changed();
}

/// The executable `program` names: a path as given, a bare name looked up in `PATH`.
fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

async fn read_lines(stream: impl AsyncRead + Unpin, name: &'static str, output: Arc<Output>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        debug!(stream = name, line, "local process output");
        output.push(name, line);
    }
}

/// Handles the exit of process `pid` on `port`.
fn exited(
    weak: &Weak<Shared>,
    port: u16,
    pid: u32,
    status: std::io::Result<ExitStatus>,
    output: &Output,
) {
    let Some(shared) = weak.upgrade() else { return };
    // Whatever is left of its process group goes with it.
    std::thread::spawn(move || signal_group_blocking(pid, "KILL"));
    let now = Timestamp::now();
    let mut services = shared.services.lock().expect("platform lock");
    let Some(slot) = services.get_mut(&port) else {
        return;
    };
    if slot.live.as_ref().map(|l| l.pid) != Some(pid) {
        return;
    }
    let live = slot.live.take().expect("checked above");
    slot.last_output = Some(live.output.clone());
    if live.stopping {
        info!(port, pid, "local process stopped");
        remember(
            slot,
            live.stopped(now, "ServiceSchedulerInitiated", SCALED_IN_REASON.into()),
        );
        slot.crashes_in_row = 0;
        if slot.desired >= 1 {
            // Scaled up again while it was stopping.
            start_locked(&shared, port, slot);
        }
    } else {
        let reason = exit_reason(
            status,
            output.last_stderr.lock().expect("output lock").as_deref(),
        );
        info!(port, pid, reason, "local process exited");
        let t = live.stopped(now, "EssentialContainerExited", reason);
        record_stop(&shared, port, slot, t);
    }
    drop(services);
    shared.changed();
}

/// Keeps a stopped task and, while the service is wanted, schedules its replacement.
fn record_stop(shared: &Arc<Shared>, port: u16, slot: &mut Slot, task: TaskObservation) {
    remember(slot, task.clone());
    slot.stopped.push_front(task);
    slot.stopped.truncate(STOPPED_KEPT);
    slot.crashes_in_row += 1;
    if slot.desired == 0 {
        return;
    }
    let delay = (RESTART_DELAY * 2u32.saturating_pow(slot.crashes_in_row.saturating_sub(1).min(8)))
        .min(RESTART_DELAY_MAX);
    let epoch = slot.epoch;
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(shared) = weak.upgrade() else { return };
        let mut services = shared.services.lock().expect("platform lock");
        if let Some(slot) = services.get_mut(&port)
            && slot.epoch == epoch
            && slot.desired >= 1
            && slot.live.is_none()
        {
            info!(port, "replacing stopped local process");
            start_locked(&shared, port, slot);
        }
    });
}

/// `process exited with status 1: <last stderr line>` / `process killed by signal 9`.
pub fn exit_reason(status: std::io::Result<ExitStatus>, last_stderr: Option<&str>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let what = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("process exited with status {code}"),
            (None, Some(sig)) => format!("process killed by signal {sig}"),
            (None, None) => format!("process ended: {s}"),
        },
        Err(e) => format!("process could not be waited for: {e}"),
    };
    match last_stderr.map(str::trim).filter(|l| !l.is_empty()) {
        Some(line) => format!("{what}: {}", truncate(line, 300)),
        None => what,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `kill -s SIG -- -PGID`; errors (no such group) are ignored.
async fn signal_group(pgid: u32, sig: &str) {
    let r = tokio::process::Command::new("kill")
        .args(["-s", sig, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    debug!(
        pgid,
        sig,
        ok = r.map(|s| s.success()).unwrap_or(false),
        "signalled process group"
    );
}

fn signal_group_blocking(pgid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", sig, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Shared {
    fn drop(&mut self) {
        let services = self
            .services
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for slot in services.values() {
            if let Some(live) = &slot.live {
                signal_group_blocking(live.pid, "KILL");
            }
        }
    }
}

fn local(target: &Target) -> Result<&LocalTarget> {
    match target {
        Target::Local(t) => Ok(t),
        Target::Ecs(e) => Err(Error::Unsupported(format!(
            "the local platform runs local processes, not ECS service {}/{}",
            e.cluster, e.service
        ))),
    }
}

#[async_trait]
impl Platform for LocalPlatform {
    async fn observe(&self, targets: &[Target]) -> Result<Vec<Observed>> {
        let now = Timestamp::now();
        let mut changed = false;
        let mut services = self.shared.services.lock().expect("platform lock");
        let out = targets
            .iter()
            .map(|target| {
                let t = match target {
                    Target::Local(t) => t,
                    // Reported once as a condition (and re-checked rarely), not as an
                    // observation error on every pass.
                    Target::Ecs(e) => {
                        return Observed::Missing {
                            message: format!(
                                "ECS service {}/{} is not run by snoozectl dev (it runs local \
                                 targets only)",
                                e.cluster, e.service
                            ),
                        };
                    }
                };
                let Some(slot) = services.get_mut(&t.port) else {
                    return Observed::Found(ServiceObservation::default());
                };
                let mut obs = ServiceObservation {
                    desired_count: slot.desired.min(1),
                    ..ServiceObservation::default()
                };
                if let Some(live) = slot.live.as_mut() {
                    if live.started_at.is_none()
                        && !live.stopping
                        && activity::read_listening(t.port).unwrap_or(false)
                    {
                        live.started_at = Some(now);
                        changed = true;
                    }
                    let task = live.observation();
                    match task.last_status {
                        TaskStatus::Running => obs.running_count += 1,
                        TaskStatus::Pending => obs.pending_count += 1,
                        _ => {}
                    }
                    obs.tasks.push(task);
                }
                obs.tasks.extend(slot.stopped.iter().cloned());
                Observed::Found(obs)
            })
            .collect();
        drop(services);
        if changed {
            self.shared.changed();
        }
        Ok(out)
    }

    async fn scale(&self, target: &Target, replicas: u32) -> Result<()> {
        let t = local(target)?;
        let port = t.port;
        let mut services = self.shared.services.lock().expect("platform lock");
        let slot = services.entry(port).or_insert_with(|| Slot {
            target: t.clone(),
            desired: 0,
            live: None,
            last_output: None,
            stopped: VecDeque::new(),
            history: VecDeque::new(),
            crashes_in_row: 0,
            epoch: 0,
        });
        if replicas >= 1 {
            slot.target = t.clone();
            if slot.desired == 0 {
                slot.desired = 1;
                slot.epoch += 1;
                slot.crashes_in_row = 0;
                slot.stopped.clear();
                if slot.live.is_none() {
                    start_locked(&self.shared, port, slot);
                }
                // A process still stopping is replaced when it has exited (see `exited`).
            }
        } else if slot.desired != 0 || slot.live.as_ref().is_some_and(|l| !l.stopping) {
            slot.desired = 0;
            slot.epoch += 1;
            if let Some(live) = slot.live.as_mut().filter(|l| !l.stopping) {
                live.stopping = true;
                let pid = live.pid;
                let grace = self.shared.grace;
                let weak = Arc::downgrade(&self.shared);
                info!(port, pid, "stopping local process");
                tokio::spawn(async move {
                    signal_group(pid, "TERM").await;
                    tokio::time::sleep(grace).await;
                    let still = weak.upgrade().is_some_and(|s| {
                        let services = s.services.lock().expect("platform lock");
                        services
                            .get(&port)
                            .and_then(|s| s.live.as_ref())
                            .map(|l| l.pid)
                            == Some(pid)
                    });
                    if still {
                        warn!(port, pid, "local process ignored SIGTERM; sending SIGKILL");
                        signal_group(pid, "KILL").await;
                    }
                });
            }
        }
        drop(services);
        self.shared.changed();
        Ok(())
    }

    /// The target's live process and its last [`HISTORY_KEPT`] stopped ones, by ARN (in the
    /// order asked, each once); others are left out. The live one is as [`Platform::observe`]
    /// last saw it.
    async fn describe_tasks(
        &self,
        target: &Target,
        arns: &[String],
    ) -> Result<Vec<TaskObservation>> {
        let t = local(target)?;
        let services = self.shared.services.lock().expect("platform lock");
        let Some(slot) = services.get(&t.port) else {
            return Ok(Vec::new());
        };
        let mut seen = std::collections::HashSet::new();
        Ok(arns
            .iter()
            .filter(|a| seen.insert(a.as_str()))
            .filter_map(|arn| {
                slot.live
                    .as_ref()
                    .filter(|l| &l.arn == arn)
                    .map(Live::observation)
                    .or_else(|| slot.history.iter().find(|h| &h.arn == arn).cloned())
            })
            .collect())
    }
}

/// The working directory `snoozectl dev` resolves relative paths against: the current one.
pub fn default_base_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_read_plainly() {
        use std::os::unix::process::ExitStatusExt;
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(
            exit_reason(Ok(status), Some("boom ")),
            "process exited with status 3: boom"
        );
        assert_eq!(
            exit_reason(Ok(ExitStatus::from_raw(0)), None),
            "process exited with status 0"
        );
        assert_eq!(
            exit_reason(Ok(ExitStatus::from_raw(9)), Some("")),
            "process killed by signal 9"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            exit_reason(Ok(status), Some(&long)).len(),
            "process exited with status 3: ".len() + 300
        );
    }

    #[test]
    fn a_backtrace_does_not_hide_the_error_line() {
        let out = Output::default();
        out.push(
            "stderr",
            "Error: cannot bind 0.0.0.0:8081: Address in use".into(),
        );
        out.push("stdout", "not this".into());
        out.push("stderr", "".into());
        out.push("stderr", "Stack backtrace:".into());
        out.push("stderr", "  30: _start".into());
        assert_eq!(
            out.last_stderr.lock().unwrap().as_deref(),
            Some("Error: cannot bind 0.0.0.0:8081: Address in use")
        );
        assert_eq!(
            out.lines.lock().unwrap().len(),
            5,
            "all lines are kept for the log"
        );
    }

    #[test]
    fn commands_resolve_against_the_working_dir() {
        let p = LocalPlatform::new("/repo");
        let mut t = LocalTarget {
            command: "target/debug/app".into(),
            args: vec![],
            env: Default::default(),
            working_dir: None,
            port: 1,
        };
        assert_eq!(
            p.shared.resolve(&t),
            (
                PathBuf::from("/repo/target/debug/app"),
                PathBuf::from("/repo")
            )
        );
        t.working_dir = Some("app".into());
        assert_eq!(
            p.shared.resolve(&t),
            (
                PathBuf::from("/repo/app/target/debug/app"),
                PathBuf::from("/repo/app")
            )
        );
        t.command = "sh".into();
        assert_eq!(p.shared.resolve(&t).0, PathBuf::from("sh"));
        t.working_dir = Some("/abs".into());
        t.command = "/bin/app".into();
        assert_eq!(
            p.shared.resolve(&t),
            (PathBuf::from("/bin/app"), PathBuf::from("/abs"))
        );
    }

    #[tokio::test]
    async fn ecs_targets_are_unsupported() {
        let p = LocalPlatform::new(".");
        let ecs = Target::Ecs(crate::model::EcsTarget {
            cluster: "c".into(),
            service: "s".into(),
        });
        assert!(matches!(p.scale(&ecs, 1).await, Err(Error::Unsupported(_))));
        let obs = p.observe(&[ecs]).await.unwrap();
        let Observed::Missing { message } = &obs[0] else {
            panic!("{obs:?}")
        };
        assert_eq!(
            message,
            "ECS service c/s is not run by snoozectl dev (it runs local targets only)"
        );
    }
}
