//! What a network of its own and the capture cost, kept out of `cargo
//! test`: `cargo bench --bench wire` (release build, a few minutes). It
//! writes `chapters/generated/speed-wire.md`, headed by the command, date,
//! machine and runs, and prints it too:
//!
//! - each experiment's process wall time in its private namespace with
//!   its packets captured (the default), and on the host's loopback
//!   (`--network host`): as root, who captures the host's loopback too,
//!   and as uid 65534 (when run as root), who captures nothing there;
//! - the whole set, every experiment at once in a process of its own,
//!   both ways, against the backlog's 1 s SYN-retry floor;
//! - the deadlock's fix with `--bytes 64MiB` and `256MiB --pcap FILE`: the
//!   frames the kernel dropped, the pcap file's size and the peak memory.
//!
//! Each figure is the median of `WORKBOOK_BENCH_RUNS` runs (default 5).

use std::path::{Path, PathBuf};
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

/// Who runs a command: this user, or uid 65534 through `setpriv`.
#[derive(Clone, Copy, PartialEq)]
enum As {
    Me,
    Nobody,
}

/// The command for `exe` as `who`.
fn command(exe: &Path, who: As) -> Command {
    match who {
        As::Me => Command::new(exe),
        As::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
            c.arg(exe);
            c
        }
    }
}

/// The runs that did not match the book (exit status 1), each as a line:
/// a timing is still a timing, but the table says so.
static MISMATCHES: std::sync::Mutex<Vec<String>> =
    std::sync::Mutex::new(Vec::new());

