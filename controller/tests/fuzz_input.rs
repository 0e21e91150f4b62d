//! Arbitrary input never panics (issue 13, "Arbitrary input"): the manifest reader, the stored
//! record readers (plain JSON, SQLite rows, DynamoDB items on moto) and the wake endpoint's
//! router, fed random bytes, mutations of the real manifests and records (fields dropped,
//! duplicated, retyped, huge numbers, unicode) and random HTTP requests.
//!
//! 128 cases per property in the normal run; `PROPTEST_CASES=10000` for the long run
//! (`scripts/fuzz-long`), each printing `fuzz <name>: <n> inputs run ... <f> failures` with
//! `--nocapture`.

use std::path::Path;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http::{Method, Request};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use snooze::manifest::{Source, parse_all};
use snooze::model::{Record, Status, parse_manifests, parse_record_value};
use snooze::store::dynamodb::DynamoStore;
use snooze::store::{ConnectOptions, SqliteStore, Store};
use snooze::wake::{WakeConfig, WakeState, router};
use snooze_test_support::{fuzz, moto_endpoint, wake_seed};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The real manifests of the repository (as text) and their first document as JSON.
fn manifests() -> Vec<(String, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["manifests/demo-ecs.yaml", "manifests/local/demo.yaml"]
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(root.join(p)).unwrap();
            // manifests/local/demo.yaml holds two documents (the demo group): the first one.
            let first = serde_yaml_ng::Deserializer::from_str(&text).next().unwrap();
            let doc = Value::deserialize(first).unwrap();
            (text, doc)
        })
        .collect()
}

/// A stored record as plain JSON, with a status (what the stores convert their items to).
fn stored_record() -> Value {
    let mut record = Record::test("demo");
    record.status = Some(Status::default());
    let mut v = serde_json::to_value(&record).unwrap();
    v["status"] = serde_json::to_value(Status::default()).unwrap();
    v
}

#[test]
fn fuzz_manifest_reader() {
    let docs: Vec<Value> = manifests().into_iter().map(|(_, d)| d).collect();
    let texts: Vec<String> = manifests().into_iter().map(|(t, _)| t).collect();
    let text = prop_oneof![
        // Mutated real manifests, back to YAML.
        3 => fuzz::mutated_any(docs).prop_map(|v| serde_yaml_ng::to_string(&v).unwrap_or_default()),
        // Real manifests with bytes cut out or spliced in (broken indentation, quotes, ...).
        2 => (0..texts.len(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), fuzz::odd_string())
            .prop_map(move |(i, a, b, insert)| {
                let t = &texts[i];
                let (a, b) = (a.index(t.len() + 1), b.index(t.len() + 1));
                let (a, b) = (a.min(b), a.max(b));
                let cut = |k: usize| (0..=k).rev().find(|&k| t.is_char_boundary(k)).unwrap_or(0);
                format!("{}{insert}{}", &t[..cut(a)], &t[cut(b)..])
            }),
        // Random bytes (as the lossy text a file read would give).
        1 => prop::collection::vec(any::<u8>(), 0..512)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => fuzz::json().prop_map(|v| serde_yaml_ng::to_string(&v).unwrap_or_default()),
    ];
    fuzz::run("manifest reader", text, |text| {
        let _ = parse_manifests(&text, "fuzz.yaml");
        let _ = parse_all(&[Source {
            name: "fuzz.yaml".into(),
            text,
        }]);
        Ok(())
    });
}

#[test]
fn fuzz_stored_record_reader() {
    let input = prop_oneof![
        4 => fuzz::mutated(stored_record()),
        1 => fuzz::json(),
    ];
    fuzz::run("stored record reader (JSON)", input, |v| {
        let _ = parse_record_value(v);
        Ok(())
    });
}

/// One SQLite value of any type (SQLite columns take any type but NULL in NOT NULL ones).
fn sql_value() -> impl Strategy<Value = rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    prop_oneof![
        Just(V::Null),
        any::<i64>().prop_map(V::Integer),
        any::<f64>().prop_map(V::Real),
        fuzz::odd_string().prop_map(V::Text),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(V::Blob),
        fuzz::json().prop_map(|j| V::Text(j.to_string())),
    ]
}

