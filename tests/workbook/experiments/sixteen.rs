//! Experiment 01 `sixteen`: the default run, the book's `recvall()`, and the
//! manual roles speaking to real processes and to raw sockets of the test's
//! own (wire compatibility with the book's `tcp_sixteen.py`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use tcp_workbook::experiments::sixteen::{FAREWELL, HELLO, Observed, recv_all};

use crate::{Background, client_against_raw_server, cmd, port_in, report};

const T: Duration = Duration::from_secs(10);

/// The default run exchanges the book's two messages, and the kernel names
/// the sockets as the book says: the connected socket sits on the
/// listening port, and its peer is the name the client's kernel assigned.
#[test]
fn default_run_joins_the_listening_port_to_the_clients_name() {
    let out = cmd("sixteen").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("exchanged", true));
    let o = r.measurements;
    assert_eq!(o.server_received.as_bytes(), HELLO);
    assert_eq!(o.client_received.as_bytes(), FAREWELL);
    assert_eq!(o.connected_name, o.listening_address);
    assert_eq!(o.connected_peer, o.client_name);
    assert_eq!(o.accepted_from, o.client_name);
    assert_ne!(
        o.client_name.port(),
        o.listening_address.port(),
        "the client got a port of its own"
    );
}

/// A reader that hands out at most `step` bytes per read, like a recv()
/// that returns whatever part of the message has arrived.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// recv_all keeps calling read until all sixteen octets are in, however
/// they were split, and reads no further.
#[test]
fn recv_all_assembles_short_reads_and_leaves_the_rest() {
    for step in [1, 3, 7, 16] {
        let mut src = Trickle {
            data: b"Hi there, serverAND MORE",
            step,
        };
        assert_eq!(recv_all(&mut src, 16).unwrap(), HELLO, "step {step}");
        assert_eq!(src.data, b"AND MORE", "step {step}");
    }
}

/// An early end of stream fails with the book's message and the count.
#[test]
fn recv_all_reports_early_close() {
    let mut src = Trickle {
        data: b"Hi there",
        step: 3,
    };
    let err = recv_all(&mut src, 16).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        err.to_string(),
        "was expecting 16 bytes but only received 8 bytes before the socket closed"
    );
}

/// Our server and our client, as two processes, complete the exchange; the
/// server sees the client's assigned socket name as its peer.
#[test]
fn manual_server_and_client_talk_across_two_processes() {
    let (mut server, port) = Background::server("sixteen");
    let out = cmd("sixteen")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let client_said = String::from_utf8_lossy(&out.stdout);
    let client_port = port_in(client_said.lines().next().unwrap());
    assert_eq!(server.wait_code(), 0);
    assert_eq!(server.next_line(), "Waiting to accept a new connection");
    assert_eq!(port_in(&server.next_line()), client_port, "accepted peer");
    assert_eq!(
        port_in(&server.next_line()),
        port,
        "connected socket's name"
    );
    assert_eq!(port_in(&server.next_line()), client_port, "its peer");
}

/// The server speaks the book's protocol: a raw socket that sends sixteen
/// octets gets `Farewell, client` and then end of stream.
#[test]
fn server_answers_a_raw_book_client() {
    let (_server, port) = Background::server("sixteen");
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s.write_all(HELLO).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, FAREWELL, "exactly the reply, then the server closed");
}

/// The client speaks the book's protocol: a raw listening socket receives
/// exactly `Hi there, server` and the client accepts a sixteen-octet reply.
#[test]
fn client_talks_to_a_raw_book_server() {
    let (mut sc, client) =
        client_against_raw_server("sixteen", &["client", "127.0.0.1"]);
    let mut message = [0; 16];
    sc.read_exact(&mut message).unwrap();
    assert_eq!(&message, HELLO);
    sc.write_all(FAREWELL).unwrap();
    drop(sc);
    let out = client.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A client that closes after 5 of the 16 octets makes the server's recvall
/// fail with the book's message and the true byte count (`--once`: exit 2).
#[test]
fn server_reports_a_client_that_closes_early() {
    let (mut server, port) = Background::server("sixteen");
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s.write_all(b"Hi th").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.wait_code(), 2);
    let err = server.stderr();
    assert!(
        err.contains("was expecting 16 bytes but only received 5 bytes before the socket closed"),
        "{err}"
    );
}

/// A client aimed at a port nobody listens on exits 2 naming ECONNREFUSED.
#[test]
fn client_to_a_closed_port_is_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let out = cmd("sixteen")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ECONNREFUSED (os error 111"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// A server asked for a port another socket holds exits 2 naming EADDRINUSE.
#[test]
fn server_on_a_taken_port_is_refused_the_address() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = cmd("sixteen")
        .args(["server", "127.0.0.1", "-p", &port.to_string(), "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("EADDRINUSE"),
        "{out:?}"
    );
}

/// Bad arguments are a usage error: exit 2, no panic.
#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["client"][..],
        &["client", "127.0.0.1", "-p", "70000"],
        &["--nonsense"],
        &["client", "nosuch.invalid"],
        &["--timeout-ms", "0"],
    ] {
        let out = cmd("sixteen").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}
