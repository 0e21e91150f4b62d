//! The wake endpoint over real sockets (axum + SQLite) and through `lambda_http` with API
//! Gateway HTTP API v2 event fixtures (`tests/fixtures/apigw/*.json`), plus the check that the
//! OpenAPI document and the router describe the same routes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service, service_fn};
use serde_json::{Value, json};
use snooze::model::{EndpointStatus, Entry, Phase, Record, Status, Step};
use snooze::store::{SqliteStore, StatusGuard, Store};
use snooze::wake::{ROUTES, WakeConfig, WakeState, handle, router};
use snooze_test_support::wake_seed;

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    state: Arc<WakeState>,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("snooze.db")).unwrap());
    wake_seed::seed(store.as_ref()).await;
    let config = WakeConfig {
        default_service: Some("demo".into()),
        ..WakeConfig::default()
    };
    let state = Arc::new(WakeState::new(store.clone(), config));
    Env {
        _dir: dir,
        store,
        state,
    }
}

async fn record(store: &SqliteStore, name: &str) -> Record {
    match store.get(name).await.unwrap() {
        Some(Entry::Record(r)) => *r,
        other => panic!("{name}: {other:?}"),
    }
}

async fn writes(store: &SqliteStore) -> u64 {
    store
        .change_token()
        .await
        .unwrap()
        .expect("sqlite counts writes")
}

