//! A stranger's program: a reader's own client or server, in any language,
//! run by `workbook check` as something we do not trust.
//!
//! - It runs in a process group of its own (`setpgid(2)`, pgid = its pid),
//!   so that one `kill(-pgid)` reaches every process it starts; it gets
//!   `SIGKILL` if the thread that started it ends (`PR_SET_PDEATHSIG`).
//! - `{host}`, `{port}` and `{file}` in its arguments are replaced, and
//!   `HOST` and `PORT` are set in its environment.
//! - Run by root, it runs as `nobody` (uid and gid 65534, no supplementary
//!   groups) unless the caller keeps root; it may start at most
//!   [`MAX_PROCESSES`] processes of that user and writes no core file.
//! - It may start inside another host's network namespace, entered before
//!   `execve(2)` ([`crate::lab::netns::join`]).
//! - Its stdout and stderr go to one pipe, read on a thread: the last
//!   [`KEPT_OUTPUT_BYTES`] are kept as evidence, and a program that writes
//!   more than [`FLOOD_BYTES`] in all is killed at once (it floods).
//! - [`Stranger::stop`] asks it to end with `SIGINT`, then `SIGTERM`, then
//!   kills the whole group (`SIGKILL`); dropping a [`Stranger`] kills the
//!   group too. [`crate::lab::guard`] kills every live group on Ctrl-C.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use wait_timeout::ChildExt;

use crate::lab::netns::join::Join;

mod output;
use crate::lab::{guard, process};
pub use output::{FLOOD_BYTES, KEPT_OUTPUT_BYTES, Tail};
use output::{Output, read_output};

/// The most processes the user `nobody` may have at once while a program
/// runs as it (`RLIMIT_NPROC`): enough for a program and its helpers, not
/// for a fork bomb.
pub const MAX_PROCESSES: u64 = 256;

/// What `{host}`, `{port}` and `{file}` stand for in a program's arguments
/// (`HOST` and `PORT` in its environment).
#[derive(Debug, Clone)]
pub struct Vars {
    /// The address: the one a server binds, or a client connects to.
    pub host: String,
    /// The port, the same way.
    pub port: u16,
    /// The submission's file (`--each`); `None`: `{file}` stays as it is.
    pub file: Option<String>,
}

/// `argv` with every `{host}`, `{port}` and `{file}` replaced.
pub fn substitute(argv: &[String], vars: &Vars) -> Vec<String> {
    argv.iter()
        .map(|a| {
            let a = a
                .replace("{host}", &vars.host)
                .replace("{port}", &vars.port.to_string());
            match &vars.file {
                Some(f) => a.replace("{file}", f),
                None => a,
            }
        })
        .collect()
}

/// Finds the program `name` as `execvp(3)` would: a name with a `/` as a
/// path, any other in the directories of `PATH`.
///
/// # Errors
/// One line for people: no such file, or not executable.
pub fn find_program(name: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = std::path::PathBuf::from(name);
        return match path.metadata() {
            Err(e) => Err(format!("no program {name:?}: {e}")),
            Ok(_) if !runnable(&path) => {
                Err(format!("{name:?} is not an executable file"))
            }
            Ok(_) => Ok(path),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| runnable(p))
        .ok_or_else(|| format!("no program {name:?} on PATH"))
}

/// How a program stopped when [`Stranger::stop`] asked it to.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// The signal that ended it: `None` if it had already ended by itself
    /// (or was killed for flooding).
    pub by: Option<Signal>,
    /// Its exit status; `None` if it could not be waited for.
    pub status: Option<ExitStatus>,
}

/// A running program of a stranger's, in its own process group; killed,
/// group and all, when dropped.
pub struct Stranger {
    child: Child,
    pgid: Pid,
    output: Arc<Mutex<Output>>,
    done: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
    /// When it was started.
    pub started: Instant,
}

