//! The checks of 09 `backlog`: a reader's server, busy with one client,
//! whose listening socket lets a burst of further clients wait for
//! `accept()` instead of being ignored. FOPNP 3rd ed., ch. 3, p. 46:
//! `listen()`'s integer is how many connections not yet accepted may
//! stack up before the system starts ignoring new ones; Lutz,
//! *Programming Python* 4th ed., ch. 12, p. 790: `listen(5)` allows five
//! pending requests.
//!
//! Our side is the book's client's bytes and experiment 09's client,
//! whose `connect()` does not block. The listener's backlog and accept
//! queue are read from the kernel (`sock_diag(7)`), each client's state
//! from its own socket (`TCP_INFO`), the SYNs dropped from the
//! namespace's counters (`TcpExtListenOverflows`).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::experiments::backlog::{self, Connecting};
use crate::experiments::sixteen::HELLO;
use crate::lab::deadline;
use crate::lab::kernel::sock_diag::{DiagSocket, tcp_sockets};
use crate::lab::kernel::{ListenCounters, TcpState};
use crate::lab::stranger;
use crate::workbook::check::hostile::{connect, reply_then_end, wait_accepted};
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// How many clients come while the program is busy: Lutz's `listen(5)`.
pub const BURST: usize = 5;

/// How long each of them waits for its handshake before it counts as
/// ignored: experiment 09's `--wait-ms` default, well before the kernel
/// sends its SYN again (1 s).
pub const WAIT: Duration = Duration::from_millis(200);

/// 09's suite: the program as a server.
pub static SUITES: &[Suite] = &[Suite {
    number: 9,
    role: Role::Server,
    flood_bytes: stranger::FLOOD_BYTES,
    checks: &[Check {
        name: "queues-a-burst",
        does: "a first client connects and sends nothing, so the program \
               is busy with it; five more connect one right after another, \
               each waiting 200 ms for its handshake: the kernel must queue \
               all five for accept() (none ignored, left in SYN_SENT); then \
               the first sends its sixteen octets, and each gets \
               b'Farewell, client' in turn. The listener's backlog is read \
               from the kernel",
        points: 1,
        run: queues_a_burst,
    }],
}];

fn queues_a_burst(t: &mut Trial) -> Checked {
    let at = t.listening()?;
    let backlog = listener_on(at.port())?.map(|l| l.send_queue);
    t.note("backlog", backlog);
    // The first client: accepted, it sends nothing, so the program waits
    // for its sixteen octets and calls accept() no more meanwhile.
    let busy = connect(t, at)?;
    let waiting = wait_accepted(t, at.port());
    if waiting > 0 {
        return fail(format!(
            "did not accept the first client within {} ms",
            t.timeout().as_millis()
        ));
    }
    let before = ListenCounters::read();
    let mut burst = Vec::new();
    for _ in 0..BURST {
        let (sock, _, c) = backlog::client(at, WAIT)?;
        burst.push((sock, c));
    }
    let queue = listener_on(at.port())?.map(|l| l.recv_queue);
    let dropped = ListenCounters::read()
        .zip(before)
        .map(|(now, b)| now.since(&b).overflows);
    t.note("accept_queue_while_busy", queue);
    t.note("syns_dropped", dropped);
    t.note("burst", tally(burst.iter().map(|(_, c)| state(c))));
    let ignored = burst.iter().filter(|(_, c)| !c.connected()).count();
    if ignored > 0 {
        let queued = BURST - ignored;
        let backlog = backlog.map_or("?".into(), |b| b.to_string());
        let dropped = match dropped {
            Some(n @ 1..) => format!("; the kernel dropped {n} SYNs"),
            _ => String::new(),
        };
        return fail(format!(
            "of {BURST} clients that came while it was busy with another, \
             {queued} were queued for accept() and {ignored} got no answer \
             (left in SYN_SENT{dropped}): its listen() backlog of {backlog} \
             lets too few wait; give listen() a larger number"
        ));
    }
    let on = |who: String| move |Failed(why)| Failed(format!("{who}: {why}"));
    served(t, &busy).map_err(on("the first client".into()))?;
    for (i, (sock, _)) in burst.into_iter().enumerate() {
        sock.set_nonblocking(false)?;
        deadline::set_timeouts(&sock, t.timeout())?;
        let conn = TcpStream::from(sock);
        served(t, &conn)
            .map_err(on(format!("client {} of the burst", i + 1)))?;
    }
    Ok(())
}

/// Sends the book's sixteen octets on `conn`; the reply must be
/// `Farewell, client`, then the end of the stream.
fn served(t: &mut Trial, conn: &TcpStream) -> Checked {
    if let Err(e) = (&*conn).write_all(HELLO) {
        return Err(t.our_call_failed("send", &e.into()));
    }
    reply_then_end(t, conn)
}

/// `ESTABLISHED`, or `SYN_SENT (no answer)`: a client of the burst.
fn state(c: &Connecting) -> String {
    let name = c.state.map_or("unknown".into(), |s| s.to_string());
    match (c.connected(), &c.error) {
        (_, Some(e)) => e.name.clone(),
        (true, None) => name,
        (false, None) => format!("{name} (no answer)"),
    }
}

/// `2 ESTABLISHED, 3 SYN_SENT (no answer)`: how many of each, in the
/// order they first came.
fn tally(states: impl Iterator<Item = String>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in states {
        match counts.iter_mut().find(|(name, _)| *name == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    let parts: Vec<String> =
        counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    parts.join(", ")
}

/// The listening socket on `port`, from `sock_diag(7)`; `None` if none.
fn listener_on(port: u16) -> Result<Option<DiagSocket>, Failed> {
    let all = tcp_sockets().map_err(|e| Failed(format!("sock_diag: {e}")))?;
    Ok(all
        .into_iter()
        .find(|s| s.is(TcpState::Listen) && s.local.port() == port))
}
