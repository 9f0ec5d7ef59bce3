//! A program started inside a network namespace that another process of
//! ours lives in (host A's, the namespace helper's of [`super::TwoHosts`]):
//! between `fork(2)` and `execve(2)` the child enters that process's
//! namespaces with `setns(2)`, so the program's sockets are that host's.
//!
//! What the kernel asks for, measured on Linux 6.18 (as root and as uid
//! 65534):
//! - `setns(CLONE_NEWNET)` needs `CAP_SYS_ADMIN` over the target's user
//!   namespace *and* in the caller's own. Root has both. An ordinary user
//!   has neither in its own namespace once [`super::private::settle`] has
//!   run; but it is the owner of the helper's user namespace (the helper
//!   made it), and the kernel grants an owner in the parent namespace
//!   every capability in the child one. So the child first enters the
//!   helper's user namespace (`setns(CLONE_NEWUSER)`, which needs only
//!   that), where it holds every capability, then the network namespace.
//! - In the helper's user namespace our uid reads as 0 (the helper maps
//!   itself to root). So that `execve(2)` does not keep those
//!   capabilities for the program, the child sets `SECBIT_NOROOT` (locked)
//!   and `PR_SET_NO_NEW_PRIVS`: the program starts with none, as the
//!   ordinary user it is.
//! - Root's child enters only the network namespace (root's helper makes
//!   no user namespace), then becomes `as_user` itself: `std`'s own
//!   `uid()` would run before `setns(2)`, and a process that is no longer
//!   root cannot enter.

use std::io;
use std::process::Command;

#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;

/// The namespaces of a process of ours, opened (`/proc/PID/ns/net`, and
/// `/proc/PID/ns/user` where it is not ours), for a program to start in.
#[derive(Debug)]
pub struct Join {
    #[cfg(target_os = "linux")]
    net: OwnedFd,
    #[cfg(target_os = "linux")]
    user: Option<OwnedFd>,
    /// The process whose namespaces these are.
    pub pid: u32,
}

impl Join {
    /// Opens the network namespace of process `pid` (and its user
    /// namespace, if it is not this process's).
    ///
    /// # Errors
    /// `open(2)` of `/proc/PID/ns/...` failed (`ENOENT`: no such process);
    /// `Unsupported` off Linux.
    pub fn of(pid: u32) -> io::Result<Join> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt;
            let open = |ns: &str| {
                std::fs::File::open(format!("/proc/{pid}/ns/{ns}"))
                    .map(OwnedFd::from)
            };
            let theirs = std::fs::metadata(format!("/proc/{pid}/ns/user"))?;
            let ours = std::fs::metadata("/proc/self/ns/user")?;
            let same = (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino());
            let user = if same { None } else { Some(open("user")?) };
            Ok(Join {
                net: open("net")?,
                user,
                pid,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = pid;
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// Makes `command`'s child enter these namespaces before it runs the
    /// program, then (root only) become user and group `as_user`, with no
    /// supplementary groups. Call it before any other `pre_exec` closure
    /// (such as [`crate::lab::process::die_with_parent`]): a change of
    /// credentials clears the death signal. The descriptors are closed on
    /// `execve(2)`; the program keeps none of them.
    pub fn before_exec(self, command: &mut Command, as_user: Option<u32>) {
        #[cfg(target_os = "linux")]
        {
            use nix::libc;
            use nix::sched::{CloneFlags, setns};
            use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec
            // and makes only system calls (setns, prctl, setgroups,
            // setgid, setuid), which are async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    if let Some(user) = &self.user {
                        setns(user, CloneFlags::CLONE_NEWUSER)?;
                    }
                    setns(&self.net, CloneFlags::CLONE_NEWNET)?;
                    if self.user.is_some() {
                        let bits =
                            libc::SECBIT_NOROOT | libc::SECBIT_NOROOT_LOCKED;
                        let set = libc::PR_SET_SECUREBITS;
                        if libc::prctl(set, bits as libc::c_ulong) != 0 {
                            return Err(io::Error::last_os_error());
                        }
                        nix::sys::prctl::set_no_new_privs()?;
                    }
                    if let Some(id) = as_user {
                        setgroups(&[])?;
                        setgid(Gid::from_raw(id))?;
                        setuid(Uid::from_raw(id))?;
                    }
                    Ok(())
                });
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (command, as_user);
    }
}
