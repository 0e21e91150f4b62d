//! Counting the AWS operations an SDK client sends, for the reconciler Lambda's "AWS calls by
//! operation" metric: an SDK interceptor (`CallCounter`, cargo feature `aws`) added to a
//! client's config counts each operation once per call (retries of the same call are not
//! counted again), by the operation name the SDK itself uses (`Scan`, `GetItem`,
//! `UpdateItem`, ...), so no call site can be forgotten.
//!
//! [`OPERATIONS`] declares which operations each program calls (its IAM policy allows exactly
//! those); the moto tests check the declaration against what the interceptors counted.

use std::collections::BTreeMap;

#[cfg(feature = "aws")]
pub use counter::CallCounter;

#[cfg(feature = "aws")]
mod counter {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::orchestrator::Metadata;

    /// An SDK interceptor that counts operations by name; cheap to clone (shared counts).
    ///
    /// ```no_run
    /// # async fn f(sdk: &aws_config::SdkConfig) {
    /// let calls = snooze::aws_calls::CallCounter::new();
    /// let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
    ///     .interceptor(calls.clone())
    ///     .build();
    /// let client = aws_sdk_dynamodb::Client::from_conf(conf);
    /// // ... calls.snapshot() → {"GetItem": 1, "Scan": 3}
    /// # }
    /// ```
    #[derive(Clone, Debug, Default)]
    pub struct CallCounter {
        counts: Arc<Mutex<BTreeMap<String, u64>>>,
    }

    impl CallCounter {
        /// A counter with every count at zero.
        pub fn new() -> Self {
            Self::default()
        }

        /// Operations sent so far: operation name → number of calls since this counter was made.
        pub fn snapshot(&self) -> BTreeMap<String, u64> {
            self.counts.lock().map(|c| c.clone()).unwrap_or_default()
        }
    }

    impl Intercept for CallCounter {
        fn name(&self) -> &'static str {
            "snooze::aws_calls::CallCounter"
        }

        fn read_before_serialization(
            &self,
            _context: &BeforeSerializationInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let operation = cfg
                .load::<Metadata>()
                .map_or("Unknown", |m| m.name())
                .to_string();
            if let Ok(mut counts) = self.counts.lock() {
                *counts.entry(operation).or_default() += 1;
            }
            Ok(())
        }
    }
}

/// A program that calls AWS under an IAM principal of its own (the policies are in `infra/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// The reconciler Lambda (`lambdas/reconciler`).
    Reconciler,
    /// The wake Lambda (`lambdas/wake`).
    Wake,
    /// `snoozectl agent`, the activity sidecar in the managed service's task.
    Agent,
    /// The `snoozectl` verbs the ops workflow runs (`.github/workflows/ops.yml`: `get`, `wake`).
    Ops,
    /// A person running `snoozectl discover` with their own credentials (onboarding a fleet):
    /// no Terraform role; the operator guide lists the IAM policy it needs, which
    /// `tests/infra/test_contract_iam.py` checks against these operations.
    Operator,
}

impl Principal {
    /// Every principal.
    pub const ALL: [Principal; 5] = [
        Self::Reconciler,
        Self::Wake,
        Self::Agent,
        Self::Ops,
        Self::Operator,
    ];

    /// Its lowercase name, as in `infra/aws-operations.json` and `tests/infra/principals.py`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reconciler => "reconciler",
            Self::Wake => "wake",
            Self::Agent => "agent",
            Self::Ops => "ops",
            Self::Operator => "operator",
        }
    }
}

/// One AWS operation a principal's code calls: what its IAM policy must allow
/// (`service:name`), and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Who calls it.
    pub principal: Principal,
    /// The IAM service prefix: `dynamodb`, `ecs`, `ec2`, `elasticloadbalancing`, `events`.
    pub service: &'static str,
    /// The operation as the SDK names it ([`CallCounter`], `EcsPlatform::calls`), e.g. `Scan`.
    pub name: &'static str,
    /// Which code calls it.
    pub why: &'static str,
}

const fn op(
    principal: Principal,
    service: &'static str,
    name: &'static str,
    why: &'static str,
) -> Operation {
    Operation {
        principal,
        service,
        name,
        why,
    }
}

