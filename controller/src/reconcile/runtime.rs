//! The reconcile runtime: the one scheduler of passes (STYLE.md §13, kube-runtime's
//! `applier`). It takes triggers, owns due-times, requeues (each with its reason), the periodic
//! resync and time budgets, and runs [`Reconciler`] passes one at a time. The adapters only
//! wire it:
//!
//! | runner | entry | triggers | resync | budget |
//! |---|---|---|---|---|
//! | reconciler Lambda | [`Runtime::settle`] | one per invocation: schedule, stream, task-event | the EventBridge schedule (1 min) | the invocation's (`SNOOZE_PASS_BUDGET`, capped by the deadline) |
//! | `snoozectl dev` | [`Runtime::run`] | wake, store change (polled), process change | `DevOptions::resync` (10 s) | none |
//! | `snoozectl reconcile --watch` | [`Runtime::run`] | none | `--resync` (60 s) | none |
//!
//! Every pass and every record's `reconcile` span carries the [`Reason`] it ran for
//! (`trigger=schedule|stream|task-event|requeue|resync|wake|manual`).
//!
//! After every pass, the runtime publishes the pass's phase changes as events to its sink
//! ([`Runtime::with_events`], [`super::events`]): the Lambda's EventBridge bus
//! (`SNOOZE_EVENT_BUS`), `snoozectl dev --events-file`. One publish per pass, whatever the
//! runner; a failed publish is logged (and counted in [`SettleReport::error_codes`] by
//! [`Runtime::settle`]) and never stops or fails a pass.
//!
//! # Due-times that outlive a process
//!
//! A requeue held by the runtime lives only as long as the process (a Lambda invocation ends
//! with its budget). What must happen later is therefore derived from the stored record, so that
//! any runner finds it on its next full pass ([`due_at`]):
//!
//! | due-time | derived from |
//! |---|---|
//! | a transitional record (Waking, Sleeping) | `status.phase` (due at once) |
//! | a wake no pass has answered | `desired.wakeRequestedAt` > `status.phaseSince` ([`classify::wake_unanswered`]; due at once) |
//! | going to sleep when idle | `status.sleepsAt` |
//! | the next drift correction | `status.memo.driftCorrectedAt` + the back-off of `driftCorrections` |
//! | a missing service's re-check | `status.memo.missingCheckedAt` + [`classify::MISSING_RECHECK`] |
//!
//! The requeues not derived from a record: the retry after a failed call
//! ([`super::error_policy`](mod@super::error_policy), 30 s), the 1 s look-again after an overlapping write, and the 5 s
//! look-again of a `Failed` record while its tasks still stop. The next full pass covers them.
//! The resolution each runner gives a record-derived due-time: the Lambda's schedule (1 minute;
//! within one invocation its requeues of transitional records are exact); `snoozectl dev`
//! exact for what it changes or is told about (wakes, store changes, process events, its own
//! requeues), else its 10 s resync; `reconcile --watch` exact for its own requeues, but it has no
//! trigger source, so a change made elsewhere (a wake, an edit) waits for its `--resync` (60 s).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::classify;
use super::decide::{Requeue, drift_backoff};
use super::events::{EVENT_NOT_PUBLISHED, Event, EventSink, NoEvents};
use super::pass::{PassReport, Reconciler, Scope, SettleReport, tally};
use crate::model::{Entry, Phase, Record, Timestamp};
use crate::store;

/// Why a pass, or one record in it, ran. Shown as `trigger=<word>` on spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The periodic schedule (the Lambda's EventBridge rule): `schedule`.
    Schedule,
    /// A change of records (DynamoDB stream; the dev stack's polled change token): `stream`.
    Stream,
    /// A task or process changed (EventBridge ECS task state change; a local child process
    /// started or exited): `task-event`.
    TaskEvent,
    /// The record asked to be looked at again ([`Requeue::After`]): `requeue`.
    Requeue,
    /// The runtime's periodic full pass: `resync`.
    Resync,
    /// A wake request (the dev wake endpoint; an unanswered wake found between two requeue
    /// rounds of the Lambda): `wake`.
    Wake,
    /// A direct call (`snoozectl reconcile --once`, tests): `manual`.
    Manual,
}

