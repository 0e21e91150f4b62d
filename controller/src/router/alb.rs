//! [`AlbRouter`]: the router of route mode on AWS (cargo feature `aws`). One shared
//! Application Load Balancer; its HTTPS listener's default action forwards to the wake Lambda's
//! target group, so every host without a rule of its own reaches the wake endpoint. Per
//! route-mode record the router keeps one listener rule (see [`super::rules`] for what a
//! snooze rule is and how it is read):
//!
//! | call | when | ELBv2 operations |
//! |---|---|---|
//! | [`Router::observe`] | every pass with route-mode records | `DescribeRules` (all pages of the listener) + `DescribeTags` (20 rules per call) |
//! | [`Router::point`] | only when the decision changes the route | the same reads, then one `ModifyRule` (weights, and the host condition put back), or `CreateRule` with the lowest free priority |
//! | [`Router::target_health`] | every pass, for route-mode services with tasks | `DescribeTargetHealth`, one per target group, 8 at a time |
//! | [`Router::retain`] | a full pass | the same reads, then `DeleteRule` for each snooze rule whose host no record claims, and for a second rule of one host |
//!
//! A `PriorityInUse` answer to `CreateRule` (another writer took the priority between the read
//! and the create) is handled by reading the listener again and choosing again, at most
//! [`CREATE_ATTEMPTS`] times, never by guessing a number; if the re-read finds that the other
//! writer created this host's rule, that rule is modified instead. Every call is retried on
//! throttling and transient errors by the ECS platform's [`RetryPolicy`].
//!
//! What moto cannot show (rule propagation to the load balancer nodes, which takes a few
//! seconds; health checks of real targets) is checked by `scripts/aws-smoke` on a real account.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{
    Action, ActionTypeEnum, ForwardActionConfig, HostHeaderConditionConfig, Rule, RuleCondition,
    Tag, TargetGroupTuple,
};
use tracing::{info, warn};

use super::rules::{
    self, ActionView, HOST_TAG, RECORD_TAG, RuleView, forward_for, free_priority, owned,
    service_group,
};
use super::{RouteTarget, Router, TargetStates};
use crate::platform::TargetHealth;
use futures::StreamExt;

use crate::platform::ecs::RetryPolicy;
use crate::platform::ecs::errors::CallError;
use crate::platform::ecs::{Stop, retried};
use crate::platform::{Error, PageGuard};

/// `PageSize` of DescribeRules (the API's maximum).
pub const DESCRIBE_RULES_PAGE: i32 = 400;
/// Page limit of DescribeRules: 10 pages of 400 is far beyond the 100-rules-per-listener quota
/// (raisable to a few hundred).
pub const DESCRIBE_RULES_MAX_PAGES: usize = 10;
/// Resource ARNs per DescribeTags call (the API's maximum).
pub const DESCRIBE_TAGS_BATCH: usize = 20;
/// CreateRule attempts when another writer takes the chosen priority first.
pub const CREATE_ATTEMPTS: usize = 5;
/// DescribeTargetHealth calls in flight at once (one per target group).
pub const HEALTH_CONCURRENCY: usize = 8;

/// The `alb` router: listener rules of one shared load balancer.
///
/// Configuration (the reconciler Lambda's environment; `snoozectl reconcile --router alb`):
/// the listener's ARN (`SNOOZE_ALB_LISTENER_ARN`) and the wake Lambda's target group ARN
/// (`SNOOZE_WAKE_TARGET_GROUP_ARN`). Cheap to share behind an `Arc`; holds no state but its
/// request counter.
pub struct AlbRouter {
    elb: elb::Client,
    listener_arn: String,
    wake_group: String,
    retry: RetryPolicy,
    page_size: i32,
    requests: AtomicU64,
}

impl AlbRouter {
    /// A router over `client` (its own SDK retry is switched off: this router retries with
    /// [`RetryPolicy`]) for the listener `listener_arn`, whose wake endpoint is the target
    /// group `wake_target_group`.
    pub fn new(client: elb::Client, listener_arn: String, wake_target_group: String) -> Self {
        let no_retry = aws_smithy_types::retry::RetryConfig::disabled();
        let elb =
            elb::Client::from_conf(client.config().to_builder().retry_config(no_retry).build());
        Self {
            elb,
            listener_arn,
            wake_group: wake_target_group,
            retry: RetryPolicy::default(),
            page_size: DESCRIBE_RULES_PAGE,
            requests: AtomicU64::new(0),
        }
    }

    /// A router over a client built from `conf` ([`crate::platform::ecs::load_sdk_config`]),
    /// its operations counted by `counter` when given (the reconciler's "AWS calls by
    /// operation" metric).
    pub fn from_sdk_config(
        conf: &aws_config::SdkConfig,
        counter: Option<&crate::aws_calls::CallCounter>,
        listener_arn: String,
        wake_target_group: String,
    ) -> Self {
        let mut builder = elb::config::Builder::from(conf);
        if let Some(c) = counter {
            builder = builder.interceptor(c.clone());
        }
        Self::new(
            elb::Client::from_conf(builder.build()),
            listener_arn,
            wake_target_group,
        )
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the `PageSize` of DescribeRules (1..=400; default [`DESCRIBE_RULES_PAGE`]):
    /// tests page through a few rules.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, DESCRIBE_RULES_PAGE);
        self
    }

