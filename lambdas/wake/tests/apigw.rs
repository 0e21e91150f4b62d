//! The wake Lambda's adapter ([`snooze_wake::serve`]) run the way `lambda_http::run` runs it,
//! over every API Gateway HTTP API v2 fixture of the wake endpoint's tests
//! (`controller/tests/fixtures/apigw/`): each gets the same answer the library handler gives,
//! as a normal HTTP response (never a Lambda error), with HTML and JSON as text, not base64.
//! And the raw-event gate ([`snooze_wake::event`]): malformed events of every accepted type
//! (API Gateway v2 and v1, ALB) are a 400 in their own shape, never a panic; the property test
//! feeds it mutated fixtures and any JSON.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, service_fn};
use proptest::prelude::*;
use serde_json::{Value, json};
use snooze::wake::{WakeState, handle};
use snooze_test_support::{fuzz, wake_seed};

/// The records the fixtures name: `demo` and `locked` (token) asleep, `up` Ready.
async fn state(dir: &Path) -> Arc<WakeState> {
    wake_seed::sqlite_state(dir).await.1
}

#[tokio::test]
async fn the_binary_adapter_answers_every_fixture_like_the_library() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../controller/tests/fixtures/apigw");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the wake endpoint's fixtures are there: {}",
        dir.display()
    );
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();

        // Through the binary's adapter, as lambda_http::run does it.
        let tmp = tempfile::tempdir().unwrap();
        let s = state(tmp.path()).await;
        let mut adapter = Adapter::from(service_fn(move |req: lambda_http::Request| {
            let s = s.clone();
            async move { Ok::<_, Infallible>(snooze_wake::serve(&s, req).await) }
        }));
        let payload: LambdaRequest = serde_json::from_value(event.clone()).unwrap();
        let resp = adapter
            .call(LambdaEvent::new(payload, Context::default()))
            .await;
        let resp =
            serde_json::to_value(resp.unwrap_or_else(|e| panic!("{name}: Lambda error {e}")))
                .unwrap();

        // The library handler alone, on a fresh copy of the same records.
        let tmp2 = tempfile::tempdir().unwrap();
        let s2 = state(tmp2.path()).await;
        let payload: LambdaRequest = serde_json::from_value(event).unwrap();
        let (parts, body) = lambda_http::Request::from(payload).into_parts();
        let direct = handle(
            &s2,
            http::Request::from_parts(parts, bytes::Bytes::copy_from_slice(body.as_ref())),
        )
        .await;

        let code = resp["statusCode"].as_u64().unwrap();
        assert_eq!(code, direct.status().as_u16() as u64, "{name}: {resp}");
        assert!(
            (200..500).contains(&code),
            "{name}: bad input is a 4xx, never a 5xx: {resp}"
        );
        let header = |k: &str| resp["headers"][k].as_str().unwrap_or("").to_string();
        let direct_header = |k: &str| {
            direct
                .headers()
                .get(k)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        for h in ["location", "content-type", "cache-control"] {
            assert_eq!(header(h), direct_header(h), "{name}: header {h}");
        }
        let text = header("content-type").starts_with("text/")
            || header("content-type").starts_with("application/json");
        if text && !direct.body().is_empty() {
            assert_ne!(
                resp["isBase64Encoded"], true,
                "{name}: text bodies go back as text"
            );
            assert!(
                !resp["body"].as_str().unwrap_or("").is_empty(),
                "{name}: body kept"
            );
        }
    }
}

/// Every event fixture: the wake endpoint's API Gateway v2 fixtures and this crate's REST API
/// (v1) and ALB ones.
fn all_events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../controller/tests/fixtures/apigw"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for f in files {
            let v = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            out.push((f.file_name().unwrap().to_string_lossy().to_string(), v));
        }
    }
    out
}

fn fixture(name: &str) -> Value {
    all_events()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("fixture {name}"))
        .1
}

/// Runs one raw event through what the binary runs ([`snooze_wake::handle_event`]).
async fn invoke(state: &Arc<WakeState>, event: Value) -> Value {
    snooze_wake::handle_event(state, LambdaEvent::new(event, Context::default())).await
}

