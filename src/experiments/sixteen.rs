//! # 01 `sixteen`: the sixteen-octet client and server
//!
//! **Question.** What does the simplest TCP conversation look like, socket
//! call by socket call, and which addresses does each socket end up with?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, Listing 3-1 (`tcp_sixteen.py`), and
//! its output on p. 46: the server binds, listens, and for each client
//! accepts a new *connected* socket, reads sixteen octets with a loop
//! (`recvall`), replies and closes. The client connects, sends sixteen
//! octets and reads sixteen back.
//!
//! **Run.**
//! - `cargo run --bin sixteen`: both roles on a free loopback port, then a
//!   verdict (`-- --json` for a report).
//! - Two terminals, as in the book (the bytes of `tcp_sixteen.py`):
//!   `cargo run --bin sixteen -- server ""`, then
//!   `cargo run --bin sixteen -- client 127.0.0.1` (port 1060; `-p PORT`).
//!
//! **Chapter.** `chapters/01-sixteen.md`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::lab::capture::{Flags, OnWire, Segment};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, NoKnobs, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::{py_addr, py_bytes};
use crate::lab::{args, deadline, names, peers, process, server};

/// The client's message: exactly sixteen octets.
pub const HELLO: &[u8; 16] = b"Hi there, server";
/// The server's reply: exactly sixteen octets.
pub const FAREWELL: &[u8; 16] = b"Farewell, client";
/// A segment's FIN bit: its sender will send no more.
const FIN: Flags = Flags::FIN;

/// What the default run observed: each socket's address as the kernel
/// reported it, and the bytes each side received.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The listening socket's name (`getsockname`).
    pub listening_address: SocketAddr,
    /// The client's name after `connect()`: the kernel chose its port.
    pub client_name: SocketAddr,
    /// The client's address as `accept()` returned it.
    pub accepted_from: SocketAddr,
    /// The connected socket's own name (`getsockname` on the server side).
    pub connected_name: SocketAddr,
    /// The connected socket's peer (`getpeername` on the server side).
    pub connected_peer: SocketAddr,
    /// What the server's `recvall(16)` returned, as text.
    pub server_received: String,
    /// What the client's `recvall(16)` returned, as text.
    pub client_received: String,
    /// The conversation on the wire, between the client's name and the
    /// listening address.
    pub wire: OnWire<Conversation>,
}

/// The conversation on the wire, as counted from its segments.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Conversation {
    /// Its first three segments, each its sender and flags: the
    /// handshake is `["client SYN", "server SYN|ACK", "client ACK"]`.
    pub opening: Vec<String>,
    /// Payload bytes the client sent, retransmissions aside.
    pub client_bytes: u32,
    /// Payload bytes the server sent, retransmissions aside.
    pub server_bytes: u32,
    /// Whether the client sent a FIN.
    pub client_fin: bool,
    /// Whether the server sent a FIN.
    pub server_fin: bool,
}

