//! The local stack with real processes: the `local` platform (start, observe, stop, crash,
//! SIGKILL after the grace period, children killed with their parent) and `snoozectl dev` run
//! as a subprocess (wake → Ready → redirect → activity keeps it awake → idle → Asleep; a
//! crashing app ends Failed with its exit reason; `kill -9` of the stack takes its children; a
//! scheduled service is pre-warmed to Ready before its awake window starts, with no wake).
//!
//! Needs the demo app binary (`target/debug/snooze-demo-app`), which `cargo test --workspace
//! --all-targets` builds; run alone with `cargo build -p snooze-demo-app && cargo test -p
//! snooze --test local_stack`. Every wait is bounded; the idle test takes about 2.5 minutes
//! because `idleTimeout` cannot be shorter than 1m, and the pre-warm test 100 to 160 s because
//! windows start on whole minutes.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use snooze::model::{LocalTarget, Target};
use snooze::platform::local::LocalPlatform;
use snooze::platform::{Observed, Platform, ServiceObservation, TaskStatus};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The demo app binary; fails (never skips) when it was not built.
fn demo_app() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let p = dir.join("debug/snooze-demo-app");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p snooze-demo-app` first",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; it only waits to be reaped.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

async fn until<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn target(command: &str, args: &[&str], port: u16, env: &[(&str, &str)]) -> Target {
    Target::Local(LocalTarget {
        command: command.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        working_dir: None,
        port,
    })
}

async fn observe(p: &LocalPlatform, t: &Target) -> ServiceObservation {
    match p.observe(std::slice::from_ref(t)).await.unwrap().remove(0) {
        Observed::Found(s) => s,
        other => panic!("unexpected observation {other:?}"),
    }
}

#[tokio::test]
async fn local_platform_starts_observes_and_stops_a_process() {
    let port = free_port();
    let app = demo_app();
    let p = LocalPlatform::with_grace(repo_root(), Duration::from_secs(3));
    // Half a second of start-up before the app binds: the task is PENDING meanwhile.
    let t = target(
        "sh",
        &["-c", "sleep 0.5; exec \"$APP\""],
        port,
        &[("APP", app.to_str().unwrap())],
    );
    assert_eq!(
        observe(&p, &t).await,
        ServiceObservation::default(),
        "nothing before the first scale"
    );

    p.scale(&t, 1).await.unwrap();
    let o = observe(&p, &t).await;
    assert_eq!(
        (o.desired_count, o.running_count, o.pending_count),
        (1, 0, 1)
    );
    assert_eq!(o.tasks[0].last_status, TaskStatus::Pending);
    assert_eq!(o.tasks[0].private_ip, None, "no address before RUNNING");
    let pid = p.pid(port).unwrap();
    assert!(o.tasks[0].arn.ends_with(&format!(":{pid}")));

    let o = until("RUNNING", Duration::from_secs(10), async || {
        let o = observe(&p, &t).await;
        (o.running_count == 1).then_some(o)
    })
    .await;
    let task = &o.tasks[0];
    assert_eq!(
        (task.last_status, task.desired_status),
        (TaskStatus::Running, TaskStatus::Running)
    );
    assert_eq!(task.public_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(task.private_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(task.health, None, "health is the reconciler's probe");
    assert!(task.started_at >= task.created_at);
    // PORT was set: the app answers on it.
    let health = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert!(
        p.recent_output(port)
            .iter()
            .any(|l| l.contains("listening")),
        "{:?}",
        p.recent_output(port)
    );
    // Scaling to 2 still means one process (one port).
    p.scale(&t, 2).await.unwrap();
    assert_eq!(p.pid(port), Some(pid));

    let t0 = Instant::now();
    p.scale(&t, 0).await.unwrap();
    let o = observe(&p, &t).await;
    assert_eq!(o.desired_count, 0);
    if let Some(task) = o.tasks.first() {
        assert_eq!(
            task.desired_status,
            TaskStatus::Stopped,
            "stopping: {task:?}"
        );
    }
    until("the process to exit", Duration::from_secs(5), async || {
        (!alive(pid)).then_some(())
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the app stops on SIGTERM, before the grace period"
    );
    let o = until("no tasks", Duration::from_secs(5), async || {
        let o = observe(&p, &t).await;
        o.tasks.is_empty().then_some(o)
    })
    .await;
    assert_eq!(
        (o.running_count, o.pending_count),
        (0, 0),
        "a requested stop is not a failure"
    );
}

/// What the savings ledger reads of a local process: counted from the process start
/// (`pullStartedAt` = `createdAt`), no size (local is unpriced), and its stop found by ARN
/// after it is no longer observed, whether it was stopped or exited by itself.
#[tokio::test]
async fn local_tasks_count_from_the_process_start_and_are_described_after_they_stop() {
    let port = free_port();
    let p = LocalPlatform::with_grace(repo_root(), Duration::from_secs(3));
    let t = target("sh", &["-c", "exec sleep 300"], port, &[]);
    p.scale(&t, 1).await.unwrap();
    let o = observe(&p, &t).await;
    assert_eq!(o.size, None);
    let task = o.tasks[0].clone();
    assert!(task.created_at.is_some());
    assert_eq!(
        task.pull_started_at, task.created_at,
        "billed from the start"
    );
    assert_eq!(task.size, None, "local is unpriced");
    let arn = task.arn.clone();
    assert_eq!(
        p.describe_tasks(&t, &[arn.clone(), arn.clone()])
            .await
            .unwrap(),
        vec![task.clone()],
        "the live process, once"
    );

    p.scale(&t, 0).await.unwrap();
    until("no tasks", Duration::from_secs(10), async || {
        observe(&p, &t).await.tasks.is_empty().then_some(())
    })
    .await;
    let got = p
        .describe_tasks(&t, &["local:1:1".to_string(), arn.clone()])
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let stopped = &got[0];
    assert_eq!(stopped.arn, arn);
    assert_eq!(
        (stopped.last_status, stopped.desired_status),
        (TaskStatus::Stopped, TaskStatus::Stopped)
    );
    assert_eq!(stopped.pull_started_at, task.created_at);
    assert!(
        stopped
            .stopped_at
            .is_some_and(|s| Some(s) >= task.created_at)
    );
    assert_eq!(
        stopped.stop_code.as_deref(),
        Some("ServiceSchedulerInitiated")
    );

    // A process that exits by itself is found too, with its exit.
    let port2 = free_port();
    let crash = target("sh", &["-c", "exit 3"], port2, &[]);
    p.scale(&crash, 1).await.unwrap();
    let dead = until("a stopped task", Duration::from_secs(10), async || {
        observe(&p, &crash)
            .await
            .tasks
            .into_iter()
            .find(|t| t.last_status == TaskStatus::Stopped)
    })
    .await;
    p.scale(&crash, 0).await.unwrap();
    let got = p
        .describe_tasks(&crash, std::slice::from_ref(&dead.arn))
        .await
        .unwrap();
    assert_eq!(got, vec![dead.clone()]);
    assert_eq!(
        got[0].stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(got[0].pull_started_at, got[0].created_at);
    // Another port's processes are not this target's.
    assert!(
        p.describe_tasks(&crash, std::slice::from_ref(&arn))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_process_that_exits_is_a_stopped_task_with_its_exit_status_and_is_replaced() {
    let port = free_port();
    let p = LocalPlatform::new(repo_root());
    let t = target(
        "sh",
        &["-c", "echo starting; echo boom >&2; exit 3"],
        port,
        &[],
    );
    p.scale(&t, 1).await.unwrap();
    let o = until(
        "two stopped tasks (a replacement was started)",
        Duration::from_secs(10),
        async || {
            let o = observe(&p, &t).await;
            (o.tasks
                .iter()
                .filter(|t| t.last_status == TaskStatus::Stopped)
                .count()
                >= 2)
                .then_some(o)
        },
    )
    .await;
    let stopped = o
        .tasks
        .iter()
        .find(|t| t.last_status == TaskStatus::Stopped)
        .unwrap();
    assert_eq!(
        stopped.stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        stopped.stopped_reason.as_deref(),
        Some("process exited with status 3: boom")
    );
    assert!(stopped.stopped_at.is_some());
    assert_eq!(o.desired_count, 1);
    let out = p.recent_output(port);
    assert!(
        out.contains(&"stdout: starting".to_string()) && out.contains(&"stderr: boom".to_string()),
        "{out:?}"
    );

    // Scaled to 0: no more replacements; the stopped tasks stay until the next start.
    p.scale(&t, 0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let n = observe(&p, &t).await.tasks.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let o = observe(&p, &t).await;
    assert_eq!(o.tasks.len(), n, "no replacement after scale 0");
    assert!(o.tasks.iter().all(|t| t.last_status == TaskStatus::Stopped));

    // A command that cannot be started is a task that failed to start.
    let missing = target("./no/such/program", &[], free_port(), &[]);
    p.scale(&missing, 1).await.unwrap();
    let o = observe(&p, &missing).await;
    assert_eq!(o.tasks[0].stop_code.as_deref(), Some("TaskFailedToStart"));
    assert!(
        o.tasks[0]
            .stopped_reason
            .as_deref()
            .unwrap()
            .contains("no/such/program"),
        "{:?}",
        o.tasks[0]
    );
    p.scale(&missing, 0).await.unwrap();

    // A port another program listens on (here: this test) is a task that failed to start, not
    // a running service: its readiness probe would reach the other program.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let busy = target("sleep", &["30"], taken, &[]);
    p.scale(&busy, 1).await.unwrap();
    let o = observe(&p, &busy).await;
    assert_eq!(o.running_count, 0, "{o:?}");
    assert_eq!(o.tasks[0].stop_code.as_deref(), Some("TaskFailedToStart"));
    assert!(
        o.tasks[0]
            .stopped_reason
            .as_deref()
            .unwrap()
            .contains(&format!(
                "port {taken} is already in use by another program"
            )),
        "{:?}",
        o.tasks[0]
    );
    p.scale(&busy, 0).await.unwrap();
}

#[tokio::test]
async fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
    let port = free_port();
    let p = LocalPlatform::with_grace(repo_root(), Duration::from_secs(1));
    let t = target(
        "sh",
        &["-c", "trap '' TERM; while true; do sleep 0.1; done"],
        port,
        &[],
    );
    p.scale(&t, 1).await.unwrap();
    let pid = p.pid(port).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    p.scale(&t, 0).await.unwrap();
    until("SIGKILL", Duration::from_secs(5), async || {
        (!alive(pid)).then_some(())
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "killed only after the grace period: {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn dropping_the_platform_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = LocalPlatform::new(dir.path());
    // The child starts a grandchild and records its pid.
    let t = target(
        "sh",
        &["-c", "sleep 300 & echo $! > grandchild; wait"],
        port,
        &[],
    );
    p.scale(&t, 1).await.unwrap();
    let pid = p.pid(port).unwrap();
    let grandchild: u32 = until("grandchild pid", Duration::from_secs(5), async || {
        std::fs::read_to_string(dir.path().join("grandchild"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
    .await;
    assert!(alive(pid) && alive(grandchild));
    drop(p);
    until(
        "child and grandchild gone",
        Duration::from_secs(5),
        async || (!alive(pid) && !alive(grandchild)).then_some(()),
    )
    .await;
}

#[tokio::test]
async fn shutdown_stops_every_process() {
    let p = LocalPlatform::with_grace(repo_root(), Duration::from_secs(1));
    let a = target("sh", &["-c", "sleep 300"], free_port(), &[]);
    let b = target(
        "sh",
        &["-c", "trap '' TERM; sleep 300 & wait; sleep 300"],
        free_port(),
        &[],
    );
    p.scale(&a, 1).await.unwrap();
    p.scale(&b, 1).await.unwrap();
    let pids = [p.pid(port_of(&a)).unwrap(), p.pid(port_of(&b)).unwrap()];
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(5), p.shutdown())
        .await
        .expect("shutdown is bounded");
    assert!(pids.iter().all(|pid| !alive(*pid)), "all stopped");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.pid(port_of(&a)), None, "not restarted after shutdown");
}

fn port_of(t: &Target) -> u16 {
    match t {
        Target::Local(l) => l.port,
        Target::Ecs(_) => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// `snoozectl dev` as a subprocess.

/// A `snoozectl dev` child with its stdout collected; killed (SIGTERM, then SIGKILL) on drop.
struct DevStack {
    child: Child,
    url: String,
    store: String,
    dir: tempfile::TempDir,
    out: Arc<Mutex<Vec<String>>>,
}

impl DevStack {
    fn start(manifest: &str) -> DevStack {
        Self::start_with(manifest, &[])
    }

    /// Like [`DevStack::start`] with more `snoozectl dev` arguments.
    fn start_with(manifest: &str, extra: &[&str]) -> DevStack {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("manifests")).unwrap();
        std::fs::write(dir.path().join("manifests/services.yaml"), manifest).unwrap();
        let store = format!("sqlite://{}/dev.db", dir.path().display());
        let (child, url, out) = Self::spawn(dir.path(), &store, extra);
        DevStack {
            child,
            url,
            store,
            dir,
            out,
        }
    }

    /// Stops this stack (SIGTERM) and starts another on the same folder and store.
    fn restart(&mut self) {
        assert!(self.terminate().success());
        let (child, url, out) = Self::spawn(self.dir.path(), &self.store, &[]);
        (self.child, self.url, self.out) = (child, url, out);
    }

    fn spawn(dir: &Path, store: &str, extra: &[&str]) -> (Child, String, Arc<Mutex<Vec<String>>>) {
        let listen = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_snoozectl"))
            .args([
                "--store",
                store,
                "dev",
                "--manifests",
                "manifests",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{listen}"))
            .args(extra)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().unwrap());
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                eprintln!("[dev] {line}");
                sink.lock().unwrap().push(line);
            }
        });
        (child, format!("http://127.0.0.1:{listen}"), out)
    }

    /// Waits for `name` to be Asleep, visits it once, and waits for Ready.
    async fn wake_to_ready(&self, name: &str) {
        self.wait_phase(name, "Asleep", Duration::from_secs(20))
            .await;
        no_redirects()
            .get(format!("{}/s/{name}", self.url))
            .send()
            .await
            .unwrap();
        self.wait_phase(name, "Ready", Duration::from_secs(60))
            .await;
    }

    /// `snoozectl ARGS...` on this stack's store: its stdout; panics unless it succeeds.
    fn snoozectl(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_snoozectl"))
            .args(["--store", &self.store])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `snoozectl apply -f FILE` on this stack's store; panics unless it succeeds.
    fn apply(&self, file: &Path) {
        self.snoozectl(&["apply", "-f", &file.display().to_string()]);
    }

    /// `snoozectl get NAME -o json`: the whole record.
    fn record(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.snoozectl(&["get", name, "-o", "json"])).unwrap()
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    async fn status(&self, name: &str) -> serde_json::Value {
        let url = format!("{}/api/v1/services/{name}", self.url);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match reqwest::get(&url).await {
                Ok(r) if r.status().is_success() => return r.json().await.unwrap(),
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "no status from {url}: {other:?}\n{}",
                        self.output()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn wait_phase(&self, name: &str, phase: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status(name).await;
            if s["phase"] == phase {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not {phase} within {limit:?}: {s}\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("app.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn snoozectl_get(&self) -> String {
        self.snoozectl(&["get"])
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "snoozectl dev did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &self.child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(1));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A manifest for the demo app on `port` that writes its pid to `app.pid` in the stack's dir.
fn demo_manifest(name: &str, port: u16, idle: &str) -> String {
    format!(
        r#"apiVersion: snooze/v1
kind: Service
metadata: {{name: {name}}}
spec:
  target:
    local:
      command: sh
      args: ["-c", "echo $$ > app.pid; exec \"$APP\""]
      env: {{APP: "{app}", APP_NAME: "{name}", APP_ENV: test}}
      port: {port}
  idleTimeout: {idle}
  wakeTimeout: 30s
  endpoint: {{port: {port}, path: /}}
  readiness:
    httpGet: {{path: /health, timeout: 2s}}
"#,
        app = demo_app().display()
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_restarted_dev_stack_resumes_a_ready_service_and_keeps_operator_edits() {
    let port = free_port();
    let mut dev = DevStack::start(&demo_manifest("demo", port, "5m"));
    dev.wake_to_ready("demo").await;
    // An operator's edit, made outside the manifests folder.
    let edited = dev.dir.path().join("edited.yaml");
    std::fs::write(
        &edited,
        demo_manifest("demo", port, "5m").replace("idleTimeout: 5m", "idleTimeout: 7m"),
    )
    .unwrap();
    dev.apply(&edited);

    let before = dev.pid_file().expect("the app wrote its pid");
    dev.restart();
    // No visit: the service is started again because it was awake, and not as drift.
    let pid = until(
        "a new app process answering",
        Duration::from_secs(30),
        async || {
            let pid = dev.pid_file().filter(|p| *p != before)?;
            let health = reqwest::get(format!("http://127.0.0.1:{port}/health"))
                .await
                .ok()?;
            (health.status().is_success() && alive(pid)).then_some(pid)
        },
    )
    .await;
    // Ready on the new task (whether or not a pass saw it between start and health: the
    // published task is the new process either way). The command is `sh -c 'exec app'`, so the
    // task's pid is the app's.
    until(
        "Ready again, on the new task",
        Duration::from_secs(30),
        async || {
            let record = dev.record("demo");
            let status = &record["status"];
            let arn = status["endpoint"]["taskArn"].as_str()?;
            (status["phase"] == "Ready" && arn.ends_with(&format!(":{pid}"))).then_some(())
        },
    )
    .await;
    let record = dev.record("demo");
    assert_eq!(record["spec"]["idleTimeout"], "7m", "the edit was kept");
    let drift = record["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Drift")
        .cloned()
        .unwrap();
    assert_eq!(drift["status"], "False", "{drift}");
    assert!(
        dev.output().contains(
            "demo: kept the stored record; it differs from the manifests (spec.idleTimeout)"
        ),
        "{}",
        dev.output()
    );
    assert!(dev.terminate().success());
}

#[tokio::test]
async fn dev_reacts_to_wakes_and_to_changes_from_other_terminals_at_once() {
    // With the periodic resync an hour away, only events can make these transitions.
    let port = free_port();
    // Every phase change also goes to a JSON-lines file (docs/reference/events.md).
    let dev = DevStack::start_with(
        &demo_manifest("demo", port, "30m"),
        &["--resync", "1h", "--events-file", "events.jsonl"],
    );
    dev.wait_phase("demo", "Asleep", Duration::from_secs(20))
        .await;
    let quick = Duration::from_secs(5);

    // A visit: the wake endpoint triggers a pass, the process start another, Ready follows.
    let t = Instant::now();
    no_redirects()
        .get(format!("{}/s/demo", dev.url))
        .send()
        .await
        .unwrap();
    dev.wait_phase("demo", "Ready", quick).await;
    eprintln!("visit → Ready in {:?}", t.elapsed());

    // `snoozectl sleep` in another terminal: a store change.
    let t = Instant::now();
    dev.snoozectl(&["sleep", "demo"]);
    dev.wait_phase("demo", "Asleep", quick).await;
    eprintln!("sleep → Asleep in {:?}", t.elapsed());

    // `snoozectl wake` in another terminal.
    let t = Instant::now();
    dev.snoozectl(&["wake", "demo"]);
    dev.wait_phase("demo", "Ready", quick).await;
    eprintln!("wake → Ready in {:?}", t.elapsed());

    // An `apply` that switches it off.
    let off = dev.dir.path().join("off.yaml");
    std::fs::write(
        &off,
        demo_manifest("demo", port, "30m").replace("  idleTimeout:", "  mode: off\n  idleTimeout:"),
    )
    .unwrap();
    let t = Instant::now();
    dev.apply(&off);
    dev.wait_phase("demo", "Asleep", quick).await;
    eprintln!("apply mode: off → Asleep in {:?}", t.elapsed());

    // The events file: one parseable line per change, in order, each starting where the one
    // before ended, from the record's first status to the last Asleep (the line is written
    // just after the pass that published it).
    let events = until("the last event written", quick, async || {
        let text = std::fs::read_to_string(dev.dir.path().join("events.jsonl")).ok()?;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (lines.last()?["detail"]["to"] == "Asleep" && lines.len() > 4).then_some(lines)
    })
    .await;
    let changes: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "snooze");
            assert_eq!(e["detail-type"], "Service Phase Changed");
            assert_eq!(e["detail"]["name"], "demo");
            assert_eq!(e["detail"]["version"], 1);
            assert_eq!(
                e["detail"]["target"],
                serde_json::json!({"local": {"port": port}})
            );
            let phase = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
            (phase(&e["detail"]["from"]), phase(&e["detail"]["to"]))
        })
        .collect();
    assert_eq!(
        changes[0],
        ("-".to_string(), "Asleep".to_string()),
        "{changes:?}"
    );
    for pair in changes.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{changes:?}");
    }
    let woke = ("Asleep".to_string(), "Waking".to_string());
    let ready = ("Waking".to_string(), "Ready".to_string());
    assert_eq!(
        changes.iter().filter(|c| **c == woke).count(),
        2,
        "{changes:?}"
    );
    assert_eq!(
        changes.iter().filter(|c| **c == ready).count(),
        2,
        "{changes:?}"
    );

    // The ledger (`snoozectl cost`): both processes counted in seconds from their start to
    // their stop (their real seconds: Fargate's one-minute minimum is not for local
    // processes), both wakes, and no money for a local target.
    until("both stops in the ledger", quick, async || {
        let record = dev.record("demo");
        let tasks = record["status"]["ledger"]["tasks"].as_array().cloned()?;
        (tasks.len() == 2 && tasks.iter().all(|t| t["stopped"] == true)).then_some(())
    })
    .await;
    let report: serde_json::Value =
        serde_json::from_str(&dev.snoozectl(&["cost", "demo", "-o", "json"])).unwrap();
    let month = report["services"][0].clone();
    eprintln!("ledger after two wakes: {month}");
    assert_eq!(month["name"], "demo");
    assert_eq!(month["wakes"], 2, "{month}");
    assert!(
        month.get("cost").is_none(),
        "a local target has no price: {month}"
    );
    let task_seconds = month["taskSeconds"].as_f64().unwrap();
    assert!(
        task_seconds > 0.0 && task_seconds < 30.0,
        "two short-lived processes, their real seconds (no minute each): {month}"
    );
    let table = dev.snoozectl(&["cost"]);
    assert!(table.starts_with("NAME "), "{table}");
    assert!(table.lines().any(|l| l.starts_with("demo ")), "{table}");
}

#[tokio::test]
async fn moving_a_running_service_to_another_port_stops_the_old_process() {
    let (old_port, new_port) = (free_port(), free_port());
    let dev = DevStack::start(&demo_manifest("demo", old_port, "5m"));
    dev.wake_to_ready("demo").await;
    let old_pid = dev.pid_file().unwrap();
    let moved = dev.dir.path().join("moved.yaml");
    std::fs::write(&moved, demo_manifest("demo", new_port, "5m")).unwrap();
    dev.apply(&moved);
    until(
        "the old process stopped",
        Duration::from_secs(20),
        async || (!alive(old_pid)).then_some(()),
    )
    .await;
    let s = until(
        "Ready on the new port",
        Duration::from_secs(30),
        async || {
            let s = dev.status("demo").await;
            (s["ready"] == true && s["url"] == format!("http://127.0.0.1:{new_port}/")).then_some(s)
        },
    )
    .await;
    assert_eq!(s["phase"], "Ready");
    assert!(
        dev.output().contains(&format!(
            "stopped the process on port {old_port}: no record claims that port any more"
        )),
        "{}",
        dev.output()
    );
}

#[tokio::test]
async fn dev_wakes_the_app_keeps_it_awake_while_connected_then_puts_it_to_sleep() {
    let port = free_port();
    let mut dev = DevStack::start(&demo_manifest("demo", port, "1m"));
    let s = dev
        .wait_phase("demo", "Asleep", Duration::from_secs(20))
        .await;
    assert_eq!(s["ready"], false);
    assert!(
        dev.output().contains(&format!("open {}/s/demo", dev.url)),
        "{}",
        dev.output()
    );

    // A visit: the wait page, and the wake reaches Ready.
    let client = no_redirects();
    let visit = client
        .get(format!("{}/s/demo", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 200, "wait page while asleep");
    let t0 = Instant::now();
    let s = dev
        .wait_phase("demo", "Ready", Duration::from_secs(30))
        .await;
    eprintln!("wake to Ready in {:?}", t0.elapsed());
    let app_url = format!("http://127.0.0.1:{port}/");
    assert_eq!(s["url"], app_url.as_str());
    let pid = dev.pid_file().expect("the app wrote its pid");
    assert!(alive(pid));
    // Ready: the next visit is redirected to the app, which answers.
    let visit = client
        .get(format!("{}/s/demo/api/metrics?x=1", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 302);
    assert_eq!(
        visit.headers()["location"],
        format!("{app_url}api/metrics?x=1").as_str()
    );
    assert!(reqwest::get(&app_url).await.unwrap().status().is_success());
    let out = dev.output();
    assert!(out.contains("demo  Asleep → Waking"), "{out}");
    assert!(out.contains("demo  Waking → Ready"), "{out}");

    // An SSE stream held open past the idle timeout keeps it awake.
    let mut stream = client
        .get(format!("{app_url}api/logs/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("snapshot"),
        "{first:?}"
    );
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(75) {
        // Keep reading (heartbeats) so the stream stays healthy; check it never sleeps.
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await;
        let s = dev.status("demo").await;
        assert_eq!(
            s["phase"],
            "Ready",
            "asleep while a connection was open: {s}\n{}",
            dev.output()
        );
        assert!(alive(pid), "app stopped while connected");
    }

    // Closed: asleep after the idle timeout, and the process is gone.
    drop(stream);
    let closed = Instant::now();
    dev.wait_phase("demo", "Asleep", Duration::from_secs(100))
        .await;
    eprintln!("asleep {:?} after the connection closed", closed.elapsed());
    assert!(
        closed.elapsed() >= Duration::from_secs(40),
        "slept too early: {:?}",
        closed.elapsed()
    );
    until(
        "the app process to exit",
        Duration::from_secs(10),
        async || (!alive(pid)).then_some(()),
    )
    .await;
    let get = dev.snoozectl_get();
    assert!(
        get.lines()
            .any(|l| l.starts_with("demo") && l.contains("Asleep")),
        "{get}"
    );
    let out = dev.output();
    assert!(
        out.contains("demo  Ready → Sleeping") || out.contains("demo  Ready → Asleep"),
        "{out}"
    );

    // Ctrl-C/SIGTERM: the stack exits 0.
    let status = dev.terminate();
    assert!(status.success(), "{status:?}");
    assert!(dev.output().contains("stopped."), "{}", dev.output());
}

#[tokio::test]
async fn dev_shows_a_crashing_app_as_failed_and_a_new_visit_retries() {
    let manifest = format!(
        r#"apiVersion: snooze/v1
kind: Service
metadata: {{name: crash}}
spec:
  target:
    local:
      command: sh
      args: ["-c", "echo boom >&2; exit 3"]
      port: {port}
  wakeTimeout: 30s
  endpoint: {{port: {port}}}
"#,
        port = free_port()
    );
    let dev = DevStack::start(&manifest);
    dev.wait_phase("crash", "Asleep", Duration::from_secs(20))
        .await;
    let client = no_redirects();
    assert_eq!(
        client
            .get(format!("{}/s/crash", dev.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let s = dev
        .wait_phase("crash", "Failed", Duration::from_secs(40))
        .await;
    let message = s["message"].as_str().unwrap();
    assert!(
        message.contains("process exited with status 3: boom"),
        "{s}"
    );
    // The wait page shows the reason.
    let page = client
        .get(format!("{}/s/crash", dev.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("process exited with status 3: boom"),
        "{page}"
    );
    assert!(
        dev.output().contains("crash  Waking → Failed"),
        "{}",
        dev.output()
    );
    assert!(
        dev.output().contains("crash | stderr: boom"),
        "{}",
        dev.output()
    );

    // "Try again": a new attempt starts.
    let retry = client
        .get(format!("{}/s/crash?retry=1", dev.url))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    until("a fresh attempt", Duration::from_secs(20), async || {
        dev.output()
            .contains("crash  Failed → Waking")
            .then_some(())
    })
    .await;
    dev.wait_phase("crash", "Failed", Duration::from_secs(40))
        .await;
}

#[tokio::test]
async fn killing_dev_with_sigkill_takes_its_children_along() {
    let port = free_port();
    let mut dev = DevStack::start(&demo_manifest("demo", port, "5m"));
    dev.wait_phase("demo", "Asleep", Duration::from_secs(20))
        .await;
    let r = no_redirects()
        .post(format!("{}/api/v1/services/demo/wake", dev.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    dev.wait_phase("demo", "Ready", Duration::from_secs(30))
        .await;
    let pid = dev.pid_file().unwrap();
    assert!(alive(pid));
    dev.child.kill().unwrap(); // SIGKILL: no chance to clean up
    dev.child.wait().unwrap();
    until(
        "the app to die with its parent",
        Duration::from_secs(5),
        async || (!alive(pid)).then_some(()),
    )
    .await;
}

/// Issue 17: a record whose awake window starts about two minutes ahead, with a 60 s
/// pre-warm, is Ready before the window starts, with no wake request ever made; and it is not
/// started before its pre-warm lead begins. `snoozectl dev` requeues exactly (no runner period),
/// so the lead is the 60 s asked for. Takes 100 to 160 s.
#[tokio::test]
async fn dev_prewarms_a_scheduled_service_to_ready_before_its_window_starts() {
    use std::time::{SystemTime, UNIX_EPOCH};
    fn epoch_now() -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }
    fn hh_mm(epoch: u64) -> String {
        let m = epoch % 86_400 / 60;
        format!("{:02}:{:02}", m / 60, m % 60)
    }
    const LEAD: f64 = 60.0;
    const SLACK: f64 = 5.0;

    // The first whole minute (UTC) at least 100 s ahead: 100 to 160 s away. The window lasts
    // 30 minutes on every day, so one crossing midnight is fine too.
    let start = (epoch_now() as u64 + 100).div_ceil(60) * 60;
    let window = format!("Mon-Sun {}-{}", hh_mm(start), hh_mm(start + 30 * 60));
    let port = free_port();
    let manifest = demo_manifest("demo", port, "1m").replace(
        "  idleTimeout:",
        &format!(
            "  schedule: {{timeZone: UTC, awake: [\"{window}\"], prewarm: 60s}}\n  idleTimeout:"
        ),
    );
    // With the periodic resync an hour away, only the requeue at the schedule's boundary (the
    // pre-warm lead's beginning) can start the service in time.
    let dev = DevStack::start_with(&manifest, &["--resync", "1h"]);
    eprintln!(
        "window {window} UTC starts in {:.1} s",
        start as f64 - epoch_now()
    );
    dev.wait_phase("demo", "Asleep", Duration::from_secs(20))
        .await;
    let record = dev.record("demo");
    assert_eq!(
        record["spec"]["schedule"]["awake"][0],
        window.as_str(),
        "{record}"
    );

    // Poll, bounded: never a wake request, only reads of the status, the pid file and the port.
    // Scaled up: the first poll that sees a phase other than Asleep or the app's pid file.
    let start_f = start as f64;
    let health = format!("http://127.0.0.1:{port}/health");
    let mut seen_up: Option<f64> = None;
    let ready_at = loop {
        let now = epoch_now();
        assert!(
            now < start_f + 10.0,
            "not Ready by the window's start ({window} UTC)\n{}",
            dev.output()
        );
        let s = dev.status("demo").await;
        let phase = s["phase"].as_str().unwrap_or_default().to_string();
        if seen_up.is_none() && (phase != "Asleep" || dev.pid_file().is_some()) {
            eprintln!(
                "first seen up {:.1} s before the window starts (phase {phase})",
                start_f - now
            );
            seen_up = Some(now);
        }
        if let Some(at) = seen_up {
            assert!(
                at >= start_f - LEAD - SLACK,
                "up {:.1} s before the window, more than its {LEAD} s pre-warm lead\n{}",
                start_f - at,
                dev.output()
            );
        }
        if phase == "Ready"
            && let Ok(r) = reqwest::get(&health).await
            && r.status().is_success()
        {
            break epoch_now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // When the process was started: the app's shell wrote its pid file then.
    let started_at = std::fs::metadata(dev.dir.path().join("app.pid"))
        .and_then(|m| m.modified())
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    eprintln!(
        "process started {:.2} s, Ready (phase Ready, app answering) seen {:.2} s before the window starts",
        start_f - started_at,
        start_f - ready_at
    );
    assert!(
        started_at >= start_f - LEAD - SLACK,
        "started {:.1} s before the window, more than its {LEAD} s pre-warm lead\n{}",
        start_f - started_at,
        dev.output()
    );
    assert!(
        ready_at < start_f,
        "Ready {:.1} s after the window started\n{}",
        ready_at - start_f,
        dev.output()
    );
    let record = dev.record("demo");
    assert_eq!(record["status"]["phase"], "Ready", "{record}");
    // `desired` (wake and sleep requests, activity) is left out of the record while empty.
    assert!(
        record
            .get("desired")
            .is_none_or(|d| d["wakeRequestedAt"].is_null() && d["lastActivityAt"].is_null()),
        "no wake request or activity was recorded: {record}"
    );
    let out = dev.output();
    assert!(out.contains("demo  Asleep → Waking (pre-warm)"), "{out}");

    let pid = dev.pid_file().expect("the app wrote its pid");
    let mut dev = dev;
    assert!(dev.terminate().success());
    until(
        "the app to stop with the stack",
        Duration::from_secs(10),
        async || (!alive(pid)).then_some(()),
    )
    .await;
}
