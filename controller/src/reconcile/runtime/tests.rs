//! Tests of the runtime: resync, requeues and their order, the transition cap, the budget, the
//! reasons on every pass, merged triggers, due-times derived from records, and a randomized run
//! with wakes, activity and sleeps landing at any time while passes run.
//!
//! [`Runtime::run`] schedules with tokio's timers, so these tests run with paused time; the
//! reconciler's clock follows tokio's ([`TokioClock`]) and drives the simulated ECS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::clock::{Clock, SimClock};
use crate::model::{Mode, Phase, Record, Status, Timestamp};
use crate::platform::sim::{SimConfig, SimPlatform};
use crate::reconcile::StaticProber;
use crate::store::memory::MemoryStore;
use crate::store::{self, Applied, StatusGuard, Store, Touch};

/// The reconciler's clock following tokio's (paused) time, and moving the simulation with it.
struct TokioClock {
    sim: Arc<SimClock>,
    base: Timestamp,
    start: Instant,
}

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let now = self.base.add(self.start.elapsed());
        self.sim.set(now);
        now
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

struct World {
    clock: Arc<TokioClock>,
    sim: Arc<SimPlatform>,
    store: Arc<MemoryStore>,
    reconciler: Reconciler,
}

fn world() -> World {
    let sim_clock = SimClock::default_start();
    let clock = Arc::new(TokioClock {
        sim: sim_clock.clone(),
        base: sim_clock.now(),
        start: Instant::now(),
    });
    let sim = Arc::new(SimPlatform::new(sim_clock, SimConfig::default()));
    let store = Arc::new(MemoryStore::new());
    let reconciler = Reconciler::new(
        store.clone(),
        sim.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    );
    World {
        clock,
        sim,
        store,
        reconciler,
    }
}

impl World {
    fn add(&self, r: Record) {
        if let crate::model::Target::Ecs(t) = &r.spec.target {
            self.sim.add_service(&t.cluster, &t.service);
        }
        self.store.put(r);
    }
    async fn wake(&self, name: &str) {
        self.store
            .record_wake(name, self.clock.now(), Duration::ZERO)
            .await
            .unwrap();
    }
    fn status(&self, name: &str) -> Option<Status> {
        self.store.record(name).and_then(|r| r.status)
    }
    fn phase(&self, name: &str) -> Option<Phase> {
        self.status(name).map(|s| s.phase)
    }
    fn runtime(&self, options: RuntimeOptions) -> Runtime {
        Runtime::with_options(self.reconciler.clone(), options)
    }
}

/// One pass as the hooks saw it: seconds since the start, why, how many records, full or not,
/// and each record's phase after it.
#[derive(Clone, Debug)]
struct Seen {
    at: Duration,
    reasons: Reasons,
    scope: Scope,
    full: bool,
    after: Vec<(String, Option<Phase>)>,
}

/// Hooks that record every pass.
#[derive(Default)]
struct Recorder {
    start: Option<Instant>,
    passes: Mutex<Vec<Seen>>,
}

impl Recorder {
    fn new() -> Self {
        Self {
            start: Some(Instant::now()),
            passes: Mutex::new(Vec::new()),
        }
    }
    fn passes(&self) -> Vec<Seen> {
        self.passes.lock().unwrap().clone()
    }
}

#[async_trait]
impl Hooks for Recorder {
    async fn after_pass(&self, pass: &PassInfo, report: &PassReport) {
        let at = self.start.expect("started").elapsed();
        self.passes.lock().unwrap().push(Seen {
            at,
            reasons: pass.reasons.clone(),
            scope: pass.scope.clone(),
            full: pass.full,
            after: report
                .records
                .iter()
                .map(|r| (r.name.clone(), r.after))
                .collect(),
        });
    }
}

/// Runs `runtime` for `secs` of (paused) time with `triggers` fed into it, recording passes.
async fn run_for(
    runtime: &Runtime,
    secs: u64,
    triggers: mpsc::UnboundedReceiver<Trigger>,
) -> Vec<Seen> {
    let hooks = Recorder::new();
    runtime
        .run(
            triggers,
            &hooks,
            tokio::time::sleep(Duration::from_secs(secs)),
        )
        .await;
    hooks.passes()
}

fn no_triggers() -> (
    mpsc::UnboundedSender<Trigger>,
    mpsc::UnboundedReceiver<Trigger>,
) {
    mpsc::unbounded_channel()
}

