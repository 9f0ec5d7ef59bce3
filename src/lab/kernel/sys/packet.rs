//! The `unsafe` calls of a packet socket's receive ring (`packet(7)`):
//! `PACKET_RX_RING` with `TPACKET_V2` frames, mapped into this process, on
//! Linux; stubs that return `Unsupported` elsewhere. `lab::capture` gives
//! it its meaning.

/// One frame of the ring, borrowed until the next one is read.
pub struct RawFrame<'a> {
    /// When the kernel saw it, seconds (`CLOCK_REALTIME`).
    pub sec: u32,
    /// The nanoseconds of that second.
    pub nsec: u32,
    /// Its length on the wire, in bytes; `data` holds at most the snap.
    pub len: u32,
    /// Whether it was leaving the interface (`PACKET_OUTGOING`).
    pub outgoing: bool,
    /// Its first bytes, from the link-layer header on.
    pub data: &'a [u8],
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::*;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use other::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::mem::size_of;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicU32, Ordering};

    use nix::libc;

    use super::RawFrame;

    /// Where a slot's `sockaddr_ll` starts: after the header, aligned to
    /// `TPACKET_ALIGNMENT` (16).
    const LL_OFFSET: usize = (size_of::<libc::tpacket2_hdr>() + 15) & !15;

    /// A packet socket's receive ring, mapped into this process: the
    /// kernel copies the first bytes of each frame into the next free slot,
    /// and a slot is ours to read until we hand it back.
    pub struct PacketRing {
        fd: OwnedFd,
        map: *mut u8,
        len: usize,
        frame_size: usize,
        frames: usize,
        next: usize,
    }

    // SAFETY: the mapping belongs to this value alone, and its slots are
    // read and handed back only through `&mut self`.
    unsafe impl Send for PacketRing {}

    fn setopt<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: the pointer and length describe `value`, the int or
        // struct the kernel reads for this option.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn packet_socket() -> io::Result<OwnedFd> {
        let kind = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        // SAFETY: plain socket(2), protocol 0: it receives nothing yet.
        let fd = unsafe { libc::socket(libc::AF_PACKET, kind, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    impl PacketRing {
        pub fn new(
            fd: OwnedFd,
            ifindex: u32,
            ignore_outgoing: bool,
            frame_size: u32,
            frames: u32,
        ) -> io::Result<(PacketRing, bool)> {
            let v2 = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
            setopt(&fd, libc::PACKET_VERSION, &v2)?;
            let ignored = ignore_outgoing
                && setopt(&fd, libc::PACKET_IGNORE_OUTGOING, &1i32).is_ok();
            // One page per block: the kernel allocates each block as one
            // run of pages, and a larger run may wait for compaction.
            // SAFETY: sysconf(3) reads a constant.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let block = u32::try_from(page).unwrap_or(4096).max(frame_size);
            let req = libc::tpacket_req {
                tp_block_size: block,
                tp_block_nr: frames * frame_size / block,
                tp_frame_size: frame_size,
                tp_frame_nr: frames,
            };
            setopt(&fd, libc::PACKET_RX_RING, &req)?;
            let len = (frames * frame_size) as usize;
            // SAFETY: a new shared mapping of the ring the kernel just made
            // for this socket, `len` bytes; unmapped once, in Drop.
            let map = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if map == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ring = PacketRing {
                fd,
                map: map.cast(),
                len,
                frame_size: frame_size as usize,
                frames: frames as usize,
                next: 0,
            };
            // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
            let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            at.sll_family = libc::AF_PACKET as u16;
            at.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            at.sll_ifindex = ifindex as i32;
            // SAFETY: the pointer and length describe `at`.
            let rc = unsafe {
                libc::bind(
                    ring.fd.as_raw_fd(),
                    (&at as *const libc::sockaddr_ll).cast(),
                    size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((ring, ignored))
        }

        pub fn fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }

        pub fn drain(
            &mut self,
            max: usize,
            mut each: impl FnMut(RawFrame<'_>),
        ) -> usize {
            let mut n = 0;
            while n < max {
                // SAFETY: `next < frames`, so the slot lies inside the
                // mapping; tp_status is its first field, an aligned u32
                // that the kernel and we share, so read atomically.
                let slot = unsafe { self.map.add(self.next * self.frame_size) };
                let status = unsafe { AtomicU32::from_ptr(slot.cast()) };
                if status.load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                    break;
                }
                // SAFETY: the kernel handed this slot over: its header and
                // the bytes it points to stay as they are until we set
                // TP_STATUS_KERNEL.
                let (hdr, pkttype) = unsafe {
                    let hdr = std::ptr::read(slot.cast::<libc::tpacket2_hdr>());
                    let ll = slot.add(LL_OFFSET).cast::<libc::sockaddr_ll>();
                    (hdr, std::ptr::read(ll).sll_pkttype)
                };
                let (mac, snap) =
                    (hdr.tp_mac as usize, hdr.tp_snaplen as usize);
                if mac + snap <= self.frame_size {
                    // SAFETY: as above; the range lies inside the slot.
                    let data = unsafe {
                        std::slice::from_raw_parts(slot.add(mac), snap)
                    };
                    each(RawFrame {
                        sec: hdr.tp_sec,
                        nsec: hdr.tp_nsec,
                        len: hdr.tp_len,
                        outgoing: pkttype == libc::PACKET_OUTGOING,
                        data,
                    });
                }
                status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
                self.next = (self.next + 1) % self.frames;
                n += 1;
            }
            n
        }

        pub fn statistics(&self) -> io::Result<(u32, u32)> {
            // SAFETY: tpacket_stats is plain old data.
            let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
            let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
            // SAFETY: the pointer and length describe `st`.
            let rc = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_STATISTICS,
                    (&mut st as *mut libc::tpacket_stats).cast(),
                    &mut len,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((st.tp_packets, st.tp_drops))
        }
    }

    impl Drop for PacketRing {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.map.cast(), self.len) };
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod other {
    use std::io;
    use std::os::fd::{BorrowedFd, OwnedFd};

    use super::RawFrame;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "packet sockets (packet(7)) are Linux's",
        )
    }

    /// Never made on this system.
    pub struct PacketRing(std::convert::Infallible);

    pub fn packet_socket() -> io::Result<OwnedFd> {
        Err(unsupported())
    }

    impl PacketRing {
        pub fn new(
            _fd: OwnedFd,
            _ifindex: u32,
            _ignore_outgoing: bool,
            _frame_size: u32,
            _frames: u32,
        ) -> io::Result<(PacketRing, bool)> {
            Err(unsupported())
        }

        pub fn fd(&self) -> BorrowedFd<'_> {
            match self.0 {}
        }

        pub fn drain(
            &mut self,
            _: usize,
            _: impl FnMut(RawFrame<'_>),
        ) -> usize {
            match self.0 {}
        }

        pub fn statistics(&self) -> io::Result<(u32, u32)> {
            match self.0 {}
        }
    }
}
