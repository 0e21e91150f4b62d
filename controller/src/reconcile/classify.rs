//! The classifier: the pure triage of a record, before observing ([`Triage`]) and after
//! ([`classify`]`(record, observed, now) -> `[`Situation`]).
//!
//! Every rule that sorts records lives here, free of I/O, so that the pass ([`super::pass`])
//! only reads, observes, calls these functions, acts and publishes, and so that the wake
//! endpoint and the reconciler share the same answers ([`wake_unanswered`]). The decision
//! ([`super::decide`](mod@super::decide)) is built on these same functions.
//!
//! A pass classifies in two steps, because observation is batched over all records of the
//! pass:
//!
//! 1. the [`Triage`], before observing: [`validity`] (Gone, or Invalid: malformed or failing
//!    validation; the only place a pass validates), [`owners`] over the valid records of a
//!    full pass, then [`triage_valid`] (Invalid for a target conflict, Deferred while a
//!    missing service waits for its re-check, or Observe);
//! 2. [`classify`] `(record, observation, now)` for the observed ones: ServiceGone or
//!    Unobserved ([`observed_service`]), else FailedLatched, Awake or Asleep
//!    ([`classify_found`], from [`want`] and [`failed_latch`]).
//!
//! Every [`Situation`] has its own small function in [`super::decide`](mod@super::decide), which matches the
//! narrower [`Unfound`] and [`Found`] so that no arm is unreachable. Reasons are enums
//! ([`Why`], [`Invalidity`], [`ServiceGoneReason`]); a reason read back from a stored
//! condition is compared with the enum's own words ([`Invalidity::as_str`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use crate::model::schedule::schedule_view;
use crate::model::{ConditionStatus, Entry, Mode, Phase, Record, Timestamp, validate};
use crate::platform::{Observed, ServiceObservation, TaskStatus};

/// How long a record whose service is MISSING/INACTIVE waits before it is observed again.
pub const MISSING_RECHECK: Duration = Duration::from_secs(600);

/// Condition type: the ECS service exists and is ACTIVE.
pub const SERVICE_FOUND: &str = "ServiceFound";
/// Condition type: the record parses and validates.
pub const VALID: &str = "Valid";

/// Why a service is wanted awake or asleep ([`Want::why`], [`Situation::Awake`],
/// [`Situation::Asleep`]). [`Why::as_str`] gives the words reports and logs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Why {
    /// `spec.mode: on` (awake).
    ModeOn,
    /// A wake request within `idleTimeout` (awake).
    WakeRequested,
    /// Activity within `idleTimeout` (awake).
    Activity,
    /// A task that ECS still wants running started within `idleTimeout` (awake; a task started
    /// out of band counts as activity).
    TaskStarted,
    /// Someone else raised desiredCount within `idleTimeout` (a deploy, a person, Application
    /// Auto Scaling): awake, from the PRIMARY deployment's `updatedAt`, which ECS shows at once,
    /// before any task of the change is listed ([`scaled_up_outside`]).
    ScaledUp,
    /// `spec.mode: off` (asleep).
    ModeOff,
    /// A sleep request at or after the last wake request and activity (asleep).
    SleepRequested,
    /// Nothing wanted it within `idleTimeout` (asleep).
    Idle,
    /// Never woken, no activity, no task (asleep).
    NoWakeRequest,
    /// `spec.replicas: 0` (asleep).
    ReplicasZero,
    /// An operator's `snoozectl wake --force` (`desired.wakeForcedAt`) newer than every sleep
    /// request, with it or later activity within `idleTimeout` (awake; wins over quiet hours).
    Forced,
    /// Inside an asleep window of `spec.schedule` (asleep; wake requests refused).
    QuietHours,
    /// Inside an awake window of `spec.schedule` (awake).
    AwakeWindow,
    /// Within the pre-warm lead before an awake window of `spec.schedule` (awake).
    Prewarm,
    /// A wake request on a member of one of its groups, or activity on a member visitors
    /// reach, within that member's `idleTimeout` (awake; row 9 widened by
    /// [`crate::reconcile::group::GroupWant`]).
    Group,
    /// A member that depends on it (directly or not) is wanted awake (awake; see
    /// [`crate::reconcile::group::GroupWant`]).
    Dependent,
    /// The current awake stretch has lasted `spec.maxAwake` and no wake request came since
    /// (asleep; row 8, a guardrail).
    MaxAwake,
    /// This month's cost reached `spec.budget` (asleep; row 4, a guardrail; wake requests
    /// refused until the next month).
    OverBudget,
}

