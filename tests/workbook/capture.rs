//! The capture: `--pcap` writes a file that a pcap reader opens and that
//! holds the run's segments; `--trace` prints one line per segment, as
//! tcpdump does; a run that cannot capture says why once and skips its
//! packet checks; a bad `--pcap` path stops the run before any work.

use std::path::PathBuf;
use std::process::Command;

use etherparse::{LaxSlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use regex::Regex;
use serde_json::Value;

use crate::{assert_usage_error, bin, cmd, json_report};

/// A directory of its own under /tmp, readable by uid 65534; removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "tcp-workbook-capture-{what}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One TCP segment read back from a pcap file: flags as tcpdump writes
/// them, and its payload (as much as the snap kept).
#[derive(Debug)]
struct Read {
    src_port: u16,
    flags: String,
    payload: Vec<u8>,
}

/// Every frame of the pcap file at `path`, parsed: the data link, and
/// each frame's TCP segment (`None` for a frame that holds none).
fn read_pcap(path: &std::path::Path) -> (DataLink, Vec<Option<Read>>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = PcapReader::new(file).unwrap();
    let link = reader.header().datalink;
    let mut frames = vec![];
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let parsed = LaxSlicedPacket::from_ethernet(&packet.data).unwrap();
        frames.push(match parsed.transport {
            Some(TransportSlice::Tcp(t)) => {
                let bits = [
                    (t.syn(), 'S'),
                    (t.fin(), 'F'),
                    (t.rst(), 'R'),
                    (t.psh(), 'P'),
                    (t.ack(), '.'),
                ];
                let flags = bits.iter().filter(|b| b.0).map(|b| b.1).collect();
                Some(Read {
                    src_port: t.source_port(),
                    flags,
                    payload: t.payload().to_vec(),
                })
            }
            _ => None,
        });
    }
    (link, frames)
}

