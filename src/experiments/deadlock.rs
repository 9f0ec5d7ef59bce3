//! # 10 `deadlock`: the buffer-fill deadlock
//!
//! **Question.** What happens when a client sends a lot of data to a server
//! that answers every byte, but the client reads nothing until it has sent
//! everything?
//!
//! **The book.** FOPNP 3rd ed. (Rhodes & Goerzen), ch. 3, "Deadlock", p. 48
//! onward (`tcp_deadlock.py`): the server reads up to 1024 bytes at a time
//! and sends them back upper-cased with `sendall()`; the client sends
//! `capitalize this!` over and over, then half-closes and starts reading.
//! With a few bytes it works. With many, the replies fill the server's send
//! buffer and the client's receive queue; the server blocks in `sendall()`
//! and stops reading; then the client's data fills the server's receive
//! queue and the client's send buffer, and both sides block forever.
//!
//! **Run.**
//! - `cargo run --bin deadlock`: the small case, the large case (the
//!   deadlock, detected and explained with the kernel's queues), and the fix,
//!   in about a second; `--json` for a report, `--plot FILE.svg` to draw it.
//! - Two terminals, as in the book (wire-compatible with `tcp_deadlock.py`):
//!   `cargo run --bin deadlock -- server ""` then
//!   `cargo run --bin deadlock -- client 127.0.0.1 1073741824`.
//!
//! **Chapter.** `chapters/10-deadlock.md`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};

use crate::{cli, deadline, error, kernel, plot, registry, report, watch};

/// The client's sixteen-byte message, sent over and over.
pub const MESSAGE: &[u8; 16] = b"capitalize this!";
/// The most the book's server reads at a time, in bytes.
pub const SERVER_READ: usize = 1024;
/// The most the book's client reads at a time, in bytes.
pub const CLIENT_READ: usize = 42;
/// The most the fixed client's reader thread reads at a time, in bytes: our
/// choice, not the book's (42-byte reads would make the fix crawl).
pub const FIXED_CLIENT_READ: usize = 64 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "deadlock",
    about = "10: the buffer-fill deadlock of a client that never reads (FOPNP ch. 3, p. 48)"
)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Print one JSON report instead of the narration (default run only).
    #[arg(long, global = true)]
    json: bool,
    /// Bytes the large case and the fix send, rounded up to a multiple of 16
    /// (accepts suffixes: 4MiB, 1GiB).
    #[arg(long, value_name = "N", default_value = "2MiB", value_parser = parse_bytes)]
    bytes: u64,
    /// Bytes the client hands to each sendall() (the book: 16).
    #[arg(long, global = true, value_name = "N", default_value = "16", value_parser = parse_chunk)]
    chunk: usize,
    /// SO_SNDBUF for both sides, set before connect/listen: a size, or auto
    /// to leave the kernel's autotuning.
    #[arg(long, global = true, value_name = "SIZE|auto", default_value = "64KiB", value_parser = cli::parse_buffer_size)]
    sndbuf: cli::BufferSize,
    /// SO_RCVBUF for both sides, set before connect/listen: a size, or auto.
    #[arg(long, global = true, value_name = "SIZE|auto", default_value = "64KiB", value_parser = cli::parse_buffer_size)]
    rcvbuf: cli::BufferSize,
    /// Declare a deadlock after this many ms without any byte moving.
    #[arg(long, global = true, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    stall_ms: u64,
    /// Run only the fix: a client that reads while it writes.
    #[arg(long)]
    fixed: bool,
    /// Draw bytes sent and received against time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Backstop deadline for every blocking connect, accept, send and recv,
    /// in ms (the stall window normally ends things first).
    #[arg(long, global = true, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Upper-case and send back whatever clients send, like `tcp_deadlock.py server`.
    Server(cli::ServerArgs),
    /// Send BYTECOUNT bytes without reading, then read, like `tcp_deadlock.py client`.
    /// Exits 0 if every byte came back, 1 if it stalled (the deadlock).
    Client {
        #[command(flatten)]
        target: cli::ClientArgs,
        /// Bytes to send, rounded up to a multiple of 16 (accepts 64MiB-style suffixes).
        #[arg(value_name = "BYTECOUNT", default_value = "16", value_parser = parse_bytes)]
        bytecount: u64,
    },
}

/// `--bytes` and the client's BYTECOUNT: rounded up to a multiple of 16, as
/// the book's client sends whole 16-byte messages.
fn parse_bytes(s: &str) -> Result<u64, String> {
    Ok(cli::parse_byte_count(s, 1, u64::MAX)?.div_ceil(16) * 16)
}