impl Why {
    /// The plain words: `mode on`, `wake requested`, `activity`, `task started`, `scaled up
    /// outside snooze`, `mode off`,
    /// `sleep requested`, `idle`, `no wake request`, `replicas 0`, `wake forced`, `quiet hours`,
    /// `awake window`, `pre-warm`, `wanted by its group`, `needed by a dependent`, `max awake
    /// reached`, `monthly budget reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::ModeOn => "mode on",
            Why::WakeRequested => "wake requested",
            Why::Activity => "activity",
            Why::TaskStarted => "task started",
            Why::ScaledUp => "scaled up outside snooze",
            Why::ModeOff => "mode off",
            Why::SleepRequested => "sleep requested",
            Why::Idle => "idle",
            Why::NoWakeRequest => "no wake request",
            Why::ReplicasZero => "replicas 0",
            Why::Forced => "wake forced",
            Why::QuietHours => "quiet hours",
            Why::AwakeWindow => "awake window",
            Why::Prewarm => "pre-warm",
            Why::Group => "wanted by its group",
            Why::Dependent => "needed by a dependent",
            Why::MaxAwake => "max awake reached",
            Why::OverBudget => "monthly budget reached",
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record is Invalid: the reason of its `Valid=False` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invalidity {
    /// The record does not parse or validate (`ValidationFailed`).
    ValidationFailed,
    /// Another (older) record manages the same service (`TargetConflict`); found by full
    /// passes, kept by scoped ones.
    TargetConflict,
    /// The reconciler's platform cannot serve the record's kind of target
    /// (`UnsupportedTarget`), e.g. a `local` target in the table the AWS reconciler serves:
    /// reported once, never retried as an error.
    UnsupportedTarget,
}

impl Invalidity {
    /// The condition reason: `ValidationFailed`, `TargetConflict` or `UnsupportedTarget`.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalidity::ValidationFailed => "ValidationFailed",
            Invalidity::TargetConflict => "TargetConflict",
            Invalidity::UnsupportedTarget => "UnsupportedTarget",
        }
    }
}

/// Why ECS reports no usable service: the reason of `ServiceFound=False`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceGoneReason {
    /// `ServiceMissing`: no such service.
    Missing,
    /// `ServiceInactive`: the service is DRAINING or INACTIVE.
    Inactive,
}

impl ServiceGoneReason {
    /// The condition reason: `ServiceMissing` or `ServiceInactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceGoneReason::Missing => "ServiceMissing",
            ServiceGoneReason::Inactive => "ServiceInactive",
        }
    }
}

/// Every case a record can be in during a pass. One arm per case; [`super::decide`](mod@super::decide) has one
/// function per arm.
#[derive(Clone, Debug, PartialEq)]
pub enum Situation {
    /// The record does not parse or validate, or conflicts with another record: phase Invalid,
    /// nothing observed or scaled.
    Invalid {
        /// The `Valid=False` reason.
        reason: Invalidity,
        /// Every problem, `path: reason`, joined by `; ` (or the conflict).
        message: String,
    },
    /// The service was MISSING/INACTIVE less than [`MISSING_RECHECK`] ago and nothing changed
    /// since: not observed again until the re-check.
    Deferred {
        /// Time left until the re-check.
        wait: Duration,
    },
    /// ECS reports the service MISSING, DRAINING or INACTIVE: a condition, no scaling.
    ServiceGone {
        /// `ServiceMissing` or `ServiceInactive`.
        reason: ServiceGoneReason,
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
        /// Why.
        why: Why,
    },
    /// The service should be asleep.
    Asleep {
        /// Why.
        why: Why,
    },
}

/// Whether and why the service should be awake, from `spec.mode`, the `desired` facts, task
/// start times, `spec.schedule` and `spec.idleTimeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// Awake wanted.
    pub awake: bool,
    /// Why.
    pub why: Why,
    /// When the service goes to sleep if nothing else happens (`mode: auto` and awake only).
    pub sleeps_at: Option<Timestamp>,
    /// Another writer contests the service's desiredCount ([`contest`]) and it is up.
    pub contested: bool,
    /// Inside quiet hours ([`Why::QuietHours`]): when they end and the service can be woken
    /// again. Wake requests are refused until then (the wake endpoint, `snoozectl wake`
    /// without `--force`).
    pub quiet_until: Option<Timestamp>,
    /// This month's budget reached ([`Why::OverBudget`]): when the next month begins (UTC) and
    /// the service can be woken again ([`Record::budget_reached`]). Wake requests are refused
    /// until then (the wake endpoint, `snoozectl wake` without `--force`).
    pub budget_until: Option<Timestamp>,
    /// Asleep because `spec.maxAwake` ended the last awake stretch ([`Why::MaxAwake`], row 8):
    /// that moment ([`max_awake_cap`]). A wake request newer than it starts a new stretch: the
    /// record's own, or its group's ([`crate::reconcile::group::GroupWant::wake`]).
    pub max_awake_at: Option<Timestamp>,
}

