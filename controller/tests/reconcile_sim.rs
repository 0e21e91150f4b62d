//! Property tests of the reconcile pass on the simulated ECS (DESIGN.md §8): random
//! interleavings of wake requests, activity, explicit sleeps, operator edits (mode, replicas,
//! idleTimeout), passes, overlapping passes and faults (throttling, 5xx, tasks failing to
//! start, tasks dying, drift by someone else).
//!
//! Invariants, checked after every pass:
//! - never Ready without a running task, and never with the address of a task that is not
//!   running (records whose observation failed in that pass keep their last status and are
//!   not judged);
//! - never Asleep/Sleeping while a wake request or activity is within idleTimeout, except for
//!   an explicit later sleep request, `mode: off` or `replicas: 0`;
//! - no operator edit lost: the stored spec is always the last one applied, and a pass that
//!   saw a record publishes its generation;
//! - no UpdateService flapping: snooze never scales a service up again after scaling it down
//!   unless something happened to that record in between (a fact, an edit, drift);
//!
//! and at the end: once faults stop (and visitors keep coming), every record converges to the
//! wanted state within a bounded number of passes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use snooze::model::{Mode, Phase, Record, Target, Timestamp};
use snooze::platform::sim::{Fault, MemoryStore, Op, SimClock, SimConfig, SimPlatform};
use snooze::reconcile::{PassReport, Reconciler, Scope, StaticProber};
use snooze::store::Store;

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const CLUSTER: &str = "demo-cluster";

#[derive(Clone, Debug)]
enum Action {
    Advance(u64),
    Wake(usize),
    Activity(usize),
    Sleep(usize),
    SetMode(usize, Mode),
    SetReplicas(usize, u32),
    SetIdle(usize, u64),
    Pass,
    OverlappingPasses,
    NamedPass(usize),
    Throttle(Op, usize),
    ServerErrors(Op, usize),
    FailStarts(usize, bool),
    Kill(usize),
    Drift(usize, u32),
}

fn action() -> impl Strategy<Value = Action> {
    let idx = 0..NAMES.len();
    let mode = prop_oneof![Just(Mode::Auto), Just(Mode::On), Just(Mode::Off)];
    let op = prop_oneof![
        Just(Op::DescribeServices),
        Just(Op::ListTasks),
        Just(Op::DescribeTasks),
        Just(Op::UpdateService)
    ];
    prop_oneof![
        6 => (1u64..400).prop_map(Action::Advance),
        4 => idx.clone().prop_map(Action::Wake),
        3 => idx.clone().prop_map(Action::Activity),
        1 => idx.clone().prop_map(Action::Sleep),
        1 => (idx.clone(), mode).prop_map(|(i, m)| Action::SetMode(i, m)),
        1 => (idx.clone(), 0u32..=3).prop_map(|(i, n)| Action::SetReplicas(i, n)),
        1 => (idx.clone(), 1u64..=30).prop_map(|(i, m)| Action::SetIdle(i, m)),
        8 => Just(Action::Pass),
        2 => Just(Action::OverlappingPasses),
        2 => idx.clone().prop_map(Action::NamedPass),
        1 => (op.clone(), 1usize..15).prop_map(|(o, n)| Action::Throttle(o, n)),
        1 => (op, 1usize..4).prop_map(|(o, n)| Action::ServerErrors(o, n)),
        1 => (idx.clone(), any::<bool>()).prop_map(|(i, on)| Action::FailStarts(i, on)),
        1 => idx.clone().prop_map(Action::Kill),
        1 => (idx, 0u32..=2).prop_map(|(i, n)| Action::Drift(i, n)),
    ]
}

struct World {
    clock: Arc<SimClock>,
    sim: Arc<SimPlatform>,
    store: Arc<MemoryStore>,
    reconciler: Reconciler,
    /// The spec each record must have (the last one applied).
    specs: BTreeMap<String, snooze::model::Spec>,
    /// Per record: inputs ("something happened") and snooze's scale directions, in order.
    history: BTreeMap<String, Vec<Event>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    Input,
    Up,
    Down,
}

fn service(name: &str) -> String {
    format!("{name}-svc")
}

impl World {
    fn new() -> Self {
        let clock = SimClock::default_start();
        let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
        let store = Arc::new(MemoryStore::new());
        let reconciler = Reconciler::new(
            store.clone(),
            sim.clone(),
            Arc::new(StaticProber::new()),
            clock.clone(),
        );
        let mut specs = BTreeMap::new();
        for name in NAMES {
            sim.add_service(CLUSTER, &service(name));
            let r = Record::test(name);
            specs.insert(name.to_string(), r.spec.clone());
            store.put(r);
        }
        World {
            clock,
            sim,
            store,
            reconciler,
            specs,
            history: BTreeMap::new(),
        }
    }

    fn input(&mut self, i: usize) {
        self.history
            .entry(NAMES[i].into())
            .or_default()
            .push(Event::Input);
    }

