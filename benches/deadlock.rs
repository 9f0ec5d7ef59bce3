//! Measurements of experiment 10, kept out of `cargo test`:
//! `cargo bench --bench deadlock` (release build). Runs the real binary and
//! reads its `--json` reports. It takes about 15 minutes with the defaults;
//! `DEADLOCK_BENCH_RUNS` (idle series, default 30),
//! `DEADLOCK_BENCH_LOADED_RUNS` (default 1000) and
//! `DEADLOCK_BENCH_SWEEP_RUNS` (per buffer size, default 10) shorten it,
//! and `DEADLOCK_BENCH_ONLY=sweep|series|other` runs one part.
//!
//! It reports:
//! - the default run, idle and with both cores busy: wall time; false
//!   verdicts; how the stall was found (cycle or silence); every pause over
//!   50 ms before the stall and whether the cycle test held in it (a cycle
//!   that then moved again would be a false deadlock); the stall point as a
//!   share of the buffers; the kernel's TcpExt counters per run;
//! - with the cycle test off: how long after the last byte moved the cycle
//!   test first held (why the verdict cannot come sooner);
//! - the fix's throughput and peak memory for 1 GiB; autotuned buffers;
//! - the stall point against the buffer size, 8 KiB to 4 MiB, written to
//!   `chapters/images/deadlock-sweep.csv` and `.svg`.
//!
//! Each part writes the figures chapter 10 shows into `chapters/generated/`
//! (`deadlock-series.md`, `deadlock-auto.md`, `deadlock-sweep.md`), headed
//! by the command, date, machine and runs; the chapter includes them. For a
//! short run on a busy machine, e.g.
//! `DEADLOCK_BENCH_RUNS=10 DEADLOCK_BENCH_LOADED_RUNS=50 cargo bench --bench deadlock`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use plotters::prelude::*;
use tcp_workbook::experiments::deadlock::{Case, Observed};
use tcp_workbook::lab::report::Report;
use tcp_workbook::lab::watch::Detector;

mod common;

