//! What a check is, what the checks of one experiment and role are, and
//! what a check found.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lab::netns::private::Network;
use crate::workbook::check::trial::{Checked, Trial};

/// The role the reader's program plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It listens; our client connects to it.
    Server,
    /// It connects; our server listens for it.
    Client,
}

impl Role {
    /// `"server"` or `"client"`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// One check: what our side does to the reader's program, and what it
/// must see.
#[derive(Debug)]
pub struct Check {
    /// Its name, kebab-case, fixed once published: `replies-farewell`.
    pub name: &'static str,
    /// What our side does, in one line, for `workbook check --list`.
    pub does: &'static str,
    /// What it is worth in a gradebook.
    pub points: u32,
    /// The check itself; the framework stops the program afterwards.
    pub run: fn(&mut Trial) -> Checked,
}

/// The checks of one experiment for a program in one role.
#[derive(Debug)]
pub struct Suite {
    /// The experiment's number in the registry.
    pub number: u8,
    /// The role of the reader's program.
    pub role: Role,
    /// The checks, run in this order, each on a fresh start of the program.
    pub checks: &'static [Check],
    /// How much the program may write (stdout and stderr), in bytes,
    /// before it is killed for flooding its output:
    /// [`crate::lab::stranger::FLOOD_BYTES`], or more where the book's own
    /// program prints as it goes.
    pub flood_bytes: u64,
}

/// What one check found: one row of the table, one line of `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// The experiment's name: `"sixteen"`.
    pub experiment: String,
    /// The experiment's number.
    pub number: u8,
    /// The role of the reader's program.
    pub role: Role,
    /// The check's name.
    pub check: String,
    /// Whether the program passed it (a skipped check did: it did not
    /// fail).
    pub passed: bool,
    /// Why the check could not run here, in one line (no second host:
    /// this system forbids network namespaces); `None` if it ran. A
    /// skipped check is worth no points, either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Why it failed, in one line; `None` if it passed.
    pub reason: Option<String>,
    /// What the check is worth; earned only if passed.
    pub points: u32,
    /// The kernel's evidence and the program's: bytes each side saw,
    /// errnos, socket states and queues, its exit and its output's tail.
    pub evidence: Map<String, Value>,
    /// How long the check took, in ms.
    pub elapsed_ms: u64,
    /// Where the program ran: a private network namespace or the host's.
    pub network: Network,
    /// The submission (`--each`): the file `{file}` stood for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<String>,
}
