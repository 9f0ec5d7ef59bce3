//! The wire: every segment of a default run, captured with a packet socket
//! on the run's own loopback (`packet(7)`), kept for the experiment's
//! checks, counted for the report, written to a pcap file (`--pcap`) and
//! printed one line each (`--trace`).
//!
//! How, measured on Linux 6.18 (as root and as uid 65534):
//! - A packet socket needs `CAP_NET_RAW` over the network namespace: in
//!   the run's private namespace every user has it until
//!   [`crate::lab::netns::private::settle`], so [`Capture::open`] comes
//!   between `enter()` and `settle()`; on the host's loopback only root
//!   has it. Without it, the run says once why, and its verdicts skip the
//!   packet checks ([`OnWire::NotCaptured`]).
//! - The socket is bound to `lo` (interface 1) and reads through a
//!   receive ring (`PACKET_RX_RING`, `TPACKET_V2`): the kernel copies the
//!   first [`FRAME_BYTES`] of each frame into a slot of [`RING_FRAMES`], so
//!   neither a fast run nor its memory grows with the bytes sent; the
//!   kernel counts what it drops when the ring is full
//!   (`PACKET_STATISTICS`), and the report says so.
//! - Loopback shows each frame twice, leaving and arriving:
//!   `PACKET_IGNORE_OUTGOING` (Linux 4.20) keeps only the arrival (older
//!   kernels: the reader drops `PACKET_OUTGOING` frames itself). A veth
//!   link an experiment adds ([`Wire::add_link`]) shows each frame once
//!   each way, so both directions are kept there.
//! - One reader thread drains the rings, waiting in `poll(2)` at most
//!   [`POLL`] at a time, and ends with the run ([`Capture::finish`]).
//!   [`Wire::segments`] first has it drain what the kernel holds, so an
//!   experiment reads every segment sent so far.

use std::io::BufWriter;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::lab::kernel::sys::packet::{PacketRing, RawFrame, packet_socket};
use crate::lab::netns::private::Network;
use crate::lab::out_file::{OutFile, Partial};

mod segment;
mod summary;

use segment::Flows;
pub use segment::{Flags, Segment};
pub use summary::{FlagCounts, OnWire, Packets, Summary, connections_to};

/// Bytes of each ring slot: its header (80 bytes before the frame) and
/// the frame's first 176 bytes, enough for the Ethernet, IP and TCP
/// headers with every option, and a small payload.
pub const FRAME_BYTES: u32 = 256;
/// Slots in a ring: 32768 of [`FRAME_BYTES`], 8 MiB, about 60 ms of the
/// fastest run's frames should the reader fall behind.
pub const RING_FRAMES: u32 = 32768;
/// Slots in the ring of a link an experiment adds ([`Wire::add_link`]),
/// which carries a few connections: 1024, 256 KiB.
pub const LINK_FRAMES: u32 = 1024;
/// Segments kept in memory for checks and `--trace`, at most; the rest
/// are counted (and written to the pcap file).
pub const KEPT_SEGMENTS: usize = 100_000;
/// The longest the reader waits in `poll(2)` before it looks again.
pub const POLL: Duration = Duration::from_millis(5);
/// The longest [`Wire::segments`] waits for the reader to drain.
const SYNC_LIMIT: Duration = Duration::from_secs(2);
/// Loopback's interface number in every network namespace.
const LO_INDEX: u32 = 1;

/// One ring and what the reader does with its frames.
struct Source {
    id: u32,
    ring: PacketRing,
    /// Keep frames leaving the interface (a veth), or drop them (`lo`,
    /// where the kernel could not be asked to).
    keep_outgoing: bool,
}

/// What the reader has made of the frames so far.
#[derive(Default)]
struct State {
    flows: Flows,
    kept: Vec<Segment>,
    summary: Summary,
    first: Option<Duration>,
    pcap: Option<PcapWriter<BufWriter<std::fs::File>>>,
    pcap_error: Option<String>,
}

