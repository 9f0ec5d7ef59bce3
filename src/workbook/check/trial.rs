//! One check's run of the reader's program: what a check calls to start
//! it, to see it listening, to read its sockets from the kernel's table,
//! to note evidence and to fail with a reason; and what the framework
//! does after the check (stop the program, keep its exit and output).

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::lab::error::SocketError;
use crate::lab::kernel::proc_net_tcp::{TcpRow, receive_queue, tcp_rows};
use crate::lab::kernel::tcp_info::TcpState;
use crate::lab::narrate::Narrator;
use crate::lab::stranger::{self, Stranger, describe};

mod control;

/// How often the kernel's table is read while waiting for the program,
/// in ms: often enough that a Python program's start-up sets the time.
const POLL: Duration = Duration::from_millis(3);

/// How long a program whose sockets failed us gets to finish exiting.
const EXITING: Duration = Duration::from_millis(300);

/// How many of the program's last lines before we stopped it the
/// evidence repeats (`said_before_stop`), for people: the whole tail is
/// in `output`.
const SAID_LINES: usize = 4;

/// How the reader's program is run, for every check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The command, `{host}`, `{port}`, `{file}` not yet replaced.
    pub argv: Vec<String>,
    /// What `{host}` stands for: the address a server binds and our
    /// client connects to (127.0.0.1).
    pub host: IpAddr,
    /// What `{file}` stands for (`--each`); `None`: no submission file.
    pub file: Option<String>,
    /// The user (and group) the program runs as; `None`: ours.
    pub as_user: Option<u32>,
    /// The deadline of each of our side's blocking calls.
    pub timeout: Duration,
    /// How long the program has to start listening (a server), or to end
    /// once our side is done (a client).
    pub start: Duration,
    /// How long it has to end after `SIGINT`, and again after `SIGTERM`.
    pub grace: Duration,
    /// Whether the program and our side have a network namespace of their
    /// own: only then is a new listener surely the program's.
    pub private: bool,
    /// The capture `--pcap` asked for, or why there is none: a check that
    /// adds a link of its own (07's host A) records it there too.
    pub wire: crate::lab::capture::Wire,
    /// The most the program may write before it floods, in bytes.
    pub flood_bytes: u64,
}

/// Why a check failed, in one line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed(pub String);

/// What a check returns: `Ok(())` if the program passed.
pub type Checked = Result<(), Failed>;

/// Fails the check with `reason`, one line: what the program did wrong.
pub fn fail<T>(reason: impl Into<String>) -> Result<T, Failed> {
    Err(Failed(reason.into()))
}

impl From<anyhow::Error> for Failed {
    fn from(e: anyhow::Error) -> Self {
        Failed(format!("{e:#}"))
    }
}

impl From<SocketError> for Failed {
    fn from(e: SocketError) -> Self {
        Failed(e.to_string())
    }
}

impl From<std::io::Error> for Failed {
    fn from(e: std::io::Error) -> Self {
        Failed(e.to_string())
    }
}

/// One check's run: the program (once started), its port, the evidence.
pub struct Trial<'a> {
    opts: &'a Options,
    port: u16,
    reader: Option<Stranger>,
    evidence: Map<String, Value>,
    listeners_before: Vec<SocketAddr>,
    skipped: Option<String>,
    server: bool,
    held: Vec<Box<dyn std::any::Any>>,
}