/// Issue 13, class 8: a body marked `isBase64Encoded` that is not base64 panicked inside
/// `lambda_http`'s conversion (a 500 from API Gateway). It is a 400 from snooze, in the
/// response shape of each event type the Lambda accepts.
#[tokio::test]
async fn a_body_marked_base64_that_is_not_is_a_400_in_each_event_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let s = state(tmp.path()).await;
    for (name, shape_key) in [
        ("wake-post-base64.json", "cookies"),
        ("rest-v1-status.json", "multiValueHeaders"),
        ("alb-status.json", "statusDescription"),
    ] {
        let mut event = fixture(name);
        event["body"] = json!("%%% this is not base64 %%%");
        event["isBase64Encoded"] = json!(true);
        let resp = invoke(&s, event).await;
        assert_eq!(resp["statusCode"], 400, "{name}: {resp}");
        assert!(
            resp.get(shape_key).is_some(),
            "{name}: {shape_key} in {resp}"
        );
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "bad_request", "{name}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("base64"),
            "{name}: {body}"
        );
    }
}

/// The REST API (v1) and ALB events are served, each answered in its own shape.
#[tokio::test]
async fn rest_api_and_alb_events_are_served_in_their_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = state(tmp.path()).await;
    let v1 = invoke(&s, fixture("rest-v1-status.json")).await;
    assert_eq!(v1["statusCode"], 200, "{v1}");
    assert!(v1["multiValueHeaders"]["content-type"].is_array(), "{v1}");
    let alb = invoke(&s, fixture("alb-status.json")).await;
    assert_eq!(alb["statusCode"], 200, "{alb}");
    assert_eq!(alb["statusDescription"], "200 OK", "{alb}");
    for resp in [&v1, &alb] {
        let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["name"], "demo", "{resp}");
    }
    // An event of no known shape is a 400 in the deployed integration's (HTTP API v2) shape.
    for odd in [
        json!({}),
        json!([1, 2]),
        json!("GET /"),
        json!({"version": "2.0"}),
    ] {
        let resp = invoke(&s, odd.clone()).await;
        assert_eq!(resp["statusCode"], 400, "{odd}: {resp}");
    }
}

/// Other events `lambda_http`'s conversion panicked on before the check (found by the
/// property test below): a host, scheme or path that does not form a URL, a raw query string
/// that is not a valid URI query.
#[tokio::test]
async fn events_whose_uri_cannot_be_built_are_a_400() {
    let tmp = tempfile::tempdir().unwrap();
    let s = state(tmp.path()).await;
    let base = fixture("healthz.json");
    let cases = [
        ("/headers/host", json!("exa mple.com")),
        ("/headers/x-forwarded-proto", json!("ht tp")),
        ("/rawPath", json!(":99999")),
        ("/rawQueryString", json!("a=b c")),
    ];
    for (pointer, value) in cases {
        let mut event = base.clone();
        *event.pointer_mut(pointer).unwrap() = value.clone();
        let resp = invoke(&s, event).await;
        assert_eq!(resp["statusCode"], 400, "{pointer}={value}: {resp}");
    }
}

/// Arbitrary input: every fixture, mutated (fields dropped, duplicated, retyped, huge numbers,
/// unicode, bodies claiming base64), and any JSON at all, through what the binary runs. Never a
/// panic, never a 5xx (the store is SQLite here and does not fail), always a status code.
#[test]
fn fuzz_raw_events_never_panic_or_5xx() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = rt.block_on(state(tmp.path()));
    let bases: Vec<Value> = all_events().into_iter().map(|(_, v)| v).collect();
    let mut with_base64 = bases.clone();
    for b in &mut with_base64 {
        b["isBase64Encoded"] = json!(true);
    }
    // The fields the conversion builds the URI and body from, set to odd strings.
    let fields = [
        "/headers/host",
        "/headers/x-forwarded-proto",
        "/rawPath",
        "/path",
        "/rawQueryString",
        "/requestContext/stage",
        "/requestContext/domainName",
        "/body",
    ];
    let targeted = (
        0..bases.len(),
        0..fields.len(),
        fuzz::odd_string(),
        any::<bool>(),
    )
        .prop_map({
            let bases = bases.clone();
            move |(i, f, text, b64)| {
                let mut event = bases[i].clone();
                let (parent, key) = fields[f].rsplit_once('/').unwrap();
                if let Some(Value::Object(o)) = event.pointer_mut(parent) {
                    o.insert(key.to_string(), json!(text));
                }
                event["isBase64Encoded"] = json!(b64);
                event
            }
        });
    let strategy = prop_oneof![
        3 => targeted,
        4 => fuzz::mutated_any(bases),
        2 => fuzz::mutated_any(with_base64),
        1 => fuzz::json(),
    ];
    fuzz::run("wake lambda raw events", strategy, |event| {
        let resp = rt.block_on(invoke(&s, event.clone()));
        let code = resp["statusCode"].as_u64();
        prop_assert!(
            code.is_some_and(|c| (200..500).contains(&c)),
            "{event}\n-> {resp}"
        );
        Ok(())
    });
}
