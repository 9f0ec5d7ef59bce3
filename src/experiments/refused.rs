//! # 08 `refused`: connect() to a port nobody listens on
//!
//! **Question.** What does `connect()` do when nothing listens on the port
//! it aims at: how does it fail, how fast, and does a server listening on
//! another port of the same host notice anything?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, p. 48: the client gets
//! `ConnectionRefusedError: [Errno 111] Connection refused`, and a running
//! server does not even react, because the operating system does not tell
//! it; behind a firewall, the client may hang instead. The Erle Robotics
//! notes on the same listing show `[Errno 61] Connection refused` (macOS).
//!
//! **Run.**
//! - `cargo run --bin refused`: a blocking and a non-blocking `connect()`
//!   to a port nobody listens on, while a listener waits on another port;
//!   `-- --json` for a report.
//! - `cargo run --bin refused -- client HOST [-p PORT]`: one `connect()`,
//!   explained: refused, no answer within `--timeout-ms`, or unreachable
//!   (exit 0 if refused, as the book predicts; 1 otherwise).
//!
//! **Chapter.** `chapters/08-refused.md`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::capture::{Flags, OnWire, Segment, say_seen};
use crate::lab::error::Op;
use crate::lab::experiment::{Ctx, NoKnobs, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::report::Errno;
use crate::lab::{args, names, pyfmt::py_addr};

/// What the default run observed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The address nobody listens on (bound with port 0, read, closed).
    pub closed_address: SocketAddr,
    /// The listening socket on another port, that no client aims at.
    pub listener_address: SocketAddr,
    /// The blocking `connect()`'s errno; `None` means it connected.
    pub blocking_errno: Option<Errno>,
    /// How long the blocking `connect()` took, in µs.
    pub blocking_connect_us: u64,
    /// What the non-blocking `connect()` returned at once (`EINPROGRESS`);
    /// `None` means it connected at once.
    pub nonblocking_errno: Option<Errno>,
    /// The events `poll()` reported for it, by name (`POLLERR`...).
    pub poll_events: Vec<String>,
    /// The socket's pending error after `poll()` (`getsockopt SO_ERROR`);
    /// `None` means none.
    pub so_error: Option<Errno>,
    /// From the non-blocking `connect()` to `poll()`'s return, in µs.
    pub nonblocking_refused_us: u64,
    /// What a non-blocking `accept()` on the other listener returned:
    /// `EAGAIN` means no connection ever reached its queue; `None` means
    /// it accepted one.
    pub listener_accept_errno: Option<Errno>,
    /// The segments to and from the port nobody listens on.
    pub wire: OnWire<Vec<Segment>>,
}

const RST_ACK: Flags = Flags::RST_ACK;
const SYN_ACK: Flags = Flags::SYN_ACK;

/// A new IPv4 or IPv6 TCP socket for `to`: `socket()`.
fn tcp_socket(to: SocketAddr) -> anyhow::Result<Socket> {
    let domain = Domain::for_address(to);
    Ok(Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?)
}

// ANCHOR: closed_port
/// A port nobody listens on: `bind()` to port 0, read the port the kernel
/// chose, `close()` without ever listening.
fn closed_port() -> anyhow::Result<SocketAddr> {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let sock = tcp_socket(any)?;
    sock.bind(&any.into()).op("bind 127.0.0.1:0")?;
    let closed = names::socket_name(&sock)?; // getsockname()
    drop(sock); // close()
    Ok(closed)
}
// ANCHOR_END: closed_port

// ANCHOR: client
/// The book's client's `connect()`: blocking, with a deadline (`SO_SNDTIMEO`:
/// past it, `connect` gives up with `EINPROGRESS`). Returns its result and
/// how long it took.
fn client(
    to: SocketAddr,
    t: Duration,
) -> anyhow::Result<(io::Result<()>, Duration)> {
    let sock = tcp_socket(to)?;
    sock.set_write_timeout(Some(t))
        .op("setsockopt SO_SNDTIMEO")?;
    let started = Instant::now();
    let result = sock.connect(&to.into());
    Ok((result, started.elapsed())) // close()
}
// ANCHOR_END: client

