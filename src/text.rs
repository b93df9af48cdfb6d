// SPDX-License-Identifier: GPL-2.0

//! Text handling for the control plane: the `net.handoff.ports` grammar and
//! decimal formatting.
//!
//! Pure functions over byte slices, with no kernel dependency (only `core`),
//! so that the same file can be compiled into a host test crate.

/// Most items (ports or ranges) a port list may have.
pub(crate) const MAX_ITEMS: usize = 64;

/// Longest port list accepted, in bytes, not counting one trailing newline.
pub(crate) const MAX_LEN: usize = 255;

/// Number of ports: the bitmap of a port list has one bit per `u16` value.
pub(crate) const PORTS: usize = 1 << 16;

/// Number of 64-bit words in a port bitmap.
pub(crate) const WORDS: usize = PORTS / 64;

/// An inclusive range of ports, `1 <= lo <= hi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) lo: u16,
    pub(crate) hi: u16,
}

/// A parsed port list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortSpec {
    /// `all`: every port.
    All,
    /// The first `n` entries of the output array (`0`: no port).
    List(usize),
}

/// The text is not a valid port list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// `s` without leading and trailing blanks (spaces and tabs).
fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_blank(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_blank(c))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// One port: decimal digits only, value in `1..=65535`.
fn parse_port(s: &[u8]) -> Result<u16, Invalid> {
    if s.is_empty() {
        return Err(Invalid);
    }
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(Invalid);
        }
        v = v * 10 + u32::from(c - b'0');
        if v > u32::from(u16::MAX) {
            return Err(Invalid);
        }
    }
    if v == 0 {
        return Err(Invalid);
    }
    Ok(v as u16)
}

/// One item: `port` or `lo-hi` with `lo <= hi`, no blanks inside.
fn parse_item(s: &[u8]) -> Result<Range, Invalid> {
    match s.iter().position(|&c| c == b'-') {
        None => {
            let p = parse_port(s)?;
            Ok(Range { lo: p, hi: p })
        }
        Some(dash) => {
            let lo = parse_port(&s[..dash])?;
            let hi = parse_port(&s[dash + 1..])?;
            if lo > hi {
                return Err(Invalid);
            }
            Ok(Range { lo, hi })
        }
    }
}

/// Parses a port list (the text written to `net.handoff.ports`).
///
/// Grammar, after removing one trailing newline:
///
/// ```text
/// list  := blanks | blanks "all" blanks | item ("," item)*
/// item  := blanks (port | port "-" port) blanks
/// port  := decimal digits, value 1..=65535
/// ```
///
/// At most [`MAX_ITEMS`] items and [`MAX_LEN`] bytes. The ranges go to
/// `out`; nothing else is written. Ranges may overlap and come in any order.
pub(crate) fn parse_ports(text: &[u8], out: &mut [Range; MAX_ITEMS]) -> Result<PortSpec, Invalid> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.len() > MAX_LEN {
        return Err(Invalid);
    }
    let whole = trim(text);
    if whole.is_empty() {
        return Ok(PortSpec::List(0));
    }
    if whole == b"all" {
        return Ok(PortSpec::All);
    }
    let mut n = 0;
    for piece in text.split(|&c| c == b',') {
        if n == MAX_ITEMS {
            return Err(Invalid);
        }
        out[n] = parse_item(trim(piece))?;
        n += 1;
    }
    Ok(PortSpec::List(n))
}

/// Word `w` of the bitmap of `ranges`: bit `b` is set when port `64 * w + b`
/// is in one of the ranges.
pub(crate) fn bitmap_word(ranges: &[Range], w: usize) -> u64 {
    let first = w * 64;
    let last = first + 63;
    let mut word = 0u64;
    for r in ranges {
        let lo = usize::from(r.lo).max(first);
        let hi = usize::from(r.hi).min(last);
        if lo > hi {
            continue;
        }
        let bits = hi - lo + 1;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            ((1u64 << bits) - 1) << (lo - first)
        };
        word |= mask;
    }
    word
}

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

/// Appends to `out` at `*len`; `Err` (and nothing written) when it does not fit.
fn append(out: &mut [u8], len: &mut usize, s: &[u8]) -> Result<(), Invalid> {
    let end = len.checked_add(s.len()).ok_or(Invalid)?;
    out.get_mut(*len..end).ok_or(Invalid)?.copy_from_slice(s);
    *len = end;
    Ok(())
}

fn append_run(out: &mut [u8], len: &mut usize, lo: usize, hi: usize) -> Result<(), Invalid> {
    let mut buf = [0u8; 20];
    if *len > 0 {
        append(out, len, b",")?;
    }
    append(out, len, decimal(lo as u64, &mut buf))?;
    if hi > lo {
        append(out, len, b"-")?;
        append(out, len, decimal(hi as u64, &mut buf))?;
    }
    Ok(())
}

/// The normalized text of a port list: `all`, empty, or the runs of set bits
/// of the bitmap in ascending order, `lo-hi` for a run of several ports and
/// `port` for one. `word(w)` gives word `w` of the bitmap (see
/// [`bitmap_word`]).
///
/// Returns the length written to `out`, or `Err` if it does not fit. Any
/// bitmap built from a list [`parse_ports`] accepted fits in [`MAX_LEN`]
/// bytes: each run starts at some item's `lo` and ends at some item's `hi`,
/// so its text is no longer than those items and the comma between them.
pub(crate) fn format_ports(
    all: bool,
    word: impl Fn(usize) -> u64,
    out: &mut [u8],
) -> Result<usize, Invalid> {
    let mut len = 0;
    if all {
        append(out, &mut len, b"all")?;
        return Ok(len);
    }
    // Start of the run of set bits being scanned, if any.
    let mut run: Option<usize> = None;
    for w in 0..WORDS {
        let bits = word(w);
        if (bits == 0 && run.is_none()) || (bits == u64::MAX && run.is_some()) {
            continue;
        }
        for b in 0..64 {
            let port = w * 64 + b;
            let set = bits & (1u64 << b) != 0;
            match (set, run) {
                (true, None) => run = Some(port),
                (false, Some(lo)) => {
                    append_run(out, &mut len, lo, port - 1)?;
                    run = None;
                }
                _ => {}
            }
        }
    }
    if let Some(lo) = run {
        append_run(out, &mut len, lo, PORTS - 1)?;
    }
    Ok(len)
}