#[test]
fn fuzz_sqlite_row_reader() {
    use rusqlite::types::Value as V;
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fuzz.db");
    let store = SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let base = stored_record();
    // Each JSON column: the real value mutated, or any SQLite value at all.
    let json_col = |v: Value| {
        prop_oneof![
            3 => fuzz::mutated(v).prop_map(|m| V::Text(m.to_string())),
            1 => sql_value(),
        ]
    };
    let row = (
        sql_value(),
        sql_value(),
        json_col(base["metadata"].clone()),
        json_col(base["spec"].clone()),
        sql_value(),
        sql_value(),
        prop::collection::vec(sql_value(), 4),
        json_col(base["status"].clone()),
    );
    fuzz::run(
        "sqlite row reader",
        row,
        |(api, kind, meta, spec, generation, rv, times, status)| {
            let not_null = |v: V| if v == V::Null { V::Integer(0) } else { v };
            conn.execute("DELETE FROM records", []).unwrap();
            conn.execute(
            "INSERT INTO records (name, api_version, kind, metadata, spec, generation, \
             resource_version, created_at, wake_requested_at, last_activity_at, \
             sleep_requested_at, status) VALUES ('demo', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            rusqlite::params![
                not_null(api),
                not_null(kind),
                not_null(meta),
                not_null(spec),
                not_null(generation),
                not_null(rv),
                times[0],
                times[1],
                times[2],
                times[3],
                status
            ],
        )
        .unwrap();
            let listed = rt.block_on(store.list());
            let got = rt.block_on(store.get("demo"));
            prop_assert!(matches!(listed.as_deref(), Ok([_])), "{listed:?}");
            prop_assert!(matches!(got, Ok(Some(_))), "{got:?}");
            Ok(())
        },
    );
}

/// Any DynamoDB attribute value, of every type (including sets and binary, which a JSON
/// mutation cannot produce).
fn attribute(v: Value) -> AttributeValue {
    serde_dynamo::to_attribute_value(v).unwrap_or(AttributeValue::Null(true))
}

#[test]
fn fuzz_dynamodb_item_reader() {
    let rt = runtime();
    let table = format!("fuzz-items-{}", std::process::id());
    let opts = ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto_endpoint().to_owned()),
    };
    let (store, client) = rt.block_on(async {
        let client = snooze::store::dynamo_client(&opts).await;
        let store = DynamoStore::new(client.clone(), &table);
        store.create_table().await.expect("create table on moto");
        (store, client)
    });
    let mut base = stored_record();
    let base_obj = base.as_object_mut().unwrap();
    // The item layout: metadata.name as the key `name`, the rest top-level.
    base_obj.insert("name".into(), json!("demo"));
    base_obj.insert("generation".into(), json!(1));
    base_obj.insert("resourceVersion".into(), json!(1));
    let odd_attribute = prop_oneof![
        Just(AttributeValue::Ss(vec!["a".into(), "b".into()])),
        Just(AttributeValue::Ns(vec!["1".into(), "1e125".into()])),
        Just(AttributeValue::B(aws_smithy_types::Blob::new(vec![
            0, 159, 146, 150
        ]))),
        Just(AttributeValue::N(
            "99999999999999999999999999999999999999".into()
        )),
        Just(AttributeValue::N("-1e-130".into())),
        Just(AttributeValue::Bool(true)),
        Just(AttributeValue::L(vec![])),
    ];
    let fields: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    let item = (
        fuzz::mutated(base),
        prop::option::of((prop::sample::select(fields), odd_attribute)),
    );
    fuzz::run("dynamodb item reader", item, |(doc, odd)| {
        let Value::Object(map) = without_empty_keys(doc) else {
            return Ok(());
        };
        let mut item: std::collections::HashMap<String, AttributeValue> =
            map.into_iter().map(|(k, v)| (k, attribute(v))).collect();
        if let Some((field, value)) = odd {
            item.insert(field, value);
        }
        // The key is always a string: DynamoDB refuses anything else.
        item.insert("name".into(), AttributeValue::S("demo".into()));
        let put = rt.block_on(
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send(),
        );
        if put.is_err() {
            // DynamoDB (moto) refused the item (e.g. an empty set): it cannot be stored.
            return Ok(());
        }
        let got = rt.block_on(store.get("demo"));
        prop_assert!(matches!(got, Ok(Some(_))), "{got:?}");
        let listed = rt.block_on(store.list());
        prop_assert!(listed.is_ok(), "{listed:?}");
        Ok(())
    });
}