    /// ELBv2 requests sent so far (every attempt, retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn call<T, E, F, Fut>(&self, op: &'static str, f: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, elb::error::SdkError<E>>>,
        E: elb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        retried(
            &self.retry,
            op,
            || self.requests.fetch_add(1, Ordering::Relaxed),
            |_| {},
            f,
        )
        .await
    }

    /// Every rule of the listener (all pages), with the [`HOST_TAG`] of each non-default rule.
    async fn rules(&self) -> Result<Vec<RuleView>, Stop> {
        let mut views = Vec::new();
        let mut guard = PageGuard::new("DescribeRules", DESCRIBE_RULES_MAX_PAGES);
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .call("DescribeRules", || {
                    self.elb
                        .describe_rules()
                        .listener_arn(&self.listener_arn)
                        .page_size(self.page_size)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            views.extend(out.rules().iter().map(view));
            let next = out
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
            marker = guard.next(next)?;
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = views
            .iter()
            .filter(|r| r.priority.is_some())
            .map(|r| r.arn.clone())
            .collect();
        for chunk in arns.chunks(DESCRIBE_TAGS_BATCH) {
            let out = self
                .call("DescribeTags", || {
                    self.elb
                        .describe_tags()
                        .set_resource_arns(Some(chunk.to_vec()))
                        .send()
                })
                .await?;
            for d in out.tag_descriptions() {
                let host = d
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(HOST_TAG))
                    .and_then(|t| t.value());
                if let (Some(arn), Some(host)) = (d.resource_arn(), host)
                    && let Some(v) = views.iter_mut().find(|v| v.arn == arn)
                {
                    v.host_tag = Some(host.to_string());
                }
            }
        }
        Ok(views)
    }

    async fn modify(&self, arn: &str, host: &str, forward: &[(String, u32)]) -> Result<(), Error> {
        self.call("ModifyRule", || {
            self.elb
                .modify_rule()
                .rule_arn(arn)
                .conditions(host_condition(host))
                .actions(forward_action(forward))
                .send()
        })
        .await
        .map(|_| ())
        .map_err(CallError::into_platform)
    }

    /// Creates the rule of `host`, choosing a free priority from a fresh read of the listener
    /// each attempt; when a re-read finds that another writer created it meanwhile, modifies
    /// that one instead.
    async fn create(
        &self,
        name: &str,
        host: &str,
        forward: &[(String, u32)],
        mut rules: Vec<RuleView>,
    ) -> Result<(), Error> {
        for attempt in 1..=CREATE_ATTEMPTS {
            if attempt > 1 {
                rules = self.rules().await?;
                if let Some(existing) = owned(&rules).get(host).and_then(|v| v.first()) {
                    info!(%host, rule = %existing.arn, "another writer created the rule; modifying it");
                    return self.modify(&existing.arn, host, forward).await;
                }
            }
            let Some(priority) = free_priority(&rules) else {
                return Err(refused(
                    "NoFreePriority",
                    format!(
                        "listener {} has no free rule priority left",
                        self.listener_arn
                    ),
                ));
            };
            let sent = self
                .call("CreateRule", || {
                    self.elb
                        .create_rule()
                        .listener_arn(&self.listener_arn)
                        .priority(priority as i32)
                        .conditions(host_condition(host))
                        .actions(forward_action(forward))
                        .tags(Tag::builder().key(HOST_TAG).value(host).build())
                        .tags(Tag::builder().key(RECORD_TAG).value(name).build())
                        .send()
                })
                .await;
            match sent {
                Ok(_) => {
                    info!(%host, priority, "listener rule created");
                    return Ok(());
                }
                Err(e) if e.code == "PriorityInUse" => {
                    warn!(%host, priority, attempt, "rule priority taken meanwhile; reading the listener again");
                }
                Err(e) => return Err(e.into_platform()),
            }
        }
        Err(refused(
            "PriorityInUse",
            format!(
                "every priority chosen for {host} was taken by another writer first ({CREATE_ATTEMPTS} attempts)"
            ),
        ))
    }
}

#[async_trait]
impl Router for AlbRouter {
    async fn observe(&self, hosts: &[String]) -> Result<Vec<Option<RouteTarget>>, Error> {
        let rules = self.rules().await?;
        let owned = owned(&rules);
        Ok(hosts
            .iter()
            .map(|h| {
                owned
                    .get(h)
                    .and_then(|v| v.first())
                    .map(|r| rules::observed(r, h, &self.wake_group))
            })
            .collect())
    }

