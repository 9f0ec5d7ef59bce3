//! One TCP segment as the capture saw it ([`Segment`]), its flags
//! ([`Flags`]), and how a frame becomes one: parsed with `etherparse`,
//! numbered relative to each side's first sequence number ([`Flows`]), as
//! tcpdump and Wireshark number them.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use serde::{Deserialize, Serialize};

/// A segment's control bits, as TCP sends them (RFC 9293, 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// FIN: no more data from the sender.
    pub const FIN: Flags = Flags(0x01);
    /// SYN: synchronize sequence numbers (the handshake).
    pub const SYN: Flags = Flags(0x02);
    /// RST: reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// PSH: push the data to the application.
    pub const PSH: Flags = Flags(0x08);
    /// ACK: the acknowledgment number is valid.
    pub const ACK: Flags = Flags(0x10);
    /// URG: the urgent pointer is valid.
    pub const URG: Flags = Flags(0x20);
    /// SYN|ACK, the handshake's answer.
    pub const SYN_ACK: Flags = Flags(0x12);
    /// RST|ACK, a refusal's answer.
    pub const RST_ACK: Flags = Flags(0x14);

    const NAMES: [(u8, &'static str, char); 6] = [
        (0x02, "SYN", 'S'),
        (0x01, "FIN", 'F'),
        (0x04, "RST", 'R'),
        (0x08, "PSH", 'P'),
        (0x20, "URG", 'U'),
        (0x10, "ACK", '.'),
    ];

    /// Whether every bit of `other` is set.
    pub fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// tcpdump's way: `S`, `S.`, `P.`, `F.`, `R.`, `.` for a bare ACK.
    pub fn tcpdump(self) -> String {
        let s: String = Flags::NAMES
            .iter()
            .filter(|(bit, _, _)| self.0 & bit != 0)
            .map(|&(_, _, c)| c)
            .collect();
        if s.is_empty() { "none".into() } else { s }
    }
}

/// `SYN|ACK`, `PSH|ACK`, `ACK`: the names, joined by `|`.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Flags::NAMES
            .iter()
            .filter(|(bit, _, _)| self.0 & bit != 0)
            .map(|&(_, name, _)| name)
            .collect();
        f.write_str(&if names.is_empty() {
            "none".into()
        } else {
            names.join("|")
        })
    }
}

impl std::str::FromStr for Flags {
    type Err = String;
    fn from_str(s: &str) -> Result<Flags, String> {
        let mut bits = 0;
        for name in s.split('|').filter(|n| *n != "none") {
            let (bit, _, _) = Flags::NAMES
                .iter()
                .find(|(_, n, _)| *n == name)
                .ok_or_else(|| format!("not a TCP flag: {name}"))?;
            bits |= bit;
        }
        Ok(Flags(bits))
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Flags, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One TCP segment on the wire, numbered as tcpdump numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Segment {
    /// When the kernel saw it, in µs after the capture's first frame.
    pub at_us: u64,
    /// The sender's address and port.
    pub src: SocketAddr,
    /// The receiver's address and port.
    pub dst: SocketAddr,
    /// Its control bits, as `"SYN|ACK"`.
    #[schemars(with = "String")]
    pub flags: Flags,
    /// Its sequence number, relative to the sender's first (its SYN's, or
    /// the first segment seen from it): a SYN is 0, the first data byte 1.
    pub seq: u32,
    /// Its acknowledgment number, relative to the receiver's first
    /// sequence number; `None` when the ACK bit is not set.
    pub ack: Option<u32>,
    /// The window field as sent, unscaled (what tcpdump prints as `win`).
    pub window: u16,
    /// The sender's window scale (RFC 7323) once both SYNs agreed on one:
    /// the window in bytes is `window << shift`; `None` on a SYN, or if
    /// no scale was agreed (or the handshake was not seen).
    pub window_shift: Option<u8>,
    /// Payload bytes it carried (from the IP header, not the snap).
    pub len: u32,
    /// Whether it carries sequence space (data, SYN or FIN) its sender had
    /// already sent: a retransmission.
    pub retransmission: bool,
    /// Whether it is a zero-window probe: sent while the receiver's last
    /// window was 0, one byte below what the sender had sent next (Linux's
    /// probe, `tcp_xmit_probe_skb`), or one byte of new data.
    pub zero_window_probe: bool,
}

impl Segment {
    /// Whether it travels between `a` and `b`, either way.
    pub fn between(&self, a: SocketAddr, b: SocketAddr) -> bool {
        (self.src == a && self.dst == b) || (self.src == b && self.dst == a)
    }

    /// Whether either end has the address `ip`.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.src.ip() == ip || self.dst.ip() == ip
    }

    /// Whether either end uses port `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.src.port() == port || self.dst.port() == port
    }

    /// Whether its flags are exactly `flags`, PSH aside.
    pub fn is(&self, flags: Flags) -> bool {
        Flags(self.flags.0 & !Flags::PSH.0) == flags
    }

    /// The window in bytes, where the scale is known; else the field.
    pub fn window_bytes(&self) -> u32 {
        u32::from(self.window) << self.window_shift.unwrap_or(0)
    }

