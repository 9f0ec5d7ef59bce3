//! Experiment 02 `partial-recv`: see `src/experiments/partial_recv.rs` and its chapter.
//!
//! Run: `cargo run --bin partial-recv` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("partial-recv")
}
