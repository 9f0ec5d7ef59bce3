//! The kernel's view of a TCP socket: how many bytes wait in its queues, its
//! windows, and its state; the table of every TCP socket (`/proc/net/tcp`),
//! which still lists a connection in `TIME_WAIT` after both its sockets are
//! closed; and the port settings `bind(2)` obeys. Experiments read these to
//! explain what they saw (05 `bind-port`, 06 `reuseaddr`, 09 `backlog` and
//! 10 `deadlock`).
//!
//! These are Linux interfaces (`ioctl(2)` `SIOCOUTQ`/`SIOCINQ`, described in
//! `tcp(7)`, `getsockopt(2)` `TCP_INFO`, and files under `/proc`, described
//! in `proc(5)` and `ip(7)`). On other systems the socket functions return
//! an error of kind [`io::ErrorKind::Unsupported`], the `/proc` readers one
//! of kind [`io::ErrorKind::NotFound`].

use std::fmt;
use std::io::{self, ErrorKind::InvalidData, ErrorKind::NotFound};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A TCP connection's state, as `TCP_INFO` reports it (`tcpi_state`; the
/// names are those of RFC 793 and `ss(8)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// `ESTABLISHED`: the connection is open both ways.
    Established,
    /// `SYN_SENT`: `connect()` sent a SYN and waits for the answer.
    SynSent,
    /// `SYN_RECV`: a SYN arrived and was answered; waiting for the final ACK.
    SynRecv,
    /// `FIN_WAIT1`: this side closed; its FIN is not yet acknowledged.
    FinWait1,
    /// `FIN_WAIT2`: this side's FIN is acknowledged; waiting for the peer's.
    FinWait2,
    /// `TIME_WAIT`: the side that closed first waits out old segments.
    TimeWait,
    /// `CLOSE`: no connection.
    Close,
    /// `CLOSE_WAIT`: the peer closed (half-close); this side has not yet.
    CloseWait,
    /// `LAST_ACK`: both closed; waiting for the ACK of this side's FIN.
    LastAck,
    /// `LISTEN`: a listening socket.
    Listen,
    /// `CLOSING`: both sides closed at the same time.
    Closing,
    /// A state number this workbook does not know.
    Other(u8),
}

impl TcpState {
    /// Maps Linux's `tcpi_state` number (`include/net/tcp_states.h`).
    pub fn from_linux(n: u8) -> TcpState {
        match n {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Close,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            n => TcpState::Other(n),
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::Other(n) => return write!(f, "state {n}"),
        };
        f.write_str(name)
    }
}

/// What `TCP_INFO` says about a connection (the fields the experiments use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// The connection's state.
    pub state: TcpState,
    /// The peer's advertised receive window, scaled, in bytes: how much more
    /// this side may send (`tcpi_snd_wnd`). 0 means the peer's receive queue
    /// is full. `None`: the kernel is older than 6.2 and does not report it.
    pub send_window_bytes: Option<u32>,
    /// Zero-window probes sent and not yet answered (`tcpi_probes`): it
    /// goes back to 0 each time the peer answers one.
    pub probes: u8,
    /// How many times the probe (persist) or retransmission timer has
    /// backed off, doubling its interval (`tcpi_backoff`).
    pub backoff: u8,
    /// The retransmission timeout, in µs (`tcpi_rto`).
    pub rto_us: u32,
    /// The most this side sends in one segment, in bytes (`tcpi_snd_mss`):
    /// on loopback often tens of KiB, as Linux bounds it by half the largest
    /// window the peer has advertised. Linux does not send into a window
    /// smaller than this until its persist timer fires.
    pub segment_bytes: u32,
    /// Segments this connection has sent again, SYNs included
    /// (`tcpi_total_retrans`): 1 for a client whose first SYN was dropped
    /// and whose first retry got through.
    pub total_retransmits: u32,
}

/// Returns the bytes in `sock`'s send queue: written by the application but
/// not yet acknowledged by the peer (sent or not). `ioctl(2)` `SIOCOUTQ`.
///
/// # Errors
/// The error of `ioctl(2)`; `Unsupported` off Linux.
pub fn send_queue_bytes(sock: &impl AsFd) -> io::Result<u32> {
    imp::queue(sock, imp::Queue::Send)
}

/// Returns the bytes in `sock`'s receive queue: arrived and acknowledged but
/// not yet read by the application. `ioctl(2)` `SIOCINQ` (`FIONREAD`).
///
/// # Errors
/// The error of `ioctl(2)`; `Unsupported` off Linux.
pub fn recv_queue_bytes(sock: &impl AsFd) -> io::Result<u32> {
    imp::queue(sock, imp::Queue::Recv)
}

/// Sets `sock`'s lower bound on the retransmission timeout to `us` µs:
/// `setsockopt(2)` `IPPROTO_TCP` `TCP_RTO_MIN_US` (Linux's default is
/// 200 ms; the kernel rounds to its clock tick, 4 ms here). It bounds how
/// soon a dropped segment is sent again; the persist timer, which probes a
/// zero window, keeps its own 200 ms minimum (measured in experiment 10).
///
/// # Errors
/// The error of `setsockopt(2)`: `ENOPROTOOPT` from a kernel without the
/// option (Linux 6.18 here has it; older ones not verified), `EINVAL` for
/// a value it refuses (1000 µs here); `Unsupported` off Linux.
pub fn set_rto_min(sock: &impl AsFd, us: u32) -> io::Result<()> {
    imp::set_rto_min(sock, us)
}

