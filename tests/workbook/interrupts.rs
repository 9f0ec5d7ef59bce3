//! Interrupts leave nothing behind: Ctrl-C (SIGINT to the process group)
//! or SIGTERM to the process alone, in the middle of a manual server or of
//! a long default run, ends it within a second, and afterwards nothing of
//! it is left: no process, and no socket still listening on its port.
//! (SIGKILL to the runner: `robust::the_runners_children_die_with_it`.)

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{bin, port_in};

/// How the test interrupts a process.
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    /// Ctrl-C: SIGINT to the whole process group.
    CtrlC,
    /// SIGTERM to the process alone.
    Term,
}

/// Starts `name args...` in a process group of its own.
fn start(name: &str, args: &[&str]) -> Child {
    Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Sends the interrupt (then `SIGCONT`, in case the test stopped the
/// process: a stopped process takes its signals when it continues), and
/// checks that the process is gone within 1 s. Returns how it ended.
fn interrupt(child: &mut Child, how: Interrupt) -> ExitStatus {
    let pid = child.id() as i32;
    let (target, signal) = match how {
        Interrupt::CtrlC => (-pid, Signal::SIGINT),
        Interrupt::Term => (pid, Signal::SIGTERM),
    };
    kill(Pid::from_raw(target), signal).unwrap();
    kill(Pid::from_raw(target), Signal::SIGCONT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{how:?}: still running 1 s after the signal");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every experiment's manual server, interrupted while it waits for a
/// client, ends at once and leaves no socket listening on its port.
#[test]
fn an_interrupted_manual_server_leaves_no_listening_socket() {
    // The experiments whose command has a `server` role.
    let servers = tcp_workbook::workbook::registry::EXPERIMENTS
        .iter()
        .filter(|e| (e.command)(e).find_subcommand("server").is_some())
        .map(|e| e.name);
    for (i, name) in servers.enumerate() {
        let how = [Interrupt::CtrlC, Interrupt::Term][i % 2];
        let mut child = start(name, &["server", "127.0.0.1", "-p", "0"]);
        // Kept open until the end: a closed pipe would end it by SIGPIPE.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next();
        let port = match first {
            Some(Ok(line)) if line.contains("Listening at") => port_in(&line),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: no 'Listening at' line: {other:?}");
            }
        };
        interrupt(&mut child, how);
        drop(lines);
        let addr = ([127, 0, 0, 1], port).into();
        let connect = TcpStream::connect_timeout(&addr, Duration::from_secs(5));
        let err = connect.expect_err("nothing listens any more");
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{name} after {how:?}: {err}"
        );
    }
}

/// Long default runs, interrupted in the middle, end within a second: the
/// deadlock left stalled (its cycle test off), and the backlog waiting for
/// its SYN retry.
#[test]
fn an_interrupted_default_run_ends_at_once() {
    let runs: [(&str, &[&str], Interrupt); 3] = [
        (
            "deadlock",
            &[
                "--cycle-ms",
                "0",
                "--stall-ms",
                "30000",
                "--timeout-ms",
                "30000",
            ],
            Interrupt::CtrlC,
        ),
        (
            "deadlock",
            &[
                "--cycle-ms",
                "0",
                "--stall-ms",
                "30000",
                "--timeout-ms",
                "30000",
            ],
            Interrupt::Term,
        ),
        ("backlog", &[], Interrupt::CtrlC),
    ];
    for (name, args, how) in runs {
        let mut child = start(name, args);
        // Its first line means the run is under way. The pipe stays open
        // until the end: a closed one would end it by SIGPIPE instead.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next();
        assert!(matches!(first, Some(Ok(_))), "{name}: {first:?}");
        interrupt(&mut child, how);
        drop(lines);
    }
}

/// A run interrupted while it writes `--pcap FILE` leaves no file at all:
/// the capture goes to an unnamed file (`O_TMPFILE`), named only when the
/// run ends.
#[test]
fn an_interrupted_run_leaves_no_pcap_file() {
    let dir = std::env::temp_dir().join(format!(
        "tcp-workbook-interrupted-pcap-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.pcap");
    let args = [
        "--cycle-ms",
        "0",
        "--stall-ms",
        "30000",
        "--timeout-ms",
        "30000",
        "--pcap",
        file.to_str().unwrap(),
    ];
    let mut child = start("deadlock", &args);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(matches!(lines.next(), Some(Ok(_))));
    interrupt(&mut child, Interrupt::CtrlC);
    drop(lines);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The network namespaces process `pid` is in (`/proc/PID/ns/net`) or
/// holds a descriptor of (`/proc/PID/fd/*`), by their `net:[inode]`;
/// empty once it has exited (a zombie has neither).
fn namespaces_of(pid: &str) -> BTreeSet<PathBuf> {
    let proc = Path::new("/proc").join(pid);
    let fds = std::fs::read_dir(proc.join("fd")).into_iter().flatten();
    let links = fds.flatten().map(|fd| fd.path());
    std::iter::once(proc.join("ns/net"))
        .chain(links)
        .filter_map(|l| std::fs::read_link(l).ok())
        .filter(|l| l.to_string_lossy().starts_with("net:["))
        .collect()
}

/// The processes whose parent is `parent` (the fourth field of
/// `/proc/PID/stat`; `/proc/PID/task/*/children` is not in every kernel).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            // "PID (COMM) STATE PPID ...": COMM may hold spaces and ')'.
            let ppid = stat.rsplit(')').next()?.split_whitespace().nth(1)?;
            (ppid.parse() == Ok(parent)).then_some(pid)
        })
        .collect()
}

/// Every process in, or holding, one of the namespaces `ns`.
fn held_by(ns: &BTreeSet<PathBuf>) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let theirs = namespaces_of(&pid.to_string());
            (!theirs.is_disjoint(ns)).then_some(pid)
        })
        .collect()
}

