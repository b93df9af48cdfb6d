// SPDX-License-Identifier: GPL-2.0

//! Single-producer, single-consumer rings: the shared memory between the
//! host driver and the NIC firmware (and between the two firmwares of a
//! pair, for the wire), shaped like virtio's split rings.
//!
//! The producer owns `head`, the consumer owns `tail`; each publishes its
//! index with release ordering and reads the other's with acquire, so the
//! slot contents written before a publish are visible after the matching
//! acquire. Who the one producer and the one consumer are is documented at
//! each ring's owner (`vnic/nic.rs`).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use kernel::alloc::{flags::GFP_KERNEL, VVec};
use kernel::prelude::*;

/// A slot other threads may write while we hold `&Ring`.
#[repr(transparent)]
struct Cell<T>(UnsafeCell<T>);

impl<T: Copy> Clone for Cell<T> {
    fn clone(&self) -> Self {
        // SAFETY: only used by `VVec::from_elem` while building a ring that
        // no other thread can see yet.
        Cell(UnsafeCell::new(unsafe { *self.0.get() }))
    }
}

/// Indices of a ring with `mask + 1` (a power of two) entries.
struct Indices {
    head: AtomicU32,
    tail: AtomicU32,
    mask: u32,
}

impl Indices {
    fn new(entries: u32) -> Self {
        debug_assert!(entries.is_power_of_two());
        Indices {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            mask: entries - 1,
        }
    }

    /// Producer: the position to fill next, if there is room.
    fn producer_slot(&self) -> Option<u32> {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        (head.wrapping_sub(tail) <= self.mask).then_some(head)
    }

    fn publish(&self, head: u32) {
        self.head.store(head.wrapping_add(1), Ordering::Release);
    }

    /// Consumer: the position to read next, if any.
    fn consumer_slot(&self) -> Option<u32> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        (tail != head).then_some(tail)
    }

    fn release(&self, tail: u32) {
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
    }

    fn used(&self) -> u32 {
        self.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }

    /// Addresses of the producer and consumer indices, for read-only
    /// debugfs files (the ring state a hardware debugger would show).
    fn index_ptrs(&self) -> (*mut u32, *mut u32) {
        (self.head.as_ptr(), self.tail.as_ptr())
    }
}

/// A ring of small descriptors.
pub(crate) struct Ring<T: Copy> {
    idx: Indices,
    slots: VVec<Cell<T>>,
}

// SAFETY: slots are only written by the single producer before it publishes
// and only read by the single consumer after it acquires; the index
// protocol orders those accesses. `T` values are plain descriptors.
unsafe impl<T: Copy + Send> Sync for Ring<T> {}
// SAFETY: see `Sync`; the ring owns its storage.
unsafe impl<T: Copy + Send> Send for Ring<T> {}

impl<T: Copy> Ring<T> {
    /// A ring of `entries` (a power of two) slots, all `fill`.
    pub(crate) fn new(entries: u32, fill: T) -> Result<Self> {
        let slots = VVec::from_elem(Cell(UnsafeCell::new(fill)), entries as usize, GFP_KERNEL)?;
        Ok(Ring {
            idx: Indices::new(entries),
            slots,
        })
    }

    /// Producer side. Returns `false` when the ring is full.
    ///
    /// # Safety
    ///
    /// Only the ring's one producer may call this, never concurrently with
    /// itself.
    pub(crate) unsafe fn push(&self, value: T) -> bool {
        let Some(head) = self.idx.producer_slot() else {
            return false;
        };
        let slot = &self.slots[(head & self.idx.mask) as usize];
        // SAFETY: the slot at `head` is not visible to the consumer until
        // `publish`, and only this producer (the function's contract)
        // writes it.
        unsafe { *slot.0.get() = value };
        self.idx.publish(head);
        true
    }

    /// Consumer side.
    ///
    /// # Safety
    ///
    /// Only the ring's one consumer may call this, never concurrently with
    /// itself.
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let tail = self.idx.consumer_slot()?;
        let slot = &self.slots[(tail & self.idx.mask) as usize];
        // SAFETY: the producer published this slot (acquired above) and will
        // not touch it again until `release` hands it back.
        let value = unsafe { *slot.0.get() };
        self.idx.release(tail);
        Some(value)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.idx.used() > self.idx.mask
    }

    pub(crate) fn used(&self) -> u32 {
        self.idx.used()
    }

    pub(crate) fn index_ptrs(&self) -> (*mut u32, *mut u32) {
        self.idx.index_ptrs()
    }
}

/// Metadata of one frame in a [`FrameRing`].
#[derive(Clone, Copy, Default)]
pub(crate) struct FrameDesc {
    /// Frame length in bytes.
    pub(crate) len: u32,
    /// Producer-defined flags (checksum status on the RX ring).
    pub(crate) flags: u32,
    /// Earliest time the consumer may take it (the wire's delay and rate).
    pub(crate) due_ns: u64,
}

/// A ring of whole frames, each in a fixed-size slot of a data area owned
/// by the ring (host memory for the RX ring, link memory for the wire).
pub(crate) struct FrameRing {
    idx: Indices,
    desc: VVec<Cell<FrameDesc>>,
    data: VVec<Cell<u8>>,
    slot_bytes: usize,
}

