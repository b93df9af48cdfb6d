//! Randomized end-to-end properties of offloaded connections, driven
//! directly with hand-built frames (no smoltcp): the scripted peer behaves
//! like a real stack on a bad wire -- arbitrary segment boundaries,
//! overlaps, duplicates, reordering, loss, acks and SACKs at arbitrary byte
//! boundaries, window changes -- which smoltcp never does.
//!
//! 1. Receive: whatever the peer sends and whatever the host posts, the
//!    bytes the host is handed (`recv` into posted buffers, `recv_data`
//!    inline on restore) are always a prefix of the peer's stream, and in
//!    the end all of it.
//! 2. Transmit: every data segment the engine puts on the wire carries
//!    exactly the stream's bytes at its sequence number, and `ack` events
//!    never report more than the peer acknowledged.
//! 3. Many connections: 4-16 connections at once on one engine with a
//!    small memory layout (shared pools contended, commands refused), each
//!    moving data both ways with its own peer and host, all interleaved in
//!    one time line; connections end every way there is (both FINs with
//!    TIME_WAIT handed back or LAST_ACK freed, host abort, peer reset, the
//!    host taking them back) and new ones are handed off into the freed
//!    slots while the others run. Properties 1 and 2 hold for every one of
//!    them, and every one that ends gracefully has moved all its bytes.
//!
//! The peer and host halves (`PeerSender`, `HostReceiver`, `PeerReceiver`,
//! `HostSender`) are shared: 1 uses the first two, 2 the last two, 3 all.
//!
//! Everything is deterministic (seeded xorshift, simulated time). Set
//! `PROPERTY_SEEDS=n` to run `n` seeds of properties 1 and 2 instead of the
//! default, `PROPERTY_MULTI_SEEDS=n` for property 3 (and
//! `PROPERTY_FIRST=s` to start at seed `s`); `PROPERTY_TRACE=1` prints
//! every segment and host action, for minimising a failing seed.

mod common;

use std::collections::{HashMap, VecDeque};

use common::*;
use firmware_sim::memory::NicMemoryLayout;
use firmware_sim::msg::{errno, Command, CtrlCmd, CtrlEvent, MSG_PSH};
use firmware_sim::snapshot::{SnapFlags, Snapshot, TcpState};
use firmware_sim::wire::checksum;
use firmware_sim::wire::tcp::{self, ACK, FIN, PSH};
use firmware_sim::{
    seq, Arena, BufRef, ChunkMeta, CmdError, ConnSlot, Engine, LookupEntry, Refusal, RestoreReason,
};

const PEER_PORT: u16 = 40000;
const T0: u64 = 1_000_000;
/// Seeds per property (each seed picks IPv4/IPv6 and timestamps on/off).
const DEFAULT_SEEDS: u64 = 500;

fn trace() -> bool {
    std::env::var_os("PROPERTY_TRACE").is_some()
}

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn seeds() -> u64 {
    env_count("PROPERTY_SEEDS", DEFAULT_SEEDS)
}

fn first_seed() -> u64 {
    env_count("PROPERTY_FIRST", 0)
}

/// Runs `property` for `count` seeds from `PROPERTY_FIRST` on, each under
/// [`SeedOnPanic`], and prints the summed coverage counters under `labels`.
fn run_seeds<const N: usize>(name: &str, count: u64, property: fn(u64) -> [u64; N], labels: &str) {
    let mut coverage = [0u64; N];
    for seed in first_seed()..first_seed() + count {
        let _seed = SeedOnPanic(seed);
        for (sum, x) in coverage.iter_mut().zip(property(seed)) {
            *sum += x;
        }
    }
    eprintln!("{name} coverage [{labels}]: {coverage:?}");
}

/// Names the seed if anything panics while it runs (the checks name it
/// themselves; plain assertions in shared code do not).
struct SeedOnPanic(u64);

impl Drop for SeedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(while running seed {})", self.0);
        }
    }
}

/// The four wire variants, cycled by seed so every one gets a quarter.
fn variant(seed: u64) -> (bool, bool) {
    (seed & 1 == 1, seed & 2 == 2)
}

// ----------------------------------------------------------------------
// Plumbing shared by both properties
// ----------------------------------------------------------------------

/// NIC memory owned by the test (not leaked: thousands of seeds each build
/// an engine).
struct NicMemory {
    layout: NicMemoryLayout,
    conns: Vec<ConnSlot>,
    lookup: Vec<LookupEntry>,
    refs: Vec<BufRef>,
    chunks: Vec<ChunkMeta>,
    staging: Vec<u8>,
    scratch: Vec<u8>,
    wheel: Vec<u32>,
}

impl NicMemory {
    fn new(layout: NicMemoryLayout) -> Self {
        NicMemory {
            layout,
            conns: vec![ConnSlot::EMPTY; layout.max_conns],
            lookup: vec![LookupEntry::default(); layout.lookup_entries],
            refs: vec![BufRef::EMPTY; layout.refs],
            chunks: vec![ChunkMeta::EMPTY; layout.chunks],
            staging: vec![0; layout.staging_bytes],
            scratch: vec![0; layout.scratch_bytes],
            wheel: vec![0; layout.wheel_slots],
        }
    }

    fn engine(&mut self, seed: u32, now_us: u64) -> Engine<'_> {
        let arena = Arena {
            conns: &mut self.conns,
            lookup: &mut self.lookup,
            refs: &mut self.refs,
            chunks: &mut self.chunks,
            staging: &mut self.staging,
            scratch: &mut self.scratch,
            wheel: &mut self.wheel,
        };
        Engine::new(self.layout, arena, seed, now_us).expect("engine")
    }
}

/// Hands `snap` to the engine and returns the new cid.
fn handoff(e: &mut Engine<'_>, h: &mut Host, now: u64, snap: Snapshot) -> u32 {
    handoff_with_cookie(e, h, now, snap, 9)
}

fn handoff_with_cookie(
    e: &mut Engine<'_>,
    h: &mut Host,
    now: u64,
    snap: Snapshot,
    cookie: u64,
) -> u32 {
    e.command(now, &enc(Command::Handoff { cookie, snap }), h)
        .expect("handoff accepted");
    let cid = h
        .events
        .iter()
        .find_map(|ev| match ev {
            OwnedEvent::HandoffDone {
                cookie: c,
                result: Ok(cid),
            } if *c == cookie => Some(*cid),
            _ => None,
        })
        .expect("handoff_done");
    h.events
        .retain(|ev| !matches!(ev, OwnedEvent::HandoffDone { .. }));
    cid
}

/// A segment the engine transmitted, decoded.
#[derive(Debug)]
struct OutSeg {
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    tsval: Option<u32>,
    payload: Vec<u8>,
}

fn decode_engine_frame(v6: bool, f: &[u8]) -> OutSeg {
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let (seg, pseudo) = if v6 {
        assert_eq!(ethertype, 0x86dd);
        let pl = usize::from(u16::from_be_bytes([f[18], f[19]]));
        let seg = &f[54..54 + pl];
        (seg, checksum::pseudo_v6(&ENGINE_V6, &PEER_V6, 6, pl as u32))
    } else {
        assert_eq!(ethertype, 0x0800);
        let ihl = usize::from(f[14] & 0xf) * 4;
        let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        let seg = &f[14 + ihl..14 + total];
        (
            seg,
            checksum::pseudo_v4(&ENGINE_V4, &PEER_V4, 6, seg.len() as u16),
        )
    };
    let t = tcp::Packet::new_checked(seg).expect("engine frame parses");
    assert!(
        t.verify_checksum(pseudo),
        "engine frame with a bad TCP checksum"
    );
    OutSeg {
        dst_port: t.dst_port(),
        seq: t.seq(),
        ack: t.ack(),
        flags: t.flags(),
        window: t.window(),
        tsval: tcp::TcpOptions::parse(t.options()).ts.map(|x| x.0),
        payload: t.payload().to_vec(),
    }
}

/// Peer options: timestamps (NOP-padded to 12 bytes) and SACK blocks.
fn peer_options(ts: Option<(u32, u32)>, sack: &[(u32, u32)]) -> Vec<u8> {
    let mut o = Vec::new();
    if let Some((val, ecr)) = ts {
        o.extend_from_slice(&[1, 1, 8, 10]);
        o.extend_from_slice(&val.to_be_bytes());
        o.extend_from_slice(&ecr.to_be_bytes());
    }
    if !sack.is_empty() {
        o.extend_from_slice(&[1, 1, 5, 2 + 8 * sack.len() as u8]);
        for &(l, r) in sack {
            o.extend_from_slice(&l.to_be_bytes());
            o.extend_from_slice(&r.to_be_bytes());
        }
    }
    assert!(o.len() % 4 == 0 && o.len() <= 40);
    o
}

/// A random sequence number, often close to the 2^32 wrap so that every run
/// of the first kind crosses it.
fn random_isn(rng: &mut Rng) -> u32 {
    match rng.below(3) {
        0 => 0u32.wrapping_sub(rng.below(300_000) as u32),
        1 => (1u32 << 31).wrapping_sub(rng.below(300_000) as u32),
        _ => rng.next_u64() as u32,
    }
}

/// Stream offset of sequence number `s` given the sequence number of
/// offset 0 (valid for the small offsets these tests use).
fn offset(s: u32, base: u32) -> u64 {
    u64::from(s.wrapping_sub(base))
}

/// Whether a frame the engine sent is IPv6 (by its ethertype).
fn engine_frame_is_v6(f: &[u8]) -> bool {
    u16::from_be_bytes([f[12], f[13]]) == 0x86dd
}

// ----------------------------------------------------------------------
// Reusable pieces: the peer's and the host's halves of a
// connection, each for one direction of data
// ----------------------------------------------------------------------

/// The peer's timestamp clock (RFC 7323) and the last TSval it saw from
/// the engine, which it echoes.
struct PeerClock {
    on: bool,
    tsval: u32,
    echo: u32,
}

impl PeerClock {
    fn new(on: bool) -> Self {
        PeerClock {
            on,
            tsval: 100,
            echo: 0,
        }
    }

    /// TSval of a new segment: the clock never goes backwards.
    fn tick(&mut self, rng: &mut Rng) -> u32 {
        self.tsval = self.tsval.wrapping_add(rng.below(2) as u32);
        self.tsval
    }

    /// TSval of a copy of an earlier segment: sometimes a little older, as
    /// a late copy reordered on the wire carries.
    fn for_copy(&mut self, rng: &mut Rng) -> u32 {
        if rng.chance(300_000) {
            self.tsval.wrapping_sub(rng.below(3) as u32)
        } else {
            self.tick(rng)
        }
    }

    fn option(&self, tsval: u32) -> Option<(u32, u32)> {
        self.on.then_some((tsval, self.echo))
    }
}

/// The peer's sending half: its stream cut at arbitrary boundaries. Starts
/// are mostly at the engine's ack point, often anywhere in the advertised
/// window, sometimes old data, sometimes beyond the window; copies of
/// earlier segments come back; FIN rides on the last byte.
struct PeerSender {
    stream: Vec<u8>,
    /// Sequence number of stream[0].
    irs: u32,
    mss: u64,
    /// The engine's ack and its window's right edge as the peer last heard
    /// them (offsets).
    acked: u64,
    right: u64,
    /// Highest ack the engine has put on the wire (it never goes back).
    engine_ack: u64,
    /// End of everything the peer has sent, its FIN counted.
    sent_end: u64,
    /// Recently sent segments (offset, len, fin) for duplicates/reordering.
    history: Vec<(u64, u64, bool)>,
}

impl PeerSender {
    fn new(stream: Vec<u8>, irs: u32, mss: u64, right: u64) -> Self {
        PeerSender {
            stream,
            irs,
            mss,
            acked: 0,
            right,
            engine_ack: 0,
            sent_end: 0,
            history: Vec::new(),
        }
    }

    fn total(&self) -> u64 {
        self.stream.len() as u64
    }

    fn seq(&self, off: u64) -> u32 {
        self.irs.wrapping_add(off as u32)
    }

    fn payload(&self, start: u64, len: u64) -> &[u8] {
        &self.stream[start as usize..(start + len) as usize]
    }

    /// The next segment as (offset, len, fin, is a copy of an earlier one),
    /// or `None` if the peer has nothing to send.
    fn pick(&mut self, rng: &mut Rng) -> Option<(u64, u64, bool, bool)> {
        let total = self.total();
        if self.acked > total {
            return None; // Its FIN is acknowledged: the peer is done.
        }
        let acked = self.acked;
        let mss = self.mss;
        let replay = !self.history.is_empty() && rng.chance(150_000);
        let (start, len, fin) = if replay {
            let back = rng.below(self.history.len().min(64) as u64) as usize;
            self.history[self.history.len() - 1 - back]
        } else {
            let right = self.right.max(acked);
            let start = match rng.below(100) {
                0..=49 => acked.saturating_sub(if rng.chance(300_000) {
                    rng.below(mss)
                } else {
                    0
                }),
                50..=84 => acked + rng.below(right - acked + 1),
                85..=92 => acked.saturating_sub(rng.below(8000)),
                _ => right + rng.below(20_000),
            }
            .min(total);
            let len = (1 + rng.below(mss)).min(total - start);
            let fin = start + len == total && (len == 0 || rng.chance(800_000));
            (start, len, fin)
        };
        if len == 0 && !fin {
            return None;
        }
        if !replay {
            if self.history.len() >= 256 {
                self.history.drain(..128);
            }
            self.history.push((start, len, fin));
        }
        self.sent_end = self.sent_end.max(start + len + u64::from(fin));
        Some((start, len, fin, replay))
    }

    /// Where a pure ACK or RST of the peer starts: its SND.NXT, which a
    /// real stack keeps within the window it was offered.
    fn snd_nxt(&self) -> u64 {
        self.acked.max(self.sent_end.min(self.right))
    }

    /// An ACK the engine put on the wire: never behind an earlier one, and
    /// never beyond what the peer sent.
    fn check_engine_ack(&mut self, ack: u64) -> Result<(), String> {
        if ack > self.sent_end {
            return Err(format!(
                "engine acks offset {ack}, the peer sent only up to {} (FIN counted)",
                self.sent_end
            ));
        }
        if ack < self.engine_ack {
            return Err(format!(
                "engine ack went back from {} to {ack}",
                self.engine_ack
            ));
        }
        self.engine_ack = ack;
        Ok(())
    }

    /// An ACK of the engine reached the peer (`window` in bytes).
    fn on_engine_ack(&mut self, ack: u64, window: u64) {
        if ack >= self.acked {
            self.acked = ack;
            self.right = ack + window;
        }
    }
}

/// Buffers a host receiver keeps posted at most.
const MAX_POSTED: usize = 16;

