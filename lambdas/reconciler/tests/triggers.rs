//! The reconciler Lambda's handler driven by each trigger payload (JSON fixtures), against
//! DynamoDB served by moto (`MOTO_ENDPOINT`, started by `scripts/test`, or one this test binary
//! starts: [`snooze_test_support::moto_endpoint`]) and the `sim` platform.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use snooze::clock::SimClock;
use snooze::model::ledger::LedgerMonth;
use snooze::model::{Entry, Phase, Record, Status, Target};
use snooze::platform::sim::{Fault, Op, RetryConfig, SimConfig, SimPlatform};
use snooze::platform::{self, Observed, Platform};
use snooze::reconcile::events::MemorySink;
use snooze::reconcile::{Reconciler, StaticProber};
use snooze::store::dynamodb::DynamoStore;
use snooze::store::{ConnectOptions, StatusGuard, Store, dynamo_client};
use snooze_reconciler::handler::{App, handle};
use snooze_test_support::{moto_endpoint, unique};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
}

/// The sim platform, except that targets in cluster `broken` fail to be observed.
struct PartlyBroken(Arc<SimPlatform>);

#[async_trait]
impl Platform for PartlyBroken {
    async fn observe(&self, targets: &[Target]) -> platform::Result<Vec<Observed>> {
        let mut out = self.0.observe(targets).await?;
        for (t, o) in targets.iter().zip(out.iter_mut()) {
            if matches!(t, Target::Ecs(e) if e.cluster == "broken") {
                *o = Observed::Error(platform::Error::Call {
                    operation: "DescribeServices",
                    code: "ServerException".into(),
                    message: "injected".into(),
                    retryable: true,
                });
            }
        }
        Ok(out)
    }
    async fn scale(&self, target: &Target, replicas: u32) -> platform::Result<()> {
        self.0.scale(target, replicas).await
    }
}

struct Harness {
    app: App,
    store: Arc<dyn Store>,
    sim: Arc<SimPlatform>,
    clock: Arc<SimClock>,
    lines: Arc<Mutex<Vec<String>>>,
    /// The events the app published.
    events: Arc<MemorySink>,
}

async fn harness(table: &str) -> Harness {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto_endpoint().to_owned()),
    };
    let store_calls = snooze::aws_calls::CallCounter::new();
    let dynamo = DynamoStore::counted(table, &opts, &store_calls).await;
    dynamo.create_table().await.expect("create table on moto");
    let store: Arc<dyn Store> = Arc::new(dynamo);
    let clock = SimClock::new("2026-11-29T10:00:00.000Z".parse().unwrap());
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    for (cluster, service) in [
        ("demo-cluster", "demo-svc"),
        ("demo-cluster", "other-svc"),
        ("broken", "broken-svc"),
    ] {
        sim.add_service(cluster, service);
    }
    for (name, cluster, service) in [
        ("demo", "demo-cluster", "demo-svc"),
        ("other", "demo-cluster", "other-svc"),
        ("broken", "broken", "broken-svc"),
    ] {
        let mut r = Record::test(name);
        r.spec.target = Target::Ecs(snooze::model::EcsTarget {
            cluster: cluster.into(),
            service: service.into(),
        });
        store.apply(&r, None).await.expect("apply");
    }
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let counted = sim.clone();
    let events = Arc::new(MemorySink::new());
    let app = App {
        reconciler: Reconciler::new(
            store.clone(),
            Arc::new(PartlyBroken(sim.clone())),
            Arc::new(StaticProber::new()),
            clock.clone(),
        ),
        budget: Duration::from_secs(120),
        function: "test-reconciler".into(),
        schedule_period: Duration::from_secs(60),
        calls: Some(Arc::new(move || {
            let mut all = store_calls.snapshot();
            all.extend(
                counted
                    .counters()
                    .into_iter()
                    .map(|(op, c)| (op.as_str().to_string(), c.attempts)),
            );
            all
        })),
        emit: Arc::new(move |l| sink.lock().unwrap().push(l)),
        events: events.clone(),
    };
    Harness {
        app,
        store,
        sim,
        clock,
        lines,
        events,
    }
}

