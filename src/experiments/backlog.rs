//! # 09 `backlog`: the queue in front of accept()
//!
//! **Question.** How many clients can connect to a server that has not
//! called `accept()`, and what happens to the next one?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, p. 46: `listen()`'s integer says
//! how many connections not yet accepted may stack up before the operating
//! system starts ignoring new ones (the book passes 1). Lutz, *Programming
//! Python* 4th ed., ch. 12, "Server socket calls", p. 790: `listen(5)`
//! allows a backlog of five pending requests.
//!
//! **Run.**
//! - `cargo run --bin backlog`: `listen(1)`, three clients, nobody accepts;
//!   then one `accept()` (`--backlog N`, `--clients M`, `--wait-ms MS`;
//!   `-- --json` for a report). It takes about 1 s: the last step waits
//!   for the kernel's SYN retransmission timer.
//! - Two terminals: `cargo run --bin backlog -- server "" --backlog 1`
//!   listens and accepts nobody until Enter is pressed; meanwhile run
//!   `cargo run --bin backlog -- client 127.0.0.1` three times.
//!
//! **Chapter.** `chapters/09-backlog.md`.

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::libc;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::capture::{Flags, OnWire, Segment, say_seen};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::kernel::{self, ListenCounters, ListenQueue, TcpState};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::py_addr;
use crate::lab::{args, deadline, names, server};

mod connecting;
pub use connecting::Connecting;

// ANCHOR: observed
/// What the default run observed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The backlog given to `listen()`.
    pub backlog: u32,
    /// `net.core.somaxconn`, the cap on any backlog; `None`: unreadable.
    pub somaxconn: Option<u32>,
    /// The clients in the order they called `connect()`, as the kernel
    /// left each at the end of its `--wait-ms`.
    pub clients: Vec<Connecting>,
    /// How many clients connected within `--wait-ms`, nobody accepting.
    pub connected_at_once: usize,
    /// The listen queue then (`ss -ltn`: Recv-Q, Send-Q).
    pub queue_before_accept: ListenQueue,
    /// The client `accept()` returned: the queue's oldest.
    pub accepted_from: SocketAddr,
    /// The listen queue after that one `accept()`.
    pub queue_after_accept: ListenQueue,
    /// The waiting client that got in after that `accept()`, as it got
    /// in; `None` if none was waiting, or none got in.
    pub let_in: Option<Connecting>,
    /// The listen queue after it got in.
    pub queue_after_retry: Option<ListenQueue>,
    /// The let-in client's segments on the wire; `None` if none got in.
    pub let_in_wire: Option<OnWire<Vec<Segment>>>,
    /// How much the namespace's listen counters rose during the run: our
    /// dropped SYNs, plus any other process's. `None`: not readable.
    pub dropped: Option<ListenCounters>,
}
// ANCHOR_END: observed

// ANCHOR: listen
/// The server's setup: `socket()`, `bind()`, `listen(backlog)`. Rust's
/// `TcpListener` always passes 128, so the backlog needs socket2.
fn listen_at(addr: SocketAddr, backlog: u32) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(backlog as i32)
        .op(format_args!("listen({backlog}) on {addr}"))?;
    Ok(sock)
}
// ANCHOR_END: listen

// ANCHOR: client
/// A client that does not block in `connect()`: the call returns at once
/// (`EINPROGRESS`), and `poll()` waits at most `wait` for the handshake.
/// Returns the socket (still connecting if no answer came), when it
/// called `connect()`, and what the kernel says of it then.
///
/// # Errors
/// `socket(2)`, `connect(2)` (other than `EINPROGRESS`) or reading the
/// socket's state failed.
pub fn client(
    server: SocketAddr,
    wait: Duration,
) -> anyhow::Result<(Socket, Instant, Connecting)> {
    let domain = Domain::for_address(server);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?;
    let started = Instant::now();
    match sock.connect(&server.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        done => done.op(format_args!("connect to {server}"))?,
    }
    // Writable: the handshake is over (done, or failed: SO_ERROR says).
    let answered = deadline::wait_writable(&sock, wait).is_ok();
    let now = Connecting::read(&sock, started, answered)?;
    Ok((sock, started, now))
}
// ANCHOR_END: client

