//! Experiment 05 `bind-port`: what `bind()` claims, read from the typed
//! report, and the manual server role against sockets of the test's own.
//! Every port is one the kernel picked; nothing here binds a fixed port.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tcp_workbook::experiments::bind_port::Observed;
use tcp_workbook::lab::report::{Errno, Report};

use crate::{Background, cmd, port_in, report};

fn errno(name: &str, number: i32) -> Option<Errno> {
    Some(Errno {
        name: name.into(),
        number,
    })
}

/// The default run's report (exit 0 as the book predicts, 1 if not).
fn default_run() -> Report<Observed> {
    let out = cmd("bind-port").arg("--json").output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    report::<Observed>(&out.stdout)
}

/// The default run ends with the book's outcome, and exits 0.
#[test]
fn default_run_matches_the_book() {
    let r = default_run();
    assert_eq!((r.observed.as_str(), r.matched), ("port_claimed", true));
}

/// A port held by a listener on 127.0.0.1 cannot be bound again there or
/// on 0.0.0.0 (EADDRINUSE), but 127.0.0.2 with the same port is free: the
/// claim is on the address and the port together.
#[test]
fn a_listeners_port_is_refused_on_its_address_and_free_on_another() {
    let o = default_run().measurements;
    assert_ne!(o.port, 0);
    assert_eq!(o.same_address_errno, errno("EADDRINUSE", 98));
    assert_eq!(o.all_interfaces_errno, errno("EADDRINUSE", 98));
    assert_eq!(o.other_address_errno, None, "127.0.0.2 is free");
}

/// Port 0 gets a port from ip_local_port_range, as the kernel reports it.
#[test]
fn port_zero_gets_a_port_from_the_local_range() {
    let o = default_run().measurements;
    let [low, high] = o.local_port_range.expect("Linux has the range");
    assert!(
        (low..=high).contains(&o.port_zero_got),
        "{} not in {low}-{high}",
        o.port_zero_got
    );
}

/// Below ip_unprivileged_port_start an ordinary user gets EACCES (13); run
/// as root, the experiment shows it from a child that dropped to uid 65534,
/// and root's own bind works.
#[test]
fn an_ordinary_user_gets_eacces_below_the_privileged_limit() {
    let p = default_run().measurements.privileged;
    if let Some(why) = &p.skipped {
        eprintln!("skipped on this machine: {why}");
        return;
    }
    let start = p.unprivileged_port_start.expect("read, as not skipped");
    assert_eq!(p.port, Some(start - 1));
    assert_eq!(p.errno, errno("EACCES", 13));
    let uid = nix::unistd::geteuid();
    assert_eq!(p.root_tried, uid.is_root());
    if uid.is_root() {
        assert_eq!(p.uid, Some(65534), "a child dropped to nobody");
        assert_eq!(p.root_errno, None, "root itself may bind it");
    } else {
        assert_eq!(p.uid, Some(uid.as_raw()));
    }
}

/// The manual server on a port another listener holds exits 2 naming
/// EADDRINUSE; on 127.0.0.2 the same port is free and it serves a client.
#[test]
fn manual_server_clashes_on_the_same_address_only() {
    // A listener without SO_REUSEADDR (std's TcpListener would set it).
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    holder
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    holder.listen(1).unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let p = port.to_string();
    let out = cmd("bind-port")
        .args(["server", "127.0.0.1", "-p", &p, "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("EADDRINUSE (os error 98"), "{err}");

    let args = ["server", "127.0.0.2", "-p", &p, "--once"];
    let mut server = Background::start("bind-port", &args);
    let first = server.next_line();
    assert!(first.starts_with("Listening at ('127.0.0.2'"), "{first}");
    assert_eq!(port_in(&first), port);
    let to = SocketAddr::from(([127, 0, 0, 2], port));
    let _c = TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
    assert_eq!(server.wait_code(), 0);
    drop(holder);
}

/// Bad arguments are a usage error: exit 2, no panic.
#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["server", "-p", "70000"][..],
        &["client", "127.0.0.1"],
        &["--nonsense"],
        &["server", "nosuch.invalid"],
    ] {
        let out = cmd("bind-port").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}
