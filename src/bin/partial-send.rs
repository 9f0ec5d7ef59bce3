//! Experiment 03 `partial-send`: see `src/experiments/partial_send.rs` and its chapter.
//!
//! Run: `cargo run --bin partial-send` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("partial-send")
}
