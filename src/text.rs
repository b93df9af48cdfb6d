// SPDX-License-Identifier: GPL-2.0

//! Text handling for the control plane: decimal formatting.
//!
//! Pure functions over byte slices, with no kernel dependency (only `core`),
//! so that the same file can be compiled into a host test crate.

/// `n` in decimal, at the end of `buf`; returns the digits.
pub(crate) fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}
