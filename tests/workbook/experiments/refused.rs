//! Experiment 08 `refused`: a connect() to a port nobody listens on, and
//! the manual client's four explanations (refused, connected, no answer
//! within the deadline, unreachable), each produced for real.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tcp_workbook::experiments::refused::Observed;
use tcp_workbook::lab::report::Errno;

use crate::{bin, cmd, report};

fn is(e: &Option<Errno>, name: &str, number: i32) -> bool {
    e.as_ref()
        .is_some_and(|e| (e.name.as_str(), e.number) == (name, number))
}

/// Both connects to the closed port are refused (the non-blocking one
/// after EINPROGRESS, with poll() reporting an error and SO_ERROR saying
/// ECONNREFUSED), and the listener on the other port never saw anything.
#[test]
fn connect_to_a_closed_port_is_refused_and_no_listener_is_told() {
    let out = cmd("refused").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("refused", true));
    let o = r.measurements;
    assert!(is(&o.blocking_errno, "ECONNREFUSED", 111), "{o:?}");
    assert!(is(&o.nonblocking_errno, "EINPROGRESS", 115), "{o:?}");
    assert!(is(&o.so_error, "ECONNREFUSED", 111), "{o:?}");
    for event in ["POLLOUT", "POLLERR", "POLLHUP"] {
        assert!(o.poll_events.iter().any(|e| e == event), "{o:?}");
    }
    assert!(is(&o.listener_accept_errno, "EAGAIN", 11), "{o:?}");
    assert_ne!(o.closed_address.port(), o.listener_address.port());
}

/// Runs `refused client 127.0.0.1 -p PORT ARGS...`.
fn client(port: u16, args: &[&str]) -> std::process::Output {
    cmd("refused")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap()
}

/// The manual client names ECONNREFUSED and exits 0, as the book predicts.
#[test]
fn manual_client_explains_a_refusal() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens there now
    let out = client(port, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ECONNREFUSED (errno 111)"), "{text}");
    assert!(text.contains("reset (RST)"), "{text}");
}

/// Where something listens, the manual client says so and exits 1.
#[test]
fn manual_client_explains_a_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = client(listener.local_addr().unwrap().port(), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": connected in "));
}

/// A SYN nobody answers (a listener whose backlog is full drops it, as a
/// firewall would): the client gives up at its deadline, says so, exits 1.
#[test]
fn manual_client_explains_silence_after_its_deadline() {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(0).unwrap(); // room for one connection, never accepted
    let at = listener.local_addr().unwrap().as_socket().unwrap();
    let _fills = TcpStream::connect_timeout(&at, Duration::from_secs(10));
    let out = client(at.port(), &["--timeout-ms", "300"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("EINPROGRESS (errno 115), no answer within 300 ms"),
        "{text}"
    );
}

/// In a new network namespace, whose loopback is down, 127.0.0.1 is
/// unreachable: ENETUNREACH, explained, exit 1. (Skipped where user
/// namespaces are not permitted.)
#[test]
fn manual_client_explains_an_unreachable_network() {
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net"])
        .arg(bin("refused"))
        .args(["client", "127.0.0.1", "-p", "1060"])
        .output();
    let Ok(out) = out.map_err(|e| eprintln!("no unshare: {e}")) else {
        return;
    };
    if out.stdout.is_empty() {
        eprintln!("no user namespaces here: {out:?}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ENETUNREACH (errno 101)"), "{text}");
    assert!(text.contains("no route to that host"), "{text}");
}
