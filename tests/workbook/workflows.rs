//! The GitHub Actions workflows a fork gets: they parse as YAML, the CI
//! workflow runs `.ci/run` and nothing else of its own, and the book
//! workflow builds with the mdBook version `.ci/run` pins.

use std::fs;
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

fn workflow(name: &str) -> (String, Yaml) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".github/workflows")
        .join(name);
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{name}: one document");
    (text, docs.remove(0))
}

/// Every `run:` line of a job's steps.
fn runs(job: &Yaml) -> Vec<String> {
    job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

/// The CI workflow runs on ubuntu-latest and its only command is `.ci/run`.
#[test]
fn ci_workflow_runs_dot_ci_run_and_nothing_else() {
    let (_, ci) = workflow("ci.yml");
    let job = &ci["jobs"]["ci"];
    assert_eq!(job["runs-on"].as_str(), Some("ubuntu-latest"));
    let runs = runs(job);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].ends_with("bash .ci/run"), "{runs:?}");
    assert!(runs[0].contains("CI=true"), "{runs:?}");
}

/// The book workflow installs the mdBook version pinned in `.ci/run`,
/// builds the book, and deploys it to GitHub Pages.
#[test]
fn book_workflow_builds_with_the_pinned_mdbook_and_deploys() {
    let (text, book) = workflow("book.yml");
    let build = runs(&book["jobs"]["build"]).join("\n");
    assert!(build.contains("MDBOOK_VERSION"), "reads the pin: {build}");
    assert!(build.contains("mdbook build"), "{build}");
    let ci = fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/run"),
    )
    .unwrap();
    assert!(ci.lines().any(|l| l.starts_with("MDBOOK_VERSION=")));
    assert!(text.contains("actions/deploy-pages@"), "deploys to Pages");
    assert_eq!(book["permissions"]["pages"].as_str(), Some("write"));
}
