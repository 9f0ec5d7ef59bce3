//! What experiment 10 measures, as one typed struct per case (serialized
//! as the report's `measurements`), and the narration made from the same
//! values. The socket calls are in `../deadlock.rs`.

use serde::{Deserialize, Serialize};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use super::knobs::Knobs;
use super::queues::{Buffers, Counts, Ends, Queues, ledger};
use super::wire::WireCase;
use crate::lab::capture::OnWire;
use crate::lab::experiment::Ctx;
use crate::lab::kernel::TcpTimer;
use crate::lab::narrate::Narrator;
use crate::lab::{peers, watch};

/// What the default run observed: one [`Case`] per connection.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The book's client with 16 bytes; `None` under `--fixed`.
    pub small: Option<Case>,
    /// The book's client with `--bytes`; `None` under `--fixed`.
    pub large: Option<Case>,
    /// The fix: a client that reads while it writes, with `--bytes`.
    pub fixed: Case,
    /// The most memory this process had resident, in bytes (`getrusage`).
    pub peak_rss_bytes: Option<u64>,
}

/// One connection: what each side's calls returned, and, if it stalled,
/// what the kernel held at the stall.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Case {
    /// Bytes the client set out to send.
    pub bytes: u64,
    /// Bytes handed to each `sendall()` (`--chunk`).
    pub chunk_bytes: u64,
    /// True if every byte came back upper-cased and nothing stalled.
    pub completed: bool,
    /// Whether no counter moved for the stall window (`--stall-ms`), and
    /// when; how long the case took.
    #[serde(flatten)]
    pub timing: watch::Timing,
    /// The byte counters, each read right after the call it counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// What the client's reads returned, if it finished.
    pub returned_bytes: Option<u64>,
    /// How many of those were not the upper-cased message.
    pub returned_wrong_bytes: Option<u64>,
    /// Why the client stopped, if it failed (after a stall: woken by us).
    pub client_error: Option<String>,
    /// At the stall: were both sides waiting in `poll(POLLOUT)` for room
    /// to send? `None` if there was no stall.
    pub both_waiting: Option<bool>,
    /// The four kernel queues at the stall; `None` if no stall, or where
    /// the kernel does not report them.
    pub queues: Option<Queues>,
    /// `TCP_INFO` of both sides at the stall.
    pub tcp: Option<Ends>,
    /// The connection on the wire up to the stall (and its probes);
    /// `None` if it did not stall.
    pub wire: Option<OnWire<WireCase>>,
    /// The buffer sizes read back with `getsockopt`.
    pub buffers: Buffers,
    /// The client's `TCP_RTO_MIN_US` read back, in µs (`--rto-min-ms`
    /// after the kernel's rounding); `None` where the kernel has no such
    /// option.
    pub rto_min_us: Option<u32>,
    /// MiB per second through the whole case (the fix only).
    pub throughput_mib_per_s: Option<f64>,
    /// Threads and descriptors the case left behind (0 and 0).
    #[serde(flatten)]
    pub left: peers::Left,
}

impl Case {
    /// Lines 1 and 3 of the ledger balance to the byte; `None` if the
    /// queues were not read.
    pub fn ledger_balanced(&self) -> Option<bool> {
        let l = ledger(&self.counts, self.queues.as_ref()?);
        Some(l[0].0 == l[0].1 && l[2].0 == l[2].1)
    }
}

