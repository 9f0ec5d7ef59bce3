//! Experiment 02 `partial-recv`: what each `recv` returned, from the typed
//! report: a message cut in two needs two calls, a big message many, and
//! `recvall()` fails with the true count whenever the peer closes early.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use tcp_workbook::experiments::partial_recv::Observed;
use tcp_workbook::experiments::sixteen::{FAREWELL, HELLO};
use tcp_workbook::lab::report::Report;

use crate::{Background, client_against_raw_server, cmd, port_in, report};

const T: Duration = Duration::from_secs(10);

/// A run of `partial-recv --json ARGS` that exits `code`.
fn run(args: &[&str], code: i32) -> Report<Observed> {
    let out = cmd("partial-recv")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    report(&out.stdout)
}

/// One default run, shared by the tests that read it.
fn default_run() -> &'static Report<Observed> {
    static RUN: OnceLock<Report<Observed>> = OnceLock::new();
    RUN.get_or_init(|| run(&[], 0))
}

/// (asked, returned) of each recv.
fn pairs(recvs: &[tcp_workbook::lab::tally::Recv]) -> Vec<(u64, u64)> {
    recvs
        .iter()
        .map(|r| (r.asked_bytes, r.returned_bytes))
        .collect()
}

/// The default run observes what the book predicts: "partial_reads".
#[test]
fn default_run_matches_the_book() {
    let r = default_run();
    assert_eq!((r.observed.as_str(), r.matched), ("partial_reads", true));
}

/// Sixteen octets sent as 8 and 8: recv(16) returns the 8 that have
/// arrived, and recvall's second recv, allowed 8, gets the other 8.
#[test]
fn recv_16_returns_the_8_bytes_that_arrived() {
    let o = &default_run().measurements;
    assert_eq!(o.split_at_bytes, 8);
    assert_eq!(pairs(&o.split_recvs), [(16, 8), (8, 8)]);
    assert_eq!(o.split_received.as_bytes(), FAREWELL);
}

/// `--split 3`: the first recv returns exactly the 3 bytes sent first.
#[test]
fn split_knob_moves_the_short_read() {
    let o = run(&["--split", "3"], 0).measurements;
    assert_eq!(pairs(&o.split_recvs), [(16, 3), (13, 13)]);
    assert_eq!(o.split_received.as_bytes(), FAREWELL);
}

/// 4 MiB sent with one sendall() and read with recvall(4 MiB): no recv gets
/// it all; each is allowed what is still missing and returns some of it.
#[test]
fn a_big_recv_returns_less_than_a_big_message() {
    let o = &default_run().measurements;
    assert_eq!(o.big_message_bytes, 4 << 20);
    assert!(o.big_intact);
    assert!(o.big_recvs.len() >= 2, "{:?}", pairs(&o.big_recvs));
    let mut missing = o.big_message_bytes;
    for r in &o.big_recvs {
        assert_eq!(r.asked_bytes, missing, "allowed what is missing");
        assert!((1..=missing).contains(&r.returned_bytes), "{r:?}");
        missing -= r.returned_bytes;
    }
    assert_eq!(missing, 0);
}

/// A big message that fits one loopback segment would always arrive in
/// one recv, so the book's prediction could never show: refused when
/// parsed, naming the least size that could (the outcome itself,
/// `big_message_whole`, is reached in `outcomes`).
#[test]
fn a_message_that_fits_one_segment_is_refused() {
    let line =
        crate::assert_usage_error("partial-recv", &["--message-bytes", "1KiB"]);
    assert!(line.contains("more than 65536 bytes"), "{line}");
}

/// The peer sends k = 0..15 of the sixteen octets and closes: recv returns
/// the k bytes, then 0 (only then), and recvall fails with the book's
/// message and the true count.
#[test]
fn recvall_fails_with_the_count_when_the_peer_closes_early() {
    let cases = &default_run().measurements.eof_cases;
    assert_eq!(cases.len(), 16);
    for (k, c) in (0..16u64).zip(cases) {
        assert_eq!(c.sent_bytes, k);
        let expected: Vec<(u64, u64)> = match k {
            0 => vec![(16, 0)],
            k => vec![(16, k), (16 - k, 0)],
        };
        assert_eq!(pairs(&c.recvs), expected, "k = {k}");
        assert_eq!(
            c.error.as_deref(),
            Some(
                format!(
                    "was expecting 16 bytes but only received {k} bytes \
                     before the socket closed"
                )
                .as_str()
            )
        );
    }
}

/// Knobs outside their range are usage errors: exit 2, no panic.
#[test]
fn knobs_out_of_range_exit_2() {
    for args in [
        &["--split", "0"][..],
        &["--split", "16"],
        &["--message-bytes", "0"],
        &["--message-bytes", "257MiB"],
        &["server", "--pieces", "0"],
        &["server", "--pieces", "17"],
        &["server", "--gap-ms", "10001"],
    ] {
        crate::assert_usage_error("partial-recv", args);
    }
}

/// The manual server trickles the sixteen octets in two pieces 200 ms
/// apart; the manual client, another process, gets each piece from its own
/// recv and reassembles them with recvall.
#[test]
fn manual_client_reassembles_what_the_server_trickles() {
    let mut server = Background::start(
        "partial-recv",
        &[
            "server", "-p", "0", "--once", "--pieces", "2", "--gap-ms", "200",
        ],
    );
    let port = port_in(&server.next_line());
    let out = cmd("partial-recv")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines,
        [
            "recv(16) returned 8 bytes: b'Farewell'",
            "recv(8) returned 8 bytes: b', client'",
            "The server said b'Farewell, client' in 2 recvs"
        ]
    );
    assert_eq!(server.wait_code(), 0);
    assert!(server.next_line().contains("in 2 pieces, 200 ms apart"));
}

/// The manual server speaks plain bytes: a raw socket reads exactly the
/// sixteen octets; the server then reads what the client sent, up to its
/// half-close, and closes: the end of the stream, not a reset.
#[test]
fn manual_server_sends_sixteen_octets_reads_then_closes() {
    let mut server = Background::start(
        "partial-recv",
        &[
            "server", "-p", "0", "--once", "--pieces", "16", "--gap-ms", "0",
        ],
    );
    let port = port_in(&server.next_line());
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut got = [0; 16];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, FAREWELL);
    s.write_all(HELLO).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap(); // a reset would fail here
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(server.wait_code(), 0);
    assert!(server.next_line().contains("in 16 pieces, 0 ms apart"));
    assert_eq!(
        server.next_line(),
        "  The client sent b'Hi there, server', then closed"
    );
}

/// A server that sends 5 bytes and closes makes the manual client fail
/// with the book's message and the true count (exit 2).
#[test]
fn manual_client_reports_a_server_that_closes_early() {
    let (mut sc, client) =
        client_against_raw_server("partial-recv", &["client", "127.0.0.1"]);
    sc.write_all(b"Farew").unwrap();
    sc.shutdown(Shutdown::Write).unwrap();
    let out = client.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "was expecting 16 bytes but only received 5 bytes before the \
             socket closed"
        ),
        "{err}"
    );
}
