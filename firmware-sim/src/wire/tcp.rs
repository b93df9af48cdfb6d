//! TCP header and options (RFC 9293, RFC 7323, RFC 2018).

use super::{be16, be32, checksum, put16, WireError};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Maximum TCP header length (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// PSH flag.
pub const PSH: u8 = 0x08;
/// ACK flag.
pub const ACK: u8 = 0x10;
/// URG flag.
pub const URG: u8 = 0x20;

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_PERM: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TS: u8 = 8;

/// Largest window field, before the peer's window scale is applied.
pub const MAX_WINDOW: u32 = 65535;

/// Maximum number of SACK blocks a header can carry.
pub const MAX_SACK_BLOCKS: usize = 4;

/// Zero-copy view of a TCP segment whose header length has been validated.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the data offset against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if b.len() < hl {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.b(), 4)
    }
    /// Acknowledgment number.
    pub fn ack(&self) -> u32 {
        be32(self.b(), 8)
    }
    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[12] >> 4) * 4
    }
    /// Flag byte (FIN..CWR).
    pub fn flags(&self) -> u8 {
        self.b()[13]
    }
    /// Raw (unscaled) window field.
    pub fn window(&self) -> u16 {
        be16(self.b(), 14)
    }
    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        self.b().get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }
    /// Payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.b().get(self.header_len()..).unwrap_or(&[])
    }

    /// Verifies the checksum given the pseudo-header sum.
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::add(pseudo, self.b()) == 0xffff
    }
}

/// Options the firmware understands, parsed from a segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// MSS option (only meaningful on SYN).
    pub mss: Option<u16>,
    /// Window scale option (only meaningful on SYN).
    pub wscale: Option<u8>,
    /// SACK-permitted (only meaningful on SYN).
    pub sack_perm: bool,
    /// Timestamps: (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
    /// SACK blocks (left, right), `sack_count` valid entries.
    pub sack: [(u32, u32); MAX_SACK_BLOCKS],
    /// Number of valid SACK blocks.
    pub sack_count: u8,
    /// The option list was malformed; parsing stopped at the bad option.
    pub malformed: bool,
}

impl TcpOptions {
    /// Parses an option list. Like Linux, a malformed option (bad length,
    /// overrun) ends parsing: the options before it are kept and the segment
    /// is still processed, with `malformed` set so it can be counted.
    pub fn parse(mut opts: &[u8]) -> Self {
        let mut o = TcpOptions::default();
        // Fast path: the layout every timestamp-using stack sends on
        // established connections (RFC 7323 Appendix A).
        if let Some(&[1, 1, 8, 10, a0, a1, a2, a3, b0, b1, b2, b3]) =
            opts.get(..12).and_then(|s| <&[u8; 12]>::try_from(s).ok())
        {
            if opts.len() == 12 {
                o.ts = Some((
                    u32::from_be_bytes([a0, a1, a2, a3]),
                    u32::from_be_bytes([b0, b1, b2, b3]),
                ));
                return o;
            }
        }
        while let Some(&kind) = opts.first() {
            match kind {
                OPT_EOL => break,
                OPT_NOP => {
                    opts = &opts[1..];
                    continue;
                }
                _ => {}
            }
            let len = match opts.get(1) {
                Some(&l) if usize::from(l) >= 2 && usize::from(l) <= opts.len() => usize::from(l),
                _ => {
                    o.malformed = true;
                    break;
                }
            };
            let body = &opts[2..len];
            match (kind, body.len()) {
                (OPT_MSS, 2) => o.mss = Some(be16(body, 0)),
                (OPT_WSCALE, 1) => o.wscale = Some(body[0]),
                (OPT_SACK_PERM, 0) => o.sack_perm = true,
                (OPT_TS, 8) => o.ts = Some((be32(body, 0), be32(body, 4))),
                (OPT_SACK, n) if n % 8 == 0 && n > 0 => {
                    let mut i = 0;
                    while i + 8 <= n && usize::from(o.sack_count) < MAX_SACK_BLOCKS {
                        o.sack[usize::from(o.sack_count)] = (be32(body, i), be32(body, i + 4));
                        o.sack_count += 1;
                        i += 8;
                    }
                }
                (OPT_MSS, _)
                | (OPT_WSCALE, _)
                | (OPT_SACK_PERM, _)
                | (OPT_TS, _)
                | (OPT_SACK, _) => {
                    // Known kind with the wrong length: RFC 9293 §3.2 says
                    // to treat it as malformed.
                    o.malformed = true;
                    break;
                }
                _ => {} // Unknown options are skipped by length.
            }
            opts = &opts[len..];
        }
        o
    }
}

/// A TCP header to emit. The firmware only runs synchronized connections, so
/// the only option it ever writes is timestamps (and SACK blocks if asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Raw window field (already scaled down).
    pub window: u16,
    /// Timestamps option (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
}

