//! What the kernel holds of the deadlocked connection, both of whose ends
//! are in this process: its four queues, both ends' `TCP_INFO`, the buffer
//! sizes, and the ledger that balances them against what each side counted.

use std::io;
use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};
use socket2::SockRef;

use crate::lab::error::{Op, SocketError};
use crate::lab::kernel::{
    TcpState, TcpTimer, recv_queue_bytes, send_queue_bytes, tcp_info, timer,
};

/// The byte counters of one case.
#[derive(Debug, Default, Clone, Copy)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Bytes the client's `send()` calls got the kernel to accept.
    pub client_sent_bytes: u64,
    /// Bytes the client's `recv()` calls returned.
    pub client_received_bytes: u64,
    /// Bytes the server's `recv()` calls returned.
    pub server_read_bytes: u64,
    /// Bytes the server's `send()` calls got the kernel to accept.
    pub server_sent_bytes: u64,
    /// Bytes the server read but its kernel has not yet accepted: the rest
    /// of the reply inside its blocked `sendall()`. Our own bookkeeping.
    pub server_held_bytes: u64,
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
    pub client_state: TcpState,
    /// The server's TCP state.
    pub server_state: TcpState,
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
    /// The timer the kernel runs on the client's socket (`"persist"`,
    /// `"retransmit"`, …); `None` where `/proc/net/tcp` could not be read.
    pub client_timer: Option<TcpTimer>,
    /// The timer the kernel runs on the server's socket.
    pub server_timer: Option<TcpTimer>,
}

impl Ends {
    /// Reads `TCP_INFO` on both ends; `None` where the kernel has none.
    pub fn read(client: &impl AsFd, server: &impl AsFd) -> Option<Ends> {
        let (c, s) = (tcp_info(client).ok()?, tcp_info(server).ok()?);
        Some(Ends {
            client_send_window_bytes: c.send_window_bytes,
            server_send_window_bytes: s.send_window_bytes,
            client_state: c.state,
            server_state: s.state,
            client_probes: c.probes,
            server_probes: s.probes,
            client_backoff: c.backoff,
            server_backoff: s.backoff,
            client_segment_bytes: c.segment_bytes,
            server_segment_bytes: s.segment_bytes,
            client_timer: timer(client).ok(),
            server_timer: timer(server).ok(),
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
    ) -> Result<Buffers, SocketError> {
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

// ANCHOR: ledger
/// The three ledger lines as (left side, right side): every byte accepted
/// is in exactly one place. Lines 1 and 3 are the kernel's evidence (its
/// queues); line 2 is our own bookkeeping, true by how we count.
pub(crate) fn ledger(n: &Counts, q: &Queues) -> [(u64, u64); 3] {
    [
        // Every byte the client's kernel accepted is still in its send
        // queue, waits in the server's receive queue, or was read.
        (
            n.client_sent_bytes,
            q.client_send_queue_bytes
                + q.server_recv_queue_bytes
                + n.server_read_bytes,
        ),
        // Every byte the server read was handed to its kernel, or is still
        // in hand, inside the blocked sendall().
        (
            n.server_read_bytes,
            n.server_sent_bytes + n.server_held_bytes,
        ),
        // Every byte the server's kernel accepted is still in its send
        // queue, or waits unread in the client's receive queue.
        (
            n.server_sent_bytes,
            q.server_send_queue_bytes + q.client_recv_queue_bytes,
        ),
    ]
}
// ANCHOR_END: ledger
