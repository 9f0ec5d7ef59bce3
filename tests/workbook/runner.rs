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
