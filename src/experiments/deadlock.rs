//! # 10 `deadlock`: the buffer-fill deadlock
//!
//! **Question.** What happens when a client sends a lot of data to a server
//! that answers every byte, but the client reads nothing until it has sent
//! everything?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, "Deadlock", p. 48 onward
//! (`tcp_deadlock.py`): the server reads up to 1024 bytes at a time and
//! sends them back upper-cased; the client sends `capitalize this!` over
//! and over, half-closes, and only then reads. With a few bytes it works.
//! With many, the replies fill the buffers on the way back, the server
//! blocks in `sendall()` and stops reading, the client's data fills the
//! buffers on the way there, and both programs are stuck for good.
//!
//! **Run.**
//! - `cargo run --bin deadlock`: the small case, the large case (caught and
//!   explained with the kernel's queues), and the fix; `-- --json` for a
//!   report, `-- --plot FILE.svg` to draw it.
//! - Two terminals, as in the book (the bytes of `tcp_deadlock.py`):
//!   `cargo run --bin deadlock -- server ""`, then
//!   `cargo run --bin deadlock -- client 127.0.0.1 1073741824`.
//!
//! **Chapter.** `chapters/10-deadlock.md`. What it measures, and how it
//! narrates that, is in `deadlock/report.rs`; its knobs in `deadlock/knobs.rs`.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::args::{self, BufferSize};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, Verdict};
use crate::lab::{deadline, kernel, names, peers, plot, process, pyfmt};
use crate::lab::{server, watch};

mod diagram;
mod knobs;
mod queues;
mod report;
mod wire;

pub use knobs::Knobs;
use knobs::{outputs, parse_bytecount, warn_if_slow};
pub use queues::{Buffers, Counts, Ends, Queues};
pub use report::{Case, Counters, Observed, Sender};
use report::{SERIES, label, narrate_fix, narrate_naive, watch_opts};
pub use wire::WireCase;

/// The client's sixteen-byte message, sent over and over.
pub const MESSAGE: &[u8; 16] = b"capitalize this!";
/// The most the book's server reads at a time, in bytes.
pub const SERVER_READ: usize = 1024;
/// The most the book's client reads at a time, in bytes.
pub const CLIENT_READ: usize = 42;
/// The most the fixed client's reader reads at a time, in bytes: our
/// choice, not the book's (42-byte reads would make the fix crawl).
pub const FIXED_CLIENT_READ: usize = 64 * 1024;

// ANCHOR: sendall
/// The book's `sendall()`: calls `send(2)` (through [`Write::write`]) until
/// the kernel has accepted all of `data`, keeping `me` up to date: the
/// bytes accepted, the bytes still held here, and whether we are waiting.
///
/// The socket is non-blocking, so each `send` takes what fits in the send
/// buffer and returns at once with the count. When nothing fits, we wait
/// in `poll(2)` for room. That is the wait Python's `sendall()` does inside
/// the kernel, made visible: it lets us count to the byte what the kernel
/// holds, know that this side is blocked, and give the wait a deadline
/// (`ETIMEDOUT` after `timeout`).
fn sendall(
    mut sock: &TcpStream,
    data: &[u8],
    me: &Sender,
    timeout: Duration,
) -> io::Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        me.held.store(rest.len() as u64, SeqCst);
        match sock.write(rest) {
            Ok(n) => {
                me.accepted.fetch_add(n as u64, SeqCst);
                rest = &rest[n..];
            }
            // The send buffer is full: wait until the peer's kernel
            // acknowledges bytes and so makes room.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                me.waiting.store(true, SeqCst);
                let waited = deadline::wait_writable(&sock, timeout);
                me.waiting.store(false, SeqCst);
                waited?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    me.held.store(0, SeqCst);
    Ok(())
}
// ANCHOR_END: sendall

