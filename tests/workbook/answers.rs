//! The instructors' build: `mdbook-answers` (tools/mdbook_answers.rs), run
//! by mdBook as a preprocessor, takes every answer out of the book when
//! `preprocessor.answers.strip` is set, and `mdbook-answers key` collects
//! them into an answer key.

use std::fs;

use serde_json::{Value, json};

use crate::book::root;
use crate::cmd;

/// A chapter as mdBook 0.5 sends it: an exercise with its answer, and the
/// same in a sub-chapter.
const CHAPTER: &str = "# 99 test: a chapter\n\n\
    ## Exercises\n\n\
    1. **A question.** What happens?\n   \
    <details><summary>Answer</summary>\n\n   \
    The secret answer.\n   \
    </details>\n\n\
    2. **Another.** And then?\n\n   \
    <details><summary>Answer</summary>\n\n   \
    The second secret.\n\n   \
    </details>\n\n\
    After the exercises.\n";

fn chapter(name: &str, content: &str, sub_items: Vec<Value>) -> Value {
    json!({"Chapter": {
        "name": name, "content": content, "number": null,
        "sub_items": sub_items, "path": "99-test.md",
        "source_path": "99-test.md", "parent_names": []
    }})
}

/// mdBook's input to a preprocessor, `[context, book]`, with `answers`
/// configured as given.
fn input(answers: Value) -> String {
    let ctx = json!({
        "root": "/", "renderer": "html", "mdbook_version": "0.5.4",
        "config": {"book": {}, "preprocessor": {"answers": answers}},
    });
    let book = json!({"items": [
        chapter("outer", CHAPTER, vec![chapter("inner", CHAPTER, vec![])]),
        "Separator",
        {"PartTitle": "Appendix"},
    ]});
    serde_json::to_string(&json!([ctx, book])).unwrap()
}

/// Runs the preprocessor on `stdin`; its exit status and stdout.
fn preprocess(stdin: String) -> (Option<i32>, String) {
    let out = cmd("mdbook-answers").stdin(stdin).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (out.status.code(), text)
}

/// The content of every chapter in a book, outer first.
fn contents(book: &Value) -> Vec<String> {
    let outer = &book["items"][0]["Chapter"];
    let inner = &outer["sub_items"][0]["Chapter"];
    [outer, inner]
        .iter()
        .map(|c| c["content"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn stripping_removes_every_answer_and_keeps_the_questions() {
    let (status, out) = preprocess(input(json!({"strip": true})));
    assert_eq!(status, Some(0), "{out}");
    let book: Value = serde_json::from_str(&out).unwrap();
    for content in contents(&book) {
        assert!(!content.contains("<details"), "{content}");
        assert!(!content.contains("</details>"), "{content}");
        assert!(!content.contains("secret"), "{content}");
        for kept in ["1. **A question.**", "2. **Another.**", "After the"] {
            assert!(content.contains(kept), "lost {kept:?}:\n{content}");
        }
    }
    assert_eq!(book["items"][1], "Separator");
    assert_eq!(book["items"][2]["PartTitle"], "Appendix");
    // The environment variable's value arrives as a string when it is not
    // JSON; "true" strips as well.
    let (_, out) = preprocess(input(json!({"strip": "true"})));
    assert!(!out.contains("secret"));
}

#[test]
fn without_strip_the_book_is_unchanged() {
    for answers in [json!({}), json!({"strip": false})] {
        let (status, out) = preprocess(input(answers));
        assert_eq!(status, Some(0), "{out}");
        let book: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(contents(&book), [CHAPTER, CHAPTER]);
    }
}

#[test]
fn an_answer_that_never_closes_fails_the_build() {
    let open = CHAPTER.replacen("   </details>\n", "", 1);
    let stdin = input(json!({"strip": true})).replace(
        &serde_json::to_string(CHAPTER).unwrap(),
        &serde_json::to_string(&open).unwrap(),
    );
    let out = cmd("mdbook-answers").stdin(stdin).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no </details>"), "{err}");
    assert!(out.stdout.is_empty(), "no book on stdout after an error");
}

#[test]
fn mdbook_may_run_it_for_any_renderer() {
    let out = cmd("mdbook-answers").args(["supports", "html"]).output();
    assert_eq!(out.unwrap().status.code(), Some(0));
}

#[test]
fn the_key_has_each_question_with_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let summary = "# Summary\n\n- [Intro](intro.md)\n- [99 test](99-test.md)\n";
    fs::write(dir.path().join("SUMMARY.md"), summary).unwrap();
    fs::write(dir.path().join("intro.md"), "# Intro\n\nNo exercises.\n")
        .unwrap();
    fs::write(dir.path().join("99-test.md"), CHAPTER).unwrap();
    let out = cmd("mdbook-answers")
        .arg("key")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap();
    let expected = "## 99 test: a chapter\n\n\
        1. **A question.** What happens?\n\n   \
        **Answer.**\n\n   \
        The secret answer.\n\n\
        2. **Another.** And then?\n\n   \
        **Answer.**\n\n   \
        The second secret.\n\n";
    assert!(key.ends_with(expected), "{key}");
    assert!(
        !key.contains("Intro"),
        "a chapter without answers is left out"
    );
    assert!(!key.contains("<summary>") && !key.contains("After the"));
}

/// The key of the real book holds as many answers as its chapters have.
#[test]
fn the_books_key_holds_every_answer() {
    let out = cmd("mdbook-answers")
        .arg("key")
        .arg(root().join("chapters"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap();
    let mut in_chapters = 0;
    for entry in fs::read_dir(root().join("chapters")).unwrap() {
        let text =
            fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        in_chapters += text
            .lines()
            .filter(|l| l.trim() == "<details><summary>Answer</summary>")
            .count();
    }
    assert!(in_chapters > 0, "the chapters have no answers to collect");
    assert_eq!(key.matches("**Answer.**").count(), in_chapters, "{key}");
}
