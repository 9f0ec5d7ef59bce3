//! The checks of 02 `partial-recv`: a reader's server whose `recvall()`
//! loops until the whole sixteen-octet message has come, wherever the
//! message is cut, and fails (closes without a reply) when the peer
//! closes mid-message, since `recv()` returns `b''` only at the end of
//! the stream. FOPNP 3rd ed., ch. 3, p. 45.
//!
//! Our side is the book's client's bytes, sent by the hostile variants of
//! [`super::hostile`]: cut at an offset, each piece once the kernel shows
//! the program has read the one before.

use std::io::Write;
use std::net::Shutdown;

use crate::experiments::sixteen::HELLO;
use crate::lab::pyfmt::py_bytes;
use crate::lab::stranger;
use crate::workbook::check::hostile::{
    connect, read_to_end, reply_then_end, send_in_pieces,
};
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// Where the message is cut off when our client closes mid-message, in
/// octets of the sixteen.
pub const CUT_OFF_AT: usize = 5;

/// 02's suite: the program as a server.
pub static SUITES: &[Suite] = &[Suite {
    number: 2,
    role: Role::Server,
    flood_bytes: stranger::FLOOD_BYTES,
    checks: &[
        Check {
            name: "recvall-at-every-split",
            does: "for each offset 1 to 15 in turn, a client sends the \
                   sixteen octets in two pieces cut there, the second once \
                   the program has read the first: each gets exactly \
                   b'Farewell, client'",
            points: 1,
            run: every_split,
        },
        Check {
            name: "error-on-close-mid-message",
            does: "a client sends 5 of the sixteen octets and closes its \
                   sending half (a FIN): the program must close the \
                   connection without a reply, not hang and not reply",
            points: 1,
            run: close_mid_message,
        },
    ],
}];

fn every_split(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    for cut in 1..HELLO.len() {
        let conn = connect(t, at)?;
        let split = |Failed(why)| Failed(format!("cut at {cut}: {why}"));
        send_in_pieces(t, &conn, HELLO, &[cut]).map_err(split)?;
        reply_then_end(t, &conn).map_err(split)?;
        t.note("splits_answered", cut);
    }
    Ok(())
}

fn close_mid_message(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let mut conn = connect(t, at)?;
    let sent = &HELLO[..CUT_OFF_AT];
    let sent_then_fin = conn
        .write_all(sent)
        .and_then(|()| conn.shutdown(Shutdown::Write)); // a FIN
    if let Err(e) = sent_then_fin {
        return Err(t.our_call_failed("5 octets, then a FIN", &e.into()));
    }
    t.note("sent_then_fin", py_bytes(sent));
    let (got, end) = read_to_end(&conn, t.timeout());
    t.note("it_replied", py_bytes(&got));
    t.note("then", &end);
    if let Some(row) = t.peer_row(&conn) {
        t.note("its_socket", row.to_string());
    }
    let running = t.still_running().is_ok();
    t.note("still_running", running);
    let n = CUT_OFF_AT;
    if !got.is_empty() {
        return fail(format!(
            "replied {} to a message cut off after {n} of 16 octets: its \
             recvall() took the end of the stream for the end of the \
             message",
            py_bytes(&got)
        ));
    }
    if end.starts_with("still open") {
        let ms = t.timeout().as_millis();
        return fail(format!(
            "hangs: {ms} ms after our FIN with {n} of 16 octets it has \
             neither replied nor closed: its recvall() does not stop when \
             recv() returns b''"
        ));
    }
    Ok(())
}
