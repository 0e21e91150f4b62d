//! Table tests of `decide`: every phase transition and every rule of DESIGN.md §3.

use std::time::Duration;

use super::classify::*;
use super::decide::*;
use super::error_policy::{Failed, error_policy};
use crate::model::{
    AddressKind, ConditionStatus, HttpGet, HumanDuration, Mode, Phase, Readiness as ReadinessSpec,
    Record, Status, Step, Timestamp,
};
use crate::platform::{
    Error as PlatformError, Health, Observed, ProbeResult, ServiceObservation, TargetHealth,
    TaskObservation, TaskStatus,
};

const ARN_A: &str = "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/aaaa";
const ARN_B: &str = "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/bbbb";

fn t0() -> Timestamp {
    "2026-11-29T10:00:00Z".parse().unwrap()
}
fn at(secs: u64) -> Timestamp {
    t0().add(Duration::from_secs(secs))
}
const MIN: u64 = 60;

// ---- observation builders ------------------------------------------------------------

fn task(arn: &str, last: TaskStatus, created: Timestamp) -> TaskObservation {
    let mut t = TaskObservation::new(arn, last, TaskStatus::Running);
    t.created_at = Some(created);
    if last >= TaskStatus::Pending {
        t.eni_id = Some("eni-0abc".into());
        t.private_ip = Some("10.0.1.7".into());
        t.public_ip = Some("203.0.113.10".into());
    }
    if last == TaskStatus::Running {
        t.started_at = Some(created.add(Duration::from_secs(30)));
    }
    t
}
fn running(arn: &str, created: Timestamp) -> TaskObservation {
    task(arn, TaskStatus::Running, created)
}
/// A RUNNING task that ECS is stopping (desiredStatus STOPPED, lastStatus STOPPING).
fn stopping(arn: &str, created: Timestamp) -> TaskObservation {
    let mut t = running(arn, created);
    t.desired_status = TaskStatus::Stopped;
    t.last_status = TaskStatus::Stopping;
    t
}
fn stopped(arn: &str, code: &str, reason: &str, stopped_at: Timestamp) -> TaskObservation {
    let mut t = TaskObservation::new(arn, TaskStatus::Stopped, TaskStatus::Stopped);
    t.created_at = Some(stopped_at.sub(Duration::from_secs(40)));
    t.stopped_at = Some(stopped_at);
    t.stop_code = Some(code.into());
    t.stopped_reason = Some(reason.into());
    t
}
fn service(desired: u32, tasks: Vec<TaskObservation>) -> Observed {
    let running = tasks
        .iter()
        .filter(|t| t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running)
        .count() as u32;
    Observed::Found(ServiceObservation {
        desired_count: desired,
        running_count: running,
        pending_count: 0,
        tasks,
        ..ServiceObservation::default()
    })
}
/// `o` with a PRIMARY deployment of `desired` tasks last updated at `updated`, as ECS shows it
/// right after an UpdateService.
fn deployed(o: Observed, desired: u32, updated: Timestamp) -> Observed {
    let Observed::Found(mut s) = o else {
        panic!("not found")
    };
    s.deployments = vec![crate::platform::DeploymentObservation {
        id: "ecs-svc/1".into(),
        status: crate::platform::DeploymentStatus::Primary,
        desired_count: desired,
        running_count: 0,
        pending_count: 0,
        created_at: Some(t0()),
        updated_at: Some(updated),
        rollout_state: None,
    }];
    Observed::Found(s)
}
fn found(o: &Observed) -> &ServiceObservation {
    match o {
        Observed::Found(s) => s,
        _ => panic!("not found"),
    }
}

// ---- record builders (additions to Record::test) ------------------------------------

trait RecordExt {
    fn replicas(self, n: u32) -> Self;
    fn probe(self) -> Self;
    fn private(self) -> Self;
    fn generation(self, g: u64) -> Self;
    /// Applies `decide` and stores its status, as the pass would.
    fn after(self, o: &Observed, now: Timestamp) -> Self;
}
impl RecordExt for Record {
    fn replicas(mut self, n: u32) -> Self {
        self.spec.replicas = n;
        self
    }
    fn probe(mut self) -> Self {
        self.spec.readiness = Some(ReadinessSpec {
            http_get: Some(HttpGet {
                path: "/health".into(),
                port: None,
                timeout: HumanDuration::from_secs(2),
            }),
        });
        self
    }
    fn private(mut self) -> Self {
        self.spec.endpoint.address = AddressKind::Private;
        self
    }
    fn generation(mut self, g: u64) -> Self {
        self.metadata.generation = g;
        self
    }
    fn after(mut self, o: &Observed, now: Timestamp) -> Self {
        self.status = Some(decide(&self, o, now).status);
        self
    }
}

fn cond(s: &Status, type_: &str) -> (ConditionStatus, String) {
    let c = s
        .condition(type_)
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (c.status, c.reason.clone())
}

// ---- want ----------------------------------------------------------------------------

#[test]
fn awake_wanted_follows_mode_facts_and_idle_timeout() {
    let idle = Duration::from_secs(15 * MIN);
    // (record, now, awake, why)
    let cases: Vec<(Record, Timestamp, bool, &str)> = vec![
        (Record::test("d"), at(0), false, "no wake request"),
        (Record::test("d").mode(Mode::On), at(0), true, "mode on"),
        (
            Record::test("d").mode(Mode::Off).woken_at(at(0)),
            at(1),
            false,
            "mode off",
        ),
        (
            Record::test("d").woken_at(at(0)),
            at(60),
            true,
            "wake requested",
        ),
        (
            Record::test("d").woken_at(at(0)),
            at(15 * MIN - 1),
            true,
            "wake requested",
        ),
        (
            Record::test("d").woken_at(at(0)),
            at(15 * MIN),
            false,
            "idle",
        ),
        (
            Record::test("d").woken_at(at(0)).active_at(at(10 * MIN)),
            at(20 * MIN),
            true,
            "activity",
        ),
        (
            Record::test("d").woken_at(at(0)).active_at(at(10 * MIN)),
            at(25 * MIN),
            false,
            "idle",
        ),
        // An explicit later sleep wins over earlier wake and activity...
        (
            Record::test("d").woken_at(at(0)).sleep_requested_at(at(60)),
            at(120),
            false,
            "sleep requested",
        ),
        // ...but a wake after the sleep request wins again.
        (
            Record::test("d")
                .sleep_requested_at(at(60))
                .woken_at(at(120)),
            at(180),
            true,
            "wake requested",
        ),
        (
            Record::test("d").replicas(0).woken_at(at(0)),
            at(1),
            false,
            "replicas 0",
        ),
        (
            Record::test("d")
                .idle_timeout(Duration::from_secs(60))
                .woken_at(at(0)),
            at(61),
            false,
            "idle",
        ),
    ];
    for (i, (r, now, awake, why)) in cases.into_iter().enumerate() {
        let w = want(&r, None, now);
        assert_eq!((w.awake, w.why.as_str()), (awake, why), "case {i}");
        if awake && r.spec.mode == Mode::Auto {
            let last = r.desired.last_wanted_at().unwrap();
            assert_eq!(
                w.sleeps_at,
                Some(last.add(r.spec.idle_timeout.get())),
                "case {i}"
            );
        }
    }
    let _ = idle;
}

#[test]
fn a_forced_wake_holds_until_idle_after_it_or_later_activity_and_yields_to_a_newer_sleep() {
    let idle = 15 * MIN;
    let forced = Record::test("d").forced_at(at(0));
    let w = want(&forced, None, at(60));
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    assert_eq!(w.sleeps_at, Some(at(idle)));
    assert!(
        !want(&forced, None, at(idle)).awake,
        "idle after the forced wake"
    );
    // Later activity extends it, and it is still shown as forced.
    let active = forced.clone().active_at(at(10 * MIN));
    let w = want(&active, None, at(idle + 60));
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    assert_eq!(w.sleeps_at, Some(at(10 * MIN + idle)));
    // A sleep request after it wins (row 6 below row 3 only because row 3 requires it to be
    // newer than every sleep request).
    let slept = forced.clone().sleep_requested_at(at(120));
    let w = want(&slept, None, at(180));
    assert_eq!((w.awake, w.why), (false, Why::SleepRequested));
    // A sleep request before it does not.
    let w = want(
        &Record::test("d")
            .sleep_requested_at(at(0))
            .forced_at(at(60)),
        None,
        at(120),
    );
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    // Pins still win: mode off, replicas 0.
    assert!(!want(&forced.clone().mode(Mode::Off), None, at(60)).awake);
    assert!(!want(&forced.replicas(0), None, at(60)).awake);
}

#[test]
fn a_task_started_out_of_band_counts_as_activity_at_its_start() {
    // Never woken by snooze, but someone deployed: a task started at 10:02.
    let r = Record::test("demo").asleep();
    let mut t = running(ARN_A, at(90));
    t.started_at = Some(at(2 * MIN));
    let o = service(1, vec![t]);
    let w = want(&r, Some(found(&o)), at(10 * MIN));
    assert_eq!((w.awake, w.why.as_str()), (true, "task started"));
    assert_eq!(w.sleeps_at, Some(at(17 * MIN)));
    // The decision keeps it (no scale-down inside the first idle window)...
    let d = decide(&r, &o, at(10 * MIN));
    assert_eq!(d.replicas, Some(1));
    assert_eq!(d.status.phase, Phase::Ready);
    // ...and puts it to sleep after the window.
    let d = decide(&r, &o, at(17 * MIN));
    assert_eq!(d.replicas, Some(0));
    assert_eq!(d.status.phase, Phase::Sleeping);
    // A task snooze asked to stop is not activity.
    let mut stopping = running(ARN_A, at(90));
    stopping.desired_status = TaskStatus::Stopped;
    let o = service(0, vec![stopping]);
    assert!(!want(&r, Some(found(&o)), at(3 * MIN)).awake);
}

// ---- readiness -----------------------------------------------------------------------