// ANCHOR: server
/// The book's server, for one connection: read up to 1024 bytes, send them
/// back upper-cased, until the client half-closes (`recv` returns 0).
/// `sc` is non-blocking (see `sendall()` above); each wait has the
/// deadline `timeout`.
///
/// # Errors
/// A `recv(2)` or `send(2)` failed, or a wait passed `timeout`
/// (`ETIMEDOUT`).
pub fn serve(
    mut sc: &TcpStream,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<()> {
    let mut data = [0; SERVER_READ];
    loop {
        let n = deadline::recv_ready(&mut sc, &mut data, timeout)?;
        if n == 0 {
            return Ok(()); // the client shut down its sending side
        }
        counters.server_read.fetch_add(n as u64, SeqCst);
        let output = data[..n].to_ascii_uppercase();
        // While this waits, the server reads nothing: its receive queue fills.
        sendall(sc, &output, &counters.server, timeout)?;
    }
}
// ANCHOR_END: server

// ANCHOR: naive_client
/// The book's client: send `bytes` bytes of the message, `chunk` bytes per
/// `sendall()`; half-close; only then read the replies, 42 bytes at a time.
/// Returns the bytes received and how many were not the upper-cased message.
fn naive_client(
    sock: &TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    // Nobody reads the replies meanwhile: they pile up in our receive queue.
    send_messages(sock, bytes, chunk, counters, timeout)?;
    sock.shutdown(Shutdown::Write)?; // half-close: "no more data from me"
    receive_all(sock, CLIENT_READ, counters, timeout)
}

fn send_messages(
    sock: &TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<()> {
    let block: Vec<u8> = MESSAGE.iter().copied().cycle().take(chunk).collect();
    let mut sent = 0;
    while sent < bytes {
        let len = chunk.min((bytes - sent) as usize);
        let data = &block[..len];
        sendall(sock, data, &counters.client, timeout)?;
        sent += len as u64;
    }
    Ok(())
}
/// Reads until end of stream, at most `size` bytes per `recv()`, checking
/// each byte against the upper-cased message. Returns (bytes, wrong bytes).
fn receive_all(
    mut sock: &TcpStream,
    size: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    let mut data = process::bytes(size as u64, |_| 0)?;
    let (mut total, mut wrong) = (0u64, 0u64);
    loop {
        let n = deadline::recv_ready(&mut sock, &mut data, timeout)?;
        // The book's client prints what its first recv() returned.
        counters.first_received.get_or_init(|| data[..n].to_vec());
        if n == 0 {
            return Ok((total, wrong)); // the server closed: all replies are in
        }
        for (i, &b) in data[..n].iter().enumerate() {
            let want = MESSAGE[((total + i as u64) % 16) as usize];
            wrong += u64::from(b != want.to_ascii_uppercase());
        }
        total += n as u64;
        counters.client_received.fetch_add(n as u64, SeqCst);
    }
}
// ANCHOR_END: naive_client

// ANCHOR: fixed_client
/// The fix: a second thread reads the replies while this one writes, so
/// the client's receive queue never fills and the server never stops
/// reading.
fn reading_client(
    sock: &TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    std::thread::scope(|s| {
        let replies =
            s.spawn(|| receive_all(sock, FIXED_CLIENT_READ, counters, timeout));
        let written = send_messages(sock, bytes, chunk, counters, timeout)
            // Without this half-close the server never sees end of file,
            // never closes, and the reader waits: a second kind of hang.
            .and_then(|()| sock.shutdown(Shutdown::Write));
        if written.is_err() {
            let _ = sock.shutdown(Shutdown::Both); // wake the reader
        }
        let replies = replies.join().expect("the reader does not panic");
        written.and(replies)
    })
}
// ANCHOR_END: fixed_client

// ANCHOR: setup
/// The book's server setup, with our socket options set before `listen()`
/// so that accepted sockets inherit them: `socket()`, `SO_REUSEADDR`,
/// `SO_SNDBUF`/`SO_RCVBUF`, `TCP_RTO_MIN_US`, `bind()`, `listen(1)`.
/// [`Knobs::default`] sets none of those options: the OS's, as the
/// book's script leaves them.
///
/// # Errors
/// The call that failed, with its errno.
pub fn listen_at(addr: SocketAddr, k: &Knobs) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    set_options(&sock, k)?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}

/// The client's side: `socket()`, our options (before `connect()`, so the
/// buffer sizes bound the window from the first segment), `connect()`.
fn connect_to(
    addr: SocketAddr,
    k: &Knobs,
    timeout: Duration,
) -> Result<TcpStream, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    set_options(&sock, k)?;
    sock.connect_timeout(&addr.into(), timeout)
        .op(format_args!("connect to {addr}"))?;
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
    Ok(sock.into())
}

