//! The ledger's arithmetic ([`super::count`], [`super::needs_write`]): table tests and a
//! property test that no task-second is counted twice or lost.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::model::ledger::{Ledger, LedgerMonth, LedgerTask};
use crate::platform::{Arch, TaskStatus};
use crate::reconcile::prices::PriceTable;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// 0.25 vCPU, 0.5 GB, ARM64: $0.009875 an hour in us-east-1 (docs/cost.md).
const SIZE: TaskSize = TaskSize {
    vcpu: 0.25,
    memory_gb: 0.5,
    arch: Arch::Arm64,
};
const HOURLY: f64 = 0.009875;

fn rates() -> Rates {
    PriceTable::builtin().rates("us-east-1").unwrap()
}

/// A task pulled at `from`, stopped at `stop` (if any), of [`SIZE`], without a public address.
fn task(arn: &str, from: Timestamp, stop: Option<Timestamp>) -> TaskObservation {
    let status = if stop.is_some() {
        TaskStatus::Stopped
    } else {
        TaskStatus::Running
    };
    let mut t = TaskObservation::new(arn, status, status);
    t.created_at = Some(from.sub(secs(10)));
    t.pull_started_at = Some(from);
    t.started_at = Some(from.add(secs(5)));
    t.stopped_at = stop;
    t.size = Some(SIZE);
    t
}

fn service(tasks: Vec<TaskObservation>) -> ServiceObservation {
    let mut s = ServiceObservation::new(1, 0, 0, tasks);
    s.size = Some(SIZE);
    s
}

/// One count with `replicas` always on, priced when `rates` is given, nothing to describe.
fn pass(
    prev: &Ledger,
    svc: &ServiceObservation,
    replicas: u32,
    rates: Option<&Rates>,
    now: Timestamp,
) -> Ledger {
    let input = LedgerInput {
        always_on_replicas: replicas,
        always_on_public_ip: false,
        service: svc,
        described: Some(&[]),
        rates,
        wake: None,
        minimum: true,
    };
    count(prev, &input, now)
}

