//! `workbook check` on real programs: the reference programs in
//! `exercises/` pass or fail as they should, for the reason they should,
//! with the evidence the check names; and each way a reader's program can
//! go wrong (never listens, exits at once, floods, ignores SIGTERM, binds
//! the wrong address or port) is a failed check saying which. Skipped,
//! with a message, where python3 is absent (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::{assert_usage_error, cmd};

/// `python3`, or `None` (and a message) where it is absent.
pub fn python() -> Option<&'static str> {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if found.is_ok_and(|o| o.status.success()) {
        return Some("python3");
    }
    eprintln!("python3 not found: the workbook check tests are skipped");
    None
}

/// A copy of `exercises/` in a fresh directory every user can read (run
/// as root, the checked program runs as nobody, who may not reach the
/// checkout), with `extra` scripts written beside them.
pub fn exercises(extra: &[(&str, &str)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .unwrap()
    };
    open(dir.path(), 0o755);
    let src = crate::book::root().join("exercises");
    for sub in std::fs::read_dir(&src).unwrap() {
        let sub = sub.unwrap().path();
        let to = dir.path().join(sub.file_name().unwrap());
        std::fs::create_dir(&to).unwrap();
        open(&to, 0o755);
        for file in std::fs::read_dir(&sub).unwrap() {
            let file = file.unwrap().path();
            let copy = to.join(file.file_name().unwrap());
            std::fs::copy(&file, &copy).unwrap();
            open(&copy, 0o644);
        }
    }
    for (name, text) in extra {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        open(&path, 0o644);
    }
    dir
}

/// Runs `workbook check ARGS --json -- python3 FILE {host} {port}`.
pub fn check(args: &[&str], file: &Path) -> Output {
    let file = file.to_str().unwrap();
    let mut all = vec!["check"];
    all.extend(args);
    all.extend(["--json", "--", "python3", file, "{host}", "{port}"]);
    cmd("workbook").args(&all).output().unwrap()
}

/// The findings a `--json` run printed, by check name.
pub fn findings(out: &Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{out:?}"))
        })
        .collect()
}

/// The finding of check `name`.
pub fn finding<'f>(fs: &'f [Value], name: &str) -> &'f Value {
    fs.iter()
        .find(|f| f["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {fs:#?}"))
}

/// Asserts that check `name` failed with a reason containing `why`.
pub fn failed_because<'f>(fs: &'f [Value], name: &str, why: &str) -> &'f Value {
    let f = finding(fs, name);
    assert_eq!(f["passed"], false, "{f:#}");
    let reason = f["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(why),
        "{name}: {reason:?} lacks {why:?}\n{f:#}"
    );
    f
}

/// Every check of the run passed, and it exited 0.
fn all_passed(out: &Output) -> Vec<Value> {
    let fs = findings(out);
    assert!(!fs.is_empty(), "{out:?}");
    for f in &fs {
        assert_eq!(f["passed"], true, "{f:#}");
        assert_eq!(f["reason"], Value::Null, "{f:#}");
    }
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    fs
}

fn path(dir: &tempfile::TempDir, rel: &str) -> PathBuf {
    dir.path().join(rel)
}

/// The passing reference programs pass every check of their experiment
/// and role, and the evidence shows the reply the book's client got.
#[test]
fn passing_references_pass_every_check() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let fs = all_passed(&check(
        &["01", "--server"],
        &path(&dir, "01-sixteen/server_pass.py"),
    ));
    assert_eq!(fs.len(), 6);
    let f = finding(&fs, "waits-for-16-byte-by-byte");
    assert_eq!(f["evidence"]["reply"], "b'Farewell, client'");
    assert_eq!(f["evidence"]["then"], "closed (FIN)");
    let f = finding(&fs, "survives-reset");
    assert_eq!(f["evidence"]["next_client_got"], "b'Farewell, client'");
    let fs = all_passed(&check(
        &["01", "--client"],
        &path(&dir, "01-sixteen/client_pass.py"),
    ));
    assert_eq!(
        finding(&fs, "gets-reply-in-pieces")["evidence"]["it_sent"],
        "b'Hi there, server'"
    );
    let fs = all_passed(&check(
        &["02", "--server"],
        &path(&dir, "02-partial-recv/server_pass.py"),
    ));
    let f = finding(&fs, "recvall-at-every-split");
    assert_eq!(f["evidence"]["splits_answered"], 15);
    let f = finding(&fs, "error-on-close-mid-message");
    assert_eq!(f["evidence"]["it_replied"], "b''");
    assert_eq!(f["evidence"]["still_running"], true);
}