/// The host's receiving half: posts buffers (filled with junk first, so
/// stale memory can never pass for data) from a ring in host memory, reads,
/// and checks that every byte it is handed continues the peer's stream.
struct HostReceiver {
    ring_base: u64,
    ring_bytes: u64,
    /// Posted buffers in order: (addr, len, bytes reported filled).
    posted: VecDeque<(u64, u32, u32)>,
    next_buf: u64,
    /// Bytes handed to the host so far (always a prefix of the stream).
    delivered: usize,
    /// Delivered but not yet consumed by the application.
    unread: u32,
    /// The engine's idea of `unread`: the same, except that a handoff caps
    /// it at `rcv_buf`. (More than `rcv_buf` can arrive: `window_field`
    /// rounds the right edge up to the window scale unit again on every
    /// ACK, so with a stalled reader the edge creeps past `rcv_buf` by up to
    /// 2^wscale - 1 bytes per ACK. Accounting only; no byte is wrong.)
    engine_unread: u32,
    /// How far the engine's count may be below `engine_unread`: how many
    /// more bytes the host held than the engine was told at the last
    /// handoff (the caps). The engine counts bytes as unread when it writes
    /// them, the host when they are reported, so a `recvd` of more than the
    /// engine was told of saturates the engine's count or not depending on
    /// bytes written but not yet reported, which only the engine knows.
    unread_slack: u32,
    /// The engine reported the peer's FIN.
    peer_fin: bool,
}

impl HostReceiver {
    fn new(ring_base: u64, ring_bytes: u64) -> Self {
        HostReceiver {
            ring_base,
            ring_bytes,
            posted: VecDeque::new(),
            next_buf: ring_base,
            delivered: 0,
            unread: 0,
            engine_unread: 0,
            unread_slack: 0,
            peer_fin: false,
        }
    }

    /// Bytes posted and not yet reported filled.
    fn posted_bytes(&self) -> u64 {
        self.posted
            .iter()
            .map(|&(_, len, filled)| u64::from(len - filled))
            .sum()
    }

    /// A new receive buffer of random length from the ring, filled with
    /// junk: (addr, len). The caller posts it.
    fn new_buffer(&mut self, rng: &mut Rng, mem: &mut [u8]) -> (u64, u32) {
        let len = match rng.below(10) {
            0 => 1 + rng.below(16),
            1..=4 => 1 + rng.below(2048),
            5..=8 => 2048 + rng.below(14 * 1024),
            _ => 1 + rng.below(65535),
        } as u32;
        if self.next_buf + u64::from(len) > self.ring_base + self.ring_bytes {
            self.next_buf = self.ring_base;
        }
        let addr = self.next_buf;
        self.next_buf += u64::from(len) + rng.below(64);
        // The ring must never hand out memory that is still posted.
        for &(a, l, _) in &self.posted {
            assert!(
                addr + u64::from(len) <= a || a + u64::from(l) <= addr,
                "test bug: receive ring lapped a posted buffer"
            );
        }
        // Poison the buffer so stale memory can never pass for data.
        let poison = rng.bytes(len as usize);
        mem[addr as usize..addr as usize + len as usize].copy_from_slice(&poison);
        (addr, len)
    }

    /// The buffer at `addr`, the last one made, was not posted (refused):
    /// its ring space is used again for the next.
    fn take_back_buffer(&mut self, addr: u64) {
        self.next_buf = addr;
    }

    /// The application reads some of what it holds: the length for a
    /// `recvd` command, if it reads.
    fn read(&mut self, rng: &mut Rng) -> Option<u32> {
        if self.unread == 0 || !rng.chance(200_000) {
            return None;
        }
        let len = if rng.chance(500_000) {
            self.unread
        } else {
            1 + rng.below(u64::from(self.unread)) as u32
        };
        self.unread -= len;
        self.engine_unread = self.engine_unread.saturating_sub(len);
        if trace() {
            eprintln!("host recvd {len}, unread {}", self.unread);
        }
        Some(len)
    }

    /// A `recv` event: `len` bytes at `addr` continue the front buffer.
    fn on_recv(&mut self, stream: &[u8], mem: &[u8], addr: u64, len: u16) -> Result<(), String> {
        let Some(&(baddr, blen, filled)) = self.posted.front() else {
            return Err("recv without a posted buffer".into());
        };
        if addr != baddr + u64::from(filled) || filled + u32::from(len) > blen {
            return Err(format!(
                "recv {addr:#x}+{len} does not continue buffer {baddr:#x}+{filled}/{blen}"
            ));
        }
        let a = addr as usize;
        self.deliver(stream, &mem[a..a + usize::from(len)])?;
        let front = self.posted.front_mut().unwrap();
        front.2 += u32::from(len);
        if front.2 == front.1 {
            self.posted.pop_front();
        }
        Ok(())
    }

    /// Bytes handed to the host (`recv` or `recv_data`) must continue the
    /// stream exactly.
    fn deliver(&mut self, stream: &[u8], data: &[u8]) -> Result<(), String> {
        let end = self.delivered + data.len();
        if end > stream.len() {
            return Err(format!(
                "{end} bytes delivered, the stream has {}",
                stream.len()
            ));
        }
        if data != &stream[self.delivered..end] {
            let i = data
                .iter()
                .zip(&stream[self.delivered..end])
                .position(|(a, b)| a != b)
                .unwrap();
            return Err(format!(
                "delivered byte {} is wrong (event of {} bytes at stream offset {})",
                self.delivered + i,
                data.len(),
                self.delivered
            ));
        }
        self.delivered = end;
        self.unread += data.len() as u32;
        self.engine_unread += data.len() as u32;
        if trace() {
            eprintln!(
                "host got {} bytes, delivered {end}, unread {}",
                data.len(),
                self.unread
            );
        }
        Ok(())
    }

    /// The peer's FIN comes after all of its data.
    fn on_peer_fin(&mut self, stream: &[u8]) -> Result<(), String> {
        if self.delivered != stream.len() {
            return Err(format!(
                "peer FIN reported with only {} of {} bytes delivered",
                self.delivered,
                stream.len()
            ));
        }
        self.peer_fin = true;
        Ok(())
    }

    /// A restored snapshot must describe exactly what the host holds; the
    /// engine forgot every posted buffer, the host takes them back.
    fn after_restore(&mut self, irs: u32, snap: &Snapshot) -> Result<(), String> {
        let want = irs
            .wrapping_add(self.delivered as u32)
            .wrapping_add(u32::from(self.peer_fin));
        if snap.rcv_nxt != want {
            return Err(format!(
                "restored rcv_nxt {:#x}, host has up to {want:#x}",
                snap.rcv_nxt
            ));
        }
        if snap.rcv_unread > self.engine_unread
            || snap.rcv_unread + self.unread_slack < self.engine_unread
        {
            return Err(format!(
                "restored rcv_unread {}, the engine was told of {} (less at most {}; host holds {})",
                snap.rcv_unread, self.engine_unread, self.unread_slack, self.unread
            ));
        }
        // A handoff takes at most rcv_buf unread bytes (ConnSlot::install).
        self.engine_unread = snap.rcv_unread.min(snap.rcv_buf);
        self.unread_slack = self.unread.saturating_sub(self.engine_unread);
        self.posted.clear();
        Ok(())
    }
}

/// Received byte ranges, sorted and disjoint.
#[derive(Default)]
struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    fn insert(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(s, e) in &self.0 {
            if e < start || s > end {
                out.push((s, e));
            } else {
                start = start.min(s);
                end = end.max(e);
            }
        }
        out.push((start, end));
        out.sort_unstable();
        self.0 = out;
    }

    /// End of the contiguous prefix from 0.
    fn contiguous(&self) -> u64 {
        match self.0.first() {
            Some(&(0, e)) => e,
            _ => 0,
        }
    }
}

/// The peer's receiving half: takes what fits the largest window it
/// offered, and ACKs at arbitrary points between its last ack and what it
/// holds, with SACK blocks at arbitrary boundaries (now and then a D-SACK)
/// and a window that wanders, shrinks and closes for a while.
struct PeerReceiver {
    sack: bool,
    ts: bool,
    /// Sequence number of offset 0 of the engine's stream.
    iss: u32,
    snd_wscale: u8,
    got: RangeSet,
    fin_got: bool,
    /// Last ack the peer sent (offset; stream length + 1 once FIN is acked).
    ack: u64,
    /// Highest ack the engine has been given.
    ack_delivered: u64,
    /// Right edge of the highest window the engine has been given.
    max_right_delivered: u64,
    wnd: u32,
    zero_window_until: u64,
    /// The peer advertised a zero window and owes an update when it opens.
    window_update_owed: bool,
}

impl PeerReceiver {
    fn new(sack: bool, ts: bool, iss: u32, snd_wscale: u8, wnd: u32, right: u64) -> Self {
        PeerReceiver {
            sack,
            ts,
            iss,
            snd_wscale,
            got: RangeSet::default(),
            fin_got: false,
            ack: 0,
            ack_delivered: 0,
            max_right_delivered: right,
            wnd,
            zero_window_until: 0,
            window_update_owed: false,
        }
    }

    /// A segment of the engine reached the peer. A real receiver takes only
    /// what fits its buffer; ours takes anything up to the largest edge it
    /// offered.
    fn take(&mut self, off: u64, len: u64, fin: bool) {
        if len > 0 {
            let end = (off + len).min(self.max_right_delivered);
            self.got.insert(off, end);
            if fin && end == off + len {
                self.fin_got = true;
            }
        } else if fin {
            self.fin_got = true;
        }
    }

    /// The next ACK: a cumulative ack anywhere between the last one and
    /// what the peer holds (`total` bytes and a FIN make the stream), and a
    /// window that wanders (zero and shrinking included). Returns (ack,
    /// window field, right edge).
    fn next_ack(&mut self, rng: &mut Rng, now: u64, total: u64) -> (u64, u16, u64) {
        let cum = self.got.contiguous();
        let full = cum + u64::from(self.fin_got && cum == total);
        let ack = if rng.chance(700_000) {
            full
        } else {
            self.ack + rng.below(full - self.ack + 1)
        };
        self.ack = ack;
        if rng.chance(30_000) {
            self.wnd = match rng.below(4) {
                0 => rng.below(4000) as u32,
                1 => rng.below(32_000) as u32,
                _ => rng.below(300_000) as u32,
            }
            // Zero windows come from the timed closures below, which end.
            .max(1 << self.snd_wscale);
        }
        if rng.chance(3_000) {
            self.zero_window_until = now + rng.below(1_500_000);
        }
        let wnd = if now < self.zero_window_until {
            0
        } else {
            self.wnd
        };
        let field = (wnd >> self.snd_wscale).min(65535) as u16;
        self.window_update_owed = field == 0;
        let right = ack + (u64::from(field) << self.snd_wscale);
        (ack, field, right)
    }

    /// SACK blocks for received ranges above `ack` at arbitrary boundaries
    /// (whole ranges or parts of them), sometimes led by a D-SACK below it.
    fn sack_blocks(&mut self, rng: &mut Rng, ack: u64) -> Vec<(u32, u32)> {
        if !self.sack {
            return Vec::new();
        }
        let max = if self.ts { 3 } else { 4 };
        let above: Vec<(u64, u64)> = self.got.0.iter().filter(|r| r.0 > ack).copied().collect();
        let mut blocks = Vec::new();
        if ack > 0 && rng.chance(30_000) {
            let r = ack - rng.below(ack.min(2000));
            let l = r.saturating_sub(1 + rng.below(1500));
            blocks.push((l, r.max(l + 1)));
        }
        let mut pool = above;
        while blocks.len() < max && !pool.is_empty() {
            let (l, r) = pool.swap_remove(rng.below(pool.len() as u64) as usize);
            if rng.chance(250_000) && r - l > 1 {
                let a = l + rng.below(r - l - 1);
                let b = a + 1 + rng.below(r - a - 1);
                blocks.push((a, b.max(a + 1)));
            } else {
                blocks.push((l, r));
            }
        }
        blocks
            .iter()
            .map(|&(l, r)| {
                (
                    self.iss.wrapping_add(l as u32),
                    self.iss.wrapping_add(r as u32),
                )
            })
            .collect()
    }

    /// The engine was given an ACK of `ack` with right edge `right`.
    fn delivered(&mut self, ack: u64, right: u64) {
        self.ack_delivered = self.ack_delivered.max(ack);
        self.max_right_delivered = self.max_right_delivered.max(right);
    }
}

/// The host's sending half: hands the engine its stream in random pieces
/// at scattered host addresses (junk between them) with `send`, overwrites
/// acknowledged bytes with junk at once (they are the host's to reuse; the
/// engine must not read them again), closes when told to, and checks what
/// the engine sends and reports.
struct HostSender {
    stream: Vec<u8>,
    /// Send commands issued: (stream offset, length, host address).
    sends: Vec<(u64, u64, u64)>,
    issued: u64,
    next_addr: u64,
    /// `next_addr` before the last piece (to take a refused one back).
    addr_before_last: u64,
    max_outstanding: u64,
    close: bool,
    close_issued: bool,
    /// Sum of `ack` events.
    acked: u64,
    /// Index of the first send not yet wholly poisoned.
    poison_idx: usize,
    /// Stream offset up to which host memory was overwritten with junk.
    poisoned: u64,
}

impl HostSender {
    fn new(stream: Vec<u8>, base: u64, max_outstanding: u64, close: bool) -> Self {
        HostSender {
            stream,
            sends: Vec::new(),
            issued: 0,
            next_addr: base,
            addr_before_last: base,
            max_outstanding,
            close,
            close_issued: false,
            acked: 0,
            poison_idx: 0,
            poisoned: 0,
        }
    }

    fn total(&self) -> u64 {
        self.stream.len() as u64
    }

    /// Maybe one more piece of the stream, placed in host memory: the
    /// `send` arguments (addr, len, flags).
    fn next_send(&mut self, rng: &mut Rng, mem: &mut [u8]) -> Option<(u64, u16, u8)> {
        if !(self.issued < self.total()
            && self.issued - self.acked < self.max_outstanding
            && self.sends.len() - self.poison_idx < 400
            && rng.chance(600_000))
        {
            return None;
        }
        let n = match rng.below(20) {
            0 => 1 + rng.below(16),
            1..=8 => 1 + rng.below(1500),
            9..=17 => 1500 + rng.below(7500),
            _ => 9000 + rng.below(56_535),
        }
        .min(self.total() - self.issued);
        let gap = rng.below(64);
        let junk = rng.bytes(gap as usize);
        let g = self.next_addr as usize;
        mem[g..g + junk.len()].copy_from_slice(&junk);
        let addr = self.next_addr + gap;
        let (a, o) = (addr as usize, self.issued as usize);
        mem[a..a + n as usize].copy_from_slice(&self.stream[o..o + n as usize]);
        self.addr_before_last = self.next_addr;
        self.next_addr = addr + n;
        let last = self.issued + n == self.total();
        let flags = if last || rng.chance(100_000) {
            MSG_PSH
        } else {
            0
        };
        self.sends.push((self.issued, n, addr));
        self.issued += n;
        Some((addr, n as u16, flags))
    }

