//! Deterministic, incompressible test payloads.
//!
//! Transfers use pseudo-random bytes rather than a constant pattern so that
//! a misplaced, duplicated or dropped segment always changes the digest.

/// xorshift64* byte stream; the same seed always yields the same bytes.
pub struct Pattern {
    state: u64,
    /// Bytes of the last word not yet handed out, so the stream does not
    /// depend on how a caller chunks it.
    spare: [u8; 8],
    spare_len: usize,
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
        Pattern {
            state: (z ^ (z >> 31)) | 1,
            spare: [0; 8],
            spare_len: 0,
        }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let from_spare = buf.len().min(self.spare_len);
        let used = 8 - self.spare_len;
        buf[..from_spare].copy_from_slice(&self.spare[used..used + from_spare]);
        self.spare_len -= from_spare;
        for chunk in buf[from_spare..].chunks_mut(8) {
            let word = self.next_word();
            chunk.copy_from_slice(&word[..chunk.len()]);
            if chunk.len() < 8 {
                self.spare = word;
                self.spare_len = 8 - chunk.len();
            }
        }
    }
}

/// Checks a received byte stream against the pattern streams it may be, so
/// a failed transfer says where the bytes went wrong, not only that the
/// digest differs. The first 8 bytes name the stream (the seed); every
/// later byte is compared with it.
pub struct StreamCheck {
    candidates: Vec<u64>,
    head: Vec<u8>,
    /// The identified seed and its stream, positioned at `pos`.
    stream: Option<(u64, Pattern)>,
    unknown: bool,
    pos: u64,
    first_bad: Option<u64>,
    bad_bytes: u64,
    expected: Vec<u8>,
}

const ID_BYTES: usize = 8;

impl StreamCheck {
    /// A check for a stream made by one of the seeds in `candidates`.
    pub fn new(candidates: Vec<u64>) -> Self {
        StreamCheck {
            candidates,
            head: Vec::new(),
            stream: None,
            unknown: false,
            pos: 0,
            first_bad: None,
            bad_bytes: 0,
            expected: Vec::new(),
        }
    }

    /// The seed whose stream starts with `prefix`.
    fn identify(&self, prefix: &[u8]) -> Option<u64> {
        let mut start = vec![0u8; prefix.len()];
        self.candidates.iter().copied().find(|&seed| {
            Pattern::new(seed).fill(&mut start);
            start == prefix
        })
    }

    /// Feeds the next received bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        if self.unknown {
            return;
        }
        if self.stream.is_none() {
            let take = data.len().min(ID_BYTES - self.head.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.head.len() < ID_BYTES {
                return;
            }
            let Some(seed) = self.identify(&self.head) else {
                self.unknown = true;
                return;
            };
            let mut p = Pattern::new(seed);
            p.fill(&mut [0u8; ID_BYTES]);
            self.stream = Some((seed, p));
            self.pos = ID_BYTES as u64;
        }
        let Some((_, p)) = self.stream.as_mut() else {
            return;
        };
        self.expected.resize(data.len(), 0);
        p.fill(&mut self.expected);
        for (i, (got, want)) in data.iter().zip(&self.expected).enumerate() {
            if got != want {
                self.bad_bytes += 1;
                self.first_bad.get_or_insert(self.pos + i as u64);
            }
        }
        self.pos += data.len() as u64;
    }

    /// `ok seed=S`, `bad seed=S first_bad=OFFSET bad_bytes=N`, `unknown`
    /// (the start matches no candidate) or `empty`.
    pub fn verdict(&self) -> String {
        match (&self.stream, self.first_bad) {
            (Some((seed, _)), None) => format!("ok seed={seed}"),
            (Some((seed, _)), Some(at)) => format!(
                "bad seed={seed} first_bad={at} bad_bytes={}",
                self.bad_bytes
            ),
            (None, _) if self.head.is_empty() => "empty".into(),
            (None, _) if !self.unknown && self.identify(&self.head).is_some() => "ok".into(),
            (None, _) => "unknown".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Pattern, StreamCheck};

    #[test]
    fn same_seed_same_bytes_any_chunking() {
        let mut whole = vec![0u8; 1000];
        Pattern::new(7).fill(&mut whole);
        for step in [1, 3, 8, 13, 64, 999] {
            let mut p = Pattern::new(7);
            let mut parts = vec![0u8; 1000];
            for c in parts.chunks_mut(step) {
                p.fill(c);
            }
            assert_eq!(whole, parts, "chunks of {step} bytes");
        }
    }

    #[test]
    fn both_directions_of_a_connection_differ() {
        for conn in 0..64u64 {
            let (mut a, mut b) = (vec![0u8; 64], vec![0u8; 64]);
            Pattern::new(conn << 1).fill(&mut a);
            Pattern::new((conn << 1) | 1).fill(&mut b);
            assert_ne!(
                a,
                b,
                "seeds {} and {} give the same stream",
                conn << 1,
                (conn << 1) | 1
            );
        }
    }

    #[test]
    fn different_seeds_differ_and_bytes_vary() {
        let (mut a, mut b) = (vec![0u8; 256], vec![0u8; 256]);
        Pattern::new(1).fill(&mut a);
        Pattern::new(2).fill(&mut b);
        assert_ne!(a, b);
        let distinct: std::collections::HashSet<u8> = a.iter().copied().collect();
        assert!(
            distinct.len() > 100,
            "pattern is not varied: {} distinct bytes",
            distinct.len()
        );
    }

    fn stream(seed: u64, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        Pattern::new(seed).fill(&mut v);
        v
    }

    #[test]
    fn check_names_the_stream_and_the_first_wrong_byte() {
        let mut good = StreamCheck::new(vec![4, 5, 6]);
        for part in stream(5, 5000).chunks(333) {
            good.update(part);
        }
        assert_eq!(good.verdict(), "ok seed=5");

        let mut data = stream(6, 5000);
        data[1234] ^= 1;
        data[4000] ^= 0x80;
        let mut bad = StreamCheck::new(vec![4, 5, 6]);
        for part in data.chunks(7) {
            bad.update(part);
        }
        assert_eq!(bad.verdict(), "bad seed=6 first_bad=1234 bad_bytes=2");
    }

    #[test]
    fn check_of_a_foreign_short_or_empty_stream() {
        let mut foreign = StreamCheck::new(vec![1, 2]);
        foreign.update(&stream(3, 100));
        assert_eq!(foreign.verdict(), "unknown");
        let mut short = StreamCheck::new(vec![1, 2]);
        short.update(&stream(2, 5));
        assert_eq!(short.verdict(), "ok");
        assert_eq!(StreamCheck::new(vec![1]).verdict(), "empty");
    }
}
