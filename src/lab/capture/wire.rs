//! The experiments' view of the capture ([`Wire`]), in
//! [`crate::lab::experiment::Ctx`].

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use super::reader::{FRAME_BYTES, LINK_FRAMES, Shared, Source, start_reader};
use super::segment::Segment;
use super::summary::OnWire;
use crate::lab::kernel::sys::packet::PacketRing;

/// The experiments' view of the capture (in [`crate::lab::experiment::Ctx`]):
/// the segments seen so far, or why there are none. Cheap to clone.
#[derive(Clone)]
pub struct Wire(pub(super) Result<Arc<Shared>, String>);

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

    /// Runs `f` with the reader thread stopped, so that this process has
    /// one thread less (`fork(2)` wants one thread: [`crate::lab::privilege`]);
    /// the kernel goes on filling the ring meanwhile, and the reader,
    /// started again, reads it.
    pub fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let Ok(shared) = &self.0 else { return f() };
        shared.pause.store(true, SeqCst);
        let reader = shared.reader.lock().expect("not poisoned").take();
        if let Some(reader) = reader {
            let _ = reader.join();
        }
        let result = f();
        shared.pause.store(false, SeqCst);
        if !shared.stop.load(SeqCst) {
            start_reader(shared);
        }
        result
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

    /// Reads what link `id` holds, then closes it (its counts stay), on a
    /// thread of its own.
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
                // Closing a packet socket waits for the kernel's RCU grace
                // periods (tens of ms on a busy machine): a thread of its
                // own does it while the run goes on.
                std::thread::spawn(move || drop(s));
            }
        }
    }
}
