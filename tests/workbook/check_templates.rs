//! The templates instructors copy: GitHub Classroom's workflow
//! (`.github/classroom/classroom.yml`, and `autograding.json` in the
//! older format) and Gradescope's `exercises/gradescope/run_autograder`.
//! Each holds a test per check of every suite in the code
//! ([`tcp_workbook::workbook::check::all`]), worth the check's points, so
//! that a new check without its row fails here; and each, run on the
//! passing reference programs laid out as a student's repository, gives
//! every point.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tcp_workbook::workbook::check::{self, suite::Suite};
use tcp_workbook::workbook::registry;

use crate::check::python;

/// One test of a template: what the code says it must be.
#[derive(Debug, PartialEq)]
struct Row {
    /// `01-server-replies-farewell`: the step's id in the workflow.
    id: String,
    /// `01 sixteen server: replies-farewell`, as Gradescope's results
    /// name the check too.
    name: String,
    /// `workbook check 01 --server --only replies-farewell -- python3
    /// 01-sixteen/server.py`, which the program's arguments follow.
    command: String,
    /// The check's points.
    points: u64,
}

/// `01-sixteen/server.py`: where a student's program for `suite` is, laid
/// out as `exercises/` is.
fn student_file(suite: &Suite) -> String {
    let e = registry::find(&suite.number.to_string()).expect("registered");
    format!("{}-{}/{}.py", e.id(), e.name, suite.role.name())
}

/// A row per check of every suite, in the code's order.
fn rows() -> Vec<Row> {
    let mut rows = vec![];
    for s in check::all() {
        let e = registry::find(&s.number.to_string()).unwrap();
        let role = s.role.name();
        for c in s.checks {
            rows.push(Row {
                id: format!("{}-{role}-{}", e.id(), c.name),
                name: format!("{} {} {role}: {}", e.id(), e.name, c.name),
                command: format!(
                    "workbook check {} --{role} --only {} -- python3 {}",
                    e.id(),
                    c.name,
                    student_file(s)
                ),
                points: u64::from(c.points),
            });
        }
    }
    rows
}

/// `command` without the program's arguments, which must be `{host}
/// {port}` or `{port}` (07's program chooses its own address).
fn without_args(command: &str) -> String {
    let cut = [" {host} {port}", " {port}"]
        .iter()
        .find_map(|a| command.strip_suffix(a))
        .unwrap_or_else(|| {
            panic!("not {{host}} {{port}} or {{port}}: {command}")
        });
    cut.to_owned()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(crate::book::root().join(rel)).unwrap()
}

/// The tests of `autograding.json` (the older format), as rows.
fn autograding() -> Vec<(Row, String)> {
    let a: Value =
        serde_json::from_str(&read(".github/classroom/autograding.json"))
            .unwrap();
    let tests = a["tests"].as_array().unwrap();
    tests
        .iter()
        .map(|t| {
            assert!(t["timeout"].as_u64().is_some_and(|m| m >= 1), "{t}");
            let run = t["run"].as_str().unwrap().to_owned();
            let name = t["name"].as_str().unwrap().to_owned();
            let id = String::new(); // the old format has none
            let command = without_args(&run);
            let points = t["points"].as_u64().unwrap();
            (
                Row {
                    id,
                    name,
                    command,
                    points,
                },
                run,
            )
        })
        .collect()
}

/// Both Classroom files parse and hold exactly a test per check of every
/// suite, in the code's order, each worth the check's points, each running
/// `workbook check` with `--only` that check on the student's file; the
/// workflow's reporter reads every test's result and only those.
#[test]
fn classroom_templates_hold_a_test_per_check() {
    let want = rows();
    let old: Vec<Row> = autograding().into_iter().map(|(r, _)| r).collect();
    let unnamed: Vec<Row> = want
        .iter()
        .map(|r| Row {
            id: String::new(),
            name: r.name.clone(),
            command: r.command.clone(),
            points: r.points,
        })
        .collect();
    assert_eq!(old, unnamed, "autograding.json: a test per check");
    let docs = yaml_rust2::YamlLoader::load_from_str(&read(
        ".github/classroom/classroom.yml",
    ))
    .unwrap();
    let steps = docs[0]["jobs"]["run-autograding-tests"]["steps"]
        .as_vec()
        .unwrap();
    let grader = "classroom-resources/autograding-command-grader@v1";
    let tests: Vec<Row> = steps
        .iter()
        .filter(|s| s["uses"].as_str() == Some(grader))
        .map(|s| {
            let with = &s["with"];
            assert_eq!(s["name"].as_str(), with["test-name"].as_str());
            assert!(with["timeout"].as_i64().is_some_and(|m| m >= 1));
            Row {
                id: s["id"].as_str().unwrap().to_owned(),
                name: with["test-name"].as_str().unwrap().to_owned(),
                command: without_args(with["command"].as_str().unwrap()),
                points: with["max-score"].as_i64().unwrap() as u64,
            }
        })
        .collect();
    assert_eq!(tests, want, "classroom.yml: a step per check");
    let reporter = steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Autograding Reporter"))
        .unwrap();
    let ids: Vec<&str> = want.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        reporter["with"]["runners"].as_str().unwrap(),
        ids.join(","),
        "the reporter's runners"
    );
    let env = reporter["env"].as_hash().unwrap();
    assert_eq!(env.len(), ids.len(), "{env:?}");
    for id in ids {
        let key =
            yaml_rust2::Yaml::String(format!("{}_RESULTS", id.to_uppercase()));
        assert_eq!(
            env[&key].as_str(),
            Some(format!("${{{{steps.{id}.outputs.result}}}}").as_str()),
            "the reporter's {key:?}"
        );
    }
    // The workflow's own commands are the old format's, arguments too.
    let runs: Vec<String> =
        autograding().into_iter().map(|(_, run)| run).collect();
    let commands: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["with"]["command"].as_str())
        .collect();
    assert_eq!(commands, runs);
}

