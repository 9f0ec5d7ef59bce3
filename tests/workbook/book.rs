//! The book's promises: code enters chapters only by anchor, every
//! experiment has its chapter, and every transcript is what the binary prints
//! now. Regenerate transcripts after a deliberate change with
//! `SNAPSHOTS=overwrite cargo test --test workbook transcripts`.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use regex::Regex;
use tcp_workbook::workbook::registry::EXPERIMENTS;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chapters() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("chapters"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files
}

/// Every `{{#include}}` names a file that exists and an anchor that file
/// defines; none uses line numbers (mdBook only logs a missing file or
/// anchor, and line numbers drift silently).
#[test]
fn includes_name_existing_files_and_anchors() {
    first_transcripts();
    let include =
        Regex::new(r"\{\{#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
            .unwrap();
    let mut problems = Vec::new();
    let mut count = 0;
    for chapter in chapters() {
        let text = fs::read_to_string(&chapter).unwrap();
        for cap in include.captures_iter(&text) {
            count += 1;
            let spec = &cap[2];
            let (file, anchor) = spec
                .split_once(':')
                .map_or((spec, None), |(f, a)| (f, Some(a)));
            let path = chapter.parent().unwrap().join(file);
            let where_ =
                format!("{}: {{{{#{} {spec}}}}}", chapter.display(), &cap[1]);
            let Ok(source) = fs::read_to_string(&path) else {
                problems.push(format!("{where_}: no file {}", path.display()));
                continue;
            };
            match anchor {
                None => {}
                Some(a) if a.chars().all(|c| c.is_ascii_digit() || c == ':') => problems.push(
                    format!("{where_}: line numbers; use an anchor (// ANCHOR: name)"),
                ),
                Some(a) => match region(&source, a) {
                    None => problems.push(format!(
                        "{where_}: {} has no `ANCHOR: {a}` ... `ANCHOR_END: {a}`",
                        path.display()
                    )),
                    Some(lines) if lines.iter().all(|l| l.trim().is_empty()) => {
                        problems.push(format!("{where_}: the region is empty"))
                    }
                    Some(lines) => {
                        for l in lines.iter().filter(|l| l.chars().count() > 80) {
                            problems.push(format!("{where_}: wider than 80 columns: {l}"));
                        }
                    }
                },
            }
        }
    }
    assert!(
        count > 0,
        "the chapters include nothing: is this the right directory?"
    );
    assert!(
        problems.is_empty(),
        "broken includes:\n{}",
        problems.join("\n")
    );
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, without the
/// marker lines of other anchors (mdBook drops those too); `None` if the
/// file has no such anchor.
fn region<'a>(source: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let (start, end) =
        (format!("ANCHOR: {name}"), format!("ANCHOR_END: {name}"));
    let mut lines = source.lines();
    lines.by_ref().find(|l| l.trim_end().ends_with(&start))?;
    let mut region = Vec::new();
    for line in lines {
        if line.trim_end().ends_with(&end) {
            return Some(region);
        }
        if !line.contains("ANCHOR: ") && !line.contains("ANCHOR_END: ") {
            region.push(line);
        }
    }
    None
}

/// Every anchor in the experiments' source is included by some chapter:
/// an anchor nobody includes is code the book meant to show and does not.
#[test]
fn every_anchor_is_included_by_a_chapter() {
    let all: String = chapters()
        .iter()
        .map(|c| fs::read_to_string(c).unwrap())
        .collect();
    let anchor = Regex::new(r"ANCHOR: (\w+)").unwrap();
    let mut missing = Vec::new();
    let dir = root().join("src/experiments");
    let mut files = vec![];
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    for path in files {
        let rel = path.strip_prefix(root()).unwrap().display().to_string();
        let source = fs::read_to_string(&path).unwrap();
        for cap in anchor.captures_iter(&source) {
            if !all.contains(&format!("../{rel}:{}}}}}", &cap[1])) {
                missing.push(format!("{rel}: {}", &cap[1]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "anchors no chapter includes: {missing:?}"
    );
}

/// Every registered experiment has its chapter `NN-name.md`, listed in
/// SUMMARY.md, that includes its code by anchor and its transcript.
#[test]
fn every_experiment_has_a_chapter() {
    let summary =
        fs::read_to_string(root().join("chapters/SUMMARY.md")).unwrap();
    for e in EXPERIMENTS {
        let file = e.chapter_file();
        let text = fs::read_to_string(root().join("chapters").join(&file))
            .unwrap_or_else(|_| {
                panic!("experiment {} has no chapter chapters/{file}", e.name)
            });
        assert!(
            summary.contains(&format!("({file})")),
            "SUMMARY.md does not list {file}"
        );
        let module =
            format!("../src/experiments/{}.rs:", e.name.replace('-', "_"));
        assert!(
            text.contains(&module),
            "{file} includes no anchor of {module}"
        );
        let transcript = format!("transcripts/{}-{}.console", e.id(), e.name);
        assert!(
            text.contains(&transcript),
            "{file} does not include {transcript}"
        );
        assert!(
            text.contains(&format!("cargo run --bin {}", e.name)),
            "{file} never says how to run it"
        );
    }
}

/// Every binary but the runner is a registered experiment, and every
/// registered experiment has its binary.
#[test]
fn binaries_and_registry_agree() {
    let mut bins: Vec<String> = fs::read_dir(root().join("src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "workbook")
        .collect();
    bins.sort();
    let mut names: Vec<String> =
        EXPERIMENTS.iter().map(|e| e.name.to_owned()).collect();
    names.sort();
    assert_eq!(bins, names);
    let numbers: Vec<u8> = EXPERIMENTS.iter().map(|e| e.number).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "registry is in number order, no repeats"
    );
}

/// The arguments for the command on a transcript's first line (and the
/// lines it continues on with ` \`, joined):
/// `$ cargo run --bin NAME [-- ARGS]` or `$ cargo run [-- ARGS]`.
fn command_of(first_line: &str) -> (String, Vec<String>) {
    let words: Vec<&str> = first_line.split_whitespace().collect();
    assert_eq!(
        &words[..3],
        ["$", "cargo", "run"],
        "a transcript starts with `$ cargo run`: {first_line}"
    );
    let mut rest = &words[3..];
    let mut bin = "workbook".to_owned();
    if rest.first() == Some(&"--bin") {
        bin = rest[1].to_owned();
        rest = &rest[2..];
    }
    if rest.first() == Some(&"--") {
        rest = &rest[1..];
    }
    assert!(
        rest.iter().all(|w| !w.contains(['"', '\''])),
        "no quoting in transcript commands: {first_line}"
    );
    (bin, rest.iter().map(|w| w.to_string()).collect())
}

/// Numbers of four or more digits that a transcript shows and that are set,
/// not measured: defaults (`--bytes` 2097152, `--message-bytes` 4194304,
/// `--sndbuf` 16384, `--rcvbuf` 65536), the buffer sizes the kernel
/// derives from a default (131072, 524288, 32768), and the bytes check 10
/// asks a client to send (16777216: its `MIN_BYTES`, the exercises'
/// `--bytes` default). Where the committed transcript shows one of these,
/// the output must show it too, so changing a default fails the test.
const SET_NUMBERS: &[&str] = &[
    "2097152", "131072", "524288", "4194304", "16384", "32768", "65536",
    "16777216",
];

/// One number in a transcript, with the spaces before it and its unit.
fn numbers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?P<pad> *)\b(?P<n>\d+(?:\.\d+)?)(?P<unit> ms\b| MiB/s\b|%|)"#,
        )
        .unwrap()
    })
}

/// Whether a number in a transcript is measured, so varies from run to
/// run: a time, a rate, a percentage, a time in JSON (`"elapsed_ms":3`),
/// the bytes a stalled server holds in hand, any number on a line that
/// ends in `(this run)` (counts the kernel's timing decides: how many
/// `recv` calls a big message took, a queue's size at one instant), the
/// time that starts a `--trace` line, the count of a trace the transcript
/// shows only the start of ([`cut_trace_count`]), or any number of four or
/// more digits (ports, byte counts at a stall) that is not a set number.
fn varies(text: &str, m: &regex::Captures) -> bool {
    let (n, at) = (&m["n"], m.get(0).unwrap());
    let before = &text[..at.start()];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at.end()..]
        .find('\n')
        .map_or(text.len(), |i| at.end() + i);
    let line = &text[line_start..line_end];
    !m["unit"].is_empty()
        || before.ends_with("_ms\":")
        || before.ends_with("_us\":")
        || in_packets(text, at.start())
        || before.ends_with("in hand")
        || line.ends_with("(this run)")
        || (at.start() == line_start && is_trace_line(line))
        || cut_trace_count(text, line_start, line_end)
        || (n.len() >= 4 && !n.contains('.') && !SET_NUMBERS.contains(&n))
}

