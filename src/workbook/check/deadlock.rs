//! The checks of 10 `deadlock`: a reader's client for the book's
//! upper-casing server that gets every byte it sends back, because it
//! reads the replies while it sends and half-closes when it is done.
//! FOPNP 3rd ed., ch. 3, "Deadlock", p. 48 onward.
//!
//! Our side is the book's server from [`crate::experiments::deadlock`]
//! (1024-byte reads, each sent back upper-cased), with the OS's own
//! buffer sizes, watched as experiment 10 watches it. Where it stalls,
//! the kernel says why: our socket's `TCP_INFO` and queues, and the
//! program's socket as `sock_diag(7)` lists it (its queues and its
//! `TCP_INFO` window). Both windows 0 with data waiting on both sides is
//! the deadlock of a client that sends everything before it reads;
//! everything echoed and read, but no FIN, is a client that never
//! half-closes.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use crate::experiments::deadlock::{self, Counters, Counts, Knobs};
use crate::lab::kernel::sock_diag::{DiagSocket, tcp_sockets};
use crate::lab::kernel::{
    TcpState, recv_queue_bytes, send_queue_bytes, tcp_info,
};
use crate::lab::stranger::describe;
use crate::lab::watch::{self, Detector, Timing, WatchOpts};
use crate::lab::{names, server};
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// The fewest bytes the program must send, 16 MiB: our choice, more than
/// the OS's own buffers held before experiment 10's manual client stalled
/// here, so that a client that reads nothing until it has sent everything
/// cannot pass by sending too little.
pub const MIN_BYTES: u64 = 16 << 20;

/// How much the program may write before it floods, in bytes: four times
/// [`MIN_BYTES`]. A client that prints a progress line per message, as the
/// book's `tcp_deadlock.py` does (about 20 bytes per 16 sent), writes more
/// than [`crate::lab::stranger::FLOOD_BYTES`] before the deadlock it is
/// there to show, and should be caught at that deadlock.
pub const FLOOD_BYTES: u64 = 4 * MIN_BYTES;

/// How long the deadlock's cycle of waits (both windows 0, our server
/// waiting to send, the program's data waiting to be sent) must hold with
/// nothing moving before the check declares it: our choice, longer than
/// experiment 10's `--cycle-ms`, because a program that does read while
/// it sends may be kept off the CPU for a moment on a loaded machine.
pub const CONFIRM: Duration = Duration::from_millis(200);

/// 10's suite: the program as a client.
pub static SUITES: &[Suite] = &[Suite {
    number: 10,
    role: Role::Client,
    checks: &[Check {
        name: "gets-everything-back",
        does: "our server is the book's (reads up to 1024 bytes, sends them \
               back upper-cased; the OS's buffer sizes). The program sends \
               at least 16 MiB, reads the replies while it sends, \
               half-closes, then prints as its last line the number of \
               bytes it got back and exits 0. A stall is caught from the \
               kernel: both windows 0 with data waiting (it sends \
               everything before it reads), or everything read back and \
               no FIN (it never half-closes)",
        points: 1,
        run: gets_everything_back,
    }],
    flood_bytes: FLOOD_BYTES,
}];

