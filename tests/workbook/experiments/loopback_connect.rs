//! Experiment 11's checks.

use crate::cmd;

/// The default run connects before any accept().
#[test]
fn connect_returns_before_accept() {
    let out = cmd("loopback-connect").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