/// Whether `line` is one segment of a `--trace`: tcpdump's shape, `0.000045
/// 127.0.0.1.41234 > 127.0.0.1.35349: Flags [S.], ...`.
pub fn is_trace_line(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\d+\.\d{6} [0-9a-f.:]+\.\d+ > [0-9a-f.:]+\.\d+: Flags \[")
            .unwrap()
    })
    .is_match(line)
}

/// A line that stands for lines a transcript leaves out, any number of
/// them (snapbox's and trycmd's convention): the narration above a trace
/// that the chapter shows already, or the segments after the first few.
pub const ELIDED: &str = "...";

/// Whether the line from `start` to `end` of a transcript is the head of a
/// `--trace` (`trace: 258 segments`) whose segments the transcript shows
/// only the first of ([`ELIDED`] after them): their count is the run's,
/// as the segments left out are. A trace shown whole holds its count.
fn cut_trace_count(text: &str, start: usize, end: usize) -> bool {
    text[start..end].starts_with("trace: ")
        && text[end..].lines().any(|l| l == ELIDED)
}

/// Whether byte `at` of a JSON transcript lies in a report's `packets`,
/// whose counts are the kernel's timing (an ACK sent alone or with a FIN).
fn in_packets(text: &str, at: usize) -> bool {
    let Some(start) = text[..at].rfind("\"packets\": {") else {
        return false;
    };
    text[start..]
        .find("\n  }")
        .is_some_and(|end| at < start + end)
}

/// Words the kernel chooses from run to run, on the lines that name them:
/// the timer a stalled socket has running when the deadlock is caught is
/// `persist` or `retransmit` (20 release runs: 15 showed persist on both
/// sides, 5 retransmit on the server's), so either may stand for either.
const KERNEL_WORDS: &[(&str, &[&str])] =
    &[("kernel timer (/proc/net/tcp):", &["persist", "retransmit"])];

