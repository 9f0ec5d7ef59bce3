//! Experiment 10 `deadlock`: the small case completes, the large case
//! deadlocks with a ledger that balances to the byte, the fix returns every
//! byte, and nothing is left behind or allowed to hang.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tcp_workbook::experiments::deadlock::MESSAGE;

use crate::{Background, client_against_raw_server, cmd, json_report, port_in};

const T: Duration = Duration::from_secs(10);

/// One default run (`deadlock --json`), shared by the tests that read it.
fn default_run() -> &'static Value {
    static RUN: OnceLock<Value> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = cmd("deadlock").arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        json_report(&out.stdout)
    })
}

fn n(m: &Value, key: &str) -> u64 {
    m[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count: {m}"))
}

/// The default run observes the book's prediction: "deadlock".
#[test]
fn default_run_matches_the_book() {
    let r = default_run();
    assert_eq!(r["observed"], "deadlock");
    assert_eq!(r["matched"], true);
}

/// Sixteen bytes come back upper-cased: the small case completes.
#[test]
fn small_case_completes() {
    let m = &default_run()["measurements"];
    assert_eq!(m["small_completed"], true);
    assert_eq!(m["small_stalled"], false);
    assert_eq!(n(m, "small_returned_bytes"), 16);
    assert_eq!(n(m, "small_returned_wrong_bytes"), 0);
}

/// The large case stalls, and the kernel's four queues account for every
/// byte: the three ledger equations hold exactly, both send windows are 0,
/// and both connections were still ESTABLISHED.
#[test]
fn large_case_deadlocks_and_the_ledger_balances() {
    let m = &default_run()["measurements"];
    assert_eq!(m["large_stalled"], true);
    let client_accepted = n(m, "large_client_sent_bytes");
    let server_read = n(m, "large_server_read_bytes");
    let server_accepted = n(m, "large_server_sent_bytes");
    let server_held = n(m, "large_server_held_bytes");
    assert_eq!(
        client_accepted,
        n(m, "large_client_send_queue_bytes") + n(m, "large_server_recv_queue_bytes") + server_read
    );
    assert_eq!(server_read, server_accepted + server_held);
    assert_eq!(
        server_accepted,
        n(m, "large_server_send_queue_bytes") + n(m, "large_client_recv_queue_bytes")
    );
    assert!(
        client_accepted < n(m, "large_bytes"),
        "it stalled before sending everything"
    );
    assert!(
        server_held <= 1024,
        "the server holds at most one 1024-byte reply"
    );
    assert_eq!(
        n(m, "large_client_send_window_bytes"),
        0,
        "the server's receive queue is full"
    );
    assert_eq!(
        n(m, "large_server_send_window_bytes"),
        0,
        "the client's receive queue is full"
    );
    assert_eq!(m["large_client_tcp_state"], "ESTABLISHED");
    assert_eq!(m["large_server_tcp_state"], "ESTABLISHED");
    // Every queue holds bytes. (Their total is near the four buffers' sum,
    // but not bounded by it: a send queue was seen past its SO_SNDBUF.)
    for queue in ["client_send", "server_recv", "server_send", "client_recv"] {
        let bytes = n(m, &format!("large_{queue}_queue_bytes"));
        assert!(bytes > 0, "{queue} queue is empty");
    }
}

/// Linux doubles what SO_SNDBUF/SO_RCVBUF ask for: 64 KiB reads back as 128 KiB.
#[test]
fn buffers_read_back_doubled() {
    let m = &default_run()["measurements"];
    for key in [
        "client_sndbuf_bytes",
        "client_rcvbuf_bytes",
        "server_sndbuf_bytes",
        "server_rcvbuf_bytes",
    ] {
        assert_eq!(n(m, &format!("large_{key}")), 2 * 65536, "{key}");
    }
}

/// The fix returns every byte, upper-cased, with nothing stalled.
#[test]
fn fix_returns_every_byte_upper_cased() {
    let m = &default_run()["measurements"];
    assert_eq!(m["fixed_completed"], true);
    assert_eq!(m["fixed_stalled"], false);
    assert_eq!(n(m, "fixed_returned_bytes"), n(m, "fixed_bytes"));
    assert_eq!(n(m, "fixed_client_received_bytes"), n(m, "fixed_bytes"));
    assert_eq!(n(m, "fixed_returned_wrong_bytes"), 0);
}

/// Every case joins its threads and closes its sockets.
#[test]
fn nothing_is_left_behind() {
    let m = &default_run()["measurements"];
    for case in ["small", "large", "fixed"] {
        assert_eq!(m[format!("{case}_threads_left")], 0, "{case}: threads");
        assert_eq!(m[format!("{case}_fds_left")], 0, "{case}: sockets");
    }
}

/// With both cores busy, the experiment still ends by itself within its
/// registered deadline, and still observes the deadlock.
#[test]
fn ends_within_its_deadline_with_both_cores_busy() {
    let stop = AtomicBool::new(false);
    let deadline = tcp_workbook::registry::find("deadlock")
        .unwrap()
        .deadline_ms;
    let out = std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            });
        }
        let out = cmd("deadlock")
            .arg("--json")
            .timeout(Duration::from_millis(deadline))
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        out
    });
    assert_eq!(
        out.status.code(),
        Some(0),
        "ended by itself, as the book predicts: {out:?}"
    );
    assert_eq!(json_report(&out.stdout)["observed"], "deadlock");
}

