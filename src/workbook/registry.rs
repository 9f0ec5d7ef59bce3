//! The one list of experiments: number, binary name, title, source passage,
//! expected outcome (one of the experiment's own) and the runner's hard
//! deadline; [`Entry::new`] adds the entry point and the schema.
//!
//! The numbers and names are fixed (an instructor's assignment sheet may say
//! "run 10"); experiments are added here as they are written. To see the
//! list with titles, passages and predictions, run `cargo run -- list`
//! (`workbook list`); the book's introduction shows the same table,
//! generated from this one by `cargo test`.

use std::process::ExitCode;

use crate::experiments::{
    backlog, bind_interface, bind_port, deadlock, listening_socket,
    partial_recv, partial_send, refused, reuseaddr, sixteen,
};
use crate::lab::run::{Entry, Facts};

/// Every experiment, in number order.
pub static EXPERIMENTS: &[Entry] = &[
    Entry::new::<sixteen::Sixteen>(
        Facts {
            number: 1,
            name: "sixteen",
            title: "the sixteen-octet client and server",
            passage: "FOPNP 3rd ed., ch. 3, Listing 3-1, output on p. 46",
            predicts: "the client's 16 octets and the server's 16-octet reply arrive intact, and the connected socket joins the listening port to the client's socket name",
            deadline_ms: 15_000,
        },
        &sixteen::Outcome::Exchanged,
    ),
    Entry::new::<partial_recv::PartialRecv>(
        Facts {
            number: 2,
            name: "partial-recv",
            title: "recv() returns what has arrived",
            passage: "FOPNP 3rd ed., ch. 3, p. 45",
            predicts: "recv(16) returns the 8 bytes that have arrived, recvall() needs a second call, a 4 MiB recv returns much less than 4 MiB, and recv returns 0 only at the end of the stream, so recvall() fails if the peer closes mid-message",
            deadline_ms: 15_000,
        },
        &partial_recv::Outcome::PartialReads,
    ),
    Entry::new::<partial_send::PartialSend>(
        Facts {
            number: 3,
            name: "partial-send",
            title: "send() accepts all, part, or none",
            passage: "FOPNP 3rd ed., ch. 3, p. 45; send's cases as in the Erle notes",
            predicts: "a small send is accepted whole; with the send buffer full, a non-blocking send accepts part, the next none (EAGAIN) and a blocking one waits; sendall() delivers every byte once the peer reads",
            deadline_ms: 15_000,
        },
        &partial_send::Outcome::PartialSend,
    ),
    Entry::new::<listening_socket::ListeningSocket>(
        Facts {
            number: 4,
            name: "listening-socket",
            title: "one socket per conversation",
            passage: "FOPNP 3rd ed., ch. 3, \"One Socket per Conversation\", p. 45-46",
            predicts: "each accept() returns a new connected socket on the listening port, facing its own client; the listening socket itself cannot send or receive (EPIPE, ENOTCONN)",
            deadline_ms: 15_000,
        },
        &listening_socket::Outcome::AcceptsOnly,
    ),
    Entry::new::<bind_port::BindPort>(
        Facts {
            number: 5,
            name: "bind-port",
            title: "what bind() claims",
            passage: "Programming Python 4th ed., ch. 12, \"Server socket calls\", p. 790",
            predicts: "a port already in use cannot be bound again (on the same address), port 0 gets a free port from the kernel, and an ordinary user cannot bind below 1024",
            deadline_ms: 15_000,
        },
        &bind_port::Outcome::PortClaimed,
    ),
    Entry::new::<reuseaddr::Reuseaddr>(
        Facts {
            number: 6,
            name: "reuseaddr",
            title: "\"Address already in use\"",
            passage: "FOPNP 3rd ed., ch. 3, \"Address Already in Use\", p. 46 onward",
            predicts: "an idle server restarts at once, but after a conversation the restart fails with \"Address already in use\" unless SO_REUSEADDR is set",
            deadline_ms: 15_000,
        },
        &reuseaddr::Outcome::AddressInUse,
    ),
    Entry::new::<bind_interface::BindInterface>(
        Facts {
            number: 7,
            name: "bind-interface",
            title: "binding 127.0.0.1 vs \"\"",
            passage: "FOPNP 3rd ed., ch. 3, \"Binding to Interfaces\", p. 47-48",
            predicts: "a server bound to 127.0.0.1 is refused to clients that come by another address or from another host; one bound to \"\" accepts them all",
            deadline_ms: 15_000,
        },
        &bind_interface::Outcome::BoundOnly,
    ),
    Entry::new::<refused::Refused>(
        Facts {
            number: 8,
            name: "refused",
            title: "connect() to a port nobody listens on",
            passage: "FOPNP 3rd ed., ch. 3, p. 48",
            predicts: "connect() fails at once with \"Connection refused\" (ECONNREFUSED), and a server listening elsewhere is not told",
            deadline_ms: 15_000,
        },
        &refused::Outcome::Refused,
    ),
    Entry::new::<backlog::Backlog>(
        Facts {
            number: 9,
            name: "backlog",
            title: "the queue in front of accept()",
            passage: "FOPNP 3rd ed., ch. 3, p. 46; Lutz 4th ed., ch. 12, p. 790",
            predicts: "backlog + 1 clients connect while nobody accepts; the next one is ignored (no answer, not refused) until an accept() makes room, and then gets in at its next SYN retry",
            deadline_ms: 15_000,
        },
        &backlog::Outcome::Ignored,
    ),
    Entry::new::<deadlock::Deadlock>(
        Facts {
            number: 10,
            name: "deadlock",
            title: "the buffer-fill deadlock",
            passage: "FOPNP 3rd ed., ch. 3, \"Deadlock\", p. 48 onward",
            predicts: "a few bytes come back; many bytes fill both sides' buffers until client and server block forever; a client that reads while it writes completes",
            deadline_ms: 60_000,
        },
        &deadlock::Outcome::Deadlock,
    ),
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