fn month<'a>(l: &'a Ledger, key: &str) -> &'a LedgerMonth {
    l.month(key)
        .unwrap_or_else(|| panic!("no month {key} in {l:#?}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn total_task_seconds(l: &Ledger) -> f64 {
    l.months.iter().map(|m| m.task_seconds).sum()
}

#[test]
fn the_first_count_only_starts_the_ledger() {
    let now = at("2026-12-04T10:00:00.000Z");
    let running = task("t1", now.sub(secs(3600)), None);
    let l = pass(
        &Ledger::default(),
        &service(vec![running]),
        1,
        Some(&rates()),
        now,
    );
    assert_eq!(l.counted_until, Some(now));
    assert_eq!(total_task_seconds(&l), 0.0);
    assert_eq!(l.tasks.len(), 1);
    assert_eq!(l.tasks[0].counted_until, now);
    assert_eq!(l.tasks[0].billed_from, now.sub(secs(3600)));
    // The next pass counts from there.
    let l = pass(
        &l,
        &service(vec![task("t1", now.sub(secs(3600)), None)]),
        1,
        None,
        now.add(secs(60)),
    );
    assert_eq!(month(&l, "2026-12").task_seconds, 60.0);
    assert_eq!(month(&l, "2026-12").always_on_seconds, 60.0);
}

#[test]
fn a_task_spanning_a_month_boundary_is_split_at_midnight_utc() {
    let r = rates();
    let t0 = at("2026-11-30T23:00:00.000Z");
    let pull = at("2026-11-30T23:30:00.000Z");
    let stop = at("2026-12-01T00:15:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, Some(&r), t0);
    let l = pass(
        &l,
        &service(vec![task("t1", pull, None)]),
        1,
        Some(&r),
        at("2026-11-30T23:45:00.000Z"),
    );
    let l = pass(
        &l,
        &service(vec![task("t1", pull, Some(stop))]),
        1,
        Some(&r),
        at("2026-12-01T00:30:00.000Z"),
    );
    let (nov, dec) = (month(&l, "2026-11"), month(&l, "2026-12"));
    assert_eq!((nov.task_seconds, dec.task_seconds), (1800.0, 900.0));
    assert_eq!(
        (nov.always_on_seconds, dec.always_on_seconds),
        (3600.0, 1800.0)
    );
    assert!(
        close(nov.cost.unwrap(), 1800.0 * HOURLY / 3600.0),
        "{nov:?}"
    );
    assert!(close(dec.cost.unwrap(), 900.0 * HOURLY / 3600.0), "{dec:?}");
    assert!(close(nov.always_on_cost.unwrap(), HOURLY));
    assert!(close(dec.saved().unwrap(), 900.0 * HOURLY / 3600.0));
    assert!(l.tasks[0].stopped);
    assert_eq!(l.tasks[0].counted_until, stop);
    assert_eq!(
        l.months
            .iter()
            .map(|m| m.month.as_str())
            .collect::<Vec<_>>(),
        ["2026-11", "2026-12"]
    );
}

#[test]
fn a_skipped_pass_is_made_up_by_the_next() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let pull = t0.add(secs(10));
    let svc = |now: Timestamp| {
        let stop = t0.add(secs(200));
        service(vec![task("t1", pull, (now >= stop).then_some(stop))])
    };
    let run = |times: &[u64]| {
        let mut l = Ledger::default();
        for &s in times {
            let now = t0.add(secs(s));
            l = pass(&l, &svc(now), 1, Some(&rates()), now);
        }
        l
    };
    let every = run(&[0, 60, 120, 180, 240]);
    let skipped = run(&[0, 60, 240]);
    assert_eq!(month(&every, "2026-12").task_seconds, 190.0);
    assert_eq!(month(&skipped, "2026-12").task_seconds, 190.0);
    assert_eq!(month(&skipped, "2026-12").always_on_seconds, 240.0);
    assert!(close(
        month(&every, "2026-12").cost.unwrap(),
        month(&skipped, "2026-12").cost.unwrap()
    ));
}

#[test]
fn a_task_seen_by_two_overlapping_passes_is_counted_once() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let pull = t0.add(secs(10));
    let stored = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    // Two passes read the same stored ledger; the one at 100 s publishes first. The one at
    // 90 s loses the compare-and-swap; decided again from the fresh read, it adds nothing.
    let svc = service(vec![task("t1", pull, None)]);
    let first = pass(&stored, &svc, 1, None, t0.add(secs(100)));
    let late = pass(&first, &svc, 1, None, t0.add(secs(90)));
    assert_eq!(late, first);
    assert_eq!(month(&first, "2026-12").task_seconds, 90.0);
    // And the same pass seen twice at the same time adds nothing either.
    assert_eq!(pass(&first, &svc, 1, None, t0.add(secs(100))), first);
}

#[test]
fn a_task_started_out_of_band_between_passes_is_counted_whole() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    // Started and stopped between two passes 5 minutes apart (someone ran it by hand).
    let t = task("oob", t0.add(secs(30)), Some(t0.add(secs(150))));
    let l = pass(&l, &service(vec![t.clone()]), 1, None, t0.add(secs(300)));
    assert_eq!(month(&l, "2026-12").task_seconds, 120.0);
    // Listed again while ECS still lists it: nothing more.
    let again = pass(&l, &service(vec![t]), 1, None, t0.add(secs(360)));
    assert_eq!(month(&again, "2026-12").task_seconds, 120.0);
}

