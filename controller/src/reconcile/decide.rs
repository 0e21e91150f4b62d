//! The pure decision: [`decide`]`(record, observed, now) -> `[`Decision`].
//!
//! No I/O and no clock: everything comes in as arguments, so every rule of DESIGN.md §3 is a
//! table test. The inputs are first reduced to a [`Situation`] by the classifier
//! ([`super::classify`](mod@super::classify), STYLE.md §2); then one small function per case builds the next
//! [`Status`]: [`decide_invalid`], `service_gone`, `unobserved`, `failed_latched`, `asleep`
//! and `awake` (itself `ready`, `waking` or `wake_failed`), and, for every case with a found
//! service, `drift` last. Bookkeeping that must survive between passes is the typed
//! [`crate::model::Memo`] in `status.memo`.

use std::time::Duration;

use super::classify::{
    CONTEST_RETRY, Contest, Found, Invalidity, ServiceGoneReason, Situation, Unfound, Want, Why,
    capped_by_max_awake, classify_want, contest, max_awake_cap, observed_service,
    scaled_up_outside, want, want_in,
};
pub use super::classify::{MISSING_RECHECK, SERVICE_FOUND, VALID};
use crate::model::{
    AddressKind, Condition, ConditionStatus, EndpointStatus, GroupStatus, LastFailure, LastWake,
    Phase, Record, ReplicaStatus, RouteStatus, RouteTo, Status, Step, Timestamp, validate,
};
use crate::platform::{
    Health, Observed, ServiceObservation, TargetHealth, TaskObservation, TaskStatus,
};
use crate::router::{RouteObservation, RouteTarget};

/// Condition type: the service is Ready (True), waking or asleep (False).
pub const READY: &str = "Ready";
/// Condition type: desiredCount was changed outside snooze (True while correcting or backing off).
pub const DRIFT: &str = "Drift";
/// Reason of `Drift=True` while corrections wait for their back-off.
pub const DRIFT_BACK_OFF: &str = "DriftBackOff";
/// Reason of `Drift=True` while another writer undoes snooze's scale-downs ([`Contest`]).
pub const CONTESTED: &str = "ContestedByAnotherWriter";
/// Condition type: where a route-mode record's stable address points (True: at the service;
/// False: at the wake endpoint). Absent in redirect mode.
pub const ROUTED: &str = "Routed";
/// Reason of `Routed` when the route was found changed by someone else and is set back.
pub const ROUTE_CHANGED: &str = "RouteChangedOutside";
/// Reason of `Valid=False`: the record does not parse or validate.
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// Reason of `Valid=False`: another (older) record manages the same service
/// ([`crate::model::Target::identity`]); found by full passes, kept by scoped ones.
pub const TARGET_CONFLICT: &str = "TargetConflict";

/// How long a transitional record (Waking, Sleeping) waits before it is looked at again.
pub const TRANSITION_REQUEUE: Duration = Duration::from_secs(5);
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

/// The output of [`decide`]: what to do and what to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The classified inputs.
    pub situation: Situation,
    /// The desiredCount to set, or `None` to leave the service alone (invalid record, missing
    /// service, failed observation, drift back-off). The pass calls `scale` only when this is
    /// `Some(n)` and `n` differs from the observed desiredCount.
    pub replicas: Option<u32>,
    /// Where to point the record's stable address (route mode), or `None` to leave it as it
    /// is. The pass points it before it scales or publishes: at the wake endpoint before a
    /// scale-down, at the service only when `status` is Ready ([`route`]).
    pub route: Option<RouteTarget>,
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

/// Readiness of a service, a predicate over observed data (tested ready / pending / missing).
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    /// A task is serving: RUNNING with desiredStatus RUNNING, healthy, probed (or `healthy` in
    /// the service's load balancer target group, which then replaces the probe), with an
    /// address.
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

/// The readiness predicate. `published` (the endpoint the status published, if any) keeps its
/// task when that is still ready, and keeps its address while the platform could not look the
/// task's address up this time ([`TaskObservation::address_unknown`], e.g. EC2 not knowing a
/// new network interface yet): a task that kept running is never taken out of Ready for that.
pub fn readiness(
    record: &Record,
    service: &ServiceObservation,
    published: Option<&EndpointStatus>,
) -> Readiness {
    let prefer = published.map(|e| e.task_arn.as_str());
    let probe_required = record
        .spec
        .readiness
        .as_ref()
        .is_some_and(|r| r.http_get.is_some());
    // The published task whose address is unknown for now: it stays as it was.
    let kept = |t: &TaskObservation| t.address_unknown && prefer == Some(t.arn.as_str());
    let address = |t: &TaskObservation| {
        match record.spec.endpoint.address {
            AddressKind::Public => t.public_ip.clone(),
            AddressKind::Private => t.private_ip.clone(),
        }
        .or_else(|| kept(t).then(|| published.map(|e| e.ip.clone())).flatten())
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
                } else if let Some(h) = t.target_health.as_ref().filter(|h| {
                    // A target health nobody could read does not take the published task out
                    // of Ready (as an address EC2 does not know for now does not).
                    let unread_but_published =
                        h.state == TargetHealth::UNAVAILABLE && prefer == Some(t.arn.as_str());
                    !h.is_healthy() && !unread_but_published
                }) {
                    // Behind a load balancer its health check is the readiness probe.
                    let detail = match &h.reason {
                        Some(r) => format!("load balancer health check: {} ({r})", h.state),
                        None => format!("load balancer health check: {}", h.state),
                    };
                    (Step::Running, detail)
                } else if probe_required
                    && t.target_health.is_none()
                    && !kept(t)
                    && !t.probe.as_ref().is_some_and(|p| p.passed)
                {
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
/// Pure: `now` is the only time; the previous status is `record.status`. Validates the record
/// first (an invalid one gets [`decide_invalid`]); a pass, which has validated already in its
/// triage, calls [`decide_valid`].
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
            Invalidity::ValidationFailed,
            &message,
            now,
        );
    }
    decide_valid(record, observed, now, Duration::ZERO)
}

