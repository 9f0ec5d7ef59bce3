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

/// Every server of ours that speaks `tcp_sixteen.py`'s protocol.
const SIXTEEN_SERVERS: [&str; 5] = [
    "sixteen",
    "reuseaddr",
    "partial-recv",
    "listening-socket",
    "bind-interface",
];

/// Every client of ours that speaks `tcp_sixteen.py`'s protocol.
const SIXTEEN_CLIENTS: [&str; 4] =
    ["sixteen", "reuseaddr", "listening-socket", "bind-interface"];

/// The book's sixteen-octet client, in Python, against every server of
/// ours that speaks `tcp_sixteen.py`'s protocol: the reply arrives whole,
/// and the server ends the connection cleanly, never with a reset (which a
/// server that closes with the client's octets unread would send).
#[test]
fn python_sixteen_client_against_our_servers() {
    let Some(py) = python() else { return };
    for name in SIXTEEN_SERVERS {
        let (mut server, port) = Background::server(name);
        let out =
            output_within(peer(&py, &["sixteen-client", &port.to_string()]));
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "client got b'Farewell, client', then end of stream\n",
            "{name}"
        );
        assert_eq!(server.wait_code(), 0, "{name}: {}", server.stderr());
    }
}

/// Every client of ours that speaks `tcp_sixteen.py`'s protocol, against
/// the book's server, in Python: it sends the sixteen octets and prints
/// the reply.
#[test]
fn our_sixteen_clients_against_a_python_server() {
    let Some(py) = python() else { return };
    for name in SIXTEEN_CLIENTS {
        let (server, port) = python_server(&py, "sixteen-server");
        let ours = cmd(name)
            .args(["client", "127.0.0.1", "-p", &port.to_string()])
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), Some(0), "{name}: {ours:?}");
        assert!(
            String::from_utf8_lossy(&ours.stdout)
                .contains("b'Farewell, client'\n"),
            "{name}: {ours:?}"
        );
        let theirs = finish(server);
        assert!(theirs.status.success(), "{name}: {theirs:?}");
        assert_eq!(
            String::from_utf8_lossy(&theirs.stdout),
            "server got b'Hi there, server'\n",
            "{name}"
        );
    }
}

/// The byte counts the deadlock tests send: none (the book's client takes
/// 0), a few, and 6,000,000, which the book's two scripts exchange without
/// a stall on Linux's default buffers, and so must our roles, which keep
/// the OS's defaults as the scripts do.
const DEADLOCK_BYTES: [&str; 3] = ["0", "1600", "6000000"];

/// The book's deadlock client, in Python, against our server: every byte
/// comes back upper-cased, 6,000,000 of them included.
#[test]
fn python_deadlock_client_against_our_server() {
    let Some(py) = python() else { return };
    for bytes in DEADLOCK_BYTES {
        let (mut server, port) = Background::server("deadlock");
        let out = output_within(peer(
            &py,
            &["deadlock-client", &port.to_string(), bytes],
        ));
        assert!(out.status.success(), "{bytes}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("client received {bytes} bytes\n")
        );
        assert_eq!(server.wait_code(), 0, "{bytes}: {}", server.stderr());
    }
}

/// Our deadlock client against the book's server, in Python: every byte
/// comes back, 6,000,000 of them included, with no stall, and the client
/// prints the book's line about the first data it received.
#[test]
fn our_deadlock_client_against_a_python_server() {
    let Some(py) = python() else { return };
    for bytes in DEADLOCK_BYTES {
        let (server, port) = python_server(&py, "deadlock-server");
        let ours = cmd("deadlock")
            .args(["client", "127.0.0.1", bytes, "-p", &port.to_string()])
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), Some(0), "{bytes}: {ours:?}");
        let said = String::from_utf8_lossy(&ours.stdout);
        assert!(
            said.contains(&format!("{bytes} bytes received, 0 of them wrong")),
            "{bytes}: {ours:?}"
        );
        let first = match bytes {
            "0" => "  The first data received says b''\n",
            _ => "  The first data received says b'CAPITALIZE",
        };
        assert!(said.contains(first), "{bytes}: {ours:?}");
        let theirs = finish(server);
        assert!(theirs.status.success(), "{bytes}: {theirs:?}");
        assert_eq!(
            String::from_utf8_lossy(&theirs.stdout),
            format!("server processed {bytes} bytes\n")
        );
    }
}
