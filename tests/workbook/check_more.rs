//! `workbook check` on real programs, for the checks of 04, 06, 07, 09 and
//! 10: each passing reference passes with the kernel's evidence, each
//! failing one fails for the reason its exercise names, with the evidence
//! the check promises (the TIME_WAIT row, the four queues and both
//! windows, the address bound in the other host's table, the backlog and
//! the SYN_SENT clients, the ECONNREFUSED of the next client). Skipped,
//! with a message, where python3 is absent.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::check::{exercises, failed_because, finding, findings, python};
use crate::cmd;

/// Runs `workbook check ARGS --json -- python3 FILE REST...` in `dir`.
fn check(args: &[&str], dir: &Path, file: &str, rest: &[&str]) -> Output {
    let file = dir.join(file);
    let mut all = vec!["check"];
    all.extend(args);
    all.extend(["--json", "--", "python3", file.to_str().unwrap()]);
    all.extend(rest);
    cmd("workbook").args(&all).output().unwrap()
}

/// The only finding of a run of one check, which passed (exit 0).
fn passed(out: &Output, name: &str) -> Value {
    let fs = findings(out);
    let f = finding(&fs, name).clone();
    assert_eq!(f["passed"], true, "{f:#}");
    assert_eq!(f["reason"], Value::Null, "{f:#}");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    f
}

/// The only finding of a run of one check, which failed (exit 1) with a
/// reason containing each of `why`.
fn failed(out: &Output, name: &str, why: &[&str]) -> Value {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let fs = findings(out);
    let f = failed_because(&fs, name, why[0]).clone();
    let reason = f["reason"].as_str().unwrap();
    for w in why {
        assert!(reason.contains(w), "{reason:?} lacks {w:?}");
    }
    f
}

fn text(f: &Value, key: &str) -> String {
    let v = &f["evidence"][key];
    v.as_str()
        .unwrap_or_else(|| panic!("no {key} in {f:#}"))
        .to_owned()
}

const HOST_PORT: &[&str] = &["{host}", "{port}"];

/// 06: after a conversation the program closed first, its end sits in
/// TIME_WAIT on its port (the kernel's row), and a restart at once listens
/// again only with SO_REUSEADDR; without it the EADDRINUSE it printed is
/// the evidence, with the row still there at the restart.
#[test]
fn a_restart_during_time_wait_needs_so_reuseaddr() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let (d, args) = (dir.path(), ["06", "--server"]);
    let out = check(&args, d, "06-reuseaddr/server_pass.py", HOST_PORT);
    let f = passed(&out, "restarts-at-once");
    assert!(text(&f, "time_wait").contains(" TIME_WAIT, "), "{f:#}");
    assert_eq!(text(&f, "first_run"), "killed by SIGINT");
    assert!(text(&f, "restart").starts_with("listening again on port"));
    let out = check(&args, d, "06-reuseaddr/server_no_reuseaddr.py", HOST_PORT);
    let why = ["could not listen again on port", "Address already in use"];
    let f = failed(&out, "restarts-at-once", &why);
    assert!(text(&f, "restart_printed").contains("[Errno 98]"), "{f:#}");
    let row = text(&f, "time_wait");
    let port = row.split(' ').next().unwrap();
    assert!(row.contains(" TIME_WAIT, "), "{row}");
    assert!(text(&f, "at_restart").starts_with(port), "{f:#}");
    assert_eq!(text(&f, "exit"), "exit status 1");
}

