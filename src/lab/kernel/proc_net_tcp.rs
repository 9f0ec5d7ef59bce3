//! The kernel's table of every TCP socket in this network namespace
//! (`/proc/net/tcp` and `/proc/net/tcp6`, described in `proc(5)`), which
//! still lists a connection in `TIME_WAIT` after both its sockets are
//! closed, and the timer each socket has running.

use std::fmt;
use std::io::{self, ErrorKind::InvalidData, ErrorKind::NotFound};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::tcp_info::TcpState;

/// One row of the kernel's table of TCP sockets (`/proc/net/tcp` and
/// `/proc/net/tcp6`, described in `proc(5)`): every TCP socket in this
/// network namespace, including those no process holds any more, such as a
/// connection in `TIME_WAIT`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::schema::every_field_present)]
pub struct TcpRow {
    /// The socket's own address and port (column `local_address`).
    pub local: SocketAddr,
    /// The peer's address and port (column `rem_address`); `0.0.0.0:0`
    /// for a listening socket.
    pub remote: SocketAddr,
    /// The state (column `st`): `"TIME_WAIT"` for the table's `06`.
    pub state: TcpState,
    /// How long until the socket's timer fires, in ms (column `tm->when`,
    /// in clock ticks): for a `TIME_WAIT` row, how long until the kernel
    /// forgets the connection. `None`: no timer is running (`tr` is 0).
    pub timer_left_ms: Option<u64>,
}

impl TcpRow {
    /// Whether the row is in `state`.
    pub fn is(&self, state: TcpState) -> bool {
        self.state == state
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
    tcp_rows_with("/proc/net", |row, _, _| {
        if keep(&row) {
            rows.push(row);
        }
    })?;
    Ok(rows)
}

/// As [`tcp_rows`], but the table of process `pid`'s network namespace
/// (`/proc/PID/net/tcp` and `tcp6`), which may not be ours: the sockets of
/// a program started inside another host ([`crate::lab::netns::join`]).
///
/// # Errors
/// As for [`tcp_rows`]; `NotFound` once the process has gone.
pub fn tcp_rows_of(
    pid: u32,
    keep: impl Fn(&TcpRow) -> bool,
) -> io::Result<Vec<TcpRow>> {
    let mut rows = Vec::new();
    tcp_rows_with(&format!("/proc/{pid}/net"), |r, _, _| {
        keep(&r).then(|| rows.push(r));
    })?;
    Ok(rows)
}

/// Returns the receive queue of the socket at `local` whose peer is
/// `remote`, in bytes, from the kernel's table (column `rx_queue`): for a
/// connected socket, the bytes that have arrived and its program has not
/// read yet; for a listening socket (`remote` is `0.0.0.0:0` or `[::]:0`),
/// the connections waiting for `accept(2)`. `None`: no such row.
///
/// This reads another program's socket from outside it: `workbook check`
/// sees whether a reader's server has read what our client sent.
///
/// # Errors
/// As for [`tcp_rows`].
pub fn receive_queue(
    local: SocketAddr,
    remote: SocketAddr,
) -> io::Result<Option<u32>> {
    let mut found = None;
    tcp_rows_with("/proc/net", |row, _, rx| {
        if row.local == local && row.remote == remote {
            found = Some(rx);
        }
    })?;
    Ok(found)
}

/// Calls `each` with every row of `DIR/tcp`, then `DIR/tcp6`, where
/// `dir` is `/proc/net` (or `/proc/PID/net`), the row's timer code (column
/// `tr`) and its receive queue in bytes (column `rx_queue`).
fn tcp_rows_with(
    dir: &str,
    mut each: impl FnMut(TcpRow, u8, u32),
) -> io::Result<()> {
    let tick_ms = 1000 / clock_ticks_per_second();
    for name in ["tcp", "tcp6"] {
        let file = &format!("{dir}/{name}");
        let text = match std::fs::read_to_string(file) {
            Err(e) if file.ends_with('6') && e.kind() == NotFound => continue,
            read => read?,
        };
        for line in text.lines().skip(1) {
            let parsed = parse_tcp_row(line, tick_ms)
                .zip(parse_rx_queue(line))
                .ok_or_else(|| {
                    io::Error::new(InvalidData, format!("{file}: {line}"))
                })?;
            let ((row, tr), rx) = parsed;
            each(row, tr, rx);
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
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
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
    tcp_rows_with("/proc/net", |row, tr, _| {
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
        ),
        timer_left_ms: (tr != "00").then_some(ticks * tick_ms),
    };
    Some((row, u8::from_str_radix(tr, 16).ok()?))
}

/// The `rx_queue` of a line (`tx_queue:rx_queue`, hexadecimal, field 4).
fn parse_rx_queue(line: &str) -> Option<u32> {
    let field = line.split_whitespace().nth(4)?;
    u32::from_str_radix(field.split_once(':')?.1, 16).ok()
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

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use crate::lab::kernel::tcp_info::tcp_info;
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
        assert_eq!(row.state, TcpState::TimeWait);
        assert_eq!(row.timer_left_ms, Some(59_970));
        let v6 = "0: 00000000000000000000000001000000:0424 \
                  00000000000000000000000000000000:0000 0A 0:0 00:00000000";
        let (row, _) = parse_tcp_row(v6, 10).unwrap();
        assert_eq!(row.local, "[::1]:1060".parse().unwrap());
        assert!(parse_tcp_row("  sl  local_address", 10).is_none());
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
}
