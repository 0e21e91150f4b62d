//! Classifying what the reconciler Lambda was invoked with.
//!
//! Events are only hints that say *which* records to look at (DESIGN.md §3); nothing in an
//! event is trusted as state. [`Trigger::classify`] is pure and fixture-tested.

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

/// One invocation payload, reduced to what the handler needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// An EventBridge scheduled event: a full pass over all records.
    Schedule,
    /// A DynamoDB stream batch: the records named in it.
    Stream(Vec<StreamChange>),
    /// An EventBridge "ECS Task State Change": the record whose service owns the task. Also
    /// an "ECS Service Action" (e.g. `SERVICE_TASK_PLACEMENT_FAILURE` after someone raised
    /// desiredCount where no task could be placed, `SERVICE_STEADY_STATE`): the record of the
    /// service named in `resources` ([`TaskChange::task_arn`] empty, [`TaskChange::last_status`]
    /// the event name). Either way a scoped pass over the record: tiered full passes leave a
    /// quiet sleeping record alone, so ECS's own events are how an out-of-band change to its
    /// service is noticed within seconds.
    TaskStateChange(TaskChange),
    /// Anything else: logged and ignored (returning an error would make Lambda retry it forever).
    Unknown(String),
}

/// One record of a DynamoDB stream batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamChange {
    /// The stream sequence number: the `itemIdentifier` to report in `batchItemFailures`.
    pub sequence_number: String,
    /// What the change means for the reconciler.
    pub kind: ChangeKind,
}

/// What a stream record asks of the reconciler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// INSERT or MODIFY of operator- or wake-owned attributes: reconcile this record.
    Reconcile(String),
    /// MODIFY that only touched `status` (the reconciler's own write): nothing to do.
    OwnStatusWrite(String),
    /// REMOVE by the table's TTL process (`userIdentity.principalId == dynamodb.amazonaws.com`).
    /// The service is no longer managed; nothing is done to it.
    ExpiredByTtl(String),
    /// REMOVE by an operator (`snoozectl delete`). The service is no longer managed.
    Deleted(String),
    /// A stream record that does not parse and has no readable `name` key: logged, counted
    /// (`UnreadableStreamRecords`) and skipped, never reported for retry (a retry delivers the
    /// same bytes; see [`Trigger::classify`]).
    Unreadable(String),
}

/// The facts of an ECS task state change that select a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskChange {
    /// `detail.clusterArn`, e.g. `arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster`.
    pub cluster_arn: String,
    /// The service name from `detail.group` (`service:<name>`).
    pub service: String,
    /// `detail.taskArn`, for logs.
    pub task_arn: String,
    /// `detail.lastStatus`, for logs.
    pub last_status: String,
}

impl TaskChange {
    /// The cluster name: the part after `cluster/` in the ARN (or the whole value).
    pub fn cluster_name(&self) -> &str {
        self.cluster_arn
            .rsplit_once(":cluster/")
            .map(|(_, n)| n)
            .unwrap_or(&self.cluster_arn)
    }

    /// True when a record's `spec.target.ecs` (cluster name or ARN, service name) is this task's.
    pub fn matches(&self, cluster: &str, service: &str) -> bool {
        service == self.service && (cluster == self.cluster_arn || cluster == self.cluster_name())
    }
}

#[derive(Deserialize)]
struct TaskDetail {
    #[serde(rename = "clusterArn")]
    cluster_arn: String,
    #[serde(default)]
    group: Option<String>,
    #[serde(rename = "taskArn", default)]
    task_arn: String,
    #[serde(rename = "lastStatus", default)]
    last_status: String,
}