    /// The last piece was refused: it is sent again later (from the same
    /// memory).
    fn unsend(&mut self) {
        let (_, n, _) = self.sends.pop().expect("a piece to take back");
        self.issued -= n;
        self.next_addr = self.addr_before_last;
    }

    /// True once, when the whole stream is issued and the host closes.
    fn close_due(&mut self) -> bool {
        if self.close && self.issued == self.total() && !self.close_issued {
            self.close_issued = true;
            return true;
        }
        false
    }

    /// An `ack` event: never more than the peer acknowledged
    /// (`peer_acked`, an offset), and the bytes are junk from now on.
    fn on_ack(
        &mut self,
        len: u64,
        peer_acked: u64,
        rng: &mut Rng,
        mem: &mut [u8],
    ) -> Result<(), String> {
        self.acked += len;
        let peer_acked_data = peer_acked.min(self.total());
        if self.acked > peer_acked_data {
            return Err(format!(
                "ack events total {}, the peer acknowledged only {peer_acked_data}",
                self.acked
            ));
        }
        self.poison_acked(rng, mem);
        Ok(())
    }

    /// Overwrites the host memory of acknowledged bytes with junk.
    fn poison_acked(&mut self, rng: &mut Rng, mem: &mut [u8]) {
        while self.poisoned < self.acked {
            let (off, len, addr) = self.sends[self.poison_idx];
            let from = self.poisoned - off;
            let to = (self.acked - off).min(len);
            let junk = rng.bytes((to - from) as usize);
            let a = (addr + from) as usize;
            mem[a..a + junk.len()].copy_from_slice(&junk);
            self.poisoned = off + to;
            if to == len {
                self.poison_idx += 1;
            }
        }
    }

    /// A segment the engine sent at stream offset `off`: exactly the
    /// stream's bytes there, only what the host gave and the peer's window
    /// allowed (`max_right`), FIN only after the last byte of a closed
    /// stream.
    fn check_segment(
        &self,
        off: u64,
        payload: &[u8],
        fin: bool,
        max_right: u64,
        peer_acked: u64,
    ) -> Result<(), String> {
        let len = payload.len() as u64;
        if len > 0 {
            if off + len > self.issued {
                return Err(format!(
                    "segment [{off}, {}) beyond the {} bytes the host gave",
                    off + len,
                    self.issued
                ));
            }
            let want = &self.stream[off as usize..(off + len) as usize];
            if payload != want {
                let i = payload.iter().zip(want).position(|(a, b)| a != b).unwrap() as u64;
                return Err(format!("segment [{off}, {}) carries a wrong byte at stream offset {} (host acked {}, peer acked {peer_acked})", off + len, off + i, self.acked));
            }
            if off + len > max_right {
                return Err(format!(
                    "segment [{off}, {}) beyond the right edge {max_right} the peer ever offered",
                    off + len
                ));
            }
        }
        if fin && !(self.close_issued && off + len == self.total()) {
            return Err(format!(
                "FIN at offset {} (closed: {})",
                off + len,
                self.close_issued
            ));
        }
        Ok(())
    }

    /// A restored snapshot must agree with what the host was told.
    fn check_restore(&self, iss: u32, snap: &Snapshot) -> Result<(), String> {
        let una = offset(snap.snd_una, iss);
        let fin_acked = una > self.total();
        if una.min(self.total()) != self.acked {
            return Err(format!(
                "restored snd_una at {una}, host was told {} acked",
                self.acked
            ));
        }
        if !fin_acked && u64::from(snap.snd_queued) != self.issued - self.acked {
            return Err(format!(
                "restored snd_queued {}, host has {} unacked",
                snap.snd_queued,
                self.issued - self.acked
            ));
        }
        Ok(())
    }

    /// What the host re-enqueues after a handoff: everything unacked, as
    /// (addr, len) of `send`s over the original pieces.
    fn unacked_pieces(&self) -> Vec<(u64, u16)> {
        let from = self.acked;
        let mut pieces = Vec::new();
        for &(off, len, addr) in &self.sends {
            if off + len <= from {
                continue;
            }
            let skip = from.saturating_sub(off);
            pieces.push((addr + skip, (len - skip) as u16));
        }
        pieces
    }
}

// ----------------------------------------------------------------------
// Property 1: receive
// ----------------------------------------------------------------------

/// Host memory for posted receive buffers: a ring big enough that a buffer
/// is never handed out again while still posted.
const RX_RING_BASE: u64 = 0x1000;
const RX_RING_BYTES: u64 = 2 << 20;

struct ReceiveRun {
    seed: u64,
    rng: Rng,
    v6: bool,
    ts: bool,
    now: u64,
    rcv_wscale: u8,
    peer: PeerSender,
    clock: PeerClock,
    host: Host,
    cid: u32,
    receiver: HostReceiver,
    restores: u32,
    restores_left: u32,
    /// Host stops posting and reading until this step (staging fills).
    paused_until: u64,
    /// A restored snapshot waiting to be handed off again.
    pending_handoff: Option<Snapshot>,
    /// Another connection on the same engine competing for staging.
    neighbour: Option<Neighbour>,
}

impl ReceiveRun {
    fn fail(&self, step: u64, msg: impl std::fmt::Display) -> ! {
        panic!(
            "receive property, seed {} (v6={}, ts={}), step {step}: {msg}",
            self.seed, self.v6, self.ts
        )
    }

    /// Applies the engine's events; checks every delivered byte.
    fn on_events(&mut self, step: u64) {
        for ev in std::mem::take(&mut self.host.events) {
            if self.neighbour.as_ref().is_some_and(|n| n.owns(&ev)) {
                continue;
            }
            let checked = match ev {
                OwnedEvent::Recv { cid, addr, len, .. } => {
                    if cid != self.cid {
                        self.fail(step, format!("recv for cid {cid:#x}, want {:#x}", self.cid));
                    }
                    self.receiver
                        .on_recv(&self.peer.stream, &self.host.mem, addr, len)
                }
                OwnedEvent::RecvData { cid, data } => {
                    if cid != self.cid {
                        self.fail(step, "recv_data for another cid");
                    }
                    self.receiver.deliver(&self.peer.stream, &data)
                }
                OwnedEvent::Ctrl {
                    ev: CtrlEvent::PeerFin,
                    ..
                } => self.receiver.on_peer_fin(&self.peer.stream),
                OwnedEvent::Ctrl { ev, arg, .. } => {
                    self.fail(step, format!("unexpected ctrl event {ev:?} ({arg})"))
                }
                OwnedEvent::Restore { snap, .. } => {
                    self.after_restore(step, snap);
                    Ok(())
                }
                OwnedEvent::Resource { .. } | OwnedEvent::Ack { .. } => Ok(()),
                other => self.fail(step, format!("unexpected event {other:?}")),
            };
            if let Err(msg) = checked {
                self.fail(step, msg);
            }
        }
    }

    /// The restored snapshot must describe exactly what the host holds;
    /// then the connection is handed off again, as after a migration.
    fn after_restore(&mut self, step: u64, snap: Snapshot) {
        if trace() {
            eprintln!("restore: {snap:?} host unread {}", self.receiver.unread);
        }
        if let Err(msg) = self.receiver.after_restore(self.peer.irs, &snap) {
            self.fail(step, msg);
        }
        self.restores += 1;
        let want_state = if self.receiver.peer_fin {
            TcpState::CloseWait
        } else {
            TcpState::Established
        };
        if snap.state != want_state {
            self.fail(
                step,
                format!("restored state {:?}, want {want_state:?}", snap.state),
            );
        }
        self.cid = u32::MAX;
        self.pending_handoff = Some(snap);
    }
}

const NEIGHBOUR_PORT: u16 = 40001;

/// A second connection that hoards staging chunks (out-of-order data whose
/// hole is never filled, in-order data nobody posts for) and now and then
/// gives them all back by being restored, so the checked connection's
/// chunks come from a shared, interleaved, sometimes empty pool.
struct Neighbour {
    v6: bool,
    cid: u32,
    /// Every cid it has had (events of old ones may still be queued).
    cids: Vec<u32>,
    in_order: u32,
    restore_asked: bool,
}

impl Neighbour {
    fn snapshot(v6: bool) -> Snapshot {
        test_snapshot(v6, NEIGHBOUR_PORT, false)
    }

    fn new(e: &mut Engine<'_>, h: &mut Host, v6: bool) -> Self {
        let cid = handoff_with_cookie(e, h, T0, Self::snapshot(v6), 10);
        Neighbour {
            v6,
            cid,
            cids: vec![cid],
            in_order: 0,
            restore_asked: false,
        }
    }

    fn owns(&self, ev: &OwnedEvent) -> bool {
        let cid = match ev {
            OwnedEvent::Recv { cid, .. }
            | OwnedEvent::Ack { cid, .. }
            | OwnedEvent::Ctrl { cid, .. }
            | OwnedEvent::Resource { cid, .. }
            | OwnedEvent::RecvData { cid, .. }
            | OwnedEvent::Restore { cid, .. }
            | OwnedEvent::Info { cid, .. } => *cid,
            OwnedEvent::HandoffDone { .. } => return false,
        };
        self.cids.contains(&cid)
    }

    fn traffic(&mut self, rng: &mut Rng, frames: &mut Vec<Vec<u8>>, cmds: &mut Vec<u8>) {
        let base = Self::snapshot(self.v6).rcv_nxt;
        if rng.chance(150_000) {
            let len = 1 + rng.below(1460) as usize;
            let junk = rng.bytes(len);
            let seq = if rng.chance(300_000) {
                let s = base.wrapping_add(self.in_order);
                self.in_order += len as u32;
                s
            } else {
                base.wrapping_add(self.in_order + 1 + rng.below(60_000) as u32)
            };
            frames.push(frame_to_nic(
                self.v6,
                seq,
                1000,
                ACK,
                65535,
                &[],
                &junk,
                NEIGHBOUR_PORT,
            ));
        }
        if rng.chance(3000) {
            cmds.extend(enc(Command::Restore {
                cid: self.cid,
                cookie: 11,
            }));
            self.restore_asked = true;
        }
    }

    fn after_step(&mut self, e: &mut Engine<'_>, h: &mut Host, now: u64) {
        if std::mem::take(&mut self.restore_asked) {
            self.cid = handoff_with_cookie(e, h, now, Self::snapshot(self.v6), 10);
            self.cids.push(self.cid);
            self.in_order = 0;
        }
    }
}

/// Runs one seed; returns coverage counts (restores, staging drops, out-of-order
/// drops, out-of-order segments, out-of-window, PAWS, duplicates, steps).
/// Runs one seed; returns coverage counts (restores, staging drops, out-of-order
/// drops, out-of-order segments, out-of-window, PAWS, duplicates, steps).
fn receive_property(seed: u64) -> [u64; 8] {
    let (v6, ts) = variant(seed);
    let mut rng = Rng::new(seed ^ 0x5ec0_0001);
    let stream_len = 64 * 1024 + rng.below(192 * 1024) as usize;
    let stream = rng.bytes(stream_len);
    let irs = random_isn(&mut rng);
    let rcv_wscale = [0u8, 0, 2, 7][rng.below(4) as usize];
    let mut snap = test_snapshot(v6, PEER_PORT, ts);
    snap.rcv_nxt = irs;
    snap.rcv_adv = irs.wrapping_add(rng.below(2) as u32 * 8192);
    snap.rcv_wscale = rcv_wscale;
    snap.rcv_buf = [16 * 1024, 64 * 1024, 256 * 1024, 1 << 20][rng.below(4) as usize];
    snap.snd_wl1 = irs.wrapping_sub(1);
    snap.ts_recent = 100;

    // Staging runs out either at the per-connection cap or, as with many
    // connections, because the shared pool is empty.
    let tiny_pool = rng.chance(300_000);
    let layout = if tiny_pool {
        NicMemoryLayout::with_counts(4, 1024, [8usize, 16, 32][rng.below(3) as usize]).unwrap()
    } else {
        small_layout()
    };
    let mut nic = NicMemory::new(layout);
    let mut e = nic.engine(seed as u32, T0);
    e.set_stage_cap(if tiny_pool {
        64
    } else {
        [1u16, 2, 4, 8, 64][rng.below(5) as usize]
    });
    let mut host = Host::new((RX_RING_BASE + RX_RING_BYTES + 0x1_0000) as usize);
    let cid = handoff(&mut e, &mut host, T0, snap);
    let neighbour = if rng.chance(400_000) {
        Some(Neighbour::new(&mut e, &mut host, v6))
    } else {
        None
    };
    let peer_mss = [536u64, 1000, 1448, 1460][rng.below(4) as usize];
    let restores_left = if rng.chance(250_000) {
        1 + rng.below(3) as u32
    } else {
        0
    };
    let mut run = ReceiveRun {
        seed,
        v6,
        ts,
        now: T0,
        rcv_wscale,
        peer: PeerSender::new(stream, irs, peer_mss, offset(snap.rcv_adv, irs)),
        clock: PeerClock::new(ts),
        host,
        cid,
        receiver: HostReceiver::new(RX_RING_BASE, RX_RING_BYTES),
        restores: 0,
        restores_left,
        paused_until: 0,
        pending_handoff: None,
        neighbour,
        rng,
    };
    let max_steps = 400_000u64;
    let mut step = 0u64;
    let total = run.peer.stream.len();
    while !(run.receiver.peer_fin && run.receiver.delivered == total) {
        step += 1;
        if step > max_steps {
            let snap = e.peek(run.cid);
            run.fail(
                step,
                format!(
                    "no progress: {} of {total} bytes delivered, fin {}, engine {snap:?}",
                    run.receiver.delivered, run.receiver.peer_fin
                ),
            );
        }
        run.now += run.rng.below(3000);
        let now = run.now;
        let mut cmds = Vec::new();

        // Host side.
        if run.paused_until <= step && run.rng.chance(3000) {
            run.paused_until = step + 20 + run.rng.below(600);
        }
        let host_active = run.paused_until <= step;
        if host_active && run.receiver.posted.len() < MAX_POSTED && run.rng.chance(300_000) {
            let (addr, len) = run.receiver.new_buffer(&mut run.rng, &mut run.host.mem);
            cmds.extend(enc(Command::Post {
                cid: run.cid,
                addr,
                len: len as u16,
            }));
            run.receiver.posted.push_back((addr, len, 0));
            if trace() {
                eprintln!("host posts {len}");
            }
        }
        if host_active {
            if let Some(len) = run.receiver.read(&mut run.rng) {
                cmds.extend(enc(Command::Recvd { cid: run.cid, len }));
            }
        }
        let restore_now = run.restores_left > 0 && run.rng.chance(1500);
        if restore_now {
            run.restores_left -= 1;
            cmds.extend(enc(Command::Restore {
                cid: run.cid,
                cookie: 77,
            }));
        }

        // Peer side: a few segments per step.
        let mut frames = Vec::new();
        for _ in 0..run.rng.below(4) {
            if let Some(f) = run.peer_segment() {
                frames.push(f);
            }
        }
        if let Some(n) = run.neighbour.as_mut() {
            n.traffic(&mut run.rng, &mut frames, &mut cmds);
        }
        e.step(
            now,
            frames.iter().map(|f| f.as_slice()),
            &cmds,
            &mut run.host,
        );
        if let Some(n) = run.neighbour.as_mut() {
            n.after_step(&mut e, &mut run.host, now);
        }
        run.on_events(step);
        if let Some(snap) = run.pending_handoff.take() {
            run.cid = handoff(&mut e, &mut run.host, now, snap);
            e.poll(now, &mut run.host);
        }
        run.on_engine_frames(step);
        run.on_events(step);
        if let Err(err) = e.audit() {
            run.fail(step, format!("audit: {err}"));
        }
        if trace() {
            if let Some(p) = e.peek(run.cid) {
                let r = &run.receiver;
                eprintln!("step {step}: engine rcv_nxt off {} unread {} adv off {} | host unread {} delivered {}", offset(p.rcv_nxt, irs), p.rcv_unread, offset(p.rcv_adv, irs), r.unread, r.delivered);
            }
        }
    }
    assert_eq!(run.receiver.delivered, total);
    let c = e.counters();
    [
        u64::from(run.restores),
        c.drop_no_staging,
        c.drop_ooo_no_staging,
        c.rx_ooo_segs,
        c.drop_out_of_window,
        c.drop_paws,
        c.rx_dup_segs,
        step,
    ]
}

