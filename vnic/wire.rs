// SPDX-License-Identifier: GPL-2.0

//! The wire between the two NICs of a pair, with netdevsim-style fault
//! knobs (Documentation/hnic.rst lists them).
//!
//! Each NIC transmits into its peer's wire queue (`Nic::wire_in`, a
//! [`FrameRing`] written only by the sending firmware and read only by the
//! receiving one). The knobs of the *sending* device shape what it sends:
//! loss, duplication, reordering, delay and a bandwidth cap. `link_down`
//! on either end takes the link down for both.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::alloc::{flags::GFP_KERNEL, VVec};
use kernel::prelude::*;

use super::counters::{Counters, Ctr};
use super::ring::FrameRing;

/// Knobs, written by debugfs (as plain `u32`s) and read by the firmware.
#[repr(C)]
pub(crate) struct Faults {
    /// Frames lost, per million.
    pub(crate) loss_ppm: AtomicU32,
    /// Frames sent twice, per million.
    pub(crate) dup_ppm: AtomicU32,
    /// Frames held back behind the next one, per million.
    pub(crate) reorder_ppm: AtomicU32,
    /// One-way delay added to every frame, microseconds.
    pub(crate) delay_us: AtomicU32,
    /// Bandwidth cap in Mbit/s; 0 means no cap.
    pub(crate) rate_mbit: AtomicU32,
    /// Non-zero takes the link down (both directions).
    pub(crate) link_down: AtomicU32,
}

impl Faults {
    pub(crate) const fn new() -> Self {
        Faults {
            loss_ppm: AtomicU32::new(0),
            dup_ppm: AtomicU32::new(0),
            reorder_ppm: AtomicU32::new(0),
            delay_us: AtomicU32::new(0),
            rate_mbit: AtomicU32::new(0),
            link_down: AtomicU32::new(0),
        }
    }

    pub(crate) fn link_down(&self) -> bool {
        self.link_down.load(Ordering::Relaxed) != 0
    }
}

/// A frame held back to be sent after the next one.
struct Held {
    buf: VVec<u8>,
    len: usize,
    since_ns: u64,
}

/// How long a held-back frame waits for a later one to overtake it.
const HOLD_MAX_NS: u64 = 1_000_000;

/// The sending end's wire state, owned by that NIC's firmware thread.
pub(crate) struct WireSender {
    rng: u64,
    last_due_ns: u64,
    held: Option<Held>,
    hold_buf: Option<VVec<u8>>,
    /// Frames reached the peer's wire queue since `take_landed`: the
    /// peer's doorbell is owed (rung once per firmware pass).
    landed: bool,
}

impl WireSender {
    pub(crate) fn new(seed: u64, max_frame: usize) -> Result<Self> {
        let buf = VVec::from_elem(0u8, max_frame, GFP_KERNEL)?;
        Ok(WireSender {
            rng: seed | 1,
            last_due_ns: 0,
            held: None,
            hold_buf: Some(buf),
            landed: false,
        })
    }

    /// True with probability `ppm` per million (xorshift64*).
    fn chance(&mut self, ppm: u32) -> bool {
        if ppm == 0 {
            return false;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 1_000_000 < u64::from(ppm)
    }

    /// When a frame of `len` bytes sent now arrives.
    fn due(&mut self, faults: &Faults, now_ns: u64, len: usize) -> u64 {
        let mut due = now_ns + u64::from(faults.delay_us.load(Ordering::Relaxed)) * 1000;
        let rate = u64::from(faults.rate_mbit.load(Ordering::Relaxed));
        if rate != 0 {
            // Serialisation: a frame cannot start before the previous ended.
            let bits = (len as u64 + 24) * 8; // preamble, FCS, inter-frame gap
            due = due.max(self.last_due_ns) + bits * 1000 / rate;
        }
        self.last_due_ns = due;
        due
    }

    /// Sends `frame` into `dest` (the peer's wire queue) through the knobs.
    pub(crate) fn send(
        &mut self,
        frame: &[u8],
        faults: &Faults,
        dest: &FrameRing,
        ctr: &Counters,
        now_ns: u64,
    ) {
        if self.chance(faults.loss_ppm.load(Ordering::Relaxed)) {
            ctr.inc(Ctr::WireLoss);
            return;
        }
        if self.held.is_none() && self.chance(faults.reorder_ppm.load(Ordering::Relaxed)) {
            if let Some(mut buf) = self.hold_buf.take() {
                if let Some(dst) = buf.get_mut(..frame.len()) {
                    dst.copy_from_slice(frame);
                    ctr.inc(Ctr::WireReorder);
                    self.held = Some(Held {
                        buf,
                        len: frame.len(),
                        since_ns: now_ns,
                    });
                    return;
                }
                self.hold_buf = Some(buf);
            }
        }
        self.put(frame, faults, dest, ctr, now_ns);
        if self.chance(faults.dup_ppm.load(Ordering::Relaxed)) {
            ctr.inc(Ctr::WireDup);
            self.put(frame, faults, dest, ctr, now_ns);
        }
        // A later frame has gone: the held one follows it, out of order.
        self.release_held(faults, dest, ctr, now_ns, true);
    }

    /// Sends a held-back frame once overtaken, or after `HOLD_MAX_NS`.
    pub(crate) fn release_held(
        &mut self,
        faults: &Faults,
        dest: &FrameRing,
        ctr: &Counters,
        now_ns: u64,
        overtaken: bool,
    ) {
        let Some(h) = self.held.as_ref() else { return };
        if !overtaken && now_ns.saturating_sub(h.since_ns) < HOLD_MAX_NS {
            return;
        }
        if let Some(h) = self.held.take() {
            self.put(&h.buf[..h.len], faults, dest, ctr, now_ns);
            self.hold_buf = Some(h.buf);
        }
    }

    /// Time by which `release_held` must run, if a frame is held.
    pub(crate) fn held_deadline(&self) -> Option<u64> {
        self.held.as_ref().map(|h| h.since_ns + HOLD_MAX_NS)
    }

    /// Drops a held frame (link went down).
    pub(crate) fn drop_held(&mut self) {
        if let Some(h) = self.held.take() {
            self.hold_buf = Some(h.buf);
        }
    }

    /// Whether frames reached the peer since the last call.
    pub(crate) fn take_landed(&mut self) -> bool {
        core::mem::replace(&mut self.landed, false)
    }

    fn put(
        &mut self,
        frame: &[u8],
        faults: &Faults,
        dest: &FrameRing,
        ctr: &Counters,
        now_ns: u64,
    ) {
        let due = self.due(faults, now_ns, frame.len());
        // SAFETY: a `WireSender` belongs to one NIC's firmware thread, the
        // only producer of its peer's wire queue `dest`.
        if unsafe { dest.push(frame, 0, due) } {
            self.landed = true;
            ctr.inc(Ctr::WireTxFrames);
            ctr.add(Ctr::WireTxBytes, frame.len() as u64);
        } else {
            ctr.inc(Ctr::WireQueueFull);
        }
    }
}
