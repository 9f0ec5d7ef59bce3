//! # tcp-workbook
//!
//! Numbered experiments that reproduce, on a real kernel, the TCP passages of
//! *Foundations of Python Network Programming* (3rd ed., Rhodes & Goerzen,
//! ch. 3) and *Programming Python* (4th ed., Lutz, ch. 12), check that the
//! kernel does what the book predicts, and report what it did.
//!
//! ## Layout
//! - [`experiments`]: one module per experiment, holding its socket calls in
//!   order; `src/bin/NAME.rs` only calls [`registry::main`].
//! - [`registry`]: the one numbered list of experiments.
//! - [`run`]: the run context, the shared flags and the generic entry point
//!   every experiment goes through (exit status 0 / 1 / 2).
//! - [`report`]: the verdict and the JSON report.
//! - [`narrate`]: what experiments print for people.
//! - [`args`]: the manual roles' arguments, host names, byte counts.
//! - [`names`]: `getsockname`/`getpeername` as `SocketAddr`s.
//! - [`pyfmt`]: addresses and bytes printed as Python prints them.
//! - [`server`]: the manual server's accept loop and error policy.
//! - [`peers`]: two peers on two threads; what a run leaves behind.
//! - [`deadline`]: `poll(2)` for the calls that have no timeout of their own.
//! - [`error`]: one-line errors with the operation, address, errno and hint.
//! - [`kernel`]: the kernel's view of a socket: queue sizes, `TCP_INFO`, state;
//!   the table of TCP sockets (`TIME_WAIT` rows); port settings.
//! - [`privilege`]: one call made as an unprivileged user, in a child process.
//! - [`tally`]: a reader that records each `recv(2)` a loop makes.
//! - [`watch`]: sampling byte counters; stall detection; the progress line.
//! - [`plot`]: bytes against time, as SVG.
//! - [`netns`]: two private hosts made of network namespaces, for the
//!   experiments that need a second machine.
//! - [`runner`]: the `workbook` command: runs experiments in child processes
//!   with hard deadlines and prints a table or JSON Lines.

#![warn(missing_docs)]

pub mod args;
pub mod deadline;
pub mod error;
pub mod experiments;
pub mod kernel;
pub mod names;
pub mod narrate;
pub mod netns;
pub mod peers;
pub mod plot;
pub mod privilege;
pub mod pyfmt;
pub mod registry;
pub mod report;
pub mod run;
pub mod runner;
pub mod server;
pub mod tally;
pub mod watch;
