//! # tcp-workbook
//!
//! Numbered experiments that reproduce, on a real kernel, the TCP passages of
//! *Foundations of Python Network Programming* (3rd ed., Rhodes & Goerzen,
//! ch. 3) and *Programming Python* (4th ed., Lutz, ch. 12), check that the
//! kernel does what the book predicts, and report what it did.
//!
//! ## Layout
//! Three rooms, and imports that run one way: `lab` ← `experiments` ←
//! `workbook` ← `src/bin/`. A lower room never imports a higher one, and
//! `cargo test` fails on an import circle between two files.
//!
//! ### [`lab`]: the instruments
//! What an experiment calls: the contract ([`lab::experiment`]: the
//! `Experiment` trait, `Ctx`, `Verdict`, `Outcome`), the generic entry
//! point that drives it ([`lab::run`]: registry entries, the command line,
//! exit statuses) and the report it ends with ([`lab::report`]); narration
//! ([`lab::narrate`]),
//! arguments ([`lab::args`]), deadlines ([`lab::deadline`]), one-line errors
//! ([`lab::error`]), socket names ([`lab::names`]), Python's formatting
//! ([`lab::pyfmt`]), two peers on two threads ([`lab::peers`]), the manual
//! server's accept loop ([`lab::server`]), a recording reader
//! ([`lab::tally`]), byte counters and stalls ([`lab::watch`]), plots
//! ([`lab::plot`]) and sequence diagrams of segments ([`lab::sequence`]),
//! one call as an unprivileged user ([`lab::privilege`]), two private
//! hosts and the run's own network ([`lab::netns`]), the wire: every
//! segment of a run captured, for the packet checks, `--pcap` and
//! `--trace` ([`lab::capture`]), the kernel's view of a socket, one file
//! per interface ([`lab::kernel`]), child processes and what a run costs
//! ([`lab::process`]), a stranger's program run in its own process group
//! with bounded output ([`lab::stranger`]), nothing left behind on Ctrl-C
//! ([`lab::guard`]), and output files written whole or as the run goes
//! ([`lab::out_file`]).
//!
//! ### [`experiments`]: one experiment per file
//! Each holds its socket calls in order, between the anchors its chapter
//! includes; what only one experiment uses lives with it.
//!
//! ### [`workbook`]: the machinery above the experiments
//! The one numbered list of experiments ([`workbook::registry`]), the
//! `workbook` command that runs them ([`workbook::runner`]), and `workbook
//! check`, which grades a reader's own client or server against the
//! book's counterpart ([`workbook::check`]; its module head says how to add
//! an experiment's checks).
//! `src/bin/NAME.rs` only calls [`workbook::registry::main`].
//!
//! ## Adding an experiment
//! Experiment `NN` is called `name` (its binary's name; its module,
//! `module`, is the same with `_` for `-`) and has a title in plain text.
//! Seven files, and no other, are written by hand:
//!
//! 1. `src/experiments/module.rs`: its first line is
//!    ``//! # NN `name`: TITLE``; a type that implements
//!    [`lab::experiment::Experiment`], its calls between the anchors its
//!    chapter includes. Being in the directory declares the module
//!    (`automod::dir!` in `src/experiments/mod.rs`).
//! 2. `src/bin/name.rs`: `main` calls
//!    [`workbook::registry::main("name")`](workbook::registry::main).
//! 3. `src/workbook/registry.rs`: one
//!    `Entry::new::<Type>(Facts { number, name, title, passage, predicts,
//!    deadline_ms }, &Outcome::Predicted)` in number order, the one place
//!    its number, name, title and passage are written (and its module in
//!    the `use` line).
//! 4. `chapters/NN-name.md`: its h1 is `# NN name: TITLE`; it includes the
//!    code by anchor and `transcripts/NN-name.console`, and says
//!    `cargo run --bin name`; its "On the wire" section includes
//!    `transcripts/NN-name-trace.console` in a `text,trace` block, shows
//!    `images/NN-name-wire.svg`, says `cargo run --bin name -- --pcap` and
//!    `tcpdump -nr`, and an exercise asks about "the trace above" (or the
//!    diagram).
//! 5. `chapters/SUMMARY.md`: the line `- [NN name: TITLE](NN-name.md)`.
//! 6. `tests/workbook/experiments/module.rs`: its tests (declared by being
//!    there, as the experiments are).
//! 7. `tests/workbook/book_wire.rs`: its `Picture`, what its sequence
//!    diagram draws (the run, the two timelines, which segments).
//!
//! The rest is generated, and committed with them:
//! `schema/NN-name.schema.json`, `chapters/transcripts/NN-name.console`
//! (its default run) and `NN-name-trace.console` (its `--trace`, the
//! narration left out; cut its segments by hand, with a `...` line, where
//! later ones vary from run to run), the sequence diagram
//! `chapters/images/NN-name-wire.svg` with the segments it drew
//! (`NN-name-wire.json`), the introduction's table
//! (`chapters/generated/experiments.md`) and the runner's table's new row
//! (`chapters/transcripts/workbook.console`); the `book` and `book_wire`
//! modules' tests write all but the schema:
//!
//! ```console
//! cargo fmt --all    # does not reach the files automod declares (1, 6):
//! rustfmt --edition 2024 src/experiments/*.rs tests/workbook/experiments/*.rs
//! SNAPSHOTS=overwrite cargo test --test workbook -- schema book
//! cargo test    # every check, among them that the title is the same in 1, 3, 4 and 5
//! ```
//!
//! `cargo test` fails, saying what to write, where one of them is missing
//! or disagrees with the registry; its bad-input cases come from the
//! experiment's command line, so its knobs and roles need none by hand.

#![warn(missing_docs)]

pub mod experiments;
pub mod lab;
pub mod workbook;
