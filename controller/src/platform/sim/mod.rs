//! A deterministic, in-memory ECS for tests and benchmarks.
//!
//! [`SimPlatform`] implements [`Platform`] over simulated clusters, services and tasks:
//!
//! - **Time** comes from a [`SimClock`] that only moves when told ([`SimClock::advance`]); a
//!   task's lifecycle is a pure function of its timestamps and the clock, so a run is
//!   reproducible. Tasks move PROVISIONING → PENDING → RUNNING (→ HEALTHY when the service has
//!   a container health check) on the delays of [`SimConfig`]; an ENI with a private and a
//!   public IP is attached at the end of PROVISIONING (the public IP can be made late). The
//!   image pull starts then too: a task that got past PROVISIONING reports `pullStartedAt` =
//!   the end of PROVISIONING (before `startedAt`), one stopped earlier reports none.
//! - **Sizes**: every task has the size of its service's task definition when it was started
//!   ([`SimConfig::task_size`], default 0.25 vCPU, 0.5 GB, arm64; per service with
//!   [`SimPlatform::set_task_size`]), reported on the task and on the service.
//! - **Tasks by ARN** ([`Platform::describe_tasks`], `DescribeTasks` 100 per call): a stopped
//!   task is described for [`SimConfig::stopped_retention`] after its stop (1 h, as ECS),
//!   even once it is no longer listed with the service.
//! - **Deployments**: each service has one PRIMARY deployment, created with the service; every
//!   desiredCount change (by snooze or by another writer) sets its `updatedAt` to now, as ECS
//!   does for an UpdateService that changes only the desired count. Its `rolloutState` is
//!   COMPLETED while running equals desired with nothing pending, IN_PROGRESS otherwise (a
//!   simplification: decisions should rely on `updatedAt`, not on the rollout state).
//! - **The ECS scheduler** starts tasks up to desiredCount, stops the newest ones on scale-in
//!   (`ServiceSchedulerInitiated`, "Scaling activity initiated by ..."), and replaces tasks that
//!   stopped by themselves.
//! - **The call pattern** of the `ecs` adapter: `DescribeServices` 10 services per call per
//!   cluster; `ListTasks` (desiredStatus RUNNING, 100 per page) only for services that have or
//!   want tasks, per service or once for the cluster by the adapter's rule
//!   ([`crate::platform::listing::plan`]: at least
//!   [`crate::platform::listing::CLUSTER_LISTING_MIN_SERVICES`] such services, the listing
//!   bounded by their per-service cost, abandoned and then backed off for
//!   [`crate::platform::listing::CLUSTER_LISTING_BACKOFF`] of simulated time when the cluster
//!   holds too many other tasks; [`SimConfig::cluster_listing`] turns it off), plus
//!   `ListTasks` (desiredStatus STOPPED, one page) for services with fewer running tasks than
//!   desired (for stop reasons; [`crate::platform::listing::wants_stopped_listing`]);
//!   `DescribeTasks` 100 per call (a cluster listing's tasks of every service of the cluster,
//!   only the observed services' tasks kept); `DescribeNetworkInterfaces` 200 ENIs per call;
//!   `UpdateService` per scale. Every attempt is counted ([`SimPlatform::counters`]).
//! - **Throttling** by per-operation token buckets ([`BucketConfig`], burst and sustained rate,
//!   refilled on tokio's clock), retried like the SDK adapter does (jittered exponential backoff,
//!   `backon`); optional **latency** per call (a tokio sleep); at most
//!   [`SimConfig::max_in_flight`] calls at once.
//! - **Faults on demand**: [`SimPlatform::fail_next`] (throttling or 5xx),
//!   [`SimPlatform::fail_task_starts`], [`SimPlatform::kill_tasks`], [`SimConfig::eni_delay`],
//!   [`SimPlatform::remove_service`], [`SimPlatform::set_service_status`], and drift by someone
//!   else with [`SimPlatform::set_desired_count_externally`].
//!
//! [`crate::store::MemoryStore`] is the matching in-memory [`crate::store::Store`].

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures::future::join_all;

use super::PageGuard;
use super::batch::{eni_ids_in, lookup_without_missing};
use super::ecs::errors::ENI_NOT_FOUND;
use super::listing::{self, CLUSTER_LISTING_BACKOFF, ClusterListing, Counts};
use super::{
    Arch, DeploymentObservation, DeploymentStatus, Error, Health, Observed, Platform, Result,
    RolloutState, ServiceObservation, TaskObservation, TaskSize, TaskStatus,
};
use crate::clock::SimClock;
use crate::model::{Target, Timestamp};
use crate::pages::LIST_TASKS_MAX_PAGES;

/// The simulated API operations, each with its own counter and token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// ECS `DescribeServices` (10 services per call).
    DescribeServices,
    /// ECS `ListTasks` (100 ARNs per page).
    ListTasks,
    /// ECS `DescribeTasks` (100 tasks per call).
    DescribeTasks,
    /// EC2 `DescribeNetworkInterfaces` (200 ENIs per call).
    DescribeNetworkInterfaces,
    /// ECS `UpdateService` (one service).
    UpdateService,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 5] = [
        Op::DescribeServices,
        Op::ListTasks,
        Op::DescribeTasks,
        Op::DescribeNetworkInterfaces,
        Op::UpdateService,
    ];
    /// The AWS operation name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::DescribeServices => "DescribeServices",
            Op::ListTasks => "ListTasks",
            Op::DescribeTasks => "DescribeTasks",
            Op::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Op::UpdateService => "UpdateService",
        }
    }
}

/// A token bucket: `burst` tokens at most, refilled at `per_second`. One call takes one token;
/// a call finding the bucket empty fails with `ThrottlingException: Rate exceeded`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketConfig {
    /// Bucket capacity (the burst rate), calls.
    pub burst: f64,
    /// Refill rate (the sustained rate), calls per second.
    pub per_second: f64,
}

impl BucketConfig {
    /// Buckets shaped like the published ECS/EC2 request throttling quotas (per account and
    /// Region): service and task reads burst 100 / sustained 20 per second, `UpdateService`
    /// burst 50 / sustained 5, EC2 describe calls burst 100 / sustained 20. Adjust in
    /// [`SimConfig::buckets`] when an account has raised quotas.
    pub fn ecs_documented() -> BTreeMap<Op, BucketConfig> {
        let b = |burst, per_second| BucketConfig { burst, per_second };
        BTreeMap::from([
            (Op::DescribeServices, b(100.0, 20.0)),
            (Op::ListTasks, b(100.0, 20.0)),
            (Op::DescribeTasks, b(100.0, 20.0)),
            (Op::DescribeNetworkInterfaces, b(100.0, 20.0)),
            (Op::UpdateService, b(50.0, 5.0)),
        ])
    }
}

/// Retry of throttled and 5xx calls (what the SDK adapter does): jittered exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// First delay. Default 50 ms.
    pub min_delay: Duration,
    /// Longest delay. Default 2 s.
    pub max_delay: Duration,
    /// Retries after the first attempt. Default 10.
    pub max_times: usize,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_times: 10,
        }
    }
}

