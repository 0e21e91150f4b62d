//! What actually runs: the [`Platform`] trait and its implementations — [`ecs`] (AWS),
//! [`sim`] (a deterministic in-memory ECS for tests and benchmarks) and [`local`] (processes
//! run by `snoozectl dev`).
//!
//! A platform converts its native shapes into the plain observation types here
//! ([`Observed`], [`ServiceObservation`], [`TaskObservation`]); `reconcile::decide` only ever
//! sees these.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::{Target, Timestamp};

pub mod batch;
pub mod ecs;
pub mod listing;
pub mod local;
pub mod sim;

pub use crate::pages::{PageGuard, PaginationError};

/// Platform errors. AWS errors carry their code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The platform was throttled and retries were exhausted.
    #[error("{operation} throttled: {message}")]
    Throttled {
        /// e.g. `DescribeServices`.
        operation: &'static str,
        /// Code and message.
        message: String,
    },
    /// A call failed. `retryable` is false for permanent client errors (access denied,
    /// invalid parameter), which are not retried every pass.
    #[error("{operation} failed: {code}: {message}")]
    Call {
        /// e.g. `UpdateService`.
        operation: &'static str,
        /// AWS error code (e.g. `AccessDeniedException`) or a local code.
        code: String,
        /// The error message.
        message: String,
        /// Whether trying again later may help.
        retryable: bool,
    },
    /// This platform does not handle this kind of target (e.g. `local` given an ECS target).
    #[error("target not supported by this platform: {0}")]
    Unsupported(String),
    /// A paginated call did not end (a continuation token repeated, or too many pages); what
    /// it listed so far is not used.
    #[error(transparent)]
    Pagination(#[from] PaginationError),
}

impl Error {
    /// A short, stable code for metrics and alarms (the reconciler Lambda's `Errors` metric has
    /// it as its `Code` dimension):
    ///
    /// - for [`Error::Throttled`] always `ThrottlingException`, whatever AWS called it (ECS
    ///   `ThrottlingException` or `ClientException: Rate exceeded`, EC2 `RequestLimitExceeded`),
    ///   so one value covers every throttle that outlived its retries; the AWS code stays in
    ///   the message;
    /// - for [`Error::Call`] its `code` (e.g. `AccessDeniedException`, `ServerException`);
    /// - for [`Error::Unsupported`] `Unsupported`;
    /// - for [`Error::Pagination`] `PaginationRepeatedToken` or `PaginationPageLimit`.
    pub fn code(&self) -> &str {
        match self {
            Self::Throttled { .. } => "ThrottlingException",
            Self::Call { code, .. } => code,
            Self::Unsupported(_) => "Unsupported",
            Self::Pagination(e) => e.code(),
        }
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the platform saw for one target, in the order of the `targets` argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// The service exists and is ACTIVE.
    Found(ServiceObservation),
    /// The service does not exist (ECS `failures` reason MISSING).
    Missing {
        /// e.g. `service demo-svc not found in cluster demo-cluster`.
        message: String,
    },
    /// The service exists but is DRAINING or INACTIVE (deleted).
    Inactive {
        /// `DRAINING` or `INACTIVE`.
        status: String,
        /// Human-readable explanation.
        message: String,
    },
    /// Observation failed for this target only (the rest of the pass goes on).
    Error(Error),
}

/// An ACTIVE service and its tasks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceObservation {
    /// The service's `desiredCount`.
    pub desired_count: u32,
    /// ECS `runningCount`.
    pub running_count: u32,
    /// ECS `pendingCount`.
    pub pending_count: u32,
    /// Tasks of this service (`group == "service:<name>"`) with desiredStatus RUNNING, plus
    /// recently stopped ones (for stop reasons), newest first.
    pub tasks: Vec<TaskObservation>,
    /// The service's deployments as DescribeServices returns them (`services[].deployments[]`),
    /// in ECS's order (PRIMARY first). Present at once after an `UpdateService`, before any
    /// task of the change is listed: a change of desiredCount alone updates the PRIMARY
    /// deployment's `desiredCount` and `updatedAt`; a new task definition or
    /// `forceNewDeployment` creates a new PRIMARY one (the old one becomes ACTIVE until its
    /// tasks are gone). Empty for platforms without deployments (`local`) and for services
    /// not using the ECS (rolling update) deployment controller. Deployments with a status
    /// snooze does not know are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentObservation>,
    /// The service's load balancer attachments (ECS `services[].loadBalancers[]`), in ECS's
    /// order; empty for platforms without load balancers (`local`) and services without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancerObservation>,
    /// Where the record's stable address points now, as the router observed it (records in
    /// `spec.routing.mode: route` only). Filled by the pass from
    /// [`crate::router::Router::observe`], never by a platform.
    #[serde(skip)]
    pub route: crate::model::RouteObservation,
    /// The size of the service's task (from its PRIMARY deployment's task definition, read
    /// once per revision): what one task of it costs per second while always on. `None` when
    /// not known (a local process, a task definition that could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TaskSize>,
}

