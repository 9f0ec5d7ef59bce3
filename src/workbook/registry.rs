//! The one list of experiments: number, binary name, title, source passage,
//! expected outcome, the runner's hard deadline, and the entry point.
//!
//! The numbers and names are fixed (an instructor's assignment sheet may say
//! "run 10"); experiments are added here as they are written:
//!
//! | No. | binary | passage |
//! |---|---|---|
//! | 01 | `sixteen` | Listing 3-1: the sixteen-octet client and server |
//! | 02 | `partial-recv` | recv() returns whatever data is there, so it must loop |
//! | 03 | `partial-send` | send()'s three cases, and sendall() |
//! | 04 | `listening-socket` | one socket per conversation |
//! | 05 | `bind-port` | bind() claims a port: in use, privileged, port 0 |
//! | 06 | `reuseaddr` | "Address already in use": TIME_WAIT and SO_REUSEADDR |
//! | 07 | `bind-interface` | binding 127.0.0.1 vs "" (all interfaces) |
//! | 08 | `refused` | connect() to a port nobody listens on |
//! | 09 | `backlog` | listen(backlog) |
//! | 10 | `deadlock` | the buffer-fill deadlock of a client that never reads |

use std::process::ExitCode;

use crate::experiments::{
    backlog, bind_interface, bind_port, deadlock, listening_socket,
    partial_recv, partial_send, refused, reuseaddr, sixteen,
};
use crate::lab::run::{self, Entry};

