//! Drawing bytes against time as an SVG file (plotters, SVG backend only: no
//! system font libraries are needed).

use std::path::Path;

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

/// Writes `charts`, stacked top to bottom, to the SVG file `path`; the y axis
/// is in MiB.
///
/// # Errors
/// Fails if the file cannot be written.
pub fn write_svg(path: &Path, charts: &[Chart]) -> anyhow::Result<()> {
    let height = 320 * charts.len().max(1) as u32;
    let root = SVGBackend::new(path, (800, height)).into_drawing_area();
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
            for (i, (name, points)) in chart.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                ctx.draw_series(LineSeries::new(
                    points.iter().map(|&(t, b)| (t, b / MIB)),
                    color.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
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
    draw().map_err(|e| anyhow::anyhow!("write the plot {}: {e}", path.display()))
}

const MIB: f64 = 1024.0 * 1024.0;
