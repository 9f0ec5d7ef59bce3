//! A network of its own for this whole process: a new network namespace
//! whose only interface is its own loopback, entered before any thread
//! starts, so no other program's sockets, ports or `TIME_WAIT` rows can
//! touch a default run, and its sysctls are its own.
//!
//! How, measured on Linux 6.18 (as root and as uid 65534):
//! - `unshare(CLONE_NEWUSER)` works only in a process with one thread, so
//!   [`enter`] must be called first thing in `main`, before a thread is
//!   spawned; later it says why not and leaves the process on the host.
//! - As root: `unshare(CLONE_NEWNET)`. As anyone else:
//!   `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, then the user namespace maps
//!   our own uid and gid to themselves (`/proc/self/uid_map`), so files,
//!   `getuid(2)` and the programs we start see the same user as before.
//! - A new namespace has its loopback down: one `rtnetlink(7)` request
//!   brings `lo` up (`ip link set lo up`), which gives it `127.0.0.1/8` and
//!   `::1`.
//! - The process that made a user namespace holds every capability inside
//!   it, over the network namespace it owns. An ordinary user keeps them
//!   only until [`settle`]: then a `bind(2)` below port 1024 fails with
//!   `EACCES` as it does on the host (experiment 05 shows it), and a
//!   program we start has none (it starts as our uid, not root).
//!
//! Where the system forbids namespaces (`EPERM`, `ENOSPC`, `EINVAL`, or a
//! `sysctl` such as `kernel.unprivileged_userns_clone=0`), or the process
//! already runs threads, [`enter`] returns [`Network::Host`] with the
//! reason, and everything runs on the host's loopback as before.
//!
//! Nothing is left behind: the namespace belongs to this process and ends
//! with it, however it ends. No named namespace is made.

use serde::{Deserialize, Serialize};

#[cfg(target_os = "linux")]
use {
    super::link::Netlink,
    nix::sched::{CloneFlags, unshare},
    std::time::Duration,
};

/// Loopback's interface number in every network namespace
/// (`LOOPBACK_IFINDEX`).
#[cfg(target_os = "linux")]
const LO_INDEX: u32 = 1;

/// How long the `rtnetlink(7)` request that brings `lo` up may wait.
#[cfg(target_os = "linux")]
const NETLINK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a run's sockets live.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Network {
    /// A network namespace of its own, with only its loopback.
    Private,
    /// The host's own network, shared with every other program.
    Host {
        /// Why not a private one, in one line: `"asked for (--network
        /// host)"`, or the call that failed and its errno.
        why: String,
    },
}

impl Network {
    /// `"private"` or `"host"`, as the report's narration says it.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Private => "private",
            Network::Host { .. } => "host",
        }
    }
}

/// Moves this process into a network namespace of its own (see the
/// module's documentation) and brings its loopback up. Call it first thing
/// in `main`: a process with threads cannot enter a new user namespace.
///
/// Never fails: where the namespace cannot be made, it returns
/// [`Network::Host`] with the reason (the call, its errno and a hint), and
/// the process stays where it was.
#[cfg(target_os = "linux")]
pub fn enter() -> Network {
    let host = |why: String| Network::Host { why };
    if crate::lab::process::thread_count() != Some(1) {
        return host("this process already runs threads".into());
    }
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    if uid.is_root() {
        if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
            return host(format!("unshare(CLONE_NEWNET): {e}"));
        }
    } else {
        let both = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET;
        if let Err(e) = unshare(both) {
            return host(format!(
                "unshare(CLONE_NEWUSER|CLONE_NEWNET): {e}; hint: this \
                 system does not let an ordinary user make namespaces \
                 (see `sysctl user.max_user_namespaces`)"
            ));
        }
        // Our own ids, mapped to themselves. Once a user namespace exists
        // there is no way back: if a map cannot be written, the process
        // must not go on half inside (its uid would read as 65534).
        let maps = [
            ("/proc/self/setgroups", "deny".to_string()),
            ("/proc/self/uid_map", format!("{uid} {uid} 1")),
            ("/proc/self/gid_map", format!("{gid} {gid} 1")),
        ];
        for (file, text) in maps {
            if let Err(e) = std::fs::write(file, text) {
                crate::lab::narrate::error_line(format_args!(
                    "write {file}: {}; hint: run with --network host",
                    super::link::errno(&e)
                ));
                std::process::exit(2);
            }
        }
    }
    let up = Netlink::open(NETLINK_TIMEOUT)
        .and_then(|mut nl| nl.set_up("set lo up", LO_INDEX));
    if let Err(why) = up {
        // In a namespace whose loopback is down nothing can connect: the
        // namespace cannot be left, so this run cannot go on.
        crate::lab::narrate::error_line(format_args!(
            "{why}; hint: run with --network host"
        ));
        std::process::exit(2);
    }
    Network::Private
}

/// Elsewhere than on Linux there are no network namespaces:
/// [`Network::Host`], saying so.
#[cfg(not(target_os = "linux"))]
pub fn enter() -> Network {
    Network::Host {
        why: "network namespaces exist only on Linux".into(),
    }
}

/// Gives up the capabilities an ordinary user held inside its own user
/// namespace since [`enter`] (root keeps its own, as on the host). After
/// it, `bind(2)` below `ip_unprivileged_port_start` fails with `EACCES`,
/// and opening a packet socket with `EPERM`, as on the host. Call it once
/// what needs them (the capture) is open.
///
/// # Errors
/// `capset(2)` failed; the process then keeps its capabilities.
pub fn settle() -> std::io::Result<()> {
    if nix::unistd::geteuid().is_root() || cfg!(not(target_os = "linux")) {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
        caps::clear(None, set)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    Ok(())
}
