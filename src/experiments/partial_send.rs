//! # 03 `partial-send`: send() accepts all, part, or none
//!
//! **Question.** When `send()` returns, has the kernel taken all the bytes
//! it was handed? What if the peer is not reading?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, as the Erle Robotics notes give it:
//! `send()` meets one of three cases. The kernel accepts the whole buffer;
//! or the outgoing buffer is full, and a blocking `send()` waits; or there
//! is room for part, and `send()` returns that count, leaving the rest to
//! the caller. Hence `sendall()`, which loops (p. 45: recv() has no such
//! wrapper).
//!
//! **Run.**
//! - `cargo run --bin partial-send`: the three cases and `sendall()` on a
//!   free loopback port, with the buffers set (`-- --sndbuf SIZE|auto`,
//!   `-- --rcvbuf SIZE|auto`, `-- --message-bytes N`, `-- --json`).
//! - Two terminals: `cargo run --bin partial-send -- server "" --hold-ms
//!   2000` reads nothing for 2 s, then everything; then
//!   `cargo run --bin partial-send -- client 127.0.0.1` shows the three
//!   cases against it (port 1060; `-p PORT`).
//!
//! **Chapter.** `chapters/03-partial-send.md`.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, SockRef, Socket, Type};

use crate::experiments::sixteen::HELLO;
use crate::lab::args::{self, BufferSize};
use crate::lab::error::Op;
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::py_addr;
use crate::lab::report::Errno;
use crate::lab::tally::Sent;
use crate::lab::{deadline, kernel, names, peers, process, server};

/// What the default run observed. The client role fills in only what the
/// sender sees; the peer's fields are then 0 or `None`.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// `SO_SNDBUF` asked for (`--sndbuf`), in bytes; `None`: autotuned.
    pub sndbuf_asked_bytes: Option<u64>,
    /// `SO_SNDBUF` read back after `connect()`, in bytes.
    pub sndbuf_bytes: u64,
    /// The peer's `SO_RCVBUF` asked for (`--rcvbuf`); `None`: autotuned.
    pub rcvbuf_asked_bytes: Option<u64>,
    /// The peer's `SO_RCVBUF` read back, in bytes.
    pub peer_rcvbuf_bytes: u64,
    /// Step 1: a blocking `send()` of sixteen octets.
    pub whole: Sent,
    /// Steps 2 and 3: non-blocking sends of the message's rest until one
    /// failed; the first was handed the whole message (`--message-bytes`).
    pub nonblocking: Vec<Sent>,
    /// Step 3: a blocking `send()` with `SO_SNDTIMEO` (`--sndtimeo-ms`).
    pub timed: Sent,
    /// How long that `send()` took, in ms.
    pub timed_waited_ms: u64,
    /// Step 4: `sendall()` of the rest (it returns only once all is taken).
    pub sendall: Sent,
    /// Bytes waiting unread in the peer's receive queue (`SIOCINQ`) when
    /// it began to read, at step 4.
    pub peer_waiting_bytes: u64,
    /// Bytes the peer read in all, to the end of the stream.
    pub peer_read_bytes: u64,
}

// ANCHOR: setup
/// The peer's socket: `SO_RCVBUF` (before `listen()`: accepted sockets
/// inherit it), `bind()`, `listen(1)`.
fn listen_at(addr: SocketAddr, rcvbuf: BufferSize) -> anyhow::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    if let BufferSize::Bytes(n) = rcvbuf {
        sock.set_recv_buffer_size(n).op("setsockopt SO_RCVBUF")?;
    }
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}

/// The sender's socket: `SO_SNDBUF` (before `connect()`), `connect()`.
fn connect_to(
    addr: SocketAddr,
    k: &Knobs,
    t: Duration,
) -> anyhow::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .op("socket")?;
    if let BufferSize::Bytes(n) = k.sndbuf {
        sock.set_send_buffer_size(n).op("setsockopt SO_SNDBUF")?;
    }
    deadline::set_timeouts(&sock, t)?;
    sock.connect_timeout(&addr.into(), t)
        .op(format_args!("connect to {addr}"))?;
    Ok(sock)
}
// ANCHOR_END: setup

