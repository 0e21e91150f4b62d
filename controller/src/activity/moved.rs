//! Connections that moved data: the activity agent's refined count (ADR 0008).
//!
//! Behind the shared load balancer (route mode on AWS) every connection a task sees comes from
//! the load balancer, and some of them are not visitors: idle keep-alive connections after a
//! request (open until the app's keep-alive timeout or the load balancer's idle timeout) and
//! health checks. Counting every ESTABLISHED connection ([`super::read_established`]) keeps a
//! service awake up to that idle timeout longer than its visitors do. This module asks the
//! kernel, for each ESTABLISHED connection on the app port, how long ago it last sent or
//! received data, and counts only those that did within a window (the agent passes the time
//! since its previous sample): a request on a kept-alive connection, an SSE stream's events or
//! keep-alive comments, a WebSocket's messages or pings. An idle connection moves nothing
//! (TCP keep-alive probes carry no data); a health check closes its connection (the load
//! balancer sends `Connection: close`) and is over long before the next sample.
//!
//! The source is the kernel's `sock_diag` netlink interface (what `ss -ti` reads), through the
//! `netlink-packet-sock-diag` crate: one dump per address family (IPv4, IPv6 including
//! IPv4-mapped sockets of dual-stack listeners), ESTABLISHED sockets only, with the `INFO`
//! extension (`struct tcp_info`). An unprivileged process may dump the sockets of its own
//! network namespace, which in an awsvpc task is the app's; no capability is needed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

/// Byte offset of `tcpi_last_data_sent` (u32, milliseconds, host byte order) in the kernel's
/// `struct tcp_info` (`include/uapi/linux/tcp.h`).
///
/// Read at its offset rather than through the crate's `rich_nlas` parser on purpose: that parser
/// refuses a `tcp_info` shorter than the newest layout it knows (fields added up to Linux 5.4),
/// which would fail on older kernels, while these two fields have sat at the same offsets since
/// Linux 2.6 (the struct only ever grows at its end: a stable ABI).
pub const TCPI_LAST_DATA_SENT: usize = 44;
/// Byte offset of `tcpi_last_data_recv` (u32, milliseconds): see [`TCPI_LAST_DATA_SENT`].
pub const TCPI_LAST_DATA_RECV: usize = 52;

/// One ESTABLISHED connection to the app port, as the kernel reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The peer (behind a load balancer: one of its nodes).
    pub remote: SocketAddr,
    /// Time since the connection last sent or received data (the smaller of the kernel's
    /// `tcpi_last_data_sent` and `tcpi_last_data_recv`, millisecond resolution). `None` when the
    /// kernel gave no `tcp_info` for it: such a connection counts as having moved data (sleep
    /// may come later than `idleTimeout`, never earlier).
    pub idle: Option<Duration>,
}

/// Connections that moved data within `window`: those whose [`Connection::idle`] is below it,
/// or unknown.
pub fn count_moved(connections: &[Connection], window: Duration) -> usize {
    connections
        .iter()
        .filter(|c| c.idle.is_none_or(|idle| idle < window))
        .count()
}

/// Reads the ESTABLISHED TCP connections whose **local** port is `port` (the server side of
/// visitors' connections; listeners and the client side of outgoing connections are left out),
/// IPv4 and IPv6, with the time since each last moved data.
///
/// Errors: the netlink socket cannot be opened or the kernel refuses the dump (e.g. `sock_diag`
/// not built into the kernel, or a seccomp profile that blocks netlink), or a reply that does
/// not parse (`InvalidData`). The agent then falls back to counting every ESTABLISHED
/// connection ([`super::read_established`]).
pub fn read_connections(port: u16) -> io::Result<Vec<Connection>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    let mut out = Vec::new();
    for (family, socket_id) in [
        (AF_INET, SocketId::new_v4()),
        (AF_INET6, SocketId::new_v6()),
    ] {
        dump(&socket, family, socket_id, port, &mut out)?;
    }
    Ok(out)
}

/// Connections on `port` that moved data within `window` ([`read_connections`] and
/// [`count_moved`]). Errors as [`read_connections`].
pub fn read_moved(port: u16, window: Duration) -> io::Result<usize> {
    Ok(count_moved(&read_connections(port)?, window))
}