/// [`decide`] for a record known to be valid: one function per case of the classifier
/// ([`observed_service`], then [`classify_found`]), drift last for a found service, and a
/// requeue no later than the schedule's next boundary ([`schedule_requeue`]).
/// `runner_period`: how long the runner may take to come back to a record that asked for no
/// requeue (the Lambda: its 1-minute schedule; `snoozectl dev`, `reconcile --watch`: zero);
/// pre-warm leads grow by it so the service is Ready at a window's start there too.
pub fn decide_valid(
    record: &Record,
    observed: &Observed,
    now: Timestamp,
    runner_period: Duration,
) -> Decision {
    decide_in_group(record, observed, now, runner_period, &GroupInput::default())
}

/// What a record's groups bring to its decision (ADR 0009), computed by the pass from the
/// whole table ([`super::group::Groups`]); the default (no groups) changes nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupInput {
    /// The record's want widened by its groups ([`super::group::Groups::wants`]); `None`: its
    /// own ([`super::classify::want_in`]).
    pub want: Option<Want>,
    /// A wake request on another member of one of its groups that reaches this record
    /// ([`super::group::Cause::Member`] with [`Why::WakeRequested`]): like a wake request on
    /// the record itself, it releases a `Failed` latch older than it.
    pub member_wake: Option<Timestamp>,
    /// Its dependencies (transitively, optional ones excepted) that are not Ready, sorted
    /// ([`super::group::Groups::may_scale_up`]): while not empty the record is not scaled up
    /// (it stays Waking, waiting for them) and, when Ready, its visitors are not sent on.
    pub waiting_for: Vec<String>,
    /// The names in `waiting_for` that are no record of the table (deleted, or not applied
    /// yet; [`super::group::Groups::missing`]): the status message says so.
    pub missing: Vec<String>,
    /// Why some names in `waiting_for` will not be Ready for a while: a dependency decided in
    /// the same pass that is asleep over its budget or in its quiet hours, as `s4 is over its
    /// monthly budget until 2027-01-01 00:00 UTC` / `s4 is in its quiet hours until
    /// 2026-12-07 07:00 UTC` ([`super::group::blocked_by`]); the status message adds them.
    pub blocked: Vec<String>,
    /// Records depending on it that still run, sorted
    /// ([`super::group::Groups::may_scale_down`]): while not empty an idle record is not
    /// scaled down (it stays awake for them, [`Why::Dependent`]); an operator's sleep
    /// (`mode: off`, a sleep request, quiet hours, `replicas: 0`) is not held.
    pub held_by: Vec<String>,
}

/// [`decide_valid`] for a member of groups: the want comes from `group` when it has one; a
/// scale-up waits for [`GroupInput::waiting_for`] (the record is Waking at step `scaling` with
/// `waiting for X to be Ready`, no wake attempt started, so its wake timeout and measured wake
/// time start when it is scaled); the scale-down of an idle record waits for
/// [`GroupInput::held_by`] (decided as awake for them instead). `status.group` gets `waitingFor` and `heldBy`; the pass adds the
/// members and the ETA.
pub fn decide_in_group(
    record: &Record,
    observed: &Observed,
    now: Timestamp,
    runner_period: Duration,
    group: &GroupInput,
) -> Decision {
    let decided = decide_found(record, observed, now, runner_period, group);
    schedule_requeue(record, decided, now, runner_period)
}

/// The requeue of `decided`, brought forward to the next boundary of `spec.schedule` (a
/// window's start or end, or a pre-warm lead's beginning), so that a runner that requeues
/// exactly acts on time; unchanged without a schedule.
pub fn schedule_requeue(
    record: &Record,
    mut decided: Decision,
    now: Timestamp,
    runner_period: Duration,
) -> Decision {
    let boundary = crate::model::schedule::schedule_view(record, now, runner_period)
        .and_then(|s| s.state.next_boundary);
    if let Some(at) = boundary {
        let wait = at.since(now).max(Duration::from_secs(1));
        decided.requeue = match decided.requeue {
            Requeue::After(d) => Requeue::After(d.min(wait)),
            Requeue::AwaitChange => Requeue::After(wait),
        };
    }
    decided
}

