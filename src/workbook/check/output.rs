//! What `workbook check` prints: a table for people, JSON Lines (one
//! [`Finding`] a line), Gradescope's `results.json`, or CSV for a
//! gradebook; and the list of checks (`--list`).

use serde_json::{Value, json};

use crate::lab::narrate::line;
use crate::lab::netns::private::Network;
use crate::workbook::check::suite::{Finding, Suite};
use crate::workbook::registry;

/// Lines wider than this are wrapped (the book's transcripts show them).
const WIDTH: usize = 80;

/// The evidence keys the table shows only for a failed check (the
/// framework adds them to every check).
const ON_FAILURE: &[&str] = &["exit", "stopped_by"];

/// The evidence keys only `--json` shows: the whole output and its size
/// (the table shows `said_before_stop`, its last lines before we stopped
/// the program, under a failed check).
const JSON_ONLY: &[&str] = &["output", "output_bytes", "said_before_stop"];

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object per check, a line each.
    Json,
    /// Gradescope's `results.json`, one object.
    Gradescope,
    /// `submission,check,passed,points`, a row per check.
    Csv,
}

/// Prints findings as they come, in one format.
pub struct Printer {
    format: Format,
    title: String,
    findings: Vec<Finding>,
    csv_header: bool,
}

impl Printer {
    /// A printer for `suite`'s findings about the program `argv`.
    pub fn new(format: Format, suite: &Suite, argv: &[String]) -> Printer {
        let e = registry::find(&suite.number.to_string()).expect("registered");
        let title = format!(
            "{} {}, the program as a {}: {}",
            e.id(),
            e.name,
            suite.role.name(),
            argv.join(" ")
        );
        Printer {
            format,
            title,
            findings: Vec::new(),
            csv_header: true,
        }
    }

    /// Says where the program runs (the table's first line).
    pub fn network(&self, network: &Network) {
        if self.format != Format::Table {
            return;
        }
        line(&match network {
            Network::Private => {
                "network: private (a namespace of its own, only loopback)"
                    .to_owned()
            }
            Network::Host { why } => format!("network: host ({why})"),
        });
        let opts = textwrap::Options::new(WIDTH)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation)
            .subsequent_indent("    ");
        for l in textwrap::wrap(&self.title, opts) {
            line(&l);
        }
    }

    /// Prints one finding (the table and the lines at once; Gradescope's
    /// object at the end).
    pub fn finding(&mut self, f: &Finding) {
        match self.format {
            Format::Table => table_row(f),
            Format::Json => {
                line(&serde_json::to_string(f).expect("serializes"));
            }
            Format::Csv => {
                csv_row(f, self.csv_header);
                self.csv_header = false;
            }
            Format::Gradescope => {}
        }
        self.findings.push(f.clone());
    }

    /// Prints the summary (table) or the whole object (Gradescope).
    pub fn end(&self) {
        let fs = &self.findings;
        let passed = fs.iter().filter(|f| f.passed).count();
        let earned: u32 =
            fs.iter().filter(|f| f.passed).map(|f| f.points).sum();
        let total: u32 = fs.iter().map(|f| f.points).sum();
        match self.format {
            Format::Table => line(&format!(
                "{} check{}: {passed} passed, {} failed ({earned} of \
                 {total} point{})",
                fs.len(),
                plural(fs.len() as u32),
                fs.len() - passed,
                plural(total)
            )),
            Format::Gradescope => {
                line(&gradescope(&self.title, fs).to_string());
            }
            Format::Json | Format::Csv => {}
        }
    }
}

