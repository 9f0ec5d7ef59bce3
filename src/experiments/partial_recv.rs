//! # 02 `partial-recv`: recv() returns what has arrived
//!
//! **Question.** Does one `recv(16)` return a sixteen-octet message? Does a
//! `recv()` allowed 4 MiB return a 4 MiB message? And what does `recv()`
//! return when the peer closes in the middle of a message?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, p. 45 (and the Erle Robotics notes
//! on the same listing): `recv()` blocks while nothing has arrived, returns
//! as much as it is allowed when plenty is waiting, and otherwise returns
//! at once whatever is there. So a reader loops, as `recvall()` does.
//!
//! **Run.**
//! - `cargo run --bin partial-recv`: a message split in two, a big
//!   message, and the end of the stream in mid-message, on a free loopback
//!   port (`-- --split N`, `-- --message-bytes N`, `-- --json`).
//! - Two terminals: `cargo run --bin partial-recv -- server "" --pieces 4
//!   --gap-ms 200` trickles sixteen octets to each client (the book's
//!   client too), then `cargo run --bin partial-recv -- client 127.0.0.1`
//!   (which sends nothing) shows every short `recv` (port 1060; `-p PORT`).
//!
//! **Chapter.** `chapters/02-partial-recv.md`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::experiments::sixteen::{FAREWELL, recv_all};
use crate::lab::capture::{Flags, OnWire, Segment, say_seen};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::{py_addr, py_bytes};
use crate::lab::tally::{Recv, Tally, recv_lines, size_counts};
use crate::lab::{args, deadline, names, peers, process, server};

/// A segment's FIN bit: its sender will send no more.
const FIN: Flags = Flags::FIN;

/// What the default run observed: every `recv(2)` each `recvall()` made.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// Step 1: where the server cut its sixteen octets (`--split`), bytes.
    pub split_at_bytes: u64,
    /// Step 1: each recv of the client's `recvall(16)`, in order.
    pub split_recvs: Vec<Recv>,
    /// Step 1: what `recvall(16)` returned, as text.
    pub split_received: String,
    /// The listening socket's address, the server's end of every step.
    pub listening_address: SocketAddr,
    /// Step 1's segments on the wire.
    pub split_wire: OnWire<Vec<Segment>>,
    /// Step 2: the big message's size (`--message-bytes`), in bytes.
    pub big_message_bytes: u64,
    /// Step 2: each recv of the client's `recvall()`, in order.
    pub big_recvs: Vec<Recv>,
    /// Step 2: whether `recvall()` returned exactly the bytes sent.
    pub big_intact: bool,
    /// Step 3: the server sent k = 0..15 of the sixteen octets, then
    /// closed; one case per k.
    pub eof_cases: Vec<EofCase>,
}

/// Step 3, one connection: the server sent `sent_bytes`, then closed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EofCase {
    /// Bytes the server sent before it closed.
    pub sent_bytes: u64,
    /// Each recv of the client's `recvall(16)`, in order.
    pub recvs: Vec<Recv>,
    /// The error `recvall(16)` failed with; `None` if it succeeded.
    pub error: Option<String>,
}

// ANCHOR: listen
/// The book's server setup: `socket()`, `SO_REUSEADDR`, `bind()`,
/// `listen(1)`.
fn listen_at(addr: SocketAddr) -> Result<Socket, SocketError> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}
// ANCHOR_END: listen