pub(super) fn narrate_naive(say: &Narrator, case: &Case) {
    let n = &case.counts;
    let (c, chunk) = (say.client(), case.chunk_bytes);
    c.say(format!(
        "Sending {} bytes of data, in chunks of {chunk} bytes",
        case.bytes
    ));
    c.say(format!("  {} bytes sent", n.client_sent_bytes));
    if !case.timing.stalled {
        c.say("Receiving all the data the server sends back");
        c.say(format!("  {} bytes received", n.client_received_bytes));
        return narrate_end(say, case);
    }
    let t = &case.timing;
    let (at, quiet) = (t.last_progress_ms, t.elapsed_ms - t.last_progress_ms);
    say.say(format!(
        "   STALLED: no byte moved for {quiet} ms (from {at} ms on);"
    ));
    if t.detected_by == Some(watch::Detector::Cycle) {
        let held = t.long_pauses.last().map_or(0, |p| p.cycle_ms);
        say.say(format!(
            "   for the last {held} ms both sides waited to send, and both"
        ));
        say.say(
            "   windows were 0: a cycle of waits, which nothing will break.",
        );
    } else {
        say.say("   the book's client and server would wait forever");
    }
    let lines = [
        ("client got the kernel to accept", n.client_sent_bytes),
        ("server read", n.server_read_bytes),
        ("server got the kernel to accept", n.server_sent_bytes),
        ("server holds in hand", n.server_held_bytes),
    ];
    lines
        .iter()
        .for_each(|(what, b)| say.say(format!("   {what:<32}{b:>9} bytes")));
    if let Some(q) = &case.queues {
        say.say("   the kernel's four queues (ioctl SIOCOUTQ / SIOCINQ):");
        let lines = [
            ("client send queue", q.client_send_queue_bytes),
            ("server receive queue", q.server_recv_queue_bytes),
            ("server send queue", q.server_send_queue_bytes),
            ("client receive queue", q.client_recv_queue_bytes),
        ];
        lines.iter().for_each(|(what, b)| {
            say.say(format!("     {what:<30}{b:>9} bytes"))
        });
        let l = ledger(n, q);
        let ok = |(a, b): (u64, u64)| if a == b { "✓" } else { "✗" };
        say.say("   the ledger, to the byte (from the kernel's queues):");
        say.say("     client accepted = client send q + server receive q + server read");
        let (cs, sr) = (q.client_send_queue_bytes, q.server_recv_queue_bytes);
        say.say(format!(
            "       {} = {cs} + {sr} + {} {}",
            l[0].0,
            n.server_read_bytes,
            ok(l[0])
        ));
        say.say(
            "     server accepted = server send queue + client receive queue",
        );
        let (ss, cr) = (q.server_send_queue_bytes, q.client_recv_queue_bytes);
        say.say(format!("       {} = {ss} + {cr} {}", l[2].0, ok(l[2])));
    }
    if let Some(t) = &case.tcp {
        let w = |x: Option<u32>| {
            x.map_or("unknown".into(), |n| format!("{n} bytes"))
        };
        let (cw, sw) =
            (w(t.client_send_window_bytes), w(t.server_send_window_bytes));
        say.say(format!("   TCP_INFO send window: client {cw}, server {sw}"));
        say.say(format!(
            "   TCP_INFO segment size: client {} bytes, server {} bytes",
            t.client_segment_bytes, t.server_segment_bytes
        ));
        let timer = |x: &Option<TcpTimer>| {
            x.map_or("unknown".into(), |t| t.to_string())
        };
        say.say(format!(
            "   kernel timer (/proc/net/tcp): client {}, server {}",
            timer(&t.client_timer),
            timer(&t.server_timer)
        ));
        say.say(format!(
            "   TCP_INFO state: client {}, server {}",
            t.client_state, t.server_state
        ));
    }
    let b = &case.buffers;
    say.say("   buffers read back (Linux doubles what setsockopt asks for):");
    let (cs, cr) = (b.client_sndbuf_bytes, b.client_rcvbuf_bytes);
    say.say(format!("     client SO_SNDBUF {cs}, SO_RCVBUF {cr}"));
    let (ss, sr) = (b.server_sndbuf_bytes, b.server_rcvbuf_bytes);
    say.say(format!("     server SO_SNDBUF {ss}, SO_RCVBUF {sr}"));
    if let Some(us) = case.rto_min_us {
        say.say(format!(
            "   TCP_RTO_MIN_US read back: {us} µs (Linux's default: 200000)"
        ));
    }
    let (total, sent) = (b.total_bytes(), n.client_sent_bytes);
    let pct = 100.0 * sent as f64 / total as f64;
    say.say(format!(
        "   together {total} bytes; the stall came after {sent} ({pct:.0}%)"
    ));
}