/// `text`, which starts at byte `at` of `whole`, as a literal pattern,
/// except that an [`ELIDED`] line stands for any lines, and on a line
/// holding one of [`KERNEL_WORDS`]' markers each of its words stands for
/// any of them.
fn literal(text: &str, whole: &str, at: usize) -> String {
    let mut re = String::new();
    let mut start = at;
    for piece in text.split_inclusive('\n') {
        let line_start = whole[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end =
            whole[start..].find('\n').map_or(whole.len(), |i| start + i);
        if line_start == start && whole[line_start..line_end] == *ELIDED {
            re.push_str(r"(?:[^\n]*\n)*?");
            start += piece.len();
            continue;
        }
        let mut part = regex::escape(piece);
        for (marker, words) in KERNEL_WORDS {
            if whole[line_start..line_end].contains(marker) {
                let any = format!("(?:{})", words.join("|"));
                part = Regex::new(&format!(r"\b{any}\b"))
                    .unwrap()
                    .replace_all(&part, any.as_str())
                    .into_owned();
            }
        }
        re.push_str(&part);
        start += piece.len();
    }
    re
}

/// The committed transcript as a pattern: its text literally, except that
/// every number that [`varies`] may be any number, padded with any number
/// of spaces, an [`ELIDED`] line any lines, and the [`KERNEL_WORDS`] any of
/// their kind.
pub fn pattern(committed: &str) -> Regex {
    let mut re = String::from("^");
    let mut last = 0;
    for m in numbers().captures_iter(committed) {
        let whole = m.get(0).unwrap();
        let text = &committed[last..whole.start()];
        re.push_str(&literal(text, committed, last));
        if varies(committed, &m) {
            re.push_str(if m["pad"].is_empty() { "" } else { " *" });
            re.push_str(r"\d+(?:\.\d+)?");
            re.push_str(&regex::escape(&m["unit"]));
        } else {
            re.push_str(&regex::escape(whole.as_str()));
        }
        last = whole.end();
    }
    re.push_str(&literal(&committed[last..], committed, last));
    re.push('$');
    Regex::new(&re).unwrap()
}

/// `printed` as a run in a network of its own, with its packets captured,
/// prints it, given the `committed` transcript. Where this system forbids
/// namespaces, or a run cannot capture, the run says `network: host
/// (why)`, `wire: not captured (why)` and marks its packet checks `–`;
/// in JSON its `packets`, and each `{"not_captured": why}` among its
/// measurements, take the committed values, and so do its `sysctls` (the
/// host's) on the host. The rest of its transcript must still match.
fn as_if_private(printed: &str, committed: &str) -> String {
    if printed.trim_start().starts_with('{') {
        return json_as_if_private(printed, committed);
    }
    let said = Regex::new(r"(?m)^network: host \(.*\)$").unwrap();
    let uncaptured = Regex::new(r"(?m)^wire: not captured \(.*\)$").unwrap();
    let printed = said.replace_all(
        printed,
        "network: private (a namespace of its own, only loopback)",
    );
    let printed = uncaptured.replace_all(
        &printed,
        "wire: 0 segments captured, 0 frames dropped (this run)",
    );
    printed
        .lines()
        .map(|l| match l.starts_with("on the wire: ") {
            true => l.replace(" –", " ✓") + "\n",
            false => l.to_owned() + "\n",
        })
        .collect()
}

/// [`as_if_private`] for pretty-printed JSON reports.
fn json_as_if_private(printed: &str, committed: &str) -> String {
    use serde_json::Value;
    let values = |text: &str| -> Vec<Value> {
        let body = text.lines().skip_while(|l| !l.starts_with('{'));
        let body: String = body.map(|l| l.to_owned() + "\n").collect();
        serde_json::Deserializer::from_str(&body)
            .into_iter::<Value>()
            .filter_map(Result::ok)
            .collect()
    };
    fn take_captured(p: &mut Value, c: &Value) {
        let uncaptured = p.get("not_captured").is_some()
            || p.get("kind").and_then(Value::as_str) == Some("not_captured");
        if uncaptured {
            *p = c.clone();
            return;
        }
        match (p, c) {
            (Value::Object(p), Value::Object(c)) => {
                for (k, v) in p.iter_mut() {
                    if let Some(cv) = c.get(k) {
                        take_captured(v, cv);
                    }
                }
            }
            (Value::Array(p), Value::Array(c)) => {
                p.iter_mut().zip(c).for_each(|(p, c)| take_captured(p, c))
            }
            _ => {}
        }
    }
    let committed = values(committed);
    let mut out = String::new();
    for (i, mut p) in values(printed).into_iter().enumerate() {
        if let Some(c) = committed.get(i) {
            take_captured(&mut p, c);
            if p["network"]["kind"] == "host" {
                p["network"] = c["network"].clone();
                p["sysctls"] = c["sysctls"].clone();
            }
        }
        out += &(serde_json::to_string_pretty(&p).unwrap() + "\n");
    }
    out
}

/// `text` with the table of `workbook check` unwrapped: a line indented
/// four columns (a reason's next line, an evidence line) joined to the one
/// before with a space; the program's own lines (`    | `) stay lines. The
/// table wraps a reason at 80 columns, so a number that is one digit
/// longer in this run (a stall of 1001 ms, not 451) moves the last word of
/// a line to the next: the words and their order are held, not where the
/// lines break (the width is checked on the output as printed).
fn unwrapped(text: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\n {4}([^ |])").unwrap());
    re.replace_all(text, " $1").into_owned()
}

/// Whether a transcript's command prints the table of `workbook check`.
fn is_check_table(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "check")
        && !args.iter().any(|a| a == "--json" || a == "--format")
}

/// Each line of JSON Lines, pretty-printed.
fn pretty_json_lines(text: &str) -> String {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            serde_json::to_string_pretty(&v).unwrap() + "\n"
        })
        .collect()
}