/// CPU architecture of a task (ECS `runtimePlatform.cpuArchitecture`; Fargate's default is
/// `X86_64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// `X86_64` (the default when a task definition names none).
    #[default]
    X86_64,
    /// `ARM64` (Graviton).
    Arm64,
}

impl Arch {
    /// Parses ECS's `cpuArchitecture` (`"ARM64"`, `"X86_64"`, case-insensitive); unknown
    /// values map to `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "x86_64" => Some(Self::X86_64),
            "arm64" => Some(Self::Arm64),
            _ => None,
        }
    }

    /// `x86_64` or `arm64`, as the price table names them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// What Fargate bills a task by: its task-level CPU and memory (ECS task `cpu` in CPU units /
/// 1024, `memory` in MiB / 1024) and its architecture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSize {
    /// vCPUs, e.g. 0.25 for `cpu: "256"`.
    pub vcpu: f64,
    /// Memory in GB as Fargate prices it (GiB), e.g. 0.5 for `memory: "512"`.
    pub memory_gb: f64,
    /// CPU architecture.
    pub arch: Arch,
}

/// One of a service's load balancer attachments (ECS `loadBalancers[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerObservation {
    /// The target group ECS registers the service's tasks in.
    pub target_group_arn: String,
    /// The container port registered (`None` when ECS did not say).
    pub container_port: Option<u16>,
}

impl ServiceObservation {
    /// A service with these counts and tasks and no deployments.
    pub fn new(
        desired_count: u32,
        running_count: u32,
        pending_count: u32,
        tasks: Vec<TaskObservation>,
    ) -> Self {
        Self {
            desired_count,
            running_count,
            pending_count,
            tasks,
            deployments: Vec::new(),
            load_balancers: Vec::new(),
            route: crate::model::RouteObservation::Unknown,
            size: None,
        }
    }

    /// The target group serving `port` (the record's endpoint port): the attachment with that
    /// container port, else the only attachment; `None` when there is none or the choice is
    /// ambiguous (several attachments, none on `port`).
    pub fn target_group_for(&self, port: u16) -> Option<&str> {
        let lbs = &self.load_balancers;
        lbs.iter()
            .find(|lb| lb.container_port == Some(port))
            .or_else(|| (lbs.len() == 1).then(|| &lbs[0]))
            .map(|lb| lb.target_group_arn.as_str())
    }

    /// The PRIMARY deployment (the most recent one), if ECS reported one.
    pub fn primary_deployment(&self) -> Option<&DeploymentObservation> {
        self.deployments
            .iter()
            .find(|d| d.status == DeploymentStatus::Primary)
    }
}

/// ECS deployment `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// `PRIMARY`: the most recent deployment of the service.
    Primary,
    /// `ACTIVE`: an older deployment that still has tasks, being replaced by the PRIMARY one.
    Active,
    /// `INACTIVE`: a deployment that has been completely replaced.
    Inactive,
}

impl DeploymentStatus {
    /// Parses an ECS deployment status (`"PRIMARY"`, case-insensitive); unknown values map to
    /// `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "PRIMARY" => Self::Primary,
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            _ => return None,
        })
    }
}