    async fn edit(&mut self, i: usize, f: impl FnOnce(&mut snooze::model::Spec)) {
        let name = NAMES[i];
        let mut r = self.store.record(name).expect("record");
        f(&mut r.spec);
        let v = r.metadata.resource_version;
        self.store
            .apply(&r, Some(v))
            .await
            .expect("compare-and-swap edit");
        self.specs.insert(name.into(), r.spec);
        self.input(i);
    }

    async fn step(&mut self, a: &Action) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        match a {
            Action::Advance(s) => self.clock.advance(Duration::from_secs(*s)),
            Action::Wake(i) => {
                self.store
                    .record_wake(NAMES[*i], now, Duration::ZERO)
                    .await
                    .unwrap();
                self.input(*i);
            }
            Action::Activity(i) => {
                self.store
                    .record_activity(NAMES[*i], now, Duration::ZERO)
                    .await
                    .unwrap();
                self.input(*i);
            }
            Action::Sleep(i) => {
                self.store.request_sleep(NAMES[*i], now).await.unwrap();
                self.input(*i);
            }
            Action::SetMode(i, m) => self.edit(*i, |s| s.mode = *m).await,
            Action::SetReplicas(i, n) => self.edit(*i, |s| s.replicas = *n).await,
            Action::SetIdle(i, m) => {
                self.edit(*i, |s| s.idle_timeout.0 = Duration::from_secs(m * 60))
                    .await
            }
            Action::Pass => {
                let r = self.reconciler.reconcile(Scope::All).await;
                self.after_pass(&r)?;
            }
            Action::OverlappingPasses => {
                let (a, b) = tokio::join!(
                    self.reconciler.reconcile(Scope::All),
                    self.reconciler.reconcile(Scope::All)
                );
                self.after_pass(&a)?;
                self.after_pass(&b)?;
            }
            Action::NamedPass(i) => {
                let r = self
                    .reconciler
                    .reconcile(Scope::Names(vec![NAMES[*i].into()]))
                    .await;
                self.after_pass(&r)?;
            }
            Action::Throttle(op, n) => self.sim.fail_next(*op, *n, Fault::Throttle),
            Action::ServerErrors(op, n) => self.sim.fail_next(*op, *n, Fault::ServerError),
            Action::FailStarts(i, on) => {
                let failure = on.then_some((
                    "TaskFailedToStart",
                    "CannotPullContainerError: image not found",
                ));
                self.sim
                    .fail_task_starts(CLUSTER, &service(NAMES[*i]), failure);
            }
            Action::Kill(i) => {
                self.sim.kill_tasks(
                    CLUSTER,
                    &service(NAMES[*i]),
                    "Essential container in task exited",
                );
                self.input(*i);
            }
            Action::Drift(i, n) => {
                self.sim
                    .set_desired_count_externally(CLUSTER, &service(NAMES[*i]), *n);
                self.input(*i);
            }
        }
        // No operator edit lost, whatever happened.
        for (name, spec) in &self.specs {
            let r = self.store.record(name).expect("record still there");
            prop_assert_eq!(
                &r.spec,
                spec,
                "spec of {} changed behind the operator's back",
                name
            );
        }
        Ok(())
    }

    fn after_pass(&mut self, report: &PassReport) -> Result<(), TestCaseError> {
        let now = self.clock.now();
        prop_assert!(report.error.is_none());
        for rep in &report.records {
            let h = self.history.entry(rep.name.clone()).or_default();
            match rep.scaled {
                Some((from, to)) if to > from => h.push(Event::Up),
                Some((from, to)) if to < from => h.push(Event::Down),
                _ => {}
            }
            if rep.error.is_some() {
                continue; // last status kept; nothing to judge
            }
            let r = self.store.record(&rep.name).expect("record");
            let s = r.status.clone().expect("status published");
            prop_assert_eq!(
                s.observed_generation,
                r.metadata.generation,
                "{}: generation not observed",
                rep.name
            );
            // Never Ready without a running task, nor with a stopped task's address.
            if s.phase == Phase::Ready {
                let running = self.sim.running_tasks(CLUSTER, &service(&rep.name));
                let e = s.endpoint.as_ref();
                prop_assert!(e.is_some(), "{}: Ready without endpoint", rep.name);
                prop_assert!(
                    s.replicas.running >= 1,
                    "{}: Ready with zero running tasks",
                    rep.name
                );
                prop_assert!(
                    running.contains(&e.unwrap().task_arn),
                    "{}: Ready with the address of a task that is not running: {:?} not in {:?}",
                    rep.name,
                    e,
                    running
                );
            } else {
                prop_assert!(
                    s.endpoint.is_none(),
                    "{}: endpoint published while {}",
                    rep.name,
                    s.phase
                );
            }
            // Never asleep while wanted (wake/activity within idleTimeout, no later sleep).
            if must_be_awake(&r, now) {
                prop_assert!(
                    !matches!(s.phase, Phase::Asleep | Phase::Sleeping),
                    "{}: {} while wanted ({:?}, now {})",
                    rep.name,
                    s.phase,
                    r.desired,
                    now
                );
            }
        }
        // No flapping: never down then up again without an input in between.
        for (name, h) in &self.history {
            let mut last_scale = None;
            for e in h {
                match e {
                    Event::Input => last_scale = None,
                    Event::Up => {
                        prop_assert!(
                            last_scale != Some(Event::Down),
                            "{}: scaled down then up with nothing in between: {:?}",
                            name,
                            h
                        );
                        last_scale = Some(Event::Up);
                    }
                    Event::Down => last_scale = Some(Event::Down),
                }
            }
        }
        Ok(())
    }

    /// Faults stop; visitors keep coming (wake requests). Every
    /// record reaches its wanted state within a bounded number of passes.
    async fn converge(&mut self) -> Result<(), TestCaseError> {
        self.sim.clear_faults();
        for name in NAMES {
            self.sim.fail_task_starts(CLUSTER, &service(name), None);
        }
        self.clock.advance(Duration::from_secs(1));
        for (i, name) in NAMES.iter().enumerate() {
            self.store
                .record_wake(name, self.clock.now(), Duration::ZERO)
                .await
                .unwrap();
            self.input(i);
        }
        let mut passes = 0;
        loop {
            let report = self.reconciler.reconcile(Scope::All).await;
            passes += 1;
            self.after_pass(&report)?;
            let done = NAMES.iter().all(|n| self.converged(n));
            if done {
                return Ok(());
            }
            prop_assert!(
                passes < 60,
                "not converged after {} passes: {:#?}",
                passes,
                report.records
            );
            let wait = report
                .next_requeue()
                .unwrap_or(Duration::from_secs(60))
                .clamp(Duration::from_secs(1), Duration::from_secs(60));
            self.clock.advance(wait);
            for (i, name) in NAMES.iter().enumerate() {
                // Visitors keep coming (a wait page reloaded after a failure records a new
                // wake request; a failed wake is retried only then).
                self.store
                    .record_wake(name, self.clock.now(), Duration::ZERO)
                    .await
                    .unwrap();
                self.input(i);
            }
        }
    }

    fn converged(&self, name: &str) -> bool {
        let r = self.store.record(name).unwrap();
        let s = r.status.clone().unwrap_or_default();
        let desired = self.sim.desired_count(CLUSTER, &service(name)).unwrap();
        let running = self.sim.running_tasks(CLUSTER, &service(name)).len() as u32;
        let awake = r.spec.replicas > 0 && r.spec.mode != Mode::Off;
        if awake {
            s.phase == Phase::Ready && desired == r.spec.replicas && running == r.spec.replicas
        } else {
            s.phase == Phase::Asleep && desired == 0 && running == 0
        }
    }
}

