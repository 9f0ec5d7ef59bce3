//! # 01 `sixteen`: the sixteen-octet client and server
//!
//! **Question.** What does the simplest TCP conversation look like, socket
//! call by socket call, and which addresses does each socket end up with?
//!
//! **The book.** FOPNP 3rd ed. (Rhodes & Goerzen), ch. 3, "A Simple TCP Client
//! and Server", Listing 3-1, with its output on p. 46: the server sets
//! `SO_REUSEADDR`, binds, listens with a backlog of 1, and for each client
//! accepts a new *connected* socket, reads exactly 16 octets with a loop
//! (`recvall`), answers `Farewell, client` and closes. The client connects,
//! sends `Hi there, server` and reads 16 octets back. The connected socket's
//! name is the listening address; its peer is the client's own socket name.
//!
//! **Run.**
//! - `cargo run --bin sixteen`: both roles, in this one process, on a free
//!   loopback port; narrates and ends with a verdict (`--json` for a report).
//! - Two terminals, as in the book (wire-compatible with `tcp_sixteen.py`):
//!   `cargo run --bin sixteen -- server ""` then
//!   `cargo run --bin sixteen -- client 127.0.0.1` (port 1060, `-p` to change).
//!
//! **Chapter.** `chapters/01-sixteen.md`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{cli, deadline, error, registry, report};

/// The client's message: exactly sixteen octets.
pub const HELLO: &[u8; 16] = b"Hi there, server";
/// The server's reply: exactly sixteen octets.
pub const FAREWELL: &[u8; 16] = b"Farewell, client";

#[derive(Debug, Parser)]
#[command(
    name = "sixteen",
    about = "01: the sixteen-octet TCP client and server (FOPNP ch. 3, Listing 3-1)"
)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Print one JSON report instead of the narration (default run only).
    #[arg(long, global = true)]
    json: bool,
    /// Deadline for each connect, send and recv, in ms.
    #[arg(long, global = true, value_name = "MS", default_value_t = 5_000)]
    timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Listen and answer clients, like `tcp_sixteen.py server`.
    Server(cli::ServerArgs),
    /// Connect and exchange sixteen octets, like `tcp_sixteen.py client`.
    Client(cli::ClientArgs),
}

/// Runs experiment 01 with a full argument list (`args[0]` is the program
/// name) and returns its exit status: 0 as the book predicts, 1 otherwise,
/// 2 for a usage or environment error.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let entry = registry::find("sixteen").expect("sixteen is registered");
    report::finish(
        entry,
        args.json && args.role.is_none(),
        match args.role {
            None => experiment(args.json, timeout),
            Some(Role::Server(server_args)) => server(&server_args, timeout),
            Some(Role::Client(client_args)) => client(&client_args, timeout),
        },
    )
}

// ANCHOR: recvall
/// Reads exactly `length` bytes, calling `recv(2)` (through [`Read::read`])
/// as often as it takes: one call may return any part of what was sent.
/// This is the book's `recvall()` from Listing 3-1.
///
/// # Errors
/// If the peer closes first, fails with [`io::ErrorKind::UnexpectedEof`] and
/// the book's message: "was expecting 16 bytes but only received N bytes
/// before the socket closed". A `recv` error (a timeout set with
/// `SO_RCVTIMEO` gives `EAGAIN`) is returned as it is.
pub fn recv_all(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            // 0 bytes means the peer closed its end: no more will ever come.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting {length} bytes but only received {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(more) => received += more,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(data)
}
// ANCHOR_END: recvall

