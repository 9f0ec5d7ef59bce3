//! The run context every experiment shares: its registry entry, the shared
//! flags (`--json`, `--timeout-ms`), and one generic entry point that
//! parses the arguments, runs the default run or a manual role, prints the
//! report, and maps the outcome to the exit status.
//!
//! An experiment implements [`Experiment`]; its registry line,
//! [`Entry::new::<ItsType>`](Entry::new), names [`main::<ItsType>`](main)
//! as the entry point, so the experiment never looks itself up.
//!
//! This module builds the reports (a run's, or a failure's) from an entry;
//! [`crate::lab::report`] only describes them, and does not import this one.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches};
use serde::Serialize;
use serde_json::Value;

use crate::lab::capture::Wire;
use crate::lab::cli::{
    Cli, EXIT_MATCHED, EXIT_MISMATCH, EXIT_USAGE, help_width, usage_error,
};
use crate::lab::error::SocketError;
use crate::lab::experiment::{Ctx, Experiment, Outcome, Verdict};
use crate::lab::narrate::{self, Narrator};
use crate::lab::report::{Errno, ErrorInfo, Failure, Observation, Report};

mod setup;

/// An outcome whose type is forgotten, so that entries of different
/// experiments fit in one list: all the registry needs is its token.
trait Token: Sync {
    fn token(&self) -> &'static str;
}

impl<O: Outcome> Token for O {
    fn token(&self) -> &'static str {
        Outcome::token(*self)
    }
}

/// The facts about an experiment that the registry writes once; see the
/// fields of [`Entry`], which [`Entry::new`] copies them to.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// Its fixed number, 1 to 99.
    pub number: u8,
    /// The binary's name, as in `cargo run --bin NAME`.
    pub name: &'static str,
    /// A short title, in plain text; the chapter's h1, its SUMMARY line,
    /// the experiment's `//!` head and the tables say it word for word.
    pub title: &'static str,
    /// The source passage: book, edition, chapter, listing or page.
    pub passage: &'static str,
    /// What the book predicts, in one sentence.
    pub predicts: &'static str,
    /// The runner kills the experiment's process after this many ms.
    pub deadline_ms: u64,
}

/// One registered experiment: what the registry lists and the runner shows.
/// Built by [`Entry::new`], so its expected outcome is one of its
/// experiment's outcomes.
pub struct Entry {
    /// Its fixed number, 1 to 99; shown with two digits (`01`).
    pub number: u8,
    /// The binary's name, as in `cargo run --bin NAME`; also its chapter's
    /// file name, `chapters/NN-NAME.md`.
    pub name: &'static str,
    /// A short title, in plain text (see [`Facts::title`]).
    pub title: &'static str,
    /// The source passage: book, edition, chapter, listing or page.
    pub passage: &'static str,
    /// The outcome the book predicts (see [`Entry::expected`]).
    expected: &'static dyn Token,
    /// What the book predicts, in one sentence.
    pub predicts: &'static str,
    /// The runner kills the experiment's process after this many ms.
    pub deadline_ms: u64,
    /// The entry point: [`main::<E>`](main) for the experiment's type `E`.
    pub main: fn(&'static Entry, Vec<OsString>) -> ExitCode,
    /// The JSON Schema of its report: [`schema::<E>`](schema).
    pub schema: fn() -> serde_json::Value,
    /// Its command line, [`command::<E>`](command), which [`main`] parses
    /// (tests walk it): `(entry.command)(entry)`.
    pub command: fn(&Entry) -> clap::Command,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("number", &self.number)
            .field("name", &self.name)
            .field("expected", &self.expected())
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// The entry of experiment `E`: its facts, and the outcome the book
    /// predicts, one of `E`'s (another experiment's does not compile).
    /// The entry point and the schema are `E`'s: [`main::<E>`](main),
    /// [`schema::<E>`](schema).
    pub const fn new<E: Experiment>(
        facts: Facts,
        expected: &'static E::Outcome,
    ) -> Entry {
        let Facts {
            number,
            name,
            title,
            passage,
            predicts,
            deadline_ms,
        } = facts;
        Entry {
            number,
            name,
            title,
            passage,
            expected,
            predicts,
            deadline_ms,
            main: main::<E>,
            schema: schema::<E>,
            command: command::<E>,
        }
    }

    /// The outcome the book predicts, as the token the report uses:
    /// `"exchanged"`.
    pub fn expected(&self) -> &'static str {
        self.expected.token()
    }

