//! Experiment 10 `deadlock`: the small case completes, the large case
//! deadlocks with a ledger that balances to the byte, the fix returns every
//! byte, and nothing is left behind or allowed to hang.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tcp_workbook::experiments::deadlock::{Case, MESSAGE, Observed};
use tcp_workbook::lab::kernel::{TcpState, TcpTimer};
use tcp_workbook::lab::report::Report;
use tcp_workbook::lab::watch::Detector;

use crate::{
    Background, client_against_raw_server, cmd, json_report, port_in, report,
};

const T: Duration = Duration::from_secs(10);

/// One default run (`deadlock --json`), shared by the tests that read it.
fn default_run() -> &'static Report<Observed> {
    static RUN: OnceLock<Report<Observed>> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = cmd("deadlock").arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        report(&out.stdout)
    })
}

fn case(name: &str) -> &'static Case {
    let o = &default_run().measurements;
    match name {
        "small" => o.small.as_ref().expect("a small case"),
        "large" => o.large.as_ref().expect("a large case"),
        _ => &o.fixed,
    }
}

/// The default run observes the book's prediction: "deadlock".
#[test]
fn default_run_matches_the_book() {
    let r = default_run();
    assert_eq!((r.observed.as_str(), r.matched), ("deadlock", true));
}

/// Sixteen bytes come back upper-cased: the small case completes.
#[test]
fn small_case_completes() {
    let small = case("small");
    assert!(small.completed && !small.timing.stalled, "{small:?}");
    assert_eq!(small.returned_bytes, Some(16));
    assert_eq!(small.returned_wrong_bytes, Some(0));
    assert_eq!(small.counts.client_received_bytes, 16);
}

/// The large case stalls before the client has sent everything, and the
/// kernel's queues account for every byte: ledger lines 1 and 3 (the
/// kernel's evidence) hold exactly, and every queue holds bytes.
#[test]
fn large_case_stalls_and_the_kernels_queues_hold_every_byte() {
    let large = case("large");
    let n = &large.counts;
    let q = large.queues.expect("Linux reports the queues");
    assert!(large.timing.stalled);
    assert!(n.client_sent_bytes < large.bytes, "stalled before the end");
    assert_eq!(
        n.client_sent_bytes,
        q.client_send_queue_bytes
            + q.server_recv_queue_bytes
            + n.server_read_bytes
    );
    assert_eq!(
        n.server_sent_bytes,
        q.server_send_queue_bytes + q.client_recv_queue_bytes
    );
    assert!(n.server_held_bytes <= 1024, "at most one 1024-byte reply");
    assert_eq!(n.client_received_bytes, 0, "the book's client never read");
    // Their total is near the four buffers' sum, but not bounded by it: a
    // send queue was seen past its SO_SNDBUF. Each one holds bytes.
    for (queue, bytes) in [
        ("client send", q.client_send_queue_bytes),
        ("server receive", q.server_recv_queue_bytes),
        ("server send", q.server_send_queue_bytes),
        ("client receive", q.client_recv_queue_bytes),
    ] {
        assert!(bytes > 0, "{queue} queue is empty");
    }
}

/// At the stall both connections are still ESTABLISHED, and each side's
/// peer advertises a zero window (read where the kernel reports it).
#[test]
fn at_the_stall_both_windows_are_zero() {
    let tcp = case("large").tcp.clone().expect("TCP_INFO on Linux");
    assert_eq!(tcp.client_state, TcpState::Established);
    assert_eq!(tcp.server_state, TcpState::Established);
    match (tcp.client_send_window_bytes, tcp.server_send_window_bytes) {
        (Some(c), Some(s)) => assert_eq!((c, s), (0, 0), "both windows"),
        // Linux before 6.2 has no tcpi_snd_wnd: nothing to check.
        _ => eprintln!("TCP_INFO has no send window on this kernel; skipped"),
    }
}