impl State {
    fn frame(&mut self, f: RawFrame<'_>, keep_outgoing: bool) {
        if f.outgoing && !keep_outgoing {
            return;
        }
        let at = Duration::new(u64::from(f.sec), f.nsec);
        let first = *self.first.get_or_insert(at);
        self.summary.frames_captured += 1;
        if let Some(w) = &mut self.pcap
            && let Err(e) = w.write_packet(&PcapPacket::new(at, f.len, f.data))
        {
            self.pcap_error = Some(e.to_string());
            self.pcap = None;
        }
        let at_us = at.saturating_sub(first).as_micros() as u64;
        if let Some(s) = self.flows.segment(f.data, at_us) {
            self.summary.count(&s);
            if self.kept.len() < KEPT_SEGMENTS {
                self.kept.push(s);
                self.summary.segments_kept += 1;
            }
        }
    }
}

struct Shared {
    state: Mutex<State>,
    sources: Mutex<Vec<Source>>,
    next_id: AtomicU64,
    asked: AtomicU64,
    drained: Mutex<u64>,
    drained_cv: Condvar,
    stop: AtomicBool,
}

impl Shared {
    /// One pass over every ring; returns the frames read.
    fn drain_all(&self, max_each: usize) -> usize {
        let mut sources = self.sources.lock().expect("not poisoned");
        let mut state = self.state.lock().expect("not poisoned");
        let mut n = 0;
        for s in sources.iter_mut() {
            let keep = s.keep_outgoing;
            n += s.ring.drain(max_each, |f| state.frame(f, keep));
        }
        n
    }

    /// Waits at most [`POLL`] for a frame on any ring.
    fn wait(&self) {
        let sources = self.sources.lock().expect("not poisoned");
        let mut fds: Vec<PollFd<'_>> = sources
            .iter()
            .map(|s| PollFd::new(s.ring.fd(), PollFlags::POLLIN))
            .collect();
        let t = PollTimeout::try_from(POLL).unwrap_or(PollTimeout::ZERO);
        if fds.is_empty() {
            drop(fds);
            drop(sources);
            std::thread::sleep(POLL);
        } else {
            let _ = poll(&mut fds, t);
        }
    }

    /// The reader thread: drains the rings until told to stop, then once
    /// more.
    fn read(&self) {
        loop {
            let stopping = self.stop.load(SeqCst);
            let asked = self.asked.load(SeqCst);
            if self.drain_all(4096) > 0 && !stopping {
                continue;
            }
            *self.drained.lock().expect("not poisoned") = asked;
            self.drained_cv.notify_all();
            if stopping {
                self.drain_all(RING_FRAMES as usize);
                return;
            }
            self.wait();
        }
    }

    /// Has the reader drain everything the kernel holds now; waits at
    /// most [`SYNC_LIMIT`].
    fn sync(&self) {
        let want = self.asked.fetch_add(1, SeqCst) + 1;
        let end = Instant::now() + SYNC_LIMIT;
        let mut done = self.drained.lock().expect("not poisoned");
        while *done < want && !self.stop.load(SeqCst) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            done = self
                .drained_cv
                .wait_timeout(done, left)
                .expect("not poisoned")
                .0;
        }
    }
}

/// The experiments' view of the capture (in [`crate::lab::experiment::Ctx`]):
/// the segments seen so far, or why there are none. Cheap to clone.
#[derive(Clone)]
pub struct Wire(Result<Arc<Shared>, String>);

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("Wire(captured)"),
            Err(why) => write!(f, "Wire(not captured: {why})"),
        }
    }
}

impl Wire {
    /// No capture, for the reason `why` (a manual role, a test).
    pub fn off(why: impl Into<String>) -> Wire {
        Wire(Err(why.into()))
    }

    /// Why nothing is captured; `None` if the capture runs.
    pub fn why_not(&self) -> Option<&str> {
        self.0.as_ref().err().map(String::as_str)
    }

