//! Experiment 04 `listening-socket`: accept() returns a new connected
//! socket per client, on the listening port; the listening socket and a
//! never-connected socket refuse the data calls with EPIPE and ENOTCONN.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tcp_workbook::experiments::listening_socket::{DataCalls, Observed};
use tcp_workbook::experiments::sixteen::{FAREWELL, HELLO};
use tcp_workbook::lab::report::Errno;

use crate::{Background, cmd, port_in, report};

const T: Duration = Duration::from_secs(10);

fn errno(name: &str, number: i32) -> Option<Errno> {
    Some(Errno {
        name: name.into(),
        number,
    })
}

/// The errnos Linux gives a connected socket's calls on a socket that is
/// not connected: send() EPIPE (and SIGPIPE without MSG_NOSIGNAL), recv()
/// and getpeername() ENOTCONN.
fn assert_refuses_data(d: &DataCalls, what: &str) {
    assert_eq!(d.send, errno("EPIPE", 32), "{what}: send");
    assert_eq!(d.send_raised_sigpipe, Some(true), "{what}: SIGPIPE");
    assert_eq!(d.recv, errno("ENOTCONN", 107), "{what}: recv");
    assert_eq!(d.getpeername, errno("ENOTCONN", 107), "{what}: getpeername");
}

/// The default run: each accepted socket sits on the listening address
/// and faces its own client, whose reply names it; the listening socket
/// refuses data but keeps its name; a never-connected socket refuses data
/// and is named 0.0.0.0:0.
#[test]
fn listening_socket_only_accepts_and_each_client_gets_its_own_socket() {
    let out = cmd("listening-socket").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("accepts_only", true));
    let o = r.measurements;
    assert_eq!(o.conversations.len(), 2);
    for ((c, name), reply) in
        o.conversations.iter().zip(&o.client_names).zip(&o.replies)
    {
        assert_eq!(c.connected_name, o.listening_address);
        assert_eq!(c.connected_peer, *name);
        assert_eq!(c.accepted_from, *name);
        assert_eq!(*reply, format!("You are {name}"));
    }
    assert_ne!(o.client_names[0], o.client_names[1]);
    assert_refuses_data(&o.listening_socket, "listening socket");
    assert_eq!(o.listening_socket.getsockname, Some(o.listening_address));
    assert_refuses_data(&o.never_connected, "never-connected socket");
    let unbound: SocketAddr = "0.0.0.0:0".parse().unwrap();
    assert_eq!(o.never_connected.getsockname, Some(unbound));
}

/// The manual server reports the errnos of its listening socket, names
/// the connected socket's peer, the manual client's own socket name (the
/// client is another process), and answers with the book's sixteen octets.
#[test]
fn manual_server_names_each_client_it_answers() {
    let (mut server, port) = Background::server("listening-socket");
    let out = cmd("listening-socket")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let mut lines = said.lines();
    let me = port_in(lines.next().unwrap());
    assert_eq!(lines.next().unwrap(), "The server said b'Farewell, client'");
    assert_eq!(server.wait_code(), 0);
    let server_said: Vec<String> =
        std::iter::from_fn(|| Some(server.next_line()))
            .take(9)
            .collect();
    assert_eq!(server_said[1], "  send():        EPIPE (errno 32)");
    assert_eq!(server_said[3], "  recv():        ENOTCONN (errno 107)");
    assert_eq!(
        server_said[8],
        format!("  Socket peer: ('127.0.0.1', {me})")
    );
}

/// The manual server's protocol, seen from a raw socket: the book's, sixteen
/// octets in, sixteen out, then end of stream.
#[test]
fn manual_server_speaks_the_books_sixteen_octets() {
    let (_server, port) = Background::server("listening-socket");
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s.write_all(HELLO).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, FAREWELL);
}

/// The manual server is iterative, as the book's is: a client that
/// connects and says nothing holds it, and the next client's reply comes
/// only after the server has given up on the idle one (its `recv()`
/// deadline, `--timeout-ms`) and closed that conversation.
#[test]
fn an_idle_client_holds_the_iterative_server() {
    use std::io::{Read, Write};
    let server = crate::Background::start(
        "listening-socket",
        &["server", "127.0.0.1", "-p", "0", "--timeout-ms", "500"],
    );
    let port = loop {
        let line = server.next_line();
        if line.starts_with("Listening at") {
            break crate::port_in(&line);
        }
    };
    let addr = ([127, 0, 0, 1], port).into();
    let t = std::time::Duration::from_secs(10);
    let mut idle = std::net::TcpStream::connect_timeout(&addr, t).unwrap();
    idle.set_read_timeout(Some(t)).unwrap();
    // The server has accepted the idle client before the next one comes.
    while !server
        .next_line()
        .starts_with("The socket accept() returned")
    {}
    let mut c = std::net::TcpStream::connect_timeout(&addr, t).unwrap();
    c.set_read_timeout(Some(t)).unwrap();
    c.write_all(b"Hi there, server").unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Farewell, client");
    // By the time the second client had its reply, the server had already
    // closed the idle conversation: its end of stream is waiting to be read.
    idle.set_nonblocking(true).unwrap();
    let idle_read = idle.read(&mut [0u8; 16]).map_err(|e| e.kind());
    assert_eq!(idle_read, Ok(0), "the second client was served first");
}