/// The deadlock is recognised from the cycle itself: at the verdict both
/// sides were waiting in poll(POLLOUT) to send, and (where TCP_INFO reports
/// it) both windows were 0.
#[test]
fn the_deadlock_is_found_as_a_cycle_of_waits() {
    let large = case("large");
    assert_eq!(large.timing.detected_by, Some(Detector::Cycle));
    assert_eq!(large.both_waiting, Some(true));
    let tcp = large.tcp.clone().expect("TCP_INFO on Linux");
    if let (Some(c), Some(s)) =
        (tcp.client_send_window_bytes, tcp.server_send_window_bytes)
    {
        assert_eq!((c, s), (0, 0));
    }
    // Each kernel probes the zero window (persist), or still resends a
    // segment the full receiver dropped; neither is idle.
    for timer in [&tcp.client_timer, &tcp.server_timer] {
        let timer = timer.expect("/proc/net/tcp on Linux");
        let busy = [TcpTimer::Persist, TcpTimer::Retransmit];
        assert!(busy.contains(&timer), "{tcp:?}");
    }
}

/// The default run lowers TCP_RTO_MIN_US to 8 ms on its sockets where the
/// kernel has the option; `--rto-min-ms 0` leaves the kernel's (200 ms).
#[test]
fn the_default_run_resends_dropped_segments_after_8_ms() {
    let Some(us) = case("large").rto_min_us else {
        return eprintln!("no TCP_RTO_MIN_US on this kernel; skipped");
    };
    assert!((8000..12000).contains(&us), "{us} µs");
    let out = cmd("deadlock")
        .args(["--json", "--rto-min-ms", "0", "--bytes", "4KiB"])
        .output()
        .unwrap();
    let r: Report<Observed> = report(&out.stdout);
    let fresh = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kernels = tcp_workbook::lab::kernel::rto_min_us(&fresh).ok();
    assert_eq!(r.measurements.fixed.rto_min_us, kernels, "200 ms here");
}

