//! The pure decision: [`decide`]`(record, observed, now) -> `[`Decision`].
//!
//! No I/O and no clock: everything comes in as arguments, so every rule of DESIGN.md §3 is a
//! table test. The function first reduces its inputs to a [`Situation`] (STYLE.md §2), then
//! builds the next [`Status`] for that situation.
//!
//! Bookkeeping that must survive between passes lives in `status.memo` under these keys:
//!
//! | key                | value                | meaning                                              |
//! |--------------------|----------------------|------------------------------------------------------|
//! | `lastSet`          | number               | the desiredCount snooze last set or adopted          |
//! | `failedAt`         | timestamp            | when the current `Failed` latch was set              |
//! | `driftCorrections` | number               | drift corrections in the current drift episode       |
//! | `driftCorrectedAt` | timestamp            | when the last drift correction was sent              |
//! | `missingCheckedAt` | timestamp            | when the service was last seen MISSING/INACTIVE      |

use std::time::Duration;

use serde_json::{Map, Value};

use crate::model::{
    AddressKind, Condition, ConditionStatus, EndpointStatus, LastWake, Mode, Phase, Record,
    ReplicaStatus, Status, Step, Timestamp, validate,
};
use crate::platform::{Health, Observed, ServiceObservation, TaskObservation, TaskStatus};

/// Condition type: the service is Ready (True), waking or asleep (False).
pub const READY: &str = "Ready";
/// Condition type: the ECS service exists and is ACTIVE.
pub const SERVICE_FOUND: &str = "ServiceFound";
/// Condition type: desiredCount was changed outside snooze (True while correcting or backing off).
pub const DRIFT: &str = "Drift";
/// Condition type: the record parses and validates.
pub const VALID: &str = "Valid";
/// Reason of `Valid=False`: the record does not parse or validate.
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// Reason of `Valid=False`: another (older) record manages the same service
/// ([`crate::model::Target::identity`]); found by full passes, kept by scoped ones.
pub const TARGET_CONFLICT: &str = "TargetConflict";

/// How long a transitional record (Waking, Sleeping) waits before it is looked at again.
pub const TRANSITION_REQUEUE: Duration = Duration::from_secs(5);
/// How long a record whose service is MISSING/INACTIVE waits before it is observed again.
pub const MISSING_RECHECK: Duration = Duration::from_secs(600);
/// How long a record whose observation failed waits before it is looked at again.
pub const OBSERVE_RETRY: Duration = Duration::from_secs(30);
/// Stopped tasks (not stopped by snooze) within one wake attempt after which it is `Failed`.
pub const MAX_TASK_FAILURES: usize = 3;
/// First drift back-off; doubles with every correction in one episode, up to [`DRIFT_BACKOFF_MAX`].
pub const DRIFT_BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest drift back-off.
pub const DRIFT_BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// A drift episode ends (the correction count resets) this long after the last correction.
pub const DRIFT_QUIET: Duration = Duration::from_secs(60 * 60);

const MEMO_LAST_SET: &str = "lastSet";
const MEMO_FAILED_AT: &str = "failedAt";
const MEMO_DRIFT_CORRECTIONS: &str = "driftCorrections";
const MEMO_DRIFT_CORRECTED_AT: &str = "driftCorrectedAt";
const MEMO_MISSING_CHECKED_AT: &str = "missingCheckedAt";

/// When to look at a record again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Look again after this long (transitional phases, drift back-off, `sleepsAt`).
    After(Duration),
    /// Nothing will change by itself; wait for a change or the periodic resync.
    AwaitChange,
}

impl std::fmt::Display for Requeue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requeue::After(d) => write!(
                f,
                "after {}",
                humantime::format_duration(Duration::from_secs(d.as_secs().max(1)))
            ),
            Requeue::AwaitChange => f.write_str("on change"),
        }
    }
}

