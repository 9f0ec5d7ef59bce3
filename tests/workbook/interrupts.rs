//! Interrupts leave nothing behind: Ctrl-C (SIGINT to the process group)
//! or SIGTERM to the process alone, in the middle of a manual server or of
//! a long default run, ends it within a second, and afterwards nothing of
//! it is left: no process, and no socket still listening on its port.
//! (SIGKILL to the runner: `robust::the_runners_children_die_with_it`.)

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Sends the interrupt and checks that the process is gone within 1 s.
fn interrupt(child: &mut Child, how: Interrupt) {
    let pid = child.id() as i32;
    let (target, signal) = match how {
        Interrupt::CtrlC => (-pid, nix::sys::signal::Signal::SIGINT),
        Interrupt::Term => (pid, nix::sys::signal::Signal::SIGTERM),
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(target), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if child.try_wait().unwrap().is_some() {
            return;
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
    let servers = tcp_workbook::registry::EXPERIMENTS
        .iter()
        .map(|e| e.name)
        .filter(|name| *name != "refused");
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
            &["--cycle-ms", "0", "--stall-ms", "30000"],
            Interrupt::CtrlC,
        ),
        (
            "deadlock",
            &["--cycle-ms", "0", "--stall-ms", "30000"],
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
