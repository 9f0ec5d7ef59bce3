//! The two hosts elsewhere than on Linux, where there are no network
//! namespaces: never built, and the experiment says why.

use std::process::ExitCode;
use std::time::Duration;

use socket2::Socket;

use super::hosts::{Host, Skipped};

/// Elsewhere than on Linux there are no network namespaces: the two hosts
/// are never built, and the experiment says why.
#[derive(Debug)]
pub struct TwoHosts(());

impl TwoHosts {
    /// Returns `Ok(Err(skipped))`: network namespaces are Linux's.
    ///
    /// # Errors
    /// None here; the `Result` is Linux's.
    pub fn build(_timeout: Duration) -> anyhow::Result<Result<Self, Skipped>> {
        Ok(Err(Skipped {
            reason: "network namespaces exist only on Linux".into(),
            errno: None,
            enable: "run the experiment on Linux".into(),
        }))
    }

    /// Never called: no `TwoHosts` exists here.
    ///
    /// # Errors
    /// Always `Unsupported`.
    pub fn socket(&self, _host: Host) -> std::io::Result<Socket> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Never called: no `TwoHosts` exists here.
    ///
    /// # Errors
    /// Always `Unsupported`.
    pub fn packet_socket(
        &self,
    ) -> std::io::Result<(std::os::fd::OwnedFd, u32)> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Never called: no `TwoHosts` exists here.
    pub fn helper_pid(&self) -> u32 {
        0
    }
}

/// Elsewhere than on Linux no helper is ever started: `None`.
pub fn helper_if_asked() -> Option<ExitCode> {
    None
}