// ANCHOR: server
/// The sender, for one client: `message` in pieces cut at the offsets
/// `cuts`, each sent with `sendall()`, calling `between()` before every
/// piece but the first. The caller then closes the socket.
fn server(
    mut sc: &TcpStream,
    message: &[u8],
    cuts: &[usize],
    mut between: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    let mut from = 0;
    for &to in cuts.iter().chain([message.len()].iter()) {
        if from > 0 {
            between()?;
        }
        sc.write_all(&message[from..to])?; // sendall()
        from = to;
    }
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: client
/// The reader: `connect()`, then the book's `recvall(length)` from 01
/// `sixteen`, unchanged, on a socket wrapped in a [`Tally`] that records
/// every `recv(2)` the loop makes (and tells `tell` as each returns).
/// Returns what `recvall` returned and those recvs; then `close()`.
fn client(
    server: SocketAddr,
    length: usize,
    tell: Option<Sender<usize>>,
    timeout: Duration,
) -> Result<(io::Result<Vec<u8>>, Vec<Recv>), SocketError> {
    let domain = Domain::for_address(server);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    deadline::set_timeouts(&sock, timeout)?;
    sock.connect_timeout(&server.into(), timeout)
        .op(format_args!("connect to {server}"))?;
    let mut sock = Tally::new(TcpStream::from(sock), tell);
    let message = recv_all(&mut sock, length);
    Ok((message, sock.into_calls())) // close()
}
// ANCHOR_END: client

// ANCHOR: conversation
/// One connection of the default run: the server, on a thread of its own,
/// accepts, sends `message` cut at `cuts` and closes; the client reads
/// `length` bytes. The server sends each piece after the first only once
/// the client's last `recv` has returned, so no two pieces can arrive
/// together, however the threads are scheduled.
fn conversation(
    listener: &Socket,
    message: &[u8],
    cuts: &[usize],
    length: usize,
    ctx: &Ctx,
) -> anyhow::Result<(io::Result<Vec<u8>>, Vec<Recv>)> {
    let at = names::socket_name(listener)?;
    let (tell, told) = mpsc::channel();
    let client_recvd = move || {
        told.recv_timeout(ctx.timeout).map(drop).map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, "the client stopped")
        })
    };
    let ((), read) = peers::pair(
        &ctx.say,
        |_| {
            let (sc, _) = server::accept_within(listener, ctx.timeout)?;
            deadline::set_timeouts(&sc, ctx.timeout)?;
            let sc = TcpStream::from(sc);
            Ok(server(&sc, message, cuts, client_recvd).op("send")?)
        }, // close()
        |_| Ok(client(at, length, Some(tell), ctx.timeout)?),
    )?;
    Ok(read)
}
// ANCHOR_END: conversation

