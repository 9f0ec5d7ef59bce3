//! Counting the `recv(2)` calls a loop makes: a reader that passes every
//! read on to a socket and records what each call was asked for and what it
//! returned (experiment 02 `partial-recv`); and the record of one `send(2)`
//! (experiment 03 `partial-send`).
//!
//! A loop such as the book's `recvall()` hides how many calls it took; with
//! the socket wrapped in a [`Tally`], the loop runs unchanged and the
//! experiment can show each short read afterwards.

use std::fmt;
use std::io::{self, Read};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

use crate::lab::report::Errno;

/// One `recv(2)`: how many bytes it was allowed to return, and how many it
/// did. `returned_bytes` 0 means the end of the stream (the peer closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recv {
    /// The buffer's length: the most this call could return, in bytes.
    pub asked_bytes: u64,
    /// What the call returned, in bytes; 0 is the end of the stream.
    pub returned_bytes: u64,
}

/// One `send(2)`: what it was handed, what the kernel accepted, and the
/// send queue just after.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sent {
    /// The bytes handed to `send()`.
    pub asked_bytes: u64,
    /// The bytes the kernel accepted: what `send()` returned; 0 if it failed.
    pub accepted_bytes: u64,
    /// Why `send()` failed (`EAGAIN`: no room); `None` if it returned a count.
    pub errno: Option<Errno>,
    /// The send queue just after (`ioctl(2)` `SIOCOUTQ`): accepted, not yet
    /// acknowledged by the peer, in bytes; `None` where it cannot be read.
    pub send_queue_bytes: Option<u64>,
}

/// `send(16) returned 16, SIOCOUTQ 0`, or `send(N) failed: EAGAIN,
/// SIOCOUTQ Q` (`?` for a queue that could not be read).
impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send({}) ", self.asked_bytes)?;
        match &self.errno {
            Some(e) => write!(f, "failed: {}", e.name)?,
            None => write!(f, "returned {}", self.accepted_bytes)?,
        }
        match self.send_queue_bytes {
            Some(q) => write!(f, ", SIOCOUTQ {q}"),
            None => write!(f, ", SIOCOUTQ ?"),
        }
    }
}

/// A reader that records every successful read it passes on as a
/// [`Recv`]; reads that fail (a timeout, a reset) are passed on and not
/// recorded.
#[derive(Debug)]
pub struct Tally<R> {
    inner: R,
    calls: Vec<Recv>,
    tell: Option<Sender<usize>>,
}

impl<R> Tally<R> {
    /// Wraps `inner`. If `tell` is given, each read's count is also sent
    /// on it as soon as the read returns, so another thread can wait for
    /// the reader's next call (a closed channel is ignored).
    pub fn new(inner: R, tell: Option<Sender<usize>>) -> Self {
        Tally {
            inner,
            calls: Vec::new(),
            tell,
        }
    }

    /// The reads recorded so far, in order.
    pub fn calls(&self) -> &[Recv] {
        &self.calls
    }

    /// Ends the tally: the reads recorded, in order. The wrapped reader
    /// (a socket: this closes it) is dropped.
    pub fn into_calls(self) -> Vec<Recv> {
        self.calls
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.calls.push(Recv {
            asked_bytes: buf.len() as u64,
            returned_bytes: n as u64,
        });
        if let Some(tell) = &self.tell {
            let _ = tell.send(n);
        }
        Ok(n)
    }
}

/// One line per recv, as the experiments print them: `recv(16) returned 8
/// bytes: b'Farewell'`, where `data` is what the recvs returned, in order
/// (a shorter `data` shows as far as it goes).
pub fn recv_lines(data: &[u8], recvs: &[Recv]) -> Vec<String> {
    let mut at = 0;
    let mut lines = Vec::new();
    for r in recvs {
        let n = r.returned_bytes as usize;
        let part = &data[at.min(data.len())..(at + n).min(data.len())];
        lines.push(format!(
            "recv({}) returned {n} bytes: {}",
            r.asked_bytes,
            crate::lab::pyfmt::py_bytes(part)
        ));
        at += n;
    }
    lines
}

/// How many recvs returned under 64 KiB, 64 KiB to under 1 MiB, and 1 MiB
/// or more, as one line: `under 64 KiB: 0, 64 KiB to 1 MiB: 2, more: 3`.
pub fn size_counts(recvs: &[Recv]) -> String {
    let count = |lo: u64, hi: u64| {
        let sizes = recvs.iter().map(|r| r.returned_bytes);
        sizes.filter(|s| (lo..hi).contains(s)).count()
    };
    format!(
        "under 64 KiB: {}, 64 KiB to 1 MiB: {}, more: {}",
        count(0, 1 << 16),
        count(1 << 16, 1 << 20),
        count(1 << 20, u64::MAX)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read is recorded with its buffer length and its count, and the
    /// count is told to the channel.
    #[test]
    fn records_what_each_read_was_asked_and_returned() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut t = Tally::new(&b"abcdef"[..], Some(tx));
        let mut buf = [0; 4];
        assert_eq!(t.read(&mut buf).unwrap(), 4);
        assert_eq!(t.read(&mut buf[..3]).unwrap(), 2);
        assert_eq!(t.read(&mut buf).unwrap(), 0);
        let asked: Vec<(u64, u64)> = t
            .calls()
            .iter()
            .map(|c| (c.asked_bytes, c.returned_bytes))
            .collect();
        assert_eq!(asked, [(4, 4), (3, 2), (4, 0)]);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 2, 0]);
        let calls = t.into_calls();
        assert_eq!(
            recv_lines(b"abcdef", &calls),
            [
                "recv(4) returned 4 bytes: b'abcd'",
                "recv(3) returned 2 bytes: b'ef'",
                "recv(4) returned 0 bytes: b''"
            ]
        );
        assert_eq!(
            size_counts(&calls),
            "under 64 KiB: 3, 64 KiB to 1 MiB: 0, more: 0"
        );
    }
}
