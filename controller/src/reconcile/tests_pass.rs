//! Tests of the pass against the simulated ECS and the in-memory store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::clock::SimClock;
use crate::model::{
    Entry, HttpGet, HumanDuration, Phase, Readiness as ReadinessSpec, Record, Status, Step,
    Timestamp,
};
use crate::platform::sim::{Fault, Op, SimConfig, SimPlatform};
use crate::store::{self, Applied, MemoryStore, StatusGuard, Store, Touch};

pub(super) struct World {
    pub(super) clock: Arc<SimClock>,
    pub(super) sim: Arc<SimPlatform>,
    pub(super) store: Arc<MemoryStore>,
    pub(super) prober: Arc<StaticProber>,
    pub(super) reconciler: Reconciler,
}

fn world_with(config: SimConfig, store: Arc<dyn Store>, memory: Arc<MemoryStore>) -> World {
    let clock = SimClock::default_start();
    let sim = Arc::new(SimPlatform::new(clock.clone(), config));
    let prober = Arc::new(StaticProber::new());
    let reconciler = Reconciler::new(store, sim.clone(), prober.clone(), clock.clone());
    World {
        clock,
        sim,
        store: memory,
        prober,
        reconciler,
    }
}

pub(super) fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    world_with(SimConfig::default(), store.clone(), store)
}

impl World {
    /// Adds a record `name` (service `{name}-svc` in `demo-cluster`) and its sim service.
    pub(super) fn add(&self, r: Record) {
        if let crate::model::Target::Ecs(t) = &r.spec.target {
            self.sim.add_service(&t.cluster, &t.service);
        }
        self.store.put(r);
    }
    pub(super) async fn wake(&self, name: &str) {
        self.store
            .record_wake(name, self.clock.now(), Duration::ZERO)
            .await
            .unwrap();
    }
    pub(super) async fn pass(&self) -> PassReport {
        self.reconciler.reconcile(Scope::All).await
    }
    pub(super) fn phase(&self, name: &str) -> Option<Phase> {
        self.store.status(name).map(|s| s.phase)
    }
    pub(super) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

#[tokio::test(start_paused = true)]
async fn wake_to_ready_to_asleep_through_passes() {
    let w = world();
    w.add(Record::test("demo"));
    let r = w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
    assert_eq!(
        r.record("demo").unwrap().to_string(),
        "demo  - → Asleep (no wake request)"
    );

    w.wake("demo").await;
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert_eq!(rep.to_string(), "demo  Asleep → Waking (wake requested)");
    assert_eq!(rep.scaled, Some((0, 1)));
    assert!(rep.transitional);
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(1));

    // The task needs 30 s of simulated time to run; look every 5 s.
    let mut steps = Vec::new();
    for _ in 0..8 {
        w.advance(5);
        w.pass().await;
        steps.push(w.store.status("demo").unwrap().step);
    }
    assert!(steps.contains(&Some(Step::Provisioning)), "{steps:?}");
    assert!(steps.contains(&Some(Step::Pending)), "{steps:?}");
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let s = w.store.status("demo").unwrap();
    let e = s.endpoint.unwrap();
    assert!(e.url.starts_with("http://198.18."), "{}", e.url);
    assert_eq!(
        w.sim.running_tasks("demo-cluster", "demo-svc"),
        vec![e.task_arn]
    );
    assert_eq!(s.last_wake.unwrap().seconds, 30.0);

    // Idle after 15 minutes (from the task start): one scale-down, Sleeping, then Asleep.
    w.advance(15 * 60);
    let r = w.pass().await;
    assert_eq!(r.record("demo").unwrap().scaled, Some((1, 0)));
    assert_eq!(w.phase("demo"), Some(Phase::Sleeping));
    assert_eq!(w.store.status("demo").unwrap().endpoint, None);
    w.advance(20);
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
    assert_eq!(
        w.sim.scale_calls(),
        2,
        "exactly one scale-up and one scale-down"
    );
}

#[tokio::test(start_paused = true)]
async fn status_is_published_only_when_it_changed() {
    let w = world();
    w.add(Record::test("demo"));
    w.pass().await;
    let n = w.store.publishes();
    for _ in 0..3 {
        w.advance(60);
        let r = w.pass().await;
        assert!(!r.record("demo").unwrap().published);
    }
    assert_eq!(w.store.publishes(), n);
}