/// Returns `sock`'s lower bound on the retransmission timeout, in µs, as
/// the kernel holds it after rounding: `getsockopt(2)` `TCP_RTO_MIN_US`.
///
/// # Errors
/// As for [`set_rto_min`].
pub fn rto_min_us(sock: &impl AsFd) -> io::Result<u32> {
    imp::rto_min_us(sock)
}

/// Reads `sock`'s `TCP_INFO` with `getsockopt(2)` (`IPPROTO_TCP`, `TCP_INFO`).
///
/// # Errors
/// The error of `getsockopt(2)` (`ENOPROTOOPT` for a socket that is not
/// TCP); `Unsupported` off Linux.
pub fn tcp_info(sock: &impl AsFd) -> io::Result<TcpInfo> {
    imp::tcp_info(sock)
}

/// The accept queue of a listening socket: how many connections the
/// kernel has completed for it and how many it may hold.
///
/// Linux counts a connection here once its three-way handshake is done;
/// `accept(2)` takes it out. While `queued` is more than `backlog`, the
/// kernel drops every new SYN on this port (`TcpExtListenOverflows`), so
/// the queue holds at most `backlog + 1` connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListenQueue {
    /// Connections waiting for `accept(2)` (`ss -ltn` shows it as
    /// Recv-Q; `TCP_INFO`'s `tcpi_unacked` on a listener).
    pub queued: u32,
    /// The backlog in force: `listen(2)`'s argument capped at
    /// `net.core.somaxconn` (`ss -ltn` Send-Q; `tcpi_sacked` on a
    /// listener).
    pub backlog: u32,
}

/// `2 waiting for accept(), backlog 1`.
impl fmt::Display for ListenQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, backlog) = (self.queued, self.backlog);
        write!(f, "{n} waiting for accept(), backlog {backlog}")
    }
}

/// Reads the accept queue of `listener`: `getsockopt(2)` `TCP_INFO`, whose
/// `tcpi_unacked` and `tcpi_sacked` fields a Linux listening socket fills
/// with its queue length and its backlog (`tcp_get_info()` in
/// `net/ipv4/tcp.c`; the same numbers `ss -ltn` and `/proc/net/tcp` show).
///
/// # Errors
/// `EINVAL` if `listener` is not in the `LISTEN` state; the error of
/// `getsockopt(2)`; `Unsupported` off Linux.
pub fn listen_queue(listener: &impl AsFd) -> io::Result<ListenQueue> {
    imp::listen_queue(listener)
}

/// Waits until at least `at_least` connections are queued on `listener`,
/// for at most `timeout`, and returns the queue. No event announces a
/// queue's growth past its first connection (`poll(2)` only says it is not
/// empty), so this reads [`listen_queue`] every millisecond.
///
/// # Errors
/// `ETIMEDOUT` if the queue stayed shorter for `timeout`; otherwise as for
/// [`listen_queue`].
pub fn wait_listen_queue(
    listener: &impl AsFd,
    at_least: u32,
    timeout: std::time::Duration,
) -> io::Result<ListenQueue> {
    let end = std::time::Instant::now() + timeout;
    loop {
        let queue = listen_queue(listener)?;
        if queue.queued >= at_least {
            return Ok(queue);
        }
        if std::time::Instant::now() >= end {
            return Err(io::Error::from_raw_os_error(nix::libc::ETIMEDOUT));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Returns `net.core.somaxconn` (`/proc/sys/net/core/somaxconn`): the
/// largest backlog `listen(2)` grants in this network namespace; a larger
/// argument is silently cut down to it. `None` if the file cannot be read.
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Every `TcpExt` counter of this network namespace, by name without the
/// prefix (`ListenOverflows`, `TCPWantZeroWindowAdv`), from
/// `/proc/net/netstat` (what `nstat -az` shows). `None` where that file
/// does not exist or has no `TcpExt` rows.
pub fn tcp_ext_counters() -> Option<std::collections::BTreeMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    // Pairs of lines: `TcpExt: Name1 Name2 ...`, `TcpExt: 1 2 ...`.
    let mut rows = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (rows.next()?, rows.next()?);
    let pairs = names.split_whitespace().zip(values.split_whitespace());
    let counters = pairs
        .skip(1)
        .filter_map(|(n, v)| Some((n.to_owned(), v.parse().ok()?)))
        .collect();
    Some(counters)
}

/// Two of the kernel's TCP counters for listening sockets, from
/// `/proc/net/netstat` (`nstat -az TcpExtListenOverflows`). They count for
/// the whole network namespace, every process in it included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListenCounters {
    /// `TcpExtListenOverflows`: SYNs (and handshakes' last ACKs) dropped
    /// because a listener's accept queue was full.
    pub overflows: u64,
    /// `TcpExtListenDrops`: every connection attempt a listener dropped,
    /// for any reason (overflows included).
    pub drops: u64,
}

impl ListenCounters {
    /// Reads both counters now; `None` where `/proc/net/netstat` does not
    /// exist or lacks them.
    pub fn read() -> Option<ListenCounters> {
        let counters = tcp_ext_counters()?;
        Some(ListenCounters {
            overflows: *counters.get("ListenOverflows")?,
            drops: *counters.get("ListenDrops")?,
        })
    }

    /// How much each counter rose since `before`.
    pub fn since(&self, before: &ListenCounters) -> ListenCounters {
        ListenCounters {
            overflows: self.overflows.saturating_sub(before.overflows),
            drops: self.drops.saturating_sub(before.drops),
        }
    }
}

/// Runs `call` with `SIGPIPE` blocked in this thread and says whether the
/// kernel raised `SIGPIPE` for it: a `send(2)` without `MSG_NOSIGNAL` on a
/// socket that cannot send does. The signal is then taken out of the
/// pending set (`sigtimedwait(2)`) and the thread's mask restored, so it
/// never reaches the process. (Rust ignores `SIGPIPE` from start-up, but a
/// blocked signal is queued even when ignored: `signal(7)`.)
///
/// Returns what `call` returned, and `None` for the signal where the mask
/// could not be changed (or off Linux).
pub fn sigpipe_raised<R>(call: impl FnOnce() -> R) -> (R, Option<bool>) {
    imp::sigpipe_raised(call)
}

/// What the kernel says of a socket whose `connect(2)` was started without
/// blocking (`EINPROGRESS`), read at one moment: whether the handshake
/// finished, failed, or is still waiting for an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Connecting {
    /// Its socket name: the kernel picks the port at `connect()`.
    pub name: std::net::SocketAddr,
    /// ms from `connect()` until the handshake was seen finished; `None`:
    /// not finished (no answer yet), or failed.
    pub connected_after_ms: Option<f64>,
    /// Its TCP state (`TCP_INFO`): `ESTABLISHED`, or `SYN_SENT` while no
    /// answer has come.
    pub state: String,
    /// How the connection failed (`SO_ERROR`), if it did: `ECONNREFUSED`
    /// means a refusal.
    pub error: Option<crate::lab::report::Errno>,
    /// SYNs sent again so far (`tcpi_total_retrans`); `None`: unknown.
    pub syn_retries: Option<u32>,
}

