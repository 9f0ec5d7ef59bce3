//! Experiment 09 `backlog`: listen(N) queues N + 1 connections while
//! nobody accepts; the next client is ignored, not refused, until an
//! accept() makes room; the manual server holds clients until Enter.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tcp_workbook::experiments::backlog::Observed;
use tcp_workbook::lab::deadline;
use tcp_workbook::lab::kernel::{self, TcpState};
use tcp_workbook::lab::report::Report;

use crate::{Background, bin, cmd, port_in, report};

const T: Duration = Duration::from_secs(10);

/// Runs `backlog --json ARGS` and returns its report.
fn run(args: &[&str]) -> Report<Observed> {
    let out = cmd("backlog").arg("--json").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    report(&out.stdout)
}

/// With listen(0), listen(1) (the book's) and listen(5), and with five
/// clients for listen(2), exactly one client more than the backlog
/// connects while nobody accepts, the kernel's queue holds them, and the
/// next clients get no answer: no error, still SYN_SENT. After one
/// accept() one of them gets in, having sent its SYN again. The runs go in
/// parallel, so the test waits about one SYN retry (1 s).
#[test]
fn listen_n_queues_n_plus_one_and_ignores_the_next_until_accept() {
    let runs: Vec<_> = [(0, 2), (1, 3), (5, 7), (2, 5)]
        .map(|(b, m): (u32, u32)| {
            let args = [
                "--backlog".into(),
                b.to_string(),
                "--clients".into(),
                m.to_string(),
            ];
            std::thread::spawn(move || {
                (b, m, run(&args.each_ref().map(String::as_str)))
            })
        })
        .into_iter()
        .collect();
    for handle in runs {
        let (n, m, r) = handle.join().unwrap();
        let o = &r.measurements;
        assert_eq!(r.observed, "ignored", "listen({n}): {o:?}");
        assert_eq!(o.clients.len() as u32, m);
        assert_eq!(o.connected_at_once as u32, n + 1, "listen({n})");
        assert_eq!(o.queue_before_accept.queued, n + 1);
        assert_eq!(o.queue_before_accept.backlog, n);
        let (queued, waiting) = o.clients.split_at(n as usize + 1);
        assert!(queued.iter().all(|c| c.is(TcpState::Established)));
        for c in waiting {
            assert_eq!(c.error, None, "ignored, not refused");
            assert_eq!(c.connected_after_ms, None);
            assert_eq!(c.state, Some(TcpState::SynSent));
        }
        assert_eq!(o.accepted_from, o.clients[0].name, "the oldest first");
        assert_eq!(o.queue_after_accept.queued, n);
        let let_in = o.let_in.as_ref().expect("a waiting client got in");
        assert!(waiting.iter().any(|c| c.name == let_in.name));
        assert!(let_in.syn_retries.unwrap() >= 1, "{let_in:?}");
        assert_eq!(o.queue_after_retry.unwrap().queued, n + 1);
        let dropped = o.dropped.expect("Linux counts dropped SYNs");
        assert!(dropped.overflows >= waiting.len() as u64, "{dropped:?}");
    }
}

/// Clients that fit in the queue all connect and nobody waits: the run
/// expects "all_queued" and needs no SYN retry.
#[test]
fn clients_that_fit_are_all_queued() {
    let r = run(&["--backlog", "2", "--clients", "3"]);
    assert_eq!((r.observed.as_str(), r.matched), ("all_queued", true));
    let o = r.measurements;
    assert_eq!(o.connected_at_once, 3);
    assert!(o.clients.iter().all(|c| c.is(TcpState::Established)));
    assert!(o.let_in.is_none());
}

/// Knobs beyond their ranges are usage errors: exit 2, no panic.
#[test]
fn knobs_out_of_range_exit_2() {
    for args in [
        &["--backlog", "1001"][..],
        &["--clients", "0"],
        &["--wait-ms", "5"],
        &["--wait-ms", "1000"],
        &["server", "--accept-after-ms", "-1"],
    ] {
        let out = cmd("backlog").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// A socket2 client whose connect() does not block.
fn start_connect(port: u16) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_nonblocking(true).unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let _ = s.connect(&to.into()); // EINPROGRESS
    s
}

/// The manual server holds its clients in the queue until Enter: two
/// connect, the third stays in SYN_SENT; the server reports the queue;
/// after Enter it accepts (with --once: one, then exits 0).
#[test]
fn manual_server_holds_clients_until_enter() {
    let mut child = Command::new(bin("backlog"))
        .args([
            "server",
            "-p",
            "0",
            "--once",
            "--accept-timeout-ms",
            "10000",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Kill(&mut child);
    let (tx, lines) = mpsc::channel();
    let stdout = guard.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || lines.recv_timeout(T).expect("a line within 10 s");
    let port = port_in(&next());
    let until = |want: &str| loop {
        let line = next();
        if line.contains(want) {
            return line;
        }
    };
    let first =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    let second = start_connect(port);
    deadline::wait_writable(&second, T).unwrap();
    until("listen queue: 2 waiting for accept(), backlog 1");
    let third = start_connect(port);
    let no_answer = deadline::wait_writable(&third, Duration::from_millis(200));
    assert!(no_answer.is_err(), "the third client got an answer");
    assert_eq!(kernel::tcp_info(&third).unwrap().state, TcpState::SynSent);
    guard.0.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(until("Accepting now"), "Accepting now: Enter was pressed");
    let accepted = until("accept() returns");
    let me = first.local_addr().unwrap();
    assert_eq!(
        port_in(accepted.trim_end_matches(", ESTABLISHED")),
        me.port()
    );
}

/// Kills the child when the test ends, however it ends.
struct Kill<'a>(&'a mut std::process::Child);

impl Drop for Kill<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With no standard input (as under CI) the manual server does not wait
/// for Enter: it accepts at once, and the manual client sees it accepted.
#[test]
fn manual_server_without_stdin_accepts_and_the_client_gets_in() {
    let (mut server, port) = Background::server("backlog");
    let out = cmd("backlog")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("the server accepted and closed"), "{said}");
    assert_eq!(server.wait_code(), 0);
    let skip = |l: &String| l.starts_with("listen");
    let line = std::iter::repeat_with(|| server.next_line()).find(|l| !skip(l));
    assert_eq!(line.unwrap(), "Accepting now: standard input ended");
}
