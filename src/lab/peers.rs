//! Running two peers at once in a default run: the server on a thread of
//! its own, the client on the calling thread, and a census of the threads
//! and descriptors the run leaves behind.

use std::thread;

use serde::{Deserialize, Serialize};

use crate::lab::narrate::Narrator;
use crate::lab::process;

/// Runs `server` on a new thread and `client` on this one, and waits for
/// both. Each gets a narrator tagged with its role whose lines are printed
/// after both have finished, the server's first: the order of the output
/// does not depend on how the two threads were scheduled. Every blocking
/// call in either must have a deadline, or this waits as long as it does.
///
/// # Errors
/// The server's error if it failed, else the client's.
pub fn pair<S: Send, C>(
    say: &Narrator,
    server: impl FnOnce(&Narrator) -> anyhow::Result<S> + Send,
    client: impl FnOnce(&Narrator) -> anyhow::Result<C>,
) -> anyhow::Result<(S, C)> {
    let (server_says, client_says) =
        (say.server().buffered(), say.client().buffered());
    let (server_result, client_result) = thread::scope(|s| {
        let handle = s.spawn(|| server(&server_says));
        let client_result = client(&client_says);
        let server_result = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (server_result, client_result)
    });
    server_says.flush();
    client_says.flush();
    Ok((server_result?, client_result?))
}

/// How many threads and open descriptors this process had, to compare
/// after a run with [`Census::left`].
#[derive(Debug, Clone, Copy)]
pub struct Census {
    threads: Option<usize>,
    fds: Option<usize>,
}

/// What a run left behind: threads and descriptors more than before it.
/// `None` where `/proc` does not exist to count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Left {
    /// Threads still running that the run started (0 when all joined).
    pub threads_left: Option<i64>,
    /// Descriptors still open that the run opened (0 when all closed).
    pub fds_left: Option<i64>,
}

impl Census {
    /// Counts this process's threads and open descriptors now.
    pub fn take() -> Census {
        Census {
            threads: process::thread_count(),
            fds: process::open_fd_count(),
        }
    }

    /// What is left now compared with the census.
    pub fn left(&self) -> Left {
        let diff = |after: Option<usize>, before: Option<usize>| {
            Some(after? as i64 - before? as i64)
        };
        Left {
            threads_left: diff(process::thread_count(), self.threads),
            fds_left: diff(process::open_fd_count(), self.fds),
        }
    }
}