/// `setsockopt(2)` `SO_SNDBUF` and `SO_RCVBUF`, unless left to autotuning;
/// then `TCP_RTO_MIN_US`, our choice, not the book's: a segment the full
/// receiver dropped is sent again after 8 ms rather than 200 ms, so the
/// windows close sooner. Nothing else changes, and a kernel that refuses
/// the option (ENOPROTOOPT) only makes the verdict slower. The manual
/// roles set none of these unless asked (`None`: the OS's).
fn set_options(sock: &Socket, k: &Knobs) -> Result<(), SocketError> {
    if let Some(BufferSize::Bytes(n)) = k.sndbuf {
        sock.set_send_buffer_size(n)
            .op(format_args!("setsockopt SO_SNDBUF {n}"))?;
    }
    if let Some(BufferSize::Bytes(n)) = k.rcvbuf {
        sock.set_recv_buffer_size(n)
            .op(format_args!("setsockopt SO_RCVBUF {n}"))?;
    }
    if let Some(ms @ 1..) = k.rto_min_ms {
        let _ = kernel::set_rto_min(sock, ms * 1000);
    }
    Ok(())
}
// ANCHOR_END: setup

/// Which client a case runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    /// The book's: writes everything before it reads.
    Naive,
    /// The fix: reads on a second thread while it writes.
    Reading,
}

