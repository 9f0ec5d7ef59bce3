//! Two private hosts for an experiment, made of Linux network namespaces:
//! host A (10.200.0.1) and host B (10.200.0.2), joined by a veth pair that
//! exists only inside them. The host's own interfaces are never touched.
//!
//! The experiment keeps making its own socket calls: [`TwoHosts::socket`]
//! hands it a fresh, unbound TCP socket created *inside* host A or host B
//! (a socket belongs to the network namespace it was created in, for good),
//! and the experiment binds, listens and connects with it as usual.
//!
//! How it is built (measured on Linux 6.18, as root and as uid 65534):
//! - `unshare(CLONE_NEWUSER)` fails with `EINVAL` in a process with more
//!   than one thread, and an experiment (or `cargo test`) has several. So
//!   [`TwoHosts::build`] starts a helper: this same executable again, as
//!   `EXE __netns-helper PID` ([`HELPER_ARG`], then the experiment's
//!   process id), with one end of a socket pair as its fd 0.
//!   [`helper_if_asked`], called first thing by every entry point, turns
//!   that into the helper's `main`, and refuses it (exit 2) to anyone but
//!   the parent that named itself.
//! - The helper enters a new network namespace, host A; when not root, in a
//!   new user namespace too, where it maps itself to root (the kernel lets
//!   any user do this, unless the system forbids user namespaces). Then it
//!   makes host B, a second network namespace, keeping a descriptor of each
//!   to switch between them with `setns(2)`.
//! - It wires them with seven `rtnetlink(7)` requests, on one netlink
//!   socket in each host (no program runs): `lo` up in both (a new
//!   namespace has its loopback down), the veth pair, the addresses, the
//!   two ends up. The chapter shows the same as `ip` commands.
//! - Then it serves requests for sockets over the `SOCK_SEQPACKET` socket
//!   pair, passing each socket back with `SCM_RIGHTS`.
//!
//! Nothing outlives the experiment: the namespaces belong to the helper's
//! descriptors (and to the sockets made in them), the helper exits when the
//! experiment closes its end of the socket pair, and it dies with the
//! experiment's thread (`PR_SET_PDEATHSIG`), so Ctrl-C or `SIGKILL` leave
//! no namespace, veth or process behind. No named namespace is created
//! (`ip netns add` would leave one in `/run/netns`).
//!
//! Where namespaces are not permitted (`EPERM`, `ENOSPC`, `EINVAL`),
//! [`TwoHosts::build`] returns a [`Skipped`] with the reason and the
//! command that would enable it.

#[cfg(target_os = "linux")]
use {
    crate::lab::error::Op,
    crate::lab::report::Errno,
    nix::errno::Errno as NixErrno,
    nix::sys::socket::{
        AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
        recvmsg, sendmsg, socketpair,
    },
    socket2::Socket,
    socket2::{Domain, SockRef, Type},
    std::ffi::OsString,
    std::io::{self, IoSlice, IoSliceMut},
    std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    std::process::ExitCode,
    std::process::{Child, Command, Stdio},
    std::time::Duration,
};

#[cfg(not(target_os = "linux"))]
mod elsewhere;
#[cfg(target_os = "linux")]
mod helper;
pub mod join;
#[cfg(target_os = "linux")]
mod link;
#[cfg(not(target_os = "linux"))]
pub use elsewhere::{TwoHosts, helper_if_asked};
pub mod private;

mod hosts;
pub use hosts::{HOST_A, HOST_B, Host, Skipped};

/// The first argument that makes this executable the helper:
/// `EXE __netns-helper PID`, where `PID` is the experiment that started
/// it. Only that process may: see [`helper_if_asked`].
pub const HELPER_ARG: &str = "__netns-helper";

#[cfg(target_os = "linux")]
/// Two private hosts, while this value lives. Dropping it ends the helper,
/// and with it the namespaces and the veth pair.
#[derive(Debug)]
pub struct TwoHosts {
    helper: Child,
    ctl: OwnedFd,
}

