//! The `workbook` command: runs registered experiments, each in its own child
//! process with a hard deadline, and prints a table (or JSON Lines).
//!
//! The child is this same executable (`workbook exec NAME --json`), so the
//! runner works when `cargo run` has built only the runner.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand};
use wait_timeout::ChildExt;

use crate::error::{EXIT_MISMATCH, EXIT_USAGE};
use crate::registry::{self, EXPERIMENTS, Experiment};
use crate::report::{Recorder, Report};

#[derive(Debug, Parser)]
#[command(
    name = "workbook",
    about = "Runs the tcp-workbook experiments and checks each against the book",
    after_help = "With no command, runs every experiment (same as `workbook run`)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Print JSON Lines, one report per experiment, instead of the table.
    #[arg(long, global = true)]
    json: bool,
    /// Override each experiment's hard deadline, in ms.
    #[arg(long, global = true, value_name = "MS")]
    deadline_ms: Option<u64>,
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
    },
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
/// matched the book, 1 if any did not (or timed out), 2 for a usage error.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    match args.command {
        Some(Cmd::List) => {
            list();
            ExitCode::SUCCESS
        }
        Some(Cmd::Exec { name, args: rest }) => match registry::find(&name) {
            Some(e) => (e.main)(
                std::iter::once(OsString::from(e.name))
                    .chain(rest)
                    .collect(),
            ),
            None => unknown(&name),
        },
        Some(Cmd::Run { ids }) => run_ids(&ids, args.json, args.deadline_ms),
        None => run_ids(&[], args.json, args.deadline_ms),
    }
}

fn unknown(id: &str) -> ExitCode {
    let known: Vec<String> = EXPERIMENTS
        .iter()
        .map(|e| format!("{} {}", e.id(), e.name))
        .collect();
    eprintln!(
        "error: no experiment {id:?}; hint: the experiments are {}",
        known.join(", ")
    );
    ExitCode::from(EXIT_USAGE)
}

fn list() {
    for e in EXPERIMENTS {
        println!("{}  {:<18} {}", e.id(), e.name, e.title);
        println!("    {}", e.passage);
        println!("    expects {}: {}", e.expected, e.predicts);
    }
}

fn run_ids(ids: &[String], json: bool, deadline_ms: Option<u64>) -> ExitCode {
    let mut chosen: Vec<&'static Experiment> = Vec::new();
    for id in ids {
        match registry::find(id) {
            Some(e) => chosen.push(e),
            None => return unknown(id),
        }
    }
    if chosen.is_empty() {
        chosen = EXPERIMENTS.iter().collect();
    }
    if !json {
        println!(
            "{:<3} {:<18} {:<14} {:<22} {:<2} time",
            "No.", "experiment", "expected", "observed", "ok"
        );
    }
    let mut all_matched = true;
    for e in chosen {
        let deadline = Duration::from_millis(deadline_ms.unwrap_or(e.deadline_ms));
        let report = run_child(e, deadline);
        all_matched &= report.matched;
        if json {
            println!(
                "{}",
                serde_json::to_string(&report).expect("a report always serializes")
            );
        } else {
            let mark = if report.matched { "✓" } else { "✗" };
            println!(
                "{:<3} {:<18} {:<14} {:<22} {:<2} {} ms",
                e.id(),
                e.name,
                e.expected,
                report.observed,
                mark,
                report.elapsed_ms
            );
            // Why an experiment could not run: its own error, or the runner's.
            let why = ["error", "runner_error"]
                .iter()
                .find_map(|k| report.measurements.get(*k));
            if let Some(why) = why.and_then(|v| v.as_str()) {
                println!("    {why}");
            }
        }
    }
    if all_matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_MISMATCH)
    }
}

/// Runs one experiment as a child process (`workbook exec NAME --json`),
/// killing it at `deadline`, and returns its report. A child that times out,
/// fails or prints no report gets a synthesized, unmatched one whose
/// `observed` is `timeout` or `error` and whose `runner_error` says why.
pub fn run_child(e: &'static Experiment, deadline: Duration) -> Report {
    // Every path below returns, so each may consume the recorder.
    let record = Recorder::start(e);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            return failed(
                record,
                "error",
                format!("cannot find the workbook executable: {err}"),
            );
        }
    };
    let mut command = Command::new(exe);
    command.args(["exec", e.name, "--", "--json"]);
    let (status, stdout, stderr) = match run_with_deadline(command, deadline) {
        Ok(Finished::Exited {
            status,
            stdout,
            stderr,
        }) => (status, stdout, stderr),
        Ok(Finished::Killed) => {
            return failed(
                record,
                "timeout",
                format!("killed after its deadline of {} ms", deadline.as_millis()),
            );
        }
        Err(err) => return failed(record, "error", format!("cannot run the experiment: {err}")),
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
            failed(
                record,
                "error",
                format!("exit status {}: {why}", status.code().unwrap_or(-1)),
            )
        }
    }
}

/// The report of a child that gave none: unmatched, `observed` as given,
/// and `measurements.runner_error` saying why.
fn failed(mut record: Recorder, observed: &str, why: String) -> Report {
    record.measure("runner_error", why);
    record.finish(observed)
}

/// How a child process run by [`run_with_deadline`] ended.
#[derive(Debug)]
pub enum Finished {
    /// It exited by itself, with this status and output.
    Exited {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Everything it wrote to stdout.
        stdout: String,
        /// Everything it wrote to stderr.
        stderr: String,
    },
    /// It was still running at the deadline, and was killed (`SIGKILL`).
    Killed,
}

/// Runs `command` with stdin closed and its output captured, and kills it if
/// it is still running after `deadline`.
///
/// # Errors
/// Fails if the process cannot be started or waited for.
pub fn run_with_deadline(mut command: Command, deadline: Duration) -> std::io::Result<Finished> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain both pipes on threads, so a chatty child cannot fill a pipe
    // and block (the deadlock of experiment 10, in miniature).
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = match child.wait_timeout(deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Finished::Killed);
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Finished::Exited {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process still running at its deadline is killed, not waited for.
    #[test]
    fn process_past_its_deadline_is_killed() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let finished = run_with_deadline(sleeper, Duration::from_millis(50)).unwrap();
        assert!(matches!(finished, Finished::Killed), "{finished:?}");
    }

    /// A process that exits in time has its status and output passed back.
    #[test]
    fn process_within_its_deadline_is_reported() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo out; echo err >&2; exit 3"]);
        match run_with_deadline(sh, Duration::from_secs(30)).unwrap() {
            Finished::Exited {
                status,
                stdout,
                stderr,
            } => {
                assert_eq!(status.code(), Some(3));
                assert_eq!((stdout.as_str(), stderr.as_str()), ("out\n", "err\n"));
            }
            Finished::Killed => panic!("killed"),
        }
    }
}
