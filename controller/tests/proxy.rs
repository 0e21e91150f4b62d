//! The reverse proxy of `snoozectl dev` ([`snooze::proxy::Proxy::forward`]) over real sockets:
//! a backend on `127.0.0.1:0` (axum, tokio-tungstenite for WebSocket, a `python3` process for
//! the one that is killed mid-request) and a front server on `127.0.0.1:0` whose every request
//! goes through the proxy with a fresh guard, whose drop the test can watch ([`Probe`]).
//!
//! The no-buffering tests do not measure time: the backend (or the client) waits for the other
//! end to have received the first part before it sends the rest, so a proxy that buffered would
//! stall them until the bounded wait fails. Every wait is bounded by [`WAIT`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::header;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use snooze::proxy::Proxy;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// The bound of every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

/// The test's side of one request's guard: the guard is the paired `oneshot::Sender`, so the
/// receiver sees `Closed` once the proxy dropped it.
struct Probe(oneshot::Receiver<()>);

impl Probe {
    /// Whether the proxy still holds the guard.
    fn held(&mut self) -> bool {
        matches!(self.0.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }

    /// Waits (bounded) until the proxy dropped the guard; panics if it did not.
    async fn dropped(self, what: &str) {
        let r = timeout(WAIT, self.0).await;
        assert!(
            matches!(r, Ok(Err(_))),
            "{what}: the guard was still held after {WAIT:?}"
        );
    }
}

/// A front server running `Proxy::forward(req, backend, peer, "http", "demo", guard)`.
struct Front {
    addr: SocketAddr,
    probes: mpsc::UnboundedReceiver<Probe>,
}

impl Front {
    /// The probe of the next request the front server received.
    async fn next_probe(&mut self) -> Probe {
        timeout(WAIT, self.probes.recv())
            .await
            .expect("the front server got the request")
            .expect("front server running")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn front(backend: SocketAddr) -> Front {
    let (tx, probes) = mpsc::unbounded_channel();
    let proxy = Proxy::new();
    let app = Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
            let proxy = proxy.clone();
            let tx = tx.clone();
            async move {
                let (guard, probe) = oneshot::channel::<()>();
                let _ = tx.send(Probe(probe));
                proxy
                    .forward(req, backend, peer, "http", "demo", guard)
                    .await
            }
        },
    );
    Front {
        addr: serve(app).await,
        probes,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// A plain HTTP/1.1 connection to `addr` (hyper's), for tests that need to control the
/// connection itself: the returned task owns the socket, aborting it closes the socket.
async fn connect(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<
        http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>,
    >,
    tokio::task::JoinHandle<()>,
) {
    let tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, task)
}

/// The next SSE event (`data: ...` without the prefix) of `body`, reading frames until a blank
/// line; `None` at the end of the body.
async fn next_event(body: &mut Incoming, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8(event).unwrap();
            return Some(text.trim().trim_start_matches("data: ").to_string());
        }
        let frame = timeout(WAIT, body.frame())
            .await
            .expect("an SSE event within the bounded wait")?
            .expect("body frame");
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (1) What arrives at the backend

/// Echoes what it got as JSON: method, URI, headers, body, and the proxy's address as the
/// backend saw it; answers 201 with a hop-by-hop header of its own (which must not reach the
/// client) and one that must.
async fn echo(ConnectInfo(from): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::from(v.to_str().unwrap()))
            .collect();
        headers.insert(name.to_string(), Value::from(values));
    }
    let got = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "from": from.to_string(),
    });
    (
        http::StatusCode::CREATED,
        [
            ("connection", "x-resp-hop"),
            ("x-resp-hop", "1"),
            ("x-kept", "yes"),
        ],
        axum::Json(got),
    )
        .into_response()
}