/// Every AWS operation snooze's programs call, by principal: the code's own declaration, which
/// the IAM contract test (`tests/infra/test_contract_iam.py`) reads from its export
/// `infra/aws-operations.json` ([`operations_json`]; `controller/tests/aws_operations.rs`
/// fails when that file is stale). The moto tests check it against the calls the SDK
/// interceptors counted: the reconciler's ECS and EC2 operations in
/// `controller/tests/ecs_moto.rs` (an end-to-end wake and sleep), the operator's ECS operations
/// in `controller/tests/discover_moto.rs`, each principal's DynamoDB
/// operations in `controller/tests/aws_operations.rs`, the reconciler's EventBridge operation in
/// `controller/tests/events_moto.rs`.
pub const OPERATIONS: &[Operation] = {
    use Principal::*;
    &[
        op(
            Reconciler,
            "dynamodb",
            "GetItem",
            "Store::get (a record named by a trigger)",
        ),
        op(Reconciler, "dynamodb", "Scan", "Store::list (full passes)"),
        op(
            Reconciler,
            "dynamodb",
            "UpdateItem",
            "Store::publish_status",
        ),
        op(
            Reconciler,
            "ecs",
            "DescribeServices",
            "EcsPlatform::observe",
        ),
        op(
            Reconciler,
            "ecs",
            "ListTasks",
            "EcsPlatform::observe (tasks of a running service)",
        ),
        op(
            Reconciler,
            "ecs",
            "DescribeTasks",
            "EcsPlatform::observe; EcsPlatform::describe_tasks (stopped tasks, for the ledger)",
        ),
        op(
            Reconciler,
            "ecs",
            "DescribeTaskDefinition",
            "EcsPlatform::observe (health checks, task size and architecture; once per revision)",
        ),
        op(Reconciler, "ecs", "UpdateService", "EcsPlatform::scale"),
        op(
            Reconciler,
            "ec2",
            "DescribeNetworkInterfaces",
            "EcsPlatform::observe (task addresses)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "DescribeRules",
            "AlbRouter: reading the listener's rules (route mode, when SNOOZE_ALB_LISTENER_ARN is set)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "DescribeTags",
            "AlbRouter: which rules are snooze's (tag snooze:host)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "CreateRule",
            "AlbRouter::point (a route-mode host without a rule; tagged on create)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "ModifyRule",
            "AlbRouter::point (switching the weights)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "DeleteRule",
            "AlbRouter::retain (rules of deleted records)",
        ),
        op(
            Reconciler,
            "elasticloadbalancing",
            "DescribeTargetHealth",
            "AlbRouter::target_health (readiness in route mode)",
        ),
        op(
            Reconciler,
            "events",
            "PutEvents",
            "EventBridgeSink: the phase-change events of each pass (when SNOOZE_EVENT_BUS is set; on that bus only)",
        ),
        op(
            Wake,
            "dynamodb",
            "GetItem",
            "Store::get (the wake handler reads the record)",
        ),
        op(
            Wake,
            "dynamodb",
            "Scan",
            "Store::list (wake::HostIndex: which record claims a Host, for load balancer events; at most twice a minute per warm instance)",
        ),
        op(Wake, "dynamodb", "UpdateItem", "Store::record_wake"),
        op(
            Agent,
            "dynamodb",
            "GetItem",
            "Store::record_activity (reads the debounce state)",
        ),
        op(Agent, "dynamodb", "UpdateItem", "Store::record_activity"),
        op(
            Ops,
            "dynamodb",
            "GetItem",
            "snoozectl get NAME, snoozectl wake (Store::get)",
        ),
        op(Ops, "dynamodb", "Scan", "snoozectl get (Store::list)"),
        op(
            Ops,
            "dynamodb",
            "UpdateItem",
            "snoozectl wake (Store::record_wake)",
        ),
        op(
            Operator,
            "ecs",
            "ListClusters",
            "snoozectl discover without --cluster (Discovery::clusters)",
        ),
        op(
            Operator,
            "ecs",
            "ListServices",
            "snoozectl discover (Discovery::services)",
        ),
        op(
            Operator,
            "ecs",
            "DescribeServices",
            "snoozectl discover (Discovery::services, include TAGS)",
        ),
        op(
            Operator,
            "dynamodb",
            "Scan",
            "snoozectl discover (Store::list: which services have a record)",
        ),
        op(
            Operator,
            "dynamodb",
            "UpdateItem",
            "snoozectl discover --apply (Store::apply, create-if-absent)",
        ),
    ]
};

/// The operations `principal` calls on the IAM services `services` (e.g. `["ecs", "ec2"]`),
/// by SDK name.
pub fn declared(
    principal: Principal,
    services: &[&str],
) -> std::collections::BTreeSet<&'static str> {
    OPERATIONS
        .iter()
        .filter(|o| o.principal == principal && services.contains(&o.service))
        .map(|o| o.name)
        .collect()
}

/// [`OPERATIONS`] as the JSON of `infra/aws-operations.json`: `{"principal": {"service:Name":
/// "why", ...}, ...}` (IAM action names), pretty-printed, ending in a newline.
pub fn operations_json() -> String {
    let mut by: BTreeMap<&str, BTreeMap<String, &str>> = BTreeMap::new();
    for p in Principal::ALL {
        by.insert(p.name(), BTreeMap::new());
    }
    for o in OPERATIONS {
        by.entry(o.principal.name())
            .or_default()
            .insert(format!("{}:{}", o.service, o.name), o.why);
    }
    let mut text = serde_json::to_string_pretty(&by).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_call_is_counted_once_by_its_operation_name_even_when_it_fails() {
        let calls = CallCounter::new();
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            // Nothing listens on port 1: every call fails after its retries.
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2),
            )
            .interceptor(calls.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        assert!(client.scan().table_name("t").send().await.is_err());
        assert!(client.scan().table_name("t").send().await.is_err());
        assert!(
            client
                .describe_table()
                .table_name("t")
                .send()
                .await
                .is_err()
        );
        let snapshot = calls.snapshot();
        assert_eq!(
            snapshot,
            BTreeMap::from([("DescribeTable".to_string(), 1), ("Scan".to_string(), 2)])
        );
    }
}
