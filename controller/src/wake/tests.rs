//! Handler tests against an in-memory store that records every call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::model::{EndpointStatus, Malformed, Status, Step};
use crate::store::{Applied, StatusGuard};

/// A `Store` fake: records in a map, every call logged by method name.
#[derive(Default)]
pub(crate) struct Fake {
    records: Mutex<BTreeMap<String, Entry>>,
    calls: Mutex<Vec<String>>,
    /// Answered by the next `get` instead of the stored entry (a read from before another
    /// writer's change).
    stale_once: Mutex<Option<Entry>>,
}

impl Fake {
    fn with(entries: Vec<Entry>) -> Arc<Self> {
        let f = Fake::default();
        for e in entries {
            f.records.lock().unwrap().insert(e.name().to_string(), e);
        }
        Arc::new(f)
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("record_wake") || !c.starts_with("get"))
            .collect()
    }
    fn written_wakes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.as_str() == "record_wake:written")
            .count()
    }
    fn record(&self, name: &str) -> Record {
        match self.records.lock().unwrap().get(name) {
            Some(Entry::Record(r)) => (**r).clone(),
            other => panic!("no record {name}: {other:?}"),
        }
    }
    fn set_status(&self, name: &str, s: Status) {
        if let Some(Entry::Record(r)) = self.records.lock().unwrap().get_mut(name) {
            r.status = Some(s);
        }
    }
    fn log(&self, c: impl Into<String>) {
        self.calls.lock().unwrap().push(c.into());
    }
}

#[async_trait]
impl Store for Fake {
    async fn get(&self, name: &str) -> store::Result<Option<Entry>> {
        self.log("get");
        if let Some(stale) = self.stale_once.lock().unwrap().take() {
            return Ok(Some(stale));
        }
        Ok(self.records.lock().unwrap().get(name).cloned())
    }
    async fn list(&self) -> store::Result<Vec<Entry>> {
        self.log("list");
        Ok(self.records.lock().unwrap().values().cloned().collect())
    }
    async fn apply(&self, _: &Record, _: Option<u64>) -> store::Result<Applied> {
        self.log("apply");
        Err(store::Error::Config("fake".into()))
    }
    async fn delete(&self, _: &str, _: Option<u64>) -> store::Result<()> {
        self.log("delete");
        Ok(())
    }
    async fn record_wake(
        &self,
        name: &str,
        at: Timestamp,
        debounce: Duration,
    ) -> store::Result<Touch> {
        let mut map = self.records.lock().unwrap();
        let Some(Entry::Record(r)) = map.get_mut(name) else {
            self.log("record_wake:not_found");
            return Err(store::Error::NotFound(name.into()));
        };
        if r.desired
            .wake_requested_at
            .is_some_and(|w| w > at.sub(debounce))
        {
            self.log("record_wake:debounced");
            return Ok(Touch::Debounced);
        }
        r.desired.wake_requested_at = Some(at);
        self.log("record_wake:written");
        Ok(Touch::Written)
    }
    async fn record_activity(&self, _: &str, _: Timestamp, _: Duration) -> store::Result<Touch> {
        self.log("record_activity");
        Ok(Touch::Written)
    }
    async fn request_sleep(&self, _: &str, _: Timestamp) -> store::Result<()> {
        self.log("request_sleep");
        Ok(())
    }
    async fn force_wake(&self, _: &str, _: Timestamp) -> store::Result<()> {
        self.log("force_wake");
        Ok(())
    }
    async fn publish_status(&self, _: &str, _: &Status, _: StatusGuard) -> store::Result<()> {
        self.log("publish_status");
        Ok(())
    }
}

const HASH_OF_TEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn ready_status(url: &str) -> Status {
    Status {
        phase: Phase::Ready,
        step: Some(Step::Ready),
        endpoint: Some(EndpointStatus {
            ip: "203.0.113.10".into(),
            url: url.into(),
            task_arn: "arn:t".into(),
        }),
        ..Status::default()
    }
}

fn entries() -> Vec<Entry> {
    let rec = |r: Record| Entry::Record(Box::new(r));
    let mut off = Record::test("off").asleep();
    off.spec.mode = Mode::Off;
    let mut disabled = Record::test("disabled").asleep();
    disabled.spec.wake.enabled = false;
    let mut locked = Record::test("locked").asleep();
    locked.spec.wake.access = Access::Token;
    locked.spec.wake.token_sha256 = Some(HASH_OF_TEST.into());
    let mut invalid = Record::test("invalid").asleep();
    invalid.spec.replicas = 500;
    let mut flat = Record::test("flat").with_status(ready_status("http://203.0.113.10:8080/app/"));
    flat.spec.wake.preserve_path = false;
    let mut titled = Record::test("titled").asleep();
    titled.spec.page.title = Some("<script>alert('t')</script>".into());
    let failed_at: Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
    let failed = Record::test("failed")
        .woken_at(failed_at)
        .with_status(Status {
            phase: Phase::Failed,
            step: Some(Step::Running),
            wake_started_at: Some(failed_at),
            message: "task stopped: <script>alert(1)</script> exited".into(),
            ..Status::default()
        });
    let mut picky = Record::test("picky").asleep();
    picky.spec.wake.ignore_user_agents = Some(vec!["MyMonitor".into()]);
    vec![
        rec(Record::test("demo").asleep()),
        rec(Record::test("up").with_status(ready_status("http://203.0.113.10:80/"))),
        rec(off),
        rec(disabled),
        rec(locked),
        rec(invalid),
        rec(flat),
        rec(titled),
        rec(failed),
        rec(picky),
        Entry::Malformed(Malformed {
            name: "broken".into(),
            raw: serde_json::json!({"name": "broken"}),
            error: "spec: missing field `target`".into(),
            status: None,
            resource_version: 1,
            status_version: 0,
        }),
    ]
}

