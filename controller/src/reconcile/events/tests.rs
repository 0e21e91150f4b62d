//! Tests of the event shape (built from a report: from → to, guardrails, what is left out),
//! the batching of `PutEvents` calls, the one retry of refused entries, the JSON-lines sink,
//! (the committed JSON Schema and examples of docs/reference/events.md: controller/tests/events_doc.rs).

use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;
use crate::reconcile::Requeue;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report(name: &str, before: Option<Phase>, after: Option<Phase>, reason: &str) -> RecordReport {
    RecordReport {
        name: name.into(),
        before,
        after,
        reason: reason.into(),
        requeue: Requeue::AwaitChange,
        transitional: false,
        scaled: None,
        published: true,
        error: None,
        redecided: false,
        phase_since: Some(t("2026-12-01T10:00:00.000Z")),
        message: Some(String::new()),
        target: Some(EventTarget::Ecs {
            cluster: "demo-cluster".into(),
            service: "demo-svc".into(),
        }),
        quiet: false,
    }
}

fn event(name: &str) -> Event {
    Event::from_report(
        &report(
            name,
            Some(Phase::Asleep),
            Some(Phase::Waking),
            "wake requested",
        ),
        t("2026-12-01T10:00:00.000Z"),
    )
    .unwrap()
}

#[test]
fn an_event_is_built_from_a_published_phase_change() {
    let at = t("2026-12-01T10:00:00.000Z");
    let mut r = report(
        "demo",
        Some(Phase::Asleep),
        Some(Phase::Waking),
        "wake requested",
    );
    r.message = Some("scaling to 1".into());
    let e = Event::from_report(&r, at).expect("a published change is an event");
    assert_eq!(e.version, VERSION);
    assert_eq!(e.name, "demo");
    assert_eq!((e.from, e.to), (Some(Phase::Asleep), Phase::Waking));
    assert_eq!(e.reason, "wake requested");
    assert_eq!(e.at, at);
    assert_eq!(e.phase_since, r.phase_since);
    assert_eq!(e.message.as_deref(), Some("scaling to 1"));
    assert_eq!(e.guardrail, None);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "version": 1,
            "name": "demo",
            "from": "Asleep",
            "to": "Waking",
            "reason": "wake requested",
            "at": "2026-12-01T10:00:00.000Z",
            "phaseSince": "2026-12-01T10:00:00.000Z",
            "message": "scaling to 1",
            "target": {"ecs": {"cluster": "demo-cluster", "service": "demo-svc"}},
        })
    );
    // A record's first status: `from` is null; an empty message is left out.
    let first = Event::from_report(
        &report("new", None, Some(Phase::Asleep), "no wake request"),
        at,
    )
    .unwrap();
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["from"], serde_json::Value::Null);
    assert!(json.get("message").is_none(), "{json}");
}

#[test]
fn no_event_without_a_published_phase_change() {
    let at = t("2026-12-01T10:00:00.000Z");
    // The same phase (a steady record, or a Waking record at another step).
    let same = report(
        "demo",
        Some(Phase::Ready),
        Some(Phase::Ready),
        "awake: activity",
    );
    assert_eq!(Event::from_report(&same, at), None);
    // A change the pass did not write (a lost compare-and-swap, a failed write).
    let mut unwritten = report(
        "demo",
        Some(Phase::Ready),
        Some(Phase::Sleeping),
        "idle for 15m",
    );
    unwritten.published = false;
    assert_eq!(Event::from_report(&unwritten, at), None);
    // The record was deleted during the pass.
    let gone = report("demo", Some(Phase::Ready), None, "record deleted");
    assert_eq!(Event::from_report(&gone, at), None);
    // A pass report keeps only the published changes, in order.
    let pass = PassReport {
        started_at: at,
        duration: std::time::Duration::ZERO,
        records: vec![
            report(
                "a",
                Some(Phase::Asleep),
                Some(Phase::Waking),
                "wake requested",
            ),
            same,
            unwritten,
            report("b", Some(Phase::Waking), Some(Phase::Ready), "task ready"),
        ],
        error: None,
        quiet: 0,
        resync_period: None,
    };
    let names: Vec<String> = Event::of_pass(&pass).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_guardrail_hit_names_its_guardrail() {
    let at = t("2026-12-01T10:00:00.000Z");
    let cases = [
        (
            Why::MaxAwake.as_str(),
            Some(Guardrail::MaxAwake),
            Some("maxAwake"),
        ),
        (
            Why::OverBudget.as_str(),
            Some(Guardrail::Budget),
            Some("budget"),
        ),
        ("idle for 15m", None, None),
        ("sleep requested", None, None),
    ];
    for (reason, guardrail, word) in cases {
        let r = report("demo", Some(Phase::Ready), Some(Phase::Sleeping), reason);
        let e = Event::from_report(&r, at).unwrap();
        assert_eq!(e.guardrail, guardrail, "{reason}");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json.get("guardrail").and_then(|g| g.as_str()),
            word,
            "{reason}"
        );
    }
}

#[test]
fn a_local_target_is_named_by_its_port_only() {
    let target = Target::Local(crate::model::LocalTarget {
        command: "secret-tool".into(),
        args: vec!["--token".into(), "s3cr3t".into()],
        env: [("TOKEN".to_string(), "s3cr3t".to_string())].into(),
        working_dir: None,
        port: 8081,
    });
    let json = serde_json::to_value(EventTarget::from(&target)).unwrap();
    assert_eq!(json, serde_json::json!({"local": {"port": 8081}}));
}