fn gets_everything_back(t: &mut Trial) -> Checked {
    let knobs = Knobs::default(); // the OS's buffers and RTO
    let listener = deadlock::listen_at(SocketAddr::new(t.host(), 0), &knobs)?;
    let at = names::socket_name(&listener)?;
    t.set_port(at.port());
    t.start()?;
    let (sc, from) = server::accept_within(&listener, t.start_within())
        .map_err(|e| {
            let never = Failed(format!("never connected to {at}: {e}"));
            t.still_running().err().unwrap_or(never)
        })?;
    drop(listener);
    sc.set_nonblocking(true)?; // the book's sendall(), made watchable
    let sc = TcpStream::from(sc);
    let ours = sc.local_addr()?;
    let counters = Counters::default();
    let woken = AtomicBool::new(false); // by us, at a stall
    let wait = t.timeout().max(2 * knobs.stall_window());
    let opts = WatchOpts {
        stall: knobs.stall_window(),
        confirm: Some(CONFIRM),
        every: Duration::from_millis(2),
        progress: false,
        record: false,
    };
    let (watched, served, stall) = watch::while_running(
        &opts,
        || {
            let n = counters.snapshot();
            vec![n.server_read_bytes, n.server_sent_bytes]
        },
        || cycle(&counters, &sc, from, ours),
        |v| format!("read {} sent {}", v[0], v[1]),
        || {
            let served = deadlock::serve(&sc, &counters, wait);
            if !woken.load(SeqCst) {
                let _ = sc.shutdown(Shutdown::Write); // the book's close()
            }
            served
        },
        || {
            let at_stall = AtStall::read(&counters, &sc, from, ours);
            woken.store(true, SeqCst);
            let _ = sc.shutdown(wake(&at_stall));
            at_stall
        },
    );
    let n = counters.snapshot();
    t.note("it_sent", n.server_read_bytes);
    t.note("sent_back", n.server_sent_bytes);
    if let Some(s) = stall {
        let found = stalled(t, &watched.timing, &s, &n);
        t.hold(sc); // stopped where it is stuck, not by our RST
        return found;
    }
    if let Err(e) = served {
        let name = crate::lab::error::errno_name(&e);
        let e = name.unwrap_or_else(|| e.to_string());
        let ended = t
            .ended()
            .map_or(String::new(), |how| format!("; it has ended ({how})"));
        return fail(format!(
            "closed its socket before it had read everything back: our \
             server's send after {} bytes got {e}{ended}",
            n.server_sent_bytes
        ));
    }
    finished(t, &n)
}

/// The cycle of waits, as the kernel shows it: our server waits to send
/// and the program's window is 0 (it reads nothing), while the program
/// has data waiting and our window is 0 (our server reads nothing).
fn cycle(
    c: &Counters,
    sc: &TcpStream,
    from: SocketAddr,
    ours: SocketAddr,
) -> bool {
    if !c.server.waiting.load(SeqCst) {
        return false;
    }
    let window = tcp_info(sc).ok().and_then(|i| i.send_window_bytes);
    window == Some(0)
        && theirs(from, ours)
            .is_some_and(|r| r.send_window_bytes == Some(0) && r.send_queue > 0)
}

/// How to wake our server at a stall without ending the program's side
/// for it: a server waiting to send is woken by `shutdown(SHUT_WR)` (its
/// FIN waits behind the unsent data); one waiting to read by `SHUT_RD`,
/// and then sends no FIN. `SHUT_RD` on a server waiting to send would
/// make the kernel answer the program's next segment with an RST, which
/// would end the program before our signal could show where it is stuck.
fn wake(s: &AtStall) -> Shutdown {
    if s.server_waiting {
        Shutdown::Write
    } else {
        Shutdown::Read
    }
}

/// The program's socket, `from` connected to our `ours`.
fn theirs(from: SocketAddr, ours: SocketAddr) -> Option<DiagSocket> {
    let all = tcp_sockets().ok()?;
    // Not an old connection's TIME_WAIT row with the same addresses.
    let live = |s: &DiagSocket| !s.is(TcpState::TimeWait);
    all.into_iter()
        .find(|s| s.local == from && s.remote == ours && live(s))
}

/// What the kernel held when nothing moved any more.
struct AtStall {
    /// Whether our server was waiting in `sendall()` for room.
    server_waiting: bool,
    /// The window the program advertises to us (our `tcpi_snd_wnd`).
    its_window: Option<u32>,
    /// Our server socket's receive and send queue, in bytes.
    our_queues: Option<(u32, u32)>,
    /// The program's socket.
    theirs: Option<DiagSocket>,
}

impl AtStall {
    fn read(
        c: &Counters,
        sc: &TcpStream,
        from: SocketAddr,
        ours: SocketAddr,
    ) -> AtStall {
        let queues = recv_queue_bytes(sc).ok().zip(send_queue_bytes(sc).ok());
        AtStall {
            server_waiting: c.server.waiting.load(SeqCst),
            its_window: tcp_info(sc).ok().and_then(|i| i.send_window_bytes),
            our_queues: queues,
            theirs: theirs(from, ours),
        }
    }
}