/// Reasons for awake that `spec.maxAwake` caps (rows 9 and its group widening): an awake
/// stretch counts only while one of them keeps the service up. `mode: on`, a forced wake, an
/// awake window (or its pre-warm lead) and being held for a dependent are not capped.
pub fn capped_by_max_awake(why: Why) -> bool {
    matches!(
        why,
        Why::WakeRequested | Why::Activity | Why::TaskStarted | Why::ScaledUp | Why::Group
    )
}

/// Row 8 of the precedence: when `spec.maxAwake` ended (or ends now) the current awake
/// stretch, if it did and no wake request came after that moment: the cap remembered in
/// `memo.maxAwakeAt`, else `memo.awakeSince + spec.maxAwake` once `now` reached it. `None`
/// without `spec.maxAwake`, or when a wake request newer than the cap starts a new stretch
/// (activity alone does not).
pub fn max_awake_cap(record: &Record, now: Timestamp) -> Option<Timestamp> {
    let max_awake = record.spec.max_awake?;
    let memo = &record.status.as_ref()?.memo;
    let cap = memo.max_awake_at.or_else(|| {
        memo.awake_since
            .map(|since| since.add(max_awake.get()))
            .filter(|cap| now >= *cap)
    })?;
    let woken_since = record.desired.wake_requested_at.is_some_and(|w| w > cap);
    (!woken_since).then_some(cap)
}

/// [`want_in`] for a runner that requeues exactly (no runner period).
pub fn want(record: &Record, service: Option<&ServiceObservation>, now: Timestamp) -> Want {
    want_in(record, service, now, Duration::ZERO)
}