/// How the simulated ECS behaves. Durations are simulated time unless noted.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Time in PROVISIONING (ENI attachment). Default 10 s.
    pub provisioning: Duration,
    /// Time in PENDING (image pull, container start). Default 20 s.
    pub pending: Duration,
    /// `Some(d)`: services have a container health check that turns HEALTHY `d` after RUNNING
    /// (UNKNOWN before). `None` (default): no health check.
    pub health_check: Option<Duration>,
    /// Time from desiredStatus STOPPED to lastStatus STOPPED. Default 15 s.
    pub stopping: Duration,
    /// Extra time after PROVISIONING before the ENI's public IP is visible. Default 0.
    pub eni_delay: Duration,
    /// Whether ENIs get a public IP. Default true.
    pub public_ip: bool,
    /// Wall-clock (tokio) latency added to every call attempt. Default 0.
    pub latency: Duration,
    /// Token buckets per operation; an operation without one is not rate limited.
    /// Default: none ([`BucketConfig::ecs_documented`] for realistic runs).
    pub buckets: BTreeMap<Op, BucketConfig>,
    /// Retry of throttled and 5xx calls.
    pub retry: RetryConfig,
    /// Calls in flight at once (across clusters and batches). Default 16.
    pub max_in_flight: usize,
    /// Client-side pacing: before each attempt the caller waits for a token of its own copy of
    /// the operation's bucket (as the SDK's adaptive retry mode does), so a lone caller is
    /// rarely throttled. Default false (calls go out at once and throttling is retried).
    pub client_pacing: bool,
    /// How long stopped tasks stay listed. Default 1 h (as in ECS).
    pub stopped_retention: Duration,
    /// Delay between a desiredCount increase and its tasks appearing: the PRIMARY deployment
    /// shows the change at once, ListTasks/DescribeTasks and the running/pending counts only
    /// this long after (as ECS, where a task is listed a few seconds after UpdateService).
    /// Default 0.
    pub task_start_delay: Duration,
    /// How long after a task's ENI attachment appears EC2 still does not know the ENI: a
    /// DescribeNetworkInterfaces batch that contains such an ENI fails as a whole with
    /// `InvalidNetworkInterfaceID.NotFound` naming it; the observation asks again without it
    /// ([`crate::platform::batch::lookup_without_missing`]) and marks its task
    /// [`TaskObservation::address_unknown`]. Default 0.
    pub eni_not_found: Duration,
    /// The size of every service's task definition unless [`SimPlatform::set_task_size`] sets
    /// one. Default 0.25 vCPU, 0.5 GB, arm64 ([`SimConfig::DEFAULT_TASK_SIZE`]).
    pub task_size: TaskSize,
    /// Whether the running tasks of many services of one cluster are listed with one cluster
    /// listing, as the `ecs` adapter does ([`crate::platform::listing`]). Default true;
    /// false: one listing per service (as the adapter's `with_cluster_listing(false)`), the
    /// call pattern before cluster listings, for comparisons.
    pub cluster_listing: bool,
}

impl SimConfig {
    /// The default [`SimConfig::task_size`]: Fargate's smallest task, on Graviton.
    pub const DEFAULT_TASK_SIZE: TaskSize = TaskSize {
        vcpu: 0.25,
        memory_gb: 0.5,
        arch: Arch::Arm64,
    };
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            provisioning: Duration::from_secs(10),
            pending: Duration::from_secs(20),
            health_check: None,
            stopping: Duration::from_secs(15),
            eni_delay: Duration::ZERO,
            public_ip: true,
            latency: Duration::ZERO,
            buckets: BTreeMap::new(),
            retry: RetryConfig::default(),
            max_in_flight: 16,
            client_pacing: false,
            stopped_retention: Duration::from_secs(3600),
            task_start_delay: Duration::ZERO,
            eni_not_found: Duration::ZERO,
            task_size: Self::DEFAULT_TASK_SIZE,
            cluster_listing: true,
        }
    }
}

/// A fault injected into the next calls of one operation ([`SimPlatform::fail_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `ThrottlingException: Rate exceeded` (retried).
    Throttle,
    /// ECS's real throttling shape, `ClientException: Rate exceeded` (HTTP 400), classified
    /// by the ECS platform's own [`crate::platform::ecs::errors::classify`] (so throttling,
    /// retried).
    RateExceeded,
    /// Pagination that does not end: the next ListTasks listing (all its pages) returns its
    /// first page's `nextToken` again on every later page. The listing stops with
    /// [`Error::Pagination`] (`PaginationRepeatedToken`) through the shared
    /// [`crate::platform::PageGuard`]. Only for [`Op::ListTasks`]; one fault per listing.
    RepeatToken,
    /// Pagination that does not end: the next ListTasks listing returns a new `nextToken` on
    /// every page, for ever; it stops at [`crate::pages::LIST_TASKS_MAX_PAGES`]
    /// with `PaginationPageLimit`. Only for [`Op::ListTasks`]; one fault per listing.
    EndlessTokens,
    /// HTTP 500 `ServerException` (retried).
    ServerError,
    /// `AccessDeniedException` (permanent, not retried).
    AccessDenied,
}

/// Call counts of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCount {
    /// Every attempt, retries included.
    pub attempts: u64,
    /// Attempts that failed with throttling (bucket empty or injected).
    pub throttled: u64,
    /// Attempts that failed otherwise (injected 5xx or client errors).
    pub failed: u64,
}

impl Fault {
    fn is_pagination(self) -> bool {
        matches!(self, Self::RepeatToken | Self::EndlessTokens)
    }
}

/// Another writer of a service's desiredCount, e.g. Application Auto Scaling with a minimum
/// capacity ([`SimPlatform::set_other_writer`]): whenever desiredCount is below `min`, it sets
/// it back to `min` `after` the change that took it below (the PRIMARY deployment's
/// `updatedAt`), whoever made it. Its writes are not snooze's API calls
/// ([`SimPlatform::other_writes`] counts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherWriter {
    /// The desiredCount it keeps at least, e.g. 1.
    pub min: u32,
    /// How long after a change below `min` it writes, e.g. 30 s.
    pub after: Duration,
}

impl OpCount {
    /// Attempts that succeeded.
    pub fn ok(&self) -> u64 {
        self.attempts - self.throttled - self.failed
    }
}

struct Bucket {
    config: BucketConfig,
    tokens: f64,
    last: tokio::time::Instant,
}

#[derive(Clone, Debug)]
struct Stop {
    at: Timestamp,
    code: String,
    reason: String,
}

#[derive(Clone, Debug)]
struct SimTask {
    arn: String,
    created_at: Timestamp,
    /// `Some`: the task stops with this code and reason when it would have reached RUNNING.
    fail_start: Option<(String, String)>,
    /// Set when the scheduler or a fault stopped the task.
    stop: Option<Stop>,
    /// The scheduler already replaced this task after it stopped by itself.
    replaced: bool,
    eni_id: String,
    private_ip: String,
    public_ip: Option<String>,
    /// The size of the service's task definition when the task was started.
    size: TaskSize,
}

#[derive(Clone, Debug)]
struct SimService {
    status: &'static str,
    desired: u32,
    tasks: Vec<SimTask>,
    start_failure: Option<(String, String)>,
    /// The PRIMARY deployment (the sim has one per service, as ECS after a scaling-only
    /// UpdateService).
    deployment: SimDeployment,
    other_writer: Option<OtherWriter>,
    other_writes: u64,
    load_balancers: Vec<crate::platform::LoadBalancerObservation>,
    /// The size of the service's task definition; `None`: [`SimConfig::task_size`].
    size: Option<TaskSize>,
    /// Stopped tasks no longer listed (beyond the newest [`MAX_STOPPED_KEPT`]) but still
    /// described by ARN until [`SimConfig::stopped_retention`] after their stop.
    forgotten: Vec<SimTask>,
}

