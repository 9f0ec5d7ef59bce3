//! The checks of 04 `listening-socket`: a reader's server that keeps its
//! listening socket for every client and holds each conversation on the
//! new socket `accept()` returns for it. FOPNP 3rd ed., ch. 3, "One
//! Socket per Conversation", p. 45-46.
//!
//! Our side is the book's client's bytes, sent once the kernel shows the
//! program has accepted the connection; every socket is read from the
//! kernel's own list of the namespace's TCP sockets (`sock_diag(7)`),
//! which names each by its inode: the listener, and the connected socket
//! of each conversation on the program's side.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::experiments::sixteen::HELLO;
use crate::lab::deadline;
use crate::lab::kernel::TcpState;
use crate::lab::kernel::sock_diag::{DiagSocket, tcp_sockets};
use crate::lab::report::Errno;
use crate::lab::stranger;
use crate::workbook::check::hostile::reply_then_end;
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// How many clients come, one after the other.
pub const CLIENTS: usize = 3;

/// 04's suite: the program as a server.
pub static SUITES: &[Suite] = &[Suite {
    number: 4,
    role: Role::Server,
    flood_bytes: stranger::FLOOD_BYTES,
    checks: &[Check {
        name: "one-socket-per-conversation",
        does: "three clients in turn: each connects, waits until the \
               kernel shows the program has accepted it, sends the book's \
               sixteen octets and reads the reply to the end. Each \
               conversation must have a connected socket of its own on the \
               program's side (its own inode, ESTABLISHED), while the \
               listening socket stays in LISTEN",
        points: 1,
        run: one_socket_each,
    }],
}];

fn one_socket_each(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let listener = listener_on(at.port())?
        .ok_or_else(|| Failed("its listening socket left the table".into()))?;
    t.note("listener", listener.to_string());
    let mut inodes = vec![listener.inode];
    for i in 1..=CLIENTS {
        let (conn, theirs) = converse(t, at, i)?;
        let (local, remote) = (theirs.local, theirs.remote);
        t.note(
            &format!("client_{i}"),
            format!(
                "{local} -> {remote} {}, inode {}",
                theirs.state, theirs.inode
            ),
        );
        if inodes.contains(&theirs.inode) {
            return fail(format!(
                "client {i}'s conversation is on socket inode {}, which an \
                 earlier one had",
                theirs.inode
            ));
        }
        inodes.push(theirs.inode);
        let on = |Failed(why)| Failed(format!("client {i}: {why}"));
        if let Err(e) = (&conn).write_all(HELLO) {
            return Err(on(t.our_call_failed("send", &e.into())));
        }
        reply_then_end(t, &conn).map_err(on)?;
        let now = listener_on(at.port())?;
        if now.as_ref().map(|l| l.inode) != Some(listener.inode) {
            let shown = now.map_or("none".into(), |l| l.to_string());
            t.note("listener_after", shown);
            if i < CLIENTS {
                continue; // the next connect() tells what this means
            }
            return fail(format!(
                "its listening socket (inode {}) is gone after client {i}",
                listener.inode
            ));
        }
    }
    Ok(())
}

/// Client `i` connects to `at` and waits until the kernel shows the
/// program has accepted the connection; returns our stream and the
/// program's connected socket, as `sock_diag(7)` lists it.
///
/// # Errors
/// The connect fails (refused: no socket listens any more), or the
/// program does not accept within our deadline.
fn converse(
    t: &mut Trial,
    at: SocketAddr,
    i: usize,
) -> Result<(std::net::TcpStream, DiagSocket), Failed> {
    let sock = Socket::new(Domain::for_address(at), Type::STREAM, None)?;
    deadline::set_timeouts(&sock, t.timeout())?;
    if let Err(e) = sock.connect_timeout(&at.into(), t.timeout()) {
        let errno = Errno::of(&e).map_or(e.to_string(), |e| e.name);
        t.note(&format!("client_{i}"), format!("connect: {errno}"));
        let listening = listener_on(at.port())?;
        let ended = t
            .ended()
            .map_or(String::new(), |how| format!(" (and ended: {how})"));
        if errno == "ECONNREFUSED" && listening.is_none() {
            let served = match i - 1 {
                1 => "one client".to_owned(),
                n => format!("{n} clients"),
            };
            return fail(format!(
                "client {i} of {CLIENTS}: connect to {at} refused \
                 (ECONNREFUSED): no socket listens on port {} any more: it \
                 closed its listening socket after {served}{ended}; keep it \
                 and accept() again for each client",
                at.port(),
            ));
        }
        return fail(format!("client {i}: connect to {at}: {errno}{ended}"));
    }
    let ours = sock.local_addr()?.as_socket().expect("an inet socket");
    let end = Instant::now() + t.timeout();
    loop {
        let row = connected_to(at.port(), ours)?;
        match row {
            Some(r) if r.inode != 0 => return Ok((sock.into(), r)),
            _ if Instant::now() >= end => {
                t.still_running()?;
                let ms = t.timeout().as_millis();
                return fail(format!(
                    "client {i}: connected, but not accepted within {ms} ms \
                     (its connection waits in the accept queue)"
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Every TCP socket of the namespace, from `sock_diag(7)`.
fn sockets() -> Result<Vec<DiagSocket>, Failed> {
    tcp_sockets().map_err(|e| Failed(format!("sock_diag: {e}")))
}

/// The listening socket on `port`, if there is one.
fn listener_on(port: u16) -> Result<Option<DiagSocket>, Failed> {
    let all = sockets()?;
    Ok(all
        .into_iter()
        .find(|s| s.is(TcpState::Listen) && s.local.port() == port))
}

/// The program's end of our connection from `ours` to its `port`.
fn connected_to(
    port: u16,
    ours: SocketAddr,
) -> Result<Option<DiagSocket>, Failed> {
    let all = sockets()?;
    // Not an old connection's TIME_WAIT row with the same addresses.
    let live = |s: &DiagSocket| !s.is(TcpState::TimeWait);
    Ok(all
        .into_iter()
        .find(|s| s.local.port() == port && s.remote == ours && live(s)))
}
