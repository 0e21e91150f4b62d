//! The reconciler Lambda's handler: one function for the three payloads it is invoked with.
//!
//! | payload                        | pass over                                   | answer                  |
//! |--------------------------------|---------------------------------------------|-------------------------|
//! | EventBridge scheduled event    | every record                                | summary JSON            |
//! | DynamoDB stream batch          | the records named by the keys (re-read)     | `batchItemFailures`     |
//! | EventBridge ECS task change    | the record whose service owns the task      | summary JSON            |
//! | anything else                  | nothing (logged)                            | `{"ignored": reason}`   |
//!
//! The one invocation error: an ECS task event whose owning record cannot be looked up (the
//! store cannot be listed). Lambda then retries the asynchronous event and finally sends it to
//! the function's dead-letter queue; reconcile failures inside a pass are never invocation
//! errors, they are counted in the `Errors` metric ([`crate::metrics`]).
//!
//! Within one invocation requeues of transitional records are honoured up to a time budget
//! ([`Config::budget`]), so a wake reaches Ready without waiting for the next schedule.
//! Decisions come from freshly read state, so duplicate, late or overlapping invocations
//! change nothing ([`snooze::reconcile`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt;
use serde_json::{Value, json};
use snooze::model::{Entry, Phase, Target, Timestamp};
use snooze::reconcile::events::EventSink;
use snooze::reconcile::{Reason, Reconciler, Runtime, Scope, SettleReport, Why};
use tracing::{info, warn};

use crate::metrics::Emf;
use crate::trigger::{ChangeKind, StreamChange, TaskChange, Trigger};

pub use crate::config::Config;

/// Reads AWS call counters (operation name → calls since start): the ECS/EC2 platform's
/// (`EcsPlatform::calls`) and the DynamoDB store's (`snooze::aws_calls::CallCounter`) together.
pub type CallCounter = Arc<dyn Fn() -> BTreeMap<String, u64> + Send + Sync>;

/// Everything the handler needs, built once per cold start (STYLE.md §4).
#[derive(Clone)]
pub struct App {
    /// Runs the passes.
    pub reconciler: Reconciler,
    /// Requeue budget per invocation ([`Config::budget`]).
    pub budget: Duration,
    /// Metric dimension `Function`.
    pub function: String,
    /// Period of the schedule that invokes the full pass ([`Config::schedule_period`]): the
    /// scheduled event whose time falls within this much after 00:00 UTC emits the daily
    /// `SavedDollarsThisMonth` ([`crate::metrics`]).
    pub schedule_period: Duration,
    /// AWS call counters of the platform: logged after every invocation that ran a pass, and
    /// the `AwsCalls` metric of an invocation whose passes had failures.
    pub calls: Option<CallCounter>,
    /// Where EMF lines go: stdout in Lambda, a buffer in tests.
    pub emit: Arc<dyn Fn(String) + Send + Sync>,
    /// Where the passes' phase changes go ([`snooze::reconcile::events`]): the EventBridge
    /// bus of [`Config::event_bus`], or [`snooze::reconcile::events::NoEvents`]. A lost event
    /// is counted as an error of code `EventNotPublished`.
    pub events: Arc<dyn EventSink>,
}

impl App {
    /// The reconcile runtime for one invocation: [`Runtime::settle`] honours requeues within
    /// the invocation's budget (the schedule is the resync), and publishes each pass's events.
    pub fn runtime(&self) -> Runtime {
        Runtime::new(self.reconciler.clone()).with_events(self.events.clone())
    }
}