/// The service's PRIMARY deployment: created with the service, `updated_at` moved by every
/// desiredCount change (whoever made it), as ECS does for an UpdateService that changes only
/// the desired count.
#[derive(Clone, Debug)]
struct SimDeployment {
    id: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Default)]
struct World {
    clusters: BTreeMap<String, BTreeMap<String, SimService>>,
    faults: HashMap<Op, VecDeque<Fault>>,
    next_task: u64,
    next_deployment: u64,
}

/// The simulated ECS (see the module docs). Cheap to share: wrap it in an `Arc`.
pub struct SimPlatform {
    clock: Arc<SimClock>,
    config: Mutex<SimConfig>,
    world: Mutex<World>,
    counters: Mutex<BTreeMap<Op, OpCount>>,
    buckets: Mutex<BTreeMap<Op, Bucket>>,
    pacing: Mutex<BTreeMap<Op, Bucket>>,
    in_flight: tokio::sync::Semaphore,
    scale_calls: AtomicU64,
    /// Seeds the retry jitter, so a run is reproducible (given the same call order).
    jitter_seed: AtomicU64,
    /// Cluster → until when (simulated time) its running tasks are listed per service (a
    /// cluster listing of it was abandoned).
    cluster_backoff: Mutex<HashMap<String, Timestamp>>,
}

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

impl SimPlatform {
    /// A simulated ECS on `clock` with `config` and no clusters yet.
    pub fn new(clock: Arc<SimClock>, config: SimConfig) -> Self {
        let buckets = Self::make_buckets(&config);
        let pacing = Self::make_buckets(&config);
        let permits = config.max_in_flight.max(1);
        Self {
            clock,
            config: Mutex::new(config),
            world: Mutex::new(World::default()),
            counters: Mutex::new(BTreeMap::new()),
            buckets: Mutex::new(buckets),
            pacing: Mutex::new(pacing),
            in_flight: tokio::sync::Semaphore::new(permits),
            scale_calls: AtomicU64::new(0),
            jitter_seed: AtomicU64::new(1),
            cluster_backoff: Mutex::default(),
        }
    }

    fn make_buckets(config: &SimConfig) -> BTreeMap<Op, Bucket> {
        let now = tokio::time::Instant::now();
        config
            .buckets
            .iter()
            .map(|(op, c)| {
                (
                    *op,
                    Bucket {
                        config: *c,
                        tokens: c.burst,
                        last: now,
                    },
                )
            })
            .collect()
    }

    /// The clock this platform runs on.
    pub fn clock(&self) -> Arc<SimClock> {
        self.clock.clone()
    }

    /// Replaces the call behaviour (latency, buckets, retry); lifecycle delays apply to tasks
    /// evaluated from now on. Buckets start full.
    pub fn reconfigure(&self, f: impl FnOnce(&mut SimConfig)) {
        let mut c = self.config.lock().expect("sim config");
        f(&mut c);
        *self.buckets.lock().expect("sim buckets") = Self::make_buckets(&c);
        *self.pacing.lock().expect("sim pacing") = Self::make_buckets(&c);
    }

    /// Adds an ACTIVE service with desiredCount 0 (replacing one of the same name), with a
    /// PRIMARY deployment created now.
    pub fn add_service(&self, cluster: &str, service: &str) {
        let now = self.clock.now();
        let mut w = self.world();
        w.next_deployment += 1;
        let deployment = SimDeployment {
            id: format!(
                "ecs-svc/{:019}",
                4_000_000_000_000_000_000 + w.next_deployment
            ),
            created_at: now,
            updated_at: now,
        };
        w.clusters.entry(cluster.into()).or_default().insert(
            service.into(),
            SimService {
                status: "ACTIVE",
                desired: 0,
                tasks: Vec::new(),
                start_failure: None,
                deployment,
                other_writer: None,
                other_writes: 0,
                load_balancers: Vec::new(),
                size: None,
                forgotten: Vec::new(),
            },
        );
    }

    /// Sets the size of the service's task definition (as a new revision would): tasks started
    /// from now on, and the service's observation, have it; running tasks keep theirs.
    pub fn set_task_size(&self, cluster: &str, service: &str, size: TaskSize) {
        if let Some(s) = self.world().service_mut(cluster, service) {
            s.size = Some(size);
        }
    }

    /// Removes a service: ECS then reports it MISSING.
    pub fn remove_service(&self, cluster: &str, service: &str) {
        if let Some(c) = self.world().clusters.get_mut(cluster) {
            c.remove(service);
        }
    }

    /// Attaches the service to load balancer target groups (ECS `loadBalancers`).
    pub fn set_load_balancers(
        &self,
        cluster: &str,
        service: &str,
        load_balancers: Vec<crate::platform::LoadBalancerObservation>,
    ) {
        if let Some(s) = self.world().service_mut(cluster, service) {
            s.load_balancers = load_balancers;
        }
    }

    /// Sets a service's status (`ACTIVE`, `DRAINING` or `INACTIVE`).
    pub fn set_service_status(&self, cluster: &str, service: &str, status: &'static str) {
        if let Some(s) = self.world().service_mut(cluster, service) {
            s.status = status;
        }
    }

    /// Someone else changes desiredCount (drift); not counted as an API call of snooze.
    pub fn set_desired_count_externally(&self, cluster: &str, service: &str, desired: u32) {
        let now = self.clock.now();
        let config = self.config();
        let mut w = self.world();
        let World {
            clusters,
            next_task,
            ..
        } = &mut *w;
        if let Some(s) = clusters.get_mut(cluster).and_then(|c| c.get_mut(service)) {
            set_desired(s, cluster, service, desired, now, &config, next_task);
        }
    }

    /// Sets (or with `None` removes) another writer of the service's desiredCount (see
    /// [`OtherWriter`]).
    pub fn set_other_writer(&self, cluster: &str, service: &str, writer: Option<OtherWriter>) {
        if let Some(s) = self.world().service_mut(cluster, service) {
            s.other_writer = writer;
        }
    }

    /// desiredCount changes the service's [`OtherWriter`] made so far (as of the last time the
    /// service was looked at).
    pub fn other_writes(&self, cluster: &str, service: &str) -> u64 {
        self.world()
            .service_mut(cluster, service)
            .map_or(0, |s| s.other_writes)
    }

    /// `Some((stopCode, stoppedReason))`: tasks started from now on stop before RUNNING with
    /// this code and reason; `None`: they start normally again.
    pub fn fail_task_starts(&self, cluster: &str, service: &str, failure: Option<(&str, &str)>) {
        if let Some(s) = self.world().service_mut(cluster, service) {
            s.start_failure = failure.map(|(c, r)| (c.to_string(), r.to_string()));
        }
    }

    /// Stops every running (or starting) task of the service now, as if its essential container
    /// exited with `reason`. The scheduler replaces them.
    pub fn kill_tasks(&self, cluster: &str, service: &str, reason: &str) {
        let now = self.clock.now();
        let config = self.config();
        let mut w = self.world();
        let World {
            clusters,
            next_task,
            ..
        } = &mut *w;
        if let Some(s) = clusters.get_mut(cluster).and_then(|c| c.get_mut(service)) {
            settle(s, cluster, service, now, &config, next_task);
            for t in s.tasks.iter_mut() {
                if t.stop.is_none() && t.self_stop_at(&config).is_none_or(|at| at > now) {
                    t.stop = Some(Stop {
                        at: now,
                        code: "EssentialContainerExited".into(),
                        reason: reason.to_string(),
                    });
                }
            }
            settle(s, cluster, service, now, &config, next_task);
        }
    }

