//! Every TCP socket of this network namespace, whoever owns it, as the
//! kernel dumps them over `sock_diag(7)` (a `NETLINK_SOCK_DIAG` socket, the
//! interface `ss(8)` uses): address, state, queues, owner. Unlike
//! `/proc/net/tcp` it gives a listener's backlog, so the grader can read
//! the `listen()` argument of a program it did not write.
//!
//! Linux only: elsewhere [`tcp_sockets`] returns an error of kind
//! [`io::ErrorKind::Unsupported`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::tcp_info::TcpState;

/// How long one dump may wait for the kernel's next message.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(2);

/// One TCP socket, as `sock_diag(7)` reports it (`struct inet_diag_msg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[derive(schemars::JsonSchema)]
pub struct DiagSocket {
    /// The socket's own address and port (`id.idiag_src`, `idiag_sport`).
    pub local: SocketAddr,
    /// The peer's (`idiag_dst`, `idiag_dport`); port 0 for a listener.
    pub remote: SocketAddr,
    /// The state (`idiag_state`).
    pub state: TcpState,
    /// `idiag_rqueue`. For a listener: connections in its accept queue,
    /// waiting for `accept()`. Otherwise: bytes in the receive queue,
    /// not yet read by the program.
    pub recv_queue: u32,
    /// `idiag_wqueue`. For a listener: its backlog, the longest accept
    /// queue it may have (`listen()`'s argument, capped by
    /// `net.core.somaxconn`). Otherwise: bytes in the send queue not yet
    /// acknowledged by the peer.
    pub send_queue: u32,
    /// The owner's user id (`idiag_uid`), as this namespace sees it.
    pub uid: u32,
    /// The socket's inode number (`idiag_inode`), as `/proc/PID/fd` links
    /// name it (`socket:[INODE]`); 0 once no program holds it (`TIME_WAIT`).
    pub inode: u32,
    /// The peer's advertised receive window, in bytes: how much more this
    /// socket may send (`tcpi_snd_wnd` of its `TCP_INFO`, the
    /// `INET_DIAG_INFO` attribute); 0 when the peer's receive queue is
    /// full. `None`: not a connection, or a kernel older than 6.2.
    pub send_window_bytes: Option<u32>,
}

impl DiagSocket {
    /// Whether the socket is in `state`.
    pub fn is(&self, state: TcpState) -> bool {
        self.state == state
    }
}

/// `127.0.0.1:1060 LISTEN, backlog 1, 0 waiting, inode 4711`, or
/// `127.0.0.1:1060 -> 127.0.0.1:40123 ESTABLISHED, queues 0/0, inode 4712`
/// (receive queue / send queue, in bytes).
impl std::fmt::Display for DiagSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rq, wq, inode) = (self.recv_queue, self.send_queue, self.inode);
        if self.is(TcpState::Listen) {
            let state = self.state;
            return write!(
                f,
                "{} {state}, backlog {wq}, {rq} waiting, inode {inode}",
                self.local
            );
        }
        write!(f, "{} -> {} {}, ", self.local, self.remote, self.state)?;
        write!(f, "queues {rq}/{wq}, inode {inode}")
    }
}

/// Dumps every TCP socket of this network namespace, IPv4 then IPv6,
/// each with its `TCP_INFO` (`INET_DIAG_INFO`), with one
/// `SOCK_DIAG_BY_FAMILY` request each, each answer waited for at
/// most [`DUMP_TIMEOUT`] (`SO_RCVTIMEO`).
///
/// # Errors
/// The netlink socket could not be made or bound, the kernel did not
/// answer in time (`TimedOut`), or an answer did not parse
/// (`InvalidData`). `Unsupported` on systems other than Linux.
pub fn tcp_sockets() -> io::Result<Vec<DiagSocket>> {
    #[cfg(target_os = "linux")]
    {
        let mut all = linux::dump(libc_family::AF_INET)?;
        all.extend(linux::dump(libc_family::AF_INET6)?);
        Ok(all)
    }
    #[cfg(not(target_os = "linux"))]
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(target_os = "linux")]
mod libc_family {
    pub const AF_INET: u8 = nix::libc::AF_INET as u8;
    pub const AF_INET6: u8 = nix::libc::AF_INET6 as u8;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::net::SocketAddr;
    use std::time::Instant;

