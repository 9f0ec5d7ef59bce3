//! `workbook check`'s command line, and one program run through the checks
//! of one experiment and role, each on a fresh start of the program.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::lab::capture::{Capture, Packets, Wire};
use crate::lab::cli::{EXIT_USAGE, NetworkChoice};
use crate::lab::narrate::{error_line, note_line};
use crate::lab::netns::private::{self, Network};
use crate::lab::out_file::OutFile;
use crate::lab::{guard, privilege, stranger};
use crate::workbook::check::output::{self, Format};
use crate::workbook::check::suite::{Finding, Role, Suite};
use crate::workbook::check::trial::{Options, Trial};
use crate::workbook::check::{self as checks, each};
use crate::workbook::registry;

/// `workbook check`'s arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "CMD may hold {host}, {port} and (with --each) \
    {file}; HOST and PORT are set in its environment too. Exit status: 0 \
    every check passed, 1 some failed, 2 usage or environment error.")]
pub struct CheckArgs {
    /// The experiment, by number (01) or name (sixteen).
    #[arg(value_name = "EXPERIMENT", required_unless_present = "list")]
    pub experiment: Option<String>,
    /// The program is a server: our client connects to it.
    #[arg(long, conflicts_with = "client")]
    pub server: bool,
    /// The program is a client: it connects to our server.
    #[arg(long)]
    pub client: bool,
    /// Grade every file that matches GLOB, one child process each, in
    /// parallel (as many as there are cores, or --jobs).
    #[arg(long, value_name = "GLOB")]
    pub each: Option<String>,
    /// table, json (one line per check, as --json), gradescope (its
    /// results.json) or csv (submission, check, passed, points).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run the program as root when we are root (otherwise it runs as
    /// nobody, uid and gid 65534).
    #[arg(long)]
    pub as_root: bool,
    /// The deadline of each of our side's blocking calls, in ms.
    #[arg(long, value_name = "MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub timeout_ms: u64,
    /// How long the program has to listen (a server), or to end once our
    /// side is done (a client), in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub start_ms: u64,
    /// Where the program and our side run: a private network namespace
    /// with only loopback (where permitted, else the host's), or `host`.
    #[arg(long, value_name = "WHERE", value_enum,
          default_value_t = NetworkChoice::Private)]
    pub network: NetworkChoice,
    /// Run only this check of the suite (by name; see --list): a
    /// gradebook test per check.
    #[arg(long, value_name = "CHECK")]
    pub only: Option<String>,
    /// List the checks of every experiment and role, and what each does.
    #[arg(long)]
    pub list: bool,
    /// Write every segment of every check to FILE, a pcap file that
    /// Wireshark and `tcpdump -r` open (one program, not with --each).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// What {file} stands for (set by --each for its children).
    #[arg(long, hide = true, value_name = "PATH")]
    pub file: Option<String>,
    /// The reader's program and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// How long the program has, after `SIGINT` and again after `SIGTERM`.
const GRACE: Duration = Duration::from_millis(1000);

