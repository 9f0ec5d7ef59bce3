//! Where a default run's sockets live: a network namespace of its own
//! (`lab::netns::private`) where the system permits it, else the host's.

use std::time::{Duration, Instant};

use tcp_workbook::lab::netns::private::Network;
use tcp_workbook::workbook::registry::EXPERIMENTS;

use crate::{Background, cmd, report};

/// A default run that says it is private really runs in another network
/// namespace than ours: `/proc/PID/ns/net` of the running experiment (09,
/// which takes a second) names another namespace than `/proc/self/ns/net`.
#[test]
fn a_private_run_is_in_another_network_namespace() {
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut run = Background::start("backlog", &["--json"]);
    let pid = run.child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    // It enters its namespace first thing; until then it shares ours.
    let mut seen_another = false;
    while Instant::now() < deadline {
        match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
            Ok(theirs) if theirs != ours => {
                seen_another = true;
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break, // it has ended
        }
    }
    let line = run.next_line();
    let said: tcp_workbook::lab::report::Report = report(line.as_bytes());
    match said.network {
        Some(Network::Private) => {
            assert!(seen_another, "a private run shares our namespace");
        }
        Some(Network::Host { why }) => {
            eprintln!("skipped: this system gives no private network: {why}")
        }
        None => panic!("the report does not say where it ran: {line}"),
    }
    assert_eq!(run.wait_code(), 0);
}

/// `--network host` runs every experiment on the host's loopback, says
/// so, and gives the verdict the book predicts, as a private run does.
#[test]
fn network_host_gives_the_same_verdicts() {
    for e in EXPERIMENTS {
        let out = cmd(e.name)
            .args(["--json", "--network", "host"])
            .output()
            .unwrap();
        let said: tcp_workbook::lab::report::Report = report(&out.stdout);
        assert_eq!(
            said.network,
            Some(Network::Host {
                why: "asked for (--network host)".into()
            }),
            "{}",
            e.name
        );
        assert!(said.matched, "{}: {said:?}", e.name);
        assert_eq!(out.status.code(), Some(0), "{}", e.name);
    }
}