/// 10: a client that reads while it sends and half-closes gets all 16 MiB
/// back; one that sends everything first is caught at the cycle of
/// waits, in well under the 1 s stall window, with both windows 0 and the
/// queues full; one that never half-closes is named as such, everything
/// read back and nothing left in the queues.
#[test]
fn a_client_that_sends_everything_first_is_caught_at_the_deadlock() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let (d, args) = (dir.path(), ["10", "--client"]);
    let out = check(&args, d, "10-deadlock/client_pass.py", HOST_PORT);
    let f = passed(&out, "gets-everything-back");
    let n = 16u64 << 20;
    assert_eq!(f["evidence"]["it_sent"], n);
    assert_eq!(f["evidence"]["sent_back"], n);
    assert!(text(&f, "it_printed").ends_with(&format!("{n} bytes")));
    let file = "10-deadlock/client_sends_all_first.py";
    let out = check(&args, d, file, HOST_PORT);
    let why = ["deadlock: it sends everything before it reads"];
    let f = failed(&out, "gets-everything-back", &why);
    assert_eq!(text(&f, "windows"), "its 0, ours 0 bytes");
    assert!(text(&f, "stalled").starts_with("the cycle of waits held"));
    let sent = f["evidence"]["it_sent"].as_u64().unwrap();
    assert!(0 < sent && sent < n, "{f:#}");
    for key in ["its_queues", "our_queues"] {
        assert!(!text(&f, key).contains(" 0,"), "{f:#}");
    }
    // Stopped by our signal where it is stuck, not ended by our RST.
    assert_eq!(text(&f, "stopped_by"), "SIGINT", "{f:#}");
    assert!(text(&f, "output").contains("sendall"), "{f:#}");
    let file = "10-deadlock/client_no_shutdown.py";
    let out = check(&args, d, file, HOST_PORT);
    let f = failed(&out, "gets-everything-back", &["never half-closes"]);
    assert_eq!(f["evidence"]["sent_back"], n);
    assert_eq!(text(&f, "its_queues"), "send 0, receive 0 bytes");
    assert_eq!(text(&f, "our_queues"), "receive 0, send 0 bytes");
    // Still waiting for our FIN when our signal came: we sent none.
    assert_eq!(text(&f, "stopped_by"), "SIGINT", "{f:#}");
}

/// A first try that prints how far it has got after every sixteen-byte
/// message, as the book's own deadlock client does: about 20 bytes of
/// output per 16 sent. It sends 64 messages per `sendall()` (and prints
/// their 64 lines at once), so that a loaded machine's scheduler cannot
/// stretch its sending past our stall window before the buffers fill.
const PRINTS_AS_IT_SENDS: &str = "\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sent = 0
while sent < 16 << 20:
    s.sendall(b'capitalize this!' * 64)
    lines = ''.join('\\r  %d bytes sent ' % (sent + 16 * i) for i in range(1, 65))
    sent += 16 * 64
    print(lines, end='', flush=True)
s.shutdown(socket.SHUT_WR)
while s.recv(1024):
    pass
";

/// 10: a client that sends everything first and prints a progress line
/// per message (megabytes of output before the buffers fill) is still
/// caught at the deadlock it is there to show, not killed for flooding
/// its output.
#[test]
fn a_client_that_prints_as_it_sends_is_caught_at_the_deadlock() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[("prints.py", PRINTS_AS_IT_SENDS)]);
    let out = check(&["10", "--client"], dir.path(), "prints.py", HOST_PORT);
    let why = ["deadlock: it sends everything before it reads"];
    let f = failed(&out, "gets-everything-back", &why);
    assert_eq!(text(&f, "windows"), "its 0, ours 0 bytes");
    let sent = f["evidence"]["it_sent"].as_u64().unwrap();
    // More output than the default flood limit came before the deadlock.
    assert!(
        sent / 16 * 20 > tcp_workbook::lab::stranger::FLOOD_BYTES,
        "{f:#}"
    );
}

const CLOSES_EARLY: &str = "\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'capitalize this!' * 65536)
s.close()
";
const MISCOUNTS: &str = "\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'capitalize this!')
s.shutdown(socket.SHUT_WR)
while s.recv(1024):
    pass
print('received 17 bytes')
";

/// 10: the contract's other ends: a client that sends too few bytes to
/// fill the buffers, one that miscounts what came back, one that closes
/// before reading everything back.
#[test]
fn a_client_must_send_enough_and_count_what_came_back() {
    if python().is_none() {
        return;
    }
    let dir =
        exercises(&[("closes.py", CLOSES_EARLY), ("counts.py", MISCOUNTS)]);
    let (d, args) = (dir.path(), ["10", "--client"]);
    let few = ["{host}", "{port}", "--bytes", "4096"];
    let out = check(&args, d, "10-deadlock/client_pass.py", &few);
    let f = failed(&out, "gets-everything-back", &["sent only 4096 bytes"]);
    assert_eq!(f["evidence"]["sent_back"], 4096);
    let out = check(&args, d, "counts.py", HOST_PORT);
    let why = ["says it got 17 bytes back; our server sent back 16"];
    failed(&out, "gets-everything-back", &why);
    let out = check(&args, d, "closes.py", HOST_PORT);
    let why = ["closed its socket before it had read everything back"];
    failed(&out, "gets-everything-back", &why);
}