/// The finding once nothing moved: the deadlock, a client that never
/// half-closes, or another stall, with the kernel's queues and windows.
fn stalled(t: &mut Trial, timing: &Timing, s: &AtStall, n: &Counts) -> Checked {
    let quiet = timing.elapsed_ms.saturating_sub(timing.last_progress_ms);
    let by = match timing.detected_by {
        Some(Detector::Cycle) => "the cycle of waits held",
        _ => "nothing moved",
    };
    t.note("stalled", format!("{by}: no byte moved for {quiet} ms"));
    let shown = |x: Option<u32>| x.map_or("?".into(), |n| n.to_string());
    let (ours_rq, ours_sq) = s.our_queues.unzip();
    let (its_rq, its_sq) = (
        s.theirs.as_ref().map(|r| r.recv_queue),
        s.theirs.as_ref().map(|r| r.send_queue),
    );
    let our_window = s.theirs.as_ref().and_then(|r| r.send_window_bytes);
    t.note(
        "its_queues",
        format!("send {}, receive {} bytes", shown(its_sq), shown(its_rq)),
    );
    t.note(
        "our_queues",
        format!("receive {}, send {} bytes", shown(ours_rq), shown(ours_sq)),
    );
    t.note(
        "windows",
        format!(
            "its {}, ours {} bytes",
            shown(s.its_window),
            shown(our_window)
        ),
    );
    let (read, sent) = (n.server_read_bytes, n.server_sent_bytes);
    if s.server_waiting && s.its_window == Some(0) {
        return fail(format!(
            "deadlock: it sends everything before it reads: after it had \
             sent {read} bytes, no byte moved for {quiet} ms with its \
             window {} and ours {} (its receive queue holds {} unread \
             bytes, ours {}): read the replies while sending",
            shown(s.its_window),
            shown(our_window),
            shown(its_rq),
            shown(ours_rq)
        ));
    }
    let all_read = its_rq == Some(0) && ours_sq == Some(0) && read == sent;
    if read > 0 && all_read && !s.server_waiting {
        t.still_running()?;
        return fail(format!(
            "never half-closes: it read back all {sent} bytes our server \
             sent (its receive queue 0), but {quiet} ms on no FIN has come \
             and it is still running, waiting for an end of stream: call \
             shutdown(SHUT_WR) once everything is sent"
        ));
    }
    t.still_running()?;
    if read == 0 {
        return fail(format!("sent nothing for {quiet} ms after it connected"));
    }
    fail(format!(
        "stalled: no byte moved for {quiet} ms after it sent {read} bytes \
         and our server sent back {sent}"
    ))
}

/// After our server sent everything back and closed: the program must
/// exit 0, and its last line must say how many bytes came back.
fn finished(t: &mut Trial, n: &Counts) -> Checked {
    let status =
        t.exits_within(t.timeout(), "our server sent it everything")?;
    let out = t.output_at_end();
    let last = out.text.lines().rev().find(|l| !l.trim().is_empty());
    let last = last.map(str::trim).map(str::to_owned);
    t.note("it_printed", &last);
    let sent = n.server_sent_bytes;
    if !status.success() {
        let said = last.map_or(String::new(), |l| format!(": {l}"));
        return fail(format!(
            "exited ({}) after our server sent back all {sent} bytes{said}",
            describe(&status)
        ));
    }
    match last.as_deref().and_then(last_number) {
        None => fail(format!(
            "exited 0, but its last line holds no count of the bytes it got \
             back (our server sent {sent})"
        )),
        Some(got) if got != sent => fail(format!(
            "says it got {got} bytes back; our server sent back {sent}"
        )),
        Some(_) if n.server_read_bytes < MIN_BYTES => fail(format!(
            "sent only {} bytes, fewer than the {MIN_BYTES} the check asks \
             for: so few fit in the buffers on the way, and a client that \
             reads nothing until it has sent everything would pass too",
            n.server_read_bytes
        )),
        Some(_) => Ok(()),
    }
}

/// The last number in `line`: `received 16777216 bytes` gives 16777216.
fn last_number(line: &str) -> Option<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())?
        .parse()
        .ok()
}
