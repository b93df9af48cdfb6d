//! Randomized end-to-end properties of one offloaded connection, driven
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
//!
//! Everything is deterministic (seeded xorshift, simulated time). Set
//! `PROPERTY_SEEDS=n` to run `n` seeds per property instead of the default
//! (and `PROPERTY_FIRST=s` to start at seed `s`); `PROPERTY_TRACE=1` prints
//! every segment and host action, for minimising a failing seed.

mod common;

use std::collections::VecDeque;

use common::*;
use firmware_sim::memory::NicMemoryLayout;
use firmware_sim::msg::{Command, CtrlCmd, MSG_PSH};
use firmware_sim::snapshot::{SnapFlags, Snapshot, TcpState};
use firmware_sim::wire::tcp::{self, ACK, FIN, PSH};
use firmware_sim::wire::checksum;
use firmware_sim::{Arena, BufRef, ChunkMeta, ConnSlot, Engine, LookupEntry};

const PEER_PORT: u16 = 40000;
const T0: u64 = 1_000_000;
/// Seeds per property (each seed picks IPv4/IPv6 and timestamps on/off).
const DEFAULT_SEEDS: u64 = 500;

fn trace() -> bool {
    std::env::var_os("PROPERTY_TRACE").is_some()
}

fn seeds() -> u64 {
    std::env::var("PROPERTY_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEEDS)
}

fn first_seed() -> u64 {
    std::env::var("PROPERTY_FIRST").ok().and_then(|s| s.parse().ok()).unwrap_or(0)
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

fn handoff_with_cookie(e: &mut Engine<'_>, h: &mut Host, now: u64, snap: Snapshot, cookie: u64) -> u32 {
    e.command(now, &enc(Command::Handoff { cookie, snap }), h).expect("handoff accepted");
    let cid = h
        .events
        .iter()
        .find_map(|ev| match ev {
            OwnedEvent::HandoffDone { cookie: c, result: Ok(cid) } if *c == cookie => Some(*cid),
            _ => None,
        })
        .expect("handoff_done");
    h.events.retain(|ev| !matches!(ev, OwnedEvent::HandoffDone { .. }));
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
        (seg, checksum::pseudo_v4(&ENGINE_V4, &PEER_V4, 6, seg.len() as u16))
    };
    let t = tcp::Packet::new_checked(seg).expect("engine frame parses");
    assert!(t.verify_checksum(pseudo), "engine frame with a bad TCP checksum");
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

// ----------------------------------------------------------------------
// Property 1: receive
// ----------------------------------------------------------------------

/// Host memory for posted receive buffers: a ring big enough that a buffer
/// is never handed out again while still posted.
const RX_RING_BASE: u64 = 0x1000;
const RX_RING_BYTES: u64 = 2 << 20;
const MAX_POSTED: usize = 16;

struct ReceiveRun {
    seed: u64,
    rng: Rng,
    v6: bool,
    ts: bool,
    now: u64,
    stream: Vec<u8>,
    /// Sequence number of stream[0].
    irs: u32,
    rcv_wscale: u8,
    peer_mss: usize,
    /// The peer's view: highest ack and the window's right edge (offsets).
    peer_acked: u64,
    peer_right: u64,
    peer_tsval: u32,
    engine_tsval: u32,
    /// Recently sent segments (offset, len, fin) for duplicates/reordering.
    history: Vec<(u64, u64, bool)>,
    host: Host,
    cid: u32,
    /// Posted buffers in order: (addr, len, bytes reported filled).
    posted: VecDeque<(u64, u32, u32)>,
    next_buf: u64,
    /// Bytes handed to the host so far (always a prefix of `stream`).
    delivered: usize,
    /// Delivered but not yet consumed by the application.
    unread: u32,
    /// The engine's idea of `unread`: the same, except that a handoff caps
    /// it at `rcv_buf`. (More than `rcv_buf` can arrive: `window_field`
    /// rounds the right edge up to the window scale unit again on every
    /// ACK, so with a stalled reader the edge creeps past `rcv_buf` by up to
    /// 2^wscale - 1 bytes per ACK. Accounting only; no byte is wrong.)
    engine_unread: u32,
    peer_fin: bool,
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
        panic!("receive property, seed {} (v6={}, ts={}), step {step}: {msg}", self.seed, self.v6, self.ts)
    }

    /// Applies the engine's events; checks every delivered byte.
    fn on_events(&mut self, step: u64) {
        for ev in std::mem::take(&mut self.host.events) {
            if self.neighbour.as_ref().is_some_and(|n| n.owns(&ev)) {
                continue;
            }
            match ev {
                OwnedEvent::Recv { cid, addr, len, .. } => {
                    if cid != self.cid {
                        self.fail(step, format!("recv for cid {cid:#x}, want {:#x}", self.cid));
                    }
                    let Some(&(baddr, blen, filled)) = self.posted.front() else { self.fail(step, "recv without a posted buffer") };
                    if addr != baddr + u64::from(filled) || filled + u32::from(len) > blen {
                        self.fail(step, format!("recv {addr:#x}+{len} does not continue buffer {baddr:#x}+{filled}/{blen}"));
                    }
                    let a = addr as usize;
                    let data = self.host.mem[a..a + usize::from(len)].to_vec();
                    self.deliver(step, &data);
                    let front = self.posted.front_mut().unwrap();
                    front.2 += u32::from(len);
                    if front.2 == front.1 {
                        self.posted.pop_front();
                    }
                }
                OwnedEvent::RecvData { cid, data } => {
                    if cid != self.cid {
                        self.fail(step, "recv_data for another cid");
                    }
                    self.deliver(step, &data);
                }
                OwnedEvent::Ctrl { ev: 1, .. } => {
                    if self.delivered != self.stream.len() {
                        self.fail(step, format!("peer FIN reported with only {} of {} bytes delivered", self.delivered, self.stream.len()));
                    }
                    self.peer_fin = true;
                }
                OwnedEvent::Ctrl { ev, arg, .. } => self.fail(step, format!("unexpected ctrl event {ev} ({arg})")),
                OwnedEvent::Restore { snap, .. } => self.after_restore(step, snap),
                OwnedEvent::Resource { .. } | OwnedEvent::Ack { .. } => {}
                other => self.fail(step, format!("unexpected event {other:?}")),
            }
        }
    }

    fn deliver(&mut self, step: u64, data: &[u8]) {
        let end = self.delivered + data.len();
        if end > self.stream.len() {
            self.fail(step, format!("{end} bytes delivered, the stream has {}", self.stream.len()));
        }
        if data != &self.stream[self.delivered..end] {
            let i = data.iter().zip(&self.stream[self.delivered..end]).position(|(a, b)| a != b).unwrap();
            self.fail(step, format!("delivered byte {} is wrong (event of {} bytes at stream offset {})", self.delivered + i, data.len(), self.delivered));
        }
        self.delivered = end;
        self.unread += data.len() as u32;
        self.engine_unread += data.len() as u32;
        if trace() {
            eprintln!("host got {} bytes, delivered {end}, unread {}", data.len(), self.unread);
        }
    }

    /// The restored snapshot must describe exactly what the host holds;
    /// then the connection is handed off again, as after a migration.
    fn after_restore(&mut self, step: u64, snap: Snapshot) {
        if trace() {
            eprintln!("restore: {snap:?} host unread {}", self.unread);
        }
        let want = self.irs.wrapping_add(self.delivered as u32).wrapping_add(u32::from(self.peer_fin));
        if snap.rcv_nxt != want {
            self.fail(step, format!("restored rcv_nxt {:#x}, host has up to {want:#x}", snap.rcv_nxt));
        }
        if snap.rcv_unread != self.engine_unread {
            self.fail(step, format!("restored rcv_unread {}, the engine was told of {} (host holds {})", snap.rcv_unread, self.engine_unread, self.unread));
        }
        // A handoff takes at most rcv_buf unread bytes (ConnSlot::install).
        self.engine_unread = snap.rcv_unread.min(snap.rcv_buf);
        self.restores += 1;
        // The engine forgot every posted buffer; the host takes them back.
        self.posted.clear();
        let want_state = if self.peer_fin { TcpState::CloseWait } else { TcpState::Established };
        if snap.state != want_state {
            self.fail(step, format!("restored state {:?}, want {want_state:?}", snap.state));
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
        Neighbour { v6, cid, cids: vec![cid], in_order: 0, restore_asked: false }
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
            frames.push(frame_to_nic(self.v6, seq, 1000, ACK, 65535, &[], &junk, NEIGHBOUR_PORT));
        }
        if rng.chance(3000) {
            cmds.extend(enc(Command::Restore { cid: self.cid, cookie: 11 }));
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
    let layout = if tiny_pool { NicMemoryLayout::with_counts(4, 1024, [8usize, 16, 32][rng.below(3) as usize]).unwrap() } else { small_layout() };
    let mut nic = NicMemory::new(layout);
    let mut e = nic.engine(seed as u32, T0);
    e.set_stage_cap(if tiny_pool { 64 } else { [1u16, 2, 4, 8, 64][rng.below(5) as usize] });
    let mut host = Host::new((RX_RING_BASE + RX_RING_BYTES + 0x1_0000) as usize);
    let cid = handoff(&mut e, &mut host, T0, snap);
    let neighbour = if rng.chance(400_000) { Some(Neighbour::new(&mut e, &mut host, v6)) } else { None };
    let mut run = ReceiveRun {
        seed,
        v6,
        ts,
        now: T0,
        irs,
        rcv_wscale,
        peer_mss: [536usize, 1000, 1448, 1460][rng.below(4) as usize],
        peer_acked: 0,
        peer_right: offset(snap.rcv_adv, irs),
        peer_tsval: 100,
        engine_tsval: 0,
        history: Vec::new(),
        host,
        cid,
        posted: VecDeque::new(),
        next_buf: RX_RING_BASE,
        delivered: 0,
        unread: 0,
        engine_unread: 0,
        peer_fin: false,
        restores: 0,
        restores_left: if rng.chance(250_000) { 1 + rng.below(3) as u32 } else { 0 },
        paused_until: 0,
        pending_handoff: None,
        neighbour,
        stream,
        rng,
    };
    let max_steps = 400_000u64;
    let mut step = 0u64;
    while !(run.peer_fin && run.delivered == run.stream.len()) {
        step += 1;
        if step > max_steps {
            let snap = e.peek(run.cid);
            run.fail(step, format!("no progress: {} of {} bytes delivered, fin {}, engine {snap:?}", run.delivered, run.stream.len(), run.peer_fin));
        }
        run.now += run.rng.below(3000);
        let now = run.now;
        let mut cmds = Vec::new();

        // Host side.
        if run.paused_until <= step && run.rng.chance(3000) {
            run.paused_until = step + 20 + run.rng.below(600);
        }
        let host_active = run.paused_until <= step;
        if host_active && run.posted.len() < MAX_POSTED && run.rng.chance(300_000) {
            let len = match run.rng.below(10) {
                0 => 1 + run.rng.below(16),
                1..=4 => 1 + run.rng.below(2048),
                5..=8 => 2048 + run.rng.below(14 * 1024),
                _ => 1 + run.rng.below(65535),
            } as u32;
            if run.next_buf + u64::from(len) > RX_RING_BASE + RX_RING_BYTES {
                run.next_buf = RX_RING_BASE;
            }
            let addr = run.next_buf;
            run.next_buf += u64::from(len) + run.rng.below(64);
            // Poison the buffer so stale memory can never pass for data.
            let poison = run.rng.bytes(len as usize);
            run.host.mem[addr as usize..addr as usize + len as usize].copy_from_slice(&poison);
            cmds.extend(enc(Command::Post { cid: run.cid, addr, len: len as u16 }));
            run.posted.push_back((addr, len, 0));
            if trace() {
                eprintln!("host posts {len}");
            }
        }
        if host_active && run.unread > 0 && run.rng.chance(200_000) {
            let len = if run.rng.chance(500_000) { run.unread } else { 1 + run.rng.below(u64::from(run.unread)) as u32 };
            run.unread -= len;
            run.engine_unread = run.engine_unread.saturating_sub(len);
            if trace() {
                eprintln!("host recvd {len}, unread {}", run.unread);
            }
            cmds.extend(enc(Command::Recvd { cid: run.cid, len }));
        }
        let restore_now = run.restores_left > 0 && run.rng.chance(1500);
        if restore_now {
            run.restores_left -= 1;
            cmds.extend(enc(Command::Restore { cid: run.cid, cookie: 77 }));
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
        e.step(now, frames.iter().map(|f| f.as_slice()), &cmds, &mut run.host);
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
                eprintln!("step {step}: engine rcv_nxt off {} unread {} adv off {} | host unread {} delivered {}", offset(p.rcv_nxt, run.irs), p.rcv_unread, offset(p.rcv_adv, run.irs), run.unread, run.delivered);
            }
        }
    }
    assert_eq!(run.delivered, run.stream.len());
    let c = e.counters();
    [u64::from(run.restores), c.drop_no_staging, c.drop_ooo_no_staging, c.rx_ooo_segs, c.drop_out_of_window, c.drop_paws, c.rx_dup_segs, step]
}


impl ReceiveRun {
    /// The next segment of the peer, or `None` if it has nothing to send.
    /// Starts and lengths are arbitrary: mostly at the peer's idea of the
    /// ack point, often anywhere in the advertised window, sometimes old
    /// data, sometimes beyond the window; duplicates and late copies of
    /// earlier segments; FIN on the last byte.
    fn peer_segment(&mut self) -> Option<Vec<u8>> {
        let total = self.stream.len() as u64;
        if self.peer_acked > total {
            return None; // Our FIN is acknowledged: the peer is done.
        }
        let acked = self.peer_acked;
        let mss = self.peer_mss as u64;
        let replay = !self.history.is_empty() && self.rng.chance(150_000);
        let (start, len, fin) = if replay {
            let back = self.rng.below(self.history.len().min(64) as u64) as usize;
            self.history[self.history.len() - 1 - back]
        } else {
            let right = self.peer_right.max(acked);
            let start = match self.rng.below(100) {
                0..=49 => acked.saturating_sub(if self.rng.chance(300_000) { self.rng.below(mss) } else { 0 }),
                50..=84 => acked + self.rng.below(right - acked + 1),
                85..=92 => acked.saturating_sub(self.rng.below(8000)),
                _ => right + self.rng.below(20_000),
            }
            .min(total);
            let len = (1 + self.rng.below(mss)).min(total - start);
            let fin = start + len == total && (len == 0 || self.rng.chance(800_000));
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
        // Timestamps never go backwards except for a late (reordered) copy.
        let tsval = if replay && self.rng.chance(300_000) {
            self.peer_tsval.wrapping_sub(self.rng.below(3) as u32)
        } else {
            self.peer_tsval = self.peer_tsval.wrapping_add(self.rng.below(2) as u32);
            self.peer_tsval
        };
        let opts = peer_options(self.ts.then_some((tsval, self.engine_tsval)), &[]);
        let mut flags = ACK;
        if fin {
            flags |= FIN;
        }
        if self.rng.chance(300_000) {
            flags |= PSH;
        }
        let payload = &self.stream[start as usize..(start + len) as usize];
        let seq = self.irs.wrapping_add(start as u32);
        if trace() {
            eprintln!("peer seg off {start} len {len} fin {fin} replay {replay} tsval {tsval}");
        }
        Some(frame_to_nic(self.v6, seq, 1000, flags, 65535, &opts, payload, PEER_PORT))
    }

    /// The peer reads the engine's ACKs: they set its ack point and window.
    fn on_engine_frames(&mut self, step: u64) {
        for f in std::mem::take(&mut self.host.tx) {
            let s = decode_engine_frame(self.v6, &f);
            if s.dst_port == NEIGHBOUR_PORT {
                continue;
            }
            if !s.payload.is_empty() || s.flags & (FIN | tcp::RST | tcp::SYN) != 0 || s.flags & ACK == 0 {
                self.fail(step, format!("unexpected segment from a connection with nothing to send: {s:?}"));
            }
            let ack = offset(s.ack, self.irs);
            if trace() {
                eprintln!("engine ack off {ack} wnd {} ", u64::from(s.window) << self.rcv_wscale);
            }
            if ack > self.stream.len() as u64 + 1 {
                self.fail(step, format!("engine acks offset {ack}, beyond the stream and FIN"));
            }
            if ack < self.peer_acked {
                self.fail(step, format!("engine ack went back from {} to {ack}", self.peer_acked));
            }
            self.peer_acked = ack;
            self.peer_right = ack + (u64::from(s.window) << self.rcv_wscale);
            if let Some(t) = s.tsval {
                self.engine_tsval = t;
            }
        }
        // Frames that arrived while the connection was being restored.
        self.host.passed.clear();
    }
}

#[test]
fn receive_delivers_exactly_the_stream() {
    let mut coverage = [0u64; 8];
    for seed in first_seed()..first_seed() + seeds() {
        let c = receive_property(seed);
        for (sum, x) in coverage.iter_mut().zip(c) {
            *sum += x;
        }
    }
    eprintln!("receive coverage [restores, staging drops, ooo drops, ooo segs, out of window, paws, dups, steps]: {coverage:?}");
}


// ----------------------------------------------------------------------
// Property 2: transmit
// ----------------------------------------------------------------------

/// The peer's (constant) sequence number: it sends no data.
const PEER_SEQ: u32 = 5000;

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

struct TransmitRun {
    seed: u64,
    rng: Rng,
    v6: bool,
    ts: bool,
    sack: bool,
    now: u64,
    stream: Vec<u8>,
    /// Sequence number of stream[0].
    iss: u32,
    snd_wscale: u8,
    host: Host,
    cid: u32,
    // Host side.
    /// Send commands issued: (stream offset, length, host address).
    sends: Vec<(u64, u64, u64)>,
    issued: u64,
    next_addr: u64,
    max_outstanding: u64,
    close: bool,
    close_issued: bool,
    /// Sum of `ack` events.
    host_acked: u64,
    /// Index of the first send not yet wholly poisoned.
    poison_idx: usize,
    /// Stream offset up to which host memory was overwritten with junk
    /// (acked bytes are the host's to reuse; the engine must not read them).
    poisoned: u64,
    restores_left: u32,
    // Peer side.
    got: RangeSet,
    fin_got: bool,
    /// Last ack the peer sent (offset; stream length + 1 once FIN is acked).
    peer_ack: u64,
    /// Highest ack the engine has been given.
    peer_ack_delivered: u64,
    /// Right edge of the highest window the engine has been given.
    max_right_delivered: u64,
    peer_wnd: u32,
    zero_window_until: u64,
    /// The peer advertised a zero window and owes an update when it opens.
    window_update_owed: bool,
    peer_tsval: u32,
    engine_tsval: u32,
    loss_ppm: u32,
    reorder_ppm: u32,
    ack_loss_ppm: u32,
    /// Frames on the wire: (due time, order, payload).
    to_peer: Vec<(u64, u64, OutSeg)>,
    /// (due time, order, frame, ack offset, right edge offset).
    to_engine: Vec<(u64, u64, Vec<u8>, u64, u64)>,
    wire_order: u64,
    segments_checked: u64,
    retransmitted_bytes: u64,
}

impl TransmitRun {
    fn fail(&self, step: u64, msg: impl std::fmt::Display) -> ! {
        panic!("transmit property, seed {} (v6={}, ts={}, sack={}), step {step}: {msg}", self.seed, self.v6, self.ts, self.sack)
    }

    fn total(&self) -> u64 {
        self.stream.len() as u64
    }

    /// The host hands the engine more of the stream, in random pieces at
    /// scattered host addresses (junk between them), as `send` commands.
    fn pump(&mut self, cmds: &mut Vec<u8>) {
        while self.issued < self.total()
            && self.issued - self.host_acked < self.max_outstanding
            && self.sends.len() - self.poison_idx < 400
            && self.rng.chance(600_000)
        {
            let n = match self.rng.below(20) {
                0 => 1 + self.rng.below(16),
                1..=8 => 1 + self.rng.below(1500),
                9..=17 => 1500 + self.rng.below(7500),
                _ => 9000 + self.rng.below(56_535),
            }
            .min(self.total() - self.issued);
            let gap = self.rng.below(64);
            let junk = self.rng.bytes(gap as usize);
            let g = self.next_addr as usize;
            self.host.mem[g..g + junk.len()].copy_from_slice(&junk);
            let addr = self.next_addr + gap;
            let (a, o) = (addr as usize, self.issued as usize);
            self.host.mem[a..a + n as usize].copy_from_slice(&self.stream[o..o + n as usize]);
            self.next_addr = addr + n;
            let last = self.issued + n == self.total();
            let flags = if last || self.rng.chance(100_000) { MSG_PSH } else { 0 };
            cmds.extend(enc(Command::Send { cid: self.cid, addr, len: n as u16, flags }));
            self.sends.push((self.issued, n, addr));
            self.issued += n;
        }
        if self.close && self.issued == self.total() && !self.close_issued {
            self.close_issued = true;
            cmds.extend(enc(Command::Ctrl { cid: self.cid, cmd: CtrlCmd::Close, arg: 0 }));
        }
    }

    /// Overwrites the host memory of acknowledged bytes with junk.
    fn poison_acked(&mut self) {
        while self.poisoned < self.host_acked {
            let (off, len, addr) = self.sends[self.poison_idx];
            let from = self.poisoned - off;
            let to = (self.host_acked - off).min(len);
            let junk = self.rng.bytes((to - from) as usize);
            let a = (addr + from) as usize;
            self.host.mem[a..a + junk.len()].copy_from_slice(&junk);
            self.poisoned = off + to;
            if to == len {
                self.poison_idx += 1;
            }
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
                    self.host_acked += len;
                    let peer_acked_data = self.peer_ack_delivered.min(self.total());
                    if self.host_acked > peer_acked_data {
                        self.fail(step, format!("ack events total {}, the peer acknowledged only {peer_acked_data}", self.host_acked));
                    }
                    self.poison_acked();
                }
                OwnedEvent::Restore { snap, .. } => restored = Some(snap),
                OwnedEvent::Resource { .. } => {}
                OwnedEvent::Ctrl { ev, arg, .. } => self.fail(step, format!("unexpected ctrl event {ev} ({arg})")),
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
                self.fail(step, format!("engine acks {} of a peer that sent nothing", s.ack));
            }
            if let Some(t) = s.tsval {
                self.engine_tsval = t;
            }
            let off = offset(s.seq, self.iss);
            let len = s.payload.len() as u64;
            if trace() {
                eprintln!("t={} engine seg off {} len {len} flags {:#x}", self.now / 1000, off as i64, s.flags);
            }
            if len > 0 {
                if off + len > self.issued {
                    self.fail(step, format!("segment [{off}, {}) beyond the {} bytes the host gave", off + len, self.issued));
                }
                let want = &self.stream[off as usize..(off + len) as usize];
                if s.payload != want {
                    let i = s.payload.iter().zip(want).position(|(a, b)| a != b).unwrap() as u64;
                    self.fail(
                        step,
                        format!("segment [{off}, {}) carries a wrong byte at stream offset {} (host acked {}, peer acked {})", off + len, off + i, self.host_acked, self.peer_ack_delivered),
                    );
                }
                if off + len > self.max_right_delivered {
                    self.fail(step, format!("segment [{off}, {}) beyond the right edge {} the peer ever offered", off + len, self.max_right_delivered));
                }
                self.segments_checked += 1;
                if off < self.got.contiguous() {
                    self.retransmitted_bytes += len;
                }
            }
            if s.flags & FIN != 0 && !(self.close_issued && off + len == self.total()) {
                self.fail(step, format!("FIN at offset {} (closed: {})", off + len, self.close_issued));
            }
            if self.rng.chance(self.loss_ppm) {
                continue;
            }
            let mut at = self.now + 1000 + self.rng.below(2000);
            if self.rng.chance(self.reorder_ppm) {
                at += self.rng.below(30_000);
            }
            self.wire_order += 1;
            self.to_peer.push((at, self.wire_order, s));
        }
    }

    /// Frames due at the peer: take the in-window bytes, answer with ACKs.
    fn peer_receive(&mut self) {
        let mut due: Vec<(u64, u64, OutSeg)> = Vec::new();
        let mut i = 0;
        while i < self.to_peer.len() {
            if self.to_peer[i].0 <= self.now {
                due.push(self.to_peer.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|d| (d.0, d.1));
        for (_, _, s) in due {
            let off = offset(s.seq, self.iss);
            let len = s.payload.len() as u64;
            if len > 0 {
                // A real receiver takes only what fits its buffer; ours
                // takes anything up to the largest edge it offered.
                let end = (off + len).min(self.max_right_delivered);
                self.got.insert(off, end);
                if s.flags & FIN != 0 && end == off + len {
                    self.fin_got = true;
                }
            } else if s.flags & FIN != 0 {
                self.fin_got = true;
            }
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

    /// One ACK from the peer: a cumulative ack anywhere between its last
    /// one and what it holds, SACK blocks for what it holds above, and a
    /// window that wanders (zero and shrinking included).
    fn peer_send_ack(&mut self) {
        let total = self.total();
        let cum = self.got.contiguous();
        let full = cum + u64::from(self.fin_got && cum == total);
        let ack = if self.rng.chance(700_000) { full } else { self.peer_ack + self.rng.below(full - self.peer_ack + 1) };
        self.peer_ack = ack;
        if self.rng.chance(30_000) {
            self.peer_wnd = match self.rng.below(4) {
                0 => self.rng.below(4000) as u32,
                1 => self.rng.below(32_000) as u32,
                _ => self.rng.below(300_000) as u32,
            }
            // Zero windows come from the timed closures below, which end.
            .max(1 << self.snd_wscale);
        }
        if self.rng.chance(3_000) {
            self.zero_window_until = self.now + self.rng.below(1_500_000);
        }
        let wnd = if self.now < self.zero_window_until { 0 } else { self.peer_wnd };
        let field = (wnd >> self.snd_wscale).min(65535) as u16;
        self.window_update_owed = field == 0;
        let right = ack + (u64::from(field) << self.snd_wscale);
        let sack = self.sack_blocks(ack);
        self.peer_tsval = self.peer_tsval.wrapping_add(self.rng.below(2) as u32);
        let opts = peer_options(self.ts.then_some((self.peer_tsval, self.engine_tsval)), &sack);
        let frame = frame_to_nic(self.v6, PEER_SEQ, self.iss.wrapping_add(ack as u32), ACK, field, &opts, &[], PEER_PORT);
        if trace() {
            eprintln!("t={} peer ack {ack} wnd {} sack {sack:?} (holds {:?})", self.now / 1000, u64::from(field) << self.snd_wscale, &self.got.0[..self.got.0.len().min(4)]);
        }
        if self.rng.chance(self.ack_loss_ppm) {
            return;
        }
        let mut at = self.now + 1000 + self.rng.below(2000);
        if self.rng.chance(self.reorder_ppm / 4) {
            at += self.rng.below(10_000);
        }
        self.wire_order += 1;
        self.to_engine.push((at, self.wire_order, frame, ack, right));
    }

    /// SACK blocks for received ranges above `ack` at arbitrary boundaries
    /// (whole ranges or parts of them), sometimes led by a D-SACK below it.
    fn sack_blocks(&mut self, ack: u64) -> Vec<(u32, u32)> {
        if !self.sack {
            return Vec::new();
        }
        let max = if self.ts { 3 } else { 4 };
        let above: Vec<(u64, u64)> = self.got.0.iter().filter(|r| r.0 > ack).copied().collect();
        let mut blocks = Vec::new();
        if ack > 0 && self.rng.chance(30_000) {
            let r = ack - self.rng.below(ack.min(2000));
            let l = r.saturating_sub(1 + self.rng.below(1500));
            blocks.push((l, r.max(l + 1)));
        }
        let mut pool = above;
        while blocks.len() < max && !pool.is_empty() {
            let (l, r) = pool.swap_remove(self.rng.below(pool.len() as u64) as usize);
            if self.rng.chance(250_000) && r - l > 1 {
                let a = l + self.rng.below(r - l - 1);
                let b = a + 1 + self.rng.below(r - a - 1);
                blocks.push((a, b.max(a + 1)));
            } else {
                blocks.push((l, r));
            }
        }
        blocks.iter().map(|&(l, r)| (self.iss.wrapping_add(l as u32), self.iss.wrapping_add(r as u32))).collect()
    }

    /// ACKs due at the engine.
    fn due_acks(&mut self) -> Vec<(Vec<u8>, u64, u64)> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.to_engine.len() {
            if self.to_engine[i].0 <= self.now {
                due.push(self.to_engine.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|d| (d.0, d.1));
        due.into_iter().map(|d| (d.2, d.3, d.4)).collect()
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
        setup.extend(enc(Command::Ctrl { cid, cmd: CtrlCmd::NoDelay, arg: 1 }));
    }
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
        sends: Vec::new(),
        issued: 0,
        next_addr: 0x1000,
        max_outstanding: [4096u64, 32 * 1024, 256 * 1024, 1 << 20][rng.below(4) as usize],
        close: rng.chance(500_000),
        close_issued: false,
        host_acked: 0,
        poison_idx: 0,
        poisoned: 0,
        restores_left: if rng.chance(200_000) { 1 + rng.below(2) as u32 } else { 0 },
        got: RangeSet::default(),
        fin_got: false,
        peer_ack: 0,
        peer_ack_delivered: 0,
        max_right_delivered: u64::from(snap.snd_wnd),
        peer_wnd: initial_wnd,
        zero_window_until: 0,
        window_update_owed: false,
        peer_tsval: 100,
        engine_tsval: 0,
        loss_ppm: [0u32, 10_000, 50_000, 100_000, 200_000][rng.below(5) as usize],
        reorder_ppm: [0u32, 20_000, 100_000][rng.below(3) as usize],
        ack_loss_ppm: [0u32, 20_000, 100_000][rng.below(3) as usize],
        to_peer: Vec::new(),
        to_engine: Vec::new(),
        wire_order: 0,
        segments_checked: 0,
        retransmitted_bytes: 0,
        stream,
        rng,
    };
    let mut restores = 0;
    let mut step = 0u64;
    let mut last_state = None;
    let deadline = T0 + 3_600_000_000;
    loop {
        let done_data = run.host_acked == run.total();
        let fin_done = !run.close || e.peek(run.cid).is_some_and(|p| p.state == TcpState::FinWait2);
        if done_data && fin_done {
            break;
        }
        step += 1;
        if run.now > deadline {
            run.fail(step, format!("no progress: host acked {} of {}, peer holds {}, engine {:?}", run.host_acked, run.total(), run.got.contiguous(), e.peek(run.cid)));
        }
        // Idle periods (waiting for an RTO) pass in bigger steps.
        run.now += if run.to_peer.is_empty() && run.to_engine.is_empty() { 5000 + run.rng.below(20_000) } else { 200 + run.rng.below(1500) };
        let now = run.now;

        for (frame, ack, right) in run.due_acks() {
            run.peer_ack_delivered = run.peer_ack_delivered.max(ack);
            run.max_right_delivered = run.max_right_delivered.max(right);
            e.receive(now, &frame, &mut run.host);
            if trace() {
                let p = e.peek(run.cid);
                eprintln!("t={} engine got ack {ack} (right {right}): {:?}", now / 1000, p.map(|p| (p.state, offset(p.snd_una, iss), p.snd_queued, p.flags)));
            }
        }
        let mut cmds = std::mem::take(&mut setup);
        run.pump(&mut cmds);
        let restore_now = run.restores_left > 0 && run.rng.chance(2000);
        if restore_now {
            run.restores_left -= 1;
            cmds.extend(enc(Command::Restore { cid: run.cid, cookie: 78 }));
        }
        e.step(now, std::iter::empty(), &cmds, &mut run.host);
        if let Some(snap) = run.on_events(step) {
            restores += 1;
            run.after_restore(step, &mut e, snap);
        }
        run.on_engine_frames(step);
        run.peer_receive();
        if run.window_update_owed && run.now >= run.zero_window_until && run.peer_wnd >> run.snd_wscale > 0 {
            // Like Linux, announce a reopened window (the update may be lost).
            run.peer_send_ack();
        }
        run.host.passed.clear();
        if let Err(err) = e.audit() {
            run.fail(step, format!("audit: {err}"));
        }
        if trace() {
            if let Some(p) = e.peek(run.cid) {
                let st = (p.state, offset(p.snd_una, iss), offset(p.snd_nxt, iss), offset(p.snd_max, iss), p.snd_wnd, p.cwnd, p.rxt_shift, p.snd_queued);
                if Some(st) != last_state {
                    eprintln!("t={} engine {:?} una {} nxt {} max {} wnd {} cwnd {} rxt_shift {} queued {}", now / 1000, st.0, st.1, st.2, st.3, st.4, st.5, st.6, st.7);
                    last_state = Some(st);
                }
            }
        }
    }
    let c = e.counters();
    [run.segments_checked, run.retransmitted_bytes, c.fast_retransmits, c.sack_retransmits, c.rto_fired, c.persist_probes, restores, step]
}

impl TransmitRun {
    /// The snapshot must agree with what the host was told; then the
    /// connection goes back to the engine and the host re-enqueues
    /// everything from `snd_una` on -- sometimes only after ACKs that
    /// arrived in between were processed (the engine's `ack_debt`).
    fn after_restore(&mut self, step: u64, e: &mut Engine<'_>, snap: Snapshot) {
        let una = offset(snap.snd_una, self.iss);
        let fin_acked = una > self.total();
        if una.min(self.total()) != self.host_acked {
            self.fail(step, format!("restored snd_una at {una}, host was told {} acked", self.host_acked));
        }
        if !fin_acked && u64::from(snap.snd_queued) != self.issued - self.host_acked {
            self.fail(step, format!("restored snd_queued {}, host has {} unacked", snap.snd_queued, self.issued - self.host_acked));
        }
        let now = self.now;
        self.cid = handoff(e, &mut self.host, now, snap);
        if self.rng.chance(500_000) {
            for (frame, ack, right) in self.due_acks_early() {
                self.peer_ack_delivered = self.peer_ack_delivered.max(ack);
                self.max_right_delivered = self.max_right_delivered.max(right);
                e.receive(now, &frame, &mut self.host);
            }
        }
        let mut cmds = Vec::new();
        let from = self.host_acked;
        for &(off, len, addr) in &self.sends {
            if off + len <= from {
                continue;
            }
            let skip = from.saturating_sub(off);
            cmds.extend(enc(Command::Send { cid: self.cid, addr: addr + skip, len: (len - skip) as u16, flags: 0 }));
        }
        // A closed connection's snapshot carries the FIN (queued or sent)
        // itself: the host only brings back the data.
        e.step(now, std::iter::empty(), &cmds, &mut self.host);
        if self.on_events(step).is_some() {
            self.fail(step, "restored twice");
        }
    }

    /// Up to two ACKs in flight, delivered right after the handoff.
    fn due_acks_early(&mut self) -> Vec<(Vec<u8>, u64, u64)> {
        self.to_engine.sort_by_key(|d| (d.0, d.1));
        let n = self.to_engine.len().min(2);
        self.to_engine.drain(..n).map(|d| (d.2, d.3, d.4)).collect()
    }
}

#[test]
fn transmit_sends_exactly_the_stream() {
    let mut coverage = [0u64; 8];
    for seed in first_seed()..first_seed() + seeds() {
        let c = transmit_property(seed);
        for (sum, x) in coverage.iter_mut().zip(c) {
            *sum += x;
        }
    }
    eprintln!("transmit coverage [segments, rexmit bytes, fast rexmits, sack rexmits, rtos, persist probes, restores, steps]: {coverage:?}");
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
    e.command(T0, &enc(Command::Post { cid, addr: 0x4000, len: 4096 }), &mut h).unwrap();
    let msg = b"0123456789ABCDEFGHIJ";
    e.receive(T0, &frame_to_nic(false, 5010, 1000, ACK | FIN, 1000, &[], &msg[10..], PEER_PORT), &mut h);
    e.receive(T0, &frame_to_nic(false, 5000, 1000, ACK | FIN, 1000, &[], msg, PEER_PORT), &mut h);
    e.poll(T0, &mut h);
    let snap = e.peek(cid).unwrap();
    assert_eq!(snap.rcv_nxt, 5000 + 20 + 1, "20 bytes and one FIN");
    assert_eq!(snap.state, TcpState::CloseWait);
    let (_, ack, _, _, _) = parse_out(h.tx.last().unwrap());
    assert_eq!(ack, 5021);
    assert_eq!(&h.mem[0x4000..0x4014], msg);
    let fins = h.events.iter().filter(|ev| matches!(ev, OwnedEvent::Ctrl { ev: 1, .. })).count();
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
    e.command(T0, &enc(Command::Send { cid, addr: 0, len: 2000, flags: 0 }), &mut h).unwrap();
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 2, "two 1000-byte segments from seq 1000");
    h.tx.clear();
    // Half of the second segment acknowledged, window closed.
    e.receive(T0 + 1000, &frame_to_nic(false, PEER_SEQ, 2500, ACK, 0, &[], b"", PEER_PORT), &mut h);
    e.poll(T0 + 1000, &mut h);
    // The reopening update is lost. Within a few seconds a probe must go out.
    let mut t = T0 + 1000;
    while !h.tx.iter().any(|f| parse_out(f).4 == 0 && parse_out(f).0 == 2499) {
        t += 10_000;
        assert!(t < T0 + 10_000_000, "no window probe; sent {:?}", h.tx.iter().map(|f| parse_out(f)).collect::<Vec<_>>());
        e.poll(t, &mut h);
    }
    // The peer answers the probe with its open window: the rest is resent
    // with the right bytes.
    h.tx.clear();
    e.receive(t, &frame_to_nic(false, PEER_SEQ, 2500, ACK, 65535, &[], b"", PEER_PORT), &mut h);
    e.poll(t, &mut h);
    let data: Vec<_> = h.tx.iter().map(|f| parse_out(f)).filter(|p| p.4 > 0).collect();
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
            assert!(flags & FIN == 0 || s + n as u32 == 1100, "FIN at {} ahead of the data", s + n as u32);
        }
    };

    // A partial ACK before the data is back: not the FIN's ACK.
    let (mut e, mut h, cid) = engine_with_conn(closed);
    for (i, b) in h.mem[..100].iter_mut().enumerate() {
        *b = i as u8;
    }
    e.receive(T0, &frame_to_nic(false, PEER_SEQ, 1050, ACK, 65535, &[], b"", PEER_PORT), &mut h);
    e.command(T0, &enc(Command::Send { cid, addr: 0, len: 100, flags: 0 }), &mut h).expect("re-enqueue accepted");
    let snap = e.peek(cid).unwrap();
    assert_eq!((snap.state, snap.snd_una, snap.snd_queued), (TcpState::FinWait1, 1050, 50));
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
    e.receive(T0, &frame_to_nic(false, PEER_SEQ, 1000, ACK, 65535, &[], b"", PEER_PORT), &mut h);
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
    assert_eq!(e.peek(cid).unwrap().snd_max, 1000, "nothing sent before the data is back");

    // The peer acknowledged everything, FIN included, before the data came
    // back: the re-enqueued data is still taken (and skipped), not refused.
    let (mut e, mut h, cid) = engine_with_conn(closed);
    e.receive(T0, &frame_to_nic(false, PEER_SEQ, 1101, ACK, 65535, &[], b"", PEER_PORT), &mut h);
    assert_eq!(e.peek(cid).unwrap().state, TcpState::FinWait2);
    e.command(T0, &enc(Command::Send { cid, addr: 0, len: 100, flags: 0 }), &mut h).expect("re-enqueue accepted");
    e.poll(T0, &mut h);
    let acked: u64 = h.events.iter().map(|ev| if let OwnedEvent::Ack { len, .. } = ev { *len } else { 0 }).sum();
    assert_eq!(acked, 100);
    e.audit().unwrap();
}
