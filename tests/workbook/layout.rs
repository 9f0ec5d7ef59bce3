//! The house's plan, checked: imports run one way between the three rooms
//! (`lab` ← `experiments` ← `workbook`), no two files import each other
//! through any chain, and no file outside an experiment grows past 400
//! lines. It reads the `crate::`, `super::` and `self::` paths of every
//! file under `src/` (the bins excepted), as `use` lines and inline, and
//! resolves each to the file that defines the module; a module's children
//! are its `mod x;` lines and the files its `automod::dir!` names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::book::root;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `src/lab/kernel/mod.rs` is `["lab", "kernel"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// `a::{b, c::{d, e}}` as `["a::b", "a::c::d", "a::c::e"]`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_owned()];
    };
    let (prefix, inner) =
        (&tree[..open], &tree[open + 1..tree.rfind('}').unwrap()]);
    let (mut items, mut depth, mut cur) = (vec![], 0, String::new());
    for ch in inner.chars() {
        match ch {
            ',' if depth == 0 => items.push(std::mem::take(&mut cur)),
            '{' => (depth += 1, cur.push(ch)).1,
            '}' => (depth -= 1, cur.push(ch)).1,
            _ => cur.push(ch),
        }
    }
    items.push(cur);
    let mut out = vec![];
    for item in items.iter().filter(|i| !i.trim().is_empty()) {
        for e in expand(item) {
            out.push(if e == "self" {
                prefix.trim_end_matches(':').to_owned()
            } else {
                format!("{prefix}{e}")
            });
        }
    }
    out
}

/// The modules `automod::dir!(dir)` declares: one per `.rs` file in
/// `dir`, except `mod.rs`, `lib.rs` and `main.rs`.
fn automod_children(dir: &Path) -> Vec<String> {
    let mut files = vec![];
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "rs")
            && !matches!(stem.as_str(), "mod" | "lib" | "main")
        {
            files.push(stem);
        }
    }
    files
}

