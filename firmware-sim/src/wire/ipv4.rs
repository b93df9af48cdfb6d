//! IPv4 (RFC 791). Options are accepted and skipped; fragments are reported
//! as [`WireError::Unsupported`] so the caller passes them to the host, which
//! reassembles and may `forward` the result.

use super::{be16, checksum, WireError};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// Zero-copy view of an IPv4 packet whose lengths have been validated.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates version, header length and total length against the buffer
    /// (which may carry trailing Ethernet padding).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        let total = usize::from(be16(b, 2));
        if hl < HEADER_LEN || total < hl {
            return Err(WireError::Malformed);
        }
        if b.len() < hl || b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[0] & 0x0f) * 4
    }

    /// Total length field.
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.b(), 2))
    }

    /// Type of service / DSCP+ECN byte.
    pub fn tos(&self) -> u8 {
        self.b()[1]
    }

    /// True for any fragment (MF set or non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(self.b(), 6) & 0x3fff != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }

    /// Protocol number.
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }

    /// Source address.
    pub fn src_addr(&self) -> [u8; 4] {
        let b = self.b();
        [b[12], b[13], b[14], b[15]]
    }

    /// Destination address.
    pub fn dst_addr(&self) -> [u8; 4] {
        let b = self.b();
        [b[16], b[17], b[18], b[19]]
    }

    /// True if the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        match self.b().get(..self.header_len()) {
            Some(h) => match <&[u8; 20]>::try_from(h) {
                Ok(h20) => checksum::sum20(h20) == 0xffff,
                Err(_) => checksum::checksum(h) == 0,
            },
            None => false,
        }
    }

    /// The payload, bounded by the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        self.b()
            .get(self.header_len()..self.total_len())
            .unwrap_or(&[])
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    pub fn payload_slice(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        b.get(self.header_len()..self.total_len()).unwrap_or(&[])
    }
}

/// The IPv4 header fields the firmware emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Protocol number.
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
    /// TOS byte.
    pub tos: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet, rejecting bad checksums and fragments.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        if !p.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if p.is_fragment() {
            return Err(WireError::Unsupported);
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: (p.total_len() - p.header_len()) as u16,
            ttl: p.ttl(),
            tos: p.tos(),
        })
    }

    /// Writes a 20-byte header (DF set, no options) with its checksum.
    pub fn emit(&self, buf: &mut [u8], ident: u16) -> Result<(), WireError> {
        let total = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(WireError::Malformed)?;
        let h: &mut [u8; 20] = buf
            .get_mut(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let [t0, t1] = total.to_be_bytes();
        let [i0, i1] = ident.to_be_bytes();
        let [s0, s1, s2, s3] = self.src;
        let [d0, d1, d2, d3] = self.dst;
        *h = [
            0x45,
            self.tos,
            t0,
            t1,
            i0,
            i1,
            0x40,
            0,
            self.ttl,
            self.protocol,
            0,
            0,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
        ];
        let c = !checksum::sum20(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src: [198, 18, 0, 1],
            dst: [198, 18, 0, 2],
            protocol: PROTO_TCP,
            payload_len: 4,
            ttl: 64,
            tos: 0x10,
        }
    }

    #[test]
    fn roundtrip_with_padding() {
        let mut buf = [0u8; 46];
        sample().emit(&mut buf, 7).unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), sample());
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn rejects() {
        let mut buf = [0u8; 24];
        sample().emit(&mut buf, 7).unwrap();
        // Table of (mutation, expected error).
        type Mutation = fn(&mut [u8]);
        let cases: &[(Mutation, WireError)] = &[
            (|b| b[0] = 0x65, WireError::Malformed),
            (|b| b[0] = 0x44, WireError::Malformed),
            (|b| b[0] = 0x4f, WireError::Malformed),
            (|b| b[3] = 200, WireError::Truncated),
            (|b| b[3] = 10, WireError::Malformed),
        ];
        for (mutate, want) in cases {
            let mut b = buf;
            mutate(&mut b);
            assert_eq!(Packet::new_checked(&b[..]).err(), Some(*want));
        }
        let mut b = buf;
        b[8] ^= 1;
        assert_eq!(
            Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(WireError::BadChecksum)
        );
        assert_eq!(
            Packet::new_checked(&buf[..19]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn fragments_unsupported() {
        let mut buf = [0u8; 24];
        sample().emit(&mut buf, 7).unwrap();
        buf[6] = 0x20; // MF
        buf[10] = 0;
        buf[11] = 0;
        let c = checksum::checksum(&buf[..20]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            Ipv4Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Err(WireError::Unsupported)
        );
    }
}