    async fn point(
        &self,
        name: &str,
        host: &str,
        target: &RouteTarget,
        target_group: Option<&str>,
    ) -> Result<(), Error> {
        let rules = self.rules().await?;
        let existing = owned(&rules)
            .get(host)
            .and_then(|v| v.first())
            .copied()
            .cloned();
        let group = match target {
            RouteTarget::Service(b) if rules::is_target_group_arn(b) => Some(b.as_str()),
            RouteTarget::Service(b) => {
                return Err(refused(
                    "NoTargetGroup",
                    format!(
                        "the service of {name} has no load balancer target group for its endpoint port (only the task address {b}); route mode on AWS needs one in the ECS service's loadBalancers"
                    ),
                ));
            }
            RouteTarget::Wake => target_group.or_else(|| {
                existing
                    .as_ref()
                    .and_then(|r| service_group(r, &self.wake_group))
            }),
        };
        let Some(group) = group.map(str::to_string) else {
            return Err(refused(
                "NoTargetGroup",
                format!(
                    "the service of {name} has no load balancer target group for its endpoint port; route mode on AWS needs one in the ECS service's loadBalancers"
                ),
            ));
        };
        let forward = forward_for(target, &self.wake_group, &group);
        match existing {
            Some(rule) => self.modify(&rule.arn, host, &forward).await,
            None => self.create(name, host, &forward, rules).await,
        }
    }

    async fn target_health(&self, groups: &[String]) -> Result<Option<Vec<TargetStates>>, Error> {
        let answers: Vec<Result<TargetStates, CallError>> = futures::stream::iter(groups.to_vec())
            .map(|group| async move {
                let out = self
                    .call("DescribeTargetHealth", || {
                        self.elb
                            .describe_target_health()
                            .target_group_arn(&group)
                            .send()
                    })
                    .await?;
                Ok(out
                    .target_health_descriptions()
                    .iter()
                    .filter_map(|d| {
                        let id = d.target()?.id()?.to_string();
                        let h = d.target_health()?;
                        let reason = match (h.reason(), h.description()) {
                            (Some(r), Some(d)) => Some(format!("{}: {d}", r.as_str())),
                            (Some(r), None) => Some(r.as_str().to_string()),
                            (None, d) => d.map(str::to_string),
                        };
                        let state = h.state().map_or("unknown", |s| s.as_str()).to_string();
                        Some((id, TargetHealth { state, reason }))
                    })
                    .collect())
            })
            .buffered(HEALTH_CONCURRENCY)
            .collect()
            .await;
        answers
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(CallError::into_platform)
    }

    async fn retain(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, Error> {
        let rules = self.rules().await?;
        let mut removed = Vec::new();
        for (host, found) in owned(&rules) {
            let extra = if keep.contains(&host) { 1 } else { 0 };
            for rule in found.iter().skip(extra) {
                self.call("DeleteRule", || {
                    self.elb.delete_rule().rule_arn(&rule.arn).send()
                })
                .await
                .map_err(CallError::into_platform)?;
                info!(%host, rule = %rule.arn, "listener rule removed");
            }
            if extra == 0 {
                removed.push(host);
            }
        }
        Ok(removed)
    }
}

/// An error that retrying cannot fix.
fn refused(code: &str, message: String) -> Error {
    Error::Call {
        operation: "Route",
        code: code.into(),
        message,
        retryable: false,
    }
}

fn host_condition(host: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("host-header")
        .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
        .build()
}

fn forward_action(groups: &[(String, u32)]) -> Action {
    let mut config = ForwardActionConfig::builder();
    for (arn, weight) in groups {
        config = config.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(*weight as i32)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(config.build())
        .build()
}

/// The parts of an SDK rule the router reads.
fn view(r: &Rule) -> RuleView {
    let hosts = r
        .conditions()
        .iter()
        .filter(|c| c.field() == Some("host-header"))
        .flat_map(|c| {
            let values = c
                .host_header_config()
                .map(|h| h.values())
                .unwrap_or_default();
            if values.is_empty() {
                c.values()
            } else {
                values
            }
        })
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let action = match r.actions() {
        [a] if a.r#type() == Some(&ActionTypeEnum::Forward) => {
            let weighted: Vec<(String, u32)> = a
                .forward_config()
                .map(|f| f.target_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.target_group_arn()?.to_string(),
                        t.weight().unwrap_or(1).max(0) as u32,
                    ))
                })
                .collect();
            match (weighted.is_empty(), a.target_group_arn()) {
                (true, Some(g)) => ActionView::Forward(vec![(g.to_string(), 1)]),
                _ => ActionView::Forward(weighted),
            }
        }
        _ => ActionView::Other,
    };
    RuleView {
        arn: r.rule_arn().unwrap_or_default().to_string(),
        priority: r.priority().and_then(|p| p.parse().ok()),
        hosts,
        action,
        host_tag: None,
    }
}
