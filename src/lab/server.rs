//! The manual `server` role's accept loop and its error policy, shared by
//! every experiment: accept with a deadline, give each conversation one
//! overall deadline, report a conversation that fails in one line with the
//! peer's address, and go on to the next client (unless `--once`). Also a
//! server that holds its clients in the listen queue until Enter
//! ([`hold`]).

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use socket2::Socket;

use crate::lab::args::ServerArgs;
use crate::lab::deadline;
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::Ctx;
use crate::lab::kernel::{self, ListenCounters, ListenQueue};
use crate::lab::{names, narrate};

/// Waits at most `timeout` for a connection on `listener`, then accepts
/// it: `poll(2)` for `POLLIN`, then `accept(2)`. Returns the connected
/// socket and the client's address.
///
/// # Errors
/// `ETIMEDOUT` if no client came within `timeout`; otherwise the error of
/// `poll(2)` or `accept(2)`. The operation is named `accept on ADDRESS`.
pub fn accept_within(
    listener: &Socket,
    timeout: Duration,
) -> Result<(Socket, SocketAddr), SocketError> {
    let at = names::socket_name(listener)?;
    deadline::wait_readable(listener, timeout)
        .op(format_args!("accept on {at}"))?;
    let (sock, peer) = listener.accept().op(format_args!("accept on {at}"))?;
    let peer = peer
        .as_socket()
        .expect("an inet listener accepts inet peers");
    Ok((sock, peer))
}

/// Serves clients one at a time on `listener`, like the book's servers:
/// prints `waiting` (if given) before each `accept`, then calls
/// `conversation` with the connected socket and the client's address.
///
/// Every conversation gets read and write timeouts of `ctx.timeout` on its
/// socket, and one overall deadline of `--conversation-ms`: at that
/// deadline the socket is shut down, which wakes any call blocked on it.
/// A conversation that fails (a client that resets, sends too little, or
/// is too slow) is reported in one line with the client's address, and the
/// server goes on to the next client. With `--once` the server serves one
/// client and exits: 0 if the conversation succeeded, 2 with the error if
/// not.
///
/// # Errors
/// No client within `--accept-timeout-ms`, a failing `accept(2)`, or, with
/// `--once`, the conversation's error.
pub fn serve(
    listener: &Socket,
    args: &ServerArgs,
    ctx: &Ctx,
    waiting: Option<&str>,
    mut conversation: impl FnMut(&TcpStream, SocketAddr) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let accept_timeout = Duration::from_millis(args.accept_timeout_ms);
    loop {
        if let Some(line) = waiting {
            ctx.say.say(line);
        }
        let (sock, peer) = match accept_within(listener, accept_timeout) {
            Ok(accepted) => accepted,
            // A client that gave up between its SYN and our accept().
            Err(e) if e.errno_name().as_deref() == Some("ECONNABORTED") => {
                narrate::error_line(&e);
                continue;
            }
            Err(e) if e.errno_name().as_deref() == Some("ETIMEDOUT") => {
                let ms = args.accept_timeout_ms;
                return Err(e
                    .hint(format!(
                        "no client came within {ms} ms (--accept-timeout-ms)"
                    ))
                    .into());
            }
            Err(e) => return Err(e.into()),
        };
        let result = converse(
            sock,
            peer,
            ctx.timeout,
            args.conversation_ms,
            &mut conversation,
        );
        match result {
            Ok(()) if args.once => return Ok(ExitCode::SUCCESS),
            Ok(()) => {}
            Err(e) if args.once => return Err(e),
            Err(e) => narrate::error_line(&e),
        }
    }
}

/// One conversation with a deadline, then `close()`.
fn converse(
    sock: Socket,
    peer: SocketAddr,
    timeout: Duration,
    limit_ms: u64,
    conversation: &mut impl FnMut(&TcpStream, SocketAddr) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    deadline::set_timeouts(&sock, timeout)?;
    let stream = TcpStream::from(sock);
    let cut = AtomicBool::new(false);
    let (done, finished) = mpsc::channel::<()>();
    let (cut, stream_ref) = (&cut, &stream);
    let result = std::thread::scope(|s| {
        s.spawn(move || {
            let limit = Duration::from_millis(limit_ms);
            if finished.recv_timeout(limit)
                == Err(mpsc::RecvTimeoutError::Timeout)
            {
                cut.store(true, Ordering::SeqCst);
                let _ = stream_ref.shutdown(std::net::Shutdown::Both);
            }
        });
        let result = conversation(&stream, peer);
        drop(done);
        result
    });
    drop(stream); // close()
    let context = if cut.load(Ordering::SeqCst) {
        format!(
            "conversation with {peer}: cut off after {limit_ms} ms (--conversation-ms)"
        )
    } else {
        format!("conversation with {peer}")
    };
    result.map_err(|e| e.context(context))
}

/// What ended a [`hold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The user pressed Enter.
    Enter,
    /// Standard input ended or could not be read (no terminal, as in CI).
    EndOfInput,
    /// The time limit passed.
    Deadline,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Held::Enter => "Enter was pressed",
            Held::EndOfInput => "standard input ended",
            Held::Deadline => "the time limit passed",
        })
    }
}

/// Keeps `listener` listening without calling `accept(2)` until the user
/// presses Enter, standard input ends, or `limit` passes, whichever comes
/// first, and says which. Meanwhile it reads the accept queue
/// ([`kernel::listen_queue`]) and the namespace's listen counters
/// ([`ListenCounters`], as the rise since the hold began) every 100 ms,
/// and calls `changed` whenever either differs from the last reading (and
/// once at the start). `None` for what the kernel does not report.
///
/// Standard input is read on a thread of its own, which is left blocked
/// in `read(2)` if the hold ends another way.
pub fn hold(
    listener: &Socket,
    limit: Duration,
    mut changed: impl FnMut(Option<ListenQueue>, Option<ListenCounters>),
) -> Held {
    let (pressed, enter) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let held = match std::io::stdin().read_line(&mut line) {
            Ok(n) if n > 0 => Held::Enter,
            _ => Held::EndOfInput,
        };
        let _ = pressed.send(held);
    });
    let start = ListenCounters::read();
    let end = std::time::Instant::now() + limit;
    let mut last = None;
    loop {
        let queue = kernel::listen_queue(listener).ok();
        let rose = start.zip(ListenCounters::read()).map(|(s, n)| n.since(&s));
        if last != Some((queue, rose)) {
            changed(queue, rose);
            last = Some((queue, rose));
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Held::Deadline;
        }
        match enter.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(held) => return held,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Held::EndOfInput;
            }
        }
    }
}