/// `--chunk`: from 1 byte to 16 MiB per sendall().
fn parse_chunk(s: &str) -> Result<usize, String> {
    Ok(cli::parse_byte_count(s, 1, 16 << 20)? as usize)
}

/// Runs experiment 10 with a full argument list (`args[0]` is the program
/// name) and returns its exit status: 0 as the book predicts, 1 otherwise,
/// 2 for a usage or environment error.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let entry = registry::find("deadlock").expect("deadlock is registered");
    report::finish(
        entry,
        args.json && args.role.is_none(),
        match &args.role {
            None => experiment(&args),
            Some(Role::Server(server_args)) => server(&args, server_args),
            Some(Role::Client { target, bytecount }) => client(&args, target, *bytecount),
        },
    )
}

/// Byte counters, each bumped right after the call it counts returns, so
/// that they always say exactly what the kernel accepted or handed over.
#[derive(Debug, Default)]
struct Counters {
    /// Bytes the client's send() calls got the kernel to accept.
    client_accepted: AtomicU64,
    /// Bytes the client's recv() calls returned.
    client_received: AtomicU64,
    /// Bytes the server's recv() calls returned.
    server_read: AtomicU64,
    /// Bytes the server's send() calls got the kernel to accept.
    server_accepted: AtomicU64,
    /// Bytes the server has read but not yet got the kernel to accept: the
    /// rest of the reply it is trying to sendall().
    server_held: AtomicU64,
}