/// `sixteen --pcap` writes an Ethernet pcap file holding as many frames
/// as the report counts: the handshake, the book's two sixteen-octet
/// messages (their bytes in the capture), and a FIN from each side.
#[test]
fn pcap_file_holds_the_conversation_the_report_counts() {
    let dir = TempDir::new("pcap");
    let path = dir.0.join("sixteen.pcap");
    let out = cmd("sixteen")
        .args(["--json", "--pcap"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = json_report(&out.stdout);
    if r["packets"]["kind"] != "captured" {
        eprintln!("no capture here ({}): nothing to read", r["packets"]);
        assert!(!path.exists(), "a pcap file was written without a capture");
        return;
    }
    let (link, frames) = read_pcap(&path);
    assert_eq!(link, DataLink::ETHERNET);
    assert_eq!(
        frames.len() as u64,
        r["packets"]["frames_captured"].as_u64().unwrap()
    );
    let segments: Vec<&Read> = frames.iter().flatten().collect();
    let flags: Vec<&str> = segments.iter().map(|s| s.flags.as_str()).collect();
    assert_eq!(&flags[..3], ["S", "S.", "."], "{segments:?}");
    let data: Vec<&[u8]> = segments
        .iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.payload.as_slice())
        .collect();
    assert_eq!(data, [&b"Hi there, server"[..], b"Farewell, client"]);
    let fins: Vec<u16> = segments
        .iter()
        .filter(|s| s.flags.contains('F'))
        .map(|s| s.src_port)
        .collect();
    assert_eq!(fins.len(), 2, "{segments:?}");
    assert_ne!(fins[0], fins[1], "a FIN from each side: {segments:?}");
}

/// A `--pcap` path in a directory that does not exist is a usage error
/// before any work: one line naming the flag, nothing on stdout.
#[test]
fn pcap_path_that_cannot_be_written_stops_the_run_before_any_work() {
    let err = assert_usage_error(
        "sixteen",
        &["--pcap", "/nonexistent-tcp-workbook/x.pcap"],
    );
    assert!(
        err.contains("--pcap /nonexistent-tcp-workbook/x.pcap"),
        "{err}"
    );
    assert!(err.contains("ENOENT"), "{err}");
    let out = cmd("sixteen")
        .args(["--pcap", "/nonexistent-tcp-workbook/x.pcap"])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// The shape of one `--trace` line: tcpdump's, `0.000045
/// 127.0.0.1.41234 > 127.0.0.1.35349: Flags [S.], seq 0, ack 1, win
/// 65483, length 0`.
fn trace_line() -> Regex {
    Regex::new(
        r"^\d+\.\d{6} [0-9a-f.:]+\.\d+ > [0-9a-f.:]+\.\d+: Flags \[[SFRPU.]+\], seq \d+(:\d+)?(, ack \d+)?, win \d+, length \d+( \((retransmission|zero window probe)\))?$",
    )
    .unwrap()
}

/// `refused --trace` prints, after the verdict, a head with the count and
/// one tcpdump-style line per segment: each SYN to the closed port, and
/// the RST|ACK that answered it.
#[test]
fn trace_prints_one_tcpdump_line_per_segment() {
    let out = cmd("refused").arg("--trace").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("wire: not captured") {
        eprintln!("no capture here: {text}");
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    let head = lines.iter().position(|l| l.starts_with("trace: ")).unwrap();
    assert!(
        lines[head - 1].starts_with("         ("),
        "after the verdict"
    );
    let n: usize = lines[head]["trace: ".len()..]
        .trim_end_matches(" segments")
        .parse()
        .unwrap();
    let trace = &lines[head + 1..];
    assert_eq!(trace.len(), n, "{text}");
    let shape = trace_line();
    for l in trace {
        assert!(shape.is_match(l), "not a trace line: {l}");
    }
    assert!(trace[0].starts_with("0.000000 "), "{text}");
    let syn = trace.iter().filter(|l| l.contains("Flags [S],")).count();
    let rst = trace.iter().filter(|l| l.contains("Flags [R.],")).count();
    assert_eq!((syn, rst), (2, 2), "{text}");
}

/// Under `--json`, the trace goes to stderr and the report stays the one
/// line on stdout.
#[test]
fn trace_under_json_leaves_stdout_one_report() {
    let out = cmd("refused").args(["--json", "--trace"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = json_report(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if r["packets"]["kind"] == "captured" {
        let segments = r["packets"]["segments"].as_u64().unwrap() as usize;
        let shape = trace_line();
        assert_eq!(err.lines().filter(|l| shape.is_match(l)).count(), segments);
    }
}

/// Where nothing can be captured (the host's loopback, not root), the
/// run says why, once; its packet checks are skipped (`–`) and the verdict
/// is the one the sockets give; the report says `not_captured` with the
/// reason, in `packets` and in the experiment's own `wire`.
#[test]
fn without_a_capture_the_packet_checks_are_skipped_with_the_reason() {
    let dir = TempDir::new("uncaptured");
    // Root, unless in a user namespace of its own (where uid 65534 is not
    // mapped, and root has no CAP_NET_RAW over the host's loopback).
    let root = std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
        m.split_whitespace().take(3).eq(["0", "0", "4294967295"])
    });
    let run = |args: &[&str]| {
        let mut command = if root && nix::unistd::geteuid().is_root() {
            let copy = dir.0.join("refused");
            std::fs::copy(bin("refused"), &copy).unwrap();
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"]);
            c.arg(copy);
            c
        } else {
            Command::new(bin("refused"))
        };
        command
            .args(["--network", "host"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("not captured").count(), 1, "{text}");
    assert!(text.contains("wire: not captured ("), "{text}");
    let wire = text
        .lines()
        .find(|l| l.starts_with("on the wire: "))
        .unwrap();
    assert!(!wire.contains('✓') && !wire.contains('✗'), "{wire}");
    assert!(text.contains("verdict: refused, as the book predicts"));
    let r = json_report(&run(&["--json"]).stdout);
    assert_eq!(r["packets"]["kind"], "not_captured", "{r}");
    assert!(!r["packets"]["why"].as_str().unwrap().is_empty(), "{r}");
    let why = &r["measurements"]["wire"]["not_captured"];
    assert!(why.is_string(), "{r}");
    assert_eq!(r["observed"], "refused");
    let pinned = r["sysctls"].as_array().unwrap();
    assert!(pinned.iter().all(|s| s["pinned"] == Value::Bool(false)));
}

/// Every experiment's default run writes a pcap file that reads back
/// whole: as many frames as its report counts, each an Ethernet frame
/// that parses, the TCP ones as many as its segments.
#[test]
fn every_experiments_pcap_reads_back_whole() {
    let dir = TempDir::new("each");
    let runs: Vec<_> = tcp_workbook::workbook::registry::EXPERIMENTS
        .iter()
        .map(|e| {
            let path = dir.0.join(format!("{}.pcap", e.name));
            let out = cmd(e.name).args(["--json", "--pcap"]).arg(&path);
            (
                e.name,
                path,
                std::thread::spawn(move || out.output().unwrap()),
            )
        })
        .collect();
    for (name, path, run) in runs {
        let out = run.join().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
        let r = json_report(&out.stdout);
        if r["packets"]["kind"] != "captured" {
            eprintln!("{name}: no capture here: {}", r["packets"]);
            continue;
        }
        let (link, frames) = read_pcap(&path);
        assert_eq!(link, DataLink::ETHERNET, "{name}");
        let counted = |key: &str| r["packets"][key].as_u64().unwrap();
        assert_eq!(frames.len() as u64, counted("frames_captured"), "{name}");
        let tcp = frames.iter().flatten().count() as u64;
        assert_eq!(tcp, counted("segments"), "{name}");
        assert_eq!(counted("frames_dropped"), 0, "{name}");
    }
}

/// `workbook check --pcap FILE` records what the reader's program put on
/// the wire: the book's client's sixteen octets to it, its reply
/// `Farewell, client`, and the SYN|ACK it answered the connection with,
/// from the same port.
#[test]
fn check_pcap_holds_the_programs_segments() {
    if crate::check::python().is_none() {
        return;
    }
    let ex = crate::check::exercises(&[]);
    let dir = TempDir::new("check");
    let pcap = dir.0.join("server.pcap");
    let program = ex.path().join("01-sixteen/server_pass.py");
    let out = cmd("workbook")
        .args(["check", "01", "--server", "--only", "replies-farewell"])
        .arg("--pcap")
        .arg(&pcap)
        .args(["--", "python3"])
        .arg(&program)
        .args(["{host}", "{port}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("nothing is captured") {
        eprintln!("skipped: no capture here: {err}");
        return;
    }
    assert!(err.contains("0 frames dropped"), "{err}");
    let (_, frames) = read_pcap(&pcap);
    let tcp: Vec<Read> = frames.into_iter().flatten().collect();
    assert!(
        tcp.iter().any(|r| r.payload == b"Hi there, server"),
        "{tcp:?}"
    );
    let reply = tcp
        .iter()
        .find(|r| r.payload == b"Farewell, client")
        .unwrap_or_else(|| panic!("no reply on the wire: {tcp:?}"));
    let syn_ack = |r: &&Read| r.flags.contains('S') && r.flags.contains('.');
    assert!(
        tcp.iter()
            .filter(syn_ack)
            .any(|r| r.src_port == reply.src_port),
        "{tcp:?}"
    );
}

/// `--pcap` with `--each`, or into a directory that does not exist, is a
/// usage error said in one line before any program runs.
#[test]
fn check_pcap_refuses_what_it_cannot_record() {
    let err = assert_usage_error(
        "workbook",
        &[
            "check", "01", "--server", "--each", "*.py", "--pcap", "x.pcap",
            "--", "python3", "{file}",
        ],
    );
    assert!(err.contains("--pcap records one program's checks"), "{err}");
    let err = assert_usage_error(
        "workbook",
        &[
            "check",
            "01",
            "--server",
            "--pcap",
            "/nonexistent/dir/x.pcap",
            "--",
            "true",
        ],
    );
    assert!(err.contains("ENOENT"), "{err}");
}
