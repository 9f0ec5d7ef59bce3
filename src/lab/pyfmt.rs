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
/// `b'Hi there, server'`. Like Python, it quotes with double quotes when
/// the bytes hold a single quote and no double quote (`b"it's"`), and
/// escapes only the quote it chose.
pub fn py_bytes(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = format!("b{}", quote as char);
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ if b == quote => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote as char);
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
        assert_eq!(py_bytes(b"it's\n\x00"), "b\"it's\\n\\x00\"");
        // Checked against python3: repr(b"it's 16 bytes!!!"), and bytes
        // holding both quotes, or only a double one.
        assert_eq!(py_bytes(b"it's 16 bytes!!!"), r#"b"it's 16 bytes!!!""#);
        assert_eq!(py_bytes(b"a\"b'c\\"), r#"b'a"b\'c\\'"#);
        assert_eq!(py_bytes(b"a\"b"), r#"b'a"b'"#);
        assert_eq!(py_bytes(b"\x7f\x80"), r"b'\x7f\x80'");
    }
}