/// Handles one invocation. `deadline_ms` is the invocation's deadline (Unix epoch ms), used to
/// cap the requeue budget so the function never times out mid-pass.
///
/// Never returns an error for a payload it does not understand (that would make Lambda retry it
/// forever); stream records that failed for a transient reason are reported in
/// `batchItemFailures` so only they are retried. A stream record that cannot be read does not
/// drop the rest of its batch: it is reconciled by its key when the key can be read, else logged
/// and skipped (never retried: the same bytes come back; see [`Trigger::classify`]).
///
/// Errors: only for an ECS task state change when the records cannot be listed (the store's
/// error), so that Lambda retries the event and then puts it in the dead-letter queue instead of
/// dropping it silently.
pub async fn handle(
    app: &App,
    payload: Value,
    deadline_ms: Option<i64>,
) -> Result<Value, snooze::store::Error> {
    let budget = capped_budget(app.budget, deadline_ms);
    let calls_before = app.calls.as_ref().map(|c| c());
    let trigger = Trigger::classify(&payload);
    let mut daily = None;
    let (answer, settle, full) = match trigger {
        Trigger::Schedule => {
            info!("scheduled event: full pass");
            daily = first_of_the_day(app, &payload);
            let settle = app
                .runtime()
                .settle(Scope::All, Reason::Schedule, budget)
                .await;
            let answer = json!({"trigger": "schedule", "records": first_len(&settle), "settled": settle.settled});
            (answer, Some(settle), true)
        }
        Trigger::Stream(changes) => {
            let (answer, settle) = stream(app, &changes, budget).await;
            (answer, settle, false)
        }
        Trigger::TaskStateChange(task) => {
            let (answer, settle) = task_change(app, &task, budget).await?;
            (answer, settle, false)
        }
        Trigger::Unknown(what) => {
            warn!(payload = %truncate(&payload.to_string(), 500), "ignoring {what}");
            (json!({"ignored": what}), None, false)
        }
    };
    if let Some(settle) = &settle {
        emit_metrics(app, settle, full, calls_before).await;
    }
    if let Some(at) = daily {
        emit_savings(app, at).await;
    }
    Ok(answer)
}

/// `Some(now)` when this scheduled event is the day's first: its time (the event's `time`, the
/// time EventBridge scheduled it, else the clock) is less than one schedule period after 00:00
/// UTC. One event per period arrives, so exactly one per day qualifies; Lambda's retry of the
/// same event carries the same time and emits the same figure again (same hour, same cost).
fn first_of_the_day(app: &App, payload: &Value) -> Option<Timestamp> {
    let now = app.reconciler.clock.now();
    let at = payload
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let since_midnight = at.as_millis().rem_euclid(86_400_000);
    let period = i64::try_from(app.schedule_period.as_millis()).unwrap_or(i64::MAX);
    (since_midnight < period.max(1)).then_some(now)
}

fn capped_budget(budget: Duration, deadline_ms: Option<i64>) -> Duration {
    let Some(deadline) = deadline_ms else {
        return budget;
    };
    let left = deadline - chrono::Utc::now().timestamp_millis() - 10_000;
    budget.min(Duration::from_millis(left.max(0) as u64))
}

fn first_len(s: &SettleReport) -> usize {
    s.passes.first().map_or(0, |p| p.records.len())
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The last report of `name` across the passes: its error decides retry.
fn last_error<'a>(settle: &'a SettleReport, name: &str) -> Option<&'a str> {
    settle
        .passes
        .iter()
        .rev()
        .find_map(|p| p.record(name))
        .and_then(|r| r.error.as_deref())
}

