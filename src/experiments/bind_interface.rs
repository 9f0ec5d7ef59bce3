//! # 07 `bind-interface`: binding 127.0.0.1 vs ""
//!
//! **Question.** Which clients can connect to a server, depending on the
//! address its listening socket is bound to: 127.0.0.1, or "" (0.0.0.0,
//! every interface)? And from another machine?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, "Binding to Interfaces", p. 47-48:
//! a server bound to 127.0.0.1 cannot be reached from another machine, whose
//! connect() is refused (and the server is not even told); bound to "", it
//! accepts connections through any of the machine's interfaces.
//!
//! **Run.**
//! - `cargo run --bin bind-interface`: every cell of the table on loopback
//!   (127.0.0.1 and 127.0.0.2 are two addresses of this host), then the
//!   book's real case, a second machine, built from two network namespaces
//!   if the system permits them (`-- --loopback-only` leaves that part out;
//!   `-- --json` for a report).
//! - Two terminals (or two machines), as in the book (the bytes of
//!   `tcp_sixteen.py`): `cargo run --bin bind-interface -- server
//!   127.0.0.1` (or `server ""`), then `cargo run --bin bind-interface --
//!   client 127.0.0.2` (port 1060; `-p PORT`).
//!
//! **Chapter.** `chapters/07-bind-interface.md`; the namespaces are built
//! by `src/lab/netns.rs`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::experiments::sixteen;
use crate::lab::capture::{Flags, OnWire, Segment, connections_to, say_seen};
use crate::lab::error::Op;
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::netns::{HOST_A, HOST_B, Host, Skipped, TwoHosts};
use crate::lab::report::Errno;
use crate::lab::{args, names, pyfmt::py_addr, server};

mod report;
use Machine::ThisHost;
pub use report::{Cell, Machine};
use report::{narrate_skip, outcome, table};

const TCP: Protocol = Protocol::TCP;
/// Another address of this host: Linux answers for all of 127.0.0.0/8.
pub const OTHER_LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The book's port, used inside the namespaces: nothing else lives there.
pub const PORT: u16 = args::BOOK_PORT;

/// What the default run observed, cell by cell.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// Server bound to 127.0.0.1, then to 0.0.0.0 (port 0); each time a
    /// client connects to 127.0.0.1, then to 127.0.0.2.
    pub loopback: Vec<Cell>,
    /// The book's real case, on two hosts.
    pub two_hosts: TwoHostsPart,
}

/// The two-host part: whether it ran, and what it observed.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TwoHostsPart {
    /// Whether it ran.
    pub ran: bool,
    /// Why it did not run; `None` if it ran or was not asked for.
    pub skipped: Option<Skipped>,
    /// Host A's server bound to 127.0.0.1, 0.0.0.0, then 10.200.0.1 (port
    /// 1060); each time a client on A connects to 127.0.0.1, then a
    /// client on B to 10.200.0.1. Empty if the part did not run.
    pub cells: Vec<Cell>,
    /// Host A's helper process; `None` if the part did not run.
    pub helper_pid: Option<u32>,
    /// The segments between host B and port 1060 of host A, captured on
    /// host A's end of the link; `None` if the part did not run.
    pub wire: Option<OnWire<Vec<Segment>>>,
}

// ANCHOR: listen
/// The book's server setup on a new socket (made on this host, or inside
/// host A): `SO_REUSEADDR`, `bind()`, `listen(1)`.
fn listen_at(
    sock: io::Result<Socket>,
    at: SocketAddr,
) -> anyhow::Result<Socket> {
    let sock = sock.op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    sock.bind(&at.into()).op(format_args!("bind {at}"))?;
    sock.listen(1).op(format_args!("listen on {at}"))?;
    Ok(sock)
}
// ANCHOR_END: listen

// ANCHOR: client
/// The book's client up to its `connect()`, a blocking one with a deadline
/// (`SO_SNDTIMEO`: past it, `connect` fails with `EINPROGRESS`). Returns
/// the name the kernel gave the client's socket.
///
/// # Errors
/// The error of `connect(2)` (`ECONNREFUSED`) or `getsockname(2)`.
pub fn client(
    sock: &Socket,
    to: SocketAddr,
    t: Duration,
) -> io::Result<SocketAddr> {
    sock.set_write_timeout(Some(t))?; // setsockopt SO_SNDTIMEO
    sock.connect(&to.into())?;
    names::socket_name(sock).map_err(|e| e.source) // getsockname()
}
// ANCHOR_END: client

