//! The ledger's accounting (`status.ledger`, [`crate::model::ledger`]): pure, called by the
//! pass for every record it observed ([`count`]), with the flush policy that decides when the
//! new ledger is worth a status write ([`needs_write`]).
//!
//! **Task-seconds**, counted the way Fargate bills:
//!
//! - a task is billed from the start of its image pull (`pullStartedAt`); a platform that does
//!   not report it (or a task seen only once RUNNING) falls back to `startedAt`, which is a
//!   little later (so the count errs low, never high). A task with neither (PROVISIONING, or
//!   one that stopped before pulling) is not billed (yet) and not tracked;
//! - until `stoppedAt`, per second, with a one-minute minimum added at the stop (in the month of
//!   the stop) for ECS targets ([`LedgerInput::minimum`]; a local process's seconds are its
//!   real ones);
//! - each pass adds, per task, `[max(countedUntil, billedFrom), min(now, stoppedAt)]`, split
//!   across UTC months, and moves the task's `countedUntil` there: no second is counted twice
//!   (a later or an overlapping pass starts where the stored ledger stopped) and none is lost
//!   (a skipped pass is made up by the next one);
//! - every task of the service's listing counts, whoever started it (a deployment, a person,
//!   another tool): tasks started out of band included;
//! - a task seen stopped is marked `stopped` and kept for [`STOPPED_TASK_KEPT`] after its stop
//!   (ECS lists a stopped task for about an hour) so a later listing never counts it again; a
//!   stopped task the ledger does not track and that stopped longer ago than that is ignored
//!   (it was counted and forgotten, or stopped before the ledger began);
//! - a tracked task that is neither listed with the service nor known to a lookup by ARN
//!   ([`crate::platform::Platform::describe_tasks`]) has *vanished*: it is closed at its
//!   `countedUntil` (no minimum, no guess) and counted in the month's `unaccountedTasks` with a
//!   warning. When the lookup fails, the task stays open and is looked up again next pass.
//!
//! **Always-on**: what the service would have run always on, `replicas × (now −
//! ledger.countedUntil)` per month, priced with the service's size
//! ([`ServiceObservation::size`], else the newest observed task's). `replicas` is
//! [`always_on_replicas`]: `spec.replicas` for `mode: auto` and `mode: on` (an `on` service
//! saves nothing, which is what its ledger shows), 0 for `mode: off` (a service an operator
//! switched off would not run always on; snooze saves nothing there either).
//!
//! **Money**: per second, `size.vcpu × vcpuHour + size.memoryGb × gbHour (+ the public IPv4
//! charge when the task has a public address: remembered per task, `publicIp`, since a stopped
//! task has no address left) / 3600`, from the price table's row for the
//! region ([`super::prices::Rates`]). Without rates (a local target, no table) or without the
//! size, seconds are counted and money is not (`unpricedTaskSeconds`,
//! `unpricedAlwaysOnSeconds`): never a made-up price.
//!
//! **Start**: the first count of a record only sets `countedUntil` (and tracks the running
//! tasks from now): nothing before the ledger's first pass is counted, for tasks or always-on.
//! A `now` earlier than the stored `countedUntil` (an out-of-order pass) adds nothing.
//!
//! **Wakes**: a wake this pass completed (its decision reached Ready with a new `lastWake`) is
//! counted in the month of its `readyAt` (`wakes`, `wakeSeconds`).
//!
//! **Retention**: months older than the current one and the
//! [`RETENTION_MONTHS`]` − 1` before it are dropped; months are kept sorted, oldest first, one
//! entry per month (a hand-edited stored ledger is normalised first, [`normalise_months`]).
//! Fields the ledger does not count (`forcedOverBudget`, `budgetReachedAt`: the budget
//! guardrail's) are copied through.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Datelike;
use tracing::warn;

