//! Counting the `recv(2)` calls a loop makes: a reader that passes every
//! read on to a socket and records what each call was asked for and what it
//! returned (experiment 02 `partial-recv`).
//!
//! A loop such as the book's `recvall()` hides how many calls it took; with
//! the socket wrapped in a [`Tally`], the loop runs unchanged and the
//! experiment can show each short read afterwards.

use std::io::{self, Read};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};

/// One `recv(2)`: how many bytes it was allowed to return, and how many it
/// did. `returned_bytes` 0 means the end of the stream (the peer closed).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Recv {
    /// The buffer's length: the most this call could return, in bytes.
    pub asked_bytes: u64,
    /// What the call returned, in bytes; 0 is the end of the stream.
    pub returned_bytes: u64,
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
        assert_eq!(t.into_calls().len(), 3);
    }
}