fn state(store: Arc<Fake>) -> WakeState {
    WakeState::new(
        store,
        WakeConfig {
            default_service: Some("demo".into()),
            ..WakeConfig::default()
        },
    )
}

fn req(method: &str, uri: &str) -> Request<Bytes> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Bytes::new())
        .unwrap()
}

fn req_h(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::new()).unwrap()
}

fn body(r: &Response<Bytes>) -> String {
    String::from_utf8(r.body().to_vec()).unwrap()
}

fn header<'a>(r: &'a Response<Bytes>, h: &str) -> &'a str {
    r.headers()
        .get(h)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn attr(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("{name}=\""))? + name.len() + 2;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

async fn get(s: &WakeState, uri: &str) -> Response<Bytes> {
    handle(s, req("GET", uri)).await
}

#[tokio::test]
async fn an_asleep_service_gets_the_wait_page_and_one_wake_write() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = get(&s, "/s/demo/some/path?q=1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    let html = body(&r);
    assert!(html.contains("demo is waking up"), "{html}");
    assert!(
        html.contains(r#"<li class="current" data-step="requested" aria-current="step">"#),
        "{html}"
    );
    assert_eq!(fake.written_wakes(), 1);
    assert!(fake.record("demo").desired.wake_requested_at.is_some());
    // the CSP allows exactly this response's nonce
    let csp = header(&r, "content-security-policy").to_string();
    let nonce = attr(&html, "nonce").unwrap();
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    // a burst of hits is one write
    for _ in 0..1000 {
        assert_eq!(get(&s, "/s/demo").await.status(), 200);
    }
    assert_eq!(fake.written_wakes(), 1);
}

#[tokio::test]
async fn the_wake_path_writes_only_the_wake_fact_and_never_creates() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let before = fake.record("demo");
    get(&s, "/s/demo").await;
    handle(&s, req("POST", "/api/v1/services/demo/wake")).await;
    get(&s, "/api/v1/services/demo").await;
    let after = fake.record("demo");
    let mut expected = before.clone();
    expected.desired.wake_requested_at = after.desired.wake_requested_at;
    assert_eq!(after, expected, "only desired.wakeRequestedAt changed");
    for c in fake.calls() {
        assert!(
            c == "get" || c.starts_with("record_wake"),
            "unexpected store call {c}"
        );
    }
    // unknown names: 404, nothing written, nothing created
    let r = get(&s, "/s/nobody").await;
    assert_eq!(r.status(), 404);
    assert!(body(&r).contains("nobody"));
    assert_eq!(
        handle(&s, req("POST", "/api/v1/services/nobody/wake"))
            .await
            .status(),
        404
    );
    assert_eq!(get(&s, "/api/v1/services/nobody").await.status(), 404);
    assert!(fake.records.lock().unwrap().get("nobody").is_none());
    assert!(!fake.calls().iter().any(|c| c == "record_wake:not_found"));
}

#[tokio::test]
async fn switched_off_invalid_and_malformed_records_are_never_woken() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for (uri, needle) in [
        ("/s/off", "off is switched off"),
        ("/s/disabled/x", "disabled is switched off"),
        ("/s/invalid", "cannot be woken"),
        ("/s/broken", "cannot be woken"),
    ] {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 503, "{uri}");
        assert!(body(&r).contains(needle), "{uri}: {}", body(&r));
    }
    for name in ["off", "disabled", "invalid", "broken"] {
        let r = handle(&s, req("POST", &format!("/api/v1/services/{name}/wake"))).await;
        assert_eq!(r.status(), 409, "{name}");
        let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert!(
            j["error"] == "switched_off" || j["error"] == "invalid",
            "{j}"
        );
    }
    assert_eq!(fake.writes(), Vec::<String>::new());
    // the status route still answers, without side effects
    let j: serde_json::Value =
        serde_json::from_slice(get(&s, "/api/v1/services/broken").await.body()).unwrap();
    assert_eq!(j["phase"], "Invalid");
    assert_eq!(j["ready"], false);
}

/// A record whose quiet hours cover every minute of every day (row 5 of the precedence).
fn always_quiet(name: &str) -> Record {
    let mut r = Record::test(name).asleep();
    r.spec.schedule =
        Some(crate::model::schedule::Schedule::test("Europe/Berlin").asleep("Mon-Sun 00:00-24:00"));
    r
}

#[tokio::test]
async fn quiet_hours_refuse_wakes_and_say_until_when_unless_an_operator_forced_one() {
    let fake = Fake::with(vec![
        Entry::Record(Box::new(always_quiet("quiet"))),
        Entry::Record(Box::new(always_quiet("forced").forced_at(Timestamp::now()))),
    ]);
    let s = state(fake.clone());
    let r = get(&s, "/s/quiet").await;
    assert_eq!(r.status(), 503);
    let html = body(&r);
    assert!(html.contains("quiet is asleep until"), "{html}");
    assert!(html.contains("snoozectl wake --force"), "{html}");
    let r = handle(&s, req("POST", "/api/v1/services/quiet/wake")).await;
    assert_eq!(r.status(), 409);
    let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(j["error"], "quiet_hours", "{j}");
    assert!(
        j["message"].as_str().unwrap().starts_with("asleep until "),
        "{j}"
    );
    assert!(j["status"]["quietUntil"].is_string(), "{j}");
    assert_eq!(fake.writes(), Vec::<String>::new(), "nothing is woken");
    // The status route says so too, without side effects.
    let j: serde_json::Value =
        serde_json::from_slice(get(&s, "/api/v1/services/quiet").await.body()).unwrap();
    assert!(j["quietUntil"].is_string(), "{j}");
    assert!(
        j["message"].as_str().unwrap().contains("quiet hours"),
        "{j}"
    );
    // An operator's forced wake lets visitors through: the page is the wait page.
    let r = get(&s, "/s/forced").await;
    assert_eq!(r.status(), 200, "{}", body(&r));
    assert!(!body(&r).contains("asleep until"));
}

