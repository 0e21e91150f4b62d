//! The ledger through real passes on the simulated ECS: a wake and a sleep leave the task's
//! billed seconds, the always-on comparison and the wake, priced; a running task costs no
//! status write per pass (the flush policy).
//!
//! The simulated tasks have the sim's default size ([`SIZE`]) and report `pullStartedAt`; the
//! expected seconds are taken from the stopped task as the platform describes it by ARN, and
//! the expected money from the hand-computed hourly price of docs/cost.md's demo task.

use super::ledger::billed_from;
use super::prices::PriceTable;
use super::tests_pass::world;
use super::*;
use crate::model::{Phase, Record};
use crate::platform::{Arch, Platform, TaskSize};

/// 0.25 vCPU, 0.5 GB, ARM64 (the sim's default): 0.25 · $0.03238 + 0.5 · $0.00356 = $0.009875
/// an hour in us-east-1, $0.014875 with the public IPv4 charge (docs/cost.md's `r_task`).
const SIZE: TaskSize = TaskSize {
    vcpu: 0.25,
    memory_gb: 0.5,
    arch: Arch::Arm64,
};
const HOURLY: f64 = 0.009875;

#[tokio::test(start_paused = true)]
async fn a_wake_and_a_sleep_leave_the_billed_seconds_and_no_write_per_pass() {
    let w = world();
    let rates = PriceTable::builtin().rates("us-east-1").unwrap();
    assert_eq!(crate::platform::sim::SimConfig::DEFAULT_TASK_SIZE, SIZE);
    let reconciler = w.reconciler.clone().with_prices(rates);
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
    // The platform knows stopped tasks by ARN: the stop was seen, counted to the second.
    let task = known
        .first()
        .expect("the sim describes a stopped task by ARN");
    let stopped_at = task.stopped_at.expect("the task stopped");
    assert_eq!(
        billed_from(task),
        task.pull_started_at,
        "billed from the pull"
    );
    let billed = stopped_at.since(billed_from(task).unwrap()).as_secs_f64();
    assert!(billed > 15.0 * 60.0, "{billed}");
    assert!(
        (task_seconds - billed).abs() < 1e-6,
        "{task_seconds} != {billed}"
    );
    assert_eq!(unaccounted, 0);
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

/// Wakes `demo` (with `budget`, priced in us-east-1) to Ready, then passes every minute for
/// `minutes`: the phase after each pass.
async fn ready_then_minutes(budget: Option<f64>, minutes: usize) -> Vec<Phase> {
    let w = world();
    let rates = PriceTable::builtin().rates("us-east-1").unwrap();
    let reconciler = w.reconciler.clone().with_prices(rates);
    let mut r = Record::test("demo");
    r.spec.budget = budget;
    w.add(r);
    reconciler.reconcile(Scope::All).await;
    w.wake("demo").await;
    for _ in 0..8 {
        reconciler.reconcile(Scope::All).await;
        w.advance(5);
    }
    assert_eq!(w.phase("demo"), Some(Phase::Ready));
    let mut phases = Vec::new();
    for _ in 0..minutes {
        w.advance(60);
        reconciler.reconcile(Scope::All).await;
        phases.push(w.phase("demo").unwrap());
    }
    phases
}

#[tokio::test(start_paused = true)]
async fn a_budgeted_record_is_put_to_sleep_within_a_pass_of_crossing_its_budget() {
    // $0.001 at $0.009875–0.014875 an hour: crossed after 4–6.1 minutes of the task.
    let budget = 0.001;
    let phases = ready_then_minutes(Some(budget), 8).await;
    // Without the budget, the same eight minutes stay Ready (the idle timeout is further).
    let control = ready_then_minutes(None, 8).await;
    assert!(control.iter().all(|p| *p == Phase::Ready), "{control:?}");
    // With it: asleep (or on its way) a pass or two after the crossing, not an hour later
    // when the ledger's hourly flush would have stored the money.
    let first = phases.iter().position(|p| *p != Phase::Ready);
    assert!(
        first.is_some_and(|i| i < 8),
        "still Ready after 8 minutes: {phases:?}"
    );
}
