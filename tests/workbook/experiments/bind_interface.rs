//! Experiment 07 `bind-interface`: every cell of the loopback table, every
//! cell on two hosts made of network namespaces (as root and as an
//! unprivileged user), the skip path where namespaces are forbidden, that
//! nothing the run made outlives it, that only the experiment itself can
//! start its namespace helper, and the manual roles.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use tcp_workbook::experiments::bind_interface::{Cell, Observed};
use tcp_workbook::lab::report::Report;

use crate::{Background, bin, cmd, port_in, report};

fn ip(a: Option<SocketAddr>) -> Option<IpAddr> {
    a.map(|a| a.ip())
}

/// Asserts one cell: refused with `errno`, or (`None`) connected, with the
/// server's connected socket named `name` and its peer at `peer`.
fn assert_cell(c: &Cell, errno: Option<(&str, i32)>, name: &str, peer: &str) {
    match errno {
        Some((e, n)) => {
            assert!(!c.connected, "{c:?}");
            let got = c.errno.as_ref().expect("an errno");
            assert_eq!((got.name.as_str(), got.number), (e, n), "{c:?}");
            assert_eq!((c.server_name, c.server_peer), (None, None), "{c:?}");
        }
        None => {
            assert!(c.connected && c.errno.is_none(), "{c:?}");
            assert_eq!(ip(c.server_name), Some(name.parse().unwrap()), "{c:?}");
            assert_eq!(ip(c.server_peer), Some(peer.parse().unwrap()), "{c:?}");
            assert_eq!(c.server_name.unwrap().port(), c.bound.port());
        }
    }
}

const REFUSED: Option<(&str, i32)> = Some(("ECONNREFUSED", 111));

/// On one host, a server bound to 127.0.0.1 is refused to a client that
/// comes by 127.0.0.2; bound to "" it is reached by both, and a client
/// that came by 127.0.0.2 finds the server's socket named 127.0.0.2.
#[test]
fn loopback_server_on_127_0_0_1_is_refused_by_another_address() {
    let out = cmd("bind-interface")
        .args(["--json", "--loopback-only"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!(r.observed, "bound_only");
    let c = &r.measurements.loopback;
    assert_eq!(c.len(), 4);
    assert_cell(&c[0], None, "127.0.0.1", "127.0.0.1");
    assert_cell(&c[1], REFUSED, "", "");
    assert_cell(&c[2], None, "127.0.0.1", "127.0.0.1");
    assert_cell(&c[3], None, "127.0.0.2", "127.0.0.1");
    assert!(c[0].bound.ip().is_loopback() && c[2].bound.ip().is_unspecified());
    assert!(!r.measurements.two_hosts.ran);
    assert!(r.measurements.two_hosts.cells.is_empty());
}

/// Checks the six two-host cells of a report whose part ran, and that the
/// helper process is gone and no veth reached the host's interfaces.
fn assert_two_hosts(r: &Report<Observed>) {
    let o = &r.measurements.two_hosts;
    assert!(o.ran && o.skipped.is_none(), "{o:?}");
    let c = &o.cells;
    assert_eq!(c.len(), 6);
    assert!(c.iter().all(|c| c.bound.port() == 1060), "{c:?}");
    assert_cell(&c[0], None, "127.0.0.1", "127.0.0.1"); // bound 127.0.0.1
    assert_cell(&c[1], REFUSED, "", "");
    assert_cell(&c[2], None, "127.0.0.1", "127.0.0.1"); // bound ""
    assert_cell(&c[3], None, "10.200.0.1", "10.200.0.2");
    assert_cell(&c[4], REFUSED, "", ""); // bound 10.200.0.1
    assert_cell(&c[5], None, "10.200.0.1", "10.200.0.2");
    let pid = o.helper_pid.expect("the helper's pid");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the namespace helper {pid} outlived the experiment"
    );
    for veth in ["va", "vb"] {
        let here = nix::net::if_::if_nametoindex(veth);
        assert!(here.is_err(), "the veth {veth} reached the host: {here:?}");
    }
}

/// On two hosts, as the book says: bound to 127.0.0.1, host B is refused;
/// bound to "", B connects and A sees B's address; bound to A's own
/// address, B connects and A's 127.0.0.1 is refused. The helper, its
/// namespaces and the veth are gone afterwards. Where namespaces are not
/// permitted, the report says why, and the loopback part still decides.
#[test]
fn two_hosts_server_on_127_0_0_1_is_refused_to_the_other_host() {
    let out = cmd("bind-interface").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!(r.observed, "bound_only");
    match &r.measurements.two_hosts.skipped {
        None => assert_two_hosts(&r),
        Some(s) => {
            eprintln!("namespaces are not permitted here: {s:?}");
            assert!(!s.reason.is_empty() && !s.enable.is_empty(), "{s:?}");
        }
    }
}

/// As uid 65534 (when the test runs as root), the experiment builds the
/// two hosts inside a user namespace of its own, with the same cells.
#[test]
fn two_hosts_work_for_an_unprivileged_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: cannot switch to uid 65534; skipped");
        return;
    }
    let dir = tempdir();
    let copy = dir.join("bind-interface");
    std::fs::copy(bin("bind-interface"), &copy).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&copy)
        .arg("--json")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_two_hosts(&report::<Observed>(&out.stdout));
}

