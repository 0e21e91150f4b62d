//! The reconcile pass: read, validate, observe (one batched call), probe, decide, act, publish.
//!
//! ```text
//! Reconciler::reconcile(Scope) ─▶ store.list / store.get ─▶ validate
//!                                 ─▶ platform.observe(all targets)      (one call)
//!                                 ─▶ prober.probe(running, healthy tasks with an address)
//!                                 ─▶ per record, concurrently, in span "reconcile{service}":
//!                                      decide ─▶ scale (only when the count differs)
//!                                             ─▶ publish status (only when it changed)
//! ```
//!
//! Before a scale-*down* the status is published with [`StatusGuard::FactsUnchanged`] (the
//! `desired` facts as read): if a wake or activity landed in between, the write fails with
//! `FactsChanged` and the scale-down is skipped. Every other publish uses
//! [`StatusGuard::Exists`], so a record deleted during the pass is never resurrected.
//! One failing record never stops the pass: its error is in its [`RecordReport`].
//!
//! A status is written only when it differs from the stored one. No field is treated as
//! volatile: `decide` is a fixed point once nothing changes (`phaseSince` and a condition's
//! `lastTransitionTime` move only when the phase or the condition's status does), so a steady
//! record costs no write. Before writing or scaling, the record is read again; if another
//! (overlapping) pass published a newer status meanwhile, this pass leaves the record alone
//! and asks to look again in a second. A failed observation publishes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::{Instrument, debug, info, info_span, warn};

use super::decide::{self, Decision, Requeue, decide, decide_invalid};
use super::{Clock, Prober};
use crate::model::{Entry, Mode, Phase, Record, Status, Timestamp, validate};
use crate::platform::{Health, Observed, Platform, TaskStatus};
use crate::store::{self, StatusGuard, Store};

/// How often one record is read and decided again within a pass when a wake or activity lands
/// between its read and its scale-down commit (then it is requeued after 1 s).
const FACTS_CHANGED_REDECIDES: u8 = 2;

/// Which records a pass looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every record (paginated list): the periodic resync.
    All,
    /// Only these records (consistent gets), e.g. from a stream record, an ECS task event or a
    /// requeue. Unknown names are reported and skipped.
    Names(Vec<String>),
}

/// Tuning of a pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassOptions {
    /// Records acted on and published at once. Default 32.
    pub concurrency: usize,
    /// Readiness probes at once. Default 32.
    pub probe_concurrency: usize,
    /// Consistent gets at once for [`Scope::Names`]. Default 16.
    pub read_concurrency: usize,
}

impl Default for PassOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            probe_concurrency: 32,
            read_concurrency: 16,
        }
    }
}

/// Runs reconcile passes. Build one per process from configuration and share it.
#[derive(Clone)]
pub struct Reconciler {
    /// Where records live.
    pub store: Arc<dyn Store>,
    /// What runs the services.
    pub platform: Arc<dyn Platform>,
    /// The HTTP readiness probe (for records with `spec.readiness.httpGet`).
    pub prober: Arc<dyn Prober>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Concurrency limits.
    pub options: PassOptions,
}

/// What a pass did for one record.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordReport {
    /// The record's name.
    pub name: String,
    /// Phase before the pass (`None`: no status yet, or the record was not found).
    pub before: Option<Phase>,
    /// Phase after the pass (`None` when the record was not found).
    pub after: Option<Phase>,
    /// A few words on why, e.g. `wake requested`, `idle for 15m`.
    pub reason: String,
    /// When to look again.
    pub requeue: Requeue,
    /// True when the record is in a phase that changes by itself soon (Waking, Sleeping) or the
    /// pass was interrupted by a landing wake; [`Reconciler::run_until_settled`] re-runs those.
    pub transitional: bool,
    /// `(from, to)` desiredCount when the pass scaled the service.
    pub scaled: Option<(u32, u32)>,
    /// Whether a status was written.
    pub published: bool,
    /// What failed for this record (store, platform or observation), if anything.
    pub error: Option<String>,
    /// True when a wake or activity landed between the record's read and its scale-down commit
    /// and the pass read and decided it again (no scale-down; the new decision was acted on).
    pub redecided: bool,
    /// Since when the record is in phase `after` (`status.phaseSince` as the pass decided it,
    /// or as read when the pass left the status alone); `None` when not known.
    pub phase_since: Option<Timestamp>,
}