#[tokio::test(start_paused = true)]
async fn resync_runs_at_once_and_then_every_period() {
    let w = world();
    w.add(Record::test("demo"));
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            resync: Duration::from_secs(60),
            ..RuntimeOptions::default()
        }),
        150,
        rx,
    )
    .await;
    let at: Vec<u64> = passes.iter().map(|p| p.at.as_secs()).collect();
    assert_eq!(at, vec![0, 60, 120], "{passes:?}");
    assert!(
        passes
            .iter()
            .all(|p| p.full && p.reasons.pass == Reason::Resync)
    );
}

#[tokio::test(start_paused = true)]
async fn a_wake_trigger_and_its_requeues_reach_ready_before_the_next_resync() {
    let w = Arc::new(world());
    w.add(Record::test("demo"));
    w.add(Record::test("other"));
    let (tx, rx) = mpsc::unbounded_channel();
    let waker = {
        let w = w.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            w.wake("demo").await;
            tx.send(Trigger::Records(vec!["demo".into()], Reason::Wake))
                .unwrap();
            tx
        })
    };
    let passes = run_for(&w.runtime(RuntimeOptions::default()), 59, rx).await;
    drop(waker.await.unwrap());
    assert_eq!(w.phase("demo"), Some(Phase::Ready), "{passes:?}");
    assert_eq!(w.phase("other"), Some(Phase::Asleep));
    // The resync at 0, the wake at 10 over `demo` alone, then requeues of `demo` alone, each
    // TRANSITION_REQUEUE (5 s) after the one before, until Ready.
    assert_eq!(passes[0].reasons.pass, Reason::Resync);
    assert_eq!(passes[0].at.as_secs(), 0);
    assert_eq!(passes[1].reasons.pass, Reason::Wake);
    assert_eq!(passes[1].at.as_secs(), 10);
    assert_eq!(passes[1].scope, Scope::Names(vec!["demo".into()]));
    let requeues = &passes[2..];
    assert!(!requeues.is_empty(), "{passes:?}");
    for (prev, p) in passes[1..].iter().zip(requeues) {
        assert_eq!(p.reasons.pass, Reason::Requeue, "{p:?}");
        assert_eq!(p.scope, Scope::Names(vec!["demo".into()]));
        assert_eq!((p.at - prev.at).as_secs(), 5, "{passes:?}");
    }
    assert_eq!(
        requeues.last().unwrap().after,
        vec![("demo".to_string(), Some(Phase::Ready))]
    );
}

#[tokio::test(start_paused = true)]
async fn the_transition_cap_looks_at_waking_records_more_often() {
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            transition_poll: Some(Duration::from_secs(1)),
            ..RuntimeOptions::default()
        }),
        59,
        rx,
    )
    .await;
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    for pair in passes.windows(2) {
        assert_eq!((pair[1].at - pair[0].at).as_secs(), 1, "{passes:?}");
        assert_eq!(pair[1].reasons.pass, Reason::Requeue);
    }
}

#[tokio::test(start_paused = true)]
async fn without_requeues_only_resyncs_run() {
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            resync: Duration::from_secs(60),
            requeues: false,
            ..RuntimeOptions::default()
        }),
        150,
        rx,
    )
    .await;
    let at: Vec<u64> = passes.iter().map(|p| p.at.as_secs()).collect();
    assert_eq!(at, vec![0, 60, 120], "{passes:?}");
    // Woken at 0, seen Ready only by the next resync: the schedule-only design.
    assert_eq!(passes[0].after[0].1, Some(Phase::Waking));
    assert_eq!(passes[1].after[0].1, Some(Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn a_minimum_requeue_holds_back_a_short_one() {
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            min_requeue: Duration::from_secs(7),
            ..RuntimeOptions::default()
        }),
        30,
        rx,
    )
    .await;
    for pair in passes.windows(2) {
        assert_eq!((pair[1].at - pair[0].at).as_secs(), 7, "{passes:?}");
    }
}

