//! The port settings `bind(2)` obeys, from `/proc/sys/net/ipv4`
//! (`ip(7)`). Each network namespace has its own.

use std::io::{self, ErrorKind::InvalidData};

/// Returns the range of ports the kernel picks from for a `bind(2)` to port
/// 0 or a `connect(2)` on an unbound socket, inclusive
/// (`/proc/sys/net/ipv4/ip_local_port_range`, `ip(7)`).
///
/// # Errors
/// The error of reading the file (`NotFound` where there is no `/proc`), or
/// `InvalidData` if it does not hold two port numbers.
pub fn local_port_range() -> io::Result<(u16, u16)> {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")?;
    let mut ports = text.split_whitespace().map(str::parse::<u16>);
    match (ports.next(), ports.next()) {
        (Some(Ok(low)), Some(Ok(high))) => Ok((low, high)),
        _ => Err(io::Error::new(
            InvalidData,
            format!("not a port range: {text}"),
        )),
    }
}

/// Returns the lowest port an unprivileged process may `bind(2)`: below it
/// the call needs `CAP_NET_BIND_SERVICE` (root has it) and fails with
/// `EACCES` without (`/proc/sys/net/ipv4/ip_unprivileged_port_start`,
/// `ip(7)`; 1024 unless changed; 0 means no port is privileged). Each
/// network namespace has its own.
///
/// # Errors
/// The error of reading the file (`NotFound` where there is no `/proc`,
/// or on a kernel older than 4.11), or `InvalidData` if it holds no port.
pub fn unprivileged_port_start() -> io::Result<u16> {
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let text = std::fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(InvalidData, format!("not a port: {text}")))
}