impl ReceiveRun {
    /// The peer's next segment (see `PeerSender::pick`), or `None` if it
    /// has nothing to send.
    fn peer_segment(&mut self) -> Option<Vec<u8>> {
        let (start, len, fin, replay) = self.peer.pick(&mut self.rng)?;
        // Timestamps never go backwards except for a late (reordered) copy.
        let tsval = if replay {
            self.clock.for_copy(&mut self.rng)
        } else {
            self.clock.tick(&mut self.rng)
        };
        let opts = peer_options(self.clock.option(tsval), &[]);
        let mut flags = ACK;
        if fin {
            flags |= FIN;
        }
        if self.rng.chance(300_000) {
            flags |= PSH;
        }
        if trace() {
            eprintln!("peer seg off {start} len {len} fin {fin} replay {replay} tsval {tsval}");
        }
        Some(frame_to_nic(
            self.v6,
            self.peer.seq(start),
            1000,
            flags,
            65535,
            &opts,
            self.peer.payload(start, len),
            PEER_PORT,
        ))
    }

    /// The peer reads the engine's ACKs: they set its ack point and window.
    fn on_engine_frames(&mut self, step: u64) {
        for f in std::mem::take(&mut self.host.tx) {
            let s = decode_engine_frame(self.v6, &f);
            if s.dst_port == NEIGHBOUR_PORT {
                continue;
            }
            if !s.payload.is_empty()
                || s.flags & (FIN | tcp::RST | tcp::SYN) != 0
                || s.flags & ACK == 0
            {
                self.fail(
                    step,
                    format!("unexpected segment from a connection with nothing to send: {s:?}"),
                );
            }
            let ack = offset(s.ack, self.peer.irs);
            if trace() {
                eprintln!(
                    "engine ack off {ack} wnd {} ",
                    u64::from(s.window) << self.rcv_wscale
                );
            }
            if let Err(msg) = self.peer.check_engine_ack(ack) {
                self.fail(step, msg);
            }
            self.peer
                .on_engine_ack(ack, u64::from(s.window) << self.rcv_wscale);
            if let Some(t) = s.tsval {
                self.clock.echo = t;
            }
        }
        // Frames that arrived while the connection was being restored.
        self.host.passed.clear();
    }
}

#[test]
fn receive_delivers_exactly_the_stream() {
    run_seeds(
        "receive",
        seeds(),
        receive_property,
        "restores, staging drops, ooo drops, ooo segs, out of window, paws, dups, steps",
    );
}

// ----------------------------------------------------------------------
// Property 2: transmit
// ----------------------------------------------------------------------

/// The peer's (constant) sequence number: it sends no data.
const PEER_SEQ: u32 = 5000;

struct TransmitRun {
    seed: u64,
    rng: Rng,
    v6: bool,
    ts: bool,
    sack: bool,
    now: u64,
    /// Sequence number of stream[0].
    iss: u32,
    snd_wscale: u8,
    host: Host,
    cid: u32,
    sender: HostSender,
    restores_left: u32,
    peer: PeerReceiver,
    clock: PeerClock,
    loss_ppm: u32,
    reorder_ppm: u32,
    ack_loss_ppm: u32,
    to_peer: DueQueue<OutSeg>,
    /// ACK frames with the ack offset and right edge they carry.
    to_engine: DueQueue<(Vec<u8>, u64, u64)>,
    segments_checked: u64,
    retransmitted_bytes: u64,
}

impl TransmitRun {
    fn fail(&self, step: u64, msg: impl std::fmt::Display) -> ! {
        panic!(
            "transmit property, seed {} (v6={}, ts={}, sack={}), step {step}: {msg}",
            self.seed, self.v6, self.ts, self.sack
        )
    }

    /// The host hands the engine more of the stream.
    fn pump(&mut self, cmds: &mut Vec<u8>) {
        while let Some((addr, len, flags)) =
            self.sender.next_send(&mut self.rng, &mut self.host.mem)
        {
            cmds.extend(enc(Command::Send {
                cid: self.cid,
                addr,
                len,
                flags,
            }));
        }
        if self.sender.close_due() {
            cmds.extend(enc(Command::Ctrl {
                cid: self.cid,
                cmd: CtrlCmd::Close,
                arg: 0,
            }));
        }
    }

    fn on_events(&mut self, step: u64) -> Option<Snapshot> {
        let mut restored = None;
        for ev in std::mem::take(&mut self.host.events) {
            match ev {
                OwnedEvent::Ack { cid, len } => {
                    if cid != self.cid {
                        self.fail(step, "ack for another cid");
                    }
                    if let Err(msg) = self.sender.on_ack(
                        len,
                        self.peer.ack_delivered,
                        &mut self.rng,
                        &mut self.host.mem,
                    ) {
                        self.fail(step, msg);
                    }
                }
                OwnedEvent::Restore { snap, .. } => restored = Some(snap),
                OwnedEvent::Resource { .. } => {}
                OwnedEvent::Ctrl { ev, arg, .. } => {
                    self.fail(step, format!("unexpected ctrl event {ev:?} ({arg})"))
                }
                other => self.fail(step, format!("unexpected event {other:?}")),
            }
        }
        restored
    }

    /// Checks every segment the engine sent, then puts it on the wire.
    fn on_engine_frames(&mut self, step: u64) {
        for f in std::mem::take(&mut self.host.tx) {
            let s = decode_engine_frame(self.v6, &f);
            if s.flags & (tcp::RST | tcp::SYN) != 0 || s.flags & ACK == 0 {
                self.fail(step, format!("unexpected flags {:#x}", s.flags));
            }
            if s.ack != PEER_SEQ {
                self.fail(
                    step,
                    format!("engine acks {} of a peer that sent nothing", s.ack),
                );
            }
            if let Some(t) = s.tsval {
                self.clock.echo = t;
            }
            let off = offset(s.seq, self.iss);
            let len = s.payload.len() as u64;
            if trace() {
                eprintln!(
                    "t={} engine seg off {} len {len} flags {:#x}",
                    self.now / 1000,
                    off as i64,
                    s.flags
                );
            }
            if let Err(msg) = self.sender.check_segment(
                off,
                &s.payload,
                s.flags & FIN != 0,
                self.peer.max_right_delivered,
                self.peer.ack_delivered,
            ) {
                self.fail(step, msg);
            }
            if len > 0 {
                self.segments_checked += 1;
                if off < self.peer.got.contiguous() {
                    self.retransmitted_bytes += len;
                }
            }
            if self.rng.chance(self.loss_ppm) {
                continue;
            }
            let mut at = self.now + 1000 + self.rng.below(2000);
            if self.rng.chance(self.reorder_ppm) {
                at += self.rng.below(30_000);
            }
            self.to_peer.push(at, s);
        }
    }

    /// Frames due at the peer: take the in-window bytes, answer with ACKs.
    fn peer_receive(&mut self) {
        for s in self.to_peer.take_due(self.now) {
            let off = offset(s.seq, self.iss);
            let len = s.payload.len() as u64;
            self.peer.take(off, len, s.flags & FIN != 0);
            // Every segment is answered (duplicate ACKs drive fast
            // retransmit), except now and then (delayed ACK).
            if len == 0 || self.rng.chance(900_000) {
                self.peer_send_ack();
            }
            if self.rng.chance(20_000) {
                self.peer_send_ack(); // A spurious extra duplicate.
            }
        }
    }

    /// One ACK from the peer (see `PeerReceiver::next_ack`).
    fn peer_send_ack(&mut self) {
        let (ack, field, right) = self
            .peer
            .next_ack(&mut self.rng, self.now, self.sender.total());
        let sack = self.peer.sack_blocks(&mut self.rng, ack);
        let tsval = self.clock.tick(&mut self.rng);
        let opts = peer_options(self.clock.option(tsval), &sack);
        let frame = frame_to_nic(
            self.v6,
            PEER_SEQ,
            self.iss.wrapping_add(ack as u32),
            ACK,
            field,
            &opts,
            &[],
            PEER_PORT,
        );
        if trace() {
            let got = &self.peer.got.0;
            eprintln!(
                "t={} peer ack {ack} wnd {} sack {sack:?} (holds {:?})",
                self.now / 1000,
                u64::from(field) << self.snd_wscale,
                &got[..got.len().min(4)]
            );
        }
        if self.rng.chance(self.ack_loss_ppm) {
            return;
        }
        let mut at = self.now + 1000 + self.rng.below(2000);
        if self.rng.chance(self.reorder_ppm / 4) {
            at += self.rng.below(10_000);
        }
        self.to_engine.push(at, (frame, ack, right));
    }
}

/// Runs one seed; returns coverage counts (segments checked, retransmitted
/// bytes, fast retransmits, SACK retransmits, RTOs, persist probes,
/// restores, steps).
fn transmit_property(seed: u64) -> [u64; 8] {
    let (v6, ts) = variant(seed);
    let mut rng = Rng::new(seed ^ 0x7a_0002);
    let sack = rng.chance(700_000);
    let stream_len = 64 * 1024 + rng.below(192 * 1024) as usize;
    let stream = rng.bytes(stream_len);
    let iss = random_isn(&mut rng);
    let snd_wscale = [0u8, 2, 7][rng.below(3) as usize];
    let mss = [300u16, 536, 1000, 1448, 1460][rng.below(5) as usize];
    let initial_wnd = 1000 + rng.below(200_000) as u32;
    let mut snap = test_snapshot(v6, PEER_PORT, ts);
    if sack {
        snap.flags.0 |= SnapFlags::SACK;
    }
    snap.mss = mss;
    snap.snd_una = iss;
    snap.snd_nxt = iss;
    snap.snd_max = iss;
    snap.recover = iss.wrapping_sub(1);
    snap.snd_wscale = snd_wscale;
    snap.snd_wnd = (initial_wnd >> snd_wscale).min(65535) << snd_wscale;
    snap.max_snd_wnd = snap.snd_wnd;
    snap.snd_wl1 = PEER_SEQ;
    snap.snd_wl2 = iss;
    snap.cwnd = 10 * u32::from(mss);
    snap.rcv_nxt = PEER_SEQ;
    snap.rcv_adv = PEER_SEQ + 65535;
    snap.ts_recent = 100;

    let mut nic = NicMemory::new(small_layout());
    let mut e = nic.engine(seed as u32, T0);
    let mut host = Host::new(stream_len * 2 + 2 * 1024 * 1024);
    let cid = handoff(&mut e, &mut host, T0, snap);
    let mut setup = Vec::new();
    if rng.chance(300_000) {
        setup.extend(enc(Command::Ctrl {
            cid,
            cmd: CtrlCmd::NoDelay,
            arg: 1,
        }));
    }
    let max_outstanding = [4096u64, 32 * 1024, 256 * 1024, 1 << 20][rng.below(4) as usize];
    let close = rng.chance(500_000);
    let restores_left = if rng.chance(200_000) {
        1 + rng.below(2) as u32
    } else {
        0
    };
    let loss_ppm = [0u32, 10_000, 50_000, 100_000, 200_000][rng.below(5) as usize];
    let reorder_ppm = [0u32, 20_000, 100_000][rng.below(3) as usize];
    let ack_loss_ppm = [0u32, 20_000, 100_000][rng.below(3) as usize];
    let mut run = TransmitRun {
        seed,
        v6,
        ts,
        sack,
        now: T0,
        iss,
        snd_wscale,
        host,
        cid,
        sender: HostSender::new(stream, 0x1000, max_outstanding, close),
        restores_left,
        peer: PeerReceiver::new(
            sack,
            ts,
            iss,
            snd_wscale,
            initial_wnd,
            u64::from(snap.snd_wnd),
        ),
        clock: PeerClock::new(ts),
        loss_ppm,
        reorder_ppm,
        ack_loss_ppm,
        to_peer: DueQueue::new(),
        to_engine: DueQueue::new(),
        segments_checked: 0,
        retransmitted_bytes: 0,
        rng,
    };
    let mut restores = 0;
    let mut step = 0u64;
    let mut last_state = None;
    let deadline = T0 + 3_600_000_000;
    loop {
        let done_data = run.sender.acked == run.sender.total();
        let fin_done = !run.sender.close
            || e.peek(run.cid)
                .is_some_and(|p| p.state == TcpState::FinWait2);
        if done_data && fin_done {
            break;
        }
        step += 1;
        if run.now > deadline {
            run.fail(
                step,
                format!(
                    "no progress: host acked {} of {}, peer holds {}, engine {:?}",
                    run.sender.acked,
                    run.sender.total(),
                    run.peer.got.contiguous(),
                    e.peek(run.cid)
                ),
            );
        }
        // Idle periods (waiting for an RTO) pass in bigger steps.
        run.now += if run.to_peer.is_empty() && run.to_engine.is_empty() {
            5000 + run.rng.below(20_000)
        } else {
            200 + run.rng.below(1500)
        };
        let now = run.now;

        for (frame, ack, right) in run.to_engine.take_due(now) {
            run.peer.delivered(ack, right);
            e.receive(now, &frame, &mut run.host);
            if trace() {
                let p = e.peek(run.cid);
                eprintln!(
                    "t={} engine got ack {ack} (right {right}): {:?}",
                    now / 1000,
                    p.map(|p| (p.state, offset(p.snd_una, iss), p.snd_queued, p.flags))
                );
            }
        }
        let mut cmds = std::mem::take(&mut setup);
        run.pump(&mut cmds);
        let restore_now = run.restores_left > 0 && run.rng.chance(2000);
        if restore_now {
            run.restores_left -= 1;
            cmds.extend(enc(Command::Restore {
                cid: run.cid,
                cookie: 78,
            }));
        }
        e.step(now, std::iter::empty(), &cmds, &mut run.host);
        if let Some(snap) = run.on_events(step) {
            restores += 1;
            run.after_restore(step, &mut e, snap);
        }
        run.on_engine_frames(step);
        run.peer_receive();
        let p = &run.peer;
        if p.window_update_owed && run.now >= p.zero_window_until && p.wnd >> run.snd_wscale > 0 {
            // Like Linux, announce a reopened window (the update may be lost).
            run.peer_send_ack();
        }
        run.host.passed.clear();
        if let Err(err) = e.audit() {
            run.fail(step, format!("audit: {err}"));
        }
        if trace() {
            if let Some(p) = e.peek(run.cid) {
                let st = (
                    p.state,
                    offset(p.snd_una, iss),
                    offset(p.snd_nxt, iss),
                    offset(p.snd_max, iss),
                    p.snd_wnd,
                    p.cwnd,
                    p.rxt_shift,
                    p.snd_queued,
                );
                if Some(st) != last_state {
                    eprintln!("t={} engine {:?} una {} nxt {} max {} wnd {} cwnd {} rxt_shift {} queued {}", now / 1000, st.0, st.1, st.2, st.3, st.4, st.5, st.6, st.7);
                    last_state = Some(st);
                }
            }
        }
    }
    let c = e.counters();
    [
        run.segments_checked,
        run.retransmitted_bytes,
        c.fast_retransmits,
        c.sack_retransmits,
        c.rto_fired,
        c.persist_probes,
        restores,
        step,
    ]
}