impl RecordReport {
    fn new(name: &str, before: Option<Phase>) -> Self {
        Self {
            name: name.to_string(),
            before,
            after: before,
            reason: String::new(),
            requeue: Requeue::AwaitChange,
            transitional: false,
            scaled: None,
            published: false,
            error: None,
            redecided: false,
            phase_since: None,
        }
    }

    /// True when the phase changed.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

impl fmt::Display for RecordReport {
    /// `demo  Asleep → Waking (wake requested)`, `demo  Ready (awake: activity)`, plus
    /// `; error: ...` when something failed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |p: Option<Phase>| p.map_or("-".to_string(), |p| p.to_string());
        if self.changed() {
            write!(
                f,
                "{}  {} → {}",
                self.name,
                show(self.before),
                show(self.after)
            )?;
        } else {
            write!(f, "{}  {}", self.name, show(self.after))?;
        }
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        if let Some(e) = &self.error {
            write!(f, "; error: {e}")?;
        }
        Ok(())
    }
}

/// What one pass did.
#[derive(Clone, Debug, PartialEq)]
pub struct PassReport {
    /// When the pass started (the reconciler's clock).
    pub started_at: Timestamp,
    /// Wall time the pass took.
    pub duration: Duration,
    /// One entry per record looked at, sorted by name.
    pub records: Vec<RecordReport>,
    /// A failure of the whole pass (records could not be read), if any.
    pub error: Option<String>,
}

impl PassReport {
    /// Records whose phase changed.
    pub fn changed(&self) -> impl Iterator<Item = &RecordReport> {
        self.records.iter().filter(|r| r.changed())
    }
    /// Records with an error.
    pub fn errors(&self) -> impl Iterator<Item = &RecordReport> {
        self.records.iter().filter(|r| r.error.is_some())
    }
    /// The report of one record.
    pub fn record(&self, name: &str) -> Option<&RecordReport> {
        self.records.iter().find(|r| r.name == name)
    }
    /// The soonest requeue among all records (`None` when every record awaits a change).
    pub fn next_requeue(&self) -> Option<Duration> {
        self.records
            .iter()
            .filter_map(|r| match r.requeue {
                Requeue::After(d) => Some(d),
                Requeue::AwaitChange => None,
            })
            .min()
    }
}

/// What [`Reconciler::run_until_settled`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct SettleReport {
    /// Every pass, in order (the first over the given scope, then over requeued records).
    pub passes: Vec<PassReport>,
    /// True when no record was left in a transitional phase.
    pub settled: bool,
    /// Records still transitional when the budget ran out.
    pub pending: Vec<String>,
    /// Failures across all `passes` by code ([`crate::platform::Error::code`],
    /// [`crate::store::Error::code`], e.g. `ThrottlingException`, `AccessDeniedException`):
    /// one count per failed call behind a record's `error` (a failed scale-up whose status write
    /// also failed counts twice) and one per whole-pass failure. Empty when nothing failed.
    pub error_codes: BTreeMap<String, u64>,
}

/// One record's way through the pass.
enum Work {
    /// Not found in the store (deleted); reported, nothing done.
    Gone(String),
    /// Could not be read.
    ReadFailed(String, store::Error),
    /// Invalid or malformed: publish phase Invalid, nothing observed.
    Invalid {
        name: String,
        prev: Option<Box<Status>>,
        generation: u64,
        /// `Valid=False` reason: [`decide::VALIDATION_FAILED`] or [`decide::TARGET_CONFLICT`].
        reason: &'static str,
        message: String,
    },
    /// The service was MISSING recently: not observed again until the re-check time.
    Deferred(Box<Record>, Duration),
    /// Observe, decide, act.
    Observe(Box<Record>),
}