#[test]
fn readiness_ready_pending_and_missing() {
    let r = Record::test("demo");
    // ready
    let o = service(1, vec![running(ARN_A, at(0))]);
    assert_eq!(
        readiness(&r, found(&o), None),
        Readiness::Ready {
            task_arn: ARN_A.into(),
            ip: "203.0.113.10".into()
        }
    );
    // pending
    let o = service(1, vec![task(ARN_A, TaskStatus::Pending, at(0))]);
    assert!(matches!(
        readiness(&r, found(&o), None),
        Readiness::NotReady {
            step: Step::Pending,
            ..
        }
    ));
    // missing: no task at all
    let o = service(1, vec![]);
    assert!(matches!(
        readiness(&r, found(&o), None),
        Readiness::NotReady {
            step: Step::Scaling,
            ..
        }
    ));
}

#[test]
#[allow(clippy::type_complexity)]
fn never_ready_without_a_running_healthy_probed_addressed_task() {
    let base = || running(ARN_A, at(0));
    let probe_ok = Some(ProbeResult {
        passed: true,
        detail: "HTTP 200".into(),
    });
    let probe_bad = Some(ProbeResult {
        passed: false,
        detail: "HTTP 503".into(),
    });
    // (name, record, desiredCount, task, expected step when not ready; None = ready)
    let cases: Vec<(&str, Record, u32, Option<TaskObservation>, Option<Step>)> = vec![
        (
            "zero tasks",
            Record::test("d"),
            1,
            None,
            Some(Step::Scaling),
        ),
        (
            "desiredCount 0",
            Record::test("d"),
            0,
            Some(base()),
            Some(Step::Requested),
        ),
        (
            "being stopped",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.desired_status = TaskStatus::Stopped;
                t
            }),
            Some(Step::Scaling),
        ),
        (
            "stopped",
            Record::test("d"),
            1,
            Some(stopped(ARN_A, "EssentialContainerExited", "exit 1", at(0))),
            Some(Step::Scaling),
        ),
        (
            "provisioning without ENI",
            Record::test("d"),
            1,
            Some(task(ARN_A, TaskStatus::Provisioning, at(0))),
            Some(Step::Provisioning),
        ),
        (
            "ENI without address",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.public_ip = None;
                t
            }),
            Some(Step::Healthy),
        ),
        (
            "running without ENI",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.public_ip = None;
                t.private_ip = None;
                t.eni_id = None;
                t
            }),
            Some(Step::Healthy),
        ),
        (
            "health unknown",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.health = Some(Health::Unknown);
                t
            }),
            Some(Step::Running),
        ),
        (
            "unhealthy",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.health = Some(Health::Unhealthy);
                t
            }),
            Some(Step::Running),
        ),
        (
            "healthy",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.health = Some(Health::Healthy);
                t
            }),
            None,
        ),
        (
            "probe not run",
            Record::test("d").probe(),
            1,
            Some(base()),
            Some(Step::Running),
        ),
        (
            "probe failed",
            Record::test("d").probe(),
            1,
            Some({
                let mut t = base();
                t.probe = probe_bad.clone();
                t
            }),
            Some(Step::Running),
        ),
        (
            "probe passed",
            Record::test("d").probe(),
            1,
            Some({
                let mut t = base();
                t.probe = probe_ok.clone();
                t
            }),
            None,
        ),
        (
            "private address wanted, only public known",
            Record::test("d").private(),
            1,
            Some({
                let mut t = base();
                t.private_ip = None;
                t
            }),
            Some(Step::Healthy),
        ),
        (
            "private address",
            Record::test("d").private(),
            1,
            Some({
                let mut t = base();
                t.public_ip = None;
                t
            }),
            None,
        ),
        (
            "load balancer health check not passed yet",
            Record::test("d"),
            1,
            Some({
                let mut t = base();
                t.target_health = Some(TargetHealth {
                    state: "initial".into(),
                    reason: Some("Elb.RegistrationInProgress".into()),
                });
                t
            }),
            Some(Step::Running),
        ),
        (
            "not a target of the group (yet)",
            Record::test("d").probe(),
            1,
            Some({
                let mut t = base();
                t.probe = probe_ok.clone();
                t.target_health = Some(TargetHealth {
                    state: "unregistered".into(),
                    reason: None,
                });
                t
            }),
            Some(Step::Running),
        ),
        (
            "healthy in the target group: the load balancer's check replaces the probe",
            Record::test("d").probe(),
            1,
            Some({
                let mut t = base();
                t.target_health = Some(TargetHealth {
                    state: "healthy".into(),
                    reason: None,
                });
                t
            }),
            None,
        ),
    ];
    for (name, r, desired, t, expect) in cases {
        let o = service(desired, t.into_iter().collect());
        let got = readiness(&r, found(&o), None);
        match (expect, &got) {
            (None, Readiness::Ready { .. }) => {}
            (Some(step), Readiness::NotReady { step: s, .. }) => assert_eq!(*s, step, "{name}"),
            _ => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
        // And the full decision agrees: Ready only when the predicate says so.
        let r = r.woken_at(at(0)).asleep();
        let d = decide(&r, &o, at(60));
        assert_eq!(
            d.status.phase == Phase::Ready,
            expect.is_none(),
            "{name}: {:?}",
            d.status
        );
        if d.status.phase != Phase::Ready {
            assert_eq!(d.status.endpoint, None, "{name}");
        }
    }
}

#[test]
fn private_endpoint_publishes_the_private_ip() {
    let r = Record::test("demo").private().woken_at(at(0)).asleep();
    let d = decide(&r, &service(1, vec![running(ARN_A, at(0))]), at(60));
    let e = d.status.endpoint.unwrap();
    assert_eq!(e.ip, "10.0.1.7");
    assert_eq!(e.url, "http://10.0.1.7:80/");
    assert_eq!(e.task_arn, ARN_A);
}

// ---- the wake/sleep cycle ------------------------------------------------------------

#[test]
fn a_full_wake_and_sleep_cycle() {
    // Asleep, then a wake request at 10:00.
    let r = Record::test("demo").asleep().woken_at(at(0));
    let asleep = service(0, vec![]);
    let d = decide(&r, &asleep, at(1));
    assert_eq!(
        d.situation,
        Situation::Awake {
            why: Why::WakeRequested
        }
    );
    assert_eq!(d.replicas, Some(1));
    assert_eq!(d.status.phase, Phase::Waking);
    assert_eq!(d.status.step, Some(Step::Scaling));
    assert_eq!(d.status.wake_started_at, Some(at(0)));
    assert_eq!(d.status.phase_since, Some(at(1)));
    assert_eq!(d.status.sleeps_at, Some(at(15 * MIN)));
    assert_eq!(d.requeue, Requeue::After(TRANSITION_REQUEUE));
    assert_eq!(d.reason, "wake requested");
    assert!(d.is_transitional());
    let r = r.after(&asleep, at(1));

    // Scaled: desiredCount 1, no task yet → still "scaling"; no scale call needed.
    let o = service(1, vec![]);
    let d = decide(&r, &o, at(5));
    assert_eq!(
        (d.status.phase, d.status.step),
        (Phase::Waking, Some(Step::Scaling))
    );
    assert_eq!(
        d.status.phase_since,
        Some(at(1)),
        "phaseSince kept while Waking"
    );
    let r = r.after(&o, at(5));

    // Task provisioning, then pending, then running.
    for (last, step) in [
        (TaskStatus::Provisioning, Step::Provisioning),
        (TaskStatus::Pending, Step::Pending),
    ] {
        let o = service(1, vec![task(ARN_A, last, at(6))]);
        let d = decide(&r, &o, at(20));
        assert_eq!((d.status.phase, d.status.step), (Phase::Waking, Some(step)));
        assert_eq!(d.status.replicas.running, 0);
    }
    let ready = service(1, vec![running(ARN_A, at(6))]);
    let d = decide(&r, &ready, at(41));
    assert_eq!(d.status.phase, Phase::Ready);
    assert_eq!(d.status.step, Some(Step::Ready));
    assert_eq!(d.replicas, Some(1));
    let e = d.status.endpoint.clone().unwrap();
    assert_eq!(
        (e.ip.as_str(), e.url.as_str(), e.task_arn.as_str()),
        ("203.0.113.10", "http://203.0.113.10:80/", ARN_A)
    );
    let lw = d.status.last_wake.clone().unwrap();
    assert_eq!(
        (lw.requested_at, lw.ready_at, lw.seconds),
        (at(0), at(41), 41.0)
    );
    assert_eq!(d.status.recent_wake_seconds, vec![41.0]);
    assert_eq!(
        cond(&d.status, READY),
        (ConditionStatus::True, "TaskReady".into())
    );
    // Ready requeues at sleepsAt (the task started at 10:00:36, which counts too).
    assert_eq!(d.status.sleeps_at, Some(at(36 + 15 * MIN)));
    assert_eq!(
        d.requeue,
        Requeue::After(Duration::from_secs(36 + 15 * MIN - 41))
    );
    let r = r.after(&ready, at(41));

    // Still Ready later: nothing changes (a fixed point, so nothing is published).
    let d = decide(&r, &ready, at(5 * MIN));
    assert_eq!(&d.status, r.status.as_ref().unwrap());

    // Idle: scale to 0; Sleeping while the task stops; endpoint withdrawn at once.
    let d = decide(&r, &ready, at(36 + 15 * MIN));
    assert_eq!(d.situation, Situation::Asleep { why: Why::Idle });
    assert_eq!(d.replicas, Some(0));
    assert_eq!(d.status.phase, Phase::Sleeping);
    assert_eq!(d.status.endpoint, None);
    assert_eq!(d.status.sleeps_at, None);
    assert_eq!(d.reason, "idle for 15m");
    assert_eq!(cond(&d.status, READY).0, ConditionStatus::False);
    let r = r.after(&ready, at(36 + 15 * MIN));
    let mut stopping = running(ARN_A, at(6));
    stopping.desired_status = TaskStatus::Stopped;
    stopping.last_status = TaskStatus::Stopping;
    let o = service(0, vec![stopping]);
    let d = decide(&r, &o, at(16 * MIN));
    assert_eq!((d.status.phase, d.replicas), (Phase::Sleeping, Some(0)));
    let o = service(
        0,
        vec![stopped(
            ARN_A,
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/1)",
            at(16 * MIN),
        )],
    );
    let d = decide(&r, &o, at(17 * MIN));
    assert_eq!((d.status.phase, d.replicas), (Phase::Asleep, Some(0)));
    assert_eq!(d.requeue, Requeue::AwaitChange);
    // The wake history survives the sleep.
    assert_eq!(d.status.recent_wake_seconds, vec![41.0]);
}

