//! Arbitrary input never panics the reconciler Lambda's payload parsing (issue 13, "Arbitrary
//! input"): every trigger fixture mutated (fields dropped, duplicated, retyped, huge numbers,
//! unicode) and any JSON at all go through [`Trigger::classify`]. A stream batch keeps every
//! record: one change per record, whatever a record holds (class 5).
//!
//! 128 cases in the normal run; `PROPTEST_CASES=10000` for the long run (`scripts/fuzz-long`).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use snooze_reconciler::trigger::Trigger;
use snooze_test_support::fuzz;

fn fixtures() -> Vec<Value> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

#[test]
fn fuzz_trigger_payloads() {
    let input = prop_oneof![
        5 => fuzz::mutated_any(fixtures()),
        1 => fuzz::json(),
    ];
    fuzz::run("reconciler trigger payloads", input, |payload| {
        let trigger = Trigger::classify(&payload);
        let Some(Value::Array(records)) = payload.get("Records") else {
            return Ok(());
        };
        let from_dynamodb = records.iter().all(|r| {
            r.get("eventSource")
                .is_none_or(|s| s.is_null() || s == "aws:dynamodb")
        });
        if from_dynamodb {
            let Trigger::Stream(changes) = &trigger else {
                return Err(TestCaseError::fail(format!(
                    "a DynamoDB batch was dropped whole: {trigger:?}"
                )));
            };
            prop_assert_eq!(changes.len(), records.len(), "a record was dropped");
        }
        Ok(())
    });
}
