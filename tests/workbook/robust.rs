//! What every experiment inherits from the shared entry point and the
//! manual server's accept loop: a server that survives any client, output
//! to a closed pipe that ends quietly, a runner whose children die with
//! it, and usage errors caught before any work.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tcp_workbook::lab::report::{ErrorInfo, Report};

use crate::{Background, bin, cmd, is_running, port_in, report};

const T: Duration = Duration::from_secs(10);

/// A client that connects and resets at once (SO_LINGER 0) makes the
/// server's getpeername() fail with ENOTCONN; the server reports it and
/// goes on to serve the next client.
#[test]
fn manual_server_survives_a_client_that_resets_at_once() {
    let mut server = Background::start(
        "sixteen",
        &["server", "-p", "0", "--accept-timeout-ms", "10000"],
    );
    let port = port_in(&server.next_line());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..3 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        s.connect_timeout(&addr.into(), T).unwrap();
        drop(s); // RST instead of FIN
    }
    let out = cmd("sixteen")
        .args(["client", "127.0.0.1", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server is still running after three resets"
    );
}

/// A client that trickles one byte every 50 ms holds the server for one
/// conversation deadline, not forever (each recv() alone would wait 600 s
/// here): with `--once` it exits 2, naming the cut-off.
#[test]
fn a_trickling_client_is_cut_off_at_the_conversation_deadline() {
    let mut server = Background::start(
        "sixteen",
        &[
            "server",
            "-p",
            "0",
            "--once",
            "--conversation-ms",
            "300",
            "--timeout-ms",
            "600000",
        ],
    );
    let port = port_in(&server.next_line());
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), T).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    let started = Instant::now();
    // 15 bytes at most: never the 16 the server waits for.
    for _ in 0..15 {
        if s.write_all(b"x").is_err() || started.elapsed() > T {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.wait_code(), 2);
    let err = server.stderr();
    assert!(err.contains("cut off after 300 ms"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Output to a closed pipe (`sixteen | head -0`) ends the program by
/// SIGPIPE, quietly, as other command-line tools end; no panic.
#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    for (name, args) in [
        ("sixteen", &[][..]),
        ("deadlock", &["--bytes", "64KiB"]),
        ("workbook", &["list"]),
    ] {
        // A pipe whose reading end is closed before the program starts.
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let child = Command::new(bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_with_deadline(child);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(out.status.signal(), Some(13), "{name}: SIGPIPE: {out:?}");
    }
}

/// Killing the runner alone (SIGKILL, SIGTERM or SIGINT to its pid) takes
/// the experiment it was running with it: here an experiment that would
/// run for 30 s more (`--cycle-ms 0 --stall-ms 30000`) is gone within 5 s.
#[test]
fn the_runners_children_die_with_it() {
    for signal in [libc_signal::KILL, libc_signal::TERM, libc_signal::INT] {
        let mut runner = Command::new(bin("workbook"))
            .args([
                "run",
                "deadlock",
                "--",
                "--cycle-ms",
                "0",
                "--stall-ms",
                "30000",
                "--timeout-ms",
                "30000",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child =
            wait_for_child(runner.id()).expect("the runner started its child");
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &runner.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let _ = runner.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_running(child) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!is_running(child), "SIG{signal}: child {child} still runs");
    }
}

mod libc_signal {
    pub const KILL: &str = "KILL";
    pub const TERM: &str = "TERM";
    pub const INT: &str = "INT";
}

/// `--plot` into a directory that does not exist is a usage error found
/// before any work: exit 2, ENOENT named, and not one case narrated.
#[test]
fn a_bad_plot_path_fails_before_the_run() {
    let out = cmd("deadlock")
        .args(["--plot", "/nonexistent/dir/x.svg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let said: Vec<&str> = said.lines().collect();
    assert!(said.len() <= 1, "no case ran: {out:?}");
    assert!(said.iter().all(|l| l.starts_with("network: ")), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --plot /nonexistent/dir/x.svg: create a file in /nonexistent/dir: ENOENT"),
        "{err}"
    );
    let out = cmd("deadlock")
        .args(["--json", "--plot", "/nonexistent/dir/x.svg"])
        .output()
        .unwrap();
    let r: Report<ErrorInfo> = report(&out.stdout);
    assert_eq!(r.measurements.errno.expect("an errno").name, "ENOENT");
}

/// The runner refuses deadlines too short to run anything.
#[test]
fn runner_deadlines_below_100_ms_are_usage_errors() {
    for ms in ["0", "1", "99"] {
        let out = cmd("workbook")
            .args(["--deadline-ms", ms])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{ms}: {out:?}");
    }
}

fn wait_with_deadline(child: std::process::Child) -> std::process::Output {
    use wait_timeout::ChildExt;
    let mut child = child;
    if child.wait_timeout(T).unwrap().is_none() {
        let _ = child.kill();
        panic!("the process did not end within {T:?}");
    }
    child.wait_with_output().unwrap()
}

/// The first child process of `pid` (started by any of its threads),
/// waited for up to 5 s.
fn wait_for_child(pid: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for task in tasks.flatten() {
            let children = task.path().join("children");
            let children =
                std::fs::read_to_string(children).unwrap_or_default();
            if let Some(first) = children.split_whitespace().next() {
                return first.parse().ok();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// A manual server whose stdout nobody reads does not block for good when
/// the pipe fills: a line waits `--timeout-ms` for room, then lines are
/// dropped (said once on stderr) and every client is still served; once
/// stdout drains, the server says how many lines were lost.
#[test]
fn a_server_whose_output_nobody_reads_goes_on_serving() {
    use std::io::{Read, Write};
    let mut server = std::process::Command::new(crate::bin("sixteen"))
        .args(["server", "127.0.0.1", "-p", "0", "--timeout-ms", "300"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    let port = crate::port_in(first.trim_end());
    // Far more than a 64 KiB pipe holds: each conversation prints lines.
    let t = Duration::from_secs(5);
    let mut served = 0;
    for _ in 0..1500 {
        let addr = ([127, 0, 0, 1], port).into();
        let Ok(mut c) = std::net::TcpStream::connect_timeout(&addr, t) else {
            break;
        };
        c.set_read_timeout(Some(t)).unwrap();
        c.write_all(b"Hi there, server").unwrap();
        let mut reply = [0u8; 16];
        if c.read_exact(&mut reply).is_err() {
            break;
        }
        assert_eq!(&reply, b"Farewell, client");
        served += 1;
    }
    if served != 1500 {
        let _ = server.kill();
        let _ = server.wait();
        panic!("only {served} of 1500 clients were served");
    }
    // Drain stdout now: a line printed once it has room says how many
    // were dropped. Conversations go on until that line is seen.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(out).map_while(Result::ok) {
            if line.contains("lines dropped: stdout was full)") {
                let _ = tx.send(line);
            }
        }
    });
    let mut said = None;
    for _ in 0..50 {
        let addr = ([127, 0, 0, 1], port).into();
        let mut c = std::net::TcpStream::connect_timeout(&addr, t).unwrap();
        c.set_read_timeout(Some(t)).unwrap();
        c.write_all(b"Hi there, server").unwrap();
        let _ = c.read_exact(&mut [0u8; 16]);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            said = Some(line);
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let mut err = String::new();
    let mut stderr = server.stderr.take().unwrap();
    stderr.read_to_string(&mut err).unwrap();
    assert!(err.contains("lines are dropped"), "{err}");
    assert!(said.is_some(), "no line said how many were dropped");
}

/// A `COLUMNS` too narrow to wrap to (0 or 5) gets the help as 80 columns
/// would, not one word per line; a real width is still honoured.
#[test]
fn help_ignores_a_columns_too_narrow_to_read() {
    let help = |columns: &str, bin: &str| {
        let out = cmd(bin)
            .env("COLUMNS", columns)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for bin in ["sixteen", "workbook"] {
        let wide = help("80", bin);
        for narrow in ["0", "5"] {
            assert_eq!(help(narrow, bin), wide, "{bin} with COLUMNS={narrow}");
        }
        let sixty = help("60", bin);
        assert!(sixty.lines().all(|l| l.chars().count() <= 60), "{sixty}");
    }
}
