//! The wake Lambda behind the shared Application Load Balancer: ALB events are served by their
//! `Host` ([`snooze::wake::handle_by_host`]) through the binary's whole path
//! ([`snooze_wake::handle_event`]: the raw-event gate, `lambda_http`'s conversion, the answer in
//! the ALB's shape). Covered: a route-mode record's host in any case and with a port, the ALB's
//! single-value and multi-value header modes, a query string the ALB passes without decoding,
//! a base64 body, the status path, a host no record claims (served by path), and a Ready record
//! whose rule has not switched yet (the page keeps waiting instead of looping).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use lambda_http::{Context, LambdaEvent};
use serde_json::{Value, json};
use snooze::model::{EndpointStatus, Phase, Record, RouteStatus, RouteTo, Status, Step, Timestamp};
use snooze::store::{SqliteStore, StatusGuard, Store};
use snooze::wake::{STABLE_STATUS_PATH, WakeState};
use snooze_test_support::wake_seed;

const TG: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/snooze-wake/6d0ecf831eec9f09";

/// The wake fixtures' records plus `site` (route mode at `site.example.com`, asleep) and
/// `live` (route mode at `live.example.com`, Ready, its route already at the service).
async fn state(dir: &Path) -> (Arc<SqliteStore>, Arc<WakeState>) {
    let (store, state) = wake_seed::sqlite_state(dir).await;
    let mut site = Record::test("site").routed_at("site.example.com");
    site.spec.target = snooze::model::Target::Ecs(snooze::model::EcsTarget {
        cluster: "c".into(),
        service: "site-svc".into(),
    });
    let mut live = Record::test("live").routed_at("live.example.com");
    live.spec.target = snooze::model::Target::Ecs(snooze::model::EcsTarget {
        cluster: "c".into(),
        service: "live-svc".into(),
    });
    let asleep = Status {
        phase: Phase::Asleep,
        phase_since: Some(Timestamp::now().sub(Duration::from_secs(1))),
        ..Status::default()
    };
    let ready = Status {
        phase: Phase::Ready,
        step: Some(Step::Ready),
        endpoint: Some(EndpointStatus {
            ip: "10.0.0.5".into(),
            url: "http://10.0.0.5:80/".into(),
            task_arn: "arn:aws:ecs:eu-west-1:123456789012:task/c/1".into(),
        }),
        route: Some(RouteStatus {
            host: "live.example.com".into(),
            to: RouteTo::Service,
            backend: Some(TG.replace("snooze-wake", "live")),
            since: Timestamp::now(),
        }),
        ..Status::default()
    };
    for (r, s) in [(site, asleep), (live, ready)] {
        store.apply(&r, None).await.unwrap();
        store
            .publish_status(r.name(), &s, StatusGuard::exists())
            .await
            .unwrap();
    }
    (store, state)
}

/// An ALB event (single-value headers) for `method path` with these headers and query.
fn alb(method: &str, path: &str, headers: Value, query: Value) -> Value {
    json!({
        "requestContext": {"elb": {"targetGroupArn": TG}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": query,
        "headers": headers,
        "body": "",
        "isBase64Encoded": false
    })
}

async fn invoke(state: &Arc<WakeState>, event: Value) -> Value {
    snooze_wake::handle_event(state, LambdaEvent::new(event, Context::default())).await
}

fn body(resp: &Value) -> String {
    resp["body"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_stable_address_is_served_by_host_in_any_case_and_with_a_port() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, s) = state(tmp.path()).await;
    let event = alb(
        "GET",
        "/dashboard",
        json!({"host": "Site.Example.COM:443", "accept": "text/html", "user-agent": "Mozilla/5.0"}),
        json!({}),
    );
    let resp = invoke(&s, event).await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert_eq!(
        resp["statusDescription"], "200 OK",
        "the ALB's shape: {resp}"
    );
    let html = body(&resp);
    assert!(html.contains("waking up"), "{html}");
    assert!(
        html.contains(STABLE_STATUS_PATH),
        "the page polls its own host: {html}"
    );
    assert!(
        store.get("site").await.unwrap().is_some_and(|e| match e {
            snooze::model::Entry::Record(r) => r.desired.wake_requested_at.is_some(),
            _ => false,
        }),
        "the visit woke the service"
    );
    // The status path on the same host: JSON, not routed.
    let resp = invoke(
        &s,
        alb(
            "GET",
            STABLE_STATUS_PATH,
            json!({"host": "site.example.com."}),
            json!({}),
        ),
    )
    .await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let v: Value = serde_json::from_str(&body(&resp)).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["routed"].as_bool()),
        (Some("site"), Some(false))
    );
    assert_eq!(v["address"], "https://site.example.com/");
}