/// A server that calls recv() once answers the first piece it gets: the
/// check shows what it had received, and a client that resets kills it.
#[test]
fn server_that_calls_recv_once_fails_showing_what_it_received() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let out = check(
        &["01", "--server"],
        &path(&dir, "01-sixteen/server_recv_once.py"),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let fs = findings(&out);
    let f = failed_because(
        &fs,
        "waits-for-16-in-two-pieces",
        "after 8 of 16 octets",
    );
    assert_eq!(f["evidence"]["received_before_it_answered"], "b'Hi there'");
    let f = failed_because(
        &fs,
        "waits-for-16-byte-by-byte",
        "after 1 of 16 octets",
    );
    assert_eq!(f["evidence"]["received_before_it_answered"], "b'H'");
    let f = failed_because(
        &fs,
        "survives-reset",
        "a client that reset its connection killed it",
    );
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("ConnectionResetError")
    );
    assert_eq!(f["evidence"]["exit"], "exit status 1");
    // All sixteen at once: one recv() happens to be enough.
    assert_eq!(finding(&fs, "replies-farewell")["passed"], true);
}

/// A client that calls recv() once closes after the first piece of the
/// reply, and takes a reply cut short for the whole (exit status 0).
#[test]
fn client_that_calls_recv_once_fails_both_checks() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let out = check(
        &["01", "--client"],
        &path(&dir, "01-sixteen/client_recv_once.py"),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let fs = findings(&out);
    let f = failed_because(
        &fs,
        "gets-reply-in-pieces",
        "after 4 of the reply's 16 octets",
    );
    assert_eq!(f["evidence"]["sent_before_it_closed"], "b'Fare'");
    let f = failed_because(
        &fs,
        "fails-on-early-close",
        "exited with status 0 after a reply of 8",
    );
    assert!(
        f["evidence"]["output"]
            .as_str()
            .unwrap()
            .contains("b'Farewell'")
    );
}

/// 02: a recvall() that never checks for b'' answers every split but
/// spins when the peer closes mid-message: the check names the hang and
/// shows its socket in CLOSE_WAIT; one recv() fails both checks.
#[test]
fn recvall_that_ignores_the_end_of_stream_hangs() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let out = check(
        &["02", "--server", "--timeout-ms", "1000"],
        &path(&dir, "02-partial-recv/server_spins.py"),
    );
    let fs = findings(&out);
    assert_eq!(finding(&fs, "recvall-at-every-split")["passed"], true);
    let f = failed_because(&fs, "error-on-close-mid-message", "hangs: 1000 ms");
    let socket = f["evidence"]["its_socket"].as_str().unwrap();
    assert!(socket.ends_with("CLOSE_WAIT"), "{socket}");
    assert_eq!(f["evidence"]["then"], "still open after 1000 ms");
    let out = check(
        &["02", "--server"],
        &path(&dir, "02-partial-recv/server_recv_once.py"),
    );
    let fs = findings(&out);
    let f = failed_because(&fs, "recvall-at-every-split", "cut at 1:");
    assert_eq!(f["evidence"]["received_before_it_answered"], "b'H'");
    failed_because(
        &fs,
        "error-on-close-mid-message",
        "replied b'Farewell, client' to a message cut off",
    );
}

/// The starting points fail (they are to be finished), and say why.
#[test]
fn starting_points_fail_until_finished() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    for (args, file) in [
        (["01", "--server"], "01-sixteen/server_start.py"),
        (["01", "--client"], "01-sixteen/client_start.py"),
        (["02", "--server"], "02-partial-recv/server_start.py"),
    ] {
        let out = check(&args, &path(&dir, file));
        assert_eq!(out.status.code(), Some(1), "{file}: {out:?}");
    }
}

const NEVER_LISTENS: &str = "import time\ntime.sleep(30)\n";
const EXITS_AT_ONCE: &str = "raise ValueError('no port given')\n";
const FLOODS: &str = "while True:\n    print('x' * 1000)\n";
const IGNORES_SIGTERM: &str = "\
import signal, socket, sys, time
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
l = socket.socket()
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
while True:
    c, _ = l.accept()
    d = b''
    while len(d) < 16:
        d += c.recv(16 - len(d))
    c.sendall(b'Farewell, client')
    c.close()
