//! The helper's side: enter host A, make host B, wire them through
//! netlink, then hand out sockets made in either host until the experiment
//! closes its end of the socket pair.

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno as NixErrno;
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use socket2::{Domain, Protocol, Socket, Type};

use super::link::{Netlink, errno};
use super::{HOST_A, HOST_B, Host};

/// `vb`'s interface number in host B, as `ip link add vb index 12` would
/// give it. It keeps the two ends' numbers apart (each new namespace
/// numbers from 1, so both would be 2): with equal numbers the kernel
/// treats the carrier coming up as not urgent and starts `va`'s queue up
/// to a second later, and what A sends until then is dropped (measured
/// with `ip`: 9 of 40 runs lost the first SYN and waited for its retry at
/// 1 s).
const VB_INDEX: u32 = 12;

/// Loopback's interface number: the kernel gives `lo` number 1 in every
/// network namespace (`LOOPBACK_IFINDEX`).
const LO_INDEX: u32 = 1;

/// How long each netlink request may wait for the kernel's answer.
const NETLINK_TIMEOUT: Duration = Duration::from_secs(5);

/// The helper's `main`, on `ctl`, our end of the socket pair: build the
/// hosts, say `ready` (or `skip`/`error` and why), then serve sockets.
pub(super) fn main(ctl: OwnedFd) -> ExitCode {
    let say = |text: &str, fd: Option<&OwnedFd>| {
        let fds: Vec<i32> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&fds)];
        let cmsgs = if fds.is_empty() { &[][..] } else { &rights[..] };
        let iov = [IoSlice::new(text.as_bytes())];
        sendmsg::<()>(ctl.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None)
    };
    let hosts = match enter_hosts() {
        Ok(hosts) => hosts,
        Err(Failed::Skip(what, errno)) => {
            let _ = say(&format!("skip\t{}\t{what}", errno as i32), None);
            return ExitCode::SUCCESS;
        }
        Err(Failed::Error(why)) => {
            let _ = say(&format!("error\t{why}"), None);
            return ExitCode::FAILURE;
        }
    };
    if say("ready", None).is_err() {
        return ExitCode::FAILURE;
    }
    // Serve requests for sockets until the experiment closes its end.
    let mut ask = [0u8; 1];
    while let Ok(1) = nix::unistd::read(&ctl, &mut ask) {
        let sent = if ask[0] == b'P' {
            // A packet socket on host A's side of the link: we are in host
            // A, where this process holds CAP_NET_RAW.
            let made = crate::lab::kernel::sys::packet::packet_socket();
            let index = nix::net::if_::if_nametoindex("va");
            match (made, index) {
                (Ok(fd), Ok(i)) => say(&format!("packet\t{i}"), Some(&fd)),
                (Err(e), _) => say(&format!("socket(AF_PACKET): {e}"), None),
                (_, Err(e)) => say(&format!("if_nametoindex va: {e}"), None),
            }
        } else {
            let host = if ask[0] == b'B' { &hosts.b } else { &hosts.a };
            let made = in_namespace(host, &hosts.a, || {
                Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
            });
            match made {
                Ok(sock) => say("socket", Some(&OwnedFd::from(sock))),
                Err(e) => say(&format!("socket: {e}"), None),
            }
        };
        if sent.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
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
    /// Something else went wrong (a netlink request failed), in one line.
    Error(String),
}