impl Reconciler {
    /// A reconciler with default [`PassOptions`].
    pub fn new(
        store: Arc<dyn Store>,
        platform: Arc<dyn Platform>,
        prober: Arc<dyn Prober>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            platform,
            prober,
            clock,
            options: PassOptions::default(),
        }
    }

    /// One pass over `scope`. Never fails as a whole except when records cannot be read
    /// (then [`PassReport::error`] says why and `records` is empty).
    pub async fn reconcile(&self, scope: Scope) -> PassReport {
        self.reconcile_coded(scope).await.0
    }

    /// [`Reconciler::reconcile`], plus the code of every failure in the report (see
    /// [`SettleReport::error_codes`]).
    async fn reconcile_coded(&self, scope: Scope) -> (PassReport, Vec<String>) {
        let started = Instant::now();
        let now = self.clock.now();
        let span = info_span!("reconcile_pass", scope = scope_label(&scope));
        async move {
            let work = match self.read(scope).await {
                Ok(w) => w,
                Err(e) => {
                    warn!(error = %e, "reading records failed; pass skipped");
                    let report = PassReport {
                        started_at: now,
                        duration: started.elapsed(),
                        records: Vec::new(),
                        error: Some(e.to_string()),
                    };
                    return (report, vec![e.code().to_string()]);
                }
            };

            // Observe every target in one batched call.
            let to_observe: Vec<&Record> = work
                .iter()
                .filter_map(|w| match w {
                    Work::Observe(r) => Some(r.as_ref()),
                    _ => None,
                })
                .collect();
            let targets: Vec<_> = to_observe.iter().map(|r| r.spec.target.clone()).collect();
            let mut observed: Vec<Observed> = if targets.is_empty() {
                Vec::new()
            } else {
                match self.platform.observe(&targets).await {
                    Ok(o) if o.len() == targets.len() => o,
                    Ok(o) => {
                        let e = crate::platform::Error::Call {
                            operation: "observe",
                            code: "InternalError".into(),
                            message: format!(
                                "platform returned {} observations for {} targets",
                                o.len(),
                                targets.len()
                            ),
                            retryable: true,
                        };
                        vec![Observed::Error(e); targets.len()]
                    }
                    Err(e) => {
                        warn!(error = %e, "observation failed for the whole pass");
                        vec![Observed::Error(e); targets.len()]
                    }
                }
            };
            self.probe(&to_observe, &mut observed).await;

            let mut observed = observed.into_iter();
            let jobs: Vec<_> = work
                .into_iter()
                .map(|w| {
                    let obs = match &w {
                        Work::Observe(_) => observed.next(),
                        _ => None,
                    };
                    (w, obs)
                })
                .collect();
            let outcomes: Vec<(RecordReport, Vec<String>)> = futures::stream::iter(jobs)
                .map(|(w, obs)| async move {
                    let mut codes = Vec::new();
                    let report = self.one(w, obs, now, &mut codes).await;
                    (report, codes)
                })
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            let (mut records, codes): (Vec<RecordReport>, Vec<Vec<String>>) =
                outcomes.into_iter().unzip();
            records.sort_by(|a, b| a.name.cmp(&b.name));
            let report = PassReport {
                started_at: now,
                duration: started.elapsed(),
                records,
                error: None,
            };
            info!(
                records = report.records.len(),
                changed = report.changed().count(),
                errors = report.errors().count(),
                ms = report.duration.as_millis() as u64,
                "pass done"
            );
            (report, codes.concat())
        }
        .instrument(span)
        .await
    }

    /// Runs passes until no record is transitional (Waking, Sleeping) or `budget` (of the
    /// reconciler's clock) would be exceeded by the next requeue. The first pass covers
    /// `scope`; later ones the records that asked to be requeued plus every record whose wake
    /// request no pass has answered yet ([`wake_unanswered`], found with one
    /// [`Store::list`] per requeue round). So while one invocation lingers over a waking
    /// service, a wake of another service that lands meanwhile is acted on at the next round
    /// (within [`decide::TRANSITION_REQUEUE`], 5 s) instead of after this invocation ends.
    /// A record whose latest pass here failed is not picked up that way: it keeps the retry
    /// interval its failure asked for ([`decide::OBSERVE_RETRY`]) rather than failing every round.
    pub async fn run_until_settled(&self, scope: Scope, budget: Duration) -> SettleReport {
        let deadline = self.clock.now().add(budget);
        let mut passes = Vec::new();
        let mut error_codes = BTreeMap::new();
        let mut failing: HashSet<String> = HashSet::new();
        let mut scope = scope;
        loop {
            let (report, codes) = self.reconcile_coded(scope).await;
            tally(&mut error_codes, codes);
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
                    settled: true,
                    pending: Vec::new(),
                    error_codes,
                };
            };
            let mut names: Vec<String> = pending.into_iter().map(|(n, _)| n).collect();
            if self.clock.now().add(wait) > deadline {
                return SettleReport {
                    passes,
                    settled: false,
                    pending: names,
                    error_codes,
                };
            }
            self.clock.sleep(wait).await;
            match self.store.list().await {
                Ok(entries) => {
                    for e in entries {
                        if let Entry::Record(r) = e
                            && wake_unanswered(&r)
                            && !names.contains(&r.metadata.name)
                            && !failing.contains(&r.metadata.name)
                        {
                            info!(service = %r.metadata.name, "wake request landed during the invocation; reconciling it now");
                            names.push(r.metadata.name);
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "looking for new wake requests failed; requeued records only");
                    tally(&mut error_codes, vec![e.code().to_string()]);
                }
            }
            scope = Scope::Names(names);
        }
    }

    async fn read(&self, scope: Scope) -> Result<Vec<Work>, store::Error> {
        let now = self.clock.now();
        let full = scope == Scope::All;
        let entries: Vec<(String, Result<Option<Entry>, store::Error>)> = match scope {
            Scope::All => self
                .store
                .list()
                .await?
                .into_iter()
                .map(|e| (e.name().to_string(), Ok(Some(e))))
                .collect(),
            Scope::Names(names) => {
                let mut seen = HashSet::new();
                let names: Vec<String> = names
                    .into_iter()
                    .filter(|n| seen.insert(n.clone()))
                    .collect();
                futures::stream::iter(names)
                    .map(|n| async move {
                        let r = self.store.get(&n).await;
                        (n, r)
                    })
                    .buffered(self.options.read_concurrency.max(1))
                    .collect()
                    .await
            }
        };
        Ok(entries
            .into_iter()
            .map(|(name, r)| match r {
                Err(e) => Work::ReadFailed(name, e),
                Ok(None) => Work::Gone(name),
                Ok(Some(Entry::Malformed(m))) => Work::Invalid {
                    message: format!("the stored item does not parse: {}", m.error),
                    name: m.name,
                    prev: m.status.map(Box::new),
                    generation: 0,
                    reason: decide::VALIDATION_FAILED,
                },
                Ok(Some(Entry::Record(r))) => {
                    let errors = validate(&r);
                    if !errors.is_empty() {
                        Work::Invalid {
                            name: r.metadata.name.clone(),
                            prev: r.status.clone().map(Box::new),
                            generation: r.metadata.generation,
                            reason: decide::VALIDATION_FAILED,
                            message: errors
                                .iter()
                                .map(|e| e.to_string())
                                .collect::<Vec<_>>()
                                .join("; "),
                        }
                    } else if let Some(wait) = missing_recheck(&r, now) {
                        Work::Deferred(r, wait)
                    } else if let Some(message) = latched_conflict(&r).filter(|_| !full) {
                        conflict(&r, message)
                    } else {
                        Work::Observe(r)
                    }
                }
            })
            .collect::<Vec<_>>())
        .map(|work| if full { mark_conflicts(work) } else { work })
    }

    /// Runs the HTTP readiness probe for tasks that are RUNNING with desiredStatus RUNNING,
    /// healthy (or without a health check) and have an address, on records that define
    /// `spec.readiness.httpGet`.
    async fn probe(&self, records: &[&Record], observed: &mut [Observed]) {
        let mut jobs = Vec::new();
        for (i, (r, o)) in records.iter().zip(observed.iter()).enumerate() {
            let Some(get) = r.spec.readiness.as_ref().and_then(|x| x.http_get.as_ref()) else {
                continue;
            };
            let Observed::Found(s) = o else { continue };
            for (j, t) in s.tasks.iter().enumerate() {
                let ok = t.last_status == TaskStatus::Running
                    && t.desired_status == TaskStatus::Running
                    && matches!(t.health, None | Some(Health::Healthy));
                let ip = match r.spec.endpoint.address {
                    crate::model::AddressKind::Public => t.public_ip.as_ref(),
                    crate::model::AddressKind::Private => t.private_ip.as_ref(),
                };
                if let (true, Some(ip)) = (ok, ip) {
                    let port = get.port.unwrap_or(r.spec.endpoint_port());
                    let url = format!(
                        "{}://{ip}:{port}{}",
                        r.spec.endpoint.scheme.as_str(),
                        get.path
                    );
                    jobs.push((i, j, url, get.timeout.get(), r.metadata.name.clone()));
                }
            }
        }
        if jobs.is_empty() {
            return;
        }
        let results: Vec<_> = futures::stream::iter(jobs)
            .map(|(i, j, url, timeout, name)| async move {
                let r = self.prober.probe(&url, timeout).await;
                debug!(service = %name, %url, passed = r.passed, detail = %r.detail, "readiness probe");
                (i, j, r)
            })
            .buffer_unordered(self.options.probe_concurrency.max(1))
            .collect()
            .await;
        for (i, j, r) in results {
            if let Observed::Found(s) = &mut observed[i] {
                s.tasks[j].probe = Some(r);
            }
        }
    }

    async fn one(
        &self,
        work: Work,
        observed: Option<Observed>,
        now: Timestamp,
        codes: &mut Vec<String>,
    ) -> RecordReport {
        match work {
            Work::Gone(name) => {
                let _span = record_span(&name).entered();
                let mut r = RecordReport::new(&name, None);
                r.reason = "record not found (deleted?)".into();
                debug!("record not found; nothing to do");
                r
            }
            Work::ReadFailed(name, e) => {
                let _span = record_span(&name).entered();
                warn!(error = %e, "reading the record failed");
                let mut r = RecordReport::new(&name, None);
                r.reason = "read failed".into();
                fail(&mut r, codes, &e.to_string(), e.code());
                r.requeue = Requeue::After(decide::OBSERVE_RETRY);
                r
            }
            Work::Invalid {
                name,
                prev,
                generation,
                reason,
                message,
            } => {
                let span = record_span(&name);
                async {
                    let prev = prev.as_deref();
                    let d = decide_invalid(prev, generation, reason, &message, now);
                    let mut report = RecordReport::new(&name, prev.map(|s| s.phase));
                    self.finish(&name, prev, &d, &mut report, codes).await;
                    report
                }
                .instrument(span)
                .await
            }
            Work::Deferred(record, wait) => {
                let name = record.metadata.name.clone();
                let _span = record_span(&name).entered();
                let phase = record.status.as_ref().map(|s| s.phase);
                let mut r = RecordReport::new(&name, phase);
                r.reason = format!(
                    "service not found; next check in {}",
                    humantime::format_duration(Duration::from_secs(wait.as_secs()))
                );
                r.requeue = Requeue::After(wait);
                r
            }
            Work::Observe(record) => {
                let name = record.metadata.name.clone();
                let observed = observed.expect("one observation per observed record");
                let span = record_span(&name);
                self.act(&record, &observed, now, codes, FACTS_CHANGED_REDECIDES)
                    .instrument(span)
                    .await
            }
        }
    }

    /// Decide, scale, publish for one observed record. When a scale-down's commit finds that
    /// a wake or activity landed since the read, the record is read again and, if the new
    /// facts no longer want the scale-down, acted on at once against the same observation (up
    /// to `redecides` times), so e.g. an endpoint whose task stopped is withdrawn in this pass;
    /// otherwise nothing is scaled and the record is requeued after 1 s.
    async fn act(
        &self,
        record: &Record,
        observed: &Observed,
        now: Timestamp,
        codes: &mut Vec<String>,
        redecides: u8,
    ) -> RecordReport {
        let name = record.metadata.name.as_str();
        let prev = record.status.as_ref();
        let mut report = RecordReport::new(name, prev.map(|s| s.phase));
        report.phase_since = prev.and_then(|s| s.phase_since);
        let mut d = decide(record, observed, now);
        let mut deleted = false;
        if let Observed::Error(e) = observed {
            warn!(error = %e, "observation failed");
            fail(&mut report, codes, &e.to_string(), e.code());
        }
        let current = match observed {
            Observed::Found(s) => Some(s.desired_count),
            _ => None,
        };
        // About to scale or publish: make sure no overlapping pass published a newer status
        // since this one read the record (acting on a stale status could undo its decision,
        // e.g. lose a Failed latch and scale up again). The window left is between this read
        // and the write.
        let will_scale = matches!((d.replicas, current), (Some(to), Some(from)) if to != from);
        let will_publish = prev != Some(&d.status) && !matches!(observed, Observed::Error(_));
        if will_scale || will_publish {
            match self.store.get(name).await {
                Ok(Some(Entry::Record(fresh))) if fresh.status.as_ref() == prev => {}
                Ok(Some(_)) => {
                    info!("status changed since it was read (an overlapping pass?); looking again");
                    report.reason = "status changed since read; requeued".into();
                    report.requeue = Requeue::After(Duration::from_secs(1));
                    report.transitional = true;
                    return report;
                }
                Ok(None) => {
                    info!("record deleted during the pass; nothing done");
                    report.after = None;
                    report.reason = "record deleted".into();
                    return report;
                }
                Err(e) => {
                    warn!(error = %e, "re-reading the record failed; nothing done");
                    fail(&mut report, codes, &e.to_string(), e.code());
                    report.reason = d.reason;
                    report.requeue = Requeue::After(decide::OBSERVE_RETRY);
                    return report;
                }
            }
        }
        match (d.replicas, current) {
            (Some(to), Some(from)) if to < from => {
                // Commit the decision first: a wake landing in between wins.
                let guard = StatusGuard::FactsUnchanged(record.desired.clone());
                match self.store.publish_status(name, &d.status, guard).await {
                    Ok(()) => {
                        report.published = true;
                        match self.platform.scale(&record.spec.target, to).await {
                            Ok(()) => {
                                info!(from, to, reason = %d.reason, "scaled down");
                                report.scaled = Some((from, to));
                            }
                            Err(e) => {
                                warn!(from, to, error = %e, "scale-down failed");
                                fail(&mut report, codes, &e.to_string(), e.code());
                                decide::note_scale_failed(&mut d.status, from, &e.to_string());
                                report.published = false;
                                deleted = self.publish(name, &d.status, &mut report, codes).await;
                            }
                        }
                    }
                    Err(store::Error::FactsChanged(_)) => {
                        info!("a wake or activity landed since the read; scale-down skipped");
                        // Act on the new facts now when they no longer want the scale-down
                        // (e.g. withdraw the endpoint of a task that stopped); a landed input
                        // never leads to a scale-down in this pass.
                        if redecides > 0
                            && let Ok(Some(Entry::Record(fresh))) = self.store.get(name).await
                            && decide(&fresh, observed, now)
                                .replicas
                                .is_none_or(|again| again >= from)
                        {
                            let again = self.act(&fresh, observed, now, codes, redecides - 1);
                            let mut report = Box::pin(again).await;
                            report.redecided = true;
                            return report;
                        }
                        report.reason = "wake or activity landed; scale-down skipped".into();
                        report.requeue = Requeue::After(Duration::from_secs(1));
                        report.transitional = true;
                        return report;
                    }
                    Err(store::Error::NotFound(_)) => {
                        info!("record deleted during the pass; nothing done");
                        report.after = None;
                        report.reason = "record deleted".into();
                        return report;
                    }
                    Err(e) => {
                        warn!(error = %e, "committing the scale-down failed; not scaling down");
                        fail(&mut report, codes, &e.to_string(), e.code());
                        report.reason = d.reason;
                        report.requeue = Requeue::After(decide::OBSERVE_RETRY);
                        return report;
                    }
                }
            }
            (Some(to), Some(from)) if to > from => {
                match self.platform.scale(&record.spec.target, to).await {
                    Ok(()) => {
                        info!(from, to, reason = %d.reason, "scaled up");
                        report.scaled = Some((from, to));
                    }
                    Err(e) => {
                        warn!(from, to, error = %e, "scale-up failed");
                        fail(&mut report, codes, &e.to_string(), e.code());
                        decide::note_scale_failed(&mut d.status, from, &e.to_string());
                    }
                }
                deleted = self
                    .finish_status(name, prev, &d.status, &mut report, codes)
                    .await;
            }
            // A failed observation publishes nothing: the status it would write is the last one
            // read plus a message, and an overlapping pass may have published a newer one.
            _ if matches!(observed, Observed::Error(_)) => {}
            _ => {
                deleted = self
                    .finish_status(name, prev, &d.status, &mut report, codes)
                    .await
            }
        }
        report.after = if deleted { None } else { Some(d.status.phase) };
        report.phase_since = d.status.phase_since;
        report.reason = d.reason.clone();
        report.requeue = d.requeue;
        report.transitional = d.is_transitional();
        if report.error.is_none() && report.changed() {
            info!(from = ?report.before, to = %d.status.phase, reason = %d.reason, "phase changed");
        }
        report
    }

    async fn finish(
        &self,
        name: &str,
        prev: Option<&Status>,
        d: &Decision,
        report: &mut RecordReport,
        codes: &mut Vec<String>,
    ) {
        let deleted = self
            .finish_status(name, prev, &d.status, report, codes)
            .await;
        report.after = if deleted { None } else { Some(d.status.phase) };
        report.reason = d.reason.clone();
        report.requeue = d.requeue;
        report.transitional = d.is_transitional();
    }

    /// Publishes `status` when it differs from `prev`. True when the record was deleted.
    async fn finish_status(
        &self,
        name: &str,
        prev: Option<&Status>,
        status: &Status,
        report: &mut RecordReport,
        codes: &mut Vec<String>,
    ) -> bool {
        if prev == Some(status) {
            return false;
        }
        self.publish(name, status, report, codes).await
    }

    /// Publishes with [`StatusGuard::Exists`]. True when the record was deleted.
    async fn publish(
        &self,
        name: &str,
        status: &Status,
        report: &mut RecordReport,
        codes: &mut Vec<String>,
    ) -> bool {
        match self
            .store
            .publish_status(name, status, StatusGuard::Exists)
            .await
        {
            Ok(()) => report.published = true,
            Err(store::Error::NotFound(_)) => {
                info!("record deleted during the pass; status not written");
                return true;
            }
            Err(e) => {
                warn!(error = %e, "publishing status failed");
                fail(report, codes, &e.to_string(), e.code());
            }
        }
        false
    }
}