fn decide_found(
    record: &Record,
    observed: &Observed,
    now: Timestamp,
    runner_period: Duration,
    group: &GroupInput,
) -> Decision {
    let prev = record.status.clone().unwrap_or_default();
    let service = match observed_service(observed) {
        Ok(service) => service,
        Err(Unfound::ServiceGone { reason, message }) => {
            let d = service_gone(record, &prev, reason, &message, now);
            return route(record, &RouteObservation::Unknown, None, d, now);
        }
        Err(Unfound::Unobserved { message }) => {
            let d = unobserved(record, &prev, &message, now);
            return route(record, &RouteObservation::Unknown, None, d, now);
        }
        Err(Unfound::Unsupported { message }) => {
            return decide_invalid(
                record.status.as_ref(),
                record.metadata.generation,
                Invalidity::UnsupportedTarget,
                &message,
                now,
            );
        }
    };
    let facts = Facts::of(service);
    let want = group
        .want
        .unwrap_or_else(|| want_in(record, Some(service), now, runner_period));
    let mut decided = match classify_want(record, want, group.member_wake) {
        Found::FailedLatched { message } => failed_latched(record, &prev, &facts, message, now),
        Found::Awake(want)
            if !group.waiting_for.is_empty()
                && facts.desired < awake_target(record, want, &facts) =>
        {
            waiting_for_dependencies(record, &prev, &facts, want, group, now)
        }
        Found::Awake(want) => awake(record, &prev, service, &facts, want, now),
        // Idle (or never asked for) while a dependent still runs: stays up until it stopped.
        // An operator's word (mode off, a sleep request, quiet hours, replicas 0) is not held.
        Found::Asleep(want)
            if !group.held_by.is_empty()
                && facts.desired > 0
                && matches!(want.why, Why::Idle | Why::NoWakeRequest) =>
        {
            let held = Want {
                awake: true,
                why: Why::Dependent,
                sleeps_at: None,
                contested: false,
                quiet_until: None,
                budget_until: None,
                max_awake_at: None,
            };
            let mut d = awake(record, &prev, service, &facts, held, now);
            // Left at what runs now: held up for its dependents, not scaled by them.
            d.replicas = None;
            d.status.replicas.desired = facts.desired;
            d.reason = format!(
                "{}; sleeps once {} stopped",
                want.why,
                crate::model::group::words_list(&group.held_by)
            );
            d
        }
        Found::Asleep(want) => asleep(record, &prev, &facts, want.why, now),
    };
    if !record.spec.groups.is_empty() {
        decided.status.group = Some(GroupStatus {
            waiting_for: group.waiting_for.clone(),
            held_by: group.held_by.clone(),
            ..GroupStatus::default()
        });
    }
    guardrails(record, &mut decided, now);
    let decided = drift(record, &prev, service, decided, now);
    let decided = other_writer(record, service, decided, now);
    let group = service.target_group_for(record.spec.endpoint_port());
    route(record, &service.route, group, decided, now)
}

/// Condition type: `spec.maxAwake` ended the last awake stretch (True, reason
/// [`MAX_AWAKE_REACHED`], until a wake request starts a new stretch; absent otherwise).
pub const MAX_AWAKE: &str = "MaxAwake";
/// Reason of `MaxAwake=True`.
pub const MAX_AWAKE_REACHED: &str = "MaxAwakeReached";
/// Condition type: this month's cost has reached `spec.budget` (True, reason
/// [`BUDGET_REACHED`], or [`FORCED_OVER_BUDGET`] while a forced wake holds; absent otherwise).
pub const BUDGET: &str = "Budget";
/// Reason of `Budget=True`: the service sleeps and wake requests are refused until next month.
pub const BUDGET_REACHED: &str = "BudgetReached";
/// Reason of `Budget=True` while an operator's forced wake keeps the service awake anyway.
pub const FORCED_OVER_BUDGET: &str = "ForcedOverBudget";

/// The guardrails' bookkeeping once the case decided (precedence rows 4 and 8):
///
/// - `spec.maxAwake`: `memo.awakeSince` is set when the service becomes wanted awake for a
///   capped reason ([`capped_by_max_awake`]) and cleared otherwise; while it runs, `sleepsAt`
///   and the requeue are no later than its cap (`awakeSince + maxAwake`); when row 8 puts it to
///   sleep, `memo.maxAwakeAt` keeps the cap moment and the `MaxAwake` condition says so, both
///   until it is wanted awake again (a new stretch). Without `spec.maxAwake` all three are
///   cleared.
/// - `spec.budget` ([`Record::budget_reached`]): the `Budget` condition (with the month's cost,
///   the budget and when it resets), the month's `budgetReachedAt` in `status.ledger` (first
///   pass that saw it), and a forced wake that holds over the budget counted once in the
///   month's `forcedOverBudget` (keyed on `desired.wakeForcedAt`, kept in
///   `memo.forcedOverBudgetAt`).
fn guardrails(record: &Record, decided: &mut Decision, now: Timestamp) {
    let s = &mut decided.status;
    match (record.spec.max_awake, &decided.situation) {
        (None, _) => {
            s.memo.awake_since = None;
            s.memo.max_awake_at = None;
        }
        (Some(_), Situation::Awake { why }) => {
            s.memo.max_awake_at = None;
            s.memo.awake_since = if capped_by_max_awake(*why) {
                s.memo.awake_since.or(Some(now))
            } else {
                None
            };
        }
        (Some(_), Situation::Asleep { why: Why::MaxAwake }) => {
            s.memo.max_awake_at = s.memo.max_awake_at.or(max_awake_cap(record, now));
            s.memo.awake_since = None;
        }
        (Some(_), _) => s.memo.awake_since = None,
    }
    // A running stretch ends at its cap at the latest: sleepsAt and the requeue say so.
    if let (Some(max), Some(since)) = (record.spec.max_awake, s.memo.awake_since) {
        let cap = since.add(max.get());
        s.sleeps_at = Some(s.sleeps_at.map_or(cap, |t| t.min(cap)));
        let wait = cap.since(now).max(Duration::from_secs(1));
        decided.requeue = match decided.requeue {
            Requeue::After(d) => Requeue::After(d.min(wait)),
            Requeue::AwaitChange => Requeue::After(wait),
        };
    }
    let s = &mut decided.status;
    match (record.spec.max_awake, s.memo.max_awake_at) {
        (Some(max), Some(cap)) => {
            let message = format!(
                "awake for {max} without a break (spec.maxAwake), put to sleep at {}; the next \
                 wake request starts a new stretch (activity alone does not)",
                crate::model::ledger::utc_words(cap)
            );
            set_condition(
                &mut s.conditions,
                MAX_AWAKE,
                ConditionStatus::True,
                MAX_AWAKE_REACHED,
                &message,
                now,
            );
        }
        _ => s.conditions.retain(|c| c.type_ != MAX_AWAKE),
    }
    let Some(reached) = record.budget_reached(now) else {
        s.conditions.retain(|c| c.type_ != BUDGET);
        return;
    };
    let forced = match decided.situation {
        Situation::Awake { why: Why::Forced } => record.desired.wake_forced_at,
        _ => None,
    };
    let month = s
        .ledger
        .months
        .iter_mut()
        .find(|m| m.month == reached.month);
    if let Some(month) = month {
        month.budget_reached_at = month.budget_reached_at.or(Some(now));
        if let Some(at) = forced
            && s.memo.forced_over_budget_at != Some(at)
        {
            month.forced_over_budget += 1;
            s.memo.forced_over_budget_at = Some(at);
        }
    }
    let (reason, message) = match (forced, record.spec.mode) {
        (Some(at), _) => (
            FORCED_OVER_BUDGET,
            format!(
                "{}; awake anyway: forced by snoozectl wake --force at {} (counted in this \
                 month's forcedOverBudget)",
                reached.words(),
                crate::model::ledger::utc_words(at)
            ),
        ),
        (None, crate::model::Mode::On) => (
            BUDGET_REACHED,
            format!(
                "{}; not enforced while spec.mode is on (the budget resets {})",
                reached.words(),
                reached.until_words()
            ),
        ),
        (None, _) => (
            BUDGET_REACHED,
            format!(
                "{}; asleep and wake requests refused until {} (or snoozectl wake --force)",
                reached.words(),
                reached.until_words()
            ),
        ),
    };
    set_condition(
        &mut s.conditions,
        BUDGET,
        ConditionStatus::True,
        reason,
        &message,
        now,
    );
}