/// 07: run inside host A, a server bound to "" is reached from host B;
/// bound to 127.0.0.1 it is refused, and the address comes from host A's
/// socket table. Skipped (saying why) where namespaces are forbidden.
#[test]
fn a_server_bound_to_loopback_is_unreachable_from_another_host() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let (d, args) = (dir.path(), ["07", "--server"]);
    let out = check(&args, d, "07-bind-interface/server_pass.py", &["{port}"]);
    let name = "reachable-from-another-host";
    if let Some(why) = findings(&out)[0]["skipped"].as_str() {
        return eprintln!("07's check skipped here: {why}");
    }
    let f = passed(&out, name);
    assert!(text(&f, "bound").starts_with("0.0.0.0:"), "{f:#}");
    assert!(text(&f, "client_on_host_b").starts_with("10.200.0.2:"));
    assert_eq!(text(&f, "reply"), "b'Farewell, client'");
    let file = "07-bind-interface/server_loopback_only.py";
    let out = check(&args, d, file, &["{port}"]);
    let why = ["bound 127.0.0.1:", "refused (ECONNREFUSED)"];
    let f = failed(&out, name, &why);
    assert!(text(&f, "bound").starts_with("127.0.0.1:"), "{f:#}");
    assert!(text(&f, "from_host_b").ends_with(": ECONNREFUSED"));
}

/// 09: busy with one client, a server with a backlog of 8 has all five of
/// a burst queued; with the book's listen(1) the kernel queues two and
/// drops the others' SYNs, leaving them in SYN_SENT. The backlog is read
/// from the kernel.
#[test]
fn a_backlog_of_one_leaves_a_burst_in_syn_sent() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let (d, args) = (dir.path(), ["09", "--server"]);
    let out = check(&args, d, "09-backlog/server_pass.py", HOST_PORT);
    let f = passed(&out, "queues-a-burst");
    assert_eq!(f["evidence"]["backlog"], 8);
    assert_eq!(text(&f, "burst"), "5 ESTABLISHED");
    assert_eq!(f["evidence"]["accept_queue_while_busy"], 5);
    let out = check(&args, d, "09-backlog/server_backlog_1.py", HOST_PORT);
    let why = ["2 were queued for accept() and 3 got no answer"];
    let f = failed(&out, "queues-a-burst", &why);
    assert_eq!(f["evidence"]["backlog"], 1);
    assert_eq!(f["evidence"]["accept_queue_while_busy"], 2);
    assert_eq!(text(&f, "burst"), "2 ESTABLISHED, 3 SYN_SENT (no answer)");
    let dropped = f["evidence"]["syns_dropped"].as_u64().unwrap();
    assert!(dropped >= 3, "{f:#}");
}

/// 04: three clients in turn, each conversation on a socket of its own
/// (three inodes, none the listener's); a server that closes its
/// listener after one client fails with the next connect's ECONNREFUSED.
#[test]
fn each_conversation_has_its_own_socket() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let (d, args) = (dir.path(), ["04", "--server"]);
    let out = check(&args, d, "04-listening-socket/server_pass.py", HOST_PORT);
    let f = passed(&out, "one-socket-per-conversation");
    let inode = |s: String| s.rsplit(' ').next().unwrap().to_owned();
    let mut inodes = vec![inode(text(&f, "listener"))];
    assert!(text(&f, "listener").contains(" LISTEN, "), "{f:#}");
    for i in 1..=3 {
        let row = text(&f, &format!("client_{i}"));
        assert!(row.contains(" ESTABLISHED, inode "), "{row}");
        inodes.push(inode(row));
    }
    inodes.sort();
    inodes.dedup();
    assert_eq!(inodes.len(), 4, "{f:#}");
    let file = "04-listening-socket/server_closes_listener.py";
    let out = check(&args, d, file, HOST_PORT);
    let why = [
        "client 2 of 3: connect to 127.0.0.1:",
        "refused (ECONNREFUSED)",
        "closed its listening socket after one client",
    ];
    let f = failed(&out, "one-socket-per-conversation", &why);
    assert_eq!(text(&f, "client_2"), "connect: ECONNREFUSED");
    assert_eq!(text(&f, "listener_after"), "none");
}