#[cfg(target_os = "linux")]
impl TwoHosts {
    /// Builds host A and host B (see the module's documentation), waiting
    /// at most `timeout` for the helper. Call it from the thread that will
    /// use the hosts: the helper dies when that thread ends.
    ///
    /// Returns `Ok(Err(skipped))` where the system does not permit network
    /// namespaces (`EPERM`, `ENOSPC`, `EINVAL` from `unshare(2)` or from
    /// writing the user namespace's id maps).
    ///
    /// # Errors
    /// The helper could not be started, did not answer within `timeout`,
    /// or a netlink request failed (`netlink: add veth vb/va: EEXIST ...`).
    pub fn build(timeout: Duration) -> anyhow::Result<Result<Self, Skipped>> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io::Error::from)
        .op("socketpair for the namespace helper")?;
        SockRef::from(&ours)
            .set_read_timeout(Some(timeout))
            .op("SO_RCVTIMEO on the namespace helper's socket")?;
        // Our own executable, by the kernel's link: nothing on PATH.
        let exe =
            crate::lab::process::own_executable().op("find our executable")?;
        let mut command = Command::new(exe);
        command
            .arg(HELPER_ARG)
            .arg(std::process::id().to_string())
            .stdin(Stdio::from(theirs)) // the socket pair, as fd 0
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        crate::lab::process::die_with_parent(&mut command);
        let helper = command.spawn().op("start the namespace helper")?;
        let hosts = TwoHosts { helper, ctl: ours };
        let (answer, _) =
            hosts.receive().op("hear from the namespace helper")?;
        let mut words = answer.splitn(3, '\t');
        match (words.next(), words.next(), words.next()) {
            (Some("ready"), _, _) => Ok(Ok(hosts)),
            (Some("skip"), Some(errno), Some(reason)) => {
                let errno = errno.parse().unwrap_or(0);
                Ok(Err(skipped(reason, errno)))
            }
            (Some("error"), Some(why), _) => anyhow::bail!(
                "building two hosts: {why}; hint: --loopback-only leaves \
                 the two hosts out"
            ),
            _ => anyhow::bail!(
                "building two hosts: the helper said {:?}",
                answer.replace('\t', " ")
            ),
        }
    }

    /// A new TCP socket (`socket(AF_INET, SOCK_STREAM)`), created inside
    /// `host`: whatever it binds or connects to is that host's.
    ///
    /// # Errors
    /// The helper's `socket(2)` failed, or the helper did not answer within
    /// the timeout given to [`TwoHosts::build`].
    pub fn socket(&self, host: Host) -> io::Result<Socket> {
        let ask = if host == Host::A { b"A" } else { b"B" };
        sendmsg::<()>(
            self.ctl.as_raw_fd(),
            &[IoSlice::new(ask)],
            &[],
            MsgFlags::empty(),
            None,
        )?;
        match self.receive()? {
            (_, Some(fd)) => Ok(Socket::from(fd)),
            (answer, None) => Err(io::Error::other(answer)),
        }
    }

    /// A packet socket made in host A (`socket(AF_PACKET, SOCK_RAW, 0)`,
    /// not yet bound), and the number of host A's end of the link (`va`),
    /// to capture what crosses it
    /// ([`crate::lab::capture::Wire::add_link`]).
    ///
    /// # Errors
    /// The helper's `socket(2)` failed, or it did not answer in time.
    pub fn packet_socket(&self) -> io::Result<(OwnedFd, u32)> {
        sendmsg::<()>(
            self.ctl.as_raw_fd(),
            &[IoSlice::new(b"P")],
            &[],
            MsgFlags::empty(),
            None,
        )?;
        match self.receive()? {
            (answer, Some(fd)) => {
                let index = answer
                    .strip_prefix("packet\t")
                    .and_then(|i| i.parse().ok());
                let index = index.ok_or_else(|| io::Error::other(answer))?;
                Ok((fd, index))
            }
            (answer, None) => Err(io::Error::other(answer)),
        }
    }

    /// The helper's process id (host A's process), to check that it is
    /// gone afterwards.
    pub fn helper_pid(&self) -> u32 {
        self.helper.id()
    }

    /// Receives one message from the helper, and the descriptor it carries.
    fn receive(&self) -> io::Result<(String, Option<OwnedFd>)> {
        let mut buf = [0u8; 512];
        let mut space = nix::cmsg_space!(std::os::fd::RawFd);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            self.ctl.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| match e {
            NixErrno::EAGAIN => io::Error::new(
                io::ErrorKind::TimedOut,
                "the namespace helper did not answer in time",
            ),
            e => e.into(),
        })?;
        let mut fd = None;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                // SAFETY: the kernel just gave us these descriptors.
                fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
            }
        }
        let n = msg.bytes;
        if n == 0 {
            return Err(io::Error::other("the namespace helper exited"));
        }
        Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), fd))
    }
}