#[test]
fn replicas_two_count_twice_the_always_on_time() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 2, Some(&rates()), t0);
    let both = vec![task("a", t0, None), task("b", t0.add(secs(30)), None)];
    let l = pass(&l, &service(both), 2, Some(&rates()), t0.add(secs(600)));
    let m = month(&l, "2026-12");
    assert_eq!(m.always_on_seconds, 1200.0);
    assert_eq!(m.task_seconds, 1170.0);
    assert!(close(m.always_on_cost.unwrap(), 1200.0 * HOURLY / 3600.0));
    assert!(close(m.saved().unwrap(), 30.0 * HOURLY / 3600.0));
    // mode off: nothing would run always on.
    let mut spec = crate::model::Record::test("x").spec;
    spec.replicas = 2;
    assert_eq!(always_on_replicas(&spec), 2);
    spec.mode = crate::model::Mode::Off;
    assert_eq!(always_on_replicas(&spec), 0);
}

#[test]
fn a_short_task_is_billed_the_one_minute_minimum_at_its_stop() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, Some(&rates()), t0);
    let short = task("short", t0.add(secs(10)), None);
    let l = pass(
        &l,
        &service(vec![short]),
        1,
        Some(&rates()),
        t0.add(secs(20)),
    );
    assert_eq!(month(&l, "2026-12").task_seconds, 10.0);
    let short = task("short", t0.add(secs(10)), Some(t0.add(secs(30))));
    let long = task("long", t0.add(secs(10)), Some(t0.add(secs(100))));
    let l = pass(
        &l,
        &service(vec![short, long]),
        1,
        Some(&rates()),
        t0.add(secs(120)),
    );
    let m = month(&l, "2026-12");
    assert_eq!(m.task_seconds, 60.0 + 90.0);
    assert!(close(m.cost.unwrap(), 150.0 * HOURLY / 3600.0));
    assert!(l.tasks.iter().all(|t| t.stopped));
}

#[test]
fn a_vanished_task_is_closed_where_it_was_counted_and_reported() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    let l = pass(
        &l,
        &service(vec![task("t1", t0, None)]),
        1,
        None,
        t0.add(secs(300)),
    );
    assert_eq!(to_describe(&l, &service(vec![])), vec!["t1".to_string()]);
    // The lookup failed: the task stays open.
    let input = |described| LedgerInput {
        always_on_replicas: 1,
        always_on_public_ip: false,
        service: &EMPTY,
        described,
        rates: None,
        wake: None,
        minimum: true,
    };
    static EMPTY: std::sync::LazyLock<ServiceObservation> =
        std::sync::LazyLock::new(|| service(vec![]));
    let open = count(&l, &input(None), t0.add(secs(400)));
    assert!(!open.tasks[0].stopped);
    assert_eq!(open.tasks[0].counted_until, t0.add(secs(300)));
    assert_eq!(month(&open, "2026-12").unaccounted_tasks, 0);
    // Looked up by ARN: stopped at 350 s, counted to there.
    let found = [task("t1", t0, Some(t0.add(secs(350))))];
    let stopped = count(&open, &input(Some(&found)), t0.add(secs(500)));
    assert_eq!(month(&stopped, "2026-12").task_seconds, 350.0);
    assert!(stopped.tasks[0].stopped);
    // Not known by ARN either: closed at 300 s, reported, never guessed.
    let gone = count(&open, &input(Some(&[])), t0.add(secs(500)));
    assert_eq!(month(&gone, "2026-12").task_seconds, 300.0);
    assert_eq!(month(&gone, "2026-12").unaccounted_tasks, 1);
    assert!(gone.tasks[0].stopped);
    assert!(needs_write(&open, &gone, t0.add(secs(500))));
}

#[test]
fn stopped_tasks_are_kept_two_hours_and_never_counted_again() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let stop = t0.add(secs(120));
    let t = task("t1", t0.add(secs(60)), Some(stop));
    let l = pass(&Ledger::default(), &service(vec![]), 0, None, t0);
    let l = pass(&l, &service(vec![t.clone()]), 0, None, t0.add(secs(180)));
    assert_eq!(l.tasks.len(), 1);
    let later = stop.add(STOPPED_TASK_KEPT).add(secs(1));
    let l = pass(&l, &service(vec![]), 0, None, later);
    assert!(l.tasks.is_empty());
    // A listing that still shows it (longer than ECS promises) counts nothing.
    let l = pass(&l, &service(vec![t]), 0, None, later.add(secs(60)));
    assert!(l.tasks.is_empty());
    assert_eq!(month(&l, "2026-12").task_seconds, 60.0);
}

