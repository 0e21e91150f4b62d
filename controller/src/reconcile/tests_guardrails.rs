//! Table tests of the guardrails in `want` and `decide`: rows 3, 4 and 8 of the precedence
//! (DESIGN.md §10): `spec.maxAwake` and `spec.budget`, and a forced wake over the budget.

use std::time::Duration;

use super::classify::*;
use super::decide::*;
use crate::model::ledger::{Ledger, LedgerMonth};
use crate::model::schedule::Schedule;
use crate::model::{
    ConditionStatus, HumanDuration, LocalTarget, Mode, Phase, Record, Status, Target, Timestamp,
};
use crate::platform::{Observed, ServiceObservation, TaskObservation, TaskStatus};

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/aaaa";
const MIN: u64 = 60;
const HOUR: u64 = 3600;

fn t0() -> Timestamp {
    "2026-11-29T10:00:00Z".parse().unwrap()
}
fn at(secs: u64) -> Timestamp {
    t0().add(Duration::from_secs(secs))
}
fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A service with one RUNNING, addressed task created at `created` (Ready without a probe).
fn up(created: Timestamp) -> Observed {
    let mut t = TaskObservation::new(ARN, TaskStatus::Running, TaskStatus::Running);
    t.created_at = Some(created);
    t.started_at = Some(created);
    t.eni_id = Some("eni-0abc".into());
    t.private_ip = Some("10.0.1.7".into());
    t.public_ip = Some("203.0.113.10".into());
    Observed::Found(ServiceObservation {
        desired_count: 1,
        running_count: 1,
        tasks: vec![t],
        ..ServiceObservation::default()
    })
}
fn down() -> Observed {
    Observed::Found(ServiceObservation::default())
}

fn capped(max: Duration) -> Record {
    let mut r = Record::test("d").asleep();
    r.spec.max_awake = Some(HumanDuration(max));
    r
}

/// Runs `decide` and keeps its status, as a pass would; returns the decision.
fn pass(r: &mut Record, o: &Observed, now: Timestamp) -> Decision {
    let d = decide(r, o, now);
    r.status = Some(d.status.clone());
    d
}

fn condition(s: &Status, type_: &str) -> Option<(ConditionStatus, String, String)> {
    s.condition(type_)
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}

// ---- row 8: spec.maxAwake --------------------------------------------------------------

#[test]
fn max_awake_puts_a_busy_service_to_sleep_and_only_a_new_wake_request_starts_a_new_stretch() {
    let mut r = capped(Duration::from_secs(HOUR)).woken_at(at(0));
    // The wake: the stretch starts with the pass that first wants it awake.
    let d = pass(&mut r, &down(), at(0));
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
    assert_eq!(d.status.memo.awake_since, Some(at(0)));
    // Busy all along: activity every five minutes keeps it up, a wake request in the middle
    // of the stretch (a visitor) does not restart it.
    r.desired.wake_requested_at = Some(at(30 * MIN));
    for m in (5..60).step_by(5) {
        r.desired.last_activity_at = Some(at(m * MIN - 10));
        let d = pass(&mut r, &up(at(30)), at(m * MIN));
        assert_eq!(d.status.phase, Phase::Ready, "minute {m}");
        assert_eq!(d.status.memo.awake_since, Some(at(0)), "minute {m}");
        assert!(condition(&d.status, MAX_AWAKE).is_none(), "minute {m}");
        // It sleeps (and is looked at again) when idle or at the cap, whichever comes first.
        let idle = at(30 * MIN)
            .max(at(m * MIN - 10))
            .add(Duration::from_secs(15 * MIN));
        let sleeps = idle.min(at(HOUR));
        assert_eq!(d.status.sleeps_at, Some(sleeps), "minute {m}");
        assert_eq!(
            d.requeue,
            Requeue::After(sleeps.since(at(m * MIN))),
            "minute {m}"
        );
    }
    // An hour after the stretch began: asleep, although activity continues.
    r.desired.last_activity_at = Some(at(60 * MIN - 10));
    let w = want(&r, None, at(60 * MIN));
    assert_eq!((w.awake, w.why), (false, Why::MaxAwake));
    let d = pass(&mut r, &up(at(30)), at(60 * MIN));
    assert_eq!(d.situation, Situation::Asleep { why: Why::MaxAwake });
    assert_eq!((d.status.phase, d.replicas), (Phase::Sleeping, Some(0)));
    assert_eq!(d.status.memo.max_awake_at, Some(at(60 * MIN)));
    assert_eq!(d.status.memo.awake_since, None);
    let (status, reason, message) = condition(&d.status, MAX_AWAKE).unwrap();
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::True, MAX_AWAKE_REACHED)
    );
    assert!(message.contains("awake for 1h"), "{message}");
    assert!(message.contains("next wake request"), "{message}");
    // Activity after the cap does not wake it.
    r.desired.last_activity_at = Some(at(62 * MIN));
    let d = pass(&mut r, &down(), at(63 * MIN));
    assert_eq!((d.status.phase, d.replicas), (Phase::Asleep, Some(0)));
    assert_eq!(d.situation, Situation::Asleep { why: Why::MaxAwake });
    assert!(condition(&d.status, MAX_AWAKE).is_some());
    // A wake request after the cap starts a new stretch.
    r.desired.wake_requested_at = Some(at(70 * MIN));
    let d = pass(&mut r, &down(), at(70 * MIN));
    assert_eq!(
        d.situation,
        Situation::Awake {
            why: Why::WakeRequested
        }
    );
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
    assert_eq!(d.status.memo.awake_since, Some(at(70 * MIN)));
    assert_eq!(d.status.memo.max_awake_at, None);
    assert!(condition(&d.status, MAX_AWAKE).is_none());
}