/// The wall time of `exe args` as `who`, in ms, and its stdout; asserts
/// it exits 0 or 1 (a mismatch, noted in [`MISMATCHES`]).
fn wall(exe: &Path, who: As, args: &[&str]) -> (f64, String) {
    let start = Instant::now();
    let out = command(exe, who).args(args).output().expect("run");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.code() == Some(1) {
        let r: Value = serde_json::from_str(text.trim()).unwrap_or_default();
        MISMATCHES.lock().unwrap().push(format!(
            "`{}` ({}): observed {}",
            args.join(" "),
            if who == As::Nobody {
                "uid 65534"
            } else {
                "root"
            },
            r["observed"]
        ));
    } else {
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    (ms, text)
}

/// Our executables, copied where uid 65534 can run them (a directory of
/// mode 0755 under /tmp), with the directory to remove afterwards.
fn readable_copies() -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir()
        .join(format!("tcp-workbook-bench-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let copy = |exe: &str| {
        let to = dir.join(Path::new(exe).file_name().unwrap());
        std::fs::copy(exe, &to).unwrap();
        to
    };
    let workbook = copy(env!("CARGO_BIN_EXE_workbook"));
    let deadlock = copy(env!("CARGO_BIN_EXE_deadlock"));
    (dir, workbook, deadlock)
}

fn main() {
    let n = runs();
    let command_line = match std::env::var("WORKBOOK_BENCH_RUNS") {
        Ok(r) => format!("WORKBOOK_BENCH_RUNS={r} cargo bench --bench wire"),
        Err(_) => "cargo bench --bench wire".to_owned(),
    };
    let (dir, workbook, deadlock) = readable_copies();
    let root = nix::unistd::geteuid().is_root();
    let mut users = vec![(As::Me, if root { "root" } else { "this user" })];
    if root {
        users.push((As::Nobody, "uid 65534"));
    }
    let names: Vec<&str> = tcp_workbook::workbook::registry::EXPERIMENTS
        .iter()
        .map(|e| e.name)
        .collect();
    let mut table = String::from(
        "| process wall time, median | as | private, captured | \
         `--network host` | difference |\n|---|---|---|---|---|\n",
    );
    let host = ["--network", "host"];
    for &(who, label) in &users {
        for name in &names {
            let time = |extra: &[&str]| -> f64 {
                let mut args = vec!["exec", name, "--", "--json"];
                args.extend_from_slice(extra);
                median((0..n).map(|_| wall(&workbook, who, &args).0).collect())
            };
            let (private, on_host) = (time(&[]), time(&host));
            table += &format!(
                "| `{name}` | {label} | {private:.0} ms | {on_host:.0} ms | \
                 {:+.0} ms |\n",
                private - on_host
            );
        }
        // Every experiment at once, each its own process, as `cargo run`
        // runs them (the runner passes no flag to all of them).
        let set = |extra: &[&str]| -> f64 {
            let once = || {
                let start = Instant::now();
                let children: Vec<_> = names
                    .iter()
                    .map(|name| {
                        let mut c = command(&workbook, who);
                        c.args(["exec", name, "--", "--json"]).args(extra);
                        c.stdout(std::process::Stdio::null());
                        c.spawn().expect("spawn")
                    })
                    .collect();
                for mut child in children {
                    let code = child.wait().unwrap().code();
                    assert!(matches!(code, Some(0 | 1)), "{code:?}");
                }
                start.elapsed().as_secs_f64() * 1000.0
            };
            median((0..n).map(|_| once()).collect())
        };
        let (private, on_host) = (set(&[]), set(&host));
        table += &format!(
            "| the whole set, all at once | {label} | \
             {private:.0} ms | {on_host:.0} ms | {:+.0}% |\n",
            100.0 * (private - on_host) / on_host
        );
    }
    let mismatches = MISMATCHES.lock().unwrap().clone();
    if !mismatches.is_empty() {
        table += "\nRuns that did not match the book (timed all the same):\n\n";
        for m in &mismatches {
            table += &format!("- {m}\n");
        }
    }
    println!("{table}");

    let pcap = dir.join("fix.pcap");
    let pcap_arg = pcap.to_string_lossy().into_owned();
    let mut fix = String::from(
        "| `deadlock --fixed` | frames captured | frames dropped | \
         pcap file | peak resident memory |\n|---|---|---|---|---|\n",
    );
    for (label, args) in [
        ("`--bytes 64MiB`", vec!["--bytes", "64MiB"]),
        (
            "`--bytes 256MiB --pcap FILE`",
            vec!["--bytes", "256MiB", "--pcap", &pcap_arg],
        ),
    ] {
        let mut all = vec!["--fixed", "--json"];
        all.extend_from_slice(&args);
        let rows: Vec<(f64, f64, f64)> = (0..n.min(3))
            .map(|_| {
                let (_, out) = wall(&deadlock, As::Me, &all);
                let r: Value = serde_json::from_str(out.trim()).unwrap();
                let p = &r["packets"];
                let rss = r["measurements"]["peak_rss_bytes"].as_f64().unwrap();
                (
                    p["frames_captured"].as_f64().unwrap_or(0.0),
                    p["frames_dropped"].as_f64().unwrap_or(f64::NAN),
                    rss / 1048576.0,
                )
            })
            .collect();
        let most_dropped =
            rows.iter().map(|r| r.1).fold(0.0_f64, |a, b| a.max(b));
        let size = std::fs::metadata(&pcap)
            .ok()
            .filter(|_| args.contains(&"--pcap"))
            .map_or("none".into(), |m| {
                format!("{:.0} MiB", m.len() as f64 / 1048576.0)
            });
        fix += &format!(
            "| {label} | {:.0} | {most_dropped:.0} (the most in any of {} runs) | {size} | \
             {:.1} MiB |\n",
            median(rows.iter().map(|r| r.0).collect()),
            rows.len(),
            median(rows.iter().map(|r| r.2).collect()),
        );
    }
    println!("{fix}");
    let _ = std::fs::remove_dir_all(&dir);
    common::write(
        "speed-wire",
        &command_line,
        &format!("release build, each figure the median of {n} runs"),
        &format!("{table}\n{fix}"),
    );
}