#[test]
fn billing_starts_at_the_pull_else_at_the_start_and_not_while_provisioning() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    let mut provisioning = TaskObservation::new("p", TaskStatus::Provisioning, TaskStatus::Running);
    provisioning.created_at = Some(t0);
    let mut no_pull = task("s", t0.add(secs(20)), None);
    no_pull.pull_started_at = None; // started_at is 25 s
    let never_pulled = {
        let mut t = TaskObservation::new("f", TaskStatus::Stopped, TaskStatus::Stopped);
        t.created_at = Some(t0);
        t.stopped_at = Some(t0.add(secs(5)));
        t
    };
    let l = pass(
        &l,
        &service(vec![provisioning, no_pull, never_pulled]),
        1,
        None,
        t0.add(secs(100)),
    );
    assert_eq!(
        l.tasks.iter().map(|t| t.arn.as_str()).collect::<Vec<_>>(),
        ["s"]
    );
    assert_eq!(month(&l, "2026-12").task_seconds, 75.0);
}

#[test]
fn without_rates_or_size_only_seconds_are_counted() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    let l = pass(
        &l,
        &service(vec![task("t1", t0, None)]),
        1,
        None,
        t0.add(secs(60)),
    );
    let m = month(&l, "2026-12");
    assert_eq!((m.task_seconds, m.always_on_seconds), (60.0, 60.0));
    assert_eq!((m.cost, m.always_on_cost), (None, None));
    assert_eq!(
        (m.unpriced_task_seconds, m.unpriced_always_on_seconds),
        (60.0, 60.0)
    );
    // Rates but no size anywhere: seconds only too.
    let mut unsized_task = task("t2", t0, None);
    unsized_task.size = None;
    let svc = ServiceObservation::new(1, 1, 0, vec![unsized_task]);
    let l = pass(&Ledger::default(), &service(vec![]), 1, Some(&rates()), t0);
    let l = pass(&l, &svc, 1, Some(&rates()), t0.add(secs(60)));
    assert_eq!(month(&l, "2026-12").cost, None);
    assert_eq!(month(&l, "2026-12").unpriced_task_seconds, 60.0);
    // The public IPv4 charge is added for a task with a public address.
    let mut public = task("t3", t0, None);
    public.public_ip = Some("203.0.113.9".into());
    let l = pass(&Ledger::default(), &service(vec![]), 0, Some(&rates()), t0);
    let l = pass(
        &l,
        &service(vec![public]),
        0,
        Some(&rates()),
        t0.add(secs(3600)),
    );
    assert!(close(month(&l, "2026-12").cost.unwrap(), HOURLY + 0.005));
}