// ANCHOR: cell
/// One cell: a server listening at `bound`, a client (on `client_on`)
/// connecting to `to` at the server's port; if it connects, the server
/// accepts and names the connected socket's two ends.
fn cell(
    bound: SocketAddr,
    to: IpAddr,
    client_on: Machine,
    new_socket: &dyn Fn(Machine) -> io::Result<Socket>,
    t: Duration,
) -> anyhow::Result<Cell> {
    let listener = listen_at(new_socket(Machine::A), bound)?;
    let bound = names::socket_name(&listener)?; // the port, if it was 0
    let connect_to = SocketAddr::new(to, bound.port());
    let sock = new_socket(client_on).op("socket")?;
    let mut cell = Cell {
        bound,
        client_on,
        connect_to,
        connected: false,
        connect_us: 0,
        errno: None,
        server_name: None,
        server_peer: None,
    };
    let started = std::time::Instant::now();
    let result = client(&sock, connect_to, t);
    cell.connect_us = started.elapsed().as_micros() as u64;
    match result {
        // Refused: the kernel answered for the address, and the server's
        // listening socket was never told.
        Err(e) => cell.errno = Errno::of(&e),
        Ok(_) => {
            let (sc, peer) = server::accept_within(&listener, t)?;
            cell.connected = true;
            cell.server_name = Some(names::socket_name(&sc)?);
            cell.server_peer = Some(peer);
        }
    }
    Ok(cell) // close() the three sockets
}
// ANCHOR_END: cell

// ANCHOR: experiment
/// The default run: the loopback table, then the same on two hosts.
fn experiment(
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let here = |_| Socket::new(Domain::IPV4, Type::STREAM, Some(TCP));
    let mut loopback = Vec::new();
    for bind in [Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED] {
        for to in [Ipv4Addr::LOCALHOST, OTHER_LOOPBACK] {
            let bound = SocketAddr::from((bind, 0)); // any free port
            let c = cell(bound, to.into(), ThisHost, &here, ctx.timeout)?;
            loopback.push(c);
        }
    }
    let mut o = Observed {
        loopback,
        two_hosts: TwoHostsPart::default(),
    };
    table(&ctx.say, "1. One host, two of its addresses", &o.loopback);
    if k.loopback_only {
        ctx.say.say("2. Two hosts: not run (--loopback-only)");
    } else {
        two_hosts(&mut o.two_hosts, ctx)?;
    }
    Ok(verdict(o, &ctx.say))
}

/// The book's real case: host A runs the server, host B the client.
fn two_hosts(o: &mut TwoHostsPart, ctx: &Ctx) -> anyhow::Result<()> {
    let hosts = match TwoHosts::build(ctx.timeout)? {
        Ok(hosts) => hosts,
        Err(skipped) => {
            narrate_skip(&ctx.say, &skipped);
            o.skipped = Some(skipped);
            return Ok(());
        }
    };
    // socket() inside host A or host B: the socket belongs to that host.
    let on = |host| match host {
        Machine::B => hosts.socket(Host::B),
        _ => hosts.socket(Host::A),
    };
    let (local, a, t) =
        (Ipv4Addr::LOCALHOST.into(), HOST_A.into(), ctx.timeout);
    // The wire between the hosts, captured on host A's end of the link.
    let link = hosts.packet_socket().map_err(|e| e.to_string());
    let link = link.and_then(|(fd, i)| ctx.wire.add_link(fd, i));
    for bind in [Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED, HOST_A] {
        let bound = SocketAddr::from((bind, PORT));
        o.cells.push(cell(bound, local, Machine::A, &on, t)?); // from A
        o.cells.push(cell(bound, a, Machine::B, &on, t)?); // from B
    }
    let from_b = |s: &Segment| s.has_port(PORT) && s.has_ip(HOST_B.into());
    o.wire = Some(match link {
        Ok(id) => {
            let seen = ctx.wire.segments(from_b);
            ctx.wire.remove_link(id);
            seen
        }
        Err(why) => OnWire::NotCaptured(why),
    });
    o.ran = true;
    o.helper_pid = Some(hosts.helper_pid());
    let title = "2. Two hosts, A 10.200.0.1 and B 10.200.0.2";
    table(&ctx.say, title, &o.cells);
    Ok(())
} // drop(hosts): the helper exits, the namespaces and the veth go with it
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// A server bound to 127.0.0.1 was refused to clients that came by
    /// another address or from another host; one bound to "" accepted them all.
    BoundOnly,
    /// A loopback cell went other than the book predicts, or the
    /// connection to 127.0.0.2 did not reach the server as 127.0.0.2.
    LoopbackDiffers,
    /// A two-host cell went other than the book predicts, or host A did
    /// not see host B's address as the peer.
    TwoHostsDiffer,
    /// On the wire, host B's SYN to a server bound to 127.0.0.1 was not
    /// answered by RST|ACK (or was answered by SYN|ACK).
    NoResetOnWire,
}