/// Awake is wanted but dependencies are not Ready: Waking at step `scaling`, desiredCount left
/// as it is, no wake attempt started yet (`wakeStartedAt` unset, so the wake timeout and the
/// measured wake time start when it is scaled), looking again after [`TRANSITION_REQUEUE`].
fn waiting_for_dependencies(
    record: &Record,
    prev: &Status,
    facts: &Facts,
    want: Want,
    group: &GroupInput,
    now: Timestamp,
) -> Decision {
    let mut s = base_status(record, prev, Phase::Waking, now);
    let mut detail = format!(
        "waiting for {} to be Ready",
        crate::model::group::words_list(&group.waiting_for)
    );
    if !group.missing.is_empty() {
        detail += &format!(
            " (there is no record {})",
            crate::model::group::words_list(&group.missing)
        );
    }
    if !group.blocked.is_empty() {
        detail += &format!(" ({})", group.blocked.join("; "));
    }
    s.step = Some(Step::Scaling);
    s.message = detail.clone();
    s.sleeps_at = want.sleeps_at;
    set_condition(
        &mut s.conditions,
        READY,
        ConditionStatus::False,
        "WaitingForDependencies",
        &detail,
        now,
    );
    Decision {
        situation: Situation::Awake { why: want.why },
        replicas: None,
        route: None,
        status: found_status(s, facts, facts.desired, now),
        requeue: Requeue::After(TRANSITION_REQUEUE),
        reason: match prev.phase {
            Phase::Waking if prev.message == detail => format!("waking: {detail}"),
            _ => format!("{}; {detail}", want.why),
        },
    }
}

/// The decision for a record that does not validate or parse (also used for
/// `Entry::Malformed`), or that conflicts with another record: phase Invalid with the message,
/// condition `Valid=False` with `reason`, nothing done.
pub fn decide_invalid(
    prev: Option<&Status>,
    generation: u64,
    reason: Invalidity,
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
        route: prev.route.clone(),
        sleeps_at: None,
        wake_started_at: None,
        last_wake: prev.last_wake.clone(),
        last_failure: prev.last_failure.clone(),
        recent_wake_seconds: prev.recent_wake_seconds.clone(),
        conditions: prev.conditions.clone(),
        group: None,
        ledger: prev.ledger.clone(),
        message: message.to_string(),
        memo: prev.memo.clone(),
    };
    s.phase_since = since(&prev, Phase::Invalid, now);
    set_condition(
        &mut s.conditions,
        VALID,
        ConditionStatus::False,
        reason.as_str(),
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
            reason,
            message: message.to_string(),
        },
        replicas: None,
        route: None,
        status: s,
        requeue: Requeue::AwaitChange,
        reason: format!("invalid: {}", message.lines().next().unwrap_or_default()),
    }
}

/// The decision for a record whose service was not observed because it was MISSING/INACTIVE
/// recently ([`Situation::Deferred`]): nothing changes; look again when the re-check is due.
pub fn decide_deferred(prev: Option<&Status>, wait: Duration) -> Decision {
    Decision {
        situation: Situation::Deferred { wait },
        replicas: None,
        route: None,
        status: prev.cloned().unwrap_or_default(),
        requeue: Requeue::After(wait),
        reason: format!(
            "service not found; next check in {}",
            humantime::format_duration(Duration::from_secs(wait.as_secs()))
        ),
    }
}

/// ECS reports the service MISSING or INACTIVE: Failed when awake is wanted, else Asleep; a
/// `ServiceFound=False` condition; look again after [`MISSING_RECHECK`].
fn service_gone(
    record: &Record,
    prev: &Status,
    reason: ServiceGoneReason,
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
    if phase == Phase::Failed {
        remember_failure(&mut s, prev, now);
    }
    s.memo.last_set = None;
    s.memo.failed_at = None;
    s.memo.missing_checked_at = Some(now);
    set_condition(
        &mut s.conditions,
        SERVICE_FOUND,
        ConditionStatus::False,
        reason.as_str(),
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
        route: None,
        status: s,
        requeue: Requeue::After(MISSING_RECHECK),
        reason: message.to_string(),
    }
}

