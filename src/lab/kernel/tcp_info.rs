//! `TCP_INFO` (`getsockopt(2)`), the queue sizes (`ioctl(2)` `SIOCOUTQ`
//! and `SIOCINQ`, described in `tcp(7)`), and `TCP_RTO_MIN_US`.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::sys;

/// A TCP connection's state, as `TCP_INFO` reports it (`tcpi_state`; the
/// names are those of RFC 793 and `ss(8)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
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

/// `"TIME_WAIT"`: the name [`TcpState`] prints back to the state;
/// `"state 12"` to [`TcpState::Other`].
impl FromStr for TcpState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(n) = s.strip_prefix("state ") {
            return n.parse().map(TcpState::Other).map_err(|_| s.to_owned());
        }
        (1..=11)
            .map(TcpState::from_linux)
            .find(|t| t.to_string() == s)
            .ok_or_else(|| format!("not a TCP state: {s}"))
    }
}

impl From<TcpState> for String {
    fn from(state: TcpState) -> String {
        state.to_string()
    }
}

impl TryFrom<String> for TcpState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// In a report, a state is its name, as `ss(8)` prints it.
impl schemars::JsonSchema for TcpState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TcpState".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<String> = (1..=11)
            .map(|n| TcpState::from_linux(n).to_string())
            .collect();
        let pattern = format!("^({}|state [0-9]+)$", names.join("|"));
        schemars::json_schema!({
            "description": "A TCP state by name, as ss(8) prints it; \
                            \"state N\" for a number this workbook does not know.",
            "type": "string",
            "pattern": pattern
        })
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
    sys::queue(sock, sys::Queue::Send)
}

/// Returns the bytes in `sock`'s receive queue: arrived and acknowledged but
/// not yet read by the application. `ioctl(2)` `SIOCINQ` (`FIONREAD`).
///
/// # Errors
/// The error of `ioctl(2)`; `Unsupported` off Linux.
pub fn recv_queue_bytes(sock: &impl AsFd) -> io::Result<u32> {
    sys::queue(sock, sys::Queue::Recv)
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
    sys::set_rto_min(sock, us)
}

/// Returns `sock`'s lower bound on the retransmission timeout, in µs, as
/// the kernel holds it after rounding: `getsockopt(2)` `TCP_RTO_MIN_US`.
///
/// # Errors
/// As for [`set_rto_min`].
pub fn rto_min_us(sock: &impl AsFd) -> io::Result<u32> {
    sys::rto_min_us(sock)
}

/// Reads `sock`'s `TCP_INFO` with `getsockopt(2)` (`IPPROTO_TCP`, `TCP_INFO`).
///
/// # Errors
/// The error of `getsockopt(2)` (`ENOPROTOOPT` for a socket that is not
/// TCP); `Unsupported` off Linux.
pub fn tcp_info(sock: &impl AsFd) -> io::Result<TcpInfo> {
    let raw = sys::tcp_info(sock)?;
    Ok(TcpInfo {
        state: TcpState::from_linux(raw.state),
        send_window_bytes: raw.snd_wnd,
        probes: raw.probes,
        backoff: raw.backoff,
        rto_us: raw.rto,
        segment_bytes: raw.snd_mss,
        total_retransmits: raw.total_retrans,
    })
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

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
}