/// What the inputs reduce to, before any status is built. One arm per case.
#[derive(Clone, Debug, PartialEq)]
pub enum Situation {
    /// The record fails validation (or did not parse): phase Invalid, nothing done.
    Invalid {
        /// Every problem, `path: reason`, joined by `; `.
        message: String,
    },
    /// ECS reports the service MISSING, DRAINING or INACTIVE: a condition, no scaling.
    ServiceGone {
        /// `ServiceMissing` or `ServiceInactive`.
        reason: &'static str,
        /// e.g. `service demo-svc not found in cluster demo-cluster`.
        message: String,
    },
    /// The platform could not observe this service this time: keep the last status.
    Unobserved {
        /// The platform error (with its code).
        message: String,
    },
    /// A wake failed earlier and no newer wake request arrived: stay at 0.
    FailedLatched {
        /// Why it failed.
        message: String,
    },
    /// The service should be awake.
    Awake {
        /// Why, in plain words: `mode on`, `wake requested`, `activity`, `task started`.
        why: &'static str,
    },
    /// The service should be asleep.
    Asleep {
        /// Why, in plain words: `mode off`, `sleep requested`, `idle`, `no wake request`,
        /// `replicas 0`.
        why: &'static str,
    },
}

/// The output of [`decide`]: what to do and what to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The classified inputs.
    pub situation: Situation,
    /// The desiredCount to set, or `None` to leave the service alone (invalid record, missing
    /// service, failed observation, drift back-off). The pass calls `scale` only when this is
    /// `Some(n)` and `n` differs from the observed desiredCount.
    pub replicas: Option<u32>,
    /// The next status (publish it when it differs from the stored one).
    pub status: Status,
    /// When to look again.
    pub requeue: Requeue,
    /// A few words for logs and pass reports, e.g. `wake requested`, `idle for 15m`.
    pub reason: String,
}

impl Decision {
    /// True for the phases that change by themselves soon (Waking, Sleeping).
    pub fn is_transitional(&self) -> bool {
        matches!(self.status.phase, Phase::Waking | Phase::Sleeping)
    }
}

/// Whether and why the service should be awake, from `spec.mode`, the `desired` facts, task
/// start times and `spec.idleTimeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// Awake wanted.
    pub awake: bool,
    /// Why (see [`Situation::Awake`] / [`Situation::Asleep`]).
    pub why: &'static str,
    /// When the service goes to sleep if nothing else happens (`mode: auto` and awake only).
    pub sleeps_at: Option<Timestamp>,
}

/// Awake wanted = `mode on`, or `mode auto` and `now < last wanted + idleTimeout` where "last
/// wanted" is the latest of `wakeRequestedAt`, `lastActivityAt` and the start (or creation) of
/// any task that ECS still wants running (a task started out of band counts as activity), unless
/// `sleepRequestedAt` is at or after it.
pub fn want(record: &Record, service: Option<&ServiceObservation>, now: Timestamp) -> Want {
    let asleep = |why| Want {
        awake: false,
        why,
        sleeps_at: None,
    };
    match record.spec.mode {
        Mode::Off => return asleep("mode off"),
        Mode::On => {
            return if record.spec.replicas == 0 {
                asleep("replicas 0")
            } else {
                Want {
                    awake: true,
                    why: "mode on",
                    sleeps_at: None,
                }
            };
        }
        Mode::Auto => {}
    }
    let d = &record.desired;
    let task_started = service.and_then(|s| {
        s.tasks
            .iter()
            .filter(|t| t.desired_status == TaskStatus::Running)
            .filter_map(|t| t.started_at.or(t.created_at))
            .max()
    });
    let candidates = [
        (d.wake_requested_at, "wake requested"),
        (d.last_activity_at, "activity"),
        (task_started, "task started"),
    ];
    let Some((last, why)) = candidates
        .iter()
        .filter_map(|(t, why)| t.map(|t| (t, *why)))
        .max_by_key(|(t, _)| *t)
    else {
        return asleep("no wake request");
    };
    if d.sleep_requested_at.is_some_and(|s| s >= last) {
        return asleep("sleep requested");
    }
    if record.spec.replicas == 0 {
        return asleep("replicas 0");
    }
    let sleeps_at = last.add(record.spec.idle_timeout.get());
    if now < sleeps_at {
        Want {
            awake: true,
            why,
            sleeps_at: Some(sleeps_at),
        }
    } else {
        asleep("idle")
    }
}

/// Readiness of a service, a predicate over observed data (tested ready / pending / missing).
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    /// A task is serving: RUNNING with desiredStatus RUNNING, healthy, probed, with an address.
    Ready {
        /// The task's ARN.
        task_arn: String,
        /// The address to publish.
        ip: String,
    },
    /// Not yet: how far the best task got, and what it waits for.
    NotReady {
        /// Progress for the wait page.
        step: Step,
        /// What is missing, e.g. `task is PROVISIONING`, `no public IP yet`.
        detail: String,
    },
}