/// For showing a difference: every number that varies as `[N]`.
fn mask(text: &str) -> String {
    numbers()
        .replace_all(text, |m: &regex::Captures| {
            if varies(text, m) {
                format!(" [N]{}", &m["unit"])
            } else {
                m[0].to_owned()
            }
        })
        .into_owned()
}

/// With `SNAPSHOTS=overwrite`, starts the transcripts of every experiment
/// that has none, for the transcripts test to fill in: `NN-name.console`,
/// the command of its default run, and `NN-name-trace.console`, its
/// `--trace` run with the narration left out ([`ELIDED`]) and every
/// segment shown (cut it by hand where later segments vary from run to
/// run: a rewrite keeps the cut). Returns whether it is set.
fn first_transcripts() -> bool {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let dir = root().join("chapters/transcripts");
    for e in EXPERIMENTS.iter().filter(|_| overwrite) {
        let path = dir.join(format!("{}-{}.console", e.id(), e.name));
        if !path.exists() {
            fs::write(&path, format!("$ cargo run --bin {}\n", e.name))
                .unwrap();
        }
        let trace = dir.join(format!("{}-{}-trace.console", e.id(), e.name));
        if !trace.exists() {
            let start = format!(
                "$ cargo run --bin {} -- --trace\n{ELIDED}\ntrace: 0 segments\n",
                e.name
            );
            fs::write(&trace, start).unwrap();
        }
    }
    overwrite
}

/// The exit status a transcript's command must end with: 1 for a
/// `workbook check` that shows a failing program (`*-fails.console`),
/// else 0.
fn expected_status(path: &std::path::Path) -> i32 {
    let name = path.file_name().unwrap().to_string_lossy();
    i32::from(name.ends_with("-fails.console"))
}

/// Every transcript in `chapters/transcripts/` is what its command prints
/// now (stdout, with what varies masked), and the command exits 0 (1 for
/// a check of a failing program, `*-fails.console`; one that runs python3
/// is skipped where python3 is absent; the table of `workbook check` is
/// compared [`unwrapped`]). The files
/// keep a real run's numbers for the reader. With `SNAPSHOTS=overwrite`, a
/// transcript that differs is rewritten (one that only has other measured
/// numbers is left as it is), and an experiment that has no transcript
/// yet gets one of its default run, `NN-name.console`.
#[test]
fn transcripts_match_what_the_binaries_print() {
    let dir = root().join("chapters/transcripts");
    let overwrite = first_transcripts();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        // The command: its first line and any it continues on (` \`).
        let lines: Vec<&str> = text.lines().collect();
        let n = 1 + lines.iter().take_while(|l| l.ends_with(" \\")).count();
        let first = lines[..n.min(lines.len())].join("\n");
        let (bin, args) = command_of(&first.replace(" \\\n", " "));
        if args.iter().any(|a| a == "python3")
            && crate::check::python().is_none()
        {
            continue; // said once by python()
        }
        let out = crate::cmd(&bin).args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(expected_status(&path)),
            "{first}: {out:?}"
        );
        let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if args.iter().any(|a| a == "--json") {
            // Shown pretty-printed, so that it fits the page.
            printed = pretty_json_lines(&printed);
        }
        // A trace is compared only from a run in a network of its own: on
        // the host's loopback (namespaces forbidden) there is no capture
        // unless we are root, and then it holds every other program's
        // segments too.
        let tracing = args.iter().any(|a| a == "--trace");
        let on_host = printed.lines().any(|l| l.starts_with("network: host ("));
        if tracing && (on_host || printed.contains("\nwire: not captured (")) {
            eprintln!(
                "{}: not compared: this run had no network of its own, so \
                 there is no trace of its own to compare",
                path.display()
            );
            continue;
        }
        let printed = as_if_private(&printed, &text);
        let actual = format!("{first}\n{printed}");
        for line in actual.lines().filter(|l| !is_trace_line(l)) {
            let width = line.chars().count();
            assert!(
                width <= 80,
                "{}: a line of {width} columns is cut off in the book: {line}",
                path.display()
            );
        }
        let (settled, actual_settled) =
            (without_bare_acks(&text), without_bare_acks(&actual));
        let matches = if is_check_table(&args) {
            pattern(&unwrapped(&settled)).is_match(&unwrapped(&actual_settled))
        } else {
            pattern(&settled).is_match(&actual_settled)
        };
        if overwrite && !matches {
            // Only a transcript that changed: the others keep their run.
            let elided = text.lines().any(|l| l == ELIDED);
            let new = if elided {
                elide_like(&actual, &text)
            } else {
                actual.clone()
            };
            fs::write(&path, &new).unwrap();
        } else if !matches {
            // snapbox shows the difference line by line.
            snapbox::assert_data_eq!(mask(&actual_settled), mask(&settled));
            panic!("{}: set numbers differ:\n{actual}", path.display());
        }
    }
}

/// `text` without the bare ACKs of its `--trace` lines, and its trace's
/// count without them. A bare ACK (`Flags [.]`, no data, not a probe)
/// acknowledges and nothing else, and when the kernel sends one is its
/// timing: at once, or held a moment to ride on the next segment it sends
/// anyway, the data or the FIN (delayed ACK, RFC 1122 4.2.3.2), as the
/// threads and the scheduler fall. Seen here: `bind-interface` sent an ACK
/// of the peer's FIN on its own in 2 of 150 runs with both cores busy, and
/// `sixteen` once acknowledged the reply together with the server's FIN
/// while another build ran. So the committed transcript and the run are
/// compared without them. Every segment that carries a SYN, data, a FIN, a
/// RST or a probe is held, with its numbers.
pub fn without_bare_acks(text: &str) -> String {
    let dropped = text.lines().filter(|l| is_bare_ack(l)).count();
    let mut out = String::new();
    for line in text.lines().filter(|l| !is_bare_ack(l)) {
        let count = line
            .strip_prefix("trace: ")
            .and_then(|l| l.strip_suffix(" segments"))
            .and_then(|n| n.parse::<usize>().ok());
        match count {
            Some(n) if dropped > 0 => {
                out +=
                    &format!("trace: {} segments\n", n.saturating_sub(dropped));
            }
            _ => out += &format!("{line}\n"),
        }
    }
    out
}

