//! The NIC memory model: one budget, carved into typed arenas.
//!
//! The paper's simulated NIC had 16 MiB and its firmware held 8192
//! connections. Here the whole firmware memory is a single byte budget;
//! [`NicMemoryLayout::for_size`] decides how it is split, with every item size
//! explicit:
//!
//! | region | item | bytes/item | count |
//! |---|---|---|---|
//! | scratch | rx + tx frame buffers | [`FRAME_MAX`] | 2 |
//! | timer wheel | list head per ms | 4 | [`WHEEL_SLOTS`] |
//! | receive staging | [`ChunkMeta`] + [`CHUNK_BYTES`] data | 12 + 2048 | 1/6 of the rest |
//! | references | [`BufRef`] (send refs and posted buffers) | 24 | 1/12 of the rest |
//! | connections | [`ConnSlot`] + 2 × [`LookupEntry`] | see [`NicMemoryLayout::PER_CONN_BYTES`] | all the rest |
//!
//! Staging and references are shared pools (free lists), so one busy
//! connection can use many while idle ones use none; the connection slots
//! are the fixed per-connection cost. Without `unsafe` the firmware cannot
//! carve typed objects out of raw bytes, so the caller allocates each region
//! as a typed slice of the length the layout gives ([`Arena`]); in the kernel
//! these are vmalloc'd, in tests they are `Vec`s.

use super::conn::ConnSlot;
use super::lookup::LookupEntry;

/// Sentinel index for empty links.
pub const NIL: u32 = u32::MAX;
/// Payload bytes per receive staging chunk.
pub const CHUNK_BYTES: usize = 2048;
/// Largest Ethernet frame the firmware builds or accepts via `forward`
/// (1500-byte MTU plus headers, rounded up).
pub const FRAME_MAX: usize = 2048;
/// Timer wheel slots at 1 ms granularity.
pub const WHEEL_SLOTS: usize = 256;
/// Largest connection count a layout may have (cids carry a generation in
/// their top 8 bits).
pub const MAX_CONNS_LIMIT: usize = (1 << 24) - 1;

/// A host-memory reference: a send ref (bytes to transmit) or a posted
/// receive buffer. Free entries are chained through `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufRef {
    /// Host (DMA) address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Next reference in the owning list or the free list.
    pub next: u32,
    /// Posted buffers: bytes written so far. Send refs: `MSG_*` flags.
    pub used: u32,
    /// Posted buffers: bytes already announced with `recv`.
    pub reported: u32,
}

impl BufRef {
    /// An unused entry.
    pub const EMPTY: BufRef = BufRef {
        addr: 0,
        len: 0,
        next: NIL,
        used: 0,
        reported: 0,
    };
}

/// Metadata of one receive staging chunk; its data is
/// `staging[i * CHUNK_BYTES..][..len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Next chunk (by sequence) of the same connection, or the free list.
    pub next: u32,
    /// Sequence number of the first byte.
    pub seq: u32,
    /// Valid bytes.
    pub len: u16,
    /// Bytes already copied out from the front of the chunk.
    pub off: u16,
}

impl ChunkMeta {
    /// An unused chunk.
    pub const EMPTY: ChunkMeta = ChunkMeta {
        next: NIL,
        seq: 0,
        len: 0,
        off: 0,
    };
}

/// Why a layout cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// The budget cannot hold even one connection.
    TooSmall,
    /// An arena slice is shorter than the layout requires.
    ArenaTooSmall,
}

/// How a NIC memory budget is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NicMemoryLayout {
    /// The budget the layout was made for.
    pub total_bytes: usize,
    /// Connection slots.
    pub max_conns: usize,
    /// Lookup table entries (2 per connection).
    pub lookup_entries: usize,
    /// Reference pool entries.
    pub refs: usize,
    /// Staging chunks.
    pub chunks: usize,
    /// Staging bytes (`chunks * CHUNK_BYTES`).
    pub staging_bytes: usize,
    /// Scratch bytes (two frame buffers).
    pub scratch_bytes: usize,
    /// Timer wheel slots.
    pub wheel_slots: usize,
}

