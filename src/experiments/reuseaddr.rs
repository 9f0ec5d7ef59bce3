//! # 06 `reuseaddr`: "Address already in use"
//!
//! **Question.** Why does a server restarted right after a conversation get
//! `EADDRINUSE`, what does `SO_REUSEADDR` change, and what does it not?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, "Address Already in Use", p. 46
//! onward: Listing 3-1 sets `SO_REUSEADDR` before `bind()`; without it,
//! stopping and restarting an idle server shows no effect at all. (The
//! passage goes on over p. 47, which is not among our excerpts.)
//!
//! **Run.**
//! - `cargo run --bin reuseaddr`: four cases on loopback, each on a port
//!   of its own, then a verdict (`-- --json` for a report).
//! - `cargo run --bin reuseaddr -- --wait-out`: then waits until the
//!   `TIME_WAIT` entry expires (about a minute) and restarts once more.
//! - Two terminals, as in the book: `cargo run --bin reuseaddr -- server ""
//!   --no-reuseaddr`, then `cargo run --bin reuseaddr -- client 127.0.0.1`;
//!   then stop the server with Ctrl-C and start it again.
//!
//! **Chapter.** `chapters/06-reuseaddr.md`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::experiments::sixteen::{FAREWELL, HELLO, recv_all};
use crate::lab::capture::{Flags, OnWire, Segment, say_seen};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::kernel::{self, TcpRow};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::{py_addr, py_bytes};
use crate::lab::report::Errno;
use crate::lab::{args, deadline, names, peers, server};

/// Every case listens on loopback, on a port the kernel picks.
const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// `--wait-out` gives up after this: `TIME_WAIT` lasts 60 s on Linux.
const WAIT_OUT_LIMIT: Duration = Duration::from_secs(120);
/// Most restarts are the book's listing with its option line commented out.
const PLAIN: &str = "restart without SO_REUSEADDR";
/// What `bind()` and `listen()` got: an errno, or `None` if they worked.
type Answer = Option<Errno>;

/// What the default run observed. An errno of `None` means `bind()` and
/// `listen()` worked; a row of `None` means the kernel had no such row.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::schema::every_field_present)]
pub struct Observed {
    /// 1: restarting an idle listener, no `SO_REUSEADDR`.
    pub idle_restart_errno: Option<Errno>,
    /// 2: the listening address of a conversation the server closed first.
    pub server_first_at: Option<SocketAddr>,
    /// 2: the server's end of that conversation, in `TIME_WAIT`.
    pub server_time_wait: Option<TcpRow>,
    /// 2: restarting on that port without `SO_REUSEADDR`.
    pub restart_errno: Option<Errno>,
    /// 2: with `SO_REUSEADDR` on the new socket only.
    pub restart_new_only_errno: Option<Errno>,
    /// 2: with `SO_REUSEADDR` on the old listener and the new socket.
    pub restart_both_errno: Option<Errno>,
    /// 3: the listening address of a conversation the client closed first.
    pub client_first_at: Option<SocketAddr>,
    /// 3: the client's end of that conversation, in `TIME_WAIT`.
    pub client_time_wait: Option<TcpRow>,
    /// 3: the server's end of that conversation, if in `TIME_WAIT`.
    pub server_end_time_wait: Option<TcpRow>,
    /// 3: restarting the server without `SO_REUSEADDR`.
    pub client_first_restart_errno: Option<Errno>,
    /// 4: a listener still open; a second socket, neither sets the option.
    pub open_none_errno: Option<Errno>,
    /// 4: only the second socket sets `SO_REUSEADDR`.
    pub open_new_only_errno: Option<Errno>,
    /// 4: both set `SO_REUSEADDR`.
    pub open_both_errno: Option<Errno>,
    /// 4: both set `SO_REUSEPORT` instead.
    pub open_reuseport_errno: Option<Errno>,
    /// `--wait-out`: how long case 2's row lasted after it was first
    /// seen, in ms; `None` without `--wait-out` or if it outlived 120 s.
    pub time_wait_lasted_ms: Option<u64>,
    /// `--wait-out`: restarting without `SO_REUSEADDR` once it is gone.
    pub after_wait_errno: Option<Errno>,
    /// The FIN segments of cases 2 and 3, in the order they were sent.
    pub fins: OnWire<Vec<Segment>>,
}

// ANCHOR: listen
/// The option a listening socket sets before `bind()`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    No,
    Addr,
    Port,
}

/// The book's server setup: `socket()`, the option, `bind()`, `listen(1)`.
fn listen_at(addr: SocketAddr, reuse: Reuse) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    match reuse {
        Reuse::No => {}
        Reuse::Addr => sock.set_reuse_address(true).op("SO_REUSEADDR")?,
        Reuse::Port => sock.set_reuse_port(true).op("SO_REUSEPORT")?,
    }
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}