#[test]
fn a_long_message_is_cut() {
    let mut r = report("demo", Some(Phase::Waking), Some(Phase::Failed), "failed");
    r.message = Some("é".repeat(MAX_MESSAGE_CHARS + 10));
    let e = Event::from_report(&r, t("2026-12-01T10:00:00.000Z")).unwrap();
    let m = e.message.unwrap();
    assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS + 1);
    assert!(m.ends_with('…'));
}

#[test]
fn batches_hold_at_most_ten_entries_and_256_kib() {
    let entries: Vec<Entry> = (0..25)
        .map(|i| event(&format!("s{i:02}")).entry())
        .collect();
    let sizes: Vec<usize> = batches(entries.clone()).iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    // In order, nothing lost or repeated.
    let flat: Vec<Entry> = batches(entries.clone()).concat();
    assert_eq!(flat, entries);
    assert!(batches(Vec::new()).is_empty());
    // Large entries: the byte limit cuts before the count does.
    let big = |name: &str| {
        let mut e = event(name).entry();
        e.detail = "x".repeat(100 * 1024);
        e
    };
    let sizes: Vec<usize> = batches((0..5).map(|i| big(&i.to_string())).collect())
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    for b in batches((0..5).map(|i| big(&i.to_string())).collect()) {
        assert!(b.iter().map(Entry::size).sum::<usize>() <= MAX_BYTES_PER_CALL);
    }
}

/// One scripted answer of [`FakePut`]: per entry, refused with a code or not; or the call fails.
type Answer = Result<Vec<Option<&'static str>>, &'static str>;

/// A fake `PutEvents`: answers each call from a script (per entry: refused with a code or
/// not), recording the names sent in each call. An empty script accepts everything.
#[derive(Default)]
struct FakePut {
    script: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<Vec<String>>>,
}

impl FakePut {
    fn answering(script: Vec<Answer>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            calls: Mutex::default(),
        }
    }
    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl PutEvents for FakePut {
    async fn put(&self, entries: &[Entry]) -> PutResult {
        assert!(entries.len() <= MAX_ENTRIES_PER_CALL);
        self.calls
            .lock()
            .unwrap()
            .push(entries.iter().map(|e| e.name.clone()).collect());
        match self.script.lock().unwrap().pop_front() {
            None => Ok(vec![None; entries.len()]),
            Some(Ok(answers)) => Ok(answers.into_iter().map(|a| a.map(String::from)).collect()),
            Some(Err(e)) => Err(e.to_string()),
        }
    }
}

fn events(n: usize) -> Vec<Event> {
    (0..n).map(|i| event(&format!("s{i:02}"))).collect()
}

#[tokio::test]
async fn refused_entries_are_sent_once_more_together() {
    // 12 events: calls of 10 and 2; the first refuses s03 and s07, the second s11; the retry
    // sends the three in one call and accepts them.
    let mut first = vec![None; 10];
    first[3] = Some("ThrottlingException");
    first[7] = Some("InternalFailure");
    let sink = BatchedSink::new(FakePut::answering(vec![
        Ok(first),
        Ok(vec![None, Some("InternalFailure")]),
    ]));
    let d = sink.publish(&events(12)).await;
    assert_eq!(
        d,
        Delivery {
            sent: 12,
            failed: 0,
            calls: 3
        }
    );
    let calls = sink.api().calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2], ["s03", "s07", "s11"]);
}

#[tokio::test]
async fn an_entry_refused_twice_is_lost_and_counted() {
    let sink = BatchedSink::new(FakePut::answering(vec![
        Ok(vec![None, Some("InternalFailure"), None]),
        Ok(vec![Some("InternalFailure")]),
    ]));
    let d = sink.publish(&events(3)).await;
    assert_eq!(
        d,
        Delivery {
            sent: 2,
            failed: 1,
            calls: 2
        }
    );
}

#[tokio::test]
async fn a_failed_call_loses_its_batch_only_and_is_not_repeated() {
    // 15 events: the first call (10) fails as a whole, the second (5) is accepted.
    let sink = BatchedSink::new(FakePut::answering(vec![Err(
        "ResourceNotFoundException: Event bus nope does not exist.",
    )]));
    let d = sink.publish(&events(15)).await;
    assert_eq!(
        d,
        Delivery {
            sent: 5,
            failed: 10,
            calls: 2
        }
    );
}

#[tokio::test]
async fn the_json_lines_sink_appends_one_parseable_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "{\"earlier\": true}\n").unwrap();
    let sink = JsonLinesSink::open(&path).unwrap();
    let first = events(3);
    assert_eq!(sink.publish(&first).await.sent, 3);
    assert_eq!(sink.publish(&events(2)).await.sent, 2);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 2, "{text}");
    assert_eq!(lines[0], "{\"earlier\": true}", "appended, not truncated");
    for (line, want) in lines[1..4].iter().zip(&first) {
        let got: JsonLine = serde_json::from_str(line).unwrap();
        assert_eq!(got.source, SOURCE);
        assert_eq!(got.detail_type, DETAIL_TYPE);
        assert_eq!(got.time, want.at);
        assert_eq!(&got.detail, want);
    }
}

#[test]
fn an_events_file_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("events.jsonl");
    let e = JsonLinesSink::open(&path).unwrap_err();
    assert!(
        format!("{e:#}").contains(&path.display().to_string()),
        "{e:#}"
    );
}
