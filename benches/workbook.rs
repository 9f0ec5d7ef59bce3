//! The workbook's speed, kept out of `cargo test`: `cargo bench --bench
//! workbook` (release build, about a minute). Each figure is the median of
//! `WORKBOOK_BENCH_RUNS` runs (default 5). It writes its tables into
//! `chapters/generated/` (`speed-verdict.md`, `speed-fix.md`,
//! `speed-memory.md`), each headed by the command, date, machine and runs,
//! and the appendix and chapters include them; it prints them too:
//!
//! - each experiment's time to verdict (its report's `elapsed_ms`) and the
//!   wall time of its process;
//! - the whole `cargo run` set (`workbook`, experiments in parallel) and the
//!   same one after another (`--jobs 1`);
//! - the deadlock fix's throughput against a floor: the same protocol
//!   (1024-byte server reads, upper-cased replies, 64 KiB writes, a reader
//!   thread) written as plainly as possible with blocking std sockets;
//! - the fix's default 2 MiB: its time and rate with 64 KiB `sendall()`
//!   calls and with the book's 16-byte messages (`--fix-chunk 16`);
//! - the peak memory of `deadlock --fixed` with 64 MiB and with 1 GiB.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

mod common;

fn runs() -> usize {
    std::env::var("WORKBOOK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `median (min to max)`, with `digits` decimals.
fn spread(mut xs: Vec<f64>, digits: usize) -> String {
    xs.sort_by(f64::total_cmp);
    let (lo, hi) = (xs[0], xs[xs.len() - 1]);
    format!("{:.digits$} ({lo:.digits$} to {hi:.digits$})", median(xs))
}

/// Runs `bin args --json` and returns (wall ms, the last JSON line).
fn run_json(bin: &str, args: &[&str]) -> (f64, Value) {
    let start = Instant::now();
    let out = Command::new(bin).args(args).output().expect("run");
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("null");
    (wall, serde_json::from_str(last).unwrap_or(Value::Null))
}

/// The deadlock's protocol as plainly as it can be written: blocking
/// sockets, one thread per direction, no counters, no deadlines.
fn floor_mib_s(bytes: usize) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut sc, _) = listener.accept().unwrap();
        let mut data = [0u8; 1024];
        loop {
            let n = sc.read(&mut data).unwrap();
            if n == 0 {
                break;
            }
            sc.write_all(&data[..n].to_ascii_uppercase()).unwrap();
        }
    });
    let start = Instant::now();
    let sock = TcpStream::connect(addr).unwrap();
    let mut reader = sock.try_clone().unwrap();
    let replies = std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    });
    let block: Vec<u8> = b"capitalize this!"
        .iter()
        .copied()
        .cycle()
        .take(64 * 1024)
        .collect();
    let mut writer = sock;
    let mut sent = 0;
    while sent < bytes {
        let n = block.len().min(bytes - sent);
        writer.write_all(&block[..n]).unwrap();
        sent += n;
    }
    writer.shutdown(Shutdown::Write).unwrap();
    let got = replies.join().unwrap();
    server.join().unwrap();
    assert_eq!(got, bytes);
    bytes as f64 / 1048576.0 / start.elapsed().as_secs_f64()
}

fn main() {
    let n = runs();
    let command = match std::env::var("WORKBOOK_BENCH_RUNS") {
        Ok(r) => {
            format!("WORKBOOK_BENCH_RUNS={r} cargo bench --bench workbook")
        }
        Err(_) => "cargo bench --bench workbook".to_owned(),
    };
    let workbook = env!("CARGO_BIN_EXE_workbook");
    let mut verdict_table = String::from(
        "| what | time to verdict | process wall time |\n|---|---|---|\n",
    );
    let names: Vec<&str> = tcp_workbook::workbook::registry::EXPERIMENTS
        .iter()
        .map(|e| e.name)
        .collect();
    for name in &names {
        let (mut verdict, mut wall) = (vec![], vec![]);
        for _ in 0..n {
            let (ms, r) = run_json(workbook, &["exec", name, "--", "--json"]);
            assert_eq!(r["matched"], true, "{name}: {r}");
            verdict.push(r["elapsed_ms"].as_f64().unwrap());
            wall.push(ms);
        }
        verdict_table += &format!(
            "| `{name}` | {:.0} ms | {:.0} ms |\n",
            median(verdict),
            median(wall)
        );
    }
    for (label, args) in [
        ("the whole set, in parallel (`cargo run`)", &[][..]),
        (
            "the whole set, one after another (`--jobs 1`)",
            &["--jobs", "1"],
        ),
    ] {
        let walls = (0..n)
            .map(|_| {
                let start = Instant::now();
                let out = Command::new(workbook).args(args).output().unwrap();
                assert!(out.status.success(), "{label}: {out:?}");
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        verdict_table += &format!("| {label} | | {:.0} ms |\n", median(walls));
    }
    println!("{verdict_table}");
    common::write(
        "speed-verdict",
        &command,
        &format!("release build, each figure the median of {n} runs"),
        &verdict_table,
    );

    let deadlock = env!("CARGO_BIN_EXE_deadlock");
    let fixed = |args: &[&str]| -> (Vec<f64>, Vec<f64>) {
        let mut all = vec!["--fixed", "--json"];
        all.extend_from_slice(args);
        (0..n)
            .map(|_| {
                let (_, r) = run_json(deadlock, &all);
                let f = &r["measurements"]["fixed"];
                (
                    f["elapsed_ms"].as_f64().unwrap(),
                    f["throughput_mib_per_s"].as_f64().unwrap(),
                )
            })
            .unzip()
    };
    let (_, big) = fixed(&["--bytes", "256MiB"]);
    let floor: Vec<f64> = (0..n).map(|_| floor_mib_s(256 << 20)).collect();
    let (ms_64k, rate_64k) = fixed(&[]);
    let (ms_16, rate_16) = fixed(&["--fix-chunk", "16"]);
    let fix_table = format!(
        "| through the fix | time | MiB/s, median (min to max) |\n\
         |---|---|---|\n\
         | 256 MiB, `deadlock --fixed --bytes 256MiB` | | {} |\n\
         | 256 MiB, the same protocol on plain blocking sockets | | {} |\n\
         | 2 MiB, `deadlock --fixed` (64 KiB per `sendall()`) | {} ms | {} |\n\
         | 2 MiB, `deadlock --fixed --fix-chunk 16` (the book's 16 bytes) | {} ms | {} |\n",
        spread(big, 0),
        spread(floor, 0),
        spread(ms_64k, 0),
        spread(rate_64k, 0),
        spread(ms_16, 0),
        spread(rate_16, 1),
    );
    println!("{fix_table}");
    common::write(
        "speed-fix",
        &command,
        &format!("release build, {n} runs of each row"),
        &fix_table,
    );

    let rss_runs = n.min(3);
    let mut memory_table = String::from(
        "| `deadlock --fixed` | peak resident memory |\n|---|---|\n",
    );
    for bytes in ["64MiB", "1GiB"] {
        let rss: Vec<f64> = (0..rss_runs)
            .map(|_| {
                let (_, r) = run_json(
                    deadlock,
                    &["--fixed", "--bytes", bytes, "--json"],
                );
                r["measurements"]["peak_rss_bytes"].as_f64().unwrap()
                    / 1048576.0
            })
            .collect();
        memory_table +=
            &format!("| `--bytes {bytes}` | {:.1} MiB |\n", median(rss));
    }
    println!("{memory_table}");
    common::write(
        "speed-memory",
        &command,
        &format!("release build, the median of {rss_runs} runs"),
        &memory_table,
    );
}
