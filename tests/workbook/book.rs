//! The book's promises: code enters chapters only by anchor, every
//! experiment has its chapter, and every transcript is what the binary prints
//! now. Regenerate transcripts after a deliberate change with
//! `SNAPSHOTS=overwrite cargo test --test workbook transcripts`.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use regex::Regex;
use tcp_workbook::registry::EXPERIMENTS;

fn root() -> PathBuf {
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
    let include = Regex::new(r"\{\{#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}").unwrap();
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
            let where_ = format!("{}: {{{{#{} {spec}}}}}", chapter.display(), &cap[1]);
            let Ok(source) = fs::read_to_string(&path) else {
                problems.push(format!("{where_}: no file {}", path.display()));
                continue;
            };
            match anchor {
                None => {}
                Some(a) if a.chars().all(|c| c.is_ascii_digit() || c == ':') => problems.push(
                    format!("{where_}: line numbers; use an anchor (// ANCHOR: name)"),
                ),
                Some(a) => {
                    for marker in [format!("ANCHOR: {a}"), format!("ANCHOR_END: {a}")] {
                        if !source.lines().any(|l| l.trim_end().ends_with(&marker)) {
                            problems
                                .push(format!("{where_}: {} has no `{marker}`", path.display()));
                        }
                    }
                }
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

/// Every registered experiment has its chapter `NN-name.md`, listed in
/// SUMMARY.md, that includes its code by anchor and its transcript.
#[test]
fn every_experiment_has_a_chapter() {
    let summary = fs::read_to_string(root().join("chapters/SUMMARY.md")).unwrap();
    for e in EXPERIMENTS {
        let file = e.chapter_file();
        let text = fs::read_to_string(root().join("chapters").join(&file))
            .unwrap_or_else(|_| panic!("experiment {} has no chapter chapters/{file}", e.name));
        assert!(
            summary.contains(&format!("({file})")),
            "SUMMARY.md does not list {file}"
        );
        let module = format!("../src/experiments/{}.rs:", e.name.replace('-', "_"));
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
    let mut names: Vec<String> = EXPERIMENTS.iter().map(|e| e.name.to_owned()).collect();
    names.sort();
    assert_eq!(bins, names);
    let numbers: Vec<u8> = EXPERIMENTS.iter().map(|e| e.number).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "registry is in number order, no repeats"
    );
}

/// The arguments for the command on a transcript's first line:
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

/// Masks what varies from run to run, on both sides of the comparison:
/// timings, rates, percentages, every number of four or more digits (ports,
/// byte counts of a stall), and the bytes a stalled server holds in hand.
/// Other small numbers, such as the sixteen octets, must match exactly.
fn mask(text: &str) -> String {
    static RULES: OnceLock<Vec<(Regex, &str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        vec![
            (Regex::new(r"\b\d+(?:\.\d+)? ms\b").unwrap(), "[MS] ms"),
            (
                Regex::new(r"\b\d+(?:\.\d+)? MiB/s\b").unwrap(),
                "[RATE] MiB/s",
            ),
            (Regex::new(r"\b\d+(?:\.\d+)?%").unwrap(), "[PCT]%"),
            (Regex::new(r"\b\d{4,}\b").unwrap(), "[N]"),
            // What a stalled server holds in hand: up to 1024 bytes, any count.
            (Regex::new(r"(in hand:? +)\d+").unwrap(), "${1}[N]"),
            // Column padding around masked numbers varies with their width.
            (Regex::new(r" +\[N\]").unwrap(), " [N]"),
        ]
    });
    rules.iter().fold(text.to_owned(), |t, (re, with)| {
        re.replace_all(&t, *with).into_owned()
    })
}

/// Every transcript in `chapters/transcripts/` is what its command prints
/// now (stdout, with what varies masked), and the command exits 0. The files
/// keep a real run's numbers for the reader.
#[test]
fn transcripts_match_what_the_binaries_print() {
    let dir = root().join("chapters/transcripts");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default().to_owned();
        let (bin, args) = command_of(&first);
        let out = crate::cmd(&bin).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{first}: {out:?}");
        let actual = format!("{first}\n{}", String::from_utf8_lossy(&out.stdout));
        if overwrite {
            fs::write(&path, &actual).unwrap();
        } else if mask(&actual) != mask(&text) {
            // snapbox shows the difference line by line.
            snapbox::assert_data_eq!(mask(&actual), mask(&text));
        }
    }
}

/// The mask hides ports, timings and large counts, and nothing else.
#[test]
fn mask_hides_only_what_varies() {
    assert_eq!(
        mask("at ('127.0.0.1', 40123) after 12 ms"),
        "at ('127.0.0.1', [N]) after [MS] ms"
    );
    assert_eq!(
        mask("queue     106068 bytes, 7.1 MiB/s, 82%"),
        "queue [N] bytes, [RATE] MiB/s, [PCT]%"
    );
    assert_eq!(mask("16 bytes sent"), "16 bytes sent");
    assert_eq!(
        mask("holds in hand:    72; + in hand 1008"),
        "holds in hand: [N]; + in hand [N]"
    );
}