#[test]
fn months_are_kept_sorted_for_thirteen_months() {
    let now = at("2026-12-04T10:00:00.000Z");
    let mut l = Ledger {
        counted_until: Some(now.sub(secs(60))),
        ..Ledger::default()
    };
    // 2025-08 .. 2026-11, stored out of order.
    let mut keys: Vec<String> = (0..16)
        .map(|i| {
            let m = 2025 * 12 + 7 + i;
            format!("{:04}-{:02}", m / 12, m % 12 + 1)
        })
        .collect();
    keys.reverse();
    l.months = keys
        .iter()
        .map(|k| LedgerMonth {
            month: k.clone(),
            task_seconds: 1.0,
            ..LedgerMonth::default()
        })
        .collect();
    let l = pass(&l, &service(vec![]), 1, None, now);
    let kept: Vec<&str> = l.months.iter().map(|m| m.month.as_str()).collect();
    assert_eq!(kept.len(), crate::model::ledger::RETENTION_MONTHS);
    assert_eq!(kept.first(), Some(&"2025-12"));
    assert_eq!(kept.last(), Some(&"2026-12"));
    assert!(kept.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
}

#[test]
fn a_completed_wake_is_counted_in_the_month_it_became_ready() {
    let t0 = at("2026-12-31T23:59:30.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    let wake = LastWake {
        requested_at: t0,
        ready_at: at("2027-01-01T00:00:10.000Z"),
        seconds: 40.0,
    };
    let svc = service(vec![]);
    let input = LedgerInput {
        always_on_replicas: 1,
        always_on_public_ip: false,
        service: &svc,
        described: Some(&[]),
        rates: None,
        wake: Some(&wake),
        minimum: true,
    };
    let next = count(&l, &input, at("2027-01-01T00:00:12.000Z"));
    assert_eq!(month(&next, "2027-01").wakes, 1);
    assert_eq!(month(&next, "2027-01").wake_seconds, vec![40.0]);
    assert!(needs_write(&l, &next, at("2027-01-01T00:00:12.000Z")));
}

#[test]
fn fields_of_the_budget_guardrail_are_copied_through() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let mut l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    l.months = vec![LedgerMonth {
        month: "2026-12".into(),
        forced_over_budget: 2,
        budget_reached_at: Some(t0),
        ..LedgerMonth::default()
    }];
    let next = pass(&l, &service(vec![]), 1, None, t0.add(secs(60)));
    assert_eq!(month(&next, "2026-12").forced_over_budget, 2);
    assert_eq!(month(&next, "2026-12").budget_reached_at, Some(t0));
    assert_eq!(month(&next, "2026-12").always_on_seconds, 60.0);
}

#[test]
fn a_steady_running_task_is_written_once_an_hour() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let svc = service(vec![task("t1", t0, None)]);
    let first = pass(
        &Ledger::default(),
        &service(vec![]),
        1,
        None,
        t0.sub(secs(60)),
    );
    let started = pass(&first, &svc, 1, None, t0.add(secs(30)));
    assert!(
        needs_write(&first, &started, t0.add(secs(30))),
        "a task started"
    );
    let mut writes = 0;
    let mut stored = started;
    for minute in 1..=120u64 {
        let now = t0.add(secs(30 + 60 * minute));
        let next = pass(&stored, &svc, 1, None, now);
        if needs_write(&stored, &next, now) {
            writes += 1;
            stored = next;
        }
    }
    assert_eq!(writes, 2, "one write per FLUSH_INTERVAL");
    // Deferring lost nothing: the last write covers everything up to it.
    let cu = stored.counted_until.unwrap();
    assert_eq!(total_task_seconds(&stored), cu.since(t0).as_secs_f64());
    // The month changing forces a write.
    let l = Ledger {
        counted_until: Some(at("2026-12-31T23:59:00.000Z")),
        ..Ledger::default()
    };
    let next = pass(
        &l,
        &service(vec![]),
        1,
        None,
        at("2027-01-01T00:00:00.000Z"),
    );
    assert!(needs_write(&l, &next, at("2027-01-01T00:00:00.000Z")));
    assert!(!needs_write(&l, &l, at("2026-12-31T23:59:30.000Z")));
    // The first count is written.
    assert!(needs_write(&Ledger::default(), &first, t0));
}

#[derive(Clone, Debug)]
struct Life {
    start_ms: i64,
    run_ms: i64,
}

/// One step of the schedule: how long after the previous pass (ms), whether the pass's status
/// write is wanted anyway (its status changed), and an overlapping pass that loses the
/// compare-and-swap (its offset from this one, ms; negative: earlier).
#[derive(Clone, Debug)]
struct Step {
    gap_ms: i64,
    changed: bool,
    overlap: Option<i64>,
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            1i64..600_000,
            any::<bool>(),
            proptest::option::of(-120_000i64..120_000),
        )
            .prop_map(|(gap_ms, changed, overlap)| Step {
                gap_ms,
                changed,
                overlap,
            }),
        1..40,
    )
}

