//! The `workbook` command: runs registered experiments, each in its own child
//! process with a hard deadline, and prints a table (or JSON Lines).
//!
//! The child is this same executable (`workbook exec NAME --json`), so the
//! runner works when `cargo run` has built only the runner.

use std::ffi::OsString;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::lab::cli::{EXIT_MISMATCH, EXIT_USAGE};
use crate::lab::narrate::{error_line, line};
use crate::lab::process::{Finished, run_with_deadline};
use crate::lab::report::{ErrorInfo, Failure, Report};
use crate::lab::run::Entry;
use crate::workbook::registry::{self, EXPERIMENTS};

/// The runner's hard deadline, in ms, for an experiment given arguments
/// after `--` (without `--deadline-ms`): its own calls keep their
/// deadlines, and a knob may make the whole run long (`06 --wait-out`
/// waits about a minute for `TIME_WAIT` to end).
pub const KNOBS_DEADLINE_MS: u64 = 600_000;

#[derive(Debug, Parser)]
#[command(
    name = "workbook",
    max_term_width = 80,
    about = "Runs the tcp-workbook experiments and checks each against the book",
    after_help = "With no command, runs every experiment (same as `workbook run`)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Print JSON Lines, one report per experiment, instead of the table.
    #[arg(long, global = true)]
    json: bool,
    /// Override each experiment's hard deadline, in ms (100 ms to 1 hour).
    #[arg(long, global = true, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    deadline_ms: Option<u64>,
    /// How many experiments run at once, each in its own process (1 runs
    /// them one after another). Rows are printed in number order either way.
    #[arg(long, global = true, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Run the whole selection this many times and report every mismatch
    /// with its round (for checking that verdicts never flake).
    #[arg(long, global = true, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    repeat: u32,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the experiments with their source passages.
    List,
    /// Run some experiments, by number (10, 01) or name (deadlock); all if none given.
    Run {
        /// Experiment numbers or names.
        #[arg(value_name = "EXPERIMENT")]
        ids: Vec<String>,
        /// Arguments for the experiment's default run, after `--` (one
        /// experiment only): `workbook run 10 -- --bytes 4MiB`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<OsString>,
    },
    /// Grade a reader's own client or server against the book's
    /// counterpart: `workbook check 01 --server -- python3 server.py
    /// {host} {port}`.
    Check(crate::workbook::check::run::CheckArgs),
    /// Run one experiment in this process, with its own arguments (used by
    /// the runner for its child processes).
    #[command(hide = true)]
    Exec {
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Runs the `workbook` command with a full argument list (`args[0]` is the
/// program name) and returns its exit status: 0 if every experiment ran
/// matched the book, 1 if any did not (or timed out), 2 for a usage error,
/// or if an experiment could not run at all (its report says `error`).
pub fn main(args: Vec<OsString>) -> ExitCode {
    // A namespace helper started by an experiment (see `netns`).
    if let Some(code) = crate::lab::netns::helper_if_asked() {
        return code;
    }
    let matches = crate::lab::cli::help_width(Args::command())
        .try_get_matches_from(args)
        .unwrap_or_else(|e| crate::lab::cli::usage_error(e, "workbook"));
    let args = Args::from_arg_matches(&matches)
        .unwrap_or_else(|e| crate::lab::cli::usage_error(e, "workbook"));
    match &args.command {
        Some(Cmd::Check(check)) => {
            // --jobs only if given: --each's default is the cores.
            let given = matches.subcommand_matches("check").and_then(|m| {
                (m.value_source("jobs") == Some(ValueSource::CommandLine))
                    .then_some(usize::from(args.jobs))
            });
            crate::workbook::check::run::main(check.clone(), args.json, given)
        }
        Some(Cmd::List) => {
            list();
            ExitCode::SUCCESS
        }
        Some(Cmd::Exec { name, args: rest }) => match registry::find(name) {
            Some(e) => e.run(rest.iter().cloned()),
            None => unknown(name),
        },
        Some(Cmd::Run { ids, args: rest }) => {
            if !rest.is_empty() && ids.len() != 1 {
                error_line(
                    "arguments after -- go to one experiment; hint: \
                     name exactly one, as in `workbook run 10 -- --bytes 4MiB`",
                );
                return ExitCode::from(EXIT_USAGE);
            }
            // Help and version are for people: the experiment prints them
            // itself, in this process, rather than as a child's report.
            let asks_help = rest.iter().any(|a| {
                matches!(a.to_str(), Some("--help" | "-h" | "--version"))
            });
            if asks_help && let Some(e) = registry::find(&ids[0]) {
                return e.run(rest.iter().cloned());
            }
            run_ids(ids, rest, &args)
        }
        None => run_ids(&[], &[], &args),
    }
}

fn unknown(id: &str) -> ExitCode {
    let known: Vec<String> = EXPERIMENTS
        .iter()
        .map(|e| format!("{} {}", e.id(), e.name))
        .collect();
    error_line(format_args!(
        "no experiment {id:?}; hint: the experiments are {}",
        known.join(", ")
    ));
    ExitCode::from(EXIT_USAGE)
}

fn list() {
    for e in EXPERIMENTS {
        line(&format!("{}  {:<18} {}", e.id(), e.name, e.title));
        line(&format!("    {}", e.passage));
        let expects = format!("expects {}: {}", e.expected(), e.predicts);
        for l in textwrap::wrap(&expects, 76) {
            line(&format!("    {l}"));
        }
    }
}

fn run_ids(ids: &[String], rest: &[OsString], args: &Args) -> ExitCode {
    let mut chosen: Vec<&'static Entry> = Vec::new();
    for id in ids {
        match registry::find(id) {
            Some(e) => chosen.push(e),
            None => return unknown(id),
        }
    }
    if chosen.is_empty() {
        chosen = EXPERIMENTS.iter().collect();
    }
    // In number order, each once, however they were named.
    chosen.sort_by_key(|e| e.number);
    chosen.dedup_by_key(|e| e.number);
    if args.repeat > 1 {
        return repeat(&chosen, rest, args);
    }
    if !args.json {
        line(&format!(
            "{:<3} {:<18} {:<14} {:<22} {:<2} time",
            "No.", "experiment", "expected", "observed", "ok"
        ));
    }
    let (mut all_matched, mut any_error) = (true, false);
    in_parallel(&chosen, rest, args, |e, report| {
        all_matched &= report.matched;
        any_error |= report.observed == <&str>::from(Failure::Error);
        print_row(e, &report, args.json);
    });
    // An experiment that could not run (bad arguments after --, a port it
    // could not get) is a usage or environment error, as for one binary.
    ExitCode::from(match (any_error, all_matched) {
        (true, _) => EXIT_USAGE,
        (false, true) => 0,
        (false, false) => EXIT_MISMATCH,
    })
}

/// `--repeat N`: the selection N times. The table prints one line per
/// round and every mismatch with its report; `--json` prints every report
/// with its `round`. Exit status 1 if any run did not match.
fn repeat(
    chosen: &[&'static Entry],
    rest: &[OsString],
    args: &Args,
) -> ExitCode {
    let (mut mismatches, mut errors) = (0, 0);
    for round in 1..=args.repeat {
        let started = std::time::Instant::now();
        let mut matched = 0;
        in_parallel(chosen, rest, args, |_, report| {
            if args.json {
                let mut v = serde_json::to_value(&report).expect("serializes");
                v["round"] = round.into();
                line(&v.to_string());
            } else if report.observed == "error" {
                line(&format!(
                    "round {round}: could not run: {}",
                    report.to_json()
                ));
            } else if !report.matched {
                line(&format!("round {round}: mismatch: {}", report.to_json()));
            }
            matched += usize::from(report.matched);
            errors += usize::from(report.observed == "error");
        });
        mismatches += chosen.len() - matched;
        if !args.json {
            let ms = started.elapsed().as_millis();
            line(&format!(
                "round {round}/{}: {matched} of {} matched ({ms} ms)",
                args.repeat,
                chosen.len()
            ));
        }
    }
    if !args.json {
        let runs = chosen.len() * args.repeat as usize;
        let mismatches = mismatches - errors;
        let could_not = match errors {
            0 => String::new(),
            n => format!(", {n} could not run"),
        };
        line(&format!(
            "{} rounds, {runs} runs, {mismatches} mismatches{could_not}",
            args.repeat
        ));
    }
    // An experiment that could not run is a usage or environment error, as
    // without --repeat, not a mismatch of the kernel's.
    ExitCode::from(match (errors, mismatches) {
        (1.., _) => EXIT_USAGE,
        (0, 0) => 0,
        (0, _) => EXIT_MISMATCH,
    })
}

/// Runs `chosen` in child processes, at most `args.jobs` at once, and
/// calls `each` with their reports in the order of `chosen`, each as soon
/// as it and all before it have finished.
fn in_parallel(
    chosen: &[&'static Entry],
    rest: &[OsString],
    args: &Args,
    mut each: impl FnMut(&'static Entry, Report),
) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Option<Report>>> =
        chosen.iter().map(|_| Mutex::new(None)).collect();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        for _ in 0..usize::from(args.jobs).min(chosen.len()) {
            let (next, done, tx) = (&next, &done, tx.clone());
            // Each child is spawned, and waited for, by this thread: it dies
            // with the thread that started it (PR_SET_PDEATHSIG).
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(e) = chosen.get(i) else { break };
                    // Knobs after `--` can make a run long (`--wait-out`,
                    // a large `--bytes`): then the backstop is wider.
                    let usual = if rest.is_empty() {
                        e.deadline_ms
                    } else {
                        KNOBS_DEADLINE_MS
                    };
                    let ms = args.deadline_ms.unwrap_or(usual);
                    let report = run_child(e, rest, Duration::from_millis(ms));
                    *done[i].lock().expect("not poisoned") = Some(report);
                    let _ = tx.send(());
                }
            });
        }
        drop(tx);
        for (i, e) in chosen.iter().enumerate() {
            loop {
                if let Some(r) = done[i].lock().expect("not poisoned").take() {
                    each(e, r);
                    break;
                }
                if rx.recv().is_err() {
                    break; // every worker has finished
                }
            }
        }
    });
}