/// A record whose cost this month (and next, should the month turn during the test) is
/// $12.50 against a budget of $10 (row 4 of the precedence).
fn over_budget(name: &str) -> Record {
    use crate::model::ledger::{LedgerMonth, month_key};
    let mut r = Record::test(name).asleep();
    r.spec.budget = Some(10.0);
    r.spec.page.title = Some(format!("The {name} app"));
    let now = Timestamp::now();
    for at in [now, now.add(std::time::Duration::from_secs(40 * 24 * 3600))] {
        r.status.as_mut().unwrap().ledger.months.push(LedgerMonth {
            month: month_key(at),
            cost: Some(12.5),
            ..LedgerMonth::default()
        });
    }
    r
}

#[tokio::test]
async fn a_reached_budget_refuses_wakes_and_says_until_when_unless_an_operator_forced_one() {
    let fake = Fake::with(vec![
        Entry::Record(Box::new(over_budget("broke"))),
        Entry::Record(Box::new(over_budget("forced").forced_at(Timestamp::now()))),
    ]);
    let s = state(fake.clone());
    let said = "The broke app reached its monthly budget of $10.00 (this month: $12.50). It can \
                be woken again on ";
    let r = get(&s, "/s/broke").await;
    assert_eq!(r.status(), 503);
    let html = body(&r);
    assert!(html.contains(said), "{html}");
    assert!(
        html.contains(" UTC, or by an operator with snoozectl wake --force."),
        "{html}"
    );
    let r = handle(&s, req("POST", "/api/v1/services/broke/wake")).await;
    assert_eq!(r.status(), 409);
    let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(j["error"], "over_budget", "{j}");
    assert!(j["message"].as_str().unwrap().starts_with(said), "{j}");
    assert_eq!(j["status"]["overBudget"]["budget"], 10.0, "{j}");
    assert_eq!(fake.writes(), Vec::<String>::new(), "nothing is woken");
    // The status route says so too, without side effects.
    let j: serde_json::Value =
        serde_json::from_slice(get(&s, "/api/v1/services/broke").await.body()).unwrap();
    assert_eq!(j["overBudget"]["cost"], 12.5, "{j}");
    assert!(
        j["overBudget"]["until"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z"),
        "{j}"
    );
    assert!(j["message"].as_str().unwrap().starts_with(said), "{j}");
    // An operator's forced wake lets visitors through: the page is the wait page.
    let r = get(&s, "/s/forced").await;
    assert_eq!(r.status(), 200, "{}", body(&r));
    assert!(!body(&r).contains("monthly budget"));
    let j: serde_json::Value =
        serde_json::from_slice(get(&s, "/api/v1/services/forced").await.body()).unwrap();
    assert!(j.get("overBudget").is_none(), "{j}");
    // While its tasks stop (Sleeping) the status says the same, not "a new request wakes it".
    let mut sleeping = over_budget("broke");
    sleeping.status.as_mut().unwrap().phase = Phase::Sleeping;
    let v = crate::wake::view_record(&sleeping, Timestamp::now());
    assert!(v.message.starts_with(said), "{v:?}");
    assert!(v.over_budget.is_some(), "{v:?}");
}

#[tokio::test]
async fn head_and_bots_get_the_page_but_never_wake() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = handle(&s, req("HEAD", "/s/demo")).await;
    assert_eq!(r.status(), 200);
    assert!(r.body().is_empty());
    let slack = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
    let r = handle(&s, req_h("GET", "/s/demo", &[("user-agent", slack)])).await;
    assert_eq!(r.status(), 200);
    let html = body(&r);
    assert!(html.contains("demo is asleep"), "{html}");
    assert!(!html.contains("data-poll"), "a bot's page does not poll");
    // a record's own list replaces the default one
    let r = handle(
        &s,
        req_h("GET", "/s/picky", &[("user-agent", "MyMonitor/2")]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(fake.written_wakes(), 0);
    handle(&s, req_h("GET", "/s/picky", &[("user-agent", slack)])).await;
    assert_eq!(fake.written_wakes(), 1, "Slackbot is not in picky's list");
}

#[tokio::test]
async fn ready_redirects_to_the_endpoint_with_path_and_query() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = get(&s, "/s/up/a/b%20c?x=1&token=t&y=%2C&retry=1").await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        header(&r, "location"),
        "http://203.0.113.10:80/a/b%20c?x=1&y=%2C"
    );
    let r = get(&s, "/s/up").await;
    assert_eq!(header(&r, "location"), "http://203.0.113.10:80/");
    let r = get(&s, "/s/flat/deep/path?x=1").await;
    assert_eq!(
        header(&r, "location"),
        "http://203.0.113.10:8080/app/",
        "preservePath false"
    );
    assert_eq!(
        fake.written_wakes(),
        2,
        "a visit to a Ready service still renews the wake"
    );
}

