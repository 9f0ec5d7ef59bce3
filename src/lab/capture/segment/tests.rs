//! Numbering and marking segments, on frames built by hand.

use etherparse::{PacketBuilder, TcpOptionElement};

use super::{Flags, Flows};

const C: u16 = 40000;
const S: u16 = 1060;

/// A frame from port `from` to the other, with `flags` (`S`, `A`, `P`,
/// `F` letters), the raw `seq` and `ack`, window `win`, the window
/// scale option `scale` and `len` bytes of payload.
fn frame(
    from: u16,
    flags: &str,
    seq: u32,
    ack: u32,
    win: u16,
    scale: Option<u8>,
    len: usize,
) -> Vec<u8> {
    let to = if from == C { S } else { C };
    let mut b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
        .tcp(from, to, seq, win);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'P' => b.psh(),
            'F' => b.fin(),
            _ => b,
        };
    }
    if let Some(s) = scale {
        b = b.options(&[TcpOptionElement::WindowScale(s)]).unwrap();
    }
    let mut out = vec![];
    b.write(&mut out, &vec![b'x'; len]).unwrap();
    out
}

/// Sequence and acknowledgment numbers are each side's own, counted
/// from its SYN; the window scale applies once both SYNs offered one;
/// data sent again is a retransmission; a segment one below what was
/// sent, to a window of 0, is Linux's zero-window probe.
#[test]
fn segments_are_numbered_and_marked_as_tcpdump_and_wireshark_do() {
    let mut flows = Flows::default();
    let mut seg = |f: Vec<u8>| flows.segment(&f, 0).unwrap();
    let syn = seg(frame(C, "S", 1000, 0, 65495, Some(7), 0));
    assert_eq!(
        (syn.flags, syn.seq, syn.ack, syn.window_shift),
        (Flags::SYN, 0, None, None)
    );
    let syn_ack = seg(frame(S, "SA", 5000, 1001, 65483, Some(7), 0));
    assert_eq!(
        (syn_ack.flags, syn_ack.seq, syn_ack.ack),
        (Flags::SYN_ACK, 0, Some(1))
    );
    let data = seg(frame(C, "PA", 1001, 5001, 512, None, 16));
    assert_eq!(
        (data.seq, data.ack, data.len, data.window_shift),
        (1, Some(1), 16, Some(7))
    );
    assert_eq!(data.window_bytes(), 512 << 7);
    assert!(!data.retransmission);
    let again = seg(frame(C, "PA", 1001, 5001, 512, None, 16));
    assert!(again.retransmission && !again.zero_window_probe);
    let full = seg(frame(S, "A", 5001, 1017, 0, None, 0));
    assert_eq!((full.window, full.ack), (0, Some(17)));
    let probe = seg(frame(C, "A", 1016, 5001, 512, None, 0));
    assert!(
        probe.zero_window_probe && !probe.retransmission,
        "{probe:?}"
    );
    let ack = seg(frame(C, "A", 1017, 5001, 512, None, 0));
    assert!(!ack.zero_window_probe, "{ack:?}");
    let line = data.trace_line(0);
    assert_eq!(
        line,
        "0.000000 127.0.0.1.40000 > 127.0.0.1.1060: Flags [P.], seq 1:17, ack 1, win 512, length 16"
    );
}

/// The flags' names go both ways, as the reports write them.
#[test]
fn flags_read_back_as_written() {
    for f in [Flags::SYN, Flags::SYN_ACK, Flags::RST_ACK, Flags(0x19)] {
        assert_eq!(f.to_string().parse::<Flags>(), Ok(f));
    }
    assert_eq!(Flags(0x19).to_string(), "FIN|PSH|ACK");
    assert_eq!(Flags(0x19).tcpdump(), "FP.");
    assert!("SYN|BOGUS".parse::<Flags>().is_err());
}
