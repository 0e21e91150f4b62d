//! Which ECS `ListTasks` calls an observation makes: per service, or one per cluster when
//! many services of that cluster need their running tasks listed in the same observation.
//! Shared by the `ecs` adapter ([`crate::platform::ecs`]) and the simulated ECS
//! ([`crate::platform::sim`]), so the simulation makes exactly the calls the adapter would.
//!
//! **Running tasks.** A service *needs a running listing* when it is ACTIVE and has or wants
//! tasks (desiredCount, runningCount or pendingCount above 0). Per service that costs, in
//! task-read calls, one `ListTasks(cluster, serviceName, RUNNING)` per started 100 tasks (at
//! least one), plus the service's share of `DescribeTasks` (100 tasks per call per cluster).
//! One `ListTasks(cluster, RUNNING)` for the whole cluster instead costs one call per started
//! 100 tasks *of the cluster* plus one `DescribeTasks` per 100 of them — tasks of services
//! snooze does not observe in this pass (unmanaged services, or managed ones not due) included:
//! a task ARN does not name its service, so every listed task has to be described to learn its
//! `group`. [`plan`] switches to the cluster listing only when
//!
//! 1. at least [`CLUSTER_LISTING_MIN_SERVICES`] services of the cluster need a running listing
//!    (below that the saving is a few calls per pass, not worth the risk of a large cluster);
//! 2. and the cluster is not remembered as too large ([`CLUSTER_LISTING_BACKOFF`]).
//!
//! The listing then reads at most [`ClusterListing::max_pages`] pages: the most it can read
//! and still cost less than the per-service listings would (estimated from the running and
//! pending counts DescribeServices already gave: [`per_service_cost`]; each page of 100 ARNs
//! costs a `ListTasks` and a `DescribeTasks`). A cluster whose listing has more pages than that
//! (many tasks of other services) is abandoned after those pages, its services are listed one
//! by one in the same observation, and the platform remembers the cluster for
//! [`CLUSTER_LISTING_BACKOFF`] (per platform instance: a warm Lambda keeps it, a cold one
//! tries once more). So a cluster listing never costs more than the per-service listings it
//! replaces, except for one abandoned attempt per cluster and backoff period, which costs at
//! most half the per-service listings' calls. This needs no extra call and no extra IAM
//! permission (a `DescribeClusters` for the cluster's task counts would need both, and would
//! read a budget of its own every pass).
//!
//! **Recently stopped tasks** (their stop reasons) stay listed per service, first page only,
//! and only for services that have fewer running tasks than desired ([`wants_stopped_listing`]):
//! a service with all its tasks running has no failure to report. A service whose tasks are
//! still starting keeps the listing (a task failing to start is replaced at once, so there is
//! almost always a pending replacement: counting pending tasks as present would hide exactly
//! the failures a wake must report).
//!
//! **A task listed but not described.** ECS is eventually consistent: DescribeTasks can report
//! a task ListTasks just returned as MISSING. With a per-service listing the task is that
//! service's, whose observation then fails for this pass. A cluster listing does not say whose
//! it is, so it fails only the services relying on that listing that may own it: those with
//! fewer described tasks than ECS counts for them ([`may_own_missing`]); every other service's
//! observation is unaffected (a service whose tasks were all described cannot be missing one).

use std::time::Duration;

/// Services of one cluster that need a running listing in the same observation from which the
/// observation lists the cluster's running tasks once instead of once per service. 8: with
/// fewer, the per-service listings cost fewer than 8 `ListTasks` calls a pass, so the saving
/// does not pay for the risk of listing a cluster full of other services' tasks (bounded by
/// [`ClusterListing::max_pages`], but paid in full before the listing is abandoned). A scoped
/// pass (one service, after an event) never reaches it.
pub const CLUSTER_LISTING_MIN_SERVICES: usize = 8;

/// How long a platform lists a cluster's tasks per service again after a cluster listing of
/// it was abandoned for having more pages than it could afford (30 minutes: one abandoned
/// attempt per half hour costs at most half a pass's per-service listings, a few percent of
/// what they cost in that time at one pass a minute).
pub const CLUSTER_LISTING_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// Task ARNs per `ListTasks` page and tasks per `DescribeTasks` call (both APIs' maximum).
pub const TASKS_PER_CALL: u64 = 100;

/// The running and pending task counts DescribeServices gave for one service that needs a
/// running listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// `desiredCount`.
    pub desired: u64,
    /// `runningCount`.
    pub running: u64,
    /// `pendingCount`.
    pub pending: u64,
}

impl Counts {
    /// How many tasks a complete listing must show for the service:
    /// `min(desiredCount, runningCount + pendingCount)` (a service scaling in still counts the
    /// tasks being stopped, which a running listing no longer shows; one scaling out counts
    /// tasks ECS has not started yet).
    pub fn expected(&self) -> u64 {
        self.desired.min(self.running + self.pending)
    }
}

/// Whether a service's recently stopped tasks are listed (first page, for their stop
/// reasons): only when it has fewer running tasks than desired (`runningCount <
/// desiredCount`), pending ones not counted (see the module docs).
pub fn wants_stopped_listing(desired: u64, running: u64) -> bool {
    running < desired
}

