//! `workbook check`'s speed, kept out of `cargo test`: `cargo bench
//! --bench check` (release build, about a minute and a half; needs
//! python3). It writes `chapters/generated/check-speed.md`, headed by the
//! command, date, machine and runs, which the grading chapter includes;
//! it prints the tables too:
//!
//! - each suite's wall time on its passing reference program (the whole
//!   `workbook check` process: the namespace, every check, Python's
//!   start-up for each), and the slowest single check (its `elapsed_ms`);
//! - Python's own start-up (`python3 -c pass`), the floor every check
//!   pays once per start of the program;
//! - a class of 40 submissions of exercise 01's server (30 passing, 10
//!   calling `recv` once) through `--each`, as many at once as cores.
//!
//! Each figure is the median of `WORKBOOK_BENCH_RUNS` runs (default 5; 3
//! for the class).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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

/// Runs `workbook check ARGS --json -- python3 FILE {host} {port}`:
/// (wall ms, the findings).
fn check(args: &[&str], file: &Path) -> (f64, Vec<Value>) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_workbook"))
        .arg("check")
        .args(args)
        .args(["--json", "--", "python3", file.to_str().unwrap()])
        .args(["{host}", "{port}"])
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

fn main() {
    let n = runs();
    let command = match std::env::var("WORKBOOK_BENCH_RUNS") {
        Ok(r) => format!("WORKBOOK_BENCH_RUNS={r} cargo bench --bench check"),
        Err(_) => "cargo bench --bench check".to_owned(),
    };
    let dir = tempfile::tempdir().unwrap();
    exercises(dir.path());
    let mut table = String::from(
        "| what | wall time, median (min to max) | slowest check, median |\n\
         |---|---|---|\n",
    );
    let python: Vec<f64> = (0..n)
        .map(|_| {
            let start = Instant::now();
            let ok = Command::new("python3").args(["-c", "pass"]).status();
            assert!(ok.unwrap().success(), "python3 is needed");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    table += &format!(
        "| Python's start-up, `python3 -c pass` | {} | |\n",
        spread(python)
    );
    for (args, file) in [
        (["01", "--server"], "01-sixteen/server_pass.py"),
        (["01", "--client"], "01-sixteen/client_pass.py"),
        (["02", "--server"], "02-partial-recv/server_pass.py"),
    ] {
        let (mut walls, mut slowest) = (vec![], vec![]);
        for _ in 0..n {
            let (wall, fs) = check(&args, &dir.path().join(file));
            assert!(fs.iter().all(|f| f["passed"] == true), "{file}: {fs:#?}");
            walls.push(wall);
            let max = fs.iter().filter_map(|f| f["elapsed_ms"].as_f64());
            slowest.push(max.fold(0.0, f64::max));
        }
        let checks =
            format!("{} checks", check(&args, &dir.path().join(file)).1.len());
        table += &format!(
            "| `check {} {}`, {checks}, on `{file}` | {} | {} |\n",
            args[0],
            args[1],
            spread(walls),
            spread(slowest)
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
         {cores} at once | {} | |\n",
        spread(walls)
    );
    println!("{table}");
    common::write(
        "check-speed",
        &command,
        &format!(
            "release build, {n} runs of each row, {class_runs} of the class"
        ),
        &table,
    );
}
