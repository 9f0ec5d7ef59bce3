//! Experiment 06 `reuseaddr`: the restart after a conversation, read from
//! the typed report (errnos and the kernel's TIME_WAIT rows), and the
//! book's Ctrl-C-and-restart with the manual roles. Every port is one the
//! kernel picked; nothing waits out TIME_WAIT.

use tcp_workbook::experiments::reuseaddr::Observed;
use tcp_workbook::lab::kernel::{TcpRow, TcpState};
use tcp_workbook::lab::report::{Errno, Report};

use crate::{Background, cmd, report};

fn in_use() -> Option<Errno> {
    Some(Errno {
        name: "EADDRINUSE".into(),
        number: 98,
    })
}

/// The default run's report (exit 0 as the book predicts, 1 if not).
fn default_run() -> Report<Observed> {
    let out = cmd("reuseaddr").arg("--json").output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    report::<Observed>(&out.stdout)
}

/// The default run ends with the book's outcome, and exits 0.
#[test]
fn default_run_matches_the_book() {
    let r = default_run();
    assert_eq!((r.observed.as_str(), r.matched), ("address_in_use", true));
}

/// A TIME_WAIT row straight from /proc/net/tcp: its timer runs, at most
/// the 60 s Linux gives it.
fn assert_time_wait(row: &TcpRow) {
    assert_eq!(row.state, TcpState::TimeWait, "{row:?}");
    let left = row.timer_left_ms.expect("a TIME_WAIT row has a timer");
    assert!(0 < left && left <= 60_000, "{row:?}");
}

/// Stopping and restarting a listener that had no connection works
/// without SO_REUSEADDR: "you will see no effect at all".
#[test]
fn idle_restart_needs_no_reuseaddr() {
    assert_eq!(default_run().measurements.idle_restart_errno, None);
}

/// After a conversation the server closed first, its end is in TIME_WAIT
/// on the listening port, and a restart gets EADDRINUSE without
/// SO_REUSEADDR, and also with it on the new socket only; with it on the
/// old listener and the new socket, the restart works.
#[test]
fn restart_after_server_close_needs_reuseaddr_on_both_sockets() {
    let o = default_run().measurements;
    let row = o.server_time_wait.expect("the server's end in TIME_WAIT");
    assert_time_wait(&row);
    assert_eq!(Some(row.local), o.server_first_at, "on the listening port");
    assert_ne!(row.remote.port(), row.local.port());
    assert_eq!(o.restart_errno, in_use());
    assert_eq!(o.restart_new_only_errno, in_use());
    assert_eq!(o.restart_both_errno, None);
    assert_eq!((o.time_wait_lasted_ms, o.after_wait_errno), (None, None));
}

/// When the client closes first, TIME_WAIT lands on the client's own
/// port, none on the server's, and the server restarts without the option.
#[test]
fn client_closing_first_takes_time_wait_with_it() {
    let o = default_run().measurements;
    let at = o.client_first_at.expect("case 3 ran");
    let row = o.client_time_wait.expect("the client's end in TIME_WAIT");
    assert_time_wait(&row);
    assert_eq!(row.remote, at, "its peer is the server's port");
    assert_ne!(row.local.port(), at.port(), "the client's own port");
    assert_eq!(o.server_end_time_wait, None);
    assert_eq!(o.client_first_restart_errno, None);
}

/// SO_REUSEADDR does not share the address of a listener that is still
/// open, whichever socket sets it; SO_REUSEPORT on both does.
#[test]
fn open_listener_is_shared_only_with_reuseport() {
    let o = default_run().measurements;
    assert_eq!(o.open_none_errno, in_use());
    assert_eq!(o.open_new_only_errno, in_use());
    assert_eq!(o.open_both_errno, in_use());
    assert_eq!(o.open_reuseport_errno, None);
}

/// The book's Ctrl-C and restart, with the manual roles: after one
/// conversation with a server without SO_REUSEADDR, a new server on that
/// port is refused (EADDRINUSE, exit 2) even with SO_REUSEADDR; after one
/// with a server that set it, the restart with it listens.
#[test]
fn manual_restart_after_a_conversation() {
    for old_sets_it in [false, true] {
        let mut args = vec!["server", "-p", "0", "--once"];
        if !old_sets_it {
            args.push("--no-reuseaddr");
        }
        let mut server = Background::start("reuseaddr", &args);
        let port = crate::port_in(&server.next_line()).to_string();
        let out = cmd("reuseaddr")
            .args(["client", "127.0.0.1", "-p", &port])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(server.wait_code(), 0, "one conversation, then exit");

        let args =
            ["server", "-p", &port, "--once", "--accept-timeout-ms", "1"];
        let out = cmd("reuseaddr").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if old_sets_it {
            // It listened, then gave up waiting for a client after 1 ms.
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(said.starts_with("Listening at"), "{out:?}");
            assert!(err.contains("no client came"), "{err}");
        } else {
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            assert!(err.contains("EADDRINUSE (os error 98"), "{err}");
        }
    }
}

/// Bad arguments are a usage error: exit 2, no panic.
#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["client"][..],
        &["server", "-p", "70000"],
        &["--wait-out=yes"],
        &["client", "nosuch.invalid"],
    ] {
        let out = cmd("reuseaddr").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}