async fn stream(
    app: &App,
    changes: &[StreamChange],
    budget: Duration,
) -> (Value, Option<SettleReport>) {
    let mut names = BTreeSet::new();
    let mut unreadable = 0u32;
    for change in changes {
        match &change.kind {
            ChangeKind::Reconcile(name) => {
                names.insert(name.clone());
            }
            ChangeKind::OwnStatusWrite(_) => {}
            ChangeKind::Deleted(name) => {
                info!(service = %name, "record deleted by an operator; its service is no longer managed and is left as it is")
            }
            ChangeKind::ExpiredByTtl(name) => {
                info!(service = %name, "record expired by TTL; its service is no longer managed and is left as it is")
            }
            // Skipped, not reported in `batchItemFailures`: a retry delivers the same bytes and
            // cannot succeed, it would only hold up the shard until the retries run out. The
            // schedule's full pass reconciles every record anyway.
            ChangeKind::Unreadable(why) => {
                unreadable += 1;
                warn!(sequence = %change.sequence_number, "skipping stream record: {why}");
            }
        }
    }
    if unreadable > 0 {
        let function = [("Function", app.function.as_str())];
        (app.emit)(
            Emf::new(chrono::Utc::now().timestamp_millis(), &function)
                .metric("UnreadableStreamRecords", "Count", f64::from(unreadable))
                .to_line(),
        );
    }
    if names.is_empty() {
        return (
            serde_json::to_value(DynamoDbEventResponse::default()).unwrap_or_default(),
            None,
        );
    }
    info!(
        records = names.len(),
        "stream batch: pass over named records"
    );
    let settle = app
        .runtime()
        .settle(
            Scope::Names(names.iter().cloned().collect()),
            Reason::Stream,
            budget,
        )
        .await;
    let pass_failed = settle.passes.first().and_then(|p| p.error.clone());
    let mut response = DynamoDbEventResponse::default();
    for change in changes {
        let ChangeKind::Reconcile(name) = &change.kind else {
            continue;
        };
        let error = pass_failed.as_deref().or_else(|| last_error(&settle, name));
        if let Some(error) = error {
            warn!(service = %name, sequence = %change.sequence_number, error, "stream record failed; reported for retry");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(change.sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
    }
    (
        serde_json::to_value(response).unwrap_or_default(),
        Some(settle),
    )
}

async fn task_change(
    app: &App,
    task: &TaskChange,
    budget: Duration,
) -> Result<(Value, Option<SettleReport>), snooze::store::Error> {
    info!(cluster = %task.cluster_name(), service = %task.service, task = %task.task_arn, last_status = %task.last_status, "ECS task state change");
    // The records of this service as the last full pass listed them (two schedule periods
    // old at most), else the table read page by page, keeping only the matching names.
    let known = app.reconciler.records_of_service(
        &task.cluster_arn,
        task.cluster_name(),
        &task.service,
        app.schedule_period * 2,
    );
    let names = match known {
        Some(names) => names,
        None => match records_managing(app, task).await {
            Ok(names) => names,
            Err(e) => {
                // An invocation error: Lambda retries the asynchronous event
                // (`maximum_retry_attempts` of the function's event invoke config), then sends
                // it to the dead-letter queue, where the failures alarm sees it. The schedule
                // catches up either way.
                warn!(error = %e, "listing records failed; the event is failed for a retry");
                return Err(e);
            }
        },
    };
    if names.is_empty() {
        info!(service = %task.service, "no record manages this service; ignored");
        return Ok((json!({"trigger": "ecs-task", "records": []}), None));
    }
    let settle = app
        .runtime()
        .settle(Scope::Names(names.clone()), Reason::TaskEvent, budget)
        .await;
    Ok((
        json!({"trigger": "ecs-task", "records": names, "settled": settle.settled}),
        Some(settle),
    ))
}

/// The names of the records whose `spec.target.ecs` is `task`'s service, from the table read
/// page by page ([`snooze::store::pages`]; only the names are kept).
async fn records_managing(
    app: &App,
    task: &TaskChange,
) -> Result<Vec<String>, snooze::store::Error> {
    let mut names = Vec::new();
    let mut pages = std::pin::pin!(snooze::store::pages(app.reconciler.store.as_ref(), "list"));
    while let Some(page) = pages.next().await {
        names.extend(page?.into_iter().filter_map(|e| match e {
            Entry::Record(r) => match &r.spec.target {
                Target::Ecs(t) if task.matches(&t.cluster, &t.service) => Some(r.metadata.name),
                _ => None,
            },
            Entry::Malformed(_) => None,
        }));
    }
    names.sort();
    Ok(names)
}

/// The metrics of one invocation that ran a pass ([`crate::metrics`]): only what happened. A
/// quiet pass (no failure, no completed wake, no guardrail) emits none; what it did goes to the
/// log line `invocation done` (records, Waking records and the oldest one's age on a full pass,
/// AWS calls by operation).
async fn emit_metrics(
    app: &App,
    settle: &SettleReport,
    full: bool,
    calls_before: Option<BTreeMap<String, u64>>,
) {
    let now = app.reconciler.clock.now().as_millis();
    let emit = |line: String| (app.emit)(line);
    let function = [("Function", app.function.as_str())];
    let calls: BTreeMap<String, u64> = match (&app.calls, calls_before) {
        (Some(counter), Some(before)) => counter()
            .into_iter()
            .map(|(op, n)| {
                let delta = n.saturating_sub(before.get(&op).copied().unwrap_or(0));
                (op, delta)
            })
            .filter(|(_, n)| *n > 0)
            .collect(),
        _ => BTreeMap::new(),
    };
    let duration_ms: f64 = settle
        .passes
        .iter()
        .map(|p| p.duration.as_secs_f64() * 1000.0)
        .sum();
    let errors_total: u64 = settle.error_codes.values().sum();
    if full {
        let waking = settle.passes.last().map_or(0, |p| {
            p.records
                .iter()
                .filter(|r| r.after == Some(Phase::Waking))
                .count()
        });
        let oldest = oldest_waking_seconds(settle, app.reconciler.clock.now());
        info!(records = first_len(settle), duration_ms, errors = errors_total, waking, oldest_waking_seconds = oldest, aws_calls = ?calls, "invocation done");
    } else {
        info!(records = first_len(settle), duration_ms, errors = errors_total, aws_calls = ?calls, "invocation done");
    }

    // Failures: the total (the reconcile-errors alarm), by code, and the calls that were made.
    if errors_total > 0 {
        emit(
            Emf::new(now, &function)
                .metric("Errors", "Count", errors_total as f64)
                .to_line(),
        );
        for (code, n) in &settle.error_codes {
            emit(
                Emf::new(now, &[("Code", code.as_str())])
                    .metric("Errors", "Count", *n as f64)
                    .to_line(),
            );
        }
        for (op, n) in &calls {
            emit(
                Emf::new(now, &[("Operation", op.as_str())])
                    .metric("AwsCalls", "Count", *n as f64)
                    .to_line(),
            );
        }
    }

    // Wake-to-ready for records that became Ready in this invocation: one metric for all
    // services, the service named in the line (Logs Insights groups by it).
    let became_ready: BTreeSet<&str> = settle
        .passes
        .iter()
        .flat_map(|p| p.records.iter())
        .filter(|r| r.before != Some(Phase::Ready) && r.after == Some(Phase::Ready))
        .map(|r| r.name.as_str())
        .collect();
    for name in became_ready {
        if let Ok(Some(Entry::Record(r))) = app.reconciler.store.get(name).await
            && let Some(w) = r.status.as_ref().and_then(|s| s.last_wake.as_ref())
        {
            emit(
                Emf::new(now, &function)
                    .metric("WakeToReady", "Seconds", w.seconds)
                    .property("Service", Value::String(name.to_string()))
                    .to_line(),
            );
        }
    }

    // Guardrail hits, one per record and guardrail in the invocation.
    for (guardrail, services) in guardrail_hits(settle, full) {
        emit(
            Emf::new(now, &[("Guardrail", guardrail)])
                .metric("GuardrailHits", "Count", services.len() as f64)
                .property("Services", json!(services))
                .to_line(),
        );
    }
}

/// The guardrails ([`Why::MaxAwake`] as `maxAwake`, [`Why::OverBudget`] as `budget`) that
/// decided a record in this invocation, with the records they decided, when that was an event:
/// the record's phase changed for it (a stretch cut at `maxAwake`, a service put to sleep over
/// budget), or, in an invocation that is not the schedule's full pass (a stream event: a wake
/// request), it held a record asleep (a wake refused over budget). A record held asleep by its
/// budget on every scheduled pass is not a new hit each minute.
fn guardrail_hits(settle: &SettleReport, full: bool) -> BTreeMap<&'static str, Vec<&str>> {
    let mut hits: BTreeMap<&'static str, BTreeSet<&str>> = BTreeMap::new();
    for r in settle.passes.iter().flat_map(|p| p.records.iter()) {
        if full && !r.changed() {
            continue;
        }
        for (why, name) in [(Why::MaxAwake, "maxAwake"), (Why::OverBudget, "budget")] {
            if r.reason.contains(why.as_str()) {
                hits.entry(name).or_default().insert(r.name.as_str());
            }
        }
    }
    hits.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// The daily `SavedDollarsThisMonth`: what every record's ledger saved (`status.ledger`,
/// [`snooze::model::ledger::LedgerMonth::saved`]) in the month the previous UTC day falls in,
/// summed over the records that have a price (local targets have none). One read of the table
/// a day (the day's first scheduled pass, [`first_of_the_day`]); a failed read logs and emits
/// nothing.
async fn emit_savings(app: &App, now: Timestamp) {
    let yesterday = Timestamp::from_millis(now.as_millis() - 86_400_000);
    let month = snooze::model::ledger::month_key(yesterday);
    // Page by page: only the sum is kept.
    let mut saved = 0.0;
    let mut pages = std::pin::pin!(snooze::store::pages(app.reconciler.store.as_ref(), "list"));
    while let Some(page) = pages.next().await {
        match page {
            Ok(entries) => {
                saved += entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Record(r) => r.status.as_ref()?.ledger.month(&month)?.saved(),
                        Entry::Malformed(_) => None,
                    })
                    .sum::<f64>();
            }
            Err(e) => {
                warn!(error = %e, "listing records for the daily savings metric failed; not emitted today");
                return;
            }
        }
    }
    info!(month = %month, saved, "daily savings");
    (app.emit)(
        Emf::new(now.as_millis(), &[("Function", app.function.as_str())])
            .metric(SAVED_METRIC, "None", saved)
            .property("Month", Value::String(month))
            .to_line(),
    );
}