// ANCHOR: verdict
/// Each cell as the book predicts it, in the tables' order.
const LOOPBACK: [&str; 4] =
    ["connected", "ECONNREFUSED", "connected", "connected"];
const TWO_HOSTS: [&str; 6] = [
    "connected",    // A bound to 127.0.0.1; A connects to 127.0.0.1
    "ECONNREFUSED", //                       B connects to 10.200.0.1
    "connected",    // A bound to "":        A to 127.0.0.1
    "connected",    //                       B to 10.200.0.1
    "ECONNREFUSED", // A bound to 10.200.0.1: A to 127.0.0.1
    "connected",    //                        B to 10.200.0.1
];

/// The verdict: every loopback cell as predicted (the connection to
/// 127.0.0.2 reaching the server as 127.0.0.2), and, if they ran, every
/// two-host cell (A sees B's address as the peer).
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    let ip = |a: Option<SocketAddr>| a.map(|a| a.ip());
    let loopback = o.loopback.iter().map(outcome).eq(LOOPBACK)
        && ip(o.loopback[3].server_name) == Some(OTHER_LOOPBACK.into());
    let two_hosts = o.two_hosts.cells.iter().map(outcome).eq(TWO_HOSTS)
        && ip(o.two_hosts.cells[3].server_peer) == Some(HOST_B.into());
    // On the wire: host B's first connection (to the server bound to
    // 127.0.0.1) is a SYN answered by RST|ACK, and nothing else.
    let server = SocketAddr::from((HOST_A, PORT));
    let refused = |s: &Vec<Segment>| match &connections_to(s, server)[..] {
        [first, ..] => {
            let flags: Vec<(bool, Flags)> =
                first.iter().map(|s| (s.dst == server, s.flags)).collect();
            flags == [(true, Flags::SYN), (false, Flags::RST_ACK)]
        }
        [] => false,
    };
    let wire = o.two_hosts.wire.as_ref().and_then(|w| w.check(refused));
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    let ran = [mark(two_hosts), "not run"][usize::from(!o.two_hosts.ran)];
    say.say(format!(
        "checks: loopback {}, two hosts {ran}",
        mark(loopback)
    ));
    let on_wire =
        [("B's SYN answered by RST|ACK", wire, Outcome::NoResetOnWire)];
    let on_wire = if o.two_hosts.ran { &on_wire[..] } else { &[] };
    let failed = say.checks_on_wire(&[], on_wire);
    let seen = o.two_hosts.wire.as_ref().and_then(|w| w.seen());
    if let (Some(_), Some(seen)) = (failed, seen) {
        say_seen(say, "between host B and host A's port 1060", seen);
    }
    let observed = if !loopback {
        Outcome::LoopbackDiffers
    } else if o.two_hosts.ran && !two_hosts {
        Outcome::TwoHostsDiffer
    } else {
        failed.unwrap_or(Outcome::BoundOnly)
    };
    Verdict::new(observed, o)
}
// ANCHOR_END: verdict

/// The default run's knob.
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// Run only the loopback part (no network namespaces).
    #[arg(long)]
    pub loopback_only: bool,
}

/// The manual roles, as in the book.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Listen at INTERFACE ("" = all), name each connection and exchange
    /// sixteen octets, like `tcp_sixteen.py server INTERFACE` (its bytes).
    Server(args::ServerArgs),
    /// Connect to HOST and exchange sixteen octets, like `tcp_sixteen.py
    /// client HOST` (its bytes).
    Client(args::ClientArgs),
}

/// Experiment 07, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct BindInterface;

impl crate::lab::experiment::Experiment for BindInterface {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(k, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, _: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        // The conversation is tcp_sixteen.py's, with 01 sixteen's server
        // and client; only the address the server binds is this chapter's.
        match role {
            Role::Server(a) => {
                let new = Socket::new(Domain::IPV4, Type::STREAM, Some(TCP));
                let listener = listen_at(new, a.bind_addr()?)?;
                let at = names::socket_name(&listener)?;
                ctx.say.say(format!("Listening at {}", py_addr(&at)));
                server::serve(&listener, &a, ctx, None, |sc, peer| {
                    sixteen::server(sc, peer, &ctx.say).map(drop)
                })
            }
            Role::Client(a) => {
                sixteen::client(a.server_addr()?, &ctx.say, ctx.timeout)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
