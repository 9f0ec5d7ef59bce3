//! `--each GLOB`: a whole class. Every file the pattern matches is graded
//! by a child `workbook check --file FILE --format json` of its own (with
//! its own network namespace), at most as many at once as there are cores
//! (or `--jobs`); their JSON lines are gathered, in the order of the
//! files, and printed as one table, JSON Lines or CSV, with a summary.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::lab::cli::EXIT_USAGE;
use crate::lab::narrate::{error_line, line};
use crate::lab::{guard, process};
use crate::workbook::check::output::{self, Format};
use crate::workbook::check::suite::{Finding, Suite};

/// The most a child may take for one submission, in ms per check, on top
/// of its own deadlines: a backstop that should never be reached.
const BACKSTOP_PER_CHECK_MS: u64 = 30_000;

/// What one child gave back: its findings, or why it could not run.
type Graded = Result<Vec<Finding>, String>;

/// Grades every file matching `glob` with `command` (which holds
/// `{file}`); `child_args(file)` are the child's arguments. Returns 0 if
/// every check of every submission passed, 1 if some failed, 2 if the
/// pattern is wrong or matches nothing, or a child could not run.
pub fn main(
    glob: &str,
    command: &[String],
    suite: &Suite,
    format: Format,
    jobs: Option<usize>,
    child_args: &(dyn Fn(&str) -> Vec<String> + Sync),
) -> ExitCode {
    if !command.iter().any(|a| a.contains("{file}")) {
        error_line(
            "--each needs {file} in the command, where each \
             submission's file goes; hint: `-- python3 {file} {host} {port}`",
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let files: Vec<String> = match glob::glob(glob) {
        Err(e) => {
            error_line(format_args!("bad pattern {glob:?}: {e}"));
            return ExitCode::from(EXIT_USAGE);
        }
        Ok(paths) => paths
            .filter_map(Result::ok)
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    };
    if files.is_empty() {
        error_line(format_args!("no file matches {glob:?}"));
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(e) = guard::install() {
        error_line(format_args!("cannot watch for Ctrl-C: {e}"));
        return ExitCode::from(EXIT_USAGE);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs.unwrap_or(cores).clamp(1, files.len());
    let backstop = BACKSTOP_PER_CHECK_MS * suite.checks.len() as u64;
    let started = Instant::now();
    let (mut all_passed, mut could_not) = (true, 0usize);
    let mut summary: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut csv_header = true;
    in_parallel(
        &files,
        jobs,
        |file| grade(file, child_args(file), Duration::from_millis(backstop)),
        |file, graded| match graded {
            Err(why) => {
                could_not += 1;
                error_line(format_args!("{file}: could not run: {why}"));
            }
            Ok(findings) => {
                if format == Format::Table {
                    let ok = findings.iter().filter(|f| f.passed).count();
                    line(&format!(
                        "== {file}: {ok} of {} passed",
                        findings.len()
                    ));
                }
                for f in &findings {
                    all_passed &= f.passed;
                    let s = summary.entry(f.check.clone()).or_default();
                    *s = (s.0 + usize::from(f.passed), s.1 + 1);
                    match format {
                        Format::Table if !f.passed => output::table_row(f),
                        Format::Json => {
                            line(&serde_json::to_string(f).expect("serializes"))
                        }
                        Format::Csv => {
                            output::csv_row(f, csv_header);
                            csv_header = false;
                        }
                        _ => {}
                    }
                }
            }
        },
    );
    if format == Format::Table {
        let s = started.elapsed().as_secs_f64();
        line(&format!(
            "{} submissions in {s:.1} s, {jobs} at once",
            files.len()
        ));
        for check in suite.checks {
            let Some(&(ok, of)) = summary.get(check.name) else {
                continue;
            };
            line(&format!("  {:<28} {ok} of {of} passed", check.name));
        }
    }
    ExitCode::from(match (could_not, all_passed) {
        (1.., _) => EXIT_USAGE,
        (0, true) => 0,
        (0, false) => 1,
    })
}

/// Calls `work` on every file, `jobs` at once, and `each` with the
/// results in the order of `files`, each as soon as it and all before it
/// are done.
fn in_parallel(
    files: &[String],
    jobs: usize,
    work: impl Fn(&str) -> Graded + Sync,
    mut each: impl FnMut(&str, Graded),
) {
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Option<Graded>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let (next, done, tx, work) = (&next, &done, tx.clone(), &work);
            s.spawn(move || {
                while let Some(file) =
                    files.get(next.fetch_add(1, Ordering::SeqCst))
                {
                    let i =
                        files.iter().position(|f| f == file).expect("listed");
                    *done[i].lock().expect("not poisoned") = Some(work(file));
                    let _ = tx.send(());
                }
            });
        }
        drop(tx);
        for (i, file) in files.iter().enumerate() {
            loop {
                if let Some(g) = done[i].lock().expect("not poisoned").take() {
                    each(file, g);
                    break;
                }
                if rx.recv().is_err() {
                    break;
                }
            }
        }
    });
}

/// Runs one child `workbook check` with `args` and returns its findings,
/// each with its submission; kills it at `backstop`.
fn grade(file: &str, args: Vec<String>, backstop: Duration) -> Graded {
    let exe = process::own_executable().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    process::die_with_parent(&mut command);
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    guard::watch_child(child.id());
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let status = child.wait_timeout(backstop).ok().flatten();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    guard::forget_child(child.id());
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let findings: Vec<Finding> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Finding>(l).ok())
        .map(|mut f| {
            f.submission = Some(file.to_owned());
            f
        })
        .collect();
    match status.and_then(|s| s.code()) {
        Some(0 | 1) if !findings.is_empty() => Ok(findings),
        Some(code) => {
            let why = stderr.lines().find(|l| !l.trim().is_empty());
            Err(format!(
                "exit status {code}: {}",
                why.unwrap_or("no message")
            ))
        }
        None => Err(format!("killed after {} ms", backstop.as_millis())),
    }
}
