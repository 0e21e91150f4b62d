//! Activity: counting the TCP connections to a service's port and recording them as
//! `desired.lastActivityAt` (DESIGN.md §6).
//!
//! Visitors are redirected to the task (or, in route mode on AWS, forwarded to it by the shared
//! load balancer), so later traffic never passes the wake endpoint; idle is measured where the
//! app runs. The same code serves two callers:
//!
//! - the in-task agent, `snoozectl agent` ([`run_agent`]), a sidecar that shares the app's
//!   network namespace (awsvpc). By default ([`Count::Moved`], ADR 0008) it counts the
//!   connections that sent or received data since its previous sample, read through the
//!   kernel's sock_diag interface ([`moved`]); idle keep-alive connections and the load
//!   balancer's health checks do not count. [`Count::Established`] counts every ESTABLISHED
//!   connection from `/proc/net/tcp` and `/proc/net/tcp6` (ADR 0003), and is the fallback
//!   when sock_diag is unavailable;
//! - `snoozectl dev`, which measures its child processes by ESTABLISHED connections
//!   ([`read_established`]).
//!
//! Only sockets in state ESTABLISHED (`01`) whose **local** port is the app port count: the
//! server side of a visitor's connection. LISTEN, TIME_WAIT and the client side of outgoing
//! connections do not. Uptime is never activity.

#[cfg(target_os = "linux")]
pub mod moved;

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tracing::{debug, info, warn};

use crate::model::Timestamp;
use crate::store::{self, Store, Touch};

/// `/proc/net/tcp`: IPv4 sockets of the current network namespace.
pub const PROC_NET_TCP: &str = "/proc/net/tcp";
/// `/proc/net/tcp6`: IPv6 sockets (including IPv4-mapped ones of dual-stack listeners).
pub const PROC_NET_TCP6: &str = "/proc/net/tcp6";

/// The kernel's TCP state code for ESTABLISHED (`TCP_ESTABLISHED` in `include/net/tcp_states.h`).
pub const TCP_ESTABLISHED: u8 = 0x01;

/// Default interval of the agent, 15 s (`SNOOZE_AGENT_INTERVAL`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// One row of `/proc/net/tcp{,6}`, reduced to what activity needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRow {
    /// Local port (the part after `:` of `local_address`, hex in the file).
    pub local_port: u16,
    /// Remote port.
    pub remote_port: u16,
    /// TCP state code (`st`, hex in the file): `01` ESTABLISHED, `06` TIME_WAIT, `0A` LISTEN...
    pub state: u8,
}

/// Parses one data row of `/proc/net/tcp` or `/proc/net/tcp6`.
///
/// The format is fixed (kernel `net/ipv4/tcp_ipv4.c`, `get_tcp4_sock`): whitespace-separated
/// columns `sl: local_address rem_address st ...`, addresses as `HEXADDR:HEXPORT` (8 hex digits
/// for IPv4, 32 for IPv6). Returns `None` for the header line and for anything that does not
/// have that shape.
pub fn parse_row(line: &str) -> Option<SocketRow> {
    let mut cols = line.split_whitespace();
    let slot = cols.next()?;
    // Data rows start with "N:"; the header starts with "sl".
    slot.strip_suffix(':')?.parse::<u64>().ok()?;
    let local = cols.next()?;
    let remote = cols.next()?;
    let state = u8::from_str_radix(cols.next()?, 16).ok()?;
    Some(SocketRow {
        local_port: port_of(local)?,
        remote_port: port_of(remote)?,
        state,
    })
}

/// The port of `HEXADDR:HEXPORT`.
fn port_of(addr: &str) -> Option<u16> {
    let (ip, port) = addr.rsplit_once(':')?;
    if !(ip.len() == 8 || ip.len() == 32) || !ip.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(port, 16).ok()
}

/// Counts ESTABLISHED connections whose local port is `port` in the text of `/proc/net/tcp`
/// (`tcp`) and `/proc/net/tcp6` (`tcp6`; pass `""` when absent). Lines that do not parse are
/// ignored.
pub fn count_established(port: u16, tcp: &str, tcp6: &str) -> usize {
    tcp.lines()
        .chain(tcp6.lines())
        .filter_map(parse_row)
        .filter(|r| r.state == TCP_ESTABLISHED && r.local_port == port)
        .count()
}