/// What [`WakeBeforeGuard`] does once, just before a status write of the pass.
enum Interfere {
    /// Records a wake before the first guarded (scale-down) write.
    Wake,
    /// Deletes the record before the first guarded write.
    Delete,
    /// Publishes this status (as an overlapping pass would) before the first write of any kind.
    Publish(Box<Status>),
}

/// A store that interferes once between a pass's read and its write ([`Interfere`]).
struct WakeBeforeGuard {
    inner: Arc<MemoryStore>,
    clock: Arc<SimClock>,
    fired: AtomicBool,
    what: Interfere,
}

#[async_trait]
impl Store for WakeBeforeGuard {
    async fn get(&self, name: &str) -> store::Result<Option<Entry>> {
        self.inner.get(name).await
    }
    async fn list(&self) -> store::Result<Vec<Entry>> {
        self.inner.list().await
    }
    async fn apply(&self, r: &Record, e: Option<u64>) -> store::Result<Applied> {
        self.inner.apply(r, e).await
    }
    async fn delete(&self, name: &str, e: Option<u64>) -> store::Result<()> {
        self.inner.delete(name, e).await
    }
    async fn record_wake(&self, n: &str, at: Timestamp, d: Duration) -> store::Result<Touch> {
        self.inner.record_wake(n, at, d).await
    }
    async fn record_activity(&self, n: &str, at: Timestamp, d: Duration) -> store::Result<Touch> {
        self.inner.record_activity(n, at, d).await
    }
    async fn request_sleep(&self, n: &str, at: Timestamp) -> store::Result<()> {
        self.inner.request_sleep(n, at).await
    }
    async fn force_wake(&self, n: &str, at: Timestamp) -> store::Result<()> {
        self.inner.force_wake(n, at).await
    }
    async fn publish_status(&self, n: &str, s: &Status, g: StatusGuard) -> store::Result<()> {
        let due = g.facts.is_some() || matches!(self.what, Interfere::Publish(_));
        if due && !self.fired.swap(true, Ordering::SeqCst) {
            match &self.what {
                Interfere::Delete => self.inner.delete(n, None).await?,
                Interfere::Wake => {
                    self.inner
                        .record_wake(n, self.clock.now(), Duration::ZERO)
                        .await?;
                }
                Interfere::Publish(newer) => {
                    let read = match self.inner.get(n).await? {
                        Some(Entry::Record(r)) => r.metadata.status_version,
                        _ => 0,
                    };
                    self.inner
                        .publish_status(n, newer, StatusGuard::read(read))
                        .await?;
                }
            }
        }
        self.inner.publish_status(n, s, g).await
    }
}

async fn ready_then_idle(what: Interfere) -> (World, Arc<WakeBeforeGuard>) {
    let memory = Arc::new(MemoryStore::new());
    let clock = SimClock::default_start();
    let guard = Arc::new(WakeBeforeGuard {
        inner: memory.clone(),
        clock: clock.clone(),
        // Disarmed until the record is Ready.
        fired: AtomicBool::new(true),
        what,
    });
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    let prober = Arc::new(StaticProber::new());
    let reconciler = Reconciler::new(guard.clone(), sim.clone(), prober.clone(), clock.clone());
    let w = World {
        clock,
        sim,
        store: memory,
        prober,
        reconciler,
    };
    w.add(Record::test("demo").idle_timeout(Duration::from_secs(60)));
    w.wake("demo").await;
    w.pass().await;
    w.advance(40);
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    w.advance(60);
    guard.fired.store(false, Ordering::SeqCst);
    (w, guard)
}

