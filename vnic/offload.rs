// SPDX-License-Identifier: GPL-2.0

//! The host side of the offload bus of one NIC: which host connection
//! ([`Endpoint`]) each cid belongs to, the host memory the firmware may
//! "DMA" into, and the delivery of NIC -> OS events to the connections.
//! The OS side is seen only through [`Endpoint`] (implemented in
//! `src/handoff/events.rs`).
//!
//! # Host addresses
//!
//! The firmware never sees a kernel pointer. A host address names a byte of
//! one offloaded connection's send or receive ring:
//!
//! | bits | field |
//! |---|---|
//! | 63..32 | cid (generation and slot, as the firmware issued it) |
//! | 31 | region: 0 = send ring, 1 = receive ring |
//! | 30..0 | byte offset in the ring |
//!
//! Every DMA is checked against the table: the cid must name a live
//! connection, and the range must lie inside that ring; anything else is
//! refused and counted (`bus_dma_refused`), as an IOMMU would.
//!
//! # Locking
//!
//! One spinlock per NIC (`lock`, taken with BH disabled) protects the table
//! and the pending handoffs. NAPI (events), the firmware thread (DMA) and
//! system calls take it briefly. An [`Endpoint`]'s own locks are taken
//! inside this one when an event or a DMA reaches it, never around it.

use core::cell::UnsafeCell;
use core::ptr;

use kernel::alloc::{flags::GFP_KERNEL, KVec, VVec};
use kernel::prelude::*;

use super::counters::{Counters, Ctr};
use super::nic::Nic;
use crate::bindings;
use crate::errno;
use crate::firmware::msg::Refusal;
use crate::firmware::HostEvent;

/// NIC references one connection may hold at once: `send`s in flight and
/// posted receive buffers. Admission is sized by their sum.
pub(crate) const SEND_REFS: usize = 4;
pub(crate) const POST_REFS: usize = 4;

/// A host connection as the bus sees it. The OS side implements it
/// (`src/handoff/events.rs`, for its connection record); the driver names
/// nothing else of the OS side.
///
/// Every method but `hold_socket` is called with the NIC's table lock held
/// (`g` where a method needs it), so the implementation's own locks nest
/// inside it.
pub(crate) trait Endpoint: Sync {
    /// The NIC's answer to the connection's `handoff`.
    fn handoff_done(&self, answer: Answer);
    /// A firmware read of the connection's host memory: allowed only
    /// inside what the host handed the NIC (`EFAULT` otherwise).
    fn dma_read(&self, region: Region, off: usize, buf: &mut [u8]) -> Result;
    /// A firmware write into the connection's host memory: allowed only
    /// into space the host posted (`EFAULT` otherwise).
    fn dma_write(&self, region: Region, off: usize, data: &[u8]) -> Result;
    /// An event for the connection (NAPI).
    fn event(&self, nic: &Nic, g: &Guard<'_>, ev: &HostEvent<'_>);
    /// The NIC stopped without notice: the connection's state is lost.
    fn nic_failed(&self);
    /// The host's view of the connection, for `dump_conns`.
    fn describe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
    /// The connection's socket, with a reference the caller drops.
    fn hold_socket(&self) -> *mut bindings::sock;
}

/// The NIC's answer to a `handoff`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer {
    /// Running as this cid.
    Accepted(u32),
    Refused(Refusal),
    /// A cid the table cannot take (its slot is in use): the NIC is
    /// confused about its own table.
    Garbled,
}

/// An entry of the table.
type Entry = Option<ptr::NonNull<dyn Endpoint>>;

/// An offloaded connection's place in the table, with the cid it runs as
/// (kept here so the per-event lookup need not ask the connection, under
/// its own lock, which cid it has).
#[derive(Clone, Copy)]
struct Slot {
    conn: ptr::NonNull<dyn Endpoint>,
    cid: u32,
}

/// `e` is the endpoint `p` points at.
fn same(e: Entry, p: &dyn Endpoint) -> bool {
    e.is_some_and(|e| ptr::addr_eq(e.as_ptr(), p))
}

/// Handoffs that may wait for their `handoff_done` at once, per NIC.
const PENDING: usize = 64;
/// Slot index bits of a cid (the firmware's `cid & 0x00ff_ffff`).
const CID_SLOT_MASK: u32 = 0x00ff_ffff;
/// Region bit of a host address.
const REGION_RECV: u64 = 1 << 31;
const OFFSET_MASK: u64 = REGION_RECV - 1;

/// Which ring of a connection a host address points into.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    Send,
    Recv,
}

/// Host address of byte `off` of `cid`'s ring `region`.
pub(crate) fn host_addr(cid: u32, region: Region, off: u32) -> u64 {
    let r = if region == Region::Recv {
        REGION_RECV
    } else {
        0
    };
    (u64::from(cid) << 32) | r | (u64::from(off) & OFFSET_MASK)
}

