//! Every bad input gets one clear line and exit status 2, from every
//! binary: unknown flags, missing role arguments, bad ports, hosts that do
//! not resolve (no lookup leaves the machine: `.invalid` names are refused
//! at once), bad byte counts, each experiment's knobs beyond their limits,
//! a manual server on a port in use and a client to a port nobody listens
//! on. No panic, no backtrace.

use std::any::TypeId;
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Arg, Command};
use tcp_workbook::lab::run::Entry;
use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::{assert_usage_error, cmd};

/// Values no number, byte count or buffer size accepts.
const BAD_VALUES: [&str; 4] = ["abc", "-1", "18446744073709551616", "5XB"];

/// Ports no `-p` accepts.
const BAD_PORTS: [&str; 3] = ["70000", "-1", "abc"];

/// The experiment's command line, as its binary parses it.
fn command_of(e: &Entry) -> Command {
    (e.command)(e)
}

/// Whether `arg` is parsed into something other than text (a number, a
/// byte count, a buffer size), so that text can be wrong for it.
fn typed(arg: &Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    arg.get_action().takes_values()
        && ![
            TypeId::of::<String>(),
            TypeId::of::<PathBuf>(),
            TypeId::of::<OsString>(),
        ]
        .iter()
        .any(|t| id == *t)
}

/// How `arg` is written on the command line: `--long` or `-s`.
fn flag(arg: &Arg) -> String {
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => panic!("{} is positional", arg.get_id()),
    }
}

/// A role's manual `-p PORT`, if it has one.
fn port(role: &Command) -> Option<&Arg> {
    role.get_arguments()
        .find(|a| a.get_short() == Some('p') || a.get_long() == Some("port"))
}

/// A value the role accepts for a positional, to reach the ones after
/// it: the host (the first) is `127.0.0.1`, the others their default.
fn good(role: &Command, index: usize) -> String {
    let arg = role.get_positionals().nth(index).unwrap();
    match (index, arg.get_default_values().first()) {
        (0, _) => "127.0.0.1".to_owned(),
        (_, Some(v)) => v.to_string_lossy().into_owned(),
        (_, None) => "1".to_owned(),
    }
}

/// The bad command lines of one binary, derived from its command: for the
/// binary, an unknown flag and every typed option with [`BAD_VALUES`];
/// for every role, each required positional missing, `--json`, a bad
/// `-p`, a host that does not resolve (and "" where a host is required),
/// and every typed option and positional with [`BAD_VALUES`]. The first
/// list must fail in clap's parser (its line ends with the `--help`
/// hint); the second may fail later, before any socket call.
fn derived_cases(command: &Command) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (mut parse, mut later) = (vec![s(&["--nonsense"])], vec![]);
    for arg in command.get_arguments().filter(|a| typed(a)) {
        for v in BAD_VALUES {
            parse.push(vec![flag(arg), v.to_owned()]);
        }
    }
    for role in command.get_subcommands() {
        let name = role.get_name().to_owned();
        let positionals: Vec<&Arg> = role.get_positionals().collect();
        let required = positionals.iter().filter(|a| a.is_required_set());
        // The role with its host and every other required positional.
        let given = required.clone().count().max(positionals.len().min(1));
        let filled: Vec<String> = std::iter::once(name.clone())
            .chain((0..given).map(|i| good(role, i)))
            .collect();
        // Each required positional missing, those before it given.
        for (i, _) in required.enumerate() {
            let mut args = vec![name.clone()];
            args.extend((0..i).map(|j| good(role, j)));
            parse.push(args);
        }
        later.push([&filled[..], &s(&["--json"])].concat());
        if let Some(p) = port(role) {
            for v in BAD_PORTS {
                parse.push([&filled[..], &[flag(p), v.to_owned()]].concat());
            }
        }
        // The host: a name that never resolves, and "" where it is
        // required ("" is a server's "all interfaces"). A server is given
        // port 0, so that a bad host let through cannot take the book's.
        if let Some(host) = positionals.first() {
            let mut bad = vec!["nosuch.invalid"];
            if host.is_required_set() {
                bad.push("");
            }
            for h in bad {
                let mut args = s(&[&name, h]);
                args.extend(filled.iter().skip(2).cloned());
                if let Some(p) = port(role).filter(|_| !host.is_required_set())
                {
                    args.extend([flag(p), "0".to_owned()]);
                }
                later.push(args);
            }
        }
        let typed_positionals =
            positionals.iter().enumerate().filter(|(_, a)| typed(a));
        for (i, _) in typed_positionals {
            for v in BAD_VALUES {
                let mut args = vec![name.clone()];
                args.extend((0..i).map(|j| good(role, j)));
                args.push(v.to_owned());
                parse.push(args);
            }
        }
        for arg in role.get_arguments().filter(|a| !a.is_positional()) {
            if !typed(arg)
                || port(role).is_some_and(|p| p.get_id() == arg.get_id())
            {
                continue;
            }
            for v in BAD_VALUES {
                parse.push([&filled[..], &[flag(arg), v.to_owned()]].concat());
            }
        }
    }
    (parse, later)
}