// ANCHOR: experiment
/// The default run: three steps, one listening socket.
fn experiment(
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let listener = listen_at("127.0.0.1:0".parse()?)?;
    let (say, client, cut) = (&ctx.say, ctx.say.client(), k.split as usize);
    say.say(format!(
        "1. Sixteen octets in two pieces: {cut}, then the rest"
    ));
    let (got, split_recvs) =
        conversation(&listener, FAREWELL, &[cut], 16, ctx)?;
    let split_received = got.op("recvall(16)")?;
    // On the wire: step 1's connection, until both FINs have gone.
    let at = names::socket_name(&listener)?;
    let fins = |s: &[Segment]| s.iter().filter(|s| s.flags.has(FIN)).count();
    let split_wire = ctx.wire.segments_until(
        |s| s.has_port(at.port()),
        |s| fins(s) == 2,
        Duration::from_millis(200),
    );
    let lines = recv_lines(&split_received, &split_recvs);
    lines.iter().for_each(|l| client.say(l));
    let n = k.message_bytes;
    say.say(format!("2. A big message: {n} bytes in one sendall()"));
    let big = process::bytes(n, |i| (i % 251) as u8).op("the big message")?;
    let (got, big_recvs) = conversation(&listener, &big, &[], big.len(), ctx)?;
    let big_intact = got.op("recvall")? == big;
    let calls = big_recvs.len();
    let plural = if calls == 1 { "" } else { "s" };
    client.say(format!(
        "recvall({n}) took {calls} recv call{plural} (this run)"
    ));
    client.say(format!("  {} (this run)", size_counts(&big_recvs)));
    say.say("3. The end of the stream: k = 0 to 15 bytes sent, then close()");
    let mut eof_cases = Vec::new();
    for sent in 0..16 {
        let part = &FAREWELL[..sent];
        let (got, recvs) = conversation(&listener, part, &[], 16, ctx)?;
        let error = got.err().map(|e| e.to_string()); // as we expect
        if let (5, Some(e)) = (sent, &error) {
            let (what, why) = e.split_at(e.find(" but").unwrap_or(e.len()));
            recv_lines(part, &recvs).iter().for_each(|l| client.say(l));
            client.say(format!("recvall(16) failed: {what}"));
            client.say(format!("  {}", why.trim_start()));
        }
        let sent_bytes = sent as u64;
        eof_cases.push(EofCase {
            sent_bytes,
            recvs,
            error,
        });
    }
    drop(listener); // close()
    let o = Observed {
        split_at_bytes: k.split,
        split_recvs,
        split_received: String::from_utf8_lossy(&split_received).into(),
        listening_address: at,
        split_wire,
        big_message_bytes: n,
        big_recvs,
        big_intact,
        eof_cases,
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
    /// recv(16) returned the 8 bytes that had arrived, recvall() needed a
    /// second call, a 4 MiB recv returned less, and recv returned 0 only at the
    /// end of the stream.
    PartialReads,
    /// The first recv(16) returned all 16 bytes, though only 8 had been sent.
    WholeMessage,
    /// recvall() put together other than the message sent.
    MessageAltered,
    /// The big message came back in one recv, or not intact.
    BigMessageWhole,
    /// A peer that closed mid-message did not make recv return 0 once, at
    /// the end, after every byte it sent (or recvall() did not say so).
    EofMiscounted,
    /// A recv returned more bytes than it asked for.
    RecvOverran,
    /// On the wire, step 1's two pieces did not travel as two segments
    /// of their own sizes.
    PiecesMergedOnWire,
}

// ANCHOR: verdict
/// The verdict, from the recvs the tallies recorded.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let first = o.split_recvs.first().map_or(0, |r| r.returned_bytes);
    let eof_ok = |c: &EofCase| {
        let got: Vec<u64> = c.recvs.iter().map(|r| r.returned_bytes).collect();
        let k = c.sent_bytes;
        c.error.as_deref()
            == Some(&format!(
                "was expecting 16 bytes but only received {k} bytes before the \
             socket closed"
            ))
            && got.iter().position(|&n| n == 0) == Some(got.len() - 1)
            && got.iter().sum::<u64>() == k // 0 came only at the end
    };
    let all = o.split_recvs.iter().chain(&o.big_recvs);
    let mut all = all.chain(o.eof_cases.iter().flat_map(|c| &c.recvs));
    let recvall = o.split_received.as_bytes() == FAREWELL;
    let big = o.big_recvs.len() > 1 && o.big_intact;
    let eof = o.eof_cases.iter().all(eof_ok);
    let within = all.all(|r| r.returned_bytes <= r.asked_bytes);
    let checks = [
        ("short recv", first < 16, WholeMessage),
        ("recvall", recvall, MessageAltered),
        ("big in pieces", big, BigMessageWhole),
        ("eof", eof, EofMiscounted),
        ("≤ asked", within, RecvOverran),
    ];
    // On the wire: the server's two pieces, each a segment of its own.
    let server = o.listening_address;
    let pieces = [o.split_at_bytes as u32, 16 - o.split_at_bytes as u32];
    let sent = |s: &[Segment]| -> Vec<u32> {
        let data = s.iter().filter(|s| s.src == server && s.len > 0);
        data.filter(|s| !s.retransmission).map(|s| s.len).collect()
    };
    let apart = o.split_wire.check(|s| sent(s) == pieces);
    let wire = [("two pieces, two segments", apart, PiecesMergedOnWire)];
    let observed = say.checks_on_wire(&checks, &wire);
    if let (Some(_), Some(seen)) = (observed, o.split_wire.seen()) {
        say_seen(say, "step 1", seen);
    }
    Verdict::new(observed.unwrap_or(PartialReads), o)
}
// ANCHOR_END: verdict

