//! Experiment 11 `loopback-connect`: see `src/experiments/loopback_connect.rs`.

fn main() -> std::process::ExitCode {
    tcp_workbook::workbook::registry::main("loopback-connect")
}
