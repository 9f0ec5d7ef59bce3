//! The run context every experiment shares: its registry entry, the shared
//! flags (`--json`, `--timeout-ms`), and one generic entry point that
//! parses the arguments, runs the default run or a manual role, prints the
//! report, and maps the outcome to the exit status.
//!
//! An experiment implements [`Experiment`]; its registry line names
//! [`main::<ItsType>`](main) as the entry point, so the experiment never
//! looks itself up.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches};
use serde::Serialize;

use crate::lab::narrate::{self, Narrator};
use crate::lab::report::Report;

/// Exit status when the observed outcome is the one the book predicts.
pub const EXIT_MATCHED: u8 = 0;
/// Exit status when the kernel did something other than the book predicts.
pub const EXIT_MISMATCH: u8 = 1;
/// Exit status for a usage or environment error (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;

/// The default of `--timeout-ms`, in ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// One registered experiment: what the registry lists and the runner shows.
#[derive(Debug)]
pub struct Entry {
    /// Its fixed number, 1 to 99; shown with two digits (`01`).
    pub number: u8,
    /// The binary's name, as in `cargo run --bin NAME`; also its chapter's
    /// file name, `chapters/NN-NAME.md`.
    pub name: &'static str,
    /// A short title for tables and the book.
    pub title: &'static str,
    /// The source passage: book, edition, chapter, listing or page.
    pub passage: &'static str,
    /// The outcome the book predicts, as the token the report uses.
    pub expected: &'static str,
    /// What the book predicts, in one sentence.
    pub predicts: &'static str,
    /// The runner kills the experiment's process after this many ms.
    pub deadline_ms: u64,
    /// The entry point: [`main::<E>`](main) for the experiment's type `E`.
    pub main: fn(&'static Entry, Vec<OsString>) -> ExitCode,
    /// The JSON Schema of its report: [`schema::<E>`](schema).
    pub schema: fn() -> serde_json::Value,
}

impl Entry {
    /// The two-digit number the tables and chapter files use: `"01"`.
    pub fn id(&self) -> String {
        format!("{:02}", self.number)
    }

    /// The chapter file for this experiment, relative to `chapters/`.
    pub fn chapter_file(&self) -> String {
        format!("{}-{}.md", self.id(), self.name)
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

/// The flags every experiment takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Print one JSON report instead of the narration (default run only).
    #[arg(long, global = true)]
    pub json: bool,
    /// Deadline for every blocking connect, accept, send and recv, in ms.
    #[arg(
        long,
        global = true,
        value_name = "MS",
        default_value_t = DEFAULT_TIMEOUT_MS,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub timeout_ms: u64,
}

/// What an experiment's code gets to run with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The experiment's registry entry.
    pub entry: &'static Entry,
    /// True if the report goes out as JSON (narration is then silent).
    pub json: bool,
    /// The deadline for each blocking socket call (`--timeout-ms`).
    pub timeout: Duration,
    /// Where narration goes: tagged lines in the default run, plain lines
    /// (as the book's scripts print them) in a manual role.
    pub say: Narrator,
}

/// The outcome of a default run: the token for what the kernel did, and
/// the measurements that decided it.
#[derive(Debug)]
pub struct Verdict<O> {
    /// The observed outcome, compared with the expected one.
    pub observed: &'static str,
    /// The outcome this run expects; `None` means the registry's.
    pub expected: Option<&'static str>,
    /// Everything measured, serialized as the report's `measurements`.
    pub measurements: O,
}

impl<O> Verdict<O> {
    /// A verdict that compares `observed` with the registry's prediction.
    pub fn new(observed: &'static str, measurements: O) -> Self {
        Verdict {
            observed,
            expected: None,
            measurements,
        }
    }

