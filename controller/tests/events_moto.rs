//! Events on EventBridge, against moto (`MOTO_ENDPOINT`, or one this test binary starts):
//! a pass that changes 25 records publishes them in 3 `PutEvents` calls (EventBridge takes at
//! most 10 entries a call), and a rule on the bus delivers each event, as documented, to its
//! target (a CloudWatch Logs group, read back here); a bus that does not exist loses the
//! events but fails no pass and no record.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge as eb;
use serde_json::{Value, json};
use snooze::aws_calls::{CallCounter, Principal, declared};
use snooze::clock::SimClock;
use snooze::model::{Phase, Record};
use snooze::platform::sim::{SimConfig, SimPlatform};
use snooze::reconcile::events::{DETAIL_TYPE, EVENT_NOT_PUBLISHED, Event, EventBridgeSink, SOURCE};
use snooze::reconcile::{Reason, Reasons, Reconciler, Runtime, Scope, StaticProber};
use snooze::store::memory::MemoryStore;
use snooze_test_support::{moto_endpoint, unique};

const REGION: &str = "us-east-1";

async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto_endpoint())
        .test_credentials()
        .load()
        .await
}

/// One CloudWatch Logs call on moto, by its JSON protocol (no Logs SDK in the tree; moto reads
/// the service from the credential scope and checks no signature).
async fn logs(action: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}/", moto_endpoint()))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", format!("Logs_20140328.{action}"))
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20261201/{REGION}/logs/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert!(status.is_success(), "Logs {action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A reconciler over `n` new ECS records (`s00`, `s01`, ...) on the simulated platform: its
/// first pass gives each its first status, a phase change each.
fn world(n: usize) -> (Reconciler, Arc<MemoryStore>) {
    let clock = SimClock::new("2026-12-01T10:00:00.000Z".parse().unwrap());
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    let store = Arc::new(MemoryStore::new());
    for i in 0..n {
        let r = Record::test(&format!("s{i:02}"));
        if let snooze::model::Target::Ecs(t) = &r.spec.target {
            sim.add_service(&t.cluster, &t.service);
        }
        store.put(r);
    }
    let reconciler = Reconciler::new(store.clone(), sim, Arc::new(StaticProber::new()), clock);
    (reconciler, store)
}

#[tokio::test]
async fn twenty_five_changes_are_three_put_events_calls_delivered_by_a_rule() {
    let conf = sdk_config().await;
    let client = eb::Client::new(&conf);
    let bus = unique("snooze-events");
    let group = format!("/snooze/{bus}");
    client
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create the bus");
    logs("CreateLogGroup", json!({"logGroupName": group})).await;
    // The rule docs/reference/events.md shows: every snooze phase change on the bus.
    client
        .put_rule()
        .name("snooze-phase-changes")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}).to_string())
        .send()
        .await
        .expect("put the rule");
    client
        .put_targets()
        .rule("snooze-phase-changes")
        .event_bus_name(&bus)
        .targets(
            eb::types::Target::builder()
                .id("logs")
                .arn(format!(
                    "arn:aws:logs:{REGION}:123456789012:log-group:{group}"
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("put the target");

    let (reconciler, _store) = world(25);
    let calls = CallCounter::new();
    let sink = Arc::new(EventBridgeSink::from_sdk_config(
        &conf,
        bus.clone(),
        Some(&calls),
    ));
    let runtime = Runtime::new(reconciler.clone()).with_events(sink);
    let (report, codes) = reconciler
        .reconcile_for(Scope::All, &Reasons::all(Reason::Schedule))
        .await;
    assert!(codes.is_empty(), "{codes:?}");
    assert_eq!(report.changed().count(), 25);
    let lost = runtime.publish_events(&report).await;
    assert!(lost.is_empty(), "{lost:?}");
    // One pass, 25 changes: 3 calls (10, 10, 5), never one per record.
    assert_eq!(
        calls.snapshot().get("PutEvents"),
        Some(&3),
        "{:?}",
        calls.snapshot()
    );
    // What the code calls on EventBridge is what snooze::aws_calls declares (the IAM policy).
    let made: std::collections::BTreeSet<String> = calls.snapshot().into_keys().collect();
    let want: std::collections::BTreeSet<String> = declared(Principal::Reconciler, &["events"])
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(made, want, "update snooze::aws_calls::OPERATIONS");

    // The rule delivered every event, with the documented envelope and detail.
    let out = logs("FilterLogEvents", json!({"logGroupName": group})).await;
    let delivered: Vec<Value> = out["events"]
        .as_array()
        .expect("log events")
        .iter()
        .map(|e| serde_json::from_str(e["message"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(delivered.len(), 25, "{out}");
    let mut names: Vec<String> = Vec::new();
    for d in &delivered {
        assert_eq!(d["source"], SOURCE);
        assert_eq!(d["detail-type"], DETAIL_TYPE);
        let e: Event = serde_json::from_value(d["detail"].clone()).unwrap();
        assert_eq!(
            e,
            Event::from_report(report.record(&e.name).unwrap(), report.started_at).unwrap()
        );
        assert_eq!((e.from, e.to), (None, Phase::Asleep));
        names.push(e.name);
    }
    names.sort();
    let want: Vec<String> = (0..25).map(|i| format!("s{i:02}")).collect();
    assert_eq!(names, want);
}

#[tokio::test]
async fn a_bus_that_does_not_exist_fails_no_pass() {
    let conf = sdk_config().await;
    let calls = CallCounter::new();
    let sink = Arc::new(EventBridgeSink::from_sdk_config(
        &conf,
        unique("no-such-bus"),
        Some(&calls),
    ));
    let (reconciler, store) = world(3);
    let settle = Runtime::new(reconciler)
        .with_events(sink)
        .settle(Scope::All, Reason::Schedule, Duration::from_secs(10))
        .await;
    // The pass did its work: every record has its status, no record has an error.
    assert!(settle.settled);
    for name in ["s00", "s01", "s02"] {
        let phase = store.record(name).and_then(|r| r.status).map(|s| s.phase);
        assert_eq!(phase, Some(Phase::Asleep), "{name}");
    }
    assert!(
        settle
            .passes
            .iter()
            .all(|p| p.error.is_none() && p.errors().count() == 0)
    );
    // The three events were lost and counted; the failed call was tried at most twice.
    assert_eq!(
        settle.error_codes,
        [(EVENT_NOT_PUBLISHED.to_string(), 3)].into_iter().collect()
    );
    let put = calls.snapshot().get("PutEvents").copied().unwrap_or(0);
    assert_eq!(
        put, 1,
        "one call for the pass (the SDK's retry is not counted again)"
    );
}