fn run(args: &[&str]) -> (f64, Report<Observed>) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_deadlock"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run deadlock");
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {out:?}"));
    (wall_ms, report)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn quantiles(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

/// `min to max, median M UNIT`, or `none`.
fn range(xs: &[f64], digits: usize, unit: &str) -> String {
    if xs.is_empty() {
        return "none".to_owned();
    }
    let (min, median, max) = quantiles(xs.to_vec());
    format!("{min:.digits$} to {max:.digits$} {unit}, median {median:.digits$}")
}

/// The command line, with the knobs that were set.
fn command() -> String {
    let knobs: Vec<String> = [
        "DEADLOCK_BENCH_RUNS",
        "DEADLOCK_BENCH_LOADED_RUNS",
        "DEADLOCK_BENCH_SWEEP_RUNS",
        "DEADLOCK_BENCH_ONLY",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v} ")))
    .collect();
    format!("{}cargo bench --bench deadlock", knobs.concat())
}

/// One column of the series table: a row's label and this series' value.
type Column = Vec<(&'static str, String)>;

fn stats(name: &str, xs: Vec<f64>, unit: &str) {
    if xs.is_empty() {
        println!("  {name:<40} (none)");
        return;
    }
    let n = xs.len();
    let (min, median, max) = quantiles(xs);
    println!(
        "  {name:<40} min {min:>9.1}  median {median:>9.1}  max {max:>9.1} {unit}  (n={n})"
    );
}

fn large(r: &Report<Observed>) -> &Case {
    r.measurements.large.as_ref().expect("a large case")
}

/// The kernel's TcpExt counters (`/proc/net/netstat`), by name.
fn tcp_ext() -> BTreeMap<String, u64> {
    tcp_workbook::lab::kernel::tcp_ext_counters().unwrap_or_default()
}

const COUNTERS: [&str; 4] = [
    "TCPWantZeroWindowAdv",
    "TCPToZeroWindowAdv",
    "TCPRcvCollapsed",
    "PruneCalled",
];

fn series(title: &str, runs: usize, args: &[&str]) -> Column {
    println!("{title} ({runs} runs)");
    let (mut wall, mut ratio, mut sendq) = (vec![], vec![], vec![]);
    let (mut pauses, mut cycle_in_pause, mut onset) = (vec![], vec![], vec![]);
    let mut counters: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut mismatches, mut by_cycle, mut by_silence, mut balanced) =
        (0, 0, 0, 0);
    for _ in 0..runs {
        let before = tcp_ext();
        let (ms, r) = run(args);
        let after = tcp_ext();
        for c in COUNTERS {
            let (a, b) =
                (after.get(c).unwrap_or(&0), before.get(c).unwrap_or(&0));
            let d = a.saturating_sub(*b);
            counters.entry(c).or_default().push(d as f64);
        }
        mismatches += usize::from(!r.matched);
        let l = large(&r);
        wall.push(ms);
        match l.timing.detected_by {
            Some(Detector::Cycle) => by_cycle += 1,
            Some(Detector::Silence) => by_silence += 1,
            None => {}
        }
        for p in &l.timing.long_pauses {
            if p.ended {
                pauses.push(p.length_ms as f64);
                cycle_in_pause.push(p.cycle_ms as f64);
            } else {
                // When the cycle test first held, after the last movement.
                onset.push((p.length_ms - p.cycle_ms) as f64);
            }
        }
        let total = l.buffers.total_bytes() as f64;
        ratio.push(100.0 * l.counts.client_sent_bytes as f64 / total);
        if let Some(q) = l.queues {
            let most = q.client_send_queue_bytes.max(q.server_send_queue_bytes);
            sendq.push(most as f64);
        }
        balanced += usize::from(l.ledger_balanced() == Some(true));
    }
    let held: Vec<f64> = cycle_in_pause
        .iter()
        .copied()
        .filter(|&c| c > 0.0)
        .collect();
    let held_max = held.iter().copied().fold(0.0, f64::max);
    let column: Column = vec![
        ("runs", runs.to_string()),
        (
            "false verdicts (runs that did not match the book)",
            mismatches.to_string(),
        ),
        ("stall found by the cycle test", by_cycle.to_string()),
        (
            "stall found by silence (`--stall-ms`)",
            by_silence.to_string(),
        ),
        (
            "pauses of more than 50 ms before the stall",
            pauses.len().to_string(),
        ),
        (
            "of them, with the cycle test holding before bytes moved again",
            if held.is_empty() {
                "0".to_owned()
            } else {
                format!("{}, for at most {held_max:.0} ms", held.len())
            },
        ),
        (
            "last byte moved to cycle test holding",
            range(&onset, 0, "ms"),
        ),
        ("whole run, wall time", range(&wall, 0, "ms")),
        (
            "bytes the client's kernel accepted, as a share of the four buffers read back",
            range(&ratio, 0, "%"),
        ),
        (
            "largest send queue at the stall",
            sendq
                .iter()
                .copied()
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
                .map_or("none".to_owned(), |m| format!("{m:.0} bytes")),
        ),
        (
            "ledger balanced on its one reading",
            format!("{balanced} of {runs}"),
        ),
    ];
    stats("whole run, wall", wall, "ms");
    println!("  found by the cycle test: {by_cycle}; by silence: {by_silence}");
    println!("  pauses over 50 ms before the stall: {}", pauses.len());
    stats("  their length", pauses, "ms");
    let false_cycles = cycle_in_pause.iter().filter(|&&c| c > 0.0).count();
    println!("  of them, with the cycle test holding: {false_cycles}");
    stats("  how long it held in them", cycle_in_pause, "ms");
    stats("last movement to cycle test holding", onset, "ms");
    stats("stall point / buffers read back", ratio, "%");
    stats("largest send queue at the stall", sendq, "bytes");
    for (name, values) in counters {
        stats(&format!("TcpExt {name} per run"), values, "");
    }
    println!("  ledger balanced on its one reading: {balanced} of {runs}");
    println!("  runs that did not match the book: {mismatches}");
    column
}

fn with_cores_busy(f: impl FnOnce()) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(
                        x.wrapping_mul(6364136223846793005).wrapping_add(1),
                    );
                }
            });
        }
        f();
        stop.store(true, Ordering::Relaxed);
    });
}

