//! What a report says of the wire: the run's packets in sum
//! ([`Packets`]), and what an experiment saw of its own connections, or
//! why it saw nothing ([`OnWire`]).

use serde::{Deserialize, Serialize};

use super::segment::{Flags, Segment};

/// The run's packets: what the capture saw, or why there was none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Packets {
    /// Every frame on the run's loopback (and on any link an experiment
    /// added), counted.
    Captured(Summary),
    /// Nothing was captured.
    NotCaptured {
        /// Why, in one line: `"--network host, not root: a packet socket
        /// needs CAP_NET_RAW"`.
        why: String,
    },
}

/// The counts of a capture. Every count is of frames kept: on loopback,
/// where each frame passes twice (out, then in), one of the two.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Serialize,
    Deserialize,
    schemars::JsonSchema
)]
pub struct Summary {
    /// Frames the capture read from the kernel.
    pub frames_captured: u64,
    /// Frames the kernel dropped because the capture's ring was full
    /// (`PACKET_STATISTICS`); 0 means the capture missed nothing.
    pub frames_dropped: u64,
    /// TCP segments among the frames captured.
    pub segments: u64,
    /// Segments by their flags (one segment may count under several).
    pub by_flags: FlagCounts,
    /// Segments that carried payload bytes.
    pub with_data: u64,
    /// Segments that advertised a window of 0 (no SYN, no RST).
    pub zero_windows: u64,
    /// Zero-window probes (see [`Segment::zero_window_probe`]).
    pub zero_window_probes: u64,
    /// Retransmissions (see [`Segment::retransmission`]).
    pub retransmissions: u64,
    /// Segments kept in memory for the experiment's checks and `--trace`;
    /// past [`super::KEPT_SEGMENTS`] they are only counted (the pcap file
    /// holds them all).
    pub segments_kept: u64,
}

/// Segments counted by flag.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Serialize,
    Deserialize,
    schemars::JsonSchema
)]
pub struct FlagCounts {
    /// With SYN and without ACK: a connection's first segment.
    pub syn: u64,
    /// With SYN and ACK: the handshake's answer.
    pub syn_ack: u64,
    /// With FIN.
    pub fin: u64,
    /// With RST.
    pub rst: u64,
    /// With PSH.
    pub psh: u64,
    /// With ACK.
    pub ack: u64,
}

impl Summary {
    /// Counts one segment.
    pub fn count(&mut self, s: &Segment) {
        self.segments += 1;
        let f = &mut self.by_flags;
        let has = |flag| u64::from(s.flags.has(flag));
        f.syn += u64::from(s.flags.has(Flags::SYN) && !s.flags.has(Flags::ACK));
        f.syn_ack += has(Flags::SYN_ACK);
        f.fin += has(Flags::FIN);
        f.rst += has(Flags::RST);
        f.psh += has(Flags::PSH);
        f.ack += has(Flags::ACK);
        self.with_data += u64::from(s.len > 0);
        let plain = !s.flags.has(Flags::SYN) && !s.flags.has(Flags::RST);
        self.zero_windows += u64::from(plain && s.window == 0);
        self.zero_window_probes += u64::from(s.zero_window_probe);
        self.retransmissions += u64::from(s.retransmission);
    }
}

/// What an experiment saw on the wire of its own connections (`T`: the
/// segments, or what it counted of them), or why it saw nothing. As JSON:
/// `{"seen": ...}` or `{"not_captured": "why"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnWire<T> {
    /// What the capture saw.
    Seen(T),
    /// Nothing was captured, and why.
    NotCaptured(String),
}

/// Nothing seen yet.
impl<T: Default> Default for OnWire<T> {
    fn default() -> Self {
        OnWire::Seen(T::default())
    }
}

impl<T> OnWire<T> {
    /// What was seen; `None` if nothing was captured.
    pub fn seen(&self) -> Option<&T> {
        match self {
            OnWire::Seen(t) => Some(t),
            OnWire::NotCaptured(_) => None,
        }
    }

    /// The same, with what was seen turned into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> OnWire<U> {
        match self {
            OnWire::Seen(t) => OnWire::Seen(f(t)),
            OnWire::NotCaptured(why) => OnWire::NotCaptured(why),
        }
    }

    /// A packet check's result: `Some(check(seen))`, or `None` where
    /// nothing was captured (the check is skipped).
    pub fn check(&self, check: impl FnOnce(&T) -> bool) -> Option<bool> {
        self.seen().map(check)
    }
}

/// The segments of the connections whose first SYN went to `server`, one
/// list per connection, in the order their SYNs were sent (a connection
/// is its client's address and `server`).
pub fn connections_to(
    segments: &[Segment],
    server: std::net::SocketAddr,
) -> Vec<Vec<Segment>> {
    let clients: Vec<std::net::SocketAddr> = segments
        .iter()
        .filter(|s| s.dst == server && s.is(Flags::SYN))
        .map(|s| s.src)
        .fold(Vec::new(), |mut seen, c| {
            if !seen.contains(&c) {
                seen.push(c);
            }
            seen
        });
    clients
        .into_iter()
        .map(|c| {
            segments
                .iter()
                .filter(|s| s.between(c, server))
                .cloned()
                .collect()
        })
        .collect()
}