impl Harness {
    /// Records a wake request for `name` now (the harness's clock), as the wake endpoint does.
    async fn wake(&self, name: &str) {
        self.store
            .record_wake(name, self.clock.now(), Duration::ZERO)
            .await
            .unwrap();
    }
}

async fn phase(store: &Arc<dyn Store>, name: &str) -> Option<Phase> {
    match store.get(name).await.unwrap() {
        Some(Entry::Record(r)) => r.status.map(|s| s.phase),
        _ => None,
    }
}

#[tokio::test]
async fn scheduled_event_reconciles_every_record_and_emits_metrics_of_its_failures() {
    let h = harness(&unique("sched")).await;
    let out = handle(&h.app, fixture("schedule.json"), None)
        .await
        .unwrap();
    assert_eq!(out["trigger"], "schedule");
    assert_eq!(out["records"], 3);
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    assert_eq!(phase(&h.store, "other").await, Some(Phase::Asleep));
    let lines = h.lines.lock().unwrap().clone();
    let docs = docs(&h);
    // The broken record's failure, counted without a Code dimension for the errors alarm.
    let total: Vec<&Value> = docs
        .iter()
        .filter(|d| d.get("Errors").is_some() && d.get("Function").is_some())
        .collect();
    assert_eq!(total.len(), 1, "{lines:?}");
    assert_eq!(total[0]["Function"], "test-reconciler");
    assert_eq!(total[0]["Errors"], 1.0);
    assert_eq!(
        errors_by_code(&docs),
        vec![("ServerException".to_string(), 1.0)]
    );
    // An invocation with failures also says which calls it made.
    assert!(
        docs.iter()
            .any(|d| d["Operation"] == "DescribeServices" && d["AwsCalls"].as_f64() >= Some(1.0)),
        "{lines:?}"
    );
    // DynamoDB calls are AWS calls too: the full pass scans the table.
    assert!(
        docs.iter()
            .any(|d| d["Operation"] == "Scan" && d["AwsCalls"].as_f64() >= Some(1.0)),
        "{lines:?}"
    );
    // Per-pass gauges are gone: Lambda's own metrics and the log line carry them.
    for gone in [
        "PassDuration",
        "RecordsReconciled",
        "WakingRecords",
        "OldestWakingSeconds",
    ] {
        assert!(
            docs.iter().all(|d| d.get(gone).is_none()),
            "{gone}: {lines:?}"
        );
    }
}

/// Issue 19: a scheduled pass where nothing happens (no failure, no wake completed, no
/// guardrail, not the day's first) emits no custom metric at all: each one emitted every minute
/// would cost $0.30 a month.
#[tokio::test]
async fn a_quiet_scheduled_pass_emits_no_metric() {
    let h = harness(&unique("quiet")).await;
    h.store.delete("broken", None).await.unwrap();
    for _ in 0..3 {
        handle(&h.app, fixture("schedule.json"), None)
            .await
            .unwrap();
        h.clock.advance(Duration::from_secs(60));
    }
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    let lines = h.lines.lock().unwrap().clone();
    assert!(lines.is_empty(), "{lines:?}");
}