impl Connecting {
    /// Reads it for `sock`, whose `connect()` started at `started`.
    /// `answered` says whether `poll(2)` found the socket writable: the
    /// handshake is over, and `SO_ERROR` (taken, so cleared) says how.
    ///
    /// # Errors
    /// The error of `getsockname(2)` or of `getsockopt(2)` `SO_ERROR`.
    pub fn read(
        sock: &socket2::Socket,
        started: std::time::Instant,
        answered: bool,
    ) -> Result<Connecting, crate::lab::error::SocketError> {
        use crate::lab::error::Op;
        let info = tcp_info(sock).ok();
        let mut c = Connecting {
            name: crate::lab::names::socket_name(sock)?,
            connected_after_ms: None,
            state: info.map_or("unknown".into(), |i| i.state.to_string()),
            error: None,
            syn_retries: info.map(|i| i.total_retransmits),
        };
        if answered {
            match sock.take_error().op("getsockopt SO_ERROR")? {
                Some(e) => c.error = crate::lab::report::Errno::of(&e),
                None => {
                    let us = started.elapsed().as_micros() as f64;
                    c.connected_after_ms = Some(us / 1000.0);
                }
            }
        }
        Ok(c)
    }

    /// True if the handshake finished.
    pub fn connected(&self) -> bool {
        self.connected_after_ms.is_some()
    }
}

/// `connected after 0.1 ms, ESTABLISHED` (`, after 1 SYN retry`), `no
/// answer, SYN_SENT`, or `failed: ECONNREFUSED`.
impl fmt::Display for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, self.connected_after_ms) {
            (Some(e), _) => write!(f, "failed: {}", e.name),
            (None, None) => write!(f, "no answer, {}", self.state),
            (None, Some(ms)) => {
                write!(f, "connected after {ms:.1} ms, {}", self.state)?;
                match self.syn_retries {
                    Some(1) => write!(f, ", after 1 SYN retry"),
                    Some(n) if n > 1 => write!(f, ", after {n} SYN retries"),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The four kernel queues of one connection whose two ends (a client and a
/// server socket) are both in this process, in bytes: `ioctl(2)`
/// `SIOCOUTQ` and `SIOCINQ` on each end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Queues {
    /// Accepted from the client, not yet acknowledged by the server.
    pub client_send_queue_bytes: u64,
    /// Arrived at the server, not yet read by it.
    pub server_recv_queue_bytes: u64,
    /// Accepted from the server, not yet acknowledged by the client.
    pub server_send_queue_bytes: u64,
    /// Arrived at the client, never read.
    pub client_recv_queue_bytes: u64,
}

impl Queues {
    /// Reads the four queues of the connection between `client` and
    /// `server`; `None` where the kernel does not report them.
    pub fn read(client: &impl AsFd, server: &impl AsFd) -> Option<Queues> {
        Some(Queues {
            client_send_queue_bytes: send_queue_bytes(client).ok()?.into(),
            server_recv_queue_bytes: recv_queue_bytes(server).ok()?.into(),
            server_send_queue_bytes: send_queue_bytes(server).ok()?.into(),
            client_recv_queue_bytes: recv_queue_bytes(client).ok()?.into(),
        })
    }
}

/// What `TCP_INFO` says of both ends of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ends {
    /// The window the server advertises: how much more the client may
    /// send, in bytes (`tcpi_snd_wnd` on the client); `None` before Linux 6.2.
    pub client_send_window_bytes: Option<u32>,
    /// The window the client advertises, in bytes; `None` before Linux 6.2.
    pub server_send_window_bytes: Option<u32>,
    /// The client's TCP state (`ESTABLISHED`).
    pub client_state: String,
    /// The server's TCP state.
    pub server_state: String,
    /// The client's unanswered zero-window probes (`tcpi_probes`).
    pub client_probes: u8,
    /// The server's unanswered zero-window probes.
    pub server_probes: u8,
    /// How often the client's probe timer has backed off (`tcpi_backoff`).
    pub client_backoff: u8,
    /// How often the server's probe timer has backed off.
    pub server_backoff: u8,
    /// The most the client sends in one segment, in bytes (`tcpi_snd_mss`).
    pub client_segment_bytes: u32,
    /// The most the server sends in one segment, in bytes.
    pub server_segment_bytes: u32,
    /// The timer the kernel runs on the client's socket, as [`TcpTimer`]
    /// prints it (`"persist"`, `"retransmit"`, …); `None` where
    /// `/proc/net/tcp` could not be read.
    pub client_timer: Option<String>,
    /// The timer the kernel runs on the server's socket.
    pub server_timer: Option<String>,
}

impl Ends {
    /// Reads `TCP_INFO` on both ends; `None` where the kernel has none.
    pub fn read(client: &impl AsFd, server: &impl AsFd) -> Option<Ends> {
        let (c, s) = (tcp_info(client).ok()?, tcp_info(server).ok()?);
        Some(Ends {
            client_send_window_bytes: c.send_window_bytes,
            server_send_window_bytes: s.send_window_bytes,
            client_state: c.state.to_string(),
            server_state: s.state.to_string(),
            client_probes: c.probes,
            server_probes: s.probes,
            client_backoff: c.backoff,
            server_backoff: s.backoff,
            client_segment_bytes: c.segment_bytes,
            server_segment_bytes: s.segment_bytes,
            client_timer: timer(client).ok().map(|t| t.to_string()),
            server_timer: timer(server).ok().map(|t| t.to_string()),
        })
    }
}

/// `SO_SNDBUF` and `SO_RCVBUF` of both ends, read back with
/// `getsockopt(2)`, in bytes (Linux reports twice what was asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Buffers {
    /// The client's send buffer.
    pub client_sndbuf_bytes: u64,
    /// The client's receive buffer.
    pub client_rcvbuf_bytes: u64,
    /// The server's send buffer.
    pub server_sndbuf_bytes: u64,
    /// The server's receive buffer.
    pub server_rcvbuf_bytes: u64,
}

impl Buffers {
    /// Reads the four buffer sizes.
    ///
    /// # Errors
    /// The error of `getsockopt(2)`, with the option named.
    pub fn read(
        client: &impl AsFd,
        server: &impl AsFd,
    ) -> Result<Buffers, crate::lab::error::SocketError> {
        use crate::lab::error::Op;
        use socket2::SockRef;
        let (c, s) = (SockRef::from(client), SockRef::from(server));
        let size = |r: io::Result<usize>, what: &str| {
            r.map(|n| n as u64).op(format_args!("getsockopt {what}"))
        };
        Ok(Buffers {
            client_sndbuf_bytes: size(c.send_buffer_size(), "SO_SNDBUF")?,
            client_rcvbuf_bytes: size(c.recv_buffer_size(), "SO_RCVBUF")?,
            server_sndbuf_bytes: size(s.send_buffer_size(), "SO_SNDBUF")?,
            server_rcvbuf_bytes: size(s.recv_buffer_size(), "SO_RCVBUF")?,
        })
    }

