//! Nothing left behind, also on Ctrl-C: a process that runs strangers'
//! programs ([`crate::lab::stranger`]) or children of its own calls
//! [`install`] first thing, and from then on
//!
//! - `SIGINT`, `SIGTERM` and `SIGHUP` are taken by one thread of ours
//!   (`sigwait(2)`; every other thread has them blocked), which kills every
//!   watched process group (`SIGKILL`), asks every watched child to end
//!   (`SIGTERM`, then `SIGKILL` after [`CHILD_GRACE`]) and exits with
//!   128 + the signal's number, as a shell reports a process the signal
//!   killed;
//! - this process is a subreaper (`PR_SET_CHILD_SUBREAPER`): a process a
//!   stranger's program started and left behind, even one that left the
//!   group (`setsid(2)`) and its parent, becomes our child, and
//!   [`reap_orphans`] kills and collects it.
//!
//! The mask is inherited by every thread and survives `execve(2)`: a
//! program started from here must unblock the signals before it runs (as
//! [`crate::lab::stranger`] does); our own children (`--each`) keep them
//! blocked and take them with this same guard.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal, kill, killpg};
use nix::unistd::Pid;

/// How long a watched child has, after `SIGTERM`, to clean up and end.
pub const CHILD_GRACE: Duration = Duration::from_secs(3);

/// The process groups of the strangers' programs now running.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Our own child processes now running (each cleans up after itself).
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Whether [`install`] made this process a subreaper: only then are the
/// orphans ours to kill.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Takes `SIGINT`, `SIGTERM` and `SIGHUP` on a thread of its own and
/// makes this process a subreaper (see the module's documentation). Call
/// it before any other thread starts: the threads started later inherit
/// the blocked mask, so the signals reach only that one thread.
///
/// # Errors
/// `pthread_sigmask(3)` or `prctl(2)` failed; nothing is watched then.
pub fn install() -> std::io::Result<()> {
    let signals = signals();
    signals.thread_block()?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    nix::sys::prctl::set_child_subreaper(true)?;
    INSTALLED.store(true, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let signal = signals.wait().unwrap_or(Signal::SIGTERM);
            end_everything();
            std::process::exit(128 + signal as i32);
        })?;
    Ok(())
}

fn signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Kills every watched group, ends every watched child, and collects
/// the orphans.
fn end_everything() {
    let groups = GROUPS.lock().expect("not poisoned").clone();
    for &g in &groups {
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    // Each group's leader is our child: collect it (a thread may be
    // waiting for it too; then one of us gets ECHILD), so that it is not
    // left a zombie for an init that may never collect it.
    for &g in &groups {
        let _ = nix::sys::wait::waitpid(Pid::from_raw(g), None);
    }
    let children = CHILDREN.lock().expect("not poisoned").clone();
    for &c in &children {
        let _ = kill(Pid::from_raw(c), Signal::SIGTERM);
    }
    let end = Instant::now() + CHILD_GRACE;
    while children.iter().any(|&c| running(c)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &c in &children {
        let _ = kill(Pid::from_raw(c), Signal::SIGKILL);
    }
    reap_orphans();
}

/// Whether process `pid` exists and has not ended (a zombie has).
pub fn running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    stat.is_ok_and(|s| !matches!(state_and_ppid(&s), Some(('Z' | 'X', _))))
}

/// The state letter and the parent's pid from `/proc/PID/stat`.
fn state_and_ppid(stat: &str) -> Option<(char, i32)> {
    // The command name is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Watches process group `pgid` (a stranger's program): it is killed on
/// a signal.
pub fn watch_group(pgid: i32) {
    GROUPS.lock().expect("not poisoned").push(pgid);
}

/// Stops watching process group `pgid` (it has been killed).
pub fn forget_group(pgid: i32) {
    GROUPS.lock().expect("not poisoned").retain(|&g| g != pgid);
}

/// Watches our child process `pid`: on a signal it gets `SIGTERM` and
/// [`CHILD_GRACE`] to end.
pub fn watch_child(pid: u32) {
    CHILDREN.lock().expect("not poisoned").push(pid as i32);
}

/// Stops watching our child process `pid` (it has ended).
pub fn forget_child(pid: u32) {
    CHILDREN
        .lock()
        .expect("not poisoned")
        .retain(|&c| c != pid as i32);
}

/// Kills and collects every child of ours that is neither a watched
/// child nor the leader of a watched group: processes a stranger's
/// program left behind, which came to us as their subreaper. Returns how
/// many there were. Does nothing unless [`install`] was called (another
/// child of ours is no orphan).
pub fn reap_orphans() -> usize {
    if !INSTALLED.load(Ordering::SeqCst) {
        return 0;
    }
    let me = std::process::id() as i32;
    let groups = GROUPS.lock().expect("not poisoned").clone();
    let children = CHILDREN.lock().expect("not poisoned").clone();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut reaped = 0;
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat"));
        let ours = stat.ok().and_then(|s| state_and_ppid(&s));
        if ours.is_some_and(|(_, ppid)| ppid == me)
            && !groups.contains(&pid)
            && !children.contains(&pid)
        {
            let pid = Pid::from_raw(pid);
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            reaped += 1;
        }
    }
    reaped
}