/// The platform could not observe the service: keep the last status with the error in its
/// message; look again after [`OBSERVE_RETRY`].
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
        route: None,
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
        route: prev.route.clone(),
        sleeps_at: None,
        wake_started_at: None,
        last_wake: prev.last_wake.clone(),
        last_failure: prev.last_failure.clone(),
        recent_wake_seconds: prev.recent_wake_seconds.clone(),
        conditions: prev.conditions.clone(),
        // Filled in by the pass, which sees the record's groups.
        group: None,
        // Counted by the pass from what it observed.
        ledger: prev.ledger.clone(),
        message: String::new(),
        memo: prev.memo.clone(),
    };
    s.memo.missing_checked_at = None;
    set_condition(
        &mut s.conditions,
        VALID,
        ConditionStatus::True,
        "Validated",
        "",
        now,
    );
    unknown_fields(record, &mut s, now);
    s
}

/// Condition type: the stored record has fields this version does not know.
pub const UNKNOWN_FIELDS: &str = "UnknownFields";

/// `UnknownFields=True` (reason `FieldsNotUnderstood`, the paths in its message) while the
/// stored record has fields this version does not know ([`Record::unknown_fields`]: a newer
/// snooze wrote them, e.g. after a rollback); gone when it has none. The record is managed on
/// what this version understands; the fields stay stored as they are (a pass writes status only).
fn unknown_fields(record: &Record, s: &mut Status, now: Timestamp) {
    if record.unknown_fields.is_empty() {
        s.conditions.retain(|c| c.type_ != UNKNOWN_FIELDS);
        return;
    }
    let message = format!(
        "not understood by this version of snooze, kept as stored and not acted on: {}",
        record.unknown_fields.join(", ")
    );
    set_condition(
        &mut s.conditions,
        UNKNOWN_FIELDS,
        ConditionStatus::True,
        "FieldsNotUnderstood",
        &message,
        now,
    );
}

/// Task counts of a found service, shared by its cases.
struct Facts {
    /// Tasks RUNNING with desiredStatus RUNNING.
    running: u32,
    /// Tasks with desiredStatus RUNNING not yet RUNNING.
    pending: u32,
    /// Tasks still running or stopping: listed ones, or counted by DescribeServices (a task
    /// being stopped is not returned by ListTasks(desiredStatus=RUNNING)).
    unstopped: bool,
    /// The observed desiredCount.
    desired: u32,
}

impl Facts {
    fn of(service: &ServiceObservation) -> Self {
        Facts {
            running: service
                .tasks
                .iter()
                .filter(|t| {
                    t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running
                })
                .count() as u32,
            pending: service
                .tasks
                .iter()
                .filter(|t| {
                    t.desired_status == TaskStatus::Running && t.last_status < TaskStatus::Running
                })
                .count() as u32,
            unstopped: service
                .tasks
                .iter()
                .any(|t| t.last_status != TaskStatus::Stopped)
                || service.running_count + service.pending_count > 0,
            desired: service.desired_count,
        }
    }

    /// Something is still to stop: tasks, or a desiredCount above 0.
    fn stopping(&self) -> bool {
        self.unstopped || self.desired > 0
    }
}

/// The status of a found service once its case decided the phase: replica counts and
/// `ServiceFound=True`.
fn found_status(mut s: Status, facts: &Facts, target: u32, now: Timestamp) -> Status {
    s.replicas = ReplicaStatus {
        desired: target,
        running: facts.running,
        pending: facts.pending,
    };
    set_condition(
        &mut s.conditions,
        SERVICE_FOUND,
        ConditionStatus::True,
        "ServiceActive",
        "",
        now,
    );
    s
}

/// Phase Failed with `message`, `Ready=False` for `WakeFailed`, and the failure kept in
/// `lastFailure` (its time is when this message was first decided).
fn failed_status(record: &Record, prev: &Status, message: &str, now: Timestamp) -> Status {
    let mut s = base_status(record, prev, Phase::Failed, now);
    s.message = message.to_string();
    remember_failure(&mut s, prev, now);
    set_condition(
        &mut s.conditions,
        READY,
        ConditionStatus::False,
        "WakeFailed",
        message,
        now,
    );
    s
}

/// Keeps the failure `s.message` says in `s.lastFailure`: the previous one when it says the
/// same (so `at` stays when it was first decided), else a new one at `now`.
fn remember_failure(s: &mut Status, prev: &Status, now: Timestamp) {
    if prev
        .last_failure
        .as_ref()
        .is_none_or(|f| f.message != s.message)
    {
        s.last_failure = Some(LastFailure {
            at: now,
            message: s.message.clone(),
        });
    }
}

/// A wake failed and no newer request came: stay at 0 (Failed), looking again while tasks stop.
fn failed_latched(
    record: &Record,
    prev: &Status,
    facts: &Facts,
    message: String,
    now: Timestamp,
) -> Decision {
    let s = failed_status(record, prev, &message, now);
    Decision {
        situation: Situation::FailedLatched { message },
        replicas: Some(0),
        route: None,
        status: found_status(s, facts, 0, now),
        requeue: if facts.stopping() {
            Requeue::After(TRANSITION_REQUEUE)
        } else {
            Requeue::AwaitChange
        },
        reason: "failed; waiting for a new wake request".into(),
    }
}

