//! The ECS call budget of tiered observation (issue 20) on the simulated ECS, run as the
//! reconciler Lambda runs: a scheduled full pass a minute (`Runtime::settle`, budget 50 s), a
//! scoped pass for each stream record (a wake, a sleep request) and for each ECS task state
//! change. 10,000 records in 10 clusters, 1 % awake (kept awake by activity), a trickle of one
//! wake and one sleep request a minute, the ECS token buckets with client pacing. The clock is
//! simulated (tokio's paused clock for latency and buckets), so ten minutes take seconds.
//!
//! Asserted over 10 simulated minutes of steady state: at most 60 `DescribeServices` and at
//! most 60 `ListTasks` and 60 `DescribeTasks` a minute on average (5 % of ECS's sustained 20/s
//! each), nothing throttled, and `UpdateService` only for the real changes; a desiredCount
//! raised out of band on a sleeping service is noticed at its task event within a minute,
//! and without any event within one resync period.

use std::sync::Arc;
use std::time::Duration;

use snooze::clock::SimClock;
use snooze::model::{EcsTarget, Phase, Record, Target, Timestamp};
use snooze::platform::sim::{BucketConfig, Op, SimConfig, SimPlatform};
use snooze::reconcile::tier::{TierOptions, resync_period};
use snooze::reconcile::{Reason, Reconciler, Runtime, Scope, StaticProber};
use snooze::store::{MemoryStore, Store};

const N: usize = 10_000;
const CLUSTERS: usize = 10;
const MINUTE: Duration = Duration::from_secs(60);
/// The Lambda's pass budget (`SNOOZE_PASS_BUDGET`-like).
const BUDGET: Duration = Duration::from_secs(50);

fn name(i: usize) -> String {
    format!("svc-{i:05}")
}

fn record(i: usize) -> Record {
    let mut r = Record::test(&name(i));
    r.spec.target = Target::Ecs(EcsTarget {
        cluster: cluster(i),
        service: name(i),
    });
    r
}

fn cluster(i: usize) -> String {
    format!("cluster-{}", (i / 10) % CLUSTERS)
}

struct Fleet {
    clock: Arc<SimClock>,
    sim: Arc<SimPlatform>,
    store: Arc<MemoryStore>,
    runtime: Runtime,
    start: Timestamp,
}

impl Fleet {
    async fn new() -> Self {
        let clock = SimClock::default_start();
        let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
        let store = Arc::new(MemoryStore::new());
        let mut reconciler = Reconciler::new(
            store.clone(),
            sim.clone(),
            Arc::new(StaticProber::new()),
            clock.clone(),
        );
        reconciler.options.runner_period = MINUTE;
        for i in 0..N {
            sim.add_service(&cluster(i), &name(i));
            store.put(record(i));
        }
        let start = clock.now();
        Self {
            clock,
            sim,
            store,
            runtime: Runtime::new(reconciler),
            start,
        }
    }

    fn phase(&self, i: usize) -> Option<Phase> {
        self.store
            .record(&name(i))
            .and_then(|r| r.status)
            .map(|s| s.phase)
    }

    /// The scheduled invocation at minute `m` (from the start): the clock moves there first.
    async fn schedule(&self, m: u64) {
        let at = self.start.add(MINUTE * m as u32);
        let now = self.clock.now();
        if at > now {
            let d = at.since(now);
            self.clock.advance(d);
            tokio::time::advance(d).await;
        }
        let s = self
            .runtime
            .settle(Scope::All, Reason::Schedule, BUDGET)
            .await;
        assert!(s.error_codes.is_empty(), "{:?}", s.error_codes);
    }

    /// A stream or ECS event naming record `i`: a scoped invocation.
    async fn event(&self, i: usize, reason: Reason) {
        let s = self
            .runtime
            .settle(Scope::Names(vec![name(i)]), reason, BUDGET)
            .await;
        assert!(s.error_codes.is_empty(), "{:?}", s.error_codes);
    }

    fn calls(&self, op: Op) -> u64 {
        self.sim.counters().get(&op).map_or(0, |c| c.attempts)
    }

    fn throttled(&self) -> u64 {
        self.sim.counters().values().map(|c| c.throttled).sum()
    }
}