/// A directory every user can read (run as root, the checked program
/// runs as nobody).
fn readable_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    open_to_all(dir.path(), 0o755);
    dir
}

fn open_to_all(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
}

/// A student's repository in `into`: each suite's passing reference
/// program, `exercises/NN-name/ROLE_pass.py`, where a student's own goes
/// ([`student_file`]).
fn lay_out_references(into: &Path) {
    let exercises = crate::book::root().join("exercises");
    std::fs::create_dir_all(into).unwrap();
    open_to_all(into, 0o755);
    for s in check::all() {
        let to = into.join(student_file(s));
        let folder = to.parent().unwrap();
        std::fs::create_dir_all(folder).unwrap();
        open_to_all(folder, 0o755);
        let pass = student_file(s).replace(".py", "_pass.py");
        std::fs::copy(exercises.join(&pass), &to)
            .unwrap_or_else(|e| panic!("exercises/{pass}: {e}"));
        open_to_all(&to, 0o644);
    }
}

/// `PATH` with this package's binaries first, as `cargo install` puts
/// `workbook` on a runner's.
fn path_with_workbook() -> String {
    let bins = crate::bin("workbook").parent().unwrap().to_owned();
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", bins.display())
}

/// Every command of the Classroom template, run as the command grader runs
/// it (a shell, in the student's repository), exits 0 on the passing
/// reference programs: the checks, files and arguments are right.
#[test]
fn classroom_commands_pass_the_reference_programs() {
    if python().is_none() {
        return;
    }
    let repo = readable_dir();
    lay_out_references(repo.path());
    for (row, run) in autograding() {
        let out = Command::new("sh")
            .args(["-c", &run])
            .current_dir(repo.path())
            .env("PATH", path_with_workbook())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {run}\n{}",
            row.name,
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Gradescope's `run_autograder` holds a line per suite, in the code's
/// order, naming the student's file; run on the passing reference programs
/// as a submission, it writes one `results.json` with a test per check of
/// every suite (named as `--format gradescope` names it), each worth the
/// check's points and all earned, and the total that adds them up.
#[test]
fn run_autograder_grades_every_check() {
    let script = read("exercises/gradescope/run_autograder");
    let table = script
        .split("<<'SUITES'\n")
        .nth(1)
        .and_then(|t| t.split("\nSUITES\n").next())
        .expect("a SUITES here-document");
    let lines: Vec<String> = table
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert!(
                matches!(words[3..], ["{host}", "{port}"] | ["{port}"]),
                "{l}"
            );
            words[..3].join(" ")
        })
        .collect();
    let want: Vec<String> = check::all()
        .map(|s| {
            let e = registry::find(&s.number.to_string()).unwrap();
            format!("{} {} {}", e.id(), s.role.name(), student_file(s))
        })
        .collect();
    assert_eq!(lines, want, "run_autograder: a line per suite");
    if python().is_none() {
        return;
    }
    let root = readable_dir();
    lay_out_references(&root.path().join("submission"));
    let out = Command::new("bash")
        .arg(crate::book::root().join("exercises/gradescope/run_autograder"))
        .env("AUTOGRADER", root.path())
        .env("PATH", path_with_workbook())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let results =
        std::fs::read_to_string(root.path().join("results/results.json"))
            .unwrap();
    let r: Value = serde_json::from_str(&results).unwrap();
    let tests = r["tests"].as_array().unwrap();
    let skipped = |t: &Value| {
        t["output"]
            .as_str()
            .is_some_and(|o| o.starts_with("skipped: "))
    };
    let got: Vec<(String, u64, u64)> = tests
        .iter()
        .map(|t| {
            assert_eq!(t["status"], "passed", "{t}");
            (
                t["name"].as_str().unwrap().to_owned(),
                t["score"].as_u64().unwrap(),
                t["max_score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tests.len(), rows().len(), "a test per check: {results}");
    // A check this system cannot run (07 without namespaces) is worth 0.
    let want: Vec<(String, u64, u64)> = rows()
        .into_iter()
        .zip(tests)
        .map(|(r, t)| match skipped(t) {
            true => (r.name, 0, 0),
            false => (r.name, r.points, r.points),
        })
        .collect();
    assert_eq!(got, want, "{results}");
    let total: u64 = want.iter().map(|(_, s, _)| s).sum();
    assert_eq!(r["score"].as_u64(), Some(total));
}
