//! Experiment 05 `bind-port`: see `src/experiments/bind_port.rs` and its chapter.
//!
//! Run: `cargo run --bin bind-port` (`-- --help` for its knobs and roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("bind-port")
}
