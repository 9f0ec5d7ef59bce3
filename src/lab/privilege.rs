//! Running one call as another, unprivileged user: a child process made
//! with `fork(2)` drops to that user (`setgroups(2)`, `setgid(2)`,
//! `setuid(2)`), makes the call, and sends its errno back through a pipe.
//!
//! Experiment 05 `bind-port` uses it when it runs as root, to show the
//! `EACCES` an ordinary user's `bind(2)` gets below port 1024, while root's
//! own `bind(2)` succeeds. The child runs no program: there is no `exec`,
//! so no file permission (a binary under an unreadable `/root`) can get in
//! the way and be mistaken for the kernel's answer to the call.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Gid, Uid, fork};

use crate::lab::error::{Op, SocketError};
use crate::lab::{deadline, process};

/// The user and group id of `nobody` on Linux (65534): an unprivileged
/// user that owns no files.
pub const NOBODY: u32 = 65534;

/// Whether this process runs as root (effective uid 0, `geteuid(2)`).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `call` in a child process as user `uid` in group `gid` with no
/// supplementary groups, and returns its result: `Ok(())`, or the error
/// with its errno. Only the errno crosses back; an error that has none
/// comes back as `EIO`. The child ends as soon as `call` returns.
///
/// Only a process with one thread may fork safely (another thread may hold
/// a lock the child would wait on forever), so this refuses to run in a
/// process with more than one. Dropping to another user needs root (or
/// `CAP_SETUID` and `CAP_SETGID`).
///
/// # Errors
/// A [`SocketError`] naming what failed, if `call` could not run as the
/// user: this process has other threads (`EDEADLK`) or its threads cannot
/// be counted (no `/proc`); `pipe(2)` or `fork(2)` failed; the child could
/// not drop privileges (`setuid 65534: EPERM` when this process is not
/// root, `EINVAL` when a user namespace does not map that uid); or the
/// child did not report within `timeout` (`ETIMEDOUT`; it is then killed).
pub fn run_as(
    uid: u32,
    gid: u32,
    timeout: Duration,
    call: impl FnOnce() -> io::Result<()>,
) -> Result<io::Result<()>, SocketError> {
    let one_thread = process::thread_count() == Some(1);
    if !one_thread {
        let why = "a process with more than one thread cannot fork safely";
        return Err(io::Error::from_raw_os_error(nix::libc::EDEADLK))
            .op("fork")
            .map_err(|e| e.hint(why));
    }
    let (read_end, write_end) =
        nix::unistd::pipe().map_err(io::Error::from).op("pipe")?;
    // SAFETY: this process has one thread (checked above), so the child is
    // a whole copy of it and may run any code; it never returns from here.
    match unsafe { fork() }.map_err(io::Error::from).op("fork")? {
        ForkResult::Child => {
            drop(read_end);
            child(uid, gid, call, &write_end)
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let report = read_report(&read_end, timeout);
            if report.is_err() {
                let _ = kill(child, Signal::SIGKILL);
            }
            // The child has ended (its end of the pipe is closed) or was
            // killed: waitpid(2) only collects it.
            let _ = waitpid(child, None);
            let (stage, errno) =
                report.op(format_args!("wait for child {child}"))?;
            let result = match errno {
                0 => Ok(()),
                n => Err(io::Error::from_raw_os_error(n)),
            };
            match stage {
                Stage::Call => Ok(result),
                Stage::Groups => Err(result.op("setgroups []").unwrap_err()),
                Stage::Gid => {
                    Err(result.op(format_args!("setgid {gid}")).unwrap_err())
                }
                Stage::Uid => {
                    Err(result.op(format_args!("setuid {uid}")).unwrap_err())
                }
            }
        }
    }
}

/// The step of the child that the report is about.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Call = 0,
    Groups = 1,
    Gid = 2,
    Uid = 3,
}

/// The child: drops to the user, makes the call, writes `[stage, errno]`
/// as two native `i32`s to the pipe, and ends without running anything
/// else of the parent's (`_exit(2)`).
fn child(
    uid: u32,
    gid: u32,
    call: impl FnOnce() -> io::Result<()>,
    pipe: &OwnedFd,
) -> ! {
    let errno = |e: nix::errno::Errno| e as i32;
    let (stage, errno) = if let Err(e) = no_supplementary_groups() {
        (Stage::Groups, errno(e))
    } else if let Err(e) = nix::unistd::setgid(Gid::from_raw(gid)) {
        (Stage::Gid, errno(e))
    } else if let Err(e) = nix::unistd::setuid(Uid::from_raw(uid)) {
        (Stage::Uid, errno(e))
    } else {
        // A panic must not unwind into the parent's code in this copy.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
            Ok(Ok(())) => (Stage::Call, 0),
            Ok(Err(e)) => {
                (Stage::Call, e.raw_os_error().unwrap_or(nix::libc::EIO))
            }
            Err(_) => exit_now(101),
        }
    };
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&(stage as i32).to_ne_bytes());
    message[4..].copy_from_slice(&errno.to_ne_bytes());
    let _ = nix::unistd::write(pipe, &message);
    exit_now(0)
}

/// Ends the child at once: `_exit(2)`, no destructors, no atexit handlers,
/// no flushing of the parent's buffers.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit only ends the process.
    unsafe { nix::libc::_exit(code) }
}

/// Reads the child's 8-byte report, waiting at most `timeout` in all.
fn read_report(pipe: &OwnedFd, timeout: Duration) -> io::Result<(Stage, i32)> {
    let end = Instant::now() + timeout;
    let mut message = Vec::with_capacity(8);
    let mut buf = [0u8; 8];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        deadline::wait_readable(&pipe.as_fd(), left)?;
        match nix::unistd::read(pipe, &mut buf) {
            Ok(0) => break,
            Ok(n) => message.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let word =
        |i: usize| i32::from_ne_bytes(message[i..i + 4].try_into().unwrap());
    if message.len() != 8 {
        return Err(io::Error::other("the child ended without a report"));
    }
    let stage = match word(0) {
        0 => Stage::Call,
        1 => Stage::Groups,
        2 => Stage::Gid,
        _ => Stage::Uid,
    };
    Ok((stage, word(4)))
}

/// `setgroups(2)` with an empty list: no supplementary groups.
#[cfg(not(target_vendor = "apple"))]
fn no_supplementary_groups() -> nix::Result<()> {
    nix::unistd::setgroups(&[])
}

/// `setgroups(2)` with an empty list (nix has no wrapper for it on Apple's
/// systems).
#[cfg(target_vendor = "apple")]
fn no_supplementary_groups() -> nix::Result<()> {
    crate::lab::kernel::sys::setgroups_none()
}