    /// One line, as `tcpdump -n -ttttt` prints it (time since `t0_us`):
    /// `0.000045 127.0.0.1.41234 > 127.0.0.1.35349: Flags [S.], seq 0,
    /// ack 1, win 65483, length 0`.
    pub fn trace_line(&self, t0_us: u64) -> String {
        let t = self.at_us.saturating_sub(t0_us);
        let at = |a: SocketAddr| format!("{}.{}", a.ip(), a.port());
        let mut line = format!(
            "{}.{:06} {} > {}: Flags [{}], seq {}",
            t / 1_000_000,
            t % 1_000_000,
            at(self.src),
            at(self.dst),
            self.flags.tcpdump(),
            self.seq
        );
        let syn_fin = u32::from(self.flags.has(Flags::SYN));
        if self.len > 0 {
            let end = self.seq.wrapping_add(self.len + syn_fin);
            line = format!("{line}:{end}");
        }
        if let Some(ack) = self.ack {
            line = format!("{line}, ack {ack}");
        }
        line = format!("{line}, win {}, length {}", self.window, self.len);
        if self.zero_window_probe {
            line.push_str(" (zero window probe)");
        } else if self.retransmission {
            line.push_str(" (retransmission)");
        }
        line
    }
}

/// What the capture knows of one side of one connection.
#[derive(Debug, Default, Clone, Copy)]
struct Side {
    /// Its first sequence number seen (its ISN if the SYN was seen).
    isn: Option<u32>,
    /// One past the highest sequence number it has sent.
    next: Option<u32>,
    /// The window scale its SYN offered.
    offered: Option<u8>,
    /// The last window it advertised, unscaled.
    window: Option<u16>,
}

/// The connections seen so far, each side's numbering and what it sent:
/// kept for the capture's whole run (a few entries per connection).
#[derive(Debug, Default)]
pub(crate) struct Flows {
    sides: HashMap<(SocketAddr, SocketAddr), Side>,
}

/// `a` is after `b` in sequence space (RFC 9293's modular comparison).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Flows {
    /// The segment in an Ethernet frame (`data`, at most the snap; `at_us`
    /// its time), numbered and marked; `None` if it is not TCP over IPv4
    /// or IPv6, or too short to hold the TCP header.
    pub(crate) fn segment(
        &mut self,
        data: &[u8],
        at_us: u64,
    ) -> Option<Segment> {
        let packet = LaxSlicedPacket::from_ethernet(data).ok()?;
        let (src_ip, dst_ip, ip_payload): (IpAddr, IpAddr, u32) = match &packet
            .net?
        {
            LaxNetSlice::Ipv4(v4) => {
                let h = v4.header();
                let payload = u32::from(h.total_len())
                    .checked_sub(u32::from(h.ihl()) * 4)?;
                (h.source_addr().into(), h.destination_addr().into(), payload)
            }
            LaxNetSlice::Ipv6(v6) => {
                let h = v6.header();
                let exts = v6.extensions().slice().len() as u32;
                let payload =
                    u32::from(h.payload_length()).checked_sub(exts)?;
                (h.source_addr().into(), h.destination_addr().into(), payload)
            }
            LaxNetSlice::Arp(_) => return None,
        };
        let Some(TransportSlice::Tcp(tcp)) = packet.transport else {
            return None;
        };
        let src = SocketAddr::new(src_ip, tcp.source_port());
        let dst = SocketAddr::new(dst_ip, tcp.destination_port());
        let len = ip_payload.checked_sub(u32::from(tcp.data_offset()) * 4)?;
        let flags = Flags(
            u8::from(tcp.fin())
                | u8::from(tcp.syn()) << 1
                | u8::from(tcp.rst()) << 2
                | u8::from(tcp.psh()) << 3
                | u8::from(tcp.ack()) << 4
                | u8::from(tcp.urg()) << 5,
        );
        let (raw_seq, raw_ack) =
            (tcp.sequence_number(), tcp.acknowledgment_number());
        let offered = tcp.options_iterator().find_map(|o| match o {
            Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s),
            _ => None,
        });
        let (mut me, peer) = (self.side(src, dst), self.side(dst, src));
        let isn = *me.isn.get_or_insert(raw_seq);
        if flags.has(Flags::SYN) {
            me.offered = offered;
        }
        let space = len
            + u32::from(flags.has(Flags::SYN))
            + u32::from(flags.has(Flags::FIN));
        let end = raw_seq.wrapping_add(space);
        let retransmission =
            space > 0 && me.next.is_some_and(|n| !after(end, n));
        let probe_window = peer.window == Some(0)
            && !flags.has(Flags::SYN)
            && !flags.has(Flags::RST);
        let zero_window_probe = probe_window
            && match (len, me.next) {
                (0, Some(n)) => {
                    raw_seq == n.wrapping_sub(1) && !flags.has(Flags::FIN)
                }
                (1, Some(n)) => raw_seq == n,
                _ => false,
            };
        if me.next.is_none_or(|n| after(end, n)) {
            me.next = Some(end);
        }
        let window = tcp.window_size();
        me.window = Some(window);
        let shift = match (me.offered, peer.offered) {
            (Some(mine), Some(_)) if !flags.has(Flags::SYN) => {
                Some(mine.min(14))
            }
            _ => None,
        };
        let ack = flags.has(Flags::ACK).then(|| {
            let base = peer.isn.unwrap_or(raw_ack.wrapping_sub(1));
            raw_ack.wrapping_sub(base)
        });
        if peer.isn.is_none() && flags.has(Flags::ACK) {
            // The receiver's numbering starts just below what is acked.
            self.sides.entry((dst, src)).or_default().isn =
                Some(raw_ack.wrapping_sub(1));
        }
        self.sides.insert((src, dst), me);
        Some(Segment {
            at_us,
            src,
            dst,
            flags,
            seq: raw_seq.wrapping_sub(isn),
            ack,
            window,
            window_shift: shift,
            len,
            retransmission: retransmission && !zero_window_probe,
            zero_window_probe,
        })
    }

    fn side(&self, from: SocketAddr, to: SocketAddr) -> Side {
        self.sides.get(&(from, to)).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