/// `Some(wait)` when the record's service was last seen MISSING/INACTIVE less than
/// [`decide::MISSING_RECHECK`] ago and nothing (spec, wake request) changed since.
/// In a full pass, records that manage the same service
/// ([`crate::model::Target::identity`]) as an older one (earlier
/// `metadata.creationTimestamp`, then name) become Invalid with reason
/// [`decide::TARGET_CONFLICT`] instead of being acted on: two records on one service would
/// scale it against each other.
fn mark_conflicts(work: Vec<Work>) -> Vec<Work> {
    let mut owners: HashMap<String, (Option<Timestamp>, String)> = HashMap::new();
    for w in &work {
        if let Work::Observe(r) | Work::Deferred(r, _) = w {
            let claim = (r.metadata.creation_timestamp, r.metadata.name.clone());
            let owner = owners
                .entry(r.spec.target.identity())
                .or_insert(claim.clone());
            if claim < *owner {
                *owner = claim;
            }
        }
    }
    work.into_iter()
        .map(|w| {
            let (Work::Observe(r) | Work::Deferred(r, _)) = &w else {
                return w;
            };
            let identity = r.spec.target.identity();
            let owner = &owners[&identity].1;
            if *owner == r.metadata.name {
                return w;
            }
            conflict(
                r,
                format!(
                    "spec.target: {identity} is already managed by record {owner}; one service, \
                     one record (delete this record or point it at another service)"
                ),
            )
        })
        .collect()
}

