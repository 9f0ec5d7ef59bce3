//! Processes: what a run leaves behind and costs (this process's threads,
//! open descriptors and peak memory), whether a call raised `SIGPIPE`, and
//! a child process run with a deadline that dies with its parent.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

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

/// `n` bytes, each `byte(i)` for its index `i`, in memory this process may
/// not have: the allocation is asked for first (`Vec::try_reserve_exact`),
/// so a limit (`ulimit -v`, a container's) gives an error to report in one
/// line instead of an abort with a backtrace.
///
/// # Errors
/// `OutOfMemory`, naming the size and how to ask for less.
pub fn bytes(n: u64, byte: impl Fn(u64) -> u8) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    let fits = usize::try_from(n)
        .ok()
        .filter(|&n| v.try_reserve_exact(n).is_ok());
    if fits.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!(
                "cannot allocate {n} bytes; hint: ask for fewer bytes, or \
                 allow this process more memory (ulimit -v)"
            ),
        ));
    }
    v.extend((0..n).map(byte));
    Ok(v)
}

/// Whether process `pid` is asleep: every thread of it blocked in the
/// kernel (`S` or `D` in `/proc/PID/task/*/stat`), stopped, or ended
/// (a zombie, or gone). A thread that is running or waits only for a CPU
/// (`R`) is not: it is still on its way to its next call.
pub fn asleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true; // gone
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat"));
        let state = stat.ok().and_then(|s| {
            let after = s.rfind(')')?;
            s[after + 1..].split_whitespace().next()?.chars().next()
        });
        !matches!(state, Some('R'))
    })
}

/// This process's own executable, to run again as a child: on Linux
/// `/proc/self/exe`, which names the file this process started from even
/// after `cargo build` has replaced or removed it (a runner's later rounds
/// then still run the binary that started them); elsewhere
/// `std::env::current_exe()`.
///
/// # Errors
/// As for `std::env::current_exe()`, where `/proc` is missing.
pub fn own_executable() -> std::io::Result<std::path::PathBuf> {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe.to_owned());
    }
    std::env::current_exe()
}

/// Makes `command`'s process get `SIGKILL` when the thread that starts it
/// ends (`prctl(PR_SET_PDEATHSIG)`, Linux), and exit at once if that
/// already happened before the `prctl`; elsewhere it does nothing.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and
        // calls only async-signal-safe functions (prctl, getppid, _exit).
        unsafe {
            command.pre_exec(move || {
                use nix::libc;
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl(): then go at once.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = command;
}

/// How a child process run by [`run_with_deadline`] ended.
#[derive(Debug)]
pub enum Finished {
    /// It exited by itself, with this status and output.
    Exited {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Everything it wrote to stdout.
        stdout: String,
        /// Everything it wrote to stderr.
        stderr: String,
    },
    /// It was still running at the deadline, and was killed (`SIGKILL`).
    Killed,
}

/// Runs `command` with stdin closed and its output captured, and kills it if
/// it is still running after `deadline`. On Linux the child also dies with
/// this process (`prctl(PR_SET_PDEATHSIG, SIGKILL)`), so a runner ended by
/// Ctrl-C, `SIGTERM` or `SIGKILL` leaves no experiment running.
///
/// # Errors
/// Fails if the process cannot be started or waited for.
pub fn run_with_deadline(
    mut command: Command,
    deadline: Duration,
) -> std::io::Result<Finished> {
    die_with_parent(&mut command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes on threads, so a chatty child cannot fill a pipe
    // and block (the deadlock of experiment 10, in miniature).
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = match child.wait_timeout(deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Finished::Killed);
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Finished::Exited {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::process::Command;

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

    /// A process still running at its deadline is killed, not waited for.
    #[test]
    fn process_past_its_deadline_is_killed() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let finished =
            run_with_deadline(sleeper, Duration::from_millis(50)).unwrap();
        assert!(matches!(finished, Finished::Killed), "{finished:?}");
    }

    /// A process that exits in time has its status and output passed back.
    #[test]
    fn process_within_its_deadline_is_reported() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo out; echo err >&2; exit 3"]);
        match run_with_deadline(sh, Duration::from_secs(30)).unwrap() {
            Finished::Exited {
                status,
                stdout,
                stderr,
            } => {
                assert_eq!(status.code(), Some(3));
                assert_eq!(
                    (stdout.as_str(), stderr.as_str()),
                    ("out\n", "err\n")
                );
            }
            Finished::Killed => panic!("killed"),
        }
    }
}