/// The readiness predicate. `prefer` keeps the published task when it is still ready.
pub fn readiness(record: &Record, service: &ServiceObservation, prefer: Option<&str>) -> Readiness {
    let probe_required = record
        .spec
        .readiness
        .as_ref()
        .is_some_and(|r| r.http_get.is_some());
    let address = |t: &TaskObservation| match record.spec.endpoint.address {
        AddressKind::Public => t.public_ip.clone(),
        AddressKind::Private => t.private_ip.clone(),
    };
    if service.desired_count == 0 {
        return Readiness::NotReady {
            step: Step::Requested,
            detail: "desiredCount is 0".into(),
        };
    }
    let mut best: Option<(Step, String)> = None;
    let mut ready: Vec<(&TaskObservation, String)> = Vec::new();
    for t in service
        .tasks
        .iter()
        .filter(|t| t.desired_status == TaskStatus::Running)
    {
        let (step, detail) = match t.last_status {
            TaskStatus::Provisioning => (Step::Provisioning, "task is PROVISIONING".to_string()),
            TaskStatus::Pending => (Step::Pending, "task is PENDING".to_string()),
            TaskStatus::Activating => (Step::Pending, "task is ACTIVATING".to_string()),
            TaskStatus::Running => {
                if matches!(t.health, Some(Health::Unhealthy) | Some(Health::Unknown)) {
                    let h = if t.health == Some(Health::Unhealthy) {
                        "UNHEALTHY"
                    } else {
                        "UNKNOWN"
                    };
                    (Step::Running, format!("container health is {h}"))
                } else if probe_required && !t.probe.as_ref().is_some_and(|p| p.passed) {
                    let detail = match &t.probe {
                        Some(p) => format!("readiness probe failed: {}", p.detail),
                        None if address(t).is_none() => "no address to probe yet".to_string(),
                        None => "readiness probe not run yet".to_string(),
                    };
                    (Step::Running, detail)
                } else if let Some(ip) = address(t) {
                    ready.push((t, ip));
                    continue;
                } else {
                    let which = match record.spec.endpoint.address {
                        AddressKind::Public => "public",
                        AddressKind::Private => "private",
                    };
                    let detail = if t.eni_id.is_none() {
                        "task has no network interface yet".to_string()
                    } else {
                        format!("no {which} IP on the task's network interface yet")
                    };
                    (Step::Healthy, detail)
                }
            }
            // Deactivating/stopping tasks with desiredStatus RUNNING do not occur; skip them.
            _ => continue,
        };
        if best.as_ref().is_none_or(|(s, _)| step > *s) {
            best = Some((step, detail));
        }
    }
    if !ready.is_empty() {
        let chosen = ready
            .iter()
            .find(|(t, _)| Some(t.arn.as_str()) == prefer)
            .or_else(|| {
                ready
                    .iter()
                    .min_by_key(|(t, _)| (t.started_at, t.arn.clone()))
            })
            .expect("non-empty");
        return Readiness::Ready {
            task_arn: chosen.0.arn.clone(),
            ip: chosen.1.clone(),
        };
    }
    let (step, detail) = best.unwrap_or((Step::Scaling, "no task started yet".into()));
    Readiness::NotReady { step, detail }
}