#[test]
fn sleep_by_mode_off_and_by_explicit_request() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&ready, at(60));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Ready);
    let d = decide(&r.clone().mode(Mode::Off), &ready, at(120));
    assert_eq!(
        (d.status.phase, d.replicas, d.reason.as_str()),
        (Phase::Sleeping, Some(0), "mode off")
    );
    let d = decide(&r.clone().sleep_requested_at(at(100)), &ready, at(120));
    assert_eq!(
        (d.status.phase, d.replicas, d.reason.as_str()),
        (Phase::Sleeping, Some(0), "sleep requested")
    );
    // mode on: awake without any wake request, no sleepsAt.
    let r = Record::test("demo").mode(Mode::On).asleep();
    let d = decide(&r, &service(0, vec![]), at(0));
    assert_eq!(
        (d.status.phase, d.replicas, d.status.sleeps_at),
        (Phase::Waking, Some(1), None)
    );
    let d = decide(&r.after(&service(0, vec![]), at(0)), &ready, at(60));
    assert_eq!(
        (d.status.phase, d.requeue),
        (Phase::Ready, Requeue::AwaitChange)
    );
}

#[test]
fn a_wake_request_while_tasks_are_stopping_goes_from_sleeping_to_waking() {
    // Ready on ARN_A since 10:01, then idle at 10:15:36: Sleeping, scaled to 0.
    let ready = service(1, vec![running(ARN_A, at(6))]);
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&service(0, vec![]), at(1))
        .after(&ready, at(60));
    let r = r.after(&ready, at(36 + 15 * MIN));
    let s = r.status.as_ref().unwrap();
    assert_eq!((s.phase, s.endpoint.as_ref()), (Phase::Sleeping, None));
    // ECS is still stopping the task (desiredCount 0) when a visitor asks again.
    let o = service(0, vec![stopping(ARN_A, at(6))]);
    let wake = at(16 * MIN);
    let r = r.woken_at(wake);
    let d = decide(&r, &o, wake.add(Duration::from_secs(2)));
    assert_eq!(
        d.situation,
        Situation::Awake {
            why: Why::WakeRequested
        }
    );
    assert_eq!(
        (d.status.phase, d.replicas, d.status.step),
        (Phase::Waking, Some(1), Some(Step::Scaling)),
        "a wake while Sleeping scales up again at once"
    );
    assert_eq!(d.status.wake_started_at, Some(wake), "a fresh attempt");
    assert_eq!(
        d.status.endpoint, None,
        "the stopping task is not an address"
    );
    assert_eq!(d.status.replicas.running, 0);
    assert_eq!(d.status.message, "scaling to 1");
    assert_eq!(
        cond(&d.status, READY),
        (ConditionStatus::False, "Waking".into())
    );
    assert_eq!(
        d.status.condition(READY).unwrap().last_transition_time,
        at(36 + 15 * MIN),
        "Ready stays False: its transition time does not move"
    );
    assert_eq!(d.status.phase_since, Some(wake.add(Duration::from_secs(2))));
    assert_eq!(
        d.status.sleeps_at,
        Some(wake.add(Duration::from_secs(15 * MIN)))
    );
    assert_eq!(d.requeue, Requeue::After(TRANSITION_REQUEUE));
    assert_eq!(d.reason, "wake requested");
    assert!(d.is_transitional());
    // The replacement task becomes Ready; the stopping one is never the endpoint.
    let r = r.after(&o, wake.add(Duration::from_secs(2)));
    let gone = stopping(ARN_A, at(6));
    let mut b = running(ARN_B, wake);
    b.public_ip = Some("203.0.113.11".into());
    let d = decide(
        &r,
        &service(1, vec![gone, b]),
        wake.add(Duration::from_secs(40)),
    );
    assert_eq!(d.status.phase, Phase::Ready);
    assert_eq!(d.status.endpoint.as_ref().unwrap().task_arn, ARN_B);
    assert_eq!(d.status.last_wake.as_ref().unwrap().requested_at, wake);
}

#[test]
fn a_sleep_request_or_mode_off_during_a_wake_goes_from_waking_to_sleeping_or_asleep() {
    let r = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Waking);
    // Scaled to 1; the task is provisioning.
    let provisioning = service(1, vec![task(ARN_A, TaskStatus::Provisioning, at(2))]);
    let r = r.after(&provisioning, at(5));
    let s = r.status.as_ref().unwrap();
    assert_eq!((s.phase, s.step), (Phase::Waking, Some(Step::Provisioning)));

    // An explicit sleep request during the wake: back to 0, Sleeping while the task stops.
    for (rec, why) in [
        (r.clone().sleep_requested_at(at(10)), Why::SleepRequested),
        (r.clone().mode(Mode::Off).generation(2), Why::ModeOff),
    ] {
        let d = decide(&rec, &provisioning, at(12));
        assert_eq!(d.situation, Situation::Asleep { why }, "{why}");
        assert_eq!(
            (d.status.phase, d.replicas),
            (Phase::Sleeping, Some(0)),
            "{why}: the wake is abandoned and the service scaled to 0"
        );
        assert_eq!(d.status.endpoint, None, "{why}");
        assert_eq!(d.status.sleeps_at, None, "{why}");
        assert_eq!(d.status.step, None, "{why}");
        assert_eq!(d.status.replicas.desired, 0, "{why}");
        let c = d.status.condition(READY).unwrap();
        assert_eq!(
            (c.status, c.reason.as_str(), c.message.as_str()),
            (ConditionStatus::False, "Asleep", why.as_str()),
            "{why}"
        );
        assert_eq!(d.reason, why.as_str());
        assert_eq!(d.requeue, Requeue::After(TRANSITION_REQUEUE), "{why}");
        assert_eq!(d.status.observed_generation, rec.metadata.generation);
        // Once the task is gone: Asleep, nothing more to do.
        let rec = rec.after(&provisioning, at(12));
        let stopped_task = stopped(
            ARN_A,
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/1)",
            at(20),
        );
        let d = decide(&rec, &service(0, vec![stopped_task]), at(30));
        assert_eq!(
            (d.status.phase, d.replicas, d.requeue),
            (Phase::Asleep, Some(0), Requeue::AwaitChange),
            "{why}"
        );
        assert_eq!(
            cond(&d.status, READY),
            (ConditionStatus::False, "Asleep".into())
        );
    }

    // Mode off while the wake has not reached ECS yet (desiredCount still 0, no task):
    // straight to Asleep, no scale call.
    let early = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    let d = decide(
        &early.clone().mode(Mode::Off).generation(2),
        &service(0, vec![]),
        at(2),
    );
    assert_eq!(
        (d.status.phase, d.replicas, d.requeue),
        (Phase::Asleep, Some(0), Requeue::AwaitChange)
    );
    assert_eq!(
        cond(&d.status, READY),
        (ConditionStatus::False, "Asleep".into())
    );
    assert_eq!(d.status.condition(READY).unwrap().message, "mode off");
    assert_eq!(
        (d.reason.as_str(), d.status.endpoint.as_ref()),
        ("mode off", None)
    );
    assert!(!d.is_transitional());
    // A later wake request does not undo mode off; a sleep request older than the wake does
    // not stop it.
    let d = decide(
        &early.clone().mode(Mode::Off).woken_at(at(3)),
        &service(0, vec![]),
        at(4),
    );
    assert_eq!(d.status.phase, Phase::Asleep);
    let d = decide(
        &early
            .clone()
            .sleep_requested_at(at(0).sub(Duration::from_secs(1))),
        &provisioning,
        at(6),
    );
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
}

#[test]
fn operator_replica_change_scales_while_ready() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&ready, at(60));
    let r = r.replicas(3).generation(2);
    let d = decide(&r, &ready, at(90));
    assert_eq!((d.status.phase, d.replicas), (Phase::Ready, Some(3)));
    assert_eq!(d.status.observed_generation, 2);
    assert_eq!(d.status.replicas.desired, 3);
    assert_eq!(
        cond(&d.status, DRIFT).0,
        ConditionStatus::False,
        "an operator edit is not drift"
    );
}

#[test]
fn moving_a_ready_record_to_another_service_is_not_drift() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .mode(Mode::On)
        .asleep()
        .after(&ready, at(0));
    // The operator points the record at a service that is at desiredCount 0.
    let mut moved = r.clone().generation(2);
    if let crate::model::Target::Ecs(t) = &mut moved.spec.target {
        t.service = "other-svc".into();
    }
    let d = decide(&moved, &service(0, vec![]), at(30));
    assert_eq!(d.replicas, Some(1), "scaled at once, no back-off");
    assert_eq!(cond(&d.status, DRIFT).0, ConditionStatus::False);
    assert_eq!(d.status.phase, Phase::Waking);
}