impl Conversation {
    /// Counts the segments `seen` between `client` and the others.
    fn count(seen: &[Segment], client: SocketAddr) -> Conversation {
        let who =
            |s: &Segment| if s.src == client { "client" } else { "server" };
        let opening = seen.iter().take(3);
        let bytes = |c: bool| -> u32 {
            let from = seen.iter().filter(|s| (s.src == client) == c);
            from.filter(|s| !s.retransmission).map(|s| s.len).sum()
        };
        let fin = |c: bool| {
            seen.iter()
                .any(|s| (s.src == client) == c && s.flags.has(FIN))
        };
        Conversation {
            opening: opening
                .map(|s| format!("{} {}", who(s), s.flags))
                .collect(),
            client_bytes: bytes(true),
            server_bytes: bytes(false),
            client_fin: fin(true),
            server_fin: fin(false),
        }
    }
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
    let mut data = process::bytes(length as u64, |_| 0)?; // not an abort
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            // 0 bytes means the peer closed its end: no more will ever come.
            Ok(0) => {
                let message = format!(
                    "was expecting {length} bytes but only received \
                     {received} bytes before the socket closed"
                );
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    message,
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

// ANCHOR: listen
/// The book's server setup: `socket()`, `SO_REUSEADDR`, `bind()`, and
/// `listen(1)`. From here on, this socket only listens.
pub fn listen_at(addr: SocketAddr) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}
// ANCHOR_END: listen

// ANCHOR: server
/// The book's server, for one client that `accept()` returned (its address
/// is `sockname`): names the connected socket's two ends, reads sixteen
/// octets, replies. The caller closes the socket when this returns.
pub fn server(
    mut sc: &TcpStream,
    sockname: SocketAddr,
    say: &Narrator,
) -> anyhow::Result<(SocketAddr, SocketAddr, Vec<u8>)> {
    say.say(format!(
        "We have accepted a connection from {}",
        py_addr(&sockname)
    ));
    let name = names::socket_name(sc)?; // getsockname()
    let peer = names::peer_name(sc)?; // getpeername()
    say.say(format!("  Socket name: {}", py_addr(&name)));
    say.say(format!("  Socket peer: {}", py_addr(&peer)));
    let message = recv_all(&mut sc, 16).op(format_args!("recv from {peer}"))?;
    say.say(format!(
        "  Incoming sixteen-octet message: {}",
        py_bytes(&message)
    ));
    // sendall(): write_all() calls send(2) until every byte is accepted.
    sc.write_all(FAREWELL).op(format_args!("send to {peer}"))?;
    say.say("  Reply sent, socket closed");
    Ok((name, peer, message))
}
// ANCHOR_END: server

// ANCHOR: client
/// The book's client: `connect()`, send sixteen octets, read sixteen back,
/// `close()`. Returns the name the kernel gave its socket, and the reply.
pub fn client(
    server: SocketAddr,
    say: &Narrator,
    timeout: Duration,
) -> anyhow::Result<(SocketAddr, Vec<u8>)> {
    let domain = Domain::for_address(server);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    deadline::set_timeouts(&sock, timeout)?;
    sock.connect_timeout(&server.into(), timeout)
        .op(format_args!("connect to {server}"))?;
    let name = names::socket_name(&sock)?; // getsockname()
    say.say(format!(
        "Client has been assigned socket name {}",
        py_addr(&name)
    ));
    let mut sock = TcpStream::from(sock);
    sock.write_all(HELLO).op(format_args!("send to {server}"))?;
    let reply =
        recv_all(&mut sock, 16).op(format_args!("recv from {server}"))?;
    say.say(format!("The server said {}", py_bytes(&reply)));
    drop(sock); // close()
    Ok((name, reply))
}
// ANCHOR_END: client

// ANCHOR: experiment
/// The default run: the server on a port the kernel picks, the client
/// connecting to it, then the verdict.
fn experiment(ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let listener = listen_at("127.0.0.1:0".parse()?)?;
    let listening = names::socket_name(&listener)?;
    let say = ctx.say.server();
    say.say(format!("Listening at {}", py_addr(&listening)));
    // The server waits in accept() on a thread of its own, while the
    // client connects from this one.
    let ((sockname, (name, peer, message)), (client_name, reply)) =
        peers::pair(
            &ctx.say,
            |say| {
                say.say("Waiting to accept a new connection");
                let (sc, sockname) =
                    server::accept_within(&listener, ctx.timeout)?;
                deadline::set_timeouts(&sc, ctx.timeout)?;
                let sc = TcpStream::from(sc);
                Ok((sockname, server(&sc, sockname, say)?)) // then close()
            },
            |say| client(listening, say, ctx.timeout),
        )?;
    // On the wire: the conversation, until each side's FIN has gone.
    let fins = |s: &[Segment]| s.iter().filter(|s| s.flags.has(FIN)).count();
    let wire = ctx.wire.segments_until(
        |s| s.between(client_name, listening),
        |s| fins(s) == 2,
        Duration::from_millis(200),
    );
    let wire = wire.map(|seen| Conversation::count(&seen, client_name));
    let observed = Observed {
        listening_address: listening,
        client_name,
        accepted_from: sockname,
        connected_name: name,
        connected_peer: peer,
        server_received: String::from_utf8_lossy(&message).into_owned(),
        client_received: String::from_utf8_lossy(&reply).into_owned(),
        wire,
    };
    Ok(verdict(observed, &ctx.say))
}
// ANCHOR_END: experiment

/// What the kernel did, as the verdict tells it: the report's `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Both 16-octet messages arrived intact, and the connected socket
    /// joined the listening port to the client's socket name.
    Exchanged,
    /// The server received other than the client's 16 octets.
    MessageAltered,
    /// The client received other than the server's 16-octet reply.
    ReplyAltered,
    /// The connected socket's port was not the listening port.
    ConnectedPortDiffers,
    /// The connected socket's peer, or the address accept() returned,
    /// was not the client's socket name.
    ConnectedPeerDiffers,
    /// On the wire, the conversation did not open with SYN, SYN|ACK, ACK.
    NoHandshakeOnWire,
    /// On the wire, other than 16 payload bytes went each way.
    BytesOnWireDiffer,
    /// On the wire, a side sent no FIN.
    NoFinOnWire,
}