// ANCHOR: case
/// Runs one case on a fresh loopback connection: the book's server on one
/// thread, a client on another, and this thread watching the counters
/// until the client is done or nothing has moved for the stall window.
fn run_case(
    client: Client,
    bytes: u64,
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<(Case, plot::Chart)> {
    let census = peers::Census::take();
    let counters = Counters::default();
    let t = ctx.timeout;
    let listener = listen_at("127.0.0.1:0".parse()?, k)?;
    let sock = connect_to(names::socket_name(&listener)?, k, t)?;
    // connect() has returned: the kernel completed the handshake and
    // queued the connection. accept() collects it.
    let (sc, _) = server::accept_within(&listener, t)?;
    drop(listener);
    sc.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
    let sc = TcpStream::from(sc);
    let (watched, finished, evidence) = watch::while_running(
        &watch_opts(k, ctx, client == Client::Reading),
        || counters.watched(),
        // ANCHOR: cycle
        // The deadlock is a cycle of waits: both sides wait in poll() for
        // room to send, and each side's peer advertises a zero window, so
        // neither will read again. (TCP_INFO's tcpi_snd_wnd.)
        || {
            let zero = |s: &TcpStream| {
                let info = kernel::tcp_info(s).ok();
                info.and_then(|i| i.send_window_bytes) == Some(0)
            };
            let (c, s) = (&counters.client, &counters.server);
            c.waiting.load(SeqCst)
                && s.waiting.load(SeqCst)
                && zero(&sock)
                && zero(&sc)
        },
        // ANCHOR_END: cycle
        label,
        || {
            std::thread::scope(|s| {
                let server = s.spawn(|| {
                    let served = serve(&sc, &counters, t);
                    let _ = sc.shutdown(Shutdown::Write); // the book's close()
                    served
                });
                let (b, c) = (bytes, k.chunk);
                let result = match client {
                    Client::Naive => naive_client(&sock, b, c, &counters, t),
                    Client::Reading => {
                        reading_client(&sock, b, k.fix_chunk, &counters, t)
                    }
                };
                let _ = server.join();
                result
            })
        },
        // ANCHOR: stalled
        // Stalled: both sides are blocked in send(). Read the kernel's
        // queues while they are, then wake both with shutdown().
        || {
            let (c, s) = (&counters.client, &counters.server);
            let both = c.waiting.load(SeqCst) && s.waiting.load(SeqCst);
            let queues = Queues::read(&sock, &sc); // SIOCOUTQ, SIOCINQ
            let ends = Ends::read(&sock, &sc); // TCP_INFO
            // On the wire: windows of 0, and the probes that test them.
            let seen = wire::large_case(&ctx.wire, &sock, &sc, t);
            let _ = sock.shutdown(Shutdown::Both);
            let _ = sc.shutdown(Shutdown::Both);
            (both, queues, ends, seen)
        },
        // ANCHOR_END: stalled
    );
    let buffers = Buffers::read(&sock, &sc)?;
    let rto_min_us = kernel::rto_min_us(&sock).ok();
    drop((sock, sc));
    let (both_waiting, queues, tcp, wire) = match evidence {
        Some((both, queues, tcp, wire)) => (Some(both), queues, tcp, wire),
        None => (None, None, None, None),
    };
    let title = match client {
        Client::Naive => "the book's client: it never reads while it sends",
        Client::Reading => "the fix: a client that reads while it writes",
    };
    let chart = plot::Chart::from_samples(title, &SERIES, &watched.samples);
    let (returned, client_error) = match finished {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let timing = watched.timing;
    let secs = timing.elapsed_ms.max(1) as f64 / 1000.0;
    let mib_s = (bytes as f64 / 1048576.0 / secs * 10.0).round() / 10.0;
    let case = Case {
        bytes,
        chunk_bytes: match client {
            Client::Naive => k.chunk as u64,
            Client::Reading => k.fix_chunk as u64,
        },
        completed: !timing.stalled && returned == Some((bytes, 0)),
        timing,
        counts: counters.snapshot(),
        returned_bytes: returned.map(|r| r.0),
        returned_wrong_bytes: returned.map(|r| r.1),
        client_error,
        both_waiting,
        queues,
        tcp,
        wire,
        buffers,
        rto_min_us,
        throughput_mib_per_s: (client == Client::Reading).then_some(mib_s),
        left: census.left(),
    };
    Ok((case, chart))
}
// ANCHOR_END: case

// ANCHOR: experiment
/// The default run: the small case, the large case, the fix; the verdict.
fn experiment(
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let (plot_file, diagram_file) = outputs(k)?; // bad paths fail up front
    let say = &ctx.say;
    let mut charts = Vec::new();
    let (small, large) = if k.fixed {
        (None, None)
    } else {
        say.say("1. The small case: 16 bytes");
        let (small, _) = run_case(Client::Naive, MESSAGE.len() as u64, k, ctx)?;
        narrate_naive(say, &small);
        say.say(format!(
            "2. The large case: {} bytes; the client reads nothing \
             until all are sent",
            k.bytes
        ));
        let (large, chart) = run_case(Client::Naive, k.bytes, k, ctx)?;
        narrate_naive(say, &large);
        if let (Some(file), Some(q)) = (diagram_file, &large.queues) {
            file.write(&diagram::cycle_svg(q, large.tcp.as_ref())?)?;
            say.say(format!("   diagram written to {}", file.shown()));
        }
        charts.push(chart);
        (Some(small), Some(large))
    };
    warn_if_slow(k);
    let step = if k.fixed { "" } else { "3. " };
    say.say(format!(
        "{step}The fix: {} bytes, with a client that reads while it writes",
        k.bytes
    ));
    let (fixed, chart) = run_case(Client::Reading, k.bytes, k, ctx)?;
    narrate_fix(say, &fixed);
    charts.push(chart);
    if let Some(file) = plot_file {
        file.write(&plot::svg(&charts)?)?;
        say.say(format!("plot written to {}", file.shown()));
    }
    let o = Observed {
        small,
        large,
        fixed,
        peak_rss_bytes: process::peak_rss_bytes(),
    };
    let v = Verdict::new(verdict(&o, say), o);
    Ok(if k.fixed {
        v.expecting(Outcome::Completed)
    } else {
        v
    })
}
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// The small case completed; in the large case client and server both
    /// blocked, with the bytes each had sent accounted for in the queues and
    /// buffers; and the client that reads while it writes completed.
    Deadlock,
    /// The fix completed (`--fixed`, which runs the fix only).
    Completed,
    /// The fix stalled (`--fixed`, which runs the fix only).
    Stalled,
    /// The client that reads while it writes did not complete.
    FixFailed,
    /// The small case (16 bytes) did not complete.
    SmallCaseFailed,
    /// The large case completed: no deadlock.
    LargeCaseCompleted,
    /// The large case neither completed nor stalled: it failed.
    LargeCaseFailed,
    /// The large case stalled, but the bytes sent and the bytes read and
    /// queued did not add up.
    LedgerUnbalanced,
    /// On the wire, a side of the large case never advertised a window
    /// of 0.
    NoZeroWindowOnWire,
    /// On the wire, a side of the large case sent no zero-window probe.
    NoProbesOnWire,
}

// ANCHOR: verdict
/// The outcome, from the cases: the small one completes, the large one
/// stalls with a balanced ledger, and the fix completes; on the wire, the
/// large case's two windows of 0 and a probe of each.
pub fn verdict(o: &Observed, say: &crate::lab::narrate::Narrator) -> Outcome {
    let seen = o.large.as_ref().and_then(|l| l.wire.as_ref());
    let check = |f: fn(&WireCase) -> bool| seen.and_then(|w| w.check(f));
    let wire = [
        (
            "both windows 0",
            check(WireCase::both_zero),
            Outcome::NoZeroWindowOnWire,
        ),
        (
            "each window probed",
            check(WireCase::both_probed),
            Outcome::NoProbesOnWire,
        ),
    ];
    let on_wire = if seen.is_some() { &wire[..] } else { &[] };
    let failed = say.checks_on_wire(&[], on_wire);
    match (&o.small, &o.large) {
        (None, _) | (_, None) if o.fixed.completed => Outcome::Completed,
        (None, _) | (_, None) if o.fixed.timing.stalled => Outcome::Stalled,
        (None, _) | (_, None) => Outcome::FixFailed,
        (Some(small), _) if !small.completed => Outcome::SmallCaseFailed,
        (_, Some(large)) if large.completed => Outcome::LargeCaseCompleted,
        (_, Some(large)) if !large.timing.stalled => Outcome::LargeCaseFailed,
        (_, Some(large)) if large.ledger_balanced() == Some(false) => {
            Outcome::LedgerUnbalanced
        }
        _ if !o.fixed.completed => Outcome::FixFailed,
        _ => failed.unwrap_or(Outcome::Deadlock),
    }
}
// ANCHOR_END: verdict

/// The manual roles, as in the book.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Upper-case and send back what clients send, like `tcp_deadlock.py
    /// server`. Its buffers and RTO are the OS's unless --sndbuf, --rcvbuf
    /// or --rto-min-ms is given.
    Server(args::ServerArgs),
    /// Send BYTECOUNT bytes without reading, then read, like
    /// `tcp_deadlock.py client`. Exits 0 if every byte came back, 1 if it
    /// stalled. Its buffers and RTO are the OS's unless --sndbuf, --rcvbuf
    /// or --rto-min-ms is given.
    Client {
        /// The server's host and port.
        #[command(flatten)]
        target: args::ClientArgs,
        /// Bytes to send, 0 to 1 TiB, rounded up to a multiple of 16
        /// (suffixes: 64MiB).
        #[arg(value_name = "BYTECOUNT", default_value = "16", value_parser = parse_bytecount)]
        bytecount: u64,
    },
}