/// Decides the target desiredCount, the next status and the requeue for one record.
///
/// Pure: `now` is the only time; the previous status is `record.status`.
pub fn decide(record: &Record, observed: &Observed, now: Timestamp) -> Decision {
    let errors = validate(record);
    if !errors.is_empty() {
        let message = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return decide_invalid(
            record.status.as_ref(),
            record.metadata.generation,
            VALIDATION_FAILED,
            &message,
            now,
        );
    }
    let prev = record.status.clone().unwrap_or_default();
    let service = match observed {
        Observed::Found(s) => s,
        Observed::Missing { message } => {
            return gone(record, &prev, "ServiceMissing", message, now);
        }
        Observed::Inactive { status, message } => {
            let message = if message.is_empty() {
                format!("service is {status}")
            } else {
                message.clone()
            };
            return gone(record, &prev, "ServiceInactive", &message, now);
        }
        Observed::Error(e) => return unobserved(record, &prev, &e.to_string(), now),
    };

    let want = want(record, Some(service), now);
    let failed_at = memo_ts(&prev.memo, MEMO_FAILED_AT);
    let latched = prev.phase == Phase::Failed
        && failed_at.is_some_and(|f| {
            let newer_wake = record.desired.wake_requested_at.is_some_and(|w| w > f);
            let spec_changed = record.metadata.generation != prev.observed_generation;
            want.awake && !newer_wake && !spec_changed
        });
    let situation = if latched {
        Situation::FailedLatched {
            message: prev.message.clone(),
        }
    } else if want.awake {
        Situation::Awake { why: want.why }
    } else {
        Situation::Asleep { why: want.why }
    };
    build(record, &prev, service, situation, want, now)
}

