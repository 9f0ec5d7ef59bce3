//! Deadlines for the blocking calls that have no timeout of their own.
//!
//! `recv(2)` and `send(2)` get theirs from `SO_RCVTIMEO`/`SO_SNDTIMEO`
//! (`set_read_timeout`/`set_write_timeout`) and `connect(2)` from
//! `connect_timeout`; `accept(2)` has none that works on every Unix, so an
//! experiment waits for the listening socket to become readable with
//! `poll(2)` first.

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
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from_raw_os_error(nix::libc::ETIMEDOUT));
        }
        // poll(2) takes at most i32::MAX ms; longer waits go round the loop.
        let ms =
            PollTimeout::try_from(left.min(Duration::from_secs(3600))).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
