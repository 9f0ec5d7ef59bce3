//! Experiment 04 `listening-socket`: see
//! `src/experiments/listening_socket.rs` and its chapter.
//!
//! Run: `cargo run --bin listening-socket` (`-- --help` for its roles).

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("listening-socket")
}