/// The daily savings metric's name.
const SAVED_METRIC: &str = "SavedDollarsThisMonth";

/// The age in seconds at `now` of the oldest record in phase Waking after the invocation's
/// passes (`status.phaseSince` as each record's last pass left it, see
/// [`snooze::reconcile::RecordReport::phase_since`]); 0 when no record is Waking. No extra
/// read: a full pass reports every record.
fn oldest_waking_seconds(settle: &SettleReport, now: Timestamp) -> f64 {
    let mut last: BTreeMap<&str, &snooze::reconcile::RecordReport> = BTreeMap::new();
    for r in settle.passes.iter().flat_map(|p| p.records.iter()) {
        last.insert(r.name.as_str(), r);
    }
    last.values()
        .filter(|r| r.after == Some(Phase::Waking))
        .map(|r| {
            r.phase_since
                .map_or(0.0, |since| now.since(since).as_secs_f64())
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use snooze::reconcile::{PassReport, RecordReport, Requeue};

    fn report(name: &str, before: Phase, after: Phase, reason: &str) -> RecordReport {
        RecordReport {
            name: name.into(),
            before: Some(before),
            after: Some(after),
            reason: reason.into(),
            requeue: Requeue::AwaitChange,
            transitional: false,
            scaled: None,
            published: true,
            error: None,
            redecided: false,
            phase_since: None,
            message: None,
            target: None,
            quiet: false,
        }
    }

    fn settle(passes: Vec<Vec<RecordReport>>) -> SettleReport {
        SettleReport {
            passes: passes
                .into_iter()
                .map(|records| PassReport {
                    started_at: Timestamp::from_millis(0),
                    duration: Duration::ZERO,
                    records,
                    error: None,
                    quiet: 0,
                    resync_period: None,
                })
                .collect(),
            reasons: Vec::new(),
            settled: true,
            pending: Vec::new(),
            error_codes: BTreeMap::new(),
        }
    }

    #[test]
    fn guardrail_hits_are_events_not_states() {
        let max = Why::MaxAwake.as_str();
        let budget = Why::OverBudget.as_str();
        // A stretch cut at maxAwake (Ready -> Sleeping), seen again in a requeue pass: one hit.
        // A record held asleep by its budget on a scheduled pass: no hit (a state, every minute).
        let s = settle(vec![
            vec![
                report("a", Phase::Ready, Phase::Sleeping, max),
                report("b", Phase::Asleep, Phase::Asleep, budget),
                report("c", Phase::Ready, Phase::Ready, "activity"),
            ],
            vec![report("a", Phase::Sleeping, Phase::Asleep, max)],
        ]);
        let hits = guardrail_hits(&s, true);
        assert_eq!(hits, BTreeMap::from([("maxAwake", vec!["a"])]));
        // The same budget decision in a stream invocation (a wake request): a wake refused.
        let hits = guardrail_hits(&s, false);
        assert_eq!(
            hits,
            BTreeMap::from([("budget", vec!["b"]), ("maxAwake", vec!["a"])])
        );
        // A service put to sleep because its month's cost reached the budget: a hit anywhere.
        let s = settle(vec![vec![report(
            "d",
            Phase::Ready,
            Phase::Sleeping,
            budget,
        )]]);
        assert_eq!(
            guardrail_hits(&s, true),
            BTreeMap::from([("budget", vec!["d"])])
        );
    }

    #[test]
    fn oldest_waking_age_comes_from_the_last_report_of_each_record() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut a = report("a", Phase::Asleep, Phase::Waking, "wake requested");
        a.phase_since = Some(at("2026-11-29T10:00:00Z"));
        let mut b = report("b", Phase::Asleep, Phase::Waking, "wake requested");
        b.phase_since = Some(at("2026-11-29T10:00:40Z"));
        let mut a_ready = report("a", Phase::Waking, Phase::Ready, "task started");
        a_ready.phase_since = Some(at("2026-11-29T10:01:00Z"));
        let now = at("2026-11-29T10:02:00Z");
        assert_eq!(
            oldest_waking_seconds(&settle(vec![vec![a.clone(), b.clone()]]), now),
            120.0
        );
        // a became Ready in a later pass: b is the oldest Waking one.
        assert_eq!(
            oldest_waking_seconds(&settle(vec![vec![a, b], vec![a_ready]]), now),
            80.0
        );
        assert_eq!(oldest_waking_seconds(&settle(vec![]), now), 0.0);
    }

    #[test]
    fn budget_is_capped_by_the_deadline() {
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(
            capped_budget(Duration::from_secs(60), None),
            Duration::from_secs(60)
        );
        assert!(
            capped_budget(Duration::from_secs(60), Some(now + 30_000)) <= Duration::from_secs(20)
        );
        assert_eq!(
            capped_budget(Duration::from_secs(60), Some(now)),
            Duration::ZERO
        );
    }
}
