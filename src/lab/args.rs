//! Argument parsing shared by every experiment: the manual roles' `NAME
//! server [INTERFACE] [-p PORT]` and `NAME client HOST [-p PORT]`, as in the
//! book's scripts; host names; byte counts and buffer sizes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use anyhow::anyhow;

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
    #[arg(long, value_name = "MS", default_value_t = 600_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub accept_timeout_ms: u64,
    /// The most one conversation may last, in ms: a client that stalls or
    /// trickles is cut off then, and the server goes on to the next one.
    #[arg(long, value_name = "MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub conversation_ms: u64,
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
    let n = parse_size::parse_size(s).map_err(|e| {
        format!("{e}: give a byte count such as 65536, 64KiB or 1GiB")
    })?;
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

impl BufferSize {
    /// The size to ask for, in bytes; `None` for [`BufferSize::Auto`].
    pub fn bytes(self) -> Option<u64> {
        match self {
            BufferSize::Bytes(n) => Some(n as u64),
            BufferSize::Auto => None,
        }
    }
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
/// first address, preferring IPv4 as the book's `AF_INET` sockets do. An
/// empty host and names under `.invalid` fail at once, without a lookup
/// (so a typo in a test never sends a query to the network). `localhost`
/// and names under `.localhost` (RFC 6761, any case, with or without the
/// final dot) are 127.0.0.1, and Debian's `ip6-localhost` and
/// `ip6-loopback` are `::1`, also without a lookup: a resolver may send
/// `localhost.` to the network, and the workbook's traffic stays on the
/// machine.
///
/// # Errors
/// Fails if the host is empty, under `.invalid`, or resolves to no address.
pub fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    if host.is_empty() {
        return Err(anyhow!(
            "resolve host \"\": a client needs a host; hint: give an IP address such as 127.0.0.1, or a name"
        ));
    }
    // RFC 6761: names under .invalid never exist, and resolvers answer so
    // at once, without asking the network.
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)));
    }
    if lower == "ip6-localhost" || lower == "ip6-loopback" {
        return Ok(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
    }
    if lower == "invalid" || lower.ends_with(".invalid") {
        return Err(anyhow!(
            "resolve host {host:?}: no such host (names under .invalid never exist, RFC 6761); hint: check the name, or use an IP address such as 127.0.0.1"
        ));
    }
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
            conversation_ms: 1,
        };
        assert_eq!(args.bind_addr().unwrap(), "0.0.0.0:1060".parse().unwrap());
    }

    /// An empty host and names under .invalid are refused before any
    /// lookup; an IP address needs none.
    #[test]
    fn resolve_refuses_empty_and_invalid_hosts_without_a_lookup() {
        let err = resolve("", 1060).unwrap_err().to_string();
        assert!(err.contains("a client needs a host"), "{err}");
        // Refused by RFC 6761's rule, not by a lookup that failed.
        for host in ["nosuch.invalid", "NoSuch.Invalid.", "invalid"] {
            let err = resolve(host, 1060).unwrap_err().to_string();
            assert!(err.contains("RFC 6761"), "{host}: {err}");
        }
        assert_eq!(
            resolve("127.0.0.2", 1060).unwrap(),
            "127.0.0.2:1060".parse().unwrap()
        );
    }

    /// Localhost names are loopback without a lookup (RFC 6761), whatever
    /// their case and final dot; Debian's IPv6 names are ::1.
    #[test]
    fn localhost_names_are_loopback_without_a_lookup() {
        let v4: SocketAddr = "127.0.0.1:1060".parse().unwrap();
        for host in ["localhost", "localhost.", "LOCALHOST.", "a.localhost"] {
            assert_eq!(resolve(host, 1060).unwrap(), v4, "{host}");
        }
        let v6: SocketAddr = "[::1]:1060".parse().unwrap();
        for host in ["ip6-localhost", "IP6-LOOPBACK."] {
            assert_eq!(resolve(host, 1060).unwrap(), v6, "{host}");
        }
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
}
