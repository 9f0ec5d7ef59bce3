//! `workbook check`'s speed, kept out of `cargo test`: `cargo bench
//! --bench check` (release build, about two minutes; needs python3). It
//! writes `chapters/generated/check-speed.md`, headed by the command,
//! date, machine, runs and the load average, which the grading chapter
//! includes; it prints the table too:
//!
//! - each suite's wall time on its passing reference program (the whole
//!   `workbook check` process: the namespace, every check, Python's
//!   start-up for each), and the slowest single check (its `elapsed_ms`);
//! - the failing references whose finding waits on a timer of ours or the
//!   kernel's: how long until the finding, and the floor that sets it,
//!   read from the code's constants and defaults;
//! - Python's own start-up (`python3 -c pass`, as nobody when we are
//!   root, as the checked program runs), the floor every check pays once
//!   per start of the program;
//! - a class of 40 submissions of exercise 01's server (30 passing, 10
//!   calling `recv` once) through `--each`, as many at once as cores.
//!
//! Each figure is the median of `WORKBOOK_BENCH_RUNS` runs (default 5; 3
//! for the class). Other work on the machine slows Python's start-up
//! most: the note says the load average before and after.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use tcp_workbook::lab::privilege;
use tcp_workbook::workbook::check::run::CheckArgs;

mod common;

/// A one-minute load average above this when the benchmark starts means
/// other work shared the machine while the figures were taken.
const LOADED: f64 = 1.5;

fn runs() -> usize {
    std::env::var("WORKBOOK_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// `median (min to max)`, in ms, no decimals.
fn spread(mut xs: Vec<f64>) -> String {
    xs.sort_by(f64::total_cmp);
    let (lo, hi, mid) = (xs[0], xs[xs.len() - 1], xs[xs.len() / 2]);
    format!("{mid:.0} ms ({lo:.0} to {hi:.0})")
}

/// Copies `exercises/` where user nobody can read it (run as root, the
/// checked program runs as nobody).
fn exercises(to: &Path) {
    let mode = |p: &Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(to, 0o755);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("exercises");
    for sub in std::fs::read_dir(src).unwrap().flatten() {
        let dir = to.join(sub.file_name());
        std::fs::create_dir_all(&dir).unwrap();
        mode(&dir, 0o755);
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            let copy = dir.join(f.file_name());
            std::fs::copy(f.path(), &copy).unwrap();
            mode(&copy, 0o644);
        }
    }
}

/// Runs `workbook check ARGS --json -- python3 FILE PROGRAM_ARGS...`:
/// (wall ms, the findings).
fn check(args: &[&str], file: &Path, program: &[&str]) -> (f64, Vec<Value>) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_workbook"))
        .arg("check")
        .args(args)
        .args(["--json", "--", "python3", file.to_str().unwrap()])
        .args(program)
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&out.stdout);
    let fs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (wall, fs)
}

/// The one-minute load average, from `/proc/loadavg`; `None` elsewhere.
fn load() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One row: a reference program through one suite.
struct Row {
    /// `["10", "--client"]`.
    args: [&'static str; 2],
    /// Under `exercises/`.
    file: &'static str,
    /// What follows the file: `{host} {port}`, or 07's `{port}`.
    program: &'static [&'static str],
    /// For a failing reference, what its finding's reason says; `None`
    /// for a passing one.
    fails_with: Option<&'static str>,
    /// What sets the floor of its time, beyond Python's start-up.
    floor: String,
}

/// Every suite's passing reference, and the failing references whose
/// finding waits on a timer, each with the floor that timer sets.
fn rows() -> Vec<Row> {
    use tcp_workbook::experiments::deadlock::Knobs;
    use tcp_workbook::workbook::check::{backlog, deadlock, hostile};
    let pause = hostile::PAUSE.as_millis();
    let timeout_ms = {
        use clap::{Args, FromArgMatches};
        let m = CheckArgs::augment_args(clap::Command::new("check"))
            .no_binary_name(true)
            .get_matches_from(["--list"]);
        CheckArgs::from_arg_matches(&m).unwrap().timeout_ms
    };
    let hp: &[&str] = &["{host}", "{port}"];
    let row = |args, file, fails_with, floor: String| Row {
        args,
        file,
        program: hp,
        fails_with,
        floor,
    };
    let none = || "none: Python's start-up and the exchange".to_owned();
    vec![
        row(
            ["01", "--server"],
            "01-sixteen/server_pass.py",
            None,
            format!(
                "15 × `PAUSE` ({pause} ms) after a piece the program read, \
                 in waits-for-16-byte-by-byte; one start of Python per check"
            ),
        ),
        row(
            ["01", "--client"],
            "01-sixteen/client_pass.py",
            None,
            format!("3 × `PAUSE` ({pause} ms), in gets-reply-in-pieces"),
        ),
        row(
            ["02", "--server"],
            "02-partial-recv/server_pass.py",
            None,
            format!("15 × `PAUSE` ({pause} ms), one per split"),
        ),
        row(
            ["04", "--server"],
            "04-listening-socket/server_pass.py",
            None,
            none(),
        ),
        row(
            ["06", "--server"],
            "06-reuseaddr/server_pass.py",
            None,
            "none: two starts of Python (the restart)".to_owned(),
        ),
        Row {
            program: &["{port}"],
            ..row(
                ["07", "--server"],
                "07-bind-interface/server_pass.py",
                None,
                "none: two hosts' namespaces built first".to_owned(),
            )
        },
        row(
            ["09", "--server"],
            "09-backlog/server_pass.py",
            None,
            none(),
        ),
        row(
            ["10", "--client"],
            "10-deadlock/client_pass.py",
            None,
            format!(
                "none: {} MiB through the book's server",
                deadlock::MIN_BYTES >> 20
            ),
        ),
        row(
            ["02", "--server"],
            "02-partial-recv/server_spins.py",
            Some("hangs"),
            format!(
                "our deadline, `--timeout-ms` ({timeout_ms} ms by default): \
                 neither a reply nor a close within it"
            ),
        ),
        row(
            ["09", "--server"],
            "09-backlog/server_backlog_1.py",
            Some("got no answer"),
            format!(
                "`WAIT` ({} ms) for each client of the burst the kernel \
                 ignores",
                backlog::WAIT.as_millis()
            ),
        ),
        row(
            ["10", "--client"],
            "10-deadlock/client_sends_all_first.py",
            Some("deadlock"),
            format!(
                "`CONFIRM` ({} ms): the cycle of waits (both windows 0) \
                 must hold this long",
                deadlock::CONFIRM.as_millis()
            ),
        ),
        row(
            ["10", "--client"],
            "10-deadlock/client_no_shutdown.py",
            Some("never half-closes"),
            format!(
                "the stall window ({} ms): nothing may move this long before \
                 a missing FIN is named",
                Knobs::default().stall_window().as_millis()
            ),
        ),
    ]
}