impl Reason {
    /// The word on spans and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Schedule => "schedule",
            Reason::Stream => "stream",
            Reason::TaskEvent => "task-event",
            Reason::Requeue => "requeue",
            Reason::Resync => "resync",
            Reason::Wake => "wake",
            Reason::Manual => "manual",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reasons of one pass: the pass's own, and per record where it differs (a pass over
/// requeued records and newly found wakes has both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reasons {
    /// Why the pass ran.
    pub pass: Reason,
    /// Records that ran for another reason than [`Reasons::pass`].
    pub records: HashMap<String, Reason>,
}

impl Reasons {
    /// Every record for `reason`.
    pub fn all(reason: Reason) -> Self {
        Self {
            pass: reason,
            records: HashMap::new(),
        }
    }

    /// The reason of record `name`.
    pub fn of(&self, name: &str) -> Reason {
        self.records.get(name).copied().unwrap_or(self.pass)
    }
}

/// What makes [`Runtime::run`] run a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A pass over every record (e.g. a store change seen by polling, a process change).
    All(Reason),
    /// A pass over these records (e.g. a wake).
    Records(Vec<String>, Reason),
}

/// How [`Runtime::run`] schedules passes. [`RuntimeOptions::default`]: resync every 60 s,
/// requeues honoured as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// A full pass this often (the first at once). Default 60 s; at least [`MIN_RESYNC`].
    pub resync: Duration,
    /// What a resync covers. Default [`Scope::All`] (`reconcile --watch NAME...`: the names).
    pub resync_scope: Scope,
    /// Honour requeues ([`Requeue::After`]); off, only triggers and resyncs run passes (the
    /// schedule-only design, for comparison in the dev benchmark). Default true.
    pub requeues: bool,
    /// Shortest requeue. Default 0 (`reconcile --watch`: 1 s).
    pub min_requeue: Duration,
    /// Longest wait before a transitional record (Waking, Sleeping) is looked at again,
    /// whatever its requeue says. Default none (`snoozectl dev`: 1 s; local observation is
    /// cheap).
    pub transition_poll: Option<Duration>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(60),
            resync_scope: Scope::All,
            requeues: true,
            min_requeue: Duration::ZERO,
            transition_poll: None,
        }
    }
}

/// One pass as [`Runtime::run`] starts it, for its [`Hooks`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassInfo {
    /// The records it covers.
    pub scope: Scope,
    /// Why it runs (per record where they differ).
    pub reasons: Reasons,
    /// True for a resync (over [`RuntimeOptions::resync_scope`]) or a trigger over every
    /// record; when such a pass reads its records, every due-time is taken again from its
    /// report.
    pub full: bool,
}

/// What a runner does around passes (printing lines, seeding a simulation, stopping
/// unclaimed processes). Every method has a do-nothing default.
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Before a pass.
    async fn before_pass(&self, _pass: &PassInfo) {}
    /// After a pass, with its report.
    async fn after_pass(&self, _pass: &PassInfo, _report: &PassReport) {}
}

/// [`Hooks`] that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// Runs passes of one [`Reconciler`]: bounded ([`Runtime::settle`]) or until stopped
/// ([`Runtime::run`]).
#[derive(Clone)]
pub struct Runtime {
    reconciler: Reconciler,
    options: RuntimeOptions,
    events: Arc<dyn EventSink>,
}

impl Runtime {
    /// A runtime with [`RuntimeOptions::default`].
    pub fn new(reconciler: Reconciler) -> Self {
        Self::with_options(reconciler, RuntimeOptions::default())
    }

