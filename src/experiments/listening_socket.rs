//! # 04 `listening-socket`: one socket per conversation
//!
//! **Question.** Once a socket listens, what can it still do, and what do
//! the sockets `accept()` returns share with it?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, "One Socket per Conversation",
//! p. 45-46: after `listen()` the socket can never send or receive data;
//! each `accept()` returns a new socket for one conversation with one
//! client. `getsockname()` works on both kinds; the connected socket's
//! `getpeername()` gives the same address `accept()` returned.
//!
//! **Run.**
//! - `cargo run --bin listening-socket`: two clients, two connected
//!   sockets; then the data calls tried on the listening socket and on a
//!   socket never connected (`-- --json` for a report).
//! - Two terminals: `cargo run --bin listening-socket -- server ""` (it
//!   tries the data calls on its listening socket, then serves each client
//!   with the bytes of `tcp_sixteen.py`), then, twice,
//!   `cargo run --bin listening-socket -- client 127.0.0.1` (port 1060).
//!
//! **Chapter.** `chapters/04-listening-socket.md`.

use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use nix::libc;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::experiments::sixteen::{FAREWELL, HELLO, recv_all};
use crate::lab::error::{Op, SocketError};
use crate::lab::experiment::{Ctx, NoKnobs, Verdict};
use crate::lab::narrate::Narrator;
use crate::lab::pyfmt::{py_addr, py_bytes};
use crate::lab::report::Errno;
use crate::lab::{args, deadline, kernel, names, process, server};

// ANCHOR: observed
/// One conversation, as the server's connected socket saw it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Conversation {
    /// The client's address, as `accept()` returned it.
    pub accepted_from: SocketAddr,
    /// The connected socket's own name (`getsockname()`).
    pub connected_name: SocketAddr,
    /// The connected socket's peer (`getpeername()`).
    pub connected_peer: SocketAddr,
}

/// What a connected socket's calls did on a socket that is not connected.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DataCalls {
    /// `send()` of one byte with `MSG_NOSIGNAL`: its errno; `None`: sent.
    pub send: Option<Errno>,
    /// Whether `send()` without `MSG_NOSIGNAL` raised `SIGPIPE`; `None`:
    /// could not tell.
    pub send_raised_sigpipe: Option<bool>,
    /// `recv()`: its errno; `None`: it returned (data or end of stream).
    pub recv: Option<Errno>,
    /// `getpeername()`: its errno; `None`: it named a peer.
    pub getpeername: Option<Errno>,
    /// `getsockname()`: the name; `None` if the call failed.
    pub getsockname: Option<SocketAddr>,
}

/// What the default run observed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The listening socket's name.
    pub listening_address: SocketAddr,
    /// The two clients' socket names, in the order they connected.
    pub client_names: Vec<SocketAddr>,
    /// The server's two conversations, in the same order.
    pub conversations: Vec<Conversation>,
    /// What each client read back: the server names the peer it sees.
    pub replies: Vec<String>,
    /// The data calls on the listening socket.
    pub listening_socket: DataCalls,
    /// The same calls on a socket that was never connected.
    pub never_connected: DataCalls,
}
// ANCHOR_END: observed

// ANCHOR: listen
/// The book's server setup: `socket()`, `SO_REUSEADDR`, `bind()`,
/// `listen(1)`. From here on, this socket only listens.
fn listen_at(addr: SocketAddr) -> Result<Socket, SocketError> {
    let domain = Domain::for_address(addr);
    let sock =
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).op("socket")?;
    sock.set_reuse_address(true).op("setsockopt SO_REUSEADDR")?;
    sock.bind(&addr.into()).op(format_args!("bind {addr}"))?;
    sock.listen(1).op(format_args!("listen on {addr}"))?;
    Ok(sock)
}
// ANCHOR_END: listen