// ANCHOR: server
/// The server's part once it accepts: the connection had waited, complete,
/// in the listen queue. It only says so; the caller closes it.
fn server(sc: &TcpStream, peer: SocketAddr, say: &Narrator) {
    let state = kernel::tcp_info(sc).map(|i| i.state.to_string());
    let state = state.unwrap_or_else(|_| "unknown".into());
    say.say(format!("accept() returns {}, {state}", py_addr(&peer)));
}
// ANCHOR_END: server

// ANCHOR: experiment
/// The default run: clients connect to a server that does not accept;
/// then it accepts one.
fn experiment(
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let (to_server, to_clients) = (ctx.say.server(), ctx.say.client());
    let listener = listen_at("127.0.0.1:0".parse()?, k.backlog)?;
    let at = names::socket_name(&listener)?;
    // The listen queue, once it holds at least n connections.
    let queued = |n| {
        let q = kernel::wait_listen_queue(&listener, n, ctx.timeout);
        let q = q.op("getsockopt TCP_INFO (the listen queue)")?;
        to_server.say(format!("listen queue: {q}"));
        Ok::<_, SocketError>(q)
    };
    to_server.say(format!(
        "Listening at {} with listen({}); nobody calls accept()",
        py_addr(&at),
        k.backlog
    ));
    let (n, wait) = (k.clients(), Duration::from_millis(k.wait_ms));
    to_clients.say(format!(
        "{n} clients, each waiting {} ms for an answer",
        k.wait_ms
    ));
    let counted = ListenCounters::read();
    // 1. The clients connect one at a time. Each connection the kernel
    //    completes is in the listen queue before the next client tries.
    let mut clients: Vec<(Socket, Instant, Connecting)> = Vec::new();
    let mut done = 0;
    for i in 1..=n {
        let (sock, started, c) = client(at, wait)?;
        to_clients.say(format!("client {i}: {c}"));
        done += c.connected() as u32;
        kernel::wait_listen_queue(&listener, done, ctx.timeout)
            .op("getsockopt TCP_INFO (the listen queue)")?;
        clients.push((sock, started, c));
    }
    let waiting: Vec<usize> = (0..clients.len())
        .filter(|&i| !clients[i].2.connected())
        .collect();
    let before = queued(done)?;
    // 2. The server accepts one: the connection that waited longest.
    let (sc, accepted_from) = server::accept_within(&listener, ctx.timeout)?;
    server(&TcpStream::from(sc), accepted_from, &to_server); // then close()
    let after = queued(0)?;
    // 3. A client that got no answer tries again when its kernel resends
    //    the SYN (the retransmission timer); now there is room for it.
    let socks: Vec<&Socket> = waiting.iter().map(|&i| &clients[i].0).collect();
    let mut let_in = None;
    if let Ok(w) = deadline::wait_any_writable(&socks, ctx.timeout) {
        let (sock, started, _) = &clients[waiting[w]];
        let c = Connecting::read(sock, *started, true)?;
        to_clients.say(format!("client {}: {c}", waiting[w] + 1));
        let_in = Some((c, queued(after.queued + 1)?));
    }
    let (let_in, queue_after_retry) = let_in.unzip();
    // On the wire: the let-in client's SYNs, the answer, its ACK.
    let let_in_wire = let_in.as_ref().map(|c: &Connecting| {
        let acked = |s: &[Segment]| s.last().is_some_and(|s| s.is(Flags::ACK));
        ctx.wire
            .segments_until(|s| s.between(c.name, at), acked, wait)
    });
    let o = Observed {
        backlog: k.backlog,
        somaxconn: kernel::somaxconn(),
        connected_at_once: done as usize,
        clients: clients.into_iter().map(|(_, _, c)| c).collect(),
        queue_before_accept: before,
        accepted_from,
        queue_after_accept: after,
        let_in,
        queue_after_retry,
        let_in_wire,
        dropped: counted
            .zip(ListenCounters::read())
            .map(|(b, n)| n.since(&b)),
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
    /// backlog + 1 clients connected while nobody accepted; the next got no
    /// answer, not a refusal, and waited in SYN_SENT until an accept() made
    /// room, then got in.
    Ignored,
    /// Every client connected at once: there were no more than backlog + 1
    /// of them, so nobody had to wait (`--clients`).
    AllQueued,
    /// The listening socket's backlog, as the kernel reports it, was not
    /// the one asked for (capped at somaxconn).
    BacklogDiffers,
    /// Other than backlog + 1 clients connected, or were queued, at once.
    CountDiffers,
    /// A client was refused, or failed otherwise, instead of being ignored.
    Refused,
    /// A client that did not get in was not waiting in SYN_SENT.
    NotWaiting,
    /// No waiting client got in after an accept() made room.
    NeverLetIn,
    /// On the wire, the let-in client's SYN was not sent again about 1 s
    /// after the first (0.8 to 1.5 s), unanswered in between.
    NoSynRetryOnWire,
    /// On the wire, no SYN|ACK answered the let-in client's last SYN.
    NoSynAckOnWire,
}

// ANCHOR: verdict
/// The verdict: backlog + 1 clients connected at once (the backlog capped
/// at somaxconn); the others got no answer, not a refusal, and waited in
/// SYN_SENT; after one accept(), one of them got in.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let granted = o.backlog.min(o.somaxconn.unwrap_or(u32::MAX));
    let room = (granted as usize + 1).min(o.clients.len());
    let ignored: Vec<&Connecting> =
        o.clients.iter().filter(|c| !c.connected()).collect();
    let q = &o.queue_before_accept;
    let answered = o.clients.iter().all(|c| c.error.is_none());
    let waiting = ignored.iter().all(|c| c.is(TcpState::SynSent));
    let let_in = ignored.is_empty() || o.let_in.is_some();
    let checks = [
        ("backlog", q.backlog == granted, BacklogDiffers),
        ("connected", o.connected_at_once == room, CountDiffers),
        ("queued", q.queued as usize == room, CountDiffers),
        ("not refused", answered, Refused),
        ("SYN_SENT", waiting, NotWaiting),
        ("let in", let_in, NeverLetIn),
    ];
    // On the wire: the SYN the full queue dropped, sent again about 1 s
    // later (RFC 6298's initial RTO), then the SYN|ACK that let it in.
    let syns = |s: &[Segment]| -> Vec<u64> {
        s.iter()
            .filter(|s| s.is(Flags::SYN))
            .map(|s| s.at_us)
            .collect()
    };
    let answers = |s: &[Segment]| -> Vec<u64> {
        s.iter()
            .filter(|s| s.is(Flags::SYN_ACK))
            .map(|s| s.at_us)
            .collect()
    };
    let retried = |s: &[Segment]| match (&syns(s)[..], &answers(s)[..]) {
        ([first, again, ..], answers) => {
            (800_000..=1_500_000).contains(&(again - first))
                && answers.iter().all(|&a| a > *again)
        }
        _ => false,
    };
    let answered = |s: &[Segment]| {
        let last = syns(s).last().copied().unwrap_or(u64::MAX);
        answers(s).iter().any(|&a| a > last)
    };
    let seen = o.let_in_wire.as_ref();
    let wire = [
        (
            "SYN again 1 s later",
            seen.and_then(|w| w.check(|s| retried(s))),
            NoSynRetryOnWire,
        ),
        (
            "then SYN|ACK",
            seen.and_then(|w| w.check(|s| answered(s))),
            NoSynAckOnWire,
        ),
    ];
    let failed = say.checks_on_wire(&checks, &wire);
    if let (Some(_), Some(seen)) = (failed, seen.and_then(|w| w.seen())) {
        say_seen(say, "the client let in", seen);
    }
    let observed = match failed {
        Some(failed) => failed,
        None if ignored.is_empty() => AllQueued,
        None => Ignored,
    };
    // With room for every client, the book predicts nobody waits.
    let all_fit = o.clients.len() == room;
    let v = Verdict::new(observed, o);
    if all_fit { v.expecting(AllQueued) } else { v }
}
// ANCHOR_END: verdict

