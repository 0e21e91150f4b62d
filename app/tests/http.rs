//! The demo app over real sockets on 127.0.0.1: every route, the SSE stream (snapshot, live
//! entries, keep-alive comments, dropped clients), ECS metadata from a fake endpoint, graceful
//! shutdown in-process and of the real binary on SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use snooze_demo_app::{App, AppRole, Config, EcsMetadata, Level, Source, logs, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Running {
    app: Arc<App>,
    base: String,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<snooze_demo_app::Result<()>>,
}

impl Running {
    async fn start(config: Config) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = App::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app.clone(), async move {
            let _ = rx.await;
        }));
        Running {
            app,
            base: format!("http://{addr}"),
            stop: Some(tx),
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Fires the shutdown signal and waits for `serve` to return; returns how long it took.
    async fn stop(mut self) -> Duration {
        let t0 = Instant::now();
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("serve returns within 5 s")
            .unwrap()
            .unwrap();
        t0.elapsed()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Reads an SSE response block by block (`\n\n`-separated).
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(url: &str) -> SseReader {
        // No overall timeout: the stream is long-lived; each read below is bounded instead.
        let response = reqwest::Client::new().get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next block (event or comment), or None at end of stream.
    async fn next_block(&mut self, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self.buffer.find("\n\n") {
                let block = self.buffer[..i].to_owned();
                self.buffer.drain(..i + 2);
                return Some(block);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an SSE block arrives in time")
                .expect("reading the stream");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// The next `event:` block, skipping comments; returns (event name, parsed data).
    async fn next_event(&mut self, within: Duration) -> (String, Value) {
        loop {
            let block = self.next_block(within).await.expect("stream still open");
            if let Some(parsed) = parse_event(&block) {
                return parsed;
            }
        }
    }
}

fn parse_event(block: &str) -> Option<(String, Value)> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Some((name?, serde_json::from_str(&data).unwrap()))
}

async fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn health_page_static_and_not_found() {
    let s = Running::start(Config {
        app_name: "Demo <x>".into(),
        ..Config::for_tests()
    })
    .await;
    let c = client();

    let r = c.get(s.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let r = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("Demo &lt;x&gt;"));
    assert!(html.contains(r#"<script src="/static/app.js">"#));
    assert!(html.contains(r#"href="/static/app.css""#));
    for a in snooze_demo_app::Action::ALL {
        assert!(
            html.contains(&format!("data-action=\"{}\"", a.name())),
            "button for {a}"
        );
    }

    for (path, ty, needle) in [
        ("/static/app.js", "text/javascript", "EventSource"),
        ("/static/app.css", "text/css", "data-theme"),
        ("/static/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = c.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ty),
            "{path}"
        );
        assert!(r.text().await.unwrap().contains(needle), "{path}");
    }

    let r = c.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not found");
    s.stop().await;
}

#[tokio::test]
async fn metrics_report_identity_and_machine() {
    let config = Config {
        app_name: "demo".into(),
        app_env: "staging".into(),
        app_version: "1.4.2".into(),
        git_sha: "deadbeefcafe0123".into(),
        ..Config::for_tests()
    };
    let s = Running::start(config).await;
    let m: Value = client()
        .get(s.url("/api/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["app"]["name"], "demo");
    assert_eq!(m["app"]["environment"], "staging");
    assert_eq!(m["app"]["version"], "1.4.2");
    assert_eq!(m["app"]["git_sha"], "deadbeefcafe0123");
    assert_eq!(m["app"]["pid"], std::process::id());
    assert!(m["app"]["uptime_seconds"].is_u64());
    assert!(m["app"]["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(m["cpu_count"].as_u64().unwrap() >= 1);
    assert!(!m["hostname"].as_str().unwrap().is_empty());
    assert!(m["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(m["memory"]["system_total_bytes"].as_u64().unwrap() > 0);
    assert!(m["load_average"]["one"].is_f64());
    assert_eq!(m["ecs"], json!({"state": "not_configured"}));
    assert_eq!(m["log_subscribers"], 0);
    s.stop().await;
}

#[tokio::test]
async fn actions_answer_and_log_and_bad_requests_are_4xx() {
    let s = Running::start(Config::for_tests()).await;
    let c = client();
    let before = s.app.logs.len();

    for action in snooze_demo_app::Action::ALL {
        let r = c
            .post(s.url("/action"))
            .json(&json!({"action": action.name()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["action"], action.name());
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let entries = s.app.logs.last(usize::MAX);
    assert_eq!(entries.len(), before + 6);
    let last = entries.last().unwrap();
    assert_eq!(last.source, Source::Action);
    assert!(
        last.message.starts_with("p95-report: latency over "),
        "{}",
        last.message
    );

    let r = c
        .post(s.url("/action"))
        .json(&json!({"action": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unknown action \"x\"");
    assert_eq!(
        body["allowed"],
        json!([
            "deploy",
            "scale-up",
            "scale-down",
            "clear-cache",
            "rotate-keys",
            "p95-report"
        ])
    );

    let malformed = c
        .post(s.url("/action"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert!(malformed.json::<Value>().await.unwrap()["error"].is_string());

    let wrong_shape = c
        .post(s.url("/action"))
        .json(&json!({"verb": "deploy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_shape.status(), 400);

    let no_type = c
        .post(s.url("/action"))
        .body(r#"{"action":"deploy"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 415);

    let get = c.get(s.url("/action")).send().await.unwrap();
    assert_eq!(get.status(), 405);

    // Rejected requests add no entry.
    assert_eq!(s.app.logs.len(), before + 6);
    s.stop().await;
}

#[tokio::test]
async fn api_logs_returns_the_last_200_and_ring_holds_500() {
    let s = Running::start(Config::for_tests()).await;
    for i in 0..650 {
        s.app
            .logs
            .push(Level::Info, Source::Action, format!("entry {i}"));
    }
    assert_eq!(s.app.logs.len(), logs::RING_CAPACITY);
    let entries: Vec<Value> = client()
        .get(s.url("/api/logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entries.len(), 200);
    assert_eq!(entries.last().unwrap()["message"], "entry 649");
    assert_eq!(entries.first().unwrap()["message"], "entry 450");
    s.stop().await;
}

#[tokio::test]
async fn sse_sends_snapshot_then_live_entries_then_keepalive_comments() {
    let config = Config {
        sse_keepalive: Duration::from_millis(150),
        ..Config::for_tests()
    };
    let s = Running::start(config).await;
    s.app
        .logs
        .push(Level::Info, Source::System, "before the client");

    let mut sse = SseReader::open(&s.url("/api/logs/stream")).await;
    let (name, snapshot) = sse.next_event(Duration::from_secs(5)).await;
    assert_eq!(name, "snapshot");
    let snapshot = snapshot.as_array().unwrap();
    assert_eq!(snapshot.last().unwrap()["message"], "before the client");
    assert_eq!(s.app.logs.subscribers(), 1);

    // An action fired by another client arrives as a `log` event.
    let r = client()
        .post(s.url("/action"))
        .json(&json!({"action": "deploy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (name, entry) = sse.next_event(Duration::from_secs(5)).await;
    assert_eq!(name, "log");
    assert_eq!(entry["source"], "action");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .starts_with("deploy: deployed")
    );
    assert!(entry["seq"].as_u64().unwrap() > snapshot.last().unwrap()["seq"].as_u64().unwrap());

    // With nothing to send, a keep-alive comment arrives.
    let block = sse.next_block(Duration::from_secs(5)).await.unwrap();
    assert_eq!(block.trim(), ": heartbeat");

    // Shutdown ends the stream even though the client still holds it.
    let took = s.stop().await;
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    loop {
        match sse.next_block(Duration::from_secs(5)).await {
            None => break,
            Some(b) if b.starts_with(':') || b.contains("event: log") => continue,
            Some(b) => panic!("unexpected block after shutdown: {b}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_disconnects_is_dropped() {
    let config = Config {
        sse_keepalive: Duration::from_millis(100),
        ..Config::for_tests()
    };
    let s = Running::start(config).await;
    let mut a = SseReader::open(&s.url("/api/logs/stream")).await;
    let mut b = SseReader::open(&s.url("/api/logs/stream")).await;
    a.next_event(Duration::from_secs(5)).await;
    b.next_event(Duration::from_secs(5)).await;
    assert_eq!(s.app.logs.subscribers(), 2);

    drop(a);
    let app = s.app.clone();
    wait_until(
        "the dropped client's receiver is gone",
        Duration::from_secs(5),
        || app.logs.subscribers() == 1,
    )
    .await;
    let m: Value = client()
        .get(s.url("/api/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["log_subscribers"], 1);

    // The remaining client still gets entries.
    s.app.logs.push(Level::Warn, Source::System, "still here");
    let (name, entry) = b.next_event(Duration::from_secs(5)).await;
    assert_eq!(
        (
            name.as_str(),
            entry["message"].as_str(),
            entry["level"].as_str()
        ),
        ("log", Some("still here"), Some("warn"))
    );
    drop(b);
    wait_until("no subscriber is left", Duration::from_secs(5), || {
        app.logs.subscribers() == 0
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_lagging_client_gets_a_fresh_snapshot() {
    let s = Running::start(Config::for_tests()).await;
    let mut sse = SseReader::open(&s.url("/api/logs/stream")).await;
    assert_eq!(sse.next_event(Duration::from_secs(5)).await.0, "snapshot");
    // Push far more than the broadcast channel holds before the client reads anything.
    // The body is streamed, so the server is blocked on the socket once the client's
    // buffers fill; either way the client must end up seeing the newest entry.
    for i in 0..(logs::BROADCAST_CAPACITY * 3) {
        s.app
            .logs
            .push(Level::Info, Source::Action, format!("burst {i}"));
    }
    let newest = format!("burst {}", logs::BROADCAST_CAPACITY * 3 - 1);
    let mut saw_resnapshot = false;
    loop {
        let (name, data) = sse.next_event(Duration::from_secs(5)).await;
        let last = match name.as_str() {
            "snapshot" => {
                saw_resnapshot = true;
                data.as_array().unwrap().last().unwrap()["message"].clone()
            }
            _ => data["message"].clone(),
        };
        if last == newest.as_str() {
            break;
        }
    }
    assert!(saw_resnapshot, "the lagging client was re-sent a snapshot");
    s.stop().await;
}

#[tokio::test]
async fn heartbeat_entries_are_added_periodically() {
    let config = Config {
        heartbeat_interval: Duration::from_millis(50),
        ..Config::for_tests()
    };
    let s = Running::start(config).await;
    let app = s.app.clone();
    wait_until(
        "two heartbeat entries exist",
        Duration::from_secs(5),
        || {
            app.logs
                .last(usize::MAX)
                .iter()
                .filter(|e| e.source == Source::Heartbeat)
                .count()
                >= 2
        },
    )
    .await;
    let beat = app
        .logs
        .last(usize::MAX)
        .into_iter()
        .find(|e| e.source == Source::Heartbeat)
        .unwrap();
    assert!(
        beat.message.starts_with("heartbeat: up "),
        "{}",
        beat.message
    );
    s.stop().await;
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get_text(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_api_role_serves_only_the_greeting_and_health() {
    let api = Running::start(Config {
        role: AppRole::Api,
        app_name: "demo API".into(),
        ..Config::for_tests()
    })
    .await;
    let (status, greeting) = get_json(&api.url("/api/greeting")).await;
    assert_eq!(status, 200);
    assert_eq!(greeting["greeting"], "Hello from demo API");
    let served_by = greeting["servedBy"].as_str().unwrap();
    assert!(
        served_by.starts_with(&format!("demo API (pid {} on ", std::process::id())),
        "{served_by}"
    );
    assert_eq!(
        get_json(&api.url("/health")).await,
        (200, json!({"status": "ok"}))
    );
    // The dashboard's routes are not served by the API.
    for path in ["/", "/api/metrics", "/api/logs", "/static/app.js"] {
        assert_eq!(
            get_json(&api.url(path)).await,
            (404, json!({"error": "not found"})),
            "{path}"
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn the_dashboard_shows_the_apis_greeting_fetched_server_side() {
    let api = Running::start(Config {
        role: AppRole::Api,
        app_name: "demo API".into(),
        ..Config::for_tests()
    })
    .await;
    let dash = Running::start(Config {
        api_url: Some(api.base.parse().unwrap()),
        ..Config::for_tests()
    })
    .await;
    let (status, html) = get_text(&dash.url("/")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="api" data-state="answered""#), "{html}");
    assert!(html.contains("Hello from demo API"), "{html}");
    assert!(html.contains(&format!("{}/api/greeting", api.base)));
    // The dashboard passes the API's answer on at its own /api/greeting.
    let (status, greeting) = get_json(&dash.url("/api/greeting")).await;
    assert_eq!(status, 200);
    assert_eq!(greeting["greeting"], "Hello from demo API");
    assert!(
        greeting["servedBy"]
            .as_str()
            .unwrap()
            .starts_with("demo API (pid ")
    );
    dash.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn the_dashboard_says_so_when_the_api_does_not_answer() {
    // A port nothing listens on: bound, then released.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let dash = Running::start(Config {
        api_url: Some(format!("http://{addr}").parse().unwrap()),
        ..Config::for_tests()
    })
    .await;
    let (status, html) = get_text(&dash.url("/")).await;
    assert_eq!(status, 200, "the page still renders");
    assert!(html.contains(r#"id="api" data-state="failed""#), "{html}");
    assert!(html.contains("the API did not answer: "), "{html}");
    let (status, body) = get_json(&dash.url("/api/greeting")).await;
    assert_eq!(status, 502);
    assert_eq!(body["url"], format!("http://{addr}/api/greeting"));
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the API did not answer: "),
        "{body}"
    );

    // An API that never answers: the timeout bounds the page.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = Running::start(Config {
        api_url: Some(
            format!("http://{}", silent.local_addr().unwrap())
                .parse()
                .unwrap(),
        ),
        api_timeout: Duration::from_millis(300),
        ..Config::for_tests()
    })
    .await;
    let t0 = Instant::now();
    let (status, html) = get_text(&slow.url("/")).await;
    assert_eq!(status, 200);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(html.contains("the API did not answer in time"), "{html}");

    // An answer that is not a greeting (the dashboard's metrics, say).
    let wrong = Running::start(Config {
        api_url: Some(dash.base.parse().unwrap()),
        ..Config::for_tests()
    })
    .await;
    // dash's /api/greeting answers 502, so wrong's call sees that status.
    let (status, body) = get_json(&wrong.url("/api/greeting")).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "the API answered 502 Bad Gateway");
    wrong.stop().await;
    slow.stop().await;
    dash.stop().await;
    drop(silent);
}

#[tokio::test]
async fn without_api_url_there_is_no_card_and_no_greeting() {
    let dash = Running::start(Config::for_tests()).await;
    let (status, html) = get_text(&dash.url("/")).await;
    assert_eq!(status, 200);
    assert!(!html.contains(r#"id="api""#));
    let (status, body) = get_json(&dash.url("/api/greeting")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no API configured (API_URL is not set)");
    dash.stop().await;
}

/// A fake ECS task metadata endpoint v4 on 127.0.0.1; returns its base URI.
async fn fake_metadata_server() -> String {
    let task = json!({
        "Cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster",
        "TaskARN": "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/0123456789abcdef",
        "Family": "demo-app",
        "Revision": "7",
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "AvailabilityZone": "us-east-1a",
        "LaunchType": "FARGATE",
        "Containers": []
    });
    let container = json!({"DockerId": "abc", "Name": "app", "Image": "demo:1", "Labels": {}});
    let router = Router::new()
        .route("/v4/abc/task", get(move || async move { axum::Json(task) }))
        .route("/v4/abc", get(move || async move { axum::Json(container) }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/v4/abc")
}

#[tokio::test]
async fn ecs_metadata_is_read_from_the_endpoint() {
    let uri = fake_metadata_server().await;
    let s = Running::start(Config {
        ecs_metadata_uri: Some(uri),
        ..Config::for_tests()
    })
    .await;
    assert_eq!(s.app.ecs_metadata(), EcsMetadata::Pending);
    let state = s.app.load_ecs_metadata().await;
    let EcsMetadata::Loaded(t) = state else {
        panic!("expected loaded, got {state:?}")
    };
    assert_eq!(t.family, "demo-app");
    assert_eq!(t.revision, "7");
    assert_eq!(t.container_name, "app");

    let m: Value = client()
        .get(s.url("/api/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        m["ecs"],
        json!({
            "state": "loaded",
            "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster",
            "task_arn": "arn:aws:ecs:us-east-1:123456789012:task/demo-cluster/0123456789abcdef",
            "family": "demo-app",
            "revision": "7",
            "container_name": "app",
            "availability_zone": "us-east-1a",
            "launch_type": "FARGATE"
        })
    );
    let html = client()
        .get(s.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("demo-app:7"));
    assert!(html.contains("0123456789abcdef"));
    assert!(s.app.logs.last(usize::MAX).iter().any(|e| e.message
        == "running as ECS task 0123456789abcdef (demo-app:7) in cluster demo-cluster"));
    s.stop().await;
}

#[tokio::test]
async fn ecs_metadata_failure_is_shown_not_fatal() {
    let base = fake_metadata_server().await;
    // A path the fake does not serve: 404 on every attempt.
    let uri = format!("{base}/missing");
    let t0 = Instant::now();
    let state = snooze_demo_app::ecs::load(Some(&uri), Duration::from_millis(500), 2).await;
    let EcsMetadata::Failed { error } = state else {
        panic!("expected failed, got {state:?}")
    };
    assert!(error.contains("404"), "{error}");
    assert!(
        error.starts_with("reading ecs metadata from http://127.0.0.1:"),
        "{error}"
    );
    assert!(t0.elapsed() < Duration::from_secs(3));

    // A server that never answers: the timeout bounds the wait.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/v4/x", silent.local_addr().unwrap());
    let t0 = Instant::now();
    let state = snooze_demo_app::ecs::load(Some(&uri), Duration::from_millis(200), 1).await;
    assert!(matches!(state, EcsMetadata::Failed { .. }), "{state:?}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    drop(silent);
}

mod binary {
    //! The real binary: configuration from env, SIGTERM with an SSE client connected,
    //! `--healthcheck`.
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const BIN: &str = env!("CARGO_BIN_EXE_snooze-demo-app");

    /// Kills the child if a test fails before it exits, so no process outlives the test.
    struct Guard(std::process::Child);

    impl Drop for Guard {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    /// Starts the binary on a free port; returns the child and its address (from the JSON
    /// `listening` log line).
    fn spawn(ecs_metadata_uri: &str) -> (Guard, SocketAddr, std::sync::mpsc::Receiver<String>) {
        let child = Command::new(BIN)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("LOG_FORMAT", "json")
            .env("APP_NAME", "bin-test")
            .env("APP_ENV", "ci")
            .env("GIT_SHA", "feedface")
            .env("SSE_KEEPALIVE", "200ms")
            .env("HEARTBEAT_INTERVAL", "1h")
            .env("ECS_CONTAINER_METADATA_URI_V4", ecs_metadata_uri)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut child = Guard(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("a listening line within 10 s");
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                panic!("stdout line is not JSON: {line}")
            };
            if v["message"] == "listening" {
                return (child, v["addr"].as_str().unwrap().parse().unwrap(), rx);
            }
        }
    }

    fn wait_exit(child: &mut Guard, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                panic!("the binary did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test]
    async fn sigterm_exits_zero_with_an_sse_client_connected() {
        let metadata = fake_metadata_server().await;
        let (mut child, addr, lines) = spawn(&metadata);
        let base = format!("http://{addr}");
        let m: Value = client()
            .get(format!("{base}/api/metrics"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                m["app"]["name"].as_str(),
                m["app"]["environment"].as_str(),
                m["app"]["git_sha"].as_str()
            ),
            (Some("bin-test"), Some("ci"), Some("feedface"))
        );
        // The metadata is read in the background at start.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let m: Value = client()
                .get(format!("{base}/api/metrics"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if m["ecs"]["state"] == "loaded" {
                assert_eq!(
                    (
                        m["ecs"]["family"].as_str(),
                        m["ecs"]["container_name"].as_str()
                    ),
                    (Some("demo-app"), Some("app"))
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ecs metadata not loaded: {}",
                m["ecs"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let ok = Command::new(BIN)
            .arg("--healthcheck")
            .env("PORT", addr.port().to_string())
            .env("HOST", "0.0.0.0")
            .status()
            .unwrap();
        assert!(ok.success(), "healthcheck against the running app");

        let mut sse = SseReader::open(&format!("{base}/api/logs/stream")).await;
        let (name, snapshot) = sse.next_event(Duration::from_secs(5)).await;
        assert_eq!(name, "snapshot");
        assert!(
            snapshot[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("bin-test")
        );

        let t0 = Instant::now();
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(child.0.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert!(status.success(), "exit status {status:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t0.elapsed()
        );
        let output: Vec<String> = lines.try_iter().collect();
        assert!(output.iter().any(|l| l.contains("SIGTERM")), "{output:?}");
        assert!(
            output.iter().any(|l| l.contains("\"stopped\"")),
            "{output:?}"
        );

        let down = Command::new(BIN)
            .arg("--healthcheck")
            .env("PORT", addr.port().to_string())
            .status()
            .unwrap();
        assert_eq!(down.code(), Some(1), "healthcheck against a stopped app");
    }
}
