//! A sequence diagram of the segments on the wire, as SVG (plotters, SVG
//! backend, as `plot` and the deadlock's cycle diagram): two timelines, the
//! client's on the left and the server's on the right, and one arrow per
//! segment, labelled with its flags, bytes and window, the time since the
//! first segment in the margin. Time runs down, one row per segment, so a
//! second of silence (a dropped SYN waiting for its retry) takes no more
//! room than a microsecond; the margin's times tell them apart.
//!
//! [`Ends`] turns captured [`Segment`]s into [`Arrow`]s, [`sequence_svg`]
//! draws them. The chapters' diagrams are drawn with them from a run's
//! pcap file (`tests/workbook/book_wire.rs`).

use std::net::SocketAddr;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::lab::capture::{Flags, Segment};

/// One segment, as an arrow between the two timelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrow {
    /// When it was seen, in ms since the first segment of the diagram.
    pub at_ms: f64,
    /// Whether it went from the left timeline (the client) to the right
    /// one (the server); `false` for the other way.
    pub rightward: bool,
    /// What the arrow says: flags, bytes, window (`"SYN, win 65495"`).
    pub label: String,
}

/// Who is who in a run's segments: which addresses are its clients. Kept
/// beside a diagram (JSON), it lets the diagram be drawn again from the
/// segments it shows alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ends {
    /// The addresses that sent a SYN without ACK: each connection's
    /// client, drawn on the left timeline.
    pub clients: Vec<SocketAddr>,
}

impl Ends {
    /// The clients of `run`, all of a run's segments.
    pub fn of(run: &[Segment]) -> Ends {
        let clients = run
            .iter()
            .filter(|s| s.flags.has(Flags::SYN) && !s.flags.has(Flags::ACK))
            .map(|s| s.src)
            .collect();
        Ends { clients }
    }

    /// The arrows for the segments `shown`, some or all of the run's
    /// (one connection, the stretch around a stall), in their order. A
    /// segment goes right when its sender is a client (where neither end
    /// is one, when its sender's port is the higher, as an ephemeral port
    /// is). Each label says in words what `--trace` says of the segment:
    /// its flags, its payload bytes if any, the window field as sent
    /// (`win 512`: unscaled, as tcpdump prints it), and whether it is a
    /// retransmission or a zero-window probe; where `shown` spans several
    /// connections, each label starts with its connection's number among
    /// them (`#2`), in the order of their first segments. Times are in ms
    /// after the first segment shown.
    pub fn arrows(&self, shown: &[Segment]) -> Vec<Arrow> {
        let mut connections: Vec<(SocketAddr, SocketAddr)> = vec![];
        for s in shown {
            if !connections.iter().any(|&(a, b)| s.between(a, b)) {
                connections.push((s.src, s.dst));
            }
        }
        let number = |s: &Segment| {
            let mut all = connections.iter();
            all.position(|&(a, b)| s.between(a, b)).map(|i| i + 1)
        };
        let several = connections.len() > 1;
        let t0 = shown.first().map_or(0, |s| s.at_us);
        shown
            .iter()
            .map(|s| {
                let rightward = if self.clients.contains(&s.src) {
                    true
                } else if self.clients.contains(&s.dst) {
                    false
                } else {
                    s.src.port() > s.dst.port()
                };
                let mut label = match (several, number(s)) {
                    (true, Some(n)) => format!("#{n} {}", s.flags),
                    _ => s.flags.to_string(),
                };
                if s.len > 0 {
                    label += &format!(", {} bytes", s.len);
                }
                label += &format!(", win {}", s.window);
                if s.zero_window_probe {
                    label += ", zero window probe";
                } else if s.retransmission {
                    label += ", retransmission";
                }
                Arrow {
                    at_ms: s.at_us.saturating_sub(t0) as f64 / 1000.0,
                    rightward,
                    label,
                }
            })
            .collect()
    }
}

/// The arrows for the segments `shown`, picked from a run's segments
/// `run`: [`Ends::of`] the run, then [`Ends::arrows`].
pub fn arrows(run: &[Segment], shown: &[Segment]) -> Vec<Arrow> {
    Ends::of(run).arrows(shown)
}

/// The most arrows one diagram draws; the rest are counted in a last line.
pub const MAX_ARROWS: usize = 60;

/// Height of one row, in pixels.
const ROW: i32 = 34;
/// Width of the figure, in pixels.
const WIDTH: u32 = 760;