#[test]
fn a_task_dying_while_ready_withdraws_the_endpoint_and_starts_a_fresh_attempt() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&service(0, vec![]), at(1));
    let r = r.after(&ready, at(60));
    let mut dying = running(ARN_A, at(0));
    dying.desired_status = TaskStatus::Stopped;
    dying.last_status = TaskStatus::Stopping;
    dying.stop_code = Some("EssentialContainerExited".into());
    let o = service(
        1,
        vec![dying, task(ARN_B, TaskStatus::Provisioning, at(400))],
    );
    let d = decide(&r, &o, at(400));
    assert_eq!(d.status.phase, Phase::Waking);
    assert!(
        d.reason
            .starts_with("task aaaa stopped: an essential container exited"),
        "the report names the task that stopped, not a wake request: {}",
        d.reason
    );
    assert_eq!(d.status.endpoint, None);
    assert_eq!(d.status.wake_started_at, Some(at(400)));
    assert_eq!(d.replicas, Some(1));
    // The replacement becomes Ready with its own address; a second wake timing is recorded.
    let r = r.after(&o, at(400));
    let mut b = running(ARN_B, at(400));
    b.public_ip = Some("203.0.113.11".into());
    let d = decide(&r, &service(1, vec![b]), at(440));
    assert_eq!(d.status.phase, Phase::Ready);
    assert_eq!(d.status.endpoint.as_ref().unwrap().task_arn, ARN_B);
    assert_eq!(d.status.recent_wake_seconds, vec![60.0, 40.0]);
}

#[test]
fn a_ready_task_that_disappears_is_reported_as_gone_not_as_a_wake() {
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&service(0, vec![]), at(1))
        .after(&service(1, vec![running(ARN_A, at(0))]), at(60));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Ready);
    let d = decide(&r, &service(1, vec![]), at(400));
    assert_eq!(d.status.phase, Phase::Waking);
    assert_eq!(d.reason, "task aaaa is gone");
}

#[test]
fn the_endpoint_stays_on_its_task_while_that_task_is_ready() {
    let r = Record::test("demo").mode(Mode::On).asleep();
    let mut b = running(ARN_B, at(0));
    b.public_ip = Some("203.0.113.11".into());
    b.started_at = Some(at(10));
    let mut a = running(ARN_A, at(0));
    a.started_at = Some(at(20));
    let o = service(2, vec![a.clone(), b.clone()]);
    let d = decide(&r, &o, at(60));
    assert_eq!(
        d.status.endpoint.as_ref().unwrap().task_arn,
        ARN_B,
        "oldest ready task first"
    );
    let r = r.with_status(d.status);
    // A newer task starting does not move the endpoint.
    let o = service(2, vec![b.clone(), a.clone()]);
    assert_eq!(
        decide(&r, &o, at(90)).status.endpoint.unwrap().task_arn,
        ARN_B
    );
    // Its task stopping does.
    b.desired_status = TaskStatus::Stopped;
    let d = decide(&r, &service(2, vec![a, b]), at(120));
    assert_eq!(d.status.endpoint.unwrap().task_arn, ARN_A);
}

#[test]
fn a_ready_task_whose_address_is_unknown_for_now_stays_ready_with_no_new_wake() {
    for r in [Record::test("demo"), Record::test("demo").probe()] {
        let mut up = running(ARN_A, at(5));
        up.probe = Some(ProbeResult {
            passed: true,
            detail: "200".into(),
        });
        let r = r
            .asleep()
            .woken_at(at(0))
            .after(&service(0, vec![]), at(1))
            .after(&service(1, vec![up.clone()]), at(40));
        let ready = r.status.clone().unwrap();
        assert_eq!(ready.phase, Phase::Ready);
        // EC2 does not know the task's network interface this time (one member of a batched
        // lookup): its public IP is unknown for now, not gone; no probe ran without an address.
        let mut unknown = up;
        unknown.public_ip = None;
        unknown.probe = None;
        unknown.address_unknown = true;
        let d = decide(&r, &service(1, vec![unknown.clone()]), at(60));
        assert_eq!(d.status.phase, Phase::Ready, "{d:?}");
        assert_eq!(d.status.endpoint, ready.endpoint);
        assert_eq!(d.status.last_wake, ready.last_wake, "no fabricated wake");
        assert_eq!(d.status.recent_wake_seconds, ready.recent_wake_seconds);
        // Another task's unknown address is not borrowed.
        let mut other = unknown;
        other.arn = ARN_B.into();
        let d = decide(&r, &service(1, vec![other]), at(60));
        assert_ne!(d.status.phase, Phase::Ready);
    }
}

#[test]
fn recent_wake_seconds_keep_the_last_ten() {
    let mut s = Status {
        phase: Phase::Waking,
        wake_started_at: Some(at(0)),
        recent_wake_seconds: (1..=10).map(|i| i as f64).collect(),
        ..Status::default()
    };
    s.observed_generation = 1;
    let r = Record::test("demo").woken_at(at(0)).with_status(s);
    let d = decide(&r, &service(1, vec![running(ARN_A, at(0))]), at(30));
    assert_eq!(
        d.status.recent_wake_seconds,
        vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 30.0]
    );
}

// ---- failure ---------------------------------------------------------------------------

#[test]
fn not_ready_within_wake_timeout_fails_and_scales_back_to_zero() {
    let r = Record::test("demo").asleep().woken_at(at(0));
    let r = r.after(&service(0, vec![]), at(1));
    let stuck = service(1, vec![task(ARN_A, TaskStatus::Provisioning, at(5))]);
    let d = decide(&r, &stuck, at(5 * MIN - 1));
    assert_eq!(d.status.phase, Phase::Waking);
    let d = decide(&r, &stuck, at(5 * MIN));
    assert_eq!(d.status.phase, Phase::Failed);
    assert_eq!(d.replicas, Some(0));
    assert_eq!(
        d.status.message,
        "not ready within 5m (stuck at provisioning: task is PROVISIONING)"
    );
    assert_eq!(
        cond(&d.status, READY),
        (ConditionStatus::False, "WakeFailed".into())
    );
    assert_eq!(d.status.memo.failed_at, Some(at(5 * MIN)));
}

#[test]
fn tasks_that_keep_stopping_fail_the_wake_with_a_plain_reason() {
    let r = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): \
                  failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:latest \
                  for arn:aws:ecs:us-east-1:123456789012:task-definition/demo:3";
    let two = vec![
        stopped(ARN_A, "TaskFailedToStart", reason, at(40)),
        stopped(ARN_B, "TaskFailedToStart", reason, at(80)),
    ];
    let d = decide(&r, &service(1, two.clone()), at(90));
    assert_eq!(
        d.status.phase,
        Phase::Waking,
        "two failures: ECS keeps trying"
    );
    let mut three = two;
    three.push(stopped(
        "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/cccc",
        "TaskFailedToStart",
        reason,
        at(120),
    ));
    // A stop from before this attempt and snooze's own scale-in do not count.
    three.push(stopped(
        "x",
        "TaskFailedToStart",
        reason,
        t0().sub(Duration::from_secs(1)),
    ));
    three.push(stopped(
        "y",
        "ServiceSchedulerInitiated",
        "Scaling activity initiated by (deployment ecs-svc/1)",
        at(100),
    ));
    let d = decide(&r, &service(1, three), at(125));
    assert_eq!(d.status.phase, Phase::Failed);
    assert_eq!(d.replicas, Some(0));
    assert_eq!(
        d.status.message,
        "tasks keep stopping (3 since 2026-11-29T10:00:00.000Z): the task failed to start: \
         CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref \
         <account>.dkr.ecr.us-east-1.amazonaws.com/demo:latest for task-definition/demo:3"
    );
    assert!(!d.status.message.contains("123456789012"));
    assert!(!d.status.message.contains("arn:"));
}

#[test]
fn failed_stays_at_zero_until_a_newer_wake_request() {
    let r = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    let stuck = service(1, vec![task(ARN_A, TaskStatus::Provisioning, at(5))]);
    let r = r.after(&stuck, at(5 * MIN));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Failed);
    let failed_message = r.status.as_ref().unwrap().message.clone();
    // The scale-down lands; the still-valid wake (within idleTimeout) does not restart it.
    let mut stopping = task(ARN_A, TaskStatus::Provisioning, at(5));
    stopping.desired_status = TaskStatus::Stopped;
    let o = service(0, vec![stopping]);
    let d = decide(&r, &o, at(5 * MIN + 5));
    assert_eq!((d.status.phase, d.replicas), (Phase::Failed, Some(0)));
    assert_eq!(
        d.situation,
        Situation::FailedLatched {
            message: failed_message.clone()
        }
    );
    let r = r.after(&o, at(5 * MIN + 5));
    let empty = service(0, vec![]);
    for m in [6, 7, 10, 14] {
        let d = decide(&r, &empty, at(m * MIN));
        assert_eq!(
            (d.status.phase, d.replicas, d.requeue),
            (Phase::Failed, Some(0), Requeue::AwaitChange),
            "minute {m}"
        );
        assert_eq!(d.status.message, failed_message);
    }
    // Activity from before the failure does not restart it either.
    let d = decide(&r.clone().active_at(at(4 * MIN)), &empty, at(8 * MIN));
    assert_eq!(d.status.phase, Phase::Failed);
    // A newer wake request starts a fresh attempt.
    let d = decide(&r.clone().woken_at(at(8 * MIN)), &empty, at(8 * MIN + 1));
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
    assert_eq!(d.status.wake_started_at, Some(at(8 * MIN)));
    assert_eq!(d.status.message, "scaling to 1");
    // So does a spec change (an operator fixed something); the attempt starts now.
    let d = decide(&r.clone().generation(2), &empty, at(8 * MIN));
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
    assert_eq!(d.status.wake_started_at, Some(at(8 * MIN)));
    // Once nothing wants the service any more, Failed gives way to Asleep.
    let d = decide(&r, &empty, at(16 * MIN));
    assert_eq!((d.status.phase, d.replicas), (Phase::Asleep, Some(0)));
}