/// The shortest `--timeout-ms` the default run accepts, in ms: the SYN
/// retry it waits for comes after 1 s, and this leaves room to spare.
pub const MIN_TIMEOUT_MS: u128 = 1500;

/// The default run's knobs; `--backlog` and `--wait-ms` apply to the
/// manual roles as well.
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// The backlog given to listen(), 0 to 1000 (the book: 1; Lutz: 5).
    #[arg(long, global = true, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    backlog: u32,
    /// How many clients connect, 1 to 1002 [default: backlog + 2].
    #[arg(long, value_name = "M",
          value_parser = clap::value_parser!(u32).range(1..=1002))]
    clients: Option<u32>,
    /// How long a client waits for the handshake before it counts as
    /// ignored, in ms: 10 to 900, less than the kernel's first SYN retry.
    #[arg(long, global = true, value_name = "MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(10..=900))]
    wait_ms: u64,
}

impl Knobs {
    fn clients(&self) -> u32 {
        self.clients.unwrap_or(self.backlog + 2)
    }
}

/// The manual roles.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Listen with listen(--backlog); accept nobody until Enter is pressed
    /// (or standard input ends, or --accept-after-ms passes); then accept
    /// and close each client. Its own protocol: no bytes either way, so it
    /// is no peer for the book's scripts.
    Server {
        /// Where to listen.
        #[command(flatten)]
        at: args::ServerArgs,
        /// Start accepting after this many ms even if Enter never comes.
        #[arg(long, value_name = "MS", default_value_t = 600_000,
              value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
        accept_after_ms: u64,
    },
    /// Connect; say how long the handshake took, or that no answer came
    /// within --wait-ms; wait (--timeout-ms) to get in and be accepted.
    /// Its own protocol: it sends nothing and waits for the server to
    /// close, so pair it with this experiment's server.
    Client(args::ClientArgs),
}

