//! What experiment 07 observes, cell by cell, and how it narrates it: the
//! tables of cells, and the reason the two-host part was skipped.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::lab::narrate::Narrator;
use crate::lab::netns::Skipped;
use crate::lab::report::Errno;

/// The machine a socket is made on: this host (the loopback table), or
/// host A or B of the two private hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub enum Machine {
    /// The machine the experiment runs on.
    #[serde(rename = "this host")]
    ThisHost,
    /// Host A, 10.200.0.1: the server's machine.
    A,
    /// Host B, 10.200.0.2: the client's machine.
    B,
}

/// One cell of a table: a server bound to `bound`, a client connecting.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cell {
    /// The listening socket's address (`getsockname` after `bind`).
    pub bound: SocketAddr,
    /// Where the client ran: `"this host"`, or host `"A"` or `"B"`.
    pub client_on: Machine,
    /// The address the client's `connect()` aimed at.
    pub connect_to: SocketAddr,
    /// Whether `connect()` succeeded.
    pub connected: bool,
    /// How long `connect()` took, in µs.
    pub connect_us: u64,
    /// `connect()`'s errno; `None` when it connected.
    pub errno: Option<Errno>,
    /// The server's connected socket's own name (`getsockname` after
    /// `accept`): the address the client reached. `None` if refused.
    pub server_name: Option<SocketAddr>,
    /// The client's address as the server's `accept()` returned it.
    pub server_peer: Option<SocketAddr>,
}

/// A cell's outcome: `"connected"`, or the errno's name.
pub(super) fn outcome(c: &Cell) -> &str {
    match (&c.errno, c.connected) {
        (_, true) => "connected",
        (Some(e), false) => &e.name,
        (None, false) => "failed",
    }
}

/// Prints a table of cells: a row per bound address, a column per client.
pub(super) fn table(say: &Narrator, title: &str, cells: &[Cell]) {
    let ip =
        |a: Option<SocketAddr>| a.map_or("?".into(), |a| a.ip().to_string());
    let text = |c: &Cell| match (c.connected, &c.errno) {
        (true, _) => {
            format!("connected {}←{}", ip(c.server_name), ip(c.server_peer))
        }
        (false, Some(e)) => format!("{} ({})", e.name, e.number),
        (false, None) => "failed".into(),
    };
    let head = |c: &Cell| match c.client_on {
        Machine::ThisHost => format!("client to {}", c.connect_to.ip()),
        host => format!("client on {host:?} to {}", c.connect_to.ip()),
    };
    say.say(title);
    let (a, b) = (head(&cells[0]), head(&cells[1]));
    say.say(format!("   {:<13} {a:<31} {b}", "server binds"));
    for row in cells.chunks(2) {
        let bound = match row[0].bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => "\"\" (0.0.0.0)".into(),
            ip => ip.to_string(),
        };
        let (a, b) = (text(&row[0]), text(&row[1]));
        say.say(format!("   {bound:<13} {a:<31} {b}"));
    }
    say.say("   (connected X←Y: the server's connected socket is named X,");
    say.say("   and accept() gave it the peer Y)");
}

/// Says why the two-host part was skipped, and how to enable it.
pub(super) fn narrate_skip(say: &Narrator, s: &Skipped) {
    let errno = s
        .errno
        .as_ref()
        .map_or(String::new(), |e| format!(": {} ({})", e.name, e.number));
    say.say(format!("2. Two hosts: skipped, {}{errno}", s.reason));
    let mut line = String::from("   to enable:");
    for word in s.enable.split(' ') {
        if line.chars().count() + word.len() >= 78 {
            say.say(std::mem::replace(&mut line, "    ".into()));
        }
        line = format!("{line} {word}");
    }
    say.say(line);
}