/// One `SOCK_DIAG_BY_FAMILY` dump of `family`'s ESTABLISHED TCP sockets, appending those on the
/// local `port` to `out`.
fn dump(
    socket: &Socket,
    family: u8,
    socket_id: SocketId,
    port: u16,
    out: &mut Vec<Connection>,
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::INFO,
            states: StateFlags::ESTABLISHED,
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;
    loop {
        let (datagram, _) = socket.recv_from_full()?;
        if datagram.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sock_diag: the kernel closed the dump without its end marker",
            ));
        }
        let mut offset = 0;
        while offset < datagram.len() {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&datagram[offset..])
                .map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag reply: {e}"))
                })?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    let id = &response.header.socket_id;
                    if id.source_port == port {
                        let idle = response.nlas.iter().find_map(|nla| match nla {
                            Nla::TcpInfo(info) => idle_of(info),
                            _ => None,
                        });
                        out.push(Connection {
                            remote: SocketAddr::new(id.destination_address, id.destination_port),
                            idle,
                        });
                    }
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                _ => {}
            }
            if length == 0 {
                break;
            }
            // Messages in one datagram start at 4-byte boundaries (NLMSG_ALIGN).
            offset += length.next_multiple_of(4);
        }
    }
}

/// The smaller of `tcpi_last_data_sent` and `tcpi_last_data_recv` in a raw `struct tcp_info`;
/// `None` when it is too short to hold them.
fn idle_of(info: &[u8]) -> Option<Duration> {
    let millis = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(info.get(at..at + 4)?.try_into().ok()?))
    };
    let sent = millis(TCPI_LAST_DATA_SENT)?;
    let received = millis(TCPI_LAST_DATA_RECV)?;
    Some(Duration::from_millis(u64::from(sent.min(received))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    fn connection(idle_ms: Option<u64>) -> Connection {
        Connection {
            remote: "10.0.0.7:41000".parse().unwrap(),
            idle: idle_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn counts_connections_idle_for_less_than_the_window_and_unknown_ones() {
        let conns = [
            connection(Some(20)),
            connection(Some(14_999)),
            connection(Some(15_000)),
            connection(Some(90_000)),
            connection(None),
        ];
        assert_eq!(count_moved(&conns, Duration::from_secs(15)), 3);
        assert_eq!(count_moved(&conns, Duration::from_millis(10)), 1);
        assert_eq!(count_moved(&[], Duration::from_secs(15)), 0);
    }

    #[test]
    fn idle_is_the_smaller_of_sent_and_received() {
        let mut info = vec![0u8; 104];
        info[TCPI_LAST_DATA_SENT..TCPI_LAST_DATA_SENT + 4].copy_from_slice(&700u32.to_ne_bytes());
        info[TCPI_LAST_DATA_RECV..TCPI_LAST_DATA_RECV + 4]
            .copy_from_slice(&90_000u32.to_ne_bytes());
        assert_eq!(idle_of(&info), Some(Duration::from_millis(700)));
        assert_eq!(idle_of(&info[..50]), None, "too short for last_data_recv");
        assert_eq!(idle_of(&[]), None);
    }

    /// Waits until `port`'s one connection shows an idle time of at least `at_least`.
    fn wait_idle(port: u16, at_least: Duration) -> Connection {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let conns = read_connections(port).unwrap();
            assert_eq!(conns.len(), 1, "exactly the server side: {conns:?}");
            if conns[0].idle.is_some_and(|i| i >= at_least) {
                return conns[0];
            }
            assert!(Instant::now() < deadline, "never idle: {conns:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The kernel's own view of a real local connection: data in either direction makes it
    /// "moved"; once quiet it stops counting although it stays ESTABLISHED.
    #[test]
    fn a_real_connection_counts_while_it_moves_data_and_not_while_it_idles() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            read_connections(port).unwrap().is_empty(),
            "a listener is no connection"
        );

        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let window = Duration::from_millis(250);

        // A request arrives: moved.
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).unwrap();
        assert!(n > 0);
        let conns = read_connections(port).unwrap();
        assert_eq!(conns.len(), 1, "{conns:?}");
        assert_eq!(conns[0].remote, client.local_addr().unwrap());
        assert_eq!(count_moved(&conns, window), 1, "{conns:?}");

        // Kept alive but quiet: still ESTABLISHED, no longer counted.
        let quiet = wait_idle(port, window);
        assert_eq!(count_moved(&[quiet], window), 0);
        assert_eq!(super::super::read_established(port).unwrap(), 1);

        // The server sends (an SSE event, a WebSocket ping): moved again.
        server.write_all(b"data: tick\n\n").unwrap();
        client.read_exact(&mut buf[..12]).unwrap();
        assert_eq!(read_moved(port, window).unwrap(), 1);

        // Closed: gone.
        drop(server);
        drop(client);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !read_connections(port).unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "connection still listed after close"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn ipv6_connections_are_read_too() {
        let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback (the CI machine has it)");
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("::1", port)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        client.write_all(b"x").unwrap();
        let conns = read_connections(port).unwrap();
        assert_eq!(conns.len(), 1, "{conns:?}");
        assert!(conns[0].remote.is_ipv6());
    }
}
