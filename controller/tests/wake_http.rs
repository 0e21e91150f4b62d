//! The wake endpoint over real sockets (axum + SQLite), plus the check that the OpenAPI
//! document and the router describe the same routes. The same handler through `lambda_http`
//! with the API Gateway fixtures (`tests/fixtures/apigw/*.json`) is tested with the wake Lambda
//! (`lambdas/wake/tests/lambda_http_adapter.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use snooze::model::{
    EndpointStatus, Entry, GroupMemberStatus, GroupStatus, Phase, Record, Status, Step, Timestamp,
};
use snooze::store::{SqliteStore, StatusGuard, Store};
use snooze::wake::{ROUTES, WakeState, router};
use snooze_test_support::wake_seed;

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    state: Arc<WakeState>,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, state) = wake_seed::sqlite_state(dir.path()).await;
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

#[tokio::test]
async fn a_group_member_shows_its_group_and_waits_for_its_dependency_over_http() {
    let e = env().await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    let base = format!("http://{addr}");
    let member =
        |name: &str, wave: u32, phase: Phase, step: Step, message: &str| GroupMemberStatus {
            name: name.into(),
            wave,
            phase: Some(phase),
            step: Some(step),
            message: message.into(),
            optional: false,
        };
    let ready_by = Timestamp::now().add(Duration::from_secs(60));
    let mut web = Status {
        phase: Phase::Ready,
        step: Some(Step::Ready),
        endpoint: Some(EndpointStatus {
            ip: "127.0.0.1".into(),
            url: "http://127.0.0.1:8080/".into(),
            task_arn: "t".into(),
        }),
        group: Some(GroupStatus {
            waiting_for: vec!["api".into()],
            held_by: vec![],
            ready_by: Some(ready_by),
            members: vec![
                member(
                    "api",
                    0,
                    Phase::Waking,
                    Step::Running,
                    "health checks\nmore",
                ),
                member("demo", 1, Phase::Ready, Step::Ready, ""),
            ],
        }),
        ..Status::default()
    };
    e.store
        .publish_status("demo", &web, StatusGuard::exists())
        .await
        .unwrap();
    let j: Value = c
        .get(format!("{base}/api/v1/services/demo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (j["phase"].as_str(), j["ready"].as_bool(), j.get("url")),
        (Some("Waking"), Some(false), None)
    );
    let g = &j["group"];
    assert_eq!(g["waitingFor"], serde_json::json!(["api"]));
    assert_eq!(
        g["members"],
        serde_json::json!([
            {"name": "api", "phase": "Waking", "step": "running", "message": "health checks",
             "optional": false, "wave": 0},
            {"name": "demo", "phase": "Ready", "step": "ready", "message": "",
             "optional": false, "wave": 1},
        ])
    );
    let eta = g["etaSeconds"].as_u64().expect("etaSeconds");
    assert!((58..=60).contains(&eta), "{eta}");
    assert_eq!(g["readyBy"].as_str(), Some(ready_by.to_rfc3339().as_str()));
    let r = c.get(format!("{base}/s/demo")).send().await.unwrap();
    assert_eq!(r.status(), 200, "no redirect while api is not Ready");

    let gs = web.group.as_mut().unwrap();
    gs.waiting_for.clear();
    gs.members[0] = member("api", 0, Phase::Ready, Step::Ready, "");
    e.store
        .publish_status("demo", &web, StatusGuard::exists())
        .await
        .unwrap();
    let r = c.get(format!("{base}/s/demo")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://127.0.0.1:8080/");
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
async fn a_service_over_its_monthly_budget_is_refused_over_http_and_says_until_when() {
    use snooze::model::ledger::{LedgerMonth, month_key};
    let e = env().await;
    let mut demo = record(&e.store, "demo").await;
    demo.spec.budget = Some(10.0);
    snooze::store::apply_one(e.store.as_ref(), &demo)
        .await
        .unwrap();
    // $12.50 this month (and next, should the month turn during the test).
    let now = Timestamp::now();
    let mut status = demo.status.clone().unwrap_or_default();
    for at in [now, now.add(Duration::from_secs(40 * 24 * 3600))] {
        status.ledger.months.push(LedgerMonth {
            month: month_key(at),
            cost: Some(12.5),
            ..LedgerMonth::default()
        });
    }
    status.phase = Phase::Asleep;
    e.store
        .publish_status("demo", &status, StatusGuard::exists())
        .await
        .unwrap();
    let before = writes(&e.store).await;
    let addr = serve(e.state.clone()).await;
    let c = client();
    let base = format!("http://{addr}");
    let said =
        "reached its monthly budget of $10.00 (this month: $12.50). It can be woken again on ";

    let r = c.get(format!("{base}/s/demo")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let html = r.text().await.unwrap();
    assert!(html.contains(said), "{html}");
    assert!(html.contains("snoozectl wake --force"), "{html}");

    let r = c
        .post(format!("{base}/api/v1/services/demo/wake"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["error"], "over_budget", "{j}");
    assert_eq!(j["status"]["overBudget"]["cost"], 12.5, "{j}");

    let j: Value = c
        .get(format!("{base}/api/v1/services/demo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(j["overBudget"]["budget"], 10.0, "{j}");
    assert!(j["message"].as_str().unwrap().contains(said), "{j}");
    assert_eq!(writes(&e.store).await, before, "nothing was written");
    assert!(
        record(&e.store, "demo")
            .await
            .desired
            .wake_requested_at
            .is_none()
    );
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
