//! The command line every experiment shares: the exit statuses, the
//! common flags, the parser that joins them to an experiment's knobs and
//! roles, the help width, and how a usage error is said (one line, exit 2).

use crate::lab::narrate;
use crate::lab::netns::private::{self, Network};

/// Exit status when the observed outcome is the one the book predicts.
pub const EXIT_MATCHED: u8 = 0;
/// Exit status when the kernel did something other than the book predicts.
pub const EXIT_MISMATCH: u8 = 1;
/// Exit status for a usage or environment error (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;

/// The default of `--timeout-ms`, in ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The flags every experiment takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Print one JSON report instead of the narration (default run only).
    #[arg(long, global = true)]
    pub json: bool,
    /// Deadline for every blocking connect, accept, send and recv, in ms.
    #[arg(
        long,
        global = true,
        value_name = "MS",
        default_value_t = DEFAULT_TIMEOUT_MS,
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub timeout_ms: u64,
    /// Where the default run's sockets live: `private`, a network
    /// namespace of its own with only its loopback (where the system
    /// permits it, else the host's), or `host`, the host's loopback.
    #[arg(
        long,
        global = true,
        value_name = "WHERE",
        value_enum,
        default_value_t = NetworkChoice::Private
    )]
    pub network: NetworkChoice,
    /// Write every frame of the default run's network into this pcap file
    /// (Wireshark and tcpdump -r open it), as the run goes.
    #[arg(long, global = true, value_name = "FILE.pcap")]
    pub pcap: Option<std::path::PathBuf>,
    /// After the default run, print every TCP segment it sent, one line
    /// each, as tcpdump prints them (on stderr under --json).
    #[arg(long, global = true)]
    pub trace: bool,
}

/// The values of `--network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkChoice {
    /// A network namespace of its own, where the system permits it.
    Private,
    /// The host's own loopback, shared with every other program.
    Host,
}

impl NetworkChoice {
    /// Enters the network asked for ([`private::enter`] for `private`),
    /// and says where the process now is. Call it before any thread
    /// starts.
    pub fn enter(self) -> Network {
        match self {
            NetworkChoice::Private => private::enter(),
            NetworkChoice::Host => Network::Host {
                why: "asked for (--network host)".into(),
            },
        }
    }
}

#[derive(Debug, clap::Parser)]
pub(crate) struct Cli<K: clap::Args, R: clap::Subcommand> {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) knobs: K,
    #[command(subcommand)]
    pub(crate) role: Option<R>,
}

/// The narrowest help text worth wrapping to, in columns: below it (a
/// `COLUMNS` of 0 or 5) clap would put one word on each line.
pub const MIN_HELP_WIDTH: usize = 40;

/// Sets `command`'s help width: the terminal's, at most 80 columns, and 80
/// where `COLUMNS` asks for less than [`MIN_HELP_WIDTH`].
pub fn help_width(command: clap::Command) -> clap::Command {
    let columns: Option<usize> =
        std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    match columns {
        Some(n) if n < MIN_HELP_WIDTH => command.term_width(80),
        _ => command.max_term_width(80),
    }
}

/// Ends the program after a command-line parse error: help and version go
/// out as clap prints them (exit 0); a usage error becomes one line on
/// stderr, clap's own first line with a hint, and exit status 2.
pub fn usage_error(e: clap::Error, program: &str) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    // clap's first paragraph, on one line: "error: ... <HOST>".
    let lines: Vec<&str> =
        text.lines().take_while(|l| !l.trim().is_empty()).collect();
    let first = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    // clap's line already starts with "error: ".
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    narrate::error_line(format_args!("{first}; hint: see `{program} --help`"));
    std::process::exit(i32::from(EXIT_USAGE))
}