    use netlink_packet_core::{
        NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader,
        NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_packet_sock_diag::constants::IPPROTO_TCP;
    use netlink_packet_sock_diag::inet::nlas::Nla;
    use netlink_packet_sock_diag::inet::{
        ExtensionFlags, InetRequest, SocketId, StateFlags,
    };
    use netlink_sys::{Socket, SocketAddr as NlAddr, protocols};

    use super::{DUMP_TIMEOUT, DiagSocket, TcpState, send_window};

    /// `TCP_LISTEN` in `include/net/tcp_states.h`.
    const LISTEN: u8 = 10;

    /// One dump of `family`'s TCP sockets, every state.
    pub(super) fn dump(family: u8) -> io::Result<Vec<DiagSocket>> {
        let mut sock = Socket::new(protocols::NETLINK_SOCK_DIAG)?;
        sock.bind_auto()?;
        sock.connect(&NlAddr::new(0, 0))?; // the kernel
        socket2::SockRef::from(&sock).set_read_timeout(Some(DUMP_TIMEOUT))?;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let id = if family == super::libc_family::AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        let request = SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::INFO,
            states: StateFlags::all(),
            socket_id: id,
        });
        let mut msg = NetlinkMessage::new(header, request.into());
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        sock.send(&out, 0)?;
        let bad =
            |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let end = Instant::now() + DUMP_TIMEOUT * 4;
        let mut found = Vec::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        while Instant::now() < end {
            buf.clear();
            match sock.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "sock_diag: no answer within the deadline",
                    ));
                }
                Err(e) => return Err(e),
            }
            // One datagram holds several messages.
            let mut at = 0;
            while at < buf.len() {
                let len = NetlinkBuffer::new_checked(&buf[at..])
                    .map_err(|e| bad(format!("sock_diag: {e}")))?
                    .length() as usize;
                let reply =
                    NetlinkMessage::<SockDiagMessage>::deserialize(&buf[at..])
                        .map_err(|e| bad(format!("sock_diag: {e}")))?;
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(found),
                    NetlinkPayload::Error(e) => return Err(e.to_io()),
                    NetlinkPayload::InnerMessage(
                        SockDiagMessage::InetResponse(r),
                    ) => {
                        let h = &r.header;
                        let id = &h.socket_id;
                        found.push(DiagSocket {
                            local: SocketAddr::new(
                                id.source_address,
                                id.source_port,
                            ),
                            remote: SocketAddr::new(
                                id.destination_address,
                                id.destination_port,
                            ),
                            state: TcpState::from_linux(h.state),
                            recv_queue: h.recv_queue,
                            send_queue: h.send_queue,
                            uid: h.uid,
                            inode: h.inode,
                            send_window_bytes: r.nlas.iter().find_map(|n| {
                                match n {
                                    Nla::TcpInfo(raw) if h.state != LISTEN => {
                                        send_window(raw)
                                    }
                                    _ => None,
                                }
                            }),
                        });
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3; // NLMSG_ALIGN
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "sock_diag: the dump did not end within the deadline",
        ))
    }
}

/// `tcpi_snd_wnd` from the raw `struct tcp_info` of an `INET_DIAG_INFO`
/// attribute; `None` if the kernel's struct is too short to hold it.
#[cfg(target_os = "linux")]
fn send_window(raw: &[u8]) -> Option<u32> {
    let at = std::mem::offset_of!(nix::libc::tcp_info, tcpi_snd_wnd);
    let bytes = raw.get(at..at + 4)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// A listener shows its backlog and its accept queue: `listen(3)` and
    /// two connections not yet accepted give a backlog of 3 and a queue of
    /// 2; a connection's own row is ESTABLISHED with its peer.
    #[test]
    fn a_listener_shows_its_backlog_and_accept_queue() {
        let listener = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        listener
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        listener.listen(3).unwrap();
        let listener: TcpListener = listener.into();
        let at = listener.local_addr().unwrap();
        let a = TcpStream::connect(at).unwrap();
        let _b = TcpStream::connect(at).unwrap();
        let all = tcp_sockets().unwrap();
        let row = all
            .iter()
            .find(|s| s.local == at && s.is(TcpState::Listen))
            .expect("the listener's row");
        assert_eq!((row.send_queue, row.recv_queue), (3, 2), "{row:?}");
        // Its own row: both addresses, since an old TIME_WAIT row (another
        // test's) may have the same local port with another peer.
        let mine = a.local_addr().unwrap();
        let conn = all.iter().find(|s| s.local == mine && s.remote == at);
        let conn = conn.expect("a's row");
        assert_eq!((conn.state, conn.remote), (TcpState::Established, at));
        assert_eq!(conn.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(row.send_window_bytes, None, "a listener has no window");
    }

    /// Another socket's window, read from outside it: a sender whose peer
    /// never reads sees the peer's window close to 0 in the dump, while
    /// its send queue holds what could not go; an idle one has room.
    #[test]
    fn a_sender_facing_a_full_receiver_shows_a_zero_window() {
        use std::io::Write;
        let t = Duration::from_secs(10);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let client = TcpStream::connect_timeout(&at, t).unwrap();
        crate::lab::deadline::wait_readable(&listener, t).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let mine = client.local_addr().unwrap();
        let row = || {
            let all = tcp_sockets().unwrap();
            let row =
                all.into_iter().find(|s| s.local == mine && s.remote == at);
            row.expect("its row")
        };
        let idle = row().send_window_bytes.expect("Linux 6.2 or later");
        assert!(idle > 0, "{idle}");
        client.set_nonblocking(true).unwrap();
        let end = std::time::Instant::now() + t;
        let mut last = row();
        while std::time::Instant::now() < end {
            while (&client).write(&[7; 65536]).is_ok() {}
            last = row();
            if last.send_window_bytes == Some(0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(last.send_window_bytes, Some(0), "{last}");
        assert!(last.send_queue > 0, "{last}");
    }
}
