//! The lookup layer (paper §3.2): 4-tuple → cid in O(1).
//!
//! An open-addressing hash table with linear probing lives in a caller-given
//! slice of [`LookupEntry`] sized at twice the connection table (load factor
//! ≤ 0.5, so probe sequences stay short). Each entry keeps the full 32-bit
//! hash as a tag, so a probe touches the connection slot only when the tags
//! match. Deletion uses backward shifting, so there are no tombstones and the
//! table never degrades. The hash is seeded at init so a remote peer cannot
//! aim collisions at a table whose seed it does not know.

/// Sentinel for "no index".
pub const NIL: u32 = u32::MAX;

/// One slot of the lookup table (8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupEntry {
    /// Full hash of the flow key.
    pub tag: u32,
    /// Connection slot index plus one; 0 marks an empty entry.
    pub slot1: u32,
}

/// The 4-tuple (plus IP version) identifying an offloaded connection, seen
/// from the NIC: "local" is the host's address.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct FlowKey {
    /// Host address (IPv4 in the first 4 bytes, rest zero).
    pub local_addr: [u8; 16],
    /// Peer address.
    pub remote_addr: [u8; 16],
    /// Host port.
    pub local_port: u16,
    /// Peer port.
    pub remote_port: u16,
    /// True for IPv6.
    pub v6: bool,
}

impl PartialEq for FlowKey {
    /// Compares addresses as two 128-bit words each (a handful of
    /// instructions, no byte loop or `bcmp` call): this runs per packet.
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        self.local_port == o.local_port
            && self.remote_port == o.remote_port
            && self.v6 == o.v6
            && u128::from_ne_bytes(self.local_addr) == u128::from_ne_bytes(o.local_addr)
            && u128::from_ne_bytes(self.remote_addr) == u128::from_ne_bytes(o.remote_addr)
    }
}

#[inline]
fn mix(h: u32, w: u32) -> u32 {
    (h ^ w).wrapping_mul(0x9e37_79b1).rotate_left(13)
}

#[inline]
fn word(a: &[u8; 16], i: usize) -> u32 {
    u32::from_le_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
}

impl FlowKey {
    /// Seeded hash of the key.
    #[inline]
    pub fn hash(&self, seed: u32) -> u32 {
        let mut h = mix(
            seed,
            (u32::from(self.local_port) << 16) | u32::from(self.remote_port),
        );
        h = mix(h, word(&self.local_addr, 0));
        h = mix(h, word(&self.remote_addr, 0));
        if self.v6 {
            for i in [4, 8, 12] {
                h = mix(h, word(&self.local_addr, i));
                h = mix(h, word(&self.remote_addr, i));
            }
        }
        // Final avalanche (murmur3 fmix32) so the high bits used for the
        // slot index depend on every input bit.
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

/// Maps a hash to a table index without division (Lemire's fastrange).
#[inline]
fn home(tag: u32, len: usize) -> usize {
    ((u64::from(tag) * len as u64) >> 32) as usize
}

/// Linear-probing hash table over a borrowed slice.
#[derive(Debug)]
pub struct LookupTable<'a> {
    entries: &'a mut [LookupEntry],
    seed: u32,
    count: usize,
}

impl<'a> LookupTable<'a> {
    /// Wraps and clears `entries`.
    pub fn new(entries: &'a mut [LookupEntry], seed: u32) -> Self {
        for e in entries.iter_mut() {
            *e = LookupEntry::default();
        }
        LookupTable {
            entries,
            seed,
            count: 0,
        }
    }