/// The service must not be asleep: `mode: on`, or `mode: auto` with a wake request or activity
/// within idleTimeout and no sleep request at or after it; and replicas > 0.
fn must_be_awake(r: &Record, now: Timestamp) -> bool {
    if r.spec.replicas == 0 {
        return false;
    }
    match r.spec.mode {
        Mode::Off => false,
        Mode::On => true,
        Mode::Auto => match r.desired.last_wanted_at() {
            None => false,
            Some(last) => {
                now < last.add(r.spec.idle_timeout.get())
                    && r.desired.sleep_requested_at.is_none_or(|s| s < last)
            }
        },
    }
}

fn run_case(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut w = World::new();
        for a in &actions {
            w.step(a).await?;
        }
        w.converge().await
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 4000, ..ProptestConfig::default() })]

    #[test]
    fn reconcile_keeps_its_invariants_under_random_interleavings(actions in prop::collection::vec(action(), 1..60)) {
        run_case(actions)?;
    }
}

/// A fixed scenario through the same harness, so a broken harness cannot pass silently:
/// wake, run, idle, sleep, with every check active.
#[test]
fn the_harness_sees_a_full_cycle() {
    let actions = vec![
        Action::Wake(0),
        Action::Pass,
        Action::Advance(40),
        Action::Pass,
        Action::Advance(16 * 60),
        Action::Pass,
        Action::Advance(30),
        Action::Pass,
    ];
    run_case(actions.clone()).unwrap();
    // And the harness does catch a Ready without a running task: kill the task, then judge the
    // stale status as if a pass had published it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut w = World::new();
        for a in &actions[..4] {
            w.step(a).await.unwrap();
        }
        assert_eq!(
            w.store.record("alpha").unwrap().status.unwrap().phase,
            Phase::Ready
        );
        w.sim.kill_tasks(CLUSTER, &service("alpha"), "boom");
        let fake = PassReport {
            started_at: w.clock.now(),
            duration: Duration::ZERO,
            records: vec![snooze::reconcile::RecordReport {
                name: "alpha".into(),
                before: Some(Phase::Ready),
                after: Some(Phase::Ready),
                reason: String::new(),
                requeue: snooze::reconcile::Requeue::AwaitChange,
                transitional: false,
                scaled: None,
                published: false,
                error: None,
            }],
            error: None,
        };
        assert!(
            w.after_pass(&fake).is_err(),
            "the Ready invariant must catch a stopped task"
        );
    });
}

#[test]
fn targets_are_ecs() {
    // The harness assumes ECS targets in one cluster.
    assert!(matches!(Record::test("x").spec.target, Target::Ecs(ref t) if t.cluster == CLUSTER));
}
