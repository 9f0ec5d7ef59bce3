//! Measurements of experiment 10, kept out of `cargo test`:
//! `cargo bench --bench deadlock` (release build). Runs the real binary and
//! reads its `--json` reports. `DEADLOCK_BENCH_RUNS=N` sets how many default
//! runs each series makes (default 30).
//!
//! It reports, for the default run, idle and with both cores busy: the wall
//! time; the longest pause before the real stall (how close a slow moment
//! came to a false stall of the 1000 ms window); the stall point as a share
//! of the four buffers read back; the largest send queue at the stall; and
//! how often the ledger balanced on its one reading. Then the fix's
//! throughput and peak memory for 1 GiB, and where the bytes sit when the
//! kernel tunes the buffers itself.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tcp_workbook::experiments::deadlock::{Case, Observed};
use tcp_workbook::report::Report;

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

fn stats(name: &str, mut xs: Vec<f64>, unit: &str) {
    xs.sort_by(f64::total_cmp);
    let median = xs[xs.len() / 2];
    println!(
        "  {name:<38} min {:>9.1}  median {:>9.1}  max {:>9.1} {unit}  (n={})",
        xs[0],
        median,
        xs[xs.len() - 1],
        xs.len()
    );
}

fn large(r: &Report<Observed>) -> &Case {
    r.measurements.large.as_ref().expect("a large case")
}

fn series(title: &str, runs: usize) {
    println!("{title}");
    let (mut wall, mut pause, mut fix_pause, mut ratio, mut sendq) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut mismatches, mut balanced) = (0, 0);
    for _ in 0..runs {
        let (ms, r) = run(&[]);
        mismatches += usize::from(!r.matched);
        let l = large(&r);
        wall.push(ms);
        pause.push(l.timing.longest_pause_ms as f64);
        fix_pause.push(r.measurements.fixed.timing.longest_pause_ms as f64);
        let total = l.buffers.total_bytes() as f64;
        ratio.push(100.0 * l.counts.client_sent_bytes as f64 / total);
        if let Some(q) = l.queues {
            let most = q.client_send_queue_bytes.max(q.server_send_queue_bytes);
            sendq.push(most as f64);
        }
        balanced += usize::from(l.ledger_balanced() == Some(true));
    }
    stats("default run, wall", wall, "ms");
    stats("longest pause before the stall", pause, "ms");
    stats("longest pause in the fix", fix_pause, "ms");
    stats("stall point / buffers read back", ratio, "%");
    stats("largest send queue at the stall", sendq, "bytes");
    println!("  ledger balanced on its one reading: {balanced} of {runs}");
    println!("  runs that did not match the book: {mismatches}");
}

fn main() {
    let runs: usize = std::env::var("DEADLOCK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);

    series("deadlock, default run, idle machine", runs);

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
        series("deadlock, default run, both cores busy", runs);
        stop.store(true, Ordering::Relaxed);
    });

    println!("deadlock --fixed --bytes 1GiB --chunk 64KiB");
    let (ms, r) = run(&["--fixed", "--bytes", "1GiB", "--chunk", "64KiB"]);
    let f = &r.measurements.fixed;
    println!(
        "  wall {ms:.0} ms, {:?} MiB/s, peak RSS {:.1} MiB, {:?} bytes returned, {:?} wrong",
        f.throughput_mib_per_s,
        r.measurements.peak_rss_bytes.unwrap_or(0) as f64 / 1048576.0,
        f.returned_bytes,
        f.returned_wrong_bytes
    );

    println!(
        "deadlock --sndbuf auto --rcvbuf auto --bytes 64MiB (autotuning), 3 runs"
    );
    for _ in 0..3 {
        let args = ["--sndbuf", "auto", "--rcvbuf", "auto", "--bytes", "64MiB"];
        let (ms, r) = run(&args);
        let l = large(&r);
        let q = l.queues.expect("queues");
        println!(
            "  wall {ms:.0} ms, {}: stall after {} bytes; send queues {} and {}, \
             receive queues {} (server) and {} (client); buffers {:?}",
            r.observed,
            l.counts.client_sent_bytes,
            q.client_send_queue_bytes,
            q.server_send_queue_bytes,
            q.server_recv_queue_bytes,
            q.client_recv_queue_bytes,
            l.buffers
        );
    }
}