#[tokio::test]
async fn path_query_method_body_and_forwarded_headers_arrive() {
    let backend = serve(Router::new().fallback(echo)).await;
    let mut front = front(backend).await;
    let client = client();

    let resp = client
        .put(front.url("/some/path?q=1&x=%20y"))
        .header(header::HOST, "demo.localhost:8080")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header(header::CONNECTION, "x-hop")
        .header("x-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header(header::TE, "trailers")
        .header("proxy-connection", "keep-alive")
        .body("hello body")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-kept"], "yes");
    assert!(resp.headers().get("x-resp-hop").is_none(), "{resp:?}");
    let got: Value = resp.json().await.unwrap();
    let h = &got["headers"];
    assert_eq!(got["method"], "PUT");
    assert_eq!(got["uri"], "/some/path?q=1&x=%20y");
    assert_eq!(got["body"], "hello body");
    assert_eq!(h["host"], json!(["demo.localhost:8080"]));
    assert_eq!(h["x-forwarded-host"], json!(["demo.localhost:8080"]));
    assert_eq!(h["x-forwarded-for"], json!(["203.0.113.7, 127.0.0.1"]));
    assert_eq!(h["x-forwarded-proto"], json!(["http"]));
    for hop in ["x-hop", "keep-alive", "te", "proxy-connection", "upgrade"] {
        assert!(h.get(hop).is_none(), "{hop} reached the backend: {h}");
    }
    front.next_probe().await.dropped("a finished request").await;

    // The pool: a second request goes over the same backend connection.
    let again: Value = client
        .get(front.url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["method"], "GET");
    assert_eq!(again["uri"], "/");
    assert_eq!(again["body"], "");
    assert_eq!(again["headers"]["x-forwarded-for"], json!(["127.0.0.1"]));
    assert_eq!(
        again["from"], got["from"],
        "the proxy kept its backend connection alive"
    );
}

// ---------------------------------------------------------------------------------------------
// (2) Streaming (SSE) and (5) the guard of an open stream

/// `GET /events`: five events 200 ms apart, then it waits for `release` before it sends `end`
/// and closes; `finished` is set when the stream has ended.
#[derive(Clone)]
struct Sse {
    release: Arc<Notify>,
    finished: Arc<AtomicBool>,
}

async fn sse(State(s): State<Sse>) -> Response {
    let stream = futures::stream::unfold(1u32, move |i| {
        let s = s.clone();
        async move {
            match i {
                1 => {}
                2..=5 => tokio::time::sleep(Duration::from_millis(200)).await,
                6 => {
                    let _ = timeout(WAIT, s.release.notified()).await;
                    return Some((Ok::<_, Infallible>(Bytes::from("data: end\n\n")), 7));
                }
                _ => {
                    s.finished.store(true, Ordering::SeqCst);
                    return None;
                }
            }
            Some((Ok(Bytes::from(format!("data: event {i}\n\n"))), i + 1))
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

#[tokio::test]
async fn an_sse_stream_is_passed_on_while_it_is_open_and_the_guard_lasts_as_long() {
    let state = Sse {
        release: Arc::new(Notify::new()),
        finished: Arc::new(AtomicBool::new(false)),
    };
    let backend = serve(
        Router::new()
            .route("/events", get(sse))
            .with_state(state.clone()),
    )
    .await;
    let mut front = front(backend).await;

    let (mut send, _conn) = connect(front.addr).await;
    let req = http::Request::get("/events")
        .header(header::HOST, "demo.localhost")
        .body(Empty::new().boxed_unsync())
        .unwrap();
    let resp = timeout(WAIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut probe = front.next_probe().await;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    for i in 1..=5 {
        let event = next_event(&mut body, &mut buf).await;
        assert_eq!(event.as_deref(), Some(format!("event {i}").as_str()));
        // The backend has not finished: it waits for `release`, which comes only after all five.
        assert!(!state.finished.load(Ordering::SeqCst));
        assert!(
            probe.held(),
            "the guard was dropped while the stream was open"
        );
    }
    state.release.notify_one();
    assert_eq!(
        next_event(&mut body, &mut buf).await.as_deref(),
        Some("end")
    );
    assert_eq!(next_event(&mut body, &mut buf).await, None);
    assert!(state.finished.load(Ordering::SeqCst));
    probe.dropped("a stream that was sent completely").await;
}

/// Sets its flag when dropped (the backend's stream was dropped: its client went away).
struct OnDrop(Option<oneshot::Sender<()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_releases_the_guard_and_the_backend() {
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let dropped_tx = Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    // An endless stream (bounded: 3,000 ticks of 200 ms), one tick every 200 ms.
    let app = Router::new().route(
        "/forever",
        get(move || {
            let on_drop = OnDrop(dropped_tx.lock().unwrap().take());
            let stream = futures::stream::unfold((0u32, on_drop), |(i, on_drop)| async move {
                if i >= 3000 {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let tick = Bytes::from(format!("data: tick {i}\n\n"));
                Some((Ok::<_, Infallible>(tick), (i + 1, on_drop)))
            });
            async move {
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    Body::from_stream(stream),
                )
            }
        }),
    );
    let backend = serve(app).await;
    let mut front = front(backend).await;

    let (mut send, conn) = connect(front.addr).await;
    let req = http::Request::get("/forever")
        .body(Empty::new().boxed_unsync())
        .unwrap();
    let resp = timeout(WAIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let mut probe = front.next_probe().await;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    for i in 0..3 {
        let tick = next_event(&mut body, &mut buf).await;
        assert_eq!(tick, Some(format!("tick {i}")));
        assert!(
            probe.held(),
            "the guard was dropped while the stream was open"
        );
    }

    // Hang up: close the socket mid-stream.
    drop(body);
    drop(send);
    conn.abort();
    let _ = conn.await;

    probe.dropped("a stream whose client hung up").await;
    assert!(
        timeout(WAIT, dropped_rx).await.is_ok(),
        "the backend's stream was not dropped after the client hung up"
    );
}

// ---------------------------------------------------------------------------------------------
// (3) WebSocket

#[tokio::test]
async fn a_websocket_is_passed_through_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = oneshot::channel::<(String, String, String)>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        #[allow(
            clippy::result_large_err,
            reason = "the shape of tungstenite's handshake callback"
        )]
        let callback = move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                             resp| {
            let h = |name: &str| {
                req.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            let _ = seen_tx.send((req.uri().to_string(), h("x-forwarded-for"), h("host")));
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut front = front(backend).await;

    let url = format!("ws://{}/chat?room=1", front.addr);
    let (mut ws, resp) = timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 101);
    let (uri, forwarded_for, host) = timeout(WAIT, seen_rx).await.unwrap().unwrap();
    assert_eq!(uri, "/chat?room=1");
    assert_eq!(forwarded_for, "127.0.0.1");
    assert_eq!(host, front.addr.to_string());
    let mut probe = front.next_probe().await;

    for msg in [
        Message::text("hello through the proxy"),
        Message::binary(vec![0u8, 1, 2, 254, 255]),
        Message::text("x".repeat(100_000)),
    ] {
        ws.send(msg.clone()).await.unwrap();
        let back = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(back, msg);
        assert!(
            probe.held(),
            "the guard was dropped while the socket was open"
        );
    }

    ws.close(None).await.unwrap();
    // The close handshake; then the backend closes its socket (the proxy passes that on)
    // and the client closes its own (by dropping it): both directions are closed.
    while let Ok(Some(Ok(_))) = timeout(WAIT, ws.next()).await {}
    drop(ws);
    probe.dropped("a closed WebSocket").await;
}

// ---------------------------------------------------------------------------------------------
// (4) Large bodies

const BIG: usize = 20 * 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

fn big_data() -> Bytes {
    let mut data = vec![0u8; BIG];
    rand::fill(&mut data[..]);
    Bytes::from(data)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `POST /upload`: hashes the streamed body; tells `first` when the first piece arrived.
async fn upload(State(first): State<Arc<Notify>>, body: Body) -> String {
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut n = 0;
    while let Some(piece) = stream.next().await {
        let piece = piece.unwrap();
        if n == 0 {
            first.notify_one();
        }
        n += piece.len();
        hasher.update(&piece);
    }
    format!("{n} {}", hex::encode(hasher.finalize()))
}

#[tokio::test]
async fn a_20_mib_upload_is_streamed_and_arrives_intact() {
    let first = Arc::new(Notify::new());
    let app = Router::new()
        .route("/upload", post(upload))
        .with_state(first.clone());
    let backend = serve(app).await;
    let mut front = front(backend).await;

    let data = big_data();
    let expected = format!("{BIG} {}", sha256_hex(&data));
    // The client sends the first MiB, then waits until the backend has it before sending the
    // rest: a proxy that read the whole body before forwarding would stall here.
    let chunks = futures::stream::unfold(0usize, move |i| {
        let data = data.clone();
        let first = first.clone();
        async move {
            if i * CHUNK >= BIG {
                return None;
            }
            if i == 1 {
                timeout(WAIT, first.notified())
                    .await
                    .expect("the backend got the first MiB before the client sent the second");
            }
            let piece = data.slice(i * CHUNK..((i + 1) * CHUNK).min(BIG));
            Some((Ok::<_, Infallible>(Frame::data(piece)), i + 1))
        }
    });
    let (mut send, _conn) = connect(front.addr).await;
    let req = http::Request::post("/upload")
        .header(header::HOST, "demo.localhost")
        .body(StreamBody::new(chunks).boxed_unsync())
        .unwrap();
    let resp = timeout(WAIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = timeout(WAIT, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    front.next_probe().await.dropped("a finished upload").await;
}

#[tokio::test]
async fn a_20_mib_download_arrives_intact() {
    let data = big_data();
    let expected = sha256_hex(&data);
    let app = Router::new().route("/download", get(move || async move { data.clone() }));
    let backend = serve(app).await;
    let front = front(backend).await;

    let mut resp = client().get(front.url("/download")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(BIG as u64));
    let mut hasher = Sha256::new();
    let mut n = 0;
    while let Some(piece) = timeout(WAIT, resp.chunk()).await.unwrap().unwrap() {
        n += piece.len();
        hasher.update(&piece);
    }
    assert_eq!(n, BIG);
    assert_eq!(hex::encode(hasher.finalize()), expected);
}

// ---------------------------------------------------------------------------------------------
// (6) A backend that is gone

/// Accepts one connection, reads the request head, prints `got`, and never answers.
const SILENT_BACKEND: &str = r#"
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
data = b""
while b"\r\n\r\n" not in data:
    piece = c.recv(65536)
    if not piece:
        break
    data += piece
print("got", flush=True)
time.sleep(600)
"#;

#[tokio::test]
async fn a_backend_killed_mid_request_is_a_502_that_says_why() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", SILENT_BACKEND])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (the killed backend is a python3 process)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("the port")
        .parse()
        .unwrap();
    let backend = SocketAddr::from(([127, 0, 0, 1], port));
    let mut front = front(backend).await;

    let url = front.url("/slow");
    let request = tokio::spawn(async move { client().get(url).send().await });
    let got = timeout(WAIT, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(got.as_deref(), Some("got"), "the backend has the request");
    let mut probe = front.next_probe().await;
    assert!(probe.held(), "waiting for the backend's answer");
    assert!(!request.is_finished());

    child.kill().await.unwrap();

    let resp = timeout(WAIT, request).await.unwrap().unwrap().unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(
            "demo did not answer: it closed the connection before sending a response (did the \
             process stop?)."
        ),
        "{page}"
    );
    probe.dropped("a request answered with 502").await;
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_a_502_that_says_why() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = free.local_addr().unwrap();
    drop(free);
    let front = front(backend).await;

    let resp = client().get(front.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "demo did not answer: connection refused (nothing is listening on {backend})."
        )),
        "{page}"
    );
    assert!(page.contains("<h1>demo did not answer</h1>"), "{page}");
    // An API client gets the same reason as JSON.
    let resp = client()
        .get(front.url("/api/x"))
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "bad_gateway");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("demo did not answer: connection refused"),
        "{v}"
    );
}
