//! Where a default run happens, set up before it and told after it: its
//! network (a private namespace, or the host's), the settings pinned in
//! it, its capture and the pcap file, and the lines that say so.

use crate::lab::capture::{Capture, Packets, Segment};
use crate::lab::cli::Common;
use crate::lab::kernel::{self, Sysctl};
use crate::lab::narrate;
use crate::lab::netns::private::{self, Network};
use crate::lab::out_file::OutFile;

/// A default run's surroundings, from [`prepare`] to [`Setup::finish`].
pub(super) struct Setup {
    pub(super) network: Network,
    pub(super) sysctls: Vec<Sysctl>,
    pub(super) capture: Capture,
    trace: bool,
}

/// Checks `--pcap` (a bad path is a usage error before any work), enters
/// the network asked for, pins the settings there (all but `keep_host`),
/// opens the capture while the capabilities last, gives them up, and
/// starts the capture's reader. Call it before any thread starts.
///
/// # Errors
/// `--pcap`'s file cannot be written, or `capset(2)` failed.
pub(super) fn prepare(
    common: &Common,
    keep_host: &[&str],
) -> anyhow::Result<Setup> {
    let pcap = common.pcap.as_deref().map(|p| OutFile::check("--pcap", p));
    let pcap = pcap.transpose()?;
    let network = common.network.enter();
    let sysctls = kernel::pin(network == Network::Private, keep_host);
    let mut capture = Capture::open(&network, pcap.as_ref())?;
    private::settle().map_err(|e| {
        anyhow::anyhow!("capset: {e}; hint: run with --network host")
    })?;
    capture.start();
    Ok(Setup {
        network,
        sysctls,
        capture,
        trace: common.trace,
    })
}

impl Setup {
    /// The narration's first line: where the run's sockets live, and why
    /// on the host when they do.
    pub(super) fn network_line(&self) -> String {
        match &self.network {
            Network::Private => {
                "network: private (a namespace of its own, only loopback)"
                    .into()
            }
            Network::Host { why } => format!("network: host ({why})"),
        }
    }

    /// Ends the capture and returns its counts and the segments kept;
    /// where the pcap file could not be written, says so on stderr.
    pub(super) fn finish(self) -> (Packets, Vec<Segment>) {
        match self.capture.finish() {
            Ok(done) => done,
            Err(e) => {
                narrate::error_line(&e);
                let why = format!("{e:#}");
                (Packets::NotCaptured { why }, vec![])
            }
        }
    }

    /// Whether `--trace` asked for the segments.
    pub(super) fn trace(&self) -> bool {
        self.trace
    }
}

/// The line that sums up the wire, after the experiment's narration.
pub(super) fn wire_line(packets: &Packets) -> String {
    match packets {
        Packets::Captured(s) if s.frames_dropped == 0 => format!(
            "wire: {} segments captured, 0 frames dropped (this run)",
            s.segments
        ),
        Packets::Captured(s) => format!(
            "wire: {} segments captured; the kernel dropped {} frames, \
             the capture missed them (this run)",
            s.segments, s.frames_dropped
        ),
        Packets::NotCaptured { why } => format!("wire: not captured ({why})"),
    }
}

/// `--trace`: every segment kept (the first [`crate::lab::capture::KEPT_SEGMENTS`]),
/// one line each, times from the first;
/// on stderr under `--json`, so the report stays one line.
pub(super) fn print_trace(segments: &[Segment], packets: &Packets, json: bool) {
    let t0 = segments.first().map_or(0, |s| s.at_us);
    let out = |line: &str| {
        if json {
            eprintln!("{line}");
        } else {
            narrate::line(line);
        }
    };
    let head = match packets {
        Packets::Captured(s) if s.segments > segments.len() as u64 => format!(
            "trace: the first {} of {} segments (--pcap FILE keeps all)",
            segments.len(),
            s.segments
        ),
        _ => format!("trace: {} segments", segments.len()),
    };
    out(&head);
    for s in segments {
        out(&s.trace_line(t0));
    }
}