// ANCHOR: sendall
/// The book's `sendall()`: calls `send(2)` (through [`Write::write`]) until
/// the kernel has accepted all of `data`, adding each call's count to
/// `accepted`; `held`, if given, tracks the bytes still waiting here.
///
/// The socket is non-blocking, so each `send` takes what fits in the send
/// buffer and returns at once with the count. When nothing fits, we wait in
/// `poll(2)` for room. That is the wait Python's `sendall()` does inside
/// the kernel, made visible: it lets us count to the byte what the kernel
/// holds, and give the wait a deadline (`ETIMEDOUT` after `timeout`).
fn sendall(
    sock: &mut TcpStream,
    data: &[u8],
    accepted: &AtomicU64,
    held: Option<&AtomicU64>,
    timeout: Duration,
) -> io::Result<()> {
    let mut rest = data;
    while !rest.is_empty() {
        if let Some(held) = held {
            held.store(rest.len() as u64, SeqCst);
        }
        match sock.write(rest) {
            Ok(n) => {
                accepted.fetch_add(n as u64, SeqCst);
                rest = &rest[n..];
            }
            // The send buffer is full: wait until the peer's kernel makes room.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                deadline::wait_writable(sock, timeout)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if let Some(held) = held {
        held.store(0, SeqCst);
    }
    Ok(())
}
// ANCHOR_END: sendall

/// One `recv(2)` on a non-blocking socket, waiting in `poll(2)` (at most
/// `timeout`) until there is something to return. `Ok(0)` is end of stream.
fn recv(sock: &mut TcpStream, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
    loop {
        match sock.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                deadline::wait_readable(sock, timeout)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

// ANCHOR: server
/// The book's server, for one connection: read up to 1024 bytes, send them
/// back upper-cased, until the client half-closes (recv returns 0).
fn serve(sc: &mut TcpStream, counters: &Counters, timeout: Duration) -> io::Result<()> {
    let mut data = [0; SERVER_READ];
    loop {
        let n = recv(sc, &mut data, timeout)?;
        if n == 0 {
            return Ok(()); // the client shut down its sending side
        }
        counters.server_read.fetch_add(n as u64, SeqCst);
        let output = data[..n].to_ascii_uppercase();
        // While this waits, the server reads nothing: its receive queue fills.
        sendall(
            sc,
            &output,
            &counters.server_accepted,
            Some(&counters.server_held),
            timeout,
        )?;
    }
}
// ANCHOR_END: server

// ANCHOR: naive_client
/// Sends `bytes` bytes of the message, `chunk` bytes per sendall(), as the
/// book's client does.
fn send_messages(
    sock: &mut TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<()> {
    let mut sent = 0;
    let mut block = vec![0; chunk];
    while sent < bytes {
        let len = chunk.min((bytes - sent) as usize);
        fill(&mut block[..len], sent);
        sendall(
            sock,
            &block[..len],
            &counters.client_accepted,
            None,
            timeout,
        )?;
        sent += len as u64;
    }
    Ok(())
}

/// The book's client: send everything, half-close, and only then read.
/// Returns the bytes received and how many of them were not the upper-cased
/// message.
fn naive_client(
    sock: &mut TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Counters,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    // Nobody reads the replies meanwhile: they pile up in our receive queue.
    send_messages(sock, bytes, chunk, counters, timeout)?;
    sock.shutdown(Shutdown::Write)?; // half-close: "no more data from me"
    receive_all(sock, CLIENT_READ, &counters.client_received, timeout)
}
// ANCHOR_END: naive_client

// ANCHOR: fixed_client
/// The fix: a second thread reads the replies while this one writes, so the
/// client's receive queue never fills and the server never stops reading.
fn reading_client(
    sock: &mut TcpStream,
    bytes: u64,
    chunk: usize,
    counters: &Arc<Counters>,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    let mut reader = sock.try_clone()?; // the same socket, a second handle
    let reader_counters = Arc::clone(counters);
    let replies = thread::spawn(move || {
        receive_all(
            &mut reader,
            FIXED_CLIENT_READ,
            &reader_counters.client_received,
            timeout,
        )
    });
    let written = send_messages(sock, bytes, chunk, counters, timeout).and_then(|()| {
        // Without this half-close the server never sees end-of-file, never
        // closes, and the reader waits forever: a second kind of hang.
        sock.shutdown(Shutdown::Write)
    });
    if written.is_err() {
        let _ = sock.shutdown(Shutdown::Both); // wake the reader
    }
    let received = replies.join().expect("the reader thread does not panic");
    written?;
    received
}
// ANCHOR_END: fixed_client

/// Reads until end of stream, at most `size` bytes per recv() call,
/// checking each byte against the upper-cased message. Returns (bytes,
/// wrong bytes).
fn receive_all(
    sock: &mut TcpStream,
    size: usize,
    received: &AtomicU64,
    timeout: Duration,
) -> io::Result<(u64, u64)> {
    let mut data = vec![0; size];
    let (mut total, mut wrong) = (0u64, 0u64);
    loop {
        let n = recv(sock, &mut data, timeout)?;
        if n == 0 {
            return Ok((total, wrong)); // the server closed: all replies are in
        }
        for (i, &b) in data[..n].iter().enumerate() {
            wrong +=
                u64::from(b != MESSAGE[((total + i as u64) % 16) as usize].to_ascii_uppercase());
        }
        total += n as u64;
        received.fetch_add(n as u64, SeqCst);
    }
}

/// Fills `block` with the message, continuing from stream offset `offset`.
fn fill(block: &mut [u8], offset: u64) {
    for (i, b) in block.iter_mut().enumerate() {
        *b = MESSAGE[((offset + i as u64) % 16) as usize];
    }
}

/// Which client a case runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    /// The book's: writes everything before it reads.
    Naive,
    /// The fix: reads on a second thread while it writes.
    Reading,
}

/// The four kernel queues at the stall, and the ledger they must balance.
#[derive(Debug, Clone, Copy)]
struct Queues {
    client_send: u64,
    server_recv: u64,
    server_send: u64,
    client_recv: u64,
}

/// Everything one case observed.
#[derive(Debug)]
struct Case {
    client: Client,
    bytes: u64,
    chunk: usize,
    watched: watch::Watched,
    /// The client's (bytes received, wrong bytes) if it finished.
    finished: Option<(u64, u64)>,
    counts: [u64; 5],
    queues: Option<Queues>,
    /// TCP_INFO of (client, server) at the stall.
    info: Option<(kernel::TcpInfo, kernel::TcpInfo)>,
    /// SO_SNDBUF and SO_RCVBUF read back: client send, client recv, server send, server recv.
    buffers: [usize; 4],
    threads_left: Option<i64>,
    fds_left: Option<i64>,
}

impl Case {
    fn completed(&self) -> bool {
        !self.watched.stalled && self.finished == Some((self.bytes, 0))
    }

    fn ledger(&self) -> Option<[(u64, u64); 3]> {
        Some(ledger(self.counts, self.queues?))
    }

    fn balanced(&self) -> bool {
        self.ledger().is_some_and(balanced)
    }
}

/// The three ledger lines, each as (left side, right side), from the
/// counters `[client accepted, client received, server read, server
/// accepted, server held]` and the four queues.
fn ledger(counts: [u64; 5], q: Queues) -> [(u64, u64); 3] {
    let [
        client_accepted,
        _,
        server_read,
        server_accepted,
        server_held,
    ] = counts;
    // ANCHOR: ledger
    [
        // Every byte the client's kernel accepted is still in its send
        // queue, waits in the server's receive queue, or was read.
        (client_accepted, q.client_send + q.server_recv + server_read),
        // Every byte the server read was handed back to its kernel, or is
        // still in hand, inside the blocked sendall().
        (server_read, server_accepted + server_held),
        // Every byte the server's kernel accepted is still in its send
        // queue, or waits unread in the client's receive queue.
        (server_accepted, q.server_send + q.client_recv),
    ]
    // ANCHOR_END: ledger
}

fn balanced(ledger: [(u64, u64); 3]) -> bool {
    ledger.iter().all(|(left, right)| left == right)
}

impl Args {
    /// The backstop deadline for every blocking call.
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// How to watch the counters: the stall window, a progress line unless
    /// the report goes out as JSON, and samples if there is a plot to draw.
    fn watch_opts(&self) -> watch::WatchOpts {
        watch::WatchOpts {
            stall: Duration::from_millis(self.stall_ms),
            every: Duration::from_millis(2),
            progress: !self.json,
            record: self.plot.is_some(),
        }
    }
}

// ANCHOR: buffers
/// Asks for the send and receive buffer sizes: `setsockopt(2)` `SO_SNDBUF`
/// and `SO_RCVBUF`. Set before `connect()`/`listen()`, so that they bound
/// the window from the first segment; accepted sockets inherit the
/// listening socket's.
fn set_buffers(sock: &Socket, args: &Args) -> Result<(), error::SocketError> {
    use error::Op;
    if let cli::BufferSize::Bytes(n) = args.sndbuf {
        sock.set_send_buffer_size(n)
            .op(format_args!("setsockopt SO_SNDBUF {n}"))?;
    }
    if let cli::BufferSize::Bytes(n) = args.rcvbuf {
        sock.set_recv_buffer_size(n)
            .op(format_args!("setsockopt SO_RCVBUF {n}"))?;
    }
    Ok(())
}
// ANCHOR_END: buffers

/// Runs one case on loopback: the book's server on a thread, a client on
/// another, and this thread watching the counters until the client is done
/// or nothing moves for the stall window. Tears everything down either way.
fn run_case(client_kind: Client, bytes: u64, args: &Args) -> anyhow::Result<Case> {
    use error::Op;
    let threads_before = kernel::thread_count();
    let fds_before = kernel::open_fd_count();
    let counters = Arc::new(Counters::default());

    // ANCHOR: setup
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    listener
        .set_reuse_address(true)
        .op("setsockopt SO_REUSEADDR")?;
    set_buffers(&listener, args)?;
    let want: SocketAddr = "127.0.0.1:0".parse()?;
    listener
        .bind(&want.into())
        .op(format_args!("bind {want}"))?;
    listener.listen(1).op("listen")?;
    let addr = cli::socket_name(&listener)?;

    let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    set_buffers(&client, args)?;
    client
        .connect_timeout(&addr.into(), args.timeout())
        .op(format_args!("connect to {addr}"))?;
    client.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
    let client = TcpStream::from(client);
    // ANCHOR_END: setup

    // The server, on its own thread; it hands back a second handle of its
    // connected socket so that this thread can read its queues.
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let server_counters = Arc::clone(&counters);
    let timeout = args.timeout();
    let server = thread::spawn(move || -> io::Result<()> {
        deadline::wait_readable(&listener, timeout)?;
        let (sc, _) = listener.accept()?;
        drop(listener);
        sc.set_nonblocking(true)?;
        let mut sc = TcpStream::from(sc);
        let _ = handle_tx.send(sc.try_clone()?);
        let served = serve(&mut sc, &server_counters, timeout);
        // The book's close() sends FIN only when the last descriptor of the
        // socket closes, and this thread's caller holds a second one (to read
        // the queues): shut down explicitly so the client sees end of stream.
        let _ = sc.shutdown(Shutdown::Both);
        served
    });
    let server_sc: TcpStream = handle_rx
        .recv_timeout(args.timeout())
        .map_err(|_| io::Error::from_raw_os_error(nix::libc::ETIMEDOUT))
        .op(format_args!("accept on {addr}"))?;

    // The client, on its own thread.
    let done = Arc::new(AtomicBool::new(false));
    let (client_counters, client_done) = (Arc::clone(&counters), Arc::clone(&done));
    let mut client_handle = client.try_clone().op("dup")?;
    let chunk = args.chunk;
    let client_thread = thread::spawn(move || {
        let result = match client_kind {
            Client::Naive => {
                naive_client(&mut client_handle, bytes, chunk, &client_counters, timeout)
            }
            Client::Reading => {
                reading_client(&mut client_handle, bytes, chunk, &client_counters, timeout)
            }
        };
        client_done.store(true, SeqCst);
        result
    });

    let snapshot = || -> [u64; 5] {
        [
            counters.client_accepted.load(SeqCst),
            counters.client_received.load(SeqCst),
            counters.server_read.load(SeqCst),
            counters.server_accepted.load(SeqCst),
            counters.server_held.load(SeqCst),
        ]
    };
    let watched = watch::watch(
        &args.watch_opts(),
        || {
            let [ca, cr, sr, sa, _] = snapshot();
            vec![ca, sr, sa, cr]
        },
        || done.load(SeqCst),
        |v| {
            format!(
                "client sent {} bytes, server read {}, server sent {}, client received {}",
                v[0], v[1], v[2], v[3]
            )
        },
    );

    // ANCHOR: stalled
    // Stalled: both sides are blocked in send(). Read the kernel's queues
    // while they are, then wake them with shutdown() and let them end.
    let (mut queues, mut info) = (None, None);
    if watched.stalled {
        for _ in 0..50 {
            queues = read_queues(&client, &server_sc);
            match queues {
                Some(q) if !balanced(ledger(snapshot(), q)) => {
                    thread::sleep(Duration::from_millis(2))
                } // a segment in flight
                _ => break,
            }
        }
        info = kernel::tcp_info(&client)
            .ok()
            .zip(kernel::tcp_info(&server_sc).ok());
    }
    let counts = snapshot();
    let buffers = [
        socket2::SockRef::from(&client)
            .send_buffer_size()
            .op("getsockopt SO_SNDBUF")?,
        socket2::SockRef::from(&client)
            .recv_buffer_size()
            .op("getsockopt SO_RCVBUF")?,
        socket2::SockRef::from(&server_sc)
            .send_buffer_size()
            .op("getsockopt SO_SNDBUF")?,
        socket2::SockRef::from(&server_sc)
            .recv_buffer_size()
            .op("getsockopt SO_RCVBUF")?,
    ];
    if watched.stalled {
        let _ = client.shutdown(Shutdown::Both); // wakes the client's blocked send()
        let _ = server_sc.shutdown(Shutdown::Both); // wakes the server's
    }
    // ANCHOR_END: stalled
    let finished = client_thread
        .join()
        .expect("the client thread does not panic")
        .ok();
    let _ = server.join().expect("the server thread does not panic");
    drop((client, server_sc));
    let diff = |after: Option<usize>, before: Option<usize>| Some(after? as i64 - before? as i64);
    Ok(Case {
        client: client_kind,
        bytes,
        chunk: args.chunk,
        watched,
        finished,
        counts,
        queues,
        info,
        buffers,
        threads_left: diff(kernel::thread_count(), threads_before),
        fds_left: diff(kernel::open_fd_count(), fds_before),
    })
}

/// Reads the four queues; `None` where the kernel does not report them.
fn read_queues(client: &TcpStream, server_sc: &TcpStream) -> Option<Queues> {
    Some(Queues {
        client_send: kernel::send_queue_bytes(client).ok()?.into(),
        server_recv: kernel::recv_queue_bytes(server_sc).ok()?.into(),
        server_send: kernel::send_queue_bytes(server_sc).ok()?.into(),
        client_recv: kernel::recv_queue_bytes(client).ok()?.into(),
    })
}

/// The default run: small case, large case, fix; then the verdict.
fn experiment(args: &Args) -> anyhow::Result<ExitCode> {
    let entry = registry::find("deadlock").expect("deadlock is registered");
    let mut record = report::Recorder::start(entry);
    if args.fixed {
        record = record.expecting("completed");
    }
    let say = report::Narrator::tagged(args.json);
    let mut charts = Vec::new();

    // The book's client, with a few bytes and then with many (not with --fixed).
    let naive = if args.fixed {
        None
    } else {
        say.note(format!("1. The small case: {} bytes", MESSAGE.len()));
        let small = run_case(Client::Naive, MESSAGE.len() as u64, args)?;
        narrate_naive(&say, &small);
        measure_case(&mut record, "small", &small);

        say.note(format!(
            "2. The large case: {} bytes, and the client reads nothing until all are sent",
            args.bytes
        ));
        let large = run_case(Client::Naive, args.bytes, args)?;
        narrate_naive(&say, &large);
        measure_case(&mut record, "large", &large);
        charts.push(chart(
            "the book's client: it never reads while it sends",
            &large,
        ));
        Some((small, large))
    };

    let step = if args.fixed { "" } else { "3. " };
    say.note(format!(
        "{step}The fix: {} bytes, with a client that reads while it writes",
        args.bytes
    ));
    let fixed = run_case(Client::Reading, args.bytes, args)?;
    narrate_fix(&say, &fixed);
    measure_case(&mut record, "fixed", &fixed);
    charts.push(chart(
        "the fix: a client that reads while it writes",
        &fixed,
    ));
    if let Some(path) = &args.plot {
        plot::write_svg(path, &charts)?;
        say.note(format!("plot written to {}", path.display()));
    }
    record.measure("peak_rss_bytes", kernel::peak_rss_bytes());

    let observed = match &naive {
        None if fixed.completed() => "completed",
        None if fixed.watched.stalled => "stalled",
        None => "corrupted",
        Some((small, _)) if !small.completed() => "small_case_failed",
        Some((_, large)) if !large.watched.stalled => "large_case_completed",
        Some((_, large)) if large.queues.is_some() && !large.balanced() => {
            "deadlock_ledger_unbalanced"
        }
        Some(_) if !fixed.completed() => "fix_failed",
        Some(_) => "deadlock",
    };
    Ok(record.finish(observed).emit(args.json))
}

fn narrate_naive(say: &report::Narrator, case: &Case) {
    let [
        client_accepted,
        client_received,
        server_read,
        server_accepted,
        server_held,
    ] = case.counts;
    say.client(format!(
        "Sending {} bytes of data, in chunks of {} bytes",
        case.bytes, case.chunk
    ));
    say.client(format!("  {client_accepted} bytes sent"));
    if !case.watched.stalled {
        say.client("Receiving all the data the server sends back");
        say.client(format!("  {client_received} bytes received"));
        match case.finished {
            Some((n, 0)) if n == case.bytes => {
                say.note(format!("   completed: all {n} bytes came back upper-cased"))
            }
            Some((n, wrong)) => say.note(format!(
                "   NOT completed: {n} of {} bytes came back, {wrong} of them wrong",
                case.bytes
            )),
            None => say.note("   NOT completed: the client failed"),
        }
        return;
    }
    say.note(format!(
        "   STALLED: no byte moved for {} ms (from {} ms into the run); the book's client and server would wait forever",
        case.watched.elapsed_ms - case.watched.last_progress_ms,
        case.watched.last_progress_ms
    ));
    say.note(format!(
        "   bytes the client got the kernel to accept: {client_accepted}"
    ));
    say.note(format!(
        "   bytes the server read:                     {server_read}"
    ));
    say.note(format!(
        "   bytes the server got the kernel to accept: {server_accepted}"
    ));
    say.note(format!(
        "   bytes the server holds in hand:            {server_held}"
    ));
    match (case.queues, case.ledger()) {
        (Some(q), Some(ledger)) => {
            say.note("   the kernel's four queues (ioctl SIOCOUTQ / SIOCINQ):");
            say.note(format!(
                "     client send queue     {:>9} bytes",
                q.client_send
            ));
            say.note(format!(
                "     server receive queue  {:>9} bytes",
                q.server_recv
            ));
            say.note(format!(
                "     server send queue     {:>9} bytes",
                q.server_send
            ));
            say.note(format!(
                "     client receive queue  {:>9} bytes",
                q.client_recv
            ));
            say.note("   the ledger, to the byte:");
            let mark = |(a, b): (u64, u64)| if a == b { "✓" } else { "✗" };
            say.note(format!(
                "     client accepted {client_accepted} = client send queue {} + server receive queue {} + server read {server_read} {}",
                q.client_send, q.server_recv, mark(ledger[0])
            ));
            say.note(format!("     server read {server_read} = server accepted {server_accepted} + in hand {server_held} {}", mark(ledger[1])));
            say.note(format!(
                "     server accepted {server_accepted} = server send queue {} + client receive queue {} {}",
                q.server_send, q.client_recv, mark(ledger[2])
            ));
        }
        _ => say.note(
            "   (the kernel's queue sizes are read with Linux-only ioctls; not available here)",
        ),
    }
    if let Some((c, s)) = case.info {
        let w = |x: Option<u32>| x.map_or("unknown".to_owned(), |n| format!("{n} bytes"));
        say.note(format!(
            "   TCP_INFO: send window {} on the client, {} on the server (0: the peer's receive queue is full); states {} and {}",
            w(c.send_window_bytes),
            w(s.send_window_bytes),
            c.state,
            s.state
        ));
    }
    let [cs, cr, ss, sr] = case.buffers;
    let capacity: usize = case.buffers.iter().sum();
    say.note(format!(
        "   buffers read back (getsockopt; Linux doubles what setsockopt asks): client SO_SNDBUF {cs}, SO_RCVBUF {cr}; server SO_SNDBUF {ss}, SO_RCVBUF {sr}"
    ));
    say.note(format!(
        "   together {capacity} bytes of buffer; the stall came after {client_accepted} bytes ({:.0}% of that)",
        100.0 * client_accepted as f64 / capacity as f64
    ));
}

fn narrate_fix(say: &report::Narrator, case: &Case) {
    let mib_s = throughput_mib_s(case);
    say.client(format!(
        "Sending {} bytes while a second thread reads the replies",
        case.bytes
    ));
    match case.finished {
        Some((n, 0)) if n == case.bytes && !case.watched.stalled => {
            say.note(format!(
                "   completed: all {n} bytes came back upper-cased, {mib_s:.1} MiB/s"
            ));
        }
        Some((n, wrong)) => say.note(format!(
            "   NOT completed: {n} of {} bytes came back, {wrong} of them wrong",
            case.bytes
        )),
        None => say.note(format!(
            "   NOT completed: stalled after {} bytes sent",
            case.counts[0]
        )),
    }
}

fn throughput_mib_s(case: &Case) -> f64 {
    case.bytes as f64 / (1024.0 * 1024.0) / (case.watched.elapsed_ms.max(1) as f64 / 1000.0)
}

/// Records one case's measurements under `prefix_`.
fn measure_case(record: &mut report::Recorder, prefix: &str, case: &Case) {
    let [
        client_accepted,
        client_received,
        server_read,
        server_accepted,
        server_held,
    ] = case.counts;
    let mut m = |k: &str, v: serde_json::Value| record.measure(&format!("{prefix}_{k}"), v);
    m("bytes", json!(case.bytes));
    m("completed", json!(case.completed()));
    m("stalled", json!(case.watched.stalled));
    if case.watched.stalled {
        m("stall_after_ms", json!(case.watched.last_progress_ms));
    }
    m("longest_pause_ms", json!(case.watched.longest_pause_ms));
    m("elapsed_ms", json!(case.watched.elapsed_ms));
    m("client_sent_bytes", json!(client_accepted));
    m("client_received_bytes", json!(client_received));
    m("server_read_bytes", json!(server_read));
    m("server_sent_bytes", json!(server_accepted));
    m("server_held_bytes", json!(server_held));
    if let Some((n, wrong)) = case.finished {
        m("returned_bytes", json!(n));
        m("returned_wrong_bytes", json!(wrong));
    }
    if let Some(q) = case.queues {
        m("client_send_queue_bytes", json!(q.client_send));
        m("server_recv_queue_bytes", json!(q.server_recv));
        m("server_send_queue_bytes", json!(q.server_send));
        m("client_recv_queue_bytes", json!(q.client_recv));
        m("ledger_balanced", json!(case.balanced()));
    }
    if let Some((c, s)) = case.info {
        m("client_send_window_bytes", json!(c.send_window_bytes));
        m("server_send_window_bytes", json!(s.send_window_bytes));
        m("client_tcp_state", json!(c.state.to_string()));
        m("server_tcp_state", json!(s.state.to_string()));
    }
    let [cs, cr, ss, sr] = case.buffers;
    m("client_sndbuf_bytes", json!(cs));
    m("client_rcvbuf_bytes", json!(cr));
    m("server_sndbuf_bytes", json!(ss));
    m("server_rcvbuf_bytes", json!(sr));
    m("buffer_capacity_bytes", json!(cs + cr + ss + sr));
    if case.client == Client::Reading {
        m(
            "throughput_mib_per_s",
            json!((throughput_mib_s(case) * 10.0).round() / 10.0),
        );
    }
    m("threads_left", json!(case.threads_left));
    m("fds_left", json!(case.fds_left));
}

fn chart(title: &str, case: &Case) -> plot::Chart {
    let names = [
        "client sent",
        "server read",
        "server sent",
        "client received",
    ];
    plot::Chart {
        title: title.to_owned(),
        series: names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.to_string(),
                    case.watched
                        .samples
                        .iter()
                        .map(|(t, v)| (*t, v[i] as f64))
                        .collect(),
                )
            })
            .collect(),
    }
}

