//! The wake endpoint's library handler (`snooze::wake::handle`) through `lambda_http`'s own
//! adapter, exactly as `lambda_http::run` drives it, over the API Gateway HTTP API v2 event
//! fixtures (`controller/tests/fixtures/apigw/*.json`): every fixture gets a normal HTTP
//! response, the wait page's poll URL resolves (under the stage prefix) to the status route,
//! cookies move into API Gateway's `cookies` array, base64 bodies are read, and requests that
//! must not wake leave the record untouched. The Lambda's own wrapper around this (the raw-event
//! gate, text bodies) is `apigw.rs`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, service_fn};
use serde_json::{Value, json};
use snooze::store::{SqliteStore, Store};
use snooze::wake::{WakeState, handle};
use snooze_test_support::wake_seed;

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    state: Arc<WakeState>,
}

/// A SQLite store with the fixtures' records (`demo` and `locked` asleep, `up` Ready).
async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, state) = wake_seed::sqlite_state(dir.path()).await;
    Env {
        _dir: dir,
        store,
        state,
    }
}

/// How many writes the store has taken (SQLite counts them).
async fn writes(store: &SqliteStore) -> u64 {
    store
        .change_token()
        .await
        .unwrap()
        .expect("sqlite counts writes")
}

/// The wait page's poll URL (`data-poll`), unescaped.
fn data_poll(html: &str) -> Option<String> {
    let start = html.find("data-poll=\"")? + "data-poll=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../controller/tests/fixtures/apigw")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs one API Gateway v2 event through `lambda_http` exactly as `lambda_http::run` does
/// (deserialise `LambdaRequest`, convert, call, convert the response back) and returns the
/// serialised `LambdaResponse`.
async fn invoke(state: Arc<WakeState>, event: Value) -> Value {
    let payload: LambdaRequest =
        serde_json::from_value(event).expect("a valid API Gateway v2 event");
    let mut adapter = Adapter::from(service_fn(move |req: lambda_http::Request| {
        let state = state.clone();
        async move {
            let (parts, body) = req.into_parts();
            let req = http::Request::from_parts(parts, Bytes::copy_from_slice(body.as_ref()));
            let resp = handle(&state, req).await;
            Ok::<_, Infallible>(resp.map(Full::new))
        }
    }));
    let resp = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(&resp).unwrap()
}

/// The response body; HTML and JSON must come back as text, never base64.
fn body_text(resp: &Value) -> String {
    assert_ne!(
        resp["isBase64Encoded"], true,
        "text responses are not base64-encoded: {resp}"
    );
    resp["body"].as_str().unwrap_or("").to_string()
}

/// The URL the visitor's browser shows for an event: host + rawPath (+ query).
fn browser_url(event: &Value) -> url::Url {
    let host = event["requestContext"]["domainName"].as_str().unwrap();
    let path = event["rawPath"].as_str().unwrap();
    let q = event["rawQueryString"].as_str().unwrap_or("");
    let s = if q.is_empty() {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}{path}?{q}")
    };
    url::Url::parse(&s).unwrap()
}

