//! IPv6 (RFC 8200). Only packets whose first next-header is TCP are handled
//! by the firmware; extension headers are reported as
//! [`WireError::Unsupported`] and go to the host.

use super::{be16, put16, WireError};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// Zero-copy view of an IPv6 packet whose lengths have been validated.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the version and the payload length against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed);
        }
        if b.len() < HEADER_LEN + usize::from(be16(b, 4)) {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        let b = self.b();
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Payload length field.
    pub fn payload_len(&self) -> usize {
        usize::from(be16(self.b(), 4))
    }

    /// Next header.
    pub fn next_header(&self) -> u8 {
        self.b()[6]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[7]
    }

    /// Source address.
    pub fn src_addr(&self) -> [u8; 16] {
        addr_at(self.b(), 8)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> [u8; 16] {
        addr_at(self.b(), 24)
    }

    /// The payload, bounded by the payload length field.
    pub fn payload(&self) -> &[u8] {
        self.b()
            .get(HEADER_LEN..HEADER_LEN + self.payload_len())
            .unwrap_or(&[])
    }
}

fn addr_at(b: &[u8], off: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(off..off + 16) {
        a.copy_from_slice(s);
    }
    a
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    pub fn payload_slice(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        b.get(HEADER_LEN..HEADER_LEN + self.payload_len())
            .unwrap_or(&[])
    }
}

/// The IPv6 header fields the firmware emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Next header.
    pub next_header: u8,
    /// Payload length in bytes.
    pub payload_len: u16,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
}

impl Ipv6Repr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Self {
        Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: p.payload_len() as u16,
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
        }
    }

    /// Writes the 40-byte header.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        h[0] = 0x60 | (self.traffic_class >> 4);
        h[1] = self.traffic_class << 4;
        h[2] = 0;
        h[3] = 0;
        put16(h, 4, self.payload_len);
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src);
        h[24..40].copy_from_slice(&self.dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut src = [0u8; 16];
        src[0] = 0x20;
        src[1] = 0x01;
        src[15] = 1;
        let r = Ipv6Repr {
            src,
            dst: [0xfe; 16],
            next_header: 6,
            payload_len: 3,
            hop_limit: 64,
            traffic_class: 0xb8,
        };
        let mut buf = [0u8; 43];
        r.emit(&mut buf).unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), r);
        assert_eq!(p.payload().len(), 3);
        assert_eq!(
            Packet::new_checked(&buf[..42]).err(),
            Some(WireError::Truncated)
        );
        buf[0] = 0x40;
        assert_eq!(
            Packet::new_checked(&buf[..]).err(),
            Some(WireError::Malformed)
        );
    }
}
