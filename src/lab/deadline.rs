//! Deadlines for the blocking calls that have no timeout of their own.
//!
//! `recv(2)` and `send(2)` get theirs from `SO_RCVTIMEO`/`SO_SNDTIMEO`
//! (`set_read_timeout`/`set_write_timeout`) and `connect(2)` from
//! `connect_timeout`; `accept(2)` has none that works on every Unix, so an
//! experiment waits for the listening socket to become readable with
//! `poll(2)` first. A non-blocking socket waits the same way, for room to
//! send or data to receive.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Waits until `fd` is readable (for a listening socket: a connection is
/// queued for `accept(2)`), for at most `timeout`. Corresponds to `poll(2)`
/// with `POLLIN`.
///
/// # Errors
/// Returns `ETIMEDOUT` if nothing arrived within `timeout`, or the error of
/// `poll(2)` itself.
pub fn wait_readable(fd: &impl AsFd, timeout: Duration) -> io::Result<()> {
    wait(fd, PollFlags::POLLIN, timeout)
}

/// Waits until `fd` is writable (for a connected socket: its send buffer has
/// room again), for at most `timeout`. Corresponds to `poll(2)` with
/// `POLLOUT`. A socket that was shut down or reset counts as writable: the
/// next `send(2)` then reports the error.
///
/// # Errors
/// Returns `ETIMEDOUT` if there was no room within `timeout`, or the error of
/// `poll(2)` itself.
pub fn wait_writable(fd: &impl AsFd, timeout: Duration) -> io::Result<()> {
    wait(fd, PollFlags::POLLOUT, timeout)
}

/// Waits for `timeout`, or less if `fd` hangs up first: shut down both
/// ways (as the manual server's `--conversation-ms` cut does) or reset by
/// the peer. Returns whether it hung up. Corresponds to `poll(2)` asking
/// for no event, so that only `POLLHUP` and `POLLERR` end the wait early:
/// a peer still sending does not.
///
/// # Errors
/// The error of `poll(2)` itself.
pub fn hold_unless_hung_up(
    fd: &impl AsFd,
    timeout: Duration,
) -> io::Result<bool> {
    match wait(fd, PollFlags::empty(), timeout) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(nix::libc::ETIMEDOUT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until one of `fds` is writable (for a socket whose non-blocking
/// `connect(2)` is under way: the handshake finished or failed), for at
/// most `timeout`, and returns its index in `fds`. Corresponds to `poll(2)`
/// with `POLLOUT` on all of them.
///
/// # Errors
/// Returns `ETIMEDOUT` if none became writable within `timeout` (at once
/// if `fds` is empty), or the error of `poll(2)` itself.
pub fn wait_any_writable<F: AsFd>(
    fds: &[F],
    timeout: Duration,
) -> io::Result<usize> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || fds.is_empty() {
            return Err(io::Error::from_raw_os_error(nix::libc::ETIMEDOUT));
        }
        let ms = PollTimeout::try_from(left.min(Duration::from_secs(3600)))
            .unwrap_or(PollTimeout::MAX);
        let mut polled: Vec<PollFd> = fds
            .iter()
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLOUT))
            .collect();
        match poll(&mut polled, ms) {
            Ok(0) => continue,
            Ok(_) => {
                return Ok(polled
                    .iter()
                    .position(|p| p.revents().is_some_and(|r| !r.is_empty()))
                    .expect("poll counted a ready descriptor"));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn wait(
    fd: &impl AsFd,
    events: PollFlags,
    timeout: Duration,
) -> io::Result<()> {
    let end = Instant::now() + timeout;
    loop {
        // Asked at least once, so a timeout of 0 means "ready now?".
        let left = end.saturating_duration_since(Instant::now());
        // poll(2) takes at most i32::MAX ms; longer waits go round the loop.
        let ms = PollTimeout::try_from(left.min(Duration::from_secs(3600)))
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) if left.is_zero() => {
                return Err(io::Error::from_raw_os_error(nix::libc::ETIMEDOUT));
            }
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Gives every later `recv(2)` and `send(2)` on `sock` a deadline of
/// `timeout`: `setsockopt(2)` `SO_RCVTIMEO` and `SO_SNDTIMEO`. A call that
/// waits longer fails with `EAGAIN` (`WouldBlock`).
///
/// # Errors
/// The error of `setsockopt(2)`, with the option named.
pub fn set_timeouts(
    sock: &socket2::Socket,
    timeout: Duration,
) -> Result<(), crate::lab::error::SocketError> {
    use crate::lab::error::Op;
    sock.set_read_timeout(Some(timeout))
        .op("setsockopt SO_RCVTIMEO")?;
    sock.set_write_timeout(Some(timeout))
        .op("setsockopt SO_SNDTIMEO")
}

/// One `recv(2)` on a non-blocking socket: waits in `poll(2)` (at most
/// `timeout` each time) until there is something to return, then returns
/// what one `read` gives. `Ok(0)` is the end of the stream.
///
/// # Errors
/// `ETIMEDOUT` if nothing arrived within `timeout`; otherwise the error of
/// `recv(2)` (`ECONNRESET`, say).
pub fn recv_ready<S>(
    sock: &mut S,
    buf: &mut [u8],
    timeout: Duration,
) -> io::Result<usize>
where
    S: io::Read + AsFd,
{
    loop {
        match sock.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_readable(sock, timeout)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}
