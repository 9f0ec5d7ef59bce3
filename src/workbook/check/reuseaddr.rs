//! The checks of 06 `reuseaddr`: a reader's server that can be stopped
//! and started again at once on its port, right after a conversation it
//! closed first, because it sets `SO_REUSEADDR` before `bind()`. FOPNP
//! 3rd ed., ch. 3, "Address Already in Use", p. 46 onward.
//!
//! Our side is the book's client from [`crate::experiments::reuseaddr`],
//! which waits for the server's end of stream before it closes: the
//! program closes first, so its end of the conversation is the one left
//! in `TIME_WAIT`, on its own port. The row is read from the kernel's
//! table (`/proc/net/tcp`), and the restart's `EADDRINUSE` from what the
//! program printed.

use std::net::SocketAddr;

use nix::sys::signal::Signal;

use crate::experiments::reuseaddr::{self, Closes};
use crate::lab::kernel::proc_net_tcp::{TcpRow, tcp_rows};
use crate::lab::kernel::{TcpState, time_wait_after_close};
use crate::lab::stranger::{self, describe};
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// What a program's output says when `bind()` met `EADDRINUSE`: the
/// errno's name, Python's words for it, or its number on Linux.
const IN_USE: [&str; 3] = ["EADDRINUSE", "Address already in use", "Errno 98]"];

/// 06's suite: the program as a server.
pub static SUITES: &[Suite] = &[Suite {
    number: 6,
    role: Role::Server,
    flood_bytes: stranger::FLOOD_BYTES,
    checks: &[Check {
        name: "restarts-at-once",
        does: "the book's client sends its sixteen octets, reads the reply \
               and waits for the program to close first, which leaves the \
               program's end in TIME_WAIT on its port; the program is \
               stopped (SIGINT, then SIGTERM) and started again at once on \
               the same port: it must listen again and serve the book's \
               client",
        points: 1,
        run: restarts_at_once,
    }],
}];

fn restarts_at_once(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let doing = "the book's client, which reads the reply and then waits \
                 for the program to close first";
    let name = reuseaddr::client(at, Closes::Server, &t.quiet(), t.timeout())
        .map_err(|e| t.our_call_failed(doing, &e))?;
    t.note(
        "conversation",
        format!("{name} -> {at}, the program closed first"),
    );
    let [row, _] = time_wait_after_close(at, name, t.timeout())?;
    let Some(row) = row else {
        return fail(format!(
            "closed first, yet its end of the conversation ({at} -> {name}) \
             is not in TIME_WAIT (did it reset the connection?)"
        ));
    };
    t.note("time_wait", row.to_string());
    let stopped = t.stop();
    let first = stopped.as_ref().and_then(|s| s.status.as_ref());
    t.note("first_run", first.map_or("unknown".into(), describe));
    if stopped.as_ref().and_then(|s| s.by) == Some(Signal::SIGKILL) {
        return fail(
            "ignores SIGINT and SIGTERM: still running after both, killed \
             (SIGKILL), so it cannot be restarted as a server is",
        );
    }
    if let Some(still) = time_wait_now(&row) {
        t.note("at_restart", still.to_string());
    }
    match t.listening() {
        Ok(_) => served_again(t, at),
        Err(Failed(why)) => {
            let port = at.port();
            let out = match t.ended() {
                Some(_) => t.output_at_end(), // its last words, all read
                None => t.output(),
            };
            let said = out
                .text
                .lines()
                .rev()
                .find(|l| IN_USE.iter().any(|w| l.contains(w)));
            let Some(said) = said.map(str::trim) else {
                return fail(format!(
                    "started again at once on port {port}, its old \
                     connection in TIME_WAIT: {why}"
                ));
            };
            t.note("restart_printed", said);
            fail(format!(
                "could not listen again on port {port} while its old \
                 connection was in TIME_WAIT: it printed {said:?}; set \
                 SO_REUSEADDR on the listening socket before bind()"
            ))
        }
    }
}

/// After the restart: the book's client is served again.
fn served_again(t: &mut Trial, at: SocketAddr) -> Checked {
    t.note("restart", format!("listening again on port {}", at.port()));
    let doing = "after the restart, the book's client";
    let name = reuseaddr::client(at, Closes::Server, &t.quiet(), t.timeout())
        .map_err(|e| t.our_call_failed(doing, &e))?;
    t.note("served_after_restart", name);
    Ok(())
}

/// `row`'s connection as the kernel's table shows it now, if it is still
/// in `TIME_WAIT` (its timer counts down).
fn time_wait_now(row: &TcpRow) -> Option<TcpRow> {
    let same = |r: &TcpRow| r.local == row.local && r.remote == row.remote;
    let rows = tcp_rows(|r| same(r) && r.is(TcpState::TimeWait)).ok()?;
    rows.into_iter().next()
}