#[test]
fn max_awake_counts_from_the_pass_that_woke_it_and_a_late_pass_caps_at_the_moment() {
    // Stored stretch began at 0; the runner comes back only at 1h30.
    let mut r = capped(Duration::from_secs(HOUR)).active_at(at(85 * MIN));
    r.status.as_mut().unwrap().memo.awake_since = Some(at(0));
    // A wake request after the cap moment (1h) but before the pass starts a new stretch...
    let woken = r.clone().woken_at(at(80 * MIN));
    assert_eq!(want(&woken, None, at(90 * MIN)).why, Why::Activity);
    // ...one before it does not.
    let early = r.clone().woken_at(at(50 * MIN));
    assert_eq!(want(&early, None, at(90 * MIN)).why, Why::MaxAwake);
    let d = decide(&early, &up(at(30)), at(90 * MIN));
    assert_eq!(d.status.memo.max_awake_at, Some(at(HOUR)));
    // Without spec.maxAwake the same stored stretch means nothing, and is forgotten.
    let mut off = early.clone();
    off.spec.max_awake = None;
    off.status.as_mut().unwrap().memo.max_awake_at = Some(at(HOUR));
    assert_eq!(want(&off, None, at(90 * MIN)).why, Why::Activity);
    let d = decide(&off, &up(at(30)), at(90 * MIN));
    assert_eq!(d.status.memo.awake_since, None);
    assert_eq!(d.status.memo.max_awake_at, None);
    assert!(condition(&d.status, MAX_AWAKE).is_none());
}

#[test]
fn max_awake_does_not_cap_mode_on_a_forced_wake_or_an_awake_window() {
    let mut r = capped(Duration::from_secs(HOUR)).active_at(at(3 * HOUR - 60));
    r.status.as_mut().unwrap().memo.awake_since = Some(at(0));
    let now = at(3 * HOUR);
    assert_eq!(want(&r, None, now).why, Why::MaxAwake);
    // mode on (row 2).
    let on = r.clone().mode(Mode::On);
    assert_eq!(want(&on, None, now).why, Why::ModeOn);
    let d = decide(&on, &up(at(30)), now);
    assert_eq!(d.replicas, Some(1));
    assert_eq!(d.status.memo.awake_since, None, "mode on is no stretch");
    // A forced wake (row 3), kept going by activity.
    let forced = r.clone().forced_at(at(0));
    let w = want(&forced, None, now);
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    // An awake window (row 7) all day.
    let mut windowed = r.clone();
    windowed.spec.schedule = Some(Schedule::test("UTC").awake("Mon-Sun 00:00-23:59"));
    let w = want(&windowed, None, now);
    assert_eq!((w.awake, w.why), (true, Why::AwakeWindow));
    let d = decide(&windowed, &up(at(30)), now);
    assert_eq!(d.status.memo.awake_since, None);
}

