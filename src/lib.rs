//! # tcp-workbook
//!
//! Numbered experiments that reproduce, on a real kernel, the TCP passages of
//! *Foundations of Python Network Programming* (3rd ed., Rhodes & Goerzen,
//! ch. 3) and *Programming Python* (4th ed., Lutz, ch. 12), check that the
//! kernel does what the book predicts, and report what it did.
//!
//! ## Layout
//! - [`experiments`]: one module per experiment, holding its socket calls in
//!   order; `src/bin/NAME.rs` only calls its `main`.
//! - [`registry`]: the one numbered list of experiments.
//! - [`report`]: verdicts, JSON reports and narration.
//! - [`runner`]: the `workbook` command: runs experiments in child processes
//!   with hard deadlines and prints a table or JSON Lines.
//! - [`cli`]: the manual `server`/`client` roles' arguments; Python-style
//!   address formatting.
//! - [`deadline`]: `poll(2)` for the calls that have no timeout of their own.
//! - [`error`]: one-line errors with the operation, address, errno and hint.
//! - [`kernel`]: the kernel's view of a socket: queue sizes, `TCP_INFO`, state.
//! - [`watch`]: sampling byte counters; stall detection; the progress line.
//! - [`plot`]: bytes against time, as SVG.

#![warn(missing_docs)]

pub mod cli;
pub mod deadline;
pub mod error;
pub mod experiments;
pub mod kernel;
pub mod plot;
pub mod registry;
pub mod report;
pub mod runner;
pub mod watch;