// ANCHOR: data_calls
/// Tries on `sock` what one does with a connected socket, and says what
/// the kernel answered. `sock` has a receive timeout, so `recv()` cannot
/// wait forever.
fn data_calls(sock: &Socket, say: &Narrator) -> DataCalls {
    // MSG_NOSIGNAL: fail with an errno, and raise no SIGPIPE.
    let sent = sock.send_with_flags(b"x", libc::MSG_NOSIGNAL);
    // Without it, as C calls send(): was SIGPIPE raised?
    let (_, sigpipe) =
        process::sigpipe_raised(|| sock.send_with_flags(b"x", 0));
    let received = sock.recv(&mut [MaybeUninit::uninit(); 16]);
    let peer = names::peer_name(sock); // getpeername()
    let name = names::socket_name(sock); // getsockname()
    let calls = DataCalls {
        send: sent.err().as_ref().and_then(Errno::of),
        send_raised_sigpipe: sigpipe,
        recv: received.err().as_ref().and_then(Errno::of),
        getpeername: peer.err().and_then(|e| Errno::of(&e.source)),
        getsockname: name.ok(),
    };
    let raised = match sigpipe {
        Some(true) => "SIGPIPE raised",
        Some(false) => "no SIGPIPE",
        None => "SIGPIPE not checked",
    };
    say.say(format!("  send():        {}", errno(&calls.send)));
    say.say(format!("    without MSG_NOSIGNAL: {raised}"));
    say.say(format!("  recv():        {}", errno(&calls.recv)));
    say.say(format!("  getpeername(): {}", errno(&calls.getpeername)));
    let name = calls.getsockname.map_or("failed".into(), |n| py_addr(&n));
    say.say(format!("  getsockname(): {name}"));
    calls
}
// ANCHOR_END: data_calls

// ANCHOR: server
/// What the server answers a client's sixteen octets with.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// The address its connected socket sees the client at: the default
    /// run's, whose verdict checks that each client got its own.
    Address,
    /// The book's sixteen octets, `Farewell, client`: the manual server's,
    /// so that the book's client can be its peer.
    Book,
}

/// The server's side of one conversation, on the socket `accept()`
/// returned: names its two ends, reads the client's sixteen octets, and
/// replies. The caller closes it.
fn server(
    mut sc: &TcpStream,
    from: SocketAddr,
    reply: Reply,
    say: &Narrator,
) -> anyhow::Result<Conversation> {
    let name = names::socket_name(sc)?; // getsockname()
    let peer = names::peer_name(sc)?; // getpeername()
    say.say(format!(
        "The socket accept() returned for {}",
        py_addr(&from)
    ));
    say.say(format!("  Socket name: {}", py_addr(&name)));
    say.say(format!("  Socket peer: {}", py_addr(&peer)));
    recv_all(&mut sc, HELLO.len()).op(format_args!("recv from {peer}"))?;
    let reply = match reply {
        Reply::Address => reply_to(&peer).into_bytes(),
        Reply::Book => FAREWELL.to_vec(),
    };
    sc.write_all(&reply).op(format_args!("send to {peer}"))?;
    Ok(Conversation {
        accepted_from: from,
        connected_name: name,
        connected_peer: peer,
    })
}
// ANCHOR_END: server

// ANCHOR: client
/// The client, first half: `connect()` and send sixteen octets.
fn hello(
    server: SocketAddr,
    timeout: Duration,
    say: &Narrator,
) -> anyhow::Result<(TcpStream, SocketAddr)> {
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
    Ok((sock, name))
}

/// The client, second half: read the reply until the server closes.
fn farewell(mut sock: TcpStream, say: &Narrator) -> anyhow::Result<String> {
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).op("recv the reply")?;
    say.say(format!("The server said {}", py_bytes(&reply)));
    drop(sock); // close()
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
// ANCHOR_END: client