    /// The four sizes added up, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.client_sndbuf_bytes
            + self.client_rcvbuf_bytes
            + self.server_sndbuf_bytes
            + self.server_rcvbuf_bytes
    }
}

/// Returns how many threads this process has (`/proc/self/task`); `None`
/// where `/proc` does not exist. Experiments use it to show they leave no
/// thread behind.
pub fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Returns how many file descriptors this process has open (`/proc/self/fd`,
/// not counting the one used to list it); `None` where `/proc` does not
/// exist. Experiments use it to show they leave no socket behind.
pub fn open_fd_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1))
}

/// Returns the most memory this process has had resident at once, in bytes
/// (`getrusage(2)` `ru_maxrss`); `None` if the call fails.
pub fn peak_rss_bytes() -> Option<u64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let max_rss = getrusage(UsageWho::RUSAGE_SELF).ok()?.max_rss() as u64;
    // Linux counts ru_maxrss in KiB, macOS in bytes.
    Some(if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss * 1024
    })
}

/// One row of the kernel's table of TCP sockets (`/proc/net/tcp` and
/// `/proc/net/tcp6`, described in `proc(5)`): every TCP socket in this
/// network namespace, including those no process holds any more, such as a
/// connection in `TIME_WAIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::report::every_field_present)]
pub struct TcpRow {
    /// The socket's own address and port (column `local_address`).
    pub local: SocketAddr,
    /// The peer's address and port (column `rem_address`); `0.0.0.0:0`
    /// for a listening socket.
    pub remote: SocketAddr,
    /// The state by name, as [`TcpState`] prints it: `"TIME_WAIT"` for the
    /// table's `06` (column `st`).
    pub state: String,
    /// How long until the socket's timer fires, in ms (column `tm->when`,
    /// in clock ticks): for a `TIME_WAIT` row, how long until the kernel
    /// forgets the connection. `None`: no timer is running (`tr` is 0).
    pub timer_left_ms: Option<u64>,
}

impl TcpRow {
    /// Whether the row is in `state`.
    pub fn is(&self, state: TcpState) -> bool {
        self.state == state.to_string()
    }
}

/// Reads the kernel's table of TCP sockets in this network namespace and
/// returns the rows `keep` accepts: `/proc/net/tcp`, then `/proc/net/tcp6`
/// (skipped if IPv6 is off). For example, the `TIME_WAIT` rows on a port:
/// `tcp_rows(|r| r.local.port() == port && r.is(TcpState::TimeWait))`.
///
/// # Errors
/// The error of reading `/proc/net/tcp` (`NotFound` where there is no
/// `/proc`, as on macOS), or `InvalidData` for a line this parser does not
/// understand.
pub fn tcp_rows(keep: impl Fn(&TcpRow) -> bool) -> io::Result<Vec<TcpRow>> {
    let mut rows = Vec::new();
    tcp_rows_with(|row, _| {
        if keep(&row) {
            rows.push(row);
        }
    })?;
    Ok(rows)
}