/// The starting points of these exercises fail (they are to be
/// finished).
#[test]
fn the_new_starting_points_fail_until_finished() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    for (args, file, rest) in [
        (
            ["04", "--server"],
            "04-listening-socket/server_start.py",
            HOST_PORT,
        ),
        (
            ["06", "--server"],
            "06-reuseaddr/server_start.py",
            HOST_PORT,
        ),
        (
            ["07", "--server"],
            "07-bind-interface/server_start.py",
            &["{port}"],
        ),
        (["09", "--server"], "09-backlog/server_start.py", HOST_PORT),
        (["10", "--client"], "10-deadlock/client_start.py", HOST_PORT),
    ] {
        let out = check(&args, dir.path(), file, rest);
        let skipped = findings(&out)[0]["skipped"].is_string();
        if !skipped {
            assert_eq!(out.status.code(), Some(1), "{file}: {out:?}");
        }
    }
}

const IGNORES_SIGNALS: &str = "\
import signal, socket, sys
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_IGN)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
const WAITS_FOR_THE_CLIENT: &str = "\
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
while True:
    c, _ = l.accept()
    c.recv(16)
    c.sendall(b'Farewell, client')
    c.recv(1)
    c.close()
";
const NEVER_ACCEPTS: &str = "\
import socket, sys, time
l = socket.socket()
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(8)
time.sleep(30)
";
const SENDS_NOTHING: &str = "\
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
time.sleep(30)
";
const EXITS_3: &str = "\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'capitalize this!')
s.shutdown(socket.SHUT_WR)
while s.recv(1024):
    pass
print('something went wrong')
sys.exit(3)
";
const NO_COUNT: &str = "\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'capitalize this!')
s.shutdown(socket.SHUT_WR)
while s.recv(1024):
    pass
print('done')
";

/// Each other way these programs can go wrong is a finding that says
/// which: a server that ignores SIGINT and SIGTERM cannot be restarted;
/// one that waits for the client to close first gives our client no end
/// of stream; one that never accepts leaves our clients in its accept
/// queue; a client that sends nothing, exits non-zero, or prints no
/// count. The runs go at once, each a process of its own.
#[test]
fn each_other_misbehaviour_is_named() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[
        ("ignores.py", IGNORES_SIGNALS),
        ("waits.py", WAITS_FOR_THE_CLIENT),
        ("never.py", NEVER_ACCEPTS),
        ("nothing.py", SENDS_NOTHING),
        ("exits.py", EXITS_3),
        ("nocount.py", NO_COUNT),
    ]);
    let short = ["--timeout-ms", "500"];
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "06",
            "ignores.py",
            "restarts-at-once",
            "ignores SIGINT and SIGTERM",
        ),
        (
            "06",
            "waits.py",
            "restarts-at-once",
            "no answer within 500 ms",
        ),
        (
            "04",
            "never.py",
            "one-socket-per-conversation",
            "not accepted",
        ),
        (
            "09",
            "never.py",
            "queues-a-burst",
            "did not accept the first",
        ),
        (
            "10",
            "nothing.py",
            "gets-everything-back",
            "sent nothing for",
        ),
        (
            "10",
            "exits.py",
            "gets-everything-back",
            "exited (exit status 3)",
        ),
        ("10", "nocount.py", "gets-everything-back", "holds no count"),
    ];
    std::thread::scope(|s| {
        for (nn, file, name, why) in cases {
            let (d, role) =
                (dir.path(), if nn == "10" { "--client" } else { "--server" });
            s.spawn(move || {
                let mut args = vec![nn, role];
                args.extend(short);
                let out = check(&args, d, file, HOST_PORT);
                failed(&out, name, &[why]);
            });
        }
    });
}

