//! The book's scripts as peers: a Python 3 peer of our own
//! (`tests/peers/book_peer.py`) that follows the protocol of
//! `tcp_sixteen.py` and `tcp_deadlock.py`, against our servers and our
//! clients. Skipped, with a message, where python3 is absent.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::{Background, PROCESS_DEADLINE, cmd};

fn python() -> Option<PathBuf> {
    let found = Command::new("python3").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => Some("python3".into()),
        _ => {
            eprintln!("python3 not found: the book-peer tests are skipped");
            None
        }
    }
}

fn peer(python: &PathBuf, args: &[&str]) -> Command {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/book_peer.py");
    let mut c = Command::new(python);
    c.arg(script).args(args);
    c
}

fn output_within(mut c: Command) -> Output {
    use wait_timeout::ChildExt;
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if child.wait_timeout(PROCESS_DEADLINE).unwrap().is_none() {
        let _ = child.kill();
        panic!("the Python peer did not finish in time");
    }
    child.wait_with_output().unwrap()
}

/// A Python server process, killed and waited for when dropped.
struct PyServer(Option<std::process::Child>);

impl Drop for PyServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the Python server role and returns it with the port it chose.
fn python_server(python: &PathBuf, role: &str) -> (PyServer, u16) {
    let portfile = std::env::temp_dir().join(format!(
        "book-peer-{}-{role}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&portfile);
    let server = PyServer(Some(
        peer(python, &[role, portfile.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(port) = std::fs::read_to_string(&portfile) {
            let _ = std::fs::remove_file(&portfile);
            return (server, port.trim().parse().unwrap());
        }
        assert!(Instant::now() < deadline, "the Python server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (at most the process deadline) for the Python server to finish.
fn finish(mut server: PyServer) -> Output {
    use wait_timeout::ChildExt;
    let mut child = server.0.take().expect("a running server");
    if child.wait_timeout(PROCESS_DEADLINE).unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the Python server did not finish in time");
    }
    child.wait_with_output().unwrap()
}

/// The book's sixteen-octet client, in Python, against every server of
/// ours that speaks `tcp_sixteen.py`'s protocol.
#[test]
fn python_sixteen_client_against_our_servers() {
    let Some(py) = python() else { return };
    for name in ["sixteen", "reuseaddr", "partial-recv"] {
        let (mut server, port) = Background::server(name);
        let out =
            output_within(peer(&py, &["sixteen-client", &port.to_string()]));
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "client got b'Farewell, client'\n",
            "{name}"
        );
        assert_eq!(server.wait_code(), 0, "{name}");
    }
}

/// Every client of ours that speaks `tcp_sixteen.py`'s protocol, against
/// the book's server, in Python.
#[test]
fn our_sixteen_clients_against_a_python_server() {
    let Some(py) = python() else { return };
    for name in ["sixteen", "reuseaddr", "listening-socket"] {
        let (server, port) = python_server(&py, "sixteen-server");
        let ours = cmd(name)
            .args(["client", "127.0.0.1", "-p", &port.to_string()])
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), Some(0), "{name}: {ours:?}");
        let theirs = finish(server);
        assert!(theirs.status.success(), "{name}: {theirs:?}");
        assert_eq!(
            String::from_utf8_lossy(&theirs.stdout),
            "server got b'Hi there, server'\n",
            "{name}"
        );
    }
}

/// The book's deadlock client, in Python, with a byte count small enough
/// not to deadlock, against our server: every byte comes back upper-cased.
#[test]
fn python_deadlock_client_against_our_server() {
    let Some(py) = python() else { return };
    let (mut server, port) = Background::server("deadlock");
    let out = output_within(peer(
        &py,
        &["deadlock-client", &port.to_string(), "1600"],
    ));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "client received 1600 bytes\n"
    );
    assert_eq!(server.wait_code(), 0);
}

/// Our deadlock client against the book's server, in Python.
#[test]
fn our_deadlock_client_against_a_python_server() {
    let Some(py) = python() else { return };
    let (server, port) = python_server(&py, "deadlock-server");
    let ours = cmd("deadlock")
        .args(["client", "127.0.0.1", "1600", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), Some(0), "{ours:?}");
    assert!(
        String::from_utf8_lossy(&ours.stdout)
            .contains("1600 bytes received, 0 of them wrong"),
        "{ours:?}"
    );
    let theirs = finish(server);
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout),
        "server processed 1600 bytes\n"
    );
}
