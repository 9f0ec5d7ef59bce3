//! The deadlock's wait-for cycle, drawn from the kernel's queues and
//! windows as an SVG figure (plotters, SVG backend): only experiment 10
//! draws it.

use plotters::prelude::*;

use super::queues::{Ends, Queues};

/// Draws the wait-for cycle of a deadlocked connection as SVG into `file`:
/// the two programs, the four kernel queues with the bytes in each, the two
/// zero windows, and the two waits that close the cycle. `shown` names the
/// file in errors. The figure has its own white background, so it reads the
/// same in a light or a dark page.
///
/// # Errors
/// Fails if the file cannot be written, with the errno named.
pub fn cycle_svg(q: &Queues, ends: Option<&Ends>) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw_cycle(&mut svg, q, ends)
        .map_err(|e| anyhow::anyhow!("draw the diagram: {e}"))?;
    Ok(svg)
}

fn draw_cycle(
    svg: &mut String,
    q: &Queues,
    ends: Option<&Ends>,
) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (820, 380)).into_drawing_area();
    let ink = RGBColor(30, 30, 30);
    let wait = RGBColor(200, 40, 40);
    let font = |size| ("sans-serif", size).into_font().color(&ink);
    let window = |w: Option<u32>| w.map_or("?".to_owned(), |n| n.to_string());
    let (cw, sw) = (
        window(ends.and_then(|e| e.client_send_window_bytes)),
        window(ends.and_then(|e| e.server_send_window_bytes)),
    );
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let boxed = |x: i32, y: i32, w: i32, h: i32, fill: RGBColor| {
            Rectangle::new([(x, y), (x + w, y + h)], fill.filled())
        };
        let outline = |x: i32, y: i32, w: i32, h: i32| {
            Rectangle::new([(x, y), (x + w, y + h)], ink.stroke_width(2))
        };
        // The two programs.
        for (x, name) in [(20, "client program"), (650, "server program")] {
            root.draw(&boxed(x, 120, 150, 140, RGBColor(230, 236, 245)))?;
            root.draw(&outline(x, 120, 150, 140))?;
            root.draw(&Text::new(name, (x + 14, 130), font(17)))?;
        }
        root.draw(&Text::new("blocked in sendall()", (34, 165), font(14)))?;
        root.draw(&Text::new("reads nothing", (34, 190), font(14)))?;
        root.draw(&Text::new("blocked in sendall()", (664, 165), font(14)))?;
        root.draw(&Text::new("reads nothing", (664, 190), font(14)))?;
        // The four queues: requests on top, replies below.
        let queues = [
            (200, 60, "client send queue", q.client_send_queue_bytes),
            (430, 60, "server receive queue", q.server_recv_queue_bytes),
            (430, 250, "server send queue", q.server_send_queue_bytes),
            (200, 250, "client receive queue", q.client_recv_queue_bytes),
        ];
        for (x, y, name, bytes) in queues {
            root.draw(&boxed(x, y, 190, 70, RGBColor(255, 243, 205)))?;
            root.draw(&outline(x, y, 190, 70))?;
            root.draw(&Text::new(name, (x + 10, y + 10), font(15)))?;
            let text = format!("{bytes} bytes");
            root.draw(&Text::new(text, (x + 10, y + 38), font(17)))?;
        }
        // Data flow: client -> server on top, server -> client below,
        // each segment with an arrow head at its end.
        let flow = |a: (i32, i32), b: (i32, i32), color: RGBColor, w: u32| {
            let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let (ux, uy) = (dx / len, dy / len);
            let back = |d: f64, side: f64| {
                let x = b.0 as f64 - ux * d - uy * side;
                let y = b.1 as f64 - uy * d + ux * side;
                (x.round() as i32, y.round() as i32)
            };
            let head = vec![b, back(14.0, 7.0), back(14.0, -7.0)];
            (
                PathElement::new(
                    vec![a, back(8.0, 0.0)],
                    color.stroke_width(w),
                ),
                Polygon::new(head, color.filled()),
            )
        };
        for (a, b) in [
            ((170, 150), (200, 100)),
            ((390, 95), (430, 95)),
            ((620, 95), (650, 145)),
            ((650, 235), (620, 285)),
            ((430, 285), (390, 285)),
            ((200, 280), (170, 230)),
        ] {
            let (line, head) = flow(a, b, ink, 3);
            root.draw(&line)?;
            root.draw(&head)?;
        }
        let top = format!("the server advertises a window of {cw} bytes");
        root.draw(&Text::new(top, (250, 30), font(15)))?;
        let bottom = format!("the client advertises a window of {sw} bytes");
        root.draw(&Text::new(bottom, (250, 340), font(15)))?;
        // The two waits that close the cycle: each program waits for the
        // other to read its full receive queue.
        let red = ("sans-serif", 15).into_font().color(&wait);
        for (a, b, text, at) in [
            (
                (170, 175),
                (470, 130),
                "client waits for the server to read",
                (255, 165),
            ),
            (
                (650, 205),
                (350, 250),
                "server waits for the client to read",
                (255, 205),
            ),
        ] {
            let (line, head) = flow(a, b, wait, 2);
            root.draw(&line)?;
            root.draw(&head)?;
            root.draw(&Text::new(text, at, red.clone()))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| e.to_string())
}
