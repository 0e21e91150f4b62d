//! The router: the third seam beside [`crate::store::Store`] and [`crate::platform::Platform`].
//! It observes and changes where each stable address (`spec.routing.host` of a record in
//! `spec.routing.mode: route`) points: at the wake endpoint, or at the service.
//!
//! | implementation | where | what "point" means |
//! |---|---|---|
//! | [`NoRouter`] | redirect mode only | nothing: every route-mode record reports the error |
//! | [`LocalRouter`] | `snoozectl dev` | an in-memory table its HTTP server reads per request (`Host` → wake page or reverse proxy) |
//! | `alb::AlbRouter` (cargo feature `aws`) | the reconciler Lambda behind one shared Application Load Balancer | one listener rule per host, a weighted forward to the wake endpoint's and the service's target groups, weights switched 100/0 ↔ 0/100 |
//!
//! Where an address should point is part of the pure decision (`reconcile::decide`): at the
//! service only while it is Ready; back at the wake endpoint before a scale-down starts. The
//! pass points the address *before* it scales or publishes, so no visitor ever reaches a
//! stopping task and `status.route` never claims a route that is not there. A route changed
//! by someone else is drift: set back and reported.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::platform::Error;

pub mod rules;

#[cfg(feature = "aws")]
pub mod alb;

pub use crate::model::{RouteObservation, RouteTarget};

/// Changes and observes routes. Errors are [`crate::platform::Error`]s (operation `Route`), so
/// the pass and its error policy treat them like a platform call's.
#[async_trait]
pub trait Router: Send + Sync {
    /// Where each of `hosts` (normalised, [`crate::model::normalize_host`]) points now, in the
    /// same order; `None` for a host this router has no route for.
    async fn observe(&self, hosts: &[String]) -> Result<Vec<Option<RouteTarget>>, Error>;

    /// Points `host`, the address of record `name`, at `target` (creating the route when
    /// missing). Idempotent. `target_group` is the service's load balancer target group for
    /// its endpoint port when ECS reports one
    /// ([`crate::platform::ServiceObservation::target_group_for`]): a router that keeps the
    /// service's group referenced while the address points at the wake endpoint (the `alb`
    /// router) needs it to create the route; others ignore it.
    async fn point(
        &self,
        name: &str,
        host: &str,
        target: &RouteTarget,
        target_group: Option<&str>,
    ) -> Result<(), Error>;

    /// Removes every route whose host is not in `keep` (a full pass: records deleted or moved
    /// to another host); returns the hosts removed.
    async fn retain(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, Error>;

    /// The load balancer's health of the targets of each of `groups` (target group ARNs, in
    /// the same order): target id (the task's private IP for `ip` target groups) → state.
    /// `Ok(None)`: this router has no load balancer (the default), so readiness does not
    /// depend on one.
    async fn target_health(&self, _groups: &[String]) -> Result<Option<Vec<TargetStates>>, Error> {
        Ok(None)
    }
}

/// Target id → its health in one target group ([`Router::target_health`]).
pub type TargetStates = BTreeMap<String, crate::platform::TargetHealth>;

/// The router of a deployment without one (redirect mode only): observes nothing, and a
/// route-mode record gets a clear error from [`Router::point`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRouter;

#[async_trait]
impl Router for NoRouter {
    async fn observe(&self, hosts: &[String]) -> Result<Vec<Option<RouteTarget>>, Error> {
        Ok(vec![None; hosts.len()])
    }

    async fn point(
        &self,
        _name: &str,
        host: &str,
        _target: &RouteTarget,
        _target_group: Option<&str>,
    ) -> Result<(), Error> {
        Err(Error::Call {
            operation: "Route",
            code: "NoRouter".into(),
            message: format!(
                "spec.routing.mode route ({host}) needs a router, and this reconciler has none; \
                 use redirect mode here, or run snoozectl dev"
            ),
            retryable: false,
        })
    }

    async fn retain(&self, _keep: &BTreeSet<String>) -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }
}

/// One entry of the [`LocalRouter`]'s table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRoute {
    /// The record the address belongs to.
    pub name: String,
    /// Where it points.
    pub target: RouteTarget,
}

/// The router of `snoozectl dev`: a table from host to [`LocalRoute`], shared (cheap clones)
/// between the reconciler, which points routes, and the HTTP server, which reads it on every
/// request ([`LocalRouter::lookup`]).
#[derive(Clone, Debug, Default)]
pub struct LocalRouter {
    table: Arc<RwLock<BTreeMap<String, LocalRoute>>>,
}

impl LocalRouter {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The route of `host` (normalised), if any.
    pub fn lookup(&self, host: &str) -> Option<LocalRoute> {
        self.table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .cloned()
    }

    /// Every route, by host.
    pub fn routes(&self) -> BTreeMap<String, LocalRoute> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, host: &str, route: LocalRoute) {
        self.table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_string(), route);
    }
}

#[async_trait]
impl Router for LocalRouter {
    async fn observe(&self, hosts: &[String]) -> Result<Vec<Option<RouteTarget>>, Error> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        Ok(hosts
            .iter()
            .map(|h| table.get(h).map(|r| r.target.clone()))
            .collect())
    }

    async fn point(
        &self,
        name: &str,
        host: &str,
        target: &RouteTarget,
        _target_group: Option<&str>,
    ) -> Result<(), Error> {
        self.set(
            host,
            LocalRoute {
                name: name.to_string(),
                target: target.clone(),
            },
        );
        Ok(())
    }

    async fn retain(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, Error> {
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = table
            .keys()
            .filter(|h| !keep.contains(*h))
            .cloned()
            .collect();
        for h in &gone {
            table.remove(h);
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_table_points_observes_and_forgets_routes() {
        let r = LocalRouter::new();
        let hosts = vec!["demo.localhost".to_string(), "api.localhost".to_string()];
        assert_eq!(r.observe(&hosts).await.unwrap(), vec![None, None]);
        r.point("demo", "demo.localhost", &RouteTarget::Wake, None)
            .await
            .unwrap();
        let svc = RouteTarget::Service("127.0.0.1:8081".into());
        r.point("api", "api.localhost", &svc, None).await.unwrap();
        assert_eq!(
            r.observe(&hosts).await.unwrap(),
            vec![Some(RouteTarget::Wake), Some(svc.clone())]
        );
        assert_eq!(r.lookup("api.localhost").unwrap().name, "api");
        let keep = BTreeSet::from(["demo.localhost".to_string()]);
        assert_eq!(r.retain(&keep).await.unwrap(), vec!["api.localhost"]);
        assert!(r.lookup("api.localhost").is_none());
    }

    #[tokio::test]
    async fn without_a_router_route_mode_is_an_error_that_says_what_to_do() {
        let e = NoRouter
            .point("demo", "demo.example.com", &RouteTarget::Wake, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("needs a router"), "{e}");
        assert_eq!(NoRouter.observe(&["a".into()]).await.unwrap(), vec![None]);
    }
}
