//! What experiment 10 sees on the wire of its large case: each side's
//! windows of 0 and the zero-window probes that test them, counted from
//! the capture. The socket calls are in `../deadlock.rs`.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lab::capture::{OnWire, Segment, Wire};

/// The longest the large case waits, once stalled, for each side to test
/// the other's window of 0 ([`WireCase::both_probed`]): Linux sends the
/// first zero-window probe 200 ms (`TCP_RTO_MIN`, the persist timer's
/// floor) after the window closed, the next after 400 ms.
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
    /// Retransmissions the client sent while the server's last window
    /// was 0: with data unacknowledged, its retransmission timer, not the
    /// persist timer, tests the window (the kernel timer `retransmit`).
    pub client_retransmissions_into_zero: u64,
    /// The same, from the server.
    pub server_retransmissions_into_zero: u64,
    /// Retransmissions, both ways.
    pub retransmissions: u64,
}

impl WireCase {
    /// Counts the segments between `client` and the server, in order.
    fn count(seen: &[Segment], client: SocketAddr) -> WireCase {
        let mut w = WireCase::default();
        // The last window each side advertised: client's, server's.
        let mut last = [None::<u16>; 2];
        for s in seen {
            let from_client = s.src == client;
            let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
            let zero = u64::from(s.window == 0 && !s.flags.has(RST_OR_SYN));
            let probe = u64::from(s.zero_window_probe);
            let into_zero =
                u64::from(s.retransmission && last[peer] == Some(0));
            let (windows, probes, retrans) = if from_client {
                let c = &mut w;
                (
                    &mut c.client_zero_windows,
                    &mut c.client_probes,
                    &mut c.client_retransmissions_into_zero,
                )
            } else {
                let c = &mut w;
                (
                    &mut c.server_zero_windows,
                    &mut c.server_probes,
                    &mut c.server_retransmissions_into_zero,
                )
            };
            *windows += zero;
            *probes += probe;
            *retrans += into_zero;
            last[me] = Some(s.window);
            w.segments += 1;
            w.retransmissions += u64::from(s.retransmission);
        }
        w
    }

    /// Both sides advertised a window of 0.
    pub fn both_zero(&self) -> bool {
        self.client_zero_windows > 0 && self.server_zero_windows > 0
    }

    /// Each side tested the other's window of 0: with a zero-window probe
    /// (its persist timer), or by sending again what it had sent (its
    /// retransmission timer); and at least one probe went.
    pub fn both_probed(&self) -> bool {
        let client = self.client_probes + self.client_retransmissions_into_zero;
        let server = self.server_probes + self.server_retransmissions_into_zero;
        client > 0 && server > 0 && self.client_probes + self.server_probes > 0
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