#[test]
fn queued_triggers_merge_into_one_pass() {
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Named records: the union, each with the reason it was first named for.
    let (scope, reasons) = merge(vec![
        Trigger::Records(names(&["a"]), Reason::Wake),
        Trigger::Records(names(&["b", "a"]), Reason::TaskEvent),
        Trigger::Records(names(&["c"]), Reason::Wake),
    ]);
    assert_eq!(scope, Scope::Names(names(&["a", "b", "c"])));
    assert_eq!(reasons.pass, Reason::Wake);
    assert_eq!(
        (reasons.of("a"), reasons.of("b"), reasons.of("c")),
        (Reason::Wake, Reason::TaskEvent, Reason::Wake)
    );
    // Any full trigger makes a full pass, for the first full trigger's reason; a record named
    // by another trigger keeps its own reason.
    let (scope, reasons) = merge(vec![
        Trigger::Records(names(&["a"]), Reason::Wake),
        Trigger::All(Reason::Stream),
        Trigger::All(Reason::TaskEvent),
    ]);
    assert_eq!(scope, Scope::All);
    assert_eq!(reasons.pass, Reason::Stream);
    assert_eq!(
        (reasons.of("a"), reasons.of("b")),
        (Reason::Wake, Reason::Stream)
    );
}

#[test]
fn reasons_have_the_words_of_the_spans() {
    let words: Vec<&str> = [
        Reason::Schedule,
        Reason::Stream,
        Reason::TaskEvent,
        Reason::Requeue,
        Reason::Resync,
        Reason::Wake,
        Reason::Manual,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect();
    assert_eq!(
        words,
        [
            "schedule",
            "stream",
            "task-event",
            "requeue",
            "resync",
            "wake",
            "manual"
        ]
    );
}

/// A store whose `n`-th list (counting from 1) first records a wake of `other` (`wake_at`: a
/// wake landing during an invocation, between two requeue rounds) or fails (`fail_at`).
struct ListTap {
    inner: Arc<MemoryStore>,
    clock: Arc<TokioClock>,
    lists: Mutex<u32>,
    wake_at: Option<u32>,
    fail_at: Option<u32>,
}

impl ListTap {
    fn new(w: &World, wake_at: Option<u32>, fail_at: Option<u32>) -> Arc<Self> {
        Arc::new(Self {
            inner: w.store.clone(),
            clock: w.clock.clone(),
            lists: Mutex::new(0),
            wake_at,
            fail_at,
        })
    }
}

#[async_trait]
impl Store for ListTap {
    async fn get(&self, name: &str) -> store::Result<Option<crate::model::Entry>> {
        self.inner.get(name).await
    }
    async fn list(&self) -> store::Result<Vec<crate::model::Entry>> {
        let n = {
            let mut n = self.lists.lock().unwrap();
            *n += 1;
            *n
        };
        if self.wake_at == Some(n) {
            self.inner
                .record_wake("other", self.clock.now(), Duration::ZERO)
                .await?;
        }
        if self.fail_at == Some(n) {
            return Err(store::Error::Backend {
                operation: "Scan",
                message: "InternalServerError: try again".into(),
            });
        }
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
        self.inner.publish_status(n, s, g).await
    }
}

#[tokio::test(start_paused = true)]
async fn settle_names_why_each_pass_ran_and_picks_up_a_wake_that_lands_meanwhile() {
    let w = world();
    w.add(Record::test("demo"));
    w.add(Record::test("other"));
    w.wake("demo").await;
    let reconciler = Reconciler {
        store: ListTap::new(&w, Some(2), None),
        ..w.reconciler.clone()
    };
    let s = Runtime::new(reconciler)
        .settle(Scope::All, Reason::Schedule, Duration::from_secs(120))
        .await;
    assert!(s.settled, "{:?}", s.pending);
    assert_eq!(s.reasons.len(), s.passes.len());
    assert_eq!(s.reasons[0], Reasons::all(Reason::Schedule));
    // The first requeue round looks at `demo` (requeued) and `other` (woken meanwhile).
    assert_eq!(s.reasons[1].pass, Reason::Requeue);
    assert_eq!(s.reasons[1].of("demo"), Reason::Requeue);
    assert_eq!(s.reasons[1].of("other"), Reason::Wake);
    assert!(s.reasons[2..].iter().all(|r| r.pass == Reason::Requeue));
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    assert_eq!(w.phase("other"), Some(Phase::Ready));
}

#[tokio::test(start_paused = true)]
async fn a_full_pass_that_cannot_read_keeps_the_due_requeues() {
    // Resync every 3 s; the resync at 3 s cannot list the records. demo's requeue (Waking,
    // due at 5 s) must survive it (cleared, the next look would be the resync at 6 s).
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let runtime = Runtime::with_options(
        Reconciler {
            store: ListTap::new(&w, None, Some(2)),
            ..w.reconciler.clone()
        },
        RuntimeOptions {
            resync: Duration::from_secs(3),
            ..RuntimeOptions::default()
        },
    );
    let (_tx, rx) = no_triggers();
    let passes = run_for(&runtime, 6, rx).await;
    let seen: Vec<(u64, Reason, usize)> = passes
        .iter()
        .map(|p| (p.at.as_secs(), p.reasons.pass, p.after.len()))
        .collect();
    assert_eq!(
        seen[..3],
        [
            (0, Reason::Resync, 1),
            (3, Reason::Resync, 0),
            (5, Reason::Requeue, 1)
        ],
        "{passes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_requeue_over_the_resync_scope_is_not_a_full_pass() {
    // `reconcile --watch demo`: the resync covers only demo, and so does demo's requeue; only
    // the resync is full.
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            resync_scope: Scope::Names(vec!["demo".into()]),
            ..RuntimeOptions::default()
        }),
        30,
        rx,
    )
    .await;
    assert!(passes.len() >= 3, "{passes:?}");
    for p in &passes {
        assert_eq!(p.scope, Scope::Names(vec!["demo".into()]));
        assert_eq!(p.full, p.reasons.pass == Reason::Resync, "{p:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_zero_resync_is_raised_to_the_minimum() {
    let w = world();
    w.add(Record::test("demo"));
    let (_tx, rx) = no_triggers();
    let passes = run_for(
        &w.runtime(RuntimeOptions {
            resync: Duration::ZERO,
            ..RuntimeOptions::default()
        }),
        5,
        rx,
    )
    .await;
    assert!(passes.len() >= 5, "{passes:?}");
    for pair in passes.windows(2) {
        assert_eq!(pair[1].at - pair[0].at, MIN_RESYNC, "{passes:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn settle_stops_at_its_budget_and_names_what_is_still_transitional() {
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let s = Runtime::new(w.reconciler.clone())
        .settle(Scope::All, Reason::Stream, Duration::from_secs(8))
        .await;
    assert!(!s.settled);
    assert_eq!(s.pending, vec!["demo".to_string()]);
    // 0 s and 5 s fit in 8 s; the next requeue (10 s) would not.
    assert_eq!(s.passes.len(), 2);
    assert_eq!(w.phase("demo"), Some(Phase::Waking));
}

#[tokio::test(start_paused = true)]
async fn every_requeue_a_record_asks_for_is_derived_from_the_stored_record() {
    // A runner that lost its in-memory requeues (a Lambda invocation that ended) finds every
    // record-derived due-time again with `due_at`, no later than the requeue asked for.
    let w = world();
    w.add(Record::test("demo").idle_timeout(Duration::from_secs(120)));
    w.add(Record::test("never"));
    w.add(Record::test("broken"));
    w.sim.fail_task_starts(
        "demo-cluster",
        "broken-svc",
        Some((
            "TaskFailedToStart",
            "CannotPullContainerError: image not found",
        )),
    );
    w.wake("demo").await;
    w.wake("broken").await;
    let mut checked = 0;
    let mut failed_requeues = 0;
    for _ in 0..40 {
        let report = w.reconciler.reconcile(Scope::All).await;
        let now = w.clock.now();
        for r in &report.records {
            let record = w.store.record(&r.name).unwrap();
            match r.requeue {
                // The documented exception: a Failed record's look-again while its tasks stop
                // is left to the next full pass.
                Requeue::After(_) if r.after == Some(Phase::Failed) => {
                    assert_eq!(due_at(&record, now), None);
                    failed_requeues += 1;
                }
                Requeue::After(d) if r.error.is_none() => {
                    let due = due_at(&record, now).unwrap_or_else(|| {
                        panic!("{}: requeue {d:?} not derivable from {record:?}", r.name)
                    });
                    assert!(
                        due <= now.add(d),
                        "{}: due {due} later than the requeue {d:?}",
                        r.name
                    );
                    checked += 1;
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(checked >= 10, "{checked}");
    assert!(failed_requeues >= 1, "the failing wake reached Failed");
    assert_eq!(
        w.phase("demo"),
        Some(Phase::Asleep),
        "slept after 120 s idle"
    );
    assert_eq!(
        due_at(&w.store.record("never").unwrap(), w.clock.now()),
        None
    );
}

/// Wakes, activity, sleep requests and mode edits land at random times on three records while
/// the runtime runs with the dev stack's options; once they stop, every record converges: the
/// ones still wanted are Ready at the desiredCount their spec asks for, the others Asleep at 0,
/// and every wake that nothing overrode reached Ready.
#[tokio::test(start_paused = true)]
async fn random_inputs_landing_while_passes_run_converge() {
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let w = Arc::new(world());
        let names = ["a", "b", "c"];
        for n in names {
            w.add(Record::test(n).idle_timeout(Duration::from_secs(60)));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let steps: Vec<(u64, usize, u8)> = (0..12)
            .map(|_| {
                (
                    rng.random_range(0..4_000u64),
                    rng.random_range(0..names.len()),
                    rng.random_range(0..4u8),
                )
            })
            .collect();
        let inputs = {
            let w = w.clone();
            tokio::spawn(async move {
                for (ms, i, what) in steps {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let name = names[i];
                    let now = w.clock.now();
                    match what {
                        0 | 1 => {
                            w.store
                                .record_wake(name, now, Duration::ZERO)
                                .await
                                .unwrap();
                            let _ = tx.send(Trigger::Records(vec![name.into()], Reason::Wake));
                        }
                        2 => {
                            w.store
                                .record_activity(name, now, Duration::ZERO)
                                .await
                                .unwrap();
                        }
                        _ => {
                            w.store.request_sleep(name, now).await.unwrap();
                            let _ = tx.send(Trigger::All(Reason::Stream));
                        }
                    }
                }
            })
        };
        let runtime = w.runtime(RuntimeOptions {
            resync: Duration::from_secs(10),
            transition_poll: Some(Duration::from_secs(1)),
            ..RuntimeOptions::default()
        });
        let hooks = Recorder::new();
        let stop = async {
            // Long enough for every input (at most 48 s) and an idle timeout after it.
            tokio::time::sleep(Duration::from_secs(200)).await;
        };
        runtime.run(rx, &hooks, stop).await;
        inputs.await.unwrap();
        let now = w.clock.now();
        for n in names {
            let record = w.store.record(n).unwrap();
            let status = record.status.clone().unwrap();
            let want = crate::reconcile::want(&record, None, now);
            let desired = w.sim.desired_count("demo-cluster", &format!("{n}-svc"));
            if want.awake {
                assert_eq!(status.phase, Phase::Ready, "seed {seed} {n}: {status:?}");
                assert_eq!(desired, Some(record.spec.replicas), "seed {seed} {n}");
            } else {
                assert_eq!(status.phase, Phase::Asleep, "seed {seed} {n}: {status:?}");
                assert_eq!(desired, Some(0), "seed {seed} {n}");
            }
            assert_eq!(record.spec.mode, Mode::Auto);
            // A wake with no later sleep request was answered: a pass saw the record Ready
            // at or after it.
            let woke = record.desired.wake_requested_at;
            let slept = record.desired.sleep_requested_at;
            if let Some(woke) = woke
                && slept.is_none_or(|s| s < woke)
            {
                let ready_after = hooks.passes().iter().any(|p| {
                    w.clock.base.add(p.at) >= woke
                        && p.after
                            .iter()
                            .any(|(r, ph)| r == n && *ph == Some(Phase::Ready))
                });
                assert!(
                    ready_after,
                    "seed {seed} {n}: the last wake at {woke} never reached Ready: {status:?}"
                );
            }
        }
    }
}

/// `(name, from, to)` of events.
fn changes(events: &[crate::reconcile::events::Event]) -> Vec<(String, Option<Phase>, Phase)> {
    events
        .iter()
        .map(|e| (e.name.clone(), e.from, e.to))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn settle_publishes_each_pass_phase_changes_in_one_publish() {
    use crate::reconcile::events::MemorySink;
    let w = world();
    w.add(Record::test("demo"));
    w.add(Record::test("other").asleep());
    w.wake("demo").await;
    let sink = Arc::new(MemorySink::new());
    let s = Runtime::new(w.reconciler.clone())
        .with_events(sink.clone())
        .settle(Scope::All, Reason::Schedule, Duration::from_secs(120))
        .await;
    assert!(s.settled, "{:?}", s.pending);
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    // One publish per pass that changed a phase; `other` stays Asleep: no event.
    let publishes = sink.publishes();
    let changed_passes = s.passes.iter().filter(|p| p.changed().count() > 0).count();
    assert_eq!(publishes.len(), changed_passes, "{publishes:?}");
    assert_eq!(
        changes(&sink.events()),
        [
            ("demo".to_string(), None, Phase::Waking),
            ("demo".to_string(), Some(Phase::Waking), Phase::Ready),
        ]
    );
    // Each event is the pass's: its time, and the status it published.
    let ready = sink.events().pop().unwrap();
    assert_eq!(ready.phase_since, w.status("demo").unwrap().phase_since);
    assert_eq!(ready.reason, "task ready");
    assert_eq!(
        ready.target,
        Some(crate::reconcile::events::EventTarget::Ecs {
            cluster: "demo-cluster".into(),
            service: "demo-svc".into()
        })
    );
    // What a Waking service waits for is its message.
    let waking = &sink.events()[0];
    assert!(
        waking.message.as_deref().is_some_and(|m| !m.is_empty()),
        "{waking:?}"
    );
    assert!(s.error_codes.is_empty(), "{:?}", s.error_codes);
}

#[tokio::test(start_paused = true)]
async fn a_failing_sink_fails_no_pass_and_is_counted() {
    use crate::reconcile::events::{EVENT_NOT_PUBLISHED, MemorySink};
    let w = world();
    w.add(Record::test("demo"));
    w.wake("demo").await;
    let s = Runtime::new(w.reconciler.clone())
        .with_events(Arc::new(MemorySink::failing()))
        .settle(Scope::All, Reason::Schedule, Duration::from_secs(120))
        .await;
    assert!(s.settled, "{:?}", s.pending);
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    assert!(
        s.passes
            .iter()
            .all(|p| p.errors().count() == 0 && p.error.is_none())
    );
    // Asleep → Waking and Waking → Ready were lost: two codes.
    assert_eq!(
        s.error_codes,
        [(EVENT_NOT_PUBLISHED.to_string(), 2)].into_iter().collect()
    );
}

#[tokio::test(start_paused = true)]
async fn run_publishes_the_events_of_its_passes() {
    use crate::reconcile::events::MemorySink;
    let w = Arc::new(world());
    w.add(Record::test("demo").asleep());
    let (tx, rx) = mpsc::unbounded_channel();
    let waker = {
        let w = w.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            w.wake("demo").await;
            tx.send(Trigger::Records(vec!["demo".into()], Reason::Wake))
                .unwrap();
            tx
        })
    };
    let sink = Arc::new(MemorySink::new());
    let runtime = w
        .runtime(RuntimeOptions::default())
        .with_events(sink.clone());
    run_for(&runtime, 59, rx).await;
    drop(waker.await.unwrap());
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    assert_eq!(
        changes(&sink.events()),
        [
            ("demo".to_string(), Some(Phase::Asleep), Phase::Waking),
            ("demo".to_string(), Some(Phase::Waking), Phase::Ready),
        ]
    );
}

/// While an invocation lingers over a waking record, it looks for wake requests that landed
/// meanwhile at most every 15 s (each look reads the whole table), and not at all when its last
/// full pass read a large table (the wake's own stream record handles it then).
#[tokio::test(start_paused = true)]
async fn settle_looks_for_landed_wakes_at_most_every_15s_and_not_in_a_large_table() {
    for (records, want_looks) in [(None, true), (Some(LANDED_WAKES_MAX_RECORDS + 1), false)] {
        let w = world();
        w.add(Record::test("demo"));
        w.wake("demo").await;
        let tap = ListTap::new(&w, None, None);
        let reconciler = Reconciler {
            store: tap.clone(),
            ..w.reconciler.clone()
        };
        reconciler.tier.lock().unwrap().last_records = records;
        let start = w.clock.now();
        let s = Runtime::new(reconciler)
            .settle(
                Scope::Names(vec!["demo".into()]),
                Reason::Wake,
                Duration::from_secs(120),
            )
            .await;
        assert!(s.settled, "{:?}", s.pending);
        let rounds = s.passes.len() - 1;
        let secs = w.clock.now().since(start).as_secs();
        let looks = *tap.lists.lock().unwrap() as usize;
        assert!(
            rounds >= 4,
            "the wake took {rounds} requeue rounds over {secs} s"
        );
        if want_looks {
            assert!(looks >= 1, "a small table is looked at");
            assert!(
                looks <= (secs / 15) as usize + 1 && looks < rounds,
                "{looks} looks over {rounds} rounds in {secs} s"
            );
        } else {
            assert_eq!(looks, 0, "a large table is not read in every round");
        }
    }
}