#[cfg(target_os = "linux")]
impl Drop for TwoHosts {
    /// Closes our end: the helper reads end-of-file and exits, and the
    /// namespaces go with its descriptors. Killed if it has not exited
    /// within a second.
    fn drop(&mut self) {
        use wait_timeout::ChildExt;
        let _ = nix::sys::socket::shutdown(
            self.ctl.as_raw_fd(),
            nix::sys::socket::Shutdown::Both,
        );
        if !matches!(
            self.helper.wait_timeout(Duration::from_secs(1)),
            Ok(Some(_))
        ) {
            let _ = self.helper.kill();
            let _ = self.helper.wait();
        }
    }
}

#[cfg(target_os = "linux")]
/// The skip report for a failure with errno number `errno`.
fn skipped(reason: &str, errno: i32) -> Skipped {
    let e = NixErrno::from_raw(errno);
    let enable = match e {
        NixErrno::ENOSPC => {
            "the namespace limit is 0: sudo sysctl -w \
             user.max_user_namespaces=15000 user.max_net_namespaces=15000"
        }
        NixErrno::EPERM | NixErrno::EACCES => {
            "run as root, or allow unprivileged user namespaces (Debian: \
             sudo sysctl -w kernel.unprivileged_userns_clone=1; Ubuntu \
             24.04: sudo sysctl -w \
             kernel.apparmor_restrict_unprivileged_userns=0)"
        }
        NixErrno::EINVAL => {
            "the process had several threads; report this as a bug"
        }
        _ => "see the reason; run as root to rule out permissions",
    };
    let io = io::Error::from_raw_os_error(errno);
    Skipped {
        reason: reason.to_owned(),
        errno: if errno == 0 { None } else { Errno::of(&io) },
        enable: enable.to_owned(),
    }
}

#[cfg(target_os = "linux")]
/// If this process was started as the namespace helper (its first argument
/// is [`HELPER_ARG`]), runs the helper and returns its exit status;
/// otherwise returns `None` at once. Every entry point calls this first,
/// before any thread starts.
///
/// The request must be our parent's own: the pid after [`HELPER_ARG`] is
/// our parent's (`getppid(2)`), and fd 0 is a Unix `SOCK_SEQPACKET` socket
/// (`SO_DOMAIN`, `SO_TYPE`). Typed by hand, it prints one line on stderr
/// and returns exit status 2.
pub fn helper_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let program = args.next();
    if args.next()? != HELPER_ARG {
        return None;
    }
    let rest: Vec<OsString> = args.collect();
    match parents_socket(&rest) {
        Some(ctl) => Some(helper::main(ctl)),
        None => {
            let name = program
                .as_deref()
                .map(std::path::Path::new)
                .and_then(|p| p.file_name())
                .map_or("the experiment".into(), |n| n.to_string_lossy());
            crate::lab::narrate::error_line(format_args!(
                "{HELPER_ARG} is started by the workbook itself, not by \
                 hand; hint: run `{name}` without it"
            ));
            Some(ExitCode::from(crate::lab::cli::EXIT_USAGE))
        }
    }
}

#[cfg(target_os = "linux")]
/// Our end of the socket pair (a copy of fd 0), if `rest` is exactly our
/// parent's pid and fd 0 is a Unix `SOCK_SEQPACKET` socket; `None` if not.
fn parents_socket(rest: &[OsString]) -> Option<OwnedFd> {
    let [pid] = rest else { return None };
    let pid: i32 = pid.to_str()?.parse().ok()?;
    if nix::unistd::getppid().as_raw() != pid {
        return None;
    }
    let stdin = io::stdin();
    let fd0 = stdin.as_fd();
    let sock = SockRef::from(&fd0);
    let ours = sock.domain().ok()? == Domain::UNIX
        && sock.r#type().ok()? == Type::SEQPACKET;
    ours.then(|| fd0.try_clone_to_owned().ok()).flatten()
}
