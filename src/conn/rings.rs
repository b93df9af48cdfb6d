// SPDX-License-Identifier: GPL-2.0

//! A connection's host rings: stream positions, the bounds every firmware
//! DMA is checked against, and what moves back to native TCP at restore.
//!
//! ```text
//!  send ring:   head ........ sent ........ tail          (positions, u64)
//!               |  NIC holds refs  | not yet told to NIC |
//!               acked by `ack`      `send` commands       sendmsg appends
//!
//!  recv ring:   head ........ tail ........ posted
//!               | readable     | posted to the NIC (`post`), not yet filled
//!               recvmsg consumes (`recvd`)   `recv` events move tail
//! ```

use core::ptr;

use kernel::alloc::{flags::GFP_KERNEL, VVec};
use kernel::prelude::*;

use crate::vnic::Region;

use super::*;

/// Offset of stream position `pos` in a ring of `cap` bytes. Rings are
/// never empty while in use; a zero `cap` gives 0 rather than a
/// division-by-zero panic path in the NAPI poll (which objtool cannot see
/// the end of).
pub(crate) fn ring_off(pos: u64, cap: u64) -> u64 {
    pos.checked_rem(cap).unwrap_or(0)
}

pub(crate) fn copy_in_ring(base: *mut u8, cap: usize, pos: u64, data: &[u8]) {
    let off = ring_off(pos, cap as u64) as usize;
    let first = data.len().min(cap - off);
    // SAFETY: `base` is a `cap`-byte ring; both pieces lie inside it and the
    // caller owns the range (see the module docs).
    unsafe {
        ptr::copy_nonoverlapping(data.as_ptr(), base.add(off), first);
        ptr::copy_nonoverlapping(data.as_ptr().add(first), base, data.len() - first);
    }
}

/// How far ring offset `off` lies past stream position `from` (modulo the
/// ring of `cap` bytes).
pub(crate) fn ring_distance(off: usize, from: u64, cap: usize) -> u64 {
    ring_off(
        off as u64 + cap as u64 - ring_off(from, cap as u64),
        cap as u64,
    )
}

/// Firmware DMA read from a ring (`offload::dma_read`): only bytes the NIC
/// was given by `send` and has not acknowledged back. Anything else would
/// read space the application may be refilling: wrong bytes on the wire
/// under a checksum the NIC computes over them.
pub(crate) fn ring_read(c: &Conn, region: Region, off: usize, buf: &mut [u8]) -> Result {
    let (base, cap) = c.ring(region);
    let mut guard = c.lock();
    let s = &mut *guard;
    if region != Region::Send
        || !s.phase.is_offloaded()
        || off.checked_add(buf.len()).map_or(true, |e| e > cap)
    {
        return Err(EFAULT);
    }
    // The read must fall inside [head, sent) (modulo the ring).
    if s.snd_head + ring_distance(off, s.snd_head, cap) + buf.len() as u64 > s.snd_sent {
        return Err(EFAULT);
    }
    // SAFETY: bounds checked above; the send ring is only freed with the
    // socket, after the NIC let go (no table entry, so no DMA).
    unsafe { ptr::copy_nonoverlapping(base.add(off), buf.as_mut_ptr(), buf.len()) };
    Ok(())
}

/// Firmware DMA write into a ring (`offload::dma_write`): only into space
/// posted and not yet filled.
pub(crate) fn ring_write(c: &Conn, region: Region, off: usize, data: &[u8]) -> Result {
    let (base, cap) = c.ring(region);
    let mut guard = c.lock();
    let s = &mut *guard;
    if region != Region::Recv
        || !s.phase.is_offloaded()
        || off.checked_add(data.len()).map_or(true, |e| e > cap)
    {
        return Err(EFAULT);
    }
    // The write must fall inside [tail, posted) (modulo the ring).
    if s.rcv_tail + ring_distance(off, s.rcv_tail, cap) + data.len() as u64 > s.rcv_posted {
        return Err(EFAULT);
    }
    // SAFETY: bounds checked; that range belongs to the NIC until `recv`.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), base.add(off), data.len()) };
    Ok(())
}

