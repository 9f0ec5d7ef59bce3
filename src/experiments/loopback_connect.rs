//! # 11 `loopback-connect`: connect() to a listener on loopback
//!
//! **Question.** Does `connect()` to a socket that listens on loopback
//! return at once, before anyone calls `accept()`?
//!
//! **The book.** FOPNP 3rd ed., ch. 3, p. 45: the handshake is the
//! kernel's; `accept()` only hands over a connection already made.
//!
//! **Run.** `cargo run --bin loopback-connect`.
//!
//! **Chapter.** `chapters/11-loopback-connect.md`.

use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::lab::args;
use crate::lab::error::Op;
use crate::lab::experiment::{Ctx, NoKnobs, Verdict};

// ANCHOR: connect
/// What the default run observed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// Whether `connect()` returned a connected socket before `accept()`.
    pub connected: bool,
}

/// The outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[derive(strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// `connect()` returned before `accept()`.
    Connected,
    /// It did not.
    NotConnected,
}

/// Listen, `connect()`, and only then `accept()`.
fn experiment(ctx: &Ctx) -> anyhow::Result<Verdict<Observed, Outcome>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let to = listener.local_addr()?;
    let connected = TcpStream::connect_timeout(&to, ctx.timeout).is_ok();
    ctx.say
        .say(format!("connect() returned: connected = {connected}"));
    let observed = if connected {
        Outcome::Connected
    } else {
        Outcome::NotConnected
    };
    Ok(Verdict::new(observed, Observed { connected }))
}

/// The manual role.
#[derive(Debug, clap::Subcommand)]
pub enum Role {
    /// Connect to HOST once.
    Client(args::ClientArgs),
}

/// Experiment 11, for [`crate::lab::run::main`].
#[derive(Debug)]
pub struct LoopbackConnect;

impl crate::lab::experiment::Experiment for LoopbackConnect {
    type Knobs = NoKnobs;
    type Role = Role;
    type Observed = Observed;
    type Outcome = Outcome;

    fn run(
        _: &NoKnobs,
        ctx: &Ctx,
    ) -> anyhow::Result<Verdict<Observed, Outcome>> {
        experiment(ctx)
    }

    fn role(role: Role, _: &NoKnobs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let Role::Client(a) = role;
        let to = a.server_addr()?;
        TcpStream::connect_timeout(&to, ctx.timeout)
            .op(format!("connect {to}"))?;
        Ok(ExitCode::SUCCESS)
    }
}
// ANCHOR_END: connect