    /// The two-digit number the tables and chapter files use: `"01"`.
    pub fn id(&self) -> String {
        format!("{:02}", self.number)
    }

    /// The chapter file for this experiment, relative to `chapters/`.
    pub fn chapter_file(&self) -> String {
        format!("{}-{}.md", self.id(), self.name)
    }

    /// The report of a finished default run, `elapsed_ms` in ms.
    pub fn report<M: Serialize, O: Outcome>(
        &self,
        verdict: Verdict<M, O>,
        elapsed_ms: u64,
    ) -> Report {
        let expected = verdict.expected.map_or(self.expected(), O::token);
        let observed = verdict.observed.token();
        Report {
            number: self.number,
            experiment: self.name.to_owned(),
            expected: expected.to_owned(),
            observed: observed.to_owned(),
            matched: observed == expected,
            elapsed_ms,
            network: None,
            packets: None,
            sysctls: vec![],
            measurements: serde_json::to_value(verdict.measurements)
                .expect("measurements always serialize"),
        }
    }

    /// The report of a run that could not finish: `observed` is the
    /// failure (`"error"`, or the runner's `"timeout"`), and the
    /// measurements are an [`ErrorInfo`]; `elapsed_ms` in ms.
    pub fn unmatched(
        &self,
        failure: Failure,
        info: ErrorInfo,
        elapsed_ms: u64,
    ) -> Report {
        let observed: &str = failure.into();
        Report {
            number: self.number,
            experiment: self.name.to_owned(),
            expected: self.expected().to_owned(),
            observed: observed.to_owned(),
            matched: false,
            elapsed_ms,
            network: None,
            packets: None,
            sysctls: vec![],
            measurements: serde_json::to_value(info)
                .expect("ErrorInfo serializes"),
        }
    }

    /// The report of a run that failed with `err`: `observed` is
    /// `"error"`, with the one-line message and the errno, if any.
    pub fn of_error(&self, err: &anyhow::Error, elapsed_ms: u64) -> Report {
        let errno = err
            .downcast_ref::<SocketError>()
            .and_then(|e| Errno::of(&e.source))
            .or_else(|| err.downcast_ref::<io::Error>().and_then(Errno::of));
        let info = ErrorInfo {
            error: format!("{err:#}"),
            errno,
        };
        self.unmatched(Failure::Error, info, elapsed_ms)
    }

    /// Runs the experiment in this process with `args` (without the
    /// program name) and returns its exit status.
    pub fn run(
        &'static self,
        args: impl IntoIterator<Item = OsString>,
    ) -> ExitCode {
        let argv = std::iter::once(OsString::from(self.name)).chain(args);
        (self.main)(self, argv.collect())
    }
}

/// A report's measurements: the experiment's own, or, for an experiment
/// that could not run (`observed` is `"error"` or `"timeout"`), the error.
#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Measured<O> {
    /// What the default run measured.
    Observed(O),
    /// Why it could not run.
    Error(ErrorInfo),
}

/// The JSON Schema (draft 2020-12) of experiment `E`'s report, for
/// graders; checked in as `schema/NN-NAME.schema.json`. It lists the
/// values `expected` and `observed` may take: `E`'s outcomes, and for
/// `observed` also the failures (`"error"`, `"timeout"`).
pub fn schema<E: Experiment>() -> Value {
    type Typed<E> = Report<
        Measured<<E as Experiment>::Observed>,
        <E as Experiment>::Outcome,
        Observation<<E as Experiment>::Outcome>,
    >;
    let schema = schemars::schema_for!(Typed<E>);
    serde_json::to_value(schema).expect("a schema serializes")
}