/// Whether `line` is a `--trace` line of a bare ACK: `Flags [.]`, no
/// data, not marked as a probe or a retransmission.
pub fn is_bare_ack(line: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let bare = RE.get_or_init(|| {
        Regex::new(r"Flags \[\.\], seq \d+, ack \d+, win \d+, length 0$")
            .unwrap()
    });
    is_trace_line(line) && bare.is_match(line)
}

/// `actual`, a `--trace` run's whole output, cut as the `committed`
/// transcript is: its narration left out ([`ELIDED`]) if the committed one
/// leaves it out, then the trace's head and its segments: as many as the
/// committed one shows, then [`ELIDED`], if it shows only the first; all
/// of them if it shows them all.
///
/// # Panics
/// If `committed` elides lines but is not a trace cut this way: such a
/// transcript is rewritten by hand.
fn elide_like(actual: &str, committed: &str) -> String {
    fn shape(text: &str) -> (Vec<&str>, Option<usize>) {
        let lines: Vec<&str> = text.lines().collect();
        let head = lines.iter().position(|l| l.starts_with("trace: "));
        (lines, head)
    }
    let (old, old_head) = shape(committed);
    let (new, new_head) = shape(actual);
    let (Some(old_head), Some(new_head)) = (old_head, new_head) else {
        panic!(
            "only a --trace transcript is rewritten with its `...`: edit it by hand:\n{actual}"
        );
    };
    let shown = old[old_head + 1..]
        .iter()
        .take_while(|l| **l != ELIDED)
        .count();
    let cut = old_head + 1 + shown < old.len();
    let mut out = vec![new[0]];
    if old[1] == ELIDED {
        out.push(ELIDED);
    } else {
        out.extend(&new[1..new_head]);
    }
    let end = match cut {
        true => (new_head + 1 + shown).min(new.len()),
        false => new.len(),
    };
    out.extend(&new[new_head..end]);
    if cut {
        out.push(ELIDED);
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// An elided line stands for any lines, none included; a trace's time and
/// ports vary; its count varies only where the transcript cuts the trace;
/// bare ACKs are left out, and the count with them, but no other segment;
/// and a trace cut is rewritten as it was cut.
#[test]
fn elided_lines_and_trace_numbers_are_free_and_the_rest_is_held() {
    let committed = "$ cargo run --bin x -- --trace\n...\ntrace: 12 segments\n\
                     0.000000 127.0.0.1.43106 > 127.0.0.1.41633: Flags [S], seq 0, win 65495, length 0\n\
                     0.000019 127.0.0.1.41633 > 127.0.0.1.43106: Flags [S.], seq 0, ack 1, win 65483, length 0\n\
                     ...\n";
    let run = "$ cargo run --bin x -- --trace\nnarration\nverdict\ntrace: 14 segments\n\
               0.000000 127.0.0.1.50000 > 127.0.0.1.40000: Flags [S], seq 0, win 65495, length 0\n\
               0.000031 127.0.0.1.40000 > 127.0.0.1.50000: Flags [S.], seq 0, ack 1, win 65483, length 0\n\
               0.000050 127.0.0.1.50000 > 127.0.0.1.40000: Flags [.], seq 1, ack 1, win 512, length 0\n";
    let p = pattern(committed);
    assert!(p.is_match(run), "{p}");
    let fin = "0.000100 127.0.0.1.40000 > 127.0.0.1.50000: Flags [F.], seq 1, ack 1, win 512, length 0\n";
    let acked = "0.000110 127.0.0.1.50000 > 127.0.0.1.40000: Flags [.], seq 1, ack 2, win 512, length 0\n";
    let closed = "0.000120 127.0.0.1.50000 > 127.0.0.1.40000: Flags [F.], seq 1, ack 2, win 512, length 0\n";
    let probe = "0.000130 127.0.0.1.50000 > 127.0.0.1.40000: Flags [.], seq 1, ack 2, win 0, length 0 (zero window probe)\n";
    let at_once = format!("trace: 3 segments\n{fin}{closed}{probe}");
    let slow = format!("trace: 4 segments\n{fin}{acked}{closed}{probe}");
    assert_eq!(without_bare_acks(&slow), at_once);
    assert_eq!(without_bare_acks(&at_once), at_once);
    let p = pattern(&without_bare_acks(&slow));
    assert!(
        !p.is_match(
            &at_once.replace("[F.], seq 1, ack 2", "[F.], seq 1, ack 1")
        ),
        "a FIN's numbers are held"
    );
    assert!(!p.is_match(&at_once.replace(probe, "")), "a probe is held");
    assert!(!p.is_match(&run.replace("[S.]", "[R.]")), "the flags");
    assert!(
        !p.is_match(&run.replace("ack 1, win 65483", "ack 2, win 65483")),
        "a small number"
    );
    let whole = committed.replace("...\n", "").replace(
        "$ cargo run --bin x -- --trace\n",
        "$ cargo run --bin x -- --trace\n...\n",
    );
    let whole = whole.trim_end_matches("...\n");
    assert!(
        !pattern(whole).is_match(run),
        "a trace shown whole holds its count and lines"
    );
    assert_eq!(
        elide_like(&run.replace("14 segments", "15 segments"), committed),
        "$ cargo run --bin x -- --trace\n...\ntrace: 15 segments\n\
         0.000000 127.0.0.1.50000 > 127.0.0.1.40000: Flags [S], seq 0, win 65495, length 0\n\
         0.000031 127.0.0.1.40000 > 127.0.0.1.50000: Flags [S.], seq 0, ack 1, win 65483, length 0\n\
         ...\n"
    );
}

/// A transcript pattern lets measured numbers vary and holds set numbers,
/// small counts and text to the letter.
#[test]
fn transcript_patterns_hold_set_numbers_and_free_measured_ones() {
    let committed = "at ('127.0.0.1', 40123) after 12 ms\n\
                     2. The large case: 2097152 bytes\n\
                     server holds in hand      688 bytes, 7.1 MiB/s, 82%\n\
                     queue     106068 bytes; 16 bytes sent";
    let p = pattern(committed);
    assert!(p.is_match(
        "at ('127.0.0.1', 51234) after 7 ms\n\
         2. The large case: 2097152 bytes\n\
         server holds in hand       12 bytes, 12.5 MiB/s, 7%\n\
         queue 99 bytes; 16 bytes sent"
    ));
    assert!(
        !p.is_match(&committed.replace("2097152", "4194304")),
        "a default"
    );
    assert!(
        !p.is_match(&committed.replace("16 bytes", "17 bytes")),
        "a count"
    );
    assert!(
        !p.is_match(&committed.replace("after", "before")),
        "the text"
    );
    let timers = "x 5 ms\n   kernel timer (/proc/net/tcp): client persist, \
                  server persist\nthe persist timer";
    let p = pattern(timers);
    assert!(p.is_match(&timers.replacen(
        "server persist",
        "server retransmit",
        1
    )));
    assert!(
        !p.is_match(&timers.replace("persist timer", "retransmit timer")),
        "only the marked line's words vary"
    );
    assert!(
        !p.is_match(&timers.replace("server persist", "server none")),
        "a word of another kind"
    );
    let measured = "took 12 recv calls (this run)\nin 2 recv calls";
    let p = pattern(measured);
    assert!(p.is_match("took 5 recv calls (this run)\nin 2 recv calls"));
    assert!(
        !p.is_match("took 12 recv calls (this run)\nin 3 recv calls"),
        "only the marked line's numbers vary"
    );
}

/// A check's table may break its reason's lines elsewhere when a number
/// that varies is longer, but its words, their order and the program's
/// own lines (`| `) are held.
#[test]
fn check_tables_may_rewrap_but_keep_their_words() {
    let committed = "name  FAIL no byte moved for 451 ms with its window 0\n    \
                     and ours 0: read\n    it_sent: 4037120\n    | said\n";
    let p = pattern(&unwrapped(committed));
    let rewrapped = "name  FAIL no byte moved for 1001 ms with its window\n    \
                     0 and ours 0: read\n    it_sent: 4037120\n    | said\n";
    assert!(p.is_match(&unwrapped(rewrapped)));
    let window = rewrapped.replace("window\n    0", "window\n    5");
    assert!(!p.is_match(&unwrapped(&window)), "a small number");
    let moved = rewrapped.replace("\n    | said", " | said");
    assert!(!p.is_match(&unwrapped(&moved)), "the program's line");
    let order = rewrapped.replace("and ours 0: read", "ours and 0: read");
    assert!(!p.is_match(&unwrapped(&order)), "the words' order");
}

/// The share of an experiment file that a chapter shows: the lines inside
/// its anchors (the book's calls and their comments) and its `//!` head,
/// over all its lines.
fn teaching_share(source: &str) -> (usize, usize) {
    let (mut inside, mut teaching) = (0i32, 0);
    let lines: Vec<&str> = source.lines().collect();
    for line in &lines {
        let t = line.trim();
        if t.contains("ANCHOR: ") {
            inside += 1;
            teaching += 1;
        } else if t.contains("ANCHOR_END: ") {
            inside -= 1;
            teaching += 1;
        } else if inside > 0 || t.starts_with("//!") {
            teaching += 1;
        }
    }
    (teaching, lines.len())
}

/// Every experiment file is mostly what its chapter shows: at least 60%
/// of its lines are inside anchors or in its `//!` head (plumbing belongs
/// in the library or in the experiment's own submodule).
#[test]
fn experiment_files_are_mostly_the_books_calls() {
    let mut report = vec![];
    for e in EXPERIMENTS {
        let path = root()
            .join("src/experiments")
            .join(format!("{}.rs", e.name.replace('-', "_")));
        let (teaching, total) =
            teaching_share(&fs::read_to_string(&path).unwrap());
        let share = 100 * teaching / total;
        report.push(format!("{}: {total} lines, {share}% teaching", e.name));
        assert!(share >= 60, "{}: only {share}% of {total} lines", e.name);
    }
    eprintln!("{}", report.join("\n"));
}

/// The line each place that names an experiment must hold, word for word
/// as the registry has it: `(where, expected first line or line)`.
fn fact_lines(e: &tcp_workbook::lab::run::Entry) -> [(String, String); 3] {
    let (id, name, title) = (e.id(), e.name, e.title);
    let module = name.replace('-', "_");
    [
        (
            format!("chapters/{}", e.chapter_file()),
            format!("# {id} {name}: {title}"),
        ),
        (
            "chapters/SUMMARY.md".to_owned(),
            format!("- [{id} {name}: {title}]({})", e.chapter_file()),
        ),
        (
            format!("src/experiments/{module}.rs"),
            format!("//! # {id} `{name}`: {title}"),
        ),
    ]
}

/// Each experiment's number, name and title are written once, in the
/// registry, and the chapter's h1, its SUMMARY line and the experiment's
/// `//!` head say them word for word (as rustlings holds its exercises to
/// `info.toml`). A title is plain text: no Markdown.
#[test]
fn chapter_summary_and_head_say_the_registry_title() {
    let mut problems = vec![];
    for e in EXPERIMENTS {
        if e.title.contains(['`', '*', '_', '|', '[', ']']) {
            problems.push(format!(
                "src/workbook/registry.rs: the title of {} is Markdown; \
                 write it as plain text: {:?}",
                e.name, e.title
            ));
        }
        for (i, (file, expected)) in fact_lines(e).into_iter().enumerate() {
            let text =
                fs::read_to_string(root().join(&file)).unwrap_or_default();
            // The SUMMARY lists every chapter: find this one's line by its
            // link. The others start with the line.
            let found = if i == 1 {
                let link = format!("({})", e.chapter_file());
                text.lines().find(|l| l.trim_end().ends_with(&link))
            } else {
                text.lines().next()
            };
            let found = found.unwrap_or("(nothing)").trim_end();
            if found != expected {
                problems.push(format!(
                    "{file}: says\n    {found}\n  the registry's title wants\n    {expected}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the title in src/workbook/registry.rs is the one wording; \
         make these agree with it:\n{}",
        problems.join("\n")
    );
}

/// Markdown's special characters in `text`, escaped for a table cell.
fn md_cell(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The experiments table of the book's introduction, from the registry.
fn experiments_table() -> String {
    let mut table = String::from(
        "<!-- Generated from src/workbook/registry.rs by `cargo test`; \
         do not edit. -->\n\n\
         | No. | binary | title | passage |\n|---|---|---|---|\n",
    );
    for e in EXPERIMENTS {
        table.push_str(&format!(
            "| [{}]({}) | `{}` | {} | {} |\n",
            e.id(),
            e.chapter_file(),
            e.name,
            md_cell(e.title),
            md_cell(e.passage)
        ));
    }
    table
}

/// The introduction's table of experiments is generated from the registry
/// (`chapters/generated/experiments.md`, which the introduction includes),
/// not typed a second time. After a change to the registry, regenerate it
/// with `SNAPSHOTS=overwrite cargo test --test workbook book`.
#[test]
fn introduction_table_is_the_registry() {
    let path = root().join("chapters/generated/experiments.md");
    let table = experiments_table();
    if std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &table).unwrap();
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == table,
        "{} is not the registry's table; regenerate it with \
         `SNAPSHOTS=overwrite cargo test --test workbook book`",
        path.display()
    );
    let intro =
        fs::read_to_string(root().join("chapters/introduction.md")).unwrap();
    assert!(
        intro.contains("{{#include generated/experiments.md}}"),
        "chapters/introduction.md does not include generated/experiments.md"
    );
}

/// Figures a chapter may state in its prose because they are fixed, not
/// measured, each with where it is fixed. Everything else a chapter reports
/// (a time, a rate, a size, a share, a count of runs) comes from a file a
/// benchmark or test writes: `{{#include generated/NAME.md}}` or a
/// transcript. Keep this list short: a figure that is ours to choose and
/// appears once is better marked where it stands ([`SETTING_MARK`]).
const SET_FIGURES: &[(&str, &str)] = &[
    // The kernel's and the RFCs' constants.
    (
        "1 s",
        "RFC 6298 (2.1) initial RTO; Linux TCP_TIMEOUT_INIT, include/net/tcp.h",
    ),
    ("60 s", "Linux TCP_TIMEWAIT_LEN, include/net/tcp.h"),
    (
        "60000 ms",
        "the same TCP_TIMEWAIT_LEN, as the transcripts print it",
    ),
    (
        "200 ms",
        "Linux TCP_RTO_MIN, include/net/tcp.h (the persist timer's floor too)",
    ),
    // Our defaults, each in its experiment's clap command (`--help`).
    ("10 s", "every experiment's default --timeout-ms"),
    (
        "64 KiB",
        "deadlock's default --sndbuf, --rcvbuf and --fix-chunk",
    ),
    ("8 ms", "deadlock's default --rto-min-ms"),
    ("2 MiB", "deadlock's default --bytes"),
    ("20 ms", "deadlock's default --cycle-ms"),
    ("1000 ms", "deadlock's default --stall-ms"),
    (
        "4 MiB",
        "partial-recv's and partial-send's default --message-bytes",
    ),
    ("10 ms", "partial-send's default --sndtimeo-ms"),
    // The book's own sizes (FOPNP ch. 3, Listings 3-1 and tcp_deadlock.py).
    ("16 bytes", "the book's sixteen-octet messages"),
    ("1024 bytes", "the book's servers' recv(1024)"),
    ("42 bytes", "tcp_deadlock.py's client's recv(42)"),
    (
        "1 KiB",
        "the size the exercises set (--message-bytes, --chunk 1KiB)",
    ),
    (
        "60999",
        "the top of Linux's default ip_local_port_range, ip-sysctl.rst",
    ),
    // Neither measured nor a size.
    (
        "50 ms",
        "the pause the watcher records as long, src/lab/watch.rs",
    ),
    (
        "65534",
        "the uid (nobody) experiments drop to, src/lab/privilege.rs",
    ),
    ("100%", "a whole, the reference a share is read against"),
];

/// Put on a line of prose whose figures are settings (ours, or an
/// exercise's knob), not measurements: `<!-- set: WHAT SETS THEM -->`.
/// Rendered, it is invisible; the test reads it.
const SETTING_MARK: &str = "<!-- set: ";

/// What counts as a figure in prose: a number with a unit of time, rate,
/// size or share; `N of M`; `N runs`; `median N`; a bare number of five
/// or more digits (a byte count).
fn figure() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?x)
            (?P<n>\d+(?:[.,]\d+)*) \s?
              (?P<unit> ms|s|µs|us|seconds?|minutes?|MiB/s|MB/s|KiB|MiB|GiB|KB|kB|MB|GB|bytes?|%)
              (?:\b|$|[^\w])
            | \b\d+\ of\ \d+\b
            | \b\d+\ (?:\w+\ ){0,2}runs?\b
            | \bmedian\ (?:of\ )?\d+(?:\.\d+)?
            | \b\d{5,}\b",
        )
        .unwrap()
    })
}