fn other() {
    println!("deadlock --fixed --bytes 1GiB (64 KiB per sendall)");
    let (ms, r) = run(&["--fixed", "--bytes", "1GiB"]);
    let f = &r.measurements.fixed;
    println!(
        "  wall {ms:.0} ms, {:?} MiB/s, peak RSS {:.1} MiB, {:?} bytes returned, {:?} wrong",
        f.throughput_mib_per_s,
        r.measurements.peak_rss_bytes.unwrap_or(0) as f64 / 1048576.0,
        f.returned_bytes,
        f.returned_wrong_bytes
    );
    println!(
        "deadlock --fixed --fix-chunk 16 (the book's message size), 5 runs"
    );
    let rates = (0..5)
        .map(|_| run(&["--fixed", "--fix-chunk", "16"]).1)
        .filter_map(|r| r.measurements.fixed.throughput_mib_per_s)
        .collect();
    stats("fix throughput", rates, "MiB/s");
    println!("deadlock --sndbuf auto --rcvbuf auto --bytes 64MiB, 3 runs");
    let mut table = String::from(
        "| run | wall time | outcome | client's kernel accepted | send queues (client, server) | \
         receive queues (server, client) | buffers read back: client snd/rcv, server snd/rcv |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for i in 1..=3 {
        let args = ["--sndbuf", "auto", "--rcvbuf", "auto", "--bytes", "64MiB"];
        let (ms, r) = run(&args);
        let l = large(&r);
        let q = l.queues.expect("queues");
        println!(
            "  wall {ms:.0} ms, {}: stall after {} bytes; send queues {} and {}, \
             receive queues {} (server) and {} (client); {:?}",
            r.observed,
            l.counts.client_sent_bytes,
            q.client_send_queue_bytes,
            q.server_send_queue_bytes,
            q.server_recv_queue_bytes,
            q.client_recv_queue_bytes,
            l.buffers
        );
        let b = &l.buffers;
        table += &format!(
            "| {i} | {ms:.0} ms | `{}` | {} bytes | {}, {} bytes | {}, {} bytes | {}/{}, {}/{} bytes |\n",
            r.observed,
            l.counts.client_sent_bytes,
            q.client_send_queue_bytes,
            q.server_send_queue_bytes,
            q.server_recv_queue_bytes,
            q.client_recv_queue_bytes,
            b.client_sndbuf_bytes,
            b.client_rcvbuf_bytes,
            b.server_sndbuf_bytes,
            b.server_rcvbuf_bytes,
        );
    }
    common::write(
        "deadlock-auto",
        &format!(
            "{} (`deadlock --sndbuf auto --rcvbuf auto --bytes 64MiB`)",
            command()
        ),
        "release build, 3 runs",
        &table,
    );
}