/// Asleep wanted: scale to 0; Sleeping while tasks stop, then Asleep.
fn asleep(record: &Record, prev: &Status, facts: &Facts, why: Why, now: Timestamp) -> Decision {
    let phase = if facts.stopping() {
        Phase::Sleeping
    } else {
        Phase::Asleep
    };
    let mut s = base_status(record, prev, phase, now);
    s.memo.failed_at = None;
    let why_text = match why {
        Why::Idle => format!("idle for {}", record.spec.idle_timeout),
        w => w.as_str().to_string(),
    };
    set_condition(
        &mut s.conditions,
        READY,
        ConditionStatus::False,
        "Asleep",
        &why_text,
        now,
    );
    Decision {
        situation: Situation::Asleep { why },
        replicas: Some(0),
        route: None,
        status: found_status(s, facts, 0, now),
        requeue: if phase == Phase::Sleeping {
            Requeue::After(TRANSITION_REQUEUE)
        } else {
            Requeue::AwaitChange
        },
        reason: why_text,
    }
}

/// Awake wanted: scale to `spec.replicas`; Ready when a task is ready, else Waking, or Failed
/// when the attempt timed out or its tasks keep stopping.
fn awake(
    record: &Record,
    prev: &Status,
    service: &ServiceObservation,
    facts: &Facts,
    want: Want,
    now: Timestamp,
) -> Decision {
    let why = want.why;
    // The attempt this status answers: kept while Waking/Ready, new otherwise.
    let attempt = match (prev.phase, prev.wake_started_at) {
        (Phase::Waking, Some(t)) => t,
        (Phase::Ready, Some(t)) => t,
        // Waking without an attempt: it waited for its dependencies (a group member), and its
        // own wake starts now, when it is scaled.
        (Phase::Waking, None) => now,
        // A new attempt answers the wake request that ended the previous phase; an older
        // request (e.g. before a failure, with the spec changed since) does not count, the
        // attempt then starts now.
        _ if why == Why::WakeRequested => record
            .desired
            .wake_requested_at
            .filter(|w| prev.phase_since.is_none_or(|since| *w >= since))
            .map_or(now, |w| w.min(now)),
        _ => now,
    };
    match readiness(record, service, prev.endpoint.as_ref()) {
        Readiness::Ready { task_arn, ip } => {
            ready(record, prev, attempt, task_arn, ip, want, facts, now)
        }
        Readiness::NotReady { step, detail } => {
            let target = awake_target(record, want, facts);
            let (step, detail) = if facts.desired < target && step <= Step::Scaling {
                (Step::Scaling, format!("scaling to {target}"))
            } else {
                (step, detail)
            };
            // A task that died while Ready starts a fresh attempt now.
            let (attempt, failures) = if prev.phase == Phase::Ready {
                (now, Vec::new())
            } else {
                (attempt, task_failures(service, attempt))
            };
            let timed_out = now.since(attempt) >= record.spec.wake_timeout.get();
            if failures.len() >= MAX_TASK_FAILURES || timed_out {
                wake_failed(
                    record, prev, attempt, &failures, step, &detail, want, facts, now,
                )
            } else {
                waking(
                    record, prev, service, attempt, step, detail, want, facts, now,
                )
            }
        }
    }
}

/// The desiredCount of an awake service: `spec.replicas`, except when the only thing that
/// wants it awake is someone else's raise ([`Why::ScaledUp`], or in a contest the task that
/// raise started): then snooze keeps it up at that count (at most `spec.replicas`) and does
/// not escalate it: a deploy or another writer set what it wanted, and in a contest snooze
/// neither scales the service away nor up. A wake request or activity gets `spec.replicas`.
fn awake_target(record: &Record, want: Want, facts: &Facts) -> u32 {
    let only_someone_elses = match want.why {
        Why::ScaledUp => true,
        Why::TaskStarted => want.contested,
        _ => false,
    };
    if only_someone_elses {
        record.spec.replicas.min(facts.desired.max(1))
    } else {
        record.spec.replicas
    }
}

/// A task is ready: publish its address, record the wake's duration when this ends a Waking
/// phase, look again at `sleepsAt`.
#[allow(clippy::too_many_arguments)]
fn ready(
    record: &Record,
    prev: &Status,
    attempt: Timestamp,
    task_arn: String,
    ip: String,
    want: Want,
    facts: &Facts,
    now: Timestamp,
) -> Decision {
    let why = want.why;
    let mut s = base_status(record, prev, Phase::Ready, now);
    // A successful wake: an earlier failure is history now.
    s.last_failure = None;
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
    s.sleeps_at = want.sleeps_at;
    let target = awake_target(record, want, facts);
    Decision {
        situation: Situation::Awake { why },
        replicas: Some(target),
        route: None,
        status: found_status(s, facts, target, now),
        requeue: match want.sleeps_at {
            Some(at) => Requeue::After(at.since(now).max(Duration::from_secs(1))),
            None => Requeue::AwaitChange,
        },
        reason: if prev.phase == Phase::Ready {
            format!("awake: {why}")
        } else {
            "task ready".to_string()
        },
    }
}

/// Not ready yet: Waking at `step`, looking again after [`TRANSITION_REQUEUE`].
#[allow(clippy::too_many_arguments)]
fn waking(
    record: &Record,
    prev: &Status,
    service: &ServiceObservation,
    attempt: Timestamp,
    step: Step,
    detail: String,
    want: Want,
    facts: &Facts,
    now: Timestamp,
) -> Decision {
    let why = want.why;
    let mut s = base_status(record, prev, Phase::Waking, now);
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
    s.sleeps_at = want.sleeps_at;
    let target = awake_target(record, want, facts);
    Decision {
        situation: Situation::Awake { why },
        replicas: Some(target),
        route: None,
        status: found_status(s, facts, target, now),
        requeue: Requeue::After(TRANSITION_REQUEUE),
        reason: match prev.phase {
            Phase::Waking => format!("waking: {detail}"),
            Phase::Ready => readiness_lost(service, prev, &detail),
            _ => why.as_str().to_string(),
        },
    }
}

