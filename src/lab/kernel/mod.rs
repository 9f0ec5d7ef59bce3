//! The kernel's view of a TCP socket, one file per interface, the way
//! socket2 keeps its system calls:
//! - [`mod@tcp_info`]: `getsockopt(2)` `TCP_INFO` (state, windows, timers'
//!   backoff) and the queue sizes of `ioctl(2)` `SIOCOUTQ`/`SIOCINQ`;
//!   `TCP_RTO_MIN_US`.
//! - [`listen`]: a listener's accept queue and backlog, `somaxconn`, and
//!   the `TcpExt` counters of `/proc/net/netstat`.
//! - [`proc_net_tcp`]: the table of every TCP socket (`/proc/net/tcp`),
//!   which still lists a connection in `TIME_WAIT` after both its sockets
//!   are closed, and the timer each socket has running.
//! - [`sock_diag`]: every TCP socket of the namespace over `sock_diag(7)`,
//!   whoever owns it, with a listener's backlog and accept queue.
//! - [`sysctl`]: the port settings `bind(2)` obeys.
//! - `sys` (private): every `unsafe` call, for Linux, and the stubs for
//!   other systems; `sys/packet.rs`, a packet socket's receive ring
//!   (`packet(7)`), which [`crate::lab::capture`] reads.
//!
//! Experiments read these to explain what they saw (05 `bind-port`, 06
//! `reuseaddr`, 09 `backlog` and 10 `deadlock`). These are Linux interfaces
//! (`tcp(7)`, `proc(5)`, `ip(7)`). On other systems the socket functions
//! return an error of kind [`std::io::ErrorKind::Unsupported`], the `/proc`
//! readers one of kind [`std::io::ErrorKind::NotFound`].
//!
//! Nothing here imports the workbook's errors, names or reports: each
//! function returns the kernel's own `io::Error`.

pub mod listen;
pub mod proc_net_tcp;
pub mod sock_diag;
pub(crate) mod sys;
pub mod sysctl;
pub mod tcp_info;

pub use listen::{
    ListenCounters, ListenQueue, listen_queue, somaxconn, tcp_ext_counters,
    wait_listen_queue,
};
pub use proc_net_tcp::{
    TcpRow, TcpTimer, tcp_rows, time_wait_after_close, timer,
    wait_for_tcp_rows, wait_until_gone,
};
pub use sysctl::{
    PINNED, Sysctl, local_port_range, pin, read_sysctl, unprivileged_port_start,
};
pub use tcp_info::{
    TcpInfo, TcpState, recv_queue_bytes, rto_min_us, send_queue_bytes,
    set_rto_min, tcp_info,
};