fn split_addr(addr: u64) -> (u32, Region, usize) {
    let region = if addr & REGION_RECV != 0 {
        Region::Recv
    } else {
        Region::Send
    };
    ((addr >> 32) as u32, region, (addr & OFFSET_MASK) as usize)
}

struct Tables {
    /// Offloaded connections by cid slot.
    by_slot: VVec<Option<Slot>>,
    /// Connections whose `handoff` command awaits its `handoff_done`.
    pending: [Entry; PENDING],
    /// Connections in `by_slot`.
    live: u32,
    /// The device is going away (or its firmware failed): no new handoffs.
    closed: bool,
}

/// Per-NIC offload state (lives in [`Nic`]).
pub(crate) struct Offload {
    lock: UnsafeCell<bindings::spinlock_t>,
    /// Counts the free entries of `pending`: a handoff sleeps here for one
    /// (`reserve_pending`) instead of being refused when a burst of
    /// handoffs (`offload all`, a busy accept loop) has them all in flight.
    /// Held from `reserve_pending` until the entry leaves the table.
    pending_free: UnsafeCell<bindings::semaphore>,
    tables: UnsafeCell<Tables>,
    /// Connections the host may offload to this NIC: the firmware's slots,
    /// and its reference pool divided by what one connection may hold.
    pub(crate) capacity: u32,
}

/// Proof that the caller holds a NIC's offload lock.
pub(crate) struct Guard<'a> {
    off: &'a Offload,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: a `Guard` exists only while `lock` is held by this thread.
        unsafe { bindings::handoff_spin_unlock_bh(self.off.lock.get()) };
    }
}

impl Offload {
    /// # Safety
    ///
    /// `init` must be called once the value is at its final address,
    /// before any other method.
    pub(crate) unsafe fn new(slots: usize, capacity: u32) -> Result<Self> {
        Ok(Offload {
            // SAFETY: all-zero is a valid pre-init spinlock_t; `init` runs
            // `spin_lock_init` on it in place.
            lock: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            // SAFETY: all-zero is a valid pre-init semaphore; `init` runs
            // `sema_init` on it in place.
            pending_free: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            tables: UnsafeCell::new(Tables {
                by_slot: VVec::from_elem(None, slots, GFP_KERNEL)?,
                pending: [None; PENDING],
                live: 0,
                closed: false,
            }),
            capacity,
        })
    }

    /// Initialises the lock and the pending-entry semaphore in place.
    pub(crate) fn init(&self) {
        // SAFETY: called once by `Nic::new` at the final address, before use.
        unsafe {
            bindings::handoff_spin_lock_init(self.lock.get());
            bindings::handoff_sema_init(self.pending_free.get(), PENDING as i32);
        }
    }

    /// Reserves a free entry of the pending table for the caller's next
    /// `add_pending` (which, on failure, gives it back), waiting up to
    /// `timeout_ms` for one (counted in `host_handoff_waits`). `ETIMEDOUT`
    /// if none came free. Process context.
    pub(crate) fn reserve_pending(&self, ctr: &Counters, timeout_ms: u32) -> Result {
        // SAFETY: the semaphore was initialised by `init`.
        if unsafe { bindings::down_trylock(self.pending_free.get()) } == 0 {
            return Ok(());
        }
        ctr.inc(Ctr::HostHandoffWaits);
        // SAFETY: as above; the caller may sleep.
        let r = unsafe {
            bindings::down_timeout(
                self.pending_free.get(),
                bindings::__msecs_to_jiffies(timeout_ms) as i64,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(errno::ETIMEDOUT())
        }
    }

    /// Gives back a pending entry (reserved, or just left the table).
    fn release_pending(&self) {
        // SAFETY: initialised by `init`; `up` is fine in any context.
        unsafe { bindings::up(self.pending_free.get()) };
    }

    /// Takes the lock (BH disabled).
    pub(crate) fn lock(&self) -> Guard<'_> {
        // SAFETY: the lock was initialised by `init`.
        unsafe { bindings::handoff_spin_lock_bh(self.lock.get()) };
        Guard { off: self }
    }