/// Whether a writer may write: a quarter of the send ring free (the
/// bypass layer's `sk_stream_is_writeable`).
pub(crate) fn writable(c: &Conn, s: &Shared) -> bool {
    let cap = c.snd.len() as u64;
    cap - (s.snd_tail - s.snd_head) >= cap / 4
}

/// The host's view of a connection, for `dump_conns`.
pub(crate) fn describe(c: &Conn) -> HostView {
    let mut guard = c.lock();
    let s = &mut *guard;
    HostView([
        s.snd_head,
        s.snd_sent,
        s.snd_tail,
        s.snd_nrefs as u64,
        s.rcv_head,
        s.rcv_tail,
        s.rcv_posted,
        s.post_nrefs as u64,
    ])
}

/// Ring positions, printed as `snd head/sent/tail refs rcv head/tail/posted refs`.
pub(crate) struct HostView([u64; 8]);

impl core::fmt::Display for HostView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v = &self.0;
        write!(
            f,
            "snd {}/{}/{} refs {} rcv {}/{}/{} posts {}",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
        )
    }
}

/// Ring contents the host must take back at restore: `(send, recv)` as
/// (first piece, second piece) of each ring's live bytes.
///
/// # Safety
///
/// No NIC knows the connection any more, and the caller holds the socket
/// lock (so no system call touches the rings).
pub(crate) unsafe fn live_bytes(c: &Conn) -> ([&[u8]; 2], [&[u8]; 2]) {
    let mut guard = c.lock();
    let s = &mut *guard;
    pub(crate) fn pieces(r: &[u8], head: u64, tail: u64) -> [&[u8]; 2] {
        let cap = r.len() as u64;
        if cap == 0 || tail <= head {
            return [&[], &[]];
        }
        let off = ring_off(head, cap) as usize;
        let n = (tail - head) as usize;
        let first = n.min(r.len() - off);
        [&r[off..off + first], &r[..n - first]]
    }
    (
        pieces(&c.snd, s.snd_head, s.snd_tail),
        pieces(&c.rcv, s.rcv_head, s.rcv_tail),
    )
}

/// Whether the application shut the sending side (FIN wanted).
pub(crate) fn fin_wanted(c: &Conn) -> bool {
    let s = c.lock();
    s.close_pending || s.fin_sent
}

/// The ring sizes for `queued` bytes to send and `unread` bytes received
/// at handoff: the defaults, or room for the data plus half a default.
pub(crate) fn ring_sizes(queued: usize, unread: usize) -> (usize, usize) {
    (
        SEND_RING.max((queued + SEND_RING / 2).next_power_of_two()),
        RECV_RING.max((unread + RECV_RING / 2).next_power_of_two()),
    )
}

/// Whether `c`'s rings (from an earlier `alloc_rings`) are the size the
/// data queued now needs.
pub(crate) fn rings_fit(c: &Conn, queued: usize, unread: usize) -> bool {
    ring_sizes(queued, unread) == (c.snd.len(), c.rcv.len())
}

/// Allocates the host rings for a handoff: `send` will hold `queued`
/// (bytes from the snapshot's `snd_una` on), `recv` will hold `unread`.
pub(crate) fn alloc_rings(c: &mut Conn, queued: usize, unread: usize) -> Result {
    let (snd, rcv) = ring_sizes(queued, unread);
    c.snd = VVec::from_elem(0u8, snd, GFP_KERNEL)?;
    c.rcv = VVec::from_elem(0u8, rcv, GFP_KERNEL)?;
    Ok(())
}

/// Sets the ring positions after the rings were filled at handoff.
pub(crate) fn set_initial(c: &Conn, queued: u64, unread: u64) {
    let mut s = c.lock();
    s.snd_tail = queued;
    s.rcv_tail = unread;
    s.rcv_posted = unread;
}
