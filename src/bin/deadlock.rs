//! Experiment 10 `deadlock`: see `src/experiments/deadlock.rs` and its chapter.
//!
//! Run: `cargo run --bin deadlock` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("deadlock")
}