/// The figures a chapter's prose states by hand: every [`figure`] outside
/// code fences and inline code, on lines without [`SETTING_MARK`], that is
/// neither in [`SET_FIGURES`] nor a set byte count ([`SET_NUMBERS`]).
/// Answers (`<details>`) count.
fn typed_figures(text: &str) -> Vec<(usize, String)> {
    let code = Regex::new(r"`[^`]*`").unwrap();
    let (mut fence, mut in_code) = (false, false);
    let mut found = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        // Inline code may run on to the next line: close and reopen it.
        let mut whole = if in_code {
            format!("`{line}")
        } else {
            line.to_owned()
        };
        in_code = whole.matches('`').count() % 2 == 1;
        if in_code {
            whole.push('`');
        }
        if fence || line.contains(SETTING_MARK) || line.contains("{{#") {
            continue;
        }
        let prose = code.replace_all(&whole, "`…`").replace("**", "");
        for m in figure().captures_iter(&prose) {
            let whole = m.get(0).unwrap();
            if prose[..whole.start()].ends_with(|c: char| {
                c.is_ascii_alphanumeric() || c == '.' || c == '-'
            }) {
                continue; // part of a word or a name: RFC 6298's 6298 is not
            }
            let shown = whole.as_str().trim_end_matches(|c: char| {
                !c.is_alphanumeric() && c != '%' && c != '/'
            });
            let set = SET_FIGURES.iter().any(|(f, _)| *f == shown)
                || m.name("n").is_some_and(|n| {
                    SET_NUMBERS.contains(&n.as_str())
                        && m["unit"].starts_with("byte")
                })
                || SET_NUMBERS.contains(&shown);
            if !set {
                found.push((i + 1, shown.to_owned()));
            }
        }
    }
    found
}