    /// The next `n` calls of `op` fail with `fault` (each retry attempt consumes one).
    pub fn fail_next(&self, op: Op, n: usize, fault: Fault) {
        let mut w = self.world();
        let q = w.faults.entry(op).or_default();
        q.extend(std::iter::repeat_n(fault, n));
    }

    /// Removes every pending injected call fault.
    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    /// The service's current desiredCount (`None` when it does not exist).
    pub fn desired_count(&self, cluster: &str, service: &str) -> Option<u32> {
        self.world()
            .service_mut(cluster, service)
            .map(|s| s.desired)
    }

    /// ARNs of the service's tasks that are RUNNING with desiredStatus RUNNING now.
    pub fn running_tasks(&self, cluster: &str, service: &str) -> Vec<String> {
        let now = self.clock.now();
        let config = self.config();
        let mut w = self.world();
        let World {
            clusters,
            next_task,
            ..
        } = &mut *w;
        let Some(s) = clusters.get_mut(cluster).and_then(|c| c.get_mut(service)) else {
            return Vec::new();
        };
        settle(s, cluster, service, now, &config, next_task);
        s.tasks
            .iter()
            .map(|t| t.observe(now, &config))
            .filter(|t| {
                t.last_status == TaskStatus::Running && t.desired_status == TaskStatus::Running
            })
            .map(|t| t.arn)
            .collect()
    }

    /// Per-operation call counts since creation or the last [`SimPlatform::reset_counters`].
    pub fn counters(&self) -> BTreeMap<Op, OpCount> {
        self.counters.lock().expect("sim counters").clone()
    }

    /// Attempts of one operation.
    pub fn attempts(&self, op: Op) -> u64 {
        self.counters().get(&op).map_or(0, |c| c.attempts)
    }

    /// Successful `UpdateService` calls since creation (not reset by `reset_counters`).
    pub fn scale_calls(&self) -> u64 {
        self.scale_calls.load(Ordering::Relaxed)
    }

    /// Zeroes the call counters.
    pub fn reset_counters(&self) {
        self.counters.lock().expect("sim counters").clear();
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("sim world")
    }

    fn config(&self) -> SimConfig {
        self.config.lock().expect("sim config").clone()
    }

    fn count(&self, op: Op, f: impl FnOnce(&mut OpCount)) {
        f(self
            .counters
            .lock()
            .expect("sim counters")
            .entry(op)
            .or_default());
    }

    fn take_token(&self, op: Op) -> bool {
        let mut buckets = self.buckets.lock().expect("sim buckets");
        let Some(b) = buckets.get_mut(&op) else {
            return true;
        };
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * b.config.per_second).min(b.config.burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Client-side pacing: reserves a token of the client's own bucket and waits until it is
    /// due (the bucket may go negative: reservations queue up in order).
    async fn pace(&self, op: Op) {
        if !self.config.lock().expect("sim config").client_pacing {
            return;
        }
        let wait = {
            let mut pacing = self.pacing.lock().expect("sim pacing");
            let Some(b) = pacing.get_mut(&op) else { return };
            let now = tokio::time::Instant::now();
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.last = now;
            b.tokens = (b.tokens + elapsed * b.config.per_second).min(b.config.burst) - 1.0;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.tokens / b.config.per_second)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, op: Op) -> Result<()> {
        self.pace(op).await;
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("semaphore never closed");
        let latency = self.config.lock().expect("sim config").latency;
        self.count(op, |c| c.attempts += 1);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fault = self
            .world()
            .faults
            .get_mut(&op)
            .and_then(|q| q.pop_front_if(|f| !f.is_pagination()));
        let throttled = |message: &str| Error::Throttled {
            operation: op.as_str(),
            message: format!("ThrottlingException: {message}"),
        };
        match fault {
            Some(Fault::Throttle) => {
                self.count(op, |c| c.throttled += 1);
                return Err(throttled("Rate exceeded"));
            }
            Some(Fault::RateExceeded) => {
                use crate::platform::ecs::errors::{CallError, FailureKind, classify};
                let (code, message) = ("ClientException", "Rate exceeded");
                let class = classify(Some(code), Some(message), Some(400), FailureKind::Service);
                let e = CallError {
                    operation: op.as_str(),
                    code: code.into(),
                    message: message.into(),
                    request_id: None,
                    class,
                }
                .into_platform();
                if matches!(e, Error::Throttled { .. }) {
                    self.count(op, |c| c.throttled += 1);
                } else {
                    self.count(op, |c| c.failed += 1);
                }
                return Err(e);
            }
            Some(Fault::RepeatToken | Fault::EndlessTokens) => unreachable!("not popped here"),
            Some(Fault::ServerError) => {
                self.count(op, |c| c.failed += 1);
                return Err(Error::Call {
                    operation: op.as_str(),
                    code: "ServerException".into(),
                    message: "Service unavailable (HTTP 500)".into(),
                    retryable: true,
                });
            }
            Some(Fault::AccessDenied) => {
                self.count(op, |c| c.failed += 1);
                return Err(Error::Call {
                    operation: op.as_str(),
                    code: "AccessDeniedException".into(),
                    message: format!("User is not authorized to perform: ecs:{}", op.as_str()),
                    retryable: false,
                });
            }
            None => {}
        }
        if !self.take_token(op) {
            self.count(op, |c| c.throttled += 1);
            return Err(throttled("Rate exceeded"));
        }
        Ok(())
    }

    /// One API call: at most `max_in_flight` attempts at once (none held while backing off),
    /// throttling and 5xx retried with jittered exponential backoff.
    async fn call(&self, op: Op) -> Result<()> {
        let retry = self.config.lock().expect("sim config").retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_times)
            .with_jitter()
            .with_jitter_seed(self.jitter_seed.fetch_add(1, Ordering::Relaxed));
        (|| self.attempt(op))
            .retry(backoff)
            .when(|e| match e {
                Error::Throttled { .. } => true,
                Error::Call { retryable, .. } => *retryable,
                Error::Unsupported(_) | Error::Pagination(_) => false,
            })
            .await
    }

