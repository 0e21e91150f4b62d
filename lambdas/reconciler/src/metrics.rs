//! CloudWatch Embedded Metric Format (EMF) lines: a JSON object per line on stdout that
//! CloudWatch Logs turns into metrics. No metrics client library is needed.
//!
//! Namespace `snooze`. Metrics emitted by the reconciler Lambda:
//!
//! | metric                | unit         | dimensions  | when                                                   |
//! |-----------------------|--------------|-------------|--------------------------------------------------------|
//! | `PassDuration`        | Milliseconds | `Function`  | every invocation that ran a pass                       |
//! | `RecordsReconciled`   | Count        | `Function`  | every invocation that ran a pass (records of its first pass) |
//! | `Errors`              | Count        | `Function`  | every invocation that ran a pass: all failures, 0 when none |
//! | `WakingRecords`       | Count        | `Function`  | full (scheduled) passes only: records Waking at its end |
//! | `OldestWakingSeconds` | Seconds      | `Function`  | full (scheduled) passes only: age of the oldest Waking record (now − `status.phaseSince`), 0 when none |
//! | `WakeToReady`         | Seconds      | `Service`   | a wake completed during the invocation                 |
//! | `AwsCalls`            | Count        | `Operation` | per AWS operation called (ECS, EC2, DynamoDB)          |
//! | `Errors`              | Count        | `Code`      | per error code seen (`platform::Error::code`, `store::Error::code`, e.g. `ThrottlingException`) |
//! | `UnreadableStreamRecords` | Count    | `Function`  | a stream batch had records that do not parse and have no readable key (skipped, see [`crate::trigger::Trigger::classify`]) |
//!
//! `OldestWakingSeconds` comes from the pass's own report (each record's `status.phaseSince`
//! as its last pass of the invocation left it): no extra read of the table.
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
        }
    }

    /// Adds a metric. `unit` is a CloudWatch unit name: `Count`, `Seconds`, `Milliseconds`.
    pub fn metric(mut self, name: &str, unit: &'static str, value: f64) -> Self {
        self.metrics.push((name.to_string(), unit, value));
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
}
