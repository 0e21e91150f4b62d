//! Every reconcile runs in a tracing span named after the record (STYLE.md 6, DESIGN.md §3):
//! span `reconcile` with field `service=<name>`, for every kind of record a pass meets
//! (observed, invalid, deferred because its service went missing, deleted, unreadable). The
//! test captures spans and events with a small `tracing_subscriber` layer and checks that
//! every event about a record carries `service=<name>`, from its span or its own fields.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use snooze::clock::SimClock;
use snooze::model::{Entry, Record, Status, Timestamp};
use snooze::platform::sim::{SimConfig, SimPlatform};
use snooze::reconcile::{PassReport, Reason, Reconciler, Runtime, Scope, StaticProber};
use snooze::store::{self, Applied, MemoryStore, StatusGuard, Store, Touch};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const CLUSTER: &str = "demo-cluster";

// ---- the capturing layer ---------------------------------------------------------------

/// The fields of one span or event, as text (`%x` and `?x` alike).
#[derive(Clone, Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// One captured event: its message and fields, and the spans around it (innermost first).
#[derive(Clone, Debug)]
struct Captured {
    level: tracing::Level,
    fields: Fields,
    spans: Vec<(&'static str, Fields)>,
}

impl Captured {
    fn message(&self) -> &str {
        self.fields.0.get("message").map_or("", String::as_str)
    }
    /// The `service` of the innermost `reconcile` span around the event.
    fn span_service(&self) -> Option<&str> {
        self.spans
            .iter()
            .find(|(name, _)| *name == "reconcile")
            .and_then(|(_, f)| f.0.get("service"))
            .map(String::as_str)
    }
    fn own_service(&self) -> Option<&str> {
        self.fields.0.get("service").map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    /// Every `reconcile` span created, by its `service` field.
    spans: Arc<Mutex<Vec<String>>>,
    /// Every span created: its name and fields.
    all_spans: Arc<Mutex<Vec<(&'static str, Fields)>>>,
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if attrs.metadata().name() == "reconcile" {
            self.spans
                .lock()
                .unwrap()
                .push(f.0.get("service").cloned().unwrap_or_default());
        }
        self.all_spans
            .lock()
            .unwrap()
            .push((attrs.metadata().name(), f.clone()));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(f);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|s| {
                        let f = s.extensions().get::<Fields>().cloned().unwrap_or_default();
                        (s.name(), f)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
            spans,
        });
    }
}

impl Capture {
    fn take(&self) -> (Vec<Captured>, Vec<String>) {
        (
            std::mem::take(&mut *self.events.lock().unwrap()),
            std::mem::take(&mut *self.spans.lock().unwrap()),
        )
    }
}

/// Events of the pass as a whole (not about one record).
const PASS_EVENTS: [&str; 4] = [
    "pass done",
    "tiered observation",
    "observation failed for the whole pass",
    "reading records failed; pass skipped",
];

/// Checks the events and spans of one pass: every record of the report had its own
/// `reconcile` span; every event inside such a span names no other record; every event outside
/// one is a pass-level event or names its record itself.
fn check_pass(report: &PassReport, events: &[Captured], spans: &[String]) {
    for r in &report.records {
        assert!(
            spans.contains(&r.name),
            "{}: no reconcile span (spans: {spans:?}; report: {r})",
            r.name
        );
    }
    assert_eq!(
        spans.len(),
        report.records.len(),
        "one reconcile span per record: {spans:?}"
    );
    for e in events {
        match (e.span_service(), e.own_service()) {
            (Some(span), Some(own)) => assert_eq!(span, own, "event in the wrong span: {e:?}"),
            (Some(_), None) => {}
            (None, Some(_)) => {}
            (None, None) => assert!(
                PASS_EVENTS.contains(&e.message()),
                "event about a record outside its reconcile span: {e:?}"
            ),
        }
    }
}

// ---- a store that cannot read one record -----------------------------------------------

/// [`MemoryStore`] whose `get` of one name fails (as a DynamoDB read can).
struct Unreadable {
    inner: Arc<MemoryStore>,
    name: &'static str,
}

#[async_trait]
impl Store for Unreadable {
    async fn get(&self, name: &str) -> store::Result<Option<Entry>> {
        if name == self.name {
            return Err(store::Error::Backend {
                operation: "GetItem",
                message: "InternalServerError: try again (request id r-1)".into(),
            });
        }
        self.inner.get(name).await
    }
    async fn list(&self) -> store::Result<Vec<Entry>> {
        self.inner.list().await
    }
    async fn apply(&self, record: &Record, expected: Option<u64>) -> store::Result<Applied> {
        self.inner.apply(record, expected).await
    }
    async fn delete(&self, name: &str, expected: Option<u64>) -> store::Result<()> {
        self.inner.delete(name, expected).await
    }
    async fn record_wake(&self, name: &str, at: Timestamp, d: Duration) -> store::Result<Touch> {
        self.inner.record_wake(name, at, d).await
    }
    async fn record_activity(
        &self,
        name: &str,
        at: Timestamp,
        d: Duration,
    ) -> store::Result<Touch> {
        self.inner.record_activity(name, at, d).await
    }
    async fn request_sleep(&self, name: &str, at: Timestamp) -> store::Result<()> {
        self.inner.request_sleep(name, at).await
    }
    async fn force_wake(&self, name: &str, at: Timestamp) -> store::Result<()> {
        self.inner.force_wake(name, at).await
    }
    async fn publish_status(
        &self,
        name: &str,
        status: &Status,
        guard: StatusGuard,
    ) -> store::Result<()> {
        self.inner.publish_status(name, status, guard).await
    }
}

// ---- the test ----------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_event_about_a_record_is_in_its_reconcile_span() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = SimClock::default_start();
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    let memory = Arc::new(MemoryStore::new());
    // alpha: wanted awake (scaled up, phase changes); lost: its service is missing (a
    // condition, then deferred); broken: an item that does not parse (Invalid); unreadable:
    // its read fails; ghost: not in the store at all (deleted).
    sim.add_service(CLUSTER, "alpha-svc");
    sim.add_service(CLUSTER, "unreadable-svc");
    memory.put(Record::test("alpha").woken_at(clock.now()));
    memory.put(Record::test("lost"));
    memory.put(Record::test("unreadable"));
    memory.put_malformed(
        "broken",
        serde_json::json!({"name": "broken", "spec": 7}),
        "spec: invalid type: integer `7`, expected struct Spec",
    );
    let store = Arc::new(Unreadable {
        inner: memory.clone(),
        name: "unreadable",
    });
    let reconciler = Reconciler::new(
        store,
        sim.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    );