/// The decision for a record that does not validate or parse (also used for
/// `Entry::Malformed`), or that conflicts with another record: phase Invalid with the message,
/// condition `Valid=False` with `reason` ([`VALIDATION_FAILED`] or [`TARGET_CONFLICT`]),
/// nothing done.
pub fn decide_invalid(
    prev: Option<&Status>,
    generation: u64,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Decision {
    let prev = prev.cloned().unwrap_or_default();
    let mut s = Status {
        phase: Phase::Invalid,
        phase_since: None,
        observed_generation: generation,
        step: None,
        replicas: prev.replicas,
        endpoint: None,
        sleeps_at: None,
        wake_started_at: None,
        last_wake: prev.last_wake.clone(),
        recent_wake_seconds: prev.recent_wake_seconds.clone(),
        conditions: prev.conditions.clone(),
        message: message.to_string(),
        memo: prev.memo.clone(),
    };
    s.phase_since = since(&prev, Phase::Invalid, now);
    set_condition(
        &mut s.conditions,
        VALID,
        ConditionStatus::False,
        reason,
        message,
        now,
    );
    set_condition(
        &mut s.conditions,
        READY,
        ConditionStatus::False,
        "Invalid",
        "",
        now,
    );
    Decision {
        situation: Situation::Invalid {
            message: message.to_string(),
        },
        replicas: None,
        status: s,
        requeue: Requeue::AwaitChange,
        reason: "invalid".into(),
    }
}

fn gone(
    record: &Record,
    prev: &Status,
    reason: &'static str,
    message: &str,
    now: Timestamp,
) -> Decision {
    let want = want(record, None, now);
    let phase = if want.awake {
        Phase::Failed
    } else {
        Phase::Asleep
    };
    let mut s = base_status(record, prev, phase, now);
    s.replicas = ReplicaStatus::default();
    s.message = message.to_string();
    s.memo.remove(MEMO_LAST_SET);
    s.memo.remove(MEMO_FAILED_AT);
    put_ts(&mut s.memo, MEMO_MISSING_CHECKED_AT, now);
    set_condition(
        &mut s.conditions,
        SERVICE_FOUND,
        ConditionStatus::False,
        reason,
        message,
        now,
    );
    set_condition(
        &mut s.conditions,
        READY,
        ConditionStatus::False,
        "ServiceNotFound",
        message,
        now,
    );
    Decision {
        situation: Situation::ServiceGone {
            reason,
            message: message.to_string(),
        },
        replicas: None,
        status: s,
        requeue: Requeue::After(MISSING_RECHECK),
        reason: message.to_string(),
    }
}

fn unobserved(record: &Record, prev: &Status, message: &str, now: Timestamp) -> Decision {
    let phase = if prev.phase == Phase::Invalid {
        Phase::Asleep
    } else {
        prev.phase
    };
    let mut s = prev.clone();
    s.phase = phase;
    s.phase_since = since(prev, phase, now);
    s.observed_generation = record.metadata.generation;
    s.message = format!("could not observe the service: {message}");
    set_condition(
        &mut s.conditions,
        VALID,
        ConditionStatus::True,
        "Validated",
        "",
        now,
    );
    Decision {
        situation: Situation::Unobserved {
            message: message.to_string(),
        },
        replicas: None,
        status: s,
        requeue: Requeue::After(OBSERVE_RETRY),
        reason: format!("observe failed: {message}"),
    }
}

/// A status carrying over what survives every phase (wake history, conditions, memo).
fn base_status(record: &Record, prev: &Status, phase: Phase, now: Timestamp) -> Status {
    let mut s = Status {
        phase,
        phase_since: since(prev, phase, now),
        observed_generation: record.metadata.generation,
        step: None,
        replicas: ReplicaStatus::default(),
        endpoint: None,
        sleeps_at: None,
        wake_started_at: None,
        last_wake: prev.last_wake.clone(),
        recent_wake_seconds: prev.recent_wake_seconds.clone(),
        conditions: prev.conditions.clone(),
        message: String::new(),
        memo: prev.memo.clone(),
    };
    s.memo.remove(MEMO_MISSING_CHECKED_AT);
    set_condition(
        &mut s.conditions,
        VALID,
        ConditionStatus::True,
        "Validated",
        "",
        now,
    );
    s
}

fn build(
    record: &Record,
    prev: &Status,
    service: &ServiceObservation,
    situation: Situation,
    want: Want,
    now: Timestamp,
) -> Decision {
    let spec = &record.spec;
    let running = service
        .tasks
        .iter()
        .filter(|t| t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running)
        .count() as u32;
    let pending = service
        .tasks
        .iter()
        .filter(|t| t.desired_status == TaskStatus::Running && t.last_status < TaskStatus::Running)
        .count() as u32;
    // Tasks still running or stopping: listed ones, or counted by DescribeServices (a task
    // being stopped is not returned by ListTasks(desiredStatus=RUNNING)).
    let unstopped = service
        .tasks
        .iter()
        .any(|t| t.last_status != TaskStatus::Stopped)
        || service.running_count + service.pending_count > 0;

    // Drift bookkeeping, shared by every arm.
    let last_set = memo_u32(&prev.memo, MEMO_LAST_SET);
    let observed = service.desired_count;

    let mut s;
    let mut target: u32;
    let mut requeue;
    let reason: String;
    match &situation {
        Situation::FailedLatched { message } => {
            target = 0;
            s = base_status(record, prev, Phase::Failed, now);
            s.message = message.clone();
            set_condition(
                &mut s.conditions,
                READY,
                ConditionStatus::False,
                "WakeFailed",
                message,
                now,
            );
            requeue = if unstopped || observed > 0 {
                Requeue::After(TRANSITION_REQUEUE)
            } else {
                Requeue::AwaitChange
            };
            reason = "failed; waiting for a new wake request".into();
        }
        Situation::Asleep { why } => {
            target = 0;
            let phase = if unstopped || observed > 0 {
                Phase::Sleeping
            } else {
                Phase::Asleep
            };
            s = base_status(record, prev, phase, now);
            s.memo.remove(MEMO_FAILED_AT);
            let why_text = match *why {
                "idle" => format!("idle for {}", spec.idle_timeout),
                w => w.to_string(),
            };
            set_condition(
                &mut s.conditions,
                READY,
                ConditionStatus::False,
                "Asleep",
                &why_text,
                now,
            );
            requeue = if phase == Phase::Sleeping {
                Requeue::After(TRANSITION_REQUEUE)
            } else {
                Requeue::AwaitChange
            };
            reason = why_text;
        }
        Situation::Awake { why } => {
            target = spec.replicas;
            // The attempt this status answers: kept while Waking/Ready, new otherwise.
            let attempt = match (prev.phase, prev.wake_started_at) {
                (Phase::Waking, Some(t)) => t,
                (Phase::Ready, Some(t)) => t,
                // A new attempt answers the wake request that ended the previous phase; an
                // older request (e.g. before a failure, with the spec changed since) does not
                // count, the attempt then starts now.
                _ if *why == "wake requested" => record
                    .desired
                    .wake_requested_at
                    .filter(|w| prev.phase_since.is_none_or(|since| *w >= since))
                    .map_or(now, |w| w.min(now)),
                _ => now,
            };
            let prefer = prev.endpoint.as_ref().map(|e| e.task_arn.as_str());
            let failures = task_failures(service, attempt);
            match readiness(record, service, prefer) {
                Readiness::Ready { task_arn, ip } => {
                    s = base_status(record, prev, Phase::Ready, now);
                    s.step = Some(Step::Ready);
                    s.wake_started_at = Some(attempt);
                    s.endpoint = Some(endpoint_for(record, ip, task_arn));
                    if prev.phase == Phase::Waking {
                        let seconds = now.since(attempt).as_millis() as f64 / 1000.0;
                        s.last_wake = Some(LastWake {
                            requested_at: attempt,
                            ready_at: now,
                            seconds,
                        });
                        s.recent_wake_seconds.push(seconds);
                        let excess = s.recent_wake_seconds.len().saturating_sub(10);
                        s.recent_wake_seconds.drain(..excess);
                    }
                    set_condition(
                        &mut s.conditions,
                        READY,
                        ConditionStatus::True,
                        "TaskReady",
                        "",
                        now,
                    );
                    requeue = match want.sleeps_at {
                        Some(at) => Requeue::After(at.since(now).max(Duration::from_secs(1))),
                        None => Requeue::AwaitChange,
                    };
                    reason = if prev.phase == Phase::Ready {
                        format!("awake: {why}")
                    } else {
                        "task ready".to_string()
                    };
                }
                Readiness::NotReady { step, detail } => {
                    let (step, detail) = if observed < target && step <= Step::Scaling {
                        (Step::Scaling, format!("scaling to {target}"))
                    } else {
                        (step, detail)
                    };
                    // A task that died while Ready starts a fresh attempt now.
                    let attempt = if prev.phase == Phase::Ready {
                        now
                    } else {
                        attempt
                    };
                    let failures = if prev.phase == Phase::Ready {
                        Vec::new()
                    } else {
                        failures
                    };
                    let timed_out = now.since(attempt) >= spec.wake_timeout.get();
                    if failures.len() >= MAX_TASK_FAILURES || timed_out {
                        let message = if failures.len() >= MAX_TASK_FAILURES {
                            let newest = failures[0];
                            format!(
                                "tasks keep stopping ({} since {}): {}",
                                failures.len(),
                                attempt,
                                stop_words(newest)
                            )
                        } else {
                            let last = failures
                                .first()
                                .map(|t| format!("; last stopped task: {}", stop_words(t)))
                                .unwrap_or_default();
                            format!(
                                "not ready within {} (stuck at {}: {detail}){last}",
                                spec.wake_timeout,
                                step.as_str()
                            )
                        };
                        target = 0;
                        s = base_status(record, prev, Phase::Failed, now);
                        s.message = message.clone();
                        put_ts(&mut s.memo, MEMO_FAILED_AT, now);
                        set_condition(
                            &mut s.conditions,
                            READY,
                            ConditionStatus::False,
                            "WakeFailed",
                            &message,
                            now,
                        );
                        requeue = Requeue::After(TRANSITION_REQUEUE);
                        reason = message;
                    } else {
                        s = base_status(record, prev, Phase::Waking, now);
                        s.step = Some(step);
                        s.wake_started_at = Some(attempt);
                        s.message = detail.clone();
                        set_condition(
                            &mut s.conditions,
                            READY,
                            ConditionStatus::False,
                            "Waking",
                            &detail,
                            now,
                        );
                        requeue = Requeue::After(TRANSITION_REQUEUE);
                        reason = match prev.phase {
                            Phase::Waking => format!("waking: {detail}"),
                            Phase::Ready => readiness_lost(service, prev, &detail),
                            _ => (*why).to_string(),
                        };
                    }
                }
            }
            s.sleeps_at = want.sleeps_at;
        }
        Situation::Invalid { .. }
        | Situation::ServiceGone { .. }
        | Situation::Unobserved { .. } => {
            unreachable!("handled before build")
        }
    }
    s.replicas = ReplicaStatus {
        desired: target,
        running,
        pending,
    };
    set_condition(
        &mut s.conditions,
        SERVICE_FOUND,
        ConditionStatus::True,
        "ServiceActive",
        "",
        now,
    );

    // Drift: the observed desiredCount differs from what snooze last set, and from the target.
    // Not after a spec change: what snooze last set may concern another service then (an
    // edited `spec.target`), and the operator's edit is the newest word anyway.
    let spec_changed = record.metadata.generation != prev.observed_generation;
    let mut replicas = Some(target);
    match last_set {
        Some(set) if !spec_changed && observed != set && observed != target => {
            let corrections = memo_u32(&prev.memo, MEMO_DRIFT_CORRECTIONS).unwrap_or(0);
            let corrected_at = memo_ts(&prev.memo, MEMO_DRIFT_CORRECTED_AT);
            let corrections = match corrected_at {
                Some(at) if now.since(at) >= DRIFT_QUIET => 0,
                _ => corrections,
            };
            let wait = drift_backoff(corrections);
            let next = corrected_at.map_or(now, |at| at.add(wait));
            if corrections == 0 || now >= next {
                let msg = format!(
                    "desiredCount was changed to {observed} outside snooze; set back to {target}"
                );
                set_condition(
                    &mut s.conditions,
                    DRIFT,
                    ConditionStatus::True,
                    "DesiredCountChanged",
                    &msg,
                    now,
                );
                s.memo
                    .insert(MEMO_DRIFT_CORRECTIONS.into(), Value::from(corrections + 1));
                put_ts(&mut s.memo, MEMO_DRIFT_CORRECTED_AT, now);
                s.memo.insert(MEMO_LAST_SET.into(), Value::from(target));
            } else {
                let msg = format!(
                    "desiredCount keeps being changed outside snooze (now {observed}, {corrections} corrections); \
                     next correction to {target} at {next}"
                );
                set_condition(
                    &mut s.conditions,
                    DRIFT,
                    ConditionStatus::True,
                    "DriftBackOff",
                    &msg,
                    now,
                );
                replicas = None;
                requeue = Requeue::After(next.since(now).max(Duration::from_secs(1)));
                if s.phase == Phase::Waking && observed < target {
                    s.step = Some(Step::Requested);
                }
            }
        }
        _ => {
            set_condition(
                &mut s.conditions,
                DRIFT,
                ConditionStatus::False,
                "NoDrift",
                "",
                now,
            );
            s.memo.insert(MEMO_LAST_SET.into(), Value::from(target));
            if let Some(at) = memo_ts(&prev.memo, MEMO_DRIFT_CORRECTED_AT)
                && now.since(at) >= DRIFT_QUIET
            {
                s.memo.remove(MEMO_DRIFT_CORRECTIONS);
                s.memo.remove(MEMO_DRIFT_CORRECTED_AT);
            }
        }
    }
    Decision {
        situation,
        replicas,
        status: s,
        requeue,
        reason,
    }
}

/// The published endpoint for a task address: `{scheme}://{ip}:{port}{path}`.
fn endpoint_for(record: &Record, ip: String, task_arn: String) -> EndpointStatus {
    let e = &record.spec.endpoint;
    let port = record.spec.endpoint_port();
    EndpointStatus {
        url: format!("{}://{}:{}{}", e.scheme.as_str(), ip, port, e.path),
        ip,
        task_arn,
    }
}

fn drift_backoff(corrections: u32) -> Duration {
    if corrections == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (corrections - 1).min(16);
    (DRIFT_BACKOFF_BASE * factor).min(DRIFT_BACKOFF_MAX)
}

/// Tasks that stopped by themselves (not scaled in by snooze or stopped by a user) at or after
/// `since`, newest first.
fn task_failures(service: &ServiceObservation, since: Timestamp) -> Vec<&TaskObservation> {
    let mut v: Vec<&TaskObservation> = service
        .tasks
        .iter()
        .filter(|t| t.last_status == TaskStatus::Stopped)
        .filter(|t| t.stopped_at.is_some_and(|at| at >= since))
        .filter(|t| {
            let code = t.stop_code.as_deref().unwrap_or("");
            let reason = t.stopped_reason.as_deref().unwrap_or("");
            !(code == "UserInitiated"
                || (code == "ServiceSchedulerInitiated" && reason.starts_with("Scaling activity")))
        })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.stopped_at));
    v
}