/// ECS deployment `rolloutState` (only reported for the rolling update deployment type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    /// `IN_PROGRESS`: started, the service has not reached a steady state yet.
    InProgress,
    /// `COMPLETED`: the service reached a steady state.
    Completed,
    /// `FAILED`: the deployment circuit breaker stopped it; it launches no new tasks.
    Failed,
}

impl RolloutState {
    /// Parses an ECS rollout state (`"IN_PROGRESS"`, case-insensitive); unknown values map to
    /// `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "IN_PROGRESS" => Self::InProgress,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            _ => return None,
        })
    }
}

/// One ECS service deployment (DescribeServices `services[].deployments[]`), reduced to what
/// decisions need. Counts are numbers of tasks; times are UTC with millisecond precision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentObservation {
    /// `id`, e.g. `ecs-svc/1234567890123456789`.
    pub id: String,
    /// `status`: PRIMARY, ACTIVE or INACTIVE.
    pub status: DeploymentStatus,
    /// `desiredCount`: tasks this deployment should run (for the PRIMARY one, the service's
    /// most recent desiredCount).
    pub desired_count: u32,
    /// `runningCount`: tasks of this deployment in the RUNNING state.
    pub running_count: u32,
    /// `pendingCount`: tasks of this deployment in the PENDING state.
    pub pending_count: u32,
    /// `createdAt`: when the deployment was created (UpdateService with a new task
    /// definition or `forceNewDeployment`, or the service's creation).
    pub created_at: Option<Timestamp>,
    /// `updatedAt`: when the deployment last changed, e.g. a new desiredCount by
    /// UpdateService (whoever sent it: snooze, Application Auto Scaling, a pipeline).
    pub updated_at: Option<Timestamp>,
    /// `rolloutState`, when ECS reports one.
    pub rollout_state: Option<RolloutState>,
}

/// ECS task lifecycle status (`lastStatus` / `desiredStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// ENI being attached.
    Provisioning,
    /// Image pull, container start.
    Pending,
    /// Load balancer / service connect registration.
    Activating,
    /// Running.
    Running,
    /// Being deregistered.
    Deactivating,
    /// Containers being stopped.
    Stopping,
    /// ENI being detached.
    Deprovisioning,
    /// Stopped.
    Stopped,
}

impl TaskStatus {
    /// Parses an ECS status string (`"RUNNING"`); unknown values map to `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PROVISIONING" => Self::Provisioning,
            "PENDING" => Self::Pending,
            "ACTIVATING" => Self::Activating,
            "RUNNING" => Self::Running,
            "DEACTIVATING" => Self::Deactivating,
            "STOPPING" => Self::Stopping,
            "DEPROVISIONING" => Self::Deprovisioning,
            "STOPPED" => Self::Stopped,
            _ => return None,
        })
    }
}

/// Container health as ECS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    /// Health check passing.
    Healthy,
    /// Health check failing.
    Unhealthy,
    /// No result yet.
    Unknown,
}

