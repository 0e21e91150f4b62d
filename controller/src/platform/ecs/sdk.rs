//! [`EcsPlatform`]: the ECS platform over the AWS SDK (see the parent module for how it
//! observes and acts).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::DesiredStatus;
use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use tracing::{debug, info, warn};

use super::convert::{
    DefinitionFacts, DescribeServicesView, EniView, ServiceState, ServiceView, TaskDefinitionView,
    TaskView,
};
use super::errors::{CallError, ErrorClass};
use crate::model::{EcsTarget, Target};
use crate::pages::{DESCRIBE_ENIS_MAX_PAGES, LIST_TASKS_MAX_PAGES};
use crate::platform::batch::{eni_ids_in, lookup_without_missing};
use crate::platform::listing::{
    self, CLUSTER_LISTING_BACKOFF, ClusterListing, ClusterPages, Counts,
};
use crate::platform::{Error, Observed, PageGuard, PaginationError, Platform, Result};

/// Services per DescribeServices call (the API's maximum).
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// Tasks per DescribeTasks call (the API's maximum).
pub const DESCRIBE_TASKS_BATCH: usize = 100;
/// ENI ids per DescribeNetworkInterfaces call: the values of one `network-interface-id`
/// filter (EC2 rejects more than 200 filter values per call with `FilterLimitExceeded`).
pub const ENI_BATCH: usize = 200;
/// `maxResults` of DescribeNetworkInterfaces (the API's maximum; EC2 asks for paginated
/// requests, unpaginated ones are throttled and time out more readily).
pub const ENI_PAGE: i32 = 1000;
/// How many pages of a `ListTasks` listing to read ([`EcsPlatform::list_task_pages`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pages {
    /// Every page ([`LIST_TASKS_MAX_PAGES`] at most, else a pagination error).
    All,
    /// The first page only, of [`STOPPED_TASKS_PAGE`] ARNs (recently stopped tasks).
    First,
    /// At most this many pages; a listing with more is given up (`None`).
    AtMost(usize),
}

/// `maxResults` of ListTasks for running tasks (the API's maximum).
pub const LIST_TASKS_PAGE: i32 = 100;
/// `maxResults` of the one ListTasks page of recently stopped tasks.
pub const STOPPED_TASKS_PAGE: i32 = 20;
/// Calls in flight at once within one observation stage.
pub const CONCURRENCY: usize = 8;

/// The AWS operations this platform calls, for [`EcsPlatform::calls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// ECS DescribeServices.
    DescribeServices,
    /// ECS ListTasks.
    ListTasks,
    /// ECS DescribeTasks.
    DescribeTasks,
    /// ECS DescribeTaskDefinition.
    DescribeTaskDefinition,
    /// EC2 DescribeNetworkInterfaces.
    DescribeNetworkInterfaces,
    /// ECS UpdateService.
    UpdateService,
}

impl Operation {
    /// All operations, in counter order.
    pub const ALL: [Operation; 6] = [
        Self::DescribeServices,
        Self::ListTasks,
        Self::DescribeTasks,
        Self::DescribeTaskDefinition,
        Self::DescribeNetworkInterfaces,
        Self::UpdateService,
    ];

    /// The AWS name, e.g. `DescribeServices`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DescribeServices => "DescribeServices",
            Self::ListTasks => "ListTasks",
            Self::DescribeTasks => "DescribeTasks",
            Self::DescribeTaskDefinition => "DescribeTaskDefinition",
            Self::DescribeNetworkInterfaces => "DescribeNetworkInterfaces",
            Self::UpdateService => "UpdateService",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Retry of throttled and transient calls: jittered exponential backoff (backon).
///
/// Delays start at `min_delay` and double up to `max_delay`; each gets a random jitter of up
/// to its own length; at most `max_retries` retries and `total_delay` of sleeping per call.
/// Default: 200 ms, 3 s, 4 retries, 8 s (a throttled call gives up after about 6 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay. Default 200 ms.
    pub min_delay: Duration,
    /// Largest delay before jitter. Default 3 s.
    pub max_delay: Duration,
    /// Retries after the first attempt. Default 4.
    pub max_retries: usize,
    /// Upper bound on the sum of delays of one call. Default 8 s.
    pub total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            max_retries: 4,
            total_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_total_delay(Some(self.total_delay))
    }
}