// ANCHOR: send
/// One `send(2)`, recorded: the count it returned, or `EAGAIN` when the
/// kernel had no room for a single byte; then the send queue (`SIOCOUTQ`).
fn send(sock: &Socket, data: &[u8]) -> io::Result<Sent> {
    let (accepted, errno) = match sock.send(data) {
        Ok(n) => (n as u64, None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => (0, Errno::of(&e)),
        Err(e) => return Err(e),
    };
    let queue = kernel::send_queue_bytes(sock).ok().map(u64::from);
    let asked_bytes = data.len() as u64;
    Ok(Sent {
        asked_bytes,
        accepted_bytes: accepted,
        errno,
        send_queue_bytes: queue,
    })
}
// ANCHOR_END: send

// ANCHOR: client
/// The sender, on a connected socket whose peer reads nothing yet: the
/// three cases of `send()`, for `message`. Returns what it saw, and how
/// much of `message` the kernel took.
fn client(
    sock: &Socket,
    message: &[u8],
    sndtimeo: Duration,
    say: &Narrator,
) -> anyhow::Result<(Observed, usize)> {
    let sndbuf_bytes = sock.send_buffer_size().op("SO_SNDBUF")? as u64;
    say.say(format!("SO_SNDBUF read back {sndbuf_bytes}"));
    // 1. A blocking send of sixteen octets: the kernel takes them all.
    let whole = send(sock, HELLO).op("send")?;
    say.say(format!("1. Whole: {whole} (this run)"));
    // 2. Non-blocking: each send takes what fits and returns at once,
    // 3. until there is no room at all and send fails with EAGAIN.
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?;
    let (mut nonblocking, mut taken) = (Vec::new(), 0);
    while taken < message.len() {
        let sent = send(sock, &message[taken..]).op("send")?;
        taken += sent.accepted_bytes as usize;
        let refused = sent.errno.is_some();
        nonblocking.push(sent);
        if refused {
            break;
        }
    }
    match &nonblocking[..] {
        [first, more @ .., last] => {
            let took: u64 = more.iter().map(|s| s.accepted_bytes).sum();
            let n = more.len();
            say.say(format!("2. Part: {first} (this run)"));
            say.say(format!("   {n} sends more took {took} (this run)"));
            say.say(format!("3. None: {last} (this run)"));
        }
        [only] => say.say(format!("2. All at once: {only} (this run)")),
        [] => {}
    }
    // 3. A blocking send would wait here for room; SO_SNDTIMEO ends it.
    sock.set_nonblocking(false).op("fcntl ~O_NONBLOCK")?;
    sock.set_write_timeout(Some(sndtimeo)).op("SO_SNDTIMEO")?;
    let started = Instant::now();
    let timed = send(sock, &message[taken..]).op("send")?;
    let timed_waited_ms = started.elapsed().as_millis() as u64;
    taken += timed.accepted_bytes as usize;
    let ms = sndtimeo.as_millis();
    if timed.asked_bytes > 0 {
        say.say(format!(
            "   blocking, SO_SNDTIMEO {ms} ms: {timed_waited_ms} ms later,"
        ));
        say.say(format!("   {timed} (this run)"));
    }
    let o = Observed {
        sndbuf_bytes,
        whole,
        nonblocking,
        timed,
        timed_waited_ms,
        ..Observed::default()
    };
    Ok((o, taken))
}

/// Step 4, the book's `sendall()`: `write_all()` sends until the kernel has
/// taken every byte of `rest`, which it can only do as the peer reads;
/// then `shutdown(SHUT_WR)`, so the peer's `recv` returns 0.
fn sendall(
    sock: &Socket,
    rest: &[u8],
    t: Duration,
    say: &Narrator,
) -> anyhow::Result<Sent> {
    sock.set_write_timeout(Some(t)).op("SO_SNDTIMEO")?;
    let mut writer: &Socket = sock;
    writer.write_all(rest).op("sendall")?;
    let n = rest.len() as u64;
    let queue = kernel::send_queue_bytes(sock).ok().map(u64::from);
    if n > 0 {
        say.say(format!("4. sendall(): write_all({n}) returned (all taken)"));
    }
    sock.shutdown(Shutdown::Write).op("shutdown")?;
    Ok(Sent {
        asked_bytes: n,
        accepted_bytes: n,
        errno: None,
        send_queue_bytes: queue,
    })
}
// ANCHOR_END: client

// ANCHOR: server
/// The peer, once it starts reading: the bytes waiting unread in its
/// receive queue (`SIOCINQ`), then every byte, to the end of the stream.
fn server(mut sc: &TcpStream, say: &Narrator) -> anyhow::Result<(u64, u64)> {
    let waiting = kernel::recv_queue_bytes(&sc).op("ioctl SIOCINQ")?;
    // recv() in a loop until it returns 0, counting the bytes.
    let read = io::copy(&mut sc, &mut io::sink()).op("recv")?;
    say.say(format!(
        "SIOCINQ {waiting} when it began to read (this run)"
    ));
    say.say(format!("read {read} bytes, then the end of the stream"));
    Ok((waiting.into(), read))
}
// ANCHOR_END: server

// ANCHOR: experiment
/// The default run: one connection; the peer reads only at step 4.
fn experiment(
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let listener = listen_at("127.0.0.1:0".parse()?, k.rcvbuf)?;
    let sock = connect_to(names::socket_name(&listener)?, k, ctx.timeout)?;
    let (sc, _) = server::accept_within(&listener, ctx.timeout)?;
    deadline::set_timeouts(&sc, ctx.timeout)?;
    let sc = TcpStream::from(sc);
    let rcvbuf = SockRef::from(&sc).recv_buffer_size().op("SO_RCVBUF")?;
    ctx.say
        .server()
        .say(format!("SO_RCVBUF read back {rcvbuf}"));
    // Steps 1 to 3, while the peer reads nothing.
    let message = process::bytes(k.message_bytes, |_| b'x').op("message")?;
    let sndtimeo = Duration::from_millis(k.sndtimeo_ms);
    let (sent, taken) = client(&sock, &message, sndtimeo, &ctx.say.client())?;
    // Step 4: the peer reads, on a thread of its own, while we sendall().
    let ((peer_waiting_bytes, peer_read_bytes), sendall) = peers::pair(
        &ctx.say,
        |say| server(&sc, say),
        |say| sendall(&sock, &message[taken..], ctx.timeout, say),
    )?;
    drop((sock, sc, listener)); // close()
    let o = Observed {
        sndbuf_asked_bytes: k.sndbuf.bytes(),
        rcvbuf_asked_bytes: k.rcvbuf.bytes(),
        peer_rcvbuf_bytes: rcvbuf as u64,
        sendall,
        peer_waiting_bytes,
        peer_read_bytes,
        ..sent
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
    /// A small send was accepted whole; with the send buffer full, a
    /// non-blocking send accepted part, the next none (EAGAIN), a blocking one
    /// waited; and the peer read every byte accepted.
    PartialSend,
    /// A 16-byte send was not accepted whole.
    SmallSendCut,
    /// With the buffer nearly full, a non-blocking send accepted all or nothing, not part.
    AllOrNothing,
    /// With the buffer full, the last non-blocking send was not refused with EAGAIN.
    NeverRefused,
    /// A blocking send with a deadline took every byte instead of waiting.
    BlockingSendTookAll,
    /// The peer read other than the number of bytes the sends accepted.
    BytesLost,
}

// ANCHOR: verdict
/// The verdict, from the counts and errnos the kernel returned.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let eagain =
        |x: &Sent| x.errno.as_ref().is_some_and(|e| e.name == "EAGAIN");
    let part = |x: &Sent| (1..x.asked_bytes).contains(&x.accepted_bytes);
    let sent: u64 = o
        .nonblocking
        .iter()
        .chain([&o.whole, &o.timed, &o.sendall])
        .map(|x| x.accepted_bytes)
        .sum();
    let first = o.nonblocking.first().is_some_and(part);
    let last = o.nonblocking.last().is_some_and(eagain);
    let waited = o.timed.accepted_bytes < o.timed.asked_bytes;
    let checks = [
        ("whole", o.whole.accepted_bytes == 16, SmallSendCut),
        ("part", first, AllOrNothing),
        ("none", last, NeverRefused),
        ("waited", waited, BlockingSendTookAll),
        ("every byte", o.peer_read_bytes == sent, BytesLost),
    ];
    let observed = say.checks(&checks).unwrap_or(PartialSend);
    Verdict::new(observed, o)
}
// ANCHOR_END: verdict

/// The default run's knobs (also the client role's and the server's).
#[derive(Debug, Clone, clap::Args)]
pub struct Knobs {
    /// SO_SNDBUF the sender asks for before connect(): a size, or auto.
    #[arg(long, global = true, value_name = "SIZE|auto",
          default_value = "16KiB", value_parser = args::parse_buffer_size)]
    sndbuf: BufferSize,
    /// SO_RCVBUF the peer asks for before listen(): a size, or auto.
    #[arg(long, global = true, value_name = "SIZE|auto",
          default_value = "64KiB", value_parser = args::parse_buffer_size)]
    rcvbuf: BufferSize,
    /// The message after the sixteen octets, 1 byte to 1 GiB.
    #[arg(long, global = true, value_name = "N", default_value = "4MiB",
          value_parser = |s: &str| args::parse_byte_count(s, 1, 1 << 30))]
    message_bytes: u64,
    /// SO_SNDTIMEO of step 3's blocking send, 1 to 10000 ms.
    #[arg(long, global = true, value_name = "MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    sndtimeo_ms: u64,
}