    #[allow(clippy::mut_from_ref)]
    fn tables<'g>(&'g self, _g: &'g Guard<'_>) -> &'g mut Tables {
        // SAFETY: the guard proves the lock is held, which serialises every
        // access to the tables; the borrow does not outlive the guard.
        unsafe { &mut *self.tables.get() }
    }

    /// Registers `conn` as waiting for its handoff result, in the entry
    /// the caller reserved with `reserve_pending`. `errno::ENETDOWN()` if
    /// the device is closing, `ENOSPC` if the NIC is at capacity; the
    /// reservation is given back on error.
    ///
    /// The endpoint stays alive until it leaves the table (`remove_pending`,
    /// `unlink`, `take_any`, or its `handoff_done`).
    pub(crate) fn add_pending(&self, g: &Guard<'_>, conn: &(dyn Endpoint + 'static)) -> Result {
        let t = self.tables(g);
        let in_flight = t.pending.iter().filter(|p| p.is_some()).count() as u32;
        let slot = if t.closed {
            Err(errno::ENETDOWN())
        } else if t.live + in_flight >= self.capacity {
            Err(ENOSPC)
        } else {
            // The reservation guarantees a free entry.
            t.pending.iter_mut().find(|p| p.is_none()).ok_or(EBUSY)
        };
        match slot {
            Ok(slot) => {
                // The caller keeps the endpoint alive while it is in the
                // table (see above).
                *slot = Some(ptr::NonNull::from(conn));
                Ok(())
            }
            Err(e) => {
                self.release_pending();
                Err(e)
            }
        }
    }

    /// Forgets a pending handoff (timed out or failed to submit). True if it
    /// was still pending.
    pub(crate) fn remove_pending(&self, g: &Guard<'_>, conn: &dyn Endpoint) -> bool {
        let t = self.tables(g);
        match t.pending.iter_mut().find(|p| same(**p, conn)) {
            Some(p) => {
                *p = None;
                self.release_pending();
                true
            }
            None => false,
        }
    }

    /// Removes `cid`'s table entry if it is `conn`.
    pub(crate) fn unlink(&self, g: &Guard<'_>, cid: u32, conn: &dyn Endpoint) {
        let t = self.tables(g);
        if let Some(e) = t.by_slot.get_mut((cid & CID_SLOT_MASK) as usize) {
            if same(e.map(|e| e.conn), conn) {
                *e = None;
                t.live -= 1;
            }
        }
    }

    /// The endpoint `cid` names, for as long as the guard is held.
    fn conn<'g>(&self, g: &'g Guard<'_>, cid: u32) -> Option<&'g dyn Endpoint> {
        let e = (*self.tables(g).by_slot.get((cid & CID_SLOT_MASK) as usize)?)?;
        if e.cid != cid {
            return None;
        }
        // SAFETY: entries are live endpoints (they leave the table before
        // they are freed, under this lock, which `g` holds).
        Some(unsafe { e.conn.as_ref() })
    }

    /// Marks the NIC closed and returns its connections one at a time so
    /// the caller can reset them (device teardown, firmware failure).
    pub(crate) fn take_any<'g>(&self, g: &'g Guard<'_>) -> Option<&'g dyn Endpoint> {
        let t = self.tables(g);
        t.closed = true;
        let taken = if let Some(p) = t.pending.iter_mut().find(|p| p.is_some()) {
            self.release_pending();
            p.take()
        } else if let Some(e) = t.by_slot.iter_mut().find(|e| e.is_some()) {
            t.live -= 1;
            e.take().map(|e| e.conn)
        } else {
            None
        };
        // SAFETY: it was in the table, so it is alive; its owner (the
        // handoff thread, or the socket's reference the NIC holds) keeps it
        // alive until it learns it left, which happens under this lock.
        taken.map(|e| unsafe { &*e.as_ptr() })
    }
}

impl Offload {
    /// Every offloaded connection's socket, each with a reference the
    /// caller drops (process context).
    pub(crate) fn held_sockets(&self) -> KVec<*mut bindings::sock> {
        let want = {
            let g = self.lock();
            self.tables(&g).live as usize
        };
        let Ok(mut out) = KVec::with_capacity(want, GFP_KERNEL) else {
            return KVec::new();
        };
        let g = self.lock();
        for c in self.tables(&g).by_slot.iter().flatten() {
            if out.len() == out.capacity() {
                break;
            }
            // SAFETY: in the table, so alive; the guard is held.
            let sk = unsafe { c.conn.as_ref() }.hold_socket();
            let _ = out.push(sk, kernel::alloc::flags::GFP_ATOMIC);
        }
        out
    }
}

/// Firmware read of host memory (the `send` data path).
pub(crate) fn dma_read(nic: &Nic, addr: u64, buf: &mut [u8]) -> Result {
    let (cid, region, off) = split_addr(addr);
    let g = nic.offload.lock();
    let r = nic
        .offload
        .conn(&g, cid)
        .ok_or(EFAULT)
        .and_then(|c| c.dma_read(region, off, buf));
    drop(g);
    count_dma(nic, r, Ctr::BusDmaRead, buf.len())
}

/// Firmware write to host memory (the `recv` data path).
pub(crate) fn dma_write(nic: &Nic, addr: u64, data: &[u8]) -> Result {
    let (cid, region, off) = split_addr(addr);
    let g = nic.offload.lock();
    let r = nic
        .offload
        .conn(&g, cid)
        .ok_or(EFAULT)
        .and_then(|c| c.dma_write(region, off, data));
    drop(g);
    count_dma(nic, r, Ctr::BusDmaWrite, data.len())
}