/// Awake wanted: the precedence table of DESIGN.md §10, first matching row wins:
///
/// 1. `mode off`: asleep. 2. `mode on`: awake (unless `replicas: 0`).
/// 3. a forced wake (`wakeForcedAt`) newer than every sleep request, with it or later activity
///    within `idleTimeout`: awake.
/// 4. this month's cost (`status.ledger`) has reached `spec.budget`
///    ([`Record::budget_reached`]; never for a local target): asleep, with
///    [`Want::budget_until`] (the next month's start).
/// 5. inside quiet hours (`spec.schedule.asleep`, unless an awake window's pre-warm lead has
///    begun): asleep, with [`Want::quiet_until`].
/// 6. a sleep request at or after the last wake request, activity, task start or outside
///    raise, and after the start of the current awake window (or of its pre-warm lead): asleep.
/// 7. inside an awake window or its pre-warm lead ([`schedule_view`] with `runner_period`):
///    awake until the window ends (or later, by row 9).
/// 8. the current awake stretch (`memo.awakeSince`, kept by `decide`) has lasted
///    `spec.maxAwake` and no wake request came after that moment ([`max_awake_cap`]): asleep,
///    with [`Want::max_awake_at`], until a newer wake request (activity alone does not start a
///    new stretch). A wake request on another member of its groups, or on a record that
///    depends on it, does too ([`crate::reconcile::group::Groups::widen`]).
/// 9. `now < last wanted + idleTimeout` where "last wanted" is the latest of `wakeRequestedAt`,
///    `lastActivityAt`, the start (or creation) of any task that ECS still wants running (a
///    task started out of band counts as activity) and a raise of desiredCount by someone else
///    ([`scaled_up_outside`], remembered in `memo.scaledUpAt`): awake. While another writer
///    contests the service ([`contest`]) and it is up, it sleeps no earlier than
///    [`Contest::retry_at`].
/// 10. otherwise asleep.
pub fn want_in(
    record: &Record,
    service: Option<&ServiceObservation>,
    now: Timestamp,
    runner_period: Duration,
) -> Want {
    let asleep = |why| Want {
        awake: false,
        why,
        sleeps_at: None,
        contested: false,
        quiet_until: None,
        budget_until: None,
        max_awake_at: None,
    };
    let awake = |why, sleeps_at| Want {
        awake: true,
        why,
        sleeps_at,
        contested: false,
        quiet_until: None,
        budget_until: None,
        max_awake_at: None,
    };
    match record.spec.mode {
        Mode::Off => return asleep(Why::ModeOff),
        Mode::On => {
            return if record.spec.replicas == 0 {
                asleep(Why::ReplicasZero)
            } else {
                awake(Why::ModeOn, None)
            };
        }
        Mode::Auto => {}
    }
    let d = &record.desired;
    // Row 3: an operator's forced wake, newer than every sleep request, holds while it or later
    // activity is within idleTimeout.
    if let Some(sleeps_at) = record.forced_until()
        && now < sleeps_at
        && record.spec.replicas > 0
    {
        return awake(Why::Forced, Some(sleeps_at));
    }
    // Row 4: this month's cost has reached spec.budget (never for a local target).
    if let Some(reached) = record.budget_reached(now) {
        return Want {
            budget_until: Some(reached.until),
            ..asleep(Why::OverBudget)
        };
    }
    let schedule = schedule_view(record, now, runner_period);
    // Row 5: quiet hours.
    if let Some(until) = schedule
        .zip(record.spec.schedule.as_ref())
        .and_then(|(view, s)| view.quiet_until(s, now))
    {
        return Want {
            quiet_until: Some(until),
            ..asleep(Why::QuietHours)
        };
    }
    // The awake window (or the one whose pre-warm lead has begun) and when it began to count.
    let window = schedule.and_then(|s| {
        let lead = s.lead.lead;
        s.state.awake.map(|o| (o, o.start, Why::AwakeWindow)).or(s
            .state
            .prewarming
            .map(|o| (o, o.start.sub(lead), Why::Prewarm)))
    });
    let task_started = service.and_then(|s| {
        s.tasks
            .iter()
            .filter(|t| t.desired_status == TaskStatus::Running)
            .filter_map(|t| t.started_at.or(t.created_at))
            .max()
    });
    let memo = record.status.as_ref().map(|s| &s.memo);
    let scaled_up = service
        .and_then(|s| scaled_up_outside(record, s))
        .max(memo.and_then(|m| m.scaled_up_at));
    let candidates = [
        (d.wake_requested_at, Why::WakeRequested),
        (d.last_activity_at, Why::Activity),
        (task_started, Why::TaskStarted),
        (scaled_up, Why::ScaledUp),
    ];
    let last = candidates
        .iter()
        .filter_map(|(t, why)| t.map(|t| (t, *why)))
        .max_by_key(|(t, _)| *t);
    let capped = |cap| Want {
        max_awake_at: Some(cap),
        ..asleep(Why::MaxAwake)
    };
    if last.is_none() && window.is_none() {
        // A cap holds without any signal of its own too (a dependency woken only by its
        // group): else its group would lift it as never asked for.
        return max_awake_cap(record, now).map_or(asleep(Why::NoWakeRequest), capped);
    }
    // Row 6: an explicit sleep newer than everything that wanted the service awake.
    if let Some(slept) = d.sleep_requested_at
        && last.is_none_or(|(t, _)| slept >= t)
        && window.is_none_or(|(_, began, _)| slept >= began)
    {
        return asleep(Why::SleepRequested);
    }
    if record.spec.replicas == 0 {
        return asleep(Why::ReplicasZero);
    }
    let idle_until = last.map(|(t, why)| (t.add(record.spec.idle_timeout.get()), why));
    // Row 7: inside an awake window or its pre-warm lead.
    if let Some((o, _, why)) = window {
        let sleeps_at = idle_until.map_or(o.end, |(t, _)| t.max(o.end));
        return awake(why, Some(sleeps_at));
    }
    // Row 8: the current awake stretch has lasted spec.maxAwake, and no wake request since.
    if let Some(cap) = max_awake_cap(record, now) {
        return capped(cap);
    }
    // Row 9: a wake request or activity within idleTimeout.
    let Some((mut sleeps_at, why)) = idle_until else {
        return asleep(Why::NoWakeRequest);
    };
    // While another writer undoes snooze's scale-downs, the next attempt waits for
    // CONTEST_RETRY after the last one (the service is left up meanwhile).
    let contested = service
        .filter(|s| s.desired_count > 0)
        .and_then(|s| contest(record, s, now));
    if let Some(c) = contested {
        sleeps_at = sleeps_at.max(c.retry_at());
    }
    if now < sleeps_at {
        Want {
            contested: contested.is_some(),
            ..awake(why, Some(sleeps_at))
        }
    } else {
        asleep(Why::Idle)
    }
}

