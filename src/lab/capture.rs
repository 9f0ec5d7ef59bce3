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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};

use pcap_file::pcap::{PcapHeader, PcapWriter};

use crate::lab::kernel::sys::packet::{PacketRing, packet_socket};
use crate::lab::netns::private::Network;
use crate::lab::out_file::{OutFile, Partial};

mod file;
mod reader;
mod segment;
mod summary;
mod wire;

pub use file::read_pcap;
pub use reader::{FRAME_BYTES, KEPT_SEGMENTS, LINK_FRAMES, POLL, RING_FRAMES};
use reader::{Shared, Source, State, start_reader};
pub use segment::{Flags, Segment};
pub use summary::{FlagCounts, OnWire, Packets, Summary, connections_to};
pub use wire::Wire;

/// The snap length the pcap file's header states: tcpdump's default
/// (`MAXIMUM_SNAPLEN`), above any frame's length on loopback.
const PCAP_SNAPLEN: u32 = 262_144;

/// Loopback's interface number in every network namespace.
const LO_INDEX: u32 = 1;

/// The run's capture, from [`Capture::open`] to [`Capture::finish`].
pub struct Capture {
    wire: Wire,
    pcap: Option<Partial>,
}

impl Capture {
    /// Opens a packet socket on the loopback of `network` (call it before
    /// `settle()`: inside a private namespace it needs the capabilities an
    /// ordinary user holds until then), and the pcap file, if asked for,
    /// beside `pcap`. Never fails: where there can be no capture, the
    /// capture is off and says why (on stderr too, where `pcap` asked for
    /// a file that will not be written). The reader starts with
    /// [`Capture::start`].
    ///
    /// # Errors
    /// Only the pcap file: it could not be created or written.
    pub fn open(
        network: &Network,
        pcap: Option<&OutFile>,
    ) -> anyhow::Result<Capture> {
        let capture = Capture::open_ring(network, pcap)?;
        if let (Some(p), Some(why)) = (pcap, capture.wire.why_not()) {
            crate::lab::narrate::note_line(format_args!(
                "--pcap {}: not written, nothing is captured: {why}",
                p.shown()
            ));
        }
        Ok(capture)
    }

    /// [`Capture::open`], without the note.
    fn open_ring(
        network: &Network,
        pcap: Option<&OutFile>,
    ) -> anyhow::Result<Capture> {
        let off = |why: String| Capture {
            wire: Wire::off(why),
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
            // tcpdump's own snap length in the header (each record still
            // holds at most FRAME_BYTES): a reader that checks a frame's
            // length on the wire against it (pcap-file 2.0's) takes our
            // truncated frames, as it takes tcpdump's.
            let header = PcapHeader {
                snaplen: PCAP_SNAPLEN,
                endianness: pcap_file::Endianness::native(),
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
            pause: AtomicBool::new(false),
            reader: Mutex::new(None),
        };
        Ok(Capture {
            wire: Wire(Ok(Arc::new(shared))),
            pcap: partial,
        })
    }

    /// Starts the reader thread (after `settle()`, so it holds no
    /// capability).
    pub fn start(&mut self) {
        if let Ok(shared) = &self.wire.0 {
            start_reader(shared);
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
        let reader = shared.reader.lock().expect("not poisoned").take();
        match reader {
            Some(reader) => drop(reader.join()),
            None => drop(shared.drain_all(RING_FRAMES as usize)),
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
