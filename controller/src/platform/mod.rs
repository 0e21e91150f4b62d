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

pub mod ecs;
pub mod local;
pub mod sim;

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
    /// - for [`Error::Unsupported`] `Unsupported`.
    pub fn code(&self) -> &str {
        match self {
            Self::Throttled { .. } => "ThrottlingException",
            Self::Call { code, .. } => code,
            Self::Unsupported(_) => "Unsupported",
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
    /// Result of the record's HTTP readiness probe, when one is defined and was run.
    pub probe: Option<ProbeResult>,
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
            started_at: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            eni_id: None,
            public_ip: None,
            private_ip: None,
            probe: None,
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
}