/// Why a service that was Ready is not any more, for the pass report: the published task's
/// stop reason when that task is stopping or stopped, `task <id> is gone` when the platform no
/// longer lists it (ECS lists only tasks whose desiredStatus is RUNNING), else the readiness
/// detail (`task no longer ready: health check UNHEALTHY`).
fn readiness_lost(service: &ServiceObservation, prev: &Status, detail: &str) -> String {
    let Some(endpoint) = prev.endpoint.as_ref() else {
        return format!("task no longer ready: {detail}");
    };
    let id = endpoint.task_arn.rsplit('/').next().unwrap_or_default();
    match service.tasks.iter().find(|t| t.arn == endpoint.task_arn) {
        None => format!("task {id} is gone"),
        Some(t)
            if t.desired_status == TaskStatus::Stopped
                || matches!(
                    t.last_status,
                    TaskStatus::Deactivating
                        | TaskStatus::Stopping
                        | TaskStatus::Deprovisioning
                        | TaskStatus::Stopped
                ) =>
        {
            format!("task {id} stopped: {}", stop_words(t))
        }
        Some(_) => format!("task no longer ready: {detail}"),
    }
}

/// `stopCode: stoppedReason` in plain words, ARNs and account ids stripped.
fn stop_words(t: &TaskObservation) -> String {
    let code = match t.stop_code.as_deref() {
        Some("TaskFailedToStart") => "the task failed to start",
        Some("EssentialContainerExited") => "an essential container exited",
        Some("ServiceSchedulerInitiated") => "ECS replaced the task",
        Some("SpotInterruption") => "Spot capacity was reclaimed",
        Some("TerminationNotice") => "the task was terminated",
        Some(_) | None => "the task stopped",
    };
    match t.stopped_reason.as_deref().map(clean_reason) {
        Some(r) if !r.is_empty() => format!("{code}: {r}"),
        _ => code.to_string(),
    }
}

