//! The reconcile pass: read, triage, observe (one batched call), probe, decide, act, publish.
//!
//! ```text
//! Reconciler::reconcile(Scope) ─▶ store::pages (full pass: each page triaged as read; only
//!                                   what it acts on kept) / store.get (named records, and
//!                                   quiet ones the whole table brings back)
//!                                 ─▶ classify::validity, owners, triage_valid    (pure)
//!                                 ─▶ platform.observe(all targets)      (one call)
//!                                 ─▶ prober.probe(running, healthy tasks with an address)
//!                                 ─▶ router.observe(route-mode hosts)   (one call)
//!                                 ─▶ per record, concurrently, in span "reconcile{service, trigger}":
//!                                      decide ─▶ count the ledger (platform.describe_tasks
//!                                                 for counted tasks no longer listed)
//!                                             ─▶ point the route (only when it differs)
//!                                             ─▶ scale (only when the count differs)
//!                                             ─▶ publish status (only when it changed)
//!                                      a failed call ─▶ error_policy
//! ```
//!
//! The pass holds no rule of its own: the triage and the case are the classifier's
//! ([`super::classify`](mod@super::classify)), the decision is [`super::decide`](mod@super::decide)'s, what a failure means is
//! [`super::error_policy`](mod@super::error_policy)'s; when to run a pass (triggers, requeues, resync, budgets) is the
//! runtime's ([`super::runtime`]). The pass reads, observes, calls those functions, acts and
//! publishes.
//!
//! Every status write is a compare-and-swap on the `statusVersion` the pass read
//! ([`StatusGuard::read`]): a pass that computed its status from an older read (an overlapping
//! Lambda invocation, a second reconciler on the same table) writes nothing
//! (`StatusChanged`) and the record is looked at again in a second from a fresh read, so no
//! status is lost or applied twice. A record deleted during the pass is never resurrected.
//! Before a scale-*down* the status is also guarded by the `desired` facts as read
//! ([`StatusGuard::facts_unchanged`]): if a wake or activity landed in between, the write fails
//! with `FactsChanged` and the scale-down is skipped.
//! One failing record never stops the pass: its error is in its [`RecordReport`].
//!
//! The ledger ([`super::ledger`]) is counted into the decided status of every observed record;
//! it is published with the status when the status changes anyway, and on its own only when
//! [`super::ledger::needs_write`] (or a stop under way) says so: a steady record's ledger costs
//! one write an hour, not one per pass.
//!
//! A status is written only when it differs from the stored one. No field is treated as
//! volatile: `decide` is a fixed point once nothing changes (`phaseSince` and a condition's
//! `lastTransitionTime` move only when the phase or the condition's status does), so a steady
//! record costs no write. Before writing or scaling, the record is read again; if another
//! (overlapping) pass published a newer status meanwhile, this pass leaves the record alone
//! and asks to look again in a second. A failed observation publishes nothing.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::{Instrument, debug, info, info_span, warn};

use super::classify::{self, Owners, Situation, Triage};
use super::decide::{
    self, Decision, GroupInput, Requeue, decide_deferred, decide_in_group, decide_invalid,
};
use super::error_policy::{Failed, error_policy};
use super::events::EventTarget;
use super::group::{self, Table};
use super::ledger::{self, LedgerInput};
use super::prices::Rates;
use super::runtime::{Reason, Reasons};
use super::tier::{self, Observe, TierMemory};
use super::{Clock, Prober};
use crate::model::{Entry, Phase, Record, Status, Timestamp};
use crate::platform::{Health, Observed, Platform, TaskStatus};
use crate::router::{NoRouter, RouteObservation, Router};
use crate::store::{self, StatusGuard, Store};

/// The reason in the report of a record a tiered full pass left alone.
pub(super) const QUIET_REASON: &str = "quiet; not observed this pass";

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
    /// How long this runner may take to come back to a record that asked for no requeue: the
    /// reconciler Lambda's schedule period (60 s); zero (the default) for runners that requeue
    /// exactly (`snoozectl dev`, `reconcile --watch`). Added to schedules' pre-warm leads
    /// ([`super::decide::decide_valid`]).
    pub runner_period: Duration,
    /// What a full pass ([`Scope::All`]) observes: only what can have changed or is due plus a
    /// resync slice ([`Observe::Tiered`], the default; [`super::tier`]), or every record
    /// ([`Observe::All`], the behaviour before issue 20). Scoped passes observe every record
    /// they name either way.
    pub observe: Observe,
}

