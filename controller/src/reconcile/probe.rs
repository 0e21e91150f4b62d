//! The HTTP readiness probe (`spec.readiness.httpGet`) behind the [`Prober`] trait.
//!
//! The pass probes only tasks that are RUNNING with desiredStatus RUNNING, healthy (or without
//! a health check) and that have an address; the result lands in
//! [`TaskObservation::probe`](crate::platform::TaskObservation::probe) for `decide`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::platform::ProbeResult;

/// Runs one readiness probe.
#[async_trait]
pub trait Prober: Send + Sync {
    /// GETs `url` and passes on a 2xx or 3xx answer within `timeout`. Never errors: a failure
    /// is a [`ProbeResult`] with `passed: false` and the reason in `detail`.
    async fn probe(&self, url: &str, timeout: Duration) -> ProbeResult;
}

/// The real probe: `reqwest` GET, redirects not followed (a 3xx passes), per-probe timeout.
///
/// Every probe opens a fresh connection and closes it (`Connection: close`, no idle pool): a
/// connection kept open between passes would sit on the task's app port, where the activity
/// agent counts established connections, and keep the service awake forever.
///
/// The workspace builds reqwest without TLS, so an `https` probe fails with a clear detail.
#[derive(Clone, Debug)]
pub struct HttpProber {
    client: reqwest::Client,
}

impl HttpProber {
    /// A prober with its own connection pool. Fails only if the HTTP client cannot be built.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("snooze-readiness/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, url: &str, timeout: Duration) -> ProbeResult {
        let shown = humantime::format_duration(timeout);
        match self
            .client
            .get(url)
            .header(reqwest::header::CONNECTION, "close")
            .timeout(timeout)
            .send()
            .await
        {
            Ok(resp) => {
                let code = resp.status();
                ProbeResult {
                    passed: code.is_success() || code.is_redirection(),
                    detail: format!("HTTP {}", code.as_u16()),
                }
            }
            Err(e) if e.is_timeout() => ProbeResult {
                passed: false,
                detail: format!("timed out after {shown}"),
            },
            Err(e) if e.is_connect() => ProbeResult {
                passed: false,
                detail: "connection failed".into(),
            },
            Err(e) => ProbeResult {
                passed: false,
                detail: crate::error_chain::chain(&e),
            },
        }
    }
}

/// A probe with fixed answers, for the simulator and tests: passes unless the URL's host
/// (the task address) was marked failing with [`StaticProber::fail`]. Counts probes.
#[derive(Debug, Default)]
pub struct StaticProber {
    failing: Mutex<HashMap<String, String>>,
    calls: std::sync::atomic::AtomicU64,
}

impl StaticProber {
    /// A prober that passes every probe.
    pub fn new() -> Self {
        Self::default()
    }
    /// Makes probes of `ip` fail with `detail` (e.g. `HTTP 503`).
    pub fn fail(&self, ip: &str, detail: &str) {
        self.failing
            .lock()
            .expect("prober lock")
            .insert(ip.to_string(), detail.to_string());
    }
    /// Makes probes of `ip` pass again.
    pub fn pass(&self, ip: &str) {
        self.failing.lock().expect("prober lock").remove(ip);
    }
    /// How many probes ran.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl Prober for StaticProber {
    async fn probe(&self, url: &str, _timeout: Duration) -> ProbeResult {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split([':', '/']).next())
            .unwrap_or("");
        match self.failing.lock().expect("prober lock").get(host) {
            Some(detail) => ProbeResult {
                passed: false,
                detail: detail.clone(),
            },
            None => ProbeResult {
                passed: true,
                detail: "HTTP 200".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// The probe must not leave a connection open on the app port: the activity agent would
    /// count it as a visitor and the service would never sleep.
    #[tokio::test]
    async fn probe_closes_its_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await.unwrap();
            // Offer keep-alive; a pooling client would keep the socket open.
            sock.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok",
            )
            .await
            .unwrap();
            // EOF (0 bytes) once the client closed its side.
            tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf)).await
        });
        let prober = HttpProber::new().unwrap();
        let r = prober
            .probe(&format!("http://{addr}/health"), Duration::from_secs(2))
            .await;
        assert!(r.passed, "{r:?}");
        let closed = server.await.unwrap();
        assert!(
            matches!(closed, Ok(Ok(0))),
            "the probe's connection stayed open: {closed:?}"
        );
    }

    /// A one-route HTTP server on 127.0.0.1 answering every request with `status`, after
    /// `delay`. Returns its base URL.
    async fn serve(status: &'static str, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = sock.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nlocation: /elsewhere\r\nconnection: close\r\n\r\n"
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/health")
    }

    #[tokio::test]
    async fn http_probe_passes_2xx_and_3xx_and_fails_the_rest() {
        let p = HttpProber::new().unwrap();
        let t = Duration::from_secs(2);
        let ok = p.probe(&serve("200 OK", Duration::ZERO).await, t).await;
        assert_eq!(
            ok,
            ProbeResult {
                passed: true,
                detail: "HTTP 200".into()
            }
        );
        let redirect = p.probe(&serve("302 Found", Duration::ZERO).await, t).await;
        assert_eq!(
            redirect,
            ProbeResult {
                passed: true,
                detail: "HTTP 302".into()
            }
        );
        let err = p
            .probe(&serve("503 Service Unavailable", Duration::ZERO).await, t)
            .await;
        assert_eq!(
            err,
            ProbeResult {
                passed: false,
                detail: "HTTP 503".into()
            }
        );
        let slow = p
            .probe(
                &serve("200 OK", Duration::from_secs(5)).await,
                Duration::from_millis(200),
            )
            .await;
        assert!(!slow.passed);
        assert_eq!(slow.detail, "timed out after 200ms");
    }

    #[tokio::test]
    async fn http_probe_reports_refused_connections() {
        // Bind and drop to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = HttpProber::new()
            .unwrap()
            .probe(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(1))
            .await;
        assert!(!r.passed);
        assert_eq!(r.detail, "connection failed");
    }

    #[tokio::test]
    async fn static_prober_fails_only_marked_hosts() {
        let p = StaticProber::new();
        p.fail("10.0.0.7", "HTTP 503");
        assert!(
            p.probe("http://10.0.0.8:80/", Duration::from_secs(1))
                .await
                .passed
        );
        let r = p
            .probe("http://10.0.0.7:8080/health", Duration::from_secs(1))
            .await;
        assert_eq!(
            r,
            ProbeResult {
                passed: false,
                detail: "HTTP 503".into()
            }
        );
        p.pass("10.0.0.7");
        assert!(
            p.probe("http://10.0.0.7:8080/health", Duration::from_secs(1))
                .await
                .passed
        );
        assert_eq!(p.calls(), 3);
    }
}
