//! The contract between an experiment and the workbook: the [`Experiment`]
//! trait an experiment implements, the [`Ctx`] it runs with, the
//! [`Verdict`] it returns, and the [`Outcome`] enum that verdict names.
//! The generic entry point that drives it is in [`crate::lab::run`].

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::lab::capture::Wire;
use crate::lab::narrate::Narrator;

/// An experiment's outcome: an enum with one variant per thing its verdict
/// can say the kernel did, serialized (serde and strum alike) as a
/// snake_case token such as `"exchanged"`. Derive it as
/// `#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize,
/// schemars::JsonSchema, strum::IntoStaticStr)]` with
/// `#[serde(rename_all = "snake_case")]` and
/// `#[strum(serialize_all = "snake_case")]`.
pub trait Outcome:
    Copy
    + Eq
    + std::fmt::Debug
    + Serialize
    + schemars::JsonSchema
    + Into<&'static str>
    + Sync
    + 'static
{
    /// The token the reports and the runner's table use: `"exchanged"`.
    fn token(self) -> &'static str {
        self.into()
    }
}

impl<T> Outcome for T where
    T: Copy
        + Eq
        + std::fmt::Debug
        + Serialize
        + schemars::JsonSchema
        + Into<&'static str>
        + Sync
        + 'static
{
}

/// What an experiment's code gets to run with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// True if the report goes out as JSON (narration is then silent).
    pub json: bool,
    /// The deadline for each blocking socket call (`--timeout-ms`).
    pub timeout: Duration,
    /// Where narration goes: tagged lines in the default run, plain lines
    /// (as the book's scripts print them) in a manual role.
    pub say: Narrator,
    /// The run's capture: the segments on the wire so far, for the packet
    /// checks, or why there are none (a manual role captures nothing).
    pub wire: Wire,
}

/// The outcome of a default run: what the kernel did (`O`, the
/// experiment's [`Outcome`]), and the measurements `M` that decided it.
#[derive(Debug)]
pub struct Verdict<M, O> {
    /// The observed outcome, compared with the expected one.
    pub observed: O,
    /// The outcome this run expects; `None` means the registry's.
    pub expected: Option<O>,
    /// Everything measured, serialized as the report's `measurements`.
    pub measurements: M,
}

impl<M, O> Verdict<M, O> {
    /// A verdict that compares `observed` with the registry's prediction.
    pub fn new(observed: O, measurements: M) -> Self {
        Verdict {
            observed,
            expected: None,
            measurements,
        }
    }

    /// Expects `outcome` instead of the registry's: for a mode that checks
    /// another of the passage's predictions (`deadlock --fixed`).
    pub fn expecting(mut self, outcome: O) -> Self {
        self.expected = Some(outcome);
        self
    }
}

/// An experiment: its knobs, its manual roles, what it measures, and the
/// two ways to run it.
pub trait Experiment {
    /// The default run's own flags (a `clap::Args` struct; `NoKnobs` if none).
    type Knobs: clap::Args;
    /// The manual roles (a `clap::Subcommand` enum: `server`, `client`).
    type Role: clap::Subcommand;
    /// The default run's measurements, one struct with named fields in
    /// units; it becomes the report's `measurements`.
    type Observed: Serialize + schemars::JsonSchema;
    /// What its verdict can say the kernel did: an enum, one variant per
    /// outcome, the registry's expected outcome among them.
    type Outcome: Outcome;

    /// The default run: plays every role on loopback (or in namespaces it
    /// makes) and returns what the kernel did.
    ///
    /// # Errors
    /// An environment failure that kept the experiment from running (a
    /// socket call that failed), reported in one line with exit status 2.
    fn run(
        knobs: &Self::Knobs,
        ctx: &Ctx,
    ) -> anyhow::Result<Verdict<Self::Observed, Self::Outcome>>;

    /// The sysctls the default run with `knobs` leaves as the host has
    /// them in its private network namespace, where the others are pinned
    /// ([`crate::lab::kernel::sysctl::PINNED`]): those whose host values
    /// the run shows (the deadlock's autotuned buffers). None by default.
    fn host_sysctls(_knobs: &Self::Knobs) -> &'static [&'static str] {
        &[]
    }

    /// A manual role, as the book's script runs it in a terminal.
    ///
    /// # Errors
    /// As for [`Experiment::run`].
    fn role(
        role: Self::Role,
        knobs: &Self::Knobs,
        ctx: &Ctx,
    ) -> anyhow::Result<ExitCode>;
}

/// For an experiment without knobs of its own.
#[derive(Debug, Clone, clap::Args)]
pub struct NoKnobs {}