use super::prices::Rates;
use crate::model::ledger::{
    Ledger, LedgerMonth, LedgerTask, RETENTION_MONTHS, WAKE_SECONDS_KEPT, month_key,
    next_month_start,
};
use crate::model::{LastWake, Mode, Spec, Timestamp};
use crate::platform::{ServiceObservation, TaskObservation, TaskSize, TaskStatus};

/// A stored ledger older than this is written even when nothing else changed ([`needs_write`]):
/// between writes the ledger is counted again from the stored `countedUntil` (lossless), so
/// this only bounds how stale `snoozectl cost` may be, at one status write per record per hour.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(3600);

/// How long a stopped task stays in `ledger.tasks` after its stop: longer than ECS lists a
/// stopped task (about an hour), so no later listing counts it twice.
pub const STOPPED_TASK_KEPT: Duration = Duration::from_secs(2 * 3600);

/// Fargate's minimum billed time per task.
pub const MINIMUM_BILLED: Duration = Duration::from_secs(60);

/// What [`count`] counts from, for one record observed this pass.
#[derive(Clone, Copy, Debug)]
pub struct LedgerInput<'a> {
    /// Tasks the service would run always on ([`always_on_replicas`]).
    pub always_on_replicas: u32,
    /// Whether an always-on task would have a public IPv4 address (priced with it):
    /// `spec.endpoint.address: public`.
    pub always_on_public_ip: bool,
    /// The service as observed this pass (its tasks, recently stopped ones included).
    pub service: &'a ServiceObservation,
    /// Tracked tasks missing from `service.tasks`, as a lookup by ARN returned them
    /// ([`to_describe`], [`crate::platform::Platform::describe_tasks`]); `None` when the lookup
    /// failed (those tasks stay open, looked up again next pass).
    pub described: Option<&'a [TaskObservation]>,
    /// The region's prices; `None`: seconds only (local targets, no price table).
    pub rates: Option<&'a Rates>,
    /// A wake this pass completed (the decided `lastWake`, when new and the phase is Ready).
    pub wake: Option<&'a LastWake>,
    /// Whether a stopped task is billed Fargate's one-minute minimum ([`MINIMUM_BILLED`]):
    /// true for an ECS target, false for a local one (local processes are not billed by
    /// Fargate, so their seconds are the real ones).
    pub minimum: bool,
}

/// Tasks the service would run always on: `spec.replicas`, or 0 for `mode: off`.
pub fn always_on_replicas(spec: &Spec) -> u32 {
    match spec.mode {
        Mode::Off => 0,
        Mode::Auto | Mode::On => spec.replicas,
    }
}

/// Tracked tasks (not yet stopped) that `service` does not list: to look up by ARN before
/// [`count`] (one call per record), so a stop after ECS stopped listing the task with its
/// service is still seen.
pub fn to_describe(ledger: &Ledger, service: &ServiceObservation) -> Vec<String> {
    let listed: HashSet<&str> = service.tasks.iter().map(|t| t.arn.as_str()).collect();
    (ledger.tasks.iter())
        .filter(|t| !t.stopped && !listed.contains(t.arn.as_str()))
        .map(|t| t.arn.clone())
        .collect()
}

/// When Fargate starts billing `t`: `pullStartedAt`, else `startedAt`; `None` while neither is
/// known (not billed yet, or never pulled).
pub fn billed_from(t: &TaskObservation) -> Option<Timestamp> {
    t.pull_started_at.or(t.started_at)
}

