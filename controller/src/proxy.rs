//! The local reverse proxy of `snoozectl dev`: forwards a visitor's request to the service's
//! process on `127.0.0.1:PORT` once the service is Ready.
//!
//! [`Proxy::forward`] is the one building block: it streams request and response bodies both
//! ways without buffering (an SSE stream stays open for as long as both ends keep it open; there
//! is no request timeout, only a [`CONNECT_TIMEOUT`]), joins HTTP/1.1 `Upgrade` connections
//! (WebSocket) byte for byte, strips the hop-by-hop headers and sets the `X-Forwarded-*` ones.
//! Everything HTTP is hyper's (the pooled `hyper_util` client on the backend side, axum's server
//! on the visitor's side); nothing here parses HTTP.
//!
//! A backend that cannot be reached, or that closes or fails before it sends a response head
//! (its process was stopped mid-request), is answered with `502 Bad Gateway` and a notice page
//! (the wake endpoint's [`page`](crate::wake::page)) saying why in plain words, e.g.
//! `demo did not answer: connection refused (nothing is listening on 127.0.0.1:8081).`

use std::error::Error as StdError;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri, Version};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::model::Theme;
use crate::wake::content_security_policy;
use crate::wake::page::{self, Content, Notice, PageData, Tone};

/// How long an idle keep-alive connection to a backend stays in the pool: 30 s.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening a TCP connection to a backend may take before the visitor gets a 502: 5 s.
/// (On loopback a refused connection fails at once; this bounds a backend that does not
/// accept.) There is no timeout on the exchange itself: SSE streams stay open for hours.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the backend's side of an upgrade (`101 Switching Protocols`) may take to be handed
/// over after its response head arrived, before the visitor gets a 502: 5 s.
const UPGRADE_HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), besides those that
/// `Connection` names.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Forwards requests to local processes. Cheap to clone (shares one connection pool).
///
/// Backend connections are plain HTTP/1.1 over TCP, kept alive in the pool for
/// [`POOL_IDLE_TIMEOUT`], opened within [`CONNECT_TIMEOUT`], with `TCP_NODELAY`.
#[derive(Clone, Debug)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
}

impl Default for Proxy {
    fn default() -> Self {
        Self::new()
    }
}

impl Proxy {
    /// A proxy with a connection pool: idle connections to a backend are kept up to
    /// [`POOL_IDLE_TIMEOUT`] (30 s) and reused; new ones must connect within
    /// [`CONNECT_TIMEOUT`] (5 s). Needs a tokio runtime when used (not when built).
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self { client }
    }

    /// Forwards `req` to `http://{backend}` keeping path and query, streaming the request and
    /// response bodies both ways without buffering; passes WebSocket (any HTTP/1.1 `Upgrade`)
    /// upgrades by joining the two upgraded connections (tokio::io::copy_bidirectional);
    /// strips hop-by-hop headers (Connection and the headers it names, Keep-Alive,
    /// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade — except that an upgrade
    /// request keeps `Connection: upgrade` + `Upgrade`); sets `X-Forwarded-For` (appends `peer`'s
    /// IP to an existing value), `X-Forwarded-Proto` (= `proto`), `X-Forwarded-Host` (the
    /// request's original Host header); keeps the original Host header.
    ///
    /// `guard` is held until the exchange is really over: until the response body has been sent
    /// completely or dropped (client hung up), or for an upgrade until both directions closed.
    /// (Used to count a visitor's open stream as activity.)
    ///
    /// When the backend cannot be reached or closes/fails before sending a response head
    /// (e.g. the process was killed mid-request), answers `502 Bad Gateway` with an HTML notice
    /// that says why in plain words, e.g. `demo did not answer: connection refused (nothing is
    /// listening on 127.0.0.1:8081).` (`service` is the name it uses). Never panics.
    ///
    /// The request goes out as HTTP/1.1 whatever version it came in; an HTTP/2 request without
    /// a Host header gets one from its URI's authority. A backend that fails after its response
    /// head ends the visitor's response early (the connection is closed), as any proxy must.
    pub async fn forward(
        &self,
        req: Request,
        backend: SocketAddr,
        peer: SocketAddr,
        proto: &'static str,
        service: &str,
        guard: impl Send + Sync + 'static,
    ) -> Response {
        let guard: Box<dyn Send + Sync> = Box::new(guard);
        let (mut parts, body) = req.into_parts();
        // Only HTTP/1.1 has `Upgrade` (HTTP/2's extended CONNECT is not passed on).
        let upgrade = (parts.version == Version::HTTP_11)
            .then(|| upgrade_protocol(&parts.headers))
            .flatten();
        let visitor_upgrade = match upgrade {
            Some(_) => parts.extensions.remove::<OnUpgrade>(),
            None => None,
        };
        let json = crate::wake::asks_for_json(&parts.headers);
        let bad_gateway = |failure: &Failure| bad_gateway(service, backend, failure, json);
        let Some(uri) = backend_uri(backend, &parts.uri) else {
            // A path axum accepted always parses again; stay total anyway.
            return bad_gateway(&Failure::Other("bad request path".into()));
        };
        let mut headers = std::mem::take(&mut parts.headers);
        let host = headers
            .get(header::HOST)
            .cloned()
            .or_else(|| authority_host(&parts.uri));
        request_headers(&mut headers, host, peer.ip(), proto, upgrade);

        let mut out = http::Request::new(body);
        *out.method_mut() = parts.method;
        *out.uri_mut() = uri;
        *out.version_mut() = Version::HTTP_11;
        *out.headers_mut() = headers;

        let response = match self.client.request(out).await {
            Ok(r) => r,
            Err(e) => return bad_gateway(&classify(&e)),
        };

        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let body = Guarded {
                inner: body,
                guard: Some(guard),
            };
            return Response::from_parts(parts, Body::new(body));
        }

        // 101 Switching Protocols: join the two upgraded connections.
        let Some(visitor_upgrade) = visitor_upgrade else {
            return bad_gateway(&Failure::Other(
                "it switched protocols (101) although the request asked for no upgrade".into(),
            ));
        };
        let mut response = response;
        let backend_upgrade = hyper::upgrade::on(&mut response);
        let backend_io = match tokio::time::timeout(UPGRADE_HANDOVER_TIMEOUT, backend_upgrade).await
        {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return bad_gateway(&classify(&e)),
            Err(_) => {
                return bad_gateway(&Failure::Other(
                    "its upgraded connection was not handed over".into(),
                ));
            }
        };
        let (mut parts, _) = response.into_parts();
        let protocol = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(p) = protocol {
            parts.headers.insert(header::UPGRADE, p);
        }
        let service = service.to_string();
        tokio::spawn(async move {
            // Resolves once hyper has written the 101 to the visitor.
            let visitor_io = match visitor_upgrade.await {
                Ok(io) => io,
                Err(e) => {
                    tracing::debug!(service = %service, error = %e, "proxy: visitor left before the upgrade");
                    return;
                }
            };
            let mut visitor_io = TokioIo::new(visitor_io);
            let mut backend_io = TokioIo::new(backend_io);
            match tokio::io::copy_bidirectional(&mut visitor_io, &mut backend_io).await {
                Ok((up, down)) => {
                    tracing::debug!(service = %service, up, down, "proxy: upgraded connection closed");
                }
                Err(e) => {
                    tracing::debug!(service = %service, error = %e, "proxy: upgraded connection ended");
                }
            }
            drop(guard);
        });
        Response::from_parts(parts, Body::empty())
    }
}