/// The AWS configuration of snooze's SDK clients (ECS, EC2, ELBv2): the usual chain (env,
/// profile, IMDS/ECS/Lambda credentials), the SDK's own retry off (callers retry with
/// [`RetryPolicy`] and count every request), with optional overrides:
/// - `region` (flag `--region`): otherwise `AWS_REGION`/`AWS_DEFAULT_REGION`/profile;
/// - `endpoint_url` (flag `--endpoint-url`, for emulators such as moto): sent to every client.
///   With an endpoint and no region configured the region is `us-east-1`; with an endpoint
///   and no `AWS_ACCESS_KEY_ID`/`AWS_PROFILE` in the environment the credentials are the
///   static `test`/`test`.
///
/// Timeouts: 3 s to connect, 5 s per request (a timed-out request is retried like a throttled
/// one, so one call takes at most about 5 × 5 s + 6 s of backoff).
pub async fn load_sdk_config(
    region: Option<String>,
    endpoint_url: Option<String>,
) -> aws_config::SdkConfig {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        );
    let env_region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
    match (region, &endpoint_url, env_region) {
        (Some(r), _, _) => loader = loader.region(aws_config::Region::new(r)),
        (None, Some(_), None) => loader = loader.region(aws_config::Region::new("us-east-1")),
        _ => {}
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
        if env("AWS_ACCESS_KEY_ID").is_none() && env("AWS_PROFILE").is_none() {
            loader = loader.test_credentials();
        }
    }
    loader.load().await
}

/// One AWS call with `retry`: `f` builds and sends the request (once per attempt, after
/// `on_attempt`); a failed attempt is classified ([`CallError::from_sdk`]), shown to
/// `on_error`, logged, and retried when throttled or transient. Shared by every SDK client of
/// the crate that retries by this policy (the ECS platform, the `alb` router).
pub(crate) async fn retried<T, E, F, Fut>(
    retry: &RetryPolicy,
    operation: &'static str,
    on_attempt: impl Fn() -> u64,
    on_error: impl Fn(&CallError),
    mut f: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let attempt = || {
        on_attempt();
        let sent = f();
        let on_error = &on_error;
        async move {
            sent.await.map_err(|e| {
                let e = CallError::from_sdk(operation, &e);
                on_error(&e);
                e
            })
        }
    };
    attempt
        .retry(retry.backoff())
        .sleep(tokio::time::sleep)
        .when(|e: &CallError| e.class.retry_now())
        .notify(|e: &CallError, after: Duration| {
            warn!(operation = e.operation, code = %e.code, message = %e.message,
                  request_id = e.request_id.as_deref().unwrap_or("-"),
                  retry_in_ms = after.as_millis() as u64, "AWS call failed; retrying");
        })
        .await
}

#[derive(Default)]
struct Counters {
    calls: [AtomicU64; 6],
    throttled: [AtomicU64; 6],
}

