//! Errors for people: one line that names the operation, the address, the
//! errno by name, and a hint.
//!
//! Every socket call an experiment makes goes through [`Op::op`], so that a
//! failure the user can cause (a port in use, nobody listening, a typo in a
//! host name) reaches `main` as a [`SocketError`] whose text reads like
//! `connect to 127.0.0.1:1060: ECONNREFUSED (os error 111: Connection refused);
//! hint: nothing listens there: start the server first`. The original
//! [`io::Error`] stays inside, so its errno survives to reports and tests.

use std::fmt;
use std::io;

/// Returns the symbolic name of an I/O error's errno, such as `"ECONNREFUSED"`.
///
/// `None` means the error did not come from the kernel (it carries no errno),
/// for example an early end of stream detected by our own code.
pub fn errno_name(err: &io::Error) -> Option<String> {
    err.raw_os_error()
        .map(|n| format!("{:?}", nix::errno::Errno::from_raw(n)))
}

/// An operation on a socket that failed, with the address it was aimed at.
///
/// Display gives one line: `OPERATION: ERRNO (os error N: description); hint: ...`.
#[derive(Debug)]
pub struct SocketError {
    /// What was being done, with the address: `"connect to 127.0.0.1:1060"`.
    pub op: String,
    /// The error the kernel (or the standard library) returned.
    pub source: io::Error,
    /// What the user can do about it; `None` means no hint is known.
    pub hint: Option<String>,
}

impl SocketError {
    /// Replaces the hint chosen from the errno with a more specific one.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The errno name of the underlying error, such as `"EADDRINUSE"`; `None`
    /// if it carries no errno.
    pub fn errno_name(&self) -> Option<String> {
        errno_name(&self.source)
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.op)?;
        match (errno_name(&self.source), self.source.raw_os_error()) {
            (Some(name), Some(n)) => {
                let desc = nix::errno::Errno::from_raw(n).desc();
                write!(f, "{name} (os error {n}: {desc})")?
            }
            _ => write!(f, "{}", self.source)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// The message already includes the underlying error, so it is not chained
/// again as a `source()`; the `source` field keeps it for code that needs it.
impl std::error::Error for SocketError {}

/// The hint for an errno that users commonly cause; `None` for the others.
fn default_hint(err: &io::Error) -> Option<&'static str> {
    use nix::errno::Errno;
    let errno = Errno::from_raw(err.raw_os_error()?);
    Some(match errno {
        Errno::ECONNREFUSED => {
            "nothing listens on that address and port: start the server first, and check -p"
        }
        Errno::EADDRINUSE => {
            "another socket holds that port, or a closed connection on it waits in TIME_WAIT (up to 60 s; see experiment 06): choose another with -p, or -p 0 for any free port"
        }
        Errno::EACCES => {
            "permission denied: ports below 1024 need privileges (use -p 1024 or above); a file needs a directory you may write to"
        }
        Errno::EADDRNOTAVAIL => {
            "that address is not one of this machine's interfaces"
        }
        Errno::EAGAIN | Errno::ETIMEDOUT => {
            "nothing moved within the deadline (--timeout-ms): is the peer running, and is it the right program?"
        }
        Errno::ECONNRESET => {
            "the peer reset the connection: it closed with data unread, or its process ended"
        }
        Errno::EPIPE => "the peer had already closed the connection",
        Errno::ENOTCONN => {
            "the socket is not connected (or the peer reset it at once)"
        }
        Errno::ENOENT => "no such file or directory: check the path",
        Errno::ENETUNREACH | Errno::EHOSTUNREACH => {
            "no route to that host from here"
        }
        _ => return None,
    })
}

/// Attaches the operation and address to an [`io::Result`].
pub trait Op<T> {
    /// Turns an error into a [`SocketError`] for `op` (`"bind 127.0.0.1:1060"`),
    /// with the hint that fits its errno.
    ///
    /// # Errors
    /// Returns the [`SocketError`] when `self` is an error.
    fn op(self, op: impl fmt::Display) -> Result<T, SocketError>;
}

impl<T> Op<T> for io::Result<T> {
    fn op(self, op: impl fmt::Display) -> Result<T, SocketError> {
        self.map_err(|source| SocketError {
            op: op.to_string(),
            hint: default_hint(&source).map(str::to_owned),
            source,
        })
    }
}
