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
//!   [`TwoHosts::build`] starts a helper: this same executable again, with
//!   the variable [`HELPER_ENV`] set, which [`helper_if_asked`] (called
//!   first thing by every entry point) turns into the helper's `main`.
//! - The helper enters a new network namespace, host A; when not root, in a
//!   new user namespace too, where it maps itself to root (the kernel lets
//!   any user do this, unless the system forbids user namespaces). Then it
//!   makes host B, a second network namespace, keeping a descriptor of each
//!   to switch between them with `setns(2)`.
//! - It runs iproute2's `ip` (7 short processes): `lo` up in both (a new
//!   namespace has its loopback down), the veth pair, the addresses.
//! - Then it serves requests for sockets over a `SOCK_SEQPACKET` socket
//!   pair, passing each socket back with `SCM_RIGHTS`.
//!
//! Nothing outlives the experiment: the namespaces belong to the helper's
//! descriptors (and to the sockets made in them), the helper exits when the
//! experiment closes its end of the socket pair, and it dies with the
//! experiment's thread (`PR_SET_PDEATHSIG`), so Ctrl-C or `SIGKILL` leave
//! no namespace, veth or process behind. No named namespace is created
//! (`ip netns add` would leave one in `/run/netns`).
//!
//! Where namespaces are not permitted (`EPERM`, `ENOSPC`, `EINVAL`), or
//! `ip` is missing, [`TwoHosts::build`] returns a [`Skipped`] with the
//! reason and the command that would enable it.

use std::ffi::OsStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use nix::errno::Errno as NixErrno;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, recvmsg, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::lab::report::Errno;

/// Host A's address on the veth link (it exists only inside host A).
pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Host B's address on the veth link (it exists only inside host B).
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

/// The environment variable that makes this executable the helper; its
/// value is the process id of the experiment that started it.
pub const HELPER_ENV: &str = "TCP_WORKBOOK_NETNS_HELPER";

/// The `ip` commands the helper runs, with the host each runs in: what a
/// reader types to build the same two hosts by hand (`PID_A` is host A's
/// process). Host B runs the first `link add`, which puts the peer `va`
/// into host A. `index 12` keeps the two ends' interface numbers apart
/// (each new namespace numbers from 1, so both would be 2): with equal
/// numbers the kernel treats the carrier coming up as not urgent and
/// starts `va`'s queue up to a second later, and what A sends until then
/// is dropped (measured: 9 of 40 runs lost the first SYN and waited for
/// its retry at 1 s).
pub const IP_COMMANDS: &[(Host, &str)] = &[
    (Host::A, "link set lo up"),
    (Host::B, "link set lo up"),
    (
        Host::B,
        "link add vb index 12 type veth peer name va netns PID_A",
    ),
    (Host::A, "addr add 10.200.0.1/24 dev va"),
    (Host::A, "link set va up"),
    (Host::B, "addr add 10.200.0.2/24 dev vb"),
    (Host::B, "link set vb up"),
];

/// One of the two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Host A, 10.200.0.1: the server's machine in the book's story.
    A,
    /// Host B, 10.200.0.2: the client's machine.
    B,
}

/// Why the two hosts could not be built, and what would allow them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Skipped {
    /// What failed, in one line: `"unshare(CLONE_NEWUSER|CLONE_NEWNET)"`.
    pub reason: String,
    /// The errno of the call that failed; `None` if no call failed (`ip`
    /// is not installed).
    pub errno: Option<Errno>,
    /// The command (or setting) that would let the experiment build them.
    pub enable: String,
}

/// Two private hosts, while this value lives. Dropping it ends the helper,
/// and with it the namespaces and the veth pair.
#[derive(Debug)]
pub struct TwoHosts {
    helper: Child,
    ctl: OwnedFd,
}

