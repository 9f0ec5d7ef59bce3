//! Experiment 10: the buffer-fill deadlock. See `src/experiments/deadlock.rs`
//! and chapter 10.
//!
//! Run: `cargo run --bin deadlock`

fn main() -> std::process::ExitCode {
    tcp_workbook::experiments::deadlock::main(std::env::args_os().collect())
}