/// Removes ARNs (keeping their resource part, e.g. `task-definition/demo:3`) and 12-digit AWS
/// account ids (replaced by `<account>`) from an ECS message.
pub fn clean_reason(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("arn:aws") {
        out.push_str(&rest[..i]);
        let arn_len = rest[i..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, ',' | ';' | ')' | '(' | '"' | '\'' | ']')
            })
            .unwrap_or(rest.len() - i);
        let arn = &rest[i..i + arn_len];
        // arn:partition:service:region:account:resource — the resource may itself contain ':'.
        let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
        out.push_str(resource);
        rest = &rest[i + arn_len..];
    }
    out.push_str(rest);
    strip_account_ids(&out)
}

fn strip_account_ids(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
            let after_ok = i == bytes.len() || !bytes[i].is_ascii_alphanumeric();
            if i - start == 12 && before_ok && after_ok {
                out.push_str("<account>");
            } else {
                out.push_str(&s[start..i]);
            }
        } else {
            let ch = s[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn since(prev: &Status, phase: Phase, now: Timestamp) -> Option<Timestamp> {
    if prev.phase == phase && prev.phase_since.is_some() {
        prev.phase_since
    } else {
        Some(now)
    }
}

/// Sets a condition; `lastTransitionTime` changes only when its `status` changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
                c.status = status;
            }
            c.reason = reason.into();
            c.message = message.into();
        }
        None => {
            conditions.push(Condition {
                type_: type_.into(),
                status,
                reason: reason.into(),
                message: message.into(),
                last_transition_time: now,
            });
            conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        }
    }
}