    /// The observation of one cluster, in the call pattern of the `ecs` adapter.
    async fn observe_cluster(
        &self,
        cluster: &str,
        services: &[String],
    ) -> HashMap<String, Observed> {
        let mut out: HashMap<String, Observed> = HashMap::new();

        // 1. DescribeServices, 10 per call.
        let described = join_all(services.chunks(10).map(|chunk| async move {
            match self.call(Op::DescribeServices).await {
                Ok(()) => Ok(self.describe_services(cluster, chunk)),
                Err(e) => Err((chunk, e)),
            }
        }))
        .await;
        let mut active: Vec<(String, ServiceObservation)> = Vec::new();
        for r in described {
            match r {
                Ok(descs) => {
                    for (name, d) in descs {
                        match d {
                            Described::Missing => {
                                out.insert(
                                    name.clone(),
                                    Observed::Missing {
                                        message: format!(
                                            "service {name} not found in cluster {cluster}"
                                        ),
                                    },
                                );
                            }
                            Described::NotActive(status) => {
                                out.insert(
                                    name.clone(),
                                    Observed::Inactive {
                                        status: status.to_string(),
                                        message: format!(
                                            "service {name} in cluster {cluster} is {status}"
                                        ),
                                    },
                                );
                            }
                            Described::Active(obs) => active.push((name, obs)),
                        }
                    }
                }
                Err((chunk, e)) => {
                    for name in chunk {
                        out.insert(name.clone(), Observed::Error(e.clone()));
                    }
                }
            }
        }

        // 2. ListTasks (`platform::listing`, as the `ecs` adapter): the running tasks of
        // services that have or want tasks, per service or once for the cluster, plus the
        // first page of stopped tasks of services with fewer running tasks than desired.
        let wanting: Vec<&(String, ServiceObservation)> = active
            .iter()
            .filter(|(_, o)| o.desired_count > 0 || o.running_count + o.pending_count > 0)
            .collect();
        let counts: Vec<Counts> = wanting.iter().map(|(_, o)| counts_of(o)).collect();
        let plan = self
            .config()
            .cluster_listing
            .then(|| listing::plan(&counts, self.backing_off(cluster)))
            .flatten();
        // Running tasks from the cluster listing: (owner, ARN), every service's.
        let mut cluster_listed: Option<Vec<(String, String)>> = None;
        let mut failed: HashMap<String, Error> = HashMap::new();
        // Whether each service's running tasks are listed on their own.
        let mut per_service = true;
        if let Some(plan) = plan {
            match self.list_cluster_tasks(cluster, plan).await {
                Ok(Some(arns)) => {
                    cluster_listed = Some(arns);
                    per_service = false;
                }
                // Abandoned: listed per service now, and for a while.
                Ok(None) => self.back_off(cluster),
                Err(e) => {
                    per_service = false;
                    for (name, _) in &wanting {
                        failed.insert(name.clone(), e.clone());
                    }
                }
            }
        }
        let listed = join_all(wanting.iter().map(|(name, o)| async move {
            let mut arns = if per_service {
                self.list_tasks(cluster, name, false).await?
            } else {
                Vec::new()
            };
            if listing::wants_stopped_listing(
                u64::from(o.desired_count),
                u64::from(o.running_count),
            ) {
                arns.extend(self.list_tasks(cluster, name, true).await?);
            }
            Ok::<_, Error>(arns)
        }))
        .await;
        // (owner, ARN, from the cluster listing).
        let mut task_arns: Vec<(String, String, bool)> = Vec::new();
        for (r, (name, _)) in listed.into_iter().zip(wanting.iter()) {
            match r {
                // A service whose cluster listing failed is not described.
                Ok(_) if failed.contains_key(name) => {}
                Ok(arns) => task_arns.extend(arns.into_iter().map(|a| (name.clone(), a, false))),
                Err(e) => {
                    failed.entry(name.clone()).or_insert(e);
                }
            }
        }
        task_arns.extend(
            cluster_listed
                .into_iter()
                .flatten()
                .map(|(owner, arn)| (owner, arn, true)),
        );

        // 3. DescribeTasks, 100 per call.
        let described = join_all(task_arns.chunks(100).map(|chunk| async move {
            match self.call(Op::DescribeTasks).await {
                Ok(()) => {
                    let pairs: Vec<(String, String)> = chunk
                        .iter()
                        .map(|(n, a, _)| (n.clone(), a.clone()))
                        .collect();
                    Ok(self.describe_listed_tasks(cluster, &pairs))
                }
                Err(e) => Err((chunk, e)),
            }
        }))
        .await;
        let mut tasks: Vec<(String, TaskObservation)> = Vec::new();
        for r in described {
            match r {
                Ok(v) => tasks.extend(v),
                Err((chunk, e)) => {
                    for (name, _, _) in chunk {
                        failed.insert(name.clone(), e.clone());
                    }
                    // A cluster listing's ARNs do not say whose they are: every service that
                    // relied on it fails.
                    if chunk.iter().any(|(_, _, from_cluster)| *from_cluster) {
                        for (name, _) in &wanting {
                            failed.insert(name.clone(), e.clone());
                        }
                    }
                }
            }
        }
        // Only the observed services' tasks go on (a cluster listing has every service's).
        let observed: std::collections::HashSet<&str> =
            active.iter().map(|(n, _)| n.as_str()).collect();
        tasks.retain(|(name, _)| observed.contains(name.as_str()));

        // 4. DescribeNetworkInterfaces, 200 ENIs per call.
        let enis: Vec<(String, String)> = tasks
            .iter()
            .filter_map(|(name, t)| t.eni_id.clone().map(|e| (name.clone(), e)))
            .collect();
        let described = join_all(enis.chunks(200).map(|chunk| async move {
            let ids: Vec<String> = chunk.iter().map(|(_, e)| e.clone()).collect();
            let looked = lookup_without_missing(
                &ids,
                |ask: Vec<String>| async move {
                    self.call(Op::DescribeNetworkInterfaces).await?;
                    let ask: Vec<(String, String)> = chunk
                        .iter()
                        .filter(|(_, e)| ask.contains(e))
                        .cloned()
                        .collect();
                    self.describe_enis(cluster, &ask)
                },
                |e: &Error| match e {
                    Error::Call { code, message, .. } if code == ENI_NOT_FOUND => {
                        Some(eni_ids_in(message))
                    }
                    _ => None,
                },
            )
            .await;
            looked.map_err(|e| (chunk, e))
        }))
        .await;
        let mut public: HashMap<String, String> = HashMap::new();
        let mut unknown_enis: std::collections::HashSet<String> = Default::default();
        for r in described {
            match r {
                Ok((v, unknown)) => {
                    public.extend(v);
                    unknown_enis.extend(unknown);
                }
                Err((chunk, e)) => {
                    for (name, _) in chunk {
                        failed.insert(name.clone(), e.clone());
                    }
                }
            }
        }

        // Assemble.
        let mut by_service: HashMap<String, Vec<TaskObservation>> = HashMap::new();
        for (name, mut t) in tasks {
            t.public_ip = t.eni_id.as_ref().and_then(|e| public.get(e).cloned());
            t.address_unknown = t.eni_id.as_ref().is_some_and(|e| unknown_enis.contains(e));
            by_service.entry(name).or_default().push(t);
        }
        for (name, mut obs) in active {
            if let Some(e) = failed.remove(&name) {
                out.insert(name, Observed::Error(e));
                continue;
            }
            let mut ts = by_service.remove(&name).unwrap_or_default();
            ts.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.arn.cmp(&a.arn)));
            obs.tasks = ts;
            out.insert(name, Observed::Found(obs));
        }
        out
    }

    /// Whether a cluster listing of `cluster` was abandoned less than
    /// [`CLUSTER_LISTING_BACKOFF`] ago (simulated time).
    fn backing_off(&self, cluster: &str) -> bool {
        let now = self.clock.now();
        self.cluster_backoff
            .lock()
            .expect("sim cluster backoff")
            .get(cluster)
            .is_some_and(|until| now < *until)
    }

    /// Lists `cluster`'s running tasks per service for [`CLUSTER_LISTING_BACKOFF`].
    fn back_off(&self, cluster: &str) {
        let now = self.clock.now();
        let mut backoff = self.cluster_backoff.lock().expect("sim cluster backoff");
        backoff.retain(|_, until| now < *until);
        backoff.insert(cluster.to_owned(), now.add(CLUSTER_LISTING_BACKOFF));
    }

    /// `ListTasks(cluster, desiredStatus RUNNING)`: every service's running tasks of the
    /// cluster as (service, ARN), one call per 100 (at least one), at most `plan.max_pages`
    /// calls: `Ok(None)` when the listing has more pages (abandoned after that many, as the
    /// `ecs` adapter does). Pagination faults as in [`SimPlatform::list_tasks`].
    async fn list_cluster_tasks(
        &self,
        cluster: &str,
        plan: ClusterListing,
    ) -> Result<Option<Vec<(String, String)>>> {
        let now = self.clock.now();
        let config = self.config();
        let arns: Vec<(String, String)> = {
            let mut w = self.world();
            let World {
                clusters,
                next_task,
                ..
            } = &mut *w;
            let mut arns = Vec::new();
            for (name, s) in clusters.get_mut(cluster).into_iter().flatten() {
                settle(s, cluster, name, now, &config, next_task);
                arns.extend(
                    s.tasks
                        .iter()
                        .filter(|t| t.created_at <= now)
                        .map(|t| t.observe(now, &config))
                        .filter(|t| t.desired_status == TaskStatus::Running)
                        .map(|t| (name.clone(), t.arn)),
                );
            }
            arns
        };
        let complete = self.list_pages(arns.len(), Some(plan.max_pages)).await?;
        Ok(complete.then_some(arns))
    }

    /// The `ListTasks` calls of a listing of `listed` ARNs (one per 100, at least one), the
    /// tokens followed through the shared [`PageGuard`] (a [`Fault::RepeatToken`] or
    /// [`Fault::EndlessTokens`] queued for [`Op::ListTasks`] makes the pages not end); with
    /// `at_most`, a listing with more pages is given up after that many (`false`).
    async fn list_pages(&self, listed: usize, at_most: Option<usize>) -> Result<bool> {
        let fault = self
            .world()
            .faults
            .get_mut(&Op::ListTasks)
            .and_then(|q| q.pop_front_if(|f| f.is_pagination()));
        let pages = listed.div_ceil(100).max(1);
        // One page more than `at_most`, so the guard's own limit never ends a listing first.
        let limit = at_most.map_or(LIST_TASKS_MAX_PAGES, |n| n + 1);
        let mut guard = PageGuard::new(Op::ListTasks.as_str(), limit);
        let mut page = 0usize;
        loop {
            self.call(Op::ListTasks).await?;
            page += 1;
            let next = match fault {
                Some(Fault::RepeatToken) => Some("page-1".to_string()),
                Some(Fault::EndlessTokens) => Some(format!("page-{page}")),
                _ => (page < pages).then(|| format!("page-{page}")),
            };
            match guard.next(next)? {
                None => return Ok(true),
                Some(_) if at_most.is_some_and(|n| guard.pages() >= n) => return Ok(false),
                Some(_) => {}
            }
        }
    }

    /// `ListTasks` for one service, all pages ([`SimPlatform::list_pages`]). Tasks not started yet ([`SimConfig::task_start_delay`]) are not listed.
    async fn list_tasks(&self, cluster: &str, service: &str, stopped: bool) -> Result<Vec<String>> {
        let arns = self.with_service(cluster, service, |s, now, c| {
            s.tasks
                .iter()
                .filter(|t| t.created_at <= now)
                .map(|t| t.observe(now, c))
                .filter(|t| (t.desired_status == TaskStatus::Running) != stopped)
                .map(|t| t.arn)
                .collect::<Vec<_>>()
        });
        let arns = arns.unwrap_or_default();
        self.list_pages(arns.len(), None).await?;
        Ok(arns)
    }

    fn describe_services(&self, cluster: &str, names: &[String]) -> Vec<(String, Described)> {
        names
            .iter()
            .map(|name| {
                let d = self
                    .with_service(cluster, name, |s, now, c| {
                        if s.status != "ACTIVE" {
                            return Described::NotActive(s.status);
                        }
                        let obs: Vec<TaskObservation> = s
                            .tasks
                            .iter()
                            .filter(|t| t.created_at <= now)
                            .map(|t| t.observe(now, c))
                            .collect();
                        let live = |t: &&TaskObservation| t.desired_status == TaskStatus::Running;
                        // Like ECS: every task in the RUNNING state, also one being stopped.
                        let running_count = obs
                            .iter()
                            .filter(|t| t.last_status == TaskStatus::Running)
                            .count() as u32;
                        let pending_count = obs
                            .iter()
                            .filter(live)
                            .filter(|t| t.last_status < TaskStatus::Running)
                            .count() as u32;
                        let steady = running_count == s.desired && pending_count == 0;
                        Described::Active(ServiceObservation {
                            desired_count: s.desired,
                            running_count,
                            pending_count,
                            tasks: Vec::new(),
                            deployments: vec![DeploymentObservation {
                                id: s.deployment.id.clone(),
                                status: DeploymentStatus::Primary,
                                desired_count: s.desired,
                                running_count,
                                pending_count,
                                created_at: Some(s.deployment.created_at),
                                updated_at: Some(s.deployment.updated_at),
                                rollout_state: Some(if steady {
                                    RolloutState::Completed
                                } else {
                                    RolloutState::InProgress
                                }),
                            }],
                            load_balancers: s.load_balancers.clone(),
                            route: Default::default(),
                            size: Some(s.size.unwrap_or(c.task_size)),
                        })
                    })
                    .unwrap_or(Described::Missing);
                (name.clone(), d)
            })
            .collect()
    }

    /// DescribeTasks for listed tasks (service, ARN) of one cluster.
    fn describe_listed_tasks(
        &self,
        cluster: &str,
        arns: &[(String, String)],
    ) -> Vec<(String, TaskObservation)> {
        arns.iter()
            .filter_map(|(name, arn)| {
                self.with_service(cluster, name, |s, now, c| {
                    s.tasks
                        .iter()
                        .find(|t| &t.arn == arn && t.created_at <= now)
                        .map(|t| {
                            let mut o = t.observe(now, c);
                            o.public_ip = None; // only DescribeNetworkInterfaces tells
                            (name.clone(), o)
                        })
                })
                .flatten()
            })
            .collect()
    }

    /// DescribeNetworkInterfaces for `enis` (service, ENI id): (ENI id, public IP) of those
    /// with a public IP, or `InvalidNetworkInterfaceID.NotFound` naming the ENIs EC2 does not
    /// know yet ([`SimConfig::eni_not_found`]).
    fn describe_enis(
        &self,
        cluster: &str,
        enis: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let mut unknown = Vec::new();
        let mut found = Vec::new();
        for (name, eni) in enis {
            let seen = self.with_service(cluster, name, |s, now, c| {
                s.tasks
                    .iter()
                    .find(|t| &t.eni_id == eni)
                    .map(|t| (now >= t.eni_at(c).add(c.eni_not_found), t.observe(now, c)))
            });
            match seen.flatten() {
                Some((false, _)) => unknown.push(eni.clone()),
                Some((true, t)) => found.extend(t.public_ip.map(|ip| (eni.clone(), ip))),
                None => {}
            }
        }
        if unknown.is_empty() {
            return Ok(found);
        }
        let message = if unknown.len() == 1 {
            format!("The networkInterface ID '{}' does not exist", unknown[0])
        } else {
            format!(
                "The networkInterface IDs '{}' do not exist",
                unknown.join(", ")
            )
        };
        Err(Error::Call {
            operation: Op::DescribeNetworkInterfaces.as_str(),
            code: ENI_NOT_FOUND.into(),
            message,
            retryable: false,
        })
    }

    /// Runs `f` on a settled service (scheduler caught up to now); `None` when it does not exist.
    fn with_service<T>(
        &self,
        cluster: &str,
        service: &str,
        f: impl FnOnce(&SimService, Timestamp, &SimConfig) -> T,
    ) -> Option<T> {
        let now = self.clock.now();
        let config = self.config();
        let mut w = self.world();
        let World {
            clusters,
            next_task,
            ..
        } = &mut *w;
        let s = clusters.get_mut(cluster)?.get_mut(service)?;
        settle(s, cluster, service, now, &config, next_task);
        Some(f(s, now, &config))
    }
}