/// Kills a started run's process group if a test ends (or panics) while
/// the run is still there, stopped or not.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let group = Pid::from_raw(-(self.0.id() as i32));
            let _ = kill(group, Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

/// Starts experiment 07's default run and stops it (`SIGSTOP`) as soon as
/// its namespace helper holds host A and host B (two network namespaces
/// other than ours, entered or held by a descriptor): the run cannot take
/// its hosts down while stopped. Returns the run, the helper and the two
/// namespaces; `None` if the run ended before (its report, skipped or
/// not, is then in its stdout).
fn stopped_with_hosts() -> (Reap, Option<(u32, BTreeSet<PathBuf>)>) {
    let ours = namespaces_of("self");
    let mut run = Reap(start("bind-interface", &["--json"]));
    let pid = run.0.id();
    let hosts = |helper: u32| -> BTreeSet<PathBuf> {
        let all = namespaces_of(&helper.to_string());
        all.difference(&ours).cloned().collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && run.0.try_wait().unwrap().is_none() {
        let helper = children_of(pid).into_iter().find_map(|h| {
            let ns = hosts(h);
            (ns.len() == 2).then_some((h, ns))
        });
        if let Some((helper, ns)) = helper {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
            // Still there once the run is stopped: the hosts exist.
            if hosts(helper) == ns {
                return (run, Some((helper, ns)));
            }
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
        }
        std::thread::yield_now();
    }
    (run, None)
}

/// Experiment 07 interrupted while its two hosts exist (the test finds its
/// namespace helper, a child of the run holding two network namespaces,
/// and holds the run there with `SIGSTOP`): the run dies of the signal
/// within a second, and within another its helper is gone (or a zombie)
/// and no process is in, or holds, either namespace. Only what this run
/// made is checked, so other runs on the machine do not matter.
#[test]
fn an_interrupted_two_host_run_leaves_no_namespace_and_no_process() {
    use std::os::unix::process::ExitStatusExt;
    for how in [Interrupt::Term, Interrupt::CtrlC] {
        // A stop that came just as the run took its hosts down is retried.
        let mut runs = 0;
        let (mut run, helper, ns) = loop {
            runs += 1;
            let (mut run, found) = stopped_with_hosts();
            if let Some((helper, ns)) = found {
                break (run, helper, ns);
            }
            let _ = run.0.kill(); // if the 10 s deadline ended the search
            let mut text = String::new();
            let mut out = run.0.stdout.take().unwrap();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            if text.contains("\"skipped\":{") {
                eprintln!("namespaces are not permitted here: {text}");
                return;
            }
            assert!(
                runs < 3,
                "{how:?}: in 3 runs, the helper was never seen while the \
                 run was stopped: {text}"
            );
        };
        assert!(held_by(&ns).contains(&helper), "{how:?}: {ns:?}");
        let status = interrupt(&mut run.0, how);
        let signal = match how {
            Interrupt::CtrlC => Signal::SIGINT,
            Interrupt::Term => Signal::SIGTERM,
        };
        assert_eq!(status.signal(), Some(signal as i32), "{how:?}: {status:?}");
        let deadline = Instant::now() + Duration::from_secs(1);
        while (crate::is_running(helper) || !held_by(&ns).is_empty())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !crate::is_running(helper),
            "{how:?}: helper {helper} is left"
        );
        let left = held_by(&ns);
        assert!(left.is_empty(), "{how:?}: {left:?} still in {ns:?}");
    }
}