/// `--fixed` runs only the fix, and expects it to complete.
#[test]
fn fixed_mode_completes() {
    let out = cmd("deadlock")
        .args(["--fixed", "--bytes", "1MiB", "--chunk", "4KiB", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = json_report(&out.stdout);
    assert_eq!(
        (r["expected"].as_str(), r["observed"].as_str()),
        (Some("completed"), Some("completed"))
    );
    assert_eq!(n(&r["measurements"], "fixed_returned_bytes"), 1 << 20);
}

/// Too few bytes to fill the buffers: the large case completes, which is not
/// what the book predicts for a large count, so the verdict is 1.
#[test]
fn too_few_bytes_is_reported_as_no_deadlock() {
    let out = cmd("deadlock")
        .args(["--bytes", "64KiB", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_report(&out.stdout)["observed"], "large_case_completed");
}

/// Bad knobs are usage errors: exit 2, one clear message, no panic.
#[test]
fn bad_knobs_exit_2() {
    for args in [
        &["--bytes", "0"][..],
        &["--bytes", "lots"],
        &["--chunk", "0"],
        &["--chunk", "1GiB"],
        &["--sndbuf", "-5"],
        &["--rcvbuf", "2GiB"],
        &["--stall-ms", "10"],
        &["client"],
        &["server", "127.0.0.1", "-p", "99999"],
    ] {
        let out = cmd("deadlock").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error:") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

/// `--plot` writes an SVG with both charts, each with the four counters.
#[test]
fn plot_writes_an_svg() {
    let path = std::env::temp_dir().join(format!("deadlock-plot-{}.svg", std::process::id()));
    let out = cmd("deadlock")
        .args(["--json", "--plot"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for label in [
        "client sent",
        "server read",
        "server sent",
        "client received",
    ] {
        assert_eq!(
            svg.matches(label).count(),
            2,
            "{label:?} in the legend of each of 2 charts"
        );
    }
    assert!(svg.contains("the fix"), "the second chart's caption");
}

/// The server speaks `tcp_deadlock.py`'s protocol: everything a raw client
/// sends comes back upper-cased, then end of stream after the half-close.
#[test]
fn server_upper_cases_a_raw_book_client() {
    let (_server, port) = Background::server("deadlock");
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    let sent: Vec<u8> = MESSAGE.iter().copied().cycle().take(16 * 100).collect();
    s.write_all(&sent).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, sent.to_ascii_uppercase());
}

/// The client speaks `tcp_deadlock.py`'s protocol: a raw echo server gets
/// the byte count rounded up to 16, then a half-close; the client accepts
/// the upper-cased reply and exits 0.
#[test]
fn client_talks_to_a_raw_book_server() {
    let (mut sc, client) = client_against_raw_server("deadlock", &["client", "127.0.0.1", "100"]);
    let mut got = Vec::new();
    sc.read_to_end(&mut got).unwrap(); // until the client's half-close
    assert_eq!(got.len(), 112, "100 rounded up to a multiple of 16");
    assert!(got.chunks(16).all(|c| c == MESSAGE));
    sc.write_all(&got.to_ascii_uppercase()).unwrap();
    drop(sc);
    let out = client.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// The manual client, sending far more than the buffers hold to our server,
/// detects the stall instead of hanging, and exits 1.
#[test]
fn manual_client_detects_the_deadlock() {
    let _server = Background::start(
        "deadlock",
        &["server", "-p", "0", "--accept-timeout-ms", "10000"],
    );
    let port = port_in(&_server.next_line());
    let out = cmd("deadlock")
        .args([
            "client",
            "127.0.0.1",
            "16MiB",
            "-p",
            &port.to_string(),
            "--stall-ms",
            "500",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let sent: u64 = said
        .lines()
        .find_map(|l| l.trim().strip_suffix(" bytes sent"))
        .and_then(|n| n.parse().ok())
        .expect("a bytes-sent line");
    assert!(sent < 16 << 20, "stalled before sending everything: {said}");
}
