//! # 05 `bind-port`: what bind() claims
//!
//! **Question.** What does `bind()` claim: a port, or an address and a
//! port? Which port does port 0 get, and who may bind below 1024?
//!
//! **The book.** Lutz, *Programming Python* 4th ed., ch. 12, "Server socket
//! calls", p. 790: a server calls `socket()`, `bind((host, port))` and
//! `listen(5)`; each conversation it supports needs its own port, a port
//! already in use makes `bind` raise an exception, and ports 0 to 1023 are
//! reserved for standard protocols.
//!
//! **Run.**
//! - `cargo run --bin bind-port`: three cases on loopback, on ports the
//!   kernel picks, then a verdict (`-- --json` for a report).
//! - Two terminals: `cargo run --bin bind-port -- server ""` (port 1060;
//!   `-p PORT`), then in the other the same command again, or
//!   `server 127.0.0.2`, to see which claims clash.
//!
//! **Chapter.** `chapters/05-bind-port.md`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, NoKnobs, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::privilege::{self, NOBODY};
use crate::lab::pyfmt::py_addr;
use crate::lab::report::Errno;
use crate::lab::{args, kernel, names, server};

/// Where every case binds first: the loopback address.
const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Another address of this machine: Linux answers for all of 127.0.0.0/8.
const OTHER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// What the default run observed. An errno of `None` means the call worked.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::schema::every_field_present)]
pub struct Observed {
    /// Case 1: the port the kernel gave the listener on 127.0.0.1.
    pub port: u16,
    /// A second socket binding 127.0.0.1 and that port.
    pub same_address_errno: Option<Errno>,
    /// A socket binding 0.0.0.0 (all interfaces) and that port.
    pub all_interfaces_errno: Option<Errno>,
    /// A socket binding 127.0.0.2 and that port, then listening.
    pub other_address_errno: Option<Errno>,
    /// Case 2: the port a bind to port 0 got.
    pub port_zero_got: u16,
    /// `ip_local_port_range`, inclusive; `None` where it cannot be read.
    pub local_port_range: Option<[u16; 2]>,
    /// Case 3: a port below `ip_unprivileged_port_start`.
    pub privileged: Privileged,
}

/// Case 3: one port below `ip_unprivileged_port_start`, bound by an
/// ordinary user (and by root, if this process is root).
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::schema::every_field_present)]
pub struct Privileged {
    /// `ip_unprivileged_port_start`; `None` where it cannot be read.
    pub unprivileged_port_start: Option<u16>,
    /// The port tried, one below that start; `None` if skipped.
    pub port: Option<u16>,
    /// The ordinary user's uid: this process's, or 65534 (`nobody`) in a
    /// child process when this process is root; `None` if skipped.
    pub uid: Option<u32>,
    /// What the ordinary user's `bind()` got.
    pub errno: Option<Errno>,
    /// Whether this process is root and so bound the port itself too.
    pub root_tried: bool,
    /// What root's own `bind()` got (if `root_tried`).
    pub root_errno: Option<Errno>,
    /// Why the case could not run; `None` if it ran.
    pub skipped: Option<String>,
}

// ANCHOR: listen
/// The book's server setup: `socket()`, `bind()`, `listen(5)`, and no
/// socket option: what the kernel refuses here, it refuses the book's code.
fn listen_at(addr: SocketAddr) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(5).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}

/// Tries [`listen_at`] on `addr`, says what the kernel answered, and
/// closes the socket again.
fn claim(addr: SocketAddr, say: &Narrator) -> Option<Errno> {
    let errno = listen_at(addr).err().and_then(|e| Errno::of(&e.source));
    let answer = Errno::answer(&errno);
    say.say(format!("   bind {}: {answer}", py_addr(&addr)));
    errno
}

