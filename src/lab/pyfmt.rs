//! Python-style formatting, so that our output reads like the book's
//! transcripts: addresses as `('127.0.0.1', 1060)`, bytes as
//! `b'Hi there, server'`.

use std::net::SocketAddr;

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