/// Issue 19: the first scheduled event after 00:00 UTC (its `time`, within one schedule
/// period of midnight) emits `SavedDollarsThisMonth`, the sum of the records' ledgers for the
/// month of the previous day; every other scheduled event does not.
#[tokio::test]
async fn the_days_first_scheduled_pass_emits_the_months_savings_once() {
    let h = harness(&unique("saved")).await;
    h.store.delete("broken", None).await.unwrap();
    // Ledgers as the reconciler would have written them: demo saved $1.25 in November and
    // $9 in October, other $0.50 in November; a local-like month without money counts nothing.
    let ledgers = [
        ("demo", vec![("2026-10", 10.0, 1.0), ("2026-11", 2.0, 0.75)]),
        ("other", vec![("2026-11", 0.75, 0.25)]),
    ];
    for (name, months) in ledgers {
        let mut status = Status::default();
        for (month, always_on, cost) in months {
            status.ledger.months.push(LedgerMonth {
                month: month.into(),
                always_on_cost: Some(always_on),
                cost: Some(cost),
                ..LedgerMonth::default()
            });
        }
        h.store
            .publish_status(name, &status, StatusGuard::exists())
            .await
            .unwrap();
    }
    let at = |time: &str| {
        let mut event = fixture("schedule.json");
        event["time"] = json!(time);
        event
    };
    let saved = |h: &Harness| -> Vec<(f64, String)> {
        docs(h)
            .iter()
            .filter_map(|d| {
                Some((
                    d.get("SavedDollarsThisMonth")?.as_f64()?,
                    d["Month"].as_str()?.to_string(),
                ))
            })
            .collect()
    };
    // 00:00:00 on the 1st of December: November's total (1.25 + 0.50), once.
    h.clock.set("2026-12-01T00:00:02.000Z".parse().unwrap());
    for time in [
        "2026-12-01T00:00:00Z",
        "2026-12-01T00:01:00Z",
        "2026-12-01T12:00:00Z",
    ] {
        handle(&h.app, at(time), None).await.unwrap();
    }
    assert_eq!(saved(&h), vec![(1.75, "2026-11".to_string())]);
    let line = docs(&h)
        .into_iter()
        .find(|d| d.get("SavedDollarsThisMonth").is_some())
        .unwrap();
    assert_eq!(line["Function"], "test-reconciler");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]]),
        "one metric, no per-service dimension"
    );
    // A scheduled event 59 s after midnight is the day's first too (a 60 s schedule); the
    // next one, 60 s after, is not.
    h.lines.lock().unwrap().clear();
    handle(&h.app, at("2026-12-02T00:00:59Z"), None)
        .await
        .unwrap();
    handle(&h.app, at("2026-12-02T00:01:59Z"), None)
        .await
        .unwrap();
    assert_eq!(saved(&h).len(), 1);
}

/// Issue 19: completed wakes emit `WakeToReady` under one metric (dimension `Function`), the
/// record named in the line, not as a dimension (one metric per service would cost each).
/// The ledger through the Lambda, its records in DynamoDB (moto): a wake, ten minutes Ready,
/// then a sleep leave the task's billed seconds and their price in `status.ledger`, read back
/// as `snoozectl cost` reads them. The sim's task is docs/cost.md's demo task (0.25 vCPU,
/// 0.5 GB, arm64, a public IPv4 address): $0.014875 an hour in us-east-1.
#[tokio::test]
async fn a_wake_and_a_sleep_leave_priced_seconds_in_the_ledger_in_dynamodb() {
    let mut h = harness(&unique("ledger")).await;
    h.store.delete("broken", None).await.unwrap();
    let rates = snooze::reconcile::prices::PriceTable::builtin()
        .rates("us-east-1")
        .unwrap();
    h.app.reconciler = h.app.reconciler.clone().with_prices(rates);
    let scheduled = || fixture("schedule.json");
    handle(&h.app, scheduled(), None).await.unwrap();
    h.wake("demo").await;
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    h.clock.advance(Duration::from_secs(600));
    h.store.request_sleep("demo", h.clock.now()).await.unwrap();
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    for _ in 0..10 {
        if phase(&h.store, "demo").await == Some(Phase::Asleep) {
            break;
        }
        h.clock.advance(Duration::from_secs(10));
        handle(&h.app, scheduled(), None).await.unwrap();
    }
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    let ledger = status(&h.store, "demo").await.unwrap().ledger;
    assert!(ledger.tasks.iter().all(|t| t.stopped), "{ledger:?}");
    let seconds: f64 = ledger.months.iter().map(|m| m.task_seconds).sum();
    let cost: f64 = ledger.months.iter().filter_map(|m| m.cost).sum();
    // Ten minutes Ready plus the task's start and stop.
    assert!((600.0..700.0).contains(&seconds), "{ledger:?}");
    eprintln!("ledger on DynamoDB: {seconds} s billed, ${cost}");
    // The IPv4 charge from the moment the task's address is known (after provisioning).
    let (task, ipv4) = (0.25 * 0.03238 + 0.5 * 0.00356, 0.005);
    let (low, high) = (
        seconds * task / 3600.0 + (seconds - 60.0) * ipv4 / 3600.0,
        seconds * (task + ipv4) / 3600.0,
    );
    assert!(
        low - 1e-9 <= cost && cost <= high + 1e-9,
        "{low} <= {cost} <= {high} for {seconds} s: {ledger:?}"
    );
    let wakes: u32 = ledger.months.iter().map(|m| m.wakes).sum();
    assert_eq!(wakes, 1, "{ledger:?}");
}