/// Experiment `E`'s command line, named and described by its `entry`:
/// what [`main`] parses, and [`Entry::command`] points to.
pub fn command<E: Experiment>(entry: &Entry) -> clap::Command {
    let about = format!("{}: {} ({})", entry.id(), entry.title, entry.passage);
    help_width(Cli::<E::Knobs, E::Role>::command())
        .name(entry.name)
        .bin_name(entry.name)
        .about(about)
}

/// The generic entry point: parses `argv` (`argv[0]` is the program name),
/// then runs the default run or the role asked for, and returns the exit
/// status: 0 as the book predicts, 1 otherwise, 2 for a usage or
/// environment error (one line on stderr; under `--json`, also a report
/// whose `observed` is `"error"`).
pub fn main<E: Experiment>(
    entry: &'static Entry,
    argv: Vec<OsString>,
) -> ExitCode {
    let cli = command::<E>(entry)
        .try_get_matches_from(argv)
        .and_then(|m| Cli::<E::Knobs, E::Role>::from_arg_matches(&m))
        .unwrap_or_else(|e| usage_error(e, entry.name));
    let mut ctx = Ctx {
        json: cli.common.json,
        timeout: Duration::from_millis(cli.common.timeout_ms),
        say: Narrator::plain(),
        wire: Wire::off("a manual role captures nothing"),
    };
    narrate::set_stdout_deadline(ctx.timeout);
    if cli.common.json && cli.role.is_some() {
        narrate::error_line(format_args!(
            "--json reports a default run, not a manual role; \
             hint: run `{} --json` without a role",
            entry.name
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(role) = cli.role {
        return E::role(role, &cli.knobs, &ctx).unwrap_or_else(|e| {
            narrate::error_line(&e);
            ExitCode::from(EXIT_USAGE)
        });
    }
    let started = Instant::now();
    // Before any thread starts: a new user namespace needs a process with
    // one thread.
    let setup = match setup::prepare(&cli.common, E::host_sysctls(&cli.knobs)) {
        Ok(setup) => setup,
        Err(e) => {
            narrate::error_line(&e);
            if ctx.json {
                let report = entry.of_error(&e, 0);
                narrate::line(&report.to_json());
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ctx.say = Narrator::default_run(ctx.json);
    ctx.wire = setup.capture.wire();
    ctx.say.say(setup.network_line());
    let result = E::run(&cli.knobs, &ctx);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let (network, sysctls, trace) =
        (setup.network.clone(), setup.sysctls.clone(), setup.trace());
    let mut report = match result {
        Ok(verdict) => entry.report(verdict, elapsed_ms),
        Err(e) => {
            drop(setup); // the pcap file is not written
            narrate::error_line(&e);
            if ctx.json {
                let mut report = entry.of_error(&e, elapsed_ms);
                (report.network, report.sysctls) = (Some(network), sysctls);
                narrate::line(&report.to_json());
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (packets, segments) = setup.finish();
    ctx.say.say(setup::wire_line(&packets));
    (report.network, report.sysctls) = (Some(network), sysctls);
    report.packets = Some(packets);
    if ctx.json {
        narrate::line(&report.to_json());
    } else {
        for line in report.verdict_lines(entry.passage) {
            narrate::line(&line);
        }
    }
    if trace {
        let packets = report.packets.as_ref().expect("set above");
        setup::print_trace(&segments, packets, ctx.json);
    }
    ExitCode::from(if report.matched {
        EXIT_MATCHED
    } else {
        EXIT_MISMATCH
    })
}

#[cfg(test)]
mod tests {
    use crate::lab::error::Op;
    use crate::lab::report::{Errno, ErrorInfo};

    /// A failed socket call becomes a report that names the errno and its number.
    #[test]
    fn error_report_names_the_errno() {
        let failed: std::io::Result<()> =
            Err(std::io::Error::from_raw_os_error(nix::libc::EADDRINUSE));
        let err =
            anyhow::Error::from(failed.op("bind 127.0.0.1:1060").unwrap_err());
        let entry = crate::workbook::registry::find("sixteen").unwrap();
        let report = entry.of_error(&err, 0);
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