impl TcpRepr {
    /// Header length this repr emits.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + if self.ts.is_some() { 12 } else { 0 }
    }

    /// Writes the header (checksum zero) into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let hl = self.header_len();
        let h: &mut [u8; HEADER_LEN] = buf
            .get_mut(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let [p0, p1] = self.src_port.to_be_bytes();
        let [q0, q1] = self.dst_port.to_be_bytes();
        let [s0, s1, s2, s3] = self.seq.to_be_bytes();
        let [a0, a1, a2, a3] = self.ack.to_be_bytes();
        let [w0, w1] = self.window.to_be_bytes();
        *h = [
            p0,
            p1,
            q0,
            q1,
            s0,
            s1,
            s2,
            s3,
            a0,
            a1,
            a2,
            a3,
            ((hl / 4) as u8) << 4,
            self.flags,
            w0,
            w1,
            0,
            0,
            0,
            0,
        ];
        if let Some((val, ecr)) = self.ts {
            let o: &mut [u8; 12] = buf
                .get_mut(HEADER_LEN..HEADER_LEN + 12)
                .and_then(|o| o.try_into().ok())
                .ok_or(WireError::Truncated)?;
            let [v0, v1, v2, v3] = val.to_be_bytes();
            let [e0, e1, e2, e3] = ecr.to_be_bytes();
            *o = [OPT_NOP, OPT_NOP, OPT_TS, 10, v0, v1, v2, v3, e0, e1, e2, e3];
        }
        Ok(())
    }
}

/// Computes and stores the checksum of a complete segment (header+payload).
pub fn fill_checksum(segment: &mut [u8], pseudo: u16) {
    if segment.len() < HEADER_LEN {
        return;
    }
    put16(segment, 16, 0);
    let c = !checksum::add(pseudo, segment);
    put16(segment, 16, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_parse_roundtrip() {
        let r = TcpRepr {
            src_port: 80,
            dst_port: 40000,
            seq: 0xffff_fff0,
            ack: 5,
            flags: ACK | PSH,
            window: 1000,
            ts: Some((1, 2)),
        };
        let mut buf = [0u8; 35];
        r.emit(&mut buf).unwrap();
        buf[32..].copy_from_slice(b"abc");
        let pseudo = checksum::pseudo_v4(&[1, 2, 3, 4], &[5, 6, 7, 8], 6, 35);
        fill_checksum(&mut buf, pseudo);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(pseudo));
        assert_eq!(
            (p.src_port(), p.dst_port(), p.seq(), p.ack()),
            (80, 40000, 0xffff_fff0, 5)
        );
        assert_eq!(
            (p.flags(), p.window(), p.payload()),
            (ACK | PSH, 1000, &b"abc"[..])
        );
        assert_eq!(TcpOptions::parse(p.options()).ts, Some((1, 2)));
        buf[34] ^= 0x40;
        assert!(!Packet::new_checked(&buf[..])
            .unwrap()
            .verify_checksum(pseudo));
    }

    #[test]
    fn header_length_checks() {
        let mut buf = [0u8; 24];
        buf[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&buf[..]).err(),
            Some(WireError::Malformed)
        );
        buf[12] = 0x70;
        assert_eq!(
            Packet::new_checked(&buf[..]).err(),
            Some(WireError::Truncated)
        );
        buf[12] = 0x50;
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn options_table() {
        let ts = [1u8, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
        let cases: &[(&[u8], TcpOptions)] = &[
            (&[], TcpOptions::default()),
            (
                &[2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2],
                TcpOptions {
                    mss: Some(1460),
                    wscale: Some(7),
                    sack_perm: true,
                    ..Default::default()
                },
            ),
            (
                &ts,
                TcpOptions {
                    ts: Some((7, 9)),
                    ..Default::default()
                },
            ),
            // EOL stops parsing even if garbage follows.
            (&[0, 2, 4, 5, 0xb4], TcpOptions::default()),
            // Zero length, length 1, overlong, wrong length for a known kind.
            (
                &[99, 0],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            (
                &[99, 1],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            (
                &[2, 40, 0, 0],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            (
                &[2, 3, 0, 1, 1, 1, 1],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            (
                &[8, 6, 0, 0, 0, 0],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            (
                &[2],
                TcpOptions {
                    malformed: true,
                    ..Default::default()
                },
            ),
            // Unknown option skipped by its length.
            (
                &[30, 4, 0, 0, 4, 2],
                TcpOptions {
                    sack_perm: true,
                    ..Default::default()
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(TcpOptions::parse(bytes), *want, "{bytes:?}");
        }
    }

    #[test]
    fn sack_blocks() {
        let mut o = [0u8; 2 + 8 * 5];
        o[0] = 5;
        o[1] = 34;
        for i in 0..4u32 {
            let off = 2 + 8 * i as usize;
            o[off..off + 4].copy_from_slice(&(i * 100).to_be_bytes());
            o[off + 4..off + 8].copy_from_slice(&(i * 100 + 50).to_be_bytes());
        }
        let p = TcpOptions::parse(&o[..34]);
        assert_eq!(p.sack_count, 4);
        assert_eq!(p.sack[3], (300, 350));
        o[1] = 33;
        assert!(TcpOptions::parse(&o[..34]).malformed);
    }
}
