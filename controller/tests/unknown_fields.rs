//! A record written by a newer snooze (issue 13, class 10): its spec has fields this version
//! does not know. A reconciler rolled back to this version keeps managing the record on what it
//! understands, reports the fields as the `UnknownFields` condition, and leaves them stored as
//! they are (a pass writes only `status`), on SQLite and on DynamoDB (moto). `apply` of the same
//! manifest stays strict: an error naming the field.
//!
//! Run: `cargo test -p snooze --features aws --test unknown_fields` (the DynamoDB case starts moto from
//! `.venv-moto`, like the store conformance suite).

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use snooze::clock::SimClock;
use snooze::model::{ConditionStatus, Entry, Mode, Phase, Record, parse_manifests};
use snooze::platform::sim::{SimConfig, SimPlatform};
use snooze::reconcile::{Reconciler, Scope, StaticProber};
use snooze::store::{ConnectOptions, DynamoStore, SqliteStore, Store};
use snooze_test_support::serialised_moto_endpoint;

const CLUSTER: &str = "demo-cluster";

/// The record every case stores: pinned on with 2 replicas, so "managed" means scaled to 2.
fn record() -> Record {
    let mut r = Record::test("demo").mode(Mode::On);
    r.spec.replicas = 2;
    r
}

/// The fields a newer version wrote into the stored spec (a new top-level field, and a new
/// field inside a known one).
const UNKNOWN: [&str; 2] = ["spec.lifecycle", "spec.wake.schedule"];

/// One pass over `store` on a simulated ECS that has the record's service at desiredCount 0;
/// then checks what the pass did and what it stored.
async fn one_pass_manages_the_record(store: Arc<dyn Store>) {
    let clock = SimClock::default_start();
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    sim.add_service(CLUSTER, "demo-svc");
    let reconciler = Reconciler::new(
        store.clone(),
        sim.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    );
    let report = reconciler.reconcile(Scope::All).await;
    assert!(report.errors().next().is_none(), "{report:?}");

    assert_eq!(
        sim.desired_count(CLUSTER, "demo-svc"),
        Some(2),
        "the record is managed per its spec (mode on, 2 replicas)"
    );
    let Some(Entry::Record(r)) = store.get("demo").await.expect("get") else {
        panic!("the record reads as a record, not as a malformed item");
    };
    assert_eq!(r.unknown_fields, UNKNOWN);
    let status = r.status.as_ref().expect("a status was published");
    assert_ne!(status.phase, Phase::Invalid, "{status:?}");
    let c = status
        .condition("UnknownFields")
        .unwrap_or_else(|| panic!("no UnknownFields condition: {status:?}"));
    assert_eq!(c.status, ConditionStatus::True);
    assert_eq!(c.reason, "FieldsNotUnderstood");
    for path in UNKNOWN {
        assert!(c.message.contains(path), "{c:?}");
    }
}

/// The manifest a newer version would apply: rejected here, naming the fields.
#[test]
fn apply_of_the_newer_manifest_is_an_error_naming_the_fields() {
    let text = "apiVersion: snooze/v1\nkind: Service\nmetadata:\n  name: demo\nspec:\n  target:\n    ecs: {cluster: demo-cluster, service: demo-svc}\n  mode: 'on'\n  replicas: 2\n  lifecycle: {host: demo.example.com}\n  wake:\n    schedule: {timezone: UTC}\n";
    let errors: Vec<String> = parse_manifests(text, "newer.yaml")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("newer.yaml:10:3: spec.lifecycle: unknown field `lifecycle`"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("newer.yaml:12:5: spec.wake.schedule: unknown field `schedule`"),
        "{errors:#?}"
    );
}

#[tokio::test]
async fn sqlite_keeps_unknown_spec_fields_and_the_record_is_managed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("snooze.db");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    store.apply(&record(), None).await.expect("apply");
    // What a newer snooze's apply stored.
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    let spec_of = || -> serde_json::Value {
        let text: String = conn
            .query_row("SELECT spec FROM records WHERE name = 'demo'", [], |r| {
                r.get(0)
            })
            .expect("spec column");
        serde_json::from_str(&text).expect("spec is JSON")
    };
    let mut spec = spec_of();
    spec["lifecycle"] = serde_json::json!({"host": "demo.example.com"});
    spec["wake"]["schedule"] = serde_json::json!({"timezone": "UTC"});
    conn.execute(
        "UPDATE records SET spec = ?1 WHERE name = 'demo'",
        [spec.to_string()],
    )
    .expect("write the newer spec");

    one_pass_manages_the_record(store).await;

    assert_eq!(spec_of(), spec, "the stored spec is untouched by the pass");
}

#[tokio::test]
async fn dynamodb_keeps_unknown_spec_fields_and_the_record_is_managed() {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(serialised_moto_endpoint().to_string()),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let table = format!("unknown-fields-{nanos:08x}");
    let store = DynamoStore::new(snooze::store::dynamo_client(&opts).await, table.clone());
    assert!(store.create_table().await.expect("create table"));
    let client = store.client().clone();
    let store: Arc<dyn Store> = Arc::new(store);
    store.apply(&record(), None).await.expect("apply");
    // What a newer snooze's apply stored.
    let key = AttributeValue::S("demo".into());
    let host =
        AttributeValue::M([("host".into(), AttributeValue::S("demo.example.com".into()))].into());
    let schedule = AttributeValue::M([("timezone".into(), AttributeValue::S("UTC".into()))].into());
    client
        .update_item()
        .table_name(&table)
        .key("name", key.clone())
        .update_expression("SET #spec.#lifecycle = :lifecycle, #spec.#wake.#schedule = :schedule")
        .expression_attribute_names("#spec", "spec")
        .expression_attribute_names("#lifecycle", "lifecycle")
        .expression_attribute_names("#wake", "wake")
        .expression_attribute_names("#schedule", "schedule")
        .expression_attribute_values(":lifecycle", host.clone())
        .expression_attribute_values(":schedule", schedule.clone())
        .send()
        .await
        .expect("write the newer spec");
    let spec_of = || async {
        client
            .get_item()
            .table_name(&table)
            .key("name", key.clone())
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
            .expect("the item")
            .remove("spec")
            .expect("a spec")
    };
    let before = spec_of().await;

    one_pass_manages_the_record(store).await;

    let after = spec_of().await;
    assert_eq!(after, before, "the stored spec is untouched by the pass");
    let spec = after.as_m().expect("spec is a map");
    assert_eq!(spec.get("lifecycle"), Some(&host));
    let wake = spec["wake"].as_m().expect("wake is a map");
    assert_eq!(wake.get("schedule"), Some(&schedule));
}
