//! Our side's hostile variants of the book's client, for the checks of a
//! reader's server (01's and 02's): a message sent in pieces, each once
//! the kernel shows the program has read the last; the reply and the end
//! of the stream read and told apart (a FIN, or an RST for octets left
//! unread); the accept queue watched from outside.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::experiments::sixteen::{FAREWELL, recv_all};
use crate::lab::deadline;
use crate::lab::kernel::proc_net_tcp::{receive_queue, tcp_rows};
use crate::lab::kernel::tcp_info::TcpState;
use crate::lab::pyfmt::py_bytes;
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// How long a program that has read part of a message gets to answer
/// early (which it must not), before we send the next piece.
pub const PAUSE: Duration = Duration::from_millis(20);

/// A client socket of ours connected to the program at `at`, with our
/// deadlines and `TCP_NODELAY` (each `send` goes out as its own segment).
///
/// # Errors
/// `connect(2)` failed, with the program's state if it has ended.
pub fn connect(t: &mut Trial, at: SocketAddr) -> Result<TcpStream, Failed> {
    let sock = Socket::new(Domain::for_address(at), Type::STREAM, None)?;
    deadline::set_timeouts(&sock, t.timeout())?;
    sock.set_tcp_nodelay(true)?;
    if let Err(e) = sock.connect_timeout(&at.into(), t.timeout()) {
        t.still_running()?;
        return fail(format!("connect to {at}: {e}"));
    }
    Ok(TcpStream::from(sock))
}

/// `message` in the pieces `cuts` makes of it.
pub fn pieces<'m>(message: &'m [u8], cuts: &[usize]) -> Vec<&'m [u8]> {
    let ends = cuts.iter().copied().chain(std::iter::once(message.len()));
    let mut from = 0;
    ends.map(|to| {
        let piece = &message[from..to];
        from = to;
        piece
    })
    .collect()
}

/// Sends `message` cut at `cuts`: after each piece but the last, waits
/// until the kernel shows the program has read it, then [`PAUSE`]; a
/// reply (or a close) in that time fails the check, showing what the
/// program had been sent.
///
/// # Errors
/// The program answered or closed before the whole message was sent, or
/// a `send` failed.
pub fn send_in_pieces(
    t: &mut Trial,
    conn: &TcpStream,
    message: &[u8],
    cuts: &[usize],
) -> Checked {
    t.note(
        "pieces",
        pieces(message, cuts)
            .iter()
            .map(|p| p.len())
            .collect::<Vec<_>>(),
    );
    for (i, piece) in pieces(message, cuts).iter().enumerate() {
        (&*conn).write_all(piece).map_err(|e| {
            Failed(format!("send of piece {}: {e} (the program closed)", i + 1))
        })?;
        if i == cuts.len() {
            break;
        }
        let unread = t.wait_read_by_peer(conn, t.timeout());
        if let Some(end) = heard_early(conn, unread)? {
            let sent = &message[..cuts[i]];
            t.note("received_before_it_answered", py_bytes(sent));
            if let Err(Failed(why)) = t.still_running() {
                return fail(format!(
                    "{why}, after {} of {} octets",
                    sent.len(),
                    message.len()
                ));
            }
            let n = message.len();
            // Only an early reply tells what it did; a close may be any
            // mistake (it read nothing at all, say).
            let why = match end.starts_with("replied") {
                true => format!(
                    "it calls recv() once instead of until it has all {n}"
                ),
                false => format!("it did not wait for all {n}"),
            };
            return fail(format!(
                "{end} after {} of {n} octets, having received {}: {why}",
                sent.len(),
                py_bytes(sent),
            ));
        }
    }
    Ok(())
}

/// After [`PAUSE`]: what the program did early on `conn`, if anything
/// (`"replied b'Farewell, client'"`, `"closed the connection"`); `unread`
/// is what it had left unread, which the reason says if not 0.
pub fn heard_early(
    conn: &TcpStream,
    unread: u32,
) -> Result<Option<String>, Failed> {
    if deadline::wait_readable(conn, PAUSE).is_err() {
        return Ok(None);
    }
    let mut buf = [0u8; 64];
    conn.set_nonblocking(true)?;
    let got = (&*conn).read(&mut buf);
    conn.set_nonblocking(false)?;
    let unread = match unread {
        0 => String::new(),
        n => format!(" ({n} octets still unread)"),
    };
    Ok(match got {
        Ok(0) => Some(format!("closed the connection{unread}")),
        Ok(n) => Some(format!("replied {}{unread}", py_bytes(&buf[..n]))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) => Some(format!("reset the connection ({e}){unread}")),
    })
}

/// Notes `reply` as the evidence and passes if it is the book's
/// `Farewell, client`.
///
/// # Errors
/// Any other reply, named beside the one expected.
pub fn is_farewell(t: &mut Trial, reply: &[u8]) -> Checked {
    t.note("reply", py_bytes(reply));
    if reply != FAREWELL {
        return fail(format!(
            "replied {} instead of {}",
            py_bytes(reply),
            py_bytes(FAREWELL)
        ));
    }
    Ok(())
}

/// Reads the 16-octet reply, then the end of the stream: the reply must
/// be `Farewell, client` and the end a FIN (an RST means the program
/// closed with octets of ours unread).
///
/// # Errors
/// Another reply, none, or an RST after it.
pub fn reply_then_end(t: &mut Trial, conn: &TcpStream) -> Checked {
    let mut conn = conn;
    let reply = recv_all(&mut conn, 16)
        .map_err(|e| t.our_call_failed("no 16-octet reply", &e.into()))?;
    is_farewell(t, &reply)?;
    let (_, end) = read_to_end(conn, t.timeout());
    t.note("then", &end);
    if end != "closed (FIN)" {
        return fail(format!(
            "after its reply: {end}: it closed before \
                             reading all we sent"
        ));
    }
    Ok(())
}

/// Reads until the end of the stream, for at most `within`: what came,
/// and how it ended (`"closed (FIN)"`, `"reset (ECONNRESET)"`, `"still
/// open after N ms"`).
pub fn read_to_end(
    mut conn: &TcpStream,
    within: Duration,
) -> (Vec<u8>, String) {
    let _ = conn.set_read_timeout(Some(within));
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return (got, "closed (FIN)".into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let ms = within.as_millis();
                return (got, format!("still open after {ms} ms"));
            }
            Err(e) => {
                let name = crate::lab::error::errno_name(&e);
                let name = name.unwrap_or_else(|| e.to_string());
                return (got, format!("reset ({name})"));
            }
        }
    }
}

/// Waits until the program's listener on `port` has accepted every
/// connection waiting (its accept queue, from the kernel's table, is
/// empty); returns the queue's length then.
pub fn wait_accepted(t: &Trial, port: u16) -> u32 {
    let end = std::time::Instant::now() + t.timeout();
    loop {
        let rows =
            tcp_rows(|r| r.is(TcpState::Listen) && r.local.port() == port);
        let queue = rows
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|r| receive_queue(r.local, r.remote).ok().flatten())
            .unwrap_or(0);
        if queue == 0 || std::time::Instant::now() >= end {
            return queue;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
