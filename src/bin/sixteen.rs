//! Experiment 01 `sixteen`: see `src/experiments/sixteen.rs` and its chapter.
//!
//! Run: `cargo run --bin sixteen` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("sixteen")
}
