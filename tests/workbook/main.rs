//! The workbook's integration tests: one crate (one link), a module per
//! experiment (in `experiments/`), plus the runner and the book's checks.
//!
//! Every process a test starts has a deadline, and every socket a test opens
//! is bound to port 0 on loopback, so tests run in parallel and never hang.

mod answers;
mod bad_input;
mod book;
mod book_wire;
mod capture;
mod check;
mod check_class;
mod check_more;
mod check_templates;
mod interrupts;
mod layout;
mod network;
mod outcomes;
mod python_peers;
mod robust;
mod runner;
mod schema;
mod workflows;

/// A module per experiment, `experiments/NAME.rs`, each declared by being
/// there.
mod experiments {
    automod::dir!("tests/workbook/experiments");
}

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Output;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tcp_workbook::lab::report::Report;

/// The longest any one test process may run before the test kills it.
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(60);

/// The path of a binary of this package, as Cargo built it for the tests
/// (Cargo builds every binary into the runner's directory before the tests).
pub fn bin(name: &str) -> PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_workbook"))
        .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "no binary {}", path.display());
    path
}

/// A command for one of this package's binaries, with the test deadline.
pub fn cmd(name: &str) -> snapbox::cmd::Command {
    snapbox::cmd::Command::new(bin(name)).timeout(PROCESS_DEADLINE)
}

/// A background process (a manual `server` role) that is killed when the
/// test ends, however it ends.
pub struct Background {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Background {
    /// Starts `bin args...` with its stdout read line by line on a thread.
    pub fn start(name: &str, args: &[&str]) -> Background {
        let mut child = Command::new(bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn background process");
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background { child, lines }
    }

    /// Starts `bin server -p 0 --once` and returns it with the port it
    /// printed in its first line (`Listening at ('127.0.0.1', PORT)`).
    pub fn server(name: &str) -> (Background, u16) {
        let server = Background::start(
            name,
            &[
                "server",
                "-p",
                "0",
                "--once",
                "--accept-timeout-ms",
                "10000",
            ],
        );
        let port = port_in(&server.next_line());
        (server, port)
    }

    /// The next line the process prints, waiting at most 10 s for it.
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the background process printed a line within 10 s")
    }

    /// Waits for the process to exit (at most 10 s) and returns its exit code.
    pub fn wait_code(&mut self) -> i32 {
        use wait_timeout::ChildExt;
        let status = self
            .child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait")
            .expect("the background process exited within 10 s");
        status.code().expect("exited, not killed by a signal")
    }

    /// Everything the process wrote to stderr (call after it exited).
    pub fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin args... -p PORT` (a manual client role) against a listening
/// socket of the test's own on a free loopback port, and returns the
/// connection it accepted (read and write timeouts set, 10 s) and the
/// thread that waits for the client's output.
pub fn client_against_raw_server(
    name: &'static str,
    args: &[&str],
) -> (TcpStream, JoinHandle<Output>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["-p".to_owned(), port]);
    let client =
        std::thread::spawn(move || cmd(name).args(&args).output().unwrap());
    tcp_workbook::lab::deadline::wait_readable(
        &listener,
        Duration::from_secs(10),
    )
    .unwrap();
    let (sc, _) = listener.accept().unwrap();
    sc.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sc.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    (sc, client)
}

/// Parses the port out of a line ending in a Python-style address, such as
/// `Listening at ('127.0.0.1', 40123)`.
pub fn port_in(line: &str) -> u16 {
    let tail = line.rsplit(", ").next().expect("an address tuple");
    tail.trim_end_matches(')')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {line:?}"))
}

/// Parses the only report a `--json` run printed, with its measurements as
/// the experiment's own `Observed` struct (or `serde_json::Value`).
pub fn report<M: serde::de::DeserializeOwned>(stdout: &[u8]) -> Report<M> {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_value(json_report(stdout)).unwrap_or_else(|e| {
        panic!("not a report of this experiment ({e}): {text}")
    })
}

/// Parses the only JSON object a `--json` run printed.
pub fn json_report(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "--json prints exactly one line, got: {text}"
    );
    serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Runs `name args...` and checks it is a usage error: exit status 2,
/// one line on stderr starting `error: `, no panic or backtrace. Returns
/// that line.
pub fn assert_usage_error(name: &str, args: &[&str]) -> String {
    let out = cmd(name).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {out:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{name} {args:?}: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{name} {args:?}: one line: {err}");
    assert!(err.starts_with("error: "), "{name} {args:?}: {err}");
    err.into_owned()
}

/// True if `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}
