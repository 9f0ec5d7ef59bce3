//! A listener's accept queue and backlog (`TCP_INFO` on a listening
//! socket), `net.core.somaxconn`, and the `TcpExt` counters of
//! `/proc/net/netstat`.

use std::fmt;
use std::io;
use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};

use super::sys;
use super::tcp_info::TcpState;

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
    let raw = sys::tcp_info(listener)?;
    if TcpState::from_linux(raw.state) != TcpState::Listen {
        return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
    }
    // On a listener, tcp_get_info() reuses two fields: tcpi_unacked is
    // sk_ack_backlog, tcpi_sacked is sk_max_ack_backlog.
    Ok(ListenQueue {
        queued: raw.unacked,
        backlog: raw.sacked,
    })
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

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::net::TcpStream;

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