#[tokio::test]
async fn a_completed_wake_emits_wake_to_ready_without_a_service_dimension() {
    let h = harness(&unique("waketime")).await;
    h.store.delete("broken", None).await.unwrap();
    h.wake("demo").await;
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    let docs = docs(&h);
    let wakes: Vec<&Value> = docs
        .iter()
        .filter(|d| d.get("WakeToReady").is_some())
        .collect();
    assert_eq!(wakes.len(), 1, "{docs:?}");
    assert_eq!(wakes[0]["Service"], "demo");
    assert_eq!(wakes[0]["Function"], "test-reconciler");
    assert_eq!(
        wakes[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    let seconds = wakes[0]["WakeToReady"].as_f64().unwrap();
    assert!(seconds > 0.0, "{seconds}");
    // Nothing failed: the wake is the only metric.
    assert_eq!(docs.len(), 1, "{docs:?}");
}

#[tokio::test]
async fn stream_batch_wakes_the_named_record_and_fails_only_the_broken_one() {
    let h = harness(&unique("stream")).await;
    h.wake("demo").await;
    h.wake("broken").await;
    let mut batch = fixture("stream-batch.json");
    // A sixth record: a wake on the broken record.
    let mut broken = batch["Records"][1].clone();
    broken["dynamodb"]["Keys"]["name"]["S"] = json!("broken");
    broken["dynamodb"]["SequenceNumber"] = json!("600");
    batch["Records"].as_array_mut().unwrap().push(broken);

    let out = handle(&h.app, batch, None).await.unwrap();
    // Only the broken record's change is reported for retry; removals and our own status
    // writes are never failures.
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "600"}]})
    );
    // Requeues were honoured within the invocation: the wake reached Ready.
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    assert_eq!(h.sim.desired_count("demo-cluster", "demo-svc"), Some(1));
    // "other" was not named by the batch: not reconciled.
    assert_eq!(phase(&h.store, "other").await, None);
    let lines = h.lines.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"WakeToReady\"") && l.contains("\"Service\":\"demo\"")),
        "{lines:?}"
    );
    // The broken record was observed once: while demo's requeues kept the invocation going,
    // its unanswered wake was not picked up again (it waits for its own 30 s retry).
    assert_eq!(
        errors_by_code(&docs(&h)),
        vec![("ServerException".to_string(), 1.0)]
    );
}