fn main() {
    let n = runs();
    let command = match std::env::var("WORKBOOK_BENCH_RUNS") {
        Ok(r) => format!("WORKBOOK_BENCH_RUNS={r} cargo bench --bench check"),
        Err(_) => "cargo bench --bench check".to_owned(),
    };
    let load_before = load();
    let dir = tempfile::tempdir().unwrap();
    exercises(dir.path());
    let mut table = String::from(
        "| what | wall time, median (min to max) | slowest check, median | \
         floor, beyond Python's start-up |\n|---|---|---|---|\n",
    );
    // As the checked program starts: as nobody when we are root (so
    // without root's own site-packages, which may import a lot).
    let root = privilege::is_root();
    let python: Vec<f64> = (0..n)
        .map(|_| {
            let mut python = Command::new("python3");
            python.args(["-c", "pass"]);
            if root {
                python.uid(privilege::NOBODY).gid(privilege::NOBODY);
            }
            let start = Instant::now();
            let ok = python.status();
            assert!(ok.unwrap().success(), "python3 is needed");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    table += &format!(
        "| Python's start-up, `python3 -c pass`{} | {} | | |\n",
        if root { ", as nobody" } else { "" },
        spread(python)
    );
    for row in rows() {
        let (mut walls, mut slowest, mut checks) = (vec![], vec![], 0);
        let file = dir.path().join(row.file);
        for _ in 0..n {
            let (wall, fs) = check(&row.args, &file, row.program);
            assert!(!fs.is_empty(), "{}: no findings", row.file);
            match row.fails_with {
                None => assert!(
                    fs.iter().all(|f| f["passed"] == true),
                    "{}: {fs:#?}",
                    row.file
                ),
                Some(why) => assert!(
                    fs.iter().any(|f| f["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains(why))),
                    "{}: no {why:?} in {fs:#?}",
                    row.file
                ),
            }
            walls.push(wall);
            let max = fs.iter().filter_map(|f| f["elapsed_ms"].as_f64());
            slowest.push(max.fold(0.0, f64::max));
            checks = fs.len();
        }
        let checks = match checks {
            1 => "1 check".to_owned(),
            c => format!("{c} checks"),
        };
        let verdict = match row.fails_with {
            None => "passes".to_owned(),
            Some(why) => format!("fails: {why}"),
        };
        table += &format!(
            "| `check {} {}`, {checks}, on `{}` ({verdict}) | {} | {} | {} |\n",
            row.args[0],
            row.args[1],
            row.file,
            spread(walls),
            spread(slowest),
            row.floor
        );
    }
    let class = dir.path().join("class");
    for i in 0..40 {
        let who = class.join(format!("s{i:02}"));
        std::fs::create_dir_all(&who).unwrap();
        std::fs::set_permissions(&who, std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(
            &class,
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let file = if i % 4 == 3 {
            "server_recv_once.py"
        } else {
            "server_pass.py"
        };
        let copy = who.join("server.py");
        std::fs::copy(dir.path().join("01-sixteen").join(file), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    let glob = format!("{}/s*/server.py", class.display());
    let class_runs = n.min(3);
    let walls: Vec<f64> = (0..class_runs)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_workbook"))
                .args(["check", "01", "--server", "--each", &glob])
                .args(["--format", "csv", "--", "python3", "{file}"])
                .args(["{host}", "{port}"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            let rows = String::from_utf8_lossy(&out.stdout).lines().count();
            assert_eq!(rows, 1 + 40 * 6, "{out:?}");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    table += &format!(
        "| 40 submissions × the 6 checks of `check 01 --server`, `--each`, \
         {cores} at once | {} | | |\n",
        spread(walls)
    );
    println!("{table}");
    // The end's average counts our own runs (the class keeps every core
    // busy); the start's is the other work on the machine.
    let load = match (load_before, load()) {
        (Some(a), Some(b)) => format!(
            ", load average {a:.2} at the start ({b:.2} at the end, which \
             counts the benchmark's own runs){}",
            if a > LOADED {
                ": taken under load, other work sharing the cores"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    common::write(
        "check-speed",
        &command,
        &format!(
            "release build, {n} runs of each row, {class_runs} of the \
             class{load}"
        ),
        &table,
    );
}
