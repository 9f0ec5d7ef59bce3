//! `workbook check` for a class: `--each` grades every submission in a
//! child of its own and gathers the rows (JSON Lines, CSV); Gradescope's
//! `results.json` has the fields its format requires (the templates are
//! `check_templates.rs`'s); Ctrl-C leaves no reader's process behind;
//! and the reader's program reaches only loopback, as nobody when we are
//! root.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::check::{exercises, failed_because, finding, findings, python};
use crate::{bin, cmd, is_running};

/// A class of three: two pass, one calls recv() once.
fn class() -> tempfile::TempDir {
    let dir = exercises(&[]);
    for (who, file) in [
        ("ada", "server_pass.py"),
        ("bob", "server_recv_once.py"),
        ("cy", "server_pass.py"),
    ] {
        let to = dir.path().join("class").join(who);
        std::fs::create_dir_all(&to).unwrap();
        let from = dir.path().join("01-sixteen").join(file);
        std::fs::copy(from, to.join("server.py")).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    for d in ["class", "class/ada", "class/bob", "class/cy"] {
        let p = dir.path().join(d);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    dir
}

fn each(dir: &tempfile::TempDir, format: &str) -> std::process::Output {
    let glob = format!("{}/class/*/server.py", dir.path().display());
    cmd("workbook")
        .args([
            "check", "01", "--server", "--each", &glob, "--format", format,
        ])
        .args(["--", "python3", "{file}", "{host}", "{port}"])
        .output()
        .unwrap()
}

/// `--each` grades every submission (each line names its file) and exits
/// 1 when one failed; the CSV has one row per submission and check.
#[test]
fn each_grades_every_submission_and_the_csv_has_a_row_per_check() {
    if python().is_none() {
        return;
    }
    let dir = class();
    let out = each(&dir, "json");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let fs = findings(&out);
    assert_eq!(fs.len(), 3 * 6, "{fs:#?}");
    let of = |who: &str| -> Vec<Value> {
        fs.iter()
            .filter(|f| f["submission"].as_str().unwrap().contains(who))
            .cloned()
            .collect()
    };
    assert!(of("/ada/").iter().all(|f| f["passed"] == true));
    assert!(of("/cy/").iter().all(|f| f["passed"] == true));
    failed_because(&of("/bob/"), "waits-for-16-in-two-pieces", "after 8 of 16");
    let out = each(&dir, "csv");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> =
        rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, ["submission", "check", "passed", "points"]);
    let rows: Vec<csv::StringRecord> =
        rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 18, "{text}");
    let bob = rows
        .iter()
        .find(|r| r[0].contains("/bob/") && r[1].ends_with("byte-by-byte"))
        .unwrap();
    assert_eq!((&bob[2], &bob[3]), ("false", "0"));
}

/// `--format gradescope` prints one object with what Gradescope's
/// results.json requires: tests with name, score, max_score (and output,
/// status), and a total score that adds up.
#[test]
fn gradescope_results_have_the_fields_gradescope_requires() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let file = dir.path().join("01-sixteen/server_recv_once.py");
    let out = cmd("workbook")
        .args(["check", "01", "--server", "--format", "gradescope", "--"])
        .args(["python3", file.to_str().unwrap(), "{host}", "{port}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    let tests = r["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 6);
    let mut total = 0.0;
    for t in tests {
        assert!(t["name"].is_string(), "{t}");
        assert!(t["output"].is_string(), "{t}");
        assert!(["passed", "failed"].contains(&t["status"].as_str().unwrap()));
        let (score, max) = (
            t["score"].as_f64().unwrap(),
            t["max_score"].as_f64().unwrap(),
        );
        assert!(score >= 0.0 && score <= max, "{t}");
        total += score;
    }
    assert_eq!(r["score"].as_f64(), Some(total));
    let failed = tests.iter().find(|t| t["status"] == "failed").unwrap();
    assert!(failed["output"].as_str().unwrap().contains("recv() once"));
}