/// A raise of desiredCount within this long after snooze's scale-down to 0, with no wake or
/// activity since, is another writer undoing it: a round of a [`Contest`].
pub const CONTEST_WINDOW: Duration = Duration::from_secs(15 * 60);
/// While contested, snooze tries a scale-down at most once per this period.
pub const CONTEST_RETRY: Duration = Duration::from_secs(60 * 60);

/// When someone other than snooze raised the service's desiredCount: the PRIMARY
/// deployment's `updatedAt`, when the observed desiredCount is above what snooze last set
/// (`memo.lastSet`; none yet counts as 0). ECS shows the deployment at once after an
/// `UpdateService`, seconds before the change's tasks are listed, so a deploy (or a person in
/// the console) starting a sleeping service is activity from the first pass, never drift.
/// `None` for snooze's own changes, platforms without deployments, and a lowered count.
pub fn scaled_up_outside(record: &Record, service: &ServiceObservation) -> Option<Timestamp> {
    let last_set = record
        .status
        .as_ref()
        .and_then(|s| s.memo.last_set)
        .unwrap_or(0);
    if service.desired_count <= last_set {
        return None;
    }
    service
        .primary_deployment()
        .filter(|d| d.desired_count > 0)
        .and_then(|d| d.updated_at.or(d.created_at))
}

/// Another writer keeps raising desiredCount right after snooze scales the service to 0
/// (Application Auto Scaling with a minimum capacity of 1, a pipeline, a person): snooze and
/// it would take turns forever. Recognised at the first round ([`CONTEST_WINDOW`]); while it
/// lasts the service is left up and snooze tries to scale it down at most once per
/// [`CONTEST_RETRY`]; it ends when a scale-down stays for [`CONTEST_WINDOW`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contest {
    /// Rounds so far (1 at the first).
    pub rounds: u32,
    /// When the first round's raise happened.
    pub since: Timestamp,
    /// snooze's last scale-down to 0 (`memo.scaledDownAt`).
    pub scaled_down_at: Timestamp,
    /// The other writer's last raise.
    pub raised_at: Timestamp,
    /// True when this observation shows a new round.
    pub new_round: bool,
}

impl Contest {
    /// The earliest next scale-down attempt: [`CONTEST_RETRY`] after the last one.
    pub fn retry_at(&self) -> Timestamp {
        self.scaled_down_at.add(CONTEST_RETRY)
    }
}

/// The contest over `record`'s service given this observation, if any ([`Contest`]): a new
/// round when desiredCount was raised by someone else ([`scaled_up_outside`]) within
/// [`CONTEST_WINDOW`] after snooze's last scale-down (`memo.scaledDownAt`, with
/// `memo.lastSet` 0) and no wake request or activity came since; else the one in
/// `memo.contestedSince` until a scale-down has stayed for [`CONTEST_WINDOW`].
pub fn contest(record: &Record, service: &ServiceObservation, now: Timestamp) -> Option<Contest> {
    let memo = &record.status.as_ref()?.memo;
    let down = memo.scaled_down_at?;
    let d = &record.desired;
    let wanted_since = [d.wake_requested_at, d.last_activity_at]
        .into_iter()
        .flatten()
        .any(|t| t > down);
    if let Some(raised) = scaled_up_outside(record, service)
        && memo.last_set == Some(0)
        && raised >= down
        && raised.since(down) <= CONTEST_WINDOW
        && !wanted_since
    {
        return Some(Contest {
            rounds: memo.contest_rounds.unwrap_or(0) + 1,
            since: memo.contested_since.unwrap_or(raised),
            scaled_down_at: down,
            raised_at: raised,
            new_round: true,
        });
    }
    let since = memo.contested_since?;
    let stayed_down = service.desired_count == 0 && now >= down.add(CONTEST_WINDOW);
    (!stayed_down).then(|| Contest {
        rounds: memo.contest_rounds.unwrap_or(1),
        since,
        scaled_down_at: down,
        raised_at: memo.scaled_up_at.unwrap_or(since),
        new_round: false,
    })
}

/// What a pass does with a record before observing anything ([`validity`], then
/// [`triage_valid`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Triage {
    /// Not found in the store (deleted): nothing to decide or publish.
    Gone,
    /// Malformed, failing validation, or in a target conflict: [`Situation::Invalid`], decided
    /// without observing.
    Invalid {
        /// The `Valid=False` reason.
        reason: Invalidity,
        /// Every problem, or the conflict.
        message: String,
    },
    /// The service was MISSING/INACTIVE recently: [`Situation::Deferred`], not observed.
    Deferred {
        /// Time left until the re-check ([`MISSING_RECHECK`] after the last one).
        wait: Duration,
    },
    /// Observe the record's service, then [`classify`] and decide.
    Observe,
    /// A quiet sleeping record a tiered full pass leaves alone this time
    /// ([`super::tier::why_observe`]): not observed, nothing decided or written.
    Quiet,
}