#[tokio::test]
async fn the_redirect_never_leaves_the_endpoint() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for evil in [
        "/s/up//evil.com",
        "/s/up/\\evil.com",
        "/s/up/a\\b",
        "/s/up/%2F%2Fevil.com",
        "/s/up/%2f%2Fevil.com/x",
        "/s/up/%5Cevil.com",
        "/s/up/%5C%5Cevil.com",
    ] {
        let r = get(&s, evil).await;
        assert_eq!(r.status(), 400, "{evil}");
        assert_eq!(header(&r, "location"), "", "{evil}");
    }
    assert_eq!(fake.written_wakes(), 0, "rejected paths wrote nothing");
    for odd in [
        "/s/up/https://evil.com",
        "/s/up/https:%2F%2Fevil.com",
        "/s/up/@evil.com",
        "/s/up/.evil.com",
    ] {
        let r = get(&s, odd).await;
        assert_eq!(r.status(), 302, "{odd}");
        let loc: http::Uri = header(&r, "location").parse().unwrap();
        assert_eq!(
            loc.authority().unwrap().as_str(),
            "203.0.113.10:80",
            "{odd} → {loc}"
        );
        assert_eq!(loc.scheme_str(), Some("http"));
    }
    assert!(redirect_target("http://203.0.113.10:80/", true, "/\\evil.com", "").is_none());
    assert!(redirect_target("javascript:alert(1)", true, "/", "").is_none());
    assert!(redirect_target("//evil.com/", true, "/", "").is_none());
    assert_eq!(
        redirect_target("https://h:8443/base/", true, "/x", "a=1").as_deref(),
        Some("https://h:8443/base/x?a=1")
    );
}

#[tokio::test]
async fn names_are_validated_before_any_store_access() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for uri in [
        "/s/Demo",
        "/s/a%2Fb",
        "/s/-x",
        "/api/v1/services/UP",
        "/s/a..b",
        &format!("/s/{}", "a".repeat(64)),
    ] {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 400, "{uri}");
    }
    assert_eq!(
        handle(&s, req("POST", "/api/v1/services/%3Cx%3E/wake"))
            .await
            .status(),
        400
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn repeated_name_like_query_keys_are_rejected() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for uri in [
        "/s/demo?token=a&token=b",
        "/s/demo?name=a&name=b",
        "/api/v1/services/demo?service=a&service=b",
        "/s/demo?retry=1&re%74ry=2",
        "/?name=x&name=y",
    ] {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 400, "{uri}");
    }
    assert_eq!(
        handle(&s, req("POST", "/api/v1/services/demo/wake?wait=1&wait=2"))
            .await
            .status(),
        400
    );
    assert!(fake.calls().is_empty());
    // other keys may repeat (they belong to the service)
    assert_eq!(get(&s, "/s/demo?tag=a&tag=b").await.status(), 200);
}

#[tokio::test]
async fn reflected_input_is_always_escaped() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let payload = "%3Cscript%3Ealert(1)%3C/script%3E";
    let r = get(
        &s,
        &format!("/s/demo/{payload}/%22%3E%3Cimg?q=%22%3E%3Cscript%3Ex%3C/script%3E&a=%3Cb%3E"),
    )
    .await;
    let html = body(&r);
    assert_eq!(r.status(), 200);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("\"><img"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    let r = get(&s, "/s/failed").await;
    let html = body(&r);
    assert!(
        html.contains("task stopped: &lt;script&gt;alert(1)&lt;/script&gt; exited"),
        "{html}"
    );
    let r = get(&s, "/s/titled").await;
    let html = body(&r);
    assert!(
        html.contains("&lt;script&gt;alert('t')&lt;/script&gt; is waking up"),
        "{html}"
    );
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the nonce'd script: {html}"
    );
    let r = get(&s, "/nope/%3Cscript%3E").await;
    assert_eq!(r.status(), 404);
    assert!(!body(&r).contains("<script>"));
}

#[tokio::test]
async fn a_visit_after_the_failure_has_been_shown_a_while_retries() {
    let failed = |name: &str, ago: Duration| {
        let since = Timestamp::now().sub(ago);
        Entry::Record(Box::new(
            Record::test(name)
                .woken_at(since.sub(ago))
                .with_status(Status {
                    phase: Phase::Failed,
                    phase_since: Some(since),
                    message: "task stopped: exit code 1".into(),
                    ..Status::default()
                }),
        ))
    };
    let fake = Fake::with(vec![
        failed("recent", Duration::from_secs(10)),
        failed(
            "earlier",
            DEFAULT_FAILED_RETRY_AFTER + Duration::from_secs(5),
        ),
    ]);
    let s = state(fake.clone());
    let html = body(&get(&s, "/s/recent").await);
    assert!(html.contains("could not be started"), "{html}");
    assert_eq!(fake.written_wakes(), 0, "a reload right after the failure");
    let html = body(&get(&s, "/s/earlier").await);
    assert_eq!(fake.written_wakes(), 1, "a visit a while after the failure");
    assert!(html.contains("is waking up"), "{html}");
}

