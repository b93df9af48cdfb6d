//! Wire formats: Ethernet II, IPv4, IPv6 and TCP.
//!
//! Each format follows the same shape: a zero-copy `Packet<T: AsRef<[u8]>>`
//! view whose `new_checked` validates lengths once (so accessors never go out
//! of bounds), and a small `Repr` with `parse`/`emit` for the fields the
//! firmware acts on. Nothing here allocates or panics on hostile input.

pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;

/// Why a frame could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than a header or a length field claims.
    Truncated,
    /// A field holds a value the format forbids (bad version, header length...).
    Malformed,
    /// The checksum does not verify.
    BadChecksum,
    /// Valid but not handled by the firmware (fragments, extension headers).
    Unsupported,
}

/// Reads a big-endian u16 at `off`; callers have validated the length.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// Reads a big-endian u32 at `off`; callers have validated the length.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Writes a big-endian u16 at `off` if it fits.
#[inline]
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    if let Some(s) = b.get_mut(off..off + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}
