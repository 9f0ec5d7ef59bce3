//! Every `unsafe` call of the kernel's view and of the process's signal
//! mask, in one place: the Linux implementation, and stubs that return
//! `Unsupported` elsewhere.

pub(crate) mod packet;

/// The fields of `struct tcp_info` the workbook reads, as the kernel gave
/// them (`include/uapi/linux/tcp.h`); `tcp_info.rs` and `listen.rs` give
/// them their meaning.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawTcpInfo {
    /// `tcpi_state`.
    pub state: u8,
    /// `tcpi_snd_wnd`; `None` where the kernel's struct is too short.
    pub snd_wnd: Option<u32>,
    /// `tcpi_probes`.
    pub probes: u8,
    /// `tcpi_backoff`.
    pub backoff: u8,
    /// `tcpi_rto`, in µs.
    pub rto: u32,
    /// `tcpi_snd_mss`, in bytes.
    pub snd_mss: u32,
    /// `tcpi_total_retrans`.
    pub total_retrans: u32,
    /// `tcpi_unacked`: on a listener, its accept queue's length.
    pub unacked: u32,
    /// `tcpi_sacked`: on a listener, its backlog.
    pub sacked: u32,
}

/// `setgroups(0, NULL)`: no supplementary groups (nix wraps it everywhere
/// but on Apple's systems).
#[cfg(target_vendor = "apple")]
pub(crate) fn setgroups_none() -> nix::Result<()> {
    // SAFETY: a count of 0 with a null list reads no memory.
    let rc = unsafe { nix::libc::setgroups(0, std::ptr::null()) };
    nix::errno::Errno::result(rc).map(drop)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::*;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use other::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::mem::{offset_of, size_of};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::libc;

    use crate::lab::kernel::sys::RawTcpInfo;

    pub(crate) enum Queue {
        Send,
        Recv,
    }

    nix::ioctl_read_bad!(siocoutq, libc::TIOCOUTQ, libc::c_int);
    nix::ioctl_read_bad!(siocinq, libc::FIONREAD, libc::c_int);

    pub fn queue(sock: &impl AsFd, which: Queue) -> io::Result<u32> {
        let fd = sock.as_fd().as_raw_fd();
        let mut n: libc::c_int = 0;
        // SAFETY: `fd` is a valid open descriptor borrowed for this call, and
        // both ioctls write one c_int through the pointer.
        unsafe {
            match which {
                Queue::Send => siocoutq(fd, &mut n),
                Queue::Recv => siocinq(fd, &mut n),
            }
        }?;
        Ok(n as u32)
    }

    fn raw_tcp_info(sock: &impl AsFd) -> io::Result<(libc::tcp_info, usize)> {
        let fd = sock.as_fd().as_raw_fd();
        // SAFETY: tcp_info is plain old data; all-zero is a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `info`; the kernel writes
        // at most `len` bytes and returns how many it wrote in `len`.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((info, len as usize))
    }

    pub fn tcp_info(sock: &impl AsFd) -> io::Result<RawTcpInfo> {
        let (info, len) = raw_tcp_info(sock)?;
        // An older kernel fills a shorter struct: a field it did not write
        // is unknown, not zero.
        let has = |offset: usize| offset + size_of::<u32>() <= len;
        Ok(RawTcpInfo {
            state: info.tcpi_state,
            snd_wnd: has(offset_of!(libc::tcp_info, tcpi_snd_wnd))
                .then_some(info.tcpi_snd_wnd),
            probes: info.tcpi_probes,
            backoff: info.tcpi_backoff,
            rto: info.tcpi_rto,
            snd_mss: info.tcpi_snd_mss,
            total_retrans: info.tcpi_total_retrans,
            unacked: info.tcpi_unacked,
            sacked: info.tcpi_sacked,
        })
    }

    /// `TCP_RTO_MIN_US` in Linux's `include/uapi/linux/tcp.h`; the libc
    /// crate does not name it yet.
    const TCP_RTO_MIN_US: libc::c_int = 45;

    pub fn set_rto_min(sock: &impl AsFd, us: u32) -> io::Result<()> {
        let value = libc::c_int::try_from(us)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the pointer and length describe `value`, an int, which
        // is what the kernel reads for this option.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_RTO_MIN_US,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn rto_min_us(sock: &impl AsFd) -> io::Result<u32> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the pointer and length describe `value`; the kernel
        // writes at most `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_RTO_MIN_US,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value as u32)
    }

    pub fn sigpipe_raised<R>(call: impl FnOnce() -> R) -> (R, Option<bool>) {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        let pipe = SigSet::from(Signal::SIGPIPE);
        let mut old = SigSet::empty();
        if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), Some(&mut old))
            .is_err()
        {
            return (call(), None);
        }
        let result = call();
        // SAFETY: sigset_t is plain old data, filled by sigpending(2) and
        // read by sigismember(3); the zero timeout makes sigtimedwait(2)
        // return at once, taking the pending SIGPIPE if there is one.
        let raised = unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            if libc::sigpending(&mut pending) != 0 {
                None
            } else if libc::sigismember(&pending, libc::SIGPIPE) == 1 {
                let now = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(pipe.as_ref(), std::ptr::null_mut(), &now);
                Some(true)
            } else {
                Some(false)
            }
        };
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        (result, raised)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod other {
    use std::io;
    use std::os::fd::AsFd;

    use crate::lab::kernel::sys::RawTcpInfo;

    pub(crate) enum Queue {
        Send,
        Recv,
    }

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel's queue sizes and TCP_INFO are read with Linux-only interfaces",
        )
    }

    pub fn queue(_sock: &impl AsFd, _which: Queue) -> io::Result<u32> {
        Err(unsupported())
    }

    pub fn set_rto_min(_sock: &impl AsFd, _us: u32) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn rto_min_us(_sock: &impl AsFd) -> io::Result<u32> {
        Err(unsupported())
    }

    pub fn tcp_info(_sock: &impl AsFd) -> io::Result<RawTcpInfo> {
        Err(unsupported())
    }

    pub fn sigpipe_raised<R>(call: impl FnOnce() -> R) -> (R, Option<bool>) {
        (call(), None)
    }
}