// ANCHOR: explain
/// Says what one `connect()` result means, and returns its outcome:
/// `refused`, `timed_out`, `unreachable`, `connected` or `failed`.
fn explain(
    say: &Narrator,
    to: SocketAddr,
    result: &io::Result<()>,
    took: Duration,
    t: Duration,
) -> &'static str {
    let ms = took.as_secs_f64() * 1e3;
    let to_text = format!("connect() to {}", py_addr(&to));
    let Err(e) = result else {
        say.say(format!("{to_text}: connected in {ms:.3} ms"));
        say.say("  something listens there");
        return "connected";
    };
    let errno = Errno::of(e).map_or(e.to_string(), |e| {
        format!("{} (errno {})", e.name, e.number)
    });
    use nix::libc::{EHOSTUNREACH, ENETUNREACH};
    let (meaning, outcome) = match e.raw_os_error().unwrap_or(0) {
        nix::libc::ECONNREFUSED => (
            "the host answered the SYN with a reset (RST): nothing\n  \
             listens on that port there; no server was told",
            "refused",
        ),
        nix::libc::EINPROGRESS | nix::libc::ETIMEDOUT => (
            "no answer to the SYN: a firewall that drops it, a host\n  \
             that is down, or a full backlog (experiment 09)",
            "timed_out",
        ),
        EHOSTUNREACH | ENETUNREACH => (
            "no route to that host, or no host answered for\n  \
             that address on the local network",
            "unreachable",
        ),
        _ => ("not one of the cases the book describes", "failed"),
    };
    match outcome {
        "timed_out" => say.say(format!(
            "{to_text}: {errno}, no answer within {} ms",
            t.as_millis()
        )),
        _ => say.say(format!("{to_text}: {errno} in {ms:.3} ms")),
    }
    meaning
        .lines()
        .for_each(|l| say.say(format!("  {}", l.trim())));
    outcome
}
// ANCHOR_END: explain

// ANCHOR: nonblocking
/// The same `connect()` on a non-blocking socket: it returns at once, then
/// `poll()` says when the attempt ended, and `SO_ERROR` how.
fn nonblocking(
    to: SocketAddr,
    t: Duration,
) -> anyhow::Result<(Option<Errno>, PollFlags, Option<Errno>, Duration)> {
    let sock = tcp_socket(to)?;
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?;
    let started = Instant::now();
    let at_once = sock.connect(&to.into()).err(); // EINPROGRESS
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
    let wait = PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX);
    poll(&mut fds, wait).map_err(io::Error::from).op("poll")?;
    let took = started.elapsed();
    let events = fds[0].revents().unwrap_or(PollFlags::empty());
    let pending = sock.take_error().op("getsockopt SO_ERROR")?;
    let so_error = pending.as_ref().and_then(Errno::of);
    Ok((at_once.as_ref().and_then(Errno::of), events, so_error, took))
}
// ANCHOR_END: nonblocking

// ANCHOR: experiment
/// The default run: a listener on one port; two connects to another.
fn experiment(ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let at = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let listener = tcp_socket(at)?;
    listener.bind(&at.into()).op("bind 127.0.0.1:0")?;
    listener.listen(1).op("listen on 127.0.0.1")?;
    let listening = names::socket_name(&listener)?;
    let (server, client_says) = (ctx.say.server(), ctx.say.client());
    server.say(format!("Listening at {}", py_addr(&listening)));
    let closed = closed_port()?;
    client_says.say(format!(
        "Port {}: bound, read, closed: nobody listens there",
        closed.port()
    ));
    let (blocking, took) = client(closed, ctx.timeout)?;
    explain(&client_says, closed, &blocking, took, ctx.timeout);
    let (at_once, events, so_error, took2) = nonblocking(closed, ctx.timeout)?;
    let name = |e: &Option<Errno>| {
        e.as_ref()
            .map_or("none".into(), |e| format!("{} ({})", e.name, e.number))
    };
    let events: Vec<String> =
        events.iter_names().map(|(n, _)| n.to_owned()).collect();
    client_says.say(format!("Non-blocking connect(): {}", name(&at_once)));
    client_says.say(format!(
        "  poll(): {} after {:.3} ms",
        events.join("|"),
        took2.as_secs_f64() * 1e3
    ));
    client_says.say(format!("  getsockopt SO_ERROR: {}", name(&so_error)));
    // What the listener saw: a non-blocking accept() finds its queue empty.
    listener.set_nonblocking(true).op("fcntl O_NONBLOCK")?;
    let seen = listener.accept().err(); // EAGAIN: nobody came
    let seen = seen.as_ref().and_then(Errno::of);
    server.say(format!("accept(), non-blocking: {}", name(&seen)));
    // On the wire: each SYN to the closed port, and the answer it got.
    let two_answers =
        |s: &[Segment]| s.iter().filter(|s| s.is(RST_ACK)).count() >= 2;
    let wire = ctx.wire.segments_until(
        |s| s.has_port(closed.port()),
        two_answers,
        Duration::from_millis(200),
    );
    let o = Observed {
        closed_address: closed,
        listener_address: listening,
        blocking_errno: blocking.as_ref().err().and_then(Errno::of),
        blocking_connect_us: took.as_micros() as u64,
        nonblocking_errno: at_once,
        poll_events: events,
        so_error,
        nonblocking_refused_us: took2.as_micros() as u64,
        listener_accept_errno: seen,
        wire,
    };
    Ok(verdict(o, &ctx.say))
}
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Both connects, blocking and non-blocking, failed with ECONNREFUSED,
    /// and a server listening on another port was not told.
    Refused,
    /// The server listening on another port had a connection to accept.
    ListenerTold,
    /// A connect to the port nobody listens on succeeded.
    Connected,
    /// A connect got no answer (EINPROGRESS until the deadline), not a refusal.
    TimedOut,
    /// A connect failed with an errno other than ECONNREFUSED.
    OtherError,
    /// On the wire, a SYN to the port nobody listens on was not answered
    /// by RST|ACK (or there were not two SYNs).
    NoResetOnWire,
    /// On the wire, the port nobody listens on answered SYN|ACK.
    HandshakeOnWire,
}