impl TransmitRun {
    /// The snapshot must agree with what the host was told; then the
    /// connection goes back to the engine and the host re-enqueues
    /// everything from `snd_una` on -- sometimes only after ACKs that
    /// arrived in between were processed (the engine's `ack_debt`).
    fn after_restore(&mut self, step: u64, e: &mut Engine<'_>, snap: Snapshot) {
        if let Err(msg) = self.sender.check_restore(self.iss, &snap) {
            self.fail(step, msg);
        }
        let now = self.now;
        self.cid = handoff(e, &mut self.host, now, snap);
        if self.rng.chance(500_000) {
            // Up to two ACKs in flight, delivered right after the handoff.
            for (frame, ack, right) in self.to_engine.take_first(2) {
                self.peer.delivered(ack, right);
                e.receive(now, &frame, &mut self.host);
            }
        }
        let mut cmds = Vec::new();
        for (addr, len) in self.sender.unacked_pieces() {
            cmds.extend(enc(Command::Send {
                cid: self.cid,
                addr,
                len,
                flags: 0,
            }));
        }
        // A closed connection's snapshot carries the FIN (queued or sent)
        // itself: the host only brings back the data.
        e.step(now, std::iter::empty(), &cmds, &mut self.host);
        if self.on_events(step).is_some() {
            self.fail(step, "restored twice");
        }
    }
}

#[test]
fn transmit_sends_exactly_the_stream() {
    run_seeds(
        "transmit",
        seeds(),
        transmit_property,
        "segments, rexmit bytes, fast rexmits, sack rexmits, rtos, persist probes, restores, steps",
    );
}

// ----------------------------------------------------------------------
// Property 3: many connections sharing one engine
// ----------------------------------------------------------------------

/// Seeds of property 3 by default (each runs 4-16 connections at once).
const MULTI_DEFAULT_SEEDS: u64 = 150;
/// Peer port of the first connection of a run; each connection of a run
/// has its own, so a late frame always names the connection it belongs to.
const MULTI_PORT_BASE: u16 = 41000;
/// Handoff cookie of connection 0 of a run (connection `i` uses base + i).
const MULTI_COOKIE_BASE: u64 = 0x1_0000;
/// Host memory of one connection: its receive ring, then its send area.
/// Regions are reused by later connections of the run, as a host reuses
/// memory.
const LANE_RX_RING: u64 = 1 << 20;
const LANE_TX_AREA: u64 = 256 << 10;
const LANE_MEMORY: u64 = LANE_RX_RING + LANE_TX_AREA;
const MULTI_MEMORY_BASE: u64 = 0x1000;
/// Bytes one connection keeps posted at most (so its ring never laps a
/// posted buffer).
const LANE_MAX_POSTED_BYTES: u64 = 256 << 10;
/// Simulated time a connection may take before the run counts it stuck.
const LANE_DEADLINE_US: u64 = 900_000_000;

/// How a connection of property 3 is meant to end, unless it finishes
/// gracefully first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Both sides send everything and FIN: TIME_WAIT is handed back to the
    /// host if the host closed first, LAST_ACK is freed if the peer did.
    Graceful,
    /// The host aborts (RST) at `end_at`.
    HostAbort,
    /// The peer resets at `end_at`.
    PeerReset,
    /// The host takes the connection back for good at `end_at`.
    HostTakesBack,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Not on the engine: to be handed off at `at` (the first time, or
    /// again after a migration).
    Waiting {
        snap: Snapshot,
        at: u64,
    },
    Running,
    /// Over: nothing of it is on the engine any more.
    Done,
}

/// Tallies of one run of property 3.
#[derive(Default)]
struct MultiStats {
    lanes: u64,
    time_wait: u64,
    last_ack: u64,
    aborted: u64,
    peer_reset: u64,
    taken_back: u64,
    migrations: u64,
    refused_refs: u64,
    refused_slots: u64,
    stale_commands: u64,
}

/// One connection of property 3 ("lane"): both halves of the peer and of
/// the host, its own wire with its own loss and reordering.
struct Lane {
    id: usize,
    port: u16,
    v6: bool,
    ts: bool,
    sack: bool,
    region: usize,
    phase: Phase,
    cid: Option<u32>,
    started: u64,
    /// Receive direction: the peer's data to the host.
    irs: u32,
    rcv_wscale: u8,
    peer_sender: PeerSender,
    host_receiver: HostReceiver,
    /// Transmit direction: the host's data to the peer.
    iss: u32,
    snd_wscale: u8,
    host_sender: HostSender,
    peer_receiver: PeerReceiver,
    clock: PeerClock,
    /// Peer frames with the ack offset and right edge they carry.
    to_engine: DueQueue<(Vec<u8>, u64, u64)>,
    to_peer: DueQueue<OutSeg>,
    loss_ppm: u32,
    reorder_ppm: u32,
    ending: Ending,
    end_at: u64,
    /// The host aborts when the engine refuses a reference (as the real
    /// bypass layer does), rather than trying again later.
    abort_on_refusal: bool,
    posted_cap: usize,
    migrations_left: u32,
    /// The engine asked for the connection back (memory pressure) and the
    /// host will oblige.
    restore_asked: bool,
    taking_back: bool,
    /// Host stops posting and reading until then.
    paused_until: u64,
    /// Unacknowledged data to re-enqueue after a handoff, (addr, len).
    requeue: VecDeque<(u64, u16)>,
    aborted: bool,
    peer_resetting: bool,
    peer_got_rst: bool,
}

/// Lengths of one direction's stream: empty now and then, mostly short, up
/// to 64 KiB.
fn lane_stream_len(rng: &mut Rng) -> usize {
    (match rng.below(10) {
        0 => 0,
        1..=3 => 1 + rng.below(3000),
        4..=7 => 3000 + rng.below(20_000),
        _ => 20_000 + rng.below(45_000),
    }) as usize
}

