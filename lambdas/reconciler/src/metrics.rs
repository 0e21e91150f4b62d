//! CloudWatch Embedded Metric Format (EMF) lines: a JSON object per line on stdout that
//! CloudWatch Logs turns into metrics. No metrics client library is needed.
//!
//! Namespace `snooze`. The reconciler emits a metric only when something happens: a quiet
//! pass emits none. Every custom metric (each name with each set of dimension values) costs
//! $0.30 a month pro rata by the hours in which it receives a value, so a metric sent every
//! minute costs $0.30 a month and one sent in one hour a day $0.012 (`docs/cost.md`). Whether
//! the reconciler runs, how long it takes and whether it fails as a whole are AWS's own Lambda
//! metrics (`AWS/Lambda` `Invocations`, `Duration`, `Errors`), which cost nothing.
//!
//! | metric                    | unit    | dimensions  | when                                                    |
//! |---------------------------|---------|-------------|---------------------------------------------------------|
//! | `Errors`                  | Count   | `Function`  | an invocation whose passes had failures: their number (the reconcile-errors alarm) |
//! | `Errors`                  | Count   | `Code`      | the same invocation: per error code (`platform::Error::code`, `store::Error::code`, e.g. `ThrottlingException`) |
//! | `AwsCalls`                | Count   | `Operation` | the same invocation: calls per AWS operation (ECS, EC2, DynamoDB, ELB), retries included |
//! | `WakeToReady`             | Seconds | `Function`  | a wake completed during the invocation: `status.lastWake.seconds`; the line names the record (`Service`, not a dimension) |
//! | `GuardrailHits`           | Count   | `Guardrail` (`maxAwake`, `budget`) | a guardrail decided a record: its phase changed for it, or a wake request was refused (see `handler::guardrail_hits`); the line lists the records (`Services`) |
//! | `SavedDollarsThisMonth`   | None (US dollars) | `Function` | once a day, the first scheduled pass after 00:00 UTC: the saved amount of every record's `status.ledger` for the month the previous day falls in (on the 1st: the whole previous month), priced records only; the line names the month (`Month`) |
//! | `UnreadableStreamRecords` | Count   | `Function`  | a stream batch had records that do not parse and have no readable key (skipped, see [`crate::trigger::Trigger::classify`]) |
//!
//! Calls per operation, the number of records, the pass duration and, on a full pass, the
//! records Waking and the age of the oldest (now − `status.phaseSince`, from the pass's own
//! report) are in the log line `invocation done` of every invocation that ran a pass (CloudWatch
//! Logs Insights reads them; a log line costs its bytes, not $0.30).
//!
//! An invocation that ran no pass (an unknown payload, a stream batch of removals or of the
//! reconciler's own status writes, a task event for an unmanaged service) emits nothing but
//! `UnreadableStreamRecords` when it applies.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use serde_json::{Value, json};

/// The metric namespace, `snooze`.
pub const NAMESPACE: &str = "snooze";

/// One EMF document: a set of metrics sharing one dimension set and timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Emf {
    timestamp_ms: i64,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, &'static str, f64)>,
    properties: Vec<(String, Value)>,
}

impl Emf {
    /// A document at `timestamp_ms` (Unix epoch milliseconds) with the given dimensions
    /// (e.g. `[("Function", "snooze-reconciler")]`).
    pub fn new(timestamp_ms: i64, dimensions: &[(&str, &str)]) -> Self {
        Self {
            timestamp_ms,
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metrics: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// Adds a metric. `unit` is a CloudWatch unit name: `Count`, `Seconds`, `Milliseconds`.
    pub fn metric(mut self, name: &str, unit: &'static str, value: f64) -> Self {
        self.metrics.push((name.to_string(), unit, value));
        self
    }

    /// Adds a property: a field of the log line that is not a metric nor a dimension (free;
    /// CloudWatch Logs Insights reads it), e.g. the record a `WakeToReady` is about. A property
    /// named like a dimension or a metric of the document is ignored.
    pub fn property(mut self, key: &str, value: Value) -> Self {
        self.properties.push((key.to_string(), value));
        self
    }

    /// The single-line JSON document.
    pub fn to_line(&self) -> String {
        let mut root = serde_json::Map::new();
        let dims: Vec<&str> = self.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        let defs: Vec<Value> = self
            .metrics
            .iter()
            .map(|(n, u, _)| json!({"Name": n, "Unit": u}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dims], "Metrics": defs}]
            }),
        );
        for (k, v) in &self.dimensions {
            root.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v) in &self.properties {
            root.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (n, _, v) in &self.metrics {
            root.insert(n.clone(), json!(v));
        }
        Value::Object(root).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_follows_the_specification() {
        let line = Emf::new(1_795_860_000_000, &[("Operation", "DescribeServices")])
            .metric("AwsCalls", "Count", 3.0)
            .to_line();
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_795_860_000_000i64);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "snooze");
        assert_eq!(m["Dimensions"], json!([["Operation"]]));
        assert_eq!(m["Metrics"], json!([{"Name": "AwsCalls", "Unit": "Count"}]));
        assert_eq!(v["Operation"], "DescribeServices");
        assert_eq!(v["AwsCalls"], 3.0);
    }

    #[test]
    fn properties_are_fields_but_neither_metrics_nor_dimensions() {
        let line = Emf::new(1, &[("Function", "f")])
            .metric("WakeToReady", "Seconds", 41.0)
            .property("Service", json!("demo"))
            .property("Function", json!("not me"))
            .to_line();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Service"], "demo");
        assert_eq!(v["Function"], "f", "a dimension's value is not overwritten");
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Dimensions"], json!([["Function"]]));
        assert_eq!(
            m["Metrics"],
            json!([{"Name": "WakeToReady", "Unit": "Seconds"}])
        );
    }
}
