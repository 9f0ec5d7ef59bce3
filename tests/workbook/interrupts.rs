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
    let servers = tcp_workbook::workbook::registry::EXPERIMENTS
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

/// Every network namespace some process is in now, by its `net:[inode]`.
fn net_namespaces() -> std::collections::BTreeSet<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read_link(p.path().join("ns/net")).ok())
        .map(|l| l.display().to_string())
        .collect()
}

/// The pid of a running process whose command line is `words`.
fn find_process(words: &[&str]) -> Option<u32> {
    let want: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        (std::fs::read(p.path().join("cmdline")).ok()? == want
            && crate::is_running(pid))
        .then_some(pid)
    })
}

/// Experiment 07 interrupted while it builds its two hosts (an `ip` made
/// slow on purpose holds it there for 3 s): it ends within a second, and
/// within another no process of its helper and no namespace it made is
/// left.
#[test]
fn an_interrupted_two_host_run_leaves_no_namespace_and_no_process() {
    let Some(real_ip) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("ip"))
            .chain(["/usr/sbin/ip".into(), "/sbin/ip".into()])
            .find(|f| f.is_file())
    }) else {
        eprintln!("no `ip`: the two-host interrupt test is skipped");
        return;
    };
    let dir =
        std::env::temp_dir().join(format!("slow-ip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("ip");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{} \"$@\" || exit $?\n\
             case \"$*\" in *\"link set vb up\"*) exec sleep 3.217 ;; esac\n",
            real_ip.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for how in [Interrupt::Term, Interrupt::CtrlC] {
        let before = net_namespaces();
        let mut child = Command::new(bin("bind-interface"))
            .env("PATH", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let sleeper = loop {
            if let Some(pid) = find_process(&["sleep", "3.217"]) {
                break pid;
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline
            {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                eprintln!(
                    "{how:?}: the two hosts were not built here (namespaces not permitted?); skipped"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            net_namespaces().len() > before.len(),
            "{how:?}: the hosts exist"
        );
        interrupt(&mut child, how);
        let deadline = Instant::now() + Duration::from_secs(1);
        while (crate::is_running(sleeper) || net_namespaces() != before)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !crate::is_running(sleeper),
            "{how:?}: the helper's ip is left"
        );
        let left: Vec<String> =
            net_namespaces().difference(&before).cloned().collect();
        assert!(left.is_empty(), "{how:?}: namespaces left: {left:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