/// Default firmware memory, as in the paper's simulated NIC.
pub const DEFAULT_MEMORY: usize = 16 << 20;

impl NicMemoryLayout {
    /// Bytes of one connection slot.
    pub const CONN_SLOT_BYTES: usize = core::mem::size_of::<ConnSlot>();
    /// Fixed control state per connection: its slot plus its share of the
    /// lookup table.
    pub const PER_CONN_BYTES: usize =
        Self::CONN_SLOT_BYTES + 2 * core::mem::size_of::<LookupEntry>();
    /// Bytes of one reference.
    pub const REF_BYTES: usize = core::mem::size_of::<BufRef>();
    /// Bytes of one staging chunk including its metadata.
    pub const CHUNK_TOTAL_BYTES: usize = CHUNK_BYTES + core::mem::size_of::<ChunkMeta>();

    /// Splits `bytes` of NIC memory (see the module table).
    pub fn for_size(bytes: usize) -> Result<Self, LayoutError> {
        let fixed = 2 * FRAME_MAX + WHEEL_SLOTS * 4;
        let rest = bytes.checked_sub(fixed).ok_or(LayoutError::TooSmall)?;
        let chunks = rest / 6 / Self::CHUNK_TOTAL_BYTES;
        let refs = rest / 12 / Self::REF_BYTES;
        let used = chunks * Self::CHUNK_TOTAL_BYTES + refs * Self::REF_BYTES;
        let max_conns = ((rest - used) / Self::PER_CONN_BYTES).min(MAX_CONNS_LIMIT);
        if max_conns == 0 || refs == 0 {
            return Err(LayoutError::TooSmall);
        }
        Ok(NicMemoryLayout {
            total_bytes: bytes,
            max_conns,
            lookup_entries: 2 * max_conns,
            refs,
            chunks,
            staging_bytes: chunks * CHUNK_BYTES,
            scratch_bytes: 2 * FRAME_MAX,
            wheel_slots: WHEEL_SLOTS,
        })
    }

    /// A layout with explicit counts (tests, small embedded configs).
    pub fn with_counts(max_conns: usize, refs: usize, chunks: usize) -> Result<Self, LayoutError> {
        if max_conns == 0 || max_conns > MAX_CONNS_LIMIT || refs == 0 {
            return Err(LayoutError::TooSmall);
        }
        let mut l = NicMemoryLayout {
            total_bytes: 0,
            max_conns,
            lookup_entries: 2 * max_conns,
            refs,
            chunks,
            staging_bytes: chunks * CHUNK_BYTES,
            scratch_bytes: 2 * FRAME_MAX,
            wheel_slots: WHEEL_SLOTS,
        };
        l.total_bytes = l.used_bytes();
        Ok(l)
    }

    /// Bytes actually used by all regions (≤ `total_bytes`).
    pub fn used_bytes(&self) -> usize {
        self.max_conns * Self::CONN_SLOT_BYTES
            + self.lookup_entries * core::mem::size_of::<LookupEntry>()
            + self.refs * Self::REF_BYTES
            + self.chunks * Self::CHUNK_TOTAL_BYTES
            + self.scratch_bytes
            + self.wheel_slots * 4
    }
}

/// The firmware's memory, as typed slices whose lengths come from a
/// [`NicMemoryLayout`]. Contents need not be initialized: the engine resets
/// every region when it starts.
#[derive(Debug)]
pub struct Arena<'a> {
    /// `max_conns` connection slots.
    pub conns: &'a mut [ConnSlot],
    /// `lookup_entries` lookup entries.
    pub lookup: &'a mut [LookupEntry],
    /// `refs` references.
    pub refs: &'a mut [BufRef],
    /// `chunks` chunk headers.
    pub chunks: &'a mut [ChunkMeta],
    /// `staging_bytes` of staging data.
    pub staging: &'a mut [u8],
    /// `scratch_bytes` of frame scratch.
    pub scratch: &'a mut [u8],
    /// `wheel_slots` timer wheel heads.
    pub wheel: &'a mut [u32],
}