/// No chapter types a measured figure by hand: a time, rate, size, share
/// or count of runs in prose must be one the kernel, an RFC, the book or
/// our defaults fix ([`SET_FIGURES`], or a line marked [`SETTING_MARK`]);
/// anything measured comes from an included file that a benchmark or test
/// writes, with its command, date, machine and runs. Figures typed once
/// go stale when the code or the machine changes, and a fact-check found
/// several that had.
#[test]
fn chapters_type_no_measured_figure() {
    let mut problems = vec![];
    for chapter in chapters() {
        let name = chapter.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&chapter).unwrap();
        for (line, shown) in typed_figures(&text) {
            problems.push(format!("chapters/{name}:{line}: {shown}"));
        }
    }
    assert!(
        problems.is_empty(),
        "figures typed into chapter prose; include a generated file or a \
         transcript instead (benches write chapters/generated/), describe \
         the behaviour without the number, or, for a constant, add it with \
         its source to SET_FIGURES in tests/workbook/book.rs (a setting of \
         ours: mark the line `<!-- set: WHAT -->`):\n{}",
        problems.join("\n")
    );
}

/// The scanner catches a typed time, rate, share and run count, and lets
/// constants, marked settings, code and fenced output through.
#[test]
fn typed_figures_are_found_and_constants_are_not() {
    let text = "It took 295 ms, at 5.5 MiB/s, 87% of the buffers.\n\
                In 17 of 20 runs; 30 idle runs; median 2.65 s.\n\
                The client sent 465050 over 1 s (RFC 6298) after 60 s.\n\
                Sends 64 KiB per call <!-- set: --fix-chunk --> in 3 ms.\n\
                Run `--bytes 4MiB --timeout-ms\n500`, with 131072 bytes.\n\
                ```console\ntook 12 ms\n```\nafter 12 ms.\n";
    let shown: Vec<String> =
        typed_figures(text).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        shown,
        [
            "295 ms",
            "5.5 MiB/s",
            "87%",
            "17 of 20",
            "30 idle runs",
            "median 2.65",
            "465050",
            "12 ms"
        ]
    );
}

/// Every file a benchmark writes into `chapters/generated/` opens with the
/// line that says how it was measured: the command, the date (UTC), the
/// machine and cores, and the runs (`benches/common/mod.rs`).
#[test]
fn generated_figures_say_how_they_were_measured() {
    let dir = root().join("chapters/generated");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "experiments.md") {
            continue; // the registry's table: no figures
        }
        let text = fs::read_to_string(&path).unwrap();
        let head: String = text.lines().take(2).collect::<Vec<_>>().join("\n");
        for needed in
            ["<!-- generated by `", "cargo bench", "UTC", "cores", "run"]
        {
            assert!(
                head.contains(needed),
                "{}: its first lines do not say {needed:?}; let the \
                 benchmark write it:\n{head}",
                path.display()
            );
        }
    }
}
