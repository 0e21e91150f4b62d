//! The front door of `snoozectl dev`: one listener that serves the wake endpoint and, by the
//! `Host` header, every route-mode record's stable address (the local form of the router,
//! [`crate::router::LocalRouter`]).
//!
//! | `Host` of the request | answer |
//! |---|---|
//! | a route-mode record's host, routed to the wake endpoint | [`wake::handle_host`]: wait page (reloads the same URL), status JSON, or 503 + wake for API clients; a body over [`wake::MAX_BODY_BYTES`] is 413 and wakes nothing |
//! | a route-mode record's host, routed to the service | [`crate::proxy::Proxy::forward`] to `127.0.0.1:{port}`, streaming both ways, WebSocket upgrades passed |
//! | any host, path [`wake::STABLE_STATUS_PATH`] | the status JSON (never proxied) |
//! | an IP address, `localhost`, or no `Host` | the wake endpoint's own routes (`/s/NAME`, `/api/v1/...`) |
//! | any other name | a 404 page that names no record |
//!
//! `Host` is compared without port, case or trailing dot ([`crate::model::normalize_host`]).
//! Activity of route-mode services is counted here ([`ProxyActivity`]): a request or an open
//! stream through the proxy counts for as long as it lasts; the proxy's own idle keep-alive
//! connections to the process and the reconciler's readiness probes (which go to the process
//! directly) never do.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::Method;
use tower::ServiceExt as _;

use crate::proxy::Proxy;
use crate::router::{LocalRouter, RouteTarget};
use crate::wake::{self, WakeState};

/// What the front door needs; shared by every request.
pub struct Front {
    /// The wake endpoint's state (store, configuration, wake hook).
    pub wake: Arc<WakeState>,
    /// The wake endpoint's own routes ([`wake::router`] over `wake`), built once.
    pub wake_app: axum::Router,
    /// The route table the reconciler points.
    pub routes: LocalRouter,
    /// The reverse proxy to Ready services.
    pub proxy: Proxy,
    /// Counts requests and open streams through the proxy, per record.
    pub activity: ProxyActivity,
}

impl Front {
    /// A front door over `wake` and `routes`, with a new proxy and activity counter.
    pub fn new(wake: Arc<WakeState>, routes: LocalRouter) -> Self {
        Self {
            wake_app: wake::router(wake.clone()),
            wake,
            routes,
            proxy: Proxy::new(),
            activity: ProxyActivity::default(),
        }
    }
}

/// The axum app of the front door (serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the proxy needs the peer address).
pub fn app(front: Arc<Front>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(front)
}

/// True for a `Host` that addresses the listener itself rather than a stable address: none, an
/// IP literal, or `localhost`.
fn is_listener_host(host: Option<&str>) -> bool {
    match host {
        None => true,
        Some(h) => h == "localhost" || h.parse::<std::net::IpAddr>().is_ok(),
    }
}

async fn dispatch(
    State(front): State<Arc<Front>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let host = wake::request_host(&parts);
    let route = host.as_deref().and_then(|h| front.routes.lookup(h));
    let Some(route) = route else {
        let req = Request::from_parts(parts, body);
        if is_listener_host(host.as_deref()) {
            let Ok(resp) = front.wake_app.clone().oneshot(req).await;
            return resp;
        }
        return wake::unknown_host_response(req.method() == Method::HEAD)
            .map(axum::body::Body::from);
    };
    let status_path = parts.uri.path() == wake::STABLE_STATUS_PATH;
    match (&route.target, status_path) {
        (RouteTarget::Service(backend), false) => match backend.parse::<SocketAddr>() {
            Ok(addr) => {
                let guard = front.activity.start(&route.name);
                front
                    .proxy
                    .forward(
                        Request::from_parts(parts, body),
                        addr,
                        peer,
                        "http",
                        &route.name,
                        guard,
                    )
                    .await
            }
            Err(_) => wake::unknown_host_response(parts.method == Method::HEAD)
                .map(axum::body::Body::from),
        },
        _ => match wake::read_body(body).await {
            Ok(bytes) => wake::handle_host(
                &front.wake,
                http::Request::from_parts(parts, bytes),
                &route.name,
            )
            .await
            .map(axum::body::Body::from),
            Err(refused) => refused,
        },
    }
}

/// Requests through the proxy per record: how many are open now and when the last one started
/// or ended. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ProxyActivity {
    inner: Arc<Mutex<HashMap<String, Use>>>,
}

#[derive(Clone, Copy, Debug)]
struct Use {
    open: usize,
    last: Instant,
}

/// Held while one request or stream through the proxy is open ([`ProxyActivity::start`]).
#[derive(Debug)]
pub struct InFlight {
    activity: ProxyActivity,
    name: String,
}

impl ProxyActivity {
    /// Counts a request of record `name` as open until the returned guard is dropped.
    pub fn start(&self, name: &str) -> InFlight {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let u = m.entry(name.to_string()).or_insert(Use {
            open: 0,
            last: Instant::now(),
        });
        u.open += 1;
        u.last = Instant::now();
        InFlight {
            activity: self.clone(),
            name: name.to_string(),
        }
    }

    /// True when record `name` had a request through the proxy open at any time since `since`:
    /// one is open now, or one started or ended after it.
    pub fn active_since(&self, name: &str, since: Instant) -> bool {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.get(name).is_some_and(|u| u.open > 0 || u.last >= since)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self
            .activity
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(u) = m.get_mut(&self.name) {
            u.open = u.open.saturating_sub(1);
            u.last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_stream_counts_until_it_ends_and_a_short_request_counts_once() {
        let a = ProxyActivity::default();
        let t0 = Instant::now();
        assert!(!a.active_since("demo", t0));
        let stream = a.start("demo");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t1 = Instant::now();
        assert!(a.active_since("demo", t1), "open now");
        drop(stream);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t2 = Instant::now();
        assert!(a.active_since("demo", t1), "ended after t1");
        assert!(!a.active_since("demo", t2), "nothing since it ended");
        assert!(!a.active_since("other", t0));
    }

    #[test]
    fn listener_hosts_are_ips_localhost_or_none() {
        assert!(is_listener_host(None));
        assert!(is_listener_host(Some("127.0.0.1")));
        assert!(is_listener_host(Some("localhost")));
        assert!(!is_listener_host(Some("demo.localhost")));
    }
}
