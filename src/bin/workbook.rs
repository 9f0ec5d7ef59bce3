//! The workbook runner: `cargo run` runs every experiment and prints a table.
//! See `tcp_workbook::workbook::runner`.
//!
//! Run: `cargo run`, `cargo run -- list`, `cargo run -- run deadlock`,
//! `cargo run -- --json`.

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::runner::main(std::env::args_os().collect())
}