/// The Invalid work for a record in a [`decide::TARGET_CONFLICT`], with `message`.
fn conflict(r: &Record, message: String) -> Work {
    Work::Invalid {
        name: r.metadata.name.clone(),
        prev: r.status.clone().map(Box::new),
        generation: r.metadata.generation,
        reason: decide::TARGET_CONFLICT,
        message,
    }
}

/// The conflict message a scoped pass keeps: the record is Invalid for [`decide::TARGET_CONFLICT`]
/// at its current generation (only a full pass sees the other records and can clear it).
fn latched_conflict(r: &Record) -> Option<String> {
    let s = r.status.as_ref()?;
    let valid = s.conditions.iter().find(|c| c.type_ == decide::VALID)?;
    (s.phase == Phase::Invalid
        && s.observed_generation == r.metadata.generation
        && valid.reason == decide::TARGET_CONFLICT)
        .then(|| s.message.clone())
}

fn missing_recheck(r: &Record, now: Timestamp) -> Option<Duration> {
    let s = r.status.as_ref()?;
    let c = s.condition(decide::SERVICE_FOUND)?;
    if c.status != crate::model::ConditionStatus::False {
        return None;
    }
    let checked = decide::missing_checked_at(s)?;
    if r.metadata.generation != s.observed_generation
        || r.desired.wake_requested_at.is_some_and(|w| w > checked)
    {
        return None;
    }
    let next = checked.add(decide::MISSING_RECHECK);
    (now < next).then(|| next.since(now))
}

