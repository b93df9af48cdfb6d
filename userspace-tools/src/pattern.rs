//! Deterministic, incompressible test payloads.
//!
//! Transfers use pseudo-random bytes rather than a constant pattern so that
//! a misplaced, duplicated or dropped segment always changes the digest.

/// xorshift64* byte stream; the same seed always yields the same bytes.
pub struct Pattern {
    state: u64,
}

impl Pattern {
    /// A stream for `seed` (any value): distinct seeds give distinct
    /// streams. The seed is mixed (splitmix64's finaliser) before the low
    /// bit is forced on (xorshift needs a non-zero state); forcing it on
    /// the raw seed made seeds 2k and 2k+1, i.e. both directions of a
    /// connection in hxfer, produce the same bytes.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Pattern { state: (z ^ (z >> 31)) | 1 }
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn same_seed_same_bytes_any_chunking() {
        let mut whole = vec![0u8; 64];
        Pattern::new(7).fill(&mut whole);
        let mut p = Pattern::new(7);
        let mut parts = vec![0u8; 64];
        for c in parts.chunks_mut(8) {
            p.fill(c);
        }
        assert_eq!(whole, parts);
    }

    #[test]
    fn both_directions_of_a_connection_differ() {
        for conn in 0..64u64 {
            let (mut a, mut b) = (vec![0u8; 64], vec![0u8; 64]);
            Pattern::new(conn << 1).fill(&mut a);
            Pattern::new((conn << 1) | 1).fill(&mut b);
            assert_ne!(a, b, "seeds {} and {} give the same stream", conn << 1, (conn << 1) | 1);
        }
    }

    #[test]
    fn different_seeds_differ_and_bytes_vary() {
        let (mut a, mut b) = (vec![0u8; 256], vec![0u8; 256]);
        Pattern::new(1).fill(&mut a);
        Pattern::new(2).fill(&mut b);
        assert_ne!(a, b);
        let distinct: std::collections::HashSet<u8> = a.iter().copied().collect();
        assert!(distinct.len() > 100, "pattern is not varied: {} distinct bytes", distinct.len());
    }
}