/// Where the system allows no network namespace, 07's check is skipped
/// (not failed), saying why and how to allow one, and worth no points;
/// the run says it is on the host's network. The limit is set to 0 in a
/// user namespace of the test's own (`user.max_net_namespaces`, which
/// each user namespace has for itself), so the machine's is untouched.
#[test]
#[cfg(target_os = "linux")]
fn without_namespaces_the_second_host_is_skipped() {
    if python().is_none() {
        return;
    }
    let dir = exercises(&[]);
    let file = dir.path().join("07-bind-interface/server_pass.py");
    let run = |format: &str| {
        let mut c = std::process::Command::new(crate::bin("workbook"));
        c.args(["check", "07", "--server", "--format", format, "--"]);
        c.args(["python3", file.to_str().unwrap(), "{port}"]);
        no_net_namespaces(&mut c);
        let child = c.output().unwrap();
        (
            child.status.code(),
            String::from_utf8_lossy(&child.stdout).into(),
        )
    };
    let (code, json): (_, String) = run("json");
    assert_eq!(code, Some(0), "{json}");
    let f: Value = serde_json::from_str(json.trim()).unwrap();
    let why = f["skipped"].as_str().unwrap_or_else(|| panic!("{f:#}"));
    assert!(why.contains("ENOSPC"), "{why}");
    assert!(why.contains("user.max_net_namespaces"), "{why}");
    assert_eq!(
        (&f["passed"], &f["points"]),
        (&Value::Bool(true), &0.into())
    );
    assert_eq!(f["network"]["kind"], "host", "{f:#}");
    let (_, table) = run("table");
    assert!(
        table.contains("reachable-from-another-host  skip "),
        "{table}"
    );
}

/// Makes `command`'s child enter a user namespace of its own, as root
/// there, where no network namespace may be made: `unshare(2)`, its id
/// maps, then `user.max_net_namespaces` set to 0. Everything the child
/// writes is made before `fork(2)`: it allocates nothing.
#[cfg(target_os = "linux")]
fn no_net_namespaces(command: &mut std::process::Command) {
    use nix::fcntl::{OFlag, open};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::stat::Mode;
    use std::ffi::CString;
    use std::os::unix::process::CommandExt;
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let c = |s: &str| CString::new(s).unwrap();
    let writes = [
        (c("/proc/self/setgroups"), b"deny".to_vec()),
        (c("/proc/self/uid_map"), format!("0 {uid} 1").into_bytes()),
        (c("/proc/self/gid_map"), format!("0 {gid} 1").into_bytes()),
        (c("/proc/sys/user/max_net_namespaces"), b"0".to_vec()),
    ];
    // SAFETY: between fork and exec the closure makes system calls only
    // (unshare, open, write, close), on data made before the fork.
    unsafe {
        command.pre_exec(move || {
            unshare(CloneFlags::CLONE_NEWUSER)?;
            for (path, text) in &writes {
                let fd = open(path.as_c_str(), OFlag::O_WRONLY, Mode::empty())?;
                nix::unistd::write(&fd, text)?;
            }
            Ok(())
        });
    }
}

/// Ctrl-C in the middle of 07's check ends it at once and leaves nothing
/// of it: neither the program inside host A nor the helper that holds the
/// two hosts (an orphan of ours, killed at once, not a child waited for).
#[test]
#[cfg(target_os = "linux")]
fn ctrl_c_during_the_two_hosts_leaves_nothing() {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    if python().is_none() {
        return;
    }
    const WAITS: &str = "\
import os, sys, time
with open(sys.argv[1], 'a') as f:
    f.write(f'{os.getpid()}\\n')
time.sleep(60)
";
    let dir = exercises(&[("waits.py", WAITS)]);
    let pids = dir.path().join("pids");
    std::fs::write(&pids, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let open = std::fs::Permissions::from_mode(0o666);
    std::fs::set_permissions(&pids, open).unwrap();
    let script = dir.path().join("waits.py");
    let mut child = std::process::Command::new(crate::bin("workbook"))
        .args(["check", "07", "--server", "--start-ms", "30000", "--"])
        .args(["python3", script.to_str().unwrap(), pids.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let program: u32 = loop {
        let text = std::fs::read_to_string(&pids).unwrap();
        if let Some(pid) = text.lines().next().and_then(|l| l.parse().ok()) {
            break pid;
        }
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let out = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.contains("skip"), "ended early: {out}");
            return eprintln!("07's check skipped here: {out}");
        }
        assert!(Instant::now() < end, "the program never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let helper = helper_of(child.id()).expect("the namespace helper");
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        let waited = sent.elapsed();
        assert!(waited < Duration::from_secs(5), "outlived Ctrl-C");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!crate::is_running(program), "the program {program} runs on");
    assert!(!crate::is_running(helper), "the helper {helper} runs on");
}

/// The namespace helper among the children of `parent`.
#[cfg(target_os = "linux")]
fn helper_of(parent: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!(
        "/proc/{parent}/task/{parent}/children"
    ))
    .ok()?;
    children.split_whitespace().find_map(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains("__netns-helper")
            .then(|| pid.parse().ok())?
    })
}