/// One check in the table: `name  ok|FAIL  reason`, then its evidence.
pub fn table_row(f: &Finding) {
    let mark = match (&f.skipped, f.passed) {
        (Some(_), _) => "skip",
        (None, true) => "ok",
        (None, false) => "FAIL",
    };
    let head = format!("{:<28} {mark:<4}", f.check);
    let reason = f.reason.as_deref().or(f.skipped.as_deref()).unwrap_or("");
    let opts = textwrap::Options::new(WIDTH)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .subsequent_indent("    ");
    let text = format!("{head} {reason}");
    for l in textwrap::wrap(text.trim_end(), opts) {
        line(&l);
    }
    for l in evidence_lines(f) {
        line(&l);
    }
}

/// The evidence as `  key: value` lines, at most 80 columns (a
/// longer value is cut with `…`); the program's exit, and its last lines
/// before we stopped it (`| ...`), only for a failed check.
pub fn evidence_lines(f: &Finding) -> Vec<String> {
    let mut out = Vec::new();
    let fit = |s: String| -> String {
        if s.chars().count() <= WIDTH {
            return s;
        }
        let cut: String = s.chars().take(WIDTH - 1).collect();
        format!("{cut}…")
    };
    for (key, value) in &f.evidence {
        let key = key.as_str();
        if JSON_ONLY.contains(&key) || (f.passed && ON_FAILURE.contains(&key)) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            v => v.to_string(),
        };
        out.push(fit(format!("    {key}: {text}")));
    }
    let said = f.evidence.get("said_before_stop").and_then(Value::as_str);
    if let (false, Some(text)) = (f.passed, said) {
        for l in text.lines() {
            out.push(fit(format!("    | {l}")));
        }
    }
    out
}

/// Gradescope's `results.json`: a test per check (name, score, max_score,
/// status, output) and the total score.
pub fn gradescope(title: &str, findings: &[Finding]) -> Value {
    let tests: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut output = match (&f.reason, &f.skipped) {
                (Some(why), _) => why.clone(),
                (None, Some(why)) => format!("skipped: {why}"),
                (None, None) => "passed".into(),
            };
            for l in evidence_lines(f) {
                output.push('\n');
                output.push_str(l.trim_start());
            }
            json!({
                "name": format!("{:02} {} {}: {}", f.number, f.experiment,
                                f.role.name(), f.check),
                "score": if f.passed { f.points } else { 0 },
                "max_score": f.points,
                "status": if f.passed { "passed" } else { "failed" },
                "output": output,
                "visibility": "visible",
            })
        })
        .collect();
    let score: u32 =
        findings.iter().filter(|f| f.passed).map(|f| f.points).sum();
    json!({
        "score": score,
        "output": format!("workbook check {title}"),
        "visibility": "visible",
        "tests": tests,
    })
}

/// One CSV row (`submission,check,passed,points`), the header first.
pub fn csv_row(f: &Finding, header: bool) {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    if header {
        let _ = w.write_record(["submission", "check", "passed", "points"]);
    }
    let earned = if f.passed { f.points } else { 0 };
    let submission = f.submission.clone().unwrap_or_default();
    let check = format!("{:02}-{}-{}", f.number, f.role.name(), f.check);
    let passed = f.passed.to_string();
    let _ = w.write_record([&submission, &check, &passed, &earned.to_string()]);
    let bytes = w.into_inner().unwrap_or_default();
    for l in String::from_utf8_lossy(&bytes).lines() {
        line(l);
    }
}

/// `--list`: every suite's checks, with what each does.
pub fn list<'a>(suites: impl Iterator<Item = &'a Suite>) {
    for s in suites {
        let e = registry::find(&s.number.to_string()).expect("registered");
        line(&format!("{} {} --{}", e.id(), e.name, s.role.name()));
        for c in s.checks {
            line(&format!(
                "  {} ({} point{})",
                c.name,
                c.points,
                if c.points == 1 { "" } else { "s" }
            ));
            let opts = textwrap::Options::new(WIDTH)
                .initial_indent("      ")
                .subsequent_indent("      ");
            for l in textwrap::wrap(c.does, opts) {
                line(&l);
            }
        }
    }
}

/// `"s"` unless `n` is 1.
fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}
