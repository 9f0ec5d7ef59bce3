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

/// Parses a byte count such as `65536`, `64KiB` or `1GiB` (binary and
/// decimal suffixes, through the parse-size crate) and checks that it lies
/// in `min..=max` bytes. For clap's `value_parser`.
///
/// # Errors
/// A message for clap to print (exit 2) if `s` is no size or out of range.
pub fn parse_byte_count(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_size::parse_size(s)
        .map_err(|e| format!("{e}: give a byte count such as 65536, 64KiB or 1GiB"))?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else if max == u64::MAX {
        Err(format!(
            "must be at least {min} byte{}",
            if min == 1 { "" } else { "s" }
        ))
    } else {
        Err(format!("must be from {min} to {max} bytes"))
    }
}

/// A socket buffer size to ask for with `SO_SNDBUF` or `SO_RCVBUF`, or
/// none, to leave the kernel's autotuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferSize {
    /// Do not call `setsockopt`: the kernel sizes and grows the buffer.
    Auto,
    /// Ask for this many bytes (Linux reads back twice as many).
    Bytes(usize),
}

/// Parses `auto` or a size from 1 byte to 1 GiB into a [`BufferSize`]. For
/// clap's `value_parser`.
///
/// # Errors
/// A message for clap to print (exit 2) if `s` is neither.
pub fn parse_buffer_size(s: &str) -> Result<BufferSize, String> {
    if s == "auto" {
        return Ok(BufferSize::Auto);
    }
    parse_byte_count(s, 1, 1 << 30)
        .map(|n| BufferSize::Bytes(n as usize))
        .map_err(|e| format!("{e}, or auto"))
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

    /// Sizes take suffixes and are checked against their range.
    #[test]
    fn byte_counts_take_suffixes_and_ranges() {
        assert_eq!(parse_byte_count("64KiB", 1, u64::MAX), Ok(65536));
        assert!(parse_byte_count("0", 1, u64::MAX).is_err());
        assert!(parse_byte_count("lots", 1, u64::MAX).is_err());
        assert!(parse_byte_count("2MiB", 1, 1 << 20).is_err());
        assert_eq!(parse_buffer_size("auto"), Ok(BufferSize::Auto));
        assert_eq!(parse_buffer_size("64KiB"), Ok(BufferSize::Bytes(65536)));
        assert!(parse_buffer_size("2GiB").is_err());
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