/// Calls `each` with every row of `/proc/net/tcp`, then `/proc/net/tcp6`,
/// and the row's timer code (column `tr`).
fn tcp_rows_with(mut each: impl FnMut(TcpRow, u8)) -> io::Result<()> {
    let tick_ms = 1000 / clock_ticks_per_second();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match std::fs::read_to_string(file) {
            Err(e) if file.ends_with('6') && e.kind() == NotFound => continue,
            read => read?,
        };
        for line in text.lines().skip(1) {
            let (row, tr) = parse_tcp_row(line, tick_ms).ok_or_else(|| {
                io::Error::new(InvalidData, format!("{file}: {line}"))
            })?;
            each(row, tr);
        }
    }
    Ok(())
}

/// Re-reads the table of TCP sockets (as [`tcp_rows`] with no filter)
/// until `done` accepts it, for at most `timeout`, and returns the last
/// table read. It reads again after 1 ms, then after intervals that double
/// up to 100 ms, so a long wait stays cheap. Closing a socket returns before its FIN
/// has been answered; this waits for the states that follow. A table that
/// `done` never accepted is returned too, when `timeout` has passed: the
/// caller reports what is (or is not) in it.
///
/// # Errors
/// As for [`tcp_rows`].
pub fn wait_for_tcp_rows(
    timeout: Duration,
    done: impl Fn(&[TcpRow]) -> bool,
) -> io::Result<Vec<TcpRow>> {
    let end = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let rows = tcp_rows(|_| true)?;
        let left = end.saturating_duration_since(Instant::now());
        if done(&rows) || left.is_zero() {
            return Ok(rows);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Waits until the connection between the ends at `first` (the one that
/// closed first) and `other` has finished closing, for at most `timeout`:
/// `first`'s end is in `TIME_WAIT`, and `other`'s end has left the table
/// (or is in `TIME_WAIT` too, if both closed at once). `close(2)` returns
/// before the peer's FIN and ACK have come; this waits for them.
///
/// Returns the `TIME_WAIT` rows of `first`'s end and of `other`'s end, in
/// that order; `None` for an end that is not in `TIME_WAIT` (when
/// `timeout` has passed: in whatever state the last table showed).
///
/// # Errors
/// As for [`tcp_rows`].
pub fn time_wait_after_close(
    first: SocketAddr,
    other: SocketAddr,
    timeout: Duration,
) -> io::Result<[Option<TcpRow>; 2]> {
    let end = |rows: &[TcpRow], a: SocketAddr, b: SocketAddr| {
        rows.iter().find(|r| r.local == a && r.remote == b).cloned()
    };
    let rows = wait_for_tcp_rows(timeout, |rows| {
        end(rows, first, other).is_some_and(|r| r.is(TcpState::TimeWait))
            && end(rows, other, first).is_none_or(|r| r.is(TcpState::TimeWait))
    })?;
    let time_wait =
        |a, b| end(&rows, a, b).filter(|r| r.is(TcpState::TimeWait));
    Ok([time_wait(first, other), time_wait(other, first)])
}

/// Waits until the kernel's table has no row with `row`'s two addresses
/// (a `TIME_WAIT` entry expired), for at most `timeout`. Returns whether
/// it went within `timeout`.
///
/// # Errors
/// As for [`tcp_rows`].
pub fn wait_until_gone(row: &TcpRow, timeout: Duration) -> io::Result<bool> {
    let same = |r: &TcpRow| r.local == row.local && r.remote == row.remote;
    let rows = wait_for_tcp_rows(timeout, |rows| !rows.iter().any(same))?;
    Ok(!rows.iter().any(same))
}

/// `127.0.0.1:41234 -> 127.0.0.1:51234 TIME_WAIT, 59990 ms left`.
impl fmt::Display for TcpRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} {}", self.local, self.remote, self.state)?;
        match self.timer_left_ms {
            Some(ms) => write!(f, ", {ms} ms left"),
            None => Ok(()),
        }
    }
}

/// Which of its timers the kernel has running on a TCP socket: column `tr`
/// of `/proc/net/tcp` (`proc(5)`; `ss -o` prints the same as `timer:(…)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpTimer {
    /// `0`: none.
    None,
    /// `1`: the retransmission timer (also the loss probe): sent data waits
    /// for its acknowledgement.
    Retransmit,
    /// `2`: the keepalive timer (`SO_KEEPALIVE`), or another one not named
    /// here.
    Keepalive,
    /// `3`: a `TIME_WAIT` entry's timer.
    TimeWait,
    /// `4`: the persist (zero-window probe) timer: the socket has data to
    /// send, nothing sent is waiting for an acknowledgement, and the peer's
    /// window is too small to send into (0, or less than one segment), so
    /// the kernel only probes it, first after one RTO (200 ms or more),
    /// then at doubling intervals. `ss -o` shows `timer:(persist,…)`.
    Persist,
}

/// `persist`, as `ss -o` names it; `retransmit` where `ss` says `on`.
impl fmt::Display for TcpTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpTimer::None => "none",
            TcpTimer::Retransmit => "retransmit",
            TcpTimer::Keepalive => "keepalive",
            TcpTimer::TimeWait => "timewait",
            TcpTimer::Persist => "persist",
        })
    }
}