#[tokio::test]
async fn failed_shows_the_reason_and_try_again_starts_a_fresh_attempt() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = get(&s, "/s/failed/x?a=1").await;
    assert_eq!(r.status(), 200);
    let html = body(&r);
    assert!(html.contains("could not be started"), "{html}");
    assert!(html.contains("Try again"));
    assert!(
        !html.contains("data-poll") && !html.contains("http-equiv"),
        "no polling on Failed"
    );
    assert_eq!(
        fake.written_wakes(),
        0,
        "looking at a failure does not retry it"
    );
    let retry = attr(&html, "class=\"button\" href").unwrap();
    assert_eq!(retry, "./x?a=1&retry=1");
    let r = get(&s, "/s/failed/x?a=1&retry=1").await;
    assert_eq!(fake.written_wakes(), 1);
    let html = body(&r);
    assert!(html.contains("is waking up"), "{html}");
    assert!(
        html.contains(r#"content="1; url=./x?a=1""#),
        "refresh drops retry: {html}"
    );
    // the API wake after Failed is a fresh attempt too
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = handle(&s, req("POST", "/api/v1/services/failed/wake")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(fake.written_wakes(), 1);
}

#[tokio::test]
async fn token_access_needs_the_token_then_a_scoped_cookie() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for uri in [
        "/s/locked",
        "/s/locked?token=wrong",
        "/api/v1/services/locked",
    ] {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 403, "{uri}");
    }
    assert_eq!(
        handle(&s, req("POST", "/api/v1/services/locked/wake?token=nope"))
            .await
            .status(),
        403
    );
    assert_eq!(fake.written_wakes(), 0);
    let r = get(&s, "/prod/s/locked/x?token=test").await;
    assert_eq!(r.status(), 200);
    assert_eq!(fake.written_wakes(), 1);
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("snooze_token_locked=test; Path=/prod/s/locked;"),
        "{cookies:?}"
    );
    assert!(
        cookies[1].contains("Path=/prod/api/v1/services/locked;"),
        "{cookies:?}"
    );
    for c in &cookies {
        assert!(
            c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax"),
            "{c}"
        );
    }
    let cookie = [("cookie", "snooze_token_locked=test")];
    assert_eq!(
        handle(&s, req_h("GET", "/s/locked", &cookie))
            .await
            .status(),
        200
    );
    assert_eq!(
        handle(&s, req_h("GET", "/api/v1/services/locked", &cookie))
            .await
            .status(),
        200
    );
    let wrong = [("cookie", "snooze_token_demo=test; snooze_token_locked=bad")];
    assert_eq!(
        handle(&s, req_h("GET", "/api/v1/services/locked", &wrong))
            .await
            .status(),
        403
    );
    let bearer = [("authorization", "Bearer test")];
    assert_eq!(
        handle(&s, req_h("POST", "/api/v1/services/locked/wake", &bearer))
            .await
            .status(),
        202
    );
    // the configured public prefix wins over the seen one
    let s2 = WakeState::new(
        fake.clone(),
        WakeConfig {
            public_path_prefix: Some(String::new()),
            cookie_secure: false,
            ..WakeConfig::default()
        },
    );
    let r = get(&s2, "/prod/s/locked?token=test").await;
    let c = header(&r, "set-cookie");
    assert!(
        c.contains("Path=/s/locked;") && !c.contains("Secure"),
        "{c}"
    );
}

#[tokio::test]
async fn the_poll_url_reaches_the_status_route_from_any_depth_and_prefix() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    for (seen, browser) in [
        ("/s/demo", "https://h/s/demo"),
        ("/s/demo/", "https://h/s/demo/"),
        ("/s/demo/a/b/c?x=1", "https://h/s/demo/a/b/c?x=1"),
        ("/prod/s/demo/a", "https://h/prod/s/demo/a"),
        ("/prod/s/demo/a", "https://custom.example/s/demo/a"),
        ("/prod/s/demo/a", "https://custom.example/mapping/s/demo/a"),
        ("/", "https://h/"),
        ("/prod/", "https://h/prod/"),
    ] {
        let r = get(&s, seen).await;
        assert_eq!(r.status(), 200, "{seen}");
        let html = body(&r);
        let poll = attr(&html, "data-poll").unwrap_or_else(|| panic!("{seen}: {html}"));
        let base = url::Url::parse(browser).unwrap();
        let resolved = base.join(&poll).unwrap();
        let expected_prefix = browser
            .split("/s/demo")
            .next()
            .unwrap()
            .trim_end_matches('/');
        let expected_prefix = if browser.ends_with("h/") || browser.ends_with("prod/") {
            browser.trim_end_matches('/').to_string()
        } else {
            expected_prefix.to_string()
        };
        assert_eq!(
            resolved.as_str(),
            format!("{expected_prefix}/api/v1/services/demo"),
            "{seen} seen from {browser}"
        );
        // the resolved path, as the handler would see it, is the status route
        let seen_prefix = if seen.starts_with("/prod") {
            "/prod"
        } else {
            ""
        };
        let as_seen = format!("{seen_prefix}/api/v1/services/demo");
        assert_eq!(get(&s, &as_seen).await.status(), 200);
    }
}

