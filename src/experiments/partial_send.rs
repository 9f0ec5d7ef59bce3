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
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::args::{self, BufferSize};
use crate::error::{Op, SocketError};
use crate::experiments::sixteen::HELLO;
use crate::narrate::Narrator;
use crate::pyfmt::py_addr;
use crate::report::Errno;
use crate::run::{Ctx, Verdict};
use crate::{deadline, kernel, names, peers, server};

/// One `send(2)`: what it was handed, what the kernel accepted.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sent {
    /// The bytes handed to `send()`.
    pub asked_bytes: u64,
    /// The bytes the kernel accepted: what `send()` returned; 0 if it failed.
    pub accepted_bytes: u64,
    /// Why `send()` failed (`EAGAIN`: no room); `None` if it returned a count.
    pub errno: Option<Errno>,
    /// The send queue just after (`SIOCOUTQ`): accepted, not yet
    /// acknowledged by the peer, in bytes; `None` off Linux.
    pub send_queue_bytes: Option<u64>,
}

/// What the sender saw, step by step.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sends {
    /// `SO_SNDBUF` read back after `connect()`, in bytes.
    pub sndbuf_bytes: u64,
    /// Step 1: a blocking `send()` of sixteen octets.
    pub whole: Sent,
    /// Steps 2 and 3: non-blocking sends until one failed.
    pub nonblocking: Vec<Sent>,
    /// Step 3: a blocking `send()` with `SO_SNDTIMEO` set.
    pub timed: Sent,
    /// How long that `send()` took, in ms.
    pub timed_waited_ms: u64,
    /// Step 4: `sendall()` of the rest (accepted only if all was).
    pub sendall: Sent,
}

/// What the default run observed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// `--sndbuf` asked with `setsockopt`, bytes; `None`: autotuned.
    pub sndbuf_asked_bytes: Option<u64>,
    /// `--rcvbuf` the peer asked for, bytes; `None`: autotuned.
    pub rcvbuf_asked_bytes: Option<u64>,
    /// The peer's `SO_RCVBUF` read back, in bytes.
    pub peer_rcvbuf_bytes: u64,
    /// The message after step 1's sixteen octets (`--message-bytes`).
    pub message_bytes: u64,
    /// `SO_SNDTIMEO` of step 3's blocking send (`--sndtimeo-ms`), in ms.
    pub sndtimeo_ms: u64,
    /// What the sender saw.
    pub sends: Sends,
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
    sndbuf: BufferSize,
    timeout: Duration,
) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    if let BufferSize::Bytes(n) = sndbuf {
        sock.set_send_buffer_size(n).op("setsockopt SO_SNDBUF")?;
    }
    deadline::set_timeouts(&sock, timeout)?;
    sock.connect_timeout(&addr.into(), timeout)
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
/// three cases of `send()`, then `sendall()` of what is left of `message`.
/// `peer_reads()` comes just before `sendall()`: the default run lets its
/// peer start reading there (the manual server starts by itself).
fn client(
    sock: &Socket,
    message: &[u8],
    sndtimeo: Duration,
    timeout: Duration,
    peer_reads: impl FnOnce(),
) -> anyhow::Result<Sends> {
    let sndbuf_bytes = sock.send_buffer_size().op("getsockopt SO_SNDBUF")?;
    // 1. A blocking send of sixteen octets: the kernel takes them all.
    let whole = send(sock, HELLO).op("send")?;
    // 2. Non-blocking: each send takes what fits and returns at once,
    // 3. until there is no room at all and send fails with EAGAIN.
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?;
    let (mut nonblocking, mut rest) = (Vec::new(), message);
    while !rest.is_empty() {
        let sent = send(sock, rest).op("send")?;
        rest = &rest[sent.accepted_bytes as usize..];
        let refused = sent.errno.is_some();
        nonblocking.push(sent);
        if refused {
            break;
        }
    }
    // 3. A blocking send would wait here for room; SO_SNDTIMEO ends it.
    sock.set_nonblocking(false).op("fcntl ~O_NONBLOCK")?;
    sock.set_write_timeout(Some(sndtimeo))
        .op("setsockopt SO_SNDTIMEO")?;
    let started = Instant::now();
    let timed = send(sock, rest).op("send")?;
    let timed_waited_ms = started.elapsed().as_millis() as u64;
    rest = &rest[timed.accepted_bytes as usize..];
    // 4. sendall(): write_all() sends until the kernel has taken every
    // byte, which it can only do as the peer reads.
    peer_reads();
    sock.set_write_timeout(Some(timeout))
        .op("setsockopt SO_SNDTIMEO")?;
    let mut writer: &Socket = sock;
    writer.write_all(rest).op("sendall")?;
    let sendall = Sent {
        asked_bytes: rest.len() as u64,
        accepted_bytes: rest.len() as u64,
        errno: None,
        send_queue_bytes: kernel::send_queue_bytes(sock).ok().map(u64::from),
    };
    sock.shutdown(Shutdown::Write).op("shutdown")?; // the peer reads 0
    let sndbuf_bytes = sndbuf_bytes as u64;
    Ok(Sends {
        sndbuf_bytes,
        whole,
        nonblocking,
        timed,
        timed_waited_ms,
        sendall,
    })
}
// ANCHOR_END: client