/// One task, reduced to what decisions need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskObservation {
    /// Task ARN (or a local id like `local:demo:4242`).
    pub arn: String,
    /// `lastStatus`.
    pub last_status: TaskStatus,
    /// `desiredStatus`.
    pub desired_status: TaskStatus,
    /// Health of the *essential containers that define a health check*, combined: Healthy only
    /// if all are; `None` when no essential container defines one.
    pub health: Option<Health>,
    /// When the task was created (`createdAt`).
    pub created_at: Option<Timestamp>,
    /// When the image pull began (`pullStartedAt`): Fargate bills the task from here. `None`
    /// before the pull (PROVISIONING), or when the platform does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<Timestamp>,
    /// The task's size (its own `cpu`/`memory`, its task definition's architecture), what it
    /// is billed by; `None` when not known (a local process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<TaskSize>,
    /// When the task reached RUNNING (`startedAt`).
    pub started_at: Option<Timestamp>,
    /// When the task stopped (`stoppedAt`).
    pub stopped_at: Option<Timestamp>,
    /// `stopCode`, e.g. `TaskFailedToStart`, `EssentialContainerExited`.
    pub stop_code: Option<String>,
    /// `stoppedReason` (raw; `decide` cleans ARNs and account ids out of it).
    pub stopped_reason: Option<String>,
    /// The task's ENI id (`eni-...`) once attached.
    pub eni_id: Option<String>,
    /// The ENI's public IP, when it has one.
    pub public_ip: Option<String>,
    /// The ENI's private IP.
    pub private_ip: Option<String>,
    /// True when the task's ENI could not be described in this observation because EC2 does
    /// not know it yet (`InvalidNetworkInterfaceID.NotFound`): `public_ip` is then *unknown
    /// for now*, not absent, and `private_ip` is the task attachment's. Look again next pass;
    /// a service that was Ready on this task should keep its endpoint meanwhile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub address_unknown: bool,
    /// Result of the record's HTTP readiness probe, when one is defined and was run.
    pub probe: Option<ProbeResult>,
    /// The load balancer's view of this task in the service's target group (route mode behind
    /// the `alb` router): filled by the pass from [`crate::router::Router::target_health`],
    /// never by a platform; `None` when no router reports one. When present it replaces the
    /// HTTP readiness probe: the task is ready only when it is `healthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_health: Option<TargetHealth>,
}

/// A task's state in a load balancer target group (ELBv2 `TargetHealth`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// ELBv2's `State` (`initial`, `healthy`, `unhealthy`, `unused`, `draining`,
    /// `unavailable`), or `unregistered` when the task's address is not a target of the group
    /// (yet).
    pub state: String,
    /// ELBv2's `Reason` and `Description`, when it gave them (e.g. `Target.ResponseCodeMismatch:
    /// Health checks failed with these codes: [404]`).
    pub reason: Option<String>,
}

impl TargetHealth {
    /// The state of a task whose target health could not be read this pass.
    pub const UNAVAILABLE: &'static str = "unavailable";

    /// Whether the load balancer sends traffic to the task.
    pub fn is_healthy(&self) -> bool {
        self.state == "healthy"
    }
}

impl TaskObservation {
    /// A task with only ARN and statuses set.
    pub fn new(arn: impl Into<String>, last: TaskStatus, desired: TaskStatus) -> Self {
        Self {
            arn: arn.into(),
            last_status: last,
            desired_status: desired,
            health: None,
            created_at: None,
            pull_started_at: None,
            size: None,
            started_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            eni_id: None,
            public_ip: None,
            private_ip: None,
            address_unknown: false,
            probe: None,
            target_health: None,
        }
    }
}

/// Outcome of an HTTP readiness probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    /// True for a 2xx/3xx answer within the timeout.
    pub passed: bool,
    /// e.g. `HTTP 200`, `connection refused`, `timed out after 2s`.
    pub detail: String,
}

/// The capability the reconciler needs from a compute platform.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Observes all `targets` in as few calls as possible; returns one [`Observed`] per target,
    /// in the same order. A failure that concerns one target is reported as
    /// [`Observed::Error`] for it; `Err` only when nothing could be observed at all.
    async fn observe(&self, targets: &[Target]) -> Result<Vec<Observed>>;

    /// Sets the target's desiredCount (ECS `UpdateService`).
    async fn scale(&self, target: &Target, replicas: u32) -> Result<()>;

    /// Looks up tasks of `target` by ARN (ECS `DescribeTasks`, 100 per call), whatever their
    /// state: for the ledger, which must learn when a task it was counting stopped even after
    /// the task is no longer listed with the service (ECS describes a stopped task for about
    /// an hour). Tasks the platform does not know (any more) are left out. The default (a
    /// platform that keeps no stopped tasks) knows none.
    async fn describe_tasks(
        &self,
        target: &Target,
        arns: &[String],
    ) -> Result<Vec<TaskObservation>> {
        let _ = (target, arns);
        Ok(Vec::new())
    }
}