fn arb_lives() -> impl Strategy<Value = Vec<Life>> {
    proptest::collection::vec(
        (1i64..3_600_000, 1i64..1_800_000).prop_map(|(start_ms, run_ms)| Life { start_ms, run_ms }),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Across random pass timings (skipped writes under the flush policy, overlapping passes
    /// that lose the compare-and-swap, out-of-order ones), task lifetimes and a listing that
    /// shows stopped tasks for a random while (ECS's is about an hour; a tracked task missing
    /// from it is looked up by ARN, which knows it for an hour): the ledger holds exactly the
    /// billed seconds (each task's run, at least a minute) of every task a published pass saw,
    /// and always-on exactly the time the ledger covered, whatever month split.
    #[test]
    fn no_task_second_is_counted_twice_or_lost(
        lives in arb_lives(),
        steps in arb_steps(),
        list_window_ms in 0i64..3_600_000,
    ) {
        let t0 = at("2026-12-31T23:30:00.000Z");
        let ms = |x: i64| Timestamp::from_millis(t0.as_millis() + x);
        // What ECS shows at `now`: tasks pulled by then; stopped ones listed with the service
        // for `list_window_ms` after their stop, known by ARN for an hour.
        let observe = |now: Timestamp| {
            let mut listed = Vec::new();
            let mut known = Vec::new();
            for (i, l) in lives.iter().enumerate() {
                let (from, stop) = (ms(l.start_ms), ms(l.start_ms + l.run_ms));
                let since_stop = now.as_millis() - stop.as_millis();
                if from > now || since_stop > 3_600_000 {
                    continue;
                }
                let t = task(&format!("t{i}"), from, (stop <= now).then_some(stop));
                if since_stop <= list_window_ms {
                    listed.push(t.clone());
                }
                known.push(t);
            }
            (service(listed), known)
        };
        let run = |stored: &Ledger, now: Timestamp| {
            let (svc, known) = observe(now);
            let ask = to_describe(stored, &svc);
            let described: Vec<TaskObservation> =
                known.into_iter().filter(|t| ask.contains(&t.arn)).collect();
            let input = LedgerInput {
                always_on_replicas: 1,
                always_on_public_ip: false,
                service: &svc,
                described: Some(&described),
                rates: None,
                wake: None,
                minimum: true,
            };
            let listed: Vec<String> = svc.tasks.iter().map(|t| t.arn.clone()).collect();
            (count(stored, &input, now), listed)
        };
        let mut seen = std::collections::HashSet::new();
        let (mut stored, listed) = run(&Ledger::default(), t0);
        seen.extend(listed);
        let mut now = t0;
        for step in &steps {
            now = Timestamp::from_millis(now.as_millis() + step.gap_ms);
            if let Some(off) = step.overlap {
                // A pass at another time computed from the same stored ledger; its write loses.
                let _ = run(&stored, Timestamp::from_millis(now.as_millis() + off));
            }
            let (next, listed) = run(&stored, now);
            if step.changed || needs_write(&stored, &next, now) {
                stored = next;
                seen.extend(listed);
            }
            if let Some(off) = step.overlap.filter(|o| *o < 0) {
                // A pass that read the fresh ledger but runs on an earlier clock: adds nothing.
                let cu = stored.counted_until.unwrap();
                let (late, _) = run(&stored, Timestamp::from_millis(cu.as_millis() + off));
                prop_assert_eq!(&late.months, &stored.months);
                stored = late;
            }
        }
        // Passes every 10 minutes until every task stopped, then one more, all written.
        let end = lives.iter().map(|l| l.start_ms + l.run_ms).max().unwrap_or(0);
        loop {
            now = Timestamp::from_millis(now.as_millis() + 600_000);
            let (next, listed) = run(&stored, now);
            stored = next;
            seen.extend(listed);
            if now.as_millis() > t0.as_millis() + end {
                break;
            }
        }
        prop_assert!(stored.tasks.iter().all(|t| t.stopped));
        let want: f64 = (lives.iter().enumerate())
            .filter(|(i, _)| seen.contains(&format!("t{i}")))
            .map(|(_, l)| l.run_ms.max(60_000) as f64 / 1000.0)
            .sum();
        let got = total_task_seconds(&stored);
        prop_assert!(close(got, want), "{} != {}", got, want);
        prop_assert!(stored.months.iter().all(|m| m.unaccounted_tasks == 0));
        let always_on: f64 = stored.months.iter().map(|m| m.always_on_seconds).sum();
        let cu = stored.counted_until.unwrap();
        let covered = (cu.as_millis() - t0.as_millis()) as f64 / 1000.0;
        prop_assert!(close(always_on, covered), "{} != {}", always_on, covered);
        // Always-on in December is exactly the half hour before the month boundary.
        let dec = stored.month("2026-12").map_or(0.0, |m| m.always_on_seconds);
        prop_assert!(close(dec, 1800.0_f64.min(covered)), "{}", dec);
    }
}

#[test]
fn a_ledger_task_round_trips() {
    // The shape the integrator's `snoozectl cost` reads.
    let t = LedgerTask {
        arn: "t".into(),
        billed_from: at("2026-12-04T10:00:00.000Z"),
        counted_until: at("2026-12-04T10:01:00.000Z"),
        stopped: true,
        public_ip: false,
    };
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["billedFrom"], "2026-12-04T10:00:00.000Z");
    assert_eq!(json["stopped"], true);
}

#[test]
fn a_hand_edited_ledger_has_its_months_sorted_merged_and_checked() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let mut l = pass(&Ledger::default(), &service(vec![]), 1, None, t0);
    let dec = |task_seconds, cost, wakes: Vec<f64>| LedgerMonth {
        month: "2026-12".into(),
        task_seconds,
        cost,
        wakes: wakes.len() as u32,
        wake_seconds: wakes,
        ..LedgerMonth::default()
    };
    l.months = vec![
        dec(10.0, None, vec![30.0]),
        LedgerMonth {
            month: "2026-11".into(),
            task_seconds: 7.0,
            ..LedgerMonth::default()
        },
        LedgerMonth {
            budget_reached_at: Some(t0),
            ..dec(5.0, Some(0.25), vec![40.0])
        },
        LedgerMonth {
            month: "Dec 2026".into(),
            task_seconds: 99.0,
            ..LedgerMonth::default()
        },
        LedgerMonth {
            month: "2026-13".into(),
            task_seconds: 99.0,
            ..LedgerMonth::default()
        },
    ];
    let next = pass(&l, &service(vec![]), 1, None, t0.add(secs(60)));
    let keys: Vec<&str> = next.months.iter().map(|m| m.month.as_str()).collect();
    assert_eq!(keys, vec!["2026-11", "2026-12"], "{next:#?}");
    let m = month(&next, "2026-12");
    assert_eq!(m.task_seconds, 15.0);
    assert_eq!(m.cost, Some(0.25));
    assert_eq!((m.wakes, m.wake_seconds.clone()), (2, vec![30.0, 40.0]));
    assert_eq!(m.budget_reached_at, Some(t0));
    // This pass's always-on seconds went to the one December entry.
    assert_eq!(m.always_on_seconds, 60.0);
    assert_eq!(month(&next, "2026-11").task_seconds, 7.0);
}

