//! `workbook check`: grades a reader's own client or server, in any
//! language, by what the kernel shows when the book's counterpart talks to
//! it.
//!
//! ```console
//! workbook check 01 --server -- python3 my_server.py {host} {port}
//! workbook check 01 --server --each 'class/*/server.py' -- python3 {file} {host} {port}
//! ```
//!
//! The reader's program runs in our network namespace (a private one with
//! only loopback, where the system permits it), as `nobody` when we are
//! root, in a process group of its own that is killed after every check
//! ([`crate::lab::stranger`], [`crate::lab::guard`]). Our side is the
//! book's own counterpart from the experiment's file (its client for a
//! reader's server, its server for a reader's client) and hostile variants
//! of it written in the checks' file.
//!
//! ## Layout
//! - this file: the one list of suites ([`SUITES`]);
//! - [`suite`]: a check ([`Check`](suite::Check)), the checks of one
//!   experiment and role ([`Suite`]), and a check's result
//!   ([`Finding`](suite::Finding));
//! - [`trial`]: what a check calls: start the reader's program, wait until
//!   the kernel shows it listening, read its sockets' queues and states,
//!   note evidence, fail with a reason;
//! - [`run`]: the command line, and running one program through a suite;
//! - [`each`]: `--each`, a child `workbook check` per submission;
//! - [`output`]: the table, JSON Lines, Gradescope's `results.json`, CSV;
//! - [`hostile`]: our side's hostile variants of the book's client, which
//!   the checks of several experiments share;
//! - one file per experiment with the checks of its roles: [`sixteen`]
//!   (01), [`partial_recv`] (02), [`listening_socket`] (04),
//!   [`reuseaddr`] (06), [`bind_interface`] (07, the program inside
//!   another host: [`Trial::start_in`](trial::Trial::start_in)),
//!   [`backlog`] (09), [`deadlock`] (10);
//! - a check the system cannot run (07 without network namespaces) calls
//!   [`Trial::skip`](trial::Trial::skip): neither passed nor failed, and
//!   worth no points.
//!
//! ## Adding the checks of an experiment
//! 1. Write `src/workbook/check/MODULE.rs` (the experiment's module name)
//!    with a `pub static SUITES: &[Suite]`: one [`Suite`] per role the
//!    reader's program may play, each a list of
//!    [`Check`](suite::Check)s. A check is a name (kebab-case; graders
//!    key on it), one line on what our side does, its points, and a
//!    function `fn(&mut Trial) -> Checked`: it starts the reader's program
//!    ([`Trial::listening`](trial::Trial::listening) for a server,
//!    [`Trial::start`](trial::Trial::start) for a client), talks to it
//!    with the experiment's own client or server (made `pub` there) or a
//!    hostile variant written in that file, notes evidence
//!    ([`Trial::note`](trial::Trial::note)) and returns `Ok(())` or
//!    [`fail`](trial::fail)`("one line")`. The framework stops the program
//!    afterwards and adds its exit and output to the evidence.
//!    `src/workbook/check/sixteen.rs` is the model.
//! 2. Add `mod MODULE;` below and `MODULE::SUITES` to [`SUITES`].
//! 3. Add `exercises/NN-name/`: a starting point and two reference
//!    programs per role (one passes, one fails as a first try does), and
//!    their rows in `tests/workbook/check.rs` (or `check_more.rs`).
//! 4. Give every new check its test in the Classroom templates
//!    (`.github/classroom/`) and a new suite its line in
//!    `exercises/gradescope/run_autograder`, and say in
//!    `chapters/11-grading.md` what it does;
//!    `tests/workbook/check_templates.rs` fails until the templates hold
//!    every check.

pub mod backlog;
pub mod bind_interface;
pub mod deadlock;
pub mod each;
pub mod hostile;
pub mod listening_socket;
pub mod output;
pub mod partial_recv;
pub mod reuseaddr;
pub mod run;
pub mod sixteen;
pub mod suite;
pub mod trial;

use suite::{Role, Suite};

/// Every suite, from the experiments' check files, in number order.
pub static SUITES: &[&[Suite]] = &[
    sixteen::SUITES,
    partial_recv::SUITES,
    listening_socket::SUITES,
    reuseaddr::SUITES,
    bind_interface::SUITES,
    backlog::SUITES,
    deadlock::SUITES,
];

/// The suite of experiment `number` for `role`; `None` if there is none.
pub fn find(number: u8, role: Role) -> Option<&'static Suite> {
    all().find(|s| s.number == number && s.role == role)
}

/// Every suite, in number order, servers first.
pub fn all() -> impl Iterator<Item = &'static Suite> {
    SUITES.iter().flat_map(|s| s.iter())
}
