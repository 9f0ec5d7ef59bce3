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
    /// (ms since the start, one value per counter, in bytes).
    pub fn from_samples(
        title: &str,
        names: &[&str],
        samples: &[(f64, Vec<u64>)],
    ) -> Chart {
        let series = names.iter().enumerate().map(|(i, name)| {
            let points = samples.iter().map(|(t, v)| (*t, v[i] as f64));
            (name.to_string(), points.collect())
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
            for (i, (name, points)) in chart.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                ctx.draw_series(LineSeries::new(
                    points.iter().map(|&(t, b)| (t, b / MIB)),
                    color.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 16, y)],
                        color.stroke_width(2),
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
