//! What experiment 10 sees on the wire of its large case: each side's
//! windows of 0 and the zero-window probes that test them, counted from
//! the capture. The socket calls are in `../deadlock.rs`.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lab::capture::{OnWire, Segment, Wire};

/// The longest the large case waits, once stalled, for both sides'
/// zero-window probes: Linux sends the first 200 ms (`TCP_RTO_MIN`, the
/// persist timer's floor) after the window closed, the next after 400 ms.
pub const PROBE_WAIT: Duration = Duration::from_millis(1000);

/// The large case's connection on the wire, up to the stall, counted.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[derive(schemars::JsonSchema)]
pub struct WireCase {
    /// Segments between the two ends.
    pub segments: u64,
    /// Segments the client sent advertising a window of 0: its receive
    /// buffer was full.
    pub client_zero_windows: u64,
    /// Segments the server sent advertising a window of 0.
    pub server_zero_windows: u64,
    /// Zero-window probes the client sent (to the server's window of 0).
    pub client_probes: u64,
    /// Zero-window probes the server sent.
    pub server_probes: u64,
    /// Retransmissions, both ways.
    pub retransmissions: u64,
}

impl WireCase {
    /// Counts the segments between `client` and `server`.
    fn count(seen: &[Segment], client: SocketAddr) -> WireCase {
        let mut w = WireCase::default();
        for s in seen {
            let zero = u64::from(s.window == 0 && !s.flags.has(RST_OR_SYN));
            let probe = u64::from(s.zero_window_probe);
            if s.src == client {
                (w.client_zero_windows, w.client_probes) =
                    (w.client_zero_windows + zero, w.client_probes + probe);
            } else {
                (w.server_zero_windows, w.server_probes) =
                    (w.server_zero_windows + zero, w.server_probes + probe);
            }
            w.segments += 1;
            w.retransmissions += u64::from(s.retransmission);
        }
        w
    }

    /// Both sides advertised a window of 0.
    pub fn both_zero(&self) -> bool {
        self.client_zero_windows > 0 && self.server_zero_windows > 0
    }

    /// Both sides sent a zero-window probe.
    pub fn both_probed(&self) -> bool {
        self.client_probes > 0 && self.server_probes > 0
    }
}

const RST_OR_SYN: crate::lab::capture::Flags = crate::lab::capture::Flags(0x06);

/// The large case's segments, waiting at most [`PROBE_WAIT`] (and
/// `timeout`) for a zero-window probe from each side; `None` where the
/// sockets have no names.
pub(super) fn large_case(
    wire: &Wire,
    client: &TcpStream,
    server: &TcpStream,
    timeout: Duration,
) -> Option<OnWire<WireCase>> {
    let (c, s) = (client.local_addr().ok()?, server.local_addr().ok()?);
    let probed = |seen: &[Segment]| WireCase::count(seen, c).both_probed();
    let limit = PROBE_WAIT.min(timeout);
    let seen = wire.segments_until(|x| x.between(c, s), probed, limit);
    Some(seen.map(|seen| WireCase::count(&seen, c)))
}
