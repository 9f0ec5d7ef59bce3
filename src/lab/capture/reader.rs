//! The capture's reader: the rings it drains, what it makes of each
//! frame, and the thread that does it until the run ends.

use std::io::BufWriter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pcap_file::pcap::{PcapPacket, PcapWriter};

use super::segment::{Flows, Segment};
use super::summary::Summary;
use crate::lab::kernel::sys::packet::{PacketRing, RawFrame};

/// Bytes of each ring slot: its header (80 bytes before the frame) and
/// the frame's first 176 bytes, enough for the Ethernet, IP and TCP
/// headers with every option, and a small payload.
pub const FRAME_BYTES: u32 = 256;
/// Slots in a ring: 32768 of [`FRAME_BYTES`], 8 MiB, about 60 ms of the
/// fastest run's frames should the reader fall behind.
pub const RING_FRAMES: u32 = 32768;
/// Slots in the ring of a link an experiment adds ([`super::Wire::add_link`]),
/// which carries a few connections: 1024, 256 KiB.
pub const LINK_FRAMES: u32 = 1024;
/// Segments kept in memory for checks and `--trace`, at most (about
/// 2 MiB); the rest are counted, and written to the pcap file. The
/// default runs send far fewer.
pub const KEPT_SEGMENTS: usize = 20_000;
/// The longest the reader waits in `poll(2)` before it looks again.
pub const POLL: Duration = Duration::from_millis(5);
/// The longest [`Wire::segments`] waits for the reader to drain.
pub(super) const SYNC_LIMIT: Duration = Duration::from_secs(2);
/// One ring and what the reader does with its frames.
pub(super) struct Source {
    pub(super) id: u32,
    pub(super) ring: PacketRing,
    /// Keep frames leaving the interface (a veth), or drop them (`lo`,
    /// where the kernel could not be asked to).
    pub(super) keep_outgoing: bool,
}

/// What the reader has made of the frames so far.
#[derive(Default)]
pub(super) struct State {
    pub(super) flows: Flows,
    pub(super) kept: Vec<Segment>,
    pub(super) summary: Summary,
    pub(super) first: Option<Duration>,
    pub(super) pcap: Option<PcapWriter<BufWriter<std::fs::File>>>,
    pub(super) pcap_error: Option<String>,
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

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) sources: Mutex<Vec<Source>>,
    pub(super) next_id: AtomicU64,
    pub(super) asked: AtomicU64,
    pub(super) drained: Mutex<u64>,
    pub(super) drained_cv: Condvar,
    pub(super) stop: AtomicBool,
    /// Tells the reader to end, to be started again ([`Wire::paused`]).
    pub(super) pause: AtomicBool,
    pub(super) reader: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// One pass over every ring; returns the frames read.
    pub(super) fn drain_all(&self, max_each: usize) -> usize {
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
    pub(super) fn read(&self) {
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
            if self.pause.load(SeqCst) {
                return;
            }
            self.wait();
        }
    }

    /// Has the reader drain everything the kernel holds now; waits at
    /// most [`SYNC_LIMIT`].
    pub(super) fn sync(&self) {
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

/// Starts the reader thread of `shared`.
pub(super) fn start_reader(shared: &Arc<Shared>) {
    let again = Arc::clone(shared);
    let reader = std::thread::spawn(move || again.read());
    *shared.reader.lock().expect("not poisoned") = Some(reader);
}
