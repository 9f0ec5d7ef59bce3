//! Socket names: a socket's own address (`getsockname(2)`) and its peer's
//! (`getpeername(2)`), as `SocketAddr`s.

use std::net::SocketAddr;

use socket2::{SockAddr, SockRef};

use crate::lab::error::{Op, SocketError};

/// Returns `sock`'s own address: `getsockname(2)`, as Python's
/// `sock.getsockname()`.
///
/// # Errors
/// The error of `getsockname(2)`, with the operation named.
pub fn socket_name<'s>(
    sock: impl Into<SockRef<'s>>,
) -> Result<SocketAddr, SocketError> {
    Ok(inet(sock.into().local_addr().op("getsockname")?))
}

/// Returns the address of `sock`'s peer: `getpeername(2)`, as Python's
/// `sock.getpeername()`.
///
/// # Errors
/// The error of `getpeername(2)` (`ENOTCONN` on a socket that is not
/// connected), with the operation named.
pub fn peer_name<'s>(
    sock: impl Into<SockRef<'s>>,
) -> Result<SocketAddr, SocketError> {
    Ok(inet(sock.into().peer_addr().op("getpeername")?))
}

fn inet(addr: SockAddr) -> SocketAddr {
    addr.as_socket()
        .expect("the workbook's sockets are IPv4 or IPv6")
}
