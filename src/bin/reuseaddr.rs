//! Experiment 06 `reuseaddr`: see `src/experiments/reuseaddr.rs` and its chapter.
//!
//! Run: `cargo run --bin reuseaddr` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("reuseaddr")
}