/// Issue 18: a stream event for one member of a group reconciles its whole group: web's wake
/// wakes db first (web depends on it), and web is scaled only once db is Ready, all within
/// the invocation.
#[tokio::test]
async fn a_stream_event_for_one_member_wakes_its_group_in_dependency_order() {
    let h = harness(&unique("group")).await;
    for (name, deps) in [("db", vec![]), ("web", vec!["db".to_string()])] {
        h.sim.add_service("demo-cluster", &format!("{name}-svc"));
        let mut r = Record::test(name);
        r.spec.groups = vec!["preview".into()];
        r.spec.depends_on = deps;
        h.store.apply(&r, None).await.expect("apply");
    }
    h.wake("web").await;
    let mut event = fixture("stream-batch.json")["Records"][1].clone();
    event["dynamodb"]["Keys"]["name"]["S"] = json!("web");
    let out = handle(&h.app, json!({ "Records": [event] }), None)
        .await
        .unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!(phase(&h.store, "db").await, Some(Phase::Ready));
    assert_eq!(phase(&h.store, "web").await, Some(Phase::Ready));
    let db = status(&h.store, "db").await.unwrap();
    let web = status(&h.store, "web").await.unwrap();
    let db_ready = db.last_wake.unwrap().ready_at;
    let web_started = web.last_wake.as_ref().unwrap().requested_at;
    assert!(
        web_started >= db_ready,
        "web's wake started at {web_started}, before db was Ready at {db_ready}"
    );
    let members: Vec<String> = web
        .group
        .unwrap()
        .members
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(members, vec!["db", "web"]);
    // Not in the group: not reconciled.
    assert_eq!(phase(&h.store, "other").await, None);
}

/// Issue 13, class 5: one record of a batch that does not parse (here, one with a field of the
/// wrong type but a readable key, and one that is garbage) must not drop the rest of the batch.
/// The readable-key record is reconciled by its key; the garbage one is skipped with a log line
/// and counted, not reported for retry (the same bytes would come back).
#[tokio::test]
async fn a_stream_record_that_does_not_parse_does_not_drop_its_batch() {
    let h = harness(&unique("unparsable")).await;
    h.wake("demo").await;
    h.wake("other").await;
    let mut batch = fixture("stream-batch.json");
    let records = batch["Records"].as_array_mut().unwrap();
    // A wake on "other" whose eventName has the wrong type: the record does not parse.
    let mut odd = records[1].clone();
    odd["eventName"] = json!(42);
    odd["dynamodb"]["Keys"]["name"]["S"] = json!("other");
    odd["dynamodb"]["SequenceNumber"] = json!("150");
    records.insert(0, odd);
    // Garbage: no key to read at all.
    records.insert(
        1,
        json!({"eventID": "e-bad", "eventSource": "aws:dynamodb", "dynamodb": "truncated"}),
    );

    let out = handle(&h.app, batch, None).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}), "{out}");
    // Processed in the same invocation: both wakes reached Ready.
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    assert_eq!(phase(&h.store, "other").await, Some(Phase::Ready));
    let unreadable: Vec<f64> = docs(&h)
        .iter()
        .filter_map(|d| d.get("UnreadableStreamRecords").and_then(Value::as_f64))
        .collect();
    assert_eq!(unreadable, vec![1.0]);
}

#[tokio::test]
async fn duplicate_stream_batches_change_nothing() {
    let h = harness(&unique("dup")).await;
    h.wake("demo").await;
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    let scale_calls = h.sim.scale_calls();
    let before = h.store.get("demo").await.unwrap();
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    assert_eq!(
        h.sim.scale_calls(),
        scale_calls,
        "a replayed batch must not scale again"
    );
    let after = h.store.get("demo").await.unwrap();
    let status = |e: Option<Entry>| match e {
        Some(Entry::Record(r)) => r.status.map(|s| (s.phase, s.endpoint)),
        _ => None,
    };
    assert_eq!(status(before), status(after));
}

#[tokio::test]
async fn removals_alone_reconcile_nothing() {
    let h = harness(&unique("remove")).await;
    let mut batch = fixture("stream-batch.json");
    let removals: Vec<Value> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["eventName"] == "REMOVE")
        .cloned()
        .collect();
    batch["Records"] = Value::Array(removals);
    let out = handle(&h.app, batch, None).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!(
        h.sim.counters().values().map(|c| c.attempts).sum::<u64>(),
        0,
        "nothing observed"
    );
    assert!(h.lines.lock().unwrap().is_empty());
}