/// Left stalled for 1.5 s, both connections stay ESTABLISHED and both
/// sides' timers back off (the persist timer, or at first a retransmission
/// of a segment the full receiver dropped), while the count of unanswered
/// zero-window probes stays at 0 or 1, far from the 15 after which the
/// kernel would give up.
#[test]
fn a_stall_left_alone_probes_a_zero_window_and_never_gives_up() {
    let out = cmd("deadlock")
        .args(["--json", "--cycle-ms", "0", "--stall-ms", "1500"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r: Report<Observed> = report(&out.stdout);
    let large = r.measurements.large.expect("a large case");
    assert_eq!(large.timing.detected_by, Some(Detector::Silence));
    let t = large.tcp.expect("TCP_INFO on Linux");
    assert!(t.client_backoff >= 1 && t.server_backoff >= 1, "{t:?}");
    assert!(t.client_probes <= 1 && t.server_probes <= 1, "{t:?}");
    assert_eq!(
        (t.client_state, t.server_state),
        (TcpState::Established, TcpState::Established)
    );
}

/// Linux doubles what SO_SNDBUF/SO_RCVBUF ask for: 64 KiB reads back as 128 KiB.
#[test]
fn buffers_read_back_doubled() {
    let b = case("large").buffers;
    let all = [
        b.client_sndbuf_bytes,
        b.client_rcvbuf_bytes,
        b.server_sndbuf_bytes,
        b.server_rcvbuf_bytes,
    ];
    assert_eq!(all, [2 * 65536; 4]);
}

/// The fix returns every byte, upper-cased, with nothing stalled.
#[test]
fn fix_returns_every_byte_upper_cased() {
    let fixed = case("fixed");
    assert!(fixed.completed && !fixed.timing.stalled, "{fixed:?}");
    assert_eq!(fixed.returned_bytes, Some(fixed.bytes));
    assert_eq!(fixed.counts.client_received_bytes, fixed.bytes);
    assert_eq!(fixed.counts.server_read_bytes, fixed.bytes);
    assert_eq!(fixed.returned_wrong_bytes, Some(0));
}

/// Every case joins its threads and closes its sockets.
#[test]
fn nothing_is_left_behind() {
    for name in ["small", "large", "fixed"] {
        let left = case(name).left;
        assert_eq!(left.threads_left, Some(0), "{name}: threads");
        assert_eq!(left.fds_left, Some(0), "{name}: sockets");
    }
}

/// With both cores busy, the experiment still ends by itself within its
/// registered deadline, and still observes the deadlock.
#[test]
fn ends_within_its_deadline_with_both_cores_busy() {
    let stop = AtomicBool::new(false);
    let deadline = tcp_workbook::workbook::registry::find("deadlock")
        .unwrap()
        .deadline_ms;
    let out = std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(
                        x.wrapping_mul(6364136223846793005).wrapping_add(1),
                    );
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
    assert_eq!(r["measurements"]["fixed"]["returned_bytes"], 1 << 20);
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
        &["--bytes", "18446744073709551615"],
        &["--bytes", "2TiB"],
        &["client", "127.0.0.1", "18446744073709551615"],
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
    let path = std::env::temp_dir()
        .join(format!("deadlock-plot-{}.svg", std::process::id()));
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

/// `--diagram` draws the cycle from the run's own numbers: the SVG names
/// the four queues with the very byte counts the report gives.
#[test]
fn diagram_shows_the_queues_the_report_gives() {
    let path = std::env::temp_dir()
        .join(format!("deadlock-cycle-{}.svg", std::process::id()));
    let out = cmd("deadlock")
        .args(["--json", "--diagram"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r: Report<Observed> = report(&out.stdout);
    let q = r.measurements.large.unwrap().queues.expect("queues");
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    for (name, bytes) in [
        ("client send queue", q.client_send_queue_bytes),
        ("server receive queue", q.server_recv_queue_bytes),
        ("server send queue", q.server_send_queue_bytes),
        ("client receive queue", q.client_recv_queue_bytes),
    ] {
        assert!(svg.contains(name), "{name}");
        assert!(svg.contains(&format!("{bytes} bytes")), "{name}: {bytes}");
    }
    assert!(svg.contains("waits for the server to read"));
}

/// Output files are checked before any work and written whole at the end:
/// a bad `--diagram` path fails up front (exit 2) and leaves an existing
/// `--plot` file as it was; one path for both, or a directory, is refused;
/// a symbolic link at the path is replaced by the file, and what it
/// pointed to is untouched.
#[test]
fn output_files_are_checked_first_and_written_whole() {
    let dir = std::env::temp_dir()
        .join(format!("deadlock-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (keep, aimed) = (dir.join("keep.svg"), dir.join("aimed.txt"));
    std::fs::write(&keep, "old").unwrap();
    std::fs::write(&aimed, "not ours").unwrap();
    let keep_s = keep.to_str().unwrap();
    let missing = "/nonexistent-dir/d.svg";
    crate::assert_usage_error(
        "deadlock",
        &["--plot", keep_s, "--diagram", missing],
    );
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "old");
    let same = format!("{}/./keep.svg", dir.display());
    crate::assert_usage_error(
        "deadlock",
        &["--plot", keep_s, "--diagram", &same],
    );
    let as_dir = format!("{}/", dir.display());
    crate::assert_usage_error("deadlock", &["--plot", &as_dir]);
    let link = dir.join("link.svg");
    std::os::unix::fs::symlink(&aimed, &link).unwrap();
    let out = cmd("deadlock")
        .args(["--fixed", "--bytes", "64KiB", "--plot"])
        .arg(&link)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let is_link = std::fs::symlink_metadata(&link).unwrap().is_symlink();
    let svg = std::fs::read_to_string(&link).unwrap();
    let aimed_now = std::fs::read_to_string(&aimed).unwrap();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!is_link && svg.starts_with("<svg"), "{is_link} {svg:.40}");
    assert_eq!(aimed_now, "not ours");
    assert_eq!(left.len(), 3, "no temporary file left: {left:?}");
}

/// The server speaks `tcp_deadlock.py`'s protocol: everything a raw client
/// sends comes back upper-cased, then end of stream after the half-close.
#[test]
fn server_upper_cases_a_raw_book_client() {
    let (_server, port) = Background::server("deadlock");
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    let sent: Vec<u8> =
        MESSAGE.iter().copied().cycle().take(16 * 100).collect();
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
    let (mut sc, client) =
        client_against_raw_server("deadlock", &["client", "127.0.0.1", "100"]);
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
