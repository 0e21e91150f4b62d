//! docs/reference/events.md and its JSON Schema follow the code: the committed
//! docs/reference/event.schema.json is the schema of `snooze::reconcile::events::Event`
//! (regenerate with `UPDATE_GENERATED=1 cargo test -p snooze --test events_doc`), and every
//! JSON example of the page is an event as the code writes it.

use std::path::Path;

use snooze::reconcile::events::{DETAIL_TYPE, Event, Guardrail, JsonLine, SOURCE};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The event's JSON Schema as committed in docs/reference/event.schema.json. Regenerate with
/// `UPDATE_GENERATED=1 cargo test -p snooze --test events_doc`.
#[test]
fn the_committed_schema_is_current() {
    let path = repo("docs/reference/event.schema.json");
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(Event)).unwrap() + "\n";
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/reference/event.schema.json is stale; regenerate it with\n    \
         UPDATE_GENERATED=1 cargo test -p snooze --test events_doc"
    );
}

/// The examples of docs/reference/events.md (its ```json blocks) are events as the code
/// writes them: each parses, and serialises back to the same JSON.
#[test]
fn the_documented_examples_are_events() {
    let doc = std::fs::read_to_string(repo("docs/reference/events.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```json\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 2, "expected JSON examples in events.md");
    let mut guardrail = false;
    for b in blocks {
        let v: serde_json::Value = serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}"));
        let detail = if v.get("detail").is_some() {
            let line: JsonLine = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(
                (line.source.as_str(), line.detail_type.as_str()),
                (SOURCE, DETAIL_TYPE)
            );
            v["detail"].clone()
        } else {
            v
        };
        let e: Event =
            serde_json::from_value(detail.clone()).unwrap_or_else(|e| panic!("{e}: {b}"));
        assert_eq!(serde_json::to_value(&e).unwrap(), detail, "{b}");
        assert_eq!(e.guardrail, Guardrail::of_reason(&e.reason), "{b}");
        guardrail |= e.guardrail.is_some();
    }
    assert!(guardrail, "events.md shows a guardrail hit");
}