/// A restart: [`listen_at`] again at `at`, saying `what` and the kernel's
/// answer; the new listener is closed again at once.
fn restart(at: SocketAddr, new: Reuse, what: &str, say: &Narrator) -> Answer {
    let errno = listen_at(at, new).err().and_then(|e| Errno::of(&e.source));
    say.say(format!("   {what}: {}", Errno::answer(&errno)));
    errno
}
// ANCHOR_END: listen

// ANCHOR: server
/// Which end of a conversation closes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closes {
    /// The server: its end is left in `TIME_WAIT` on its port.
    Server,
    /// The client: the `TIME_WAIT` is the client's.
    Client,
}

/// The book's server for one client: read sixteen octets, reply. Then the
/// server either closes first, or waits for the client's end of stream.
fn server(mut sc: &TcpStream, closes: Closes, say: &Narrator) -> Result<()> {
    let peer = names::peer_name(sc)?; // getpeername()
    recv_all(&mut sc, 16).op(format_args!("recv from {peer}"))?;
    sc.write_all(FAREWELL).op(format_args!("send to {peer}"))?;
    if closes == Closes::Server {
        // Our FIN goes right after the reply, as the book's close() sends
        // it, before a client that does not wait can send its own.
        sc.shutdown(Shutdown::Write).op("shutdown")?;
    }
    say.say(format!("replied to {}", py_addr(&peer)));
    if closes == Closes::Client {
        end_of_stream(sc, say)?;
    }
    Ok(()) // the caller's drop() is close()
}

/// The book's client: `connect()`, send sixteen octets, read sixteen. Then
/// it either closes first, or waits for the server's end of stream.
/// Returns its socket's name (`getsockname()`).
///
/// # Errors
/// A call failed or passed the deadline `t` (`EAGAIN`), or the server
/// sent more than sixteen octets.
pub fn client(
    to: SocketAddr,
    closes: Closes,
    say: &Narrator,
    t: Duration,
) -> Result<SocketAddr> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).op("socket")?;
    deadline::set_timeouts(&sock, t)?;
    sock.connect_timeout(&to.into(), t)
        .op(format_args!("connect to {to}"))?;
    let name = names::socket_name(&sock)?;
    let mut sock = TcpStream::from(sock);
    sock.write_all(HELLO).op(format_args!("send to {to}"))?;
    let reply = recv_all(&mut sock, 16).op(format_args!("recv from {to}"))?;
    say.say(format!("got {}", py_bytes(&reply)));
    if closes == Closes::Server {
        end_of_stream(&sock, say)?;
    }
    drop(sock); // close()
    Ok(name)
}

