//! The checks of 01 `sixteen`: a reader's `tcp_sixteen.py`-style server
//! (reads sixteen octets with a loop, replies `Farewell, client`, serves
//! the next client) and client (sends sixteen octets, reads the sixteen
//! of the reply with a loop). FOPNP 3rd ed., ch. 3, Listing 3-1.
//!
//! Our side is the book's own client and server from
//! [`crate::experiments::sixteen`], and the hostile variants of
//! [`super::hostile`] (the message in pieces) and of this file (a reset,
//! a half-close, an early close). Where a check waits for the program to read
//! what we sent, it asks the kernel (the program's receive queue in
//! `/proc/net/tcp`), so a slow start cannot hide a `recv` called once.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::experiments::sixteen::{self, FAREWELL, HELLO, recv_all};
use crate::lab::pyfmt::py_bytes;
use crate::lab::stranger;
use crate::lab::{deadline, server};
use crate::workbook::check::hostile::{
    connect, heard_early, is_farewell, pieces, read_to_end, reply_then_end,
    send_in_pieces, wait_accepted,
};
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// 01's suites: the program as a server, and as a client.
pub static SUITES: &[Suite] = &[
    Suite {
        number: 1,
        role: Role::Server,
        flood_bytes: stranger::FLOOD_BYTES,
        checks: &[
            Check {
                name: "replies-farewell",
                does: "the book's client sends its sixteen octets; the reply \
                       must be exactly b'Farewell, client'",
                points: 1,
                run: replies_farewell,
            },
            Check {
                name: "waits-for-16-in-two-pieces",
                does: "sends 8 octets, waits until the kernel shows the \
                       program has read them and a pause, then the other \
                       8: no reply may come before all 16",
                points: 1,
                run: two_pieces,
            },
            Check {
                name: "waits-for-16-byte-by-byte",
                does: "sends the 16 octets one at a time, each once the \
                       program has read the one before",
                points: 1,
                run: byte_by_byte,
            },
            Check {
                name: "serves-next-client",
                does: "the book's client twice, one after the other: both \
                       get the reply",
                points: 1,
                run: serves_next_client,
            },
            Check {
                name: "survives-reset",
                does: "a client connects, is accepted and resets \
                       (SO_LINGER 0, then close); the book's client must \
                       still be served",
                points: 1,
                run: survives_reset,
            },
            Check {
                name: "survives-half-close",
                does: "a client sends 5 octets and half-closes \
                       (shutdown SHUT_WR); the book's client must still be \
                       served",
                points: 1,
                run: survives_half_close,
            },
        ],
    },
    Suite {
        number: 1,
        role: Role::Client,
        flood_bytes: stranger::FLOOD_BYTES,
        checks: &[
            Check {
                name: "gets-reply-in-pieces",
                does: "our server reads the sixteen octets, then sends the \
                       reply in 4 pieces, each once the program has read \
                       the last: it must read all 16, then close and exit 0",
                points: 1,
                run: reply_in_pieces,
            },
            Check {
                name: "fails-on-early-close",
                does: "our server sends 8 octets of the reply and closes: \
                       the program must exit with a non-zero status, not \
                       hang and not exit 0",
                points: 1,
                run: early_close,
            },
        ],
    },
];

// ---- the program as a server ----

fn replies_farewell(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let (_, reply) = sixteen::client(at, &t.quiet(), t.timeout())
        .map_err(|e| t.our_call_failed("the book's client", &e))?;
    is_farewell(t, &reply)?;
    Ok(())
}

fn two_pieces(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let conn = connect(t, at)?;
    send_in_pieces(t, &conn, HELLO, &[8])?;
    reply_then_end(t, &conn)
}

fn byte_by_byte(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let conn = connect(t, at)?;
    let cuts: Vec<usize> = (1..16).collect();
    send_in_pieces(t, &conn, HELLO, &cuts)?;
    reply_then_end(t, &conn)
}

fn serves_next_client(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    for which in ["first", "second"] {
        let got = sixteen::client(at, &t.quiet(), t.timeout());
        let (_, reply) = got.map_err(|e| {
            t.our_call_failed(&format!("the {which} client"), &e)
        })?;
        t.note(which, py_bytes(&reply));
    }
    Ok(())
}

fn survives_reset(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let conn = connect(t, at)?;
    let waiting = wait_accepted(t, at.port());
    t.note("accept_queue_before_reset", waiting);
    socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
    drop(conn); // close() with SO_LINGER 0: an RST, not a FIN
    then_served(t, "a client that reset its connection")
}

