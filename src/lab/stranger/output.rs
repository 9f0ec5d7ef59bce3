//! A stranger's output: its stdout and stderr on one pipe, read on a
//! thread of ours; the last [`KEPT_OUTPUT_BYTES`] kept as evidence, and
//! its whole process group killed once it writes more than it may.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::lab::deadline;

/// How much of the program's output is kept for the evidence: the last
/// 64 KiB of its stdout and stderr together, in bytes.
pub const KEPT_OUTPUT_BYTES: usize = 64 << 10;

/// A program that writes more than this in all (stdout and stderr), in
/// bytes, floods its output: it is killed when it passes the mark. The
/// default; a caller may allow more ([`super::Stranger::start`]'s `flood_bytes`).
pub const FLOOD_BYTES: u64 = 1 << 20;

/// The program's output so far: the kept tail and how much there was.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    /// The last [`KEPT_OUTPUT_BYTES`] of stdout and stderr, as text
    /// (bytes that are not UTF-8 as `U+FFFD`).
    pub text: String,
    /// Every byte it wrote, kept or not.
    pub bytes: u64,
    /// Whether it wrote more than it was allowed (`flood_bytes`, by
    /// default [`FLOOD_BYTES`]) and was killed for it.
    pub flooded: bool,
}

/// What the output thread has read so far.
#[derive(Default)]
pub(super) struct Output {
    kept: Vec<u8>,
    bytes: u64,
    flooded: bool,
    /// The most it may write, in bytes.
    limit: u64,
}

impl Output {
    /// Nothing read yet; the program may write `limit` bytes.
    pub(super) fn new(limit: u64) -> Output {
        Output {
            limit,
            ..Output::default()
        }
    }

    /// The kept tail, and how much there was.
    pub(super) fn tail(&self) -> Tail {
        let from = self.kept.len().saturating_sub(KEPT_OUTPUT_BYTES);
        Tail {
            text: String::from_utf8_lossy(&self.kept[from..]).into_owned(),
            bytes: self.bytes,
            flooded: self.flooded,
        }
    }
}

/// The output thread: reads the pipe until every writer has closed it or
/// `done` is set, keeps the tail, and kills the group once it floods.
pub(super) fn read_output(
    pipe: OwnedFd,
    output: &Mutex<Output>,
    done: &AtomicBool,
    pgid: Pid,
) {
    let mut pipe = std::fs::File::from(pipe);
    let mut buf = vec![0u8; 64 << 10];
    while !done.load(Ordering::SeqCst) {
        match deadline::wait_readable(&pipe, Duration::from_millis(50)) {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETIMEDOUT) => {
                continue;
            }
            Err(_) => return,
            Ok(()) => {}
        }
        let n = match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return, // every writer has closed it
            Ok(n) => n,
        };
        let mut out = output.lock().expect("not poisoned");
        out.bytes += n as u64;
        out.kept.extend_from_slice(&buf[..n]);
        if out.kept.len() > 2 * KEPT_OUTPUT_BYTES {
            let cut = out.kept.len() - KEPT_OUTPUT_BYTES;
            out.kept.drain(..cut);
        }
        if out.bytes > out.limit && !out.flooded {
            out.flooded = true;
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Tail {
    /// The last line of a Python traceback in the output (`ValueError:
    /// ...`), if the output holds one.
    pub fn traceback(&self) -> Option<&str> {
        let at = self.text.rfind("Traceback (most recent call last):")?;
        self.text[at..]
            .lines()
            .skip(1)
            .find(|l| !l.starts_with(' ') && !l.trim().is_empty())
    }
}