impl Arena<'_> {
    /// Checks every slice is at least as long as `layout` requires.
    pub fn fits(&self, l: &NicMemoryLayout) -> bool {
        self.conns.len() >= l.max_conns
            && self.lookup.len() >= l.lookup_entries
            && self.refs.len() >= l.refs
            && self.chunks.len() >= l.chunks
            && self.staging.len() >= l.staging_bytes
            && self.scratch.len() >= l.scratch_bytes
            && self.wheel.len() >= l.wheel_slots
    }
}

// The fixed control state per connection must stay within the 512-byte
// budget (>= 32768 connections in 16 MiB); checked at compile time.
const _: () = assert!(NicMemoryLayout::PER_CONN_BYTES <= 512);

/// A free-list pool over a slice of linkable items.
pub(super) trait Linked {
    fn next(&self) -> u32;
    fn set_next(&mut self, n: u32);
}

impl Linked for BufRef {
    fn next(&self) -> u32 {
        self.next
    }
    fn set_next(&mut self, n: u32) {
        self.next = n;
    }
}

impl Linked for ChunkMeta {
    fn next(&self) -> u32 {
        self.next
    }
    fn set_next(&mut self, n: u32) {
        self.next = n;
    }
}

/// LIFO free list: O(1) alloc and free, the most recently freed (cache-warm)
/// item is reused first.
#[derive(Debug)]
pub(super) struct Pool<'a, T: Linked> {
    pub(super) items: &'a mut [T],
    free: u32,
    pub(super) free_count: u32,
}

impl<'a, T: Linked> Pool<'a, T> {
    /// Builds the free list over `items[..n]`.
    pub(super) fn new(items: &'a mut [T], n: usize) -> Self {
        let n = n.min(items.len()).min(NIL as usize - 1);
        let items = match items.get_mut(..n) {
            Some(s) => s,
            None => &mut [],
        };
        for (i, it) in items.iter_mut().enumerate() {
            it.set_next(if i + 1 < n { (i + 1) as u32 } else { NIL });
        }
        Pool {
            free: if n > 0 { 0 } else { NIL },
            free_count: n as u32,
            items,
        }
    }

    /// Takes an item, or `None` if the pool is empty.
    #[inline]
    pub(super) fn alloc(&mut self) -> Option<u32> {
        let i = self.free;
        let next = self.items.get(i as usize)?.next();
        self.free = next;
        self.free_count -= 1;
        Some(i)
    }

    /// Returns an item.
    #[inline]
    pub(super) fn free(&mut self, i: u32) {
        let head = self.free;
        if let Some(it) = self.items.get_mut(i as usize) {
            it.set_next(head);
            self.free = i;
            self.free_count += 1;
        }
    }

    /// Item `i`, if in range.
    #[inline]
    pub(super) fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize)
    }

    /// Item `i` mutably, if in range.
    #[inline]
    pub(super) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.items.get_mut(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_mib_layout() {
        let l = NicMemoryLayout::for_size(DEFAULT_MEMORY).unwrap();
        assert!(l.used_bytes() <= DEFAULT_MEMORY, "{l:?}");
        assert!(l.max_conns >= 32768, "{l:?}");
        assert!(l.chunks >= 1024 && l.refs >= 32768, "{l:?}");
    }

    #[test]
    fn layouts_scale_and_fit() {
        for mb in [1usize, 2, 4, 16, 64] {
            let l = NicMemoryLayout::for_size(mb << 20).unwrap();
            assert!(l.used_bytes() <= l.total_bytes);
        }
        assert_eq!(NicMemoryLayout::for_size(1000), Err(LayoutError::TooSmall));
        assert_eq!(NicMemoryLayout::for_size(0), Err(LayoutError::TooSmall));
        assert!(NicMemoryLayout::with_counts(0, 1, 1).is_err());
    }

    #[test]
    fn pool_alloc_free() {
        let mut items = [BufRef::EMPTY; 3];
        let mut p = Pool::new(&mut items, 3);
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        let c = p.alloc().unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(p.alloc(), None);
        p.free(b);
        assert_eq!(p.free_count, 1);
        assert_eq!(p.alloc(), Some(b));
        p.free(99); // out of range: ignored
        assert_eq!(p.free_count, 0);
    }
}