fn awake(i: usize) -> bool {
    i.is_multiple_of(100)
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_records_stay_within_the_ecs_read_budget() {
    let f = Fleet::new().await;
    for i in (0..N).filter(|i| awake(*i)) {
        f.store
            .record_wake(&name(i), f.clock.now(), Duration::ZERO)
            .await
            .unwrap();
    }
    // The first (cold) pass observes every record once; the awake ones become Ready.
    f.schedule(0).await;
    assert!(
        (0..N)
            .filter(|i| awake(*i))
            .all(|i| f.phase(i) == Some(Phase::Ready))
    );
    assert!(
        (0..N)
            .filter(|i| !awake(*i))
            .all(|i| f.phase(i) == Some(Phase::Asleep))
    );

    // Realistic ECS from now on: the documented token buckets, the SDK's client pacing.
    f.sim.reconfigure(|c| {
        c.buckets = BucketConfig::ecs_documented();
        c.client_pacing = true;
        c.latency = Duration::from_millis(20);
    });
    f.sim.reset_counters();
    let minutes = 10u64;
    let mut changes = 0;
    let mut slept = Vec::new();
    for m in 1..=minutes {
        // Visitors keep the awake ones busy (the activity agent, debounced to a minute).
        for i in (0..N).filter(|i| awake(*i) && !slept.contains(i)) {
            f.store
                .record_activity(&name(i), f.clock.now(), Duration::ZERO)
                .await
                .unwrap();
        }
        // The trickle: one wake and one sleep request a minute, each its stream event.
        let woken = 100 * m as usize + 50;
        f.store
            .record_wake(&name(woken), f.clock.now(), Duration::ZERO)
            .await
            .unwrap();
        f.event(woken, Reason::Stream).await;
        assert_eq!(f.phase(woken), Some(Phase::Ready), "{}", name(woken));
        let sleeper = 100 * m as usize;
        f.store
            .request_sleep(&name(sleeper), f.clock.now())
            .await
            .unwrap();
        f.event(sleeper, Reason::Stream).await;
        slept.push(sleeper);
        changes += 2;
        f.schedule(m).await;
    }
    let per_minute = |op| f.calls(op) as f64 / minutes as f64;
    let (ds, lt, dt) = (
        per_minute(Op::DescribeServices),
        per_minute(Op::ListTasks),
        per_minute(Op::DescribeTasks),
    );
    println!(
        "steady state, {N} records, 1 % awake, per minute: DescribeServices {ds}, ListTasks {lt}, \
         DescribeTasks {dt}, UpdateService {}",
        per_minute(Op::UpdateService)
    );
    assert!(ds <= 60.0, "DescribeServices {ds}/min > 60");
    assert!(lt <= 60.0, "ListTasks {lt}/min > 60");
    assert!(dt <= 60.0, "DescribeTasks {dt}/min > 60");
    assert_eq!(f.throttled(), 0, "nothing throttled");
    assert_eq!(
        f.calls(Op::UpdateService),
        changes,
        "UpdateService only for the real changes"
    );
    // The quiet sleeping records were observed, a slice a minute: neither none nor all.
    assert!(ds >= 10.0, "the resync observes its slice: {ds}");
}

#[tokio::test(start_paused = true)]
async fn a_raise_on_a_sleeping_service_is_noticed_at_its_event_or_within_one_resync_period() {
    let f = Fleet::new().await;
    f.schedule(0).await;
    f.schedule(1).await;
    let period = resync_period(N, &TierOptions::default());
    // With its event (the task it starts changes state): noticed at once.
    let a = 4_242;
    f.sim.set_desired_count_externally(&cluster(a), &name(a), 1);
    f.clock.advance(Duration::from_secs(5));
    let before = f.calls(Op::DescribeServices);
    f.event(a, Reason::TaskEvent).await;
    assert!(
        f.calls(Op::DescribeServices) > before,
        "observed at its event"
    );
    assert!(
        f.phase(a) != Some(Phase::Asleep) || f.sim.desired_count(&cluster(a), &name(a)) == Some(0),
        "noticed at its event"
    );
    // Without any event: the scheduled passes find it within one resync period. Several
    // services, so that some slot falls late in the period.
    let quiet: Vec<usize> = (0..N).step_by(997).filter(|i| *i != a).collect();
    for i in &quiet {
        f.sim
            .set_desired_count_externally(&cluster(*i), &name(*i), 1);
    }
    let raised_at = f.clock.now();
    let mut noticed = vec![None; quiet.len()];
    let mut m = 2;
    while noticed.iter().any(Option::is_none) {
        f.schedule(m).await;
        let now = f.clock.now();
        for (k, i) in quiet.iter().enumerate() {
            // Noticed: woken for it (a raise by someone else counts as activity) or put back
            // to 0 (only snooze scales these services down).
            let put_back = f.sim.desired_count(&cluster(*i), &name(*i)) == Some(0);
            if noticed[k].is_none() && (f.phase(*i) != Some(Phase::Asleep) || put_back) {
                noticed[k] = Some(now.since(raised_at));
            }
        }
        assert!(
            now.since(raised_at) <= period + MINUTE,
            "not noticed within one resync period ({}s): {:?}",
            period.as_secs(),
            quiet
                .iter()
                .zip(&noticed)
                .filter(|(_, n)| n.is_none())
                .map(|(i, _)| name(*i))
                .collect::<Vec<_>>()
        );
        m += 1;
    }
    let latest = noticed.iter().flatten().max().unwrap();
    println!(
        "resync period {}s; out-of-band raises without an event noticed after at most {}s",
        period.as_secs(),
        latest.as_secs()
    );
    // Not all found in the first pass: the resync is spread over the period.
    assert!(*latest > Duration::from_secs(5 * 60), "{latest:?}");
}
