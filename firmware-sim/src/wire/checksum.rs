//! RFC 1071 Internet checksum.
//!
//! The firmware verifies and generates every IPv4 header checksum and every
//! TCP checksum in software, so this is on the per-packet hot path. The sum is
//! accumulated eight bytes at a time as little-endian words (the one's
//! complement sum is byte-order independent, RFC 1071 §2(B)) into a 128-bit
//! accumulator whose high half counts the carries, and swapped to network
//! order once at the end: an add and an add-with-carry per eight bytes.

/// Adds `data` to a running one's complement sum and returns the new sum,
/// folded to 16 bits and in network byte order.
///
/// `data` is treated as if it started at an even offset of the checksummed
/// region; callers that split a region must split it at even offsets.
///
/// Never inlined: it is big, and keeping it one symbol lets profiles
/// (bench.sh) attribute checksum cost exactly.
#[inline(never)]
pub fn add(partial: u16, data: &[u8]) -> u16 {
    // 64-bit words summed into a 128-bit accumulator: the high half
    // collects the carries, so each word costs an add and an adc, and the
    // 32-byte unrolled body keeps loop overhead small. (Integer only: the
    // kernel build has no FPU/SIMD in Rust code.)
    let mut acc: u128 = 0;
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        if let Ok(b) = <&[u8; 32]>::try_from(b) {
            let w = |i: usize| {
                u128::from(u64::from_le_bytes([
                    b[i],
                    b[i + 1],
                    b[i + 2],
                    b[i + 3],
                    b[i + 4],
                    b[i + 5],
                    b[i + 6],
                    b[i + 7],
                ]))
            };
            acc += w(0) + w(8) + w(16) + w(24);
        }
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for c in &mut words {
        if let Ok(w) = <[u8; 8]>::try_from(c) {
            acc += u128::from(u64::from_le_bytes(w));
        }
    }
    let rest = words.remainder();
    let mut tail = [0u8; 8];
    if let Some(t) = tail.get_mut(..rest.len()) {
        // Zero padding does not change the sum; an odd final byte lands in
        // the low half of its 16-bit word, as RFC 1071 requires.
        t.copy_from_slice(rest);
    }
    acc += u128::from(u64::from_le_bytes(tail));
    let folded = (acc as u64 & 0xffff_ffff)
        + (acc as u64 >> 32)
        + ((acc >> 64) as u64 & 0xffff_ffff)
        + ((acc >> 96) as u64);
    let le = fold(folded);
    combine(partial, le.swap_bytes())
}

/// Sum of a 20-byte header (an IPv4 header without options), in network
/// byte order. Five 32-bit loads instead of the general loop: this runs
/// for every IPv4 frame in and out.
#[inline]
pub fn sum20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let acc = w(0) + w(4) + w(8) + w(12) + w(16);
    fold(acc).swap_bytes()
}

/// Folds a wide one's complement accumulator to 16 bits.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's complement addition of two 16-bit partial sums.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Checksums `data` from scratch and returns the value to store in a
/// checksum field (the complement of the sum).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !add(0, data)
}

/// Sum of the TCP pseudo-header for IPv4 (RFC 793 §3.1).
#[inline]
pub fn pseudo_v4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: u16) -> u16 {
    let mut acc: u64 = 0;
    acc += u64::from(u16::from_be_bytes([src[0], src[1]]));
    acc += u64::from(u16::from_be_bytes([src[2], src[3]]));
    acc += u64::from(u16::from_be_bytes([dst[0], dst[1]]));
    acc += u64::from(u16::from_be_bytes([dst[2], dst[3]]));
    acc += u64::from(proto);
    acc += u64::from(len);
    fold(acc)
}

/// Sum of the upper-layer pseudo-header for IPv6 (RFC 8200 §8.1).
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], proto: u8, len: u32) -> u16 {
    let s = add(0, src);
    let d = add(0, dst);
    let mut acc = u64::from(s) + u64::from(d);
    acc += u64::from(len >> 16) + u64::from(len & 0xffff);
    acc += u64::from(proto);
    fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward big-endian reference implementation.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            acc += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            acc += u32::from(data[i]) << 8;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 numerical example: sum is ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(add(0, &data), 0xddf2);
    }

    #[test]
    fn matches_reference_all_lengths() {
        let mut buf = [0u8; 64];
        let mut x: u32 = 0x1234_5678;
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        for len in 0..=buf.len() {
            assert_eq!(add(0, &buf[..len]), reference(&buf[..len]), "len {len}");
        }
        let ff = [0xffu8; 33];
        assert_eq!(add(0, &ff), reference(&ff));
    }

    #[test]
    fn split_at_even_offsets_is_associative() {
        let data: [u8; 21] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        let whole = add(0, &data);
        for split in (0..data.len()).step_by(2) {
            let a = add(0, &data[..split]);
            assert_eq!(add(a, &data[split..]), whole);
        }
    }

    #[test]
    fn sum20_matches_general_sum() {
        let h: [u8; 20] = core::array::from_fn(|i| (i * 73 + 5) as u8);
        assert_eq!(sum20(&h), add(0, &h));
        assert_eq!(sum20(&[0xff; 20]), add(0, &[0xff; 20]));
    }

    #[test]
    fn ipv4_header_checksum_verifies_to_zero() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&hdr);
        assert_eq!(c, 0xb861);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
    }
}