/// A task of [`SIZE`] with a public address (its ENI's).
fn public(mut t: TaskObservation) -> TaskObservation {
    t.public_ip = Some("203.0.113.7".into());
    t
}

#[test]
fn a_task_seen_with_a_public_address_keeps_the_ipv4_charge_to_its_stop() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let r = rates();
    let l = pass(&Ledger::default(), &service(vec![]), 0, Some(&r), t0);
    let from = t0.add(secs(5));
    let running = service(vec![public(task("t1", from, None))]);
    let l = pass(&l, &running, 0, Some(&r), t0.add(secs(20)));
    assert!(l.tasks[0].public_ip, "{l:?}");
    // First seen with the address: worth a write (the stop will not show it any more).
    let mut unseen = l.clone();
    unseen.tasks[0].public_ip = false;
    assert!(needs_write(&unseen, &l, t0.add(secs(20))));
    // Stopped 30 s after the pull: no ENI, no address reported any more.
    let stopped = service(vec![task("t1", from, Some(from.add(secs(30))))]);
    let l = pass(&l, &stopped, 0, Some(&r), t0.add(secs(60)));
    let m = month(&l, "2026-12");
    // 30 s and the 30 s of the minimum, all with the IPv4 charge.
    assert_eq!(m.task_seconds, 60.0);
    let want = 60.0 * (HOURLY + 0.005) / 3600.0;
    assert!(close(m.cost.unwrap(), want), "{:?} != {want}", m.cost);
    let json = serde_json::to_value(&l.tasks[0]).unwrap();
    assert_eq!(json["publicIp"], true);
    // Without an address: false, and omitted.
    let private = pass(
        &pass(&Ledger::default(), &service(vec![]), 0, None, t0),
        &service(vec![task("t2", from, None)]),
        0,
        None,
        t0.add(secs(20)),
    );
    assert!(!private.tasks[0].public_ip);
    assert!(
        serde_json::to_value(&private.tasks[0])
            .unwrap()
            .get("publicIp")
            .is_none()
    );
}