impl TwoHosts {
    /// Builds host A and host B (see the module's documentation), waiting
    /// at most `timeout` for the helper. Call it from the thread that will
    /// use the hosts: the helper dies when that thread ends.
    ///
    /// Returns `Ok(Err(skipped))` where the system does not permit network
    /// namespaces (`EPERM`, `ENOSPC`, `EINVAL` from `unshare(2)` or from
    /// writing the user namespace's id maps) or `ip` is not installed.
    ///
    /// # Errors
    /// The helper could not be started, did not answer within `timeout`,
    /// or an `ip` command failed.
    pub fn build(timeout: Duration) -> anyhow::Result<Result<Self, Skipped>> {
        let Some(ip) = find_ip() else {
            return Ok(Err(Skipped {
                reason: "iproute2's `ip` is not installed".into(),
                errno: None,
                enable: "sudo apt install iproute2 (or your system's \
                         package for iproute2)"
                    .into(),
            }));
        };
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        SockRef::from(&ours).set_read_timeout(Some(timeout))?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .env(HELPER_ENV, std::process::id().to_string())
            .env("TCP_WORKBOOK_IP", ip)
            .stdin(Stdio::from(theirs)) // the socket pair, as fd 0
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let helper = command.spawn()?;
        let hosts = TwoHosts { helper, ctl: ours };
        let (answer, _) = hosts.receive()?;
        let mut words = answer.splitn(3, '\t');
        match (words.next(), words.next(), words.next()) {
            (Some("ready"), _, _) => Ok(Ok(hosts)),
            (Some("skip"), Some(errno), Some(reason)) => {
                let errno = errno.parse().unwrap_or(0);
                Ok(Err(skipped(reason, errno)))
            }
            _ => anyhow::bail!("building two hosts: {answer}"),
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

/// The skip report for a failure with errno number `errno` (0: none).
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

/// Where iproute2's `ip` is: on `PATH`, or in `/usr/sbin` or `/sbin` (not
/// on every user's `PATH`). `None` if it is in none of them.
fn find_ip() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join("ip"))
        .find(|p| p.is_file())
}

/// Makes `command`'s process get `SIGKILL` when the thread that starts it
/// ends (`prctl(PR_SET_PDEATHSIG)`), and exit at once if that already
/// happened before the `prctl`.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id() as i32;
    // SAFETY: runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            use nix::libc;
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// If this process was started as the namespace helper (the variable
/// [`HELPER_ENV`] is set), runs the helper and returns its exit status;
/// otherwise returns `None` at once. Every entry point calls this first,
/// before any thread starts.
pub fn helper_if_asked() -> Option<ExitCode> {
    let parent: i32 = std::env::var(HELPER_ENV).ok()?.parse().ok()?;
    // SAFETY: fd 0 is the socket pair the experiment gave us as stdin.
    let ctl = unsafe { OwnedFd::from_raw_fd(0) };
    let say = |text: &str, fd: Option<&OwnedFd>| {
        let fds: Vec<i32> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&fds)];
        let cmsgs = if fds.is_empty() { &[][..] } else { &rights[..] };
        let iov = [IoSlice::new(text.as_bytes())];
        sendmsg::<()>(ctl.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
    };
    let hosts = match enter_hosts(parent) {
        Ok(hosts) => hosts,
        Err(Failed::Skip(what, errno)) => {
            let _ = say(&format!("skip\t{}\t{what}", errno as i32), None);
            return Some(ExitCode::SUCCESS);
        }
        Err(Failed::Error(why)) => {
            let _ = say(&format!("error\t{why}"), None);
            return Some(ExitCode::FAILURE);
        }
    };
    if say("ready", None).is_err() {
        return Some(ExitCode::FAILURE);
    }
    // Serve requests for sockets until the experiment closes its end.
    let mut ask = [0u8; 1];
    while let Ok(1) = nix::unistd::read(&ctl, &mut ask) {
        let host = if ask[0] == b'B' { &hosts.b } else { &hosts.a };
        let made = in_namespace(host, &hosts.a, || {
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        });
        let sent = match made {
            Ok(sock) => say("socket", Some(&OwnedFd::from(sock))),
            Err(e) => say(&format!("socket: {e}"), None),
        };
        if sent.is_err() {
            break;
        }
    }
    Some(ExitCode::SUCCESS)
}

/// The two hosts' network namespaces, as the helper holds them.
struct Namespaces {
    a: OwnedFd,
    b: OwnedFd,
}

/// Why the helper could not build the hosts.
enum Failed {
    /// Not permitted here: skip, with the call and its errno.
    Skip(String, NixErrno),
    /// Something else went wrong (an `ip` command failed).
    Error(String),
}