/// The counts of `o` for [`listing::plan`].
fn counts_of(o: &ServiceObservation) -> Counts {
    Counts {
        desired: u64::from(o.desired_count),
        running: u64::from(o.running_count),
        pending: u64::from(o.pending_count),
    }
}

enum Described {
    Missing,
    NotActive(&'static str),
    Active(ServiceObservation),
}

impl World {
    fn service_mut(&mut self, cluster: &str, service: &str) -> Option<&mut SimService> {
        self.clusters.get_mut(cluster)?.get_mut(service)
    }
}

/// Shortest time a task that fails to start lives (keeps the scheduler loop finite).
const MIN_FAILED_START: Duration = Duration::from_secs(1);
/// Most replacement tasks the scheduler starts in one catch-up.
const MAX_LAUNCHES_PER_SETTLE: usize = 1000;
/// Most stopped tasks listed per service.
const MAX_STOPPED_KEPT: usize = 20;
/// Most stopped tasks beyond [`MAX_STOPPED_KEPT`] still described by ARN per service (bounds
/// memory; within [`SimConfig::stopped_retention`] a ledger normally asks long before).
const MAX_FORGOTTEN_KEPT: usize = 10_000;

impl SimTask {
    fn eni_at(&self, c: &SimConfig) -> Timestamp {
        self.created_at.add(c.provisioning)
    }

