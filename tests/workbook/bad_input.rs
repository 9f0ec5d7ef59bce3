//! Every bad input gets one clear line and exit status 2, from every
//! binary: unknown flags, missing role arguments, bad ports, hosts that do
//! not resolve (no lookup leaves the machine: `.invalid` names are refused
//! at once), bad byte counts, each experiment's knobs beyond their limits,
//! a manual server on a port in use and a client to a port nobody listens
//! on. No panic, no backtrace.

use std::net::TcpListener;

use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::{assert_usage_error, cmd};

/// Which manual roles each binary has.
fn roles(name: &str) -> (bool, bool) {
    match name {
        "bind-port" => (true, false),
        "refused" => (false, true),
        _ => (true, true),
    }
}

/// Each experiment's own knobs, with values beyond their limits.
fn knob_cases(name: &str) -> Vec<Vec<&'static str>> {
    let sizes = ["0", "-1", "18446744073709551616", "5XB", "abc"];
    let knobs: &[&str] = match name {
        "partial-recv" => &["--split", "--message-bytes"],
        "partial-send" => &["--message-bytes", "--sndtimeo-ms"],
        "backlog" => &["--backlog", "--clients", "--wait-ms"],
        "deadlock" => &["--bytes", "--chunk", "--fix-chunk", "--stall-ms"],
        _ => &[],
    };
    let mut cases = vec![];
    for knob in knobs {
        for v in sizes {
            // 0 is a valid value for some knobs; the rest never are.
            if v == "0"
                && matches!(*knob, "--backlog" | "--sndtimeo-ms" | "--split")
            {
                continue;
            }
            cases.push(vec![*knob, v]);
        }
    }
    if name == "deadlock" {
        cases.push(vec!["--bytes", "18446744073709551615"]);
        cases.push(vec!["--stall-ms", "10"]);
        cases.push(vec!["--sndbuf", "2GiB"]);
        cases.push(vec!["--cycle-ms", "-5"]);
    }
    cases
}

/// Every binary answers a bad command line with one line and exit 2.
#[test]
fn every_binary_answers_bad_arguments_with_one_line_and_exit_2() {
    for e in EXPERIMENTS {
        let name = e.name;
        let (server, client) = roles(name);
        let mut cases: Vec<Vec<&str>> = vec![
            vec!["--nonsense"],
            vec!["--timeout-ms", "0"],
            vec!["--timeout-ms", "abc"],
        ];
        if client {
            cases.push(vec!["client"]);
            for port in ["70000", "-1", "abc"] {
                cases.push(vec!["client", "127.0.0.1", "-p", port]);
            }
            cases.push(vec!["client", "nosuch.invalid"]);
            cases.push(vec!["client", ""]);
            cases.push(vec!["client", "127.0.0.1", "--json"]);
        }
        if server {
            for port in ["70000", "-1", "abc"] {
                cases.push(vec!["server", "127.0.0.1", "-p", port]);
            }
            cases.push(vec!["server", "nosuch.invalid", "-p", "0"]);
        }
        cases.extend(knob_cases(name));
        for args in cases {
            assert_usage_error(name, &args);
        }
    }
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
        let (server, client) = roles(e.name);
        if server {
            let args = ["server", "127.0.0.1", "-p", &taken, "--once"];
            let out = cmd(e.name).args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {out:?}", e.name);
            assert!(err.contains("EADDRINUSE"), "{}: {err}", e.name);
            assert_eq!(err.lines().count(), 1, "{}: {err}", e.name);
        }
        if client && e.name != "refused" {
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
