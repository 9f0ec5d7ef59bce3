//! The few `rtnetlink(7)` requests that wire two network namespaces
//! together, sent in-process on a `NETLINK_ROUTE` socket: what iproute2's
//! `ip link` and `ip addr` send, without running `ip`.
//!
//! A netlink socket talks to the network namespace it was created in, as a
//! TCP socket does: the helper opens one in host A and one in host B.
//! Every request asks for an acknowledgement (`NLM_F_ACK`), and the kernel
//! answers each with an `NLMSG_ERROR` message whose error is 0 (done) or a
//! negative errno (refused). A read waits at most the socket's
//! `SO_RCVTIMEO`, so a kernel that never answers cannot hang the helper.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkBuffer,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// A `NETLINK_ROUTE` socket in one network namespace, with a deadline on
/// every answer.
pub(super) struct Netlink {
    sock: Socket,
    seq: u32,
    timeout: Duration,
}

impl Netlink {
    /// Opens a `NETLINK_ROUTE` socket in the current network namespace,
    /// with `SO_RCVTIMEO` set to `timeout`.
    pub(super) fn open(timeout: Duration) -> Result<Self, String> {
        let fail = |what: &str, e: io::Error| {
            format!("netlink: {what}: {}", errno(&e))
        };
        let mut sock =
            Socket::new(NETLINK_ROUTE).map_err(|e| fail("socket", e))?;
        sock.bind_auto().map_err(|e| fail("bind", e))?;
        sock.connect(&SocketAddr::new(0, 0)) // the kernel
            .map_err(|e| fail("connect", e))?;
        socket2::SockRef::from(&sock)
            .set_read_timeout(Some(timeout))
            .map_err(|e| fail("setsockopt SO_RCVTIMEO", e))?;
        Ok(Netlink {
            sock,
            seq: 0,
            timeout,
        })
    }

    /// `ip link set dev INDEX up`: sets `IFF_UP` on the interface `index`
    /// (`RTM_SETLINK`).
    pub(super) fn set_up(
        &mut self,
        op: &str,
        index: u32,
    ) -> Result<(), String> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.request(op, RouteNetlinkMessage::SetLink(link), 0)
    }

    /// `ip link add NAME index INDEX type veth peer name PEER netns FD`: a
    /// veth pair whose end `name` (number `index`) stays here and whose
    /// end `peer` goes to the namespace `peer_ns` (`IFLA_NET_NS_FD`), in
    /// one `RTM_NEWLINK`.
    pub(super) fn add_veth(
        &mut self,
        op: &str,
        (name, index): (&str, u32),
        peer: &str,
        peer_ns: BorrowedFd<'_>,
    ) -> Result<(), String> {
        let mut far = LinkMessage::default();
        far.attributes = vec![
            LinkAttribute::IfName(peer.into()),
            LinkAttribute::NetNsFd(peer_ns.as_raw_fd()),
        ];
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(far))),
            ]),
        ];
        let create = NLM_F_CREATE | NLM_F_EXCL;
        self.request(op, RouteNetlinkMessage::NewLink(link), create)
    }

    /// `ip addr add ADDR/PREFIX dev INDEX` (`RTM_NEWADDR`).
    pub(super) fn add_address(
        &mut self,
        op: &str,
        index: u32,
        (addr, prefix): (Ipv4Addr, u8),
    ) -> Result<(), String> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes = vec![
            AddressAttribute::Local(addr.into()),
            AddressAttribute::Address(addr.into()),
        ];
        let create = NLM_F_CREATE | NLM_F_EXCL;
        self.request(op, RouteNetlinkMessage::NewAddress(msg), create)
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and waits for
    /// its `NLMSG_ERROR`: 0 is done, a negative errno is the refusal.
    ///
    /// # Errors
    /// One line naming the operation: `netlink: add veth vb/va: EEXIST (os
    /// error 17: File exists)`, or no answer within the deadline.
    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), String> {
        let fail = |what: String| format!("netlink: {op}: {what}");
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0).map_err(|e| fail(errno(&e)))?;
        let end = Instant::now() + self.timeout;
        let mut buf = Vec::with_capacity(16 * 1024);
        while Instant::now() < end {
            buf.clear();
            match self.sock.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(fail(errno(&e))),
            }
            // One datagram may hold several messages: find our answer.
            let mut at = 0;
            while let Ok(one) = NetlinkBuffer::new_checked(&buf[at..]) {
                let len = one.length() as usize;
                let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(
                    &buf[at..],
                );
                if let Ok(reply) = parsed {
                    let ours = reply.header.sequence_number == self.seq;
                    if let (true, NetlinkPayload::Error(e)) =
                        (ours, reply.payload)
                    {
                        return match e.code {
                            None => Ok(()),
                            Some(_) => Err(fail(errno(&e.to_io()))),
                        };
                    }
                }
                at += (len + 3) & !3; // NLMSG_ALIGN
                if len == 0 || at >= buf.len() {
                    break;
                }
            }
        }
        Err(fail(format!(
            "no answer within {} ms (SO_RCVTIMEO)",
            self.timeout.as_millis()
        )))
    }
}

/// `EEXIST (os error 17: File exists)`: the errno by name, then the text.
pub(super) fn errno(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let errno = nix::errno::Errno::from_raw(n);
            format!("{errno:?} (os error {n}: {})", errno.desc())
        }
        None => e.to_string(),
    }
}
