//! The manual roles' arguments, shared by every experiment: `NAME server
//! [INTERFACE] [-p PORT]` and `NAME client HOST [-p PORT]`, as in the book's
//! scripts, plus socket names and the address formatting the book's output
//! uses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use anyhow::anyhow;
use socket2::{SockAddr, Socket};

use crate::error::{Op, SocketError};

/// The port the book's scripts use by default (FOPNP 3rd ed., ch. 3).
pub const BOOK_PORT: u16 = 1060;

/// Arguments of the manual `server` role.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Interface to listen at: an IP address or host name; "" means all
    /// interfaces (0.0.0.0), as in Python.
    #[arg(default_value = "127.0.0.1")]
    pub interface: String,
    /// TCP port; 0 lets the kernel pick a free one (the server prints it).
    #[arg(short = 'p', value_name = "PORT", default_value_t = BOOK_PORT)]
    pub port: u16,
    /// Serve one connection, then exit (the book's server loops forever).
    #[arg(long)]
    pub once: bool,
    /// How long to wait for the next client before giving up, in ms.
    #[arg(long, value_name = "MS", default_value_t = 600_000)]
    pub accept_timeout_ms: u64,
}

impl ServerArgs {
    /// Resolves the interface and port into the address to `bind(2)`.
    ///
    /// # Errors
    /// Fails with a one-line message if the interface name does not resolve.
    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        if self.interface.is_empty() {
            return Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                self.port,
            ));
        }
        resolve(&self.interface, self.port)
    }
}

/// Arguments of the manual `client` role.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Host the client connects to: an IP address or host name.
    pub host: String,
    /// TCP port of the server.
    #[arg(short = 'p', value_name = "PORT", default_value_t = BOOK_PORT)]
    pub port: u16,
}

impl ClientArgs {
    /// Resolves the host and port into the address to `connect(2)` to.
    ///
    /// # Errors
    /// Fails with a one-line message if the host name does not resolve.
    pub fn server_addr(&self) -> anyhow::Result<SocketAddr> {
        resolve(&self.host, self.port)
    }
}

/// Resolves `host` (an address or a name, through `getaddrinfo(3)`) to its
/// first address, preferring IPv4 as the book's `AF_INET` sockets do.
///
/// # Errors
/// Fails if the name does not resolve to any address.
pub fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow!("resolve host {host:?}: {e}; hint: check the name, or use an IP address such as 127.0.0.1"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            anyhow!(
                "resolve host {host:?}: no address found; hint: use an IP address such as 127.0.0.1"
            )
        })
}

/// Returns `sock`'s own address: `getsockname(2)`, as Python's
/// `sock.getsockname()`.
///
/// # Errors
/// The error of `getsockname(2)`, with the operation named.
pub fn socket_name(sock: &Socket) -> Result<SocketAddr, SocketError> {
    Ok(inet(sock.local_addr().op("getsockname")?))
}

/// Returns the address of `sock`'s peer: `getpeername(2)`, as Python's
/// `sock.getpeername()`.
///
/// # Errors
/// The error of `getpeername(2)` (`ENOTCONN` on a socket that is not
/// connected), with the operation named.
pub fn peer_name(sock: &Socket) -> Result<SocketAddr, SocketError> {
    Ok(inet(sock.peer_addr().op("getpeername")?))
}

fn inet(addr: SockAddr) -> SocketAddr {
    addr.as_socket()
        .expect("the workbook's sockets are IPv4 or IPv6")
}

/// Formats an address the way Python prints a socket name, so our output
/// reads like the book's: `('127.0.0.1', 1060)`.
pub fn py_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        SocketAddr::V6(a) => format!(
            "('{}', {}, {}, {})",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
    }
}

/// Formats bytes the way Python's `repr()` of a `bytes` object does:
/// `b'Hi there, server'`.
pub fn py_bytes(data: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in data {
        match b {
            b'\'' => out.push_str("\\'"),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty interface means all interfaces, as `bind(("", port))` does in Python.
    #[test]
    fn empty_interface_binds_all_interfaces() {
        let args = ServerArgs {
            interface: String::new(),
            port: 1060,
            once: false,
            accept_timeout_ms: 1,
        };
        assert_eq!(args.bind_addr().unwrap(), "0.0.0.0:1060".parse().unwrap());
    }

    /// Our output spells addresses and bytes as Python's repr() does.
    #[test]
    fn formats_like_python() {
        assert_eq!(
            py_addr(&"127.0.0.1:1060".parse().unwrap()),
            "('127.0.0.1', 1060)"
        );
        assert_eq!(py_bytes(b"it's\n\x00"), "b'it\\'s\\n\\x00'");
    }
}
