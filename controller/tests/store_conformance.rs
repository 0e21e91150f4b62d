//! One conformance suite for every [`Store`]: each case below is a plain async function over a
//! [`Fixture`], and the `conformance!` macro runs every case against SQLite (a fresh file in a
//! temporary directory), against DynamoDB on moto (a fresh table) and against the in-memory
//! store the simulations, the pass tests and the benchmarks stand on (a fresh [`MemoryStore`]).
//!
//! The DynamoDB cases run on a moto this binary starts from `.venv-moto` on a free port on
//! 127.0.0.1, serving one request at a time so conditional writes are atomic as in DynamoDB
//! ([`serialised_moto_endpoint`] says why the shared `MOTO_ENDPOINT` is not used). Without
//! `.venv-moto` the DynamoDB cases FAIL; they are never skipped.
//!
//! Run: `cargo test -p snooze --features aws --test store_conformance` (or `scripts/test 10`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use snooze::model::{Desired, Entry, Record, Status, Timestamp};
use snooze::store::{
    Applied, ConnectOptions, DynamoStore, Error, MemoryStore, SqliteStore, StatusGuard, Store,
    Touch,
};
use snooze_test_support::{serialised_moto_endpoint, unique};

// ---------------------------------------------------------------------------------------------
// Backends

/// Raw access to the backing data, to break items the way an operator in a console would.
enum Raw {
    Sqlite(PathBuf),
    Dynamo(aws_sdk_dynamodb::Client, String),
    Memory(Arc<MemoryStore>),
}

/// A fresh, empty store for one test.
struct Fixture {
    /// The store under test.
    store: Arc<dyn Store>,
    /// A second, independent handle on the same data: another connection (SQLite) or another
    /// client (DynamoDB), as a second process would have; memory: the same store (there is no
    /// other process).
    other: Arc<dyn Store>,
    raw: Raw,
    /// Whether `change_token` must be `Some` (SQLite, memory) or may be `None` (DynamoDB).
    has_change_token: bool,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/snooze.db");
    let store = SqliteStore::open(&path).expect("open sqlite store");
    let other = SqliteStore::open(&path).expect("open second sqlite handle");
    Fixture {
        store: Arc::new(store),
        other: Arc::new(other),
        raw: Raw::Sqlite(path),
        has_change_token: true,
        _dir: Some(dir),
    }
}

fn memory_fixture(_case: &str) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    Fixture {
        store: store.clone(),
        other: store.clone(),
        raw: Raw::Memory(store),
        has_change_token: true,
        _dir: None,
    }
}

async fn dynamo_fixture(case: &str) -> Fixture {
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(serialised_moto_endpoint().to_string()),
    };
    let table = unique(&format!("conf-{}", case.replace('_', "-")));
    let store = DynamoStore::new(snooze::store::dynamo_client(&opts).await, table.clone());
    assert!(
        store.create_table().await.expect("create table"),
        "table {table} existed"
    );
    assert!(
        !store.create_table().await.expect("create table twice"),
        "second create_table"
    );
    let other = DynamoStore::new(snooze::store::dynamo_client(&opts).await, table.clone());
    Fixture {
        raw: Raw::Dynamo(store.client().clone(), table),
        store: Arc::new(store),
        other: Arc::new(other),
        has_change_token: false,
        _dir: None,
    }
}

/// How an item gets broken in [`malformed_items_are_listed_with_the_path`].
#[derive(Clone, Copy, Debug)]
enum Breakage {
    /// `spec.replicas` becomes the string `"two"`.
    ReplicasAsString,
    /// `spec` is removed (DynamoDB, memory) or not JSON any more (SQLite).
    SpecGone,
    /// Only the key is left (DynamoDB, memory: `metadata.name`) / metadata is an array (SQLite).
    Gutted,
    /// `wakeRequestedAt` becomes the number 12345.
    WakeAsNumber,
}