    /// Hash seed in use.
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Finds the slot whose key equals the probed one. `is_key(slot)` compares
    /// the connection slot's key, and is only called on tag matches.
    #[inline]
    pub fn find(&self, tag: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let len = self.entries.len();
        if len == 0 {
            return None;
        }
        let mut i = home(tag, len);
        for _ in 0..len {
            let e = self.entries.get(i)?;
            if e.slot1 == 0 {
                return None;
            }
            if e.tag == tag && is_key(e.slot1 - 1) {
                return Some(e.slot1 - 1);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
        None
    }

    /// Inserts `slot` under `tag`. The caller has checked the key is absent.
    /// Returns false only if the table is full, which the layout rules out.
    #[must_use]
    pub fn insert(&mut self, tag: u32, slot: u32) -> bool {
        let len = self.entries.len();
        if self.count >= len || slot == NIL {
            return false;
        }
        let mut i = home(tag, len);
        loop {
            let Some(e) = self.entries.get_mut(i) else {
                return false;
            };
            if e.slot1 == 0 {
                *e = LookupEntry {
                    tag,
                    slot1: slot + 1,
                };
                self.count += 1;
                return true;
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    /// Removes the entry mapping to `slot` (found via `tag`), shifting later
    /// entries of the cluster back so probing stays correct.
    pub fn remove(&mut self, tag: u32, slot: u32) -> bool {
        let len = self.entries.len();
        if len == 0 {
            return false;
        }
        let mut i = home(tag, len);
        let mut found = None;
        for _ in 0..len {
            match self.entries.get(i) {
                Some(e) if e.slot1 == 0 => break,
                Some(e) if e.slot1 == slot.wrapping_add(1) => {
                    found = Some(i);
                    break;
                }
                Some(_) => {}
                None => break,
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
        let Some(mut hole) = found else { return false };
        // Backward-shift deletion (Knuth 6.4 Algorithm R).
        let mut j = hole;
        loop {
            j += 1;
            if j == len {
                j = 0;
            }
            let e = match self.entries.get(j) {
                Some(e) if e.slot1 != 0 => *e,
                _ => break,
            };
            let h = home(e.tag, len);
            // Move e into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                if let Some(dst) = self.entries.get_mut(hole) {
                    *dst = e;
                }
                hole = j;
            }
        }
        if let Some(dst) = self.entries.get_mut(hole) {
            *dst = LookupEntry::default();
        }
        self.count -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    fn key(i: u32, v6: bool) -> FlowKey {
        let mut k = FlowKey {
            v6,
            local_port: 80,
            remote_port: (i % 60000) as u16,
            ..Default::default()
        };
        k.local_addr[..4].copy_from_slice(&[198, 18, 0, 1]);
        k.remote_addr[..4].copy_from_slice(&(0xc612_0000 + i / 60000).to_be_bytes());
        if v6 {
            k.remote_addr[15] = i as u8;
        }
        k
    }

    #[test]
    fn insert_find_remove_many() {
        let n = 1000u32;
        let mut store = vec![LookupEntry::default(); 2 * n as usize];
        let mut t = LookupTable::new(&mut store, 0x1234);
        let keys: Vec<FlowKey> = (0..n).map(|i| key(i, i % 2 == 0)).collect();
        for (i, k) in keys.iter().enumerate() {
            let tag = k.hash(t.seed());
            assert_eq!(t.find(tag, |s| keys[s as usize] == *k), None);
            assert!(t.insert(tag, i as u32));
        }
        assert_eq!(t.len(), n as usize);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                t.find(k.hash(t.seed()), |s| keys[s as usize] == *k),
                Some(i as u32)
            );
        }
        // Remove every third key and check the rest stay reachable.
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            assert!(t.remove(k.hash(t.seed()), i as u32));
        }
        for (i, k) in keys.iter().enumerate() {
            let want = if i % 3 == 0 { None } else { Some(i as u32) };
            assert_eq!(
                t.find(k.hash(t.seed()), |s| keys[s as usize] == *k),
                want,
                "key {i}"
            );
        }
        assert!(!t.remove(keys[0].hash(t.seed()), 0));
    }

    #[test]
    fn colliding_tags_are_told_apart_by_key() {
        let mut store = vec![LookupEntry::default(); 8];
        let mut t = LookupTable::new(&mut store, 0);
        for s in 0..4 {
            assert!(t.insert(7, s));
        }
        for s in 0..4 {
            assert_eq!(t.find(7, |x| x == s), Some(s));
        }
        assert!(t.remove(7, 1));
        assert_eq!(t.find(7, |x| x == 3), Some(3));
        assert_eq!(t.find(7, |x| x == 1), None);
    }

    #[test]
    fn full_and_empty_tables_do_not_panic() {
        let mut none: [LookupEntry; 0] = [];
        let mut t = LookupTable::new(&mut none, 0);
        assert_eq!(t.find(1, |_| true), None);
        assert!(!t.insert(1, 0));
        assert!(!t.remove(1, 0));
        let mut two = [LookupEntry::default(); 2];
        let mut t = LookupTable::new(&mut two, 0);
        assert!(t.insert(1, 0));
        assert!(t.insert(1, 1));
        assert!(!t.insert(1, 2));
        assert_eq!(t.find(5, |_| false), None);
    }
}