/// Returns the timer the kernel has running on the connected socket `sock`,
/// by finding its row (its own and its peer's address) in `/proc/net/tcp`
/// or `/proc/net/tcp6`. The cost is one read of those tables, which list
/// every TCP socket in the network namespace.
///
/// # Errors
/// As for [`tcp_rows`]; `ENOTCONN` if `sock` has no peer; `NotFound` if
/// the tables have no row for it.
pub fn timer(sock: &impl AsFd) -> io::Result<TcpTimer> {
    let sock = socket2::SockRef::from(sock);
    let local = sock.local_addr()?.as_socket();
    let remote = sock.peer_addr()?.as_socket();
    let mut found = None;
    tcp_rows_with(|row, tr| {
        if Some(row.local) == local && Some(row.remote) == remote {
            found = Some(tr);
        }
    })?;
    Ok(match found.ok_or_else(|| io::Error::from(NotFound))? {
        0 => TcpTimer::None,
        1 => TcpTimer::Retransmit,
        3 => TcpTimer::TimeWait,
        4 => TcpTimer::Persist,
        _ => TcpTimer::Keepalive,
    })
}

/// Parses one line of `/proc/net/tcp`:
/// `sl local_address rem_address st tx:rx tr:when ...`; addresses are
/// hexadecimal 32-bit words in the kernel's byte order, ports in hex.
fn parse_tcp_row(line: &str, tick_ms: u64) -> Option<(TcpRow, u8)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (tr, when) = fields.get(5)?.split_once(':')?;
    let ticks = u64::from_str_radix(when, 16).ok()?;
    let row = TcpRow {
        local: parse_hex_addr(fields.get(1)?)?,
        remote: parse_hex_addr(fields.get(2)?)?,
        state: TcpState::from_linux(
            u8::from_str_radix(fields.get(3)?, 16).ok()?,
        )
        .to_string(),
        timer_left_ms: (tr != "00").then_some(ticks * tick_ms),
    };
    Some((row, u8::from_str_radix(tr, 16).ok()?))
}