/// In the helper: enters host A (and a user namespace unless root), makes
/// host B, and runs [`IP_COMMANDS`].
fn enter_hosts(parent: i32) -> Result<Namespaces, Failed> {
    use nix::unistd::{getegid, geteuid, getpid, getppid};
    fn skip(what: &'static str) -> impl Fn(NixErrno) -> Failed {
        move |e| Failed::Skip(what.into(), e)
    }
    let (uid, gid) = (geteuid(), getegid());
    if uid.is_root() {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(skip("unshare(CLONE_NEWNET)"))?;
    } else {
        let both = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET;
        unshare(both).map_err(skip("unshare(CLONE_NEWUSER|CLONE_NEWNET)"))?;
        // Map ourselves to root inside the new user namespace.
        let write = |file: &str, text: String| {
            std::fs::write(file, text).map_err(|e| {
                let errno = NixErrno::from_raw(e.raw_os_error().unwrap_or(0));
                Failed::Skip(format!("write {file}"), errno)
            })
        };
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    // A change of credentials clears the death signal: set it now.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::SIGKILL);
    if getppid().as_raw() != parent {
        std::process::exit(1);
    }
    let open = |what: &str| {
        std::fs::File::open("/proc/self/ns/net")
            .map(OwnedFd::from)
            .map_err(|e| Failed::Error(format!("open {what}: {e}")))
    };
    let a = open("host A's namespace")?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(skip("unshare(CLONE_NEWNET)"))?;
    let b = open("host B's namespace")?;
    setns(&a, CloneFlags::CLONE_NEWNET)
        .map_err(|e| Failed::Error(format!("setns back to host A: {e}")))?;
    let hosts = Namespaces { a, b };
    let ip = std::env::var_os("TCP_WORKBOOK_IP").unwrap_or("ip".into());
    let pid_a = getpid().to_string();
    for (host, args) in IP_COMMANDS {
        let args = args.replace("PID_A", &pid_a);
        let ns = if *host == Host::B {
            Some(&hosts.b)
        } else {
            None
        };
        run_ip(&ip, &args, ns).map_err(Failed::Error)?;
    }
    // Until the kernel's link watcher marks each end running, a veth may
    // drop what it is given (its queue is still the no-op one); wait for
    // IFF_RUNNING on both ends (at once, thanks to `index 12` above).
    let running = |ns: &OwnedFd, name: &str| {
        in_namespace(ns, &hosts.a, || is_running(name))
    };
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let up = running(&hosts.a, "va")
            .and_then(|a| Ok(a && running(&hosts.b, "vb")?));
        match up {
            Ok(true) => break,
            Ok(false) if std::time::Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(false) => {
                return Err(Failed::Error(
                    "the veth pair is not running after 5 s".into(),
                ));
            }
            Err(e) => return Err(Failed::Error(format!("getifaddrs: {e}"))),
        }
    }
    Ok(hosts)
}

/// Runs `ip ARGS` (in host B's namespace if `ns` is given, else here), with
/// a deadline of 5 s.
///
/// # Errors
/// The command line and what `ip` printed, if it failed.
fn run_ip(ip: &OsStr, args: &str, ns: Option<&OwnedFd>) -> Result<(), String> {
    let mut command = Command::new(ip);
    command.args(args.split_whitespace()).env_remove(HELPER_ENV);
    if let Some(ns) = ns {
        let raw = ns.as_raw_fd();
        // SAFETY: setns(2) is a system call; nothing else runs in between.
        unsafe {
            command.pre_exec(move || {
                if nix::libc::setns(raw, nix::libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let done =
        crate::lab::process::run_with_deadline(command, Duration::from_secs(5));
    match done {
        Ok(crate::lab::process::Finished::Exited { status, .. })
            if status.success() =>
        {
            Ok(())
        }
        Ok(crate::lab::process::Finished::Exited { stderr, .. }) => {
            Err(format!("ip {args}: {}", stderr.trim()))
        }
        Ok(crate::lab::process::Finished::Killed) => {
            Err(format!("ip {args}: still running after 5 s"))
        }
        Err(e) => Err(format!("ip {args}: {e}")),
    }
}

/// Whether the interface `name` in this namespace is running
/// (`IFF_RUNNING`, read with `getifaddrs(3)`).
fn is_running(name: &str) -> io::Result<bool> {
    use nix::net::if_::InterfaceFlags;
    Ok(nix::ifaddrs::getifaddrs()?.any(|i| {
        i.interface_name == name
            && i.flags.contains(InterfaceFlags::IFF_RUNNING)
    }))
}

/// Runs `make` inside the namespace `host`, then returns to `home`.
fn in_namespace<T>(
    host: &OwnedFd,
    home: &OwnedFd,
    make: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    setns(host.as_fd(), CloneFlags::CLONE_NEWNET)?;
    let made = make();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET)?;
    made
}
