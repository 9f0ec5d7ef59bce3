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

fn wait(fd: &impl AsFd, events: PollFlags, timeout: Duration) -> io::Result<()> {
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from_raw_os_error(nix::libc::ETIMEDOUT));
        }
        // poll(2) takes at most i32::MAX ms; longer waits go round the loop.
        let ms =
            PollTimeout::try_from(left.min(Duration::from_secs(3600))).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