#[tokio::test]
async fn ecs_task_events_reconcile_the_owning_record() {
    let h = harness(&unique("task")).await;
    for file in ["ecs-task-running.json", "ecs-task-stopped.json"] {
        let out = handle(&h.app, fixture(file), None).await.unwrap();
        assert_eq!(out["records"], json!(["demo"]), "{file}: {out}");
    }
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    assert_eq!(
        phase(&h.store, "other").await,
        None,
        "other services' records are not touched"
    );
    let mut foreign = fixture("ecs-task-running.json");
    foreign["detail"]["group"] = json!("service:unmanaged");
    assert_eq!(
        handle(&h.app, foreign, None).await.unwrap()["records"],
        json!([])
    );
}

/// An ECS event after a scheduled pass finds its records in what that pass listed: no Scan
/// of the table per event. Without a recent full pass (none yet, or two schedule periods
/// old) the table is listed page by page instead, with the same answer.
#[tokio::test]
async fn ecs_task_events_after_a_full_pass_read_no_table() {
    let h = harness(&unique("taskidx")).await;
    let scans = |h: &Harness| -> u64 {
        (h.app.calls.as_ref().unwrap())()
            .into_iter()
            .filter(|(op, _)| op == "Scan")
            .map(|(_, n)| n)
            .sum()
    };
    // No full pass yet: the table is listed.
    let before = scans(&h);
    let out = handle(&h.app, fixture("ecs-task-running.json"), None)
        .await
        .unwrap();
    assert_eq!(out["records"], json!(["demo"]));
    assert!(scans(&h) > before, "listed without a full pass");
    handle(&h.app, fixture("schedule.json"), None)
        .await
        .unwrap();
    let before = scans(&h);
    for file in [
        "ecs-task-running.json",
        "ecs-task-stopped.json",
        "ecs-service-action.json",
    ] {
        let out = handle(&h.app, fixture(file), None).await.unwrap();
        assert_eq!(out["records"], json!(["demo"]), "{file}: {out}");
    }
    let mut foreign = fixture("ecs-task-running.json");
    foreign["detail"]["group"] = json!("service:unmanaged");
    assert_eq!(
        handle(&h.app, foreign, None).await.unwrap()["records"],
        json!([])
    );
    assert_eq!(scans(&h), before, "no Scan for events after a full pass");
    // Two schedule periods later without a full pass, the table is listed again.
    h.clock.advance(Duration::from_secs(121));
    let out = handle(&h.app, fixture("ecs-task-running.json"), None)
        .await
        .unwrap();
    assert_eq!(out["records"], json!(["demo"]));
    assert!(scans(&h) > before, "a stale index is not trusted");
}

#[tokio::test]
async fn unknown_payloads_are_ignored_not_failed() {
    let h = harness(&unique("unknown")).await;
    let out = handle(&h.app, fixture("unknown.json"), None).await.unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .unwrap()
            .contains("AWS API Call via CloudTrail"),
        "{out}"
    );
    assert_eq!(phase(&h.store, "demo").await, None);
}