// ANCHOR: verdict
/// The verdict, from what the sockets reported: both messages intact, the
/// connected socket on the listening port, its peer the client's name.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let message = o.server_received.as_bytes() == HELLO;
    let reply = o.client_received.as_bytes() == FAREWELL;
    let port = o.connected_name.port() == o.listening_address.port();
    let peer = o.connected_peer == o.client_name;
    let accepted = o.accepted_from == o.client_name;
    let checks = [
        ("message", message, MessageAltered),
        ("reply", reply, ReplyAltered),
        ("listening port", port, ConnectedPortDiffers),
        ("peer", peer, ConnectedPeerDiffers),
        ("accepted peer", accepted, ConnectedPeerDiffers),
    ];
    // On the wire: the handshake, 16 bytes each way, a FIN from each side.
    let handshake = ["client SYN", "server SYN|ACK", "client ACK"];
    let w = &o.wire;
    let wire = [
        (
            "handshake",
            w.check(|c| c.opening == handshake),
            NoHandshakeOnWire,
        ),
        (
            "16 bytes each way",
            w.check(|c| c.client_bytes == 16 && c.server_bytes == 16),
            BytesOnWireDiffer,
        ),
        (
            "a FIN each way",
            w.check(|c| c.client_fin && c.server_fin),
            NoFinOnWire,
        ),
    ];
    let observed = say.checks_on_wire(&checks, &wire);
    if let (Some(_), Some(c)) = (observed, o.wire.seen()) {
        say.say(format!("on the wire, the conversation: {c:?}"));
    }
    Verdict::new(observed.unwrap_or(Exchanged), o)
}
// ANCHOR_END: verdict

/// The manual roles, as in the book.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Listen and answer clients, like `tcp_sixteen.py server`.
    Server(args::ServerArgs),
    /// Connect and exchange sixteen octets, like `tcp_sixteen.py client`.
    Client(args::ClientArgs),
}

/// Experiment 01, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct Sixteen;

impl crate::lab::experiment::Experiment for Sixteen {
    type Knobs = NoKnobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(
        _: &NoKnobs,
        ctx: &Ctx,
    ) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(ctx)
    }

    // ANCHOR: roles
    fn role(role: Role, _: &NoKnobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match role {
            Role::Server(a) => {
                let listener = listen_at(a.bind_addr()?)?;
                let at = names::socket_name(&listener)?;
                ctx.say.say(format!("Listening at {}", py_addr(&at)));
                let waiting = Some("Waiting to accept a new connection");
                server::serve(&listener, &a, ctx, waiting, |sc, sockname| {
                    server(sc, sockname, &ctx.say).map(drop)
                })
            }
            Role::Client(a) => {
                client(a.server_addr()?, &ctx.say, ctx.timeout)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
