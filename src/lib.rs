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
//! ([`lab::plot`]), one call as an unprivileged user ([`lab::privilege`]),
//! two private hosts ([`lab::netns`]), the kernel's view of a socket, one
//! file per interface ([`lab::kernel`]), child processes and what a run
//! costs ([`lab::process`]), and output files written whole
//! ([`lab::out_file`]).
//!
//! ### [`experiments`]: one experiment per file
//! Each holds its socket calls in order, between the anchors its chapter
//! includes; what only one experiment uses lives with it.
//!
//! ### [`workbook`]: the machinery above the experiments
//! The one numbered list of experiments ([`workbook::registry`]) and the
//! `workbook` command that runs them ([`workbook::runner`]).
//! `src/bin/NAME.rs` only calls [`workbook::registry::main`].

#![warn(missing_docs)]

pub mod experiments;
pub mod lab;
pub mod workbook;
