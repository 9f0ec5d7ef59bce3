//! The verdict every experiment ends with, as prose or as one JSON object.
//!
//! JSON schema (documented for graders in the book's introduction):
//! `{"number", "experiment", "expected", "observed", "matched",
//! "elapsed_ms", "measurements": {...}}`. Measurement keys carry their unit
//! (`client_sent_bytes`, `stall_after_ms`); an errno is an object
//! `{"name": "ECONNREFUSED", "number": 111}`.

use std::io;
use std::process::ExitCode;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{EXIT_MATCHED, EXIT_MISMATCH, EXIT_USAGE};
use crate::registry::Experiment;

/// What an experiment observed, compared with what the book predicts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The experiment's number in the registry.
    pub number: u8,
    /// The experiment's binary name.
    pub experiment: String,
    /// The outcome the book predicts.
    pub expected: String,
    /// The outcome the kernel produced.
    pub observed: String,
    /// Whether `observed == expected`.
    pub matched: bool,
    /// Wall time of the whole experiment, in ms.
    pub elapsed_ms: u64,
    /// What was measured on the way, each key with its unit.
    pub measurements: Map<String, Value>,
}

/// Collects measurements while an experiment runs.
#[derive(Debug)]
pub struct Recorder {
    experiment: &'static Experiment,
    expected: &'static str,
    started: Instant,
    measurements: Map<String, Value>,
}

impl Recorder {
    /// Starts the clock for `experiment`.
    pub fn start(experiment: &'static Experiment) -> Self {
        Recorder {
            experiment,
            expected: experiment.expected,
            started: Instant::now(),
            measurements: Map::new(),
        }
    }

    /// Expects `outcome` instead of the registry's: for a mode that checks
    /// another of the passage's predictions (`deadlock --fixed`).
    pub fn expecting(mut self, outcome: &'static str) -> Self {
        self.expected = outcome;
        self
    }

    /// Records one measurement; `key` names its unit (`server_read_bytes`).
    pub fn measure(&mut self, key: &str, value: impl Into<Value>) {
        self.measurements.insert(key.to_owned(), value.into());
    }

    /// Stops the clock and compares `observed` with the book's prediction.
    pub fn finish(self, observed: &str) -> Report {
        Report {
            number: self.experiment.number,
            experiment: self.experiment.name.to_owned(),
            expected: self.expected.to_owned(),
            observed: observed.to_owned(),
            matched: observed == self.expected,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            measurements: self.measurements,
        }
    }
}

impl Report {
    /// Prints the report (one JSON object, or the verdict line) and returns
    /// the exit status: 0 if it matched the book, 1 if not.
    pub fn emit(&self, json: bool) -> ExitCode {
        if json {
            println!(
                "{}",
                serde_json::to_string(self).expect("a report always serializes")
            );
        } else {
            println!("{}", self.verdict_line());
        }
        ExitCode::from(if self.matched {
            EXIT_MATCHED
        } else {
            EXIT_MISMATCH
        })
    }

    /// The one-line verdict: observed, predicted, and whether they match.
    pub fn verdict_line(&self) -> String {
        let passage = crate::registry::find(&self.experiment)
            .map(|e| e.passage)
            .unwrap_or("the book");
        let mark = if self.matched {
            "✓ as the book predicts"
        } else {
            "✗ the book predicts otherwise"
        };
        format!(
            "verdict: observed {}, expected {} ({passage}): {mark}",
            self.observed, self.expected
        )
    }
}

/// Ends an experiment's binary. On success the experiment's own exit status
/// passes through. An error is printed as one line on stderr, and under
/// `--json` (`json`) also as a report whose `observed` is `"error"`, with the
/// message and the errno in its measurements; the exit status is then 2.
pub fn finish(
    experiment: &'static Experiment,
    json: bool,
    result: anyhow::Result<ExitCode>,
) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if json {
                let report = error_report(experiment, &err);
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("a report always serializes")
                );
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The report of an experiment that could not run: `observed` is `"error"`,
/// `measurements.error` the one-line message and `measurements.errno` the
/// errno (`{"name": "EADDRINUSE", "number": 98}`, or `null`).
pub fn error_report(experiment: &'static Experiment, err: &anyhow::Error) -> Report {
    let errno = err
        .downcast_ref::<crate::error::SocketError>()
        .map_or(Value::Null, |e| errno_value(&e.source));
    let mut record = Recorder::start(experiment);
    record.measure("error", format!("{err:#}"));
    record.measure("errno", errno);
    record.finish("error")
}

/// An errno as a report value: `{"name": "ECONNREFUSED", "number": 111}`;
/// `null` for an error that carries no errno.
pub fn errno_value(err: &io::Error) -> Value {
    match (crate::error::errno_name(err), err.raw_os_error()) {
        (Some(name), Some(n)) => json!({"name": name, "number": n}),
        _ => Value::Null,
    }
}

/// Prints an experiment's narration, unless the report goes out as JSON.
///
/// In the default run both roles speak, each line tagged `[server]` or
/// `[client]`; in a manual role the lines are untagged, as in the book.
#[derive(Debug, Clone, Copy)]
pub struct Narrator {
    quiet: bool,
    tagged: bool,
}

impl Narrator {
    /// A narrator for the default run; `quiet` (for `--json`) prints nothing.
    pub fn tagged(quiet: bool) -> Self {
        Narrator {
            quiet,
            tagged: true,
        }
    }

    /// A narrator for a manual role: untagged lines, like the book's scripts.
    pub fn plain() -> Self {
        Narrator {
            quiet: false,
            tagged: false,
        }
    }

    /// Prints a line said by the server role.
    pub fn server(&self, line: impl AsRef<str>) {
        self.say("[server] ", line.as_ref());
    }

    /// Prints a line said by the client role.
    pub fn client(&self, line: impl AsRef<str>) {
        self.say("[client] ", line.as_ref());
    }

    /// Prints a line from the experiment itself (a note, a measurement).
    pub fn note(&self, line: impl AsRef<str>) {
        self.say("", line.as_ref());
    }

    fn say(&self, tag: &str, line: &str) {
        if !self.quiet {
            let tag = if self.tagged { tag } else { "" };
            println!("{tag}{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Op;

    /// A failed socket call becomes a report that names the errno and its number.
    #[test]
    fn error_report_names_the_errno() {
        let failed: std::io::Result<()> =
            Err(std::io::Error::from_raw_os_error(nix::libc::EADDRINUSE));
        let err = anyhow::Error::from(failed.op("bind 127.0.0.1:1060").unwrap_err());
        let report = error_report(crate::registry::find("sixteen").unwrap(), &err);
        assert_eq!(report.observed, "error");
        assert!(!report.matched);
        assert_eq!(
            report.measurements["errno"],
            json!({"name": "EADDRINUSE", "number": nix::libc::EADDRINUSE})
        );
        let message = report.measurements["error"].as_str().unwrap();
        assert!(
            message.starts_with("bind 127.0.0.1:1060: EADDRINUSE (os error"),
            "{message}"
        );
    }
}
