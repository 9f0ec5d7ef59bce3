//! Narration: what the experiments print for people, line by line.
//!
//! Every line of output goes through [`line()`], so that output to a closed
//! pipe (`deadlock | head -1`) ends the program quietly, by `SIGPIPE`, the
//! way other command-line tools end, instead of a panic.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// How long a line waits for room on stdout (a pipe nobody reads) before
/// it is dropped, in ms: `--timeout-ms`, set by [`set_stdout_deadline`].
static STDOUT_DEADLINE_MS: AtomicU64 = AtomicU64::new(10_000);

/// Sets how long [`line()`] waits for room on stdout before it drops lines
/// (the experiments pass their `--timeout-ms`).
pub fn set_stdout_deadline(deadline: std::time::Duration) {
    STDOUT_DEADLINE_MS.store(deadline.as_millis() as u64, Relaxed);
}

/// Lines dropped since stdout last had room.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Prints one line on stdout. If stdout is a closed pipe, the process ends
/// at once, killed by `SIGPIPE` as a C program would be (Rust ignores the
/// signal at start-up, so we restore it and raise it).
///
/// Writing has a deadline, like every other blocking call: a line waits at
/// most the deadline set by [`set_stdout_deadline`] for room (`poll(2)` `POLLOUT`; a pipe whose
/// reader stopped reading is full). Then it is dropped, and so is every
/// line after it, without waiting, until stdout has room again; the next
/// line printed says how many were lost. A manual server whose output
/// nobody reads goes on serving instead of blocking for good.
pub fn line(text: &str) {
    let stdout = io::stdout();
    let dropped = DROPPED.load(Relaxed);
    let deadline = STDOUT_DEADLINE_MS.load(Relaxed);
    let wait = if dropped > 0 { 0 } else { deadline };
    let ready = crate::lab::deadline::wait_writable(
        &stdout.as_fd(),
        std::time::Duration::from_millis(wait),
    );
    if ready.is_err() {
        if dropped == 0 {
            note_line(format_args!(
                "stdout had no room for {deadline} ms (nobody reads it): \
                 lines are dropped until it has"
            ));
        }
        DROPPED.fetch_add(1, Relaxed);
        return;
    }
    let mut out = stdout.lock();
    let mut written = Ok(());
    if dropped > 0 {
        DROPPED.store(0, Relaxed);
        written = writeln!(out, "({dropped} lines dropped: stdout was full)");
    }
    let written = written
        .and_then(|()| writeln!(out, "{text}"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == io::ErrorKind::BrokenPipe {
            die_of_sigpipe();
        }
    }
}

/// Prints an error on stderr as one line: `error: ` and the error (an
/// `anyhow::Error`'s whole chain, joined with `: `). A closed stderr is
/// ignored rather than a panic, as `eprintln!` would make it.
pub fn error_line(err: impl std::fmt::Display) {
    let text = one_line(&format!("{err:#}"));
    let _ = writeln!(io::stderr().lock(), "error: {text}");
}

/// `text` on one line: each tab, carriage return or newline (as a peer's
/// or a child's words may hold) becomes a space.
fn one_line(text: &str) -> String {
    text.replace(['\t', '\r', '\n'], " ")
}

/// Prints a note on stderr as one line, `note: ` and the text (a warning
/// that does not stop the run); a closed stderr is ignored.
pub fn note_line(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "note: {text}");
}

fn die_of_sigpipe() -> ! {
    use nix::sys::signal::{SigHandler, Signal, raise, signal};
    // SAFETY: restoring the default action of SIGPIPE installs no handler.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGPIPE);
    std::process::exit(141) // 128 + SIGPIPE, should the signal not end us
}

/// Where an experiment's narration goes.
///
/// In the default run both roles speak, each line tagged `[server]` or
/// `[client]`; under `--json` nothing is printed. In a manual role the lines
/// are untagged, as the book's scripts print them. A narrator can also
/// collect its lines to print later ([`Narrator::buffered`]), so that two
/// roles running on two threads print in a fixed order.
#[derive(Debug, Clone)]
pub struct Narrator {
    quiet: bool,
    tags: bool,
    tag: &'static str,
    buffer: Option<Arc<Mutex<Vec<String>>>>,
}

