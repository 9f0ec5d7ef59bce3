//! What a run leaves behind and costs: this process's threads, open
//! descriptors and peak memory, and whether a call raised `SIGPIPE`.

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
    crate::lab::kernel::sys::sigpipe_raised(call)
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

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
}