/// Reads `/proc/net/tcp` and `/proc/net/tcp6` and counts ESTABLISHED connections to the local
/// `port`. A missing `tcp6` (IPv6 disabled) counts as empty.
///
/// Errors: the `io::Error` of reading `/proc/net/tcp` (not Linux, no procfs), or of `tcp6`
/// other than "not found".
pub fn read_established(port: u16) -> io::Result<usize> {
    read_established_from(Path::new(PROC_NET_TCP), Path::new(PROC_NET_TCP6), port)
}

/// [`read_established`] over other files (e.g. `/proc/<pid>/net/tcp` or fixtures).
pub fn read_established_from(tcp: &Path, tcp6: &Path, port: u16) -> io::Result<usize> {
    let v4 = std::fs::read_to_string(tcp)?;
    let v6 = match std::fs::read_to_string(tcp6) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(count_established(port, &v4, &v6))
}

/// The kernel's TCP state code for LISTEN.
pub const TCP_LISTEN: u8 = 0x0A;

/// True when some socket LISTENs on the local `port` in the given `/proc/net/tcp{,6}` text.
pub fn has_listener(port: u16, tcp: &str, tcp6: &str) -> bool {
    tcp.lines()
        .chain(tcp6.lines())
        .filter_map(parse_row)
        .any(|r| r.state == TCP_LISTEN && r.local_port == port)
}

/// Reads `/proc/net/tcp{,6}`: is anything listening on the local `port`? Used by the local
/// platform to tell a started process (PENDING) from one that accepts connections (RUNNING)
/// without opening a connection (which would look like activity). Errors as
/// [`read_established`].
pub fn read_listening(port: u16) -> io::Result<bool> {
    let v4 = std::fs::read_to_string(PROC_NET_TCP)?;
    let v6 = match std::fs::read_to_string(PROC_NET_TCP6) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(has_listener(port, &v4, &v6))
}

/// What the agent counts as activity (`snoozectl agent --count`, env `SNOOZE_AGENT_COUNT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Count {
    /// Connections that sent or received data since the previous sample (default; ADR 0008).
    /// Falls back to `established`, with a warning, where the kernel's sock_diag interface
    /// cannot be read (and on systems other than Linux).
    #[default]
    Moved,
    /// Every ESTABLISHED connection, idle ones included (ADR 0003).
    Established,
}

/// Margin added to the time since the previous sample when the agent asks which connections
/// moved data, so that data moved just after a sample is not lost to timer jitter (the kernel
/// reports idle times in milliseconds, on a jiffy clock).
pub const MOVED_WINDOW_SLACK: Duration = Duration::from_secs(1);

/// Counts activity on the local `port` the way `count` says: for [`Count::Moved`] the
/// connections that moved data within `window`. Errors are those of the reader used.
pub fn read_activity(count: Count, port: u16, window: Duration) -> io::Result<usize> {
    match count {
        Count::Established => read_established(port),
        #[cfg(target_os = "linux")]
        Count::Moved => moved::read_moved(port, window),
        #[cfg(not(target_os = "linux"))]
        Count::Moved => {
            let _ = window;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "counting connections that moved data needs Linux (sock_diag)",
            ))
        }
    }
}

/// Records activity for `service` at `at`, retrying backend errors with jittered exponential
/// backoff (200 ms doubling up to 5 s, 5 retries). A missing record is not retried.
pub async fn record_with_backoff(
    store: &dyn Store,
    service: &str,
    at: Timestamp,
    debounce: Duration,
) -> store::Result<Touch> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(5)
        .with_jitter();
    (|| async { store.record_activity(service, at, debounce).await })
        .retry(backoff)
        .when(|e| !matches!(e, store::Error::NotFound(_)))
        .notify(|e, wait| warn!(service, error = %e, retry_in = ?wait, "recording activity failed; retrying"))
        .await
}

/// What the agent watches and how: `snoozectl agent`'s settings ([`run_agent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// The record whose `lastActivityAt` it writes (`--service`, `SNOOZE_SERVICE`).
    pub service: String,
    /// The app's TCP port (`--port`, `SNOOZE_PORT`).
    pub port: u16,
    /// Sampling interval (`--interval`, `SNOOZE_AGENT_INTERVAL`; default [`DEFAULT_INTERVAL`]).
    pub every: Duration,
    /// Activity writes closer together than this are skipped by the store (`--debounce`).
    pub debounce: Duration,
    /// What counts as activity (`--count`, `SNOOZE_AGENT_COUNT`).
    pub count: Count,
}