    /// Expects `outcome` instead of the registry's: for a mode that checks
    /// another of the passage's predictions (`deadlock --fixed`).
    pub fn expecting(mut self, outcome: &'static str) -> Self {
        self.expected = Some(outcome);
        self
    }
}

/// An experiment: its knobs, its manual roles, what it measures, and the
/// two ways to run it.
pub trait Experiment {
    /// The default run's own flags (a `clap::Args` struct; `NoKnobs` if none).
    type Knobs: clap::Args;
    /// The manual roles (a `clap::Subcommand` enum: `server`, `client`).
    type Role: clap::Subcommand;
    /// The default run's measurements, one struct with named fields in
    /// units; it becomes the report's `measurements`.
    type Observed: Serialize + schemars::JsonSchema;

    /// The default run: plays every role on loopback (or in namespaces it
    /// makes) and returns what the kernel did.
    ///
    /// # Errors
    /// An environment failure that kept the experiment from running (a
    /// socket call that failed), reported in one line with exit status 2.
    fn run(
        knobs: &Self::Knobs,
        ctx: &Ctx,
    ) -> anyhow::Result<Verdict<Self::Observed>>;

    /// A manual role, as the book's script runs it in a terminal.
    ///
    /// # Errors
    /// As for [`Experiment::run`].
    fn role(
        role: Self::Role,
        knobs: &Self::Knobs,
        ctx: &Ctx,
    ) -> anyhow::Result<ExitCode>;
}

/// A report's measurements: the experiment's own, or, for an experiment
/// that could not run (`observed` is `"error"` or `"timeout"`), the error.
#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Measured<O> {
    /// What the default run measured.
    Observed(O),
    /// Why it could not run.
    Error(crate::lab::report::ErrorInfo),
}

/// The JSON Schema (draft 2020-12) of experiment `E`'s report, for
/// graders; checked in as `schema/NN-NAME.schema.json`.
pub fn schema<E: Experiment>() -> serde_json::Value {
    let schema = schemars::schema_for!(Report<Measured<E::Observed>>);
    serde_json::to_value(schema).expect("a schema serializes")
}

/// For an experiment without knobs of its own.
#[derive(Debug, Clone, clap::Args)]
pub struct NoKnobs {}

#[derive(Debug, clap::Parser)]
struct Cli<K: clap::Args, R: clap::Subcommand> {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    knobs: K,
    #[command(subcommand)]
    role: Option<R>,
}

/// Ends the program after a command-line parse error: help and version go
/// out as clap prints them (exit 0); a usage error becomes one line on
/// stderr, clap's own first line with a hint, and exit status 2.
pub fn usage_error(e: clap::Error, program: &str) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    // clap's first paragraph, on one line: "error: ... <HOST>".
    let lines: Vec<&str> =
        text.lines().take_while(|l| !l.trim().is_empty()).collect();
    let first = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    // clap's line already starts with "error: ".
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    narrate::error_line(format_args!("{first}; hint: see `{program} --help`"));
    std::process::exit(i32::from(EXIT_USAGE))
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
    let command = Cli::<E::Knobs, E::Role>::command()
        .name(entry.name)
        .bin_name(entry.name)
        .max_term_width(80)
        .about(format!(
            "{}: {} ({})",
            entry.id(),
            entry.title,
            entry.passage
        ));
    let cli = command
        .try_get_matches_from(argv)
        .and_then(|m| Cli::<E::Knobs, E::Role>::from_arg_matches(&m))
        .unwrap_or_else(|e| usage_error(e, entry.name));
    let mut ctx = Ctx {
        entry,
        json: cli.common.json,
        timeout: Duration::from_millis(cli.common.timeout_ms),
        say: Narrator::plain(),
    };
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
    ctx.say = Narrator::default_run(ctx.json);
    let started = Instant::now();
    let result = E::run(&cli.knobs, &ctx);
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let report = match result {
        Ok(verdict) => Report::from_verdict(entry, verdict, elapsed_ms),
        Err(e) => {
            narrate::error_line(&e);
            if ctx.json {
                narrate::line(
                    &Report::of_error(entry, &e, elapsed_ms).to_json(),
                );
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if ctx.json {
        narrate::line(&report.to_json());
    } else {
        for line in report.verdict_lines(entry.passage) {
            narrate::line(&line);
        }
    }
    ExitCode::from(if report.matched {
        EXIT_MATCHED
    } else {
        EXIT_MISMATCH
    })
}