/// Experiment 09, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct Backlog;

impl crate::lab::experiment::Experiment for Backlog {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
        // The client let in gets in at its SYN retry, which Linux sends
        // 1 s after the first SYN (TCP_TIMEOUT_INIT, RFC 6298's initial
        // RTO): a shorter deadline could only ever report never_let_in.
        let ms = ctx.timeout.as_millis();
        anyhow::ensure!(
            ms >= MIN_TIMEOUT_MS,
            "--timeout-ms {ms}: the client let in waits for its SYN retry, \
             which comes 1 s after its first SYN; hint: --timeout-ms \
             {MIN_TIMEOUT_MS} or more"
        );
        experiment(k, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, k: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let (say, wait) = (&ctx.say, Duration::from_millis(k.wait_ms));
        let shown = |x: Option<String>| x.unwrap_or_else(|| "?".into());
        match role {
            Role::Server {
                at,
                accept_after_ms,
            } => {
                let listener = listen_at(at.bind_addr()?, k.backlog)?;
                let name = py_addr(&names::socket_name(&listener)?);
                say.say(format!("Listening at {name}"));
                say.say(format!(
                    "listen({}), not accepting: press Enter",
                    k.backlog
                ));
                let limit = Duration::from_millis(accept_after_ms);
                let held = server::hold(&listener, limit, |q, dropped| {
                    let q = shown(q.map(|q| q.to_string()));
                    let d = shown(dropped.map(|d| d.overflows.to_string()));
                    say.say(format!("listen queue: {q}; SYNs dropped: {d}"));
                });
                say.say(format!("Accepting now: {held}"));
                server::serve(&listener, &at, ctx, None, |sc, peer| {
                    server(sc, peer, say);
                    Ok(())
                })
            }
            Role::Client(a) => {
                let to = a.server_addr()?;
                let (sock, started, mut c) = client(to, wait)?;
                say.say(format!("{}: {c}", py_addr(&c.name)));
                if !c.connected() && c.error.is_none() {
                    // No answer yet: wait for a SYN retry to get in.
                    let got_in = deadline::wait_writable(&sock, ctx.timeout);
                    got_in.op(format_args!("connect to {to}"))?;
                    c = Connecting::read(&sock, started, true)?;
                    say.say(format!("{}: {c}", py_addr(&c.name)));
                }
                if let Some(e) = c.error {
                    let e = std::io::Error::from_raw_os_error(e.number);
                    Err(e).op(format_args!("connect to {to}"))?;
                }
                // The server's accept() and close() arrive as end of stream.
                let mut sock = TcpStream::from(sock);
                deadline::recv_ready(&mut sock, &mut [0; 64], ctx.timeout)
                    .op(format_args!("recv from {to}"))?;
                let ms = started.elapsed().as_millis();
                say.say(format!("the server accepted and closed at {ms} ms"));
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