/// Enters host A (and a user namespace unless root), makes host B, and
/// wires them ([`wire`]).
fn enter_hosts() -> Result<Namespaces, Failed> {
    use nix::unistd::{getegid, geteuid, getppid};
    fn skip(what: &'static str) -> impl Fn(NixErrno) -> Failed {
        move |e| Failed::Skip(what.into(), e)
    }
    let parent = getppid();
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
    // A change of credentials clears the death signal: set it again, and
    // leave if the parent already died in between.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::SIGKILL);
    if getppid() != parent {
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
    wire(&hosts).map_err(Failed::Error)?;
    Ok(hosts)
}

/// Wires the two hosts with netlink, as these `ip` commands would (run
/// in host A unless marked B; `PID_A` is host A's process):
///
/// ```text
///    ip link set lo up
/// B: ip link set lo up
/// B: ip link add vb index 12 type veth peer name va netns PID_A
///    ip addr add 10.200.0.1/24 dev va; ip link set va up
/// B: ip addr add 10.200.0.2/24 dev vb; ip link set vb up
/// ```
///
/// Runs in host A; the peer `va` is put there by host A's namespace
/// descriptor (`IFLA_NET_NS_FD`) rather than by a pid. Returns once both
/// ends are running and can carry packets.
fn wire(ns: &Namespaces) -> Result<(), String> {
    // A netlink socket speaks to the namespace it was made in.
    let mut a = Netlink::open(NETLINK_TIMEOUT)?;
    let mut b =
        in_namespace(&ns.b, &ns.a, || Ok(Netlink::open(NETLINK_TIMEOUT)))
            .map_err(|e| format!("setns to host B: {e}"))??;
    a.set_up("set lo up in host A", LO_INDEX)?;
    b.set_up("set lo up in host B", LO_INDEX)?;
    b.add_veth("add veth vb/va", ("vb", VB_INDEX), "va", ns.a.as_fd())?;
    let va = nix::net::if_::if_nametoindex("va").map_err(|e| {
        format!("if_nametoindex va in host A: {}", errno(&e.into()))
    })?;
    a.add_address("add 10.200.0.1/24 to va", va, (HOST_A, 24))?;
    a.set_up("set va up", va)?;
    b.add_address("add 10.200.0.2/24 to vb", VB_INDEX, (HOST_B, 24))?;
    b.set_up("set vb up", VB_INDEX)?;
    // Until the kernel's link watcher marks each end running, a veth may
    // drop what it is given (its queue is still the no-op one); wait for
    // IFF_RUNNING on both ends (at once, thanks to `VB_INDEX`).
    let running = |host: &OwnedFd, name: &str| {
        in_namespace(host, &ns.a, || is_running(name))
    };
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let up =
            running(&ns.a, "va").and_then(|a| Ok(a && running(&ns.b, "vb")?));
        match up {
            Ok(true) => break,
            Ok(false) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(false) => {
                return Err("the veth pair is not running after 5 s".into());
            }
            Err(e) => return Err(format!("getifaddrs: {}", errno(&e))),
        }
    }
    // Even then, what host A sends in its first milliseconds can be lost
    // (measured: the first A-to-B datagram in 30 of 400 builds, never one
    // from B to A; without this wait, 7 of 1120 runs lost the first
    // exchange and waited 1 s for a retry). Make the link prove it works
    // both ways before the experiment uses it.
    carries(ns, Host::B, Host::A)?;
    carries(ns, Host::A, Host::B)
}

/// Waits until the link carries a datagram from host `from` to host `to`:
/// a UDP broadcast (`255.255.255.255`, so no ARP is involved) sent every
/// 2 ms until it arrives, for at most 5 s.
fn carries(ns: &Namespaces, from: Host, to: Host) -> Result<(), String> {
    let fail = |what: &str, e: io::Error| format!("{what}: {}", errno(&e));
    let host = |h: Host| {
        if h == Host::A {
            (&ns.a, HOST_A)
        } else {
            (&ns.b, HOST_B)
        }
    };
    let ((from_ns, from_ip), (to_ns, _)) = (host(from), host(to));
    let rx = in_namespace(to_ns, &ns.a, || {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
    })
    .map_err(|e| fail("probe: bind", e))?;
    rx.set_read_timeout(Some(Duration::from_millis(2)))
        .map_err(|e| fail("probe: setsockopt SO_RCVTIMEO", e))?;
    let port = rx
        .local_addr()
        .map_err(|e| fail("probe: getsockname", e))?
        .port();
    let tx = in_namespace(from_ns, &ns.a, || UdpSocket::bind((from_ip, 0)))
        .map_err(|e| fail("probe: bind", e))?;
    tx.set_broadcast(true)
        .map_err(|e| fail("probe: setsockopt SO_BROADCAST", e))?;
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        tx.send_to(b"probe", (Ipv4Addr::BROADCAST, port))
            .map_err(|e| fail("probe: sendto", e))?;
        if rx.recv(&mut [0u8; 8]).is_ok() {
            return Ok(());
        }
    }
    Err(format!(
        "the veth pair carried nothing from {from:?} to {to:?} in 5 s"
    ))
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