/// The files each file under `src/` imports (unit tests at a file's end,
/// after `#[cfg(test)]`, are not part of its design).
fn imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")));
    let by_module: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let comment = Regex::new(r"//[^\n]*").unwrap();
    let use_line = Regex::new(r"\buse\s+([^;]+);").unwrap();
    let inline =
        Regex::new(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
            .unwrap();
    let child =
        Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_0-9]+)\s*;")
            .unwrap();
    let automod = Regex::new(
        r#"automod::dir!\(\s*(?:pub(?:\([^)]*\))?\s+)?"([^"]+)"\s*\)"#,
    )
    .unwrap();
    let mut edges = BTreeMap::new();
    for file in &files {
        let me = module_of(src, file);
        let text = fs::read_to_string(file).unwrap();
        let text = comment.replace_all(&text, "");
        let text = text.split("#[cfg(test)]").next().unwrap();
        let mut children: BTreeSet<String> =
            child.captures_iter(text).map(|c| c[1].to_owned()).collect();
        // `automod::dir!("src/x")` declares a module for every file in
        // that directory (its path is from the package's root).
        for c in automod.captures_iter(text) {
            children
                .extend(automod_children(&src.parent().unwrap().join(&c[1])));
        }
        let mut paths: Vec<String> = use_line
            .captures_iter(text)
            .flat_map(|c| expand(&c[1]))
            .collect();
        let body = use_line.replace_all(text, "");
        paths.extend(
            inline
                .captures_iter(&body)
                .map(|c| format!("{}{}", &c[1], &c[2])),
        );
        let mut targets = BTreeSet::new();
        for path in paths {
            let parts: Vec<&str> =
                path.split("::").filter(|p| !p.is_empty()).collect();
            let full: Vec<String> = match parts.first() {
                Some(&"crate") => {
                    parts[1..].iter().map(|s| s.to_string()).collect()
                }
                Some(&"self") => me
                    .iter()
                    .cloned()
                    .chain(parts[1..].iter().map(|s| s.to_string()))
                    .collect(),
                Some(&"super") => {
                    let ups =
                        parts.iter().take_while(|p| **p == "super").count();
                    let base = &me[..me.len().saturating_sub(ups)];
                    base.iter()
                        .cloned()
                        .chain(parts[ups..].iter().map(|s| s.to_string()))
                        .collect()
                }
                Some(first) if children.contains(*first) => me
                    .iter()
                    .cloned()
                    .chain(parts.iter().map(|s| s.to_string()))
                    .collect(),
                _ => continue,
            };
            let target = (1..=full.len())
                .rev()
                .find_map(|n| by_module.get(&full[..n]));
            if let Some(t) = target.filter(|t| *t != file) {
                targets.insert(t.clone());
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

/// Every chain of imports that comes back to where it started, as the
/// files of each strongly connected set of two or more (Tarjan).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a PathBuf) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for t in &w.edges[v] {
            if !w.index.contains_key(t) {
                visit(w, t);
                let low = w.low[v].min(w.low[t]);
                w.low.insert(v, low);
            } else if w.stack.contains(&t) {
                let low = w.low[v].min(w.index[t]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut set = vec![];
            while let Some(t) = w.stack.pop() {
                set.push(t.clone());
                if t == v {
                    break;
                }
            }
            if set.len() > 1 {
                w.out.push(set);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        out: vec![],
    };
    for v in edges.keys() {
        if !w.index.contains_key(v) {
            visit(&mut w, v);
        }
    }
    w.out
}

/// No two files under `src/` import each other, directly or through others.
#[test]
fn no_import_circle_between_files() {
    let found = circles(&imports(&root().join("src")));
    assert!(found.is_empty(), "import circles: {found:#?}");
}

/// The checker finds a circle where there is one: two files that import
/// each other, written to a scratch tree.
#[test]
fn a_circle_between_two_files_is_found() {
    let dir =
        std::env::temp_dir().join(format!("layout-{}", std::process::id()));
    fs::create_dir_all(dir.join("lab")).unwrap();
    fs::write(dir.join("lib.rs"), "pub mod lab;\n").unwrap();
    fs::write(dir.join("lab/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    fs::write(
        dir.join("lab/a.rs"),
        "use crate::lab::b::B;\npub struct A;\n",
    )
    .unwrap();
    fs::write(dir.join("lab/b.rs"), "use super::{a::A};\npub struct B;\n")
        .unwrap();
    let found = circles(&imports(&dir));
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 2, "{found:?}");
}

/// A module declared by `automod::dir!` is a child like one declared by
/// `mod x;`: the checker follows a path that starts with its name, and
/// finds the circle a parent and its child make through it.
#[test]
fn a_circle_through_a_child_automod_declares_is_found() {
    let dir = std::env::temp_dir()
        .join(format!("layout-automod-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(src.join("lab")).unwrap();
    fs::write(src.join("lib.rs"), "pub mod lab;\n").unwrap();
    fs::write(
        src.join("lab/mod.rs"),
        "automod::dir!(pub \"src/lab\");\npub use a::A;\npub struct B;\n",
    )
    .unwrap();
    fs::write(src.join("lab/a.rs"), "use crate::lab::B;\npub struct A;\n")
        .unwrap();
    let found = circles(&imports(&src));
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 2, "{found:?}");
}

/// Imports run one way: `lab` imports neither the experiments nor the
/// workbook's machinery, the experiments do not import the machinery, and
/// the kernel's view imports no error, name or report of ours.
#[test]
fn imports_run_one_way_between_the_rooms() {
    let src = root().join("src");
    let mut wrong = vec![];
    for (file, targets) in imports(&src) {
        let room =
            |f: &Path| module_of(&src, f).first().cloned().unwrap_or_default();
        let below: &[&str] = match room(&file).as_str() {
            "lab" => &["lab"],
            "experiments" => &["lab", "experiments"],
            _ => continue,
        };
        let kernel =
            module_of(&src, &file).get(1).is_some_and(|m| m == "kernel");
        for t in targets {
            let outside = !below.contains(&room(&t).as_str());
            let into = module_of(&src, &t);
            let kernel_up = kernel
                && into.get(1).is_some_and(|m| {
                    ["error", "names", "report"].contains(&m.as_str())
                });
            if outside || kernel_up {
                wrong.push(format!("{} -> {}", file.display(), t.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the plan:\n{}",
        wrong.join("\n")
    );
}

/// One job per file: no file under `src/` is over 400 lines, except an
/// experiment's own file (which holds its whole story, in order).
#[test]
fn no_file_outside_an_experiment_is_over_400_lines() {
    let src = root().join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let experiments = src.join("experiments");
    let big: Vec<String> = files
        .iter()
        .filter(|f| f.parent() != Some(experiments.as_path()))
        .map(|f| (f, fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > 400)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(big.is_empty(), "over 400 lines: {big:?}");
}

/// The files `automod::dir!` declares are formatted: `cargo fmt` follows
/// only `mod x;` lines, so it does not reach them (dtolnay/automod#25),
/// and this test runs rustfmt on them instead (skipped, with a note, where
/// rustfmt is not installed).
#[test]
fn files_automod_declares_are_formatted() {
    let rustfmt = std::env::var("RUSTFMT").unwrap_or("rustfmt".into());
    let installed = std::process::Command::new(&rustfmt)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("note: no rustfmt, so the experiments' format is unchecked");
        return;
    }
    let dirs = ["src/experiments", "tests/workbook/experiments"];
    let mut files: Vec<PathBuf> = vec![];
    for dir in dirs {
        files.extend(
            automod_children(&root().join(dir))
                .iter()
                .map(|m| root().join(dir).join(format!("{m}.rs"))),
        );
    }
    assert!(files.len() > 2, "no experiments found in {dirs:?}");
    let out = std::process::Command::new(&rustfmt)
        .args(["--check", "--edition", "2024"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not formatted (cargo fmt does not reach these files); run\n  \
         rustfmt --edition 2024 src/experiments/*.rs \
         tests/workbook/experiments/*.rs\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
