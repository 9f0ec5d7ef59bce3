//! The checks of 07 `bind-interface`: a reader's server that a client on
//! another machine can reach, because it binds `""` (every interface)
//! rather than `127.0.0.1`. FOPNP 3rd ed., ch. 3, "Binding to
//! Interfaces", p. 47-48.
//!
//! The program runs inside host A of [`TwoHosts`] (two network
//! namespaces joined by a veth: A is 10.200.0.1, B is 10.200.0.2),
//! entered before it starts ([`crate::lab::netns::join`]). Our client is
//! the book's, on a socket made inside host B, connecting to 10.200.0.1.
//! The address the program bound is read from host A's socket table
//! (`/proc/PID/net/tcp` of a process that lives there), never from what
//! it prints. Where the system forbids network namespaces, the check is
//! skipped, saying why.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::experiments::bind_interface;
use crate::experiments::sixteen::HELLO;
use crate::lab::kernel::proc_net_tcp::tcp_rows_of;
use crate::lab::kernel::tcp_info::TcpState;
use crate::lab::netns::join::Join;
use crate::lab::netns::{HOST_A, HOST_B, Host, TwoHosts};
use crate::lab::report::Errno;
use crate::lab::stranger;
use crate::workbook::check::hostile::reply_then_end;
use crate::workbook::check::suite::{Check, Role, Suite};
use crate::workbook::check::trial::{Checked, Failed, Trial, fail};

/// How often host A's table is read while the program starts, in ms.
const POLL: Duration = Duration::from_millis(3);

/// 07's suite: the program as a server.
pub static SUITES: &[Suite] = &[Suite {
    number: 7,
    role: Role::Server,
    flood_bytes: stranger::FLOOD_BYTES,
    checks: &[Check {
        name: "reachable-from-another-host",
        does: "runs the program inside host A (10.200.0.1) of two network \
               namespaces joined by a veth; the book's client on host B \
               (10.200.0.2) connects to 10.200.0.1 and sends its sixteen \
               octets: the reply must be b'Farewell, client'. The address \
               it bound is read from host A's socket table. The program is \
               given {port} only: the interface is its own choice",
        points: 1,
        run: reachable_from_host_b,
    }],
}];

fn reachable_from_host_b(t: &mut Trial) -> Checked {
    let hosts = match TwoHosts::build(t.timeout()) {
        Ok(Ok(hosts)) => hosts,
        Ok(Err(s)) => {
            let errno = s.errno.map_or(String::new(), |e| format!(": {e}"));
            return t.skip(format!(
                "no second host here ({}{errno}); hint: {}",
                s.reason, s.enable
            ));
        }
        Err(e) => return fail(format!("{e:#}")),
    };
    // The helper is not a watched child of the guard: it runs with the
    // guard's signals blocked, so on Ctrl-C it would wait out a SIGTERM;
    // as an orphan it gets SIGKILL at once. Nothing stops the program
    // (which would collect orphans) while the hosts live.
    in_host_a(t, &hosts)
} // drop(hosts): the helper exits; host A ends with the program

/// The check proper, once the hosts are built.
fn in_host_a(t: &mut Trial, hosts: &TwoHosts) -> Checked {
    let join = Join::of(hosts.helper_pid())
        .map_err(|e| Failed(format!("open host A's namespaces: {e}")))?;
    // With --pcap, the link between the hosts is recorded too, on host
    // A's end: the program's segments to host B never cross our loopback.
    let link = t.wire().why_not().is_none().then(|| {
        hosts
            .packet_socket()
            .map_err(|e| e.to_string())
            .and_then(|(fd, i)| t.wire().add_link(fd, i))
    });
    let link = link.and_then(Result::ok);
    let checked = in_host_a_linked(t, hosts, join);
    if let Some(id) = link {
        t.wire().remove_link(id);
    }
    checked
}

/// [`in_host_a`], once the link is recorded (or not).
fn in_host_a_linked(t: &mut Trial, hosts: &TwoHosts, join: Join) -> Checked {
    t.start_in(join)?;
    let bound = listening_in(t, hosts.helper_pid())?;
    t.note("bound", format!("{bound} (host A's socket table)"));
    let to = SocketAddr::from((HOST_A, t.port()));
    let sock = hosts.socket(Host::B)?;
    crate::lab::deadline::set_timeouts(&sock, t.timeout())?;
    match bind_interface::client(&sock, to, t.timeout()) {
        Ok(name) => t.note("client_on_host_b", name),
        Err(e) => {
            let errno = Errno::of(&e).map_or(e.to_string(), |e| e.name);
            t.note("from_host_b", format!("connect to {to}: {errno}"));
            t.still_running()?;
            if bound.ip().is_loopback() {
                return fail(format!(
                    "bound {bound}, which only host A itself can reach: \
                     the book's client on host B ({HOST_B}) connecting to \
                     {to} is refused ({errno}); bind to \"\" (every \
                     interface) instead"
                ));
            }
            return fail(format!(
                "listens on {bound}, yet the book's client on host B \
                 connecting to {to} got {errno}"
            ));
        }
    }
    let mut conn = TcpStream::from(sock);
    if let Err(e) = conn.write_all(HELLO) {
        return Err(t.our_call_failed("send from host B", &e.into()));
    }
    reply_then_end(t, &conn)
}

/// Waits until host A's table (that of process `pid`, which lives there)
/// shows the program listening on `{port}`, and returns the address it
/// bound.
///
/// # Errors
/// It exits first, listens on another port, or not within the start
/// deadline.
fn listening_in(t: &mut Trial, pid: u32) -> Result<SocketAddr, Failed> {
    let port = t.port();
    let end = Instant::now() + t.start_within();
    loop {
        t.still_running().map_err(|Failed(why)| {
            Failed(format!("{why}, before it listened on port {port}"))
        })?;
        let rows = tcp_rows_of(pid, |r| r.is(TcpState::Listen))
            .map_err(|e| Failed(format!("read host A's socket table: {e}")))?;
        if let Some(r) = rows.iter().find(|r| r.local.port() == port) {
            return Ok(r.local);
        }
        if let Some(r) = rows.first() {
            t.note("listening", r.local);
            return fail(format!(
                "listens on {}, not on port {port} ({{port}}, PORT)",
                r.local
            ));
        }
        if Instant::now() >= end {
            let ms = t.start_within().as_millis();
            return fail(format!(
                "never listened: no socket on port {port} within {ms} ms"
            ));
        }
        std::thread::sleep(POLL);
    }
}
