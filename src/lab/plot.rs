//! Drawing bytes against time as an SVG file (plotters, SVG backend only: no
//! system font libraries are needed).

use plotters::prelude::*;

/// One chart: a title, and named series of (ms, bytes) points.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The chart's caption.
    pub title: String,
    /// (series name, points as (time in ms, bytes)).
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

impl Chart {
    /// A chart of `names.len()` series from samples of as many counters:
    /// (ms since the start, one value per counter, in bytes). The counters
    /// count from 0 at the start, so each series starts at the origin, not
    /// at the first sample (which is taken one interval in).
    pub fn from_samples(
        title: &str,
        names: &[&str],
        samples: &[(f64, Vec<u64>)],
    ) -> Chart {
        let origin = samples.first().is_some_and(|(t, _)| *t > 0.0);
        let series = names.iter().enumerate().map(|(i, name)| {
            let points = samples.iter().map(|(t, v)| (*t, v[i] as f64));
            let start = origin.then_some((0.0, 0.0));
            (name.to_string(), start.into_iter().chain(points).collect())
        });
        Chart {
            title: title.to_owned(),
            series: series.collect(),
        }
    }
}

/// Draws `charts`, stacked top to bottom, as one SVG document. The y axis
/// is in MiB.
///
/// # Errors
/// What plotters could not draw.
pub fn svg(charts: &[Chart]) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(&mut svg, charts)
        .map_err(|e| anyhow::anyhow!("draw the plot: {e}"))?;
    Ok(svg)
}

fn draw(svg: &mut String, charts: &[Chart]) -> Result<(), String> {
    let height = 320 * charts.len().max(1) as u32;
    let root = SVGBackend::with_string(svg, (800, height)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        for (area, chart) in root
            .split_evenly((charts.len().max(1), 1))
            .iter()
            .zip(charts)
        {
            let x_max = chart
                .series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|q| q.0))
                .fold(1.0, f64::max);
            let y_max = chart
                .series
                .iter()
                .flat_map(|(_, p)| p.iter().map(|q| q.1))
                .fold(1.0, f64::max)
                / MIB;
            let mut ctx = ChartBuilder::on(area)
                .caption(&chart.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..x_max * 1.02, 0.0..y_max * 1.1)?;
            ctx.configure_mesh()
                .x_desc("time (ms)")
                .y_desc("MiB")
                .draw()?;
            // Counters that move together draw the same line: each series
            // is drawn narrower than the one before, on top of it, so lines
            // that coincide show as nested bands rather than one hiding
            // the other.
            let n = chart.series.len() as u32;
            for (i, (name, points)) in chart.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let width = 2 + 2 * (n - 1 - i as u32);
                ctx.draw_series(LineSeries::new(
                    points.iter().map(|&(t, b)| (t, b / MIB)),
                    color.stroke_width(width),
                ))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 16, y)],
                        color.stroke_width(width),
                    )
                });
            }
            ctx.configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| e.to_string())
}

const MIB: f64 = 1024.0 * 1024.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples start one interval in; the chart's lines start at 0.
    #[test]
    fn series_start_at_the_origin() {
        let samples = [(2.0, vec![600, 500]), (4.0, vec![900, 800])];
        let chart = Chart::from_samples("t", &["a", "b"], &samples);
        for (_, points) in &chart.series {
            assert_eq!(points[0], (0.0, 0.0));
            assert_eq!(points.len(), 3);
        }
        let at_zero = [(0.0, vec![0, 0]), (2.0, vec![1, 1])];
        let chart = Chart::from_samples("t", &["a", "b"], &at_zero);
        assert_eq!(chart.series[0].1.len(), 2, "no second origin");
    }

    /// Lines that coincide stay visible: each series is narrower than the
    /// one drawn before it.
    #[test]
    fn each_series_is_narrower_than_the_one_under_it() {
        let samples = [(1.0, vec![5, 5, 5]), (2.0, vec![9, 9, 9])];
        let chart = Chart::from_samples("t", &["a", "b", "c"], &samples);
        let svg = svg(&[chart]).unwrap();
        let widths: Vec<&str> = svg
            .match_indices("<polyline")
            .map(|(i, _)| &svg[i..])
            .filter_map(|s| s.split("stroke-width=\"").nth(1))
            .filter_map(|s| s.split('"').next())
            .filter(|w| *w != "1") // the mesh
            .collect();
        // The lines, then the legend's samples of them.
        assert_eq!(widths, ["6", "4", "2", "6", "4", "2"], "{svg}");
    }
}