pub(super) fn narrate_fix(say: &Narrator, case: &Case) {
    say.client().say(format!(
        "Sending {} bytes while a second thread reads the replies",
        case.bytes
    ));
    narrate_end(say, case);
}

/// How a case ended, in words that say what failed if it did.
fn narrate_end(say: &Narrator, case: &Case) {
    let (n, rate) = (case.bytes, case.throughput_mib_per_s);
    let rate = rate.map_or(String::new(), |r| format!(", {r:.1} MiB/s"));
    say.say(
        match (
            case.returned_bytes,
            case.returned_wrong_bytes,
            &case.client_error,
        ) {
            _ if case.completed => format!(
                "   completed: all {n} bytes came back upper-cased{rate}"
            ),
            _ if case.timing.stalled => format!(
                "   NOT completed: stalled after {} bytes sent",
                case.counts.client_sent_bytes
            ),
            (_, _, Some(e)) => {
                format!("   NOT completed: the client failed: {e}")
            }
            (Some(got), Some(0), _) => {
                format!("   NOT completed: only {got} of {n} bytes came back")
            }
            (_, wrong, _) => format!(
                "   NOT completed: {} bytes came back wrong",
                wrong.unwrap_or(0)
            ),
        },
    );
}

/// Byte counters, each bumped right after the call it counts returns;
/// and what the client's first `recv()` returned, which the book's client
/// prints.
#[derive(Debug, Default)]
pub struct Counters {
    /// The client's `sendall()`.
    pub client: Sender,
    /// Bytes the client's `recv()` calls returned.
    pub client_received: AtomicU64,
    /// Bytes the server's `recv()` calls returned.
    pub server_read: AtomicU64,
    /// The server's `sendall()`.
    pub server: Sender,
    /// What the client's first `recv()` returned.
    pub first_received: OnceLock<Vec<u8>>,
}

/// One side's `sendall()`: what its kernel accepted, what it still holds,
/// and whether it is waiting in `poll(POLLOUT)` for room right now.
#[derive(Debug, Default)]
pub struct Sender {
    /// Bytes its kernel accepted, in all.
    pub accepted: AtomicU64,
    /// Bytes of the current `sendall()` not yet accepted.
    pub held: AtomicU64,
    /// Whether it waits in `poll(POLLOUT)` for room now.
    pub waiting: AtomicBool,
}

/// The counters a watch samples, in the order of [`SERIES`].
pub(super) const SERIES: [&str; 4] = [
    "client sent",
    "server read",
    "server sent",
    "client received",
];

impl Counters {
    /// The counters now, each read once.
    pub fn snapshot(&self) -> Counts {
        Counts {
            client_sent_bytes: self.client.accepted.load(SeqCst),
            client_received_bytes: self.client_received.load(SeqCst),
            server_read_bytes: self.server_read.load(SeqCst),
            server_sent_bytes: self.server.accepted.load(SeqCst),
            server_held_bytes: self.server.held.load(SeqCst),
        }
    }

    pub(super) fn watched(&self) -> Vec<u64> {
        let n = self.snapshot();
        let (r, s) = (n.server_read_bytes, n.server_sent_bytes);
        vec![n.client_sent_bytes, r, s, n.client_received_bytes]
    }
}

pub(super) fn label(v: &[u64]) -> String {
    format!(
        "sent {} read {} sent {} received {}",
        v[0], v[1], v[2], v[3]
    )
}

/// The stall window; the cycle test's confirmation (`--cycle-ms`), for a
/// client that never reads only: a client that reads cannot be part of a
/// cycle of waits, and a reader starved of the CPU for a moment on a
/// loaded machine only looks like one, so the fix is judged by the stall
/// window alone; a progress line on a terminal; samples for a plot.
pub(super) fn watch_opts(
    k: &Knobs,
    ctx: &Ctx,
    client_reads: bool,
) -> watch::WatchOpts {
    let cycle = k.cycle_ms > 0 && !client_reads;
    watch::WatchOpts {
        stall: Duration::from_millis(k.stall_ms),
        confirm: cycle.then(|| Duration::from_millis(k.cycle_ms)),
        every: Duration::from_millis(2),
        progress: !ctx.json,
        record: k.plot.is_some(),
    }
}