/// A listener on `HOST` at a port the kernel picks, and that port, chosen
/// so that nobody else (another program, a `TIME_WAIT` row left by another
/// run) holds it on `other`: otherwise case 1's third claim would measure
/// that stranger, not the book's rule. The test is a `bind()` on `other`
/// that never listens, so its `close()` leaves no row behind.
fn listener_on_a_port_free_at(
    other: Ipv4Addr,
) -> anyhow::Result<(Socket, u16)> {
    for _ in 0..20 {
        let listener = listen_at((HOST, 0).into())?;
        let port = names::socket_name(&listener)?.port();
        let probe =
            Socket::new(Domain::IPV4, Type::STREAM, None).op("socket")?;
        if probe.bind(&SocketAddr::from((other, port)).into()).is_ok() {
            return Ok((listener, port));
        }
    }
    anyhow::bail!("no port free on both {HOST} and {other} in 20 tries")
}
// ANCHOR_END: listen

// ANCHOR: privileged
/// `socket()` and `bind()` only, then `close()`. `SO_REUSEADDR` just lets
/// two runs of this experiment at once bind the same port, since neither
/// listens (experiment 06); it plays no part in the privilege check.
fn bind_only(addr: SocketAddr) -> io::Result<()> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())
}

/// Case 3: the port just below `ip_unprivileged_port_start`, bound as an
/// ordinary user. Run as root, the ordinary user is a child process that
/// dropped to uid 65534, and root binds the port itself as well.
fn privileged(ctx: &Ctx) -> Privileged {
    let mut p = Privileged::default();
    let start = match kernel::unprivileged_port_start() {
        Ok(start) if start > 1 => start,
        Ok(_) => return p.skip("ip_unprivileged_port_start: none privileged"),
        Err(e) => return p.skip(format!("ip_unprivileged_port_start: {e}")),
    };
    p.unprivileged_port_start = Some(start);
    let addr = SocketAddr::from((HOST, start - 1));
    let ordinary = if privilege::is_root() {
        p.root_tried = true;
        p.root_errno = bind_only(addr).err().as_ref().and_then(Errno::of);
        p.uid = Some(NOBODY);
        let as_nobody = || bind_only(addr); // in the child, as uid 65534
        // fork() wants one thread: the capture's reader waits meanwhile.
        let t = ctx.timeout;
        match ctx
            .wire
            .paused(|| privilege::run_as(NOBODY, NOBODY, t, as_nobody))
        {
            Ok(result) => result,
            Err(e) => return p.skip(e.to_string()),
        }
    } else {
        p.uid = Some(nix::unistd::geteuid().as_raw());
        bind_only(addr)
    };
    p.port = Some(addr.port());
    p.errno = ordinary.err().as_ref().and_then(Errno::of);
    p
}
// ANCHOR_END: privileged

impl Privileged {
    fn skip(mut self, why: impl Into<String>) -> Self {
        (self.port, self.uid) = (None, None);
        self.skipped = Some(why.into());
        self
    }
}

