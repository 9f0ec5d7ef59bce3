//! The `workbook` runner: runs every registered experiment in a child process
//! with a deadline, prints a table or JSON Lines, and sets its exit status.

use tcp_workbook::registry::EXPERIMENTS;

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