// ANCHOR: manual_server
/// The manual server: `tcp_deadlock.py server`, one client at a time.
fn manual_server(
    a: &args::ServerArgs,
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<ExitCode> {
    let listener = listen_at(a.bind_addr()?, k)?;
    let at = names::socket_name(&listener)?;
    ctx.say.say(format!("Listening at {}", pyfmt::py_addr(&at)));
    server::serve(&listener, a, ctx, None, |sc, peer| {
        let from = pyfmt::py_addr(&peer);
        ctx.say.say(format!(
            "Processing up to {SERVER_READ} bytes at a time from {from}"
        ));
        sc.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
        let counters = Counters::default();
        let served = serve(sc, &counters, ctx.timeout);
        let n = counters.server_read.load(SeqCst);
        ctx.say.say(format!("  {n} bytes processed so far"));
        ctx.say.say("  Socket closed");
        Ok(served
            .op("serve")
            .map_err(|e| match e.errno_name().as_deref() {
                Some("ETIMEDOUT") => e.hint(
                    "sendall() could not send for --timeout-ms: the client \
                 is not reading its replies (experiment 10's deadlock)",
                ),
                _ => e,
            })?)
    })
}
// ANCHOR_END: manual_server

// ANCHOR: manual_client
/// The manual client: `tcp_deadlock.py client HOST BYTECOUNT`. Where the
/// book's would hang, it tells a deadlock (the server's window is 0) from
/// a server that is merely silent, and exits 1.
fn manual_client(
    a: &args::ClientArgs,
    bytes: u64,
    k: &Knobs,
    ctx: &Ctx,
) -> anyhow::Result<ExitCode> {
    let (addr, say, t) = (a.server_addr()?, &ctx.say, ctx.timeout);
    say.say(format!(
        "Sending {bytes} bytes of data, in chunks of {} bytes",
        k.chunk
    ));
    let sock = connect_to(addr, k, t)?;
    let counters = Counters::default();
    let (watched, result, stall) = watch::while_running(
        &watch_opts(k, ctx, false), // the book's client: it never reads
        || counters.watched(),
        || false, // it sees only its own side: silence decides
        label,
        || naive_client(&sock, bytes, k.chunk, &counters, t),
        || {
            let window = kernel::tcp_info(&sock)
                .ok()
                .and_then(|i| i.send_window_bytes);
            let queued = kernel::send_queue_bytes(&sock).unwrap_or(0);
            let _ = sock.shutdown(Shutdown::Both); // wake our own send()
            (window, queued)
        },
    );
    say.say(format!(
        "  {} bytes sent",
        counters.client.accepted.load(SeqCst)
    ));
    let Some((window, queued)) = stall else {
        let (received, wrong) =
            result.op(format_args!("exchange with {addr}"))?;
        say.say("Receiving all the data the server sends back");
        if let Some(first) = counters.first_received.get() {
            let first = pyfmt::py_bytes(first);
            say.say(format!("  The first data received says {first}"));
        }
        say.say(format!(
            "  {received} bytes received, {wrong} of them wrong"
        ));
        return Ok(ExitCode::from(u8::from(wrong > 0)));
    };
    let quiet = watched.timing.elapsed_ms - watched.timing.last_progress_ms;
    say.say(format!("STALLED: no byte moved for {quiet} ms."));
    let lines = match window {
        Some(0) => [
            format!("  The server's window is 0; {queued} bytes wait in our"),
            "  send queue: the server stopped reading. The deadlock.".into(),
        ],
        Some(w) => [
            format!("  The server's window is still {w} bytes: it is not"),
            "  answering, but this is not the deadlock.".into(),
        ],
        None => [
            "  (TCP_INFO's window is not available here.)".into(),
            "".into(),
        ],
    };
    lines
        .iter()
        .filter(|l| !l.is_empty())
        .for_each(|l| say.say(l));
    say.say(
        "  The fix: read while writing (cargo run --bin deadlock -- --fixed).",
    );
    Ok(ExitCode::from(crate::lab::cli::EXIT_MISMATCH))
}
// ANCHOR_END: manual_client

/// Experiment 10, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct Deadlock;

impl crate::lab::experiment::Experiment for Deadlock {
    type Knobs = Knobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(k: &Knobs, ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
        // 64 KiB buffers and an 8 ms RTO, unless given; the roles keep the
        // OS's.
        knobs::check_timeout(k, ctx.timeout)?;
        experiment(&k.for_default_run(), ctx)
    }

    /// Autotuned buffers (`--sndbuf auto`, `--rcvbuf auto`) are the
    /// host's: the run keeps its `tcp_rmem` and `tcp_wmem`.
    fn host_sysctls(k: &Knobs) -> &'static [&'static str] {
        let auto = Some(BufferSize::Auto);
        if k.sndbuf == auto || k.rcvbuf == auto {
            &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]
        } else {
            &[]
        }
    }

    fn role(role: Role, k: &Knobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match role {
            Role::Server(a) => manual_server(&a, k, ctx),
            Role::Client { target, bytecount } => {
                manual_client(&target, bytecount, k, ctx)
            }
        }
    }
}
