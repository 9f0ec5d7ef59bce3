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

/// One setting of the run's network namespace that a chapter's numbers
/// depend on, as the run had it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Sysctl {
    /// Its name, `net.core.somaxconn`.
    pub name: String,
    /// Its value during the run, as `/proc/sys` shows it (tabs as spaces).
    pub value: String,
    /// True if the run wrote it (its private namespace's own copy); false
    /// if it is the host's, as the namespace inherited it or the host has it.
    pub pinned: bool,
}

/// The settings a private run pins, each to Linux's documented default
/// (Documentation/networking/ip-sysctl.rst), and why a chapter needs it.
/// Each is per network namespace and writable there by its owner, as
/// measured on Linux 6.18 (as root, and as uid 65534 holding its user
/// namespace's capabilities): writing one changes only the run's own
/// namespace. (`net.core.rmem_max` and `wmem_max` are not writable there,
/// and are never written.)
pub const PINNED: &[(&str, &str)] = &[
    ("net.core.somaxconn", "4096"), // 09: the cap on a backlog
    ("net.ipv4.tcp_syncookies", "1"), // 09: what a full queue does to a SYN
    ("net.ipv4.tcp_syn_retries", "6"), // 08, 09: SYNs sent before giving up
    ("net.ipv4.tcp_syn_linear_timeouts", "4"), // 09: the first retries 1 s apart
    ("net.ipv4.tcp_rto_min_us", "200000"),     // 10: Linux's RTO floor
    ("net.ipv4.tcp_rmem", "4096 131072 6291456"), // 02, 10: receive buffers
    ("net.ipv4.tcp_wmem", "4096 16384 4194304"), // 03, 10: send buffers
    ("net.ipv4.tcp_timestamps", "1"),          // every trace: the options sent
    ("net.ipv4.tcp_window_scaling", "1"),      // every trace: the windows
    ("net.ipv4.tcp_sack", "1"),
    ("net.ipv4.tcp_ecn", "2"), // no ECE|CWR on a SYN
    ("net.ipv4.tcp_autocorking", "1"), // 10: how small writes are merged
    ("net.ipv4.ip_local_port_range", "32768 60999"), // 05: the ports bind(0) picks
];

/// The file of sysctl `name`: `/proc/sys/net/core/somaxconn`.
fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Reads sysctl `name` (whitespace as single spaces); `None` where this
/// kernel has no such setting or it cannot be read.
pub fn read_sysctl(name: &str) -> Option<String> {
    let text = std::fs::read_to_string(sysctl_path(name)).ok()?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The run's [`PINNED`] settings: written, where `private` (the process is
/// in a network namespace of its own, and still holds its capabilities)
/// and the name is not in `keep_host`; read back either way. A setting
/// this kernel lacks is left out; one it refuses is the host's. Never
/// writes anything unless `private`.
pub fn pin(private: bool, keep_host: &[&str]) -> Vec<Sysctl> {
    let mut all = vec![];
    for &(name, value) in PINNED {
        let Some(before) = read_sysctl(name) else {
            continue;
        };
        let write = private && !keep_host.contains(&name) && before != value;
        if write {
            let _ = std::fs::write(sysctl_path(name), value);
        }
        let now = read_sysctl(name).unwrap_or(before);
        let pinned = private && !keep_host.contains(&name) && now == value;
        all.push(Sysctl {
            name: name.into(),
            value: now,
            pinned,
        });
    }
    all
}