/// The ledger after this pass: `prev` (the decided status's ledger, i.e. the stored one with
/// any guardrail fields decide set) plus what was billed and what always-on would have cost
/// since `prev.countedUntil`, up to `now`. Pure; see the module documentation for the rules.
pub fn count(prev: &Ledger, input: &LedgerInput<'_>, now: Timestamp) -> Ledger {
    let mut next = prev.clone();
    normalise_months(&mut next.months);
    if let Some(w) = input.wake {
        add_wake(&mut next, w);
    }
    if prev.counted_until.is_some_and(|cu| now < cu) {
        retain_months(&mut next, now);
        return next;
    }
    let started = prev.counted_until;
    let horizon = now.sub(STOPPED_TASK_KEPT);
    let rates = input.rates;
    let service = input.service;
    let described = input.described.unwrap_or(&[]);
    let mut seen: HashSet<&str> = HashSet::new();
    for t in service.tasks.iter().chain(described) {
        if !seen.insert(t.arn.as_str()) {
            continue;
        }
        let Some(from) = billed_from(t) else { continue };
        let stop = t.stopped_at.map(|s| s.max(from));
        let i = match next.tasks.iter().position(|x| x.arn == t.arn) {
            Some(i) if next.tasks[i].stopped => continue,
            Some(i) => i,
            None => {
                if stop.is_some_and(|s| s < horizon) {
                    continue;
                }
                let counted_until = match started {
                    Some(_) => from,
                    // The first count: track running tasks from now; count nothing before.
                    None if stop.is_none() => from.max(now),
                    None => continue,
                };
                next.tasks.push(LedgerTask {
                    arn: t.arn.clone(),
                    billed_from: from,
                    counted_until,
                    stopped: false,
                    public_ip: false,
                });
                next.tasks.len() - 1
            }
        };
        // A stopped task has no network interface left, so no address: once seen with a
        // public address, the task keeps it for the rest of its spans (the minimum included).
        let task = &mut next.tasks[i];
        task.public_ip |= t.public_ip.is_some();
        let per_second = price(rates, t.size.or(service.size).as_ref(), task.public_ip);
        let a = task.counted_until.max(task.billed_from);
        let b = stop.unwrap_or(now);
        task.counted_until = task.counted_until.max(b);
        let billed_from = task.billed_from;
        if let Some(s) = stop {
            task.stopped = true;
            task.counted_until = s.max(billed_from);
        }
        if b > a {
            add_span(&mut next.months, a, b, per_second, Kind::Task);
        }
        if let Some(s) = stop
            && input.minimum
        {
            let billed = s.since(billed_from);
            if billed < MINIMUM_BILLED {
                let short = (MINIMUM_BILLED - billed).as_millis() as f64 / 1000.0;
                add_seconds(month(&mut next.months, s), short, per_second, Kind::Task);
            }
        }
    }
    if input.described.is_some() {
        for task in next.tasks.iter_mut() {
            if task.stopped || seen.contains(task.arn.as_str()) {
                continue;
            }
            warn!(
                task = %task.arn,
                counted_until = %task.counted_until,
                "a task the ledger was counting vanished (neither listed nor known by ARN): \
                 closed at the last second counted; its true stop is unknown"
            );
            task.stopped = true;
            month(&mut next.months, task.counted_until).unaccounted_tasks += 1;
        }
    }
    next.tasks
        .retain(|t| !(t.stopped && t.counted_until < horizon));
    if let Some(from) = started
        && now > from
        && input.always_on_replicas > 0
    {
        let size = service.size.or_else(|| {
            (service.tasks.iter().chain(described))
                .filter(|t| t.size.is_some())
                .max_by_key(|t| t.created_at)
                .and_then(|t| t.size)
        });
        let per_second = price(rates, size.as_ref(), input.always_on_public_ip);
        let replicas = input.always_on_replicas as f64;
        add_span_times(
            &mut next.months,
            from,
            now,
            per_second,
            Kind::AlwaysOn,
            replicas,
        );
    }
    next.counted_until = Some(match started {
        Some(s) => s.max(now),
        None => now,
    });
    retain_months(&mut next, now);
    next
}

