//! A sequence diagram of the segments on the wire, as SVG (plotters, SVG
//! backend, as `plot` and the deadlock's cycle diagram): two timelines, the
//! client's on the left and the server's on the right, and one arrow per
//! segment, labelled with its flags, bytes and window, the time since the
//! first segment in the margin. Time runs down, one row per segment, so a
//! second of silence (a dropped SYN waiting for its retry) takes no more
//! room than a microsecond; the margin's times tell them apart.

use plotters::prelude::*;

/// One segment, as an arrow between the two timelines.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// When it was seen, in ms since the first segment of the diagram.
    pub at_ms: f64,
    /// Whether it went from the left timeline (the client) to the right
    /// one (the server); `false` for the other way.
    pub rightward: bool,
    /// What the arrow says: flags, bytes, window (`"SYN win 65495"`).
    pub label: String,
}

/// The most arrows one diagram draws; the rest are counted in a last line.
pub const MAX_ARROWS: usize = 60;

/// Height of one row, in pixels.
const ROW: i32 = 34;
/// Width of the figure, in pixels.
const WIDTH: u32 = 760;

/// Draws `arrows` between two timelines named `left` and `right` (at most
/// [`MAX_ARROWS`]; a last line counts the ones left out), and returns the
/// SVG document. The figure has its own white background, so it reads the
/// same in a light or a dark page.
///
/// # Errors
/// plotters failed to draw (it does not, into a string).
pub fn sequence_svg(
    left: &str,
    right: &str,
    arrows: &[Arrow],
) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(&mut svg, left, right, arrows)
        .map_err(|e| anyhow::anyhow!("draw the sequence diagram: {e}"))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    left: &str,
    right: &str,
    arrows: &[Arrow],
) -> Result<(), String> {
    let shown = &arrows[..arrows.len().min(MAX_ARROWS)];
    let left_out = arrows.len() - shown.len();
    let rows = shown.len() as i32 + i32::from(left_out > 0);
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
        if left_out > 0 {
            let y = top + ROW * shown.len() as i32;
            let more =
                format!("… and {left_out} more segments (see the trace)");
            root.draw(&Text::new(more, (xl + 20, y), font(14, faint)))?;
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
        let svg = sequence_svg("client", "server", &few).unwrap();
        let at = |s: &str| svg.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(
            at("segment 0") < at("segment 1")
                && at("segment 1") < at("segment 2")
        );
        assert!(!svg.contains("more segments"));
        let many: Vec<Arrow> = (0..MAX_ARROWS + 5).map(arrow).collect();
        let svg = sequence_svg("client", "server", &many).unwrap();
        assert!(svg.contains("and 5 more segments"), "{svg}");
        assert!(!svg.contains(&format!("segment {MAX_ARROWS}<")));
    }
}