/// Ctrl-C (SIGINT to `workbook check`'s process group) in the middle of a
/// check ends it, and leaves no process of the reader's: neither the
/// program (a process group of its own, which the terminal's SIGINT does
/// not reach) nor a child it started in a session of its own.
#[test]
fn ctrl_c_leaves_no_readers_process_behind() {
    if python().is_none() {
        return;
    }
    const ESCAPES: &str = "\
import os, sys, time
pids = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    os._exit(0)
with open(pids, 'a') as f:
    f.write(f'{os.getpid()}\\n')
time.sleep(60)
";
    let dir = exercises(&[("escapes.py", ESCAPES)]);
    let pids = dir.path().join("pids");
    std::fs::write(&pids, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pids, std::fs::Permissions::from_mode(0o666))
        .unwrap();
    let script = dir.path().join("escapes.py");
    let mut child = Command::new(bin("workbook"))
        .args(["check", "01", "--server", "--start-ms", "30000", "--"])
        .args(["python3", script.to_str().unwrap(), pids.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let reader: u32 = loop {
        let text = std::fs::read_to_string(&pids).unwrap();
        if let Some(pid) = text.lines().next().and_then(|l| l.parse().ok()) {
            break pid;
        }
        assert!(Instant::now() < end, "the program never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Its grandchild, which left its group: our child's only other child.
    let escaped = others_running(&script, reader);
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "workbook check outlived Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!is_running(reader), "the program {reader} is still running");
    for pid in escaped {
        assert!(!is_running(pid), "its escaped child {pid} is still running");
    }
}

/// The processes running `script` other than `reader`: the grandchild
/// that left the reader's group and session.
fn others_running(script: &std::path::Path, reader: u32) -> Vec<u32> {
    let script = script.to_str().unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut found = vec![];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) =
                e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline =
                std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if pid != reader && cmdline.contains(script) && is_running(pid) {
                found.push(pid);
            }
        }
        if !found.is_empty() || Instant::now() > end {
            assert!(
                !found.is_empty(),
                "the program's escaped child never started"
            );
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The reader's program sees only loopback: one interface, `lo`, no
/// route (a UDP `connect` to a documentation address, which sends
/// nothing, fails with ENETUNREACH); run by root it is nobody (uid
/// 65534), or root with `--as-root`. Skipped where namespaces are not
/// permitted (then it would share the host's network).
#[test]
fn the_program_reaches_only_loopback_and_runs_as_nobody() {
    if python().is_none() {
        return;
    }
    const LOOKS: &str = "\
import errno, os, socket
names = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]
print('interfaces', sorted(names))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.connect(('192.0.2.1', 9))
    print('route to 192.0.2.1: yes')
except OSError as e:
    print('route to 192.0.2.1:', errno.errorcode[e.errno])
print('uid', os.getuid(), flush=True)
";
    let dir = exercises(&[("looks.py", LOOKS)]);
    let script = dir.path().join("looks.py");
    for as_root in [false, true] {
        // It prints and exits, which ends the wait for it to listen.
        let mut args = vec!["01", "--server", "--only", "replies-farewell"];
        if as_root {
            args.push("--as-root");
        }
        let out = crate::check::check(&args, &script);
        let fs = findings(&out);
        let f = finding(&fs, "replies-farewell");
        if f["network"]["kind"] != "private" {
            eprintln!("no private network here: {}", f["network"]);
            return;
        }
        let said = f["evidence"]["output"].as_str().unwrap();
        assert!(said.contains("interfaces ['lo']"), "{said}");
        assert!(said.contains("route to 192.0.2.1: ENETUNREACH"), "{said}");
        let me = nix::unistd::geteuid().as_raw();
        let uid = match (me, as_root) {
            (0, false) => 65534,
            (me, _) => me,
        };
        assert!(said.contains(&format!("uid {uid}\n")), "{said}");
    }
}