/// The attempt failed (timed out, or its tasks keep stopping): Failed, scale to 0, latch
/// (`memo.failedAt`) until a newer wake request or a spec change. The case stays
/// [`Situation::Awake`] (awake is what the inputs want; from the next pass the latch makes it
/// [`Situation::FailedLatched`]).
#[allow(clippy::too_many_arguments)]
fn wake_failed(
    record: &Record,
    prev: &Status,
    attempt: Timestamp,
    failures: &[&TaskObservation],
    step: Step,
    detail: &str,
    want: Want,
    facts: &Facts,
    now: Timestamp,
) -> Decision {
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
            record.spec.wake_timeout,
            step.as_str()
        )
    };
    let mut s = failed_status(record, prev, &message, now);
    s.memo.failed_at = Some(now);
    s.sleeps_at = want.sleeps_at;
    Decision {
        situation: Situation::Awake { why: want.why },
        replicas: Some(0),
        route: None,
        status: found_status(s, facts, 0, now),
        requeue: Requeue::After(TRANSITION_REQUEUE),
        reason: message,
    }
}

/// Drift, last for every case with a found service: the observed desiredCount differs from
/// what snooze last set (`memo.lastSet`) and from the target. The first correction is at once;
/// later ones in one episode back off ([`drift_backoff`]), during which the service is left
/// alone. Not after a spec change: what snooze last set may concern another service then (an
/// edited `spec.target`), and the operator's edit is the newest word anyway.
fn drift(
    record: &Record,
    prev: &Status,
    service: &ServiceObservation,
    mut d: Decision,
    now: Timestamp,
) -> Decision {
    let Some(target) = d.replicas else {
        return d;
    };
    let s = &mut d.status;
    let observed = service.desired_count;
    let spec_changed = record.metadata.generation != prev.observed_generation;
    match prev.memo.last_set {
        Some(set) if !spec_changed && observed != set && observed != target => {
            let corrected_at = prev.memo.drift_corrected_at;
            let corrections = match corrected_at {
                Some(at) if now.since(at) >= DRIFT_QUIET => 0,
                _ => prev.memo.drift_corrections.unwrap_or(0),
            };
            let next = corrected_at.map_or(now, |at| at.add(drift_backoff(corrections)));
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
                s.memo.drift_corrections = Some(corrections + 1);
                s.memo.drift_corrected_at = Some(now);
                s.memo.last_set = Some(target);
            } else {
                let msg = format!(
                    "desiredCount keeps being changed outside snooze (now {observed}, {corrections} corrections); \
                     next correction to {target} at {next}"
                );
                set_condition(
                    &mut s.conditions,
                    DRIFT,
                    ConditionStatus::True,
                    DRIFT_BACK_OFF,
                    &msg,
                    now,
                );
                d.replicas = None;
                d.requeue = Requeue::After(next.since(now).max(Duration::from_secs(1)));
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
            s.memo.last_set = Some(target);
            if let Some(at) = prev.memo.drift_corrected_at
                && now.since(at) >= DRIFT_QUIET
            {
                s.memo.drift_corrections = None;
                s.memo.drift_corrected_at = None;
            }
        }
    }
    d
}

/// Last for every case with a found service: what snooze remembers of other writers of
/// desiredCount (`memo.scaledUpAt` for a raise by someone else, which counts as activity;
/// `memo.scaledDownAt` for its own scale-down) and the [`Contest`], if one is on: then
/// `Drift=True` with reason [`CONTESTED`] names what happens and when snooze tries again; no
/// scale-down is sent before [`Contest::retry_at`] in any case (idle, `mode: off`, a Failed
/// latch, a drift correction; the status message says until when), so a contest costs at most
/// one scale-down an hour. An operator's `snoozectl sleep` after the last attempt is not held
/// back: it is that hour's attempt.
fn other_writer(
    record: &Record,
    service: &ServiceObservation,
    mut d: Decision,
    now: Timestamp,
) -> Decision {
    let prev_memo = record.status.as_ref().map(|s| &s.memo);
    let contested = contest(record, service, now);
    // While contested, no scale-down before the retry time, whatever the case wants (a Failed
    // latch or a drift correction too): the other writer's count is adopted and left alone.
    // An operator's explicit sleep after the last attempt is not held back: it is this hour's
    // attempt.
    let sleep_asked = |c: &Contest| {
        record
            .desired
            .sleep_requested_at
            .is_some_and(|t| t > c.scaled_down_at)
    };
    if let Some(c) = &contested
        && d.replicas.is_some_and(|n| n < service.desired_count)
        && now < c.retry_at()
        && !sleep_asked(c)
    {
        d.replicas = None;
        let held = format!(
            "desiredCount held at {} by another writer; next scale-down attempt at {}",
            service.desired_count,
            c.retry_at()
        );
        d.status.message = if d.status.message.is_empty() {
            held
        } else {
            format!("{}; {held}", d.status.message)
        };
        // Nothing changes by itself before the attempt (an input triggers a pass anyway).
        d.requeue = Requeue::After(c.retry_at().since(now).max(Duration::from_secs(1)));
        let s = &mut d.status;
        s.memo.last_set = Some(service.desired_count);
        s.memo.drift_corrections = prev_memo.and_then(|m| m.drift_corrections);
        s.memo.drift_corrected_at = prev_memo.and_then(|m| m.drift_corrected_at);
    }
    let s = &mut d.status;
    if let Some(raised) = scaled_up_outside(record, service) {
        s.memo.scaled_up_at = Some(raised).max(prev_memo.and_then(|m| m.scaled_up_at));
    }
    if d.replicas == Some(0) && service.desired_count > 0 {
        s.memo.scaled_down_at = Some(now);
    }
    match contested {
        Some(c) => {
            s.memo.contested_since = Some(c.since);
            s.memo.contest_rounds = Some(c.rounds);
            let next = match s.memo.scaled_down_at {
                Some(at) if at > c.scaled_down_at => at.add(CONTEST_RETRY),
                _ => c.retry_at(),
            };
            set_condition(
                &mut s.conditions,
                DRIFT,
                ConditionStatus::True,
                CONTESTED,
                &contest_message(&c, next),
                now,
            );
        }
        None => {
            s.memo.contested_since = None;
            s.memo.contest_rounds = None;
        }
    }
    d
}