impl Lane {
    fn new(id: usize, region: usize, rng: &mut Rng, now: u64, posted_cap: usize) -> Lane {
        let base = MULTI_MEMORY_BASE + region as u64 * LANE_MEMORY;
        let v6 = rng.chance(500_000);
        let ts = rng.chance(500_000);
        let sack = rng.chance(700_000);
        let rx_len = lane_stream_len(rng);
        let rx_stream = rng.bytes(rx_len);
        let tx_len = lane_stream_len(rng);
        let tx_stream = rng.bytes(tx_len);
        let irs = random_isn(rng);
        let iss = random_isn(rng);
        let rcv_wscale = [0u8, 0, 2, 7][rng.below(4) as usize];
        let snd_wscale = [0u8, 2, 7][rng.below(3) as usize];
        let mss = [300u16, 536, 1000, 1448, 1460][rng.below(5) as usize];
        let peer_mss = [536u64, 1000, 1448, 1460][rng.below(4) as usize];
        let initial_wnd = 1000 + rng.below(200_000) as u32;
        let port = MULTI_PORT_BASE + id as u16;
        let mut snap = test_snapshot(v6, port, ts);
        if sack {
            snap.flags.0 |= SnapFlags::SACK;
        }
        if rng.chance(300_000) {
            snap.flags.0 |= SnapFlags::NODELAY;
        }
        snap.mss = mss;
        snap.snd_una = iss;
        snap.snd_nxt = iss;
        snap.snd_max = iss;
        snap.recover = iss.wrapping_sub(1);
        snap.snd_wscale = snd_wscale;
        snap.snd_wnd = (initial_wnd >> snd_wscale).min(65535) << snd_wscale;
        snap.max_snd_wnd = snap.snd_wnd;
        snap.snd_wl1 = irs.wrapping_sub(1);
        snap.snd_wl2 = iss;
        snap.cwnd = 10 * u32::from(mss);
        snap.rcv_nxt = irs;
        snap.rcv_adv = irs.wrapping_add(rng.below(2) as u32 * 8192);
        snap.rcv_wscale = rcv_wscale;
        snap.rcv_buf = [16 * 1024, 64 * 1024, 256 * 1024, 1 << 20][rng.below(4) as usize];
        snap.ts_recent = 100;
        let ending = match rng.below(10) {
            0..=5 => Ending::Graceful,
            6 => Ending::HostAbort,
            7 => Ending::PeerReset,
            _ => Ending::HostTakesBack,
        };
        let close = ending == Ending::Graceful || rng.chance(500_000);
        let max_outstanding = [4096u64, 32 * 1024, 256 * 1024][rng.below(3) as usize];
        Lane {
            id,
            port,
            v6,
            ts,
            sack,
            region,
            phase: Phase::Waiting { snap, at: now },
            cid: None,
            started: now,
            irs,
            rcv_wscale,
            peer_sender: PeerSender::new(rx_stream, irs, peer_mss, offset(snap.rcv_adv, irs)),
            host_receiver: HostReceiver::new(base, LANE_RX_RING),
            iss,
            snd_wscale,
            host_sender: HostSender::new(tx_stream, base + LANE_RX_RING, max_outstanding, close),
            peer_receiver: PeerReceiver::new(
                sack,
                ts,
                iss,
                snd_wscale,
                initial_wnd,
                u64::from(snap.snd_wnd),
            ),
            clock: PeerClock::new(ts),
            to_engine: DueQueue::new(),
            to_peer: DueQueue::new(),
            loss_ppm: [0u32, 10_000, 50_000, 100_000][rng.below(4) as usize],
            reorder_ppm: [0u32, 20_000, 100_000][rng.below(3) as usize],
            ending,
            end_at: now + rng.below(3_000_000),
            abort_on_refusal: rng.chance(150_000),
            posted_cap,
            migrations_left: if rng.chance(300_000) {
                1 + rng.below(2) as u32
            } else {
                0
            },
            restore_asked: false,
            taking_back: false,
            paused_until: 0,
            requeue: VecDeque::new(),
            aborted: false,
            peer_resetting: false,
            peer_got_rst: false,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    fn cookie(&self) -> u64 {
        MULTI_COOKIE_BASE + self.id as u64
    }

    fn describe(&self) -> String {
        format!(
            "connection {} (port {}, v6 {}, ts {}, sack {}, ending {:?}, phase {:?}, cid {:?}): rx {}/{} delivered, fin {}; tx {} issued {} acked of {}, peer holds {}, fin {}",
            self.id,
            self.port,
            self.v6,
            self.ts,
            self.sack,
            self.ending,
            match self.phase {
                Phase::Waiting { at, .. } => format!("waiting until {}ms", at / 1000),
                p => format!("{p:?}"),
            },
            self.cid,
            self.host_receiver.delivered,
            self.peer_sender.total(),
            self.host_receiver.peer_fin,
            self.host_sender.issued,
            self.host_sender.acked,
            self.host_sender.total(),
            self.peer_receiver.got.contiguous(),
            self.peer_receiver.fin_got,
        )
    }

    /// A reference was refused: the host tries again later, or aborts the
    /// connection as the real bypass layer does (a send it cannot place
    /// would leave a hole in the stream).
    fn on_refused_ref(
        &mut self,
        e: &mut Engine<'_>,
        host: &mut Host,
        now: u64,
        cid: u32,
        stats: &mut MultiStats,
    ) -> Result<(), String> {
        stats.refused_refs += 1;
        if self.abort_on_refusal {
            self.aborted = true;
            e.command(
                now,
                &enc(Command::Ctrl {
                    cid,
                    cmd: CtrlCmd::Abort,
                    arg: 0,
                }),
                host,
            )
            .map_err(|err| format!("abort refused: {err:?}"))?;
        }
        Ok(())
    }

    /// One turn of the host: one command (or none), executed at once.
    fn host_turn(
        &mut self,
        rng: &mut Rng,
        e: &mut Engine<'_>,
        host: &mut Host,
        now: u64,
        stats: &mut MultiStats,
    ) -> Result<(), String> {
        let cid = match self.phase {
            Phase::Done => return Ok(()),
            Phase::Waiting { snap, at } => {
                if now >= at {
                    // The outcome comes as a handoff_done event.
                    let _ = e.command(
                        now,
                        &enc(Command::Handoff {
                            cookie: self.cookie(),
                            snap,
                        }),
                        host,
                    );
                }
                return Ok(());
            }
            Phase::Running => self.cid.expect("a running connection has a cid"),
        };
        let mut run = |c: Command| e.command(now, &enc(c), host);
        let refused_ref =
            |r: &Result<usize, CmdError>| matches!(r, Err(CmdError::Refused(Refusal::NoRefs)));
        // Unacknowledged data goes back first after a handoff, in order
        // (and before the host restores or ends the connection: a snapshot
        // does not count what is still to come).
        if let Some(&(addr, len)) = self.requeue.front() {
            let r = run(Command::Send {
                cid,
                addr,
                len,
                flags: 0,
            });
            if r.is_ok() {
                self.requeue.pop_front();
            } else if refused_ref(&r) {
                return self.on_refused_ref(e, host, now, cid, stats);
            } else {
                return Err(format!(
                    "re-enqueue of {len} bytes at {addr:#x} refused: {r:?}"
                ));
            }
            return Ok(());
        }
        if now >= self.end_at && matches!(self.ending, Ending::HostAbort | Ending::HostTakesBack) {
            if self.ending == Ending::HostAbort {
                self.aborted = true;
                run(Command::Ctrl {
                    cid,
                    cmd: CtrlCmd::Abort,
                    arg: 0,
                })
                .map_err(|err| format!("abort refused: {err:?}"))?;
            } else {
                self.taking_back = true;
                run(Command::Restore {
                    cid,
                    cookie: self.cookie(),
                })
                .map_err(|err| format!("restore refused: {err:?}"))?;
            }
            return Ok(());
        }
        let migrate = self.migrations_left > 0 && rng.chance(3000);
        if self.restore_asked || migrate {
            if migrate {
                self.migrations_left -= 1;
            }
            self.restore_asked = false;
            stats.migrations += 1;
            run(Command::Restore {
                cid,
                cookie: self.cookie(),
            })
            .map_err(|err| format!("restore refused: {err:?}"))?;
            return Ok(());
        }
        if self.paused_until <= now && rng.chance(3000) {
            self.paused_until = now + 20_000 + rng.below(600_000);
        }
        let active = self.paused_until <= now;
        match rng.below(10) {
            0..=2 => {
                let r = &self.host_receiver;
                if !(active
                    && r.delivered < self.peer_sender.stream.len()
                    && r.posted.len() < self.posted_cap
                    && r.posted_bytes() < LANE_MAX_POSTED_BYTES)
                {
                    return Ok(());
                }
                let (addr, len) = self.host_receiver.new_buffer(rng, &mut host.mem);
                let r = e.command(
                    now,
                    &enc(Command::Post {
                        cid,
                        addr,
                        len: len as u16,
                    }),
                    host,
                );
                if r.is_ok() {
                    self.host_receiver.posted.push_back((addr, len, 0));
                } else if refused_ref(&r) {
                    self.host_receiver.take_back_buffer(addr);
                    return self.on_refused_ref(e, host, now, cid, stats);
                } else {
                    return Err(format!("post refused: {r:?}"));
                }
            }
            3 | 4 => {
                if let Some(len) = active.then(|| self.host_receiver.read(rng)).flatten() {
                    if trace() {
                        eprintln!("t={} lane {} host read {len}", now / 1000, self.id);
                    }
                    e.command(now, &enc(Command::Recvd { cid, len }), host)
                        .map_err(|err| format!("recvd refused: {err:?}"))?;
                }
            }
            _ => {
                if let Some((addr, len, flags)) = self.host_sender.next_send(rng, &mut host.mem) {
                    let r = e.command(
                        now,
                        &enc(Command::Send {
                            cid,
                            addr,
                            len,
                            flags,
                        }),
                        host,
                    );
                    if refused_ref(&r) {
                        self.host_sender.unsend();
                        return self.on_refused_ref(e, host, now, cid, stats);
                    } else if r.is_err() {
                        return Err(format!("send of {len} bytes refused: {r:?}"));
                    }
                } else if self.host_sender.close_due() {
                    e.command(
                        now,
                        &enc(Command::Ctrl {
                            cid,
                            cmd: CtrlCmd::Close,
                            arg: 0,
                        }),
                        host,
                    )
                    .map_err(|err| format!("close refused: {err:?}"))?;
                }
            }
        }
        Ok(())
    }

    /// The engine took the connection: the host brings back whatever is
    /// unacknowledged (nothing the first time).
    fn on_handoff(&mut self, cid: u32) {
        self.cid = Some(cid);
        self.phase = Phase::Running;
        self.requeue = self.host_sender.unacked_pieces().into();
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.cid = None;
        self.to_engine.clear();
        self.to_peer.clear();
    }

    /// Everything moved both ways, FINs included.
    fn check_complete(&self) -> Result<(), String> {
        let r = &self.host_receiver;
        if !(r.peer_fin && r.delivered == self.peer_sender.stream.len()) {
            return Err(format!(
                "closed with {} of {} bytes received (peer FIN reported: {})",
                r.delivered,
                self.peer_sender.stream.len(),
                r.peer_fin
            ));
        }
        let s = &self.host_sender;
        if s.acked != s.total() || !s.close_issued {
            return Err(format!(
                "closed with {} of {} bytes acked (host closed: {})",
                s.acked,
                s.total(),
                s.close_issued
            ));
        }
        let p = &self.peer_receiver;
        if p.got.contiguous() != s.total() || !p.fin_got {
            return Err(format!(
                "closed with the peer holding {} of {} bytes (FIN: {})",
                p.got.contiguous(),
                s.total(),
                p.fin_got
            ));
        }
        Ok(())
    }

    /// An event for this connection's cid. Returns whether the cid is gone.
    fn on_event(
        &mut self,
        ev: OwnedEvent,
        rng: &mut Rng,
        mem: &mut [u8],
        now: u64,
        stats: &mut MultiStats,
    ) -> Result<bool, String> {
        if trace() {
            eprintln!(
                "t={} lane {} event {:?}",
                now / 1000,
                self.id,
                match &ev {
                    OwnedEvent::RecvData { data, .. } => format!("recv_data {}", data.len()),
                    OwnedEvent::Restore { reason, snap, .. } => format!(
                        "restore (reason {reason:?}) {:?} rcv_unread {} rcv_buf {} host unread {}",
                        snap.state, snap.rcv_unread, snap.rcv_buf, self.host_receiver.unread
                    ),
                    other => format!("{other:?}"),
                }
            );
        }
        match ev {
            OwnedEvent::Recv { addr, len, .. } => {
                self.host_receiver
                    .on_recv(&self.peer_sender.stream, mem, addr, len)?
            }
            OwnedEvent::RecvData { data, .. } => self
                .host_receiver
                .deliver(&self.peer_sender.stream, &data)?,
            OwnedEvent::Ack { len, .. } => {
                self.host_sender
                    .on_ack(len, self.peer_receiver.ack_delivered, rng, mem)?
            }
            OwnedEvent::Ctrl {
                ev: CtrlEvent::PeerFin,
                ..
            } => self.host_receiver.on_peer_fin(&self.peer_sender.stream)?,
            OwnedEvent::Ctrl {
                ev: CtrlEvent::PeerRst,
                ..
            } if self.peer_resetting => {}
            OwnedEvent::Ctrl {
                ev: CtrlEvent::Freed,
                arg,
                ..
            } => {
                match arg {
                    0 => {
                        self.check_complete()?;
                        stats.last_ack += 1;
                    }
                    errno::ECONNABORTED if self.aborted => stats.aborted += 1,
                    errno::ECONNRESET if self.peer_resetting => stats.peer_reset += 1,
                    _ => return Err(format!("freed with reason {arg}")),
                }
                self.finish();
                return Ok(true);
            }
            OwnedEvent::Ctrl {
                ev: CtrlEvent::RestoreRequest,
                ..
            } => {
                // Memory pressure: the host obliges now and then.
                if rng.chance(500_000) {
                    self.restore_asked = true;
                }
            }
            OwnedEvent::Restore { reason, snap, .. } => {
                self.host_sender.check_restore(self.iss, &snap)?;
                self.host_receiver.after_restore(self.irs, &snap)?;
                self.cid = None;
                if reason == RestoreReason::TimeWait {
                    if snap.state != TcpState::TimeWait {
                        return Err(format!("restored for TIME_WAIT in {:?}", snap.state));
                    }
                    self.check_complete()?;
                    stats.time_wait += 1;
                    self.finish();
                } else if self.taking_back {
                    stats.taken_back += 1;
                    self.finish();
                } else {
                    self.phase = Phase::Waiting {
                        snap,
                        at: now + rng.below(50_000),
                    };
                }
                return Ok(true);
            }
            other => return Err(format!("unexpected event {other:?}")),
        }
        Ok(false)
    }

    /// A segment the engine sent to this connection's peer: checked, then
    /// put on the wire.
    fn on_engine_segment(&mut self, s: OutSeg, rng: &mut Rng, now: u64) -> Result<(), String> {
        if trace() {
            eprintln!(
                "t={} lane {} engine seg off {} len {} flags {:#x} ack off {}",
                now / 1000,
                self.id,
                offset(s.seq, self.iss) as i64,
                s.payload.len(),
                s.flags,
                offset(s.ack, self.irs)
            );
        }
        if s.flags & tcp::SYN != 0 {
            return Err(format!("SYN from the engine: {s:?}"));
        }
        if s.flags & tcp::RST != 0 {
            if !self.aborted {
                return Err("RST from the engine, the host did not abort".into());
            }
        } else {
            if s.flags & ACK == 0 {
                return Err(format!("segment without ACK: {s:?}"));
            }
            self.peer_sender.check_engine_ack(offset(s.ack, self.irs))?;
            let off = offset(s.seq, self.iss);
            let r = &self.peer_receiver;
            self.host_sender.check_segment(
                off,
                &s.payload,
                s.flags & FIN != 0,
                r.max_right_delivered,
                r.ack_delivered,
            )?;
        }
        if rng.chance(self.loss_ppm) {
            return Ok(());
        }
        let mut at = now + 1000 + rng.below(2000);
        if rng.chance(self.reorder_ppm) {
            at += rng.below(30_000);
        }
        self.to_peer.push(at, s);
        Ok(())
    }

    /// One turn of the peer: take what arrived, answer, send some data.
    fn peer_turn(&mut self, rng: &mut Rng, now: u64) {
        for s in self.to_peer.take_due(now) {
            self.peer_takes(rng, now, s);
        }
        if self.peer_got_rst {
            return; // Its end is gone.
        }
        if self.ending == Ending::PeerReset && now >= self.end_at {
            if !self.peer_resetting {
                self.peer_resetting = true;
                let at = self.peer_sender.seq(self.peer_sender.snd_nxt());
                self.peer_rst(rng, now, at);
            } else if rng.chance(5000) {
                // The RST was lost or missed the engine's rcv_nxt (the
                // peer's idea of it can be stale), and the engine, idle,
                // sends nothing that would draw another: again at the last
                // ack heard, and a probe below it, which the engine always
                // answers with an ACK (answered with RST at it, below).
                let at = self.peer_sender.seq(self.peer_sender.acked);
                self.peer_rst(rng, now, at);
                let probe =
                    frame_to_nic(self.v6, at.wrapping_sub(1), 0, ACK, 0, &[], &[], self.port);
                self.put_on_wire(rng, now, probe, 0, 0);
            }
            return;
        }
        for _ in 0..rng.below(4) {
            match self.peer_sender.pick(rng) {
                Some(data) => self.peer_send(rng, now, Some(data)),
                None => break,
            }
        }
        let p = &self.peer_receiver;
        if p.window_update_owed && now >= p.zero_window_until && p.wnd >> self.snd_wscale > 0 {
            // Like Linux, announce a reopened window (the update may be lost).
            self.peer_send(rng, now, None);
        }
    }

    /// A segment of the engine reached the peer.
    fn peer_takes(&mut self, rng: &mut Rng, now: u64, s: OutSeg) {
        if s.flags & tcp::RST != 0 {
            self.peer_got_rst = true;
            return;
        }
        self.peer_sender.on_engine_ack(
            offset(s.ack, self.irs),
            u64::from(s.window) << self.rcv_wscale,
        );
        if self.peer_resetting {
            // A closed end answers with RST at the segment's ACK (RFC 9293
            // §3.10.7.1), which is exactly what the engine expects.
            self.peer_rst(rng, now, s.ack);
            return;
        }
        if let Some(t) = s.tsval {
            self.clock.echo = t;
        }
        let len = s.payload.len() as u64;
        let fin = s.flags & FIN != 0;
        self.peer_receiver.take(offset(s.seq, self.iss), len, fin);
        // Data and FIN are answered (now and then not: delayed ACK), and so
        // are window and keepalive probes (below what the peer holds); pure
        // ACKs are not.
        let probe = len == 0
            && seq::lt(
                s.seq,
                self.iss
                    .wrapping_add(self.peer_receiver.got.contiguous() as u32),
            );
        if len > 0 || fin || probe {
            if len == 0 || rng.chance(900_000) {
                self.peer_send(rng, now, None);
            }
            if rng.chance(20_000) {
                self.peer_send(rng, now, None); // A spurious extra duplicate.
            }
        }
    }

    /// A segment of the peer, with data or a pure ACK, put on the wire.
    /// Either way it carries the peer's ack, window and SACK blocks.
    fn peer_send(&mut self, rng: &mut Rng, now: u64, data: Option<(u64, u64, bool, bool)>) {
        let (ack, field, right) = self
            .peer_receiver
            .next_ack(rng, now, self.host_sender.total());
        let sack = self.peer_receiver.sack_blocks(rng, ack);
        let tsval = match data {
            Some((_, _, _, true)) => self.clock.for_copy(rng),
            _ => self.clock.tick(rng),
        };
        let opts = peer_options(self.clock.option(tsval), &sack);
        let ack_seq = self.iss.wrapping_add(ack as u32);
        let p = &self.peer_sender;
        let frame = match data {
            Some((start, len, fin, _)) => {
                let mut flags = ACK;
                if fin {
                    flags |= FIN;
                }
                if rng.chance(300_000) {
                    flags |= PSH;
                }
                frame_to_nic(
                    self.v6,
                    p.seq(start),
                    ack_seq,
                    flags,
                    field,
                    &opts,
                    p.payload(start, len),
                    self.port,
                )
            }
            None => frame_to_nic(
                self.v6,
                p.seq(p.snd_nxt()),
                ack_seq,
                ACK,
                field,
                &opts,
                &[],
                self.port,
            ),
        };
        if trace() {
            eprintln!(
                "t={} lane {} peer sends {data:?} ack {ack} wnd {} sack {sack:?}",
                now / 1000,
                self.id,
                u64::from(field) << self.snd_wscale
            );
        }
        self.put_on_wire(rng, now, frame, ack, right);
    }

    fn peer_rst(&mut self, rng: &mut Rng, now: u64, at: u32) {
        if trace() {
            eprintln!(
                "t={} lane {} peer RST at off {}",
                now / 1000,
                self.id,
                offset(at, self.irs)
            );
        }
        let frame = frame_to_nic(self.v6, at, 0, tcp::RST, 0, &[], &[], self.port);
        self.put_on_wire(rng, now, frame, 0, 0);
    }

    fn put_on_wire(&mut self, rng: &mut Rng, now: u64, frame: Vec<u8>, ack: u64, right: u64) {
        if rng.chance(self.loss_ppm) {
            return;
        }
        let mut at = now + 1000 + rng.below(2000);
        if rng.chance(self.reorder_ppm) {
            at += rng.below(30_000);
        }
        self.to_engine.push(at, (frame, ack, right));
    }
}

/// Something due at the engine in one round of property 3.
enum Action {
    /// A frame of a connection's peer (with the ack and right edge it carries).
    Frame((Vec<u8>, u64, u64)),
    /// A turn of a connection's host.
    HostTurn,
    /// A command for a cid that is gone, as a host whose command ring lags
    /// behind a restore or free sends.
    StaleCommand,
}

struct MultiRun {
    seed: u64,
    rng: Rng,
    now: u64,
    step: u64,
    layout: NicMemoryLayout,
    concurrency: usize,
    total_lanes: usize,
    posted_cap: usize,
    host: Host,
    lanes: Vec<Lane>,
    /// Connections on the engine, by cid.
    lane_of_cid: HashMap<u32, usize>,
    /// Connections not done yet, by peer port.
    lane_of_port: HashMap<u16, usize>,
    free_regions: Vec<usize>,
    /// Cids that are gone (their slots mostly taken by later connections).
    stale_cids: Vec<u32>,
    stats: MultiStats,
}

impl MultiRun {
    fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!(
            "multi-connection property, seed {} ({} at once, {} in all, layout {} conns / {} refs / {} chunks), step {}, t={}ms: {msg}",
            self.seed,
            self.concurrency,
            self.total_lanes,
            self.layout.max_conns,
            self.layout.refs,
            self.layout.chunks,
            self.step,
            self.now / 1000
        )
    }

    fn fail_lane(&self, i: usize, msg: impl std::fmt::Display) -> ! {
        self.fail(format!("{}: {msg}", self.lanes[i].describe()))
    }

    fn active(&self) -> usize {
        self.lanes.iter().filter(|l| !l.is_done()).count()
    }

    /// New connections take the places of finished ones.
    fn start_lanes(&mut self) {
        while self.lanes.len() < self.total_lanes && self.active() < self.concurrency {
            let region = self.free_regions.pop().expect("a free host memory region");
            let id = self.lanes.len();
            let lane = Lane::new(id, region, &mut self.rng, self.now, self.posted_cap);
            self.lane_of_port.insert(lane.port, id);
            self.lanes.push(lane);
            self.stats.lanes += 1;
        }
    }

    /// Events first (they move the host's view on), then the engine's
    /// frames.
    fn settle(&mut self) {
        for ev in std::mem::take(&mut self.host.events) {
            self.on_event(ev);
        }
        for f in std::mem::take(&mut self.host.tx) {
            let v6 = engine_frame_is_v6(&f);
            let s = decode_engine_frame(v6, &f);
            // Frames of connections that are over (a last ACK, the RST of
            // an abort) have no one left to check them against.
            let Some(&i) = self.lane_of_port.get(&s.dst_port) else {
                continue;
            };
            if self.lanes[i].v6 != v6 {
                self.fail_lane(i, "frame of the wrong IP version");
            }
            if let Err(msg) = self.lanes[i].on_engine_segment(s, &mut self.rng, self.now) {
                self.fail_lane(i, msg);
            }
        }
    }

    fn on_event(&mut self, ev: OwnedEvent) {
        let cid = match ev {
            OwnedEvent::HandoffDone { cookie, result } => {
                let i = cookie.wrapping_sub(MULTI_COOKIE_BASE) as usize;
                if i >= self.lanes.len() || !matches!(self.lanes[i].phase, Phase::Waiting { .. }) {
                    self.fail(format!(
                        "handoff_done for cookie {cookie:#x}, which no waiting connection has"
                    ));
                }
                match result {
                    Ok(cid) => {
                        if let Some(other) = self.lane_of_cid.insert(cid, i) {
                            self.fail_lane(
                                i,
                                format!("handed cid {cid:#x}, which connection {other} still has"),
                            );
                        }
                        self.lanes[i].on_handoff(cid);
                    }
                    Err(Refusal::NoConnSlot) => {
                        self.stats.refused_slots += 1;
                        let retry = self.now + 1000 + self.rng.below(20_000);
                        if let Phase::Waiting { at, .. } = &mut self.lanes[i].phase {
                            *at = retry;
                        }
                    }
                    Err(code) => self.fail_lane(i, format!("handoff refused: {code:?}")),
                }
                return;
            }
            OwnedEvent::Resource { .. } => return,
            OwnedEvent::Recv { cid, .. }
            | OwnedEvent::Ack { cid, .. }
            | OwnedEvent::Ctrl { cid, .. }
            | OwnedEvent::RecvData { cid, .. }
            | OwnedEvent::Restore { cid, .. }
            | OwnedEvent::Info { cid, .. } => cid,
        };
        let Some(&i) = self.lane_of_cid.get(&cid) else {
            self.fail(format!(
                "event for cid {cid:#x}, which no connection has: {ev:?}"
            ))
        };
        let lane = &mut self.lanes[i];
        match lane.on_event(
            ev,
            &mut self.rng,
            &mut self.host.mem,
            self.now,
            &mut self.stats,
        ) {
            Ok(false) => {}
            Ok(true) => {
                self.lane_of_cid.remove(&cid);
                self.stale_cids.push(cid);
                if lane.is_done() {
                    self.lane_of_port.remove(&lane.port);
                    self.free_regions.push(lane.region);
                }
            }
            Err(msg) => self.fail_lane(i, msg),
        }
    }

    /// A command for a cid that is gone must be refused and touch nothing:
    /// the slot's generation tells the old cid from a new connection's (no
    /// run hands off the same slot 256 times, so generations never wrap).
    fn stale_command(&mut self, e: &mut Engine<'_>) {
        let cid = self.stale_cids[self.rng.below(self.stale_cids.len() as u64) as usize];
        let cmd = match self.rng.below(7) {
            0 => Command::Send {
                cid,
                addr: 0,
                len: 1000,
                flags: 0,
            },
            1 => Command::Post {
                cid,
                addr: 0,
                len: 1000,
            },
            2 => Command::Recvd { cid, len: 1000 },
            3 => Command::Restore { cid, cookie: 1 },
            4 => Command::Ctrl {
                cid,
                cmd: CtrlCmd::Abort,
                arg: 0,
            },
            5 => Command::Ctrl {
                cid,
                cmd: CtrlCmd::Close,
                arg: 0,
            },
            _ => Command::Info { cid, cookie: 1 },
        };
        let r = e.command(self.now, &enc(cmd), &mut self.host);
        if r != Err(CmdError::Refused(Refusal::BadCid)) {
            self.fail(format!("{cmd:?} for a cid that is gone: {r:?}"));
        }
        self.stats.stale_commands += 1;
    }

    fn run(&mut self, e: &mut Engine<'_>) {
        loop {
            self.start_lanes();
            if self.lanes.len() == self.total_lanes && self.active() == 0 {
                break;
            }
            self.step += 1;
            if let Some(i) = self
                .lanes
                .iter()
                .position(|l| !l.is_done() && self.now > l.started + LANE_DEADLINE_US)
            {
                let engine = self.lanes[i].cid.and_then(|cid| e.peek(cid));
                self.fail_lane(i, format!("no progress; engine {engine:?}"));
            }
            let quiet = self
                .lanes
                .iter()
                .all(|l| l.to_engine.is_empty() && l.to_peer.is_empty());
            self.now += if quiet {
                2000 + self.rng.below(20_000)
            } else {
                100 + self.rng.below(1500)
            };
            let now = self.now;

            // Everything due at the engine this round -- each peer's frames
            // in wire order, each host's turns -- in one random interleaving.
            let mut sources: Vec<(usize, VecDeque<Action>)> = Vec::new();
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                if lane.is_done() {
                    continue;
                }
                let frames: VecDeque<Action> = lane
                    .to_engine
                    .take_due(now)
                    .into_iter()
                    .map(Action::Frame)
                    .collect();
                if !frames.is_empty() {
                    sources.push((i, frames));
                }
                let turns = self.rng.below(4);
                if turns > 0 {
                    sources.push((i, (0..turns).map(|_| Action::HostTurn).collect()));
                }
            }
            if !self.stale_cids.is_empty() && self.rng.chance(100_000) {
                sources.push((usize::MAX, VecDeque::from([Action::StaleCommand])));
            }
            while !sources.is_empty() {
                let k = self.rng.below(sources.len() as u64) as usize;
                let i = sources[k].0;
                let action = sources[k].1.pop_front().unwrap();
                if sources[k].1.is_empty() {
                    sources.swap_remove(k);
                }
                match action {
                    Action::Frame((frame, ack, right)) => {
                        self.lanes[i].peer_receiver.delivered(ack, right);
                        e.receive(now, &frame, &mut self.host);
                    }
                    Action::HostTurn => {
                        if let Err(msg) = self.lanes[i].host_turn(
                            &mut self.rng,
                            e,
                            &mut self.host,
                            now,
                            &mut self.stats,
                        ) {
                            self.fail_lane(i, msg);
                        }
                    }
                    Action::StaleCommand => self.stale_command(e),
                }
                self.settle();
            }
            // The firmware's loop skips a poll now and then (no room for
            // events): input and commands then wait for the next one.
            if self.rng.chance(900_000) {
                e.poll(now, &mut self.host);
                self.settle();
                // Audit only after a poll: before it, a connection freed
                // by input still sits on the dirty list, uncounted.
                if let Err(err) = e.audit() {
                    self.fail(format!("audit: {err}"));
                }
            }
            for lane in self.lanes.iter_mut().filter(|l| !l.is_done()) {
                lane.peer_turn(&mut self.rng, now);
            }
            // Frames of connections not (or no longer) on the engine.
            self.host.passed.clear();
        }
        e.poll(self.now, &mut self.host);
        self.settle();
        if let Err(err) = e.audit() {
            self.fail(format!("audit at the end: {err}"));
        }
        if e.live_conns() != 0
            || e.free_refs() as usize != self.layout.refs
            || e.free_chunks() as usize != self.layout.chunks
        {
            self.fail(format!(
                "at the end: {} connections live, {} of {} refs and {} of {} chunks free",
                e.live_conns(),
                e.free_refs(),
                self.layout.refs,
                e.free_chunks(),
                self.layout.chunks
            ));
        }
    }
}