#[tokio::test(start_paused = true)]
async fn a_wake_landing_before_the_scale_down_wins() {
    let (w, _) = ready_then_idle(Interfere::Wake).await;
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert_eq!(rep.scaled, None);
    // Read and decided again at once: the wake keeps it awake.
    assert!(rep.redecided, "{rep:?}");
    assert_eq!(rep.after, Some(Phase::Ready));
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(1));
    assert_eq!(
        w.phase("demo"),
        Some(Phase::Ready),
        "the guarded write did not land"
    );
    // The next pass sees the wake: still Ready, no scale at all.
    let r = w.pass().await;
    assert_eq!(r.record("demo").unwrap().scaled, None);
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    assert_eq!(w.sim.scale_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_record_deleted_during_the_pass_is_not_resurrected() {
    let (w, _) = ready_then_idle(Interfere::Delete).await;
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert_eq!(rep.after, None);
    assert_eq!(rep.error, None);
    assert_eq!(rep.scaled, None);
    assert!(w.store.record("demo").is_none());
    assert!(w.store.get("demo").await.unwrap().is_none());
}

/// The status an overlapping pass published between this pass's read and its write.
fn newer_status() -> Status {
    Status {
        phase: Phase::Failed,
        message: "published by an overlapping pass".into(),
        ..Status::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_status_published_since_the_read_is_never_overwritten_or_scaled_on() {
    // The scale-down's commit: refused (compare-and-swap on statusVersion), nothing scaled,
    // the newer status stays, and the record is looked at again from a fresh read.
    let (w, _) = ready_then_idle(Interfere::Publish(Box::new(newer_status()))).await;
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert_eq!(
        (rep.scaled, rep.published, &rep.error),
        (None, false, &None),
        "{rep:?}"
    );
    assert_eq!(rep.requeue, Requeue::After(Duration::from_secs(1)));
    assert!(rep.transitional);
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(1));
    assert_eq!(w.store.status("demo").unwrap(), newer_status());

    // A plain publish (a first status) is refused the same way.
    let memory = Arc::new(MemoryStore::new());
    let clock = SimClock::default_start();
    let store = Arc::new(WakeBeforeGuard {
        inner: memory.clone(),
        clock: clock.clone(),
        fired: AtomicBool::new(false),
        what: Interfere::Publish(Box::new(newer_status())),
    });
    let w = world_with(SimConfig::default(), store, memory);
    w.add(Record::test("demo"));
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert!(!rep.published, "{rep:?}");
    assert_eq!(w.store.status("demo").unwrap(), newer_status());
    // The next pass reads the newer status and decides from it.
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
}

#[tokio::test(start_paused = true)]
async fn a_target_the_platform_does_not_serve_is_invalid_once_and_not_an_error() {
    let w = world();
    let mut r = Record::test("laptop");
    r.spec.target = crate::model::Target::Local(crate::model::LocalTarget {
        command: "./app".into(),
        args: vec![],
        env: Default::default(),
        working_dir: None,
        port: 8081,
    });
    w.add(r);
    w.add(Record::test("demo"));
    let report = w.pass().await;
    let rep = report.record("laptop").unwrap();
    assert_eq!(rep.error, None, "not a failure to retry: {rep:?}");
    assert!(rep.published);
    assert_eq!(rep.requeue, Requeue::AwaitChange);
    assert_eq!(report.errors().count(), 0);
    let status = w.store.status("laptop").unwrap();
    assert_eq!(status.phase, Phase::Invalid);
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Valid")
        .unwrap();
    assert_eq!(valid.reason, "UnsupportedTarget");
    assert!(
        status
            .message
            .starts_with("spec.target is not served by this reconciler: "),
        "{}",
        status.message
    );
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
    // Once: the next passes write nothing for it.
    let n = w.store.publishes();
    for _ in 0..3 {
        w.advance(60);
        let report = w.pass().await;
        assert!(!report.record("laptop").unwrap().published);
        assert_eq!(report.errors().count(), 0);
    }
    assert_eq!(w.store.publishes(), n);
}

#[tokio::test(start_paused = true)]
async fn invalid_and_malformed_records_get_phase_invalid_and_are_not_observed() {
    let w = world();
    w.add(Record::test("bad").idle_timeout(Duration::from_secs(5)));
    w.store.put_malformed(
        "broken",
        serde_json::json!({"name": "broken", "spec": 3}),
        "spec: invalid type: integer `3`, expected struct Spec",
    );
    let r = w.pass().await;
    let s = w.store.status("bad").unwrap();
    assert_eq!(
        (s.phase, s.message.as_str()),
        (
            Phase::Invalid,
            "spec.idleTimeout: 5s is below the minimum of 1m"
        )
    );
    let s = w.store.status("broken").unwrap();
    assert_eq!(s.phase, Phase::Invalid);
    assert_eq!(
        s.message,
        "the stored item does not parse: spec: invalid type: integer `3`, expected struct Spec"
    );
    assert_eq!(w.sim.attempts(Op::DescribeServices), 0);
    assert!(r.errors().next().is_none());
}

#[tokio::test(start_paused = true)]
async fn one_failing_record_never_stops_the_pass() {
    let w = world();
    for n in ["a", "b", "c"] {
        w.add(Record::test(n));
        w.wake(n).await;
    }
    w.sim.fail_next(Op::UpdateService, 1, Fault::AccessDenied);
    let r = w.pass().await;
    let failed: Vec<_> = r.errors().collect();
    assert_eq!(failed.len(), 1, "{:?}", r.records);
    assert!(
        failed[0]
            .error
            .as_ref()
            .unwrap()
            .contains("AccessDeniedException")
    );
    assert_eq!(
        r.records
            .iter()
            .filter(|x| x.scaled == Some((0, 1)))
            .count(),
        2
    );
    let s = w.store.status(&failed[0].name).unwrap();
    assert!(
        s.message
            .contains("scaling failed: UpdateService failed: AccessDeniedException"),
        "{}",
        s.message
    );
    // The next pass retries it, and no drift is reported for the count snooze never set.
    let r = w.pass().await;
    assert_eq!(r.record(&failed[0].name).unwrap().scaled, Some((0, 1)));
    let s = w.store.status(&failed[0].name).unwrap();
    assert_eq!(
        s.condition(decide::DRIFT).unwrap().status,
        crate::model::ConditionStatus::False
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_and_a_whole_failed_observation_is_per_record() {
    // The observer's own call pattern: every record observed every pass.
    let mut w = world();
    w.reconciler.options.observe = super::Observe::All;
    w.add(Record::test("demo"));
    w.sim.fail_next(Op::DescribeServices, 2, Fault::Throttle);
    let r = w.pass().await;
    assert!(r.errors().next().is_none());
    let c = w.sim.counters()[&Op::DescribeServices];
    assert_eq!((c.attempts, c.throttled, c.ok()), (3, 2, 1));
    // Retries exhausted: the record reports the error, keeps its phase, is retried later.
    w.sim
        .fail_next(Op::DescribeServices, 100, Fault::ServerError);
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert!(
        rep.error.as_ref().unwrap().contains("ServerException"),
        "{rep:?}"
    );
    assert_eq!(rep.after, Some(Phase::Asleep));
    assert!(!rep.published, "a failed observation publishes nothing");
    assert_eq!(rep.requeue, Requeue::After(decide::OBSERVE_RETRY));
}

#[tokio::test(start_paused = true)]
async fn a_missing_service_is_reported_and_not_observed_every_pass() {
    let w = world();
    w.store.put(Record::test("ghost")); // no sim service
    let r = w.pass().await;
    let s = w.store.status("ghost").unwrap();
    assert_eq!(
        s.message,
        "service ghost-svc not found in cluster demo-cluster"
    );
    assert_eq!(
        r.record("ghost").unwrap().requeue,
        Requeue::After(decide::MISSING_RECHECK)
    );
    assert_eq!(w.sim.attempts(Op::DescribeServices), 1);
    w.advance(60);
    let r = w.pass().await;
    assert_eq!(
        w.sim.attempts(Op::DescribeServices),
        1,
        "not observed again within 10 minutes"
    );
    assert_eq!(
        r.record("ghost").unwrap().reason,
        "service not found; next check in 9m"
    );
    w.advance(9 * 60);
    w.pass().await;
    assert_eq!(w.sim.attempts(Op::DescribeServices), 2);
    // A wake request makes it look at once; the service exists now.
    w.sim.add_service("demo-cluster", "ghost-svc");
    w.advance(30);
    w.wake("ghost").await;
    w.pass().await;
    assert_eq!(w.phase("ghost"), Some(Phase::Waking));
    assert_eq!(w.sim.desired_count("demo-cluster", "ghost-svc"), Some(1));
}

#[tokio::test(start_paused = true)]
async fn the_http_probe_gates_ready() {
    let w = world();
    let mut r = Record::test("demo");
    r.spec.readiness = Some(ReadinessSpec {
        http_get: Some(HttpGet {
            path: "/health".into(),
            port: Some(8080),
            timeout: HumanDuration::from_secs(2),
        }),
    });
    w.add(r);
    w.wake("demo").await;
    w.pass().await;
    w.advance(20);
    w.pass().await;
    assert_eq!(w.prober.calls(), 0, "no probe before the task runs");
    w.advance(15);
    // Fail every address the sim hands out for this first task.
    let s = w.sim.running_tasks("demo-cluster", "demo-svc");
    assert_eq!(s.len(), 1);
    w.prober.fail("198.18.0.1", "HTTP 503");
    w.pass().await;
    let st = w.store.status("demo").unwrap();
    assert_eq!((st.phase, st.step), (Phase::Waking, Some(Step::Running)));
    assert_eq!(st.message, "readiness probe failed: HTTP 503");
    assert_eq!(w.prober.calls(), 1);
    w.prober.pass("198.18.0.1");
    w.advance(5);
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn run_until_settled_follows_requeues_within_the_budget() {
    let w = world();
    w.add(Record::test("demo"));
    w.add(Record::test("other"));
    w.wake("demo").await;
    let s = w
        .reconciler
        .run_until_settled(Scope::All, Duration::from_secs(120))
        .await;
    assert!(s.settled, "{:?}", s.pending);
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    assert!(s.passes.len() >= 2);
    // Later passes only look at the requeued record.
    assert_eq!(s.passes[1].records.len(), 1);
    // A budget too short to finish reports what is still transitional.
    w.wake("other").await;
    let s = w
        .reconciler
        .run_until_settled(Scope::Names(vec!["other".into()]), Duration::from_secs(10))
        .await;
    assert!(!s.settled);
    assert_eq!(s.pending, vec!["other".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn named_scope_reads_only_those_records_and_reports_unknown_names() {
    let w = world();
    w.add(Record::test("a"));
    w.add(Record::test("b"));
    let r = w
        .reconciler
        .reconcile(Scope::Names(vec!["b".into(), "nope".into(), "b".into()]))
        .await;
    let names: Vec<_> = r.records.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, vec!["b", "nope"]);
    assert_eq!(
        r.record("nope").unwrap().reason,
        "record not found (deleted?)"
    );
    assert!(w.store.status("a").is_none());
}

#[tokio::test(start_paused = true)]
async fn observation_follows_the_ecs_call_pattern() {
    // The observer's own call pattern: every record observed every pass.
    let mut w = world();
    w.reconciler.options.observe = super::Observe::All;
    for i in 0..25 {
        w.add(Record::test(&format!("svc{i:02}")));
    }
    w.add({
        let mut r = Record::test("far");
        r.spec.target = crate::model::Target::Ecs(crate::model::EcsTarget {
            cluster: "other-cluster".into(),
            service: "far-svc".into(),
        });
        r
    });
    w.pass().await;
    // 25 services in one cluster → 3 calls; 1 in another → 1. Nobody has or wants tasks.
    assert_eq!(w.sim.attempts(Op::DescribeServices), 4);
    assert_eq!(w.sim.attempts(Op::ListTasks), 0);
    assert_eq!(w.sim.attempts(Op::DescribeTasks), 0);
    w.wake("svc03").await;
    w.pass().await;
    w.sim.reset_counters();
    w.advance(40);
    w.pass().await;
    let c = w.sim.counters();
    assert_eq!(c[&Op::DescribeServices].attempts, 4);
    assert_eq!(c[&Op::ListTasks].attempts, 1);
    assert_eq!(c[&Op::DescribeTasks].attempts, 1);
    assert_eq!(c[&Op::DescribeNetworkInterfaces].attempts, 1);
    assert_eq!(w.phase("svc03"), Some(Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn failing_task_starts_end_in_failed_then_a_new_wake_retries() {
    let w = world();
    w.add(Record::test("demo"));
    w.sim.fail_task_starts("demo-cluster", "demo-svc", Some(("TaskFailedToStart", "CannotPullContainerError: arn:aws:ecr:us-east-1:123456789012:repository/demo not found")));
    w.wake("demo").await;
    let mut scale_calls = Vec::new();
    for _ in 0..40 {
        w.pass().await;
        scale_calls.push(w.sim.scale_calls());
        w.advance(5);
    }
    let s = w.store.status("demo").unwrap();
    assert_eq!(s.phase, Phase::Failed, "{s:?}");
    assert!(
        s.message.starts_with("tasks keep stopping (3 since"),
        "{}",
        s.message
    );
    assert!(
        s.message
            .contains("CannotPullContainerError: repository/demo not found"),
        "{}",
        s.message
    );
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(0));
    assert_eq!(
        w.sim.scale_calls(),
        2,
        "up once, down once: no flapping ({scale_calls:?})"
    );
    // Fixed, and a new wake: Ready.
    w.sim.fail_task_starts("demo-cluster", "demo-svc", None);
    w.wake("demo").await;
    let settled = w
        .reconciler
        .run_until_settled(Scope::All, Duration::from_secs(120))
        .await;
    assert!(settled.settled);
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn drift_by_someone_else_is_put_back_without_a_tight_loop() {
    let w = world();
    w.add(Record::test("demo").mode(crate::model::Mode::On));
    w.reconciler
        .run_until_settled(Scope::All, Duration::from_secs(120))
        .await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let before = w.sim.scale_calls();
    // Someone keeps setting desiredCount 0, every 5 seconds, for 5 minutes.
    for _ in 0..60 {
        w.sim
            .set_desired_count_externally("demo-cluster", "demo-svc", 0);
        w.pass().await;
        w.advance(5);
    }
    let corrections = w.sim.scale_calls() - before;
    assert!(
        (3..=6).contains(&corrections),
        "{corrections} corrections in 5 minutes"
    );
    let s = w.store.status("demo").unwrap();
    assert_eq!(
        s.condition(decide::DRIFT).unwrap().status,
        crate::model::ConditionStatus::True
    );
}

#[tokio::test(start_paused = true)]
async fn two_records_on_one_service_the_newer_is_invalid_and_does_nothing() {
    let w = world();
    let mut first = Record::test("first");
    first.metadata.creation_timestamp = Some(w.clock.now());
    w.add(first.clone());
    // A copy-pasted record for the same service, created later.
    let mut copy = Record::test("copy");
    copy.metadata.creation_timestamp = Some(w.clock.now().add(Duration::from_secs(60)));
    if let crate::model::Target::Ecs(t) = &mut copy.spec.target {
        t.cluster = "first-cluster".into();
        t.service = "first-svc".into();
    }
    if let crate::model::Target::Ecs(t) = &mut first.spec.target {
        assert_eq!(t.service, "first-svc");
        t.cluster = "first-cluster".into();
    }
    w.store.put(first.clone());
    w.sim.add_service("first-cluster", "first-svc");
    w.store.put(copy);
    w.wake("copy").await;

    w.pass().await;
    let s = w.store.status("copy").unwrap();
    assert_eq!(s.phase, Phase::Invalid);
    assert!(
        s.message
            .contains("ecs:first-cluster/first-svc is already managed by record first"),
        "{}",
        s.message
    );
    let valid = s.conditions.iter().find(|c| c.type_ == "Valid").unwrap();
    assert_eq!(valid.reason, "TargetConflict");
    assert_eq!(w.phase("first"), Some(Phase::Asleep));
    assert_eq!(
        w.sim.desired_count("first-cluster", "first-svc"),
        Some(0),
        "the copy's wake request scaled nothing"
    );

    // A scoped pass (stream, task event) cannot see the other record: it keeps the conflict.
    w.wake("copy").await;
    w.reconciler
        .reconcile(Scope::Names(vec!["copy".into()]))
        .await;
    assert_eq!(w.phase("copy"), Some(Phase::Invalid));
    assert_eq!(w.sim.scale_calls(), 0);

    // The owner deleted: the next full pass lets the copy manage the service.
    w.store.delete("first", None).await.unwrap();
    w.pass().await;
    assert_eq!(
        w.phase("copy"),
        Some(Phase::Waking),
        "{:?}",
        w.store.status("copy")
    );
    assert_eq!(w.sim.desired_count("first-cluster", "first-svc"), Some(1));
}

// ---- route mode: the order of route, scale and publish -------------------------------

/// At a `point`: the target, the sim's desiredCount and the stored route then.
type PointSeen = (
    crate::router::RouteTarget,
    Option<u32>,
    Option<crate::model::RouteTo>,
);

/// A router over [`crate::router::LocalRouter`] that records, at each `point`, the sim's
/// desiredCount and the stored status's route at that moment, and can be made to fail.
struct WatchingRouter {
    inner: crate::router::LocalRouter,
    sim: Arc<SimPlatform>,
    store: Arc<MemoryStore>,
    failing: AtomicBool,
    log: std::sync::Mutex<Vec<PointSeen>>,
    /// What `target_health` answers: `None` = no load balancer; `Some(Err)` = a failed read.
    health: std::sync::Mutex<Option<Result<crate::router::TargetStates, String>>>,
}

#[async_trait]
impl crate::router::Router for WatchingRouter {
    async fn observe(
        &self,
        hosts: &[String],
    ) -> Result<Vec<Option<crate::router::RouteTarget>>, crate::platform::Error> {
        self.inner.observe(hosts).await
    }
    async fn point(
        &self,
        name: &str,
        host: &str,
        target: &crate::router::RouteTarget,
        target_group: Option<&str>,
    ) -> Result<(), crate::platform::Error> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(crate::platform::Error::Call {
                operation: "Route",
                code: "ServiceUnavailable".into(),
                message: "router down".into(),
                retryable: true,
            });
        }
        let desired = self.sim.desired_count("demo-cluster", "demo-svc");
        let published = self.store.status(name).and_then(|s| s.route).map(|r| r.to);
        self.log
            .lock()
            .unwrap()
            .push((target.clone(), desired, published));
        self.inner.point(name, host, target, target_group).await
    }
    async fn retain(
        &self,
        keep: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, crate::platform::Error> {
        self.inner.retain(keep).await
    }
    async fn target_health(
        &self,
        groups: &[String],
    ) -> Result<Option<Vec<crate::router::TargetStates>>, crate::platform::Error> {
        match self.health.lock().unwrap().clone() {
            None => Ok(None),
            Some(Ok(states)) => Ok(Some(vec![states; groups.len()])),
            Some(Err(message)) => Err(crate::platform::Error::Call {
                operation: "DescribeTargetHealth",
                code: "ServiceUnavailable".into(),
                message,
                retryable: true,
            }),
        }
    }
}

fn routed_world() -> (World, Arc<WatchingRouter>) {
    let mut w = world();
    let router = Arc::new(WatchingRouter {
        inner: crate::router::LocalRouter::new(),
        sim: w.sim.clone(),
        store: w.store.clone(),
        failing: AtomicBool::new(false),
        log: Default::default(),
        health: Default::default(),
    });
    w.reconciler = w.reconciler.clone().with_router(router.clone());
    (w, router)
}

#[tokio::test(start_paused = true)]
async fn the_route_goes_to_the_service_after_ready_and_back_before_the_scale_down() {
    use crate::model::RouteTo;
    use crate::router::RouteTarget;
    let (w, router) = routed_world();
    w.add(Record::test("demo").routed_at("demo.example.com"));
    w.pass().await;
    w.wake("demo").await;
    for _ in 0..10 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let s = w.store.status("demo").unwrap();
    assert_eq!(s.route.as_ref().unwrap().to, RouteTo::Service);
    {
        let log = router.log.lock().unwrap();
        let to_service = log
            .iter()
            .find(|(t, _, _)| matches!(t, RouteTarget::Service(_)))
            .expect("pointed at the service");
        assert_eq!(
            to_service.2,
            Some(RouteTo::Wake),
            "the status said wake until the route was there: {log:?}"
        );
    }
    // Idle: the route is back at the wake endpoint while desiredCount is still 1.
    w.advance(16 * 60);
    let r = w.pass().await;
    assert_eq!(r.record("demo").unwrap().scaled, Some((1, 0)));
    let log = router.log.lock().unwrap();
    let (last, desired, _) = log.last().unwrap();
    assert_eq!(*last, RouteTarget::Wake);
    assert_eq!(
        *desired,
        Some(1),
        "pointed back before the scale-down: {log:?}"
    );
    assert_eq!(
        w.store.status("demo").unwrap().route.unwrap().to,
        RouteTo::Wake
    );
}

#[tokio::test(start_paused = true)]
async fn a_route_that_cannot_be_pointed_stops_the_scale_down_and_converges_after() {
    use crate::model::RouteTo;
    let (w, router) = routed_world();
    w.add(Record::test("demo").routed_at("demo.example.com"));
    w.pass().await;
    w.wake("demo").await;
    for _ in 0..10 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    router.failing.store(true, Ordering::SeqCst);
    w.advance(16 * 60);
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert!(
        rep.error.as_deref().unwrap_or("").contains("router down"),
        "{rep:?}"
    );
    assert_eq!(
        rep.scaled, None,
        "no scale-down while the route still reaches the service"
    );
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(1));
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let s = w.store.status("demo").unwrap();
    assert_eq!(
        s.route.as_ref().unwrap().to,
        RouteTo::Service,
        "the status still says where the address points"
    );
    let routed = s.condition("Routed").unwrap();
    assert_eq!(routed.reason, "RouteFailed", "{routed:?}");
    assert!(routed.message.contains("router down"), "{routed:?}");
    router.failing.store(false, Ordering::SeqCst);
    for _ in 0..6 {
        w.advance(5);
        w.pass().await;
    }
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
    assert_eq!(w.sim.desired_count("demo-cluster", "demo-svc"), Some(0));
    assert_eq!(
        w.store.status("demo").unwrap().route.unwrap().to,
        RouteTo::Wake
    );
    assert_eq!(
        router.inner.lookup("demo.example.com").unwrap().target,
        crate::router::RouteTarget::Wake
    );
}

#[tokio::test(start_paused = true)]
async fn route_mode_without_a_router_is_reported_in_the_status_and_scales_nothing() {
    // The default reconciler has no router (AWS before the load balancer router exists).
    let w = world();
    w.add(Record::test("demo").routed_at("demo.example.com"));
    let r = w.pass().await;
    let rep = r.record("demo").unwrap();
    assert!(
        rep.error
            .as_deref()
            .unwrap_or("")
            .contains("needs a router"),
        "{rep:?}"
    );
    let s = w.store.status("demo").expect("a status that says why");
    assert_eq!(s.route, None, "nothing was pointed");
    let routed = s.condition("Routed").unwrap();
    assert_eq!(routed.status, crate::model::ConditionStatus::False);
    assert_eq!(routed.reason, "RouteFailed");
    assert!(routed.message.contains("needs a router"), "{routed:?}");
    // A wake changes nothing while the address cannot be pointed.
    w.wake("demo").await;
    w.pass().await;
    assert_eq!(w.sim.scale_calls(), 0);
    let again = w.store.status("demo").unwrap();
    assert_eq!(
        again.condition("Routed").unwrap().last_transition_time,
        routed.last_transition_time
    );
}

#[tokio::test(start_paused = true)]
async fn behind_a_load_balancer_ready_waits_for_a_healthy_target_and_routes_to_the_group() {
    use crate::model::RouteTo;
    use crate::platform::{LoadBalancerObservation, Observed, Platform, TargetHealth};
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/demo/1";
    let (w, router) = routed_world();
    let record = Record::test("demo").routed_at("demo.example.com");
    let port = record.spec.endpoint_port();
    w.add(record);
    w.sim.set_load_balancers(
        "demo-cluster",
        "demo-svc",
        vec![LoadBalancerObservation {
            target_group_arn: TG.into(),
            container_port: Some(port),
        }],
    );
    let state = |s: &str| TargetHealth {
        state: s.into(),
        reason: None,
    };
    // The load balancer has not registered any target: running tasks are not ready.
    *router.health.lock().unwrap() = Some(Ok(Default::default()));
    w.pass().await;
    w.wake("demo").await;
    for _ in 0..12 {
        w.pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("demo"), Some(Phase::Waking));
    let s = w.store.status("demo").unwrap();
    assert!(
        s.message
            .contains("load balancer health check: unregistered"),
        "{s:?}"
    );
    assert_eq!(s.route.as_ref().unwrap().to, RouteTo::Wake);
    // A failed read of target health never makes it Ready either.
    *router.health.lock().unwrap() = Some(Err("DescribeTargetHealth down".into()));
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Waking));
    // Every task's address is a healthy target: Ready, and the address goes to the group.
    let ips: Vec<String> = w
        .sim
        .observe(&[crate::model::Target::Ecs(crate::model::EcsTarget {
            cluster: "demo-cluster".into(),
            service: "demo-svc".into(),
        })])
        .await
        .unwrap()
        .into_iter()
        .flat_map(|o| match o {
            Observed::Found(s) => s.tasks.into_iter().filter_map(|t| t.private_ip).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(!ips.is_empty());
    *router.health.lock().unwrap() = Some(Ok(ips
        .into_iter()
        .map(|ip| (ip, state("healthy")))
        .collect()));
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let route = w.store.status("demo").unwrap().route.unwrap();
    assert_eq!(
        (route.to, route.backend.as_deref()),
        (RouteTo::Service, Some(TG))
    );
    assert_eq!(
        router.inner.lookup("demo.example.com").unwrap().target,
        crate::router::RouteTarget::Service(TG.into())
    );
    // Once Ready, a target health that cannot be read does not take the service out of it.
    *router.health.lock().unwrap() = Some(Err("DescribeTargetHealth down".into()));
    w.advance(5);
    w.pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    // An unhealthy target does: back to the wait page (a fresh attempt).
    *router.health.lock().unwrap() = Some(Ok(Default::default()));
    w.advance(5);
    w.pass().await;
    assert_ne!(w.phase("demo"), Some(Phase::Ready));
    assert_eq!(
        router.inner.lookup("demo.example.com").unwrap().target,
        crate::router::RouteTarget::Wake
    );
}