/// `--message-bytes`: more than one loopback segment can carry (`lo`'s
/// MTU is 65536 bytes), or `recv()` could never return part of it.
fn parse_message_bytes(s: &str) -> Result<u64, String> {
    let n = args::parse_byte_count(s, 1, 256 << 20)?;
    if n <= 64 << 10 {
        return Err("more than 65536 bytes (64KiB): a message that fits one \
                    loopback segment arrives whole"
            .into());
    }
    Ok(n)
}

/// The default run's knobs.
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// Step 1: where the server cuts its sixteen octets, 1 to 15.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=15))]
    split: u64,
    /// Step 2: the big message, more than 64 KiB, at most 256 MiB
    /// (suffixes: 4MiB). One that fits a single loopback segment always
    /// arrives whole; below about 128 KiB it may still.
    #[arg(long, value_name = "N", default_value = "4MiB",
          value_parser = parse_message_bytes)]
    message_bytes: u64,
}

/// The manual roles.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Send `Farewell, client` to each client in pieces, with pauses; then
    /// read what the client sent, up to its close. It speaks
    /// `tcp_sixteen.py server`'s bytes, so the book's client can be its
    /// peer.
    Server {
        /// Interface and port to listen at.
        #[command(flatten)]
        at: args::ServerArgs,
        /// How many pieces to cut the sixteen octets into, 1 to 16.
        #[arg(long, value_name = "N", default_value_t = 4,
              value_parser = clap::value_parser!(u64).range(1..=16))]
        pieces: u64,
        /// The pause before each piece but the first, 0 to 10000 ms.
        #[arg(long, value_name = "MS", default_value_t = 200,
              value_parser = clap::value_parser!(u64).range(0..=10_000))]
        gap_ms: u64,
    },
    /// Read sixteen octets with recvall, showing every recv. Its own
    /// protocol: it sends nothing (`tcp_sixteen.py client` sends sixteen
    /// octets first), so pair it with this experiment's server, not the
    /// book's.
    Client(args::ClientArgs),
}

/// Experiment 02, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct PartialRecv;

impl crate::lab::experiment::Experiment for PartialRecv {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(k, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, _: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match role {
            Role::Server { at, pieces, gap_ms } => {
                let listener = listen_at(at.bind_addr()?)?;
                let at_name = names::socket_name(&listener)?;
                ctx.say.say(format!("Listening at {}", py_addr(&at_name)));
                let cuts: Vec<usize> =
                    (1..pieces).map(|i| (i * 16 / pieces) as usize).collect();
                let gap = Duration::from_millis(gap_ms);
                server::serve(&listener, &at, ctx, None, |sc, peer| {
                    ctx.say.say(format!(
                        "Sending {} to {} in {pieces} pieces, {gap_ms} ms \
                         apart",
                        py_bytes(FAREWELL),
                        py_addr(&peer)
                    ));
                    // The pause a slow network would make between pieces.
                    let pause = || {
                        std::thread::sleep(gap);
                        Ok(())
                    };
                    server(sc, FAREWELL, &cuts, pause).op("send")?;
                    // Read what the client sent (the book's client: its
                    // sixteen octets; ours: nothing) up to its close(): a
                    // socket closed with bytes unread sends a reset.
                    let mut got = Vec::new();
                    sc.take(1024)
                        .read_to_end(&mut got)
                        .op(format_args!("recv from {peer}"))?;
                    let got = py_bytes(&got);
                    ctx.say
                        .say(format!("  The client sent {got}, then closed"));
                    Ok(())
                })
            }
            Role::Client(a) => {
                let addr = a.server_addr()?;
                let (got, recvs) = client(addr, 16, None, ctx.timeout)?;
                let data = got.op(format_args!("recvall from {addr}"))?;
                recv_lines(&data, &recvs)
                    .iter()
                    .for_each(|l| ctx.say.say(l));
                let n = recvs.len();
                let said = py_bytes(&data);
                ctx.say.say(format!("The server said {said} in {n} recvs"));
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
