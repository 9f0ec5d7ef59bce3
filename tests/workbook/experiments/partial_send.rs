//! Experiment 03 `partial-send`: the counts and errnos `send()` returned,
//! from the typed report: a small send taken whole, a big one taken in
//! part, then none (EAGAIN), a blocking one that gives up at its timeout,
//! and sendall() delivering every byte.

use std::sync::OnceLock;

use tcp_workbook::experiments::partial_send::Observed;
use tcp_workbook::lab::report::Report;
use tcp_workbook::lab::tally::Sent;

use crate::{Background, cmd, port_in, report};

/// The default `--message-bytes`: 4 MiB.
const MESSAGE: u64 = 4 << 20;

/// A run of `partial-send --json ARGS` that exits `code`.
fn run(args: &[&str], code: i32) -> Report<Observed> {
    let out = cmd("partial-send")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    report(&out.stdout)
}

/// One default run, shared by the tests that read it.
fn default_run() -> &'static Observed {
    static RUN: OnceLock<Report<Observed>> = OnceLock::new();
    &RUN.get_or_init(|| run(&[], 0)).measurements
}

fn errno(s: &Sent) -> Option<(&str, i32)> {
    s.errno.as_ref().map(|e| (e.name.as_str(), e.number))
}

/// The default run observes what the book predicts: "partial_send".
#[test]
fn default_run_matches_the_book() {
    let out = cmd("partial-send").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("partial_send", true));
}

/// Linux reads back twice the buffer sizes asked for: SO_SNDBUF 16384
/// gives 32768, the peer's SO_RCVBUF 65536 gives 131072.
#[test]
fn linux_doubles_the_buffer_sizes_asked_for() {
    let o = default_run();
    assert_eq!(o.sndbuf_asked_bytes, Some(16384));
    assert_eq!(o.sndbuf_bytes, 32768);
    assert_eq!(o.rcvbuf_asked_bytes, Some(65536));
    assert_eq!(o.peer_rcvbuf_bytes, 131072);
}

/// A blocking send of sixteen octets returns 16.
#[test]
fn a_small_blocking_send_is_accepted_whole() {
    let w = &default_run().whole;
    assert_eq!((w.asked_bytes, w.accepted_bytes, errno(w)), (16, 16, None));
}

/// Non-blocking, with the peer reading nothing: the first send of 4 MiB
/// returns a count above 0 and at most the send buffer; each next send is
/// handed the rest; the last fails with EAGAIN, with bytes still queued
/// unacknowledged (SIOCOUTQ), and accepts nothing.
#[test]
fn a_nonblocking_send_is_accepted_in_part_then_refused() {
    let o = default_run();
    let sends = &o.nonblocking;
    let (first, last) = (&sends[0], sends.last().unwrap());
    assert_eq!(first.asked_bytes, MESSAGE);
    assert!(first.accepted_bytes > 0, "{first:?}");
    assert!(first.accepted_bytes <= o.sndbuf_bytes, "{first:?}");
    for pair in sends.windows(2) {
        assert_eq!(errno(&pair[0]), None, "{sends:?}");
        assert!(pair[0].accepted_bytes > 0, "{sends:?}");
        assert_eq!(
            pair[1].asked_bytes,
            pair[0].asked_bytes - pair[0].accepted_bytes
        );
    }
    assert_eq!(errno(last), Some(("EAGAIN", 11)), "{sends:?}");
    assert_eq!(last.accepted_bytes, 0);
    assert!(last.send_queue_bytes.unwrap() > 0, "{last:?}");
}

/// A blocking send with SO_SNDTIMEO, the buffer full: it gives up with
/// EAGAIN if nothing fitted meanwhile, or returns the part that did.
#[test]
fn a_blocking_send_gives_up_at_its_timeout() {
    let o = default_run();
    let (last, t) = (o.nonblocking.last().unwrap(), &o.timed);
    assert_eq!(t.asked_bytes, last.asked_bytes, "the same rest");
    assert!(t.accepted_bytes < t.asked_bytes, "{t:?}");
    match t.accepted_bytes {
        0 => assert_eq!(errno(t), Some(("EAGAIN", 11))),
        _ => assert_eq!(errno(t), None),
    }
}