/// Stall points against the buffer size: CSV and SVG into chapters/images.
fn sweep(runs: usize) {
    let sizes = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
    println!("stall point against SO_SNDBUF = SO_RCVBUF, {runs} runs each");
    let mut csv = String::from(
        "buffer_asked_bytes,buffers_read_back_bytes,runs,\
         stalled_min_bytes,stalled_median_bytes,stalled_max_bytes\n",
    );
    let mut rows = vec![];
    let mut table = String::from(
        "| `--sndbuf`, `--rcvbuf` | four buffers read back | client's kernel accepted at the stall: min / median / max | median share |\n\
         |---|---|---|---|\n",
    );
    for kib in sizes {
        let size = format!("{kib}KiB");
        let bytes = format!("{}", (kib * 1024 * 16).max(2 << 20));
        let args = ["--sndbuf", &size, "--rcvbuf", &size, "--bytes", &bytes];
        let mut accepted = vec![];
        let mut total = 0;
        for _ in 0..runs {
            let (_, r) = run(&args);
            let l = large(&r);
            assert!(l.timing.stalled, "{size}: no stall with {bytes} bytes");
            total = l.buffers.total_bytes();
            accepted.push(l.counts.client_sent_bytes as f64);
        }
        let (min, median, max) = quantiles(accepted);
        println!(
            "  {size:>8}: buffers {total:>9}, stall after {min:>9.0} / {median:>9.0} / {max:>9.0} \
             bytes (min/median/max), median {:.0}% of the buffers",
            100.0 * median / total as f64
        );
        csv += &format!("{},{total},{runs},{min},{median},{max}\n", kib * 1024);
        table += &format!(
            "| {size} | {total} bytes | {min:.0} / {median:.0} / {max:.0} bytes | {:.0}% |\n",
            100.0 * median / total as f64
        );
        rows.push((total as f64, min, median, max));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("chapters/images");
    std::fs::write(dir.join("deadlock-sweep.csv"), csv).unwrap();
    let svg = dir.join("deadlock-sweep.svg");
    draw_sweep(&svg, &rows).unwrap();
    println!("  written: chapters/images/deadlock-sweep.csv and .svg");
    common::write(
        "deadlock-sweep",
        &command(),
        &format!("release build, {runs} runs per buffer size"),
        &table,
    );
}

fn draw_sweep(
    path: &std::path::Path,
    rows: &[(f64, f64, f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = rows.iter().map(|r| r.3.max(r.0)).fold(1.0, f64::max) * 1.3;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "bytes accepted at the stall, against the four buffers read back",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (20_000f64..top).log_scale(),
            (10_000f64..top).log_scale(),
        )?;
    let mb = |v: &f64| format!("{} MB", v / 1e6);
    chart
        .configure_mesh()
        .x_desc("the four buffers read back (log scale)")
        .y_desc("bytes accepted at the stall")
        .x_label_formatter(&mb)
        .y_label_formatter(&mb)
        .draw()?;
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
    ];
    let names = ["min", "median", "max"];
    for (i, name) in names.iter().enumerate() {
        let color = colors[i];
        let points = rows.iter().map(|r| (r.0, [r.1, r.2, r.3][i]));
        chart
            .draw_series(LineSeries::new(
                points.clone(),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color)
            });
        chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
    }
    let grey = RGBColor(120, 120, 120);
    chart
        .draw_series(LineSeries::new(
            [(20_000.0, 20_000.0), (top, top)],
            grey.stroke_width(1),
        ))?
        .label("accepted = buffers")
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 16, y)], grey)
        });
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let only = std::env::var("DEADLOCK_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    if part("series") {
        let runs = env_or("DEADLOCK_BENCH_RUNS", 30);
        let idle = series("deadlock, default run, idle machine", runs, &[]);
        let silence = series(
            "deadlock --cycle-ms 0 (silence only), idle machine",
            runs,
            &["--cycle-ms", "0"],
        );
        let loaded = env_or("DEADLOCK_BENCH_LOADED_RUNS", 1000);
        let mut busy = vec![];
        with_cores_busy(|| {
            busy =
                series("deadlock, default run, both cores busy", loaded, &[]);
        });
        let mut table = String::from(
            "| `cargo run --bin deadlock`, release build | default run, no added load | \
             both cores kept busy | `--cycle-ms 0` (silence only), no added load |\n\
             |---|---|---|---|\n",
        );
        for ((label, a), ((_, b), (_, c))) in
            idle.iter().zip(busy.iter().zip(&silence))
        {
            table += &format!("| {label} | {a} | {b} | {c} |\n");
        }
        common::write(
            "deadlock-series",
            &command(),
            &format!(
                "release build, {runs} runs per column without added load, {loaded} with both cores kept busy"
            ),
            &table,
        );
    }
    if part("other") {
        other();
    }
    if part("sweep") {
        sweep(env_or("DEADLOCK_BENCH_SWEEP_RUNS", 10));
    }
    if only == "redraw" {
        // Draws the sweep's SVG again from its CSV, without running anything.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("chapters/images");
        let csv =
            std::fs::read_to_string(dir.join("deadlock-sweep.csv")).unwrap();
        let rows: Vec<(f64, f64, f64, f64)> = csv
            .lines()
            .skip(1)
            .map(|l| {
                let v: Vec<f64> =
                    l.split(',').map(|x| x.parse().unwrap()).collect();
                (v[1], v[3], v[4], v[5])
            })
            .collect();
        draw_sweep(&dir.join("deadlock-sweep.svg"), &rows).unwrap();
    }
}