/// `0100007F:0424` is 127.0.0.1:1060 (on a little-endian machine).
fn parse_hex_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // Each 32-bit word was printed as the number its bytes make in memory.
    let mut bytes = Vec::new();
    for i in (0..ip.len()).step_by(8) {
        let word = u32::from_str_radix(ip.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on
/// Linux): the unit of `/proc`'s timers.
fn clock_ticks_per_second() -> u64 {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as u64,
        _ => 100,
    }
}

/// Returns the range of ports the kernel picks from for a `bind(2)` to port
/// 0 or a `connect(2)` on an unbound socket, inclusive
/// (`/proc/sys/net/ipv4/ip_local_port_range`, `ip(7)`).
///
/// # Errors
/// The error of reading the file (`NotFound` where there is no `/proc`), or
/// `InvalidData` if it does not hold two port numbers.
pub fn local_port_range() -> io::Result<(u16, u16)> {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
    let mut ports = text.split_whitespace().map(str::parse::<u16>);
    match (ports.next(), ports.next()) {
        (Some(Ok(low)), Some(Ok(high))) => Ok((low, high)),
        _ => Err(io::Error::new(
            InvalidData,
            format!("not a port range: {text}"),
        )),
    }
}

/// Returns the lowest port an unprivileged process may `bind(2)`: below it
/// the call needs `CAP_NET_BIND_SERVICE` (root has it) and fails with
/// `EACCES` without (`/proc/sys/net/ipv4/ip_unprivileged_port_start`,
/// `ip(7)`; 1024 unless changed; 0 means no port is privileged). Each
/// network namespace has its own.
///
/// # Errors
/// The error of reading the file (`NotFound` where there is no `/proc`,
/// or on a kernel older than 4.11), or `InvalidData` if it holds no port.
pub fn unprivileged_port_start() -> io::Result<u16> {
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let text = std::fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(InvalidData, format!("not a port: {text}")))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::io;
    use std::mem::{offset_of, size_of};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::libc;

    use super::{ListenQueue, TcpInfo, TcpState};

    pub enum Queue {
        Send,
        Recv,
    }

    nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);
    nix::ioctl_read_bad!(siocinq, libc::FIONREAD, libc::c_int);

    pub fn queue(sock: &impl AsFd, which: Queue) -> io::Result<u32> {
        let fd = sock.as_fd().as_raw_fd();
        let mut n: libc::c_int = 0;
        // SAFETY: `fd` is a valid open descriptor borrowed for this call, and
        // both ioctls write one c_int through the pointer.
        unsafe {
            match which {
                Queue::Send => siocoutq(fd, &mut n),
                Queue::Recv => siocinq(fd, &mut n),
            }
        }?;
        Ok(n as u32)
    }

    fn raw_tcp_info(sock: &impl AsFd) -> io::Result<(libc::tcp_info, usize)> {
        let fd = sock.as_fd().as_raw_fd();
        // SAFETY: tcp_info is plain old data; all-zero is a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `info`; the kernel writes
        // at most `len` bytes and returns how many it wrote in `len`.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((info, len as usize))
    }

    pub fn tcp_info(sock: &impl AsFd) -> io::Result<TcpInfo> {
        let (info, len) = raw_tcp_info(sock)?;
        // An older kernel fills a shorter struct: a field it did not write
        // is unknown, not zero.
        let has = |offset: usize| offset + size_of::<u32>() <= len;
        Ok(TcpInfo {
            state: TcpState::from_linux(info.tcpi_state),
            send_window_bytes: has(offset_of!(libc::tcp_info, tcpi_snd_wnd))
                .then_some(info.tcpi_snd_wnd),
            probes: info.tcpi_probes,
            backoff: info.tcpi_backoff,
            rto_us: info.tcpi_rto,
            segment_bytes: info.tcpi_snd_mss,
            total_retransmits: info.tcpi_total_retrans,
        })
    }

    /// `TCP_RTO_MIN_US` in Linux's `include/uapi/linux/tcp.h`; the libc
    /// crate does not name it yet.
    const TCP_RTO_MIN_US: libc::c_int = 45;

    pub fn set_rto_min(sock: &impl AsFd, us: u32) -> io::Result<()> {
        let value = libc::c_int::try_from(us)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the pointer and length describe `value`, an int, which
        // is what the kernel reads for this option.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_RTO_MIN_US,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn rto_min_us(sock: &impl AsFd) -> io::Result<u32> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `value`; the kernel
        // writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_RTO_MIN_US,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value as u32)
    }

    pub fn listen_queue(sock: &impl AsFd) -> io::Result<ListenQueue> {
        let (info, _) = raw_tcp_info(sock)?;
        if TcpState::from_linux(info.tcpi_state) != TcpState::Listen {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // On a listener, tcp_get_info() reuses two fields: tcpi_unacked
        // is sk_ack_backlog, tcpi_sacked is sk_max_ack_backlog.
        Ok(ListenQueue {
            queued: info.tcpi_unacked,
            backlog: info.tcpi_sacked,
        })
    }

    pub fn sigpipe_raised<R>(call: impl FnOnce() -> R) -> (R, Option<bool>) {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        let pipe = SigSet::from(Signal::SIGPIPE);
        let mut old = SigSet::empty();
        if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), Some(&mut old))
            .is_err()
        {
            return (call(), None);
        }
        let result = call();
        // SAFETY: sigset_t is plain old data, filled by sigpending(2) and
        // read by sigismember(3); the zero timeout makes sigtimedwait(2)
        // return at once, taking the pending SIGPIPE if there is one.
        let raised = unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            if libc::sigpending(&mut pending) != 0 {
                None
            } else if libc::sigismember(&pending, libc::SIGPIPE) == 1 {
                let now = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(pipe.as_ref(), std::ptr::null_mut(), &now);
                Some(true)
            } else {
                Some(false)
            }
        };
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        (result, raised)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::io;
    use std::os::fd::AsFd;

    use super::{ListenQueue, TcpInfo};

    pub enum Queue {
        Send,
        Recv,
    }

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel's queue sizes and TCP_INFO are read with Linux-only interfaces",
        )
    }

    pub fn queue(_sock: &impl AsFd, _which: Queue) -> io::Result<u32> {
        Err(unsupported())
    }

    pub fn set_rto_min(_sock: &impl AsFd, _us: u32) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn rto_min_us(_sock: &impl AsFd) -> io::Result<u32> {
        Err(unsupported())
    }

    pub fn tcp_info(_sock: &impl AsFd) -> io::Result<TcpInfo> {
        Err(unsupported())
    }

    pub fn listen_queue(_sock: &impl AsFd) -> io::Result<ListenQueue> {
        Err(unsupported())
    }

    pub fn sigpipe_raised<R>(call: impl FnOnce() -> R) -> (R, Option<bool>) {
        (call(), None)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// A line of /proc/net/tcp reads as addresses, a state and a timer in
    /// ms: a listener on 127.0.0.1:1060, then a TIME_WAIT row with 5997
    /// ticks (100 per second) left.
    #[test]
    #[cfg(target_endian = "little")]
    fn proc_net_tcp_lines_parse() {
        let listen = "   0: 0100007F:0424 00000000:0000 0A 00000000:00000000 \
                      00:00000000 00000000     0        0 12345 1";
        let (row, tr) = parse_tcp_row(listen, 10).unwrap();
        assert_eq!(tr, 0);
        assert_eq!(row.local, "127.0.0.1:1060".parse().unwrap());
        assert_eq!(row.remote, "0.0.0.0:0".parse().unwrap());
        assert!(row.is(TcpState::Listen));
        assert_eq!(row.timer_left_ms, None);
        let tw = "   1: 0100007F:0424 0100007F:E02A 06 00000000:00000000 \
                  03:0000176D 00000000     0        0 0 3";
        let (row, tr) = parse_tcp_row(tw, 10).unwrap();
        assert_eq!(tr, 3);
        assert_eq!(row.remote, "127.0.0.1:57386".parse().unwrap());
        assert_eq!(row.state, "TIME_WAIT");
        assert_eq!(row.timer_left_ms, Some(59_970));
        let v6 = "0: 00000000000000000000000001000000:0424 \
                  00000000000000000000000000000000:0000 0A 0:0 00:00000000";
        let (row, _) = parse_tcp_row(v6, 10).unwrap();
        assert_eq!(row.local, "[::1]:1060".parse().unwrap());
        assert!(parse_tcp_row("  sl  local_address", 10).is_none());
    }

    /// Bytes written but not read sit in the peer's receive queue, and the
    /// connection reports ESTABLISHED on both sides.
    #[test]
    fn unread_bytes_wait_in_the_receive_queue() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let t = std::time::Duration::from_secs(10);
        let mut client =
            TcpStream::connect_timeout(&listener.local_addr().unwrap(), t)
                .unwrap();
        client.set_write_timeout(Some(t)).unwrap();
        crate::lab::deadline::wait_readable(&listener, t).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(&[7; 1000]).unwrap();
        // On loopback the segment is delivered and acknowledged before
        // write() returns, so the queues are settled here.
        let mut waited = 0;
        while recv_queue_bytes(&server).unwrap() < 1000 && waited < 100 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            waited += 1;
        }
        assert_eq!(recv_queue_bytes(&server).unwrap(), 1000);
        assert_eq!(
            send_queue_bytes(&client).unwrap(),
            0,
            "acknowledged, so gone from the send queue"
        );
        assert_eq!(tcp_info(&client).unwrap().state, TcpState::Established);
        assert_eq!(tcp_info(&server).unwrap().state, TcpState::Established);
        assert!(tcp_info(&listener).unwrap().state == TcpState::Listen);
    }

    /// The row of `/proc/net/tcp` for a socket bound to 127.0.0.1:`port`
    /// in state `state` (hex): its `rx_queue` and `tx_queue` columns.
    fn proc_net_tcp(port: u16, state: &str) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
        let local = format!("0100007F:{port:04X}");
        text.lines().skip(1).find_map(|row| {
            let f: Vec<&str> = row.split_whitespace().collect();
            if f[1] != local || f[3] != state {
                return None;
            }
            let (tx, rx) = f[4].split_once(':')?;
            let hex = |h| u32::from_str_radix(h, 16).ok();
            Some((hex(rx)?, hex(tx)?))
        })
    }

    /// A listener's `TCP_INFO` gives its accept queue and backlog, the same
    /// numbers the kernel prints in `/proc/net/tcp` (rx_queue for the queue);
    /// the queue stops at backlog + 1 and accept() takes one out.
    #[test]
    fn listen_queue_counts_connections_waiting_for_accept() {
        use socket2::{Domain, Socket, Type};
        let t = std::time::Duration::from_secs(10);
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        listener.bind(&any.into()).unwrap();
        listener.listen(3).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(
            listen_queue(&listener).unwrap(),
            ListenQueue {
                queued: 0,
                backlog: 3
            }
        );
        let clients: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect_timeout(&addr, t).unwrap())
            .collect();
        let q = wait_listen_queue(&listener, 2, t).unwrap();
        assert_eq!(
            q,
            ListenQueue {
                queued: 2,
                backlog: 3
            }
        );
        // "0A" is TCP_LISTEN.
        assert_eq!(proc_net_tcp(addr.port(), "0A").map(|r| r.0), Some(2));
        listener.accept().unwrap();
        assert_eq!(listen_queue(&listener).unwrap().queued, 1);
        assert_eq!(
            listen_queue(&clients[0]).unwrap_err().raw_os_error(),
            Some(nix::libc::EINVAL),
            "a connected socket has no accept queue"
        );
    }

    /// send(2) without MSG_NOSIGNAL on a listening socket fails with EPIPE
    /// and raises SIGPIPE; with MSG_NOSIGNAL it only fails.
    #[test]
    fn send_on_a_listener_raises_sigpipe_unless_told_not_to() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = socket2::SockRef::from(&listener);
        let (sent, raised) = sigpipe_raised(|| sock.send_with_flags(b"x", 0));
        assert_eq!(sent.unwrap_err().raw_os_error(), Some(nix::libc::EPIPE));
        assert_eq!(raised, Some(true));
        let (sent, raised) = sigpipe_raised(|| {
            sock.send_with_flags(b"x", nix::libc::MSG_NOSIGNAL)
        });
        assert_eq!(sent.unwrap_err().raw_os_error(), Some(nix::libc::EPIPE));
        assert_eq!(raised, Some(false));
    }

    /// A sender whose peer never reads ends in the persist state: once the
    /// peer's receive queue is full, the kernel's timer on the sender is
    /// the zero-window probe timer (an idle connection runs none), and the
    /// window it probes is 0 or smaller than one segment.
    #[test]
    fn a_sender_facing_a_full_receiver_runs_the_persist_timer() {
        let t = Duration::from_secs(10);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client =
            TcpStream::connect_timeout(&listener.local_addr().unwrap(), t)
                .unwrap();
        crate::lab::deadline::wait_readable(&listener, t).unwrap();
        let (_server, _) = listener.accept().unwrap();
        assert_eq!(timer(&client).unwrap(), TcpTimer::None);
        client.set_nonblocking(true).unwrap();
        let end = Instant::now() + t;
        let mut last = TcpTimer::None;
        while Instant::now() < end {
            // Keep the send queue full: the kernel sends what the window
            // allows, then only probes.
            while (&client).write(&[7; 65536]).is_ok() {}
            last = timer(&client).unwrap();
            if last == TcpTimer::Persist {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(last, TcpTimer::Persist);
        // The window is 0, or smaller than a segment: Linux does not send
        // into it until the timer fires.
        let info = tcp_info(&client).unwrap();
        let window = info.send_window_bytes.unwrap_or(0);
        assert!(
            window < info.segment_bytes,
            "{window} {}",
            info.segment_bytes
        );
    }

    /// TCP_RTO_MIN_US reads back what was set, rounded to the kernel's
    /// clock tick, where the kernel has the option (Linux 6.18 here).
    #[test]
    fn rto_min_reads_back_what_was_set() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        match rto_min_us(&listener) {
            Ok(us) => assert!(us >= 8000, "the default is 200 ms: {us}"),
            Err(e) => {
                return eprintln!("no TCP_RTO_MIN_US here ({e}); skipped");
            }
        }
        set_rto_min(&listener, 8000).unwrap();
        let us = rto_min_us(&listener).unwrap();
        assert!((8000..12000).contains(&us), "{us}");
    }

    /// The kernel's listen counters can be read and do not go backwards.
    #[test]
    fn listen_counters_are_read_from_proc() {
        let before = ListenCounters::read().expect("/proc/net/netstat");
        let after = ListenCounters::read().unwrap();
        assert!(after.overflows >= before.overflows);
        assert!(after.drops >= after.overflows, "drops include overflows");
        assert!(somaxconn().is_some_and(|n| n > 0));
    }
}