impl<'a> Trial<'a> {
    /// A trial whose `{port}` is `port` (0 until a client check's server
    /// has one: [`Trial::set_port`]).
    pub fn new(opts: &'a Options, port: u16) -> Trial<'a> {
        Trial {
            opts,
            port,
            reader: None,
            evidence: Map::new(),
            listeners_before: Vec::new(),
            skipped: None,
            server: false,
            held: Vec::new(),
        }
    }

    /// What `{port}` stands for.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets `{port}`: for a client, the port our server listens on.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// What `{host}` stands for.
    pub fn host(&self) -> IpAddr {
        self.opts.host
    }

    /// The deadline of each of our side's blocking calls.
    pub fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// A narrator that says nothing, for the experiment's own functions.
    pub fn quiet(&self) -> Narrator {
        Narrator::default_run(true)
    }

    /// Adds `value` to the evidence as `key`.
    pub fn note(&mut self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.evidence.insert(key.to_owned(), value);
    }

    /// Starts the program with `{host}` and `{port}` replaced.
    ///
    /// # Errors
    /// It could not be started (`execve(2)` failed).
    pub fn start(&mut self) -> Checked {
        self.start_joined(None)
    }

    /// Starts the program (a server) and waits until the kernel shows it
    /// listening on `{port}`; returns the address our client connects to.
    ///
    /// # Errors
    /// It exits before it listens, floods its output, listens on another
    /// port or on an address our client cannot reach, or does not listen
    /// within the start deadline.
    pub fn listening(&mut self) -> Result<SocketAddr, Failed> {
        self.server = true;
        if self.reader.is_none() {
            self.start()?;
        }
        let (port, host) = (self.port, self.opts.host);
        let end = Instant::now() + self.opts.start;
        loop {
            self.still_running().map_err(|Failed(why)| {
                Failed(format!("{why}, before it listened on port {port}"))
            })?;
            let rows = tcp_rows(|r| r.is(TcpState::Listen))?;
            if let Some(r) = rows.iter().find(|r| r.local.port() == port) {
                let ip = r.local.ip();
                if ip.is_unspecified() || ip == host {
                    return Ok(SocketAddr::new(host, port));
                }
                self.note("listening", r.local);
                return fail(format!(
                    "bound the wrong address: it listens on {}, which a \
                     client of {host} cannot reach",
                    r.local
                ));
            }
            // On the host's network another program may start listening
            // meanwhile: only in our own namespace is a new one the
            // program's.
            let new = rows.iter().find(|r| {
                self.opts.private && !self.listeners_before.contains(&r.local)
            });
            if let Some(r) = new {
                self.note("listening", r.local);
                return fail(format!(
                    "listens on {}, not on port {port} ({{port}}, PORT)",
                    r.local
                ));
            }
            if Instant::now() >= end {
                let ms = self.opts.start.as_millis();
                return fail(format!(
                    "never listened: no socket on port {port} within {ms} ms"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Fails if the program has ended (or flooded its output), saying how,
    /// with the last line of its traceback or output.
    ///
    /// # Errors
    /// It has ended.
    pub fn still_running(&mut self) -> Checked {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        let out = reader.output();
        if out.flooded {
            return fail(flooded(self.opts.flood_bytes));
        }
        match reader.status() {
            None => Ok(()),
            Some(status) => {
                let ms = reader.started.elapsed().as_millis();
                // Its last words may still be in the pipe: read them all.
                let said = last_words(&reader.output_at_end(self.opts.grace));
                fail(format!(
                    "exited ({}) after {ms} ms{said}",
                    describe(&status)
                ))
            }
        }
    }

    /// Why our side's call failed with `e`, as a finding about the
    /// program: how it ended, if it has; that it did not answer within
    /// our deadline, for a timeout (`EAGAIN` from `SO_RCVTIMEO`); else
    /// the error (`ECONNRESET`, say) with `doing`, what we were doing.
    pub fn our_call_failed(
        &mut self,
        doing: &str,
        e: &anyhow::Error,
    ) -> Failed {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        let io = e.chain().find_map(|c| {
            c.downcast_ref::<std::io::Error>()
                .or_else(|| c.downcast_ref::<SocketError>().map(|s| &s.source))
        });
        let kind = io.map(std::io::Error::kind);
        // A program that is exiting has closed its sockets (our call saw
        // the RST or the refusal) a moment before it can be waited for.
        if !matches!(kind, Some(WouldBlock | TimedOut))
            && let Some(reader) = self.reader.as_mut()
        {
            reader.wait_for(EXITING);
        }
        if let Err(ended) = self.still_running() {
            return Failed(format!("{doing}: {}", ended.0));
        }
        let ms = self.opts.timeout.as_millis();
        match kind {
            Some(WouldBlock | TimedOut) => {
                Failed(format!("{doing}: no answer within {ms} ms"))
            }
            _ => Failed(format!("{doing}: {}", one_error(e))),
        }
    }

    /// Waits at most `within` for the program to end, and returns its
    /// status.
    ///
    /// # Errors
    /// It is still running then (it hangs): the reason says `after`,
    /// what it should have ended after.
    pub fn exits_within(
        &mut self,
        within: Duration,
        after: &str,
    ) -> Result<ExitStatus, Failed> {
        let reader = self.reader.as_mut().expect("started");
        match reader.wait_for(within) {
            Some(status) => Ok(status),
            None if reader.output().flooded => {
                fail(flooded(self.opts.flood_bytes))
            }
            None => fail(format!(
                "hangs: still running {} ms after {after}",
                within.as_millis()
            )),
        }
    }

    /// The bytes the program has not read yet on its end of our
    /// connection `conn` (its receive queue, from the kernel's table);
    /// `None` if its end is not in the table.
    pub fn unread_by_peer(&self, conn: &TcpStream) -> Option<u32> {
        let (ours, theirs) = (conn.local_addr().ok()?, conn.peer_addr().ok()?);
        receive_queue(theirs, ours).ok().flatten()
    }

    /// Waits at most `within` until the program has read everything our
    /// connection `conn` sent (its receive queue is empty) and is asleep
    /// (blocked, as in the next `recv`, or ended): whatever it does with
    /// what it read, it has done by then, however slowly it is scheduled.
    /// Returns what is still unread then (0 if all was read).
    pub fn wait_read_by_peer(&self, conn: &TcpStream, within: Duration) -> u32 {
        let end = Instant::now() + within;
        let pid = self.reader.as_ref().map(Stranger::pid);
        loop {
            let unread = self.unread_by_peer(conn).unwrap_or(0);
            let asleep = pid.is_none_or(crate::lab::process::asleep);
            if (unread == 0 && asleep) || Instant::now() >= end {
                return unread;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The kernel's row for the program's end of our connection `conn`
    /// (its state and timer); `None` if it has left the table.
    pub fn peer_row(&self, conn: &TcpStream) -> Option<TcpRow> {
        let (ours, theirs) = (conn.local_addr().ok()?, conn.peer_addr().ok()?);
        let rows = tcp_rows(|r| r.local == theirs && r.remote == ours).ok()?;
        rows.into_iter().next()
    }

    /// After the check: stops the program (`SIGINT`, `SIGTERM`,
    /// `SIGKILL`; a client that failed gets a moment to end by itself
    /// first), adds its exit and output to the evidence, and returns
    /// the reason the check failed (`None`: it passed) and the evidence.
    pub(crate) fn finish(
        mut self,
        result: Checked,
    ) -> (Option<String>, Map<String, Value>) {
        let Some(mut reader) = self.reader.take() else {
            return (result.err().map(|f| f.0), self.evidence);
        };
        if result.is_err() && !self.server {
            // A client that failed is often ending by itself: its exit
            // status and last words are then its own, not our signal's.
            reader.wait_for(EXITING);
        }
        let before = reader.output();
        let stopped = reader.stop(self.opts.grace);
        self.held.clear(); // our sockets, closed once it has stopped
        let out = reader.output();
        let said: Vec<&str> = before
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let last = said[said.len().saturating_sub(SAID_LINES)..].join("\n");
        self.note("said_before_stop", last);
        let exit = stopped.status.as_ref().map_or("unknown".into(), describe);
        self.note("exit", exit);
        self.note("stopped_by", stopped.by.map(|s| s.as_str()));
        self.note("output_bytes", out.bytes);
        self.note("output", &out.text);
        let killed = stopped.by == Some(nix::sys::signal::Signal::SIGKILL);
        let ms = 2 * self.opts.grace.as_millis();
        let reason = match result {
            _ if out.flooded => Some(flooded(self.opts.flood_bytes)),
            Err(Failed(why)) => Some(why),
            Ok(()) if killed => Some(format!(
                "ignores SIGTERM: still running {ms} ms after SIGINT and \
                 SIGTERM, killed (SIGKILL)"
            )),
            Ok(()) => None,
        };
        (reason, self.evidence)
    }
}

/// An error of ours without its hint: `recv from 127.0.0.1:40123:
/// ECONNRESET (os error 104: Connection reset by peer)`.
fn one_error(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.split("; hint:").next().unwrap_or(&text).to_owned()
}

/// Why a program failed that wrote more than `limit` bytes.
fn flooded(limit: u64) -> String {
    let mib = limit >> 20;
    format!("floods its output: more than {mib} MiB written, killed")
}

/// `: ValueError: ...` (a traceback's last line), else `: ` and the last
/// line of its output, else nothing.
fn last_words(out: &stranger::Tail) -> String {
    let last = out.text.lines().rev().find(|l| !l.trim().is_empty());
    match out.traceback().or(last) {
        Some(line) => format!(": {}", line.trim()),
        None => String::new(),
    }
}
