// SPDX-License-Identifier: GPL-2.0

//! Selectors of `net.handoff.restore` and `net.handoff.offload`: `all`, a
//! socket cookie (decimal, or hex with `0x`), or a 4-tuple `LOCAL REMOTE`,
//! each `addr:port` (`[addr]:port` for IPv6).
//!
//! Plain `core` Rust with no kernel dependency, so the host tests it with
//! cargo (`xtask/tests/selector.rs` includes this file).

/// What a selector names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Selector {
    All,
    Cookie(u64),
    Tuple {
        v6: bool,
        /// IPv4 addresses are in the first 4 bytes, network order.
        local: [u8; 16],
        lport: u16,
        remote: [u8; 16],
        rport: u16,
    },
}

/// Parses what was written to the sysctl (a trailing newline allowed);
/// `None` if it is not a selector.
pub(crate) fn parse(input: &[u8]) -> Option<Selector> {
    let s = input.strip_suffix(b"\n").unwrap_or(input).trim_ascii();
    if s == b"all" {
        return Some(Selector::All);
    }
    if let Some(v) = parse_u64(s) {
        return Some(Selector::Cookie(v));
    }
    let mut parts = s
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let (Some(l), Some(r), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let (lv6, local, lport) = parse_endpoint(l)?;
    let (rv6, remote, rport) = parse_endpoint(r)?;
    (lv6 == rv6).then_some(Selector::Tuple {
        v6: lv6,
        local,
        lport,
        remote,
        rport,
    })
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    let (digits, radix) = match s {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = (b as char).to_digit(radix)?;
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// `addr:port` or `[addr]:port`: (IPv6, address, port).
fn parse_endpoint(s: &[u8]) -> Option<(bool, [u8; 16], u16)> {
    let (addr, port, v6) = if let Some(rest) = s.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']')?;
        let port = rest.get(close + 1..)?.strip_prefix(b":")?;
        (&rest[..close], port, true)
    } else {
        let colon = s.iter().rposition(|&b| b == b':')?;
        (&s[..colon], &s[colon + 1..], false)
    };
    let port = u16::try_from(parse_u64(port)?).ok().filter(|&p| p > 0)?;
    let mut out = [0u8; 16];
    if v6 {
        out = parse_v6(addr)?;
    } else {
        out[..4].copy_from_slice(&parse_v4(addr)?);
    }
    Some((v6, out, port))
}

/// Dotted-quad IPv4, each part 0 to 255 in decimal.
fn parse_v4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split(|&b| b == b'.') {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = part.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
        out[n] = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then_some(out)
}

/// Colon-separated groups of up to 4 hex digits into `out`, the last of
/// them a dotted IPv4 address (two groups) if `v4_last` allows; how many
/// groups. Empty input is zero groups.
fn groups(s: &[u8], out: &mut [u16; 8], v4_last: bool) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    let mut parts = s.split(|&b| b == b':').peekable();
    while let Some(part) = parts.next() {
        if v4_last && parts.peek().is_none() && part.contains(&b'.') {
            let a = parse_v4(part)?;
            if n + 2 > out.len() {
                return None;
            }
            out[n] = u16::from_be_bytes([a[0], a[1]]);
            out[n + 1] = u16::from_be_bytes([a[2], a[3]]);
            return Some(n + 2);
        }
        if part.is_empty() || part.len() > 4 || n == out.len() {
            return None;
        }
        let mut v = 0u16;
        for &b in part {
            v = v << 4 | (b as char).to_digit(16)? as u16;
        }
        out[n] = v;
        n += 1;
    }
    Some(n)
}

/// IPv6 text form (RFC 4291 §2.2): eight groups, or fewer around one `::`,
/// the last 32 bits optionally dotted IPv4.
fn parse_v6(s: &[u8]) -> Option<[u8; 16]> {
    let gap = s.windows(2).position(|w| w == b"::");
    let mut words = [0u16; 8];
    match gap {
        None => {
            if groups(s, &mut words, true)? != 8 {
                return None;
            }
        }
        Some(i) => {
            let (head, tail) = (&s[..i], &s[i + 2..]);
            if tail.windows(2).any(|w| w == b"::") {
                return None;
            }
            let mut h = [0u16; 8];
            let mut t = [0u16; 8];
            let hn = groups(head, &mut h, false)?;
            let tn = groups(tail, &mut t, true)?;
            // `::` stands for at least one group of zeros.
            if hn + tn > 7 {
                return None;
            }
            words[..hn].copy_from_slice(&h[..hn]);
            words[8 - tn..].copy_from_slice(&t[..tn]);
        }
    }
    let mut out = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
    }
    Some(out)
}
