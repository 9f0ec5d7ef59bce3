//! Experiment 08 `refused`: see `src/experiments/refused.rs` and its chapter.
//!
//! Run: `cargo run --bin refused` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("refused")
}