// ANCHOR: experiment
/// The default run: two conversations at once, then the listening socket
/// and a never-connected socket asked to do a connected socket's work.
fn experiment(ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let (to_server, to_clients) = (ctx.say.server(), ctx.say.client());
    let t = ctx.timeout;
    let listener = listen_at("127.0.0.1:0".parse()?)?;
    deadline::set_timeouts(&listener, t)?; // for recv() below
    let listening = names::socket_name(&listener)?;
    to_server.say(format!("Listening at {}", py_addr(&listening)));
    // 1. Two clients connect and send. The kernel completes both
    //    handshakes and queues them (listen(1) holds two), in this order.
    let (c1, name1) = hello(listening, t, &to_clients)?;
    kernel::wait_listen_queue(&listener, 1, t).op("read the listen queue")?;
    let (c2, name2) = hello(listening, t, &to_clients)?;
    // accept() returns a new, connected socket for each.
    let (s1, from1) = server::accept_within(&listener, t)?;
    let (s2, from2) = server::accept_within(&listener, t)?;
    // 2. The listening socket is still there, but it carries no data.
    to_server.say("The listening socket, used as a connected one:");
    let listening_socket = data_calls(&listener, &to_server);
    // Both conversations are open at once; the second is served first.
    let (sc1, sc2) = (TcpStream::from(s1), TcpStream::from(s2));
    let second = server(&sc2, from2, Reply::Address, &to_server)?;
    drop(sc2); // close()
    let first = server(&sc1, from1, Reply::Address, &to_server)?;
    drop(sc1); // close()
    let reply1 = farewell(c1, &to_clients)?;
    let reply2 = farewell(c2, &to_clients)?;
    // 3. A socket that never connected answers the same way.
    let fresh = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .op("socket")?;
    deadline::set_timeouts(&fresh, t)?;
    ctx.say.say("A socket that was never connected:");
    let never_connected = data_calls(&fresh, &ctx.say);
    let observed = Observed {
        listening_address: listening,
        client_names: vec![name1, name2],
        conversations: vec![first, second],
        replies: vec![reply1, reply2],
        listening_socket,
        never_connected,
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
    /// Each accept() returned a new connected socket on the listening port,
    /// facing its own client, and the listening socket could not send or receive
    /// (EPIPE, ENOTCONN), nor could a never-connected one.
    AcceptsOnly,
    /// A connected socket's name was not the listening address.
    ConnectedPortDiffers,
    /// A connected socket's peer, or accept()'s address, was not its
    /// client's name, or the two clients had one name.
    PeerDiffers,
    /// A client got a reply that was not addressed to it.
    RepliesCrossed,
    /// The listening socket did not refuse send, recv and getpeername as
    /// the book says, or its name was not the listening address.
    ListenerAnswered,
    /// A never-connected socket did not refuse send, recv and
    /// getpeername, or it had a name.
    UnconnectedAnswered,
}

// ANCHOR: verdict
/// The verdict, from what the kernel reported: each connected socket on
/// the listening port, facing its own client, with its own reply; the
/// listening and the never-connected socket refusing data.
pub fn verdict(o: Observed, say: &Narrator) -> Verdict<Observed, Outcome> {
    use Outcome::*;
    let is =
        |e: &Option<Errno>, name| e.as_ref().is_some_and(|e| e.name == name);
    let refuses = |d: &DataCalls| {
        is(&d.send, "EPIPE")
            && d.send_raised_sigpipe != Some(false)
            && is(&d.recv, "ENOTCONN")
            && is(&d.getpeername, "ENOTCONN")
    };
    let (l, f) = (&o.listening_socket, &o.never_connected);
    let ends = || o.conversations.iter().zip(&o.client_names);
    let port = ends().all(|(c, _)| c.connected_name == o.listening_address);
    let peer = ends()
        .all(|(c, name)| c.connected_peer == *name && c.accepted_from == *name)
        && o.client_names[0] != o.client_names[1];
    let mut replies = o.replies.iter().zip(&o.client_names);
    let reply = replies.all(|(r, name)| *r == reply_to(name));
    let unbound: SocketAddr = "0.0.0.0:0".parse().expect("an address");
    let listener = refuses(l) && l.getsockname == Some(o.listening_address);
    let unconnected = refuses(f) && f.getsockname == Some(unbound);
    let checks = [
        ("port", port, ConnectedPortDiffers),
        ("peer", peer, PeerDiffers),
        ("reply", reply, RepliesCrossed),
        ("listener", listener, ListenerAnswered),
        ("unconnected", unconnected, UnconnectedAnswered),
    ];
    let observed = say.checks(&checks).unwrap_or(AcceptsOnly);
    Verdict::new(observed, o)
}
// ANCHOR_END: verdict

/// The server's reply to the client it sees at `peer`.
fn reply_to(peer: &SocketAddr) -> String {
    format!("You are {peer}")
}

/// An errno as the narration shows it: `EPIPE (errno 32)`.
fn errno(e: &Option<Errno>) -> String {
    e.as_ref().map_or("succeeded".into(), |e| {
        format!("{} (errno {})", e.name, e.number)
    })
}

/// The manual roles.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Listen, try the data calls on the listening socket, then serve each
    /// client as `tcp_sixteen.py server` does (its bytes: sixteen octets
    /// in, `Farewell, client` out), naming each connected socket's ends.
    Server(args::ServerArgs),
    /// Connect, send sixteen octets, print the server's reply (read until
    /// the server closes): the bytes of `tcp_sixteen.py client`.
    Client(args::ClientArgs),
}

/// Experiment 04, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct ListeningSocket;

impl crate::lab::experiment::Experiment for ListeningSocket {
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
        let say = &ctx.say;
        match role {
            Role::Server(a) => {
                let listener = listen_at(a.bind_addr()?)?;
                deadline::set_timeouts(&listener, ctx.timeout)?;
                let at = names::socket_name(&listener)?;
                say.say(format!("Listening at {}", py_addr(&at)));
                say.say("The listening socket, used as a connected one:");
                data_calls(&listener, say);
                server::serve(&listener, &a, ctx, None, |sc, from| {
                    server(sc, from, Reply::Book, say).map(drop)
                })
            }
            Role::Client(a) => {
                let (sock, _) = hello(a.server_addr()?, ctx.timeout, say)?;
                farewell(sock, say)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    // ANCHOR_END: roles
}