    /// A runtime with `options`.
    pub fn with_options(reconciler: Reconciler, options: RuntimeOptions) -> Self {
        Self {
            reconciler,
            options,
            events: Arc::new(NoEvents),
        }
    }

    /// The same runtime publishing the events of every pass to `sink`
    /// ([`super::events`]; default [`NoEvents`]).
    pub fn with_events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// Publishes the events of `report` (its published phase changes, [`Event::of_pass`]) to
    /// the sink, once for the whole pass. Never fails: returns one [`EVENT_NOT_PUBLISHED`]
    /// code per event the sink could not deliver (its reasons are in the log).
    pub async fn publish_events(&self, report: &PassReport) -> Vec<String> {
        let events = Event::of_pass(report);
        if events.is_empty() {
            return Vec::new();
        }
        let d = self.events.publish(&events).await;
        if d.failed > 0 {
            warn!(
                events = events.len(),
                failed = d.failed,
                calls = d.calls,
                "some events were not published"
            );
        } else if d.sent > 0 {
            info!(events = d.sent, calls = d.calls, "events published");
        }
        vec![EVENT_NOT_PUBLISHED.to_string(); d.failed]
    }

    /// The reconciler it runs.
    pub fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// Runs passes until no record is transitional (Waking, Sleeping) or `budget` (of the
    /// reconciler's clock) would be exceeded by the next requeue: the Lambda's invocation. The
    /// first pass covers `scope` for `reason`; later ones (reason `requeue`) the records that
    /// asked to be requeued, plus (reason `wake`) every record whose wake request no pass has
    /// answered yet ([`classify::wake_unanswered`], found by reading the table page by page, at
    /// most every [`LANDED_WAKES_EVERY`], and only while this process's last full pass read at
    /// most [`LANDED_WAKES_MAX_RECORDS`] records). So while one invocation lingers over a waking
    /// service, a wake of another service that lands meanwhile is acted on within 15 s instead
    /// of after this invocation ends; in a larger table it waits for its own stream record
    /// (after this invocation, within the budget). A record whose latest pass here failed is not picked up that way: it
    /// keeps the retry interval its failure asked for rather than failing every round.
    pub async fn settle(&self, scope: Scope, reason: Reason, budget: Duration) -> SettleReport {
        let clock = &self.reconciler.clock;
        let deadline = clock.now().add(budget);
        let mut passes = Vec::new();
        let mut pass_reasons = Vec::new();
        let mut error_codes = BTreeMap::new();
        let mut failing: HashSet<String> = HashSet::new();
        let mut last_scan: Option<Timestamp> = None;
        let mut scope = scope;
        let mut reasons = Reasons::all(reason);
        loop {
            let (report, codes) = self.reconciler.reconcile_for(scope, &reasons).await;
            pass_reasons.push(reasons.clone());
            tally(&mut error_codes, codes);
            tally(&mut error_codes, self.publish_events(&report).await);
            for r in &report.records {
                if r.error.is_some() {
                    failing.insert(r.name.clone());
                } else {
                    failing.remove(&r.name);
                }
            }
            let pending: Vec<(String, Duration)> = report
                .records
                .iter()
                .filter(|r| r.transitional)
                .filter_map(|r| match r.requeue {
                    Requeue::After(d) => Some((r.name.clone(), d)),
                    Requeue::AwaitChange => None,
                })
                .collect();
            passes.push(report);
            let Some(wait) = pending.iter().map(|(_, d)| *d).min() else {
                return SettleReport {
                    passes,
                    reasons: pass_reasons,
                    settled: true,
                    pending: Vec::new(),
                    error_codes,
                };
            };
            let mut names: Vec<String> = pending.into_iter().map(|(n, _)| n).collect();
            if clock.now().add(wait) > deadline {
                return SettleReport {
                    passes,
                    reasons: pass_reasons,
                    settled: false,
                    pending: names,
                    error_codes,
                };
            }
            clock.sleep(wait).await;
            reasons = Reasons::all(Reason::Requeue);
            let records = self
                .reconciler
                .tier
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_records;
            let scan = records.is_none_or(|n| n <= LANDED_WAKES_MAX_RECORDS)
                && last_scan.is_none_or(|t: Timestamp| clock.now() >= t.add(LANDED_WAKES_EVERY));
            if scan {
                last_scan = Some(clock.now());
            }
            // Page by page, keeping only the names: the table is not held whole.
            let mut pages = std::pin::pin!(store::pages(self.reconciler.store.as_ref(), "list"));
            while scan && let Some(page) = pages.next().await {
                match page {
                    Ok(entries) => {
                        for e in entries {
                            if let Entry::Record(r) = e
                                && classify::wake_unanswered(&r)
                                && !names.contains(&r.metadata.name)
                                && !failing.contains(&r.metadata.name)
                            {
                                info!(service = %r.metadata.name, "wake request landed during the invocation; reconciling it now");
                                reasons
                                    .records
                                    .insert(r.metadata.name.clone(), Reason::Wake);
                                names.push(r.metadata.name);
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "looking for new wake requests failed; requeued records only");
                        tally(&mut error_codes, vec![e.code().to_string()]);
                        break;
                    }
                }
            }
            scope = Scope::Names(names);
        }
    }

    /// Runs passes until `stop` completes: at once and every [`RuntimeOptions::resync`] over
    /// [`RuntimeOptions::resync_scope`] (reason `resync`), on every [`Trigger`] received
    /// (triggers queued meanwhile are merged into one pass; any [`Trigger::All`] makes it a
    /// full pass), and for each record when its requeue is due (reason `requeue`). Passes run
    /// one at a time; `hooks` are called around each. Timers are tokio's (so tests can pause
    /// time).
    pub async fn run(
        &self,
        mut triggers: mpsc::UnboundedReceiver<Trigger>,
        hooks: &dyn Hooks,
        stop: impl Future<Output = ()>,
    ) {
        let opts = &self.options;
        let resync = opts.resync.max(MIN_RESYNC);
        let mut due: HashMap<String, Instant> = HashMap::new();
        let mut next_resync = Instant::now();
        let mut triggers_open = true;
        tokio::pin!(stop);
        loop {
            let timer = due
                .values()
                .copied()
                .chain([next_resync])
                .min()
                .unwrap_or(next_resync);
            let pass = tokio::select! {
                _ = &mut stop => break,
                t = triggers.recv(), if triggers_open => {
                    let Some(first) = t else {
                        triggers_open = false;
                        continue;
                    };
                    let mut all = vec![first];
                    while let Ok(t) = triggers.try_recv() {
                        all.push(t);
                    }
                    let (scope, reasons) = merge(all);
                    PassInfo { full: scope == Scope::All, scope, reasons }
                }
                _ = tokio::time::sleep_until(timer) => {
                    let now = Instant::now();
                    if now >= next_resync {
                        next_resync = now + resync;
                        PassInfo {
                            scope: opts.resync_scope.clone(),
                            reasons: Reasons::all(Reason::Resync),
                            full: true,
                        }
                    } else {
                        let mut names: Vec<String> = due
                            .iter()
                            .filter(|(_, at)| **at <= now)
                            .map(|(n, _)| n.clone())
                            .collect();
                        if names.is_empty() {
                            continue;
                        }
                        names.sort();
                        for n in &names {
                            due.remove(n);
                        }
                        PassInfo {
                            scope: Scope::Names(names),
                            reasons: Reasons::all(Reason::Requeue),
                            full: false,
                        }
                    }
                }
            };
            hooks.before_pass(&pass).await;
            let (report, _) = self
                .reconciler
                .reconcile_for(pass.scope.clone(), &pass.reasons)
                .await;
            // A full pass that read every record of its scope replaces every due-time; one
            // that could not read keeps them.
            if pass.full && report.error.is_none() {
                due.clear();
            }
            if opts.requeues {
                let now = Instant::now();
                for r in &report.records {
                    match r.requeue {
                        Requeue::After(d) => {
                            let d = match opts.transition_poll {
                                Some(cap) if r.transitional => d.min(cap),
                                _ => d,
                            };
                            due.insert(r.name.clone(), now + d.max(opts.min_requeue));
                        }
                        Requeue::AwaitChange => {
                            due.remove(&r.name);
                        }
                    }
                }
            }
            // Counted in the log only: `run` keeps no error counts.
            self.publish_events(&report).await;
            hooks.after_pass(&pass, &report).await;
        }
    }
}

/// The shortest resync [`Runtime::run`] honours ([`RuntimeOptions::resync`] below it is
/// raised to it), so a zero period cannot spin.
pub const MIN_RESYNC: Duration = Duration::from_secs(1);

/// [`Runtime::settle`] looks for wake requests that landed during the invocation at most this
/// often (each look reads the whole table).
pub const LANDED_WAKES_EVERY: Duration = Duration::from_secs(15);

/// [`Runtime::settle`] does not look for wake requests that landed during the invocation when
/// this process's last full pass read more records than this: each look reads the whole table
/// (at 10,000 records of 2 KB, 5,000 read units), and such a wake is reconciled by its own
/// stream record once the invocation ends (within `SNOOZE_PASS_BUDGET`).
pub const LANDED_WAKES_MAX_RECORDS: usize = 2_000;

/// One pass for several queued triggers: every record if any trigger asks for all (with the
/// first such trigger's reason), else the union of the named records; each named record keeps
/// the reason it was first named for (a wake merged into a full pass is still `wake` on its
/// span).
fn merge(triggers: Vec<Trigger>) -> (Scope, Reasons) {
    let full = triggers.iter().find_map(|t| match t {
        Trigger::All(r) => Some(*r),
        Trigger::Records(..) => None,
    });
    let mut names: Vec<String> = Vec::new();
    let mut reasons: Option<Reasons> = full.map(Reasons::all);
    for t in triggers {
        let Trigger::Records(list, reason) = t else {
            continue;
        };
        let reasons = reasons.get_or_insert_with(|| Reasons::all(reason));
        for n in list {
            if !names.contains(&n) {
                if reason != reasons.pass {
                    reasons.records.insert(n.clone(), reason);
                }
                names.push(n);
            }
        }
    }
    let reasons = reasons.unwrap_or_else(|| Reasons::all(Reason::Manual));
    match full {
        Some(_) => (Scope::All, reasons),
        None => (Scope::Names(names), reasons),
    }
}

/// When a record is next due for a pass, derived from the stored record alone (see the module
/// docs): `Some(t)` with `t <= now` when it is due at once (transitional phase, unanswered
/// wake), a later time for `sleepsAt`, a drift back-off or a missing service's re-check;
/// `None` when nothing time-based is pending (asleep, invalid, a Failed latch: the look-again
/// of a Failed record while its tasks stop is left to the next full pass).
pub fn due_at(record: &Record, now: Timestamp) -> Option<Timestamp> {
    if classify::wake_unanswered(record) {
        return Some(now);
    }
    let s = record.status.as_ref()?;
    if matches!(s.phase, Phase::Waking | Phase::Sleeping) {
        return Some(now);
    }
    let mut due: Vec<Timestamp> = Vec::new();
    if s.phase == Phase::Ready
        && let Some(at) = s.sleeps_at
    {
        due.push(at);
    }
    if let (Some(at), Some(n)) = (s.memo.drift_corrected_at, s.memo.drift_corrections)
        && s.conditions
            .iter()
            .any(|c| c.type_ == super::decide::DRIFT && c.reason == super::decide::DRIFT_BACK_OFF)
    {
        due.push(at.add(drift_backoff(n)));
    }
    if let Some(at) = s.memo.missing_checked_at {
        due.push(at.add(classify::MISSING_RECHECK));
    }
    due.into_iter().min()
}

#[cfg(test)]
mod tests;
