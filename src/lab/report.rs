//! The report every default run ends with: as a verdict for people, or as
//! one JSON object for graders.
//!
//! JSON schema (checked in as `schema/report.schema.json`, documented in the
//! book's introduction): `{"number", "experiment", "expected", "observed",
//! "matched", "elapsed_ms", "measurements": {...}}`. The measurements are
//! the experiment's own `Observed` struct: keys carry their unit
//! (`client_sent_bytes`, `stall_after_ms`); an errno is an object
//! `{"name": "ECONNREFUSED", "number": 111}`.

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lab::error::SocketError;
use crate::lab::run::{Entry, Verdict};

/// What an experiment observed, compared with what the book predicts.
/// `M` is the experiment's `Observed` struct; tests read reports back as
/// `Report<sixteen::Observed>`, the runner as `Report<Value>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Report<M = Value> {
    /// The experiment's number in the registry.
    pub number: u8,
    /// The experiment's binary name.
    pub experiment: String,
    /// The outcome the book predicts.
    pub expected: String,
    /// The outcome the kernel produced; `"error"` if the experiment could
    /// not run, `"timeout"` if the runner had to kill it.
    pub observed: String,
    /// Whether `observed == expected`.
    pub matched: bool,
    /// Wall time of the whole experiment, in ms.
    pub elapsed_ms: u64,
    /// What was measured on the way, each key with its unit.
    pub measurements: M,
}

/// The measurements of a report whose experiment could not run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ErrorInfo {
    /// The one-line message, as printed on stderr.
    pub error: String,
    /// The errno, if the failure came from the kernel; `None` otherwise.
    pub errno: Option<Errno>,
}

/// An errno by name and number: `{"name": "ECONNREFUSED", "number": 111}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Errno {
    /// The symbolic name, such as `"ECONNREFUSED"`.
    pub name: String,
    /// The number on this system (111 for ECONNREFUSED on Linux).
    pub number: i32,
}

impl Errno {
    /// The errno of an I/O error; `None` for an error that carries none.
    pub fn of(err: &io::Error) -> Option<Errno> {
        Some(Errno {
            name: crate::lab::error::errno_name(err)?,
            number: err.raw_os_error()?,
        })
    }

    /// What a call got, for narration: `"ok"` for `None` (the call
    /// worked), else the errno as `EADDRINUSE (errno 98)`.
    pub fn answer(errno: &Option<Errno>) -> String {
        errno.as_ref().map_or("ok".into(), Errno::to_string)
    }
}

/// `EADDRINUSE (errno 98)`: the name, then the number on this system.
impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (errno {})", self.name, self.number)
    }
}

/// A schemars transform for a measurements struct whose every field is
/// always in the report, `null` for a `None`: it lists every property as
/// required, so a report with a measurement missing fails its schema
/// (by default schemars lets an `Option` field be left out). Use it as
/// `#[schemars(transform = crate::lab::report::every_field_present)]`.
pub fn every_field_present(schema: &mut schemars::Schema) {
    let names: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    schema.insert("required".into(), Value::Array(names));
}

impl Report<Value> {
    /// The report of a finished default run.
    pub fn from_verdict<O: Serialize>(
        entry: &Entry,
        verdict: Verdict<O>,
        elapsed_ms: u64,
    ) -> Self {
        let expected = verdict.expected.unwrap_or(entry.expected);
        Report {
            number: entry.number,
            experiment: entry.name.to_owned(),
            expected: expected.to_owned(),
            observed: verdict.observed.to_owned(),
            matched: verdict.observed == expected,
            elapsed_ms,
            measurements: serde_json::to_value(verdict.measurements)
                .expect("measurements always serialize"),
        }
    }

    /// The report of an experiment that could not run: `observed` is
    /// `observed` (`"error"`, or the runner's `"timeout"`), and the
    /// measurements are an [`ErrorInfo`].
    pub fn unmatched(
        entry: &Entry,
        observed: &str,
        info: ErrorInfo,
        elapsed_ms: u64,
    ) -> Self {
        Report {
            number: entry.number,
            experiment: entry.name.to_owned(),
            expected: entry.expected.to_owned(),
            observed: observed.to_owned(),
            matched: false,
            elapsed_ms,
            measurements: serde_json::to_value(info)
                .expect("ErrorInfo serializes"),
        }
    }

    /// The report of an experiment that failed with `err`: `observed` is
    /// `"error"`, with the one-line message and the errno, if any.
    pub fn of_error(
        entry: &Entry,
        err: &anyhow::Error,
        elapsed_ms: u64,
    ) -> Self {
        let errno = err
            .downcast_ref::<SocketError>()
            .and_then(|e| Errno::of(&e.source))
            .or_else(|| err.downcast_ref::<io::Error>().and_then(Errno::of));
        let info = ErrorInfo {
            error: format!("{err:#}"),
            errno,
        };
        Report::unmatched(entry, "error", info, elapsed_ms)
    }
}

impl<M: Serialize> Report<M> {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// The verdict for people, in two lines of at most 80 columns: what was
    /// observed against what the book predicts, then the passage.
    pub fn verdict_lines(&self, passage: &str) -> [String; 2] {
        let first = if self.matched {
            format!("verdict: {}, as the book predicts ✓", self.observed)
        } else {
            format!(
                "verdict: {} ✗ the book predicts {}",
                self.observed, self.expected
            )
        };
        [first, format!("         ({passage})")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::error::Op;

    /// A failed socket call becomes a report that names the errno and its number.
    #[test]
    fn error_report_names_the_errno() {
        let failed: std::io::Result<()> =
            Err(std::io::Error::from_raw_os_error(nix::libc::EADDRINUSE));
        let err =
            anyhow::Error::from(failed.op("bind 127.0.0.1:1060").unwrap_err());
        let entry = crate::workbook::registry::find("sixteen").unwrap();
        let report = Report::of_error(entry, &err, 0);
        assert_eq!(report.observed, "error");
        assert!(!report.matched);
        let info: ErrorInfo =
            serde_json::from_value(report.measurements).unwrap();
        assert_eq!(
            info.errno,
            Some(Errno {
                name: "EADDRINUSE".into(),
                number: nix::libc::EADDRINUSE
            })
        );
        assert!(
            info.error
                .starts_with("bind 127.0.0.1:1060: EADDRINUSE (os error"),
            "{}",
            info.error
        );
    }
}