/// The task-read calls the per-service running listings of `services` would cost: one
/// `ListTasks` per started 100 tasks (running + pending) per service, at least one each, plus
/// one `DescribeTasks` per started 100 of all their tasks together.
pub fn per_service_cost(services: &[Counts]) -> u64 {
    let lists: u64 = services
        .iter()
        .map(|c| (c.running + c.pending).div_ceil(TASKS_PER_CALL).max(1))
        .sum();
    let tasks: u64 = services.iter().map(|c| c.running + c.pending).sum();
    lists + tasks.div_ceil(TASKS_PER_CALL)
}

/// One cluster listing the observation makes instead of per-service ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterListing {
    /// The most `ListTasks` pages the listing may read: with a `DescribeTasks` for each page's
    /// 100 ARNs, `2 × max_pages` stays below the per-service cost. A listing with more pages
    /// is abandoned ([`ClusterPages::TooMany`]).
    pub max_pages: usize,
}

/// What a cluster listing read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterPages {
    /// Every running task ARN of the cluster.
    Complete(Vec<String>),
    /// More pages than [`ClusterListing::max_pages`]: abandoned after reading that many (the
    /// services are listed one by one; the cluster is remembered for
    /// [`CLUSTER_LISTING_BACKOFF`]).
    TooMany,
}

/// The listing of running tasks for the services of one cluster that need one (their
/// DescribeServices counts in `services`): `Some` for one cluster listing, `None` for
/// per-service listings. `backing_off`: a cluster listing of this cluster was abandoned less
/// than [`CLUSTER_LISTING_BACKOFF`] ago.
pub fn plan(services: &[Counts], backing_off: bool) -> Option<ClusterListing> {
    if services.len() < CLUSTER_LISTING_MIN_SERVICES || backing_off {
        return None;
    }
    // 2 × pages < cost.
    let max_pages = per_service_cost(services).saturating_sub(1) / 2;
    let max_pages = usize::try_from(max_pages)
        .unwrap_or(usize::MAX)
        .min(crate::pages::LIST_TASKS_MAX_PAGES);
    (max_pages >= 1).then_some(ClusterListing { max_pages })
}

/// Whether a service that relied on a cluster listing may own a listed task DescribeTasks did
/// not return: ECS counts more tasks for it (`counts.expected()`) than were described for it
/// from that listing (`described`). Such a service's observation fails this pass (its task
/// list may be incomplete); any other service's stands.
pub fn may_own_missing(counts: &Counts, described: usize) -> bool {
    (described as u64) < counts.expected()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(desired: u64, running: u64, pending: u64) -> Counts {
        Counts {
            desired,
            running,
            pending,
        }
    }

    #[test]
    fn few_services_are_listed_one_by_one() {
        let few = vec![c(1, 1, 0); CLUSTER_LISTING_MIN_SERVICES - 1];
        assert_eq!(plan(&few, false), None);
        assert_eq!(plan(&[], false), None);
    }

    #[test]
    fn many_services_share_one_listing_bounded_by_their_cost() {
        let many = vec![c(1, 1, 0); 50];
        // 50 ListTasks + 1 DescribeTasks per service: 51 calls; 25 pages × 2 = 50 < 51.
        assert_eq!(per_service_cost(&many), 51);
        assert_eq!(plan(&many, false), Some(ClusterListing { max_pages: 25 }));
        let eight = vec![c(1, 1, 0); CLUSTER_LISTING_MIN_SERVICES];
        assert_eq!(plan(&eight, false), Some(ClusterListing { max_pages: 4 }));
    }

    #[test]
    fn a_cluster_backing_off_is_listed_one_by_one() {
        let many = vec![c(1, 1, 0); 50];
        assert_eq!(plan(&many, true), None);
    }

    #[test]
    fn page_limit_never_exceeds_the_guard_of_one_listing() {
        let huge = vec![c(2000, 2000, 0); 50];
        assert_eq!(
            plan(&huge, false).map(|p| p.max_pages),
            Some(crate::pages::LIST_TASKS_MAX_PAGES)
        );
    }

    #[test]
    fn per_service_cost_counts_pages_and_describes() {
        // 250 tasks: 3 pages; 0 tasks (wants one): still a page; 250 + 0 tasks: 3 describes.
        assert_eq!(per_service_cost(&[c(250, 250, 0), c(1, 0, 0)]), 3 + 1 + 3);
    }

    #[test]
    fn stopped_tasks_are_listed_only_for_services_missing_running_tasks() {
        assert!(!wants_stopped_listing(1, 1), "Ready with all its tasks");
        assert!(!wants_stopped_listing(0, 0), "asleep");
        assert!(!wants_stopped_listing(1, 2), "scaling in");
        assert!(wants_stopped_listing(1, 0), "its task is starting or died");
        assert!(wants_stopped_listing(3, 2), "one of three missing");
    }

    #[test]
    fn only_a_service_short_of_described_tasks_may_own_a_missing_one() {
        assert!(
            may_own_missing(&c(1, 0, 1), 0),
            "its starting task not described"
        );
        assert!(!may_own_missing(&c(1, 1, 0), 1), "all described: not its");
        assert!(
            !may_own_missing(&c(1, 2, 0), 1),
            "scaling in: the stopping task is not listed as running, still not short"
        );
        assert!(
            !may_own_missing(&c(1, 0, 0), 0),
            "ECS counts none yet: nothing expected"
        );
    }
}