/// `v` without empty object keys at any depth. DynamoDB refuses empty attribute names; moto
/// stores them and then answers GetItem with JSON the SDK cannot read (a moto artefact, not an
/// item a table can hold).
fn without_empty_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k, without_empty_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_empty_keys).collect()),
        other => other,
    }
}

/// A random HTTP request to the wake endpoint: methods, paths built from the routes' pieces
/// and odd strings, headers (cookies, tokens, content types, accept), query strings, bodies.
fn request() -> impl Strategy<Value = Request<axum::body::Body>> {
    let method = prop_oneof![
        prop::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
            Method::TRACE,
        ]),
        "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)),
    ];
    let segment = prop_oneof![
        prop::sample::select(vec![
            "",
            "s",
            "api",
            "v1",
            "services",
            "wake",
            "healthz",
            "demo",
            "up",
            "locked",
            "prod",
            "..",
            ".",
            "%2e%2e",
            "%00",
            "%ff",
            "demo%2Fx",
            "-",
            "a".repeat(300).leak(),
        ])
        .prop_map(str::to_string),
        "[a-z0-9%._~-]{0,12}",
        fuzz::odd_string().prop_map(|s| urlencoding::encode(&s).into_owned()),
    ];
    let path = prop::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/")));
    let query = prop::option::of(prop_oneof![
        Just("wait=0".to_string()),
        Just("wait=99999999999999999999".to_string()),
        Just("retry&token=x&token=y".to_string()),
        Just("%zz=%".to_string()),
        "[a-z=&%0-9]{0,30}",
    ]);
    let header = prop_oneof![
        fuzz::odd_string().prop_map(|v| ("cookie".to_string(), format!("snooze_token={v}"))),
        fuzz::odd_string().prop_map(|v| ("authorization".to_string(), format!("Bearer {v}"))),
        prop::sample::select(vec!["text/html", "application/json", "*/*", "", "\u{7f}"])
            .prop_map(|v| ("accept".to_string(), v.to_string())),
        "[0-9]{0,25}".prop_map(|v| ("content-length".to_string(), v)),
        fuzz::odd_string().prop_map(|v| ("user-agent".to_string(), v)),
        fuzz::odd_string().prop_map(|v| ("host".to_string(), v)),
        ("[a-z-]{1,20}", fuzz::odd_string()),
    ];
    let headers = prop::collection::vec(header, 0..6);
    let body = prop::collection::vec(any::<u8>(), 0..256);
    (method, path, query, headers, body).prop_map(|(method, path, query, headers, body)| {
        let uri = match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut b = Request::builder().method(method).uri(uri.as_str());
        if b.uri_ref().is_none() {
            b = Request::builder().uri("/");
        }
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_bytes(v.as_bytes()),
            ) {
                b = b.header(k, v);
            }
        }
        b.body(axum::body::Body::from(Bytes::from(body)))
            .unwrap_or_else(|_| Request::new(axum::body::Body::empty()))
    })
}

#[test]
fn fuzz_wake_router() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let app = rt.block_on(async {
        let store = Arc::new(SqliteStore::open(tmp.path().join("snooze.db")).unwrap());
        wake_seed::seed(store.as_ref()).await;
        let config = WakeConfig {
            default_service: Some("demo".into()),
            // No waiting on the status in the fuzz run: `?wait=N` answers at once.
            max_wait: std::time::Duration::ZERO,
            ..WakeConfig::default()
        };
        router(Arc::new(WakeState::new(store, config)))
    });
    fuzz::run("wake router", request(), |req| {
        let described = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
        let resp = rt.block_on(app.clone().oneshot(req)).unwrap();
        let status = resp.status();
        prop_assert!(!status.is_server_error(), "{described} -> {status}");
        let body = rt.block_on(axum::body::to_bytes(resp.into_body(), usize::MAX));
        prop_assert!(body.is_ok(), "{described}: the body could not be read");
        Ok(())
    });
}