/// Waits (`SO_RCVTIMEO`) for `recv()` to return 0: the peer has closed.
fn end_of_stream(mut sock: &TcpStream, say: &Narrator) -> Result<()> {
    let n = sock
        .read(&mut [0; 1])
        .op("recv, waiting for end of stream")?;
    anyhow::ensure!(n == 0, "the peer sent more than the book's 16 octets");
    say.say("end of stream: the peer has closed");
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: conversation
/// A listener with option `old` on a fresh port; one conversation, which
/// `closes` ends first; the listener's `close()`. Returns the listening
/// address and, once the closing is over, the kernel's `TIME_WAIT` rows.
fn conversation(old: Reuse, closes: Closes, ctx: &Ctx) -> Result<Closed> {
    let listener = listen_at((HOST, 0).into(), old)?;
    let at = names::socket_name(&listener)?;
    let ((), client_end) = peers::pair(
        &ctx.say,
        |say| {
            let (sc, _) = server::accept_within(&listener, ctx.timeout)?;
            deadline::set_timeouts(&sc, ctx.timeout)?;
            server(&TcpStream::from(sc), closes, say) // then close()
        },
        |say| client(at, closes, say, ctx.timeout),
    )?;
    drop(listener); // close(): the book's Ctrl-C
    let (first, other) = match closes {
        Closes::Server => (at, client_end),
        Closes::Client => (client_end, at),
    };
    let rows = kernel::time_wait_after_close(first, other, ctx.timeout)?;
    for row in rows.iter().flatten() {
        ctx.say.say(format!("   /proc/net/tcp: {row}"));
    }
    Ok((at, rows))
}

/// A conversation's listening address, and the `TIME_WAIT` rows of the end
/// that closed first and of the other end (`None`: no such row).
type Closed = (SocketAddr, [Option<TcpRow>; 2]);
// ANCHOR_END: conversation

// ANCHOR: experiment
/// The default run: the four cases, each on its own port, in order.
fn experiment(knobs: &Knobs, ctx: &Ctx) -> Result<Verdict<Observed, Outcome>> {
    let (say, mut o) = (&ctx.say, Observed::default());
    say.say("1. An idle listener, closed and restarted on its port");
    let idle = listen_at((HOST, 0).into(), Reuse::No)?;
    let at = names::socket_name(&idle)?;
    drop(idle); // close()
    o.idle_restart_errno = restart(at, Reuse::No, PLAIN, say);

    say.say("2. A conversation the server closes first, then a restart");
    let (at, [server_end, _]) = conversation(Reuse::No, Closes::Server, ctx)?;
    let seen = Instant::now();
    o.restart_errno = restart(at, Reuse::No, PLAIN, say);
    let what = "restart, SO_REUSEADDR on the new socket only";
    o.restart_new_only_errno = restart(at, Reuse::Addr, what, say);
    say.say("   again, with SO_REUSEADDR on the old listener too:");
    let (again, _) = conversation(Reuse::Addr, Closes::Server, ctx)?;
    let what = "restart, SO_REUSEADDR on old and new";
    o.restart_both_errno = restart(again, Reuse::Addr, what, say);

    say.say("3. A conversation the client closes first, then a restart");
    let (three, [client_end, server_end_3]) =
        conversation(Reuse::No, Closes::Client, ctx)?;
    if server_end_3.is_none() {
        say.say("   and no TIME_WAIT row on the server's port");
    }
    (o.client_first_at, o.client_time_wait) = (Some(three), client_end);
    o.server_end_time_wait = server_end_3;
    o.client_first_restart_errno = restart(three, Reuse::No, PLAIN, say);

    say.say("4. A listener still open; a second socket binds its address");
    o.open_none_errno = while_open(Reuse::No, Reuse::No, say)?;
    o.open_new_only_errno = while_open(Reuse::No, Reuse::Addr, say)?;
    o.open_both_errno = while_open(Reuse::Addr, Reuse::Addr, say)?;
    o.open_reuseport_errno = while_open(Reuse::Port, Reuse::Port, say)?;

    if let (true, Some(row)) = (knobs.wait_out, &server_end) {
        say.say("5. Waiting for case 2's TIME_WAIT row to leave the table");
        if kernel::wait_until_gone(row, WAIT_OUT_LIMIT)? {
            let lasted = seen.elapsed().as_millis() as u64;
            say.say(format!("   gone {lasted} ms after it was first seen"));
            o.time_wait_lasted_ms = Some(lasted);
            o.after_wait_errno = restart(at, Reuse::No, PLAIN, say);
        }
    }
    (o.server_first_at, o.server_time_wait) = (Some(at), server_end);
    // On the wire: who sent the first FIN in cases 2 and 3.
    let case = |s: &Segment| s.has_port(at.port()) || s.has_port(three.port());
    o.fins = ctx.wire.segments(|s| case(s) && s.flags.has(Flags::FIN));
    Ok(verdict(o, knobs.wait_out, say))
}

/// Case 4: a listener with option `old` stays open on a fresh port while
/// a second socket with option `new` tries to listen at its address.
fn while_open(old: Reuse, new: Reuse, say: &Narrator) -> Result<Answer> {
    let held = listen_at((HOST, 0).into(), old)?;
    let what = match (old, new) {
        (Reuse::No, Reuse::No) => "neither sets SO_REUSEADDR",
        (Reuse::No, _) => "only the new one sets SO_REUSEADDR",
        (Reuse::Addr, _) => "both set SO_REUSEADDR",
        (Reuse::Port, _) => "both set SO_REUSEPORT",
    };
    let errno = restart(names::socket_name(&held)?, new, what, say);
    drop(held); // close()
    Ok(errno)
}
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// An idle server restarted at once; after a conversation its restart
    /// failed with EADDRINUSE while its end sat in TIME_WAIT, unless
    /// SO_REUSEADDR was set (on both sockets).
    AddressInUse,
    /// A server that had no conversation could not restart at once.
    IdleRestartRefused,
    /// After the server closed first, no TIME_WAIT row was left for it.
    NoTimeWait,
    /// A plain restart during TIME_WAIT did not fail with EADDRINUSE.
    RestartAllowed,
    /// A restart with SO_REUSEADDR on the new socket only, the old one
    /// without it, did not fail with EADDRINUSE.
    NewOnlyAllowed,
    /// A restart with SO_REUSEADDR on both sockets failed.
    ReuseRefused,
    /// When the client closed first, the TIME_WAIT row was not the
    /// client's, or the server's restart failed.
    ClientCloseBlocks,
    /// A second bind beside a listener still open did not fail with
    /// EADDRINUSE (or SO_REUSEPORT on both failed).
    OpenListenerShared,
    /// After TIME_WAIT ended, a plain restart still failed (`--wait-out`).
    StillInUse,
    /// On the wire, the first FIN of case 2 was not the server's, or that
    /// of case 3 not the client's.
    FirstFinDiffers,
}