";
const WRONG_ADDRESS: &str = "\
import socket, sys, time
l = socket.socket()
l.bind(('127.0.0.2', int(sys.argv[2])))
l.listen(1)
time.sleep(30)
";
const WRONG_PORT: &str = "\
import socket, sys, time
l = socket.socket()
l.bind((sys.argv[1], int(sys.argv[2]) ^ 1))
l.listen(1)
time.sleep(30)
";

/// Each way a reader's server can go wrong is a failed check whose one
/// line says which, and `workbook check` itself ends normally (exit 1).
#[test]
fn a_misbehaving_program_is_a_finding_not_a_crash() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[
        ("never.py", NEVER_LISTENS),
        ("at_once.py", EXITS_AT_ONCE),
        ("floods.py", FLOODS),
        ("ignores.py", IGNORES_SIGTERM),
        ("address.py", WRONG_ADDRESS),
        ("port.py", WRONG_PORT),
    ]);
    let cases = [
        ("never.py", "never listened: no socket on port"),
        ("at_once.py", "exited (exit status 1) after"),
        ("floods.py", "floods its output: more than 1 MiB"),
        ("ignores.py", "ignores SIGTERM: still running"),
        (
            "address.py",
            "bound the wrong address: it listens on 127.0.0.2:",
        ),
        ("port.py", "listens on 127.0.0.1:"),
    ];
    for (file, why) in cases {
        // Only the one that never listens waits out its start deadline:
        // the others, on a loaded machine, may take longer to start.
        let mut args = vec!["01", "--server", "--only", "replies-farewell"];
        if file == "never.py" {
            args.extend(["--start-ms", "500"]);
        }
        let out = check(&args, &path(&dir, file));
        assert_eq!(out.status.code(), Some(1), "{file}: {out:?}");
        let fs = findings(&out);
        // On the host's network (no namespace here) a listener on another
        // port may be anyone's, so it is not taken for the program's.
        let host = fs[0]["network"]["kind"] == "host";
        let why = match file {
            "port.py" if host => "never listened",
            _ => why,
        };
        let f = failed_because(&fs, "replies-farewell", why);
        if file == "at_once.py" {
            let reason = f["reason"].as_str().unwrap();
            assert!(reason.contains("ValueError: no port given"), "{reason}");
        }
        if file == "floods.py" {
            let kept = f["evidence"]["output"].as_str().unwrap().len();
            assert!(kept <= 64 << 10, "kept {kept} bytes");
            assert!(f["evidence"]["output_bytes"].as_u64().unwrap() > 1 << 20);
        }
    }
}

/// What is wrong on the command line is one line on stderr and exit 2:
/// no such program, an unknown experiment, a role with no checks.
#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let err = assert_usage_error(
        "workbook",
        &[
            "check",
            "01",
            "--server",
            "--",
            "no-such-program-here",
            "{port}",
        ],
    );
    assert!(err.contains("no program \"no-such-program-here\""), "{err}");
    let err = assert_usage_error(
        "workbook",
        &["check", "99", "--server", "--", "true"],
    );
    assert!(err.contains("no experiment \"99\""), "{err}");
    let err = assert_usage_error(
        "workbook",
        &["check", "03", "--client", "--", "true"],
    );
    assert!(err.contains("has no checks for a client"), "{err}");
    let err = assert_usage_error("workbook", &["check", "01", "--", "true"]);
    assert!(err.contains("--server or --client"), "{err}");
    let err = assert_usage_error("workbook", &["check", "01", "--server"]);
    assert!(err.contains("no program given"), "{err}");
    let err = assert_usage_error(
        "workbook",
        &[
            "check",
            "01",
            "--server",
            "--each",
            "*.py",
            "--format",
            "gradescope",
            "--",
            "python3",
            "{file}",
        ],
    );
    assert!(err.contains("one submission"), "{err}");
    let err = assert_usage_error(
        "workbook",
        &["check", "01", "--server", "--each", "*.py", "--", "true"],
    );
    assert!(err.contains("{file}"), "{err}");
}