/// Runs `workbook check` (`json` is the global `--json`, `jobs` an
/// explicit `--jobs`) and returns its exit status: 0 if every check
/// passed, 1 if some failed, 2 for a usage or environment error.
pub fn main(args: CheckArgs, json: bool, jobs: Option<usize>) -> ExitCode {
    if args.list {
        output::list(checks::all());
        return ExitCode::SUCCESS;
    }
    let format = if json { Format::Json } else { args.format };
    let suite = match chosen_suite(&args) {
        Ok(s) => s,
        Err(why) => return usage(why),
    };
    if let Some(name) = &args.only
        && !suite.checks.iter().any(|c| c.name == name)
    {
        let names: Vec<&str> = suite.checks.iter().map(|c| c.name).collect();
        return usage(format!(
            "no check {name:?} here; hint: the checks are {}",
            names.join(", ")
        ));
    }
    if args.command.is_empty() {
        return usage(
            "no program given; hint: put it after --, as in \
             `workbook check 01 --server -- python3 server.py {host} {port}`"
                .into(),
        );
    }
    if let Some(glob) = &args.each {
        if args.pcap.is_some() {
            return usage(
                "--pcap records one program's checks; hint: grade that \
                 submission alone, without --each"
                    .into(),
            );
        }
        if format == Format::Gradescope {
            return usage(
                "--format gradescope is one submission's \
                 results.json; hint: use --format csv or json with --each"
                    .into(),
            );
        }
        return each::main(glob, &args.command, suite, format, jobs, &|file| {
            child_args(&args, file)
        });
    }
    if !args.command[0].contains("{file}") {
        if let Err(why) = stranger::find_program(&args.command[0]) {
            return usage(format!("{why}; hint: name a program to run"));
        }
    }
    // A bad --pcap path is a usage error before any work.
    let pcap = match args.pcap.as_deref().map(|p| OutFile::check("--pcap", p)) {
        Some(Err(e)) => return usage(format!("{e:#}")),
        Some(Ok(file)) => Some(file),
        None => None,
    };
    // Before any thread: a new user namespace needs a process with one.
    let network = args.network.enter();
    // Only what --pcap asks for is captured: the checks do not read it.
    let mut capture = match &pcap {
        None => None,
        Some(file) => match Capture::open(&network, Some(file)) {
            Ok(c) => Some(c),
            Err(e) => return usage(format!("{e:#}")),
        },
    };
    if let Err(e) = private::settle().and_then(|()| guard::install()) {
        error_line(format_args!("{e}; hint: run with --network host"));
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(c) = &mut capture {
        c.start();
    }
    let as_user =
        (privilege::is_root() && !args.as_root).then_some(privilege::NOBODY);
    let opts = Options {
        argv: args.command.clone(),
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        file: args.file.clone(),
        as_user,
        timeout: Duration::from_millis(args.timeout_ms),
        start: Duration::from_millis(args.start_ms),
        grace: GRACE,
        private: network == Network::Private,
        wire: capture
            .as_ref()
            .map_or_else(|| Wire::off("no --pcap"), |c| c.wire()),
        flood_bytes: suite.flood_bytes,
    };
    let mut printer = output::Printer::new(format, suite, &opts.argv);
    printer.network(&network);
    let mut passed = true;
    for finding in run_suite(suite, &opts, &network, args.only.as_deref()) {
        passed &= finding.passed;
        printer.finding(&finding);
    }
    printer.end();
    if let (Some(c), Some(file)) = (capture, &pcap) {
        match c.finish() {
            Ok((Packets::Captured(s), _)) => note_line(format_args!(
                "--pcap {}: {} segments, {} frames dropped by the kernel",
                file.shown(),
                s.segments,
                s.frames_dropped
            )),
            Ok((Packets::NotCaptured { .. }, _)) => {}
            Err(e) => error_line(format_args!("{e:#}")),
        }
    }
    ExitCode::from(if passed { 0 } else { 1 })
}

/// The suite `args` asks for.
fn chosen_suite(args: &CheckArgs) -> Result<&'static Suite, String> {
    let id = args.experiment.as_deref().unwrap_or_default();
    let have: Vec<String> = checks::all()
        .map(|s| format!("{:02} --{}", s.number, s.role.name()))
        .collect();
    let have = have.join(", ");
    let Some(entry) = registry::find(id) else {
        return Err(format!(
            "no experiment {id:?}; hint: checks exist for {have}"
        ));
    };
    let role = match (args.server, args.client) {
        (true, false) => Role::Server,
        (false, true) => Role::Client,
        _ => {
            return Err("say which role the program plays, --server or \
                        --client"
                .into());
        }
    };
    checks::find(entry.number, role).ok_or_else(|| {
        format!(
            "experiment {} {} has no checks for a {}; hint: checks exist \
             for {have}",
            entry.id(),
            entry.name,
            role.name()
        )
    })
}

/// The arguments of the child `workbook check` that grades `file`.
fn child_args(args: &CheckArgs, file: &str) -> Vec<String> {
    let mut a = vec![
        "check".to_owned(),
        args.experiment.clone().unwrap_or_default(),
        if args.server { "--server" } else { "--client" }.to_owned(),
        "--format=json".to_owned(),
        format!("--file={file}"),
        format!("--timeout-ms={}", args.timeout_ms),
        format!("--start-ms={}", args.start_ms),
    ];
    if args.as_root {
        a.push("--as-root".into());
    }
    if let Some(name) = &args.only {
        a.push(format!("--only={name}"));
    }
    if args.network == NetworkChoice::Host {
        a.push("--network=host".into());
    }
    a.push("--".into());
    a.extend(args.command.iter().cloned());
    a
}

fn usage(why: String) -> ExitCode {
    error_line(why);
    ExitCode::from(EXIT_USAGE)
}

/// Runs every check of `suite` (or only the one named `only`) on the
/// program, one after another, and returns what each found, in order, as
/// each finishes.
pub fn run_suite<'a>(
    suite: &'static Suite,
    opts: &'a Options,
    network: &'a Network,
    only: Option<&'a str>,
) -> impl Iterator<Item = Finding> + 'a {
    let entry = registry::find(&suite.number.to_string()).expect("registered");
    let chosen = suite.checks.iter();
    let chosen = chosen.filter(move |c| only.is_none_or(|n| c.name == n));
    chosen.map(move |check| {
        let started = Instant::now();
        let mut t = Trial::new(opts, 0);
        let result = match (suite.role, free_port(opts.host)) {
            (Role::Server, Ok(port)) => {
                t.set_port(port);
                (check.run)(&mut t)
            }
            (Role::Server, Err(e)) => Err(e.into()),
            (Role::Client, _) => (check.run)(&mut t),
        };
        let skipped = t.skipped();
        let (reason, evidence) = t.finish(result);
        Finding {
            experiment: entry.name.to_owned(),
            number: entry.number,
            role: suite.role,
            check: check.name.to_owned(),
            passed: reason.is_none(),
            reason,
            points: if skipped.is_some() { 0 } else { check.points },
            skipped,
            evidence,
            elapsed_ms: started.elapsed().as_millis() as u64,
            network: network.clone(),
            submission: opts.file.clone(),
        }
    })
}

/// A port nobody listens on at `host`, for the program to listen on: the
/// kernel picks one (`bind` to port 0), and we let it go. A listener that
/// never had a connection leaves no `TIME_WAIT` behind.
fn free_port(host: IpAddr) -> std::io::Result<u16> {
    let listener = TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}
