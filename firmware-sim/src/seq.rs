//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).

/// `a < b` in sequence space.
#[inline]
pub fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
#[inline]
pub fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// `a > b` in sequence space.
#[inline]
pub fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

/// `a >= b` in sequence space.
#[inline]
pub fn ge(a: u32, b: u32) -> bool {
    le(b, a)
}

/// The later of two sequence numbers.
#[inline]
pub fn max(a: u32, b: u32) -> u32 {
    if lt(a, b) {
        b
    } else {
        a
    }
}

/// Distance from `a` forward to `b` (caller ensures `a <= b`).
#[inline]
pub fn diff(b: u32, a: u32) -> u32 {
    b.wrapping_sub(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        let cases: &[(u32, u32, bool)] = &[
            (0, 1, true),
            (1, 0, false),
            (0xffff_ffff, 0, true),
            (0xffff_fff0, 0x10, true),
            (0x10, 0xffff_fff0, false),
            (5, 5, false),
            (0, 0x7fff_ffff, true),
        ];
        for &(a, b, want) in cases {
            assert_eq!(lt(a, b), want, "{a:#x} < {b:#x}");
            assert_eq!(gt(b, a), want);
        }
        assert!(le(5, 5) && ge(5, 5));
        assert_eq!(max(0xffff_fff0, 3), 3);
        assert_eq!(diff(3, 0xffff_fff0), 0x13);
    }
}