/// Bad values more specific than [`derived_cases`] finds: a value of the
/// right type beyond one knob's limits, or two knobs that disagree.
fn extra_cases(name: &str) -> Vec<Vec<&'static str>> {
    let mut cases = vec![vec!["--timeout-ms", "0"]];
    let zero_is_wrong: &[&str] = match name {
        "partial-recv" => &["--message-bytes"],
        "partial-send" => &["--message-bytes"],
        "backlog" => &["--clients", "--wait-ms"],
        "deadlock" => &["--bytes", "--chunk", "--fix-chunk", "--stall-ms"],
        _ => &[],
    };
    cases.extend(zero_is_wrong.iter().map(|knob| vec![*knob, "0"]));
    // Values that could never give the book's outcome: refused, with the
    // least that could.
    match name {
        "partial-recv" => cases.push(vec!["--message-bytes", "64KiB"]),
        "deadlock" => cases.push(vec!["--bytes", "4095"]),
        _ => {}
    }
    if name == "deadlock" {
        cases.push(vec!["--bytes", "18446744073709551615"]);
        cases.push(vec!["--stall-ms", "10"]);
        cases.push(vec!["--sndbuf", "2GiB"]);
        cases.push(vec!["--cycle-ms", "-5"]);
    }
    cases
}

/// Runs `name args...` and checks it is a usage error caught by the
/// command-line parser: one line ending in the `--help` hint (so a bad
/// value that was accepted, and failed later, does not pass).
fn assert_parse_error(name: &str, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = assert_usage_error(name, &args);
    assert!(
        line.trim_end()
            .ends_with(&format!("hint: see `{name} --help`")),
        "{name} {args:?}: not a parse error: {line}"
    );
}

/// Every binary answers a bad command line with one line and exit 2: every
/// knob, role, port and host its command has (so a new knob gets its
/// cases without a line here), and a few cases more specific.
#[test]
fn every_binary_answers_bad_arguments_with_one_line_and_exit_2() {
    let (mut parsed, mut later, mut extra) = (0, 0, 0);
    for e in EXPERIMENTS {
        let (parse, late) = derived_cases(&command_of(e));
        for args in &parse {
            assert_parse_error(e.name, args);
        }
        for args in &late {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_usage_error(e.name, &args);
        }
        for args in extra_cases(e.name) {
            assert_usage_error(e.name, &args);
        }
        parsed += parse.len();
        later += late.len();
        extra += extra_cases(e.name).len();
    }
    eprintln!(
        "bad-input cases: {parsed} parse errors and {later} later errors \
         derived from the commands, {extra} written by hand"
    );
    for args in [
        &["--nonsense"][..],
        &["--deadline-ms", "0"],
        &["run", "99"],
        &["run", "10", "--", "--bogus"],
    ] {
        let out = cmd("workbook").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "workbook {args:?}: {out:?}");
    }
}

/// Whether the experiment has the manual role `name`.
fn has_role(e: &Entry, name: &str) -> bool {
    command_of(e).find_subcommand(name).is_some()
}

/// A manual server asked for a port a listener holds exits 2 naming
/// EADDRINUSE; a client aimed at a port nobody listens on exits 2 naming
/// ECONNREFUSED, except `refused`'s, for which that is the experiment.
#[test]
fn every_role_reports_a_port_in_use_and_a_refused_connect() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    for e in EXPERIMENTS {
        if has_role(e, "server") {
            let args = ["server", "127.0.0.1", "-p", &taken, "--once"];
            let out = cmd(e.name).args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {out:?}", e.name);
            assert!(err.contains("EADDRINUSE"), "{}: {err}", e.name);
            assert_eq!(err.lines().count(), 1, "{}: {err}", e.name);
        }
        if has_role(e, "client") && e.name != "refused" {
            let args = ["client", "127.0.0.1", "-p", &closed];
            let out = cmd(e.name).args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {out:?}", e.name);
            assert!(err.contains("ECONNREFUSED"), "{}: {err}", e.name);
            assert_eq!(err.lines().count(), 1, "{}: {err}", e.name);
        }
    }
    let out = cmd("refused")
        .args(["client", "127.0.0.1", "-p", &closed])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ECONNREFUSED"),
        "refused explains it: {out:?}"
    );
}

/// `--json` asks for a default run's report; with a manual role it is a
/// usage error that says so, not a flag silently ignored.
#[test]
fn json_with_a_manual_role_is_refused() {
    let out = cmd("sixteen")
        .args(["client", "127.0.0.1", "-p", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: --json"), "{err}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// A deadline too short for the default run to ever reach the book's
/// outcome is a usage error (one line, exit 2) that names the least that
/// works, not a verdict that blames the kernel (exit 1).
#[test]
fn a_deadline_too_short_for_the_default_run_is_a_usage_error() {
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "deadlock",
            &["--timeout-ms", "200"],
            "--timeout-ms 1000 or more",
        ),
        (
            "backlog",
            &["--timeout-ms", "1"],
            "--timeout-ms 1500 or more",
        ),
    ];
    for (name, args, least) in cases {
        let line = assert_usage_error(name, args);
        assert!(line.contains(least), "{name} {args:?}: {line}");
    }
    // Without the large case, the deadlock's fix needs no stall window.
    let out = crate::cmd("deadlock")
        .args(["--fixed", "--bytes", "64KiB", "--timeout-ms", "200"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