/// The EMF documents emitted so far, parsed.
fn docs(h: &Harness) -> Vec<Value> {
    h.lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `Errors` count of each `Code` dimension in `docs`.
fn errors_by_code(docs: &[Value]) -> Vec<(String, f64)> {
    docs.iter()
        .filter(|d| d.get("Code").is_some())
        .map(|d| {
            (
                d["Code"].as_str().unwrap().to_string(),
                d["Errors"].as_f64().unwrap(),
            )
        })
        .collect()
}

async fn status(store: &Arc<dyn Store>, name: &str) -> Option<Status> {
    match store.get(name).await.unwrap() {
        Some(Entry::Record(r)) => r.status,
        _ => None,
    }
}

#[tokio::test]
async fn throttling_that_outlives_its_retries_is_counted_as_throttling_exception() {
    let h = harness(&unique("throttle")).await;
    // Real throttles from the sim: every DescribeServices attempt (first try and both retries,
    // for each of the two clusters) answers ThrottlingException: Rate exceeded.
    h.sim.reconfigure(|c| {
        c.retry = RetryConfig {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_times: 2,
        }
    });
    h.sim.fail_next(Op::DescribeServices, 20, Fault::Throttle);
    handle(&h.app, fixture("schedule.json"), None)
        .await
        .unwrap();
    h.sim.clear_faults();
    let docs = docs(&h);
    // demo and other (demo-cluster) were throttled; broken fails with its injected 5xx.
    assert_eq!(
        errors_by_code(&docs),
        vec![
            ("ServerException".to_string(), 1.0),
            ("ThrottlingException".to_string(), 2.0)
        ],
        "{docs:?}"
    );
    let total = docs
        .iter()
        .find(|d| d.get("Errors").is_some() && d.get("Function").is_some())
        .unwrap();
    assert_eq!(total["Errors"], 3.0);
}

#[tokio::test]
async fn a_task_event_whose_records_cannot_be_listed_fails_the_invocation() {
    let h = harness(&unique("nolist")).await;
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto_endpoint().to_owned()),
    };
    // A table that does not exist: every list fails with ResourceNotFoundException.
    let missing: Arc<dyn Store> = Arc::new(DynamoStore::new(
        dynamo_client(&opts).await,
        unique("missing"),
    ));
    let mut app = h.app.clone();
    app.reconciler.store = missing;
    let err = handle(&app, fixture("ecs-task-running.json"), None)
        .await
        .expect_err("the event must be failed so that Lambda retries it, then dead-letters it");
    assert_eq!(err.code(), "ResourceNotFoundException", "{err}");
    // Payloads that are not task events still never fail the invocation.
    assert!(handle(&app, fixture("unknown.json"), None).await.is_ok());
}

/// The sim, plus a wake of `name` written to the store during the `at`-th observation (while
/// an invocation is busy with another record's wake).
struct WakeDuring {
    sim: Arc<SimPlatform>,
    store: Arc<dyn Store>,
    clock: Arc<SimClock>,
    name: &'static str,
    at: usize,
    observes: Mutex<usize>,
}

#[async_trait]
impl Platform for WakeDuring {
    async fn observe(&self, targets: &[Target]) -> platform::Result<Vec<Observed>> {
        let n = {
            let mut n = self.observes.lock().unwrap();
            *n += 1;
            *n
        };
        if n == self.at {
            self.store
                .record_wake(self.name, self.clock.now(), Duration::ZERO)
                .await
                .unwrap();
        }
        self.sim.observe(targets).await
    }
    async fn scale(&self, target: &Target, replicas: u32) -> platform::Result<()> {
        self.sim.scale(target, replicas).await
    }
}

#[tokio::test]
async fn a_wake_landing_while_an_invocation_requeues_another_is_handled_in_it() {
    let h = harness(&unique("second")).await;
    let mut app = h.app.clone();
    app.reconciler.platform = Arc::new(WakeDuring {
        sim: h.sim.clone(),
        store: h.store.clone(),
        clock: h.clock.clone(),
        name: "other",
        at: 2,
        observes: Mutex::new(0),
    });
    h.wake("demo").await;
    // A stream batch about demo only (its wake). With reserved concurrency 1 the stream event
    // about other's wake would wait for this invocation to end.
    let mut batch = fixture("stream-batch.json");
    let wake = batch["Records"][1].clone();
    batch["Records"] = json!([wake]);
    let t0 = h.clock.now();
    let out = handle(&app, batch, None).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    // other's wake landed during the second pass (5 s in) and was picked up by a later
    // requeue round: Ready in the same invocation, its wake taking the task's 30 s start plus
    // at most one look for landed wakes (`LANDED_WAKES_EVERY`, 15 s) of pick-up and one
    // requeue interval (5 s) of readiness polling.
    assert_eq!(phase(&h.store, "other").await, Some(Phase::Ready));
    assert_eq!(h.sim.desired_count("demo-cluster", "other-svc"), Some(1));
    let last = status(&h.store, "other").await.unwrap().last_wake.unwrap();
    assert!(last.requested_at > t0, "{last:?}");
    assert!(last.seconds <= 50.0, "{last:?}");
    // Records without a new wake were not looked at.
    assert_eq!(phase(&h.store, "broken").await, None);
}