impl Trigger {
    /// Classifies a raw invocation payload. Never fails: what it cannot use is [`Trigger::Unknown`].
    pub fn classify(payload: &Value) -> Trigger {
        if let Some(records) = payload.get("Records") {
            // Record by record, so that one record that does not parse cannot drop the rest of
            // its batch (see [`raw_stream_change`]).
            let Some(records) = records.as_array() else {
                return Trigger::Unknown("a Records batch that is not a list".into());
            };
            if !records.iter().all(is_dynamodb) {
                return Trigger::Unknown("a Records batch that is not from DynamoDB".into());
            }
            return Trigger::Stream(records.iter().map(raw_stream_change).collect());
        }
        if payload.get("detail-type").is_some() {
            let event = match serde_json::from_value::<EventBridgeEvent>(payload.clone()) {
                Ok(e) => e,
                Err(e) => {
                    return Trigger::Unknown(format!(
                        "an EventBridge event that does not parse: {e}"
                    ));
                }
            };
            return match (event.source.as_str(), event.detail_type.as_str()) {
                ("aws.events" | "aws.scheduler", "Scheduled Event") => Trigger::Schedule,
                ("aws.ecs", "ECS Task State Change") => task_change(event.detail),
                ("aws.ecs", "ECS Service Action") => {
                    service_action(event.resources.as_deref().unwrap_or_default(), event.detail)
                }
                (source, kind) => Trigger::Unknown(format!("EventBridge {kind:?} from {source:?}")),
            };
        }
        Trigger::Unknown("a payload that is neither a stream batch nor an EventBridge event".into())
    }
}

/// A record of a `Records` batch is from DynamoDB unless its `eventSource` says otherwise.
fn is_dynamodb(r: &Value) -> bool {
    r.get("eventSource")
        .is_none_or(|s| s.is_null() || s.as_str() == Some("aws:dynamodb"))
}

/// One raw stream record. A record that parses is classified by [`stream_change`]. One that
/// does not (a field of the wrong type, a truncated image, ...) is still reconciled when its key
/// can be read from the raw JSON: the pass re-reads the item by key and trusts nothing else in
/// the record, so the rest of the record is not needed. A record without a readable key is
/// [`ChangeKind::Unreadable`]: skipped with a log line, never reported in `batchItemFailures`,
/// because a retry delivers the same bytes and can never succeed (it would only hold up its shard
/// until the retries run out and then land in the failure queue); the schedule's full pass
/// reconciles every record anyway (docs/architecture.md, "Triggers").
fn raw_stream_change(raw: &Value) -> StreamChange {
    let error = match serde_json::from_value::<EventRecord>(raw.clone()) {
        Ok(record) => return stream_change(&record),
        Err(e) => e,
    };
    let dynamodb = raw.get("dynamodb");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let event_id = text(raw.get("eventID"));
    let sequence_number = text(dynamodb.and_then(|d| d.get("SequenceNumber")))
        .or_else(|| event_id.clone())
        .unwrap_or_default();
    let name = text(
        dynamodb
            .and_then(|d| d.get("Keys"))
            .and_then(|k| k.get("name"))
            .and_then(|n| n.get("S")),
    );
    let kind = match name {
        Some(name) if raw.get("eventName").and_then(Value::as_str) == Some("REMOVE") => {
            ChangeKind::Deleted(name)
        }
        Some(name) => ChangeKind::Reconcile(name),
        None => ChangeKind::Unreadable(format!(
            "stream record {} (sequence number {}) does not parse and has no readable name key: {error}",
            event_id.as_deref().unwrap_or("without eventID"),
            if sequence_number.is_empty() {
                "unknown"
            } else {
                &sequence_number
            },
        )),
    };
    StreamChange {
        sequence_number,
        kind,
    }
}

#[derive(Deserialize)]
struct ServiceActionDetail {
    #[serde(rename = "clusterArn")]
    cluster_arn: String,
    #[serde(rename = "eventName", default)]
    event_name: String,
}

