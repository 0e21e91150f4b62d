//! Finding ECS services to onboard (`snoozectl discover`): every service of some clusters, with
//! its tags.
//!
//! Calls, per cluster: `ListServices` (all pages, [`LIST_SERVICES_PAGE`] ARNs each, through a
//! [`PageGuard`] of [`LIST_SERVICES_MAX_PAGES`]), then `DescribeServices` with `include: TAGS`,
//! [`DESCRIBE_SERVICES_BATCH`] services per call, [`CONCURRENCY`] calls in flight. Without
//! `--cluster`, the clusters come from `ListClusters` (all pages, [`LIST_CLUSTERS_PAGE`] each,
//! [`LIST_CLUSTERS_MAX_PAGES`] at most). `DescribeServices` with `include: TAGS` returns every
//! tag of the service, so `ListTagsForResource` is never needed (one call per 10 services
//! instead of one per service). Every call is retried on throttling and transient errors like
//! the ECS platform's ([`RetryPolicy`], backon) and counted ([`Discovery::calls`]).
//!
//! [`DiscoveredService`] (what the verb plans from) needs no AWS; [`Discovery`], the client,
//! needs the cargo feature `aws`.

use std::collections::BTreeMap;

#[cfg(feature = "aws")]
pub use client::*;
#[cfg(doc)]
use {
    super::{DESCRIBE_SERVICES_BATCH, RetryPolicy},
    crate::pages::{LIST_CLUSTERS_MAX_PAGES, LIST_SERVICES_MAX_PAGES, PageGuard},
};

/// `maxResults` of ListServices (the API's maximum).
pub const LIST_SERVICES_PAGE: i32 = 100;
/// `maxResults` of ListClusters (the API's maximum).
pub const LIST_CLUSTERS_PAGE: i32 = 100;
/// DescribeServices calls in flight at once.
pub const CONCURRENCY: usize = 8;

/// One ECS service as `DescribeServices` reports it, reduced to what `snoozectl discover`
/// reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveredService {
    /// The cluster's name (the last segment of its ARN), e.g. `prod`.
    pub cluster: String,
    /// The service's name, e.g. `billing-api`.
    pub name: String,
    /// The service's ARN (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME`), for messages.
    pub arn: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// Its `desiredCount` now.
    pub desired_count: i32,
    /// Its tags, key → value (a tag without a value has `""`).
    pub tags: BTreeMap<String, String>,
}

#[cfg(feature = "aws")]
mod client {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use futures::StreamExt as _;

    use super::{CONCURRENCY, DiscoveredService, LIST_CLUSTERS_PAGE, LIST_SERVICES_PAGE};
    use crate::pages::{LIST_CLUSTERS_MAX_PAGES, LIST_SERVICES_MAX_PAGES};
    use crate::platform::ecs::errors::CallError;
    use crate::platform::ecs::sdk::retried;
    use crate::platform::ecs::{DESCRIBE_SERVICES_BATCH, RetryPolicy, load_sdk_config};
    use crate::platform::{PageGuard, PaginationError};

    /// Why a listing stopped: a call that failed after its retries, or pages that did not end.
    #[derive(Clone, Debug, thiserror::Error)]
    pub enum DiscoverError {
        /// An AWS call failed (code, message, request id).
        #[error("{0}")]
        Call(CallError),
        /// A paginated call did not end (a repeated token, too many pages).
        #[error(transparent)]
        Pages(#[from] PaginationError),
    }

    impl From<CallError> for DiscoverError {
        fn from(e: CallError) -> Self {
            Self::Call(e)
        }
    }

    /// Lists clusters and services with their tags (see the module docs). Cheap to share.
    pub struct Discovery {
        ecs: aws_sdk_ecs::Client,
        retry: RetryPolicy,
        calls: Mutex<BTreeMap<&'static str, u64>>,
    }

    impl Discovery {
        /// A discovery over this client; its own SDK retry is switched off (this retries with
        /// [`RetryPolicy`] and counts every request).
        pub fn new(ecs: aws_sdk_ecs::Client) -> Self {
            let no_retry = aws_smithy_types::retry::RetryConfig::disabled();
            let ecs = aws_sdk_ecs::Client::from_conf(
                ecs.config().to_builder().retry_config(no_retry).build(),
            );
            Self {
                ecs,
                retry: RetryPolicy::default(),
                calls: Mutex::default(),
            }
        }