fn count_dma(nic: &Nic, r: Result, ctr: Ctr, n: usize) -> Result {
    match r {
        Ok(()) => nic.ctr.add(ctr, n as u64),
        Err(_) => nic.ctr.inc(Ctr::BusDmaRefused),
    }
    r
}

/// Applies one NIC -> OS event to the connection it concerns (NAPI).
pub(crate) fn deliver(nic: &Nic, ev: &HostEvent<'_>) {
    let g = nic.offload.lock();
    let cid = match *ev {
        HostEvent::HandoffDone { cookie, result } => {
            let t = nic.offload.tables(&g);
            let waiting = t
                .pending
                .iter_mut()
                .find(|p| p.is_some_and(|p| p.as_ptr() as *const () as usize as u64 == cookie));
            let Some(conn) = waiting.and_then(|p| p.take()) else {
                // Nobody waits for it any more (timed out): take the
                // connection back from the NIC, nobody will use it.
                drop(g);
                if let Ok(cid) = result {
                    nic.ctr.inc(Ctr::HostOrphanHandoff);
                    let _ = nic.submit_cmd(&crate::firmware::Command::Restore { cid, cookie: 0 });
                }
                return;
            };
            nic.offload.release_pending();
            // SAFETY: it was pending, so its handoff thread still waits for
            // it and keeps it alive.
            let c = unsafe { conn.as_ref() };
            let answer = match result {
                Ok(cid) => match t.by_slot.get_mut((cid & CID_SLOT_MASK) as usize) {
                    Some(e) if e.is_none() => {
                        *e = Some(Slot { conn, cid });
                        t.live += 1;
                        Answer::Accepted(cid)
                    }
                    _ => {
                        nic.ctr.inc(Ctr::HostEvtUnknownCid);
                        Answer::Garbled
                    }
                },
                Err(r) => Answer::Refused(r),
            };
            c.handoff_done(answer);
            return;
        }
        HostEvent::Restore { cid, .. }
        | HostEvent::Recv { cid, .. }
        | HostEvent::Ack { cid, .. }
        | HostEvent::Ctrl { cid, .. }
        | HostEvent::RecvData { cid, .. }
        | HostEvent::Info { cid, .. } => cid,
        HostEvent::Resource { cid, .. } => cid,
    };
    match nic.offload.conn(&g, cid) {
        Some(c) => c.event(nic, &g, ev),
        None if matches!(ev, HostEvent::Resource { .. }) => {}
        None => nic.ctr.inc(Ctr::HostEvtUnknownCid),
    }
}

/// Resets every connection offloaded to `nic` (its firmware is gone or
/// going): the paper's semantics for a NIC failure.
pub(crate) fn reset_all(nic: &Nic, why: &CStr) {
    let mut n = 0u32;
    loop {
        let g = nic.offload.lock();
        let Some(c) = nic.offload.take_any(&g) else {
            break;
        };
        c.nic_failed();
        n += 1;
    }
    if n > 0 {
        // SAFETY: `dev` is valid for the NIC's lifetime.
        let name = unsafe { kernel::str::CStr::from_char_ptr((*nic.dev).name.as_ptr().cast()) };
        pr_warn!("{}: {} offloaded connection(s) reset: {}\n", name, n, why);
    }
}

/// Logs every connection in the table: the firmware's view (`peek`, from
/// the firmware thread) next to the host's (debugfs `dump_conns`).
pub(crate) fn dump(nic: &Nic, peek: impl Fn(u32) -> Option<crate::firmware::Snapshot>) {
    let g = nic.offload.lock();
    let t = nic.offload.tables(&g);
    for e in t.by_slot.iter().flatten() {
        let cid = e.cid;
        // SAFETY: in the table, so alive; the guard is held.
        let c = unsafe { e.conn.as_ref() };
        let host = Described(c);
        match peek(cid) {
            Some(s) => pr_info!(
                "hnic: cid {:#x} {:?} una {} nxt {} max {} wnd {} cwnd {} rxt {} rto_us {} queued {} rcv_nxt {} adv {} unread {} | host {}\n",
                cid, s.state, s.snd_una, s.snd_nxt, s.snd_max, s.snd_wnd, s.cwnd, s.rxt_shift, s.rto_us, s.snd_queued,
                s.rcv_nxt, s.rcv_adv, s.rcv_unread, host
            ),
            None => pr_info!("hnic: cid {:#x} unknown to the firmware | host {}\n", cid, host),
        }
    }
}

/// An endpoint's `describe`, as a `Display`.
struct Described<'a>(&'a dyn Endpoint);

impl core::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.describe(f)
    }
}