fn memo_u32(memo: &Map<String, Value>, key: &str) -> Option<u32> {
    memo.get(key)
        .and_then(Value::as_u64)
        .map(|v| v.min(u32::MAX as u64) as u32)
}

/// A timestamp kept in `status.memo`.
pub fn memo_ts(memo: &Map<String, Value>, key: &str) -> Option<Timestamp> {
    memo.get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn put_ts(memo: &mut Map<String, Value>, key: &str, t: Timestamp) {
    memo.insert(key.into(), Value::from(t.to_rfc3339()));
}

/// When a record whose service was MISSING/INACTIVE was last checked (`status.memo`).
pub fn missing_checked_at(status: &Status) -> Option<Timestamp> {
    memo_ts(&status.memo, MEMO_MISSING_CHECKED_AT)
}

/// Adjusts a decided status after its `scale` call failed: snooze did not set the count, so
/// the observed desiredCount stays the one to compare against (no false drift next pass), and
/// the error is shown in `message`.
pub fn note_scale_failed(status: &mut Status, observed_desired: u32, error: &str) {
    status
        .memo
        .insert(MEMO_LAST_SET.into(), Value::from(observed_desired));
    status.message = if status.message.is_empty() {
        format!("scaling failed: {error}")
    } else {
        format!("{}; scaling failed: {error}", status.message)
    };
}