    fn running_at(&self, c: &SimConfig) -> Timestamp {
        let t = self.eni_at(c).add(c.pending);
        if self.fail_start.is_some() {
            t.max(self.created_at.add(MIN_FAILED_START))
        } else {
            t
        }
    }

    /// The effective stop: (when desiredStatus became STOPPED, when lastStatus becomes
    /// STOPPED, code, reason, by the scheduler's scale-in).
    fn effective_stop(&self, c: &SimConfig) -> Option<(Timestamp, Timestamp, &str, &str, bool)> {
        let run = self.running_at(c);
        match (&self.stop, &self.fail_start) {
            (Some(s), fail) if fail.is_none() || s.at < run => Some((
                s.at,
                s.at.add(c.stopping),
                &s.code,
                &s.reason,
                s.code == "ServiceSchedulerInitiated",
            )),
            (_, Some((code, reason))) => Some((run, run, code, reason, false)),
            _ => None,
        }
    }

    /// When the task stopped by itself (failed start, died), needing a replacement.
    fn self_stop_at(&self, c: &SimConfig) -> Option<Timestamp> {
        self.effective_stop(c)
            .filter(|(_, _, _, _, by_scheduler)| !by_scheduler)
            .map(|(at, ..)| at)
    }

    fn live_at(&self, t: Timestamp, c: &SimConfig) -> bool {
        self.created_at <= t && self.effective_stop(c).is_none_or(|(at, ..)| at > t)
    }

    fn observe(&self, now: Timestamp, c: &SimConfig) -> TaskObservation {
        let mut o = TaskObservation::new(
            self.arn.clone(),
            TaskStatus::Provisioning,
            TaskStatus::Running,
        );
        o.created_at = Some(self.created_at);
        o.size = Some(self.size);
        // The pull starts when PROVISIONING ends, if the task was not stopped before.
        let pull = self.eni_at(c);
        if now >= pull && self.effective_stop(c).is_none_or(|(at, ..)| at >= pull) {
            o.pull_started_at = Some(pull);
        }
        let run = self.running_at(c);
        let stop = self.effective_stop(c).filter(|(at, ..)| *at <= now);
        let reached_running = now >= run && stop.is_none_or(|(at, ..)| at > run);
        if let Some((at, done, code, reason, by_scheduler)) = stop {
            // desiredStatus STOPPED at once. A task the scheduler scales in keeps its
            // lastStatus for the first half of the stop (draining), then STOPPING, then
            // STOPPED; a task that died is STOPPING at once.
            o.desired_status = TaskStatus::Stopped;
            o.stop_code = Some(code.to_string());
            o.stopped_reason = Some(reason.to_string());
            let half = at.add(done.since(at) / 2);
            o.last_status = if now >= done {
                o.stopped_at = Some(done);
                TaskStatus::Stopped
            } else if now >= half || !by_scheduler {
                TaskStatus::Stopping
            } else if at >= run {
                TaskStatus::Running
            } else if at >= self.eni_at(c) {
                TaskStatus::Pending
            } else {
                TaskStatus::Provisioning
            };
        } else if now < self.eni_at(c) {
            o.last_status = TaskStatus::Provisioning;
        } else if now < run {
            o.last_status = TaskStatus::Pending;
        } else {
            o.last_status = TaskStatus::Running;
        }
        if reached_running && self.fail_start.is_none() {
            o.started_at = Some(run);
            o.health = c.health_check.map(|h| {
                if now >= run.add(h) {
                    Health::Healthy
                } else {
                    Health::Unknown
                }
            });
        }
        if now >= self.eni_at(c) && o.last_status != TaskStatus::Stopped {
            o.eni_id = Some(self.eni_id.clone());
            o.private_ip = Some(self.private_ip.clone());
            if now >= self.eni_at(c).add(c.eni_delay) {
                o.public_ip = self.public_ip.clone();
            }
        }
        o
    }
}

fn launch(s: &mut SimService, cluster: &str, at: Timestamp, c: &SimConfig, next_task: &mut u64) {
    *next_task += 1;
    let n = *next_task;
    let size = s.size.unwrap_or(c.task_size);
    s.tasks.push(SimTask {
        size,
        arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{n:032x}"),
        created_at: at.add(c.task_start_delay),
        fail_start: s.start_failure.clone(),
        stop: None,
        replaced: false,
        eni_id: format!("eni-{n:017x}"),
        private_ip: format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
        // 198.18.0.0/15: the benchmarking range; nothing is ever sent to these addresses.
        public_ip: c.public_ip.then(|| {
            format!(
                "198.{}.{}.{}",
                18 + ((n >> 16) & 1),
                (n >> 8) & 0xff,
                n & 0xff
            )
        }),
    });
}

/// The ECS scheduler catching up to `now`: replaces tasks that stopped by themselves while the
/// service wants more, and forgets old stopped tasks.
fn settle(
    s: &mut SimService,
    cluster: &str,
    service: &str,
    now: Timestamp,
    c: &SimConfig,
    next_task: &mut u64,
) {
    schedule(s, cluster, service, now, c, next_task);
    // Another writer puts desiredCount back up `after` the change that took it below `min`.
    if let Some(w) = s.other_writer
        && s.status == "ACTIVE"
        && s.desired < w.min
    {
        let at = s.deployment.updated_at.add(w.after);
        if at <= now {
            schedule(s, cluster, service, at, c, next_task);
            apply_desired(s, cluster, w.min, at, c, next_task);
            s.other_writes += 1;
            schedule(s, cluster, service, now, c, next_task);
        }
    }
}

/// The scheduler part of [`settle`].
fn schedule(
    s: &mut SimService,
    cluster: &str,
    _service: &str,
    now: Timestamp,
    c: &SimConfig,
    next_task: &mut u64,
) {
    let mut launches = 0;
    loop {
        let next = s
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.replaced)
            .filter_map(|(i, t)| t.self_stop_at(c).filter(|at| *at <= now).map(|at| (at, i)))
            .min();
        let Some((at, i)) = next else { break };
        s.tasks[i].replaced = true;
        let live = s.tasks.iter().filter(|t| t.live_at(at, c)).count() as u32;
        if s.status == "ACTIVE" && live < s.desired && launches < MAX_LAUNCHES_PER_SETTLE {
            launch(s, cluster, at, c, next_task);
            launches += 1;
        }
    }
    // Forget stopped tasks past retention, and list all but the newest few (the others stay
    // describable by ARN until retention).
    let horizon = now.sub(c.stopped_retention);
    let recent = |t: &SimTask| {
        t.effective_stop(c)
            .is_none_or(|(_, done, ..)| done > horizon)
    };
    s.tasks.retain(recent);
    s.forgotten.retain(recent);
    if s.forgotten.len() > MAX_FORGOTTEN_KEPT {
        let excess = s.forgotten.len() - MAX_FORGOTTEN_KEPT;
        s.forgotten.drain(..excess);
    }
    let stopped: Vec<usize> = s
        .tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.effective_stop(c).is_some_and(|(_, done, ..)| done <= now))
        .map(|(i, _)| i)
        .collect();
    if stopped.len() > MAX_STOPPED_KEPT {
        let drop: std::collections::HashSet<usize> = stopped[..stopped.len() - MAX_STOPPED_KEPT]
            .iter()
            .copied()
            .collect();
        let mut i = 0;
        let mut gone = Vec::new();
        s.tasks.retain(|t| {
            let keep = !drop.contains(&i);
            if !keep {
                gone.push(t.clone());
            }
            i += 1;
            keep
        });
        s.forgotten.extend(gone);
    }
}