    // A full pass: alpha observed and scaled up, broken Invalid, lost Missing.
    let first = reconciler.reconcile(Scope::All).await;
    let (events, spans) = capture.take();
    check_pass(&first, &events, &spans);
    let lost = first.record("lost").unwrap();
    assert!(lost.reason.contains("not found"), "{lost}");
    let alpha: Vec<&Captured> = events
        .iter()
        .filter(|e| e.span_service() == Some("alpha"))
        .collect();
    assert!(
        alpha.iter().any(|e| e.message() == "scaled up")
            && alpha.iter().any(|e| e.message() == "phase changed"),
        "alpha's scale-up and phase change are logged in its span: {alpha:?}"
    );

    // A pass over named records: every kind of work once.
    clock.advance(Duration::from_secs(5));
    let names = ["alpha", "broken", "lost", "unreadable", "ghost"];
    let second = reconciler
        .reconcile(Scope::Names(names.iter().map(|n| n.to_string()).collect()))
        .await;
    let (events, spans) = capture.take();
    check_pass(&second, &events, &spans);
    assert_eq!(
        second
            .records
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "broken", "ghost", "lost", "unreadable"]
    );
    assert!(
        second
            .record("lost")
            .unwrap()
            .reason
            .starts_with("service not found; next check in"),
        "lost is deferred: {}",
        second.record("lost").unwrap()
    );
    assert!(second.record("unreadable").unwrap().error.is_some());
    assert_eq!(second.record("ghost").unwrap().after, None);
    let find = |message: &str| {
        events
            .iter()
            .find(|e| e.message() == message)
            .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
    };
    let failed = find("reading the record failed");
    assert_eq!(
        (failed.span_service(), failed.level),
        (Some("unreadable"), tracing::Level::WARN)
    );
    assert_eq!(
        find("record not found; nothing to do").span_service(),
        Some("ghost")
    );
    // The pass summary is not about one record: outside every record span.
    assert_eq!(find("pass done").span_service(), None);
}

/// Every pass span and every record's `reconcile` span carries the reason it ran
/// (`trigger=...`), as kube-runtime puts `object.reason` on its spans: the invocation's trigger
/// for the first pass, `requeue` for the runtime's later rounds.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_pass_and_record_span_names_its_trigger() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let clock = SimClock::default_start();
    let sim = Arc::new(SimPlatform::new(clock.clone(), SimConfig::default()));
    let memory = Arc::new(MemoryStore::new());
    sim.add_service(CLUSTER, "alpha-svc");
    sim.add_service(CLUSTER, "beta-svc");
    memory.put(Record::test("alpha").woken_at(clock.now()));
    memory.put(Record::test("beta"));
    let reconciler = Reconciler::new(
        memory.clone(),
        sim.clone(),
        Arc::new(StaticProber::new()),
        clock.clone(),
    );
    let settle = Runtime::new(reconciler)
        .settle(
            Scope::Names(vec!["alpha".into(), "beta".into()]),
            Reason::TaskEvent,
            Duration::from_secs(120),
        )
        .await;
    assert!(settle.settled && settle.passes.len() >= 2);
    let spans = capture.all_spans.lock().unwrap().clone();
    let trigger = |f: &Fields| f.0.get("trigger").cloned().unwrap_or_default();
    let passes: Vec<String> = spans
        .iter()
        .filter(|(n, _)| *n == "reconcile_pass")
        .map(|(_, f)| trigger(f))
        .collect();
    assert_eq!(passes.len(), settle.passes.len());
    assert_eq!(passes[0], "task-event");
    assert!(passes[1..].iter().all(|t| t == "requeue"), "{passes:?}");
    let records: Vec<(String, String)> = spans
        .iter()
        .filter(|(n, _)| *n == "reconcile")
        .map(|(_, f)| (f.0.get("service").cloned().unwrap_or_default(), trigger(f)))
        .collect();
    assert_eq!(
        records[..2],
        [
            ("alpha".to_string(), "task-event".to_string()),
            ("beta".to_string(), "task-event".to_string())
        ]
    );
    assert!(
        records[2..]
            .iter()
            .all(|(s, t)| s == "alpha" && t == "requeue"),
        "{records:?}"
    );
}
