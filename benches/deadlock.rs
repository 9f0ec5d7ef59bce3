//! Measurements of experiment 10, kept out of `cargo test`:
//! `cargo bench --bench deadlock` (release build). Runs the real binary and
//! reads its `--json` reports. `DEADLOCK_BENCH_RUNS=N` sets how many default
//! runs each series makes (default 10).
//!
//! It reports: the default run's wall time, idle and with both cores busy;
//! the longest pause before the real stall (how close a slow moment came to
//! a false stall of the 1000 ms window); where the stall came; the fix's
//! throughput and peak memory for 1 GiB; and the stall point with the
//! kernel's buffer autotuning.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::Value;

fn run(args: &[&str]) -> (f64, Value) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_deadlock"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run deadlock");
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {out:?}"));
    (wall_ms, report)
}

fn stats(name: &str, mut xs: Vec<f64>, unit: &str) {
    xs.sort_by(f64::total_cmp);
    let median = xs[xs.len() / 2];
    println!(
        "  {name:<34} min {:>9.0}  median {:>9.0}  max {:>9.0} {unit}  (n={})",
        xs[0],
        median,
        xs[xs.len() - 1],
        xs.len()
    );
}

fn series(title: &str, runs: usize) {
    println!("{title}");
    let (mut wall, mut pause_large, mut pause_fixed, mut stall_at) =
        (vec![], vec![], vec![], vec![]);
    let mut mismatches = 0;
    for _ in 0..runs {
        let (ms, r) = run(&[]);
        let m = &r["measurements"];
        mismatches += usize::from(r["matched"] != true);
        wall.push(ms);
        pause_large
            .push(m["large_longest_pause_ms"].as_f64().unwrap_or(f64::NAN));
        pause_fixed
            .push(m["fixed_longest_pause_ms"].as_f64().unwrap_or(f64::NAN));
        stall_at
            .push(m["large_client_sent_bytes"].as_f64().unwrap_or(f64::NAN));
    }
    stats("default run, wall", wall, "ms");
    stats("longest pause before the stall", pause_large, "ms");
    stats("longest pause in the fix", pause_fixed, "ms");
    stats("client bytes accepted at the stall", stall_at, "bytes");
    println!("  runs that did not match the book: {mismatches}");
}

fn main() {
    let runs: usize = std::env::var("DEADLOCK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);

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
    let m = &r["measurements"];
    println!(
        "  wall {ms:.0} ms, {} MiB/s, peak RSS {:.1} MiB, {} bytes returned, {} wrong",
        m["fixed_throughput_mib_per_s"],
        m["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        m["fixed_returned_bytes"],
        m["fixed_returned_wrong_bytes"]
    );

    println!(
        "deadlock --sndbuf auto --rcvbuf auto --bytes 64MiB (the kernel's autotuning)"
    );
    let (ms, r) =
        run(&["--sndbuf", "auto", "--rcvbuf", "auto", "--bytes", "64MiB"]);
    let m = &r["measurements"];
    println!(
        "  wall {ms:.0} ms, observed {}, stall after {} bytes accepted; buffers read back: client {}/{}, server {}/{}",
        r["observed"],
        m["large_client_sent_bytes"],
        m["large_client_sndbuf_bytes"],
        m["large_client_rcvbuf_bytes"],
        m["large_server_sndbuf_bytes"],
        m["large_server_rcvbuf_bytes"]
    );
}