/// Runs one seed; returns coverage counts (connections, TIME_WAIT
/// handbacks, LAST_ACK frees, aborts, peer resets, taken back, migrations,
/// refused refs, refused slots, staging drops, out-of-order staging drops,
/// restore requests, commands for stale cids, steps).
fn multi_property(seed: u64) -> [u64; 14] {
    let mut rng = Rng::new(seed ^ 0x3c_0003);
    let concurrency = 4 + rng.below(13) as usize;
    let total_lanes = concurrency + rng.below(2 * concurrency as u64 + 1) as usize;
    // Fewer slots than connections (handoffs refused until some end), as
    // many, or a few more.
    let max_conns = match rng.below(3) {
        0 => (concurrency - 1 - rng.below(3) as usize).max(2),
        1 => concurrency,
        _ => concurrency + 4,
    };
    // References from scarce (refusals all the time) to plenty; staging
    // from a handful of chunks to enough.
    let refs = max_conns * [4usize, 8, 32, 256][rng.below(4) as usize] + rng.below(16) as usize;
    let chunks = [4usize, 16, 64, 256][rng.below(4) as usize];
    let layout = NicMemoryLayout::with_counts(max_conns, refs, chunks).unwrap();
    let mut nic = NicMemory::new(layout);
    let mut e = nic.engine(seed as u32, T0);
    if rng.chance(500_000) {
        e.set_stage_cap([1u16, 2, 4, 8, 64][rng.below(5) as usize]);
    }
    if rng.chance(300_000) {
        e.set_pressure_slots(1 + rng.below(3) as u32);
    }
    // Posted buffers hold references however long the peer is silent;
    // capped at half the pool in all, so sends (which the peer's ACKs
    // free) always find some eventually.
    let posted_cap = (refs / (2 * max_conns)).clamp(1, MAX_POSTED);
    let mut run = MultiRun {
        seed,
        rng,
        now: T0,
        step: 0,
        layout,
        concurrency,
        total_lanes,
        posted_cap,
        host: Host::new((MULTI_MEMORY_BASE + concurrency as u64 * LANE_MEMORY) as usize),
        lanes: Vec::new(),
        lane_of_cid: HashMap::new(),
        lane_of_port: HashMap::new(),
        free_regions: (0..concurrency).rev().collect(),
        stale_cids: Vec::new(),
        stats: MultiStats::default(),
    };
    run.run(&mut e);
    let (s, c) = (&run.stats, e.counters());
    [
        s.lanes,
        s.time_wait,
        s.last_ack,
        s.aborted,
        s.peer_reset,
        s.taken_back,
        s.migrations,
        s.refused_refs,
        s.refused_slots,
        c.drop_no_staging,
        c.drop_ooo_no_staging,
        c.restore_requests,
        s.stale_commands,
        run.step,
    ]
}

#[test]
fn many_connections_share_the_engine_without_mixing_bytes() {
    run_seeds(
        "multi",
        env_count("PROPERTY_MULTI_SEEDS", MULTI_DEFAULT_SEEDS),
        multi_property,
        "conns, time_wait, last_ack, aborts, peer resets, taken back, migrations, refused refs, refused slots, staging drops, ooo drops, restore requests, stale cid commands, steps",
    );
}

// ----------------------------------------------------------------------
// Regressions found by the properties above
// ----------------------------------------------------------------------

