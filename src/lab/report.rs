//! The report every default run ends with: as a verdict for people, or as
//! one JSON object for graders.
//!
//! JSON schema (checked in as `schema/report.schema.json`, documented in the
//! book's introduction): `{"number", "experiment", "expected", "observed",
//! "matched", "elapsed_ms", "network", "packets", "sysctls",
//! "measurements": {...}}`. The measurements are
//! the experiment's own `Observed` struct: keys carry their unit
//! (`client_sent_bytes`, `stall_after_ms`); an errno is an object
//! `{"name": "ECONNREFUSED", "number": 111}`.

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lab::capture::Packets;
use crate::lab::kernel::Sysctl;
use crate::lab::netns::private::Network;

/// What an experiment observed, compared with what the book predicts.
/// `M` is the experiment's `Observed` struct; tests read reports back as
/// `Report<sixteen::Observed>`, the runner as `Report<Value>`. `E` and `O`
/// (`expected`, `observed`) are strings in code, the outcomes in the schema.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Report<M = Value, E = String, O = String> {
    /// The experiment's number in the registry.
    pub number: u8,
    /// The experiment's binary name.
    pub experiment: String,
    /// The outcome the book predicts.
    pub expected: E,
    /// The outcome the kernel produced; `"error"` if the experiment could
    /// not run, `"timeout"` if the runner had to kill it.
    pub observed: O,
    /// Whether `observed == expected`.
    pub matched: bool,
    /// Wall time of the whole experiment, in ms.
    pub elapsed_ms: u64,
    /// Where the run's sockets lived: `{"kind": "private"}`, or
    /// `{"kind": "host", "why": ...}`; `None` where nobody knows (the
    /// runner's report of a run it had to kill).
    pub network: Option<Network>,
    /// The run's packets in sum: `{"kind": "captured", ...counts}`, or
    /// `{"kind": "not_captured", "why": ...}`; `None` where nobody knows.
    #[serde(default)]
    pub packets: Option<Packets>,
    /// The settings the run's numbers depend on, each pinned by the run in
    /// its private namespace or the host's; empty where nobody knows.
    #[serde(default)]
    pub sysctls: Vec<Sysctl>,
    /// What was measured on the way, each key with its unit.
    pub measurements: M,
}

/// What a report's `observed` may be: one of the experiment's outcomes, or
/// a failure. In code it is a string; this type gives the schema its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
pub enum Observation<O> {
    /// What the kernel did, as the experiment's verdict says.
    Outcome(O),
    /// Why there is no verdict.
    Failure(Failure),
}

/// Why a report has no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(schemars::JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Failure {
    /// The experiment could not run: a socket call failed, or it ended
    /// without a report.
    Error,
    /// The runner killed it at its deadline.
    Timeout,
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