/// Draws `arrows` between two timelines named `left` and `right` (at most
/// [`MAX_ARROWS`]), and returns the SVG document. A last line counts the
/// segments not drawn: the arrows past [`MAX_ARROWS`], and `more` that the
/// caller left out (the rest of a long run). With no arrow at all, the
/// figure says so between the timelines. The figure has its own white
/// background, so it reads the same in a light or a dark page.
///
/// # Errors
/// plotters failed to draw (it does not, into a string).
pub fn sequence_svg(
    left: &str,
    right: &str,
    arrows: &[Arrow],
    more: usize,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(&mut svg, left, right, arrows, more)
        .map_err(|e| anyhow::anyhow!("draw the sequence diagram: {e}"))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    left: &str,
    right: &str,
    arrows: &[Arrow],
    more: usize,
) -> Result<(), String> {
    let shown = &arrows[..arrows.len().min(MAX_ARROWS)];
    let left_out = arrows.len() - shown.len() + more;
    let last_line = left_out > 0 || shown.is_empty();
    let rows = shown.len() as i32 + i32::from(last_line);
    let height = (90 + ROW * rows + 30) as u32;
    let root =
        SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    let ink = RGBColor(30, 30, 30);
    let faint = RGBColor(120, 120, 120);
    let (to_server, to_client) =
        (RGBColor(31, 119, 180), RGBColor(214, 39, 40));
    let font =
        |size, color: RGBColor| ("sans-serif", size).into_font().color(&color);
    let (xl, xr) = (200, WIDTH as i32 - 120);
    let top = 70;
    let bottom = top + ROW * rows + 10;
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        root.draw(&Text::new("ms", (20, 40), font(14, faint)))?;
        for (x, name) in [(xl, left), (xr, right)] {
            let width = 8 * name.chars().count() as i32;
            root.draw(&Text::new(
                name.to_owned(),
                (x - width / 2, 30),
                font(16, ink),
            ))?;
            root.draw(&PathElement::new(
                [(x, top - 20), (x, bottom)],
                ink.stroke_width(2),
            ))?;
        }
        for (i, a) in shown.iter().enumerate() {
            let y = top + ROW * i as i32;
            let (from, to, color) = if a.rightward {
                (xl, xr, to_server)
            } else {
                (xr, xl, to_client)
            };
            let (x1, y1) = (to, y + ROW / 2);
            root.draw(&Text::new(
                format!("{:9.3}", a.at_ms),
                (10, y - 6),
                font(13, faint),
            ))?;
            root.draw(&PathElement::new(
                [(from, y), (x1, y1)],
                color.stroke_width(2),
            ))?;
            // The arrowhead: a small triangle pointing along the arrow.
            let back = if a.rightward { -10 } else { 10 };
            root.draw(&Polygon::new(
                vec![(x1, y1), (x1 + back, y1 - 7), (x1 + back, y1 + 3)],
                color.filled(),
            ))?;
            let middle = (xl + xr) / 2 - 4 * a.label.chars().count() as i32;
            root.draw(&Text::new(
                a.label.clone(),
                (middle, y - 8),
                font(13, color),
            ))?;
        }
        if last_line {
            let y = top + ROW * shown.len() as i32;
            let line = if shown.is_empty() {
                "no segment on the wire".to_owned()
            } else {
                format!("… and {left_out} more segments (see the trace)")
            };
            root.draw(&Text::new(line, (xl + 20, y), font(14, faint)))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each arrow is drawn with its label, in order, and what does not fit
    /// is counted.
    #[test]
    fn arrows_are_drawn_in_order_and_the_rest_counted() {
        let arrow = |i: usize| Arrow {
            at_ms: i as f64,
            rightward: i % 2 == 0,
            label: format!("segment {i}"),
        };
        let few: Vec<Arrow> = (0..3).map(arrow).collect();
        let svg = sequence_svg("client", "server", &few, 0).unwrap();
        let at = |s: &str| svg.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(
            at("segment 0") < at("segment 1")
                && at("segment 1") < at("segment 2")
        );
        assert!(!svg.contains("more segments"));
        let many: Vec<Arrow> = (0..MAX_ARROWS + 5).map(arrow).collect();
        let svg = sequence_svg("client", "server", &many, 2).unwrap();
        assert!(svg.contains("and 7 more segments"), "{svg}");
        assert!(!svg.contains(&format!("segment {MAX_ARROWS}<")));
        let none = sequence_svg("client", "server", &[], 0).unwrap();
        assert!(none.contains("no segment on the wire"), "{none}");
    }

    /// A segment from `src` to `dst` (ports on 127.0.0.1) at `ms`, with
    /// `flags`, `len` payload bytes and window `window`.
    fn seg(
        ms: u64,
        src: u16,
        dst: u16,
        flags: &str,
        len: u32,
        window: u16,
    ) -> Segment {
        let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        Segment {
            at_us: 1000 * ms,
            src: at(src),
            dst: at(dst),
            flags: flags.parse().unwrap(),
            seq: 1,
            ack: None,
            window,
            window_shift: None,
            len,
            retransmission: false,
            zero_window_probe: false,
        }
    }

    /// The client, the end that sent the SYN, is on the left even where
    /// the segments drawn hold no SYN (and even when its port is the
    /// lower); each label says the flags, the bytes, the window and a
    /// probe; labels are numbered by connection, among those drawn, only
    /// where several are drawn; times start at the first segment drawn.
    #[test]
    fn arrows_go_from_the_client_and_say_what_the_trace_says() {
        let (client, server, other) = (30000, 40000, 50000);
        let run = [
            seg(0, client, server, "SYN", 0, 65495),
            seg(1, server, client, "SYN|ACK", 0, 65483),
            seg(2, client, server, "PSH|ACK", 16, 512),
            seg(5, server, client, "ACK", 0, 0),
            seg(6, other, server, "SYN", 0, 65495),
        ];
        let ends = Ends::of(&run);
        let tail = ends.arrows(&run[2..4]);
        let got: Vec<(f64, bool, &str)> = tail
            .iter()
            .map(|a| (a.at_ms, a.rightward, a.label.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (0.0, true, "PSH|ACK, 16 bytes, win 512"),
                (3.0, false, "ACK, win 0")
            ]
        );
        let mut probe = run[3].clone();
        probe.zero_window_probe = true;
        assert_eq!(
            ends.arrows(&[probe])[0].label,
            "ACK, win 0, zero window probe"
        );
        let both = ends.arrows(&run[3..]);
        assert_eq!(
            both[0].label, "#1 ACK, win 0",
            "numbered among those drawn"
        );
        assert_eq!(
            (both[1].rightward, both[1].label.as_str()),
            (true, "#2 SYN, win 65495")
        );
        assert_eq!(arrows(&run, &run[..1]), ends.arrows(&run[..1]));
    }
}