#[test]
fn the_last_failure_is_kept_through_sleep_until_the_next_successful_wake() {
    let r = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    let stuck = service(1, vec![task(ARN_A, TaskStatus::Provisioning, at(5))]);
    let r = r.after(&stuck, at(5 * MIN));
    let failed = r.status.clone().unwrap();
    assert_eq!(failed.phase, Phase::Failed);
    let kept = failed.last_failure.clone().expect("a failure is kept");
    assert_eq!(
        (kept.at, kept.message.as_str()),
        (at(5 * MIN), failed.message.as_str())
    );
    // Latched, then asleep after the idle timeout: the phase and message no longer say why,
    // lastFailure still does, with its first time.
    let empty = service(0, vec![]);
    let r = r.after(&empty, at(6 * MIN)).after(&empty, at(16 * MIN));
    let asleep = r.status.clone().unwrap();
    assert_eq!(asleep.phase, Phase::Asleep);
    assert_eq!(asleep.message, "");
    assert_eq!(asleep.last_failure, Some(kept.clone()));
    // A wake that does not finish yet keeps it; the next successful wake clears it.
    let r = r.woken_at(at(20 * MIN)).after(&empty, at(20 * MIN));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Waking);
    assert_eq!(r.status.as_ref().unwrap().last_failure, Some(kept));
    let r = r.after(
        &service(1, vec![running(ARN_B, at(20 * MIN))]),
        at(21 * MIN),
    );
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Ready);
    assert_eq!(r.status.as_ref().unwrap().last_failure, None);
}

#[test]
fn an_out_of_band_start_before_its_tasks_are_listed_is_activity_not_drift() {
    // Asleep, snooze last set 0. A deploy sets desiredCount 1 at 100 s; for a few seconds ECS
    // lists no task, only the updated deployment.
    let r = Record::test("demo")
        .asleep()
        .after(&service(0, vec![]), at(1));
    assert_eq!(r.status.as_ref().unwrap().memo.last_set, Some(0));
    let no_task_yet = deployed(service(1, vec![]), 1, at(100));
    let d = decide(&r, &no_task_yet, at(103));
    assert_eq!(d.replicas, Some(1), "the deploy is not scaled away: {d:?}");
    assert_eq!(d.situation, Situation::Awake { why: Why::ScaledUp });
    assert_ne!(cond(&d.status, DRIFT).0, ConditionStatus::True);
    assert_eq!(d.status.memo.scaled_up_at, Some(at(100)));
    assert_eq!(d.status.sleeps_at, Some(at(100 + 15 * MIN)));
    // Still no task on the next pass: the remembered raise keeps it awake.
    let r = r.after(&no_task_yet, at(103));
    let d = decide(&r, &deployed(service(1, vec![]), 1, at(100)), at(110));
    assert_eq!(d.replicas, Some(1));
    // It sleeps after the idle timeout like any wake.
    let up = deployed(service(1, vec![running(ARN_A, at(100))]), 1, at(100));
    let r = r.after(&up, at(200));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Ready);
    let d = decide(&r, &up, at(100 + 30 + 15 * MIN));
    assert_eq!(d.replicas, Some(0));
    // A lowered count, or snooze's own raise, is no outside raise.
    let mine = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    assert_eq!(mine.status.as_ref().unwrap().memo.last_set, Some(1));
    assert_eq!(
        scaled_up_outside(&mine, found(&deployed(service(1, vec![]), 1, at(2)))),
        None
    );
}

/// One simulated hour-by-minute run of a service whose other writer (like Application Auto
/// Scaling with min capacity 1) sets desiredCount back to 1 a minute after every scale-down to
/// 0, until `stops_at`. Returns the times snooze scaled down and the last status.
fn fight(stops_at: Timestamp, until: Timestamp) -> (Vec<Timestamp>, Status, Vec<Status>) {
    let mut r = Record::test("demo").woken_at(at(0));
    let mut desired = 0u32;
    let mut updated = t0();
    let mut downs = Vec::new();
    let mut statuses = Vec::new();
    let mut now = at(1);
    while now < until {
        let tasks = if desired > 0 {
            vec![running(ARN_A, updated)]
        } else {
            vec![]
        };
        let o = deployed(service(desired, tasks), desired, updated);
        let d = decide(&r, &o, now);
        if let Some(n) = d.replicas
            && n != desired
        {
            if n == 0 {
                downs.push(now);
            }
            desired = n;
            updated = now;
        }
        r.status = Some(d.status.clone());
        statuses.push(d.status);
        now = now.add(Duration::from_secs(60));
        // The other writer, a minute later.
        if desired == 0 && now < stops_at && now.since(updated) >= Duration::from_secs(60) {
            desired = 1;
            updated = now;
        }
    }
    (downs, r.status.unwrap(), statuses)
}

#[test]
fn a_contest_holds_back_the_scale_down_of_a_failed_wake_too() {
    let hour = 60 * MIN;
    // A wake that fails (stuck) scales to 0 at 5 min; another writer raises it 30 s later.
    let r = Record::test("demo")
        .asleep()
        .woken_at(at(0))
        .after(&service(0, vec![]), at(1));
    let stuck = deployed(
        service(1, vec![task(ARN_A, TaskStatus::Provisioning, at(5))]),
        1,
        at(1),
    );
    let r = r.after(&stuck, at(5 * MIN));
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Failed);
    assert_eq!(
        r.status.as_ref().unwrap().memo.scaled_down_at,
        Some(at(5 * MIN))
    );
    let raised = deployed(
        service(
            1,
            vec![task(ARN_B, TaskStatus::Provisioning, at(5 * MIN + 30))],
        ),
        1,
        at(5 * MIN + 30),
    );
    let mut r = r;
    for m in [6, 7, 20, 64] {
        let d = decide(&r, &raised, at(m * MIN));
        assert_eq!(
            d.replicas, None,
            "minute {m}: no scale-down before the hour: {d:?}"
        );
        assert_eq!(
            cond(&d.status, DRIFT),
            (ConditionStatus::True, CONTESTED.into())
        );
        assert_eq!(d.status.memo.contest_rounds, Some(1), "minute {m}");
        r.status = Some(d.status);
    }
    let d = decide(&r, &raised, at(5 * MIN + hour));
    assert_eq!(d.replicas, Some(0), "the hourly attempt");
}

#[test]
fn in_a_contest_mode_off_is_held_with_a_message_and_an_explicit_sleep_is_not() {
    // Ready, idle scale-down at 16 min, another writer raises it at 17 min: contested.
    let (_, _, statuses) = fight(at(18 * MIN), at(19 * MIN));
    let contested = statuses.last().unwrap().clone();
    assert_eq!(
        contested.memo.contest_rounds,
        Some(1),
        "{:?}",
        contested.memo
    );
    let up = deployed(
        service(1, vec![running(ARN_B, at(17 * MIN))]),
        1,
        at(17 * MIN),
    );
    let mut r = Record::test("demo").woken_at(at(0));
    r.status = Some(contested);
    // mode: off: held until the hourly attempt, and the message says so.
    let mut off = r.clone();
    off.spec.mode = crate::model::Mode::Off;
    let d = decide(&off, &up, at(20 * MIN));
    assert_eq!(d.replicas, None);
    assert!(
        d.status.message.contains(
            "held at 1 by another writer; next scale-down attempt at 2026-11-29T11:16:01"
        ),
        "{}",
        d.status.message
    );
    // An explicit sleep after the last attempt is that hour's attempt: scaled down now.
    let d = decide(&r.sleep_requested_at(at(19 * MIN)), &up, at(20 * MIN));
    assert_eq!(d.replicas, Some(0), "{d:?}");
    assert_eq!(d.status.memo.scaled_down_at, Some(at(20 * MIN)));
}

#[test]
fn another_writer_raising_desired_count_is_a_contest_backed_off_to_once_an_hour() {
    let hour = 60 * MIN;
    let (downs, last, statuses) = fight(at(5 * hour), at(6 * hour));
    // The first scale-down after the idle timeout, then at most one per hour.
    // (awake from the task's start at 31 s; passes every minute from 1 s)
    assert_eq!(downs[0], at(16 * MIN + 1), "{downs:?}");
    for pair in downs.windows(2) {
        assert!(
            pair[1].since(pair[0]) >= Duration::from_secs(hour),
            "scale-downs at {} and {}: {downs:?}",
            pair[0],
            pair[1]
        );
    }
    let expected: Vec<Timestamp> = (0..6).map(|h| at(h * hour + 16 * MIN + 1)).collect();
    assert_eq!(downs, expected, "one attempt an hour, the last one stays");
    // Recognised at the first round: the condition names it.
    let contested = statuses
        .iter()
        .find(|s| s.memo.contest_rounds.is_some())
        .expect("the contest is recognised");
    let drift = contested.condition(DRIFT).unwrap();
    assert_eq!(
        (drift.status, drift.reason.as_str()),
        (ConditionStatus::True, CONTESTED)
    );
    assert!(
        drift.message.contains("another writer"),
        "{}",
        drift.message
    );
    assert!(
        drift.message.contains("at most once an hour"),
        "{}",
        drift.message
    );
    // The other writer stopped at 5 h: the last scale-down stays and the contest ends.
    assert_eq!(last.phase, Phase::Asleep);
    assert_eq!(last.memo.contest_rounds, None, "{:?}", last.memo);
    assert_eq!(
        last.condition(DRIFT).unwrap().status,
        ConditionStatus::False
    );
}

// ---- drift -----------------------------------------------------------------------------