    /// The segments captured so far that `keep` keeps, in the order the
    /// kernel saw them, after the reader drained what the kernel holds
    /// (waiting at most 2 s for it), and 1 ms more for a frame still on
    /// its way through loopback.
    pub fn segments(
        &self,
        keep: impl Fn(&Segment) -> bool,
    ) -> OnWire<Vec<Segment>> {
        self.segments_until(keep, |_| false, Duration::from_millis(1))
    }

    /// As [`Wire::segments`], but waits, reading again every 2 ms, until
    /// `done` holds for the segments kept, or `limit` has passed.
    pub fn segments_until(
        &self,
        keep: impl Fn(&Segment) -> bool,
        done: impl Fn(&[Segment]) -> bool,
        limit: Duration,
    ) -> OnWire<Vec<Segment>> {
        let shared = match &self.0 {
            Ok(shared) => shared,
            Err(why) => return OnWire::NotCaptured(why.clone()),
        };
        let end = Instant::now() + limit;
        loop {
            shared.sync();
            let state = shared.state.lock().expect("not poisoned");
            let seen: Vec<Segment> =
                state.kept.iter().filter(|s| keep(s)).cloned().collect();
            drop(state);
            if done(&seen) || Instant::now() >= end {
                return OnWire::Seen(seen);
            }
            std::thread::sleep(Duration::from_millis(2).min(limit));
        }
    }

    /// Adds a link to the capture: the packet socket `fd` (made where the
    /// link lives, as [`crate::lab::netns::TwoHosts::packet_socket`] makes
    /// one in host A), bound to its interface `ifindex`, both directions
    /// kept. Returns its number, for [`Wire::remove_link`].
    ///
    /// # Errors
    /// Nothing is captured (the reason), or setting up the ring failed.
    pub fn add_link(&self, fd: OwnedFd, ifindex: u32) -> Result<u32, String> {
        let shared = self.0.as_ref().map_err(Clone::clone)?;
        let (ring, _) =
            PacketRing::new(fd, ifindex, false, FRAME_BYTES, LINK_FRAMES)
                .map_err(|e| {
                    format!("PACKET_RX_RING on link {ifindex}: {e}")
                })?;
        let id = shared.next_id.fetch_add(1, SeqCst) as u32 + 1;
        let source = Source {
            id,
            ring,
            keep_outgoing: true,
        };
        shared.sources.lock().expect("not poisoned").push(source);
        Ok(id)
    }

    /// Reads what link `id` holds, then closes it (its counts stay).
    pub fn remove_link(&self, id: u32) {
        if let Ok(shared) = &self.0 {
            shared.sync();
            let mut sources = shared.sources.lock().expect("not poisoned");
            if let Some(i) = sources.iter().position(|s| s.id == id) {
                let s = sources.remove(i);
                let dropped = s.ring.statistics().map_or(0, |(_, d)| d);
                shared
                    .state
                    .lock()
                    .expect("not poisoned")
                    .summary
                    .frames_dropped += u64::from(dropped);
            }
        }
    }
}

/// The run's capture, from [`Capture::open`] to [`Capture::finish`].
pub struct Capture {
    wire: Wire,
    reader: Option<JoinHandle<()>>,
    pcap: Option<Partial>,
}

