//! Experiment 07 `bind-interface`: see `src/experiments/bind_interface.rs` and its chapter.
//!
//! Run: `cargo run --bin bind-interface` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("bind-interface")
}
