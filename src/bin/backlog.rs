//! Experiment 09 `backlog`: see `src/experiments/backlog.rs` and its chapter.
//!
//! Run: `cargo run --bin backlog` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("backlog")
}