// ANCHOR: verdict
/// The verdict: both connects refused, and the other listener untold.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    let is = |e: &Option<Errno>, name: &str| {
        e.as_ref().is_some_and(|e| e.name == name)
    };
    let refused = "ECONNREFUSED";
    // If a connect was not refused, the blocking one tells what it got.
    let not_refused = match &o.blocking_errno {
        None => Outcome::Connected,
        Some(e) if e.name == "EINPROGRESS" => Outcome::TimedOut,
        Some(_) => Outcome::OtherError,
    };
    let nonblocking =
        is(&o.so_error, refused) || is(&o.nonblocking_errno, refused);
    let untold = is(&o.listener_accept_errno, "EAGAIN");
    let checks = [
        ("blocking", is(&o.blocking_errno, refused), not_refused),
        ("non-blocking", nonblocking, not_refused),
        ("listener not told", untold, Outcome::ListenerTold),
    ];
    // On the wire: each of the two SYNs answered by RST|ACK from the
    // closed port, and never a SYN|ACK.
    let closed = o.closed_address;
    let syns = |s: &[Segment]| -> Vec<SocketAddr> {
        let to_closed = s.iter().filter(|s| s.dst == closed);
        to_closed
            .filter(|s| s.is(Flags::SYN))
            .map(|s| s.src)
            .collect()
    };
    let reset = |s: &[Segment], c: SocketAddr| {
        s.iter()
            .any(|s| s.src == closed && s.dst == c && s.is(RST_ACK))
    };
    let answered = o.wire.check(|s| {
        let syns = syns(s);
        syns.len() == 2 && syns.iter().all(|&c| reset(s, c))
    });
    let no_handshake = o.wire.check(|s| !s.iter().any(|s| s.is(SYN_ACK)));
    let wire = [
        ("SYN answered by RST|ACK", answered, Outcome::NoResetOnWire),
        ("no SYN|ACK", no_handshake, Outcome::HandshakeOnWire),
    ];
    let observed = say.checks_on_wire(&checks, &wire);
    if let (Some(_), Some(seen)) = (observed, o.wire.seen()) {
        say_seen(say, &format!("to and from {closed}"), seen);
    }
    Verdict::new(observed.unwrap_or(Outcome::Refused), o)
}
// ANCHOR_END: verdict

/// The manual role.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Try one connect() to HOST and explain the result.
    Client(args::ClientArgs),
}

/// Experiment 08, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct Refused;

impl crate::lab::experiment::Experiment for Refused {
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
        let Role::Client(a) = role;
        let to = a.server_addr()?;
        let (result, took) = client(to, ctx.timeout)?;
        match explain(&ctx.say, to, &result, took, ctx.timeout) {
            "refused" => Ok(ExitCode::SUCCESS), // as the book predicts
            _ => Ok(ExitCode::from(crate::lab::cli::EXIT_MISMATCH)),
        }
    }
    // ANCHOR_END: roles
}