// ANCHOR: server
/// The peer, once it starts reading: the bytes waiting unread in its
/// receive queue (`SIOCINQ`), then every byte, to the end of the stream.
fn server(mut sc: &TcpStream) -> anyhow::Result<(u64, u64)> {
    let waiting = kernel::recv_queue_bytes(&sc).op("ioctl SIOCINQ")?;
    // recv() in a loop until it returns 0, counting the bytes.
    let read = io::copy(&mut sc, &mut io::sink()).op("recv")?;
    Ok((waiting.into(), read))
}
// ANCHOR_END: server

// ANCHOR: experiment
/// The default run: one connection; the peer reads only at step 4.
fn experiment(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed>> {
    let listener = listen_at("127.0.0.1:0".parse()?, k.rcvbuf)?;
    let at = names::socket_name(&listener)?;
    let sock = connect_to(at, k.sndbuf, ctx.timeout)?;
    let (sc, _) = server::accept_within(&listener, ctx.timeout)?;
    deadline::set_timeouts(&sc, ctx.timeout)?;
    let sc = TcpStream::from(sc);
    let message = vec![b'x'; k.message_bytes as usize];
    let sndtimeo = Duration::from_millis(k.sndtimeo_ms);
    let (go, told) = mpsc::channel();
    let (peer, timeout) = (&sc, ctx.timeout);
    let ((peer_waiting_bytes, peer_read_bytes), sends) = peers::pair(
        &ctx.say,
        move |_| match told.recv_timeout(timeout) {
            Ok(()) => server(peer),
            Err(_) => Ok((0, 0)), // the client failed: its error tells why
        },
        |_| {
            let go = || go.send(()).unwrap_or(()); // the peer may read now
            client(&sock, &message, sndtimeo, ctx.timeout, go)
        },
    )?;
    let rcvbuf = SockRef::from(&sc).recv_buffer_size().op("SO_RCVBUF")?;
    drop((sock, sc, listener)); // close()
    let asked = |b: BufferSize| match b {
        BufferSize::Bytes(n) => Some(n as u64),
        BufferSize::Auto => None,
    };
    let o = Observed {
        sndbuf_asked_bytes: asked(k.sndbuf),
        rcvbuf_asked_bytes: asked(k.rcvbuf),
        peer_rcvbuf_bytes: rcvbuf as u64,
        message_bytes: k.message_bytes,
        sndtimeo_ms: k.sndtimeo_ms,
        sends,
        peer_waiting_bytes,
        peer_read_bytes,
    };
    say_sends(&ctx.say, &o.sends, o.sndbuf_asked_bytes, o.sndtimeo_ms);
    let server_says = ctx.say.server();
    server_says.say(format!(
        "SO_RCVBUF asked {}, read back {}",
        shown(o.rcvbuf_asked_bytes),
        o.peer_rcvbuf_bytes
    ));
    server_says.say(format!(
        "read only now: SIOCINQ {} bytes were waiting (this run)",
        o.peer_waiting_bytes
    ));
    server_says.say(format!(
        "read {} bytes, then the end of the stream",
        o.peer_read_bytes
    ));
    Ok(verdict(o, &ctx.say))
}
// ANCHOR_END: experiment

// ANCHOR: verdict
/// The verdict, from the counts and errnos the kernel returned.
fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed> {
    let s = &o.sends;
    let eagain =
        |x: &Sent| x.errno.as_ref().is_some_and(|e| e.name == "EAGAIN");
    let first = s.nonblocking.first();
    let checks = [
        ("whole", s.whole.accepted_bytes == 16),
        (
            "part",
            first.is_some_and(|x| {
                (1..x.asked_bytes).contains(&x.accepted_bytes)
            }),
        ),
        ("none", s.nonblocking.last().is_some_and(eagain)),
        ("waited", s.timed.accepted_bytes < s.timed.asked_bytes),
        ("every byte", o.peer_read_bytes == 16 + o.message_bytes),
    ];
    let marks: Vec<String> = checks
        .iter()
        .map(|(what, ok)| format!("{what} {}", if *ok { "✓" } else { "✗" }))
        .collect();
    say.say(format!("checks: {}", marks.join(", ")));
    let observed = match checks.iter().position(|(_, ok)| !ok) {
        None => "partial_send",
        Some(0) => "small_send_cut",
        Some(1) => "all_or_nothing",
        Some(2) => "never_refused",
        Some(3) => "blocking_send_took_all",
        Some(_) => "bytes_lost",
    };
    Verdict::new(observed, o)
}
// ANCHOR_END: verdict

/// A size asked for, or `auto`.
fn shown(asked: Option<u64>) -> String {
    asked.map_or("nothing (auto)".into(), |n| n.to_string())
}

/// The sender's narration, from what it saw (default run and client role).
fn say_sends(say: &Narrator, s: &Sends, sndbuf: Option<u64>, timeo: u64) {
    let c = say.client();
    let q = |x: &Sent| x.send_queue_bytes.map_or("?".into(), |n| n.to_string());
    let outcome = |x: &Sent| match &x.errno {
        Some(e) => format!("failed: {}", e.name),
        None => format!("returned {}", x.accepted_bytes),
    };
    c.say(format!(
        "SO_SNDBUF asked {}, read back {}",
        shown(sndbuf),
        s.sndbuf_bytes
    ));
    say.say("1. Accepted whole: a blocking send() of sixteen octets");
    c.say(format!(
        "send({}) {}",
        s.whole.asked_bytes,
        outcome(&s.whole)
    ));
    c.say(format!(
        "  SIOCOUTQ: {} bytes unacknowledged (this run)",
        q(&s.whole)
    ));
    say.say("2. Accepted in part: non-blocking; the peer reads nothing");
    if let Some(first) = s.nonblocking.first() {
        c.say(format!("send({}) {}", first.asked_bytes, outcome(first)));
        c.say(format!("  SIOCOUTQ: {} bytes (this run)", q(first)));
    }
    let (more, last) = match s.nonblocking.len() {
        0 | 1 => (&[][..], None),
        n => (&s.nonblocking[1..n - 1], s.nonblocking.last()),
    };
    let took: u64 = more.iter().map(|x| x.accepted_bytes).sum();
    c.say(format!(
        "the next {} sends accepted {took} bytes more (this run)",
        more.len()
    ));
    say.say("3. Accepted none: no room left");
    if let Some(last) = last {
        c.say(format!("send({}) {}", last.asked_bytes, outcome(last)));
        c.say(format!("  SIOCOUTQ: {} bytes (this run)", q(last)));
    }
    c.say(format!(
        "blocking, SO_SNDTIMEO {timeo} ms: send() returned after {} ms,",
        s.timed_waited_ms
    ));
    c.say(format!(
        "  having accepted {} bytes (this run)",
        s.timed.accepted_bytes
    ));
    say.say("4. sendall(): write_all() of the rest, as the peer reads");
    c.say(format!(
        "write_all({}) returned: all accepted",
        s.sendall.asked_bytes
    ));
    c.say(format!("  SIOCOUTQ: {} bytes (this run)", q(&s.sendall)));
}

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
    /// Accept, read nothing for --hold-ms, then read to the end.
    Server {
        /// Interface and port to listen at.
        #[command(flatten)]
        at: args::ServerArgs,
        /// How long to read nothing, 0 to 600000 ms.
        #[arg(long, value_name = "MS", default_value_t = 2000,
              value_parser = clap::value_parser!(u64).range(0..=600_000))]
        hold_ms: u64,
    },
    /// Connect and show send()'s three cases, then sendall().
    Client(args::ClientArgs),
}

