//! Experiment 01: the sixteen-octet client and server. See
//! `src/experiments/sixteen.rs` and chapter 01.
//!
//! Run: `cargo run --bin sixteen`

fn main() -> std::process::ExitCode {
    tcp_workbook::experiments::sixteen::main(std::env::args_os().collect())
}
