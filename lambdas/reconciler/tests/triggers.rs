//! The reconciler Lambda's handler driven by each trigger payload (JSON fixtures), against
//! DynamoDB served by moto (`MOTO_ENDPOINT`, started by `scripts/test`) and the `sim` platform.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use snooze::model::{Entry, Phase, Record, Target, Timestamp};
use snooze::platform::sim::{SimClock, SimConfig, SimPlatform};
use snooze::platform::{self, Observed, Platform};
use snooze::reconcile::{Reconciler, StaticProber};
use snooze::store::dynamodb::DynamoStore;
use snooze::store::{ConnectOptions, Store, dynamo_client};
use snooze_reconciler::handler::{App, handle};

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is unset: run scripts/test (it starts moto), or `source scripts/lib.sh; start_moto` and export MOTO_ENDPOINT",
    )
}

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
}

async fn harness(table: &str) -> Harness {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto()),
    };
    let dynamo = DynamoStore::new(dynamo_client(&opts).await, table);
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
    let app = App {
        reconciler: Reconciler::new(
            store.clone(),
            Arc::new(PartlyBroken(sim.clone())),
            Arc::new(StaticProber::new()),
            clock.clone(),
        ),
        budget: Duration::from_secs(120),
        function: "test-reconciler".into(),
        calls: Some(Arc::new(move || {
            counted
                .counters()
                .into_iter()
                .map(|(op, c)| (op.as_str(), c.attempts))
                .collect()
        })),
        emit: Arc::new(move |l| sink.lock().unwrap().push(l)),
    };
    Harness {
        app,
        store,
        sim,
        clock,
        lines,
    }
}

async fn phase(store: &Arc<dyn Store>, name: &str) -> Option<Phase> {
    match store.get(name).await.unwrap() {
        Some(Entry::Record(r)) => r.status.map(|s| s.phase),
        _ => None,
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Timestamp::now().as_millis()
    )
}

#[tokio::test]
async fn scheduled_event_reconciles_every_record_and_emits_metrics() {
    let h = harness(&unique("sched")).await;
    let out = handle(&h.app, fixture("schedule.json"), None).await;
    assert_eq!(out["trigger"], "schedule");
    assert_eq!(out["records"], 3);
    assert_eq!(phase(&h.store, "demo").await, Some(Phase::Asleep));
    assert_eq!(phase(&h.store, "other").await, Some(Phase::Asleep));
    let lines = h.lines.lock().unwrap().clone();
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pass = docs
        .iter()
        .find(|d| d.get("PassDuration").is_some())
        .expect("PassDuration metric");
    assert_eq!(pass["Function"], "test-reconciler");
    assert_eq!(pass["RecordsReconciled"], 3.0);
    assert_eq!(pass["WakingRecords"], 0.0);
    assert!(
        docs.iter()
            .any(|d| d["Operation"] == "DescribeServices" && d["AwsCalls"].as_f64() >= Some(1.0)),
        "{lines:?}"
    );
    assert!(
        docs.iter().any(|d| d["Code"] == "ServerException"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn stream_batch_wakes_the_named_record_and_fails_only_the_broken_one() {
    let h = harness(&unique("stream")).await;
    h.store
        .record_wake("demo", h.clock.now(), Duration::ZERO)
        .await
        .unwrap();
    h.store
        .record_wake("broken", h.clock.now(), Duration::ZERO)
        .await
        .unwrap();
    let mut batch = fixture("stream-batch.json");
    // A sixth record: a wake on the broken record.
    let mut broken = batch["Records"][1].clone();
    broken["dynamodb"]["Keys"]["name"]["S"] = json!("broken");
    broken["dynamodb"]["SequenceNumber"] = json!("600");
    batch["Records"].as_array_mut().unwrap().push(broken);

    let out = handle(&h.app, batch, None).await;
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
}

#[tokio::test]
async fn duplicate_stream_batches_change_nothing() {
    let h = harness(&unique("dup")).await;
    h.store
        .record_wake("demo", h.clock.now(), Duration::ZERO)
        .await
        .unwrap();
    handle(&h.app, fixture("stream-batch.json"), None).await;
    let scale_calls = h.sim.scale_calls();
    let before = h.store.get("demo").await.unwrap();
    handle(&h.app, fixture("stream-batch.json"), None).await;
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
    let out = handle(&h.app, batch, None).await;
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
        let out = handle(&h.app, fixture(file), None).await;
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
    assert_eq!(handle(&h.app, foreign, None).await["records"], json!([]));
}

#[tokio::test]
async fn unknown_payloads_are_ignored_not_failed() {
    let h = harness(&unique("unknown")).await;
    let out = handle(&h.app, fixture("unknown.json"), None).await;
    assert!(
        out["ignored"]
            .as_str()
            .unwrap()
            .contains("AWS API Call via CloudTrail"),
        "{out}"
    );
    assert_eq!(phase(&h.store, "demo").await, None);
}