/// Whether the ledger `next` (counted from the stored `prev`) is worth a status write on its
/// own: a task was started, stopped or vanished (or a stopped one dropped), a task was first
/// seen with a public address, a wake was
/// counted, the month changed since `prev.countedUntil`, or `prev.countedUntil` is
/// [`FLUSH_INTERVAL`] old. Otherwise the pass leaves the stored status alone (when nothing else
/// in it changed): the next count starts from the stored `countedUntil`, so deferring loses
/// nothing.
pub fn needs_write(prev: &Ledger, next: &Ledger, now: Timestamp) -> bool {
    let Some(cu) = prev.counted_until else {
        return !next.is_empty();
    };
    let tasks = |l: &Ledger| {
        (l.tasks.iter())
            .map(|t| (t.arn.clone(), t.stopped, t.public_ip))
            .collect::<Vec<_>>()
    };
    let events = |l: &Ledger| {
        (l.months.iter())
            .filter(|m| m.wakes > 0 || m.unaccounted_tasks > 0)
            .map(|m| (m.month.clone(), m.wakes, m.unaccounted_tasks))
            .collect::<Vec<_>>()
    };
    tasks(prev) != tasks(next)
        || events(prev) != events(next)
        || month_key(cu) != month_key(now)
        || (now > cu && now.since(cu) >= FLUSH_INTERVAL)
}

/// Whether `next` holds a different billed cost than `prev` (any month's `cost`, what the
/// budget guardrail compares; not `alwaysOnCost`, which grows every pass even while the service
/// sleeps): for a record with `spec.budget` the pass then writes the ledger, so the guardrail
/// ([`crate::model::Record::budget_reached`], which reads the stored ledger) is at most one
/// pass behind instead of up to [`FLUSH_INTERVAL`]. A sleeping budgeted service keeps the
/// hourly flush.
pub fn money_changed(prev: &Ledger, next: &Ledger) -> bool {
    let money = |l: &Ledger| {
        (l.months.iter())
            .filter(|m| m.cost.is_some())
            .map(|m| (m.month.clone(), m.cost))
            .collect::<Vec<_>>()
    };
    money(prev) != money(next)
}

