//! Benchmark of `snoozectl dev`'s reverse proxy ([`snooze::proxy::Proxy::forward`]) on
//! loopback. Prints figures; asserts nothing (tests/proxy.rs does that).
//!
//! ```text
//! cargo run --release -p snooze --example proxy_bench
//! cargo run --release -p snooze --example proxy_bench -- --requests 20000 --events 100
//! ```
//!
//! In one process: a backend (axum; `GET /` answers 100 bytes, `GET /sse` sends an event every
//! 100 ms carrying its send time) and a front server that forwards every request through the
//! proxy. Then:
//! 1. latency of small requests: after a warm-up, `--requests` (default 5,000) `GET /` each
//!    directly to the backend and through the proxy, interleaved (direct, proxy, proxy, direct,
//!    ...), each over one keep-alive connection; p50/p90/p99/max in µs and the added latency
//!    (proxy − direct) at p50 and p99;
//! 2. SSE first-byte delay: `--events` (default 50) events through the proxy; for each, the
//!    time from the backend handing it to hyper to the client receiving it (both read from one
//!    `Instant` in this process); p50/p99/max in ms.
//!
//! Bounded: about 2 s for the requests (default count) plus `--events` × 100 ms. Client,
//! proxy and backend share the machine's cores, so figures vary from run to run.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use snooze::proxy::Proxy;
use tokio::net::{TcpListener, TcpStream};

/// Command line of the benchmark.
#[derive(Parser)]
struct Args {
    /// Small requests each way (direct and through the proxy).
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Warm-up requests each way, not counted.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// SSE events (100 ms apart) for the first-byte delay.
    #[arg(long, default_value_t = 50)]
    events: u32,
}

/// The one clock of the process: event send times are µs since this instant.
static START: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The bound of any single wait.
const WAIT: Duration = Duration::from_secs(10);

async fn serve(app: Router) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(addr)
}

async fn backend(events: u32) -> Result<SocketAddr> {
    let small = Bytes::from(vec![b'x'; 100]);
    let app = Router::new()
        .route("/", get(move || async move { small.clone() }))
        .route(
            "/sse",
            get(move || async move {
                let stream = futures::stream::unfold(0u32, move |i| async move {
                    if i >= events {
                        return None;
                    }
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let event = Bytes::from(format!("data: {}\n\n", now_us()));
                    Some((Ok::<_, Infallible>(event), i + 1))
                });
                (
                    [(http::header::CONTENT_TYPE, "text/event-stream")],
                    Body::from_stream(stream),
                )
                    .into_response()
            }),
        );
    serve(app).await
}

async fn front(backend: SocketAddr) -> Result<SocketAddr> {
    let proxy = Proxy::new();
    let app = Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
            let proxy = proxy.clone();
            async move { proxy.forward(req, backend, peer, "http", "bench", ()).await }
        },
    );
    serve(app).await
}

/// One keep-alive HTTP/1.1 connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// One `GET /` and its whole body; the time it took.
async fn timed_get(send: &mut SendRequest<Empty<Bytes>>) -> Result<Duration> {
    let started = Instant::now();
    let exchange = async {
        send.ready().await?;
        let req = http::Request::get("/")
            .header(http::header::HOST, "bench.localhost")
            .body(Empty::new())?;
        let resp = send.send_request(req).await?;
        anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::ensure!(body.len() == 100, "body of {} bytes", body.len());
        Ok(())
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .context("a request took longer than 10 s")??;
    Ok(started.elapsed())
}

/// The `p`-th percentile (nearest rank) of sorted `v`.
fn pct<T: Copy>(v: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    START.get_or_init(Instant::now);
    let backend = backend(args.events).await?;
    let front = front(backend).await?;
    let mut direct = connect(backend).await?;
    let mut proxied = connect(front).await?;

    for _ in 0..args.warmup {
        timed_get(&mut direct).await?;
        timed_get(&mut proxied).await?;
    }
    let mut d = Vec::with_capacity(args.requests);
    let mut p = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            d.push(timed_get(&mut direct).await?);
            p.push(timed_get(&mut proxied).await?);
        } else {
            p.push(timed_get(&mut proxied).await?);
            d.push(timed_get(&mut direct).await?);
        }
    }
    d.sort();
    p.sort();
    println!(
        "proxy_bench: {} GET / (100-byte body) each way, interleaved, one keep-alive connection \
         each, after {} warm-up",
        args.requests, args.warmup
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9}",
        "µs", "p50", "p90", "p99", "max"
    );
    for (name, v) in [("direct", &d), ("proxy", &p)] {
        println!(
            "{:<8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            name,
            us(pct(v, 50.0)),
            us(pct(v, 90.0)),
            us(pct(v, 99.0)),
            us(pct(v, 100.0))
        );
    }
    println!(
        "added by the proxy (proxy - direct): p50 {:.1} µs, p99 {:.1} µs",
        us(pct(&p, 50.0)) - us(pct(&d, 50.0)),
        us(pct(&p, 99.0)) - us(pct(&d, 99.0)),
    );

    // SSE: the delay from the backend sending an event to the client receiving it.
    let mut sse = connect(front).await?;
    let req = http::Request::get("/sse")
        .header(http::header::HOST, "bench.localhost")
        .body(Empty::new())?;
    let resp = tokio::time::timeout(WAIT, sse.send_request(req))
        .await
        .context("no SSE response head within 10 s")??;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut delays_ms: Vec<f64> = Vec::new();
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame())
        .await
        .context("no SSE event within 10 s")?
    {
        let received = now_us();
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let sent: u64 = std::str::from_utf8(&event)?
                .trim()
                .trim_start_matches("data: ")
                .parse()?;
            delays_ms.push(received.saturating_sub(sent) as f64 / 1000.0);
        }
    }
    anyhow::ensure!(!delays_ms.is_empty(), "no SSE events arrived");
    delays_ms.sort_by(f64::total_cmp);
    println!(
        "SSE through the proxy, {} events 100 ms apart: send-to-receive delay p50 {:.3} ms, \
         p99 {:.3} ms, max {:.3} ms",
        delays_ms.len(),
        pct(&delays_ms, 50.0),
        pct(&delays_ms, 99.0),
        pct(&delays_ms, 100.0)
    );
    Ok(())
}
