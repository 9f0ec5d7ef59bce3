//! A client whose `connect(2)` was started without blocking, as the
//! kernel describes it at one moment: only experiment 09 uses it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::lab::error::{Op, SocketError};
use crate::lab::kernel::{TcpState, tcp_info};
use crate::lab::names;
use crate::lab::report::Errno;

/// What the kernel says of a socket whose `connect(2)` was started without
/// blocking (`EINPROGRESS`), read at one moment: whether the handshake
/// finished, failed, or is still waiting for an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::lab::schema::every_field_present)]
pub struct Connecting {
    /// Its socket name: the kernel picks the port at `connect()`.
    pub name: SocketAddr,
    /// ms from `connect()` until the handshake was seen finished; `None`:
    /// not finished (no answer yet), or failed.
    pub connected_after_ms: Option<f64>,
    /// Its TCP state (`TCP_INFO`): `ESTABLISHED`, or `SYN_SENT` while no
    /// answer has come; `None` where the kernel does not report it.
    pub state: Option<TcpState>,
    /// How the connection failed (`SO_ERROR`), if it did: `ECONNREFUSED`
    /// means a refusal.
    pub error: Option<Errno>,
    /// SYNs sent again so far (`tcpi_total_retrans`); `None`: unknown.
    pub syn_retries: Option<u32>,
}

impl Connecting {
    /// Reads it for `sock`, whose `connect()` started at `started`.
    /// `answered` says whether `poll(2)` found the socket writable: the
    /// handshake is over, and `SO_ERROR` (taken, so cleared) says how.
    ///
    /// # Errors
    /// The error of `getsockname(2)` or of `getsockopt(2)` `SO_ERROR`.
    pub fn read(
        sock: &socket2::Socket,
        started: Instant,
        answered: bool,
    ) -> Result<Connecting, SocketError> {
        let info = tcp_info(sock).ok();
        let mut c = Connecting {
            name: names::socket_name(sock)?,
            connected_after_ms: None,
            state: info.map(|i| i.state),
            error: None,
            syn_retries: info.map(|i| i.total_retransmits),
        };
        if answered {
            match sock.take_error().op("getsockopt SO_ERROR")? {
                Some(e) => c.error = Errno::of(&e),
                None => {
                    let us = started.elapsed().as_micros() as f64;
                    c.connected_after_ms = Some(us / 1000.0);
                }
            }
        }
        Ok(c)
    }

    /// Whether the kernel reported it in `state`.
    pub fn is(&self, state: TcpState) -> bool {
        self.state == Some(state)
    }

    /// The state's name, `"unknown"` where the kernel did not say.
    fn state_name(&self) -> String {
        self.state.map_or("unknown".into(), |s| s.to_string())
    }

    /// True if the handshake finished.
    pub fn connected(&self) -> bool {
        self.connected_after_ms.is_some()
    }
}

/// `connected after 0.1 ms, ESTABLISHED` (`, after 1 SYN retry`), `no
/// answer, SYN_SENT`, or `failed: ECONNREFUSED`.
impl fmt::Display for Connecting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, self.connected_after_ms) {
            (Some(e), _) => write!(f, "failed: {}", e.name),
            (None, None) => write!(f, "no answer, {}", self.state_name()),
            (None, Some(ms)) => {
                let state = self.state_name();
                write!(f, "connected after {ms:.1} ms, {state}")?;
                match self.syn_retries {
                    Some(1) => write!(f, ", after 1 SYN retry"),
                    Some(n) if n > 1 => write!(f, ", after {n} SYN retries"),
                    _ => Ok(()),
                }
            }
        }
    }
}