// ANCHOR: manual_server
/// The manual server role: `tcp_deadlock.py server`. A client that never
/// reads makes this server's sendall() block; the send deadline ends that
/// conversation with an explanation, and the server goes on to the next.
fn server(args: &Args, server_args: &cli::ServerArgs) -> anyhow::Result<ExitCode> {
    use error::Op;
    let say = report::Narrator::plain();
    let addr = server_args.bind_addr()?;
    let listener =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    listener
        .set_reuse_address(true)
        .op("setsockopt SO_REUSEADDR")?;
    set_buffers(&listener, args)?;
    listener
        .bind(&addr.into())
        .op(format_args!("bind {addr}"))?;
    listener.listen(1).op(format_args!("listen on {addr}"))?;
    let name = cli::socket_name(&listener)?;
    say.note(format!("Listening at {}", cli::py_addr(&name)));
    loop {
        let wait = Duration::from_millis(server_args.accept_timeout_ms);
        deadline::wait_readable(&listener, wait)
            .op(format_args!("accept on {addr}"))
            .map_err(|e| {
                e.hint(format!(
                    "no client came within {} ms (--accept-timeout-ms)",
                    server_args.accept_timeout_ms
                ))
            })?;
        let (sc, peer) = listener.accept().op(format_args!("accept on {addr}"))?;
        let peer = peer.as_socket().expect("inet");
        say.note(format!(
            "Processing up to {SERVER_READ} bytes at a time from {}",
            cli::py_addr(&peer)
        ));
        sc.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
        let mut sc = TcpStream::from(sc);
        let counters = Counters::default();
        let result = serve(&mut sc, &counters, args.timeout());
        say.note(format!(
            "  {} bytes processed so far",
            counters.server_read.load(SeqCst)
        ));
        drop(sc); // close()
        say.note("  Socket closed");
        if let Err(e) = result.op(format_args!("serve {peer}")) {
            let e = if e.errno_name().as_deref() == Some("ETIMEDOUT") {
                e.hint(format!("sendall() was blocked for {} ms: the client is not reading its replies, so its receive queue is full (the deadlock of experiment 10)", args.timeout_ms))
            } else {
                e
            };
            if server_args.once {
                return Err(e.into());
            }
            eprintln!("error: {e}");
        }
        if server_args.once {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
// ANCHOR_END: manual_server

// ANCHOR: manual_client
/// The manual client role: `tcp_deadlock.py client HOST BYTECOUNT`. It sends
/// without reading, like the book's; when no byte has moved for the stall
/// window it explains the deadlock from its own queues instead of hanging.
fn client(args: &Args, target: &cli::ClientArgs, bytes: u64) -> anyhow::Result<ExitCode> {
    use error::Op;
    let say = report::Narrator::plain();
    let addr = target.server_addr()?;
    say.note(format!(
        "Sending {bytes} bytes of data, in chunks of {} bytes",
        args.chunk
    ));
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    set_buffers(&sock, args)?;
    sock.connect_timeout(&addr.into(), args.timeout())
        .op(format_args!("connect to {addr}"))?;
    sock.set_nonblocking(true).op("fcntl O_NONBLOCK")?; // see sendall()
    let sock = TcpStream::from(sock);

    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    let (thread_counters, thread_done) = (Arc::clone(&counters), Arc::clone(&done));
    let mut handle = sock.try_clone().op("dup")?;
    let (chunk, timeout) = (args.chunk, args.timeout());
    let worker = thread::spawn(move || {
        let result = naive_client(&mut handle, bytes, chunk, &thread_counters, timeout);
        thread_done.store(true, SeqCst);
        result
    });
    let watched = watch::watch(
        &args.watch_opts(),
        || {
            vec![
                counters.client_accepted.load(SeqCst),
                counters.client_received.load(SeqCst),
            ]
        },
        || done.load(SeqCst),
        |v| format!("{} bytes sent, {} bytes received", v[0], v[1]),
    );
    let sent = counters.client_accepted.load(SeqCst);
    say.note(format!("  {sent} bytes sent"));
    if watched.stalled {
        let sendq = kernel::send_queue_bytes(&sock).ok();
        let recvq = kernel::recv_queue_bytes(&sock).ok();
        let window = kernel::tcp_info(&sock)
            .ok()
            .and_then(|i| i.send_window_bytes);
        let _ = sock.shutdown(Shutdown::Both); // wake our own blocked send()
        let _ = worker.join();
        let n = |x: Option<u32>| x.map_or("unknown".to_owned(), |n| n.to_string());
        say.note(format!(
            "STALLED: no byte moved for {} ms: this is the deadlock.",
            args.stall_ms
        ));
        say.note(format!(
            "  This client's send queue holds {} bytes the server has not read (SIOCOUTQ); the server's window is {} bytes (TCP_INFO),",
            n(sendq),
            n(window)
        ));
        say.note(format!(
            "  and its receive queue holds {} bytes of replies nobody reads (SIOCINQ): the server is blocked sending them, so it stopped reading.",
            n(recvq)
        ));
        say.note("  Closing. The fix: read while writing (cargo run --bin deadlock -- --fixed).");
        return Ok(ExitCode::from(error::EXIT_MISMATCH));
    }
    let result = worker.join().expect("the client thread does not panic");
    let (received, wrong) = result.op(format_args!("exchange with {addr}"))?;
    say.note("Receiving all the data the server sends back");
    say.note(format!(
        "  {received} bytes received, {wrong} of them not the upper-cased message"
    ));
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: manual_client