/// An "ECS Service Action": the service is the last segment of the service ARN in
/// `resources` (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`, or the old
/// `service/NAME`).
fn service_action(resources: &[String], detail: Value) -> Trigger {
    let detail: ServiceActionDetail = match serde_json::from_value(detail) {
        Ok(d) => d,
        Err(e) => return Trigger::Unknown(format!("an ECS service action without {e}")),
    };
    let service = resources.iter().find_map(|r| {
        let (_, path) = r.split_once(":service/")?;
        path.rsplit('/').next().filter(|n| !n.is_empty())
    });
    match service {
        Some(service) => Trigger::TaskStateChange(TaskChange {
            cluster_arn: detail.cluster_arn,
            service: service.to_string(),
            task_arn: String::new(),
            last_status: detail.event_name,
        }),
        None => Trigger::Unknown(format!(
            "an ECS service action without a service ARN in resources ({resources:?})"
        )),
    }
}

fn task_change(detail: Value) -> Trigger {
    let detail: TaskDetail = match serde_json::from_value(detail) {
        Ok(d) => d,
        Err(e) => return Trigger::Unknown(format!("an ECS task state change without {e}")),
    };
    match detail
        .group
        .as_deref()
        .and_then(|g| g.strip_prefix("service:"))
    {
        Some(service) => Trigger::TaskStateChange(TaskChange {
            cluster_arn: detail.cluster_arn,
            service: service.to_string(),
            task_arn: detail.task_arn,
            last_status: detail.last_status,
        }),
        None => Trigger::Unknown(format!(
            "an ECS task state change for a task not started by a service (group {:?})",
            detail.group
        )),
    }
}

#[derive(Deserialize)]
struct Key {
    name: String,
}

/// The image as plain JSON without `status`, to tell the reconciler's own writes apart.
fn without_status(image: &serde_dynamo::Item) -> Option<Value> {
    let mut v: Value = serde_dynamo::from_item(image.clone()).ok()?;
    v.as_object_mut()?.remove("status");
    Some(v)
}