#[tokio::test]
async fn every_fixture_gets_a_normal_http_response() {
    // (fixture, status, Location or "", whether the response is a page that must poll)
    let cases: &[(&str, u16, &str, bool)] = &[
        ("default-stage-page-odd-query", 200, "", true),
        ("named-stage-with-prefix", 200, "", true),
        ("named-stage-custom-domain", 200, "", true),
        ("named-stage-service-root", 200, "", true),
        ("non-ascii-path-encoded", 200, "", true),
        ("non-ascii-path-raw", 200, "", true),
        ("status-named-stage", 200, "", false),
        ("wake-post-base64", 202, "", false),
        ("wake-post-named-stage-base64", 202, "", false),
        ("token-in-cookies-array", 200, "", true),
        ("token-missing", 403, "", false),
        ("token-in-query", 200, "", true),
        ("head-page", 200, "", false),
        ("slackbot-unfurl", 200, "", false),
        (
            "ready-redirect-preserves",
            302,
            "http://127.0.0.1:9/a/b%20c?x=1&y=%2C",
            false,
        ),
        ("ready-open-redirect-attempt", 400, "", false),
        ("ready-backslash-attempt", 400, "", false),
        ("stage-root-no-slash", 302, "prod/", false),
        ("unknown-service", 404, "", false),
        ("bad-name", 400, "", false),
        ("repeated-token", 400, "", false),
        ("healthz", 200, "", false),
    ];
    let listed: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string()
        })
        .collect();
    assert_eq!(
        listed.len(),
        cases.len(),
        "every fixture has an expectation: {listed:?}"
    );

    for (name, status, location, polls) in cases {
        let e = env().await;
        let event = fixture(name);
        let resp = invoke(e.state.clone(), event.clone()).await;
        assert_eq!(resp["statusCode"], json!(status), "{name}: {resp}");
        let headers = &resp["headers"];
        assert_eq!(headers["cache-control"], "no-store", "{name}");
        assert_eq!(
            headers
                .get("location")
                .and_then(Value::as_str)
                .unwrap_or(""),
            *location,
            "{name}"
        );
        if !polls {
            continue;
        }
        let html = body_text(&resp);
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{name}"
        );
        let poll = data_poll(&html).unwrap_or_else(|| panic!("{name}: no poll URL in {html}"));
        // resolved against what the browser shows, the poll URL is the status route there ...
        let browser = browser_url(&event);
        let resolved = browser.join(&poll).unwrap();
        let service = event["pathParameters"]["name"].as_str().unwrap();
        let prefix = &browser.path()[..browser.path().find("/s/").unwrap()];
        assert_eq!(
            resolved.path(),
            format!("{prefix}/api/v1/services/{service}"),
            "{name}: {poll} from {browser}"
        );
        assert_eq!(resolved.host_str(), browser.host_str());
        // ... and API Gateway delivers that path to the status route
        let mut follow = event.clone();
        follow["rawPath"] = json!(resolved.path());
        follow["rawQueryString"] = json!("");
        follow["requestContext"]["http"]["path"] = json!(resolved.path());
        follow["requestContext"]["http"]["method"] = json!("GET");
        // the browser sends back the cookies whose Path covers the poll URL (token mode)
        let mut jar: Vec<Value> = event["cookies"].as_array().cloned().unwrap_or_default();
        for c in resp["cookies"].as_array().into_iter().flatten() {
            let c = c.as_str().unwrap();
            let path = c.split("; ").find_map(|a| a.strip_prefix("Path=")).unwrap();
            if resolved.path() == path || resolved.path().starts_with(&format!("{path}/")) {
                jar.push(json!(c.split(';').next().unwrap()));
            }
        }
        follow["cookies"] = json!(jar);
        let status = invoke(e.state.clone(), follow).await;
        assert_eq!(status["statusCode"], 200, "{name}: poll → {status}");
        let j: Value = serde_json::from_str(&body_text(&status)).unwrap();
        assert_eq!(j["name"], service, "{name}");
    }
}

#[tokio::test]
async fn lambda_specifics_cookies_base64_and_no_side_effects() {
    let e = env().await;
    // Set-Cookie moves into API Gateway's `cookies` array, scoped under the stage prefix
    let resp = invoke(e.state.clone(), fixture("token-in-query")).await;
    let cookies: Vec<&str> = resp["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 2, "{resp}");
    assert!(
        cookies[0].starts_with("snooze_token_locked=letmein; Path=/prod/s/locked;"),
        "{cookies:?}"
    );
    assert!(
        cookies[1].contains("Path=/prod/api/v1/services/locked;"),
        "{cookies:?}"
    );
    // the page redirects nowhere and does not echo the token into a redirect
    assert!(resp["headers"].get("location").is_none());

    // base64 POST body: a normal JSON answer
    let resp = invoke(e.state.clone(), fixture("wake-post-base64")).await;
    let j: Value = serde_json::from_str(&body_text(&resp)).unwrap();
    assert_eq!(
        (j["phase"].as_str(), j["step"].as_str()),
        (Some("Waking"), Some("requested"))
    );
    assert_eq!(resp["headers"]["retry-after"], "1");

    // HEAD and a link unfurler leave the record untouched
    let e = env().await;
    let w0 = writes(&e.store).await;
    for f in [
        "head-page",
        "slackbot-unfurl",
        "token-missing",
        "unknown-service",
        "bad-name",
        "repeated-token",
        "ready-open-redirect-attempt",
    ] {
        invoke(e.state.clone(), fixture(f)).await;
    }
    assert_eq!(writes(&e.store).await, w0);
    let page = invoke(e.state.clone(), fixture("slackbot-unfurl")).await;
    assert!(body_text(&page).contains("demo is asleep"));
    invoke(e.state.clone(), fixture("default-stage-page-odd-query")).await;
    assert_eq!(writes(&e.store).await, w0 + 1);
}