#[tokio::test]
async fn the_api_reports_status_and_waits_for_ready() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = get(&s, "/api/v1/services/up").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(j["name"], "up");
    assert_eq!(j["phase"], "Ready");
    assert_eq!(j["ready"], true);
    assert_eq!(j["url"], "http://203.0.113.10:80/");
    assert_eq!(j["step"], "ready");
    for key in ["message", "since", "etaSeconds", "retryAfterSeconds"] {
        assert!(j.get(key).is_some(), "{key} in {j}");
    }
    let r = handle(&s, req("POST", "/api/v1/services/demo/wake")).await;
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "retry-after"), "1");
    let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        (j["phase"].as_str(), j["step"].as_str(), j.get("url")),
        (Some("Waking"), Some("requested"), None)
    );
    assert_eq!(fake.written_wakes(), 1);
    for bad in ["?wait=26", "?wait=-1", "?wait=abc", "?wait=1.5"] {
        let r = handle(&s, req("POST", &format!("/api/v1/services/demo/wake{bad}"))).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    // ?wait holds until the reconciler publishes Ready
    let f2 = fake.clone();
    let publisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        f2.set_status("demo", ready_status("http://203.0.113.10:80/"));
    });
    let t0 = std::time::Instant::now();
    let r = handle(&s, req("POST", "/api/v1/services/demo/wake?wait=5")).await;
    publisher.await.unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(j["ready"], true);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // and gives up after wait seconds
    let t0 = std::time::Instant::now();
    let r = handle(&s, req("POST", "/api/v1/services/titled/wake?wait=1")).await;
    assert_eq!(r.status(), 202);
    assert!(t0.elapsed() >= Duration::from_millis(900) && t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn small_routes_and_methods() {
    let fake = Fake::with(entries());
    let s = state(fake.clone());
    let r = get(&s, "/healthz").await;
    assert_eq!((r.status().as_u16(), body(&r).as_str()), (200, "ok\n"));
    assert_eq!(get(&s, "/prod/healthz").await.status(), 200);
    let r = get(&s, "/prod").await;
    assert_eq!(
        (r.status().as_u16(), header(&r, "location")),
        (302, "prod/")
    );
    let r = handle(&s, req("POST", "/s/demo")).await;
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");
    let r = handle(&s, req("GET", "/api/v1/services/demo/wake")).await;
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(handle(&s, req("POST", "/favicon.ico")).await.status(), 404);
    assert_eq!(handle(&s, req("PUT", "/a/b/c")).await.status(), 404);
    let r = get(&s, "/favicon.ico").await;
    assert_eq!(r.status(), 404);
    let r = get(&s, "/").await;
    assert_eq!(r.status(), 200);
    assert!(body(&r).contains("demo is waking up"));
    let none = WakeState::new(fake.clone(), WakeConfig::default());
    assert_eq!(get(&none, "/").await.status(), 404);
    assert!(fake.calls().iter().filter(|c| c.as_str() == "get").count() == 1);
}

#[tokio::test]
async fn the_hook_runs_once_per_written_wake() {
    let fake = Fake::with(entries());
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let s = state(fake.clone()).with_on_wake(move |name| {
        assert_eq!(name, "demo");
        c2.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..5 {
        get(&s, "/s/demo").await;
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn config_comes_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let c = WakeConfig::from_lookup(env(&[])).unwrap();
    assert_eq!(c, WakeConfig::default());
    assert_eq!(c.debounce, Duration::from_secs(30));
    assert_eq!(c.max_wait, Duration::from_secs(25));
    let c = WakeConfig::from_lookup(env(&[
        ("SNOOZE_DEFAULT_SERVICE", "demo"),
        ("SNOOZE_WAKE_DEBOUNCE", "30s"),
        ("SNOOZE_WAKE_MAX_WAIT", "5s"),
        ("SNOOZE_COOKIE_SECURE", "false"),
        ("SNOOZE_PUBLIC_PATH_PREFIX", "/wake/"),
    ]))
    .unwrap();
    assert_eq!(c.default_service.as_deref(), Some("demo"));
    assert_eq!(
        (c.debounce, c.max_wait, c.cookie_secure),
        (Duration::from_secs(30), Duration::from_secs(5), false)
    );
    assert_eq!(c.public_path_prefix.as_deref(), Some("/wake"));
    for bad in [
        &[("SNOOZE_DEFAULT_SERVICE", "Not A Name")][..],
        &[("SNOOZE_WAKE_DEBOUNCE", "soon")],
        &[("SNOOZE_WAKE_MAX_WAIT", "1m")],
        &[("SNOOZE_COOKIE_SECURE", "maybe")],
        &[("SNOOZE_PUBLIC_PATH_PREFIX", "//evil")],
    ] {
        let pairs: Vec<(String, String)> = bad
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let err =
            WakeConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
                .unwrap_err();
        assert!(err.to_string().starts_with("invalid SNOOZE_"), "{err}");
    }
}

#[test]
fn a_visit_after_an_operator_sleep_is_never_debounced() {
    let config = WakeConfig::default();
    let t0: Timestamp = "2026-11-29T10:00:00.000Z".parse().unwrap();
    let woken = Record::test("demo").asleep().woken_at(t0);
    assert_eq!(wake_debounce(&config, &woken), config.debounce);
    // `snoozectl sleep` 5 s after the wake: the next visit must wake again at once.
    let slept = woken
        .clone()
        .sleep_requested_at(t0.add(Duration::from_secs(5)));
    assert_eq!(wake_debounce(&config, &slept), RETRY_DEBOUNCE);
    // Slept 300 ms after the wake: a visit 600 ms after the wake is written all the same.
    let soon = woken
        .clone()
        .sleep_requested_at(t0.add(Duration::from_millis(300)));
    assert_eq!(wake_debounce(&config, &soon), Duration::from_millis(300));
    // A wake newer than the sleep request counts again.
    let rewoken = slept.woken_at(t0.add(Duration::from_secs(6)));
    assert_eq!(wake_debounce(&config, &rewoken), config.debounce);
    // Failed with no newer wake pending: a retry is written.
    let failed = Record::test("demo").woken_at(t0).with_status(Status {
        phase: Phase::Failed,
        ..Status::default()
    });
    assert_eq!(wake_debounce(&config, &failed), RETRY_DEBOUNCE);
    // Waiting for a group member that failed: the visit is the group's retry.
    let member = |phase| crate::model::GroupMemberStatus {
        name: "db".into(),
        wave: 0,
        phase: Some(phase),
        step: None,
        message: "tasks keep stopping".into(),
        optional: false,
    };
    let waiting = |phase| {
        Record::test("web").woken_at(t0).with_status(Status {
            phase: Phase::Waking,
            group: Some(crate::model::GroupStatus {
                waiting_for: vec!["db".into()],
                members: vec![member(phase)],
                ..Default::default()
            }),
            ..Status::default()
        })
    };
    assert_eq!(
        wake_debounce(&config, &waiting(Phase::Failed)),
        RETRY_DEBOUNCE
    );
    assert_eq!(
        wake_debounce(&config, &waiting(Phase::Waking)),
        config.debounce
    );
}

// ---- route mode: the stable address ---------------------------------------------------

fn routed_entries() -> Vec<Entry> {
    let rec = |r: Record| Entry::Record(Box::new(r));
    let mut ready = ready_status("http://203.0.113.10:80/");
    ready.route = Some(crate::model::RouteStatus {
        host: "up.example.com".into(),
        to: crate::model::RouteTo::Service,
        backend: Some("203.0.113.10:80".into()),
        since: "2026-11-29T10:00:00Z".parse().unwrap(),
    });
    vec![
        rec(Record::test("demo").routed_at("demo.example.com").asleep()),
        rec(Record::test("up")
            .routed_at("up.example.com")
            .with_status(ready)),
        rec(Record::test("plain").asleep()),
    ]
}

fn routed_state(store: Arc<Fake>) -> WakeState {
    WakeState::new(
        store,
        WakeConfig {
            stable_scheme: Scheme::Http,
            stable_port: Some(8080),
            ..WakeConfig::default()
        },
    )
}

#[test]
fn hosts_compare_without_port_case_or_trailing_dot() {
    for raw in [
        "demo.localhost",
        "demo.localhost:8080",
        "DEMO.Localhost",
        "demo.localhost.",
        "Demo.LOCALHOST.:8080",
    ] {
        assert_eq!(
            normalize_host(raw).as_deref(),
            Some("demo.localhost"),
            "{raw}"
        );
    }
    for bad in [
        "",
        ":8080",
        "[::1]:8080",
        "a..b",
        "-a.b",
        "a b",
        "demo.localhost:x",
        "a/b",
    ] {
        assert_eq!(normalize_host(bad), None, "{bad:?}");
    }
    let parts = |host: &str| req_h("GET", "/", &[("host", host)]).into_parts().0;
    assert_eq!(
        request_host(&parts("Demo.Localhost.:8080")).as_deref(),
        Some("demo.localhost")
    );
    assert_eq!(request_host(&parts("[::1]:8080")), None);
}

#[tokio::test]
async fn a_route_mode_record_at_s_name_is_sent_to_its_stable_address() {
    let store = Fake::with(routed_entries());
    let s = routed_state(store.clone());
    let resp = get(&s, "/s/demo/app/x?y=1&retry=1").await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        header(&resp, "location"),
        "http://demo.example.com:8080/app/x?y=1"
    );
    assert_eq!(
        store.written_wakes(),
        0,
        "the stable address wakes, not /s/"
    );
    // A redirect-mode record is unchanged: the wait page at /s/.
    assert_eq!(get(&s, "/s/plain").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_stable_address_shows_the_wait_page_that_reloads_the_same_url() {
    let store = Fake::with(routed_entries());
    let s = routed_state(store.clone());
    let r = req_h("GET", "/dashboard?tab=2", &[("host", "demo.example.com")]);
    let resp = handle_host(&s, r, "demo").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = body(&resp);
    assert_eq!(store.written_wakes(), 1, "a visit wakes");
    assert_eq!(
        attr(&html, "data-poll").as_deref(),
        Some(STABLE_STATUS_PATH)
    );
    assert!(
        html.contains(r#"content="1; url=/dashboard?tab=2""#),
        "the no-script refresh reloads the same URL: {html}"
    );
    assert!(
        !html.contains("203.0.113.10"),
        "never the task's own address"
    );
    // An API client gets 503 + Retry-After and the status JSON; its wake counts.
    let store = Fake::with(routed_entries());
    let s = routed_state(store.clone());
    let resp = handle_host(&s, req_h("POST", "/api/items?wait=x", &[]), "demo").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!header(&resp, "retry-after").is_empty());
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["phase"], "Waking");
    assert_eq!(v["routed"], false);
    assert_eq!(v["address"], "http://demo.example.com:8080/");
    assert_eq!(store.written_wakes(), 1);
    // A GET that asks for JSON is an API client too; one that also takes HTML is a browser.
    for (accept, json) in [
        ("application/json", true),
        ("application/problem+json, */*;q=0.1", true),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            false,
        ),
        ("text/html, application/json", false),
        ("*/*", false),
    ] {
        let store = Fake::with(routed_entries());
        let s = routed_state(store.clone());
        let resp = handle_host(
            &s,
            req_h("GET", "/api/items", &[("accept", accept)]),
            "demo",
        )
        .await;
        let ct = header(&resp, "content-type");
        if json {
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{accept}");
            assert!(ct.starts_with("application/json"), "{accept}: {ct}");
        } else {
            assert_eq!(resp.status(), StatusCode::OK, "{accept}");
            assert!(ct.starts_with("text/html"), "{accept}: {ct}");
        }
        assert_eq!(store.written_wakes(), 1, "{accept}: the visit wakes");
    }
}

#[tokio::test]
async fn the_status_of_a_stable_address_says_whether_it_is_routed() {
    let store = Fake::with(routed_entries());
    let s = routed_state(store.clone());
    let status = |name: &'static str| {
        let s = &s;
        async move {
            let resp = handle_host(s, req_h("GET", STABLE_STATUS_PATH, &[]), name).await;
            assert_eq!(resp.status(), StatusCode::OK);
            serde_json::from_slice::<serde_json::Value>(resp.body()).unwrap()
        }
    };
    let up = status("up").await;
    assert_eq!(
        (up["phase"].as_str(), up["ready"].as_bool()),
        (Some("Ready"), Some(true))
    );
    assert_eq!(up["routed"], true);
    assert!(
        up.get("url").is_none(),
        "route mode never exposes the task's address"
    );
    // Ready but the route not switched yet: still Waking at `healthy`.
    let mut r = store.record("up");
    r.status.as_mut().unwrap().route.as_mut().unwrap().to = crate::model::RouteTo::Wake;
    store.set_status("up", r.status.unwrap());
    let v = status("up").await;
    assert_eq!(
        (v["phase"].as_str(), v["step"].as_str()),
        (Some("Waking"), Some("healthy"))
    );
    assert_eq!(v["routed"], false);
    assert_eq!(store.written_wakes(), 0, "reading the status never wakes");
}

#[tokio::test]
async fn a_held_status_request_answers_when_the_status_changes() {
    let store = Fake::with(routed_entries());
    let mut s = routed_state(store.clone());
    s.config.watch_every = Duration::from_millis(50);
    let first = handle_host(&s, req_h("GET", STABLE_STATUS_PATH, &[]), "demo").await;
    let v: serde_json::Value = serde_json::from_slice(first.body()).unwrap();
    let key = v["changeKey"].as_str().unwrap().to_string();
    // Unchanged: held for the whole wait (1 s), then the same view.
    let started = std::time::Instant::now();
    let uri = format!("{STABLE_STATUS_PATH}?wait=1&seen={key}");
    let resp = handle_host(&s, req_h("GET", &uri, &[]), "demo").await;
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["changeKey"].as_str(), Some(key.as_str()));
    assert!(started.elapsed() >= Duration::from_millis(900), "held");
    let reads = store.calls().iter().filter(|c| *c == "get").count();
    assert!(
        reads <= 2 + 1000 / 50,
        "bounded reads per held request: {reads}"
    );
    // Changed while held: answered with the new view.
    let store2 = store.clone();
    let changer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store2.set_status(
            "demo",
            Status {
                phase: Phase::Waking,
                step: Some(Step::Pending),
                ..Status::default()
            },
        );
    });
    let resp = handle_host(
        &s,
        req_h(
            "GET",
            &format!("{STABLE_STATUS_PATH}?wait=5&seen={key}"),
            &[],
        ),
        "demo",
    )
    .await;
    changer.await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["step"], "pending");
    assert_ne!(v["changeKey"].as_str(), Some(key.as_str()));
    // A wait beyond the limit is a 400.
    let resp = get(&s, "/api/v1/services/demo?wait=999&seen=x").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn the_unknown_host_page_names_no_record() {
    let resp = unknown_host_response(false);
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let html = body(&resp);
    assert!(html.contains("There is no service at this address"));
    assert!(!html.contains("demo"));
}

