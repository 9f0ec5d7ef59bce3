//! The two hosts' names and addresses, and why they could not be built:
//! what [`super::TwoHosts`] gives on Linux and elsewhere alike.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::lab::report::Errno;

/// Host A's address on the veth link (it exists only inside host A).
pub const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Host B's address on the veth link (it exists only inside host B).
pub const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

/// One of the two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Host A, 10.200.0.1: the server's machine in the book's story.
    A,
    /// Host B, 10.200.0.2: the client's machine.
    B,
}

/// Why the two hosts could not be built, and what would allow them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Skipped {
    /// What failed, in one line: `"unshare(CLONE_NEWUSER|CLONE_NEWNET)"`.
    pub reason: String,
    /// The errno of the call that failed; `None` only if this system has
    /// no name for it.
    pub errno: Option<Errno>,
    /// The command (or setting) that would let the experiment build them.
    pub enable: String,
}