#[test]
fn a_group_does_not_lift_max_awake() {
    let mut r = capped(Duration::from_secs(HOUR));
    r.status.as_mut().unwrap().memo.max_awake_at = Some(at(HOUR));
    // Its group wants it awake; its own want is the cap.
    let own = want(&r.clone().active_at(at(2 * HOUR)), None, at(2 * HOUR));
    assert_eq!(own.why, Why::MaxAwake);
    let group = GroupInput {
        want: Some(own),
        ..GroupInput::default()
    };
    let d = decide_in_group(&r, &up(at(30)), at(2 * HOUR), Duration::ZERO, &group);
    assert_eq!(d.replicas, Some(0));
}

// ---- row 4: spec.budget ----------------------------------------------------------------

/// A record with `spec.budget` and this month's (November 2026) cost in its ledger.
fn budgeted(budget: f64, cost: f64) -> Record {
    let mut r = Record::test("d").asleep();
    r.spec.budget = Some(budget);
    r.status.as_mut().unwrap().ledger = Ledger {
        months: vec![LedgerMonth {
            month: "2026-11".into(),
            task_seconds: 36_000.0,
            cost: Some(cost),
            ..LedgerMonth::default()
        }],
        ..Ledger::default()
    };
    r
}
fn month(s: &Status, key: &str) -> LedgerMonth {
    s.ledger.month(key).cloned().unwrap_or_default()
}

#[test]
fn a_reached_budget_keeps_the_service_asleep_until_the_next_month() {
    let december = ts("2026-12-01T00:00:00Z");
    // (budget, cost, awake wanted)
    let cases = [(10.0, 9.99, true), (10.0, 10.0, false), (10.0, 12.5, false)];
    for (budget, cost, awake) in cases {
        let r = budgeted(budget, cost).woken_at(at(0));
        let w = want(&r, None, at(60));
        assert_eq!(w.awake, awake, "{budget} {cost}");
        if !awake {
            assert_eq!(w.why, Why::OverBudget);
            assert_eq!(w.budget_until, Some(december));
            let reached = r.over_budget(at(60)).unwrap();
            assert_eq!((reached.cost, reached.budget), (cost, budget));
            assert_eq!(reached.until, december);
        } else {
            assert_eq!(r.over_budget(at(60)), None);
        }
    }
    // Reached: a wake request is not answered, the condition says why and until when, and the
    // month remembers when it was first reached.
    let mut r = budgeted(10.0, 12.5).woken_at(at(0));
    let d = pass(&mut r, &down(), at(60));
    assert_eq!(
        d.situation,
        Situation::Asleep {
            why: Why::OverBudget
        }
    );
    assert_eq!((d.status.phase, d.replicas), (Phase::Asleep, Some(0)));
    let (status, reason, message) = condition(&d.status, BUDGET).unwrap();
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::True, BUDGET_REACHED)
    );
    assert!(message.contains("$12.50"), "{message}");
    assert!(message.contains("$10.00"), "{message}");
    assert!(message.contains("2026-12-01 00:00 UTC"), "{message}");
    assert_eq!(month(&d.status, "2026-11").budget_reached_at, Some(at(60)));
    let d = pass(&mut r, &down(), at(120));
    assert_eq!(month(&d.status, "2026-11").budget_reached_at, Some(at(60)));
    // It also puts a running service to sleep.
    let d = decide(&r.clone().active_at(at(100)), &up(at(30)), at(120));
    assert_eq!((d.status.phase, d.replicas), (Phase::Sleeping, Some(0)));
    // The next month (nothing counted in it yet, or below the budget): allowed again, and the
    // condition is gone.
    let next = r.clone().woken_at(december);
    let w = want(&next, None, december);
    assert_eq!((w.awake, w.why), (true, Why::WakeRequested));
    assert_eq!(next.over_budget(december), None);
    let d = decide(&next, &down(), december);
    assert_eq!(d.replicas, Some(1));
    assert!(condition(&d.status, BUDGET).is_none());
    let mut counted = next.clone();
    counted
        .status
        .as_mut()
        .unwrap()
        .ledger
        .months
        .push(LedgerMonth {
            month: "2026-12".into(),
            cost: Some(3.0),
            ..LedgerMonth::default()
        });
    assert!(want(&counted, None, december.add(Duration::from_secs(60))).awake);
}