// ANCHOR: verdict
/// The verdict, from the errnos and rows the kernel gave.
pub fn verdict(
    o: Observed,
    waited: bool,
    say: &Narrator,
) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let busy = |e: &Answer| e.as_ref().is_some_and(|e| e.name == "EADDRINUSE");
    let ok = |e: &Answer| e.is_none();
    let client = o.client_time_wait.is_some()
        && o.server_end_time_wait.is_none()
        && ok(&o.client_first_restart_errno);
    let open = [
        &o.open_none_errno,
        &o.open_new_only_errno,
        &o.open_both_errno,
    ];
    let open = open.into_iter().all(busy) && ok(&o.open_reuseport_errno);
    let mut checks = vec![
        ("idle", ok(&o.idle_restart_errno), IdleRestartRefused),
        ("row", o.server_time_wait.is_some(), NoTimeWait),
        ("plain", busy(&o.restart_errno), RestartAllowed),
        ("new only", busy(&o.restart_new_only_errno), NewOnlyAllowed),
        ("both", ok(&o.restart_both_errno), ReuseRefused),
        ("client", client, ClientCloseBlocks),
        ("open", open, OpenListenerShared),
    ];
    // Only a run that waited TIME_WAIT out can check the port is free.
    if waited {
        let free = o.time_wait_lasted_ms.is_some() && ok(&o.after_wait_errno);
        checks.push(("waited", free, StillInUse));
    }
    // On the wire: the end that sent the first FIN, the one that holds
    // TIME_WAIT: case 2's server (its listening port), case 3's client.
    let first_fin = |s: &[Segment], port: Option<u16>| {
        let port = port.unwrap_or(0);
        s.iter()
            .find(|s| s.has_port(port))
            .map(|s| s.src.port() == port)
    };
    let (two, three) = (o.server_first_at, o.client_first_at);
    let server = o
        .fins
        .check(|s| first_fin(s, two.map(|a| a.port())) == Some(true));
    let client = o
        .fins
        .check(|s| first_fin(s, three.map(|a| a.port())) == Some(false));
    let wire = [
        ("case 2: the server's FIN first", server, FirstFinDiffers),
        ("case 3: the client's", client, FirstFinDiffers),
    ];
    let observed = say.checks_on_wire(&checks, &wire);
    if let (Some(_), Some(seen)) = (observed, o.fins.seen()) {
        say_seen(say, "the FINs of cases 2 and 3", seen);
    }
    Verdict::new(observed.unwrap_or(AddressInUse), o)
}
// ANCHOR_END: verdict

/// The default run's knob.
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// Then wait until case 2's TIME_WAIT row expires (about 60 s on
    /// Linux), and restart once more without SO_REUSEADDR.
    #[arg(long)]
    pub wait_out: bool,
}

/// The manual roles, as in the book.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Listen and answer clients like `tcp_sixteen.py server`, closing
    /// first: stop it with Ctrl-C and start it again.
    Server {
        /// The interface, port and deadlines, as for every server.
        #[command(flatten)]
        a: args::ServerArgs,
        /// Do not set SO_REUSEADDR (the book's "comment out that line").
        #[arg(long)]
        no_reuseaddr: bool,
    },
    /// Exchange sixteen octets, wait for the server to close, close.
    Client(args::ClientArgs),
}

/// Experiment 06, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct Reuseaddr;

impl crate::lab::experiment::Experiment for Reuseaddr {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(knobs: &Knobs, ctx: &Ctx) -> Result<Verdict<Observed, Outcome>> {
        experiment(knobs, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, _: &Knobs, ctx: &Ctx) -> Result<ExitCode> {
        let (say, t) = (&ctx.say, ctx.timeout);
        match role {
            Role::Server { a, no_reuseaddr } => {
                let reuse = if no_reuseaddr { Reuse::No } else { Reuse::Addr };
                let listener = listen_at(a.bind_addr()?, reuse)?;
                let at = names::socket_name(&listener)?;
                say.say(format!("Listening at {}", py_addr(&at)));
                let waiting = Some("Waiting to accept a new connection");
                server::serve(&listener, &a, ctx, waiting, |sc, _| {
                    server(sc, Closes::Server, say)
                })
            }
            Role::Client(a) => {
                client(a.server_addr()?, Closes::Server, say, t)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