fn survives_half_close(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let mut conn = connect(t, at)?;
    let sent_then_fin = conn
        .write_all(&HELLO[..5])
        .and_then(|()| conn.shutdown(Shutdown::Write)); // a FIN
    if let Err(e) = sent_then_fin {
        return Err(t.our_call_failed("5 octets, then a FIN", &e.into()));
    }
    let (got, end) = read_to_end(&conn, t.timeout());
    t.note("half_closed_client_got", py_bytes(&got));
    t.note("then", end);
    then_served(t, "a client that half-closed after 5 octets")
}

// ---- the program as a client ----

fn reply_in_pieces(t: &mut Trial) -> Checked {
    let mut sc = accept_program(t)?;
    let cuts = [4, 8, 12];
    for (i, piece) in pieces(FAREWELL, &cuts).iter().enumerate() {
        sc.write_all(piece)?;
        if i == cuts.len() {
            break;
        }
        let unread = t.wait_read_by_peer(&sc, t.timeout());
        if let Some(end) = heard_early(&sc, unread)? {
            let n = cuts[i];
            t.note("sent_before_it_closed", py_bytes(&FAREWELL[..n]));
            return fail(format!(
                "{end} after {n} of the reply's 16 octets: it calls recv() \
                 once instead of until it has all 16"
            ));
        }
    }
    let (extra, end) = read_to_end(&sc, t.timeout());
    t.note("then", &end);
    if end != "closed (FIN)" || !extra.is_empty() {
        return fail(format!("after the whole reply: {end}"));
    }
    let status = t.exits_within(t.timeout(), "it closed its socket")?;
    t.note("exit", crate::lab::stranger::describe(&status));
    if !status.success() {
        return fail("got the whole reply, but did not exit with status 0");
    }
    Ok(())
}

fn early_close(t: &mut Trial) -> Checked {
    let mut sc = accept_program(t)?;
    sc.write_all(&FAREWELL[..8])?;
    drop(sc); // close() after 8 octets: a FIN where 8 more were due
    t.note("sent", py_bytes(&FAREWELL[..8]));
    let status = t.exits_within(t.timeout(), "our server closed early")?;
    if status.success() {
        return fail(
            "exited with status 0 after a reply of 8 of 16 octets: \
                     it took the short reply for the whole",
        );
    }
    Ok(())
}

/// After a hostile client: the program must still be running, and serve
/// the book's client.
fn then_served(t: &mut Trial, after: &str) -> Checked {
    let at = SocketAddr::new(t.host(), t.port());
    let got = sixteen::client(at, &t.quiet(), t.timeout());
    let died = |t: &mut Trial| t.still_running().err();
    match got {
        Ok((_, reply)) if reply == FAREWELL => {
            t.note("next_client_got", py_bytes(&reply));
            Ok(())
        }
        Ok((_, reply)) => fail(format!(
            "after {after}, replied {} to the next client",
            py_bytes(&reply)
        )),
        Err(e) => {
            let doing = format!("after {after}, the book's client");
            let failed = t.our_call_failed(&doing, &e);
            match died(t) {
                Some(Failed(why)) => fail(format!("{after} killed it: {why}")),
                None => Err(failed),
            }
        }
    }
}

/// Our server for a client check: the book's listening socket on a port
/// the kernel picks, the program started with it as `{port}`, its
/// connection accepted, and its sixteen octets read (they must be the
/// book's).
///
/// # Errors
/// It never connects, or sends other than the sixteen octets.
fn accept_program(t: &mut Trial) -> Result<TcpStream, Failed> {
    let listener = sixteen::listen_at(SocketAddr::new(t.host(), 0))?;
    let at = crate::lab::names::socket_name(&listener)?;
    t.set_port(at.port());
    t.start()?;
    let start = t.timeout().max(Duration::from_secs(5));
    let (sc, _) = server::accept_within(&listener, start).map_err(|e| {
        t.still_running()
            .err()
            .unwrap_or(Failed(format!("never connected to {at}: {e}")))
    })?;
    deadline::set_timeouts(&sc, t.timeout())?;
    sc.set_tcp_nodelay(true)?;
    let mut sc = TcpStream::from(sc);
    let hello = recv_all(&mut sc, 16)
        .map_err(|e| Failed(format!("did not send sixteen octets: {e}")))?;
    t.note("it_sent", py_bytes(&hello));
    if hello != HELLO {
        return fail(format!(
            "sent {} instead of {}",
            py_bytes(&hello),
            py_bytes(HELLO)
        ));
    }
    Ok(sc)
}