#[test]
fn a_forced_wake_over_the_budget_wins_and_is_counted_once() {
    let mut r = budgeted(10.0, 12.5).forced_at(at(0));
    let w = want(&r, None, at(60));
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    assert_eq!(
        r.over_budget(at(60)),
        None,
        "not refused while the forced wake holds"
    );
    assert!(r.budget_reached(at(60)).is_some());
    let d = pass(&mut r, &down(), at(60));
    assert_eq!(d.replicas, Some(1));
    assert_eq!(month(&d.status, "2026-11").forced_over_budget, 1);
    assert_eq!(d.status.memo.forced_over_budget_at, Some(at(0)));
    let (_, reason, message) = condition(&d.status, BUDGET).unwrap();
    assert_eq!(reason, FORCED_OVER_BUDGET);
    assert!(message.contains("--force"), "{message}");
    // Further passes of the same forced wake do not count it again.
    for s in [120, 180, 5 * MIN] {
        let d = pass(&mut r, &up(at(30)), at(s));
        assert_eq!(d.status.phase, Phase::Ready);
        assert_eq!(month(&d.status, "2026-11").forced_over_budget, 1, "at {s}");
    }
    // When it ends (idle), the budget holds again.
    let d = pass(&mut r, &up(at(30)), at(15 * MIN));
    assert_eq!(
        d.situation,
        Situation::Asleep {
            why: Why::OverBudget
        }
    );
    assert_eq!(condition(&d.status, BUDGET).unwrap().1, BUDGET_REACHED);
    // A second forced wake is counted once more.
    r = r.forced_at(at(HOUR));
    let d = pass(&mut r, &down(), at(HOUR + 60));
    assert_eq!(month(&d.status, "2026-11").forced_over_budget, 2);
    let d = pass(&mut r, &down(), at(HOUR + 120));
    assert_eq!(month(&d.status, "2026-11").forced_over_budget, 2);
}

#[test]
fn a_budget_of_0_is_reached_from_the_start_of_the_month_and_a_forced_wake_still_wins() {
    let december = ts("2026-12-01T00:00:00Z");
    // Nothing counted this month (no ledger at all, or a month without a cost): a budget of 0
    // is reached all the same, so no visitor's wake is ever billed.
    let mut fresh = Record::test("d").asleep();
    fresh.spec.budget = Some(0.0);
    let mut unpriced = budgeted(0.0, 0.0);
    unpriced.status.as_mut().unwrap().ledger.months[0].cost = None;
    for r in [fresh, unpriced, budgeted(0.0, 0.0)] {
        let woken = r.clone().woken_at(at(0));
        let w = want(&woken, None, at(60));
        assert_eq!((w.awake, w.why), (false, Why::OverBudget));
        assert_eq!(w.budget_until, Some(december));
        let reached = woken.over_budget(at(60)).unwrap();
        assert_eq!((reached.month.as_str(), reached.cost), ("2026-11", 0.0));
        let d = decide(&woken, &down(), at(60));
        assert_ne!(d.replicas, Some(1));
        // `snoozectl wake --force` overrides it.
        let forced = r.clone().forced_at(at(0));
        assert_eq!(want(&forced, None, at(60)).why, Why::Forced);
        assert_eq!(decide(&forced, &down(), at(60)).replicas, Some(1));
    }
    // A local target is never held by a budget, 0 included.
    let mut local = Record::test("d").asleep().woken_at(at(0));
    local.spec.budget = Some(0.0);
    local.spec.target = Target::Local(LocalTarget {
        command: "./app".into(),
        args: vec![],
        env: Default::default(),
        working_dir: None,
        port: 8081,
    });
    assert_eq!(local.budget_reached(at(60)), None);
    assert!(want(&local, None, at(60)).awake);
}

#[test]
fn mode_on_and_a_local_target_are_not_held_by_the_budget() {
    let r = budgeted(10.0, 12.5).woken_at(at(0));
    // mode on (row 2): awake; the condition says the budget is reached but not enforced.
    let on = r.clone().mode(Mode::On);
    assert_eq!(want(&on, None, at(60)).why, Why::ModeOn);
    assert_eq!(on.over_budget(at(60)), None);
    let d = decide(&on, &down(), at(60));
    assert_eq!(d.replicas, Some(1));
    assert!(
        condition(&d.status, BUDGET)
            .unwrap()
            .2
            .contains("not enforced")
    );
    // A local target has no cost: the budget never applies, even with a cost in its ledger.
    let mut local = r.clone();
    local.spec.target = Target::Local(LocalTarget {
        command: "./app".into(),
        args: vec![],
        env: Default::default(),
        working_dir: None,
        port: 8081,
    });
    assert_eq!(local.budget_reached(at(60)), None);
    assert_eq!(local.over_budget(at(60)), None);
    let w = want(&local, None, at(60));
    assert_eq!((w.awake, w.why), (true, Why::WakeRequested));
    // No budget, or nothing priced this month: nothing to reach.
    let mut unpriced = r.clone();
    unpriced.status.as_mut().unwrap().ledger.months[0].cost = None;
    assert!(want(&unpriced, None, at(60)).awake);
    let mut unset = r.clone();
    unset.spec.budget = None;
    assert!(want(&unset, None, at(60)).awake);
}