#[tokio::test]
async fn multi_value_headers_an_undecoded_query_and_a_base64_body_are_understood() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, s) = state(tmp.path()).await;
    // Multi-value mode: the answer comes back in multi-value form, and the ALB's raw
    // (still percent-encoded) query is kept as it is in the page's reload URL.
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": TG}},
        "httpMethod": "GET",
        "path": "/search",
        "multiValueQueryStringParameters": {"q": ["a%20b"], "tag": ["x", "y"]},
        "multiValueHeaders": {"host": ["site.example.com"], "accept": ["text/html"], "user-agent": ["Mozilla/5.0"]},
        "body": "",
        "isBase64Encoded": false
    });
    let resp = invoke(&s, event).await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert!(
        resp["multiValueHeaders"]["content-type"].is_array(),
        "{resp}"
    );
    let html = body(&resp);
    // The reload URL (the no-script refresh) carries the same query: the ALB gives it still
    // percent-encoded and lambda_http decodes it once, so it is neither left encoded nor encoded
    // twice (its form may differ: `a+b` for `a%20b`, the keys' order).
    let url = html
        .split("url=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a refresh URL")
        .replace("&amp;", "&");
    let (path, query) = url.split_once('?').expect("a query");
    assert_eq!(path, "/search");
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("q".to_string(), "a b".to_string()),
            ("tag".to_string(), "x".to_string()),
            ("tag".to_string(), "y".to_string()),
        ],
        "{url}"
    );
    // An API client with a base64 body: 503, Retry-After, the status JSON.
    let mut post = alb(
        "POST",
        "/api/items",
        json!({"host": "site.example.com", "content-type": "application/json"}),
        json!({}),
    );
    post["body"] = json!(base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#));
    post["isBase64Encoded"] = json!(true);
    let resp = invoke(&s, post).await;
    assert_eq!(resp["statusCode"], 503, "{resp}");
    assert!(resp["headers"]["retry-after"].is_string(), "{resp}");
    let v: Value = serde_json::from_str(&body(&resp)).unwrap();
    assert_eq!(v["name"], "site");
}

#[tokio::test]
async fn other_hosts_are_served_by_path_and_a_ready_record_not_yet_switched_keeps_waiting() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, s) = state(tmp.path()).await;
    // The load balancer's own DNS name: the path routes (/s/demo of a redirect-mode record).
    let resp = invoke(
        &s,
        alb(
            "GET",
            "/s/demo",
            json!({"host": "snooze-123.eu-west-1.elb.amazonaws.com", "accept": "text/html", "user-agent": "Mozilla/5.0"}),
            json!({}),
        ),
    )
    .await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert!(body(&resp).contains("waking up"), "{resp}");
    // `live` is Ready and its status says routed, yet the request reached the wake Lambda: the
    // rule is being switched. The page keeps polling instead of reloading into itself.
    let resp = invoke(
        &s,
        alb(
            "GET",
            STABLE_STATUS_PATH,
            json!({"host": "live.example.com"}),
            json!({}),
        ),
    )
    .await;
    let v: Value = serde_json::from_str(&body(&resp)).unwrap();
    assert_eq!(v["routed"], true, "{v}");
    let resp = invoke(
        &s,
        alb(
            "GET",
            "/",
            json!({"host": "live.example.com", "accept": "text/html", "user-agent": "Mozilla/5.0"}),
            json!({}),
        ),
    )
    .await;
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let html = body(&resp);
    assert!(html.contains("waking up"), "still the wait page: {html}");
    assert!(html.contains("data-poll"), "and it polls: {html}");
}