/// Every experiment, in number order.
pub static EXPERIMENTS: &[Entry] = &[
    Entry {
        number: 1,
        name: "sixteen",
        title: "the sixteen-octet client and server",
        passage: "FOPNP 3rd ed., ch. 3, Listing 3-1, output on p. 46",
        expected: "exchanged",
        predicts: "the client's 16 octets and the server's 16-octet reply arrive intact, and the connected socket joins the listening port to the client's socket name",
        deadline_ms: 15_000,
        main: run::main::<sixteen::Sixteen>,
        schema: run::schema::<sixteen::Sixteen>,
    },
    Entry {
        number: 2,
        name: "partial-recv",
        title: "recv() returns whatever has arrived, so it must loop",
        passage: "FOPNP 3rd ed., ch. 3, p. 45",
        expected: "partial_reads",
        predicts: "recv(16) returns the 8 bytes that have arrived, recvall() needs a second call, a 4 MiB recv returns much less than 4 MiB, and recv returns 0 only at the end of the stream, so recvall() fails if the peer closes mid-message",
        deadline_ms: 15_000,
        main: run::main::<partial_recv::PartialRecv>,
        schema: run::schema::<partial_recv::PartialRecv>,
    },
    Entry {
        number: 3,
        name: "partial-send",
        title: "send() accepts all, part or none; sendall() loops",
        passage: "FOPNP 3rd ed., ch. 3, p. 45; send's cases as in the Erle notes",
        expected: "partial_send",
        predicts: "a small send is accepted whole; with the send buffer full, a non-blocking send accepts part, the next none (EAGAIN) and a blocking one waits; sendall() delivers every byte once the peer reads",
        deadline_ms: 15_000,
        main: run::main::<partial_send::PartialSend>,
        schema: run::schema::<partial_send::PartialSend>,
    },
    Entry {
        number: 4,
        name: "listening-socket",
        title: "one socket per conversation",
        passage: "FOPNP 3rd ed., ch. 3, \"One Socket per Conversation\", p. 45-46",
        expected: "accepts_only",
        predicts: "each accept() returns a new connected socket on the listening port, facing its own client; the listening socket itself cannot send or receive (EPIPE, ENOTCONN)",
        deadline_ms: 15_000,
        main: run::main::<listening_socket::ListeningSocket>,
        schema: run::schema::<listening_socket::ListeningSocket>,
    },
    Entry {
        number: 5,
        name: "bind-port",
        title: "what bind() claims: in use, port 0, privileged ports",
        passage: "Programming Python 4th ed., ch. 12, \"Server socket calls\", p. 790",
        expected: "port_claimed",
        predicts: "a port already in use cannot be bound again (on the same address), port 0 gets a free port from the kernel, and an ordinary user cannot bind below 1024",
        deadline_ms: 15_000,
        main: run::main::<bind_port::BindPort>,
        schema: run::schema::<bind_port::BindPort>,
    },
    Entry {
        number: 6,
        name: "reuseaddr",
        title: "\"Address already in use\": TIME_WAIT and SO_REUSEADDR",
        passage: "FOPNP 3rd ed., ch. 3, \"Address Already in Use\", p. 46 onward",
        expected: "address_in_use",
        predicts: "an idle server restarts at once, but after a conversation the restart fails with \"Address already in use\" unless SO_REUSEADDR is set",
        deadline_ms: 15_000,
        main: run::main::<reuseaddr::Reuseaddr>,
        schema: run::schema::<reuseaddr::Reuseaddr>,
    },
    Entry {
        number: 7,
        name: "bind-interface",
        title: "binding 127.0.0.1 vs \"\" (all interfaces)",
        passage: "FOPNP 3rd ed., ch. 3, \"Binding to Interfaces\", p. 47-48",
        expected: "bound_only",
        predicts: "a server bound to 127.0.0.1 is refused to clients that come by another address or from another host; one bound to \"\" accepts them all",
        deadline_ms: 15_000,
        main: run::main::<bind_interface::BindInterface>,
        schema: run::schema::<bind_interface::BindInterface>,
    },
    Entry {
        number: 8,
        name: "refused",
        title: "connect() to a port nobody listens on",
        passage: "FOPNP 3rd ed., ch. 3, p. 48",
        expected: "refused",
        predicts: "connect() fails at once with \"Connection refused\" (ECONNREFUSED), and a server listening elsewhere is not told",
        deadline_ms: 15_000,
        main: run::main::<refused::Refused>,
        schema: run::schema::<refused::Refused>,
    },
    Entry {
        number: 9,
        name: "backlog",
        title: "listen(backlog): the queue in front of accept()",
        passage: "FOPNP 3rd ed., ch. 3, p. 46; Lutz 4th ed., ch. 12, p. 790",
        expected: "ignored",
        predicts: "backlog + 1 clients connect while nobody accepts; the next one is ignored (no answer, not refused) until an accept() makes room, and then gets in at its next SYN retry",
        deadline_ms: 15_000,
        main: run::main::<backlog::Backlog>,
        schema: run::schema::<backlog::Backlog>,
    },
    Entry {
        number: 10,
        name: "deadlock",
        title: "the buffer-fill deadlock of a client that never reads",
        passage: "FOPNP 3rd ed., ch. 3, \"Deadlock\", p. 48 onward",
        expected: "deadlock",
        predicts: "a few bytes come back; many bytes fill both sides' buffers until client and server block forever; a client that reads while it writes completes",
        deadline_ms: 60_000,
        main: run::main::<deadlock::Deadlock>,
        schema: run::schema::<deadlock::Deadlock>,
    },
];

/// Finds an experiment by number (`"1"`, `"01"`) or binary name; `None` if
/// no registered experiment has that number or name.
pub fn find(id: &str) -> Option<&'static Entry> {
    match id.parse::<u8>() {
        Ok(n) => EXPERIMENTS.iter().find(|e| e.number == n),
        Err(_) => EXPERIMENTS.iter().find(|e| e.name == id),
    }
}

/// The `main` of an experiment's binary (`src/bin/NAME.rs`): runs the
/// experiment called `name` with this process's arguments.
pub fn main(name: &str) -> ExitCode {
    if let Some(code) = crate::lab::netns::helper_if_asked() {
        return code;
    }
    let entry = find(name).expect("every binary's experiment is registered");
    entry.run(std::env::args_os().skip(1))
}