/// UpdateService(desiredCount): the scheduler starts or stops tasks now.
fn set_desired(
    s: &mut SimService,
    cluster: &str,
    service: &str,
    desired: u32,
    now: Timestamp,
    c: &SimConfig,
    next_task: &mut u64,
) {
    settle(s, cluster, service, now, c, next_task);
    apply_desired(s, cluster, desired, now, c, next_task);
}

/// A new desiredCount at `now` on a settled service: the PRIMARY deployment moves, the
/// scheduler starts tasks (visible after [`SimConfig::task_start_delay`]) or stops the newest.
fn apply_desired(
    s: &mut SimService,
    cluster: &str,
    desired: u32,
    now: Timestamp,
    c: &SimConfig,
    next_task: &mut u64,
) {
    if s.desired != desired {
        s.deployment.updated_at = now;
    }
    s.desired = desired;
    // Tasks not started yet count as live (the scheduler already launched them).
    let unstarted = |t: &SimTask| t.created_at > now && t.stop.is_none();
    let mut live: Vec<usize> = (0..s.tasks.len())
        .filter(|i| s.tasks[*i].live_at(now, c) || unstarted(&s.tasks[*i]))
        .collect();
    while (live.len() as u32) < desired {
        launch(s, cluster, now, c, next_task);
        live.push(s.tasks.len() - 1);
    }
    // Scale in: stop the newest tasks first; one not started yet never appears.
    live.sort_by_key(|i| std::cmp::Reverse((s.tasks[*i].created_at, *i)));
    let excess = live.len().saturating_sub(desired as usize);
    let mut never = Vec::new();
    for i in live.into_iter().take(excess) {
        if s.tasks[i].created_at > now {
            never.push(i);
            continue;
        }
        s.tasks[i].stop = Some(Stop {
            at: now,
            code: "ServiceSchedulerInitiated".into(),
            reason: format!(
                "Scaling activity initiated by (deployment ecs-svc/{:019})",
                i as u64 + 4_000_000_000_000_000_000
            ),
        });
    }
    never.sort_unstable();
    for i in never.into_iter().rev() {
        s.tasks.remove(i);
    }
}

#[async_trait]
impl Platform for SimPlatform {
    async fn observe(&self, targets: &[Target]) -> Result<Vec<Observed>> {
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for t in targets {
            if let Target::Ecs(e) = t {
                let v = by_cluster.entry(e.cluster.as_str()).or_default();
                if !v.contains(&e.service) {
                    v.push(e.service.clone());
                }
            }
        }
        let results = join_all(by_cluster.iter().map(|(cluster, services)| async move {
            (*cluster, self.observe_cluster(cluster, services).await)
        }))
        .await;
        let results: HashMap<&str, HashMap<String, Observed>> = results.into_iter().collect();
        Ok(targets
            .iter()
            .map(|t| match t {
                Target::Ecs(e) => results
                    .get(e.cluster.as_str())
                    .and_then(|m| m.get(&e.service))
                    .cloned()
                    .unwrap_or_else(|| Observed::Missing {
                        message: format!(
                            "service {} not found in cluster {}",
                            e.service, e.cluster
                        ),
                    }),
                Target::Local(_) => Observed::Error(Error::Unsupported(
                    "the sim platform runs ECS targets only, not local processes".into(),
                )),
            })
            .collect())
    }

    async fn scale(&self, target: &Target, replicas: u32) -> Result<()> {
        let Target::Ecs(e) = target else {
            return Err(Error::Unsupported(
                "the sim platform runs ECS targets only, not local processes".into(),
            ));
        };
        self.call(Op::UpdateService).await?;
        let now = self.clock.now();
        let config = self.config();
        let mut w = self.world();
        let World {
            clusters,
            next_task,
            ..
        } = &mut *w;
        let Some(s) = clusters
            .get_mut(&e.cluster)
            .and_then(|c| c.get_mut(&e.service))
        else {
            return Err(Error::Call {
                operation: "UpdateService",
                code: "ServiceNotFoundException".into(),
                message: "Service not found.".into(),
                retryable: false,
            });
        };
        if s.status != "ACTIVE" {
            return Err(Error::Call {
                operation: "UpdateService",
                code: "ServiceNotActiveException".into(),
                message: "Service was not ACTIVE.".into(),
                retryable: false,
            });
        }
        set_desired(s, &e.cluster, &e.service, replicas, now, &config, next_task);
        self.scale_calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `DescribeTasks` by ARN, 100 per call (each ARN once): the service's tasks in any state,
    /// stopped ones for [`SimConfig::stopped_retention`] after their stop even when no longer
    /// listed; ARNs it does not know (any more) are left out. No ENI lookup: `public_ip` is
    /// `None`.
    async fn describe_tasks(
        &self,
        target: &Target,
        arns: &[String],
    ) -> Result<Vec<TaskObservation>> {
        let Target::Ecs(e) = target else {
            return Err(Error::Unsupported(
                "the sim platform runs ECS targets only, not local processes".into(),
            ));
        };
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&String> = arns.iter().filter(|a| seen.insert(*a)).collect();
        let mut out = Vec::new();
        for chunk in unique.chunks(100) {
            self.call(Op::DescribeTasks).await?;
            let found = self.with_service(&e.cluster, &e.service, |s, now, c| {
                chunk
                    .iter()
                    .filter_map(|arn| {
                        s.tasks
                            .iter()
                            .chain(&s.forgotten)
                            .find(|t| &&t.arn == arn && t.created_at <= now)
                            .map(|t| {
                                let mut o = t.observe(now, c);
                                o.public_ip = None;
                                o
                            })
                    })
                    .collect::<Vec<_>>()
            });
            out.extend(found.unwrap_or_default());
        }
        Ok(out)
    }
}