/// Visitors arriving together: this one read the record before another visitor's wake was
/// written, and its own wake is debounced by that one. Its page must still say Waking and poll
/// (answered from the older read it said Asleep and never moved on).
#[tokio::test]
async fn a_wake_debounced_by_a_concurrent_visitor_still_shows_the_wait_page_that_polls() {
    for via_host in [false, true] {
        let mut stored = Record::test("demo").routed_at("demo.example.com");
        stored.status = Some(Status {
            phase: Phase::Asleep,
            ..Status::default()
        });
        let stale = stored.clone();
        stored.desired.wake_requested_at = Some(Timestamp::now().sub(Duration::from_millis(50)));
        let store = Fake::with(vec![Entry::Record(Box::new(stored))]);
        *store.stale_once.lock().unwrap() = Some(Entry::Record(Box::new(stale)));
        let s = routed_state(store.clone());
        let resp = if via_host {
            handle_host(
                &s,
                req_h("GET", "/", &[("host", "demo.example.com")]),
                "demo",
            )
            .await
        } else {
            // A redirect-mode visit of the same record: /s/ redirects route mode, so a plain one.
            let mut plain = Record::test("plain");
            plain.status = Some(Status {
                phase: Phase::Asleep,
                ..Status::default()
            });
            let stale = plain.clone();
            plain.desired.wake_requested_at = Some(Timestamp::now().sub(Duration::from_millis(50)));
            let store = Fake::with(vec![Entry::Record(Box::new(plain))]);
            *store.stale_once.lock().unwrap() = Some(Entry::Record(Box::new(stale)));
            let s = state(store.clone());
            let resp = get(&s, "/s/plain").await;
            assert_eq!(store.written_wakes(), 0, "debounced");
            resp
        };
        assert_eq!(resp.status(), StatusCode::OK);
        let html = body(&resp);
        assert!(html.contains("is waking up"), "via_host {via_host}: {html}");
        assert!(
            attr(&html, "data-poll").is_some(),
            "via_host {via_host}: the page polls"
        );
    }
}