impl Counters {
    fn snapshot(counts: &[AtomicU64; 6]) -> BTreeMap<&'static str, u64> {
        Operation::ALL
            .iter()
            .map(|op| (op.name(), counts[op.index()].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The [`Platform`] for ECS Fargate services (`spec.target.ecs`).
///
/// Cheap to share behind an `Arc`; keeps a cache of what it read of task definitions (health
/// checks, size, architecture: [`DefinitionFacts`], at most [`DEFINITION_CACHE_CAP`]
/// revisions), the clusters whose tasks it lists per service for a while (a cluster listing
/// of them was abandoned: [`crate::platform::listing`]) and per-operation call counters for
/// its whole life (a warm Lambda keeps all three).
pub struct EcsPlatform {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    retry: RetryPolicy,
    counters: Counters,
    definitions: Mutex<HashMap<String, DefinitionFacts>>,
    /// Whether running tasks may be listed per cluster ([`EcsPlatform::with_cluster_listing`]).
    cluster_listing: bool,
    /// Cluster → until when its running tasks are listed per service.
    cluster_backoff: Mutex<HashMap<String, tokio::time::Instant>>,
}

/// Task definition revisions whose [`DefinitionFacts`] [`EcsPlatform`] remembers before it
/// starts over (each entry is a few hundred bytes).
pub const DEFINITION_CACHE_CAP: usize = 1024;

/// Why a lookup stopped: a failed call, or pages that did not end (shared with the `alb`
/// router, whose reads page the same way).
#[derive(Clone, Debug)]
pub(crate) enum Stop {
    Call(CallError),
    Pages(PaginationError),
}

impl From<CallError> for Stop {
    fn from(e: CallError) -> Self {
        Self::Call(e)
    }
}

impl From<PaginationError> for Stop {
    fn from(e: PaginationError) -> Self {
        Self::Pages(e)
    }
}

impl From<Stop> for Error {
    fn from(s: Stop) -> Self {
        s.into_platform()
    }
}

impl Stop {
    fn into_platform(self) -> Error {
        match self {
            Self::Call(e) => e.into_platform(),
            Self::Pages(e) => {
                warn!(operation = e.operation(), code = e.code(), error = %e, "paginated AWS call did not end");
                Error::Pagination(e)
            }
        }
    }
}

/// (cluster, service) as named by the target.
type Key = (String, String);

/// A listing of step 2 of an observation.
enum ListJob {
    /// The running tasks of a whole cluster.
    Cluster(String, ClusterListing),
    /// One service's tasks with this desiredStatus (RUNNING: all pages; STOPPED: the first).
    Service(Key, DesiredStatus),
}

/// The answer to a [`ListJob`].
enum ListAnswer {
    Cluster(String, Result<ClusterPages, Stop>),
    Service(Key, DesiredStatus, Result<Vec<String>, Stop>),
}

/// The error of an observation whose listed task `arn` DescribeTasks did not return (MISSING),
/// `why` saying whose list is incomplete; transient (the next pass looks again).
fn missing_task(arn: &str, why: String) -> CallError {
    CallError {
        operation: Operation::DescribeTasks.name(),
        code: "MISSING".into(),
        message: format!(
            "listed task {} was not described (MISSING); {why}",
            arn.rsplit('/').next().unwrap_or(arn),
        ),
        request_id: None,
        class: ErrorClass::Transient,
    }
}
/// A call over one chunk of a cluster's names: (cluster, chunk, answer).
type ChunkAnswer<T> = (String, Vec<String>, Result<T, CallError>);

impl EcsPlatform {
    /// A platform over these clients. Their own SDK retry is switched off (this platform
    /// retries with [`RetryPolicy`] and counts every request); everything else about them
    /// (region, endpoint, credentials, timeouts) is kept.
    pub fn new(ecs: aws_sdk_ecs::Client, ec2: aws_sdk_ec2::Client) -> Self {
        let no_retry = aws_smithy_types::retry::RetryConfig::disabled();
        let ecs = aws_sdk_ecs::Client::from_conf(
            ecs.config()
                .to_builder()
                .retry_config(no_retry.clone())
                .build(),
        );
        let ec2 = aws_sdk_ec2::Client::from_conf(
            ec2.config().to_builder().retry_config(no_retry).build(),
        );
        Self {
            ecs,
            ec2,
            retry: RetryPolicy::default(),
            counters: Counters::default(),
            definitions: Mutex::default(),
            cluster_listing: true,
            cluster_backoff: Mutex::default(),
        }
    }

    /// A platform from a loaded AWS configuration (one `SdkConfig` can serve the store too).
    pub fn from_sdk_config(conf: &aws_config::SdkConfig) -> Self {
        Self::new(
            aws_sdk_ecs::Client::new(conf),
            aws_sdk_ec2::Client::new(conf),
        )
    }

    /// A platform from the usual AWS configuration chain ([`load_sdk_config`]: `region` from
    /// the flag `--region`, `endpoint_url` from `--endpoint-url`, sent to both ECS and EC2).
    pub async fn from_options(region: Option<String>, endpoint_url: Option<String>) -> Self {
        Self::from_sdk_config(&load_sdk_config(region, endpoint_url).await)
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether the running tasks of many services of one cluster may be listed with one
    /// cluster listing ([`crate::platform::listing`]; default `true`). `false`: always one
    /// listing per service (the call pattern before cluster listings; tests compare both).
    pub fn with_cluster_listing(mut self, enabled: bool) -> Self {
        self.cluster_listing = enabled;
        self
    }

    /// Whether a cluster listing of `cluster` was abandoned less than
    /// [`CLUSTER_LISTING_BACKOFF`] ago.
    fn backing_off(&self, cluster: &str) -> bool {
        let now = tokio::time::Instant::now();
        self.cluster_backoff
            .lock()
            .expect("cluster backoff lock")
            .get(cluster)
            .is_some_and(|until| now < *until)
    }

    /// Lists `cluster`'s running tasks per service for [`CLUSTER_LISTING_BACKOFF`] (and
    /// forgets clusters whose backoff ended).
    fn back_off(&self, cluster: &str) {
        let now = tokio::time::Instant::now();
        let mut backoff = self.cluster_backoff.lock().expect("cluster backoff lock");
        backoff.retain(|_, until| now < *until);
        backoff.insert(cluster.to_owned(), now + CLUSTER_LISTING_BACKOFF);
    }

    /// AWS requests sent so far, per operation (every attempt counts, retries included), e.g.
    /// `{"DescribeServices": 1, "DescribeTasks": 2, ...}`; every operation is present.
    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        Counters::snapshot(&self.counters.calls)
    }

    /// Requests answered with throttling so far, per operation.
    pub fn throttled(&self) -> BTreeMap<&'static str, u64> {
        Counters::snapshot(&self.counters.throttled)
    }

    /// One AWS call with counting and retry: `f` builds and sends the request.
    async fn call<T, E, F, Fut>(&self, op: Operation, f: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let counters = &self.counters;
        retried(
            &self.retry,
            op.name(),
            || counters.calls[op.index()].fetch_add(1, Ordering::Relaxed),
            |e| {
                if e.class == ErrorClass::Throttling {
                    counters.throttled[op.index()].fetch_add(1, Ordering::Relaxed);
                }
            },
            f,
        )
        .await
    }

    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<DescribeServicesView, CallError> {
        let out = self
            .call(Operation::DescribeServices, || {
                self.ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(services.to_vec()))
                    .send()
            })
            .await?;
        Ok(DescribeServicesView {
            services: out.services().iter().map(ServiceView::from).collect(),
            failures: out.failures().iter().map(Into::into).collect(),
        })
    }

    /// Task ARNs of `service` with `status`: all pages, or only the first one.
    async fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
        status: DesiredStatus,
        all_pages: bool,
    ) -> Result<Vec<String>, Stop> {
        let pages = if all_pages { Pages::All } else { Pages::First };
        let listed = self
            .list_task_pages(cluster, Some(service), status, pages)
            .await?;
        Ok(listed.unwrap_or_default())
    }