impl Capture {
    /// Opens a packet socket on the loopback of `network` (call it before
    /// `settle()`: inside a private namespace it needs the capabilities an
    /// ordinary user holds until then), and the pcap file, if asked for,
    /// beside `pcap`. Never fails: where there can be no capture, the
    /// capture is off and says why. The reader starts with
    /// [`Capture::start`].
    ///
    /// # Errors
    /// Only the pcap file: it could not be created or written.
    pub fn open(
        network: &Network,
        pcap: Option<&OutFile>,
    ) -> anyhow::Result<Capture> {
        let off = |why: String| Capture {
            wire: Wire::off(why),
            reader: None,
            pcap: None,
        };
        let root = nix::unistd::geteuid().is_root();
        if let (Network::Host { .. }, false) = (network, root) {
            return Ok(off("on the host's loopback a packet socket needs root (CAP_NET_RAW)".into()));
        }
        let ring = packet_socket().and_then(|fd| {
            PacketRing::new(fd, LO_INDEX, true, FRAME_BYTES, RING_FRAMES)
        });
        let (ring, _) = match ring {
            Ok(r) => r,
            Err(e) => {
                let errno = crate::lab::error::errno_name(&e)
                    .unwrap_or_else(|| e.to_string());
                return Ok(off(format!("socket(AF_PACKET) on lo: {errno}")));
            }
        };
        let mut state = State::default();
        let mut partial = None;
        if let Some(file) = pcap {
            let mut p = file.begin()?;
            let header = PcapHeader {
                snaplen: FRAME_BYTES,
                ..PcapHeader::default()
            };
            let out = BufWriter::new(p.take_file());
            let writer = PcapWriter::with_header(out, header)
                .map_err(|e| anyhow::anyhow!("write {}: {e}", file.shown()))?;
            state.pcap = Some(writer);
            partial = Some(p);
        }
        let shared = Shared {
            state: Mutex::new(state),
            sources: Mutex::new(vec![Source {
                id: 0,
                ring,
                keep_outgoing: false,
            }]),
            next_id: AtomicU64::new(0),
            asked: AtomicU64::new(0),
            drained: Mutex::new(0),
            drained_cv: Condvar::new(),
            stop: AtomicBool::new(false),
        };
        Ok(Capture {
            wire: Wire(Ok(Arc::new(shared))),
            reader: None,
            pcap: partial,
        })
    }

    /// Starts the reader thread (after `settle()`, so it holds no
    /// capability).
    pub fn start(&mut self) {
        if let Ok(shared) = &self.wire.0 {
            let shared = Arc::clone(shared);
            self.reader = Some(std::thread::spawn(move || shared.read()));
        }
    }

    /// The experiments' view of it.
    pub fn wire(&self) -> Wire {
        self.wire.clone()
    }

    /// Stops the reader (it reads once more what the kernel holds), writes
    /// the pcap file whole, and returns the counts and the segments kept.
    ///
    /// # Errors
    /// Writing or renaming the pcap file failed.
    pub fn finish(mut self) -> anyhow::Result<(Packets, Vec<Segment>)> {
        let shared = match &self.wire.0 {
            Ok(shared) => Arc::clone(shared),
            Err(why) => {
                return Ok((Packets::NotCaptured { why: why.clone() }, vec![]));
            }
        };
        shared.stop.store(true, SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        } else {
            shared.drain_all(RING_FRAMES as usize);
        }
        let dropped: u64 = shared
            .sources
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|s| s.ring.statistics().map_or(0, |(_, d)| u64::from(d)))
            .sum();
        let mut state = shared.state.lock().expect("not poisoned");
        state.summary.frames_dropped += dropped;
        if let Some(w) = state.pcap.take() {
            use std::io::Write;
            let mut out = w.into_writer();
            let flushed = out.flush();
            if let (Some(p), None) = (self.pcap.take(), &state.pcap_error) {
                flushed
                    .map_err(|e| anyhow::anyhow!("write {}: {e}", p.shown()))?;
                p.finish()?;
            }
        }
        if let (Some(e), Some(p)) = (&state.pcap_error, &self.pcap) {
            anyhow::bail!("write {}: {e}", p.shown());
        }
        let kept = std::mem::take(&mut state.kept);
        Ok((Packets::Captured(state.summary.clone()), kept))
    }
}

/// Says what was on the wire where a packet check failed: the segments
/// `seen`, as `--trace` prints them (the first 16), under the line `what`.
pub fn say_seen(
    say: &crate::lab::narrate::Narrator,
    what: &str,
    seen: &[Segment],
) {
    say.say(format!("on the wire, {what}: {} segments", seen.len()));
    let t0 = seen.first().map_or(0, |s| s.at_us);
    for s in seen.iter().take(16) {
        say.say(format!("  {}", s.trace_line(t0)));
    }
}