/// The manual roles.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Accept, read nothing for --hold-ms, then read to the end. Its own
    /// protocol (any bytes, up to the client's close): pair it with this
    /// experiment's client.
    Server {
        /// Interface and port to listen at.
        #[command(flatten)]
        at: args::ServerArgs,
        /// How long to read nothing, 0 to 600000 ms.
        #[arg(long, value_name = "MS", default_value_t = 2000,
              value_parser = clap::value_parser!(u64).range(0..=600_000))]
        hold_ms: u64,
    },
    /// Connect and show send()'s three cases, then sendall(). Its own
    /// protocol (`Hi there, server`, --message-bytes of `x`, then close):
    /// pair it with this experiment's server.
    Client(args::ClientArgs),
}

/// Experiment 03, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct PartialSend;

impl crate::lab::experiment::Experiment for PartialSend {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(k, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, k: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let say = &ctx.say;
        match role {
            Role::Server { at, hold_ms } => {
                let listener = listen_at(at.bind_addr()?, k.rcvbuf)?;
                let name = py_addr(&names::socket_name(&listener)?);
                say.say(format!("Listening at {name}"));
                server::serve(&listener, &at, ctx, None, |sc, peer| {
                    let who = py_addr(&peer);
                    say.say(format!("{who}: reading nothing for {hold_ms} ms"));
                    let hold = Duration::from_millis(hold_ms);
                    deadline::hold_unless_hung_up(sc, hold)?; // or cut off
                    server(sc, say).map(drop)
                })
            }
            Role::Client(a) => {
                let sock = connect_to(a.server_addr()?, k, ctx.timeout)?;
                let message =
                    process::bytes(k.message_bytes, |_| b'x').op("message")?;
                let timeo = Duration::from_millis(k.sndtimeo_ms);
                let (_, taken) = client(&sock, &message, timeo, say)?;
                sendall(&sock, &message[taken..], ctx.timeout, say)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