/// Which record owns each service in a full pass ([`owners`]); none for a scoped pass, which
/// sees too few records to judge and keeps a latched conflict instead.
#[derive(Clone, Debug, Default)]
pub struct Owners {
    /// A claim ([`crate::model::Spec::claims`]: a target identity or `host:{host}`) → the
    /// owning record's name.
    by_identity: HashMap<String, String>,
    full: bool,
}

/// The owner of every service among the valid records of a full pass (give only records
/// that passed [`validity`]): the record with the earliest `metadata.creationTimestamp` (then
/// name). Two records on one service would scale it against each other, so the others are
/// Invalid ([`Invalidity::TargetConflict`]). [`OwnersBuilder`] does the same one record at a
/// time.
pub fn owners<'a>(valid: impl IntoIterator<Item = &'a Record>) -> Owners {
    let mut b = OwnersBuilder::default();
    for r in valid {
        b.add(r);
    }
    b.build()
}

/// Builds the [`Owners`] of a full pass one valid record at a time, for a pass that reads the
/// table page by page ([`owners`] over an iterator).
#[derive(Clone, Debug, Default)]
pub struct OwnersBuilder {
    /// A claim → its owner so far: (`creationTimestamp`, name), the least wins.
    claims: HashMap<String, (Option<Timestamp>, String)>,
    /// Every record that shares a claim with another record (owners included).
    contested: HashSet<String>,
}

impl OwnersBuilder {
    /// Adds the claims of one record that passed [`validity`].
    pub fn add(&mut self, r: &Record) {
        for (identity, _) in r.spec.claims() {
            let claim = (r.metadata.creation_timestamp, r.metadata.name.clone());
            match self.claims.entry(identity) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(claim);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if o.get().1 != claim.1 {
                        self.contested.insert(o.get().1.clone());
                        self.contested.insert(claim.1.clone());
                    }
                    if claim < *o.get() {
                        o.insert(claim);
                    }
                }
            }
        }
    }

    /// True when record `name` shares a claim with another record added (as its owner or
    /// not): its triage depends on the others.
    pub fn contested(&self, name: &str) -> bool {
        self.contested.contains(name)
    }

    /// The owners of everything added.
    pub fn build(self) -> Owners {
        Owners {
            by_identity: self.claims.into_iter().map(|(k, (_, n))| (k, n)).collect(),
            full: true,
        }
    }
}

impl Owners {
    /// The owners of a scoped pass: none known.
    pub fn scoped() -> Self {
        Self::default()
    }
}