impl Narrator {
    /// A narrator for the default run; `quiet` (for `--json`) prints nothing.
    pub fn default_run(quiet: bool) -> Self {
        Narrator {
            quiet,
            tags: true,
            tag: "",
            buffer: None,
        }
    }

    /// A narrator for a manual role: untagged lines, like the book's scripts.
    pub fn plain() -> Self {
        Narrator {
            quiet: false,
            tags: false,
            tag: "",
            buffer: None,
        }
    }

    /// The same narrator, speaking as the server: lines tagged `[server] `
    /// in the default run.
    pub fn server(&self) -> Self {
        self.tagged("[server] ")
    }

    /// The same narrator, speaking as the client: lines tagged `[client] `
    /// in the default run.
    pub fn client(&self) -> Self {
        self.tagged("[client] ")
    }

    fn tagged(&self, tag: &'static str) -> Self {
        Narrator {
            tag: if self.tags { tag } else { "" },
            ..self.clone()
        }
    }

    /// The same narrator, collecting its lines until [`Narrator::flush`].
    pub fn buffered(&self) -> Self {
        Narrator {
            buffer: Some(Arc::default()),
            ..self.clone()
        }
    }

    /// Prints the lines collected so far.
    pub fn flush(&self) {
        if let Some(buffer) = &self.buffer {
            let lines =
                std::mem::take(&mut *buffer.lock().expect("not poisoned"));
            lines.iter().for_each(|l| line(l));
        }
    }

    /// Says a verdict's checks as one line, `checks: port ✓, peer ✗`, and
    /// returns the outcome the first failed check names; `None` if all
    /// passed. Each check is `(name, passed, outcome if it failed)`.
    pub fn checks<O: Copy>(&self, checks: &[(&str, bool, O)]) -> Option<O> {
        self.checks_on_wire(checks, &[])
    }

    /// As [`Narrator::checks`], then the packet checks on lines of their
    /// own, `on the wire: SYN answered by RST|ACK ✓`. Each is `(name,
    /// passed, outcome if it failed)`, where `passed` is `None` if nothing
    /// was captured: such a check is skipped, marked `–`. Lines longer
    /// than 80 columns go on in a new line with the same head.
    pub fn checks_on_wire<O: Copy>(
        &self,
        checks: &[(&str, bool, O)],
        wire: &[(&str, Option<bool>, O)],
    ) -> Option<O> {
        let mark = |ok: Option<bool>| match ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "–",
        };
        let sockets: Vec<String> = checks
            .iter()
            .map(|(what, ok, _)| format!("{what} {}", mark(Some(*ok))))
            .collect();
        let packets: Vec<String> = wire
            .iter()
            .map(|(what, ok, _)| format!("{what} {}", mark(*ok)))
            .collect();
        for (head, marks) in [("checks: ", sockets), ("on the wire: ", packets)]
        {
            let mut line = String::new();
            for m in marks {
                let width = head.len() + line.chars().count() + m.len() + 2;
                if !line.is_empty() && width > 80 {
                    self.say(format!("{head}{line}"));
                    line.clear();
                }
                if !line.is_empty() {
                    line.push_str(", ");
                }
                line.push_str(&m);
            }
            if !line.is_empty() {
                self.say(format!("{head}{line}"));
            }
        }
        let socket = checks.iter().find(|(_, ok, _)| !ok).map(|c| c.2);
        let packet = wire.iter().find(|(_, ok, _)| *ok == Some(false));
        socket.or(packet.map(|c| c.2))
    }

    /// Says one line (nothing under `--json`).
    pub fn say(&self, text: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let text = format!("{}{}", self.tag, text.as_ref());
        match &self.buffer {
            Some(buffer) => buffer.lock().expect("not poisoned").push(text),
            None => line(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    /// An error that carries a tab or a newline is still said on one line.
    #[test]
    fn error_text_is_one_line() {
        assert_eq!(super::one_line("a\tb\nc\r"), "a b c ");
    }
}
