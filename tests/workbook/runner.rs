//! The `workbook` runner: runs every registered experiment in a child process
//! with a deadline, prints a table or JSON Lines, and sets its exit status.

use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::cmd;

/// `workbook --json` prints one matched report per registered experiment,
/// in number order, and exits 0.
#[test]
fn every_experiment_matches_the_book() {
    let out = cmd("workbook").arg("--json").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let reports: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["experiment"].as_str().unwrap())
        .collect();
    let registered: Vec<&str> = EXPERIMENTS.iter().map(|e| e.name).collect();
    assert_eq!(names, registered);
    for r in &reports {
        assert_eq!(r["matched"], true, "{r}");
        assert_eq!(r["observed"], r["expected"], "{r}");
    }
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// The table has one row per experiment, with its number, name and ✓.
#[test]
fn table_marks_each_experiment() {
    let out = cmd("workbook").args(["run", "sixteen"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("01 "))
        .expect("a row for 01");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["01", "sixteen", "exchanged", "exchanged", "✓"],
        "{row}"
    );
}

/// Experiments are found by number with or without the leading zero, or by name.
#[test]
fn experiments_are_found_by_number_or_name() {
    for id in ["1", "01", "sixteen"] {
        let out = cmd("workbook")
            .args(["run", id, "--json"])
            .output()
            .unwrap();
        assert_eq!(crate::json_report(&out.stdout)["number"], 1, "{id}");
    }
}

/// An unknown experiment is a usage error that lists the known ones.
#[test]
fn unknown_experiment_exits_2() {
    let out = cmd("workbook").args(["run", "99"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("01 sixteen"),
        "{out:?}"
    );
}

/// `workbook list` shows every registered experiment with its passage.
#[test]
fn list_shows_every_experiment_with_its_passage() {
    let out = cmd("workbook").arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for e in EXPERIMENTS {
        assert!(
            text.contains(&format!("{}  {}", e.id(), e.name)),
            "{}",
            e.name
        );
        assert!(text.contains(e.passage), "{}", e.name);
    }
}

/// `--repeat N` runs the selection N times: under `--json` every report
/// carries its round.
#[test]
fn repeat_runs_every_round_and_numbers_the_reports() {
    let out = cmd("workbook")
        .args(["--repeat", "3", "--json", "run", "01", "08"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let rounds: Vec<(u64, u64)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["round"].as_u64().unwrap(), v["number"].as_u64().unwrap()))
        .collect();
    assert_eq!(rounds, [(1, 1), (1, 8), (2, 1), (2, 8), (3, 1), (3, 8)]);
}

/// A mismatch in any round is reported with its round and its report, and
/// the exit status is 1 (here the large case cannot deadlock with 64 KiB).
#[test]
fn repeat_reports_each_mismatch_with_its_round() {
    let out = cmd("workbook")
        .args(["--repeat", "2", "run", "10", "--", "--bytes", "64KiB"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for round in [1, 2] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("round {round}: mismatch: ")))
            .unwrap_or_else(|| {
                panic!("no mismatch line for round {round}: {text}")
            });
        let json = line.split_once("mismatch: ").unwrap().1;
        let r: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(r["observed"], "large_case_completed");
    }
    assert!(text.contains("2 rounds, 2 runs, 2 mismatches"), "{text}");
}

/// Arguments after `--` go to the one experiment named; a `--json` among
/// them is the runner's own and does no harm.
#[test]
fn arguments_after_dashes_reach_the_experiment() {
    let out = cmd("workbook")
        .args(["--json", "run", "10", "--", "--bytes", "64KiB", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = crate::json_report(&out.stdout);
    assert_eq!(r["observed"], "large_case_completed", "{r}");
}

/// A run that cannot start (a bad argument after `--`) is a usage error
/// with `--repeat` too: exit 2, each round says it could not run, and the
/// summary counts it apart from the kernel's mismatches.
#[test]
fn repeat_of_a_run_that_cannot_start_exits_2() {
    let out = cmd("workbook")
        .args(["--repeat", "2", "run", "10", "--", "--bytes", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(": could not run: ").count(), 2, "{text}");
    assert!(
        text.contains("2 rounds, 2 runs, 0 mismatches, 2 could not run"),
        "{text}"
    );
}

/// `workbook run 01 -- --help` shows the experiment's help, exit 0, as
/// `sixteen --help` does.
#[test]
fn help_after_dashes_is_the_experiments_help() {
    let out = cmd("workbook")
        .args(["run", "01", "--", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.starts_with("01: "), "{help}");
    assert!(help.contains("Usage: sixteen"), "{help}");
}

/// Experiments named in any order, or twice, run once each in number order.
#[test]
fn experiments_run_in_number_order_once_each() {
    let out = cmd("workbook")
        .args(["--json", "run", "refused", "01", "08"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let numbers: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 8]);
}

/// A runner whose executable is removed while it runs (as `cargo build`
/// replaces it under a running `cargo run -- --repeat`) goes on running
/// the binary it started from: every round matches.
#[test]
fn repeat_survives_its_executable_being_replaced() {
    let dir = std::env::temp_dir()
        .join(format!("workbook-replaced-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("workbook");
    std::fs::copy(crate::bin("workbook"), &copy).unwrap();
    let mut child = std::process::Command::new(&copy)
        .args(["--repeat", "3", "run", "01", "08"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().unwrap(),
    ));
    // The first round is over: now the file goes.
    let first = lines.next().unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    use wait_timeout::ChildExt;
    let status = child.wait_timeout(crate::PROCESS_DEADLINE).unwrap();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("still running after the deadline: {first}\n{rest:?}");
    };
    assert_eq!(status.code(), Some(0), "{first}\n{rest:?}");
    assert!(
        rest.iter().any(|l| l == "3 rounds, 6 runs, 0 mismatches"),
        "{rest:?}"
    );
}