/// Experiment 03, for [`crate::run::main`].
#[derive(Debug)]
pub struct PartialSend;

impl crate::run::Experiment for PartialSend {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed>> {
        experiment(k, ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, k: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match role {
            Role::Server { at, hold_ms } => {
                let listener = listen_at(at.bind_addr()?, k.rcvbuf)?;
                let name = names::socket_name(&listener)?;
                ctx.say.say(format!("Listening at {}", py_addr(&name)));
                server::serve(&listener, &at, ctx, None, |sc, peer| {
                    let who = py_addr(&peer);
                    ctx.say.say(format!(
                        "{who}: reading nothing for {hold_ms} ms"
                    ));
                    std::thread::sleep(Duration::from_millis(hold_ms));
                    let (waiting, read) = server(sc)?;
                    ctx.say
                        .say(format!("  SIOCINQ {waiting} bytes were waiting"));
                    ctx.say.say(format!("  read {read} bytes, then the end"));
                    Ok(())
                })
            }
            Role::Client(a) => {
                let sock = connect_to(a.server_addr()?, k.sndbuf, ctx.timeout)?;
                let message = vec![b'x'; k.message_bytes as usize];
                let timeo = Duration::from_millis(k.sndtimeo_ms);
                let s = client(&sock, &message, timeo, ctx.timeout, || ())?;
                let sndbuf = match k.sndbuf {
                    BufferSize::Bytes(n) => Some(n as u64),
                    BufferSize::Auto => None,
                };
                say_sends(&ctx.say, &s, sndbuf, k.sndtimeo_ms);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