/// The in-task activity agent (`snoozectl agent`).
///
/// Every `config.every` (default [`DEFAULT_INTERVAL`]) it counts connections to the local
/// `config.port` as `config.count` says ([`read_activity`]; for [`Count::Moved`] the window is the time since the
/// previous sample plus [`MOVED_WINDOW_SLACK`], so every byte moved is seen by exactly the next
/// sample, and a reader error switches the agent to [`Count::Established`] for good, with one
/// warning); when there is at least one it writes
/// `lastActivityAt = now` for `service` ([`Store::record_activity`], debounced by `debounce`,
/// never creating the record). Store errors are logged and retried with backoff
/// ([`record_with_backoff`]); when the retries run out the agent logs and carries on with the
/// next tick — it never exits on them, so it never takes the task down. It returns when
/// `shutdown` completes (e.g. SIGTERM), also in the middle of a retry.
pub async fn run_agent(
    store: Arc<dyn Store>,
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) {
    let AgentConfig {
        service,
        port,
        every,
        debounce,
        mut count,
    } = config;
    info!(service = %service, port, every = ?every, count = ?count, "activity agent started");
    tokio::pin!(shutdown);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = ticks.tick() => {}
        }
        let now = tokio::time::Instant::now();
        let window = previous.map_or(every, |p| now - p).max(every) + MOVED_WINDOW_SLACK;
        previous = Some(now);
        let mut counted = read_activity(count, port, window);
        if let (Count::Moved, Err(e)) = (count, &counted) {
            warn!(service = %service, port, error = %e,
                "cannot read which connections moved data (sock_diag); counting every established connection from now on (ADR 0008)");
            count = Count::Established;
            counted = read_activity(count, port, window);
        }
        let tick = async {
            let connections = match counted {
                Ok(n) => n,
                Err(e) => {
                    warn!(service = %service, port, error = %e, "cannot read /proc/net/tcp");
                    return;
                }
            };
            debug!(service = %service, port, connections, "counted connections");
            if connections == 0 {
                return;
            }
            match record_with_backoff(store.as_ref(), &service, Timestamp::now(), debounce).await {
                Ok(Touch::Written) => info!(service = %service, connections, "activity recorded"),
                Ok(Touch::Debounced) => {
                    debug!(service = %service, connections, "activity debounced")
                }
                Err(e) => {
                    warn!(service = %service, error = %e, "could not record activity; trying again next tick")
                }
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick => {}
        }
    }
    info!(service = %service, "activity agent stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use crate::model::{Entry, Record, Status};
    use crate::store::{Applied, StatusGuard};

    fn fixture(name: &str) -> String {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/proc")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn parses_header_and_rows() {
        assert_eq!(
            parse_row("  sl  local_address rem_address   st tx_queue rx_queue"),
            None
        );
        assert_eq!(
            parse_row(
                "   0: 0100007F:1F91 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000 0 1 1"
            ),
            Some(SocketRow {
                local_port: 8081,
                remote_port: 0xD2F0,
                state: 1
            })
        );
        assert_eq!(
            parse_row(
                "  3: 0000000000000000FFFF00000100007F:1F91 0000000000000000FFFF00000100007F:A1B2 0A 0"
            ),
            Some(SocketRow {
                local_port: 8081,
                remote_port: 0xA1B2,
                state: 0x0A
            })
        );
        assert_eq!(parse_row(""), None);
        assert_eq!(parse_row("   0: garbage"), None);
        assert_eq!(parse_row("   0: 0100007F:ZZZZ 00000000:0000 01"), None);
        assert_eq!(parse_row("   0: 01007F:1F91 00000000:0000 01"), None);
    }

    #[test]
    fn counts_only_established_on_the_local_port_ipv4() {
        let tcp = fixture("tcp");
        // 8081: one LISTEN, two ESTABLISHED (server side), one TIME_WAIT, one CLOSE_WAIT; an
        // outgoing connection *to* 8081 from port 53000 (client side) is not the app's.
        assert_eq!(count_established(8081, &tcp, ""), 2);
        // 9000: only listening.
        assert_eq!(count_established(9000, &tcp, ""), 0);
        // 22: one established ssh session.
        assert_eq!(count_established(22, &tcp, ""), 1);
        // A port nobody uses.
        assert_eq!(count_established(1234, &tcp, ""), 0);
    }

    #[test]
    fn counts_ipv6_and_ipv4_mapped_connections() {
        let tcp6 = fixture("tcp6");
        // 8081 over IPv6: one native [::1] connection, one IPv4-mapped, one TIME_WAIT, a LISTEN.
        assert_eq!(count_established(8081, "", &tcp6), 2);
        assert_eq!(count_established(8081, &fixture("tcp"), &tcp6), 4);
        assert_eq!(count_established(443, "", &tcp6), 0);
    }

    #[test]
    fn listeners_are_found_but_never_counted() {
        assert!(has_listener(8081, &fixture("tcp-listen-only"), ""));
        assert!(has_listener(443, "", &fixture("tcp6")));
        assert!(!has_listener(22, "", &fixture("tcp6")));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(read_listening(port).unwrap());
        drop(listener);
        assert!(!read_listening(port).unwrap());
    }

    #[test]
    fn empty_and_header_only_files_count_zero() {
        assert_eq!(count_established(8081, "", ""), 0);
        assert_eq!(count_established(8081, &fixture("tcp-listen-only"), ""), 0);
    }

    #[test]
    fn missing_tcp6_is_fine_missing_tcp_is_an_error() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc");
        let n = read_established_from(&dir.join("tcp"), &dir.join("no-such-tcp6"), 8081).unwrap();
        assert_eq!(n, 2);
        let err = read_established_from(&dir.join("no-such-tcp"), &dir.join("tcp6"), 8081);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_real_local_connection_counts_until_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(read_established(port).unwrap(), 0, "nothing connected yet");
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        // Exactly one: the server side. The client side has a local ephemeral port.
        assert_eq!(read_established(port).unwrap(), 1);
        // Server closes first: its side goes through FIN_WAIT/TIME_WAIT, which never counts.
        drop(server);
        drop(client);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while read_established(port).unwrap() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "connection still counted after close"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A store whose `record_activity` fails `fail_first` times, then records the calls.
    struct FakeStore {
        fail_first: Mutex<usize>,
        calls: Mutex<Vec<(String, Timestamp, Duration)>>,
        missing: bool,
    }

    impl FakeStore {
        fn new(fail_first: usize) -> Self {
            Self {
                fail_first: Mutex::new(fail_first),
                calls: Mutex::new(vec![]),
                missing: false,
            }
        }
        fn calls(&self) -> usize {
            self.calls.lock().unwrap().len()
        }
    }

    /// The agent only ever records activity; any other call is a test failure, reported as an
    /// error the test sees rather than a panic inside the agent's task.
    fn not_used() -> store::Error {
        store::Error::Config("the agent must only call record_activity".into())
    }

    #[async_trait]
    impl Store for FakeStore {
        async fn get(&self, _: &str) -> store::Result<Option<Entry>> {
            Err(not_used())
        }
        async fn list(&self) -> store::Result<Vec<Entry>> {
            Err(not_used())
        }
        async fn apply(&self, _: &Record, _: Option<u64>) -> store::Result<Applied> {
            Err(not_used())
        }
        async fn delete(&self, _: &str, _: Option<u64>) -> store::Result<()> {
            Err(not_used())
        }
        async fn record_wake(&self, _: &str, _: Timestamp, _: Duration) -> store::Result<Touch> {
            Err(not_used())
        }
        async fn record_activity(
            &self,
            name: &str,
            at: Timestamp,
            d: Duration,
        ) -> store::Result<Touch> {
            if self.missing {
                self.calls.lock().unwrap().push((name.into(), at, d));
                return Err(store::Error::NotFound(name.into()));
            }
            let mut fail = self.fail_first.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(store::Error::Backend {
                    operation: "UpdateItem",
                    message: "ProvisionedThroughputExceededException: slow down".into(),
                });
            }
            self.calls.lock().unwrap().push((name.into(), at, d));
            Ok(Touch::Written)
        }
        async fn request_sleep(&self, _: &str, _: Timestamp) -> store::Result<()> {
            Err(not_used())
        }
        async fn force_wake(&self, _: &str, _: Timestamp) -> store::Result<()> {
            Err(not_used())
        }
        async fn publish_status(&self, _: &str, _: &Status, _: StatusGuard) -> store::Result<()> {
            Err(not_used())
        }
    }

    fn agent_config(
        service: &str,
        port: u16,
        every: Duration,
        debounce: Duration,
        count: Count,
    ) -> AgentConfig {
        AgentConfig {
            service: service.into(),
            port,
            every,
            debounce,
            count,
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn agent_records_activity_only_while_connected_and_survives_store_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(FakeStore::new(2));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run_agent(
            store.clone(),
            agent_config(
                "demo",
                port,
                Duration::from_millis(50),
                Duration::from_secs(30),
                Count::Established,
            ),
            async {
                stop_rx.await.ok();
            },
        ));
        // No connection: several ticks, nothing recorded.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(store.calls(), 0, "uptime is not activity");

        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        // The first two writes fail (throttled); the agent retries and then records.
        wait_for("activity recorded", || store.calls() >= 1).await;
        let (name, _, debounce) = store.calls.lock().unwrap()[0].clone();
        assert_eq!((name.as_str(), debounce), ("demo", Duration::from_secs(30)));
        assert_eq!(*store.fail_first.lock().unwrap(), 0);

        drop((client, server));
        // Give the kernel a moment, then check no more writes happen.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let settled = store.calls();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            store.calls(),
            settled,
            "no activity after the connection closed"
        );

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), agent)
            .await
            .expect("agent exits on shutdown")
            .unwrap();
    }

    #[tokio::test]
    async fn agent_keeps_running_when_the_record_is_missing() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _server = listener.accept().unwrap();
        let store = Arc::new(FakeStore {
            missing: true,
            ..FakeStore::new(0)
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run_agent(
            store.clone(),
            agent_config(
                "gone",
                port,
                Duration::from_millis(30),
                Duration::ZERO,
                Count::Established,
            ),
            async {
                stop_rx.await.ok();
            },
        ));
        // NotFound is not retried within a tick, but every tick tries again.
        wait_for("three ticks", || store.calls() >= 3).await;
        assert!(!agent.is_finished());
        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), agent)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn agent_stops_in_the_middle_of_a_retry() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _server = listener.accept().unwrap();
        let store = Arc::new(FakeStore::new(usize::MAX));
        let agent = tokio::spawn(run_agent(
            store,
            agent_config(
                "demo",
                port,
                Duration::from_millis(10),
                Duration::ZERO,
                Count::Established,
            ),
            tokio::time::sleep(Duration::from_millis(300)),
        ));
        tokio::time::timeout(Duration::from_secs(2), agent)
            .await
            .expect("shutdown wins over backoff")
            .unwrap();
    }

    /// The default count (ADR 0008): a kept-alive connection that moves nothing stops counting
    /// one window after its last data, and counts again as soon as data moves.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn agent_counting_moved_data_ignores_an_idle_kept_alive_connection() {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let store = Arc::new(FakeStore::new(0));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(run_agent(
            store.clone(),
            agent_config(
                "demo",
                port,
                Duration::from_millis(50),
                Duration::ZERO,
                Count::Moved,
            ),
            async {
                stop_rx.await.ok();
            },
        ));
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 64];
        assert!(server.read(&mut buf).unwrap() > 0);
        wait_for("the request counted", || store.calls() >= 1).await;

        // Quiet for longer than the window (interval + MOVED_WINDOW_SLACK): the agent stops
        // recording although the connection stays open.
        tokio::time::sleep(MOVED_WINDOW_SLACK + Duration::from_millis(400)).await;
        let settled = store.calls();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            store.calls(),
            settled,
            "an idle kept-alive connection is not activity"
        );
        assert_eq!(
            read_established(port).unwrap(),
            1,
            "the connection is still open"
        );

        // The app sends on it (an SSE event): activity again.
        server.write_all(b"data: tick\n\n").unwrap();
        client.read_exact(&mut buf[..12]).unwrap();
        wait_for("the stream's data counted", || store.calls() > settled).await;

        stop_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), agent)
            .await
            .expect("agent exits on shutdown")
            .unwrap();
    }
}