impl Stranger {
    /// Starts `argv` (already substituted) with `HOST` and `PORT` from
    /// `vars`, stdin closed, stdout and stderr to one pipe; as user and
    /// group `as_user` if given (which needs root); inside the namespaces
    /// `join` opened (host A's, say) if given, see
    /// [`crate::lab::netns::join`].
    ///
    /// # Errors
    /// `pipe(2)` or the `fork(2)`/`execve(2)` of the program failed, or
    /// the child's `setns(2)` (`EPERM`).
    pub fn start(
        argv: &[String],
        vars: &Vars,
        as_user: Option<u32>,
        join: Option<Join>,
        flood_bytes: u64,
    ) -> io::Result<Stranger> {
        let (read_end, write_end) = nix::unistd::pipe()?;
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env("HOST", &vars.host)
            .env("PORT", vars.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end.try_clone()?))
            .stderr(Stdio::from(write_end))
            .process_group(0);
        match (join, as_user) {
            // First of the child's steps: the user switch comes after.
            (Some(join), _) => join.before_exec(&mut command, as_user),
            (None, Some(id)) => {
                command.uid(id).gid(id); // std drops the groups as root
            }
            (None, None) => {}
        }
        limit(&mut command);
        process::die_with_parent(&mut command);
        // Our end of the pipe's write side is closed when `command` is
        // dropped, so the reader sees the end once the group has exited.
        let child = command.spawn()?;
        drop(command);
        let pgid = Pid::from_raw(child.id() as i32);
        guard::watch_group(pgid.as_raw());
        let output = Arc::new(Mutex::new(Output::new(flood_bytes)));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (output, done) = (Arc::clone(&output), Arc::clone(&done));
            std::thread::spawn(move || {
                read_output(read_end, &output, &done, pgid)
            })
        };
        Ok(Stranger {
            child,
            pgid,
            output,
            done,
            reader: Some(reader),
            status: None,
            started: Instant::now(),
        })
    }

    /// Its process id (also its process group's id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status if it has ended, without waiting.
    pub fn status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits at most `timeout` for it to end; its exit status if it did.
    pub fn wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.wait_timeout(timeout).ok().flatten();
        }
        self.status
    }

    /// Its output so far.
    pub fn output(&self) -> Tail {
        self.output.lock().expect("not poisoned").tail()
    }

    /// Its output once it has ended: waits at most `within` for the
    /// output thread to read the pipe to its end (every process of its
    /// group has closed it), then returns the kept tail.
    pub fn output_at_end(&mut self, within: Duration) -> Tail {
        let end = Instant::now() + within;
        while self.reader.as_ref().is_some_and(|r| !r.is_finished())
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.output()
    }

    /// Asks it to end: `SIGINT` to its group, `grace` to go, then
    /// `SIGTERM` and `grace` again, then `SIGKILL`. Every other process
    /// of its group is killed afterwards, and its output read to the end
    /// (at most `grace` more).
    pub fn stop(&mut self, grace: Duration) -> Stopped {
        let mut by = None;
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
            if self.status().is_some() {
                break;
            }
            let _ = killpg(self.pgid, signal);
            by = Some(signal);
            self.wait_for(grace);
        }
        self.end_group();
        self.drain(grace);
        Stopped {
            by,
            status: self.status,
        }
    }

    /// Kills what is left of its group and waits for its own process.
    fn end_group(&mut self) {
        let _ = killpg(self.pgid, Signal::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
        guard::forget_group(self.pgid.as_raw());
        guard::reap_orphans();
    }

    /// Lets the output thread read what is left, for at most `grace`.
    fn drain(&mut self, grace: Duration) {
        let end = Instant::now() + grace;
        while self.reader.as_ref().is_some_and(|r| !r.is_finished())
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.done.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take().filter(|r| r.is_finished()) {
            let _ = r.join();
        }
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        self.end_group();
        self.done.store(true, Ordering::SeqCst);
    }
}

/// `exit status 3`, `killed by SIGKILL`: a status as people say it.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(n)) => match Signal::try_from(n) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {n}"),
        },
        _ => "ended".into(),
    }
}

/// In the child before `execve(2)`: no core file, at most
/// [`MAX_PROCESSES`] processes for its user (`setrlimit(2)`), and signals
/// as a program expects them: none blocked (our threads block the ones
/// [`guard`] takes, and the mask survives `execve(2)`), `SIGINT`,
/// `SIGTERM` and `SIGHUP` at their default action (a shell's background
/// job starts with `SIGINT` ignored, and Python then never raises
/// `KeyboardInterrupt`).
fn limit(command: &mut Command) {
    // SAFETY: setrlimit, sigprocmask and signal are async-signal-safe,
    // and the closure touches nothing else of the parent's.
    unsafe {
        command.pre_exec(|| {
            use nix::sys::resource::{Resource, setrlimit};
            use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, signal};
            let none = SigSet::empty();
            let _ = nix::sys::signal::sigprocmask(
                SigmaskHow::SIG_SETMASK,
                Some(&none),
                None,
            );
            for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
                let _ = signal(s, SigHandler::SigDfl);
            }
            let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ =
                setrlimit(Resource::RLIMIT_NPROC, MAX_PROCESSES, MAX_PROCESSES);
            Ok(())
        });
    }
}