impl Default for PassOptions {
    fn default() -> Self {
        Self {
            concurrency: 32,
            probe_concurrency: 32,
            read_concurrency: 16,
            runner_period: Duration::ZERO,
            observe: Observe::default(),
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
    /// Where stable addresses point (route-mode records); [`NoRouter`] unless set with
    /// [`Reconciler::with_router`].
    pub router: Arc<dyn Router>,
    /// Concurrency limits.
    pub options: PassOptions,
    /// The region's Fargate prices the ledger turns ECS task-seconds into money with
    /// ([`super::ledger`]); `None` (the default of [`Reconciler::new`]): seconds only. Set with
    /// [`Reconciler::with_prices`]. Local targets are never priced.
    pub prices: Option<Arc<Rates>>,
    /// What tiered full passes remember between passes ([`super::tier::TierMemory`]: the
    /// time of the last full pass, requeues asked for), shared by the clones of this
    /// reconciler; in memory only (a new process starts empty).
    pub tier: Arc<Mutex<TierMemory>>,
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
    /// pass was interrupted by a landing wake; [`super::runtime::Runtime::settle`] re-runs those.
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
    /// `status.message` of the status the pass wrote (else of the one it decided; empty when
    /// it says nothing), for the record's event ([`super::events::Event::message`]); `None`
    /// when no decision was made.
    pub message: Option<String>,
    /// What the record manages (`spec.target`, without a local target's command), for its
    /// event; `None` when the record could not be read as one.
    pub target: Option<EventTarget>,
    /// True when a tiered full pass left the record alone ([`Triage::Quiet`]): not observed,
    /// nothing decided; `requeue` says nothing then.
    pub quiet: bool,
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
            message: None,
            target: None,
            quiet: false,
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
    /// Records a tiered full pass left alone ([`Triage::Quiet`]; they are in `records`,
    /// unchanged). 0 for a scoped pass and in [`Observe::All`].
    pub quiet: usize,
    /// The resync period a tiered full pass used ([`super::tier::resync_period`]); `None`
    /// otherwise.
    pub resync_period: Option<Duration>,
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

/// What [`super::runtime::Runtime::settle`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct SettleReport {
    /// Every pass, in order (the first over the given scope, then over requeued records).
    pub passes: Vec<PassReport>,
    /// Why each of `passes` ran (same order).
    pub reasons: Vec<Reasons>,
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

/// A record as read, with the Invalid triage of [`classify::validity`] when it failed it.
type Checked = (String, Result<Option<Entry>, store::Error>, Option<Triage>);

/// What [`Reconciler::read`] returns.
#[derive(Default)]
struct ReadOut {
    /// The records to act on, triaged.
    items: Vec<Item>,
    /// The records a tiered full pass leaves alone.
    quiet: Vec<QuietRecord>,
    /// The table's groups; `None` when no record is in one or the pass did not list the table.
    table: Option<Table>,
    /// The resync period of a tiered full pass.
    period: Option<Duration>,
    /// A full pass's route hosts; `None`: unknown, remove no route.
    hosts: Option<std::collections::BTreeSet<String>>,
}

/// The cross-record problems of groups ([`group::Groups::problems`]): record name → errors.
type Problems = BTreeMap<String, Vec<crate::model::FieldError>>;

/// The Invalid triage of an entry for the `problems` of its groups; `None` without any.
fn group_problem(entry: Option<&Entry>, problems: &Problems) -> Option<Triage> {
    let errors = problems.get(entry?.name())?;
    Some(Triage::Invalid {
        reason: classify::Invalidity::ValidationFailed,
        message: errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// The first step of the triage of records as read: the Invalid triage of each
/// ([`classify::validity`], then [`group_problem`]); `None` for a valid record, one not found
/// and a failed read.
fn check(
    read: Vec<(String, Result<Option<Entry>, store::Error>)>,
    problems: &Problems,
) -> Vec<Checked> {
    read.into_iter()
        .map(|(name, read)| {
            let invalid = match &read {
                Ok(Some(entry)) => classify::validity(Some(entry))
                    .err()
                    .or_else(|| group_problem(Some(entry), problems)),
                Ok(None) | Err(_) => None,
            };
            (name, read, invalid)
        })
        .collect()
}

/// The last step of the triage: conflicts (`owners`), deferred re-checks, or observe
/// ([`classify::triage_valid`]) for the valid records; a record not found is Gone.
fn triage_checked(checked: Vec<Checked>, owners: &Owners, now: Timestamp) -> Vec<Item> {
    checked
        .into_iter()
        .map(|(name, read, invalid)| match read {
            Err(e) => Item::ReadFailed(name, Box::new(e)),
            Ok(entry) => {
                let triage = match (invalid, &entry) {
                    (Some(t), _) => t,
                    (None, Some(Entry::Record(r))) => classify::triage_valid(r, owners, now),
                    (None, _) => Triage::Gone,
                };
                let name = match &entry {
                    Some(e) => e.name().to_string(),
                    None => name,
                };
                Item::Read {
                    name,
                    entry,
                    triage,
                }
            }
        })
        .collect()
}

/// One record as read and triaged by a pass. Short-lived (one per record, for one pass) and
/// moved, not copied, so the size of an entry is not worth a box per record.
#[allow(clippy::large_enum_variant)]
enum Item {
    /// The read failed.
    ReadFailed(String, Box<store::Error>),
    /// Read (`entry`: `None` when not found) and triaged.
    Read {
        name: String,
        entry: Option<Entry>,
        triage: Triage,
    },
}

/// What a tiered full pass keeps of a record it leaves alone ([`Triage::Quiet`]: only what
/// its report needs, not the record, so a full pass over a large table holds only what it acts
/// on), and, while it is still listing the table, what decides whether it is looked at after
/// all.
#[derive(Debug)]
struct QuietRecord {
    name: String,
    phase: Option<Phase>,
    phase_since: Option<Timestamp>,
    /// Its resync slot, looked at once the listing is complete.
    slot: Slot,
}

/// What a quiet record's resync slot is known by while the table is listed ([`QuietRecord`]).
#[derive(Debug)]
enum Slot {
    /// Asleep: the key of its slot ([`tier::slot_key`]); the period comes from the fleet size.
    Asleep(String),
    /// Ready, on ECS: its cluster; its chunk of the cluster ([`tier::awake_slot_key`]) comes
    /// from the number of steady Ready records of the cluster.
    Ready(String),
    /// Neither (a local target is never quiet).
    None,
}

impl QuietRecord {
    /// Its report: unchanged, not observed.
    fn report(self) -> RecordReport {
        let mut report = RecordReport::new(&self.name, self.phase);
        report.reason = QUIET_REASON.into();
        report.quiet = true;
        report.phase_since = self.phase_since;
        report
    }

    fn of(r: &Record) -> Self {
        let status = r.status.as_ref();
        QuietRecord {
            name: r.metadata.name.clone(),
            phase: status.map(|s| s.phase),
            phase_since: status.and_then(|s| s.phase_since),
            slot: match (status.map(|s| s.phase), &r.spec.target) {
                (Some(Phase::Asleep), _) => Slot::Asleep(tier::slot_key(r).to_string()),
                (Some(Phase::Ready), crate::model::Target::Ecs(t)) => {
                    Slot::Ready(t.cluster.clone())
                }
                _ => Slot::None,
            },
        }
    }
}

/// What [`Reconciler::read_all`] gathers while it lists the table page by page.
#[derive(Default)]
struct Listing {
    /// Records it keeps whole, as read, with their Invalid triage when they failed
    /// [`classify::validity`].
    kept: Vec<Checked>,
    /// Records it leaves alone unless the end of the listing says otherwise.
    quiet: Vec<QuietRecord>,
    table: group::TableBuilder,
    owners: classify::OwnersBuilder,
    /// Every `spec.route` host claimed; `None` once a malformed item was read (it may claim
    /// one): then no route is removed this pass.
    hosts: Option<std::collections::BTreeSet<String>>,
    /// Records read.
    count: usize,
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
            router: Arc::new(NoRouter),
            options: PassOptions::default(),
            prices: None,
            tier: Arc::new(Mutex::new(TierMemory::default())),
        }
    }

    /// The same reconciler pricing ECS targets' ledgers with `rates` (the price table's row
    /// for the region it runs in, [`super::prices::PriceTable::rates`]).
    pub fn with_prices(mut self, rates: Rates) -> Self {
        self.prices = Some(Arc::new(rates));
        self
    }

    /// The records that manage ECS service `service` of the cluster with ARN `cluster_arn`
    /// (and name `cluster_name`; a record may write either), as this process's last full pass
    /// listed them, kept current by the passes that read records by name since (a stream
    /// record's pass: a record created, re-pointed or deleted), when that full pass started at
    /// most `max_age` ago; `None` when there was none (then list the table). For the ECS events
    /// of the reconciler Lambda. A record changed in the table but not read by a pass of this
    /// process yet (its stream record not handled yet) is not in it: it is reconciled by its
    /// own stream record and by the next full pass (a new or edited record is always observed
    /// by it).
    pub fn records_of_service(
        &self,
        cluster_arn: &str,
        cluster_name: &str,
        service: &str,
        max_age: Duration,
    ) -> Option<Vec<String>> {
        let memory = self.tier.lock().unwrap_or_else(|e| e.into_inner());
        let index = memory.services.as_ref()?;
        if index.at.add(max_age) < self.clock.now() {
            return None;
        }
        let mut names: Vec<String> = [cluster_arn, cluster_name]
            .iter()
            .filter_map(|c| index.records.get(&(c.to_string(), service.to_string())))
            .flatten()
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        Some(names)
    }

    /// The same reconciler with `router` for route-mode records (e.g. `snoozectl dev`'s
    /// [`crate::router::LocalRouter`]).
    pub fn with_router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = router;
        self
    }

    /// One pass over `scope`, for [`Reason::Manual`] (an operator's or a test's direct call;
    /// the runtime passes its trigger with [`Reconciler::reconcile_for`]). Never fails as a
    /// whole except when records cannot be read (then [`PassReport::error`] says why and
    /// `records` is empty).
    pub async fn reconcile(&self, scope: Scope) -> PassReport {
        self.reconcile_for(scope, &Reasons::all(Reason::Manual))
            .await
            .0
    }

    /// One pass over `scope` run for `reasons` (on the pass's span and each record's span as
    /// `trigger`), plus the code of every failure in it (see [`SettleReport::error_codes`]).
    pub async fn reconcile_for(
        &self,
        scope: Scope,
        reasons: &Reasons,
    ) -> (PassReport, Vec<String>) {
        let started = Instant::now();
        let now = self.clock.now();
        let span = info_span!(
            "reconcile_pass",
            scope = scope_label(&scope),
            trigger = %reasons.pass
        );
        async move {
            let ReadOut {
                items,
                quiet,
                table,
                period: resync_period,
                hosts,
            } = match self.read(scope, now).await {
                Ok(w) => w,
                Err(e) => {
                    warn!(error = %e, "reading records failed; pass skipped");
                    let report = PassReport {
                        started_at: now,
                        duration: started.elapsed(),
                        records: Vec::new(),
                        error: Some(e.to_string()),
                        quiet: 0,
                        resync_period: None,
                    };
                    return (report, vec![e.code().to_string()]);
                }
            };

            // Observe every target in one batched call.
            let to_observe: Vec<&Record> = items
                .iter()
                .filter_map(|item| match item {
                    Item::Read {
                        entry: Some(Entry::Record(r)),
                        triage: Triage::Observe,
                        ..
                    } => Some(r.as_ref()),
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
            self.observe_target_health(&to_observe, &mut observed).await;
            self.probe(&to_observe, &mut observed).await;
            self.observe_routes(&to_observe, &mut observed).await;
            if let Some(hosts) = hosts {
                self.retain_routes(hosts).await;
            }

            // Decide every observed record (pure), its groups' members together, in start
            // order; then act on each record concurrently.
            let decisions = group::decide_all(
                &to_observe
                    .iter()
                    .copied()
                    .zip(observed.iter())
                    .collect::<Vec<_>>(),
                table.as_ref(),
                now,
                self.options.runner_period,
            );
            let mut observed = observed.into_iter().zip(decisions);
            let jobs: Vec<_> = items
                .into_iter()
                .map(|item| {
                    let obs = match &item {
                        Item::Read {
                            entry: Some(Entry::Record(_)),
                            triage: Triage::Observe,
                            ..
                        } => observed.next(),
                        _ => None,
                    };
                    (item, obs)
                })
                .collect();
            let outcomes: Vec<(RecordReport, Vec<String>)> = futures::stream::iter(jobs)
                .map(|(item, obs)| async move {
                    let mut codes = Vec::new();
                    let report = self
                        .reconcile_item(item, obs, now, reasons, &mut codes)
                        .await;
                    (report, codes)
                })
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            let quiet_count = quiet.len();
            let mut records: Vec<RecordReport> = Vec::with_capacity(quiet_count + outcomes.len());
            let mut codes: Vec<String> = Vec::new();
            for (report, c) in outcomes {
                records.push(report);
                codes.extend(c);
            }
            records.extend(quiet.into_iter().map(QuietRecord::report));
            records.sort_by(|a, b| a.name.cmp(&b.name));
            self.remember_requeues(&records, now);
            let report = PassReport {
                started_at: now,
                duration: started.elapsed(),
                records,
                error: None,
                quiet: quiet_count,
                resync_period,
            };
            info!(
                records = report.records.len(),
                quiet = report.quiet,
                changed = report.changed().count(),
                errors = report.errors().count(),
                ms = report.duration.as_millis() as u64,
                "pass done"
            );
            (report, codes)
        }
        .instrument(span)
        .await
    }

    /// Runs passes until no record is transitional, within `budget`: see
    /// [`super::runtime::Runtime::settle`], which this calls with the trigger
    /// [`Reason::Manual`].
    pub async fn run_until_settled(&self, scope: Scope, budget: Duration) -> SettleReport {
        super::runtime::Runtime::new(self.clone())
            .settle(scope, Reason::Manual, budget)
            .await
    }

    /// Reads the records of `scope` and triages each ([`classify::validity`], then in a full
    /// pass [`classify::owners`] over the valid ones, then [`classify::triage_valid`]). Also
    /// returns the table's groups (when some record is in one), the resync period of a tiered
    /// full pass, and for a full pass every route host claimed (`None` when that cannot be
    /// known: no route is removed then).
    ///
    /// Groups (ADR 0009): the table's groups come from the whole table; a scoped pass that
    /// reads a record in a group lists the table too (page by page, keeping only the groups,
    /// [`Reconciler::list_table`]) and reads the record's group members and what they depend on
    /// or is depended on by them ([`Table::closure`]) with consistent gets, so a stream event
    /// for one member reconciles its whole group. Records whose `dependsOn` is wrong given the
    /// others ([`group::Groups::problems`]: missing, outside the group, a cycle) are Invalid.
    async fn read(&self, scope: Scope, now: Timestamp) -> Result<ReadOut, store::Error> {
        let names = match scope {
            Scope::All => return self.read_all(now).await,
            Scope::Names(names) => names,
        };
        let mut seen = HashSet::new();
        let names: Vec<String> = names
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .collect();
        let mut got = self.get_all(names).await;
        let grouped = got
            .iter()
            .any(|(_, r)| matches!(r, Ok(Some(Entry::Record(rec))) if !rec.spec.groups.is_empty()));
        let mut table: Option<Table> = None;
        if grouped {
            let t = self.list_table().await?;
            let named: Vec<String> = got.iter().map(|(n, _)| n.clone()).collect();
            let more: Vec<String> = t
                .closure(&named)
                .into_iter()
                .filter(|n| !named.contains(n))
                .collect();
            got.extend(self.get_all(more).await);
            table = Some(t);
        }
        let problems = table
            .as_ref()
            .map(|t| t.groups.problems())
            .unwrap_or_default();
        self.index_services(&got);
        let items = triage_checked(check(got, &problems), &Owners::scoped(), now);
        Ok(ReadOut {
            items,
            table,
            ..ReadOut::default()
        })
    }

    /// Keeps this process's index of which records manage which ECS service
    /// ([`tier::ServiceIndex`], for [`Reconciler::records_of_service`]) current with records
    /// read by name: created, re-pointed or deleted since the last full pass. Failed reads
    /// change nothing.
    fn index_services(&self, read: &[(String, Result<Option<Entry>, store::Error>)]) {
        let mut memory = self.tier.lock().unwrap_or_else(|e| e.into_inner());
        let Some(index) = memory.services.as_mut() else {
            return;
        };
        for (name, r) in read {
            match r {
                Ok(Some(Entry::Record(rec))) => match &rec.spec.target {
                    crate::model::Target::Ecs(t) => {
                        index.update(name, Some((&t.cluster, &t.service)));
                    }
                    _ => index.update(name, None),
                },
                Ok(None) => index.update(name, None),
                Ok(Some(Entry::Malformed(_))) | Err(_) => {}
            }
        }
    }

    /// Consistent gets of `names`, [`PassOptions::read_concurrency`] at once, in order.
    async fn get_all(
        &self,
        names: Vec<String>,
    ) -> Vec<(String, Result<Option<Entry>, store::Error>)> {
        futures::stream::iter(names)
            .map(|n| async move {
                let r = self.store.get(&n).await;
                (n, r)
            })
            .buffered(self.options.read_concurrency.max(1))
            .collect()
            .await
    }

    /// The table's groups and the stored statuses of their members ([`Table`]), from a
    /// listing read page by page ([`store::pages`]) that keeps nothing else.
    async fn list_table(&self) -> Result<Table, store::Error> {
        let mut b = group::TableBuilder::default();
        let mut pages = std::pin::pin!(store::pages(self.store.as_ref(), "list"));
        while let Some(page) = pages.next().await {
            for r in page?.iter().filter_map(Entry::record) {
                b.add(r);
            }
        }
        Ok(b.build())
    }

    /// A full pass's read ([`Scope::All`]): the table page by page ([`store::pages`]), each
    /// record validated and, in [`Observe::Tiered`], triaged by [`tier::why_observe`] as it
    /// is read. Only the records the pass may act on are kept whole (invalid ones, those the
    /// tier observes; every record in [`Observe::All`]); of a quiet one only its name, phase
    /// and resync slot are kept ([`QuietRecord`]), so a pass over 50,000 records holds a few
    /// hundred records, not the table. Once the listing is complete (the fleet size, the
    /// owners of every service and the groups are known) the quiet records whose triage
    /// depends on them are read again with consistent gets and triaged like the others: an
    /// Asleep record whose resync slot fell ([`tier::slot_fell`] with the period of this
    /// fleet size), one sharing a service or host with another record, one with a group
    /// problem, and then every member of a group one of whose members is observed. Records
    /// the pass's time as the last full pass.
    async fn read_all(&self, now: Timestamp) -> Result<ReadOut, store::Error> {
        let tier_opts = match &self.options.observe {
            Observe::Tiered(o) => Some(o.clone()),
            Observe::All => None,
        };
        let memory = {
            let m = self.tier.lock().unwrap_or_else(|e| e.into_inner());
            TierMemory {
                last_full: m.last_full,
                requeues: m.requeues.clone(),
                last_records: m.last_records,
                services: None,
            }
        };
        let mut services: std::collections::HashMap<(String, String), Vec<String>> =
            Default::default();
        // Steady Ready records of each ECS cluster (their resync chunks).
        let mut ready_in: std::collections::HashMap<String, usize> = Default::default();
        let since = tier_opts
            .as_ref()
            .map_or(now, |o| tier::since(&memory, now, o));
        let mut because: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut l = Listing {
            hosts: Some(Default::default()),
            ..Listing::default()
        };
        let mut pages = std::pin::pin!(store::pages(self.store.as_ref(), "list"));
        while let Some(page) = pages.next().await {
            for entry in page? {
                l.count += 1;
                let invalid = classify::validity(Some(&entry)).err();
                let Entry::Record(r) = &entry else {
                    l.hosts = None;
                    l.kept
                        .push((entry.name().to_string(), Ok(Some(entry)), invalid));
                    continue;
                };
                l.table.add(r);
                if let crate::model::Target::Ecs(t) = &r.spec.target {
                    services
                        .entry((t.cluster.clone(), t.service.clone()))
                        .or_default()
                        .push(r.metadata.name.clone());
                }
                if let Some(h) = &mut l.hosts {
                    h.extend(r.spec.route_host());
                }
                if invalid.is_none() {
                    l.owners.add(r);
                }
                // A record whose missing service is re-checked later is Deferred, never
                // quiet (its report says when).
                let quiet = invalid.is_none()
                    && classify::missing_recheck(r, now).is_none()
                    && tier_opts.is_some()
                    && {
                        tier::why_observe(
                            r,
                            since,
                            now,
                            None,
                            None,
                            self.options.runner_period,
                            &memory,
                        )
                        .map(|why| *because.entry(why).or_default() += 1)
                        .is_none()
                    };
                if quiet {
                    let q = QuietRecord::of(r);
                    if let Slot::Ready(cluster) = &q.slot {
                        *ready_in.entry(cluster.clone()).or_default() += 1;
                    }
                    l.quiet.push(q);
                } else {
                    l.kept
                        .push((r.metadata.name.clone(), Ok(Some(entry)), invalid));
                }
            }
        }
        {
            let mut m = self.tier.lock().unwrap_or_else(|e| e.into_inner());
            m.services = Some(tier::ServiceIndex {
                at: now,
                records: services,
            });
            m.last_records = Some(l.count);
        }
        let table = l.table.build();
        let problems = table.groups.problems();
        let owners = l.owners;
        let period = tier_opts.as_ref().map(|o| tier::resync_period(l.count, o));
        let awake = tier_opts.as_ref().map(|o| o.awake_resync);
        // Quiet records whose triage depends on the whole table, the fleet size or their
        // cluster's awake services.
        let (back, mut quiet): (Vec<QuietRecord>, Vec<QuietRecord>) =
            l.quiet.into_iter().partition(|q| {
                let fell = match (&q.slot, period, awake) {
                    (Slot::Asleep(key), Some(p), _) => tier::slot_fell(key, since, now, p),
                    (Slot::Ready(cluster), _, Some(p)) => {
                        let n = ready_in.get(cluster).copied().unwrap_or(0);
                        tier::slot_fell(&tier::awake_slot_key(cluster, &q.name, n), since, now, p)
                    }
                    _ => false,
                };
                if fell {
                    *because.entry("resync").or_default() += 1;
                }
                fell || problems.contains_key(&q.name) || owners.contested(&q.name)
            });
        let owners = owners.build();
        let mut checked: Vec<Checked> = l
            .kept
            .into_iter()
            .map(|(name, read, invalid)| {
                let invalid = invalid.or_else(|| match &read {
                    Ok(entry) => group_problem(entry.as_ref(), &problems),
                    Err(_) => None,
                });
                (name, read, invalid)
            })
            .collect();
        let back = self
            .get_all(back.into_iter().map(|q| q.name).collect())
            .await;
        checked.extend(check(back, &problems));
        let mut items = triage_checked(checked, &owners, now);
        let table = table.has_groups().then_some(table);
        if let (Some(o), Some(period)) = (&tier_opts, period) {
            let ready_count = |r: &Record| match &r.spec.target {
                crate::model::Target::Ecs(t) => ready_in.get(&t.cluster).copied().unwrap_or(0),
                _ => 0,
            };
            // Records read again: the tier decides with the period now known.
            for item in &mut items {
                if let Item::Read {
                    entry: Some(Entry::Record(r)),
                    triage: triage @ Triage::Observe,
                    ..
                } = item
                    && tier::why_observe(
                        r,
                        since,
                        now,
                        Some(period),
                        Some((o.awake_resync, ready_count(r))),
                        self.options.runner_period,
                        &memory,
                    )
                    .is_none()
                {
                    *triage = Triage::Quiet;
                }
            }
            // A group is observed together: every member of a group one of whose members is
            // observed, and what they depend on or is depended on by them.
            if let Some(t) = &table {
                let observed: Vec<String> = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Read {
                            name,
                            entry: Some(Entry::Record(r)),
                            triage: Triage::Observe,
                        } if !r.spec.groups.is_empty() => Some(name.clone()),
                        _ => None,
                    })
                    .collect();
                let members: HashSet<String> = t.closure(&observed).into_iter().collect();
                for item in &mut items {
                    if let Item::Read {
                        name,
                        triage: triage @ Triage::Quiet,
                        ..
                    } = item
                        && members.contains(name.as_str())
                    {
                        *triage = Triage::Observe;
                        *because.entry("group").or_default() += 1;
                    }
                }
                let (pulled, rest): (Vec<QuietRecord>, Vec<QuietRecord>) = quiet
                    .into_iter()
                    .partition(|q| members.contains(q.name.as_str()));
                quiet = rest;
                *because.entry("group").or_default() += pulled.len();
                let pulled = self
                    .get_all(pulled.into_iter().map(|q| q.name).collect())
                    .await;
                items.extend(triage_checked(check(pulled, &problems), &owners, now));
            }
            self.tier
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_full = Some(now);
            debug!(?because, period_s = period.as_secs(), "tiered observation");
        }
        // What stays quiet keeps only its report's fields.
        let (items, still_quiet): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| {
            !matches!(
                i,
                Item::Read {
                    entry: Some(Entry::Record(_)),
                    triage: Triage::Quiet,
                    ..
                }
            )
        });
        quiet.extend(still_quiet.into_iter().filter_map(|i| match i {
            Item::Read {
                entry: Some(Entry::Record(r)),
                ..
            } => Some(QuietRecord::of(&r)),
            _ => None,
        }));
        Ok(ReadOut {
            items,
            quiet,
            table,
            period,
            hosts: l.hosts,
        })
    }

    /// Keeps the requeues of `records` in the tier memory (a tiered full pass observes a
    /// record whose requeue is due, [`tier::why_observe`]); a record that awaits a change
    /// drops its requeue.
    fn remember_requeues(&self, records: &[RecordReport], now: Timestamp) {
        if !matches!(self.options.observe, Observe::Tiered(_)) {
            return;
        }
        let mut memory = self.tier.lock().unwrap_or_else(|e| e.into_inner());
        for r in records.iter().filter(|r| !r.quiet) {
            match r.requeue {
                Requeue::After(d) => {
                    memory.requeues.insert(r.name.clone(), now.add(d));
                }
                Requeue::AwaitChange => {
                    memory.requeues.remove(&r.name);
                }
            }
        }
    }

    /// Adds the load balancer's view of each task to the observations of route-mode records
    /// whose service has a target group for its endpoint port
    /// ([`crate::platform::TaskObservation::target_health`]), one router call for all groups.
    /// A task whose private address is not a target of the group is `unregistered`. When the
    /// router reports nothing (`Ok(None)`: no load balancer) the tasks are left without it;
    /// when it fails, every such task is `unavailable` with the error, so no service becomes
    /// Ready on a health check nobody could read.
    async fn observe_target_health(&self, records: &[&Record], observed: &mut [Observed]) {
        let wanted: Vec<(usize, String)> = records
            .iter()
            .zip(observed.iter())
            .enumerate()
            .filter(|(_, (r, _))| r.spec.route_host().is_some())
            .filter_map(|(i, (r, o))| match o {
                Observed::Found(s) if !s.tasks.is_empty() => s
                    .target_group_for(r.spec.endpoint_port())
                    .map(|g| (i, g.to_string())),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let mut groups: Vec<String> = wanted.iter().map(|(_, g)| g.clone()).collect();
        groups.sort();
        groups.dedup();
        let health = match self.router.target_health(&groups).await {
            Ok(Some(h)) if h.len() == groups.len() => Ok(h),
            Ok(Some(_)) => Err("the router answered for a different number of groups".to_string()),
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "reading target health failed; no task is ready by it this pass");
                Err(e.to_string())
            }
        };
        for (i, group) in wanted {
            let Observed::Found(s) = &mut observed[i] else {
                continue;
            };
            let of_group = health.as_ref().map(|h| {
                let k = groups.binary_search(&group).unwrap_or_default();
                &h[k]
            });
            // The reasons reach the wait page: no ARN, address or AWS message in them (the
            // error itself is in the log above).
            let unregistered = || crate::platform::TargetHealth {
                state: "unregistered".into(),
                reason: Some("the task is not a target of the service's target group yet".into()),
            };
            for t in &mut s.tasks {
                t.target_health = Some(match (&of_group, &t.private_ip) {
                    (Err(_), _) => crate::platform::TargetHealth {
                        state: crate::platform::TargetHealth::UNAVAILABLE.into(),
                        reason: Some("the load balancer's target health could not be read".into()),
                    },
                    (Ok(targets), Some(ip)) => {
                        targets.get(ip).cloned().unwrap_or_else(unregistered)
                    }
                    (Ok(_), None) => unregistered(),
                });
            }
        }
    }

    /// Runs the HTTP readiness probe for tasks that are RUNNING with desiredStatus RUNNING,
    /// healthy (or without a health check) and have an address, on records that define
    /// `spec.readiness.httpGet`, unless the load balancer's health check stands in for it
    /// ([`Self::observe_target_health`]).
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
                    && t.target_health.is_none()
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

    /// Adds the router's view of each route-mode record's stable address to its observation
    /// ([`crate::platform::ServiceObservation::route`]), in one call. When the router cannot
    /// be read, the routes stay unknown and the decision compares with what the status says
    /// was set (pointing again is harmless).
    async fn observe_routes(&self, records: &[&Record], observed: &mut [Observed]) {
        let wanted: Vec<(usize, String)> = records
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(observed[*i], Observed::Found(_)))
            .filter_map(|(i, r)| r.spec.route_host().map(|h| (i, h)))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let hosts: Vec<String> = wanted.iter().map(|(_, h)| h.clone()).collect();
        match self.router.observe(&hosts).await {
            Ok(routes) => {
                for ((i, _), route) in wanted.into_iter().zip(routes) {
                    if let Observed::Found(s) = &mut observed[i] {
                        s.route = match route {
                            Some(target) => RouteObservation::At(target),
                            None => RouteObservation::Absent,
                        };
                    }
                }
            }
            Err(e) => warn!(error = %e, "observing routes failed; compared with the status"),
        }
    }

    /// After a full read: removes the routes of hosts no record claims any more (deleted
    /// records, edited hosts). Not when an item is malformed or unreadable (its host is
    /// unknown).
    async fn retain_routes(&self, keep: std::collections::BTreeSet<String>) {
        match self.router.retain(&keep).await {
            Ok(gone) if !gone.is_empty() => info!(hosts = ?gone, "removed routes no record claims"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "removing unclaimed routes failed"),
        }
    }

    /// One record of the pass, by its triage, in its `reconcile{service, trigger}` span.
    async fn reconcile_item(
        &self,
        item: Item,
        observed: Option<(Observed, (Decision, GroupInput))>,
        now: Timestamp,
        reasons: &Reasons,
        codes: &mut Vec<String>,
    ) -> RecordReport {
        let (name, entry, triage) = match item {
            Item::ReadFailed(name, e) => {
                let trigger = reasons.of(&name);
                let _span = record_span(&name, trigger).entered();
                warn!(error = %e, "reading the record failed");
                let mut r = RecordReport::new(&name, None);
                r.reason = "read failed".into();
                fail(&mut r, codes, &e.to_string(), e.code());
                r.requeue = error_policy(None, Failed::Read, &e.to_string()).requeue;
                return r;
            }
            Item::Read {
                name,
                entry,
                triage,
            } => (name, entry, triage),
        };
        let trigger = reasons.of(&name);
        let span = record_span(&name, trigger);
        let prev: Option<&Status> = match &entry {
            Some(Entry::Record(r)) => r.status.as_ref(),
            Some(Entry::Malformed(m)) => m.status.as_ref(),
            None => None,
        };
        let mut report = RecordReport::new(&name, prev.map(|s| s.phase));
        if let Some(Entry::Record(r)) = &entry {
            report.target = Some(EventTarget::from(&r.spec.target));
        }
        match triage {
            Triage::Gone => {
                let _span = span.entered();
                report.reason = "record not found (deleted?)".into();
                debug!("record not found; nothing to do");
                report
            }
            Triage::Quiet => {
                report.reason = QUIET_REASON.into();
                report.quiet = true;
                report.phase_since = prev.and_then(|s| s.phase_since);
                report
            }
            Triage::Deferred { wait } => {
                let _span = span.entered();
                let d = decide_deferred(prev, wait);
                report.reason = d.reason;
                report.requeue = d.requeue;
                report
            }
            Triage::Invalid { reason, message } => {
                async {
                    let (generation, status_version) = match &entry {
                        Some(Entry::Record(r)) => {
                            (r.metadata.generation, r.metadata.status_version)
                        }
                        Some(Entry::Malformed(m)) => (0, m.status_version),
                        None => (0, 0),
                    };
                    let d = decide_invalid(prev, generation, reason, &message, now);
                    let published = self
                        .publish_if_changed(
                            &name,
                            prev,
                            status_version,
                            &d.status,
                            &mut report,
                            codes,
                        )
                        .await;
                    report.settle(&d, published == Published::Deleted);
                    if published == Published::Stale {
                        report.stale();
                    }
                    report
                }
                .instrument(span)
                .await
            }
            Triage::Observe => {
                let (Some(Entry::Record(record)), Some((observed, (decided, input)))) =
                    (entry, observed)
                else {
                    // Observe is given only to a record, and every observed record gets one
                    // observation; a mismatch would be a bug in `reconcile_for`.
                    let _span = span.entered();
                    warn!("no observation for an observed record; looking again");
                    report.reason = "not observed".into();
                    report.requeue = Requeue::After(decide::OBSERVE_RETRY);
                    return report;
                };
                self.reconcile_observed(
                    &record,
                    &observed,
                    Decided {
                        decision: decided,
                        input: &input,
                    },
                    now,
                    codes,
                    FACTS_CHANGED_REDECIDES,
                )
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
    async fn reconcile_observed(
        &self,
        record: &Record,
        observed: &Observed,
        decided: Decided<'_>,
        now: Timestamp,
        codes: &mut Vec<String>,
        redecides: u8,
    ) -> RecordReport {
        let name = record.metadata.name.as_str();
        let prev = record.status.as_ref();
        let mut report = RecordReport::new(name, prev.map(|s| s.phase));
        report.phase_since = prev.and_then(|s| s.phase_since);
        report.target = Some(EventTarget::from(&record.spec.target));
        let Decided {
            decision: mut d,
            input,
        } = decided;
        // A failed observation is an error of the pass; a target the platform does not serve is
        // not (it is the record's Invalid status, published once).
        let unobserved = matches!(d.situation, Situation::Unobserved { .. });
        if let Observed::Found(service) = observed
            && !unobserved
        {
            self.count_ledger(record, service, &mut d, now).await;
        }
        if let Observed::Error(e) = observed
            && unobserved
        {
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
        let will_publish = prev != Some(&d.status) && !unobserved;
        if will_scale || will_publish || d.route.is_some() {
            match self.store.get(name).await {
                Ok(Some(Entry::Record(fresh))) if fresh.status.as_ref() == prev => {}
                Ok(Some(_)) => {
                    info!("status changed since it was read (an overlapping pass?); looking again");
                    report.stale();
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
                    report.reason = d.reason.clone();
                    report.requeue = error_policy(Some(&d), Failed::Reread, &e.to_string()).requeue;
                    return report;
                }
            }
        }
        // The route first: back at the wake endpoint before a scale-down starts, at the
        // service before the status says Ready (the decision points there only when Ready).
        if let (Some(target), Some(host)) = (&d.route, record.spec.route_host()) {
            let group = match observed {
                Observed::Found(s) => s.target_group_for(record.spec.endpoint_port()),
                _ => None,
            };
            match self.router.point(name, &host, target, group).await {
                Ok(()) => info!(%host, to = %target.describe(), "route pointed"),
                Err(e) => {
                    warn!(%host, error = %e, "pointing the route failed; nothing else done");
                    fail(&mut report, codes, &e.to_string(), e.code());
                    report.reason = d.reason.clone();
                    let policy = error_policy(
                        Some(&d),
                        Failed::Route {
                            previous: prev,
                            now,
                        },
                        &e.to_string(),
                    );
                    report.requeue = policy.requeue;
                    if let Some(status) = &policy.publish {
                        let version = record.metadata.status_version;
                        self.publish_if_changed(name, prev, version, status, &mut report, codes)
                            .await;
                    }
                    return report;
                }
            }
        }
        let mut requeue = d.requeue;
        let version = record.metadata.status_version;
        let published = match (d.replicas, current) {
            (Some(to), Some(from)) if to < from => {
                // Commit the decision first: a wake landing in between wins.
                let guard = StatusGuard::read(version).facts_unchanged(record.desired.clone());
                match self.store.publish_status(name, &d.status, guard).await {
                    Ok(()) => {
                        report.published = true;
                        match self.platform.scale(&record.spec.target, to).await {
                            Ok(()) => {
                                info!(from, to, reason = %d.reason, "scaled down");
                                report.scaled = Some((from, to));
                                Published::Written
                            }
                            Err(e) => {
                                warn!(from, to, error = %e, "scale-down failed");
                                fail(&mut report, codes, &e.to_string(), e.code());
                                report.published = false;
                                let policy =
                                    error_policy(Some(&d), Failed::Scale { from }, &e.to_string());
                                requeue = policy.requeue;
                                // The commit above wrote version + 1.
                                match policy.publish {
                                    Some(status) => {
                                        self.publish(name, version + 1, &status, &mut report, codes)
                                            .await
                                    }
                                    None => Published::Failed,
                                }
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
                            && let again = redecide(
                                &fresh,
                                observed,
                                &d,
                                input,
                                now,
                                self.options.runner_period,
                            )
                            && again.replicas.is_none_or(|again| again >= from)
                        {
                            let again = self.reconcile_observed(
                                &fresh,
                                observed,
                                Decided {
                                    decision: again,
                                    input,
                                },
                                now,
                                codes,
                                redecides - 1,
                            );
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
                    Err(store::Error::StatusChanged { .. }) => {
                        info!("status changed since it was read; scale-down skipped");
                        report.stale();
                        return report;
                    }
                    Err(e) => {
                        warn!(error = %e, "committing the scale-down failed; not scaling down");
                        fail(&mut report, codes, &e.to_string(), e.code());
                        report.reason = d.reason.clone();
                        report.requeue =
                            error_policy(Some(&d), Failed::Commit, &e.to_string()).requeue;
                        return report;
                    }
                }
            }
            (Some(to), Some(from)) if to > from => {
                let status = match self.platform.scale(&record.spec.target, to).await {
                    Ok(()) => {
                        info!(from, to, reason = %d.reason, "scaled up");
                        report.scaled = Some((from, to));
                        d.status.clone()
                    }
                    Err(e) => {
                        warn!(from, to, error = %e, "scale-up failed");
                        fail(&mut report, codes, &e.to_string(), e.code());
                        let policy = error_policy(Some(&d), Failed::Scale { from }, &e.to_string());
                        requeue = policy.requeue;
                        policy.publish.unwrap_or_else(|| d.status.clone())
                    }
                };
                self.publish_if_changed(name, prev, version, &status, &mut report, codes)
                    .await
            }
            // A failed observation publishes nothing: the status it would write is the last one
            // read plus a message, and an overlapping pass may have published a newer one.
            _ if unobserved => Published::Unchanged,
            _ => {
                self.publish_if_changed(name, prev, version, &d.status, &mut report, codes)
                    .await
            }
        };
        report.settle(&d, published == Published::Deleted);
        report.requeue = requeue;
        if published == Published::Stale {
            report.stale();
            return report;
        }
        if report.error.is_none() && report.changed() {
            info!(from = ?report.before, to = %d.status.phase, reason = %d.reason, "phase changed");
        }
        report
    }

    /// Counts the ledger of an observed record into the decided status ([`ledger::count`]):
    /// first looks up by ARN, in one call, the tracked tasks the observation no longer lists
    /// (a failed lookup keeps them open until the next pass). The new ledger goes into
    /// `d.status` when the status changes anyway, when [`ledger::needs_write`] says it is
    /// worth a write of its own, or while a counted task is being stopped
    /// ([`ledger::stop_under_way`]); otherwise the decided status keeps the stored ledger, so a
    /// steady record costs no write (the next count starts from the stored `countedUntil`, so
    /// nothing is lost).
    async fn count_ledger(
        &self,
        record: &Record,
        service: &crate::platform::ServiceObservation,
        d: &mut Decision,
        now: Timestamp,
    ) {
        let prev = record.status.as_ref();
        let default = crate::model::ledger::Ledger::default();
        let stored = prev.map_or(&default, |s| &s.ledger);
        let ask = ledger::to_describe(stored, service);
        let described = if ask.is_empty() {
            Some(Vec::new())
        } else {
            match self
                .platform
                .describe_tasks(&record.spec.target, &ask)
                .await
            {
                Ok(found) => Some(found),
                Err(e) => {
                    warn!(error = %e, tasks = ask.len(), "looking up tasks for the ledger failed; counted next pass");
                    None
                }
            }
        };
        let wake = (d.status.phase == Phase::Ready)
            .then_some(d.status.last_wake.as_ref())
            .flatten()
            .filter(|w| prev.and_then(|p| p.last_wake.as_ref()) != Some(*w));
        let ecs = matches!(record.spec.target, crate::model::Target::Ecs(_));
        // Local targets are never priced, and Fargate's minimum does not apply to them.
        let rates = if ecs { self.prices.as_deref() } else { None };
        let input = LedgerInput {
            always_on_replicas: ledger::always_on_replicas(&record.spec),
            always_on_public_ip: record.spec.endpoint.address == crate::model::AddressKind::Public,
            service,
            described: described.as_deref(),
            rates,
            wake,
            minimum: ecs,
        };
        let next = ledger::count(&d.status.ledger, &input, now);
        // A budgeted record's money is written every pass it changes: the budget guardrail
        // reads the stored ledger, which would otherwise lag up to the hourly flush.
        let budgeted = record.spec.budget.is_some() && ledger::money_changed(stored, &next);
        if prev != Some(&d.status)
            || ledger::needs_write(stored, &next, now)
            || ledger::stop_under_way(stored, service)
            || budgeted
        {
            d.status.ledger = next;
        }
    }

    /// Publishes `status` when it differs from `prev` (else [`Published::Unchanged`]).
    async fn publish_if_changed(
        &self,
        name: &str,
        prev: Option<&Status>,
        status_version: u64,
        status: &Status,
        report: &mut RecordReport,
        codes: &mut Vec<String>,
    ) -> Published {
        if prev == Some(status) {
            return Published::Unchanged;
        }
        self.publish(name, status_version, status, report, codes)
            .await
    }

    /// Publishes with [`StatusGuard::read`]`(status_version)`: only over the status this pass
    /// read. A failure is reported ([`Failed::Publish`]: the decided requeue stands); a newer
    /// status found is [`Published::Stale`] (not a failure: the record is looked at again).
    async fn publish(
        &self,
        name: &str,
        status_version: u64,
        status: &Status,
        report: &mut RecordReport,
        codes: &mut Vec<String>,
    ) -> Published {
        match self
            .store
            .publish_status(name, status, StatusGuard::read(status_version))
            .await
        {
            Ok(()) => {
                report.published = true;
                report.message = Some(status.message.clone());
                Published::Written
            }
            Err(store::Error::NotFound(_)) => {
                info!("record deleted during the pass; status not written");
                Published::Deleted
            }
            Err(store::Error::StatusChanged { .. }) => {
                info!("status changed since it was read (an overlapping pass?); not written");
                Published::Stale
            }
            Err(e) => {
                warn!(error = %e, "publishing status failed");
                fail(report, codes, &e.to_string(), e.code());
                Published::Failed
            }
        }
    }
}

/// A record's decision, made with the rest of the pass ([`group::decide_all`]), and the
/// group input it was made with (to decide again with after a landed wake).
struct Decided<'a> {
    decision: Decision,
    input: &'a GroupInput,
}

/// The decision for `fresh` (the record read again after a wake or activity landed), with the
/// same group input and observation as `first`, and `first`'s group members and ETA (which
/// the record's own facts do not change).
fn redecide(
    fresh: &Record,
    observed: &Observed,
    first: &Decision,
    input: &GroupInput,
    now: Timestamp,
    runner_period: Duration,
) -> Decision {
    let mut again = decide_in_group(fresh, observed, now, runner_period, input);
    if let (Some(g), Some(was)) = (again.status.group.as_mut(), first.status.group.as_ref()) {
        g.members = was.members.clone();
        g.ready_by = was.ready_by;
    }
    again
}

/// What a status write came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Published {
    /// Written.
    Written,
    /// Not needed: the status is the stored one.
    Unchanged,
    /// The record was deleted meanwhile.
    Deleted,
    /// Another writer published a status since this pass read the record (compare-and-swap on
    /// `statusVersion`): nothing written; decide again from a fresh read.
    Stale,
    /// The write failed (reported).
    Failed,
}

/// Requeue after this long when the status changed since the pass read it.
const STALE_REQUEUE: Duration = Duration::from_secs(1);

impl RecordReport {
    /// The record's status changed since this pass read it (an overlapping pass published):
    /// nothing more is done; look again in [`STALE_REQUEUE`] from a fresh read.
    fn stale(&mut self) {
        self.published = false;
        self.reason = "status changed since read; requeued".into();
        self.requeue = Requeue::After(STALE_REQUEUE);
        self.transitional = true;
    }

    /// Fills the report from the decision acted on (`deleted`: the record vanished meanwhile).
    fn settle(&mut self, d: &Decision, deleted: bool) {
        self.after = if deleted { None } else { Some(d.status.phase) };
        self.phase_since = d.status.phase_since;
        // The message of what was written when a policy wrote another status than the
        // decided one (a failed scale: `scaling failed: ...`), else the decided one.
        if self.message.is_none() {
            self.message = Some(d.status.message.clone());
        }
        self.reason = d.reason.clone();
        self.requeue = d.requeue;
        self.transitional = d.is_transitional();
    }
}

/// Adds `codes` to the counts in `into` ([`SettleReport::error_codes`]).
pub(crate) fn tally(into: &mut BTreeMap<String, u64>, codes: Vec<String>) {
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

/// The span every reconcile of one record runs in: `reconcile{service=<name>, trigger=<why>}`,
/// whatever happens to the record (observed, invalid, deferred, deleted or unreadable).
fn record_span(name: &str, trigger: Reason) -> tracing::Span {
    info_span!("reconcile", service = %name, trigger = %trigger)
}

fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Names(n) if n.len() <= 3 => n.join(","),
        Scope::Names(n) => format!("{} records", n.len()),
    }
}