#[test]
fn the_one_minute_minimum_is_for_fargate_only() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let l = pass(&Ledger::default(), &service(vec![]), 0, None, t0);
    let from = t0.add(secs(5));
    let l = pass(
        &l,
        &service(vec![task("p1", from, None)]),
        0,
        None,
        t0.add(secs(10)),
    );
    let stopped = service(vec![task("p1", from, Some(from.add(secs(12))))]);
    let count_with = |minimum| {
        let input = LedgerInput {
            always_on_replicas: 0,
            always_on_public_ip: false,
            service: &stopped,
            described: Some(&[]),
            rates: None,
            wake: None,
            minimum,
        };
        count(&l, &input, t0.add(secs(60)))
    };
    // A local process: its real 12 s.
    assert_eq!(month(&count_with(false), "2026-12").task_seconds, 12.0);
    // An ECS task: billed a minute.
    assert_eq!(month(&count_with(true), "2026-12").task_seconds, 60.0);
}

#[test]
fn a_budgeted_ledger_is_worth_a_write_when_its_cost_changed_not_its_always_on() {
    let t0 = at("2026-12-04T10:00:00.000Z");
    let r = rates();
    let l = pass(&Ledger::default(), &service(vec![]), 1, Some(&r), t0);
    // Asleep: only always-on money grows.
    let asleep = pass(&l, &service(vec![]), 1, Some(&r), t0.add(secs(60)));
    assert!(month(&asleep, "2026-12").always_on_cost.is_some());
    assert!(!money_changed(&l, &asleep));
    // A task runs: its cost grows every pass.
    let from = t0.add(secs(60));
    let one = pass(
        &asleep,
        &service(vec![task("t1", from, None)]),
        1,
        Some(&r),
        t0.add(secs(120)),
    );
    let two = pass(
        &one,
        &service(vec![task("t1", from, None)]),
        1,
        Some(&r),
        t0.add(secs(180)),
    );
    assert!(money_changed(&asleep, &one));
    assert!(money_changed(&one, &two));
    assert!(
        !needs_write(&one, &two, t0.add(secs(180))),
        "the hourly flush alone would wait"
    );
}