    /// All running task ARNs of `cluster` (`ListTasks(cluster, desiredStatus RUNNING)`, every
    /// service's), at most `plan.max_pages` pages: a listing with more is abandoned
    /// ([`ClusterPages::TooMany`]).
    async fn list_cluster_tasks(
        &self,
        cluster: &str,
        plan: ClusterListing,
    ) -> Result<ClusterPages, Stop> {
        let listed = self
            .list_task_pages(
                cluster,
                None,
                DesiredStatus::Running,
                Pages::AtMost(plan.max_pages),
            )
            .await?;
        Ok(listed.map_or(ClusterPages::TooMany, ClusterPages::Complete))
    }

    /// `ListTasks` of `cluster` (of one `service`, or every service's) with `status`, the
    /// tokens followed through a [`PageGuard`] as `pages` says; `None` when
    /// [`Pages::AtMost`] ran out of pages before the listing ended.
    async fn list_task_pages(
        &self,
        cluster: &str,
        service: Option<&str>,
        status: DesiredStatus,
        pages: Pages,
    ) -> Result<Option<Vec<String>>, Stop> {
        let page_size = match pages {
            Pages::First => STOPPED_TASKS_PAGE,
            Pages::All | Pages::AtMost(_) => LIST_TASKS_PAGE,
        };
        // At most: one page more than the plan, so the guard's own limit never ends a
        // listing first.
        let limit = match pages {
            Pages::AtMost(n) => n + 1,
            Pages::All | Pages::First => LIST_TASKS_MAX_PAGES,
        };
        let mut arns = Vec::new();
        let mut guard = PageGuard::new(Operation::ListTasks.name(), limit);
        let mut token: Option<String> = None;
        loop {
            let out = self
                .call(Operation::ListTasks, || {
                    self.ecs
                        .list_tasks()
                        .cluster(cluster)
                        .set_service_name(service.map(str::to_owned))
                        .desired_status(status.clone())
                        .max_results(page_size)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            arns.extend(out.task_arns().iter().cloned());
            if pages == Pages::First {
                return Ok(Some(arns));
            }
            let next = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            token = guard.next(next)?;
            match (token.as_ref(), pages) {
                (None, _) => return Ok(Some(arns)),
                (Some(_), Pages::AtMost(n)) if guard.pages() >= n => return Ok(None),
                (Some(_), _) => {}
            }
        }
    }

    /// One listing of step 2 of an observation.
    async fn list(&self, job: ListJob) -> ListAnswer {
        match job {
            ListJob::Cluster(cluster, plan) => {
                let r = self.list_cluster_tasks(&cluster, plan).await;
                ListAnswer::Cluster(cluster, r)
            }
            ListJob::Service(key, status) => {
                let all = status == DesiredStatus::Running;
                let r = self.list_tasks(&key.0, &key.1, status.clone(), all).await;
                ListAnswer::Service(key, status, r)
            }
        }
    }

    /// One DescribeTasks call (at most [`DESCRIBE_TASKS_BATCH`] ARNs); tasks ECS reports
    /// under `failures` (MISSING) are simply absent from the answer.
    async fn describe_task_views(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<TaskView>, CallError> {
        let out = self
            .call(Operation::DescribeTasks, || {
                self.ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(arns.to_vec()))
                    .send()
            })
            .await?;
        Ok(out.tasks().iter().map(TaskView::from).collect())
    }

    /// What snooze reads of a task definition revision: one DescribeTaskDefinition per ARN
    /// for the platform's lifetime (a revision never changes), then from the cache. A failed
    /// read is not cached (asked again next time).
    async fn definition_facts(&self, task_definition: &str) -> Result<DefinitionFacts, CallError> {
        if let Some(hit) = self
            .definitions
            .lock()
            .expect("task definition cache lock")
            .get(task_definition)
        {
            return Ok(hit.clone());
        }
        let out = self
            .call(Operation::DescribeTaskDefinition, || {
                self.ecs
                    .describe_task_definition()
                    .task_definition(task_definition)
                    .send()
            })
            .await?;
        let checked = out
            .task_definition()
            .map(|d| TaskDefinitionView::from(d).facts())
            .unwrap_or_default();
        let mut cache = self.definitions.lock().expect("task definition cache lock");
        if cache.len() >= DEFINITION_CACHE_CAP {
            // Task definition revisions are immutable, so starting over only costs a
            // DescribeTaskDefinition per revision in use; it keeps a warm Lambda's memory
            // bounded across many deployments.
            cache.clear();
        }
        cache.insert(task_definition.to_owned(), checked.clone());
        Ok(checked)
    }

    /// The ENIs EC2 describes among `ids`, and the ids it does not know yet. A batch that
    /// fails with `InvalidNetworkInterfaceID.NotFound` is asked again without the ids the
    /// error names (one by one when it names none: [`lookup_without_missing`]), so one ENI
    /// that is not visible yet never hides the others.
    async fn describe_enis(&self, ids: &[String]) -> Result<(Vec<EniView>, Vec<String>), Stop> {
        lookup_without_missing(
            ids,
            |ask| self.describe_enis_pages(ask),
            |e: &Stop| match e {
                Stop::Call(c) if c.is_eni_not_found() => Some(eni_ids_in(&c.message)),
                _ => None,
            },
        )
        .await
    }

    /// One DescribeNetworkInterfaces lookup of `ids` (filter `network-interface-id`), all
    /// pages through a [`PageGuard`].
    async fn describe_enis_pages(&self, ids: Vec<String>) -> Result<Vec<EniView>, Stop> {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("network-interface-id")
            .set_values(Some(ids))
            .build();
        let mut enis = Vec::new();
        let mut guard = PageGuard::new(
            Operation::DescribeNetworkInterfaces.name(),
            DESCRIBE_ENIS_MAX_PAGES,
        );
        let mut token: Option<String> = None;
        loop {
            let out = self
                .call(Operation::DescribeNetworkInterfaces, || {
                    self.ec2
                        .describe_network_interfaces()
                        .filters(filter.clone())
                        .max_results(ENI_PAGE)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            enis.extend(out.network_interfaces().iter().map(EniView::from));
            let next = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            token = guard.next(next)?;
            if token.is_none() {
                return Ok(enis);
            }
        }
    }

    /// Observes distinct ECS services; the core of [`Platform::observe`].
    async fn observe_services(&self, keys: &[Key]) -> HashMap<Key, Observed> {
        let mut done: HashMap<Key, Observed> = HashMap::new();
        let fail = |done: &mut HashMap<Key, Observed>, key: &Key, e: &Stop| {
            done.entry(key.clone())
                .or_insert_with(|| Observed::Error(e.clone().into_platform()));
        };

        // 1. DescribeServices, 10 per call per cluster.
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (cluster, service) in keys {
            by_cluster
                .entry(cluster.as_str())
                .or_default()
                .push(service.clone());
        }
        let jobs: Vec<(String, Vec<String>)> = by_cluster
            .iter()
            .flat_map(|(cluster, services)| {
                services
                    .chunks(DESCRIBE_SERVICES_BATCH)
                    .map(|chunk| (cluster.to_string(), chunk.to_vec()))
            })
            .collect();
        let answers: Vec<ChunkAnswer<DescribeServicesView>> = futures::stream::iter(jobs)
            .map(|(cluster, chunk)| async move {
                let r = self.describe_services(&cluster, &chunk).await;
                (cluster, chunk, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut active: BTreeMap<Key, ServiceView> = BTreeMap::new();
        for (cluster, chunk, answer) in answers {
            for service in chunk {
                let key = (cluster.clone(), service.clone());
                match &answer {
                    Ok(view) => match super::convert::service_state(&cluster, &service, view) {
                        ServiceState::Active(v) => {
                            active.insert(key, v);
                        }
                        ServiceState::Gone(obs) => {
                            done.insert(key, obs);
                        }
                    },
                    Err(e) if e.code == "ClusterNotFoundException" => {
                        done.insert(
                            key,
                            Observed::Missing {
                                message: format!("cluster {cluster} not found"),
                            },
                        );
                    }
                    Err(e) => fail(&mut done, &key, &Stop::Call(e.clone())),
                }
            }
        }

        // 2. ListTasks: the running tasks of services that have or want tasks, per service or
        // once per cluster (`listing::plan`), plus the first page of recently stopped tasks of
        // services missing running tasks.
        let mut needing: BTreeMap<&str, Vec<&Key>> = BTreeMap::new();
        for (key, svc) in &active {
            if svc.has_or_wants_tasks() {
                needing.entry(key.0.as_str()).or_default().push(key);
            }
        }
        let mut jobs: Vec<ListJob> = Vec::new();
        // The services whose running tasks come from their cluster's listing, by cluster.
        let mut relying: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for (cluster, keys) in &needing {
            let counts: Vec<Counts> = keys.iter().map(|k| active[*k].counts()).collect();
            let plan = self
                .cluster_listing
                .then(|| listing::plan(&counts, self.backing_off(cluster)))
                .flatten();
            match plan {
                Some(plan) => {
                    debug!(cluster = %cluster, services = keys.len(), max_pages = plan.max_pages,
                           "listing the cluster's running tasks once");
                    jobs.push(ListJob::Cluster(cluster.to_string(), plan));
                    relying.insert(
                        cluster.to_string(),
                        keys.iter().map(|k| (*k).clone()).collect(),
                    );
                }
                None => jobs.extend(
                    keys.iter()
                        .map(|k| ListJob::Service((*k).clone(), DesiredStatus::Running)),
                ),
            }
        }
        jobs.extend(
            active
                .iter()
                .filter(|(_, svc)| svc.wants_stopped_listing())
                .map(|(key, _)| ListJob::Service(key.clone(), DesiredStatus::Stopped)),
        );
        let mut arns_of: HashMap<Key, Vec<String>> = HashMap::new();
        // The ARNs listed as wanted RUNNING by a per-service listing: each must come back from
        // DescribeTasks.
        let mut running_of: HashMap<Key, Vec<String>> = HashMap::new();
        // The running task ARNs of whole clusters (for the services in `relying`).
        let mut cluster_listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        while !jobs.is_empty() {
            let answers: Vec<ListAnswer> = futures::stream::iter(std::mem::take(&mut jobs))
                .map(|job| self.list(job))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for answer in answers {
                match answer {
                    ListAnswer::Service(key, status, Ok(arns)) => {
                        if status == DesiredStatus::Running {
                            running_of
                                .entry(key.clone())
                                .or_default()
                                .extend(arns.iter().cloned());
                        }
                        arns_of.entry(key).or_default().extend(arns)
                    }
                    ListAnswer::Service(key, _, Err(e)) => fail(&mut done, &key, &e),
                    ListAnswer::Cluster(cluster, Ok(ClusterPages::Complete(arns))) => {
                        cluster_listed.insert(cluster, arns);
                    }
                    ListAnswer::Cluster(cluster, Ok(ClusterPages::TooMany)) => {
                        // More tasks of other services than the listing could afford: these
                        // services are listed one by one now, the cluster for a while.
                        info!(cluster = %cluster, backoff_s = CLUSTER_LISTING_BACKOFF.as_secs(),
                              "cluster listing abandoned (too many tasks of other services); listing per service");
                        self.back_off(&cluster);
                        jobs.extend(
                            relying
                                .remove(&cluster)
                                .into_iter()
                                .flatten()
                                .map(|k| ListJob::Service(k, DesiredStatus::Running)),
                        );
                    }
                    ListAnswer::Cluster(cluster, Err(e)) => {
                        for key in relying.remove(&cluster).into_iter().flatten() {
                            fail(&mut done, &key, &e);
                        }
                    }
                }
            }
        }

        // 3. DescribeTasks, 100 per call per cluster, each ARN once.
        let mut cluster_arns: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (key, arns) in &arns_of {
            if !done.contains_key(key) {
                cluster_arns
                    .entry(key.0.as_str())
                    .or_default()
                    .extend(arns.iter().map(String::as_str));
            }
        }
        for (cluster, arns) in &cluster_listed {
            cluster_arns
                .entry(cluster.as_str())
                .or_default()
                .extend(arns.iter().map(String::as_str));
        }
        let task_jobs: Vec<(String, Vec<String>)> = cluster_arns
            .iter()
            .flat_map(|(cluster, arns)| {
                let arns: Vec<String> = arns.iter().map(|a| a.to_string()).collect();
                arns.chunks(DESCRIBE_TASKS_BATCH)
                    .map(|c| (cluster.to_string(), c.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let described: Vec<ChunkAnswer<Vec<TaskView>>> = futures::stream::iter(task_jobs)
            .map(|(cluster, chunk): (String, Vec<String>)| async move {
                let r = self.describe_task_views(&cluster, &chunk).await;
                (cluster, chunk, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut tasks: HashMap<String, TaskView> = HashMap::new();
        for (cluster, chunk, r) in described {
            match r {
                Ok(found) => tasks.extend(found.into_iter().map(|t| (t.task_arn.clone(), t))),
                Err(e) => {
                    let chunk: HashSet<&String> = chunk.iter().collect();
                    let e = Stop::Call(e);
                    for (key, arns) in &arns_of {
                        if key.0 == *cluster && arns.iter().any(|a| chunk.contains(a)) {
                            fail(&mut done, key, &e);
                        }
                    }
                    // A cluster listing's ARNs do not say whose they are: every service that
                    // relied on it fails.
                    if cluster_listed
                        .get(&cluster)
                        .is_some_and(|arns| arns.iter().any(|a| chunk.contains(a)))
                    {
                        for key in relying.get(&cluster).into_iter().flatten() {
                            fail(&mut done, key, &e);
                        }
                    }
                }
            }
        }

        // A task ListTasks gave as wanted RUNNING that DescribeTasks did not return (it is in
        // the answer's `failures` as MISSING: ECS is eventually consistent right after a task
        // starts): the service's task list is incomplete this time. Its observation fails
        // (the record keeps its last status and is looked at again) instead of showing a
        // service without that task, which would take a Ready service out of Ready.
        for (key, arns) in &running_of {
            if done.contains_key(key) {
                continue;
            }
            if let Some(missing) = arns.iter().find(|a| !tasks.contains_key(*a)) {
                let e = missing_task(
                    missing,
                    format!("the task list of service {} is incomplete this time", key.1),
                );
                fail(&mut done, key, &Stop::Call(e));
            }
        }

        // The tasks of cluster listings, by the service they belong to (their group).
        let mut cluster_own: HashMap<Key, Vec<&str>> = HashMap::new();
        for (cluster, arns) in &cluster_listed {
            for arn in arns {
                let service = tasks
                    .get(arn)
                    .and_then(|t| t.group.as_deref())
                    .and_then(|g| g.strip_prefix("service:"));
                if let Some(service) = service {
                    cluster_own
                        .entry((cluster.clone(), service.to_owned()))
                        .or_default()
                        .push(arn);
                }
            }
        }
        // A cluster listing's task DescribeTasks did not return: it fails only the services
        // that may own it (ECS counts more tasks for them than were described,
        // `listing::may_own_missing`); a service whose tasks were all described is not
        // missing one.
        for (cluster, arns) in &cluster_listed {
            let Some(missing) = arns.iter().find(|a| !tasks.contains_key(*a)) else {
                continue;
            };
            for key in relying.get(cluster).into_iter().flatten() {
                let described = cluster_own.get(key).map_or(0, Vec::len);
                let counts = active[key].counts();
                if !done.contains_key(key) && listing::may_own_missing(&counts, described) {
                    let e = missing_task(
                        missing,
                        format!(
                            "service {} has {described} described tasks of the {} ECS counts, so \
                             its task list may be incomplete this time",
                            key.1,
                            counts.expected()
                        ),
                    );
                    fail(&mut done, key, &Stop::Call(e));
                }
            }
        }

        // Each service's own tasks (by group), for the services still in play.
        let own: BTreeMap<Key, Vec<&TaskView>> = active
            .keys()
            .filter(|k| !done.contains_key(*k))
            .map(|key| {
                let mut seen = HashSet::new();
                let mine = arns_of
                    .get(key)
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .chain(cluster_own.get(key).into_iter().flatten().copied())
                    .filter(|a| seen.insert(*a))
                    .filter_map(|a| tasks.get(a))
                    .filter(|t| t.belongs_to(&key.1))
                    .collect();
                (key.clone(), mine)
            })
            .collect();

        // 4. Task definitions (cached) and ENIs, concurrently: the tasks' definitions (health,
        // size) and each service's PRIMARY one (the service's size; a service without tasks
        // costs one DescribeTaskDefinition per revision for the platform's lifetime).
        let task_defs: BTreeSet<String> = own
            .values()
            .flatten()
            .filter_map(|t| t.task_definition_arn.clone())
            .collect();
        let defs: BTreeSet<String> = own
            .keys()
            .filter_map(|k| active[k].primary_task_definition().map(str::to_owned))
            .chain(task_defs.iter().cloned())
            .collect();
        let eni_ids: Vec<String> = own
            .values()
            .flatten()
            .filter_map(|t| t.eni_id())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let eni_jobs: Vec<Vec<String>> =
            eni_ids.chunks(ENI_BATCH).map(<[String]>::to_vec).collect();
        let defs_fut = futures::stream::iter(defs)
            .map(|d: String| async move {
                let r = self.definition_facts(&d).await;
                (d, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<(String, Result<DefinitionFacts, CallError>)>>();
        let enis_fut = futures::stream::iter(eni_jobs)
            .map(|chunk: Vec<String>| async move {
                let r = self.describe_enis(&chunk).await;
                (chunk, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<(Vec<String>, Result<(Vec<EniView>, Vec<String>), Stop>)>>();
        let (def_answers, eni_answers) = futures::join!(defs_fut, enis_fut);
        let mut checked: HashMap<String, DefinitionFacts> = HashMap::new();
        for (def, r) in def_answers {
            match r {
                Ok(c) => {
                    checked.insert(def, c);
                }
                // Only the services' size needs it: their size is unknown this pass (the
                // observation does not fail for it; the read is tried again next pass).
                Err(e) if !task_defs.contains(&def) => {
                    warn!(task_definition = %def, code = %e.code, message = %e.message,
                          "task definition not read; the service's size is unknown this pass");
                }
                Err(e) => {
                    let e = Stop::Call(e);
                    for (key, ts) in &own {
                        if ts
                            .iter()
                            .any(|t| t.task_definition_arn.as_deref() == Some(def.as_str()))
                        {
                            fail(&mut done, key, &e);
                        }
                    }
                }
            }
        }
        let mut enis: HashMap<String, EniView> = HashMap::new();
        let mut unknown_enis: HashSet<String> = HashSet::new();
        for (chunk, r) in eni_answers {
            match r {
                Ok((found, unknown)) => {
                    if !unknown.is_empty() {
                        debug!(enis = ?unknown, "EC2 does not know these ENIs yet; their tasks' public IPs are unknown this pass");
                    }
                    unknown_enis.extend(unknown);
                    enis.extend(
                        found
                            .into_iter()
                            .map(|e| (e.network_interface_id.clone(), e)),
                    );
                }
                Err(e) => {
                    for (key, ts) in &own {
                        if ts
                            .iter()
                            .any(|t| t.eni_id().is_some_and(|id| chunk.iter().any(|c| c == id)))
                        {
                            fail(&mut done, key, &e);
                        }
                    }
                }
            }
        }

        // 5. Assemble (pure).
        for (key, ts) in &own {
            if done.contains_key(key) {
                continue;
            }
            let svc = &active[key];
            let mut obs = super::convert::service_observation(svc, ts, &checked, &enis);
            for t in &mut obs.tasks {
                t.address_unknown = t
                    .eni_id
                    .as_ref()
                    .is_some_and(|id| unknown_enis.contains(id));
            }
            debug!(cluster = %key.0, service = %key.1, desired_count = obs.desired_count,
                   running = obs.running_count, pending = obs.pending_count, tasks = obs.tasks.len(), "observed");
            done.insert(key.clone(), Observed::Found(obs));
        }
        done
    }
}

#[async_trait]
impl Platform for EcsPlatform {
    #[tracing::instrument(name = "ecs_observe", skip_all, fields(targets = targets.len()))]
    async fn observe(&self, targets: &[Target]) -> Result<Vec<Observed>> {
        let mut keys: Vec<Key> = targets
            .iter()
            .filter_map(|t| match t {
                Target::Ecs(EcsTarget { cluster, service }) => {
                    Some((cluster.clone(), service.clone()))
                }
                Target::Local(_) => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        let observed = self.observe_services(&keys).await;
        Ok(targets
            .iter()
            .map(|t| match t {
                Target::Ecs(EcsTarget { cluster, service }) => observed
                    .get(&(cluster.clone(), service.clone()))
                    .cloned()
                    .unwrap_or_else(|| Observed::Missing {
                        message: format!("service {service} not found in cluster {cluster}"),
                    }),
                Target::Local(l) => Observed::Error(Error::Unsupported(format!(
                    "the ecs platform cannot run local command {:?}",
                    l.command
                ))),
            })
            .collect())
    }

    #[tracing::instrument(name = "ecs_scale", skip_all, fields(replicas))]
    async fn scale(&self, target: &Target, replicas: u32) -> Result<()> {
        let Target::Ecs(EcsTarget { cluster, service }) = target else {
            return Err(Error::Unsupported(
                "the ecs platform only scales ECS services".into(),
            ));
        };
        let desired = i32::try_from(replicas).map_err(|_| Error::Call {
            operation: Operation::UpdateService.name(),
            code: "InvalidParameter".into(),
            message: format!("desiredCount {replicas} is out of range"),
            retryable: false,
        })?;
        info!(cluster = %cluster, service = %service, desired_count = desired, "UpdateService");
        self.call(Operation::UpdateService, || {
            self.ecs
                .update_service()
                .cluster(cluster)
                .service(service)
                .desired_count(desired)
                .send()
        })
        .await
        .map(drop)
        .map_err(CallError::into_platform)
    }

    /// DescribeTasks for `arns` in the target's cluster, [`DESCRIBE_TASKS_BATCH`] per call
    /// (each ARN once), each call retried like every other; tasks ECS reports MISSING (it
    /// describes a stopped task for about an hour) and tasks of another service (group other
    /// than `service:<name>`) are left out. Health and size come from the tasks' task
    /// definitions through the platform's cache; a definition that cannot be read leaves its
    /// tasks' health and size `None` (the stop times still count). ENIs are not described:
    /// `public_ip` is `None` and `private_ip` is the attachment's. Order: ECS's, by call.
    #[tracing::instrument(name = "ecs_describe_tasks", skip_all, fields(arns = arns.len()))]
    async fn describe_tasks(
        &self,
        target: &Target,
        arns: &[String],
    ) -> Result<Vec<crate::platform::TaskObservation>> {
        let Target::Ecs(EcsTarget { cluster, service }) = target else {
            return Err(Error::Unsupported(
                "the ecs platform only describes tasks of ECS services".into(),
            ));
        };
        let mut seen = HashSet::new();
        let unique: Vec<String> = arns
            .iter()
            .filter(|a| seen.insert(a.as_str()))
            .cloned()
            .collect();
        let mut views: Vec<TaskView> = Vec::new();
        for chunk in unique.chunks(DESCRIBE_TASKS_BATCH) {
            let found = self
                .describe_task_views(cluster, chunk)
                .await
                .map_err(CallError::into_platform)?;
            views.extend(found.into_iter().filter(|t| t.belongs_to(service)));
        }
        let defs: BTreeSet<&str> = views
            .iter()
            .filter_map(|t| t.task_definition_arn.as_deref())
            .collect();
        let mut facts: HashMap<&str, DefinitionFacts> = HashMap::new();
        for def in defs {
            match self.definition_facts(def).await {
                Ok(f) => {
                    facts.insert(def, f);
                }
                Err(e) => {
                    warn!(task_definition = %def, code = %e.code, message = %e.message,
                          "task definition not read; its tasks' size is unknown");
                }
            }
        }
        Ok(views
            .iter()
            .filter_map(|t| {
                let f = t.task_definition_arn.as_deref().and_then(|d| facts.get(d));
                super::convert::task_observation(t, f, None)
            })
            .collect())
    }
}