fn print_row(e: &Entry, report: &Report, json: bool) {
    if json {
        line(&report.to_json());
        return;
    }
    let mark = if report.matched { "✓" } else { "✗" };
    line(&format!(
        "{:<3} {:<18} {:<14} {:<22} {:<2} {} ms",
        e.id(),
        e.name,
        report.expected,
        report.observed,
        mark,
        report.elapsed_ms
    ));
    // Why an experiment could not run, in its own words or the runner's:
    // on stderr, as every error is.
    if let Some(why) = report.measurements.get("error").and_then(|v| v.as_str())
    {
        error_line(format_args!("{} {}: {why}", e.id(), e.name));
    }
}

/// Runs one experiment as a child process (`workbook exec NAME --json
/// ARGS`), killing it at `deadline`, and returns its report. A child that times out,
/// fails or prints no report gets an unmatched report whose `observed` is
/// `timeout` or `error` and whose `measurements.error` says why.
pub fn run_child(
    e: &'static Entry,
    args: &[OsString],
    deadline: Duration,
) -> Report {
    let started = std::time::Instant::now();
    let failed = |failure: Failure, why: String| {
        let info = ErrorInfo {
            error: why,
            errno: None,
        };
        e.unmatched(failure, info, started.elapsed().as_millis() as u64)
    };
    let exe = match crate::lab::process::own_executable() {
        Ok(exe) => exe,
        Err(err) => {
            return failed(
                Failure::Error,
                format!("cannot find the workbook executable: {err}"),
            );
        }
    };
    let mut command = Command::new(exe);
    // The runner always asks for JSON; a --json of the user's is the same.
    let args = args.iter().filter(|a| a.as_os_str() != "--json");
    command.args(["exec", e.name, "--", "--json"]).args(args);
    let (status, stdout, stderr) = match run_with_deadline(command, deadline) {
        Ok(Finished::Exited {
            status,
            stdout,
            stderr,
        }) => (status, stdout, stderr),
        Ok(Finished::Killed) => {
            let ms = deadline.as_millis();
            return failed(
                Failure::Timeout,
                format!(
                    "killed after its deadline of {ms} ms (--deadline-ms allows more)"
                ),
            );
        }
        Err(err) => {
            return failed(
                Failure::Error,
                format!("cannot run the experiment: {err}"),
            );
        }
    };
    match stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Report>(l).ok())
    {
        Some(report) => report,
        None => {
            let why = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no report and no error message");
            let code = status.code().unwrap_or(-1);
            failed(Failure::Error, format!("exit status {code}: {why}"))
        }
    }
}