/// A directory under /tmp that uid 65534 can read.
fn tempdir() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir()
        .join(format!("tcp-workbook-07-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mode = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(&dir, mode).unwrap();
    dir
}

/// Where the kernel refuses a new network namespace (here: a user
/// namespace whose limit is set to 0), the two-host part is skipped with
/// the errno and the command to enable it; the verdict still holds.
#[test]
fn two_hosts_are_skipped_with_the_reason_where_forbidden() {
    let script =
        "echo 0 > /proc/sys/user/max_net_namespaces && exec \"$0\" --json";
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", script])
        .arg(bin("bind-interface"))
        .output();
    let out = match out {
        Ok(out) if out.status.code() != Some(1) || !out.stdout.is_empty() => {
            out
        }
        _ => {
            eprintln!("no user namespaces here: the default run is the test");
            cmd("bind-interface").arg("--json").output().unwrap()
        }
    };
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("bound_only", true));
    let o = r.measurements.two_hosts;
    assert!(!o.ran && o.cells.is_empty() && o.helper_pid.is_none());
    let s = o.skipped.expect("a reason to skip");
    let errno = s.errno.clone().expect("an errno");
    assert_eq!((errno.name.as_str(), errno.number), ("ENOSPC", 28), "{s:?}");
    assert!(s.reason.starts_with("unshare("), "{s:?}");
    assert!(s.enable.contains("max_net_namespaces"), "{s:?}");
}

/// The manual roles, as in the book: a server bound to "" is reached by
/// way of 127.0.0.2, and names its connected socket 127.0.0.2.
#[test]
fn manual_server_on_all_interfaces_is_reached_by_another_address() {
    let server = Background::start(
        "bind-interface",
        &[
            "server",
            "",
            "-p",
            "0",
            "--once",
            "--accept-timeout-ms",
            "10000",
        ],
    );
    let first = server.next_line();
    assert!(first.starts_with("Listening at ('0.0.0.0', "), "{first}");
    let port = port_in(&first).to_string();
    let out = cmd("bind-interface")
        .args(["client", "127.0.0.2", "-p", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let accepted = server.next_line();
    assert!(
        accepted
            .starts_with("We have accepted a connection from ('127.0.0.1', ")
    );
    assert_eq!(
        server.next_line(),
        format!("  Socket name: ('127.0.0.2', {port})")
    );
}

/// A manual server bound to 127.0.0.1 is refused to a client that comes
/// by 127.0.0.2: one line naming ECONNREFUSED, exit 2.
#[test]
fn manual_server_on_127_0_0_1_is_refused_by_another_address() {
    let (_server, port) = Background::server("bind-interface");
    let out = cmd("bind-interface")
        .args(["client", "127.0.0.2", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ECONNREFUSED (os error 111"), "{err}");
}

/// The namespace helper is started by the experiment itself, never by
/// hand: `__netns-helper 1` typed at a shell (1 is not our parent, and
/// fd 0 is no socket pair) prints one line naming the mistake, with a
/// hint, and exits 2, for an experiment's binary and for the runner.
#[test]
fn a_hand_typed_netns_helper_is_refused_in_one_line() {
    for name in ["bind-interface", "workbook"] {
        let out = cmd(name).args(["__netns-helper", "1"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(out.stdout.is_empty(), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err,
            format!(
                "error: __netns-helper is started by the workbook itself, \
                 not by hand; hint: run `{name}` without it\n"
            ),
            "{name}"
        );
    }
}

/// The environment no longer makes a helper: with the variable that used
/// to (`TCP_WORKBOOK_NETNS_HELPER`, set to this test's own pid, the
/// parent it would have checked), the binary runs its experiment as usual.
#[test]
fn the_old_helper_variable_does_nothing() {
    let out = cmd("bind-interface")
        .args(["--json", "--loopback-only"])
        .env("TCP_WORKBOOK_NETNS_HELPER", std::process::id().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = report::<Observed>(&out.stdout);
    assert_eq!((r.observed.as_str(), r.matched), ("bound_only", true));
    assert_eq!(r.measurements.loopback.len(), 4);
}