fn stream_change(r: &EventRecord) -> StreamChange {
    let sequence_number = r
        .change
        .sequence_number
        .clone()
        .unwrap_or_else(|| r.event_id.clone());
    let name = match serde_dynamo::from_item::<_, Key>(r.change.keys.clone()) {
        Ok(k) => k.name,
        Err(e) => {
            return StreamChange {
                sequence_number,
                kind: ChangeKind::Unreadable(format!(
                    "stream record {} has no name key: {e}",
                    r.event_id
                )),
            };
        }
    };
    let kind = match r.event_name.as_str() {
        "REMOVE" => {
            let by_ttl = r.user_identity.as_ref().is_some_and(|u| {
                u.type_ == "Service" && u.principal_id == "dynamodb.amazonaws.com"
            });
            if by_ttl {
                ChangeKind::ExpiredByTtl(name)
            } else {
                ChangeKind::Deleted(name)
            }
        }
        "MODIFY" => {
            let (old, new) = (&r.change.old_image, &r.change.new_image);
            let only_status = !old.is_empty()
                && !new.is_empty()
                && without_status(old).is_some_and(|o| Some(o) == without_status(new));
            if only_status {
                ChangeKind::OwnStatusWrite(name)
            } else {
                ChangeKind::Reconcile(name)
            }
        }
        _ => ChangeKind::Reconcile(name),
    };
    StreamChange {
        sequence_number,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect(&path)
    }

    #[test]
    fn scheduled_event_is_a_full_pass() {
        assert_eq!(
            Trigger::classify(&fixture("schedule.json")),
            Trigger::Schedule
        );
    }

    #[test]
    fn stream_batch_names_records_and_tells_removals_apart() {
        let Trigger::Stream(changes) = Trigger::classify(&fixture("stream-batch.json")) else {
            panic!("not a stream batch");
        };
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| (c.sequence_number.as_str(), c.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("100", ChangeKind::Reconcile("demo".into())),
                ("200", ChangeKind::Reconcile("demo".into())),
                ("300", ChangeKind::OwnStatusWrite("demo".into())),
                ("400", ChangeKind::Deleted("old-preview".into())),
                ("500", ChangeKind::ExpiredByTtl("pr-42".into())),
            ]
        );
    }

    #[test]
    fn a_record_that_does_not_parse_does_not_drop_its_batch() {
        let mut batch = fixture("stream-batch.json");
        let records = batch["Records"].as_array_mut().unwrap();
        records[0]["dynamodb"]["ApproximateCreationDateTime"] = serde_json::json!("yesterday");
        records[3]["eventName"] = serde_json::json!(["REMOVE"]);
        records[3]["dynamodb"]["Keys"]["name"]["S"] = serde_json::json!("old-preview");
        records[3]["eventName"] = serde_json::json!(null);
        records.push(serde_json::json!({"eventID": "e9", "dynamodb": {"Keys": {"name": {"N": 7}}, "SequenceNumber": "900"}}));
        records.push(serde_json::json!(17));
        let Trigger::Stream(changes) = Trigger::classify(&batch) else {
            panic!("not a stream batch");
        };
        let kinds: Vec<_> = changes.iter().map(|c| c.kind.clone()).collect();
        assert_eq!(kinds[0], ChangeKind::Reconcile("demo".into()));
        assert_eq!(kinds[1], ChangeKind::Reconcile("demo".into()));
        assert_eq!(kinds[2], ChangeKind::OwnStatusWrite("demo".into()));
        assert_eq!(kinds[3], ChangeKind::Reconcile("old-preview".into()));
        assert_eq!(kinds[4], ChangeKind::ExpiredByTtl("pr-42".into()));
        assert!(
            matches!(&kinds[5], ChangeKind::Unreadable(why) if why.contains("e9") && why.contains("900")),
            "{:?}",
            kinds[5]
        );
        assert!(
            matches!(&kinds[6], ChangeKind::Unreadable(_)),
            "{:?}",
            kinds[6]
        );
        assert_eq!(changes[0].sequence_number, "100");
    }

    #[test]
    fn task_state_change_selects_the_service() {
        for file in ["ecs-task-running.json", "ecs-task-stopped.json"] {
            let Trigger::TaskStateChange(t) = Trigger::classify(&fixture(file)) else {
                panic!("{file}: not a task state change");
            };
            assert_eq!(t.service, "demo-svc");
            assert_eq!(t.cluster_name(), "demo-cluster");
            assert!(t.matches("demo-cluster", "demo-svc"));
            assert!(t.matches(&t.cluster_arn.clone(), "demo-svc"));
            assert!(!t.matches("other", "demo-svc"));
            assert!(!t.matches("demo-cluster", "other-svc"));
        }
    }

    #[test]
    fn service_action_selects_the_service() {
        let Trigger::TaskStateChange(t) = Trigger::classify(&fixture("ecs-service-action.json"))
        else {
            panic!("not classified as an ECS change");
        };
        assert_eq!(t.service, "demo-svc");
        assert_eq!(t.cluster_name(), "demo-cluster");
        assert_eq!(t.last_status, "SERVICE_TASK_PLACEMENT_FAILURE");
        assert!(t.matches("demo-cluster", "demo-svc"));
        let mut no_service = fixture("ecs-service-action.json");
        no_service["resources"] = serde_json::json!([]);
        assert!(matches!(
            Trigger::classify(&no_service),
            Trigger::Unknown(_)
        ));
    }

    #[test]
    fn anything_else_is_unknown() {
        assert!(matches!(
            Trigger::classify(&fixture("unknown.json")),
            Trigger::Unknown(_)
        ));
        assert!(matches!(
            Trigger::classify(&serde_json::json!({"Records": [{"eventSource": "aws:sqs"}]})),
            Trigger::Unknown(_)
        ));
        assert!(matches!(
            Trigger::classify(&serde_json::json!(42)),
            Trigger::Unknown(_)
        ));
        let standalone = serde_json::json!({"detail-type": "ECS Task State Change", "source": "aws.ecs",
            "detail": {"clusterArn": "arn:aws:ecs:us-east-1:1:cluster/c", "group": "family:web"}});
        assert!(matches!(
            Trigger::classify(&standalone),
            Trigger::Unknown(_)
        ));
    }
}