/// The backend's response body, holding the caller's guard until the body ended (its last
/// frame was taken or it failed) or was dropped (the visitor hung up).
struct Guarded {
    inner: Incoming,
    guard: Option<Box<dyn Send + Sync>>,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The protocol an HTTP/1.1 request asks to upgrade to: its `Upgrade` value when `Connection`
/// has the token `upgrade` (any case) and `Upgrade` is present, else `None`.
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    if asks {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// The comma-separated tokens of every `Connection` header, trimmed, empty ones skipped.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes the hop-by-hop headers: those `Connection` names, then [`HOP_BY_HOP`].
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The request headers as the backend gets them: hop-by-hop stripped (an upgrade keeps
/// `Connection: upgrade` and its `Upgrade`), `Host` = `host` (the original one),
/// `X-Forwarded-For` = existing values + `peer`, `X-Forwarded-Proto` = `proto`,
/// `X-Forwarded-Host` = `host`.
fn request_headers(
    headers: &mut HeaderMap,
    host: Option<HeaderValue>,
    peer: IpAddr,
    proto: &'static str,
    upgrade: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    let earlier: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let forwarded_for = if earlier.is_empty() {
        peer.to_string()
    } else {
        format!("{}, {peer}", earlier.join(", "))
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    match host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host.clone());
            headers.insert(header::HOST, host);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// `host[:port]` of an absolute-form or HTTP/2 request URI, as a Host header value.
fn authority_host(uri: &Uri) -> Option<HeaderValue> {
    uri.authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
}

/// `http://{backend}{path}?{query}`; `/` when the request had no path or one that does not
/// start with `/` (`OPTIONS *`, an authority-form `CONNECT`).
fn backend_uri(backend: SocketAddr, uri: &Uri) -> Option<Uri> {
    let path_and_query = uri
        .path_and_query()
        .filter(|pq| pq.path().starts_with('/'))
        .map_or("/", |pq| pq.as_str());
    format!("http://{backend}{path_and_query}").parse().ok()
}

/// Why the backend gave no response head, in the words the 502 page uses.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Failure {
    /// Nothing listens on the port (the process is not running, or not yet).
    Refused,
    /// No TCP connection within [`CONNECT_TIMEOUT`].
    ConnectTimeout,
    /// The connection closed before a complete response head (the process stopped or crashed).
    ClosedBeforeResponse,
    /// The connection was reset before a response head.
    Reset,
    /// Anything else: the error chain.
    Other(String),
}

impl Failure {
    /// The reason after `{service} did not answer: `, without a final full stop.
    fn reason(&self, backend: SocketAddr) -> String {
        match self {
            Self::Refused => format!("connection refused (nothing is listening on {backend})"),
            Self::ConnectTimeout => format!(
                "no connection to {backend} within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
            Self::ClosedBeforeResponse => {
                "it closed the connection before sending a response (did the process stop?)".into()
            }
            Self::Reset => "the connection was reset before a response came (did the process \
                            stop, or refuse the request without reading all of its body?)"
                .into(),
            Self::Other(why) => why.clone(),
        }
    }
}

/// Classifies a client error by the types in its `source()` chain (never by message): an
/// `io::Error` of kind refused / timed out / reset / unexpected EOF, or hyper's
/// incomplete-message error; anything else is [`Failure::Other`] with the chain's messages.
fn classify(err: &(dyn StdError + 'static)) -> Failure {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Failure::Refused,
                io::ErrorKind::TimedOut => return Failure::ConnectTimeout,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe => return Failure::Reset,
                io::ErrorKind::UnexpectedEof => return Failure::ClosedBeforeResponse,
                _ => {}
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_incomplete_message()
        {
            return Failure::ClosedBeforeResponse;
        }
        cur = e.source();
    }
    Failure::Other(crate::error_chain::chain(err))
}

/// `502 Bad Gateway` with a notice page: heading `{service} did not answer`, text
/// `{service} did not answer: {reason}.`; `no-store`, with the pages' CSP. For a client that
/// asks for JSON (`json`, [`crate::wake::asks_for_json`]) the same as
/// `{"error": "bad_gateway", "message": "{service} did not answer: {reason}."}`.
fn bad_gateway(service: &str, backend: SocketAddr, failure: &Failure, json: bool) -> Response {
    let reason = failure.reason(backend);
    tracing::warn!(service = %service, %backend, reason = %reason, "proxy: backend did not answer");
    let heading = format!("{service} did not answer");
    let message = format!("{service} did not answer: {reason}.");
    let mut resp = if json {
        let body = serde_json::json!({"error": "bad_gateway", "message": message});
        let mut resp = Response::new(Body::from(body.to_string()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    } else {
        let data = PageData {
            title: heading.clone(),
            theme: Theme::Auto,
            nonce: hex::encode(rand::random::<[u8; 16]>()),
            content: Content::Notice(Notice {
                heading,
                text: message,
                tone: Tone::Error,
            }),
        };
        let mut resp = Response::new(Body::from(page::render(&data)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&content_security_policy(&data.nonce)) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        resp
    };
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        let mut n: Vec<String> = h.keys().map(|k| k.to_string()).collect();
        n.sort();
        n
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_stripped() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-secret", "1"),
            ("content-type", "text/plain"),
            ("content-length", "3"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(names(&h), ["content-length", "content-type"]);
    }

    #[test]
    fn an_upgrade_is_asked_by_connection_upgrade_and_an_upgrade_header() {
        let ws = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(
            upgrade_protocol(&ws),
            Some(HeaderValue::from_static("websocket"))
        );
        assert_eq!(upgrade_protocol(&map(&[("upgrade", "websocket")])), None);
        assert_eq!(upgrade_protocol(&map(&[("connection", "upgrade")])), None);
    }

    #[test]
    fn request_headers_keep_host_append_the_peer_and_keep_an_upgrade() {
        let mut h = map(&[
            ("host", "demo.localhost:8080"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-proto", "https"),
            ("connection", "Upgrade, x-hop"),
            ("x-hop", "1"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        let host = h.get(header::HOST).cloned();
        request_headers(
            &mut h,
            host,
            "127.0.0.1".parse().unwrap(),
            "http",
            Some(HeaderValue::from_static("websocket")),
        );
        assert_eq!(h["host"], "demo.localhost:8080");
        assert_eq!(h["x-forwarded-host"], "demo.localhost:8080");
        assert_eq!(h["x-forwarded-for"], "203.0.113.7, 198.51.100.1, 127.0.0.1");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-key"], "k");
        assert!(h.get("x-hop").is_none());
    }

    #[test]
    fn the_backend_uri_keeps_path_and_query() {
        let backend: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let uri: Uri = "http://demo.localhost:8080/a/b?x=1&y=%20".parse().unwrap();
        assert_eq!(
            backend_uri(backend, &uri).unwrap(),
            "http://127.0.0.1:8081/a/b?x=1&y=%20"
        );
        let star: Uri = "*".parse().unwrap();
        assert_eq!(
            backend_uri(backend, &star).unwrap(),
            "http://127.0.0.1:8081/"
        );
    }

    #[test]
    fn failures_are_classified_by_type() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused), Failure::Refused);
        // Found below the top of the chain (io::Error's own `source()` skips its payload).
        #[derive(Debug, thiserror::Error)]
        #[error("sending the request")]
        struct Wrapped(#[source] io::Error);
        let wrapped = Wrapped(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&wrapped), Failure::Reset);
        let other = io::Error::other("boom");
        assert_eq!(classify(&other), Failure::Other("boom".into()));
        let backend: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            Failure::Refused.reason(backend),
            "connection refused (nothing is listening on 127.0.0.1:9)"
        );
    }
}
