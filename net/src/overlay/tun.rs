//! A multi-queue TUN device with the virtio-net header and TCP segmentation offload: the
//! kernel hands each queue whole TCP super-packets (up to the device's `gso_max_size`) with a
//! 10-byte `virtio_net_hdr` in front, and takes them back the same way, so one read or write
//! moves up to 64 KiB instead of one MTU. The only unsafe code in the crate: four ioctls and
//! `poll`, each checked.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// Bytes of `struct virtio_net_hdr` before each packet.
pub const VNET_HDR_LEN: usize = 10;

// <linux/if_tun.h>: _IOW('T', n, int).
const TUNSETIFF: u64 = 0x4004_54ca;
const TUNSETPERSIST: u64 = 0x4004_54cb;
const TUNSETOFFLOAD: u64 = 0x4004_54d0;
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;
const IFF_MULTI_QUEUE: i16 = 0x0100;
const IFF_VNET_HDR: i16 = 0x4000;
const TUN_F_CSUM: u64 = 0x01;
const TUN_F_TSO4: u64 = 0x02;
const TUN_F_TSO6: u64 = 0x04;

/// Which offloads the device takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offload {
    /// Checksums left to the receiver and TCP super-packets.
    Tso,
    /// Checksums only: packets no larger than the MTU.
    Checksum,
}

/// One queue of the device `name`, made if missing (flags must match an existing device's).
pub fn open_queue(name: &str) -> io::Result<File> {
    if name.is_empty() || name.len() > 15 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface names are 1-15 bytes"));
    }
    let file = OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
    // struct ifreq: 16 bytes of name, then the union whose first member is `short ifr_flags`.
    let mut ifreq = [0u8; 40];
    ifreq[..name.len()].copy_from_slice(name.as_bytes());
    let flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR;
    ifreq[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes on Linux), which `ifreq`
    // is, and the descriptor is open for the call's duration.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, ifreq.as_mut_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Tell the device which offloads this side takes (set on any queue, applies to the device).
pub fn set_offload(queue: &File, offload: Offload) -> io::Result<()> {
    let flags = match offload {
        Offload::Tso => TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
        Offload::Checksum => TUN_F_CSUM,
    };
    // SAFETY: TUNSETOFFLOAD takes its argument by value; the descriptor is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETOFFLOAD as _, flags as libc::c_ulong) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Keep the device (and the routes through it) when its queues close, so that an agent
/// restart leaves the node's routes in place and only pauses the traffic.
pub fn set_persist(queue: &File, persist: bool) -> io::Result<()> {
    // SAFETY: TUNSETPERSIST takes its argument by value; the descriptor is open.
    #[allow(unsafe_code)]
    let rc =
        unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETPERSIST as _, libc::c_ulong::from(persist)) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Wait up to `timeout_ms` for `queue` to have a packet; false on timeout.
pub fn readable(queue: &File, timeout_ms: i32) -> io::Result<bool> {
    let mut fd = libc::pollfd { fd: queue.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid `pollfd`, count 1; the descriptor is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::poll(&mut fd, 1, timeout_ms) };
    match rc {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused_before_any_ioctl() {
        let e = open_queue("a-name-longer-than-15").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(open_queue("").is_err());
    }
}
