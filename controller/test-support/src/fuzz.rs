//! Arbitrary-input property tests (issue 13, "Arbitrary input"): strategies for inputs shaped
//! like the real thing and a runner that prints what it did.
//!
//! - [`json`]: any JSON value (deep, unicode, huge and odd numbers);
//! - [`mutated`]: a real document (a fixture, a manifest as JSON) with a few random mutations:
//!   a field dropped, duplicated under another name, retyped, set to a huge number, to unicode,
//!   to an empty or deep value;
//! - [`run`]: runs a property for [`cases`] cases and prints `fuzz <name>: <n> cases in <t>,
//!   <f> failures` (run with `--nocapture` to see it).
//!
//! Case counts: 128 by default (the normal `cargo test`), `PROPTEST_CASES` for a long run,
//! e.g. `PROPTEST_CASES=10000 cargo test -p snooze --features aws --test fuzz_input -- --nocapture`
//! (`scripts/fuzz-long` runs every fuzz test that way and prints the figures).

use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Cases per property: `PROPTEST_CASES` when set (the long run), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `cases(128)` inputs from `strategy` (deterministic seed per name, failures
/// shrunk and persisted as proptest does), prints the figures, and panics with the minimal
/// failing input if a case fails.
pub fn run<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let n = cases(128);
    let config = Config {
        cases: n,
        // A long run must not stop early on rejected cases; none are rejected here anyway.
        max_global_rejects: n.saturating_mul(4),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tried = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    let result = runner.run(&strategy, |input| {
        tried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        test(input)
    });
    let elapsed = start.elapsed();
    let tried = tried.into_inner();
    let failures = usize::from(result.is_err());
    println!(
        "fuzz {name}: {tried} inputs run (of {n} cases asked, shrinking included) in {:.2} s \
         ({:.0}/s), {failures} failures",
        elapsed.as_secs_f64(),
        tried as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// Strings that break parsers: unicode of every plane, controls, escapes, long runs.
pub fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "\\PC{0,40}",
        Just(String::new()),
        Just("\u{0}".to_string()),
        Just("%%%not base64%%%".to_string()),
        Just("ünïcødé 🚀 \u{202e}rtl".to_string()),
        Just("a".repeat(5_000)),
        Just("../../etc/passwd".to_string()),
        Just("{{}}[[]]".to_string()),
        Just("2026-13-45T99:99:99Z".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("exa mple.com".to_string()),
        Just(":99999".to_string()),
        Just("a=b c&d=\"e\"".to_string()),
        Just("ht tp".to_string()),
    ]
}

/// Numbers at the edges of every integer and float type.
pub fn odd_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        Just(json!(0)),
        Just(json!(4_294_967_296u64)),
    ]
}

/// Any JSON value, up to a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        odd_number(),
        odd_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(odd_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One mutation of a document; applied at the node `at` picks (modulo the node count).
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Remove the node from its object or array.
    Drop,
    /// Copy the node next to itself (a duplicated array element, or the same value under a
    /// new key in its object).
    Duplicate(String),
    /// Replace the node with this value (a wrong type, a huge number, unicode, ...).
    Replace(Value),
    /// Add a field (an unknown one, or one the document's type knows elsewhere).
    Insert(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::Drop),
        1 => odd_string().prop_map(Mutation::Duplicate),
        4 => json().prop_map(Mutation::Replace),
        2 => odd_number().prop_map(Mutation::Replace),
        2 => odd_string().prop_map(|s| Mutation::Replace(Value::String(s))),
        1 => (odd_string(), json()).prop_map(|(k, v)| Mutation::Insert(k, v)),
    ]
}

/// `base` with 1 to 4 random mutations at random places (see [`Mutation`]).
pub fn mutated(base: Value) -> impl Strategy<Value = Value> {
    mutated_any(vec![base])
}

/// `bases` (e.g. every fixture), one picked at random and mutated (see [`mutated`]).
pub fn mutated_any(bases: Vec<Value>) -> impl Strategy<Value = Value> {
    assert!(!bases.is_empty(), "at least one base document");
    (
        0..bases.len(),
        prop::collection::vec((any::<u64>(), mutation()), 1..=4),
    )
        .prop_map(move |(i, ms)| {
            let mut v = bases[i].clone();
            for (at, m) in ms {
                apply(&mut v, at, m);
            }
            v
        })
}

/// Every node's JSON pointer, the root first.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(c, format!("{here}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn apply(doc: &mut Value, at: u64, m: Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    let target = all[(at % all.len() as u64) as usize].clone();
    let (parent, key) = match target.rfind('/') {
        Some(i) => (
            target[..i].to_string(),
            Some(target[i + 1..].replace("~1", "/").replace("~0", "~")),
        ),
        None => (String::new(), None),
    };
    match m {
        Mutation::Replace(v) => {
            if let Some(node) = doc.pointer_mut(&target) {
                *node = v;
            }
        }
        Mutation::Insert(k, v) => match doc.pointer_mut(&target) {
            Some(Value::Object(o)) => {
                o.insert(k, v);
            }
            Some(Value::Array(a)) => a.push(v),
            _ => {}
        },
        Mutation::Drop | Mutation::Duplicate(_) => {
            let Some(key) = key else { return };
            let Some(node) = doc.pointer(&target).cloned() else {
                return;
            };
            match doc.pointer_mut(&parent) {
                Some(Value::Object(o)) => match m {
                    Mutation::Duplicate(new_key) => {
                        o.insert(new_key, node);
                    }
                    _ => {
                        o.remove(&key);
                    }
                },
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>() {
                        match m {
                            Mutation::Duplicate(_) => a.insert(i, node),
                            _ => {
                                a.remove(i);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