        /// A discovery from the usual AWS configuration chain ([`load_sdk_config`]: `region`
        /// from `--region`, `endpoint_url` from `--endpoint-url`).
        pub async fn from_options(region: Option<String>, endpoint_url: Option<String>) -> Self {
            Self::new(aws_sdk_ecs::Client::new(
                &load_sdk_config(region, endpoint_url).await,
            ))
        }

        /// Replaces the retry policy (tests use short delays).
        pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
            self.retry = retry;
            self
        }

        /// AWS requests sent so far by operation (every attempt counts), e.g.
        /// `{"DescribeServices": 13, "ListServices": 3}`; only operations called appear.
        pub fn calls(&self) -> BTreeMap<&'static str, u64> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }

        async fn call<T, E, F, Fut>(&self, operation: &'static str, f: F) -> Result<T, CallError>
        where
            F: FnMut() -> Fut,
            Fut: std::future::Future<Output = Result<T, aws_sdk_ecs::error::SdkError<E>>>,
            E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        {
            retried(
                &self.retry,
                operation,
                || {
                    let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
                    let n = calls.entry(operation).or_default();
                    *n += 1;
                    *n
                },
                |_| {},
                f,
            )
            .await
        }

        /// The names of every cluster of the account and region (`ListClusters`, all pages),
        /// sorted.
        pub async fn clusters(&self) -> Result<Vec<String>, DiscoverError> {
            let mut names = Vec::new();
            let mut guard = PageGuard::new("ListClusters", LIST_CLUSTERS_MAX_PAGES);
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .call("ListClusters", || {
                        self.ecs
                            .list_clusters()
                            .max_results(LIST_CLUSTERS_PAGE)
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                names.extend(out.cluster_arns().iter().map(|a| last_segment(a)));
                match guard.next(out.next_token().filter(|t| !t.is_empty()).map(String::from))? {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            names.sort();
            names.dedup();
            Ok(names)
        }

        /// Every service of `cluster` (a name or ARN) with its tags, in name order: ARNs from
        /// `ListServices` (all pages), then `DescribeServices` with `include: TAGS`, 10 per
        /// call. A service deleted between the two calls (under `failures`) is left out.
        pub async fn services(
            &self,
            cluster: &str,
        ) -> Result<Vec<DiscoveredService>, DiscoverError> {
            let mut arns: Vec<String> = Vec::new();
            let mut guard = PageGuard::new("ListServices", LIST_SERVICES_MAX_PAGES);
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .call("ListServices", || {
                        self.ecs
                            .list_services()
                            .cluster(cluster)
                            .max_results(LIST_SERVICES_PAGE)
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                arns.extend(out.service_arns().iter().cloned());
                match guard.next(out.next_token().filter(|t| !t.is_empty()).map(String::from))? {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            arns.sort();
            arns.dedup();
            let chunks: Vec<Vec<String>> = arns
                .chunks(DESCRIBE_SERVICES_BATCH)
                .map(<[String]>::to_vec)
                .collect();
            let answers: Vec<Result<Vec<DiscoveredService>, CallError>> =
                futures::stream::iter(chunks)
                    .map(|chunk| async move {
                        let out = self
                            .call("DescribeServices", || {
                                self.ecs
                                    .describe_services()
                                    .cluster(cluster)
                                    .set_services(Some(chunk.clone()))
                                    .include(aws_sdk_ecs::types::ServiceField::Tags)
                                    .send()
                            })
                            .await?;
                        Ok(out
                            .services()
                            .iter()
                            .map(|s| DiscoveredService {
                                cluster: last_segment(s.cluster_arn().unwrap_or(cluster)),
                                name: s.service_name().unwrap_or_default().to_string(),
                                arn: s.service_arn().unwrap_or_default().to_string(),
                                status: s.status().unwrap_or_default().to_string(),
                                desired_count: s.desired_count(),
                                tags: s
                                    .tags()
                                    .iter()
                                    .filter_map(|t| {
                                        Some((
                                            t.key()?.to_string(),
                                            t.value().unwrap_or_default().to_string(),
                                        ))
                                    })
                                    .collect(),
                            })
                            .collect())
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            let mut found = Vec::new();
            for answer in answers {
                found.extend(answer?);
            }
            found.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(found)
        }
    }

    /// `arn:...:cluster/prod` → `prod`; a bare name stays as it is.
    fn last_segment(s: &str) -> String {
        s.rsplit('/').next().unwrap_or(s).to_string()
    }
}