impl Fixture {
    /// Breaks the stored record `name` behind the store's back; returns the field path the
    /// parse error must name.
    async fn corrupt(&self, name: &str, how: Breakage) -> &'static str {
        match &self.raw {
            Raw::Memory(store) => {
                let mut path = "";
                let found = store.edit_raw(name, |item| match how {
                    Breakage::ReplicasAsString => {
                        item["spec"]["replicas"] = "two".into();
                        path = "spec.replicas";
                    }
                    Breakage::SpecGone => {
                        item.as_object_mut().expect("an object").remove("spec");
                        path = "spec";
                    }
                    Breakage::Gutted => {
                        *item = serde_json::json!({ "metadata": { "name": name } });
                        path = "apiVersion";
                    }
                    Breakage::WakeAsNumber => {
                        item["desired"]["wakeRequestedAt"] = 12345.into();
                        path = "wakeRequestedAt";
                    }
                });
                assert!(found, "{name} is not stored");
                path
            }
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("raw sqlite");
                conn.busy_timeout(Duration::from_secs(5))
                    .expect("busy timeout");
                let (sql, path) = match how {
                    Breakage::ReplicasAsString => (
                        "UPDATE records SET spec = json_set(spec, '$.replicas', 'two') WHERE name = ?1",
                        "spec.replicas",
                    ),
                    Breakage::SpecGone => (
                        "UPDATE records SET spec = '{not json' WHERE name = ?1",
                        "spec",
                    ),
                    Breakage::Gutted => (
                        "UPDATE records SET metadata = '[1, 2]' WHERE name = ?1",
                        "metadata",
                    ),
                    Breakage::WakeAsNumber => (
                        "UPDATE records SET wake_requested_at = 12345 WHERE name = ?1",
                        "wakeRequestedAt",
                    ),
                };
                assert_eq!(conn.execute(sql, [name]).expect("corrupt row"), 1);
                path
            }
            Raw::Dynamo(client, table) => {
                let key = ("name".to_string(), AttributeValue::S(name.into()));
                match how {
                    Breakage::ReplicasAsString => {
                        client
                            .update_item()
                            .table_name(table)
                            .key(key.0, key.1)
                            .update_expression("SET #spec.#replicas = :two")
                            .expression_attribute_names("#spec", "spec")
                            .expression_attribute_names("#replicas", "replicas")
                            .expression_attribute_values(":two", AttributeValue::S("two".into()))
                            .send()
                            .await
                            .expect("corrupt item");
                        "spec.replicas"
                    }
                    Breakage::SpecGone => {
                        client
                            .update_item()
                            .table_name(table)
                            .key(key.0, key.1)
                            .update_expression("REMOVE #spec")
                            .expression_attribute_names("#spec", "spec")
                            .send()
                            .await
                            .expect("corrupt item");
                        "spec"
                    }
                    Breakage::Gutted => {
                        client
                            .put_item()
                            .table_name(table)
                            .item(key.0, key.1)
                            .send()
                            .await
                            .expect("put name-only item");
                        "apiVersion"
                    }
                    Breakage::WakeAsNumber => {
                        client
                            .update_item()
                            .table_name(table)
                            .key(key.0, key.1)
                            .update_expression("SET #w = :n")
                            .expression_attribute_names("#w", "wakeRequestedAt")
                            .expression_attribute_values(":n", AttributeValue::N("12345".into()))
                            .send()
                            .await
                            .expect("corrupt item");
                        "wakeRequestedAt"
                    }
                }
            }
        }
    }

    /// Whether a single Scan page could not hold the whole table (DynamoDB only).
    async fn first_scan_page_is_partial(&self) -> Option<bool> {
        match &self.raw {
            Raw::Sqlite(_) | Raw::Memory(_) => None,
            Raw::Dynamo(client, table) => {
                let out = client
                    .scan()
                    .table_name(table)
                    .consistent_read(true)
                    .send()
                    .await
                    .expect("raw scan");
                Some(out.last_evaluated_key.is_some_and(|k| !k.is_empty()))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn record(entry: Option<Entry>) -> Record {
    match entry {
        Some(Entry::Record(r)) => *r,
        other => panic!("expected a record, got {other:?}"),
    }
}

async fn must_get(store: &dyn Store, name: &str) -> Record {
    record(store.get(name).await.expect("get"))
}

fn t(base: Timestamp, ms: u64) -> Timestamp {
    base.add(Duration::from_millis(ms))
}

/// A read-modify-write of the operator's sections, retried on conflict (as `snoozectl edit`
/// does after telling the user). Returns how many conflicts it met.
async fn edit(store: &dyn Store, name: &str, change: impl Fn(&mut Record)) -> usize {
    for conflicts in 0..200 {
        let mut r = must_get(store, name).await;
        change(&mut r);
        match store.apply(&r, Some(r.metadata.resource_version)).await {
            Ok(Applied::Configured(_) | Applied::Unchanged(_)) => return conflicts,
            Err(Error::Conflict { .. }) => continue,
            other => panic!("edit {name}: {other:?}"),
        }
    }
    panic!("edit {name}: 200 conflicts in a row");
}

fn status_with(message: &str) -> Status {
    Status {
        message: message.to_string(),
        ..Status::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The cases

async fn create_get_list(f: Fixture) {
    let s = &*f.store;
    assert_eq!(s.get("demo").await.unwrap(), None);
    let mut demo = Record::test("demo");
    demo.metadata.labels.insert("team".into(), "web".into());
    assert_eq!(s.apply(&demo, None).await.unwrap(), Applied::Created(1));
    assert_eq!(
        s.apply(&Record::test("alpha"), None).await.unwrap(),
        Applied::Created(1)
    );

    let got = must_get(s, "demo").await;
    assert_eq!(got.spec, demo.spec);
    assert_eq!(got.metadata.labels, demo.metadata.labels);
    assert_eq!(got.api_version, "snooze/v1");
    assert_eq!(got.kind, "Service");
    assert_eq!(
        (got.metadata.generation, got.metadata.resource_version),
        (1, 1)
    );
    let created = got
        .metadata
        .creation_timestamp
        .expect("creationTimestamp is set");
    assert!(
        Timestamp::now().since(created) < Duration::from_secs(60),
        "{created}"
    );
    assert!(got.desired.is_empty() && got.status.is_none(), "{got:?}");

    let names: Vec<String> = s
        .list()
        .await
        .unwrap()
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(names, ["alpha", "demo"]);
    // The other handle sees the same.
    assert_eq!(must_get(&*f.other, "demo").await, got);
}

async fn apply_unchanged_and_configured(f: Fixture) {
    let s = &*f.store;
    let r = Record::test("demo");
    assert_eq!(s.apply(&r, None).await.unwrap(), Applied::Created(1));
    let token = s.change_token().await.unwrap();
    // Same spec, and desired/status in the input are ignored: nothing written.
    let mut same = r.clone().woken_at(Timestamp::now()).asleep();
    same.metadata.generation = 99;
    assert_eq!(
        s.apply(&same, Some(1)).await.unwrap(),
        Applied::Unchanged(1)
    );
    assert_eq!(
        s.change_token().await.unwrap(),
        token,
        "an unchanged apply wrote"
    );
    let got = must_get(s, "demo").await;
    assert!(
        got.desired.is_empty() && got.status.is_none(),
        "apply wrote desired/status: {got:?}"
    );

    let mut changed = r.clone();
    changed.spec.replicas = 2;
    assert_eq!(
        s.apply(&changed, Some(1)).await.unwrap(),
        Applied::Configured(2)
    );
    let got = must_get(s, "demo").await;
    assert_eq!(
        (got.metadata.generation, got.metadata.resource_version),
        (2, 2)
    );
    assert_eq!(got.spec.replicas, 2);

    changed.metadata.labels.insert("tier".into(), "gold".into());
    assert_eq!(
        s.apply(&changed, Some(2)).await.unwrap(),
        Applied::Configured(3)
    );
    let got = must_get(s, "demo").await;
    assert_eq!(
        (got.metadata.generation, got.metadata.resource_version),
        (3, 3)
    );
    assert_eq!(got.metadata.labels["tier"], "gold");
    assert_eq!(
        s.apply(&changed, Some(3)).await.unwrap(),
        Applied::Unchanged(3)
    );

    assert!(matches!(
        s.apply(&Record::test("ghost"), Some(1)).await,
        Err(Error::NotFound(n)) if n == "ghost"
    ));
    assert_eq!(s.get("ghost").await.unwrap(), None);
}

async fn cas_conflict_overwrites_nothing(f: Fixture) {
    let (a, b) = (&*f.store, &*f.other);
    a.apply(&Record::test("demo"), None).await.unwrap();
    let mut by_a = must_get(a, "demo").await;
    let mut by_b = must_get(b, "demo").await;
    by_a.spec.replicas = 3;
    by_b.spec.replicas = 5;
    assert_eq!(
        a.apply(&by_a, Some(1)).await.unwrap(),
        Applied::Configured(2)
    );
    match b.apply(&by_b, Some(1)).await {
        Err(Error::Conflict {
            name,
            expected: 1,
            found: 2,
        }) => assert_eq!(name, "demo"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let got = must_get(b, "demo").await;
    assert_eq!(
        got.spec.replicas, 3,
        "the stale write overwrote the newer one"
    );
    assert_eq!(got.metadata.resource_version, 2);
}

async fn create_twice_is_already_exists(f: Fixture) {
    let s = &*f.store;
    let mut first = Record::test("demo");
    first.spec.replicas = 4;
    s.apply(&first, None).await.unwrap();
    assert!(matches!(
        f.other.apply(&Record::test("demo"), None).await,
        Err(Error::AlreadyExists(n)) if n == "demo"
    ));
    let got = must_get(s, "demo").await;
    assert_eq!((got.spec.replicas, got.metadata.resource_version), (4, 1));
}

/// Two operators editing different labels, the wake endpoint, the activity agent and the
/// reconciler, all at once, round after round: nothing is lost.
async fn concurrent_writers_on_different_sections(f: Fixture) {
    const ROUNDS: u64 = 12;
    let (a, b) = (f.store.clone(), f.other.clone());
    a.apply(&Record::test("demo"), None).await.unwrap();
    let t0 = Timestamp::now();
    let mut conflicts = 0;
    for round in 1..=ROUNDS {
        let at = t(t0, round * 1000);
        let status = status_with(&format!("round {round}"));
        let (c1, c2, wake, activity, published) = tokio::join!(
            edit(&*a, "demo", |r| {
                r.metadata
                    .labels
                    .insert("editor-a".into(), round.to_string());
            }),
            edit(&*b, "demo", |r| {
                r.spec.replicas = (round % 5) as u32 + 1;
                r.metadata
                    .labels
                    .insert("editor-b".into(), round.to_string());
            }),
            b.record_wake("demo", at, Duration::ZERO),
            a.record_activity("demo", at, Duration::ZERO),
            b.publish_status("demo", &status, StatusGuard::exists()),
        );
        conflicts += c1 + c2;
        assert_eq!(wake.unwrap(), Touch::Written, "round {round}");
        assert_eq!(activity.unwrap(), Touch::Written, "round {round}");
        published.unwrap();

        let got = must_get(&*a, "demo").await;
        assert_eq!(
            got.metadata.labels["editor-a"],
            round.to_string(),
            "round {round}"
        );
        assert_eq!(
            got.metadata.labels["editor-b"],
            round.to_string(),
            "round {round}"
        );
        assert_eq!(got.spec.replicas, (round % 5) as u32 + 1, "round {round}");
        assert_eq!(got.metadata.generation, 1 + 2 * round, "round {round}");
        assert_eq!(got.desired.wake_requested_at, Some(at), "round {round}");
        assert_eq!(got.desired.last_activity_at, Some(at), "round {round}");
        assert_eq!(
            got.status.expect("status").message,
            format!("round {round}")
        );
    }
    eprintln!("{ROUNDS} rounds, {conflicts} CAS conflicts retried");
}

async fn debounce_burst_costs_one_write(f: Fixture) {
    let s = f.store.clone();
    s.apply(&Record::test("demo"), None).await.unwrap();
    let window = Duration::from_secs(60);
    let t0 = Timestamp::now();

    for (what, fact) in [("wake", 0), ("activity", 1)] {
        let token = s.change_token().await.unwrap();
        // 100 hits within one window, sent concurrently: exactly one write.
        let touches: Vec<Touch> = futures::stream::iter(0..100u64)
            .map(|i| {
                let s = s.clone();
                async move {
                    let at = t(t0, i * 10);
                    if fact == 0 {
                        s.record_wake("demo", at, window).await
                    } else {
                        s.record_activity("demo", at, window).await
                    }
                }
            })
            .buffer_unordered(20)
            .map(|r| r.expect("touch"))
            .collect()
            .await;
        let written = touches.iter().filter(|t| **t == Touch::Written).count();
        assert_eq!(
            written, 1,
            "{what}: a burst of 100 hits wrote {written} times"
        );
        let token_after_burst = s.change_token().await.unwrap();
        if f.has_change_token {
            assert_ne!(
                token_after_burst, token,
                "{what}: the write did not bump the token"
            );
        }

        let read = |r: &Record| {
            if fact == 0 {
                r.desired.wake_requested_at
            } else {
                r.desired.last_activity_at
            }
        };
        let stored = read(&must_get(&*s, "demo").await).expect("fact stored");
        assert!(
            stored >= t0 && stored <= t(t0, 990),
            "{what}: stored {stored}"
        );

        // Late or duplicate hits inside the window change nothing.
        let again = if fact == 0 {
            s.record_wake("demo", t(t0, 30_000), window).await
        } else {
            s.record_activity("demo", t(t0, 30_000), window).await
        };
        assert_eq!(again.unwrap(), Touch::Debounced);
        assert_eq!(
            s.change_token().await.unwrap(),
            token_after_burst,
            "{what}: debounced hit wrote"
        );

        // After the window: written.
        let later = t(stored, 61_000);
        let after = if fact == 0 {
            s.record_wake("demo", later, window).await
        } else {
            s.record_activity("demo", later, window).await
        };
        assert_eq!(after.unwrap(), Touch::Written, "{what}");
        assert_eq!(read(&must_get(&*s, "demo").await), Some(later), "{what}");

        // An older hit never moves the fact backwards, even with no debounce.
        let older = if fact == 0 {
            s.record_wake("demo", t0, Duration::ZERO).await
        } else {
            s.record_activity("demo", t0, Duration::ZERO).await
        };
        assert_eq!(older.unwrap(), Touch::Debounced, "{what}");
        assert_eq!(read(&must_get(&*s, "demo").await), Some(later), "{what}");
    }
    // Facts are not the operator's section: resourceVersion and generation are untouched.
    let got = must_get(&*s, "demo").await;
    assert_eq!(
        (got.metadata.generation, got.metadata.resource_version),
        (1, 1)
    );
}

async fn fact_and_status_writes_never_create(f: Fixture) {
    let s = &*f.store;
    let now = Timestamp::now();
    let not_found = |r: Result<(), Error>, what: &str| match r {
        Err(Error::NotFound(n)) => assert_eq!(n, "ghost", "{what}"),
        other => panic!("{what} on a missing record: {other:?}"),
    };
    not_found(
        s.record_wake("ghost", now, Duration::from_secs(60))
            .await
            .map(|_| ()),
        "wake",
    );
    not_found(
        s.record_wake("ghost", now, Duration::ZERO)
            .await
            .map(|_| ()),
        "wake",
    );
    not_found(
        s.record_activity("ghost", now, Duration::from_secs(60))
            .await
            .map(|_| ()),
        "activity",
    );
    not_found(s.request_sleep("ghost", now).await, "sleep");
    not_found(s.force_wake("ghost", now).await, "forced wake");
    not_found(
        s.publish_status("ghost", &status_with("x"), StatusGuard::exists())
            .await,
        "status",
    );
    not_found(
        s.publish_status(
            "ghost",
            &status_with("x"),
            StatusGuard::exists().facts_unchanged(Desired::default()),
        )
        .await,
        "guarded status",
    );
    not_found(s.delete("ghost", None).await, "delete");
    assert_eq!(s.get("ghost").await.unwrap(), None);
    assert!(
        s.list().await.unwrap().is_empty(),
        "a write created a record"
    );
}

async fn deleted_records_are_never_resurrected(f: Fixture) {
    let s = &*f.store;
    s.apply(&Record::test("demo"), None).await.unwrap();
    let now = Timestamp::now();
    s.record_wake("demo", now, Duration::ZERO).await.unwrap();
    s.publish_status("demo", &status_with("ready"), StatusGuard::exists())
        .await
        .unwrap();
    f.other.delete("demo", None).await.unwrap();

    let later = t(now, 120_000);
    assert!(matches!(
        s.record_wake("demo", later, Duration::ZERO).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.record_activity("demo", later, Duration::from_secs(1))
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.request_sleep("demo", later).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.publish_status("demo", &status_with("stale"), StatusGuard::exists())
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete("demo", None).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.get("demo").await.unwrap(), None);
    assert!(s.list().await.unwrap().is_empty());

    // Re-creating starts from scratch: no facts or status survive the delete.
    assert_eq!(
        s.apply(&Record::test("demo"), None).await.unwrap(),
        Applied::Created(1)
    );
    let got = must_get(s, "demo").await;
    assert!(got.desired.is_empty() && got.status.is_none(), "{got:?}");
}

async fn facts_unchanged_guard(f: Fixture) {
    let s = &*f.store;
    s.apply(&Record::test("demo"), None).await.unwrap();
    let t0 = Timestamp::now();

    // No facts yet: the guard holds, until any fact appears.
    let read = must_get(s, "demo").await.desired;
    assert!(read.is_empty());
    s.publish_status(
        "demo",
        &status_with("one"),
        StatusGuard::exists().facts_unchanged(read.clone()),
    )
    .await
    .unwrap();
    f.other
        .record_activity("demo", t0, Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(
        s.publish_status("demo", &status_with("two"), StatusGuard::exists().facts_unchanged(read)).await,
        Err(Error::FactsChanged(n)) if n == "demo"
    ));

    s.record_wake("demo", t0, Duration::ZERO).await.unwrap();
    s.request_sleep("demo", t(t0, 1)).await.unwrap();
    let read = must_get(s, "demo").await.desired;
    assert_eq!(read.wake_requested_at, Some(t0));
    assert_eq!(read.sleep_requested_at, Some(t(t0, 1)));
    s.publish_status(
        "demo",
        &status_with("three"),
        StatusGuard::exists().facts_unchanged(read.clone()),
    )
    .await
    .unwrap();

    // A newer wake lands between the read and the scale-down: the guarded write fails.
    f.other
        .record_wake("demo", t(t0, 5_000), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(matches!(
        s.publish_status(
            "demo",
            &status_with("sleeping"),
            StatusGuard::exists().facts_unchanged(read.clone())
        )
        .await,
        Err(Error::FactsChanged(_))
    ));
    assert_eq!(must_get(s, "demo").await.status.unwrap().message, "three");

    // So does a newer sleep request.
    let read = must_get(s, "demo").await.desired;
    f.other.request_sleep("demo", t(t0, 9_000)).await.unwrap();
    assert!(matches!(
        s.publish_status(
            "demo",
            &status_with("x"),
            StatusGuard::exists().facts_unchanged(read)
        )
        .await,
        Err(Error::FactsChanged(_))
    ));
    // So does an operator's forced wake, which is stored and read back.
    let read = must_get(s, "demo").await.desired;
    f.other.force_wake("demo", t(t0, 9_500)).await.unwrap();
    assert!(matches!(
        s.publish_status(
            "demo",
            &status_with("x"),
            StatusGuard::exists().facts_unchanged(read)
        )
        .await,
        Err(Error::FactsChanged(_))
    ));
    assert_eq!(
        must_get(s, "demo").await.desired.wake_forced_at,
        Some(t(t0, 9_500))
    );
    // The unguarded write still goes through.
    s.publish_status("demo", &status_with("four"), StatusGuard::exists())
        .await
        .unwrap();
    assert_eq!(must_get(s, "demo").await.status.unwrap().message, "four");
}

async fn status_compare_and_swap(f: Fixture) {
    let s = &*f.store;
    s.apply(&Record::test("demo"), None).await.unwrap();
    let v0 = must_get(s, "demo").await.metadata.status_version;
    assert_eq!(v0, 0, "no status written yet");

    // Two passes read version 0; the first write wins, the second is refused and writes nothing.
    s.publish_status("demo", &status_with("first"), StatusGuard::read(v0))
        .await
        .unwrap();
    let refused = f
        .other
        .publish_status("demo", &status_with("stale"), StatusGuard::read(v0))
        .await;
    assert!(
        matches!(&refused, Err(Error::StatusChanged { name, expected: 0, found: 1 }) if name == "demo"),
        "{refused:?}"
    );
    let got = must_get(s, "demo").await;
    assert_eq!(got.status.unwrap().message, "first");
    assert_eq!(got.metadata.status_version, 1);

    // Spec edits and facts do not move the status version; each status write does, by one.
    let mut edited = Record::test("demo");
    edited.spec.replicas = 2;
    s.apply(&edited, Some(got.metadata.resource_version))
        .await
        .unwrap();
    s.record_wake("demo", Timestamp::now(), Duration::ZERO)
        .await
        .unwrap();
    let read = must_get(s, "demo").await;
    assert_eq!(read.metadata.status_version, 1);
    f.other
        .publish_status("demo", &status_with("second"), StatusGuard::read(1))
        .await
        .unwrap();
    assert_eq!(must_get(s, "demo").await.metadata.status_version, 2);

    // The version is checked before the facts; both guards together.
    assert!(matches!(
        s.publish_status(
            "demo",
            &status_with("x"),
            StatusGuard::read(1).facts_unchanged(read.desired.clone())
        )
        .await,
        Err(Error::StatusChanged {
            expected: 1,
            found: 2,
            ..
        })
    ));
    s.publish_status(
        "demo",
        &status_with("third"),
        StatusGuard::read(2).facts_unchanged(read.desired),
    )
    .await
    .unwrap();
    let got = must_get(s, "demo").await;
    assert_eq!(
        (
            got.status.unwrap().message.as_str(),
            got.metadata.status_version
        ),
        ("third", 3)
    );
    // An unguarded write (seeding tools) still counts.
    s.publish_status("demo", &status_with("fourth"), StatusGuard::exists())
        .await
        .unwrap();
    assert_eq!(must_get(s, "demo").await.metadata.status_version, 4);
}

async fn delete_with_cas(f: Fixture) {
    let s = &*f.store;
    let mut r = Record::test("demo");
    s.apply(&r, None).await.unwrap();
    r.spec.replicas = 2;
    assert_eq!(s.apply(&r, Some(1)).await.unwrap(), Applied::Configured(2));
    assert!(matches!(
        f.other.delete("demo", Some(1)).await,
        Err(Error::Conflict {
            expected: 1,
            found: 2,
            ..
        })
    ));
    assert_eq!(
        must_get(s, "demo").await.spec.replicas,
        2,
        "a stale delete removed the record"
    );
    f.other.delete("demo", Some(2)).await.unwrap();
    assert_eq!(s.get("demo").await.unwrap(), None);
    assert!(matches!(
        s.delete("demo", Some(2)).await,
        Err(Error::NotFound(_))
    ));
}

/// 300 records of about 4.5 KB each: 1.3 MB, more than one DynamoDB Scan page (1 MB) and
/// more than one page of [`snooze::store::LIST_PAGE_RECORDS`] (256) records. `list` returns
/// them all, sorted; `store::pages` (what a reconcile pass reads) gives every record exactly
/// once over more than one page.
async fn list_reads_every_page(f: Fixture) {
    const N: usize = 300;
    let s = f.store.clone();
    let filler = |i: usize| -> BTreeMap<String, String> {
        (0..4)
            .map(|k| {
                (
                    format!("blob-{k}"),
                    format!("{i:04}-{k}-{}", "x".repeat(1100)),
                )
            })
            .collect()
    };
    let created: Vec<Applied> = futures::stream::iter(0..N)
        .map(|i| {
            let s = s.clone();
            let mut r = Record::test(&format!("svc-{i:04}"));
            r.metadata.labels = filler(i);
            async move { s.apply(&r, None).await.expect("create") }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(created.len(), N);
    if let Some(partial) = f.first_scan_page_is_partial().await {
        assert!(
            partial,
            "the table fits one Scan page; the test does not exercise pagination"
        );
    }
    let entries = s.list().await.unwrap();
    assert_eq!(entries.len(), N, "list lost records");
    for (i, e) in entries.iter().enumerate() {
        let Entry::Record(r) = e else { panic!("{e:?}") };
        assert_eq!(r.metadata.name, format!("svc-{i:04}"), "not sorted by name");
        assert_eq!(r.metadata.labels, filler(i));
    }
    let pages: Vec<Vec<Entry>> = snooze::store::pages(s.as_ref(), "list")
        .try_collect()
        .await
        .expect("every page reads");
    assert!(pages.len() >= 2, "one page of {N}: paging not exercised");
    let mut names: Vec<String> = pages
        .iter()
        .flatten()
        .map(|e| e.name().to_string())
        .collect();
    names.sort();
    let want: Vec<String> = (0..N).map(|i| format!("svc-{i:04}")).collect();
    assert_eq!(names, want, "pages lost or repeated a record");
}

async fn malformed_items_are_listed_with_the_path(f: Fixture) {
    let s = &*f.store;
    for name in [
        "a-good",
        "b-replicas",
        "c-spec",
        "d-gutted",
        "e-good",
        "f-wake",
    ] {
        s.apply(&Record::test(name), None).await.unwrap();
    }
    s.publish_status(
        "b-replicas",
        &status_with("was fine"),
        StatusGuard::exists(),
    )
    .await
    .unwrap();
    let cases = [
        ("b-replicas", Breakage::ReplicasAsString),
        ("c-spec", Breakage::SpecGone),
        ("d-gutted", Breakage::Gutted),
        ("f-wake", Breakage::WakeAsNumber),
    ];
    let mut paths = BTreeMap::new();
    for (name, how) in cases {
        paths.insert(name, f.corrupt(name, how).await);
    }

    let entries = s.list().await.expect("list never fails on bad items");
    let names: Vec<&str> = entries.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        [
            "a-good",
            "b-replicas",
            "c-spec",
            "d-gutted",
            "e-good",
            "f-wake"
        ]
    );
    for e in &entries {
        match (e, paths.get(e.name())) {
            (Entry::Record(_), None) => {}
            (Entry::Malformed(m), Some(path)) => {
                assert!(
                    m.error.contains(path),
                    "{}: error {:?} does not name {path}",
                    m.name,
                    m.error
                );
                assert!(m.raw.is_object(), "{}: raw {:?}", m.name, m.raw);
                assert!(
                    m.raw.to_string().contains(&m.name),
                    "raw lacks the name: {}",
                    m.raw
                );
            }
            other => panic!("unexpected entry {other:?}"),
        }
    }

    // get returns the same; the status that still parses is kept.
    let Some(Entry::Malformed(m)) = s.get("b-replicas").await.unwrap() else {
        panic!("b-replicas is not malformed")
    };
    assert_eq!(m.status.expect("status parses").message, "was fine");
    assert!(m.raw.to_string().contains("\"two\""), "{}", m.raw);
    assert_eq!(m.resource_version, 1);

    // The reconciler can still publish status onto a malformed record, and an operator can
    // repair it by applying over its version, or delete it.
    s.publish_status("b-replicas", &status_with("Invalid"), StatusGuard::exists())
        .await
        .unwrap();
    assert_eq!(
        s.apply(&Record::test("b-replicas"), Some(1)).await.unwrap(),
        Applied::Configured(2)
    );
    let fixed = must_get(s, "b-replicas").await;
    assert_eq!(fixed.status.unwrap().message, "Invalid");
    assert_eq!(fixed.metadata.generation, 2);
    let Some(Entry::Malformed(gutted)) = s.get("d-gutted").await.unwrap() else {
        panic!("d-gutted is not malformed")
    };
    s.delete("d-gutted", Some(gutted.resource_version))
        .await
        .unwrap();
    assert_eq!(s.get("d-gutted").await.unwrap(), None);

    // A mistyped fact never blocks wakes: the next wake overwrites it, even when debounced.
    let now = Timestamp::now();
    assert_eq!(
        s.record_wake("f-wake", now, Duration::from_secs(60))
            .await
            .unwrap(),
        Touch::Written
    );
    assert_eq!(
        must_get(s, "f-wake").await.desired.wake_requested_at,
        Some(now)
    );
}

/// Record names and label keys that are DynamoDB reserved words; the attribute names
/// `name` and `status` are reserved too, so an unaliased expression would fail here.
async fn reserved_words_never_break_writes(f: Fixture) {
    let s = &*f.store;
    let now = Timestamp::now();
    for name in ["status", "name", "data", "ttl", "count", "size", "key"] {
        let mut r = Record::test(name);
        for k in ["status", "name", "ttl", "count"] {
            r.metadata.labels.insert(k.into(), name.into());
        }
        s.apply(&r, None)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        r.spec.replicas = 2;
        assert_eq!(
            s.apply(&r, Some(1)).await.unwrap(),
            Applied::Configured(2),
            "{name}"
        );
        s.record_wake(name, now, Duration::from_secs(5))
            .await
            .unwrap();
        s.record_activity(name, now, Duration::from_secs(5))
            .await
            .unwrap();
        s.request_sleep(name, now).await.unwrap();
        let read = must_get(s, name).await.desired;
        s.publish_status(
            name,
            &status_with(name),
            StatusGuard::exists().facts_unchanged(read),
        )
        .await
        .unwrap();
        let got = must_get(s, name).await;
        assert_eq!(got.metadata.labels["ttl"], name);
        assert_eq!(got.status.unwrap().message, name);
    }
    assert_eq!(s.list().await.unwrap().len(), 7);
    for name in ["status", "name", "data", "ttl", "count", "size", "key"] {
        s.delete(name, Some(2))
            .await
            .unwrap_or_else(|e| panic!("delete {name}: {e}"));
    }
    assert!(s.list().await.unwrap().is_empty());
}

/// Two handles on one store (two processes on one SQLite file) see each other's writes, and
/// the change token moves for writes made by the other.
async fn two_handles_see_each_other(f: Fixture) {
    let (a, b) = (&*f.store, &*f.other);
    let before = a.change_token().await.unwrap();
    assert_eq!(before.is_some(), f.has_change_token);
    b.apply(&Record::test("demo"), None).await.unwrap();
    let after_create = a.change_token().await.unwrap();
    assert_eq!(a.list().await.unwrap().len(), 1);
    a.record_wake("demo", Timestamp::now(), Duration::ZERO)
        .await
        .unwrap();
    assert!(
        must_get(b, "demo")
            .await
            .desired
            .wake_requested_at
            .is_some()
    );
    b.publish_status("demo", &status_with("hi"), StatusGuard::exists())
        .await
        .unwrap();
    let after_status = a.change_token().await.unwrap();
    assert_eq!(must_get(a, "demo").await.status.unwrap().message, "hi");
    if f.has_change_token {
        assert_ne!(
            before, after_create,
            "create by the other handle not seen in the token"
        );
        assert_ne!(
            after_create, after_status,
            "status by the other handle not seen in the token"
        );
        assert_eq!(
            after_status,
            b.change_token().await.unwrap(),
            "handles disagree"
        );
        // Reads do not move it.
        a.list().await.unwrap();
        assert_eq!(a.change_token().await.unwrap(), after_status);
    }
}

/// Every example manifest and every optional field of spec and status survive a store round
/// trip unchanged (`snoozectl apply -f manifests/ && snoozectl get -o yaml` is lossless).
async fn every_field_round_trips(f: Fixture) {
    let s = &*f.store;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let mut manifests = Vec::new();
    for dir in [root.clone(), root.join("local")] {
        for file in std::fs::read_dir(&dir).expect("manifests/") {
            let path = file.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("read manifest");
                let records = snooze::model::parse_manifests(&text, &path.display().to_string())
                    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
                manifests.extend(records);
            }
        }
    }
    assert!(
        manifests.len() >= 2,
        "no example manifests found under {}",
        root.display()
    );

    // A record with every optional field set.
    let mut full = Record::test("full");
    full.spec.target = snooze::model::Target::Local(snooze::model::LocalTarget {
        command: "bin/app".into(),
        args: vec!["--port".into(), "9000".into(), "".into()],
        env: [
            ("A".to_string(), "1".to_string()),
            ("EMPTY".into(), "".into()),
        ]
        .into(),
        working_dir: Some("/srv/app".into()),
        port: 9000,
    });
    full.spec.max_replicas = Some(20);
    full.spec.replicas = 0;
    full.spec.readiness = Some(snooze::model::Readiness {
        http_get: Some(snooze::model::HttpGet {
            path: "/ready?x=1".into(),
            port: Some(9001),
            timeout: snooze::model::HumanDuration(Duration::from_millis(1500)),
        }),
    });
    full.spec.wake.access = snooze::model::Access::Token;
    full.spec.wake.token_sha256 = Some("ab".repeat(32));
    full.spec.wake.ignore_user_agents = Some(vec!["Slackbot".into(), "curl".into()]);
    full.spec.page.title = Some("Ünïcode & <b>tags</b>".into());
    full.spec.page.theme = snooze::model::Theme::Dark;
    full.metadata.labels.insert("empty".into(), "".into());
    full.spec.groups = vec!["preview".into(), "shared-db".into()];
    full.spec.depends_on = vec!["api".into()];
    full.spec.optional = true;
    full.spec.max_awake = Some(snooze::model::HumanDuration::from_mins(8 * 60));
    full.spec.budget = Some(12.5);
    manifests.push(full);

    let t0 = Timestamp::now();
    let status = Status {
        phase: snooze::model::Phase::Ready,
        phase_since: Some(t0),
        observed_generation: 7,
        route: None,
        step: Some(snooze::model::Step::Ready),
        replicas: snooze::model::ReplicaStatus {
            desired: 1,
            running: 1,
            pending: 0,
        },
        endpoint: Some(snooze::model::EndpointStatus {
            ip: "203.0.113.10".into(),
            url: "http://203.0.113.10:80/".into(),
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc".into(),
        }),
        sleeps_at: Some(t(t0, 900_000)),
        wake_started_at: Some(t(t0, 1)),
        last_wake: Some(snooze::model::LastWake {
            requested_at: t0,
            ready_at: t(t0, 41_200),
            seconds: 41.2,
        }),
        last_failure: Some(snooze::model::LastFailure {
            at: t(t0, 2),
            message: "not ready within 5m (stuck at pending: task is PENDING)".into(),
        }),
        recent_wake_seconds: vec![41.2, 0.125, 38.0],
        group: Some(snooze::model::GroupStatus {
            waiting_for: vec!["api".into()],
            held_by: vec!["web".into()],
            ready_by: Some(t(t0, 90_000)),
            members: vec![
                snooze::model::GroupMemberStatus {
                    name: "api".into(),
                    wave: 0,
                    phase: Some(snooze::model::Phase::Waking),
                    step: Some(snooze::model::Step::Pending),
                    message: "task is PENDING".into(),
                    optional: false,
                },
                snooze::model::GroupMemberStatus {
                    name: "web".into(),
                    wave: 1,
                    phase: None,
                    step: None,
                    message: String::new(),
                    optional: true,
                },
            ],
        }),
        ledger: snooze::model::ledger::Ledger {
            counted_until: Some(t(t0, 60_000)),
            months: vec![
                snooze::model::ledger::LedgerMonth {
                    month: "2026-11".into(),
                    task_seconds: 5400.5,
                    always_on_seconds: 86_400.0,
                    cost: Some(0.0704),
                    always_on_cost: Some(1.17),
                    wakes: 3,
                    wake_seconds: vec![41.2, 38.0],
                    forced_over_budget: 1,
                    budget_reached_at: Some(t(t0, 3)),
                    unaccounted_tasks: 1,
                    unpriced_task_seconds: 12.5,
                    unpriced_always_on_seconds: 3600.0,
                },
                snooze::model::ledger::LedgerMonth {
                    month: "2026-12".into(),
                    task_seconds: 60.0,
                    ..Default::default()
                },
            ],
            tasks: vec![snooze::model::ledger::LedgerTask {
                arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc".into(),
                billed_from: t(t0, 4),
                counted_until: t(t0, 60_000),
                stopped: true,
                public_ip: true,
            }],
        },
        conditions: vec![snooze::model::Condition {
            type_: "Ready".into(),
            status: snooze::model::ConditionStatus::True,
            reason: "TaskHealthy".into(),
            message: "task abc is healthy".into(),
            last_transition_time: t0,
        }],
        message: "ready".into(),
        // The typed keys, and keys of a newer version (any JSON), kept as they are.
        memo: snooze::model::Memo {
            last_set: Some(1),
            failed_at: Some(t(t0, 5)),
            other: serde_json::from_value(serde_json::json!({
                "driftCount": 3, "ratio": 0.5, "flag": true, "none": null,
                "list": [1, "two", {"three": 3}], "empty": {}
            }))
            .expect("object"),
            ..Default::default()
        },
    };

    for (i, mut r) in manifests.into_iter().enumerate() {
        r.metadata.name = format!("{}-{i}", r.metadata.name);
        let name = r.metadata.name.clone();
        s.apply(&r, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        s.record_wake(&name, t0, Duration::ZERO).await.unwrap();
        s.record_activity(&name, t(t0, 2), Duration::ZERO)
            .await
            .unwrap();
        s.request_sleep(&name, t(t0, 3)).await.unwrap();
        s.publish_status(&name, &status, StatusGuard::exists())
            .await
            .unwrap();
        let got = must_get(s, &name).await;
        assert_eq!(got.spec, r.spec, "{name}: spec changed in the store");
        assert_eq!(got.metadata.labels, r.metadata.labels, "{name}");
        assert_eq!(
            got.status.as_ref(),
            Some(&status),
            "{name}: status changed in the store"
        );
        assert_eq!(got.desired.wake_requested_at, Some(t0));
        assert_eq!(got.desired.last_activity_at, Some(t(t0, 2)));
        assert_eq!(got.desired.sleep_requested_at, Some(t(t0, 3)));
        assert_eq!(
            s.apply(&r, Some(1)).await.unwrap(),
            Applied::Unchanged(1),
            "{name}: the stored spec does not compare equal to the applied one"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Every case against every backend.

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::sqlite_fixture(stringify!($case))).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::dynamo_fixture(stringify!($case)).await).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::memory_fixture(stringify!($case))).await;
                }
            )*
        }
    };
}

conformance!(
    create_get_list,
    apply_unchanged_and_configured,
    cas_conflict_overwrites_nothing,
    create_twice_is_already_exists,
    concurrent_writers_on_different_sections,
    debounce_burst_costs_one_write,
    fact_and_status_writes_never_create,
    deleted_records_are_never_resurrected,
    facts_unchanged_guard,
    status_compare_and_swap,
    delete_with_cas,
    list_reads_every_page,
    malformed_items_are_listed_with_the_path,
    reserved_words_never_break_writes,
    two_handles_see_each_other,
    every_field_round_trips,
);

/// `connect` builds each store from its URL (the path `snoozectl --store`, the Lambdas and
/// `snoozectl dev` take).
#[tokio::test]
async fn connect_builds_each_store_from_its_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/new/dir/snooze.db", dir.path().display());
    let opts = ConnectOptions {
        region: None,
        endpoint_url: Some(serialised_moto_endpoint().to_string()),
    };
    let sqlite = snooze::store::connect(&url, &opts)
        .await
        .expect("connect sqlite");
    sqlite.apply(&Record::test("demo"), None).await.unwrap();
    assert!(dir.path().join("new/dir/snooze.db").exists());

    let table = unique("conf-connect");
    let created = DynamoStore::new(snooze::store::dynamo_client(&opts).await, table.clone())
        .create_table()
        .await
        .expect("create table");
    assert!(created);
    let dynamo = snooze::store::connect(&format!("dynamodb://{table}"), &opts)
        .await
        .expect("connect dynamodb");
    dynamo.apply(&Record::test("demo"), None).await.unwrap();
    assert_eq!(
        must_get(&*dynamo, "demo").await.metadata.resource_version,
        1
    );

    for bad in ["mysql://db", "snooze.db", "dynamodb://x"] {
        match snooze::store::connect(bad, &opts).await {
            Err(Error::Config(msg)) => assert!(msg.contains("dynamodb://TABLE"), "{bad}: {msg}"),
            Err(other) => panic!("{bad}: {other}"),
            Ok(_) => panic!("{bad}: connected"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite across real processes: `snoozectl apply` in one terminal, `snoozectl dev` in another.

const CHILD_ENV: &str = "SNOOZE_CONFORMANCE_SQLITE_CHILD";
const CHILD_ROUNDS: u64 = 40;

/// Two child processes (this test binary re-run as [`sqlite_child_process_writer`]) and this
/// process write to one SQLite file at the same time: operator edits with CAS, wakes and
/// status. Nothing is lost, and this process's change token sees the children's writes.
#[test]
fn sqlite_store_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snooze.db");
    let _store = SqliteStore::open(&path).expect("open");
    // WAL is a property of the file: another connection sees it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_share_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("snooze.db");
    let store = SqliteStore::open(&path).expect("open");
    store.apply(&Record::test("demo"), None).await.unwrap();
    let token = store
        .change_token()
        .await
        .unwrap()
        .expect("sqlite has a change token");

    let children: Vec<std::process::Child> = (0..2)
        .map(|id| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "sqlite_child_process_writer",
                    "--exact",
                    "--include-ignored",
                    "--nocapture",
                ])
                .env(CHILD_ENV, format!("{id}:{}", path.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child process")
        })
        .collect();
    let mut conflicts = 0;
    for round in 1..=CHILD_ROUNDS {
        conflicts += edit(&store, "demo", |r| {
            r.metadata.labels.insert("parent".into(), round.to_string());
        })
        .await;
        store
            .publish_status(
                "demo",
                &status_with(&format!("parent {round}")),
                StatusGuard::exists(),
            )
            .await
            .unwrap();
    }
    for child in children {
        let out = child.wait_with_output().expect("child exits");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let got = must_get(&store, "demo").await;
    assert_eq!(got.metadata.labels["parent"], CHILD_ROUNDS.to_string());
    assert_eq!(got.metadata.labels["child-0"], CHILD_ROUNDS.to_string());
    assert_eq!(got.metadata.labels["child-1"], CHILD_ROUNDS.to_string());
    assert_eq!(
        got.metadata.generation,
        1 + 3 * CHILD_ROUNDS,
        "an edit was lost"
    );
    assert!(got.desired.wake_requested_at.is_some());
    let after = store.change_token().await.unwrap().expect("token");
    // 3 x ROUNDS edits, ROUNDS parent statuses, and at least ROUNDS child wakes.
    assert!(
        after >= token + 5 * CHILD_ROUNDS,
        "token {token} -> {after}"
    );
    eprintln!("3 processes, {CHILD_ROUNDS} rounds each, parent met {conflicts} CAS conflicts");
}

/// Helper of [`sqlite_processes_share_one_file`], run in a child process; not a test by itself.
#[tokio::test]
#[ignore = "helper: runs in a child process of sqlite_processes_share_one_file"]
async fn sqlite_child_process_writer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        // `--include-ignored` without the parent: nothing to do (the parent asserts on us).
        eprintln!("{CHILD_ENV} unset: only sqlite_processes_share_one_file runs this helper");
        return;
    };
    let (id, path) = spec.split_once(':').expect("ID:PATH");
    let store = SqliteStore::open(path).expect("open in child");
    let t0 = Timestamp::now();
    for round in 1..=CHILD_ROUNDS {
        edit(&store, "demo", |r| {
            r.metadata
                .labels
                .insert(format!("child-{id}"), round.to_string());
        })
        .await;
        // The other child's clock may be ahead: then this wake is older and debounced.
        store
            .record_wake("demo", t(t0, round), Duration::ZERO)
            .await
            .unwrap();
    }
}