// SAFETY: as for `Ring`: descriptors and slot bytes are written only by the
// single producer before publish and read only by the single consumer after
// acquire.
unsafe impl Sync for FrameRing {}
// SAFETY: see `Sync`.
unsafe impl Send for FrameRing {}

impl FrameRing {
    /// `entries` (a power of two) slots of `slot_bytes` each.
    pub(crate) fn new(entries: u32, slot_bytes: usize) -> Result<Self> {
        let desc = VVec::from_elem(
            Cell(UnsafeCell::new(FrameDesc::default())),
            entries as usize,
            GFP_KERNEL,
        )?;
        let bytes = (entries as usize).checked_mul(slot_bytes).ok_or(EINVAL)?;
        let data = VVec::from_elem(Cell(UnsafeCell::new(0u8)), bytes, GFP_KERNEL)?;
        Ok(FrameRing {
            idx: Indices::new(entries),
            desc,
            data,
            slot_bytes,
        })
    }

    fn slot_ptr(&self, pos: u32) -> *mut u8 {
        let start = (pos & self.idx.mask) as usize * self.slot_bytes;
        // `Cell<u8>` is a transparent `UnsafeCell<u8>`: a pointer into the
        // data area may be written through while shared.
        UnsafeCell::raw_get(self.data[start..].as_ptr().cast::<UnsafeCell<u8>>())
    }

    /// Producer: copies `frame` into the next slot and publishes it.
    /// Returns `false` when the ring is full or the frame does not fit.
    ///
    /// # Safety
    ///
    /// Only the ring's one producer may call this, never concurrently with
    /// itself.
    pub(crate) unsafe fn push(&self, frame: &[u8], flags: u32, due_ns: u64) -> bool {
        if frame.len() > self.slot_bytes {
            return false;
        }
        let Some(head) = self.idx.producer_slot() else {
            return false;
        };
        let dst = self.slot_ptr(head);
        let desc = FrameDesc {
            len: frame.len() as u32,
            flags,
            due_ns,
        };
        // SAFETY: the slot at `head` belongs to the producer until published;
        // `frame` fits in it (checked above) and cannot overlap ring memory
        // the consumer reads.
        unsafe {
            core::ptr::copy_nonoverlapping(frame.as_ptr(), dst, frame.len());
            *self.desc[(head & self.idx.mask) as usize].0.get() = desc;
        }
        self.idx.publish(head);
        true
    }

    /// Producer: lets `fill` write the next message straight into its slot
    /// (it returns the length written, or `None` to abandon), then
    /// publishes it. Returns `false` when the ring is full or `fill` gave up.
    ///
    /// # Safety
    ///
    /// Only the ring's one producer may call this, never concurrently with
    /// itself.
    pub(crate) unsafe fn push_with(&self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        let Some(head) = self.idx.producer_slot() else {
            return false;
        };
        // SAFETY: the slot at `head` belongs to the producer (the contract)
        // until published; it is `slot_bytes` long.
        let slot = unsafe { core::slice::from_raw_parts_mut(self.slot_ptr(head), self.slot_bytes) };
        let Some(len) = fill(slot).filter(|&l| l <= self.slot_bytes) else {
            return false;
        };
        let desc = FrameDesc {
            len: len as u32,
            flags: 0,
            due_ns: 0,
        };
        // SAFETY: as above, for the slot's descriptor.
        unsafe { *self.desc[(head & self.idx.mask) as usize].0.get() = desc };
        self.idx.publish(head);
        true
    }

    /// Consumer: the oldest frame's descriptor, without taking it.
    ///
    /// # Safety
    ///
    /// Only the ring's one consumer may call this.
    pub(crate) unsafe fn peek(&self) -> Option<FrameDesc> {
        let tail = self.idx.consumer_slot()?;
        // SAFETY: published by the producer (acquired in `consumer_slot`),
        // untouched by it until released.
        Some(unsafe { *self.desc[(tail & self.idx.mask) as usize].0.get() })
    }

    /// Consumer: hands the oldest frame to `f`, then frees its slot.
    ///
    /// # Safety
    ///
    /// Only the ring's one consumer may call this, never concurrently with
    /// itself.
    pub(crate) unsafe fn pop_with<R>(&self, f: impl FnOnce(&[u8], FrameDesc) -> R) -> Option<R> {
        let tail = self.idx.consumer_slot()?;
        // SAFETY: as in `peek`.
        let desc = unsafe { *self.desc[(tail & self.idx.mask) as usize].0.get() };
        let len = (desc.len as usize).min(self.slot_bytes);
        // SAFETY: the slot is published and stays untouched by the producer
        // until `release` below; `len` is within the slot.
        let frame = unsafe { core::slice::from_raw_parts(self.slot_ptr(tail), len) };
        let r = f(frame, desc);
        self.idx.release(tail);
        Some(r)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.idx.used() == 0
    }

    /// Producer: too full to take another frame and its possible duplicate.
    pub(crate) fn is_full_for_sender(&self) -> bool {
        self.idx.used() + 2 > self.idx.mask + 1
    }

    pub(crate) fn used(&self) -> u32 {
        self.idx.used()
    }

    /// Free slots (exact for the producer, a lower bound for others).
    pub(crate) fn free(&self) -> u32 {
        self.idx.mask + 1 - self.idx.used()
    }

    pub(crate) fn index_ptrs(&self) -> (*mut u32, *mut u32) {
        self.idx.index_ptrs()
    }
}