#[tokio::test]
async fn a_ready_member_waiting_for_its_dependency_shows_the_page_then_redirects() {
    use crate::model::{GroupMemberStatus, GroupStatus};
    let member = |name: &str, wave: u32, phase: Phase, step: Step| GroupMemberStatus {
        name: name.into(),
        wave,
        phase: Some(phase),
        step: Some(step),
        message: String::new(),
        optional: false,
    };
    let mut status = ready_status("http://203.0.113.10:80/");
    status.group = Some(GroupStatus {
        waiting_for: vec!["api".into()],
        members: vec![
            member("api", 0, Phase::Waking, Step::Pending),
            member("web", 1, Phase::Ready, Step::Ready),
        ],
        ..GroupStatus::default()
    });
    let fake = Fake::with(vec![Entry::Record(Box::new(
        Record::test("web").with_status(status.clone()),
    ))]);
    let s = state(fake.clone());
    let r = get(&s, "/s/web/x").await;
    assert_eq!(r.status(), 200, "no redirect while api is not Ready");
    let html = body(&r);
    assert!(html.contains("Waiting for api to be ready."), "{html}");
    assert!(
        html.contains(r#"data-member="api" data-step="pending""#),
        "{html}"
    );
    assert!(attr(&html, "data-poll").is_some(), "the page polls");
    let r = get(&s, "/api/v1/services/web").await;
    let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(
        (v["ready"].as_bool(), v["phase"].as_str()),
        (Some(false), Some("Waking"))
    );
    assert_eq!(v["group"]["waitingFor"], serde_json::json!(["api"]));

    let g = status.group.as_mut().unwrap();
    g.waiting_for.clear();
    g.members[0] = member("api", 0, Phase::Ready, Step::Ready);
    fake.set_status("web", status);
    let r = get(&s, "/s/web/x").await;
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "location"), "http://203.0.113.10:80/x");
}
