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

use crate::experiments::{deadlock, partial_recv, partial_send, sixteen};
use crate::run::{self, Entry};

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
    let entry = find(name).expect("every binary's experiment is registered");
    entry.run(std::env::args_os().skip(1))
}
