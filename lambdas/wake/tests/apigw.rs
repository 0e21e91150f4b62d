//! The wake Lambda's adapter ([`snooze_wake::serve`]) run the way `lambda_http::run` runs it,
//! over every API Gateway HTTP API v2 fixture of the wake endpoint's tests
//! (`controller/tests/fixtures/apigw/`): each gets the same answer the library handler gives,
//! as a normal HTTP response (never a Lambda error), with HTML and JSON as text, not base64.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, service_fn};
use serde_json::Value;
use snooze::store::SqliteStore;
use snooze::wake::{WakeConfig, WakeState, handle};
use snooze_test_support::wake_seed;

/// The records the fixtures name: `demo` and `locked` (token) asleep, `up` Ready.
async fn state(dir: &Path) -> Arc<WakeState> {
    let store = Arc::new(SqliteStore::open(dir.join("snooze.db")).unwrap());
    wake_seed::seed(store.as_ref()).await;
    let config = WakeConfig {
        default_service: Some("demo".into()),
        ..WakeConfig::default()
    };
    Arc::new(WakeState::new(store, config))
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