#[test]
fn drift_is_put_back_and_reported_with_back_off() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .mode(Mode::On)
        .asleep()
        .after(&ready, at(0));
    assert_eq!(
        cond(r.status.as_ref().unwrap(), DRIFT).0,
        ConditionStatus::False
    );
    // Someone sets desiredCount 0.
    let drifted = service(0, vec![running(ARN_A, at(0))]);
    let d = decide(&r, &drifted, at(10));
    assert_eq!(d.replicas, Some(1), "first drift is corrected at once");
    let (c, reason) = cond(&d.status, DRIFT);
    assert_eq!(
        (c, reason.as_str()),
        (ConditionStatus::True, "DesiredCountChanged")
    );
    assert_eq!(
        d.status.condition(DRIFT).unwrap().message,
        "desiredCount was changed to 0 outside snooze; set back to 1"
    );
    let r = r.after(&drifted, at(10));
    // Put back: no drift while it stays.
    let d = decide(&r, &ready, at(15));
    assert_eq!(cond(&d.status, DRIFT).0, ConditionStatus::False);
    // Changed again within the back-off: not fought, requeued for the end of the back-off.
    let d = decide(&r, &drifted, at(20));
    assert_eq!(d.replicas, None);
    assert_eq!(
        cond(&d.status, DRIFT),
        (ConditionStatus::True, "DriftBackOff".into())
    );
    assert_eq!(d.requeue, Requeue::After(Duration::from_secs(20)));
    // After the back-off: corrected again, and the next back-off doubles.
    let d = decide(&r, &drifted, at(40));
    assert_eq!(d.replicas, Some(1));
    let r = r.after(&drifted, at(40));
    let d = decide(&r, &drifted, at(99));
    assert_eq!(d.replicas, None);
    assert_eq!(d.requeue, Requeue::After(Duration::from_secs(1)));
    assert_eq!(decide(&r, &drifted, at(100)).replicas, Some(1));
    // The condition's transition time changes only when its status flips.
    let t = r
        .status
        .as_ref()
        .unwrap()
        .condition(DRIFT)
        .unwrap()
        .last_transition_time;
    assert_eq!(t, at(10));
}

#[test]
fn no_drift_when_the_observed_count_is_what_snooze_set_or_wants() {
    let asleep = service(0, vec![]);
    let r = Record::test("demo").asleep().after(&asleep, at(0));
    // Wake: observed 0 == lastSet 0 → a normal scale, not drift.
    let r = r.woken_at(at(10));
    let d = decide(&r, &asleep, at(11));
    assert_eq!(d.replicas, Some(1));
    assert_eq!(cond(&d.status, DRIFT).0, ConditionStatus::False);
    // A first look at a service (no memo): adopt, no drift.
    let fresh = Record::test("demo").woken_at(at(0));
    let d = decide(&fresh, &service(3, vec![running(ARN_A, at(0))]), at(60));
    assert_eq!(
        (d.replicas, cond(&d.status, DRIFT).0),
        (Some(1), ConditionStatus::False)
    );
}

// ---- missing, inactive, unobserved, invalid ------------------------------------------------

#[test]
fn a_missing_service_is_a_condition_not_an_error() {
    let missing = Observed::Missing {
        message: "service demo-svc not found in cluster demo-cluster".into(),
    };
    let r = Record::test("demo").asleep();
    let d = decide(&r, &missing, at(0));
    assert_eq!(d.replicas, None);
    assert_eq!(d.status.phase, Phase::Asleep);
    assert_eq!(
        d.status.message,
        "service demo-svc not found in cluster demo-cluster"
    );
    let c = d.status.condition(SERVICE_FOUND).unwrap();
    assert_eq!(
        (c.status, c.reason.as_str(), c.message.as_str()),
        (
            ConditionStatus::False,
            "ServiceMissing",
            "service demo-svc not found in cluster demo-cluster"
        )
    );
    assert_eq!(d.requeue, Requeue::After(MISSING_RECHECK));
    assert_eq!(missing_checked_at(&d.status), Some(at(0)));
    // Wanted awake: phase Failed with the reason, so the wait page can say it.
    let d = decide(&Record::test("demo").woken_at(at(0)), &missing, at(1));
    assert_eq!((d.status.phase, d.replicas), (Phase::Failed, None));
    // Inactive.
    let inactive = Observed::Inactive {
        status: "INACTIVE".into(),
        message: "service demo-svc in cluster demo-cluster is INACTIVE".into(),
    };
    let d = decide(&r, &inactive, at(0));
    assert_eq!(
        cond(&d.status, SERVICE_FOUND),
        (ConditionStatus::False, "ServiceInactive".into())
    );
    // Found again: condition flips back, memo cleared.
    let r = r.with_status(d.status);
    let d = decide(&r, &service(0, vec![]), at(60));
    assert_eq!(cond(&d.status, SERVICE_FOUND).0, ConditionStatus::True);
    assert_eq!(missing_checked_at(&d.status), None);
    assert_eq!(
        d.status
            .condition(SERVICE_FOUND)
            .unwrap()
            .last_transition_time,
        at(60)
    );
}

#[test]
fn a_failed_observation_keeps_the_last_status_and_does_nothing() {
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let r = Record::test("demo")
        .woken_at(at(0))
        .asleep()
        .after(&ready, at(60));
    let err = Observed::Error(PlatformError::Throttled {
        operation: "DescribeServices",
        message: "ThrottlingException: Rate exceeded".into(),
    });
    let d = decide(&r, &err, at(90));
    assert_eq!(d.replicas, None);
    assert_eq!(d.status.phase, Phase::Ready);
    assert!(d.status.endpoint.is_some());
    assert_eq!(
        d.status.message,
        "could not observe the service: DescribeServices throttled: ThrottlingException: Rate exceeded"
    );
    assert_eq!(d.requeue, Requeue::After(OBSERVE_RETRY));
}

#[test]
fn an_invalid_record_gets_phase_invalid_with_path_and_reason_and_nothing_is_done() {
    let r = Record::test("demo")
        .idle_timeout(Duration::from_secs(30))
        .woken_at(at(0));
    let d = decide(&r, &service(0, vec![]), at(1));
    assert_eq!(d.status.phase, Phase::Invalid);
    assert_eq!(d.replicas, None);
    assert_eq!(
        d.status.message,
        "spec.idleTimeout: 30s is below the minimum of 1m"
    );
    assert_eq!(
        cond(&d.status, VALID),
        (ConditionStatus::False, "ValidationFailed".into())
    );
    assert_eq!(d.requeue, Requeue::AwaitChange);
    // Fixed: Valid flips back, phase follows the facts.
    let fixed = r
        .clone()
        .idle_timeout(Duration::from_secs(60))
        .generation(2)
        .with_status(d.status);
    let d = decide(&fixed, &service(0, vec![]), at(2));
    assert_eq!((d.status.phase, d.replicas), (Phase::Waking, Some(1)));
    assert_eq!(cond(&d.status, VALID).0, ConditionStatus::True);
    // A malformed item.
    let d = decide_invalid(
        None,
        0,
        Invalidity::ValidationFailed,
        "spec.idleTimout: unknown field",
        at(3),
    );
    assert_eq!(
        (d.status.phase, d.status.message.as_str(), d.replicas),
        (Phase::Invalid, "spec.idleTimout: unknown field", None)
    );
}

// ---- conditions, phaseSince, idempotence ------------------------------------------------

#[test]
fn conditions_change_transition_time_only_when_their_status_changes() {
    let r = Record::test("demo").asleep().woken_at(at(0));
    let r = r.after(&service(0, vec![]), at(1));
    let ready_at_1 = r
        .status
        .as_ref()
        .unwrap()
        .condition(READY)
        .unwrap()
        .last_transition_time;
    assert_eq!(ready_at_1, at(1));
    let r = r.after(
        &service(1, vec![task(ARN_A, TaskStatus::Pending, at(2))]),
        at(20),
    );
    let c = r.status.as_ref().unwrap().condition(READY).unwrap();
    assert_eq!(
        (
            c.last_transition_time,
            c.reason.as_str(),
            c.message.as_str()
        ),
        (at(1), "Waking", "task is PENDING")
    );
    let r = r.after(&service(1, vec![running(ARN_A, at(2))]), at(40));
    let s = r.status.as_ref().unwrap();
    assert_eq!(s.condition(READY).unwrap().last_transition_time, at(40));
    assert_eq!(s.phase_since, Some(at(40)));
}

#[test]
fn decide_is_a_fixed_point_once_nothing_changes() {
    // For each settled situation, deciding again on the published status changes nothing.
    let ready = service(1, vec![running(ARN_A, at(0))]);
    let cases: Vec<(Record, Observed)> = vec![
        (Record::test("a").asleep(), service(0, vec![])),
        (Record::test("b").woken_at(at(0)), ready.clone()),
        (Record::test("c").mode(Mode::On), ready.clone()),
        (
            Record::test("d").idle_timeout(Duration::from_secs(1)),
            service(0, vec![]),
        ),
        (Record::test("e").mode(Mode::Off), service(0, vec![])),
    ];
    for (r, o) in cases {
        let name = r.metadata.name.clone();
        let once = r.after(&o, at(60));
        let twice = decide(&once, &o, at(61));
        assert_eq!(Some(&twice.status), once.status.as_ref(), "{name}");
    }
}