async fn serve(state: Arc<WakeState>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn data_poll(html: &str) -> Option<String> {
    let start = html.find("data-poll=\"")? + "data-poll=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

// ---------------------------------------------------------------- axum over real sockets

#[tokio::test]
async fn the_wait_page_the_status_json_and_the_redirect_over_http() {
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    let base = format!("http://{addr}");

    let r = c
        .get(format!("{base}/s/demo/deep/path?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (h, v) in [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(r.headers()[h], v, "{h}");
    }
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'nonce-") && !csp.contains("unsafe"),
        "{csp}"
    );
    let url = r.url().clone();
    let html = r.text().await.unwrap();
    let poll = data_poll(&html).expect("the page polls");
    let status_url = url.join(&poll).unwrap();
    assert_eq!(status_url.path(), "/api/v1/services/demo");

    let j: Value = c
        .get(status_url.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (j["name"].as_str(), j["phase"].as_str(), j["step"].as_str()),
        (Some("demo"), Some("Waking"), Some("requested"))
    );
    assert_eq!(j["ready"], false);
    assert!(j.get("url").is_none());

    // the reconciler publishes Ready: the next visit is redirected, path and query kept
    let ready = Status {
        phase: Phase::Ready,
        step: Some(Step::Ready),
        endpoint: Some(EndpointStatus {
            ip: "127.0.0.1".into(),
            url: "http://127.0.0.1:8080/".into(),
            task_arn: "t".into(),
        }),
        ..Status::default()
    };
    e.store
        .publish_status("demo", &ready, StatusGuard::exists())
        .await
        .unwrap();
    let r = c
        .get(format!("{base}/s/demo/deep/path?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "http://127.0.0.1:8080/deep/path?x=1"
    );
    let j: Value = c
        .get(status_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (j["ready"].as_bool(), j["url"].as_str()),
        (Some(true), Some("http://127.0.0.1:8080/"))
    );

    // POST wake: 200 when Ready, 202 + Retry-After otherwise
    let r = c
        .post(format!("{base}/api/v1/services/demo/wake"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/api/v1/services/up/wake?wait=0"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "ok\n".to_string())
    );
    let r = c
        .post(format!("{base}/api/v1/services/demo/wake"))
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

/// Sends `head` (and nothing more) on a raw connection; the status line of the answer.
async fn raw_status_line(addr: SocketAddr, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(15), conn.read(&mut buf))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_huge_or_missing_body_gets_an_answer_not_a_hang() {
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let huge = "POST /api/v1/services/demo/wake HTTP/1.1\r\nHost: x\r\n\
                Content-Length: 99999999999\r\n\r\nabc";
    let started = std::time::Instant::now();
    assert_eq!(
        raw_status_line(addr, huge).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A body announced but never sent: 408 after the body timeout.
    let short = "POST /s/demo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
    assert_eq!(
        raw_status_line(addr, short).await,
        "HTTP/1.1 408 Request Timeout"
    );
    let r = e.store.get("demo").await.unwrap().unwrap();
    let Entry::Record(r) = r else { panic!() };
    assert_eq!(r.desired.wake_requested_at, None, "nothing was woken");
}

#[tokio::test]
async fn a_thousand_hits_are_one_write_and_only_the_wake_fact_changes() {
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    let before = record(&e.store, "demo").await;
    let w0 = writes(&e.store).await;
    let hits = futures::future::join_all((0..1000).map(|i| {
        let c = c.clone();
        async move {
            let url = if i % 2 == 0 {
                format!("http://{addr}/s/demo")
            } else {
                format!("http://{addr}/api/v1/services/demo/wake")
            };
            let req = if i % 2 == 0 { c.get(url) } else { c.post(url) };
            req.send().await.unwrap().status().as_u16()
        }
    }))
    .await;
    assert!(hits.iter().all(|s| *s == 200 || *s == 202), "{hits:?}");
    let w1 = writes(&e.store).await;
    assert_eq!(
        w1 - w0,
        1,
        "1000 wake hits within the debounce window are one store write"
    );
    let after = record(&e.store, "demo").await;
    let mut expected = before.clone();
    expected.desired.wake_requested_at = after.desired.wake_requested_at;
    assert!(after.desired.wake_requested_at.is_some());
    assert_eq!(
        after, expected,
        "nothing but desired.wakeRequestedAt changed"
    );

    // HEAD, bots, unknown names, bad names, switched-off: no writes at all
    let w1 = writes(&e.store).await;
    let mut off = record(&e.store, "up").await;
    off.spec.mode = snooze::model::Mode::Off;
    let v = off.metadata.resource_version;
    e.store.apply(&off, Some(v)).await.unwrap();
    let w1 = w1 + 1;
    assert_eq!(
        c.head(format!("http://{addr}/s/demo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let bot = c
        .get(format!("http://{addr}/s/demo"))
        .header("user-agent", "facebookexternalhit/1.1")
        .send()
        .await
        .unwrap();
    assert_eq!(bot.status(), 200);
    assert_eq!(
        c.get(format!("http://{addr}/s/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("http://{addr}/s/NoBody"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        c.get(format!("http://{addr}/s/up"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        c.post(format!("http://{addr}/api/v1/services/up/wake"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        c.post(format!("http://{addr}/api/v1/services/nobody/wake"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(writes(&e.store).await, w1);
    assert!(
        e.store.get("nobody").await.unwrap().is_none(),
        "the wake path never creates a record"
    );
}

#[tokio::test]
async fn the_token_cookie_works_for_the_page_and_the_poll() {
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    let w0 = writes(&e.store).await;
    let r = c
        .get(format!("http://{addr}/s/locked/app"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!("http://{addr}/s/locked/app?token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(writes(&e.store).await, w0, "a wrong token writes nothing");

    let r = c
        .get(format!("http://{addr}/s/locked/app?token=letmein"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.iter().any(|c| c.contains("Path=/s/locked;")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.contains("Path=/api/v1/services/locked;")),
        "{cookies:?}"
    );
    let url = r.url().clone();
    let poll = url
        .join(&data_poll(&r.text().await.unwrap()).unwrap())
        .unwrap();
    assert_eq!(writes(&e.store).await, w0 + 1);

    // the browser sends the cookie on the poll (its Path covers the API route) and on reloads
    let cookie = "snooze_token_locked=letmein";
    assert!(poll.path().starts_with("/api/v1/services/locked"));
    assert_eq!(
        c.get(poll.clone()).send().await.unwrap().status(),
        403,
        "no cookie, no status"
    );
    assert_eq!(
        c.get(poll)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("http://{addr}/s/locked/app"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(format!("http://{addr}/api/v1/services/locked/wake"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

// ---------------------------------------------------------------- lambda_http adapter

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apigw")
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

// ---------------------------------------------------------------- OpenAPI ↔ router

#[tokio::test]
async fn the_openapi_document_and_the_router_have_the_same_routes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/api/openapi.yaml");
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut in_spec: Vec<(String, String)> = vec![];
    for (p, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if ["get", "head", "post", "put", "delete", "patch", "options"]
                .contains(&method.as_str())
            {
                in_spec.push((method.to_uppercase(), p.clone()));
                let integ = &op["x-amazon-apigateway-integration"];
                assert_eq!(integ["payloadFormatVersion"], "2.0", "{method} {p}");
                assert_eq!(integ["type"], "aws_proxy", "{method} {p}");
                assert_eq!(integ["uri"], "${wake_lambda_invoke_arn}", "{method} {p}");
            }
        }
    }
    in_spec.sort();
    let mut in_router: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    in_router.sort();
    assert_eq!(in_spec, in_router);

    // and every route answers on the live router (not the not-found page)
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    for (method, p) in ROUTES {
        let url = format!(
            "http://{addr}{}",
            p.replace("{name}", "demo").replace("{proxy+}", "a/b")
        );
        let r = c
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 400, "{method} {p}: {}", r.status());
    }
    let r = c
        .get(format!("http://{addr}/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    tokio::time::sleep(Duration::from_millis(1)).await;
}