/// Whether a task the ledger counts is being stopped (`desiredStatus` STOPPED, no `stoppedAt`
/// yet): the pass then writes the ledger every pass until the stop is seen, so that a task
/// that vanishes before its stop is seen (a platform that cannot look it up by ARN, or ECS
/// forgetting it) is closed at most one pass short, not up to [`FLUSH_INTERVAL`].
pub fn stop_under_way(ledger: &Ledger, service: &ServiceObservation) -> bool {
    service.tasks.iter().any(|t| {
        t.desired_status == TaskStatus::Stopped
            && t.stopped_at.is_none()
            && (ledger.tasks.iter()).any(|x| x.arn == t.arn && !x.stopped)
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Task,
    AlwaysOn,
}

/// US dollars per second for one task, when both the size and the rates are known.
fn price(rates: Option<&Rates>, size: Option<&TaskSize>, public_ip: bool) -> Option<f64> {
    Some(rates?.per_second(size?, public_ip))
}

fn add_span(months: &mut Vec<LedgerMonth>, a: Timestamp, b: Timestamp, p: Option<f64>, k: Kind) {
    add_span_times(months, a, b, p, k, 1.0);
}

/// Adds `[a, b)` × `times` to the months it spans (split at UTC month starts).
fn add_span_times(
    months: &mut Vec<LedgerMonth>,
    a: Timestamp,
    b: Timestamp,
    per_second: Option<f64>,
    kind: Kind,
    times: f64,
) {
    let mut from = a;
    while from < b {
        let to = next_month_start(from).min(b);
        let seconds = (to.as_millis() - from.as_millis()) as f64 / 1000.0 * times;
        add_seconds(month(months, from), seconds, per_second, kind);
        from = to;
    }
}

fn add_seconds(m: &mut LedgerMonth, seconds: f64, per_second: Option<f64>, kind: Kind) {
    let (secs, money, unpriced) = match kind {
        Kind::Task => (
            &mut m.task_seconds,
            &mut m.cost,
            &mut m.unpriced_task_seconds,
        ),
        Kind::AlwaysOn => (
            &mut m.always_on_seconds,
            &mut m.always_on_cost,
            &mut m.unpriced_always_on_seconds,
        ),
    };
    *secs += seconds;
    match per_second {
        Some(p) => *money = Some(money.unwrap_or(0.0) + p * seconds),
        None => *unpriced += seconds,
    }
}

/// The entry of the month `at` falls in, inserted in order when new.
fn month(months: &mut Vec<LedgerMonth>, at: Timestamp) -> &mut LedgerMonth {
    let key = month_key(at);
    let i = match months.binary_search_by(|m| m.month.as_str().cmp(key.as_str())) {
        Ok(i) => i,
        Err(i) => {
            months.insert(
                i,
                LedgerMonth {
                    month: key,
                    ..LedgerMonth::default()
                },
            );
            i
        }
    };
    &mut months[i]
}

/// Makes a stored (possibly hand-edited) `months` what [`count`] relies on: entries whose
/// `month` is not `YYYY-MM` are dropped with a warning, the rest sorted by month, and
/// duplicates of a month merged into one entry: seconds, money, wakes and counters summed
/// (money known when either entry knows it), wake durations concatenated (the newest
/// [`WAKE_SECONDS_KEPT`] kept), `budgetReachedAt` the earliest.
pub fn normalise_months(months: &mut Vec<LedgerMonth>) {
    months.retain(|m| {
        let ok = valid_month_key(&m.month);
        if !ok {
            warn!(month = %m.month, "the stored ledger has a month that is not YYYY-MM: dropped");
        }
        ok
    });
    months.sort_by(|a, b| a.month.cmp(&b.month));
    let mut merged: Vec<LedgerMonth> = Vec::with_capacity(months.len());
    for m in months.drain(..) {
        match merged.last_mut() {
            Some(last) if last.month == m.month => merge_month(last, m),
            _ => merged.push(m),
        }
    }
    *months = merged;
}

/// Whether `key` is a month as [`month_key`] writes it: `YYYY-MM`, a real month.
fn valid_month_key(key: &str) -> bool {
    key.len() == 7
        && chrono::NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d")
            .is_ok_and(|d| d.format("%Y-%m").to_string() == key)
}

/// Adds the counts of `b` (a duplicate entry of the same month) into `a`.
fn merge_month(a: &mut LedgerMonth, b: LedgerMonth) {
    let sum = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
    };
    a.task_seconds += b.task_seconds;
    a.always_on_seconds += b.always_on_seconds;
    a.cost = sum(a.cost, b.cost);
    a.always_on_cost = sum(a.always_on_cost, b.always_on_cost);
    a.wakes += b.wakes;
    a.wake_seconds.extend(b.wake_seconds);
    let extra = a.wake_seconds.len().saturating_sub(WAKE_SECONDS_KEPT);
    a.wake_seconds.drain(..extra);
    a.forced_over_budget += b.forced_over_budget;
    a.budget_reached_at = match (a.budget_reached_at, b.budget_reached_at) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    a.unaccounted_tasks += b.unaccounted_tasks;
    a.unpriced_task_seconds += b.unpriced_task_seconds;
    a.unpriced_always_on_seconds += b.unpriced_always_on_seconds;
}

fn add_wake(next: &mut Ledger, w: &LastWake) {
    let m = month(&mut next.months, w.ready_at);
    m.wakes += 1;
    m.wake_seconds.push(w.seconds);
    let extra = m.wake_seconds.len().saturating_sub(WAKE_SECONDS_KEPT);
    m.wake_seconds.drain(..extra);
}

/// Drops months before the current one's [`RETENTION_MONTHS`]` − 1` predecessors, and any
/// beyond [`RETENTION_MONTHS`] entries (oldest first).
fn retain_months(next: &mut Ledger, now: Timestamp) {
    next.months.sort_by(|a, b| a.month.cmp(&b.month));
    let d = now.as_datetime();
    let index = d.year() * 12 + d.month0() as i32 - (RETENTION_MONTHS as i32 - 1);
    let oldest = format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    );
    next.months.retain(|m| m.month >= oldest);
    let extra = next.months.len().saturating_sub(RETENTION_MONTHS);
    next.months.drain(..extra);
}

#[cfg(test)]
#[path = "tests_ledger.rs"]
mod tests;
