//! The ECS platform: observes ECS Fargate services (aws-sdk-ecs, aws-sdk-ec2) and sets their
//! `desiredCount`.
//!
//! **Observation is batched** (DESIGN.md §3 step 2), in stages over all targets at once:
//!
//! 1. `DescribeServices`, 10 services per call per cluster. A service under `failures`
//!    (MISSING) is [`Observed::Missing`]; DRAINING/INACTIVE is [`Observed::Inactive`]; a
//!    cluster ECS does not know (`ClusterNotFoundException`) makes its services Missing.
//! 2. `ListTasks`, through [`crate::platform::listing`] (shared with the simulated ECS, which
//!    makes the same calls). Running tasks (desiredStatus RUNNING, all pages) only of ACTIVE
//!    services that have or want tasks (desiredCount, runningCount or pendingCount above 0):
//!    `ListTasks(cluster, serviceName)` per service, or, when at least
//!    [`crate::platform::listing::CLUSTER_LISTING_MIN_SERVICES`] services of one cluster need
//!    it, one `ListTasks(cluster)` for the whole cluster, read to at most the pages that keep
//!    it cheaper than the per-service listings (estimated from the running and pending counts
//!    of step 1). A cluster listing with more pages (tasks of services this observation does
//!    not cover) is abandoned: its services are listed one by one in the same observation and
//!    the cluster per service for [`crate::platform::listing::CLUSTER_LISTING_BACKOFF`]
//!    (remembered by the platform; chosen over a `DescribeClusters` per pass, which would cost
//!    a call and an IAM permission every time; see the `listing` docs). Plus, per service,
//!    the first page of recently stopped tasks (desiredStatus STOPPED), for their stop
//!    reasons, only for services with fewer running tasks than desired (runningCount <
//!    desiredCount): a service running all its tasks makes no such call. A failing cluster
//!    listing fails the observations of exactly the services that relied on it.
//! 3. `DescribeTasks`, 100 tasks per call per cluster (the ARNs of all listings of a cluster
//!    together, each once; a cluster listing's ARNs include other services' running tasks,
//!    which must be described to learn their service). Tasks are matched to services by
//!    `group == "service:<name>"`, never by the ListTasks call that found them (moto ignores
//!    `serviceName`). A task a per-service listing gave as RUNNING that DescribeTasks reports
//!    MISSING (ECS's eventual consistency right after a start) makes that service
//!    [`Observed::Error`] for this pass, never a service without it; a task a cluster listing
//!    gave that is MISSING fails only the services that relied on it and may own it (ECS
//!    counts more tasks for them, `min(desiredCount, runningCount + pendingCount)`, than were
//!    described: [`crate::platform::listing::may_own_missing`]); the others, all of whose
//!    tasks were described, are observed as usual.
//! 4. `DescribeTaskDefinition` for task definitions not seen before (cached per ARN for the
//!    platform's lifetime: a revision never changes, so a steady state makes no such call):
//!    the tasks' definitions, to know which essential containers define a health check and
//!    each task's architecture (`runtimePlatform.cpuArchitecture`, default `X86_64`), and
//!    each observed service's PRIMARY deployment's definition, for the service's size
//!    (task-level `cpu`/`memory`) even while it has no task (a failed read of that one only
//!    leaves the size unknown this pass); and `DescribeNetworkInterfaces` for all task ENIs,
//!    by filter `network-interface-id` (200 ids per call), so an ENI EC2 does not know yet is
//!    normally just absent. When EC2 instead fails the whole batch with
//!    `InvalidNetworkInterfaceID.NotFound`, the batch is asked again without the ids the error
//!    names (one by one when it names none), so the other tasks keep their addresses; the
//!    tasks of the missing ENIs are reported with [`crate::platform::TaskObservation::address_unknown`]
//!    (looked at again next pass).
//! 5. Assembly (pure, `convert`): a task's size is its own `cpu`/`memory` (what Fargate
//!    bills), else its definition's (moto reports none on tasks), with the definition's
//!    architecture; `pullStartedAt` is the task's (moto never reports it: `None`).
//!
//! **Tasks by ARN** ([`crate::platform::Platform::describe_tasks`], for the savings ledger):
//! `DescribeTasks`, 100 ARNs per call in the target's cluster, retried like every call; tasks
//! ECS reports MISSING (it forgets a stopped task after about an hour) and tasks of another
//! service are left out; health and size from the cached definitions, no ENI lookup.
//!
//! **Pagination.** Every paginated call (`ListTasks`, `DescribeNetworkInterfaces`) follows its
//! tokens through a [`PageGuard`]: a token returned twice, or more pages than
//! [`crate::pages`] allows, makes the service [`Observed::Error`] with
//! [`Error::Pagination`] (never a loop, never a partial list taken as complete); a cluster
//! listing stopped at its own page bound is not an error but abandoned (step 2).
//!
//! **Errors.** Every call is retried on throttling (by code *or* message: ECS reports
//! `ClientException: Rate exceeded`) and transient failures with jittered exponential backoff
//! (`RetryPolicy`, backon); the SDK's own retry is disabled so the counts in
//! `EcsPlatform::calls` are real requests. Permanent client errors are not retried and
//! become [`Error::Call`] with `retryable: false`. A failure that concerns some targets is
//! [`Observed::Error`] for those only. Every error carries code, message and request id.
//!
//! **Discovery** ([`discover`], `snoozectl discover`): every service of some clusters with its
//! tags, for onboarding a fleet.
//!
//! Everything here but [`errors`]' classification and [`discover`]'s types needs the cargo feature `aws` (the crate
//! docs): the simulated platform shares that classification, so a build without AWS still
//! simulates ECS's errors as ECS reports them.

#[cfg(doc)]
use crate::platform::{Error, Observed, PageGuard};

#[cfg(feature = "aws")]
pub mod convert;
pub mod discover;
pub mod errors;
#[cfg(feature = "aws")]
mod sdk;

#[cfg(feature = "aws")]
pub use sdk::*;