/// The first step of the triage: a stored entry (`None`: not found) is Gone, Invalid
/// (malformed or failing [`validate`], which runs here and only here in a pass), or a valid
/// record.
pub fn validity(entry: Option<&Entry>) -> Result<&Record, Triage> {
    let r = match entry {
        None => return Err(Triage::Gone),
        Some(Entry::Malformed(m)) => {
            return Err(Triage::Invalid {
                reason: Invalidity::ValidationFailed,
                message: format!("the stored item does not parse: {}", m.error),
            });
        }
        Some(Entry::Record(r)) => r,
    };
    let errors = validate(r);
    if errors.is_empty() {
        Ok(r)
    } else {
        Err(Triage::Invalid {
            reason: Invalidity::ValidationFailed,
            message: errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// The second step of the triage, for a record that passed [`validity`]: Invalid in a target
/// conflict (a full pass judges it from `owners`; a scoped pass keeps a latched one), Deferred
/// (service recently missing), or [`Triage::Observe`].
pub fn triage_valid(r: &Record, owners: &Owners, now: Timestamp) -> Triage {
    if owners.full {
        for (identity, path) in r.spec.claims() {
            if let Some(owner) = owners.by_identity.get(&identity)
                && *owner != r.metadata.name
            {
                let message = match identity.strip_prefix("host:") {
                    Some(host) => format!(
                        "{path}: {host} is already the address of record {owner}; one address, \
                         one record (give this record another host)"
                    ),
                    None => format!(
                        "{path}: {identity} is already managed by record {owner}; one service, \
                         one record (delete this record or point it at another service)"
                    ),
                };
                return Triage::Invalid {
                    reason: Invalidity::TargetConflict,
                    message,
                };
            }
        }
    }
    if let Some(wait) = missing_recheck(r, now) {
        return Triage::Deferred { wait };
    }
    if !owners.full
        && let Some(message) = latched_conflict(r)
    {
        return Triage::Invalid {
            reason: Invalidity::TargetConflict,
            message,
        };
    }
    Triage::Observe
}

/// The case of a valid record given its observation (see [`Triage`] for the cases known
/// before observing): ServiceGone or Unobserved ([`observed_service`]), else FailedLatched,
/// Awake or Asleep ([`classify_found`]). [`super::decide::decide_valid`] decides on the same two
/// functions, so the classification and the decision cannot drift apart.
pub fn classify(record: &Record, observed: &Observed, now: Timestamp) -> Situation {
    match observed_service(observed) {
        Ok(service) => classify_found(record, service, now, Duration::ZERO).into(),
        Err(unfound) => unfound.into(),
    }
}

/// An observation without a usable service: a case of its own.
#[derive(Clone, Debug, PartialEq)]
pub enum Unfound {
    /// [`Situation::ServiceGone`].
    ServiceGone {
        /// `ServiceMissing` or `ServiceInactive`.
        reason: ServiceGoneReason,
        /// ECS's message, or `service is <status>`.
        message: String,
    },
    /// [`Situation::Unobserved`].
    Unobserved {
        /// The platform error (with its code).
        message: String,
    },
    /// [`Situation::Invalid`] with [`Invalidity::UnsupportedTarget`]: the platform answered
    /// that it does not serve this kind of target ([`crate::platform::Error::Unsupported`]).
    /// Not a failure to retry: the record cannot be served here until its spec changes.
    Unsupported {
        /// `spec.target is not served here: ...` with the platform's words.
        message: String,
    },
}

impl From<Unfound> for Situation {
    fn from(u: Unfound) -> Self {
        match u {
            Unfound::ServiceGone { reason, message } => Situation::ServiceGone { reason, message },
            Unfound::Unobserved { message } => Situation::Unobserved { message },
            Unfound::Unsupported { message } => Situation::Invalid {
                reason: Invalidity::UnsupportedTarget,
                message,
            },
        }
    }
}

/// The service of an observation, or why there is none (MISSING, DRAINING/INACTIVE, a target
/// the platform does not serve, or the observation failed).
pub fn observed_service(observed: &Observed) -> Result<&ServiceObservation, Unfound> {
    match observed {
        Observed::Found(service) => Ok(service),
        Observed::Missing { message } => Err(Unfound::ServiceGone {
            reason: ServiceGoneReason::Missing,
            message: message.clone(),
        }),
        Observed::Inactive { status, message } => Err(Unfound::ServiceGone {
            reason: ServiceGoneReason::Inactive,
            message: inactive_message(status, message),
        }),
        Observed::Error(crate::platform::Error::Unsupported(why)) => Err(Unfound::Unsupported {
            message: format!("spec.target is not served by this reconciler: {why}"),
        }),
        Observed::Error(e) => Err(Unfound::Unobserved {
            message: e.to_string(),
        }),
    }
}

/// The case of a valid record whose service was found.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// [`Situation::FailedLatched`] ([`failed_latch`]).
    FailedLatched {
        /// Why the wake failed.
        message: String,
    },
    /// [`Situation::Awake`], with the [`Want`] it rests on.
    Awake(Want),
    /// [`Situation::Asleep`], with the [`Want`] it rests on.
    Asleep(Want),
}

impl From<Found> for Situation {
    fn from(f: Found) -> Self {
        match f {
            Found::FailedLatched { message } => Situation::FailedLatched { message },
            Found::Awake(w) => Situation::Awake { why: w.why },
            Found::Asleep(w) => Situation::Asleep { why: w.why },
        }
    }
}

/// The case of a valid record whose service was found: a `Failed` latch that holds
/// ([`failed_latch`]), else awake or asleep as [`want_in`] says (with the runner's period for
/// the pre-warm lead).
pub fn classify_found(
    record: &Record,
    service: &ServiceObservation,
    now: Timestamp,
    runner_period: Duration,
) -> Found {
    classify_want(
        record,
        want_in(record, Some(service), now, runner_period),
        None,
    )
}

/// [`classify_found`] for a `want` already known (e.g. widened by the record's groups);
/// `member_wake`: a wake request on another member of its groups that reaches it, which
/// releases a `Failed` latch older than it like the record's own.
pub fn classify_want(record: &Record, want: Want, member_wake: Option<Timestamp>) -> Found {
    let latch = failed_latch(record, &want).filter(|_| {
        let failed_at = record.status.as_ref().and_then(|s| s.memo.failed_at);
        member_wake.is_none_or(|w| failed_at.is_none_or(|f| w <= f))
    });
    if let Some(message) = latch {
        Found::FailedLatched { message }
    } else if want.awake {
        Found::Awake(want)
    } else {
        Found::Asleep(want)
    }
}

/// The message of a DRAINING/INACTIVE service: ECS's own, or `service is <status>`.
pub fn inactive_message(status: &str, message: &str) -> String {
    if message.is_empty() {
        format!("service is {status}")
    } else {
        message.to_string()
    }
}

/// `Some(message)` while a `Failed` latch holds: the record is Failed, awake is still wanted,
/// and neither a newer wake request nor a spec change (generation) arrived since
/// `status.memo.failedAt`. The message is the failure's.
pub fn failed_latch(record: &Record, want: &Want) -> Option<String> {
    let prev = record.status.as_ref()?;
    let failed_at = prev.memo.failed_at?;
    let newer_wake = record
        .desired
        .wake_requested_at
        .is_some_and(|w| w > failed_at);
    let spec_changed = record.metadata.generation != prev.observed_generation;
    (prev.phase == Phase::Failed && want.awake && !newer_wake && !spec_changed)
        .then(|| prev.message.clone())
}

/// `Some(wait)` when the record's service was last seen MISSING/INACTIVE less than
/// [`MISSING_RECHECK`] ago and nothing (spec, wake request) changed since.
pub fn missing_recheck(r: &Record, now: Timestamp) -> Option<Duration> {
    let s = r.status.as_ref()?;
    let c = s.condition(SERVICE_FOUND)?;
    if c.status != ConditionStatus::False {
        return None;
    }
    let checked = s.memo.missing_checked_at?;
    if r.metadata.generation != s.observed_generation
        || r.desired.wake_requested_at.is_some_and(|w| w > checked)
    {
        return None;
    }
    let next = checked.add(MISSING_RECHECK);
    (now < next).then(|| next.since(now))
}

/// The conflict message a scoped pass keeps: the record is Invalid for
/// [`Invalidity::TargetConflict`] at its current generation (only a full pass sees the other
/// records and can clear it).
fn latched_conflict(r: &Record) -> Option<String> {
    let s = r.status.as_ref()?;
    let valid = s.conditions.iter().find(|c| c.type_ == VALID)?;
    (s.phase == Phase::Invalid
        && s.observed_generation == r.metadata.generation
        && valid.reason == Invalidity::TargetConflict.as_str())
    .then(|| s.message.clone())
}

/// True when `record` has a wake request that no pass has acted on yet
/// ([`Record::wake_unanswered`], the rule itself, kept with the record so that the wake
/// endpoint uses it without reaching into the reconciler). The reconcile runtime adds such
/// records to its next requeue round; the wake endpoint shows them as Waking at step
/// `requested` ([`crate::wake::view_record`]).
pub fn wake_unanswered(record: &Record) -> bool {
    record.wake_unanswered()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn only_a_wake_newer_than_a_resting_phase_is_unanswered() {
        let t0 = Timestamp::from_millis(1_795_946_400_000);
        let t1 = t0.add(Duration::from_secs(5));
        let phase = |p: Phase, since: Timestamp| Status {
            phase: p,
            phase_since: Some(since),
            ..Status::default()
        };
        let rec = || Record::test("demo");
        // Never reconciled, with a wake: unanswered.
        assert!(wake_unanswered(&rec().woken_at(t1)));
        // Asleep, Sleeping or Failed since t0, woken at t1: unanswered; woken before: answered.
        for p in [Phase::Asleep, Phase::Sleeping, Phase::Failed] {
            assert!(
                wake_unanswered(&rec().woken_at(t1).with_status(phase(p, t0))),
                "{p}"
            );
            assert!(
                !wake_unanswered(&rec().woken_at(t0).with_status(phase(p, t1))),
                "{p}"
            );
        }
        // Already awake or waking, invalid: nothing to pick up.
        for p in [Phase::Waking, Phase::Ready, Phase::Invalid] {
            assert!(
                !wake_unanswered(&rec().woken_at(t1).with_status(phase(p, t0))),
                "{p}"
            );
        }
        // No wake, a later sleep request, or a mode that ignores wakes.
        assert!(!wake_unanswered(
            &rec().with_status(phase(Phase::Asleep, t0))
        ));
        assert!(!wake_unanswered(&rec().woken_at(t1).sleep_requested_at(t1)));
        assert!(!wake_unanswered(&rec().woken_at(t1).mode(Mode::Off)));
    }
}
