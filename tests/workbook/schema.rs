//! The JSON Schema of every experiment's report is checked in under
//! `schema/` for graders, is what the code generates now, and accepts
//! what the experiment prints. Regenerate after a deliberate change with
//! `SNAPSHOTS=overwrite cargo test --test workbook schema`.

use std::fs;
use std::path::PathBuf;

use tcp_workbook::lab::report::{ErrorInfo, Failure};
use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::{cmd, json_report};

fn file(id: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(format!("{id}-{name}.schema.json"))
}

/// The checked-in schema of each experiment is the one the code generates.
#[test]
fn checked_in_schemas_are_current() {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    for e in EXPERIMENTS {
        let path = file(&e.id(), e.name);
        let now = serde_json::to_string_pretty(&(e.schema)()).unwrap() + "\n";
        if overwrite {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &now).unwrap();
        }
        let committed = fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("no schema {}", path.display()));
        assert_eq!(committed, now, "{} is out of date", path.display());
    }
}

/// What each experiment prints under `--json`, and the report of an
/// experiment that could not run, pass their schema; a report with a
/// measurement missing does not.
#[test]
fn reports_validate_against_their_schema() {
    for e in EXPERIMENTS {
        let schema = (e.schema)();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let out = cmd("workbook")
            .args(["exec", e.name, "--", "--json"])
            .output()
            .unwrap();
        let report = json_report(&out.stdout);
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}\n{report}", e.name);
        let info = ErrorInfo {
            error: "bind 127.0.0.1:1060: EADDRINUSE (os error 98)".into(),
            errno: None,
        };
        let failed =
            serde_json::to_value(e.unmatched(Failure::Error, info, 1)).unwrap();
        assert!(validator.is_valid(&failed), "{}: an error report", e.name);
        let mut broken = report.clone();
        let m = broken["measurements"].as_object_mut().unwrap();
        let first = m.keys().next().unwrap().clone();
        m.remove(&first);
        assert!(!validator.is_valid(&broken), "{}: without {first}", e.name);
    }
}
