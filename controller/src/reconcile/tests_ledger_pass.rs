//! The ledger through real passes on the simulated ECS: a wake and a sleep leave the task's
//! billed seconds, the always-on comparison and the wake, priced; a running task costs no
//! status write per pass (the flush policy).
//!
//! The simulation may not report `pullStartedAt` or task sizes (the platform side of the
//! ledger lands separately): [`Sized`] adds a size to what it observes, and the expected
//! seconds are taken from the task as the platform reports it (`pullStartedAt`, else the
//! `startedAt` fallback), so the test holds either way.

use std::sync::Arc;

use async_trait::async_trait;

use super::ledger::billed_from;
use super::prices::PriceTable;
use super::tests_pass::world;
use super::*;
use crate::model::{Phase, Record, Target};
use crate::platform::{Arch, Observed, Platform, TaskObservation, TaskSize};

/// 0.25 vCPU, 0.5 GB, ARM64: $0.009875 an hour in us-east-1.
const SIZE: TaskSize = TaskSize {
    vcpu: 0.25,
    memory_gb: 0.5,
    arch: Arch::Arm64,
};
const HOURLY: f64 = 0.009875;

/// A platform that reports [`SIZE`] for every service and task of the one it wraps.
struct Sized(Arc<dyn Platform>);

fn sized(t: &mut TaskObservation) {
    t.size = Some(SIZE);
}

#[async_trait]
impl Platform for Sized {
    async fn observe(&self, targets: &[Target]) -> crate::platform::Result<Vec<Observed>> {
        let mut seen = self.0.observe(targets).await?;
        for o in &mut seen {
            if let Observed::Found(s) = o {
                s.size = Some(SIZE);
                s.tasks.iter_mut().for_each(sized);
            }
        }
        Ok(seen)
    }
    async fn scale(&self, target: &Target, replicas: u32) -> crate::platform::Result<()> {
        self.0.scale(target, replicas).await
    }
    async fn describe_tasks(
        &self,
        target: &Target,
        arns: &[String],
    ) -> crate::platform::Result<Vec<TaskObservation>> {
        let mut found = self.0.describe_tasks(target, arns).await?;
        found.iter_mut().for_each(sized);
        Ok(found)
    }
}

#[tokio::test(start_paused = true)]
async fn a_wake_and_a_sleep_leave_the_billed_seconds_and_no_write_per_pass() {
    let w = world();
    let rates = PriceTable::builtin().rates("us-east-1").unwrap();
    let reconciler = Reconciler {
        platform: Arc::new(Sized(w.sim.clone())),
        ..w.reconciler.clone()
    }
    .with_prices(rates);
    let pass = || reconciler.reconcile(Scope::All);
    w.add(Record::test("demo"));
    let t0 = w.clock.now();
    pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));
    let ledger = w.store.status("demo").unwrap().ledger;
    assert_eq!(
        ledger.counted_until,
        Some(t0),
        "the first pass starts the ledger"
    );

    w.wake("demo").await;
    for _ in 0..8 {
        pass().await;
        w.advance(5);
    }
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let ready = w.store.status("demo").unwrap();
    assert_eq!(ready.ledger.tasks.len(), 1, "{:?}", ready.ledger);

    // Ready, nothing changes for ten minutes: passes every minute write nothing, although
    // the task's seconds go on (they are counted from the stored ledger when it is written).
    let writes = w.store.publishes();
    for _ in 0..10 {
        w.advance(60);
        let r = pass().await;
        assert!(!r.record("demo").unwrap().published, "{r:?}");
    }
    assert_eq!(w.store.publishes(), writes);

    // Idle: Sleeping, then Asleep once the task stopped; a few more passes.
    w.advance(5 * 60);
    pass().await;
    assert_eq!(w.phase("demo"), Some(Phase::Sleeping));
    for _ in 0..6 {
        w.advance(10);
        pass().await;
    }
    assert_eq!(w.phase("demo"), Some(Phase::Asleep));

    // The task as the platform reports it now (looked up by ARN: a service asleep with no
    // task left is not listed).
    let status = w.store.status("demo").unwrap();
    let l = &status.ledger;
    assert_eq!(l.tasks.len(), 1, "{l:?}");
    assert!(l.tasks.iter().all(|t| t.stopped), "{l:?}");
    let target = Record::test("demo").spec.target;
    let known = w
        .sim
        .describe_tasks(&target, &[l.tasks[0].arn.clone()])
        .await
        .unwrap();
    let task_seconds: f64 = l.months.iter().map(|m| m.task_seconds).sum();
    let unaccounted: u32 = l.months.iter().map(|m| m.unaccounted_tasks).sum();
    let billed = match known.first() {
        // The platform knows stopped tasks by ARN: the stop was seen, counted to the second.
        Some(task) => {
            let stopped_at = task.stopped_at.expect("the task stopped");
            let billed = stopped_at.since(billed_from(task).unwrap()).as_secs_f64();
            assert!(billed > 15.0 * 60.0, "{billed}");
            assert!(
                (task_seconds - billed).abs() < 1e-6,
                "{task_seconds} != {billed}"
            );
            assert_eq!(unaccounted, 0);
            billed
        }
        // A platform that knows no stopped task by ARN (the simulation before it implements
        // `describe_tasks`): the task vanished once no longer listed, and was closed at the
        // last pass that wrote it (every pass writes while its stop is under way): at most one
        // pass (10 s) short, reported.
        None => {
            let t = &l.tasks[0];
            let counted = t.counted_until.since(t.billed_from).as_secs_f64();
            assert!(
                (task_seconds - counted).abs() < 1e-6,
                "{task_seconds} != {counted}"
            );
            assert!(counted > 15.0 * 60.0, "{counted}");
            let stop_seen_by = w.clock.now().since(t.counted_until).as_secs_f64();
            assert!(stop_seen_by <= 6.0 * 10.0, "{stop_seen_by}");
            assert_eq!(unaccounted, 1);
            counted
        }
    };
    let always_on: f64 = l.months.iter().map(|m| m.always_on_seconds).sum();
    let covered = l.counted_until.unwrap().since(t0).as_secs_f64();
    assert!(
        (always_on - covered).abs() < 1e-6,
        "{always_on} != {covered}"
    );
    let cost: f64 = l.months.iter().filter_map(|m| m.cost).sum();
    // The simulated task has a public address (once its ENI has one): the IPv4 charge is
    // added for the seconds it had it, which is all of them from `startedAt` on.
    let (low, high) = (billed * HOURLY / 3600.0, billed * (HOURLY + 0.005) / 3600.0);
    assert!(
        cost > low + 1e-9 && cost <= high + 1e-9,
        "{low} < {cost} <= {high}"
    );
    let always_on_cost: f64 = l.months.iter().filter_map(|m| m.always_on_cost).sum();
    // Always on, a task of a record whose endpoint is public would have a public address.
    assert_eq!(
        Record::test("demo").spec.endpoint.address,
        crate::model::AddressKind::Public
    );
    let hourly = HOURLY + 0.005;
    assert!(
        (always_on_cost - covered * hourly / 3600.0).abs() < 1e-9,
        "{always_on_cost}"
    );
    let wakes: u32 = l.months.iter().map(|m| m.wakes).sum();
    assert_eq!(wakes, 1);
    let seconds: Vec<f64> = l
        .months
        .iter()
        .flat_map(|m| m.wake_seconds.clone())
        .collect();
    assert_eq!(seconds, vec![status.last_wake.unwrap().seconds]);
}
