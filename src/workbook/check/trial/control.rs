//! What a check may do with the program beyond starting it and seeing
//! it listen: start it inside another host, stop it and start it again,
//! read its output to the end, ask how it ended; and skip a check the
//! system cannot run.

use std::time::Duration;

use super::{Checked, Trial, fail};
use crate::lab::capture::Wire;
use crate::lab::kernel::proc_net_tcp::tcp_rows;
use crate::lab::kernel::tcp_info::TcpState;
use crate::lab::netns::join::Join;
use crate::lab::stranger::{self, Stranger, Vars, describe};

impl Trial<'_> {
    /// The capture `--pcap` asked for (off without it).
    pub fn wire(&self) -> &Wire {
        &self.opts.wire
    }

    /// How long the program has to start listening (a server), or to end
    /// once our side is done (a client).
    pub fn start_within(&self) -> Duration {
        self.opts.start
    }

    /// Keeps `thing` (a socket of ours) until the program has been
    /// stopped after the check: closing a socket with data unread sends
    /// an RST, and that, not our signal, would end a program stuck on it.
    pub fn hold(&mut self, thing: impl std::any::Any) {
        self.held.push(Box::new(thing));
    }

    /// Skips the check: it cannot run here, for the reason `why` (one
    /// line: what the system lacks, and how to allow it). Returns
    /// `Ok(())`; the check is neither passed nor failed, and worth no
    /// points.
    pub fn skip(&mut self, why: impl Into<String>) -> Checked {
        self.skipped = Some(why.into());
        Ok(())
    }

    /// Why the check was skipped; `None` if it ran.
    pub fn skipped(&self) -> Option<String> {
        self.skipped.clone()
    }

    /// Starts the program as [`Trial::start`] does, but inside the
    /// namespaces `join` opened (host A's): see
    /// [`crate::lab::netns::join`].
    ///
    /// # Errors
    /// It could not be started (`setns(2)` or `execve(2)` failed).
    pub fn start_in(&mut self, join: Join) -> Checked {
        self.start_joined(Some(join))
    }

    /// Stops the program now, as the framework does after a check
    /// (`SIGINT`, `SIGTERM`, then `SIGKILL`, each after the grace time),
    /// and says how it stopped; `None` if it was not running. A later
    /// [`Trial::start`] or [`Trial::listening`] starts it afresh; the
    /// evidence the framework adds afterwards is that later run's.
    pub fn stop(&mut self) -> Option<stranger::Stopped> {
        let mut reader = self.reader.take()?;
        Some(reader.stop(self.opts.grace))
    }

    /// What it wrote, read to the end once it has ended (waiting at most
    /// the grace time for the last of it); empty before it starts.
    pub fn output_at_end(&mut self) -> stranger::Tail {
        let grace = self.opts.grace;
        let reader = self.reader.as_mut();
        reader.map(|r| r.output_at_end(grace)).unwrap_or_default()
    }

    /// How it ended (`exit status 0`, `killed by SIGKILL`), if it has;
    /// `None` while it runs or before it starts.
    pub fn ended(&mut self) -> Option<String> {
        self.reader.as_mut()?.status().as_ref().map(describe)
    }

    /// Its process id (its group's too); `None` before it starts.
    pub fn pid(&self) -> Option<u32> {
        self.reader.as_ref().map(Stranger::pid)
    }

    /// What it has written so far (the kept tail of its stdout and
    /// stderr); empty before it starts.
    pub fn output(&self) -> stranger::Tail {
        self.reader
            .as_ref()
            .map(Stranger::output)
            .unwrap_or_default()
    }

    /// Starts the program, inside `join`'s namespaces if given: what
    /// [`Trial::start`] and [`Trial::start_in`] do.
    pub(super) fn start_joined(&mut self, join: Option<Join>) -> Checked {
        let listening = tcp_rows(|r| r.is(TcpState::Listen))?;
        self.listeners_before = listening.iter().map(|r| r.local).collect();
        let vars = Vars {
            host: self.opts.host.to_string(),
            port: self.port,
            file: self.opts.file.clone(),
        };
        let argv = stranger::substitute(&self.opts.argv, &vars);
        match Stranger::start(
            &argv,
            &vars,
            self.opts.as_user,
            join,
            self.opts.flood_bytes,
        ) {
            Ok(s) => self.reader = Some(s),
            Err(e) => return fail(format!("could not start {argv:?}: {e}")),
        }
        Ok(())
    }
}