/// The last segments are lost, the tail arrives with the FIN (held out of
/// order), then one retransmission covers everything with the FIN again
/// (Linux collapses retransmits like this). The FIN is one sequence number:
/// taking it both when the hole filled and for the segment's own FIN acked
/// a byte the peer never sent, so the peer's FIN was never acknowledged.
#[test]
fn fin_is_taken_once_when_a_collapsed_retransmit_fills_the_hole_below_it() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PEER_PORT, false));
    e.command(
        T0,
        &enc(Command::Post {
            cid,
            addr: 0x4000,
            len: 4096,
        }),
        &mut h,
    )
    .unwrap();
    let msg = b"0123456789ABCDEFGHIJ";
    e.receive(
        T0,
        &frame_to_nic(
            false,
            5010,
            1000,
            ACK | FIN,
            1000,
            &[],
            &msg[10..],
            PEER_PORT,
        ),
        &mut h,
    );
    e.receive(
        T0,
        &frame_to_nic(false, 5000, 1000, ACK | FIN, 1000, &[], msg, PEER_PORT),
        &mut h,
    );
    e.poll(T0, &mut h);
    let snap = e.peek(cid).unwrap();
    assert_eq!(snap.rcv_nxt, 5000 + 20 + 1, "20 bytes and one FIN");
    assert_eq!(snap.state, TcpState::CloseWait);
    let (_, ack, _, _, _) = parse_out(h.tx.last().unwrap());
    assert_eq!(ack, 5021);
    assert_eq!(&h.mem[0x4000..0x4014], msg);
    let fins = h
        .events
        .iter()
        .filter(|ev| {
            matches!(
                ev,
                OwnedEvent::Ctrl {
                    ev: CtrlEvent::PeerFin,
                    ..
                }
            )
        })
        .count();
    assert_eq!(fins, 1);
}

/// The peer closes its window with data unacknowledged, and the update
/// that reopens it is lost. The retransmission timer fires into the closed
/// window without sending anything, so only window probes can restart the
/// transfer; without them the connection went silent until it timed out.
#[test]
fn window_closed_with_data_in_flight_is_probed_not_timed_out() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PEER_PORT, false));
    for (i, b) in h.mem[..2000].iter_mut().enumerate() {
        *b = i as u8;
    }
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 2000,
            flags: 0,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 2, "two 1000-byte segments from seq 1000");
    h.tx.clear();
    // Half of the second segment acknowledged, window closed.
    e.receive(
        T0 + 1000,
        &frame_to_nic(false, PEER_SEQ, 2500, ACK, 0, &[], b"", PEER_PORT),
        &mut h,
    );
    e.poll(T0 + 1000, &mut h);
    // The reopening update is lost. Within a few seconds a probe must go out.
    let mut t = T0 + 1000;
    while !h
        .tx
        .iter()
        .any(|f| parse_out(f).4 == 0 && parse_out(f).0 == 2499)
    {
        t += 10_000;
        assert!(
            t < T0 + 10_000_000,
            "no window probe; sent {:?}",
            h.tx.iter().map(|f| parse_out(f)).collect::<Vec<_>>()
        );
        e.poll(t, &mut h);
    }
    // The peer answers the probe with its open window: the rest is resent
    // with the right bytes.
    h.tx.clear();
    e.receive(
        t,
        &frame_to_nic(false, PEER_SEQ, 2500, ACK, 65535, &[], b"", PEER_PORT),
        &mut h,
    );
    e.poll(t, &mut h);
    let data: Vec<_> =
        h.tx.iter()
            .map(|f| parse_out(f))
            .filter(|p| p.4 > 0)
            .collect();
    assert_eq!(data.first().map(|p| (p.0, p.4)), Some((2500, 500)));
    let f = h.tx.iter().find(|f| parse_out(f).4 > 0).unwrap();
    assert_eq!(&f[f.len() - 500..], &h.mem[1500..2000]);
    assert!(e.peek(cid).is_some());
}

/// A closed connection (FIN sent, 100 bytes unacknowledged) is handed off;
/// the host re-enqueues the data with `send` after the handoff. Until it
/// has, the FIN sits 100 bytes beyond the data the engine holds. Taking
/// the end of the held data for the FIN's place made a partial ACK look
/// like the ACK of the FIN (FIN_WAIT_2, the re-enqueued data refused, the
/// rest never retransmitted), and made a duplicate ACK or the handoff's own
/// output send the FIN ahead of the data.
#[test]
fn fin_stays_behind_data_the_host_has_not_re_enqueued_yet() {
    let mut closed = test_snapshot(false, PEER_PORT, false);
    closed.state = TcpState::FinWait1;
    closed.snd_nxt = 1101;
    closed.snd_max = 1101;
    closed.snd_queued = 100;
    let no_early_fin = |h: &Host| {
        for f in &h.tx {
            let (s, _, flags, _, n) = parse_out(f);
            assert!(
                flags & FIN == 0 || s + n as u32 == 1100,
                "FIN at {} ahead of the data",
                s + n as u32
            );
        }
    };

    // A partial ACK before the data is back: not the FIN's ACK.
    let (mut e, mut h, cid) = engine_with_conn(closed);
    for (i, b) in h.mem[..100].iter_mut().enumerate() {
        *b = i as u8;
    }
    e.receive(
        T0,
        &frame_to_nic(false, PEER_SEQ, 1050, ACK, 65535, &[], b"", PEER_PORT),
        &mut h,
    );
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 100,
            flags: 0,
        }),
        &mut h,
    )
    .expect("re-enqueue accepted");
    let snap = e.peek(cid).unwrap();
    assert_eq!(
        (snap.state, snap.snd_una, snap.snd_queued),
        (TcpState::FinWait1, 1050, 50)
    );
    // The rest goes out again with the right bytes and the FIN behind it.
    let mut t = T0;
    while h.tx.is_empty() {
        t += 10_000;
        e.poll(t, &mut h);
    }
    let (s, _, flags, _, n) = parse_out(&h.tx[0]);
    assert_eq!((s, n, flags & FIN), (1050, 50, FIN));
    assert_eq!(&h.tx[0][h.tx[0].len() - 50..], &h.mem[50..100]);

    // A duplicate ACK before the data is back: no bare FIN at snd_una.
    let (mut e, mut h, _) = engine_with_conn(closed);
    e.receive(
        T0,
        &frame_to_nic(false, PEER_SEQ, 1000, ACK, 65535, &[], b"", PEER_PORT),
        &mut h,
    );
    no_early_fin(&h);

    // FIN queued but not sent yet: the handoff's output must not send it.
    let mut queued = test_snapshot(false, PEER_PORT, false);
    queued.flags.0 |= SnapFlags::FIN_QUEUED;
    queued.snd_queued = 100;
    let mut e = leak_engine(small_layout(), 1, T0);
    let mut h = Host::new(4096);
    let cid = handoff(&mut e, &mut h, T0, queued);
    e.poll(T0 + 1000, &mut h);
    no_early_fin(&h);
    assert_eq!(
        e.peek(cid).unwrap().snd_max,
        1000,
        "nothing sent before the data is back"
    );

    // The peer acknowledged everything, FIN included, before the data came
    // back: the re-enqueued data is still taken (and skipped), not refused.
    let (mut e, mut h, cid) = engine_with_conn(closed);
    e.receive(
        T0,
        &frame_to_nic(false, PEER_SEQ, 1101, ACK, 65535, &[], b"", PEER_PORT),
        &mut h,
    );
    assert_eq!(e.peek(cid).unwrap().state, TcpState::FinWait2);
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 100,
            flags: 0,
        }),
        &mut h,
    )
    .expect("re-enqueue accepted");
    e.poll(T0, &mut h);
    let acked: u64 = h
        .events
        .iter()
        .map(|ev| {
            if let OwnedEvent::Ack { len, .. } = ev {
                *len
            } else {
                0
            }
        })
        .sum();
    assert_eq!(acked, 100);
    e.audit().unwrap();
}

/// The peer's last data and FIN arrive while the host has no buffer
/// posted, so they wait in staging (the FIN is reported after the data).
/// The host closes too and the peer acknowledges our FIN: the connection is
/// over (LAST_ACK to CLOSED), but the host has not been handed the data nor
/// the FIN yet. Freeing the slot dropped both with the staging chunks.
#[test]
fn data_staged_when_last_ack_completes_still_reaches_the_host() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PEER_PORT, false));
    let msg: Vec<u8> = (0..100u8).collect();
    e.receive(
        T0,
        &frame_to_nic(false, 5000, 1000, ACK | FIN, 1000, &[], &msg, PEER_PORT),
        &mut h,
    );
    e.command(
        T0,
        &enc(Command::Ctrl {
            cid,
            cmd: CtrlCmd::Close,
            arg: 0,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    assert_eq!(e.peek(cid).unwrap().state, TcpState::LastAck);
    e.receive(
        T0 + 1000,
        &frame_to_nic(false, 5101, 1001, ACK, 1000, &[], &[], PEER_PORT),
        &mut h,
    );
    e.poll(T0 + 1000, &mut h);
    assert!(e.peek(cid).is_none(), "freed once our FIN is acknowledged");
    let mut got = Vec::new();
    let mut order = Vec::new();
    for ev in &h.events {
        match ev {
            OwnedEvent::RecvData { data, .. } => {
                got.extend_from_slice(data);
                order.push("data");
            }
            OwnedEvent::Ctrl {
                ev: CtrlEvent::PeerFin,
                ..
            } => order.push("fin"),
            OwnedEvent::Ctrl {
                ev: CtrlEvent::Freed,
                arg: 0,
                ..
            } => order.push("freed"),
            _ => {}
        }
    }
    assert_eq!(got, msg);
    assert_eq!(order, ["data", "fin", "freed"]);
    e.audit().unwrap();
}

/// A closed connection (FIN sent, 100 bytes unacknowledged) is handed off
/// while another connection holds the only reference, so the host's `send`
/// re-enqueueing the data is refused for want of one. Once a reference is
/// free again the same `send` must be taken. The refused attempt had
/// already counted the bytes as re-enqueued, so the retry was refused as a
/// send after close and the data before the FIN could never come back.
#[test]
fn re_enqueue_refused_for_want_of_a_reference_can_be_retried() {
    let mut e = leak_engine(NicMemoryLayout::with_counts(2, 1, 4).unwrap(), 1, T0);
    let mut h = Host::new(1 << 16);
    for (i, b) in h.mem[..100].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut closed = test_snapshot(false, PEER_PORT, false);
    closed.state = TcpState::FinWait1;
    closed.snd_nxt = 1101;
    closed.snd_max = 1101;
    closed.snd_queued = 100;
    let a = handoff_with_cookie(&mut e, &mut h, T0, closed, 1);
    let b = handoff_with_cookie(
        &mut e,
        &mut h,
        T0,
        test_snapshot(false, PEER_PORT + 1, false),
        2,
    );
    e.command(
        T0,
        &enc(Command::Post {
            cid: b,
            addr: 0x8000,
            len: 1000,
        }),
        &mut h,
    )
    .unwrap();
    let requeue = enc(Command::Send {
        cid: a,
        addr: 0,
        len: 100,
        flags: 0,
    });
    assert_eq!(
        e.command(T0, &requeue, &mut h),
        Err(CmdError::Refused(Refusal::NoRefs))
    );
    e.command(T0, &enc(Command::Restore { cid: b, cookie: 3 }), &mut h)
        .unwrap();
    e.command(T0, &requeue, &mut h)
        .expect("re-enqueue taken once a reference is free");
    assert_eq!(e.peek(a).unwrap().snd_queued, 100);
    // The data goes out again with the right bytes and the FIN behind it.
    h.tx.clear();
    let mut t = T0;
    while !h.tx.iter().any(|f| parse_out(f).4 > 0) {
        t += 10_000;
        assert!(t < T0 + 10_000_000, "nothing retransmitted");
        e.poll(t, &mut h);
    }
    let f = h.tx.iter().find(|f| parse_out(f).4 > 0).unwrap();
    let (s, _, flags, _, n) = parse_out(f);
    assert_eq!((s, n, flags & FIN), (1000, 100, FIN));
    assert_eq!(&f[f.len() - 100..], &h.mem[..100]);
    e.audit().unwrap();
}

/// The send window is counted from SND.UNA, so the right edge it implies
/// must be one the peer offered. It was not in two cases, and the engine
/// sent beyond anything the peer offered:
/// (a) the peer retransmits old data (sequence number below SND.WL1) with
///     its current ACK: SND.UNA moved on, the window stayed, and the edge
///     moved right by the bytes acked;
/// (b) a segment with new data but an ACK older than SND.UNA (sent before
///     a retransmission that arrived first) set the window, which then
///     counted from the newer SND.UNA.
#[test]
fn send_window_edge_never_passes_what_the_peer_offered() {
    let sent_beyond = |h: &Host, edge: u32| {
        h.tx.iter()
            .map(|f| parse_out(f))
            .filter(|p| p.4 > 0 && seq::gt(p.0 + p.4 as u32, edge))
            .count()
    };
    let with_window = |wnd: u32| {
        let mut snap = test_snapshot(false, PEER_PORT, false);
        snap.snd_wnd = wnd;
        snap.max_snd_wnd = wnd;
        let (mut e, mut h, cid) = engine_with_conn(snap);
        e.command(
            T0,
            &enc(Command::Send {
                cid,
                addr: 0,
                len: 8000,
                flags: 0,
            }),
            &mut h,
        )
        .unwrap();
        e.poll(T0, &mut h);
        (e, h)
    };
    let data = [7u8; 300];

    // (a) Edge 3000 offered; 1000..3000 in flight. The peer's data moves
    // SND.WL1 to 5200, then its retransmission from 5100 acks 2000 and
    // keeps the edge at 3000 (window 1000).
    let (mut e, mut h) = with_window(2000);
    assert_eq!(sent_beyond(&h, 3000), 0);
    e.receive(
        T0,
        &frame_to_nic(false, 5000, 1000, ACK, 2000, &[], &data[..200], PEER_PORT),
        &mut h,
    );
    e.receive(
        T0,
        &frame_to_nic(false, 5200, 1000, ACK, 2000, &[], &data[..100], PEER_PORT),
        &mut h,
    );
    e.receive(
        T0 + 1000,
        &frame_to_nic(false, 5100, 2000, ACK, 1000, &[], &data, PEER_PORT),
        &mut h,
    );
    e.poll(T0 + 1000, &mut h);
    assert_eq!(
        sent_beyond(&h, 3000),
        0,
        "sent past the edge 3000: {:?}",
        h.tx.iter().map(|f| parse_out(f)).collect::<Vec<_>>()
    );

    // (b) Edge 4000 offered; 1000..4000 in flight. The peer sent data at
    // 5100 acking 2000 (window 2000), then retransmitted 5000 acking 3000
    // (window 1000): both say edge 4000. The retransmission arrives first.
    let (mut e, mut h) = with_window(3000);
    assert_eq!(sent_beyond(&h, 4000), 0);
    e.receive(
        T0,
        &frame_to_nic(false, 5000, 3000, ACK, 1000, &[], &data[..100], PEER_PORT),
        &mut h,
    );
    e.receive(
        T0,
        &frame_to_nic(false, 5100, 2000, ACK, 2000, &[], &data[..100], PEER_PORT),
        &mut h,
    );
    e.poll(T0 + 1000, &mut h);
    assert_eq!(
        sent_beyond(&h, 4000),
        0,
        "sent past the edge 4000: {:?}",
        h.tx.iter().map(|f| parse_out(f)).collect::<Vec<_>>()
    );
    e.audit().unwrap();
}