#[test]
fn the_budget_comes_before_quiet_hours_and_a_sleep_request_after_it_still_wins() {
    // Row 4 before row 5: a visitor is told about the budget, which lasts longer.
    let mut r = budgeted(10.0, 12.5).woken_at(at(0));
    r.spec.schedule = Some(Schedule::test("UTC").asleep("Mon-Sun 00:00-23:59"));
    let w = want(&r, None, at(60));
    assert_eq!((w.why, w.quiet_until), (Why::OverBudget, None));
    // Row 1 before row 4.
    assert_eq!(
        want(&r.clone().mode(Mode::Off), None, at(60)).why,
        Why::ModeOff
    );
}

// ---- through passes (simulated ECS, in-memory store) ----------------------------------

#[tokio::test(start_paused = true)]
async fn through_passes_max_awake_stops_a_busy_service_and_a_wake_starts_it_again() {
    use crate::store::Store as _;
    let w = super::tests_pass::world();
    w.add(capped(Duration::from_secs(HOUR)));
    w.wake("d").await;
    w.pass().await;
    // Busy: activity every five minutes for two hours.
    let mut stopped_after = None;
    let mut events = Vec::new();
    for i in 1..=24u64 {
        w.advance(5 * MIN);
        w.store
            .record_activity("d", w.clock.now(), Duration::ZERO)
            .await
            .unwrap();
        events.extend(super::events::Event::of_pass(&w.pass().await));
        let s = w.store.status("d").unwrap();
        if stopped_after.is_none() && s.phase != Phase::Ready {
            stopped_after = Some(i * 5);
            assert!(s.memo.max_awake_at.is_some(), "{s:?}");
            assert!(s.condition(MAX_AWAKE).is_some(), "{s:?}");
        }
        if stopped_after.is_some() {
            assert_ne!(s.phase, Phase::Ready, "awake again at {} min", i * 5);
        }
    }
    assert_eq!(stopped_after, Some(60));
    assert_eq!(w.phase("d"), Some(Phase::Asleep));
    // The hit is published as an event naming the guardrail (Ready → Sleeping, then Asleep).
    let hits: Vec<_> = events
        .iter()
        .filter(|e| e.from != Some(Phase::Waking))
        .map(|e| (e.from, e.to, e.guardrail))
        .collect();
    use super::events::Guardrail;
    assert_eq!(
        hits,
        [
            (
                Some(Phase::Ready),
                Phase::Sleeping,
                Some(Guardrail::MaxAwake)
            ),
            (
                Some(Phase::Sleeping),
                Phase::Asleep,
                Some(Guardrail::MaxAwake)
            ),
        ],
        "{events:#?}"
    );
    // A visitor's wake request starts a new stretch.
    w.wake("d").await;
    w.pass().await;
    assert_eq!(w.phase("d"), Some(Phase::Waking));
    let s = w.store.status("d").unwrap();
    assert_eq!(s.memo.awake_since, Some(w.clock.now()));
    assert!(s.condition(MAX_AWAKE).is_none());
}

#[tokio::test(start_paused = true)]
async fn through_passes_a_reached_budget_keeps_it_asleep_and_the_month_records_it() {
    use crate::model::ledger::month_key;
    let w = super::tests_pass::world();
    let mut r = budgeted(10.0, 12.5);
    let now = w.clock.now();
    r.status.as_mut().unwrap().ledger.months[0].month = month_key(now);
    w.add(r);
    w.wake("d").await;
    let report = w.pass().await;
    assert_eq!(
        report.record("d").unwrap().to_string(),
        "d  Asleep (monthly budget reached)"
    );
    assert_eq!(w.sim.desired_count("demo-cluster", "d-svc"), Some(0));
    let s = w.store.status("d").unwrap();
    assert_eq!(s.condition(BUDGET).unwrap().reason, BUDGET_REACHED);
    assert_eq!(
        s.ledger.month(&month_key(now)).unwrap().budget_reached_at,
        Some(now)
    );
}