/// The default run: both roles in turn, in this one thread, then the verdict.
fn experiment(json: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    use error::Op;
    let entry = registry::find("sixteen").expect("sixteen is registered");
    let mut record = report::Recorder::start(entry);
    let say = report::Narrator::tagged(json);

    // ANCHOR: setup
    // The server: a listening socket on a port the kernel picks (port 0).
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    listener
        .set_reuse_address(true)
        .op("setsockopt SO_REUSEADDR")?;
    let want: SocketAddr = "127.0.0.1:0".parse()?;
    listener
        .bind(&want.into())
        .op(format_args!("bind {want}"))?;
    listener.listen(1).op("listen")?;
    let listening = cli::socket_name(&listener)?;
    say.server(format!("Listening at {}", cli::py_addr(&listening)));
    say.server("Waiting to accept a new connection");
    // ANCHOR_END: setup

    // ANCHOR: experiment
    // The client connects. connect() returns before the server calls
    // accept(): the kernel completes the handshake by itself and queues the
    // connection in the listening socket's backlog. That is why one thread
    // can play both roles here.
    let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    client
        .set_read_timeout(Some(timeout))
        .op("setsockopt SO_RCVTIMEO")?;
    client
        .set_write_timeout(Some(timeout))
        .op("setsockopt SO_SNDTIMEO")?;
    client
        .connect_timeout(&listening.into(), timeout)
        .op(format_args!("connect to {listening}"))?;
    let client_name = cli::socket_name(&client)?;
    say.client(format!(
        "Client has been assigned socket name {}",
        cli::py_addr(&client_name)
    ));
    let mut client = TcpStream::from(client);
    // sendall(): write_all() calls send(2) until every byte is accepted.
    client.write_all(HELLO).op("send to server")?;

    // The server accepts: a new, connected socket for this one conversation.
    deadline::wait_readable(&listener, timeout).op(format_args!("accept on {listening}"))?;
    let (connected, sockname) = listener
        .accept()
        .op(format_args!("accept on {listening}"))?;
    let sockname = sockname
        .as_socket()
        .expect("an IPv4 listener accepts IPv4 peers");
    let connected_name = cli::socket_name(&connected)?;
    let connected_peer = cli::peer_name(&connected)?;
    say.server(format!(
        "We have accepted a connection from {}",
        cli::py_addr(&sockname)
    ));
    say.server(format!("  Socket name: {}", cli::py_addr(&connected_name)));
    say.server(format!("  Socket peer: {}", cli::py_addr(&connected_peer)));
    connected
        .set_read_timeout(Some(timeout))
        .op("setsockopt SO_RCVTIMEO")?;
    connected
        .set_write_timeout(Some(timeout))
        .op("setsockopt SO_SNDTIMEO")?;
    let mut connected = TcpStream::from(connected);
    let message = recv_all(&mut connected, 16).op("recv from client")?;
    say.server(format!(
        "  Incoming sixteen-octet message: {}",
        cli::py_bytes(&message)
    ));
    connected.write_all(FAREWELL).op("send to client")?;
    drop(connected); // close()
    say.server("  Reply sent, socket closed");

    // The client reads the reply, which has waited in its receive queue.
    let reply = recv_all(&mut client, 16).op("recv from server")?;
    say.client(format!("The server said {}", cli::py_bytes(&reply)));
    drop(client); // close()
    // ANCHOR_END: experiment

    // ANCHOR: report
    let name_is_listening = connected_name == listening;
    let peer_is_client = connected_peer == client_name && sockname == client_name;
    record.measure("listening_port", listening.port());
    record.measure("client_port", client_name.port());
    record.measure("client_sent_bytes", HELLO.len());
    record.measure("server_received_bytes", message.len());
    record.measure("server_sent_bytes", FAREWELL.len());
    record.measure("client_received_bytes", reply.len());
    record.measure("server_received", String::from_utf8_lossy(&message));
    record.measure("client_received", String::from_utf8_lossy(&reply));
    record.measure("connected_name_is_listening_address", name_is_listening);
    record.measure("connected_peer_is_client_name", peer_is_client);
    let observed = if message != HELLO {
        "message_altered"
    } else if reply != FAREWELL {
        "reply_altered"
    } else if !name_is_listening {
        "connected_name_differs"
    } else if !peer_is_client {
        "connected_peer_differs"
    } else {
        "exchanged"
    };
    say.note(format!(
        "checks: message intact {}, reply intact {}, connected socket name == listening address {}, its peer == client's name {}",
        yes(message == HELLO),
        yes(reply == FAREWELL),
        yes(name_is_listening),
        yes(peer_is_client)
    ));
    Ok(record.finish(observed).emit(json))
    // ANCHOR_END: report
}