// ANCHOR: experiment
/// The default run: the three cases, each on ports the kernel picks.
fn experiment(ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let say = &ctx.say;
    say.say("1. A listener holds a port; three more sockets try to bind it");
    let (listener, port) = listener_on_a_port_free_at(OTHER_HOST)?;
    say.say(format!("   listening at {}", py_addr(&(HOST, port).into())));
    let same_address_errno = claim((HOST, port).into(), say);
    let all_interfaces_errno = claim((Ipv4Addr::UNSPECIFIED, port).into(), say);
    let other_address_errno = claim((OTHER_HOST, port).into(), say);
    drop(listener); // close()

    say.say("2. Port 0: the kernel picks a free port");
    let any = listen_at((HOST, 0).into())?;
    let port_zero_got = names::socket_name(&any)?.port();
    drop(any); // close()
    let range = kernel::local_port_range().ok().map(|(lo, hi)| [lo, hi]);
    let shown = range.map_or("unknown".into(), |[lo, hi]| format!("{lo}-{hi}"));
    say.say(format!(
        "   got port {port_zero_got}; ip_local_port_range {shown}"
    ));

    let p = privileged(ctx);
    match (&p.skipped, p.unprivileged_port_start, p.uid, p.port) {
        (None, Some(start), Some(uid), Some(port)) => {
            say.say(format!("3. Below ip_unprivileged_port_start ({start})"));
            let answer = Errno::answer(&p.errno);
            let at = py_addr(&(HOST, port).into());
            say.say(format!("   as uid {uid}, bind {at}: {answer}"));
        }
        (why, ..) => {
            let why = why.as_deref().unwrap_or("no port to try");
            say.say(format!("3. Privileged ports: skipped ({why})"));
        }
    }
    let observed = Observed {
        port,
        same_address_errno,
        all_interfaces_errno,
        other_address_errno,
        port_zero_got,
        local_port_range: range,
        privileged: p,
    };
    Ok(verdict(observed, say))
}
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// A port in use could not be bound again on the same address (or
    /// on all interfaces), another address could bind it, port 0 got a free
    /// port in the range, and an ordinary user could not bind below 1024.
    PortClaimed,
    /// A second bind of the port in use, on its address or on all
    /// interfaces, did not fail with EADDRINUSE.
    PortShared,
    /// Binding the port in use on another address (127.0.0.2) failed.
    OtherAddressRefused,
    /// Port 0 got port 0 back, or a port outside the local port range.
    #[serde(rename = "port_0_out_of_range")]
    #[strum(serialize = "port_0_out_of_range")]
    Port0OutOfRange,
    /// An ordinary user's bind below the privileged limit did not fail with EACCES.
    PrivilegedAllowed,
}

// ANCHOR: verdict
/// The verdict, from the errnos the kernel returned: the same address and
/// port refused, another address free, port 0 in the range, and `EACCES`
/// for an ordinary user below the privileged limit (unless skipped).
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let is = |e: &Option<Errno>, name: &str| {
        e.as_ref().is_some_and(|e| e.name == name)
    };
    let in_range = o
        .local_port_range
        .is_none_or(|[lo, hi]| (lo..=hi).contains(&o.port_zero_got));
    let p = &o.privileged;
    let in_use = is(&o.same_address_errno, "EADDRINUSE");
    let all = is(&o.all_interfaces_errno, "EADDRINUSE");
    let other = o.other_address_errno.is_none();
    let port_0 = o.port_zero_got != 0 && in_range;
    let mut checks = vec![
        ("in use", in_use, PortShared),
        ("all interfaces", all, PortShared),
        ("127.0.0.2", other, OtherAddressRefused),
        ("port 0", port_0, Port0OutOfRange),
    ];
    // A skipped case is not a check that passed: it is left out.
    if p.skipped.is_none() {
        checks.push(("privileged", is(&p.errno, "EACCES"), PrivilegedAllowed));
    }
    let observed = say.checks(&checks).unwrap_or(PortClaimed);
    Verdict::new(observed, o)
}
// ANCHOR_END: verdict

/// The manual role.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Bind and listen like the book's server, then accept clients and
    /// close each connection at once: run two to see which claims clash.
    /// Its own protocol: no bytes either way, so it is no peer for
    /// `tcp_sixteen.py client`.
    Server(args::ServerArgs),
}

/// Experiment 05, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct BindPort;

impl crate::lab::experiment::Experiment for BindPort {
    type Knobs = NoKnobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(
        _: &NoKnobs,
        ctx: &Ctx,
    ) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, _: &NoKnobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let Role::Server(a) = role;
        let listener = listen_at(a.bind_addr()?)?;
        let at = names::socket_name(&listener)?;
        ctx.say.say(format!("Listening at {}", py_addr(&at)));
        server::serve(&listener, &a, ctx, None, |_, peer| {
            ctx.say
                .say(format!("Connected by {}; closing", py_addr(&peer)));
            Ok(())
        })
    }
    // ANCHOR_END: roles
}