#[tokio::test]
async fn a_stream_image_that_contradicts_the_stored_record_is_not_trusted() {
    let h = harness(&unique("lying")).await;
    handle(&h.app, fixture("schedule.json"), None)
        .await
        .unwrap();
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    let stored = status(&h.store, "demo").await;
    // The image claims a wake request, mode on and 3 replicas; the stored record has none of it.
    let mut batch = fixture("stream-batch.json");
    let mut lie = batch["Records"][1].clone();
    lie["dynamodb"]["NewImage"]["wakeRequestedAt"] = json!({"S": h.clock.now().to_rfc3339()});
    lie["dynamodb"]["NewImage"]["spec"] =
        json!({"M": {"mode": {"S": "on"}, "replicas": {"N": "3"}}});
    batch["Records"] = json!([lie]);
    let scale_calls = h.sim.scale_calls();
    let out = handle(&h.app, batch, None).await.unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert_eq!(h.sim.scale_calls(), scale_calls, "nothing scaled");
    assert_eq!(h.sim.desired_count("demo-cluster", "demo-svc"), Some(0));
    assert_eq!(
        status(&h.store, "demo").await,
        stored,
        "the stored record wins"
    );
}

#[tokio::test]
async fn events_in_reverse_order_or_duplicated_change_nothing() {
    let h = harness(&unique("reverse")).await;
    h.wake("demo").await;
    handle(&h.app, fixture("stream-batch.json"), None)
        .await
        .unwrap();
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    let settled = status(&h.store, "demo").await;
    let scale_calls = h.sim.scale_calls();

    // The same batch with its records in reverse order, twice.
    let mut reversed = fixture("stream-batch.json");
    reversed["Records"].as_array_mut().unwrap().reverse();
    // Task events late and out of order (STOPPED before RUNNING), each delivered twice.
    let mut events = vec![reversed.clone(), reversed];
    for file in ["ecs-task-stopped.json", "ecs-task-running.json"] {
        events.push(fixture(file));
        events.push(fixture(file));
    }
    for event in events {
        handle(&h.app, event, None).await.unwrap();
        assert_eq!(h.sim.scale_calls(), scale_calls, "no scale call");
        assert_eq!(status(&h.store, "demo").await, settled, "status unchanged");
    }
    assert_eq!(h.sim.desired_count("demo-cluster", "demo-svc"), Some(1));
}

/// The handler's runtime publishes every pass's phase changes to the app's sink: a stream
/// batch that wakes `demo` gives its None → Waking and Waking → Ready, each in its pass's one
/// publish; the record whose observation failed publishes nothing.
#[tokio::test]
async fn the_handler_publishes_the_phase_changes_of_its_passes() {
    let h = harness(&unique("events")).await;
    h.wake("demo").await;
    h.wake("broken").await;
    let mut batch = fixture("stream-batch.json");
    let mut broken = batch["Records"][1].clone();
    broken["dynamodb"]["Keys"]["name"]["S"] = json!("broken");
    broken["dynamodb"]["SequenceNumber"] = json!("600");
    batch["Records"].as_array_mut().unwrap().push(broken);
    handle(&h.app, batch, None).await.unwrap();
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Ready));
    let demo: Vec<(Option<Phase>, Phase)> = h
        .events
        .events()
        .iter()
        .filter(|e| e.name == "demo")
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(
        demo,
        [(None, Phase::Waking), (Some(Phase::Waking), Phase::Ready)]
    );
    assert!(
        h.events.events().iter().all(|e| e.name != "broken"),
        "{:?}",
        h.events.events()
    );
    for publish in h.events.publishes() {
        let mut names: Vec<&str> = publish.iter().map(|e| e.name.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), publish.len(), "one event per record per pass");
    }
}
