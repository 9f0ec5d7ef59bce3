//! `mdbook-answers`: the book without its answers, for handing out, and the
//! answers on their own, as a key.
//!
//! Each exercise's answer sits in the chapter under its question, in a block
//! that opens on a line `<details><summary>Answer</summary>` and closes on a
//! line `</details>`. This program is two things:
//!
//! - an [mdBook preprocessor](https://rust-lang.github.io/mdBook/for_developers/preprocessors.html):
//!   with `preprocessor.answers.strip = true` in the configuration it removes
//!   every answer block from every chapter (and so from the pages, the print
//!   page and the search index); without it, it changes nothing. book.toml
//!   does not name it, so the ordinary `mdbook build` never runs it; the
//!   students' build names it in an environment variable (README, "For
//!   instructors who fork it"):
//!
//!   ```console
//!   MDBOOK_PREPROCESSOR__ANSWERS='{"command": "cargo run --quiet --bin mdbook-answers", "strip": true}' mdbook build -d book-students
//!   ```
//!
//! - `mdbook-answers key [SRC]` prints the answer key as Markdown: for each
//!   chapter listed in `SRC/SUMMARY.md` (`SRC` is `chapters` by default),
//!   its title, and each question with its answer.
//!
//! An answer block that never closes is an error either way, so that a
//! typo cannot leak the rest of a chapter into the students' book or drop
//! it from the key.
//!
//! It lives outside `src/bin/` because every binary there is an experiment.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;

/// The line that opens an answer (trimmed).
const OPEN: &str = "<details><summary>Answer</summary>";
/// The line that closes it (trimmed).
const CLOSE: &str = "</details>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        // mdBook asks first whether a renderer is supported: every one is.
        Some("supports") => Ok(()),
        Some("key") => {
            let src = args.get(1).map_or("chapters", String::as_str);
            key(std::path::Path::new(src)).map(|k| print!("{k}"))
        }
        None => preprocess(),
        Some(other) => Err(anyhow::anyhow!(
            "unknown command {other:?}; hint: run by mdBook with no \
             arguments, or `mdbook-answers key [SRC]` for the answer key"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: mdbook-answers: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// mdBook's protocol: `[context, book]` as JSON on stdin, the book back on
/// stdout.
fn preprocess() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("read mdBook's input from stdin")?;
    let (ctx, mut book): (Value, Value) =
        serde_json::from_str(&input).context("parse mdBook's input")?;
    let strip = &ctx["config"]["preprocessor"]["answers"]["strip"];
    if strip.as_bool() == Some(true) || strip.as_str() == Some("true") {
        strip_chapters(&mut book)?;
    }
    serde_json::to_writer(std::io::stdout().lock(), &book)
        .context("write the book to stdout")
}

/// Removes the answers from every chapter's `content`, at any depth.
fn strip_chapters(item: &mut Value) -> anyhow::Result<()> {
    match item {
        Value::Object(map) => {
            if let Some(chapter) = map.get_mut("Chapter") {
                let name = chapter_name(chapter);
                if let Some(Value::String(content)) = chapter.get_mut("content")
                {
                    *content = strip(content).with_context(|| name)?;
                }
            }
            for value in map.values_mut() {
                strip_chapters(value)?;
            }
        }
        Value::Array(items) => {
            for value in items {
                strip_chapters(value)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn chapter_name(chapter: &Value) -> String {
    let name = chapter["name"].as_str().unwrap_or("a chapter");
    format!("chapter {name:?}")
}

/// One answer: the question it answers (the numbered list item it sits in,
/// up to the answer), the answer's lines as the chapter has them, and the
/// indentation of its opening line.
#[derive(Debug)]
struct Answer<'a> {
    question: Vec<&'a str>,
    answer: Vec<&'a str>,
    indent: &'a str,
}

/// Splits a chapter into the text without its answers, and the answers.
fn split(text: &str) -> anyhow::Result<(String, Vec<Answer<'_>>)> {
    let mut kept = String::new();
    let mut answers = vec![];
    let mut question: Vec<&str> = vec![];
    let mut lines = text.split_inclusive('\n').enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim() != OPEN {
            // A numbered item at the left margin starts a new question; a
            // heading, or a paragraph at the margin after a blank line,
            // ends it.
            let item = line.split_once(". ").is_some_and(|(num, _)| {
                !num.is_empty() && num.chars().all(|c| c.is_ascii_digit())
            });
            let after_blank =
                question.last().is_none_or(|l| l.trim().is_empty());
            let margin = !line.starts_with(char::is_whitespace);
            if item || line.starts_with('#') || (after_blank && margin) {
                question.clear();
            }
            question.push(line.trim_end());
            kept.push_str(line);
            continue;
        }
        let mut answer = vec![];
        loop {
            match lines.next() {
                Some((_, l)) if l.trim() == CLOSE => break,
                Some((_, l)) if l.trim() != OPEN => answer.push(l.trim_end()),
                _ => bail!(
                    "line {}: {OPEN} has no {CLOSE} before the next answer \
                     or the end; hint: close the answer on a line of its own",
                    n + 1
                ),
            }
        }
        while question.last().is_some_and(|l| l.trim().is_empty()) {
            question.pop();
        }
        let question = std::mem::take(&mut question);
        let indent = &line[..line.len() - line.trim_start().len()];
        answers.push(Answer {
            question,
            answer,
            indent,
        });
    }
    Ok((kept, answers))
}

/// The chapter's text without its answer blocks.
fn strip(text: &str) -> anyhow::Result<String> {
    split(text).map(|(kept, _)| kept)
}

/// The answer key of the book whose sources are in `src`, as Markdown.
fn key(src: &std::path::Path) -> anyhow::Result<String> {
    let summary_path = src.join("SUMMARY.md");
    let summary = std::fs::read_to_string(&summary_path)
        .with_context(|| format!("read {}", summary_path.display()))?;
    let mut out = String::from(
        "# Answer key\n\n\
         The exercises of every chapter with their answers, collected from \
         the book's `<details>` blocks by `mdbook-answers key`.\n",
    );
    // Every link target in SUMMARY.md, in order: `[title](file.md)`.
    for file in summary
        .split("](")
        .skip(1)
        .filter_map(|s| s.split_once(')'))
    {
        let path = src.join(file.0);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?;
        let (_, answers) =
            split(&text).with_context(|| path.display().to_string())?;
        if answers.is_empty() {
            continue;
        }
        let title = text.lines().next().unwrap_or_default();
        out.push_str(&format!("\n#{title}\n"));
        for a in answers {
            out.push('\n');
            for line in &a.question {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str(&format!("\n{}**Answer.**\n", a.indent));
            for line in &a.answer {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}
