//! The one list of experiments: number, binary name, title, source passage,
//! expected outcome, and the runner's hard deadline.
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

use std::ffi::OsString;
use std::process::ExitCode;

use crate::experiments;

/// One registered experiment.
#[derive(Debug)]
pub struct Experiment {
    /// Its fixed number, 1 to 99; shown with two digits (`01`).
    pub number: u8,
    /// The binary's name, as in `cargo run --bin NAME`; also its chapter's
    /// file name, `chapters/NN-NAME.md`.
    pub name: &'static str,
    /// A short title for tables and the book.
    pub title: &'static str,
    /// The source passage: book, edition, chapter, listing or page.
    pub passage: &'static str,
    /// The outcome the book predicts, as the token the report uses.
    pub expected: &'static str,
    /// What the book predicts, in one sentence.
    pub predicts: &'static str,
    /// The runner kills the experiment's process after this many ms.
    pub deadline_ms: u64,
    /// The experiment's entry point, given its whole argument list
    /// (`args[0]` is the program name).
    pub main: fn(Vec<OsString>) -> ExitCode,
}

impl Experiment {
    /// The two-digit number the tables and chapter files use: `"01"`.
    pub fn id(&self) -> String {
        format!("{:02}", self.number)
    }

    /// The chapter file for this experiment, relative to `chapters/`.
    pub fn chapter_file(&self) -> String {
        format!("{}-{}.md", self.id(), self.name)
    }
}

/// Every experiment, in number order.
pub static EXPERIMENTS: &[Experiment] = &[
    Experiment {
        number: 1,
        name: "sixteen",
        title: "the sixteen-octet client and server",
        passage: "FOPNP 3rd ed., ch. 3, Listing 3-1, output on p. 46",
        expected: "exchanged",
        predicts: "the client's 16 octets and the server's 16-octet reply arrive intact, and the connected socket joins the listening address to the client's socket name",
        deadline_ms: 15_000,
        main: experiments::sixteen::main,
    },
    Experiment {
        number: 10,
        name: "deadlock",
        title: "the buffer-fill deadlock of a client that never reads",
        passage: "FOPNP 3rd ed., ch. 3, \"Deadlock\", p. 48 onward",
        expected: "deadlock",
        predicts: "a few bytes come back; many bytes fill both sides' buffers until client and server block forever; a client that reads while it writes completes",
        deadline_ms: 60_000,
        main: experiments::deadlock::main,
    },
];

/// Finds an experiment by number (`"1"`, `"01"`) or binary name; `None` if
/// no registered experiment has that number or name.
pub fn find(id: &str) -> Option<&'static Experiment> {
    match id.parse::<u8>() {
        Ok(n) => EXPERIMENTS.iter().find(|e| e.number == n),
        Err(_) => EXPERIMENTS.iter().find(|e| e.name == id),
    }
}