#[test]
fn clean_reason_strips_arns_and_account_ids() {
    let cases = [
        (
            "Essential container in task exited",
            "Essential container in task exited",
        ),
        (
            "ResourceInitializationError: unable to pull secrets: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
            "ResourceInitializationError: unable to pull secrets: secret:db-AbCdEf",
        ),
        (
            "image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
            "image <account>.dkr.ecr.eu-west-1.amazonaws.com/app",
        ),
        (
            "(arn:aws-cn:iam::210987654321:role/exec) denied",
            "(role/exec) denied",
        ),
        (
            "exit code 1234567890123 and 137",
            "exit code 1234567890123 and 137",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(clean_reason(input), want, "{input}");
    }
}

#[test]
fn a_scale_failure_keeps_the_observed_count_for_drift() {
    let asleep = service(0, vec![]);
    let r = Record::test("demo")
        .asleep()
        .after(&asleep, at(0))
        .woken_at(at(5));
    let mut d = decide(&r, &asleep, at(6));
    assert_eq!(d.replicas, Some(1));
    d.status = error_policy(
        Some(&d),
        Failed::Scale { from: 0 },
        "UpdateService throttled: Rate exceeded",
    )
    .publish
    .expect("a failed scale publishes the decided status");
    assert!(
        d.status
            .message
            .ends_with("scaling failed: UpdateService throttled: Rate exceeded")
    );
    // Next pass: still 0 observed; no drift, just another scale-up.
    let r = r.with_status(d.status);
    let d = decide(&r, &asleep, at(11));
    assert_eq!(d.replicas, Some(1));
    assert_eq!(cond(&d.status, DRIFT).0, ConditionStatus::False);
}

// ---- route mode (spec.routing.mode: route) --------------------------------------------

use crate::model::RouteTo;
use crate::platform::LoadBalancerObservation;
use crate::router::{RouteObservation, RouteTarget};

/// `o` with the router's view of the stable address (`None`: the router has no route).
fn routed(o: Observed, to: Option<RouteTarget>) -> Observed {
    observed_route(
        o,
        match to {
            Some(t) => RouteObservation::At(t),
            None => RouteObservation::Absent,
        },
    )
}

fn observed_route(o: Observed, route: RouteObservation) -> Observed {
    let Observed::Found(mut s) = o else {
        panic!("not found")
    };
    s.route = route;
    Observed::Found(s)
}

const SVC: &str = "203.0.113.10:80";

fn svc() -> RouteTarget {
    RouteTarget::Service(SVC.into())
}

#[test]
fn route_mode_points_the_address_at_the_service_only_when_ready() {
    let r = Record::test("demo")
        .routed_at("Demo.Example.com.")
        .asleep()
        .woken_at(at(0));
    // Asleep with no route yet: the address is pointed at the wake endpoint.
    let d = decide(&r, &routed(service(0, vec![]), None), at(1));
    assert_eq!(d.status.phase, Phase::Waking);
    assert_eq!(d.route, Some(RouteTarget::Wake));
    let route = d.status.route.clone().unwrap();
    assert_eq!(
        (route.host.as_str(), route.to, route.backend, route.since),
        ("demo.example.com", RouteTo::Wake, None, at(1))
    );
    assert_eq!(
        cond(&d.status, ROUTED),
        (ConditionStatus::False, "RoutedToWakeEndpoint".into())
    );
    let r = r.after(&routed(service(0, vec![]), None), at(1));
    // Waking, the route already at the wake endpoint: nothing to point.
    let o = routed(
        service(1, vec![task(ARN_A, TaskStatus::Pending, at(2))]),
        Some(RouteTarget::Wake),
    );
    let d = decide(&r, &o, at(20));
    assert_eq!((d.status.phase, d.route), (Phase::Waking, None));
    assert_eq!(d.status.route.as_ref().unwrap().since, at(1), "kept");
    let r = r.after(&o, at(20));
    // Ready: the address goes to the service, in the same decision.
    let o = routed(
        service(1, vec![running(ARN_A, at(2))]),
        Some(RouteTarget::Wake),
    );
    let d = decide(&r, &o, at(41));
    assert_eq!(d.status.phase, Phase::Ready);
    assert_eq!(d.route, Some(svc()));
    let route = d.status.route.clone().unwrap();
    assert_eq!(
        (route.to, route.backend.as_deref(), route.since),
        (RouteTo::Service, Some(SVC), at(41))
    );
    assert_eq!(
        cond(&d.status, ROUTED),
        (ConditionStatus::True, "RoutedToService".into())
    );
    // Once routed, a steady Ready record points nothing and writes nothing new.
    let r = r.after(&o, at(41));
    let o = routed(service(1, vec![running(ARN_A, at(2))]), Some(svc()));
    let d = decide(&r, &o, at(60));
    assert_eq!(d.route, None);
    assert_eq!(Some(&d.status), r.status.as_ref(), "a fixed point");
}

#[test]
fn route_mode_points_the_address_back_in_the_decision_that_scales_down() {
    let t = at(0);
    let r = Record::test("demo")
        .routed_at("demo.example.com")
        .asleep()
        .woken_at(t);
    let r = r.after(&routed(service(0, vec![]), None), at(1));
    let up = routed(
        service(1, vec![running(ARN_A, at(2))]),
        Some(RouteTarget::Wake),
    );
    let r = r.after(&up, at(41));
    assert_eq!(
        r.status.as_ref().unwrap().route.as_ref().unwrap().to,
        RouteTo::Service
    );
    // Idle: the scale-down and the route back to the wake endpoint are one decision (the pass
    // points the route first).
    let o = routed(service(1, vec![running(ARN_A, at(2))]), Some(svc()));
    let d = decide(&r, &o, at(41 + 16 * MIN));
    assert_eq!(d.replicas, Some(0));
    assert_eq!(d.route, Some(RouteTarget::Wake));
    assert_eq!(d.status.route.as_ref().unwrap().to, RouteTo::Wake);
    // An explicit sleep, a failed wake, mode off: never routed to the service either.
    let asleep_req = r.clone().sleep_requested_at(at(50));
    let d = decide(&asleep_req, &o, at(51));
    assert_eq!(
        (d.replicas, d.route.clone()),
        (Some(0), Some(RouteTarget::Wake))
    );
    let off = r.clone().mode(Mode::Off);
    assert_eq!(decide(&off, &o, at(51)).route, Some(RouteTarget::Wake));
}

#[test]
fn a_route_changed_outside_snooze_is_set_back_and_reported() {
    let r = Record::test("demo")
        .routed_at("demo.example.com")
        .asleep()
        .woken_at(at(0));
    let r = r.after(&routed(service(0, vec![]), None), at(1));
    let up = routed(
        service(1, vec![running(ARN_A, at(2))]),
        Some(RouteTarget::Wake),
    );
    let r = r.after(&up, at(41));
    // Someone pointed the address back at the wake endpoint while the service is Ready.
    let o = routed(
        service(1, vec![running(ARN_A, at(2))]),
        Some(RouteTarget::Wake),
    );
    let d = decide(&r, &o, at(60));
    assert_eq!(d.route, Some(svc()));
    let (status, reason) = cond(&d.status, ROUTED);
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::True, ROUTE_CHANGED)
    );
    assert!(
        d.status
            .condition(ROUTED)
            .unwrap()
            .message
            .contains("outside snooze"),
        "{:?}",
        d.status.condition(ROUTED)
    );
    // Pointed elsewhere (another backend) while asleep: set back to the wake endpoint.
    let asleep = Record::test("demo")
        .routed_at("demo.example.com")
        .asleep()
        .after(&routed(service(0, vec![]), None), at(1));
    let o = routed(
        service(0, vec![]),
        Some(RouteTarget::Service("198.51.100.1:80".into())),
    );
    let d = decide(&asleep, &o, at(5));
    assert_eq!(d.route, Some(RouteTarget::Wake));
    assert_eq!(cond(&d.status, ROUTED).1, ROUTE_CHANGED);
}

#[test]
fn redirect_mode_has_no_route_and_a_missing_service_routes_to_the_wake_endpoint() {
    let d = decide(&Record::test("demo").asleep(), &service(0, vec![]), at(1));
    assert_eq!((&d.route, &d.status.route), (&None, &None));
    assert!(d.status.condition(ROUTED).is_none());
    let gone = Observed::Missing {
        message: "service demo-svc not found in cluster demo-cluster".into(),
    };
    let r = Record::test("demo").routed_at("demo.example.com").asleep();
    let d = decide(&r, &gone, at(1));
    assert_eq!(d.route, Some(RouteTarget::Wake));
}

#[test]
fn a_route_removed_outside_snooze_is_created_again_and_an_unobserved_one_trusts_the_status() {
    let r = Record::test("demo")
        .routed_at("demo.example.com")
        .asleep()
        .woken_at(at(0));
    let r = r.after(&routed(service(0, vec![]), None), at(1));
    let up = routed(
        service(1, vec![running(ARN_A, at(2))]),
        Some(RouteTarget::Wake),
    );
    let r = r.after(&up, at(41));
    let ready = service(1, vec![running(ARN_A, at(2))]);
    // The router has no route although snooze set one: created again, reported.
    let d = decide(
        &r,
        &observed_route(ready.clone(), RouteObservation::Absent),
        at(60),
    );
    assert_eq!(d.route, Some(svc()));
    assert_eq!(cond(&d.status, ROUTED).1, ROUTE_CHANGED);
    assert!(
        d.status
            .condition(ROUTED)
            .unwrap()
            .message
            .contains("removed outside snooze"),
        "{:?}",
        d.status.condition(ROUTED)
    );
    // Not observed (the router's observe failed): the status is trusted, nothing pointed.
    let d = decide(
        &r,
        &observed_route(ready, RouteObservation::Unknown),
        at(60),
    );
    assert_eq!(d.route, None);
    assert_eq!(cond(&d.status, ROUTED).1, "RoutedToService");
}

#[test]
fn a_service_behind_a_target_group_is_routed_to_the_group_of_its_endpoint_port() {
    const TG_WEB: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/1";
    const TG_ADMIN: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/admin/2";
    let r = Record::test("demo")
        .routed_at("demo.example.com")
        .asleep()
        .woken_at(at(0));
    let r = r.after(&routed(service(0, vec![]), None), at(1));
    let with_groups = |o: Observed, groups: &[(&str, Option<u16>)]| {
        let Observed::Found(mut s) = o else { panic!() };
        s.load_balancers = groups
            .iter()
            .map(|(arn, port)| LoadBalancerObservation {
                target_group_arn: arn.to_string(),
                container_port: *port,
            })
            .collect();
        Observed::Found(s)
    };
    let port = r.spec.endpoint_port();
    let up = with_groups(
        routed(
            service(1, vec![running(ARN_A, at(2))]),
            Some(RouteTarget::Wake),
        ),
        &[(TG_ADMIN, Some(port + 1)), (TG_WEB, Some(port))],
    );
    let d = decide(&r, &up, at(41));
    assert_eq!(d.route, Some(RouteTarget::Service(TG_WEB.into())));
    assert_eq!(
        d.status.route.as_ref().unwrap().backend.as_deref(),
        Some(TG_WEB)
    );
    // Two groups, neither on the endpoint port: ambiguous, so the task's address.
    let ambiguous = with_groups(
        routed(
            service(1, vec![running(ARN_A, at(2))]),
            Some(RouteTarget::Wake),
        ),
        &[(TG_ADMIN, Some(port + 1)), (TG_WEB, Some(port + 2))],
    );
    assert_eq!(decide(&r, &ambiguous, at(41)).route, Some(svc()));
}