// ANCHOR: server
/// The manual server role: `tcp_sixteen.py server`, with a deadline on every
/// wait so that it never blocks forever.
fn server(args: &cli::ServerArgs, timeout: Duration) -> anyhow::Result<ExitCode> {
    use error::Op;
    let say = report::Narrator::plain();
    let addr = args.bind_addr()?;
    let listener =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    listener
        .set_reuse_address(true)
        .op("setsockopt SO_REUSEADDR")?;
    listener
        .bind(&addr.into())
        .op(format_args!("bind {addr}"))?;
    listener.listen(1).op(format_args!("listen on {addr}"))?;
    say.note(format!(
        "Listening at {}",
        cli::py_addr(&cli::socket_name(&listener)?)
    ));
    loop {
        say.note("Waiting to accept a new connection");
        let wait = Duration::from_millis(args.accept_timeout_ms);
        deadline::wait_readable(&listener, wait)
            .op(format_args!("accept on {addr}"))
            .map_err(|e| {
                e.hint(format!(
                    "no client came within {} ms (--accept-timeout-ms)",
                    args.accept_timeout_ms
                ))
            })?;
        let (connected, sockname) = listener.accept().op(format_args!("accept on {addr}"))?;
        let sockname = sockname
            .as_socket()
            .expect("an inet listener accepts inet peers");
        say.note(format!(
            "We have accepted a connection from {}",
            cli::py_addr(&sockname)
        ));
        say.note(format!(
            "  Socket name: {}",
            cli::py_addr(&cli::socket_name(&connected)?)
        ));
        let peer = cli::peer_name(&connected)?;
        say.note(format!("  Socket peer: {}", cli::py_addr(&peer)));
        connected
            .set_read_timeout(Some(timeout))
            .op("setsockopt SO_RCVTIMEO")?;
        connected
            .set_write_timeout(Some(timeout))
            .op("setsockopt SO_SNDTIMEO")?;
        let mut connected = TcpStream::from(connected);
        let conversation = recv_all(&mut connected, 16)
            .op(format_args!("recv from {sockname}"))
            .and_then(|message| {
                say.note(format!(
                    "  Incoming sixteen-octet message: {}",
                    cli::py_bytes(&message)
                ));
                connected
                    .write_all(FAREWELL)
                    .op(format_args!("send to {sockname}"))
            });
        drop(connected); // close()
        match conversation {
            Ok(()) => say.note("  Reply sent, socket closed"),
            // One broken client must not stop the server, unless it serves only one.
            Err(e) if !args.once => eprintln!("error: {e}"),
            Err(e) => return Err(e.into()),
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
// ANCHOR_END: server

// ANCHOR: client
/// The manual client role: `tcp_sixteen.py client HOST`.
fn client(args: &cli::ClientArgs, timeout: Duration) -> anyhow::Result<ExitCode> {
    use error::Op;
    let say = report::Narrator::plain();
    let addr = args.server_addr()?;
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_read_timeout(Some(timeout))
        .op("setsockopt SO_RCVTIMEO")?;
    sock.set_write_timeout(Some(timeout))
        .op("setsockopt SO_SNDTIMEO")?;
    sock.connect_timeout(&addr.into(), timeout)
        .op(format_args!("connect to {addr}"))?;
    say.note(format!(
        "Client has been assigned socket name {}",
        cli::py_addr(&cli::socket_name(&sock)?)
    ));
    let mut sock = TcpStream::from(sock);
    sock.write_all(HELLO).op(format_args!("send to {addr}"))?;
    let reply = recv_all(&mut sock, 16).op(format_args!("recv from {addr}"))?;
    say.note(format!("The server said {}", cli::py_bytes(&reply)));
    drop(sock); // close()
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: client

fn yes(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    /// they were split.
    #[test]
    fn recv_all_assembles_short_reads() {
        for step in [1, 3, 7, 16] {
            let mut src = Trickle { data: HELLO, step };
            assert_eq!(recv_all(&mut src, 16).unwrap(), HELLO, "step {step}");
        }
    }

    /// recv_all reads no further than `length`: the rest stays for the next call.
    #[test]
    fn recv_all_leaves_the_rest() {
        let mut src = Trickle {
            data: b"Hi there, serverAND MORE",
            step: 5,
        };
        assert_eq!(recv_all(&mut src, 16).unwrap(), HELLO);
        assert_eq!(src.data, b"AND MORE");
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
}