/// sendall() of the rest returns once the peer reads, and the peer reads
/// every byte the sends accepted: 16 + 4 MiB.
#[test]
fn sendall_delivers_every_byte() {
    let o = default_run();
    let s = o;
    let accepted: u64 = [&s.whole, &s.timed, &s.sendall]
        .into_iter()
        .chain(&s.nonblocking)
        .map(|x| x.accepted_bytes)
        .sum();
    assert_eq!(
        s.sendall.asked_bytes,
        s.timed.asked_bytes - s.timed.accepted_bytes
    );
    assert_eq!(accepted, 16 + MESSAGE);
    assert_eq!(o.peer_read_bytes, 16 + MESSAGE);
}

/// A message that fits in the free buffer is taken whole by one
/// non-blocking send: no part, no EAGAIN, and the verdict says so (exit 1).
#[test]
fn a_message_with_room_is_taken_whole() {
    let r = run(&["--message-bytes", "1KiB"], 1);
    assert_eq!(r.observed, "all_or_nothing");
    let sends = &r.measurements.nonblocking;
    assert_eq!(sends.len(), 1);
    assert_eq!(
        (sends[0].asked_bytes, sends[0].accepted_bytes),
        (1024, 1024)
    );
    assert_eq!(r.measurements.peer_read_bytes, 16 + 1024);
}

/// Given 500 ms, the blocking send does take part of the rest: the
/// peer's kernel acknowledges what it holds (a delayed ACK), which frees
/// room in the send buffer while the send waits.
#[test]
fn a_blocking_send_given_time_takes_a_part() {
    let o = run(&["--sndtimeo-ms", "500"], 0).measurements;
    let t = &o.timed;
    assert!(
        t.accepted_bytes > 0 && t.accepted_bytes < t.asked_bytes,
        "{t:?}"
    );
    assert_eq!(errno(t), None);
}

/// Knobs outside their range are usage errors: exit 2, no panic.
#[test]
fn knobs_out_of_range_exit_2() {
    for args in [
        &["--sndbuf", "0"][..],
        &["--rcvbuf", "2GiB"],
        &["--message-bytes", "0"],
        &["--sndtimeo-ms", "0"],
        &["--sndtimeo-ms", "10001"],
        &["server", "--hold-ms", "600001"],
    ] {
        crate::assert_usage_error("partial-send", args);
    }
}

/// The manual client, against the manual server (another process that
/// reads nothing for 500 ms): the three cases, then every byte arrives.
#[test]
fn manual_client_and_server_account_for_every_byte() {
    let mut server = Background::start(
        "partial-send",
        &["server", "-p", "0", "--once", "--hold-ms", "500"],
    );
    let port = port_in(&server.next_line());
    let out = cmd("partial-send")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .args(["--message-bytes", "256KiB"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1. Whole: send(16) returned 16,"), "{said}");
    assert!(said.contains("3. None: send("), "{said}");
    assert!(said.contains(") failed: EAGAIN, SIOCOUTQ "), "{said}");
    assert_eq!(server.wait_code(), 0);
    server.next_line(); // reading nothing for 500 ms
    server.next_line(); // SIOCINQ
    let read = server.next_line();
    let expected = 16 + (256 << 10);
    assert_eq!(
        read,
        format!("read {expected} bytes, then the end of the stream")
    );
}

/// The manual server's `--conversation-ms` cuts a client it holds, and
/// the next client is accepted then, not when `--hold-ms` would have
/// ended: the hold ends when the cut shuts the connection down.
#[test]
fn a_cut_conversation_ends_the_hold_and_the_next_client_gets_in() {
    let server = crate::Background::start(
        "partial-send",
        &[
            "server",
            "127.0.0.1",
            "-p",
            "0",
            "--hold-ms",
            "30000",
            "--conversation-ms",
            "300",
        ],
    );
    let port = crate::port_in(&server.next_line());
    let addr = ([127, 0, 0, 1], port).into();
    let t = std::time::Duration::from_secs(10);
    let mut first = std::net::TcpStream::connect_timeout(&addr, t).unwrap();
    std::io::Write::write_all(&mut first, b"held").unwrap();
    assert!(server.next_line().contains("reading nothing for 30000 ms"));
    let started = std::time::Instant::now();
    let _second = std::net::TcpStream::connect_timeout(&addr, t).unwrap();
    // The second "reading nothing" line is the second accept().
    let accepted = loop {
        let line = server.next_line(); // at most 10 s each
        if line.contains("reading nothing") {
            break started.elapsed();
        }
    };
    assert!(
        accepted < std::time::Duration::from_secs(20),
        "the second client waited {accepted:?}, as if the 30 s hold ran on"
    );
}