mod route_properties {
    use proptest::prelude::*;

    use super::*;

    fn arb_task() -> impl Strategy<Value = TaskObservation> {
        (
            prop_oneof![
                Just(TaskStatus::Provisioning),
                Just(TaskStatus::Pending),
                Just(TaskStatus::Running),
                Just(TaskStatus::Stopping),
            ],
            any::<bool>(),
            0u64..120,
        )
            .prop_map(|(last, stop_wanted, created)| {
                let mut t = task(ARN_A, last, at(created));
                if stop_wanted {
                    t.desired_status = TaskStatus::Stopped;
                }
                t
            })
    }

    fn arb_route() -> impl Strategy<Value = Option<RouteTarget>> {
        prop_oneof![
            Just(None),
            Just(Some(RouteTarget::Wake)),
            Just(Some(svc())),
            Just(Some(RouteTarget::Service("198.51.100.9:80".into()))),
        ]
    }

    proptest! {
        /// Whatever the facts, the previous status and the route as observed: the decision
        /// never points the address at a service that is not Ready or that it scales down, and
        /// a status never says the address points at the service unless it is Ready.
        #[test]
        fn never_routed_to_a_service_that_is_not_ready_or_being_scaled_down(
            desired in 0u32..3,
            tasks in proptest::collection::vec(arb_task(), 0..3),
            observed_route in arb_route(),
            woken in proptest::option::of(0u64..2000),
            active in proptest::option::of(0u64..2000),
            slept in proptest::option::of(0u64..2000),
            mode in prop_oneof![Just(Mode::Auto), Just(Mode::On), Just(Mode::Off)],
            prev_steps in 0usize..4,
            now in 0u64..3000,
        ) {
            let mut r = Record::test("demo").routed_at("demo.example.com").mode(mode).asleep();
            r.desired.wake_requested_at = woken.map(at);
            r.desired.last_activity_at = active.map(at);
            r.desired.sleep_requested_at = slept.map(at);
            let o = routed(service(desired, tasks), observed_route);
            // A few earlier decisions on the same facts give a realistic previous status.
            for i in 0..prev_steps {
                r = r.after(&o, at(now.saturating_sub(10 * (prev_steps - i) as u64)));
            }
            let d = decide(&r, &o, at(now));
            let ready = d.status.phase == Phase::Ready;
            let scaling_down = d.replicas == Some(0);
            if let Some(RouteTarget::Service(_)) = &d.route {
                prop_assert!(ready && !scaling_down, "routed to a service that is {:?}", d.status.phase);
            }
            let route = d.status.route.as_ref().expect("route mode always has a route status");
            if route.to == RouteTo::Service {
                prop_assert!(ready, "status says routed while {:?}", d.status.phase);
            }
            if d.replicas == Some(0) && desired > 0 {
                prop_assert_eq!(route.to, RouteTo::Wake);
                prop_assert!(
                    d.route.is_none() || d.route == Some(RouteTarget::Wake),
                    "a scale-down points the route back, not elsewhere"
                );
            }
            // What the decision points at is what the status publishes.
            match (&d.route, route.to) {
                (Some(RouteTarget::Wake), to) => prop_assert_eq!(to, RouteTo::Wake),
                (Some(RouteTarget::Service(b)), to) => {
                    prop_assert_eq!(to, RouteTo::Service);
                    prop_assert_eq!(route.backend.as_deref(), Some(b.as_str()));
                }
                (None, _) => {}
            }
        }
    }
}

// ---- schedules (precedence rows 5, 6, 7) ---------------------------------------------------

use crate::model::schedule::Schedule;

/// 2026-11-30 is a Monday.
fn mon(hms: &str) -> Timestamp {
    format!("2026-11-30T{hms}Z").parse().unwrap()
}

fn scheduled(prewarm: &str) -> Record {
    let mut r = Record::test("d");
    r.spec.schedule = Some(
        Schedule::test("UTC")
            .awake("Mon-Fri 09:00-17:00")
            .asleep("Mon-Sun 22:00-06:00")
            .prewarm(prewarm),
    );
    r
}

#[test]
fn an_awake_window_and_its_prewarm_lead_want_the_service_awake_until_the_window_ends() {
    let r = scheduled("90s");
    let w = want(&r, None, mon("08:58:29"));
    assert_eq!((w.awake, w.why), (false, Why::NoWakeRequest));
    let w = want(&r, None, mon("08:58:30"));
    assert_eq!((w.awake, w.why), (true, Why::Prewarm));
    assert_eq!(w.sleeps_at, Some(mon("17:00:00")));
    let w = want(&r, None, mon("10:00:00"));
    assert_eq!((w.awake, w.why), (true, Why::AwakeWindow));
    assert_eq!(w.sleeps_at, Some(mon("17:00:00")));
    // After the window, the idle timeout of the last activity still applies (row 9).
    assert!(!want(&r, None, mon("17:00:00")).awake);
    let active = r.clone().active_at(mon("16:55:00"));
    let w = want(&active, None, mon("17:05:00"));
    assert_eq!((w.awake, w.why), (true, Why::Activity));
    assert_eq!(w.sleeps_at, Some(mon("17:10:00")));
    // Activity late in the window keeps it past the end.
    assert_eq!(
        want(&active, None, mon("16:56:00")).sleeps_at,
        Some(mon("17:10:00"))
    );
    // A runner that comes back only every minute starts the lead a minute earlier.
    let w = want_in(&r, None, mon("08:57:30"), Duration::from_secs(60));
    assert_eq!((w.awake, w.why), (true, Why::Prewarm));
    assert!(!want(&r, None, mon("08:57:30")).awake);
}

#[test]
fn quiet_hours_refuse_wakes_and_activity_but_not_a_forced_wake() {
    let r = scheduled("off").woken_at(mon("22:59:00"));
    let w = want(&r, None, mon("23:00:00"));
    assert_eq!((w.awake, w.why), (false, Why::QuietHours));
    assert_eq!(w.quiet_until, Some("2026-12-01T06:00:00Z".parse().unwrap()));
    let w = want(&r.clone().active_at(mon("23:00:00")), None, mon("23:00:30"));
    assert_eq!(w.why, Why::QuietHours);
    let forced = scheduled("off").forced_at(mon("22:59:00"));
    let w = want(&forced, None, mon("23:00:00"));
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    assert_eq!(w.quiet_until, None);
    // After quiet hours end the plain wake request is long idle.
    assert!(!want(&r, None, "2026-12-01T06:00:00Z".parse().unwrap()).awake);
}

#[test]
fn an_operator_sleep_inside_a_window_wins_until_the_next_window_starts() {
    let r = scheduled("off").sleep_requested_at(mon("10:30:00"));
    let w = want(&r, None, mon("11:00:00"));
    assert_eq!((w.awake, w.why), (false, Why::SleepRequested));
    // A visitor after the sleep request wakes it again (row 6 needs the sleep to be newer).
    let visited = r.clone().woken_at(mon("11:00:00"));
    let w = want(&visited, None, mon("11:01:00"));
    assert_eq!((w.awake, w.why), (true, Why::AwakeWindow));
    // The next window (Tuesday) starts after the sleep request: awake.
    let w = want(&r, None, "2026-12-01T09:00:00Z".parse().unwrap());
    assert_eq!((w.awake, w.why), (true, Why::AwakeWindow));
    // A sleep request before the window started does not hold it back.
    let early = scheduled("off").sleep_requested_at(mon("08:00:00"));
    assert!(want(&early, None, mon("09:00:00")).awake);
}

#[test]
fn a_scheduled_record_is_requeued_at_the_next_boundary() {
    let r = scheduled("90s").asleep();
    let d = decide(&r, &service(0, vec![]), mon("08:00:00"));
    assert_eq!((d.status.phase, d.replicas), (Phase::Asleep, Some(0)));
    // The pre-warm lead begins at 08:58:30.
    assert_eq!(d.requeue, Requeue::After(Duration::from_secs(58 * 60 + 30)));
    // Without a schedule: nothing to wait for.
    let plain = Record::test("d").asleep();
    assert_eq!(
        decide(&plain, &service(0, vec![]), mon("08:00:00")).requeue,
        Requeue::AwaitChange
    );
    // At 08:58:30 the service is scaled up.
    let d = decide(&r, &service(0, vec![]), mon("08:58:30"));
    assert_eq!(d.replicas, Some(1));
}

#[test]
fn visitors_let_in_during_a_forced_wake_keep_it_going_and_quiet_hours_end_at_the_lead() {
    // Quiet 22:00-06:00; forced at 23:00; a visitor's wake at 23:10 extends it.
    let r = scheduled("off")
        .forced_at(mon("23:00:00"))
        .woken_at(mon("23:10:00"));
    let w = want(&r, None, mon("23:20:00"));
    assert_eq!((w.awake, w.why), (true, Why::Forced));
    assert_eq!(w.sleeps_at, Some(mon("23:25:00")));
    assert_eq!(want(&r, None, mon("23:25:00")).why, Why::QuietHours);
    // Quiet hours that end as a window starts end for visitors when the lead begins.
    let mut early = Record::test("d");
    early.spec.schedule = Some(
        Schedule::test("UTC")
            .awake("Mon-Fri 09:00-17:00")
            .asleep("Mon-Sun 22:00-09:00")
            .prewarm("90s"),
    );
    let w = want(&early, None, mon("08:00:00"));
    assert_eq!(w.why, Why::QuietHours);
    assert_eq!(w.quiet_until, Some(mon("08:58:30")));
    assert_eq!(
        early.quiet_until(mon("08:00:00"), Duration::ZERO),
        Some(mon("08:58:30"))
    );
    assert_eq!(want(&early, None, mon("08:58:30")).why, Why::Prewarm);
}