/// Last for every valid record: where its stable address should point (`spec.routing.mode:
/// route`; in redirect mode `status.route` and the `Routed` condition are removed).
///
/// The rule: at the service only when the decided phase is Ready with a published endpoint;
/// at the wake endpoint in every other phase, so the route is back at the wake endpoint in
/// the same pass that decides a scale-down (the pass points it before it scales). The
/// service's backend is `target_group` (its load balancer target group for the endpoint
/// port, [`crate::platform::ServiceObservation::target_group_for`]) when there is one, else
/// `{endpoint ip}:{endpoint port}`.
///
/// `observed` is the router's view: [`RouteObservation::Unknown`] is compared with what
/// `status.route` says was set; [`RouteObservation::Absent`] means the route must be created.
/// A route that differs from both what snooze last set and what it wants (or that is gone
/// although snooze set it) was changed by someone else: it is set back, and the `Routed`
/// condition says so (reason [`ROUTE_CHANGED`]). `status.route.since` moves only when the
/// route does.
pub fn route(
    record: &Record,
    observed: &RouteObservation,
    target_group: Option<&str>,
    mut d: Decision,
    now: Timestamp,
) -> Decision {
    let s = &mut d.status;
    let Some(host) = record.spec.route_host() else {
        s.route = None;
        s.conditions.retain(|c| c.type_ != ROUTED);
        return d;
    };
    let want = match (s.phase, &s.endpoint) {
        (Phase::Ready, Some(e)) if d.replicas != Some(0) && s.ready_for_visitors() => {
            RouteTarget::Service(target_group.map_or_else(
                || backend_address(&e.ip, record.spec.endpoint_port()),
                str::to_string,
            ))
        }
        _ => RouteTarget::Wake,
    };
    let prev = record
        .status
        .as_ref()
        .and_then(|p| p.route.as_ref())
        .filter(|r| r.host == host);
    let was = prev.map(|r| match (r.to, &r.backend) {
        (RouteTo::Service, Some(b)) => RouteTarget::Service(b.clone()),
        _ => RouteTarget::Wake,
    });
    let (current, changed_outside) = match observed {
        RouteObservation::At(o) => (Some(o), was.as_ref().is_some_and(|w| w != o) && *o != want),
        RouteObservation::Absent => (None, was.is_some()),
        RouteObservation::Unknown => (was.as_ref(), false),
    };
    d.route = (current != Some(&want)).then(|| want.clone());
    let (to, backend) = match &want {
        RouteTarget::Wake => (RouteTo::Wake, None),
        RouteTarget::Service(b) => (RouteTo::Service, Some(b.clone())),
    };
    let since = match prev {
        Some(p) if was.as_ref() == Some(&want) => p.since,
        _ => now,
    };
    s.route = Some(RouteStatus {
        host: host.clone(),
        to,
        backend,
        since,
    });
    let (status, reason, message) = if changed_outside {
        let message = match observed {
            RouteObservation::At(o) => format!(
                "{host} was pointed at {} outside snooze; set back to {}",
                o.describe(),
                want.describe()
            ),
            _ => format!(
                "the route of {host} was removed outside snooze; created again, to {}",
                want.describe()
            ),
        };
        (
            if to == RouteTo::Service {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            ROUTE_CHANGED,
            message,
        )
    } else if to == RouteTo::Service {
        (ConditionStatus::True, "RoutedToService", String::new())
    } else {
        (
            ConditionStatus::False,
            "RoutedToWakeEndpoint",
            format!("{host} shows the wait page until the service is Ready"),
        )
    };
    set_condition(&mut s.conditions, ROUTED, status, reason, &message, now);
    if d.route.is_some() && d.reason.is_empty() {
        d.reason = format!("route {host} to {}", want.describe());
    }
    d
}

/// `{ip}:{port}`, with an IPv6 address in brackets.
pub fn backend_address(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The `Drift=True` message of a [`Contest`].
fn contest_message(c: &Contest, next: Timestamp) -> String {
    let times = if c.rounds == 1 { "once" } else { "times" };
    let rounds = if c.rounds == 1 {
        String::new()
    } else {
        format!("{} ", c.rounds)
    };
    format!(
        "another writer (Application Auto Scaling, a pipeline, a person) raised desiredCount \
         again right after snooze scaled the service to 0 ({rounds}{times} since {}, last at {}); \
         snooze leaves it up and scales it down at most once an hour (next attempt at {next}). \
         See docs/runbooks/drift-and-flapping.md",
        c.since, c.raised_at
    )
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

/// The wait before the next drift correction after `corrections` in one episode: none for the
/// first, then [`DRIFT_BACKOFF_BASE`] doubling up to [`DRIFT_BACKOFF_MAX`].
pub(crate) fn drift_backoff(corrections: u32) -> Duration {
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

/// When a record whose service was MISSING/INACTIVE was last checked (`status.memo`).
pub fn missing_checked_at(status: &Status) -> Option<Timestamp> {
    status.memo.missing_checked_at
}