/// True when `record` has a wake request that no pass has acted on yet: `spec.mode` is
/// `auto`, it is neither awake nor waking (no status yet, or phase Asleep, Sleeping or Failed),
/// and its `wakeRequestedAt` is later than `status.phaseSince` (when it entered that phase) and
/// than any `sleepRequestedAt`. [`Reconciler::run_until_settled`] adds such records to its
/// next requeue pass.
pub fn wake_unanswered(record: &Record) -> bool {
    let Some(wake) = record.desired.wake_requested_at else {
        return false;
    };
    if record.spec.mode != Mode::Auto
        || record.desired.sleep_requested_at.is_some_and(|s| s >= wake)
    {
        return false;
    }
    match &record.status {
        None => true,
        Some(s) => {
            matches!(s.phase, Phase::Asleep | Phase::Sleeping | Phase::Failed)
                && s.phase_since.is_none_or(|since| wake > since)
        }
    }
}

/// Adds `codes` to the counts in `into` ([`SettleReport::error_codes`]).
fn tally(into: &mut BTreeMap<String, u64>, codes: Vec<String>) {
    for code in codes {
        *into.entry(code).or_insert(0) += 1;
    }
}

/// Notes a failure on `report` (after an earlier one: `first; second`) and its code in
/// `codes`, the raw material of [`SettleReport::error_codes`].
fn fail(report: &mut RecordReport, codes: &mut Vec<String>, message: &str, code: &str) {
    report.error = Some(match report.error.take() {
        Some(prev) => format!("{prev}; {message}"),
        None => message.to_string(),
    });
    codes.push(code.to_string());
}

/// The span every reconcile of one record runs in: `reconcile{service=<name>}`, whatever
/// happens to the record (observed, invalid, deferred, deleted or unreadable).
fn record_span(name: &str) -> tracing::Span {
    info_span!("reconcile", service = %name)
}

fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Names(n) if n.len() <= 3 => n.join(","),
        Scope::Names(n) => format!("{} records", n.len()),
    }
}

#[cfg(test)]
mod wake_unanswered_tests {
    use super::*;

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
