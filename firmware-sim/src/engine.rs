//! The firmware engine: lookup, TCP input/output, timers, and the handoff
//! interface's command and event processing.
//!
//! The engine is driven entirely by its caller: frames in
//! ([`Engine::receive`]), commands in ([`Engine::command`]) and the passage of
//! time ([`Engine::poll`]), each with the current time in microseconds.
//! Output leaves through the [`Io`] the caller passes in: frames to the wire,
//! events to the host, and host memory reached only through a copy engine
//! ([`HostMemory`], the "DMA"). [`Engine::step`] bundles one round.
//!
//! Work is batched per step: input marks a connection dirty, and
//! [`Engine::poll`] flushes each dirty connection once (deliver staged data,
//! one coalesced `ack` event, transmit what the windows allow). This is what
//! keeps the host interface at far fewer messages than packets (paper §5.1,
//! Figure 8).

use super::conn::{fl, tm, ConnSlot, DELACK_MS, MAX_RETRIES};
use super::counters::Counters;
use super::lookup::{FlowKey, LookupTable};
use super::memory::{
    Arena, BufRef, ChunkMeta, LayoutError, NicMemoryLayout, Pool, CHUNK_BYTES, FRAME_MAX, NIL,
};
use super::msg::{
    errno, Command, CtrlCmd, CtrlEvent, Event, MsgError, Refusal, ResourceKind, RestoreReason,
    MSG_LEN, MSG_OOB, MSG_PSH, NO_CID,
};
use super::seq;
use super::snapshot::{Snapshot, TcpState};
use super::wire::{checksum, ethernet, ipv4, ipv6, tcp};

/// A failed host-memory copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaError;

/// The copy engine between NIC memory and host memory. Implementations
/// validate `addr`/length against what the host made available; the engine
/// counts every byte moved.
pub trait HostMemory {
    /// Copies `buf.len()` bytes from host address `addr` into `buf`.
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError>;
    /// Copies `data` to host address `addr`.
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError>;
}

/// The NIC's other ports: the wire and the event ring.
pub trait NicPort {
    /// Puts a frame on the wire. Returns `false` if the transmit ring is full
    /// (the frame is then lost, as on a congested link, and counted).
    fn transmit(&mut self, frame: &[u8]) -> bool;
    /// Hands a frame that matched no offloaded connection to the host
    /// unmodified (used by [`Engine::step`]).
    fn pass_through(&mut self, frame: &[u8]);
    /// Delivers an event to the host. The host must reserve event ring
    /// credit for every connection it offloads (as FreeBSD's toecore does
    /// for abort messages), so this cannot fail.
    fn event(&mut self, ev: &Event<'_>);
}

/// Everything the engine talks to.
pub trait Io: HostMemory + NicPort {}
impl<T: HostMemory + NicPort> Io for T {}

/// What happened to a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Processed by an offloaded connection.
    Consumed,
    /// Matched no offloaded connection: give it to the host stack untouched.
    PassThrough,
    /// Matched an offloaded connection but was invalid (counted).
    Dropped,
}

/// Why a command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdError {
    /// The message did not decode.
    Malformed(MsgError),
    /// The command was valid but refused (also counted, and for resource
    /// exhaustion reported with a `resource` event).
    Refused(Refusal),
}

/// Totals of one [`Engine::step`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Frames consumed by offloaded connections.
    pub consumed: u32,
    /// Frames passed through to the host.
    pub passed: u32,
    /// Frames dropped.
    pub dropped: u32,
    /// Commands executed.
    pub commands: u32,
    /// Commands that failed (malformed or refused).
    pub command_errors: u32,
}

/// Outcome of processing on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Keep,
    /// Peer reset the connection (RFC 9293 §3.10.7.4).
    Reset,
    /// Both sides closed and our FIN was acked in LAST_ACK.
    Closed,
    /// Retransmissions or keepalives gave up.
    TimedOut,
}

/// A parsed, checksum-verified segment.
struct Seg<'p> {
    seq: u32,
    ack: u32,
    flags: u8,
    wnd: u16,
    opts: tcp::TcpOptions,
    payload: &'p [u8],
}

/// PAWS: TS.Recent older than this is invalid (RFC 7323 §5.5, 24 days).
const PAWS_IDLE_MS: u32 = 24 * 24 * 3600 * 1000;
/// RFC 5961 §7 challenge ACK limit per second (engine-wide).
const CHALLENGE_LIMIT: u32 = 1000;
/// Memory-pressure policy: a connection must have been idle at least this
/// long (ms) to be asked back with a `RestoreRequest`.
pub const PRESSURE_MIN_IDLE_MS: u32 = 100;
/// Memory-pressure policy: at most one `RestoreRequest` (and one scan of the
/// connection table) per this many ms.
pub const PRESSURE_INTERVAL_MS: u32 = 10;
/// Largest MSS that fits the frame scratch with any headers.
const MSS_MAX: u16 =
    (FRAME_MAX - ethernet::HEADER_LEN - ipv6::HEADER_LEN - tcp::HEADER_LEN - 12) as u16;

/// Everything except the connection table, so a connection can be borrowed
/// mutably alongside it.
struct Shared<'a> {
    refs: Pool<'a, BufRef>,
    chunks: Pool<'a, ChunkMeta>,
    staging: &'a mut [u8],
    rx: &'a mut [u8],
    tx: &'a mut [u8],
    ctr: Counters,
    now_us: u64,
    now_ms: u32,
    ip_id: u16,
    stage_cap: u16,
    challenge_ms: u32,
    challenge_n: u32,
}

/// The firmware: lookup layer, TCP engine and handoff interface over a
/// caller-provided [`Arena`].
pub struct Engine<'a> {
    conns: &'a mut [ConnSlot],
    lookup: LookupTable<'a>,
    wheel: &'a mut [u32],
    wheel_ms: u32,
    free_conn: u32,
    free_conns: u32,
    dirty: u32,
    layout: NicMemoryLayout,
    /// Low watermark of free connection slots; 0 turns the pressure policy off.
    pressure_slots: u32,
    /// Live connections with `RESTORE_ASKED` (asked, not restored or freed).
    pressure_outstanding: u32,
    /// A handoff or reference was refused (`NoConnSlot`/`NoRefs`) since the
    /// policy last looked.
    pressure_refused: bool,
    /// When the policy last scanned the table (`None`: never).
    pressure_scan_ms: Option<u32>,
    sh: Shared<'a>,
}

impl core::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("layout", &self.layout)
            .field("live", &self.live_conns())
            .finish()
    }
}

impl<'a> Engine<'a> {
    /// Starts the firmware over `arena`, whose slices must be at least as
    /// long as `layout` says. `seed` keys the lookup hash (use a random
    /// value). `now_us` is the NIC clock.
    pub fn new(
        layout: NicMemoryLayout,
        arena: Arena<'a>,
        seed: u32,
        now_us: u64,
    ) -> Result<Self, LayoutError> {
        if !arena.fits(&layout) || layout.scratch_bytes < 2 * FRAME_MAX || layout.max_conns == 0 {
            return Err(LayoutError::ArenaTooSmall);
        }
        let Arena {
            conns,
            lookup,
            refs,
            chunks,
            staging,
            scratch,
            wheel,
        } = arena;
        let conns = conns
            .get_mut(..layout.max_conns)
            .ok_or(LayoutError::ArenaTooSmall)?;
        for (i, c) in conns.iter_mut().enumerate() {
            *c = ConnSlot::EMPTY;
            c.link = if i + 1 < layout.max_conns {
                (i + 1) as u32
            } else {
                NIL
            };
        }
        let lookup = LookupTable::new(
            lookup
                .get_mut(..layout.lookup_entries)
                .ok_or(LayoutError::ArenaTooSmall)?,
            seed,
        );
        let wheel = wheel
            .get_mut(..layout.wheel_slots)
            .ok_or(LayoutError::ArenaTooSmall)?;
        wheel.fill(NIL);
        let (rx, rest) = scratch.split_at_mut(FRAME_MAX);
        let tx = rest
            .get_mut(..FRAME_MAX)
            .ok_or(LayoutError::ArenaTooSmall)?;
        let stage_cap = (layout.chunks / 4).clamp(1, 64) as u16;
        let now_ms = (now_us / 1000) as u32;
        Ok(Engine {
            conns,
            lookup,
            wheel,
            wheel_ms: now_ms,
            free_conn: 0,
            free_conns: layout.max_conns as u32,
            dirty: NIL,
            layout,
            pressure_slots: 0,
            pressure_outstanding: 0,
            pressure_refused: false,
            pressure_scan_ms: None,
            sh: Shared {
                refs: Pool::new(refs, layout.refs),
                chunks: Pool::new(chunks, layout.chunks),
                staging,
                rx,
                tx,
                ctr: Counters::default(),
                now_us,
                now_ms,
                ip_id: 0,
                stage_cap,
                challenge_ms: now_ms,
                challenge_n: 0,
            },
        })
    }

    /// The layout in use.
    pub fn layout(&self) -> &NicMemoryLayout {
        &self.layout
    }

    /// All counters.
    pub fn counters(&self) -> &Counters {
        &self.sh.ctr
    }

    /// Live offloaded connections.
    pub fn live_conns(&self) -> usize {
        self.layout.max_conns - self.free_conns as usize
    }

    /// Free references in the shared pool.
    pub fn free_refs(&self) -> u32 {
        self.sh.refs.free_count
    }

    /// Free staging chunks.
    pub fn free_chunks(&self) -> u32 {
        self.sh.chunks.free_count
    }

    /// Emits one `resource` event per resource kind with the free count
    /// (paper §3.3: the NIC advertises its resources periodically so the OS
    /// can stop offloading before anything is refused). Call it from a
    /// periodic timer; it is O(1).
    pub fn advertise_resources<I: Io>(&mut self, io: &mut I) {
        let free = [
            (ResourceKind::ConnSlots, u64::from(self.free_conns)),
            (ResourceKind::Refs, u64::from(self.sh.refs.free_count)),
            (
                ResourceKind::Staging,
                u64::from(self.sh.chunks.free_count) * CHUNK_BYTES as u64,
            ),
        ];
        for (kind, num) in free {
            self.emit(
                io,
                &Event::Resource {
                    cid: NO_CID,
                    kind,
                    num,
                },
            );
        }
    }

    /// Sets the per-connection staging limit in chunks (≥ 1).
    pub fn set_stage_cap(&mut self, chunks: u16) {
        self.sh.stage_cap = chunks.max(1);
    }

    /// Turns on NIC-initiated restore under memory pressure (the paper's
    /// `ch_os_restore`) with `slots` as the low watermark of free connection
    /// slots; 0 (the default) turns it off. See [`Engine::poll`] for the
    /// policy.
    pub fn set_pressure_slots(&mut self, slots: u32) {
        self.pressure_slots = slots;
    }

    /// `RestoreRequest`s outstanding: connections asked back that are still
    /// live on the NIC.
    pub fn restore_requests_outstanding(&self) -> u32 {
        self.pressure_outstanding
    }

    /// A snapshot of a live connection without removing it (for inspection,
    /// like `ss -i`).
    pub fn peek(&self, cid: u32) -> Option<Snapshot> {
        let idx = self.slot_of(cid)?;
        self.conns.get(idx).map(|c| c.export(self.sh.now_ms))
    }

    /// Checks the engine's internal accounting (pool ownership, queue byte
    /// counts, sequence ordering). O(memory): for tests, fuzzing and debug
    /// interfaces, never the data path. Returns the first violation found.
    pub fn audit(&self) -> Result<(), &'static str> {
        let mut refs_held = 0u64;
        let mut chunks_held = 0u64;
        let mut live = 0usize;
        let mut asked = 0u32;
        let limit = self.layout.refs.max(self.layout.chunks) + 1;
        for c in self.conns.iter() {
            if !c.is_live() {
                if c.has(fl::RESTORE_ASKED) {
                    return Err("free slot marked as asked back");
                }
                continue;
            }
            live += 1;
            if c.has(fl::RESTORE_ASKED) {
                asked += 1;
            }
            if !(seq::le(c.snd_una, c.snd_nxt) && seq::le(c.snd_nxt, c.snd_max)) {
                return Err("snd_una <= snd_nxt <= snd_max violated");
            }
            if seq::lt(c.rcv_adv, c.rcv_nxt.wrapping_sub(1)) {
                return Err("rcv_adv behind rcv_nxt");
            }
            let (mut n, mut bytes, mut r) = (0usize, 0u64, c.sref_head);
            while let Some(b) = self.sh.refs.get(r) {
                n += 1;
                bytes += u64::from(b.len);
                r = b.next;
                if n > limit {
                    return Err("send ref list cycle");
                }
            }
            if bytes.saturating_sub(u64::from(c.sref_head_off)) != u64::from(c.snd_queued) {
                return Err("snd_queued does not match send refs");
            }
            refs_held += n as u64;
            let (mut n, mut free, mut r) = (0usize, 0u64, c.post_head);
            while let Some(b) = self.sh.refs.get(r) {
                n += 1;
                free += u64::from(b.len - b.used);
                r = b.next;
                if n > limit {
                    return Err("posted list cycle");
                }
            }
            if free != u64::from(c.post_free) {
                return Err("post_free does not match posted buffers");
            }
            refs_held += n as u64;
            let (mut n, mut bytes, mut k) = (0usize, 0u64, c.inq_head);
            while let Some(m) = self.sh.chunks.get(k) {
                n += 1;
                bytes += u64::from(m.len);
                k = m.next;
                if n > limit {
                    return Err("inq cycle");
                }
            }
            if bytes != u64::from(c.inq_bytes) {
                return Err("inq_bytes does not match staged chunks");
            }
            let mut prev_end: Option<u32> = None;
            let mut k = c.ooo_head;
            while let Some(m) = self.sh.chunks.get(k) {
                n += 1;
                if seq::le(m.seq, c.rcv_nxt) {
                    return Err("out-of-order chunk at or below rcv_nxt");
                }
                if prev_end.is_some_and(|e| seq::gt(e, m.seq)) {
                    return Err("out-of-order chunks overlap or are unsorted");
                }
                prev_end = Some(m.seq.wrapping_add(u32::from(m.len)));
                k = m.next;
                if n > limit {
                    return Err("ooo cycle");
                }
            }
            if n != usize::from(c.chunks_held) {
                return Err("chunks_held does not match chunk lists");
            }
            chunks_held += n as u64;
        }
        if live != self.live_conns() || live != self.lookup.len() {
            return Err("live connection count mismatch");
        }
        if asked != self.pressure_outstanding {
            return Err("outstanding restore requests mismatch");
        }
        if refs_held + u64::from(self.sh.refs.free_count) != self.layout.refs as u64 {
            return Err("reference pool leak");
        }
        if chunks_held + u64::from(self.sh.chunks.free_count) != self.layout.chunks as u64 {
            return Err("staging chunk leak");
        }
        Ok(())
    }

    fn set_time(&mut self, now_us: u64) {
        // The clock never runs backwards, whatever the caller passes.
        if now_us > self.sh.now_us {
            self.sh.now_us = now_us;
            self.sh.now_ms = (now_us / 1000) as u32;
        }
    }

    fn slot_of(&self, cid: u32) -> Option<usize> {
        let idx = (cid & 0x00ff_ffff) as usize;
        let c = self.conns.get(idx)?;
        if c.is_live() && u32::from(c.gen) == cid >> 24 {
            Some(idx)
        } else {
            None
        }
    }

    fn cid_of(&self, idx: usize) -> u32 {
        let gen = self.conns.get(idx).map_or(0, |c| c.gen);
        (u32::from(gen) << 24) | idx as u32
    }

    fn mark_dirty(&mut self, idx: usize) {
        if let Some(c) = self.conns.get_mut(idx) {
            if !c.has(fl::DIRTY) {
                c.set(fl::DIRTY);
                c.link = self.dirty;
                self.dirty = idx as u32;
            }
        }
    }

    fn emit(&mut self, io: &mut impl Io, ev: &Event<'_>) {
        emit(&mut self.sh.ctr, io, ev);
    }

    /// One round: commands (a buffer of back-to-back messages, as on a
    /// ring), then frames, then timers and output.
    pub fn step<'f, I: Io>(
        &mut self,
        now_us: u64,
        frames: impl IntoIterator<Item = &'f [u8]>,
        commands: &[u8],
        io: &mut I,
    ) -> StepStats {
        let mut st = StepStats::default();
        let mut off = 0;
        while off < commands.len() {
            let rest = commands.get(off..).unwrap_or(&[]);
            match self.command(now_us, rest, io) {
                Ok(n) => {
                    st.commands += 1;
                    off += n;
                }
                Err(CmdError::Refused(_)) => {
                    st.command_errors += 1;
                    off += message_len(rest);
                }
                Err(CmdError::Malformed(_)) => {
                    st.command_errors += 1;
                    // Resynchronize at the next 16-byte boundary; a truncated
                    // tail ends the batch.
                    if rest.len() < MSG_LEN {
                        break;
                    }
                    off += message_len(rest).min(rest.len());
                }
            }
        }
        for f in frames {
            match self.receive(now_us, f, io) {
                Verdict::Consumed => st.consumed += 1,
                Verdict::PassThrough => {
                    st.passed += 1;
                    io.pass_through(f);
                }
                Verdict::Dropped => st.dropped += 1,
            }
        }
        self.poll(now_us, io);
        st
    }

    // ------------------------------------------------------------------
    // Receive path
    // ------------------------------------------------------------------

    /// Processes one Ethernet frame from the wire. Output it causes is sent
    /// at the next [`Engine::poll`] (or immediately for challenge ACKs).
    pub fn receive<I: Io>(&mut self, now_us: u64, frame: &[u8], io: &mut I) -> Verdict {
        self.set_time(now_us);
        self.sh.ctr.rx_frames += 1;
        self.receive_inner(frame, None, io)
    }

    fn receive_inner<I: Io>(&mut self, frame: &[u8], expect: Option<usize>, io: &mut I) -> Verdict {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return self.pass();
        };
        let (key, tcp_bytes, pseudo) = match eth.ethertype() {
            ethernet::ETHERTYPE_IPV4 => match self.ipv4_tcp(eth.payload()) {
                Ok(x) => x,
                Err(v) => return v,
            },
            ethernet::ETHERTYPE_IPV6 => {
                let Ok(ip) = ipv6::Packet::new_checked(eth.payload()) else {
                    return self.pass();
                };
                if ip.next_header() != ipv4::PROTO_TCP {
                    return self.pass();
                }
                let t = ip.payload_slice();
                let mut key = FlowKey {
                    v6: true,
                    local_addr: ip.dst_addr(),
                    remote_addr: ip.src_addr(),
                    ..FlowKey::default()
                };
                let Some(idx) = self.find(&mut key, t) else {
                    return self.pass();
                };
                let pseudo = checksum::pseudo_v6(
                    &key.remote_addr,
                    &key.local_addr,
                    ipv4::PROTO_TCP,
                    t.len() as u32,
                );
                (idx, t, pseudo)
            }
            _ => return self.pass(),
        };
        let idx = key;
        if expect.is_some_and(|e| e != idx) {
            self.sh.ctr.drop_malformed += 1;
            return Verdict::Dropped;
        }
        // The fixed TCP header is read through one array view: a single
        // bounds check instead of one per field.
        let Some(th) = tcp_bytes
            .get(..tcp::HEADER_LEN)
            .and_then(|t| <&[u8; 20]>::try_from(t).ok())
        else {
            self.sh.ctr.drop_malformed += 1;
            return Verdict::Dropped;
        };
        let hl = usize::from(th[12] >> 4) * 4;
        let (Some(opt_bytes), Some(payload)) =
            (tcp_bytes.get(tcp::HEADER_LEN..hl), tcp_bytes.get(hl..))
        else {
            self.sh.ctr.drop_malformed += 1;
            return Verdict::Dropped;
        };
        if checksum::add(pseudo, tcp_bytes) != 0xffff {
            self.sh.ctr.drop_tcp_csum += 1;
            return Verdict::Dropped;
        }
        let opts = tcp::TcpOptions::parse(opt_bytes);
        if opts.malformed {
            self.sh.ctr.rx_bad_options += 1;
        }
        let seg = Seg {
            seq: u32::from_be_bytes([th[4], th[5], th[6], th[7]]),
            ack: u32::from_be_bytes([th[8], th[9], th[10], th[11]]),
            flags: th[13],
            wnd: u16::from_be_bytes([th[14], th[15]]),
            opts,
            payload,
        };
        let cid = self.cid_of(idx);
        let Some(c) = self.conns.get_mut(idx) else {
            return Verdict::Dropped;
        };
        self.sh.ctr.rx_segs += 1;
        let after = self.sh.input(c, cid, &seg, io);
        self.mark_dirty(idx);
        if after != After::Keep {
            self.finish(idx, after, io);
        }
        Verdict::Consumed
    }

    /// IPv4 part of the receive path: validate, look up, verify the header
    /// checksum. Returns (slot, TCP bytes, pseudo-header sum) or the verdict.
    /// The fixed header is read through one 20-byte array view.
    #[inline]
    fn ipv4_tcp<'f>(&mut self, ip: &'f [u8]) -> Result<(usize, &'f [u8], u16), Verdict> {
        let Some(h) = ip
            .get(..ipv4::HEADER_LEN)
            .and_then(|h| <&[u8; 20]>::try_from(h).ok())
        else {
            return Err(self.pass());
        };
        let hl = usize::from(h[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if h[0] >> 4 != 4 || hl < ipv4::HEADER_LEN || total < hl || h[9] != ipv4::PROTO_TCP {
            return Err(self.pass());
        }
        let Some(t) = ip.get(hl..total) else {
            return Err(self.pass());
        };
        let src = [h[12], h[13], h[14], h[15]];
        let dst = [h[16], h[17], h[18], h[19]];
        let mut key = FlowKey::default();
        key.local_addr[..4].copy_from_slice(&dst);
        key.remote_addr[..4].copy_from_slice(&src);
        let Some(idx) = self.find(&mut key, t) else {
            return Err(self.pass());
        };
        let ok = if hl == ipv4::HEADER_LEN {
            checksum::sum20(h) == 0xffff
        } else {
            ip.get(..hl)
                .is_some_and(|full| checksum::checksum(full) == 0)
        };
        if !ok {
            self.sh.ctr.drop_ip_csum += 1;
            return Err(Verdict::Dropped);
        }
        if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
            // A fragment: the host reassembles and may `forward` the result.
            return Err(self.pass());
        }
        Ok((
            idx,
            t,
            checksum::pseudo_v4(&src, &dst, ipv4::PROTO_TCP, t.len() as u16),
        ))
    }

    fn pass(&mut self) -> Verdict {
        self.sh.ctr.rx_pass_through += 1;
        Verdict::PassThrough
    }

    /// Completes `key` with the ports from `t` and looks it up.
    #[inline]
    fn find(&self, key: &mut FlowKey, t: &[u8]) -> Option<usize> {
        let ports = t.get(..4)?;
        key.remote_port = u16::from_be_bytes([ports[0], ports[1]]);
        key.local_port = u16::from_be_bytes([ports[2], ports[3]]);
        let tag = key.hash(self.lookup.seed());
        let conns = &*self.conns;
        let k = &*key;
        self.lookup
            .find(tag, |s| conns.get(s as usize).is_some_and(|c| c.key == *k))
            .map(|s| s as usize)
    }

    /// Applies a terminal outcome.
    fn finish<I: Io>(&mut self, idx: usize, after: After, io: &mut I) {
        let cid = self.cid_of(idx);
        match after {
            After::Keep => {}
            After::Reset => {
                self.flush_events(idx, io);
                self.emit(
                    io,
                    &Event::Ctrl {
                        cid,
                        ev: CtrlEvent::PeerRst,
                        arg: errno::ECONNRESET,
                    },
                );
                self.free_slot(idx, io, errno::ECONNRESET);
            }
            After::Closed => {
                // Our FIN was acknowledged, but what the peer sent may still
                // sit in staging for want of posted buffers, and its FIN is
                // reported only after that data: both went down with the
                // slot, and the host read a stream cut short. Hand them over
                // as restore does.
                if let Some(c) = self.conns.get_mut(idx) {
                    self.sh.drain_inq(c, cid, io);
                    self.sh.report(c, cid, io);
                    self.sh.hand_over_staged(c, cid, io);
                }
                self.free_slot(idx, io, 0);
            }
            After::TimedOut => {
                if let Some(c) = self.conns.get_mut(idx) {
                    self.sh.send_rst(c, io);
                }
                self.flush_events(idx, io);
                self.emit(
                    io,
                    &Event::Ctrl {
                        cid,
                        ev: CtrlEvent::TimedOut,
                        arg: errno::ETIMEDOUT,
                    },
                );
                self.free_slot(idx, io, errno::ETIMEDOUT);
            }
        }
    }

    /// Reports delivered data and acks without transmitting (used before a
    /// connection goes away).
    fn flush_events<I: Io>(&mut self, idx: usize, io: &mut I) {
        let cid = self.cid_of(idx);
        if let Some(c) = self.conns.get_mut(idx) {
            self.sh.report(c, cid, io);
        }
    }

    /// Frees a slot and everything it holds; emits `ctrl(Freed)`.
    fn free_slot<I: Io>(&mut self, idx: usize, io: &mut I, reason: u64) {
        let cid = self.cid_of(idx);
        self.release(idx);
        self.sh.ctr.conns_freed += 1;
        self.emit(
            io,
            &Event::Ctrl {
                cid,
                ev: CtrlEvent::Freed,
                arg: reason,
            },
        );
    }

    /// Returns a slot's pool items, lookup entry and timers; the slot is
    /// free afterwards (its generation bumped so stale cids miss).
    fn release(&mut self, idx: usize) {
        self.unlink_timer(idx);
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        if !c.is_live() {
            return;
        }
        let sh = &mut self.sh;
        for head in [c.sref_head, c.post_head] {
            let mut r = head;
            while let Some(b) = sh.refs.get(r) {
                let next = b.next;
                sh.refs.free(r);
                r = next;
            }
        }
        for head in [c.inq_head, c.ooo_head] {
            let mut k = head;
            while let Some(m) = sh.chunks.get(k) {
                let next = m.next;
                sh.chunks.free(k);
                k = next;
            }
        }
        self.lookup.remove(c.tag, idx as u32);
        if c.has(fl::RESTORE_ASKED) {
            self.pressure_outstanding = self.pressure_outstanding.saturating_sub(1);
        }
        let gen = c.gen.wrapping_add(1);
        let dirty = c.has(fl::DIRTY);
        let link = c.link;
        *c = ConnSlot::EMPTY;
        c.gen = gen;
        if dirty {
            // Still threaded on the dirty list: keep the link, the flush
            // returns the slot to the free list.
            c.set(fl::DIRTY);
            c.link = link;
        } else {
            c.link = self.free_conn;
            self.free_conn = idx as u32;
            self.free_conns += 1;
        }
    }

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

    /// Decodes and executes one command from the front of `msg`, returning
    /// its length.
    pub fn command<I: Io>(
        &mut self,
        now_us: u64,
        msg: &[u8],
        io: &mut I,
    ) -> Result<usize, CmdError> {
        self.set_time(now_us);
        self.sh.ctr.cmd_total += 1;
        let (cmd, len) = match Command::decode(msg) {
            Ok(x) => x,
            Err(e) => {
                self.sh.ctr.cmd_malformed += 1;
                return Err(CmdError::Malformed(e));
            }
        };
        self.execute(cmd, io).map(|()| len)
    }

    /// Executes a decoded command.
    pub fn execute<I: Io>(&mut self, cmd: Command, io: &mut I) -> Result<(), CmdError> {
        match cmd {
            Command::Handoff { cookie, snap } => {
                self.sh.ctr.cmd_handoff += 1;
                let r = self.handoff(&snap);
                self.emit(io, &Event::HandoffDone { cookie, result: r });
                if r == Err(Refusal::NoConnSlot) {
                    self.emit(
                        io,
                        &Event::Resource {
                            cid: NO_CID,
                            kind: ResourceKind::ConnSlots,
                            num: 0,
                        },
                    );
                }
                r.map(|_| ()).map_err(CmdError::Refused)
            }
            Command::Restore { cid, cookie } => {
                self.sh.ctr.cmd_restore += 1;
                let idx = self.live(cid)?;
                self.restore(idx, cookie, RestoreReason::HostRequest, io);
                Ok(())
            }
            Command::Send {
                cid,
                addr,
                len,
                flags,
            } => {
                self.sh.ctr.cmd_send += 1;
                let idx = self.live(cid)?;
                if flags & MSG_OOB != 0 {
                    self.sh.ctr.refuse_state += 1;
                    return Err(CmdError::Refused(Refusal::Unsupported));
                }
                let Some(c) = self.conns.get_mut(idx) else {
                    return Err(CmdError::Refused(Refusal::BadCid));
                };
                // Data a closed connection's handoff announced is taken back
                // even if the peer acknowledged it (and the FIN) meanwhile.
                let reenqueue = c.reenqueue >= u32::from(len);
                let closed = c.has(fl::FIN_QUEUED) || c.state.fin_sent();
                if (closed && !reenqueue) || c.snd_queued > (1 << 30) {
                    self.sh.ctr.refuse_state += 1;
                    return Err(CmdError::Refused(Refusal::Shutdown));
                }
                let Some(r) = self.sh.refs.alloc() else {
                    self.sh.ctr.refuse_refs += 1;
                    self.pressure_refused = true;
                    self.emit(
                        io,
                        &Event::Resource {
                            cid,
                            kind: ResourceKind::Refs,
                            num: 0,
                        },
                    );
                    return Err(CmdError::Refused(Refusal::NoRefs));
                };
                // Counted only now that the send is taken: a send refused
                // for want of a reference (other connections hold them all)
                // is tried again, and had it counted, the retry was refused
                // as a send after close and the data before the FIN lost.
                if reenqueue {
                    c.reenqueue -= u32::from(len);
                }
                append_ref(
                    &mut self.sh.refs,
                    r,
                    BufRef {
                        addr,
                        len: u32::from(len),
                        next: NIL,
                        used: u32::from(flags),
                        reported: 0,
                    },
                    &mut c.sref_head,
                    &mut c.sref_tail,
                );
                c.snd_queued += u32::from(len);
                if c.ack_debt > 0 {
                    // These bytes were acknowledged before they were enqueued.
                    let skip = c.ack_debt.min(u32::from(len));
                    c.ack_debt -= skip;
                    self.sh.consume_sent(c, skip);
                    c.snd_queued -= skip;
                }
                self.mark_dirty(idx);
                Ok(())
            }
            Command::Recvd { cid, len } => {
                self.sh.ctr.cmd_recvd += 1;
                let idx = self.live(cid)?;
                if let Some(c) = self.conns.get_mut(idx) {
                    c.rcv_unread = c.rcv_unread.saturating_sub(len);
                    c.set(fl::WND_UPDATE);
                }
                self.mark_dirty(idx);
                Ok(())
            }
            Command::Post { cid, addr, len } => {
                self.sh.ctr.cmd_post += 1;
                let idx = self.live(cid)?;
                let Some(c) = self.conns.get_mut(idx) else {
                    return Err(CmdError::Refused(Refusal::BadCid));
                };
                let Some(r) = self.sh.refs.alloc() else {
                    self.sh.ctr.refuse_refs += 1;
                    self.pressure_refused = true;
                    self.emit(
                        io,
                        &Event::Resource {
                            cid,
                            kind: ResourceKind::Refs,
                            num: 0,
                        },
                    );
                    return Err(CmdError::Refused(Refusal::NoRefs));
                };
                append_ref(
                    &mut self.sh.refs,
                    r,
                    BufRef {
                        addr,
                        len: u32::from(len),
                        next: NIL,
                        used: 0,
                        reported: 0,
                    },
                    &mut c.post_head,
                    &mut c.post_tail,
                );
                c.post_free = c.post_free.saturating_add(u32::from(len));
                c.set(fl::WND_UPDATE);
                self.mark_dirty(idx);
                Ok(())
            }
            Command::Ctrl { cid, cmd, arg } => {
                self.sh.ctr.cmd_ctrl += 1;
                let idx = self.live(cid)?;
                self.ctrl(idx, cmd, arg, io);
                Ok(())
            }
            Command::Forward { cid, addr, len } => {
                self.sh.ctr.cmd_forward += 1;
                let idx = self.live(cid)?;
                let n = usize::from(len);
                if n > FRAME_MAX {
                    self.sh.ctr.drop_malformed += 1;
                    return Err(CmdError::Refused(Refusal::Unsupported));
                }
                let rx = core::mem::take(&mut self.sh.rx);
                let ok = match rx.get_mut(..n) {
                    Some(buf) => io.dma_read(addr, buf).is_ok(),
                    None => false,
                };
                if ok {
                    self.sh.ctr.dma_read_bytes += n as u64;
                    self.sh.ctr.rx_frames += 1;
                    self.receive_inner(rx.get(..n).unwrap_or(&[]), Some(idx), io);
                } else {
                    self.sh.ctr.dma_errors += 1;
                }
                self.sh.rx = rx;
                Ok(())
            }
            Command::Info { cid, cookie } => {
                self.sh.ctr.cmd_info += 1;
                self.live(cid)?;
                // A pure read (`peek`): nothing on the connection changes
                // (no ACK, no delivery, no flags, not marked dirty).
                let Some(snap) = self.peek(cid) else {
                    return Err(CmdError::Refused(Refusal::BadCid));
                };
                self.emit(
                    io,
                    &Event::Info {
                        cid,
                        cookie,
                        snap: &snap,
                    },
                );
                Ok(())
            }
        }
    }

    fn live(&mut self, cid: u32) -> Result<usize, CmdError> {
        match self.slot_of(cid) {
            Some(i) => Ok(i),
            None => {
                self.sh.ctr.cmd_bad_cid += 1;
                Err(CmdError::Refused(Refusal::BadCid))
            }
        }
    }

    fn handoff(&mut self, snap: &Snapshot) -> Result<u32, Refusal> {
        if snap.validate().is_err() {
            self.sh.ctr.refuse_bad_snapshot += 1;
            return Err(Refusal::BadSnapshot);
        }
        let mut key = FlowKey {
            local_addr: snap.local_addr,
            remote_addr: snap.remote_addr,
            local_port: snap.local_port,
            remote_port: snap.remote_port,
            v6: snap.ip_version == 6,
        };
        let mut ports = [0u8; 4];
        ports[..2].copy_from_slice(&snap.remote_port.to_be_bytes());
        ports[2..].copy_from_slice(&snap.local_port.to_be_bytes());
        if self.find(&mut key, &ports).is_some() {
            self.sh.ctr.refuse_duplicate += 1;
            return Err(Refusal::Duplicate);
        }
        let idx = self.free_conn as usize;
        let Some(c) = self.conns.get_mut(idx) else {
            self.sh.ctr.refuse_conn_slots += 1;
            self.pressure_refused = true;
            return Err(Refusal::NoConnSlot);
        };
        self.free_conn = c.link;
        self.free_conns -= 1;
        let now = self.sh.now_ms;
        c.install(snap, now);
        c.mss = c.mss.min(MSS_MAX);
        c.tag = key.hash(self.lookup.seed());
        if c.snd_una != c.snd_max {
            arm(c, tm::RTO, now.wrapping_add(c.rto_ms()));
        }
        if c.has(fl::KEEPALIVE) {
            arm(c, tm::KEEP, now.wrapping_add(c.keep_idle_ms));
        }
        let tag = c.tag;
        if !self.lookup.insert(tag, idx as u32) {
            // Cannot happen with a layout-sized table; undo rather than panic.
            if let Some(c) = self.conns.get_mut(idx) {
                *c = ConnSlot {
                    gen: c.gen,
                    link: self.free_conn,
                    ..ConnSlot::EMPTY
                };
            }
            self.free_conn = idx as u32;
            self.free_conns += 1;
            self.sh.ctr.refuse_conn_slots += 1;
            self.pressure_refused = true;
            return Err(Refusal::NoConnSlot);
        }
        self.sh.ctr.conns_offloaded += 1;
        self.mark_dirty(idx);
        Ok(self.cid_of(idx))
    }

    fn ctrl<I: Io>(&mut self, idx: usize, cmd: CtrlCmd, arg: u64, io: &mut I) {
        let now = self.sh.now_ms;
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        match cmd {
            CtrlCmd::Close => {
                if !c.has(fl::FIN_QUEUED) {
                    c.set(fl::FIN_QUEUED);
                }
            }
            CtrlCmd::Abort => {
                self.sh.send_rst(c, io);
                self.flush_events(idx, io);
                self.free_slot(idx, io, errno::ECONNABORTED);
                return;
            }
            CtrlCmd::NoDelay => {
                if arg != 0 {
                    c.set(fl::NODELAY);
                } else {
                    c.clear(fl::NODELAY);
                }
            }
            CtrlCmd::KeepAlive => {
                if arg == 0 {
                    c.clear(fl::KEEPALIVE);
                    c.timers &= !tm::KEEP;
                } else {
                    c.set(fl::KEEPALIVE);
                    c.keep_idle_ms = u32::try_from(arg).unwrap_or(u32::MAX).max(1);
                    arm(c, tm::KEEP, now.wrapping_add(c.keep_idle_ms));
                }
            }
        }
        self.mark_dirty(idx);
    }

    /// Hands a connection back to the host: deliver what can be delivered,
    /// flush the pending ACK, pass any still-staged bytes inline, then the
    /// snapshot. The slot is free afterwards.
    fn restore<I: Io>(&mut self, idx: usize, cookie: u64, reason: RestoreReason, io: &mut I) {
        let cid = self.cid_of(idx);
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        let sh = &mut self.sh;
        sh.drain_inq(c, cid, io);
        if c.segs_unacked > 0 || c.has(fl::ACK_NOW) || c.timers & tm::DELACK != 0 {
            sh.send_ack(c, io);
        }
        sh.report(c, cid, io);
        sh.hand_over_staged(c, cid, io);
        let snap = c.export(sh.now_ms);
        emit(
            &mut sh.ctr,
            io,
            &Event::Restore {
                cid,
                cookie,
                reason,
                snap: &snap,
            },
        );
        self.sh.ctr.conns_restored += 1;
        self.release(idx);
    }

    // ------------------------------------------------------------------
    // Timers and flush
    // ------------------------------------------------------------------

    /// Runs due timers and flushes every connection touched since the last
    /// poll: deliver staged data, emit `recv`/`ack`/`ctrl` events, transmit.
    ///
    /// Then, if [`Engine::set_pressure_slots`] set a watermark, the memory
    /// pressure policy: when free connection slots plus outstanding requests
    /// are below the watermark, or a `NoConnSlot`/`NoRefs` refusal happened
    /// since the policy last looked, it sends one `ctrl` `RestoreRequest`
    /// for the ESTABLISHED or CLOSE_WAIT connection idle the longest (at
    /// least [`PRESSURE_MIN_IDLE_MS`], not asked before; lowest slot on a
    /// tie). It looks at most once per [`PRESSURE_INTERVAL_MS`]; a refusal
    /// in between is kept for the next look.
    pub fn poll<I: Io>(&mut self, now_us: u64, io: &mut I) {
        self.set_time(now_us);
        self.run_timers(io);
        while self.dirty != NIL {
            let idx = self.dirty as usize;
            let Some(c) = self.conns.get_mut(idx) else {
                self.dirty = NIL;
                break;
            };
            self.dirty = c.link;
            c.clear(fl::DIRTY);
            if !c.is_live() {
                c.link = self.free_conn;
                self.free_conn = idx as u32;
                self.free_conns += 1;
                continue;
            }
            let cid = self.cid_of(idx);
            let Some(c) = self.conns.get_mut(idx) else {
                continue;
            };
            let after = self.sh.flush(c, cid, io);
            let tw = c.state == TcpState::TimeWait;
            if after != After::Keep {
                self.finish(idx, after, io);
            } else if tw {
                self.restore(idx, 0, RestoreReason::TimeWait, io);
            } else {
                self.rearm(idx);
            }
        }
        self.pressure(io);
    }

    /// NIC-initiated restore under memory pressure (see [`Engine::poll`]).
    /// The connection keeps running; the host may answer with `restore` or
    /// ignore the request, which is then never repeated for that connection.
    fn pressure<I: Io>(&mut self, io: &mut I) {
        if self.pressure_slots == 0 {
            self.pressure_refused = false;
            return;
        }
        let now = self.sh.now_ms;
        if self
            .pressure_scan_ms
            .is_some_and(|t| now.wrapping_sub(t) < PRESSURE_INTERVAL_MS)
        {
            return;
        }
        let refused = core::mem::take(&mut self.pressure_refused);
        // Enough requests are out to bring free slots back to the watermark
        // once the host answers them; a refusal still allows one more.
        let short = self.free_conns.saturating_add(self.pressure_outstanding) < self.pressure_slots;
        if !short && !refused {
            return;
        }
        self.pressure_scan_ms = Some(now);
        let mut best: Option<(usize, u32)> = None;
        for (i, c) in self.conns.iter().enumerate() {
            if !matches!(c.state, TcpState::Established | TcpState::CloseWait)
                || c.has(fl::RESTORE_ASKED)
            {
                continue;
            }
            let idle = c.idle_ms(now);
            if idle >= PRESSURE_MIN_IDLE_MS && best.is_none_or(|(_, b)| idle > b) {
                best = Some((i, idle));
            }
        }
        let Some((idx, idle)) = best else { return };
        let cid = self.cid_of(idx);
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        c.set(fl::RESTORE_ASKED);
        self.pressure_outstanding = self.pressure_outstanding.saturating_add(1);
        self.sh.ctr.restore_requests += 1;
        self.emit(
            io,
            &Event::Ctrl {
                cid,
                ev: CtrlEvent::RestoreRequest,
                arg: u64::from(idle),
            },
        );
    }

    fn run_timers<I: Io>(&mut self, io: &mut I) {
        let now = self.sh.now_ms;
        let slots = self.wheel.len() as u32;
        if slots == 0 {
            return;
        }
        let mut visited = 0;
        while self.wheel_ms != now && visited < slots {
            self.wheel_ms = self.wheel_ms.wrapping_add(1);
            visited += 1;
            let slot = (self.wheel_ms % slots) as usize;
            let mut i = self.wheel.get(slot).copied().unwrap_or(NIL);
            while let Some(c) = self.conns.get_mut(i as usize) {
                let next = c.tw_next;
                if seq::le(c.timer_at, now) {
                    let cid = self.cid_of(i as usize);
                    let Some(c) = self.conns.get_mut(i as usize) else {
                        break;
                    };
                    let after = self.sh.on_timer(c, cid, io);
                    self.mark_dirty(i as usize);
                    self.finish(i as usize, after, io);
                }
                i = next;
            }
        }
        self.wheel_ms = now;
    }

    fn unlink_timer(&mut self, idx: usize) {
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        if c.tw_slot == u16::MAX {
            return;
        }
        let (prev, next, slot) = (c.tw_prev, c.tw_next, c.tw_slot);
        c.tw_slot = u16::MAX;
        c.tw_prev = NIL;
        c.tw_next = NIL;
        match self.conns.get_mut(prev as usize) {
            Some(p) => p.tw_next = next,
            None => {
                if let Some(h) = self.wheel.get_mut(usize::from(slot)) {
                    *h = next;
                }
            }
        }
        if let Some(n) = self.conns.get_mut(next as usize) {
            n.tw_prev = prev;
        }
    }

    /// Puts the connection on the wheel slot of its earliest deadline.
    fn rearm(&mut self, idx: usize) {
        let now = self.sh.now_ms;
        let slots = self.wheel.len() as u32;
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        let mut best: Option<u32> = None;
        for (bit, at) in [
            (tm::RTO, c.rto_at),
            (tm::DELACK, c.delack_at),
            (tm::PERSIST, c.persist_at),
            (tm::KEEP, c.keep_at),
        ] {
            if c.timers & bit != 0 && best.is_none_or(|b| seq::lt(at, b)) {
                best = Some(at);
            }
        }
        let Some(t) = best else {
            self.unlink_timer(idx);
            return;
        };
        c.timer_at = t;
        // A deadline at or before the wheel position goes in the next slot.
        let eff = if seq::le(t, self.wheel_ms) {
            self.wheel_ms.wrapping_add(1)
        } else {
            t
        };
        let slot = (eff % slots.max(1)) as u16;
        if c.tw_slot == slot {
            return;
        }
        self.unlink_timer(idx);
        let head = self.wheel.get(usize::from(slot)).copied().unwrap_or(NIL);
        if let Some(c) = self.conns.get_mut(idx) {
            c.tw_slot = slot;
            c.tw_prev = NIL;
            c.tw_next = head;
        }
        if let Some(h) = self.conns.get_mut(head as usize) {
            h.tw_prev = idx as u32;
        }
        if let Some(h) = self.wheel.get_mut(usize::from(slot)) {
            *h = idx as u32;
        }
        let _ = now;
    }
}

/// Length of the message at the front of `buf` as its kind declares it
/// (used to skip refused or malformed messages in a batch).
fn message_len(buf: &[u8]) -> usize {
    match buf.first() {
        Some(0x01) => super::msg::SNAPSHOT_MSG_LEN,
        _ => MSG_LEN,
    }
}

fn emit(ctr: &mut Counters, io: &mut impl Io, ev: &Event<'_>) {
    ctr.ev_total += 1;
    match ev {
        Event::HandoffDone { .. } => ctr.ev_handoff_done += 1,
        Event::Restore { .. } => ctr.ev_restore += 1,
        Event::Recv { .. } => ctr.ev_recv += 1,
        Event::Ack { .. } => ctr.ev_ack += 1,
        Event::Ctrl { .. } => ctr.ev_ctrl += 1,
        Event::Resource { .. } => ctr.ev_resource += 1,
        Event::RecvData { .. } => ctr.ev_recv_data += 1,
        // Counted by `cmd_info` (one event per successful command).
        Event::Info { .. } => {}
    }
    io.event(ev);
}

fn append_ref(pool: &mut Pool<'_, BufRef>, r: u32, val: BufRef, head: &mut u32, tail: &mut u32) {
    if let Some(slot) = pool.get_mut(r) {
        *slot = val;
    }
    match pool.get_mut(*tail) {
        Some(t) => t.next = r,
        None => *head = r,
    }
    *tail = r;
}

#[inline]
fn arm(c: &mut ConnSlot, bit: u8, at: u32) {
    c.timers |= bit;
    match bit {
        tm::RTO => c.rto_at = at,
        tm::DELACK => c.delack_at = at,
        tm::PERSIST => c.persist_at = at,
        _ => c.keep_at = at,
    }
}

/// Whether a segment's window replaces the one in force. The window counts
/// from SND.UNA, so its right edge must be one the peer offered. RFC 9293
/// §3.10.7.4's SND.WL1/WL2 rule alone breaks that both ways (as Linux's
/// `tcp_may_update_window` and BSD's `snd_wnd -= acked` avoid):
/// - an ACK older than SND.UNA (a segment with new data overtaken by a
///   later retransmission) carries a window counted from its older ACK;
///   taken, the edge overshot by the difference (RFC 9293 updates only if
///   SND.UNA =< SEG.ACK);
/// - an ACK that advances SND.UNA is the freshest the peer sent (its ACKs
///   only grow), even with a sequence number below SND.WL1 as when the peer
///   retransmits; ignored, the old window stayed while SND.UNA moved on,
///   and the edge moved right by the bytes acked.
fn window_update_due(c: &ConnSlot, seg: &Seg<'_>) -> bool {
    seq::ge(seg.ack, c.snd_una)
        && (seq::gt(seg.ack, c.snd_una)
            || seq::lt(c.snd_wl1, seg.seq)
            || (c.snd_wl1 == seg.seq && seq::le(c.snd_wl2, seg.ack)))
}

impl Shared<'_> {
    // ------------------------------------------------------------------
    // TCP input (RFC 9293 §3.10.7.4 for synchronized states)
    // ------------------------------------------------------------------

    /// Header prediction (Van Jacobson; FreeBSD `tcp_input`): the two
    /// segments bulk transfer is made of -- the next in-order data segment
    /// that acknowledges nothing new, and a pure ACK of new data -- skip the
    /// general checks when every condition that could make them special is
    /// absent. Returns false to fall back to the general path.
    #[inline]
    fn predicted<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, seg: &Seg<'_>, io: &mut I) -> bool {
        const SPECIAL: u8 = tcp::SYN | tcp::FIN | tcp::RST | tcp::URG;
        if c.state != TcpState::Established
            || seg.flags & (SPECIAL | tcp::ACK) != tcp::ACK
            || seg.seq != c.rcv_nxt
            || c.flags & (fl::IN_RECOVERY | fl::RCV_FIN_OOO) != 0
            || c.ooo_head != NIL
        {
            return false;
        }
        let now = self.now_ms;
        let ts = match (c.has(fl::TS_OK), seg.opts.ts) {
            (true, Some(t)) => Some(t),
            (false, _) => None,
            (true, None) => return false,
        };
        if let Some((tsval, _)) = ts {
            if seq::lt(tsval, c.ts_recent) {
                return false;
            }
        }
        let plen = seg.payload.len();
        if plen == 0 {
            // Pure ACK of new data, within what we sent.
            if !(seq::gt(seg.ack, c.snd_una) && seq::le(seg.ack, c.snd_max)) {
                return false;
            }
        } else {
            // In-order data that fits the window, acking nothing new.
            let wnd = if seq::lt(c.rcv_adv, c.rcv_nxt) {
                0
            } else {
                seq::diff(c.rcv_adv, c.rcv_nxt)
            };
            if seg.ack != c.snd_una || plen > wnd as usize {
                return false;
            }
        }
        if let Some((tsval, _)) = ts {
            // seg.seq == rcv_nxt <= last_ack_sent is implied unless we owe
            // an ACK; RFC 7323 §4.3 needs SEG.SEQ <= Last.ACK.sent.
            if seq::le(seg.seq, c.last_ack_sent) {
                c.ts_recent = tsval;
                c.ts_recent_ms = now;
            }
        }
        c.note_rx(now);
        c.keep_sent = 0;
        if window_update_due(c, seg) {
            let wnd_new = u32::from(seg.wnd) << c.snd_wscale;
            c.snd_wnd = wnd_new;
            c.snd_wl1 = seg.seq;
            c.snd_wl2 = seg.ack;
            c.max_snd_wnd = c.max_snd_wnd.max(wnd_new);
            if wnd_new > 0 && c.timers & tm::PERSIST != 0 {
                c.timers &= !tm::PERSIST;
                c.rxt_shift = 0;
            }
        }
        if plen == 0 {
            let _ = self.new_ack(c, seg.ack, ts.map(|t| t.1), io);
            return true;
        }
        let n = self.rx_in_order(c, cid, seg.payload, io);
        c.rcv_nxt = c.rcv_nxt.wrapping_add(n as u32);
        self.ctr.rx_bytes += n as u64;
        if n < plen {
            self.ctr.drop_no_staging += 1;
            c.set(fl::ACK_NOW | fl::STAGING_FULL);
        }
        if seg.flags & tcp::PSH != 0 {
            c.set(fl::PSH);
        }
        c.segs_unacked = c.segs_unacked.saturating_add(1);
        if c.segs_unacked >= 2 || c.has(fl::ACK_NOW) {
            self.send_ack(c, io);
        } else if c.timers & tm::DELACK == 0 {
            arm(c, tm::DELACK, now.wrapping_add(DELACK_MS));
        }
        true
    }

    fn input<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, seg: &Seg<'_>, io: &mut I) -> After {
        if self.predicted(c, cid, seg, io) {
            return After::Keep;
        }
        let now = self.now_ms;
        let rst = seg.flags & tcp::RST != 0;
        let fin = seg.flags & tcp::FIN != 0;
        let plen = seg.payload.len() as u32;
        let seg_len = plen + u32::from(fin);
        let ts = if c.has(fl::TS_OK) { seg.opts.ts } else { None };

        // PAWS (RFC 7323 §5.3): reject old duplicates by timestamp.
        if let Some((tsval, _)) = ts {
            if !rst
                && seq::lt(tsval, c.ts_recent)
                && now.wrapping_sub(c.ts_recent_ms) < PAWS_IDLE_MS
            {
                self.ctr.drop_paws += 1;
                c.set(fl::ACK_NOW);
                return After::Keep;
            }
        }

        // Acceptability (RFC 9293 §3.10.7.4, first check).
        let wnd = if seq::lt(c.rcv_adv, c.rcv_nxt) {
            0
        } else {
            seq::diff(c.rcv_adv, c.rcv_nxt)
        };
        let in_wnd = |x: u32| seq::le(c.rcv_nxt, x) && seq::lt(x, c.rcv_nxt.wrapping_add(wnd));
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seg.seq == c.rcv_nxt,
            (0, _) => in_wnd(seg.seq),
            (_, 0) => false,
            (_, _) => in_wnd(seg.seq) || in_wnd(seg.seq.wrapping_add(seg_len - 1)),
        };
        let mut data_ok = true;
        if !acceptable {
            if rst {
                self.ctr.drop_rst += 1;
                return After::Keep;
            }
            // A zero-window probe at rcv_nxt still carries a valid ACK
            // (RFC 9293: "special allowance ... to accept valid ACKs").
            if !(wnd == 0 && seg.seq == c.rcv_nxt) {
                self.ctr.drop_out_of_window += 1;
                c.set(fl::ACK_NOW);
                return After::Keep;
            }
            data_ok = false;
        }

        // RST (RFC 5961 §3.2): exact match resets, in-window challenges.
        if rst {
            if seg.seq == c.rcv_nxt {
                return After::Reset;
            }
            self.challenge_ack(c, io);
            return After::Keep;
        }
        // SYN in a synchronized state (RFC 5961 §4.2).
        if seg.flags & tcp::SYN != 0 {
            self.challenge_ack(c, io);
            return After::Keep;
        }
        if seg.flags & tcp::ACK == 0 {
            self.ctr.drop_no_ack += 1;
            return After::Keep;
        }
        // ACK acceptability (RFC 5961 §5.2).
        if seq::gt(seg.ack, c.snd_max) {
            self.ctr.drop_bad_ack += 1;
            c.set(fl::ACK_NOW);
            return After::Keep;
        }
        if seq::lt(seg.ack, c.snd_una.wrapping_sub(c.max_snd_wnd)) {
            self.ctr.drop_bad_ack += 1;
            self.challenge_ack(c, io);
            return After::Keep;
        }

        // TS.Recent (RFC 7323 §4.3).
        if let Some((tsval, _)) = ts {
            if seq::ge(tsval, c.ts_recent) && seq::le(seg.seq, c.last_ack_sent) {
                c.ts_recent = tsval;
                c.ts_recent_ms = now;
            }
        }
        c.note_rx(now);
        c.keep_sent = 0;

        // Send window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule).
        let wnd_new = u32::from(seg.wnd) << c.snd_wscale;
        let wnd_changed = wnd_new != c.snd_wnd;
        let wnd_grew = wnd_new > c.snd_wnd;
        if window_update_due(c, seg) {
            c.snd_wnd = wnd_new;
            c.snd_wl1 = seg.seq;
            c.snd_wl2 = seg.ack;
            c.max_snd_wnd = c.max_snd_wnd.max(wnd_new);
            if wnd_new > 0 && c.timers & tm::PERSIST != 0 {
                c.timers &= !tm::PERSIST;
                c.rxt_shift = 0;
            }
        }

        if seq::gt(seg.ack, c.snd_una) {
            let tsecr = ts.map(|t| t.1);
            if self.new_ack(c, seg.ack, tsecr, io) == After::Closed {
                return After::Closed;
            }
        } else if seg.ack == c.snd_una
            && seg_len == 0
            && c.snd_max != c.snd_una
            && (!wnd_changed || wnd_grew || seg.opts.sack_count > 0)
        {
            // A duplicate ACK (RFC 5681 §2), also when it reports SACK
            // blocks (RFC 6675) or only opens the window: receivers that
            // autotune (Linux) grow the window on almost every ACK while a
            // hole is outstanding, which would otherwise hide every
            // duplicate and leave only the retransmission timer.
            self.dupack(c, seg.ack, &seg.opts, io);
        }
        if seg.opts.sack_count > 0 && c.has(fl::SACK_OK) {
            self.ctr.sack_blocks += u64::from(seg.opts.sack_count);
        }

        if data_ok
            && seg_len > 0
            && matches!(
                c.state,
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
            )
        {
            self.rx_data(c, cid, seg, fin, io);
        }
        After::Keep
    }

    fn new_ack<I: Io>(
        &mut self,
        c: &mut ConnSlot,
        ack: u32,
        tsecr: Option<u32>,
        io: &mut I,
    ) -> After {
        let now = self.now_ms;
        let acked = seq::diff(ack, c.snd_una);
        // RTT sample: timestamps (RFC 7323 §4.1) or one timed segment (Karn).
        match tsecr {
            Some(ecr) if ecr != 0 => {
                let r = c.ts_val(now).wrapping_sub(ecr);
                if r < 60_000 {
                    c.rtt_sample(r.saturating_mul(1000));
                }
            }
            _ => {
                if c.has(fl::RTT_TIMING) && seq::gt(ack, c.rtt_seq) {
                    c.clear(fl::RTT_TIMING);
                    c.rtt_sample(now.wrapping_sub(c.rtt_ms).saturating_mul(1000));
                }
            }
        }
        let fin_acked = c.has(fl::FIN_QUEUED) && c.state.fin_sent() && seq::gt(ack, c.fin_seq());
        let all_data = if fin_acked {
            acked.saturating_sub(1)
        } else {
            acked
        };
        let data_acked = all_data.min(c.snd_queued);
        // Acked bytes the host has not re-enqueued yet (just after a
        // handoff): skipped when their refs arrive, reported now.
        c.ack_debt = c.ack_debt.saturating_add(all_data - data_acked);
        let mut partial = false;
        if c.has(fl::IN_RECOVERY) {
            if seq::ge(ack, c.recover) {
                // Full ACK (RFC 6582 §3.2 step 3).
                c.clear(fl::IN_RECOVERY);
                let flight = seq::diff(c.snd_max, ack);
                let mss = u32::from(c.mss);
                c.cwnd = c.ssthresh.min(flight.max(mss) + mss);
            } else {
                // Partial ACK: deflate by the amount acked, add back one MSS,
                // retransmit the next hole (step 4).
                c.cwnd = c
                    .cwnd
                    .saturating_sub(acked)
                    .saturating_add(u32::from(c.mss))
                    .max(u32::from(c.mss));
                partial = true;
            }
        } else {
            c.cc_on_ack(acked);
        }
        c.dupacks = 0;
        self.consume_sent(c, data_acked);
        c.snd_queued -= data_acked;
        c.acked_pending = c.acked_pending.saturating_add(all_data);
        c.snd_una = ack;
        if seq::lt(c.snd_nxt, c.snd_una) {
            c.snd_nxt = c.snd_una;
        }
        c.rxt_shift = 0;
        if c.snd_una == c.snd_max {
            c.timers &= !tm::RTO;
        } else {
            arm(c, tm::RTO, now.wrapping_add(c.rto_ms()));
        }
        if partial {
            // Partial ACK: the next hole starts at the new snd_una, unless
            // SACK-driven retransmission already went past it.
            if seq::le(c.rexmit_nxt, c.snd_una) && self.retransmit_at(c, c.snd_una, io) {
                c.rexmit_nxt = c.snd_una.wrapping_add(u32::from(c.mss));
            }
        }
        if fin_acked {
            // Our FIN is done: nothing may send (or count) it again.
            c.clear(fl::FIN_QUEUED);
            match c.state {
                TcpState::FinWait1 => c.state = TcpState::FinWait2,
                TcpState::Closing => c.state = TcpState::TimeWait,
                TcpState::LastAck => return After::Closed,
                _ => {}
            }
        }
        After::Keep
    }

    fn dupack<I: Io>(&mut self, c: &mut ConnSlot, ack: u32, opts: &tcp::TcpOptions, io: &mut I) {
        c.dupacks = c.dupacks.saturating_add(1);
        let mss = u32::from(c.mss);
        if c.has(fl::IN_RECOVERY) {
            // Inflate for each segment that left the network (RFC 6582 §3.2 step 4 / RFC 5681).
            c.cwnd = c.cwnd.saturating_add(mss);
            if c.has(fl::SACK_OK) && opts.sack_count > 0 {
                self.sack_retransmit(c, opts, io);
            }
        } else if c.dupacks >= dupack_threshold(c) && seq::gt(ack, c.recover) {
            // Fast retransmit, enter NewReno fast recovery.
            c.cc_on_loss();
            c.recover = c.snd_max;
            c.cwnd = c.ssthresh.saturating_add(3 * mss);
            c.set(fl::IN_RECOVERY);
            c.clear(fl::RTT_TIMING);
            self.ctr.fast_retransmits += 1;
            self.ctr.recoveries += 1;
            self.retransmit_at(c, c.snd_una, io);
            c.rexmit_nxt = c.snd_una.wrapping_add(mss);
            arm(c, tm::RTO, self.now_ms.wrapping_add(c.rto_ms()));
        }
    }

    /// Acting on SACK (RFC 2018/6675, simplified): while in fast recovery,
    /// each duplicate ACK that reports SACK blocks retransmits the next
    /// hole below the SACKed data, so several losses in one window are
    /// repaired in about one round trip instead of one per round trip
    /// (NewReno alone).
    fn sack_retransmit<I: Io>(&mut self, c: &mut ConnSlot, opts: &tcp::TcpOptions, io: &mut I) {
        let blocks = opts.sack.get(..usize::from(opts.sack_count)).unwrap_or(&[]);
        let valid = |&&(l, r): &&(u32, u32)| {
            seq::lt(l, r) && seq::gt(l, c.snd_una) && seq::le(r, c.snd_max)
        };
        let mut next = seq::max(c.rexmit_nxt, c.snd_una);
        // Step over SACKed data at the retransmission point.
        for _ in 0..blocks.len() {
            match blocks
                .iter()
                .filter(valid)
                .find(|&&(l, r)| seq::le(l, next) && seq::lt(next, r))
            {
                Some(&(_, r)) => next = r,
                None => break,
            }
        }
        // The hole ends at the lowest SACKed byte above it.
        let Some(hole_end) = blocks
            .iter()
            .filter(valid)
            .map(|&(l, _)| l)
            .filter(|&l| seq::gt(l, next))
            .min_by_key(|&l| l.wrapping_sub(next))
        else {
            return;
        };
        let len = seq::diff(hole_end, next).min(u32::from(c.mss));
        if len > 0 && self.retransmit_at(c, next, io) {
            c.rexmit_nxt = next.wrapping_add(len);
            self.ctr.sack_retransmits += 1;
        }
    }

    /// Retransmits one segment at `at` (≥ `snd_una`) without moving
    /// `snd_nxt`.
    fn retransmit_at<I: Io>(&mut self, c: &mut ConnSlot, at: u32, io: &mut I) -> bool {
        let end = c.data_end();
        let avail = if seq::lt(at, end) {
            seq::diff(end, at)
        } else {
            0
        };
        let len = avail.min(u32::from(c.mss)).min(seq::diff(c.snd_max, at));
        let fin =
            c.has(fl::FIN_QUEUED) && c.state.fin_sent() && at.wrapping_add(len) == c.fin_seq();
        if len == 0 && !fin {
            return false;
        }
        let flags = tcp::ACK | if fin { tcp::FIN } else { 0 };
        self.send_segment(c, at, len, flags, io)
    }

    fn rx_data<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, seg: &Seg<'_>, fin: bool, io: &mut I) {
        let mut s = seg.seq;
        let mut data = seg.payload;
        let mut fin = fin;
        // Trim what we already have.
        if seq::lt(s, c.rcv_nxt) {
            let skip = seq::diff(c.rcv_nxt, s) as usize;
            if skip >= data.len() {
                let fin_at = s.wrapping_add(data.len() as u32);
                fin = fin && fin_at == c.rcv_nxt;
                data = &[];
                if !fin {
                    self.ctr.rx_dup_segs += 1;
                    c.set(fl::ACK_NOW);
                    return;
                }
            } else {
                data = data.get(skip..).unwrap_or(&[]);
            }
            s = c.rcv_nxt;
        }
        // Trim what lies beyond the advertised window (and then the FIN).
        let room = if seq::le(s, c.rcv_adv) {
            seq::diff(c.rcv_adv, s) as usize
        } else {
            0
        };
        if data.len() > room {
            data = data.get(..room).unwrap_or(&[]);
            fin = false;
        }
        if s == c.rcv_nxt {
            let mut all = true;
            if !data.is_empty() {
                let n = self.rx_in_order(c, cid, data, io);
                if n < data.len() {
                    all = false;
                    self.ctr.drop_no_staging += 1;
                    c.set(fl::ACK_NOW | fl::STAGING_FULL);
                }
                c.rcv_nxt = c.rcv_nxt.wrapping_add(n as u32);
                self.ctr.rx_bytes += n as u64;
                if seg.flags & tcp::PSH != 0 {
                    c.set(fl::PSH);
                }
                if c.ooo_head != NIL {
                    self.absorb_ooo(c);
                    c.set(fl::ACK_NOW);
                }
            }
            if fin && all {
                self.rx_fin(c);
            } else if c.has(fl::RCV_FIN_OOO) && c.rcv_fin_seq == c.rcv_nxt {
                c.clear(fl::RCV_FIN_OOO);
                self.rx_fin(c);
            }
            // Delayed ACK (RFC 1122 §4.2.3.2 / RFC 9293): at least every
            // second full segment, otherwise within DELACK_MS.
            c.segs_unacked = c.segs_unacked.saturating_add(1);
            if c.segs_unacked >= 2 || c.has(fl::ACK_NOW) {
                // Sent now rather than at the end of the step: a burst of
                // segments must not collapse into one stretch ACK, which
                // would starve the sender's ACK clock and cwnd growth.
                self.send_ack(c, io);
            } else if c.timers & tm::DELACK == 0 {
                arm(c, tm::DELACK, self.now_ms.wrapping_add(DELACK_MS));
            }
        } else {
            // Out of order: keep it (bounded) and send a duplicate ACK at once
            // so the peer's fast retransmit can trigger.
            self.ctr.rx_ooo_segs += 1;
            if !data.is_empty() {
                self.ooo_insert(c, s, data);
            }
            if fin {
                c.set(fl::RCV_FIN_OOO);
                c.rcv_fin_seq = s.wrapping_add(data.len() as u32);
            }
            c.set(fl::ACK_NOW);
        }
    }

    fn rx_fin(&mut self, c: &mut ConnSlot) {
        // Whichever copy of the FIN got here first, it is taken once.
        c.clear(fl::RCV_FIN_OOO);
        c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
        c.rcv_adv = seq::max(c.rcv_adv, c.rcv_nxt);
        c.state = match c.state {
            TcpState::Established => TcpState::CloseWait,
            TcpState::FinWait1 => TcpState::Closing,
            TcpState::FinWait2 => TcpState::TimeWait,
            s => s,
        };
        c.set(fl::FIN_EVENT | fl::ACK_NOW);
    }

    /// Accepts in-order bytes at `rcv_nxt`: straight into posted host
    /// buffers when nothing is staged ahead of them, else into staging.
    /// Returns how many were accepted.
    fn rx_in_order<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, data: &[u8], io: &mut I) -> usize {
        let mut done = 0;
        // Staged bytes go first (ordering); move them out if the host has
        // posted since, so a burst within the advertised window (which
        // counts posted space) does not overflow staging.
        if c.inq_bytes > 0 && c.post_free > 0 {
            self.drain_inq(c, cid, io);
        }
        if c.inq_bytes == 0 {
            // Common case: the segment fits in the open posted buffer
            // without filling it (no event due): one DMA and bookkeeping.
            if let Some(b) = self.refs.get_mut(c.post_head) {
                let n = data.len() as u32;
                if n < b.len.saturating_sub(b.used) {
                    if io
                        .dma_write(b.addr.wrapping_add(u64::from(b.used)), data)
                        .is_err()
                    {
                        self.ctr.dma_errors += 1;
                        return 0;
                    }
                    b.used += n;
                    c.post_free = c.post_free.saturating_sub(n);
                    c.rcv_unread = c.rcv_unread.saturating_add(n);
                    self.ctr.dma_write_bytes += u64::from(n);
                    return data.len();
                }
            }
            done = self.write_posted(c, cid, data, io);
        }
        if done < data.len() {
            done += self.stage_inq(c, data.get(done..).unwrap_or(&[]));
        }
        done
    }

    /// DMA into the posted buffers, announcing each buffer as it fills.
    fn write_posted<I: Io>(
        &mut self,
        c: &mut ConnSlot,
        cid: u32,
        data: &[u8],
        io: &mut I,
    ) -> usize {
        let mut done = 0;
        while done < data.len() {
            let h = c.post_head;
            let Some(b) = self.refs.get_mut(h) else { break };
            let room = b.len.saturating_sub(b.used) as usize;
            let n = room.min(data.len() - done);
            let src = data.get(done..done + n).unwrap_or(&[]);
            if io
                .dma_write(b.addr.wrapping_add(u64::from(b.used)), src)
                .is_err()
            {
                self.ctr.dma_errors += 1;
                break;
            }
            self.ctr.dma_write_bytes += n as u64;
            b.used += n as u32;
            done += n;
            c.post_free = c.post_free.saturating_sub(n as u32);
            c.rcv_unread = c.rcv_unread.saturating_add(n as u32);
            if b.used >= b.len {
                let (addr, used, rep, next) = (b.addr, b.used, b.reported, b.next);
                let flags = if done == data.len() && c.has(fl::PSH) {
                    MSG_PSH
                } else {
                    0
                };
                if used > rep {
                    emit(
                        &mut self.ctr,
                        io,
                        &Event::Recv {
                            cid,
                            addr: addr.wrapping_add(u64::from(rep)),
                            len: (used - rep) as u16,
                            flags,
                        },
                    );
                }
                c.post_head = next;
                if next == NIL {
                    c.post_tail = NIL;
                }
                self.refs.free(h);
            }
        }
        done
    }

    /// Appends in-order bytes to the staging queue, filling the tail chunk
    /// first. Returns how many fit.
    fn stage_inq(&mut self, c: &mut ConnSlot, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let tail = c.inq_tail;
            let room = match self.chunks.get(tail) {
                Some(m) => CHUNK_BYTES - usize::from(m.off) - usize::from(m.len),
                None => 0,
            };
            if room == 0 {
                if c.chunks_held >= self.stage_cap {
                    break;
                }
                let Some(k) = self.chunks.alloc() else { break };
                c.chunks_held += 1;
                if let Some(m) = self.chunks.get_mut(k) {
                    *m = ChunkMeta {
                        next: NIL,
                        seq: c.rcv_nxt.wrapping_add(done as u32),
                        len: 0,
                        off: 0,
                    };
                }
                match self.chunks.get_mut(tail) {
                    Some(t) => t.next = k,
                    None => c.inq_head = k,
                }
                c.inq_tail = k;
                continue;
            }
            let n = room.min(data.len() - done);
            let Some(m) = self.chunks.get_mut(tail) else {
                break;
            };
            let at = tail as usize * CHUNK_BYTES + usize::from(m.off) + usize::from(m.len);
            let (Some(dst), Some(src)) =
                (self.staging.get_mut(at..at + n), data.get(done..done + n))
            else {
                break;
            };
            dst.copy_from_slice(src);
            m.len += n as u16;
            done += n;
            c.inq_bytes += n as u32;
        }
        done
    }

    /// Inserts out-of-order bytes into the sorted, disjoint OOO list,
    /// storing only the parts not already held.
    fn ooo_insert(&mut self, c: &mut ConnSlot, mut s: u32, mut data: &[u8]) {
        let mut prev = NIL;
        let mut cur = c.ooo_head;
        while !data.is_empty() {
            // Skip chunks entirely before s.
            while let Some(m) = self.chunks.get(cur) {
                if seq::le(m.seq.wrapping_add(u32::from(m.len)), s) {
                    prev = cur;
                    cur = m.next;
                } else {
                    break;
                }
            }
            let end = s.wrapping_add(data.len() as u32);
            let (piece_end, overlap) = match self.chunks.get(cur) {
                Some(m) if seq::lt(m.seq, end) => {
                    (if seq::lt(s, m.seq) { m.seq } else { s }, Some(*m))
                }
                _ => (end, None),
            };
            if seq::lt(s, piece_end) {
                let n = seq::diff(piece_end, s) as usize;
                let Some(piece) = data.get(..n) else { return };
                match self.new_chunks(c, s, piece, &mut prev, cur) {
                    Some(()) => {}
                    None => {
                        self.ctr.drop_ooo_no_staging += 1;
                        c.set(fl::STAGING_FULL);
                        return;
                    }
                }
                data = data.get(n..).unwrap_or(&[]);
                s = piece_end;
            }
            if let Some(m) = overlap {
                // Skip the bytes the existing chunk already holds.
                let m_end = m.seq.wrapping_add(u32::from(m.len));
                let skip = if seq::lt(s, m_end) {
                    seq::diff(m_end, s) as usize
                } else {
                    0
                };
                if skip >= data.len() {
                    return;
                }
                data = data.get(skip..).unwrap_or(&[]);
                s = m_end;
                prev = cur;
                cur = m.next;
            }
        }
    }

    /// Allocates chunks for `data` at `s` and links them between `prev` and
    /// `cur`; `prev` ends at the last new chunk.
    fn new_chunks(
        &mut self,
        c: &mut ConnSlot,
        mut s: u32,
        data: &[u8],
        prev: &mut u32,
        cur: u32,
    ) -> Option<()> {
        for piece in data.chunks(CHUNK_BYTES) {
            if c.chunks_held >= self.stage_cap {
                return None;
            }
            let k = self.chunks.alloc()?;
            c.chunks_held += 1;
            let at = k as usize * CHUNK_BYTES;
            if let Some(dst) = self.staging.get_mut(at..at + piece.len()) {
                dst.copy_from_slice(piece);
            }
            if let Some(m) = self.chunks.get_mut(k) {
                *m = ChunkMeta {
                    next: cur,
                    seq: s,
                    len: piece.len() as u16,
                    off: 0,
                };
            }
            match self.chunks.get_mut(*prev) {
                Some(p) => p.next = k,
                None => c.ooo_head = k,
            }
            *prev = k;
            s = s.wrapping_add(piece.len() as u32);
        }
        Some(())
    }

    /// Moves OOO chunks that `rcv_nxt` has reached onto the in-order queue
    /// (no copy: the chunk itself moves), advancing `rcv_nxt`.
    fn absorb_ooo(&mut self, c: &mut ConnSlot) {
        while let Some(m) = self.chunks.get(c.ooo_head).copied() {
            if seq::gt(m.seq, c.rcv_nxt) {
                break;
            }
            let k = c.ooo_head;
            c.ooo_head = m.next;
            let end = m.seq.wrapping_add(u32::from(m.len));
            if seq::le(end, c.rcv_nxt) {
                self.chunks.free(k);
                c.chunks_held = c.chunks_held.saturating_sub(1);
                continue;
            }
            let trim = seq::diff(c.rcv_nxt, m.seq) as u16;
            let len = m.len - trim;
            if let Some(mm) = self.chunks.get_mut(k) {
                *mm = ChunkMeta {
                    next: NIL,
                    seq: c.rcv_nxt,
                    len,
                    off: m.off + trim,
                };
            }
            match self.chunks.get_mut(c.inq_tail) {
                Some(t) => t.next = k,
                None => c.inq_head = k,
            }
            c.inq_tail = k;
            c.inq_bytes += u32::from(len);
            c.rcv_nxt = c.rcv_nxt.wrapping_add(u32::from(len));
            self.ctr.rx_bytes += u64::from(len);
        }
        c.rcv_adv = seq::max(c.rcv_adv, c.rcv_nxt);
        // A FIN held out of order is not taken here: the caller (rx_data)
        // does that once, after the segment's own FIN. Taking it here too
        // counted the FIN twice when a segment carrying data and FIN filled
        // the hole below an out-of-order FIN (Linux collapsing retransmits
        // does exactly this), and rcv_nxt then acked a byte never sent.
    }

    /// Copies staged in-order data into posted buffers.
    fn drain_inq<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, io: &mut I) {
        while c.post_free > 0 {
            let k = c.inq_head;
            let Some(m) = self.chunks.get(k).copied() else {
                break;
            };
            let start = k as usize * CHUNK_BYTES + usize::from(m.off);
            // Move the bytes through the tx scratch so staging and the
            // posted-buffer bookkeeping are not borrowed at once.
            let n = usize::from(m.len).min(self.tx.len());
            let (Some(src), Some(tmp)) = (self.staging.get(start..start + n), self.tx.get_mut(..n))
            else {
                break;
            };
            tmp.copy_from_slice(src);
            let tmp = core::mem::take(&mut self.tx);
            let w = self.write_posted(c, cid, tmp.get(..n).unwrap_or(&[]), io);
            self.tx = tmp;
            c.inq_bytes = c.inq_bytes.saturating_sub(w as u32);
            if w >= usize::from(m.len) {
                c.inq_head = m.next;
                if m.next == NIL {
                    c.inq_tail = NIL;
                }
                self.chunks.free(k);
                c.chunks_held = c.chunks_held.saturating_sub(1);
            } else {
                if let Some(mm) = self.chunks.get_mut(k) {
                    mm.off += w as u16;
                    mm.len -= w as u16;
                    mm.seq = mm.seq.wrapping_add(w as u32);
                }
                break;
            }
        }
    }

    /// Before a connection leaves the NIC: whatever is still staged goes
    /// to the host inline (`recv_data`; the host appends it to its receive
    /// queue, so it counts as unread there), then the peer's FIN if it is
    /// still to be reported.
    fn hand_over_staged<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, io: &mut I) {
        let mut k = c.inq_head;
        while let Some(m) = self.chunks.get(k).copied() {
            let start = k as usize * CHUNK_BYTES + usize::from(m.off);
            let data = self
                .staging
                .get(start..start + usize::from(m.len))
                .unwrap_or(&[]);
            emit(&mut self.ctr, io, &Event::RecvData { cid, data });
            c.rcv_unread = c.rcv_unread.saturating_add(u32::from(m.len));
            c.inq_bytes = c.inq_bytes.saturating_sub(u32::from(m.len));
            let next = m.next;
            c.inq_head = next;
            self.chunks.free(k);
            c.chunks_held = c.chunks_held.saturating_sub(1);
            k = next;
        }
        c.inq_tail = NIL;
        if c.has(fl::FIN_EVENT) {
            c.clear(fl::FIN_EVENT);
            emit(
                &mut self.ctr,
                io,
                &Event::Ctrl {
                    cid,
                    ev: CtrlEvent::PeerFin,
                    arg: 0,
                },
            );
        }
    }

    /// Frees send refs covering `n` newly acknowledged bytes.
    fn consume_sent(&mut self, c: &mut ConnSlot, mut n: u32) {
        while n > 0 {
            let h = c.sref_head;
            let Some(r) = self.refs.get(h) else { break };
            let left = r.len.saturating_sub(c.sref_head_off);
            if n < left {
                c.sref_head_off += n;
                break;
            }
            n -= left;
            c.sref_head = r.next;
            c.sref_head_off = 0;
            if c.sref_head == NIL {
                c.sref_tail = NIL;
            }
            if c.cur_ref == h {
                c.cur_ref = NIL;
            }
            self.refs.free(h);
        }
    }

    /// What the host and the NIC can absorb right now.
    fn rcv_space(&self, c: &ConnSlot) -> u32 {
        let host = c
            .rcv_buf
            .saturating_sub(c.rcv_unread)
            .saturating_sub(c.inq_bytes);
        let stage = u32::from(self.stage_cap.saturating_sub(c.chunks_held)) * CHUNK_BYTES as u32;
        host.min(c.post_free.saturating_add(stage))
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// Per-step work for a dirty connection.
    fn flush<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, io: &mut I) -> After {
        if c.inq_bytes > 0 && c.post_free > 0 {
            self.drain_inq(c, cid, io);
        }
        self.report(c, cid, io);
        if c.has(fl::WND_UPDATE) {
            c.clear(fl::WND_UPDATE);
            let space = self.rcv_space(c);
            let cur = if seq::lt(c.rcv_adv, c.rcv_nxt) {
                0
            } else {
                seq::diff(c.rcv_adv, c.rcv_nxt)
            };
            let mss = u32::from(c.mss);
            if space >= cur.saturating_add(2 * mss)
                || (cur < mss && space >= mss.min(c.rcv_buf / 2))
            {
                c.set(fl::ACK_NOW);
            }
        }
        self.output(c, io);
        After::Keep
    }

    /// Emits `recv` for partly filled buffers, the coalesced `ack`, and the
    /// peer-FIN notification once all data before it is with the host.
    fn report<I: Io>(&mut self, c: &mut ConnSlot, cid: u32, io: &mut I) {
        if let Some(b) = self.refs.get_mut(c.post_head) {
            if b.used > b.reported {
                let flags = if c.has(fl::PSH) { MSG_PSH } else { 0 };
                let ev = Event::Recv {
                    cid,
                    addr: b.addr.wrapping_add(u64::from(b.reported)),
                    len: (b.used - b.reported) as u16,
                    flags,
                };
                b.reported = b.used;
                c.clear(fl::PSH);
                emit(&mut self.ctr, io, &ev);
            }
        }
        if c.acked_pending > 0 {
            emit(
                &mut self.ctr,
                io,
                &Event::Ack {
                    cid,
                    len: c.acked_pending,
                },
            );
            c.acked_pending = 0;
        }
        if c.has(fl::STAGING_FULL) {
            c.clear(fl::STAGING_FULL);
            let free = u64::from(self.chunks.free_count) * CHUNK_BYTES as u64;
            emit(
                &mut self.ctr,
                io,
                &Event::Resource {
                    cid,
                    kind: ResourceKind::Staging,
                    num: free,
                },
            );
        }
        if c.has(fl::FIN_EVENT) && c.inq_bytes == 0 {
            c.clear(fl::FIN_EVENT);
            emit(
                &mut self.ctr,
                io,
                &Event::Ctrl {
                    cid,
                    ev: CtrlEvent::PeerFin,
                    arg: 0,
                },
            );
        }
    }

    /// Transmits whatever the send and congestion windows allow, then a pure
    /// ACK if one is owed and no segment carried it.
    fn output<I: Io>(&mut self, c: &mut ConnSlot, io: &mut I) {
        let mss = u32::from(c.mss);
        loop {
            let end = c.data_end();
            let avail = if seq::lt(c.snd_nxt, end) {
                seq::diff(end, c.snd_nxt)
            } else {
                0
            };
            let fin_due = c.has(fl::FIN_QUEUED) && c.snd_nxt == c.fin_seq();
            let flight = c.flight();
            let usable = c.snd_wnd.min(c.cwnd).saturating_sub(flight);
            let len = avail.min(mss).min(usable);
            if len == 0 && !(fin_due && avail == 0 && (usable > 0 || c.snd_wnd == 0 && flight == 0))
            {
                break;
            }
            if len > 0 && len < mss {
                if len < avail {
                    // Sender SWS avoidance (RFC 1122 §4.2.3.4).
                    if len < c.max_snd_wnd / 2 && flight > 0 {
                        break;
                    }
                } else if !(c.has(fl::NODELAY) || flight == 0 || c.has(fl::FIN_QUEUED))
                    && c.snd_nxt == c.snd_max
                {
                    // Nagle (RFC 896): one small segment in flight at a time.
                    break;
                }
            }
            let fin = c.has(fl::FIN_QUEUED) && c.snd_nxt.wrapping_add(len) == c.fin_seq();
            let mut flags = tcp::ACK;
            if fin {
                flags |= tcp::FIN;
            }
            if len > 0 && len == avail {
                flags |= tcp::PSH;
            }
            let new_data = c.snd_nxt == c.snd_max;
            if !self.send_segment(c, c.snd_nxt, len, flags, io) {
                break;
            }
            if new_data && !c.has(fl::TS_OK) && !c.has(fl::RTT_TIMING) && len > 0 {
                c.set(fl::RTT_TIMING);
                c.rtt_seq = c.snd_nxt;
                c.rtt_ms = self.now_ms;
            }
            c.snd_nxt = c.snd_nxt.wrapping_add(len + u32::from(fin));
            c.snd_max = seq::max(c.snd_max, c.snd_nxt);
            if fin {
                c.state = match c.state {
                    TcpState::Established => TcpState::FinWait1,
                    TcpState::CloseWait => TcpState::LastAck,
                    s => s,
                };
            }
            if c.timers & tm::RTO == 0 {
                arm(c, tm::RTO, self.now_ms.wrapping_add(c.rto_ms()));
            }
            if fin {
                break;
            }
        }
        if c.has(fl::ACK_NOW) {
            self.send_ack(c, io);
        }
        // Zero window with data waiting and nothing in flight: probe
        // (RFC 9293 §3.8.6.1).
        let end = c.data_end();
        let waiting =
            seq::lt(c.snd_nxt, end) || (c.has(fl::FIN_QUEUED) && c.snd_nxt == c.fin_seq());
        if waiting && c.snd_wnd == 0 && c.flight() == 0 && c.timers & tm::PERSIST == 0 {
            // Also when an RTO pulled snd_nxt back to a window that closed
            // with data unacked: the retransmission timer would only fire
            // without sending anything, so a lost window update left both
            // sides silent until the connection timed out. As BSD's
            // tcp_output does, the persist timer takes over; its probes make
            // the peer repeat its window.
            c.timers &= !tm::RTO;
            arm(c, tm::PERSIST, self.now_ms.wrapping_add(c.rto_ms()));
        }
    }

    /// A pure ACK carries `snd_max`, not `snd_nxt` (as BSD does): after an
    /// RTO pulls `snd_nxt` back, an ACK numbered below the peer's `rcv_nxt`
    /// would be discarded as an old duplicate, and two stacks that both went
    /// back could then drop each other's ACKs forever.
    fn send_ack<I: Io>(&mut self, c: &mut ConnSlot, io: &mut I) {
        self.ctr.tx_acks += 1;
        self.send_segment(c, c.snd_max, 0, tcp::ACK, io);
    }

    fn send_rst<I: Io>(&mut self, c: &mut ConnSlot, io: &mut I) {
        self.ctr.tx_rsts += 1;
        self.send_segment(c, c.snd_max, 0, tcp::RST | tcp::ACK, io);
    }

    /// RFC 5961 §7: rate-limited ACK in response to suspicious RST/SYN/ACK.
    fn challenge_ack<I: Io>(&mut self, c: &mut ConnSlot, io: &mut I) {
        let now = self.now_ms;
        if now.wrapping_sub(self.challenge_ms) >= 1000 {
            self.challenge_ms = now;
            self.challenge_n = 0;
        }
        if self.challenge_n < CHALLENGE_LIMIT {
            self.challenge_n += 1;
            self.ctr.challenge_acks += 1;
            self.send_segment(c, c.snd_max, 0, tcp::ACK, io);
        }
    }

    /// Builds and transmits one segment: headers into the tx scratch,
    /// payload DMA'd from the send refs, checksum over the whole segment.
    fn send_segment<I: Io>(
        &mut self,
        c: &mut ConnSlot,
        seq_no: u32,
        len: u32,
        flags: u8,
        io: &mut I,
    ) -> bool {
        let ip_len = if c.key.v6 {
            ipv6::HEADER_LEN
        } else {
            ipv4::HEADER_LEN
        };
        let ts = c.has(fl::TS_OK);
        let tcp_len = tcp::HEADER_LEN + if ts { 12 } else { 0 };
        let off_tcp = ethernet::HEADER_LEN + ip_len;
        let off_pay = off_tcp + tcp_len;
        let len = len as usize;
        let total = off_pay + len;
        if total > self.tx.len() {
            return false;
        }
        if len > 0 {
            let tx = core::mem::take(&mut self.tx);
            let ok = match tx.get_mut(off_pay..total) {
                Some(buf) => self.read_sent(c, seq_no, buf, io),
                None => false,
            };
            self.tx = tx;
            if !ok {
                self.ctr.dma_errors += 1;
                return false;
            }
        }
        let window = if flags & tcp::RST != 0 {
            0
        } else {
            c.window_field(self.rcv_space_of(c))
        };
        let Some(frame) = self.tx.get_mut(..total) else {
            return false;
        };
        let seg_len = (tcp_len + len) as u16;
        let tsopt = if ts {
            Some((c.ts_val(self.now_ms), c.ts_recent))
        } else {
            None
        };
        let t = tcp::TcpRepr {
            src_port: c.key.local_port,
            dst_port: c.key.remote_port,
            seq: seq_no,
            ack: c.rcv_nxt,
            flags,
            window,
            ts: tsopt,
        };
        let pseudo = if c.key.v6 {
            let eth = ethernet::EthernetRepr {
                src: c.local_mac,
                dst: c.remote_mac,
                ethertype: ethernet::ETHERTYPE_IPV6,
            };
            let _ = eth.emit(frame);
            let r = ipv6::Ipv6Repr {
                src: c.key.local_addr,
                dst: c.key.remote_addr,
                next_header: ipv4::PROTO_TCP,
                payload_len: seg_len,
                hop_limit: c.ttl,
                traffic_class: c.tos,
            };
            let _ = r.emit(frame.get_mut(ethernet::HEADER_LEN..).unwrap_or(&mut []));
            checksum::pseudo_v6(
                &c.key.local_addr,
                &c.key.remote_addr,
                ipv4::PROTO_TCP,
                u32::from(seg_len),
            )
        } else {
            // IPv4 (the common case): Ethernet and IP headers written as one
            // 34-byte array, the IP checksum from five 32-bit words.
            let Some(h) = frame
                .get_mut(..ethernet::HEADER_LEN + ipv4::HEADER_LEN)
                .and_then(|h| <&mut [u8; 34]>::try_from(h).ok())
            else {
                return false;
            };
            self.ip_id = self.ip_id.wrapping_add(1);
            let [d0, d1, d2, d3, d4, d5] = c.remote_mac;
            let [m0, m1, m2, m3, m4, m5] = c.local_mac;
            let [t0, t1] = (seg_len + ipv4::HEADER_LEN as u16).to_be_bytes();
            let [i0, i1] = self.ip_id.to_be_bytes();
            let a = &c.key.local_addr;
            let b = &c.key.remote_addr;
            *h = [
                d0,
                d1,
                d2,
                d3,
                d4,
                d5,
                m0,
                m1,
                m2,
                m3,
                m4,
                m5,
                0x08,
                0x00, //
                0x45,
                c.tos,
                t0,
                t1,
                i0,
                i1,
                0x40,
                0,
                c.ttl,
                ipv4::PROTO_TCP,
                0,
                0, //
                a[0],
                a[1],
                a[2],
                a[3],
                b[0],
                b[1],
                b[2],
                b[3],
            ];
            if let Some(ip) = h
                .get_mut(ethernet::HEADER_LEN..)
                .and_then(|x| <&mut [u8; 20]>::try_from(x).ok())
            {
                let csum = !checksum::sum20(ip);
                ip[10..12].copy_from_slice(&csum.to_be_bytes());
            }
            checksum::pseudo_v4(
                &[a[0], a[1], a[2], a[3]],
                &[b[0], b[1], b[2], b[3]],
                ipv4::PROTO_TCP,
                seg_len,
            )
        };
        let seg = frame.get_mut(off_tcp..).unwrap_or(&mut []);
        let _ = t.emit(seg);
        tcp::fill_checksum(seg, pseudo);
        if !io.transmit(frame) {
            self.ctr.tx_ring_full += 1;
        }
        self.ctr.tx_segs += 1;
        self.ctr.tx_bytes += len as u64;
        if len > 0 {
            c.note_tx(self.now_ms);
        }
        if len > 0 && seq::lt(seq_no, c.snd_max) {
            self.ctr.retransmits += 1;
            c.total_retrans = c.total_retrans.wrapping_add(1);
        }
        if flags & tcp::ACK != 0 {
            c.last_ack_sent = c.rcv_nxt;
            c.segs_unacked = 0;
            c.timers &= !tm::DELACK;
            c.clear(fl::ACK_NOW);
        }
        true
    }

    #[inline]
    fn rcv_space_of(&self, c: &ConnSlot) -> u32 {
        self.rcv_space(c)
    }

    /// DMA-reads the send data starting at `seq_no` into `buf`, walking the
    /// send refs from the transmit cursor (or the head).
    fn read_sent<I: Io>(
        &mut self,
        c: &mut ConnSlot,
        seq_no: u32,
        buf: &mut [u8],
        io: &mut I,
    ) -> bool {
        let (mut r, mut rseq) = if c.cur_ref != NIL && seq::le(c.cur_seq, seq_no) {
            (c.cur_ref, c.cur_seq)
        } else {
            (c.sref_head, c.snd_una.wrapping_sub(c.sref_head_off))
        };
        let mut filled = 0;
        let mut s = seq_no;
        while filled < buf.len() {
            let Some(b) = self.refs.get(r) else {
                return false;
            };
            let rend = rseq.wrapping_add(b.len);
            if seq::le(rend, s) {
                r = b.next;
                rseq = rend;
                continue;
            }
            let off = seq::diff(s, rseq);
            let n = ((b.len - off) as usize).min(buf.len() - filled);
            let Some(dst) = buf.get_mut(filled..filled + n) else {
                return false;
            };
            if io
                .dma_read(b.addr.wrapping_add(u64::from(off)), dst)
                .is_err()
            {
                return false;
            }
            self.ctr.dma_read_bytes += n as u64;
            filled += n;
            s = s.wrapping_add(n as u32);
            if filled < buf.len() {
                r = b.next;
                rseq = rend;
            }
        }
        c.cur_ref = r;
        c.cur_seq = rseq;
        true
    }

    // ------------------------------------------------------------------
    // Timers
    // ------------------------------------------------------------------

    fn on_timer<I: Io>(&mut self, c: &mut ConnSlot, _cid: u32, io: &mut I) -> After {
        let now = self.now_ms;
        let due = |timers: u8, bit: u8, at: u32| timers & bit != 0 && seq::le(at, now);
        if due(c.timers, tm::DELACK, c.delack_at) {
            c.timers &= !tm::DELACK;
            self.ctr.delack_fired += 1;
            c.set(fl::ACK_NOW);
        }
        if due(c.timers, tm::RTO, c.rto_at) {
            c.timers &= !tm::RTO;
            if c.snd_una != c.snd_max {
                // RFC 6298 §5.4-5.7 with RFC 5681 §3.1 loss response.
                if c.rxt_shift >= MAX_RETRIES {
                    return After::TimedOut;
                }
                self.ctr.rto_fired += 1;
                c.cc_on_loss();
                c.cwnd = u32::from(c.mss);
                c.rxt_shift += 1;
                c.clear(fl::IN_RECOVERY | fl::RTT_TIMING);
                c.dupacks = 0;
                c.recover = c.snd_max;
                c.snd_nxt = c.snd_una;
                arm(c, tm::RTO, now.wrapping_add(c.rto_ms()));
            }
        }
        if due(c.timers, tm::PERSIST, c.persist_at) {
            c.timers &= !tm::PERSIST;
            if c.snd_wnd == 0 {
                if c.rxt_shift >= MAX_RETRIES {
                    return After::TimedOut;
                }
                self.ctr.persist_probes += 1;
                self.send_segment(c, c.snd_una.wrapping_sub(1), 0, tcp::ACK, io);
                c.rxt_shift = c.rxt_shift.saturating_add(1);
                arm(c, tm::PERSIST, now.wrapping_add(c.rto_ms()));
            }
        }
        if due(c.timers, tm::KEEP, c.keep_at) {
            c.timers &= !tm::KEEP;
            if c.has(fl::KEEPALIVE) {
                let idle = now.wrapping_sub(c.last_rx_ms);
                if idle >= c.keep_idle_ms {
                    if c.keep_sent >= c.keep_cnt {
                        return After::TimedOut;
                    }
                    self.ctr.keepalive_probes += 1;
                    self.send_segment(c, c.snd_una.wrapping_sub(1), 0, tcp::ACK, io);
                    c.keep_sent += 1;
                    arm(c, tm::KEEP, now.wrapping_add(c.keep_intvl_ms));
                } else {
                    arm(c, tm::KEEP, c.last_rx_ms.wrapping_add(c.keep_idle_ms));
                }
            }
        }
        After::Keep
    }
}

/// Duplicate ACKs that trigger fast retransmit: 3 (RFC 5681), fewer when
/// so little is in flight that three can never arrive and nothing new is
/// waiting to go (early retransmit, RFC 5827): otherwise every loss in a
/// small window would wait for the retransmission timer.
fn dupack_threshold(c: &ConnSlot) -> u8 {
    let mss = u32::from(c.mss).max(1);
    let flight_segs = seq::diff(c.snd_max, c.snd_una).div_ceil(mss);
    let unsent = c.snd_queued.saturating_sub(seq::diff(c.snd_max, c.snd_una));
    if flight_segs < 4 && unsent == 0 {
        flight_segs.saturating_sub(1).clamp(1, 3) as u8
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_and_hot_structs_are_small() {
        // The kernel stack is 16 KiB: nothing the engine builds or returns
        // by value may be large.
        assert!(
            core::mem::size_of::<Engine<'static>>() <= 1024,
            "{}",
            core::mem::size_of::<Engine<'static>>()
        );
        assert!(core::mem::size_of::<Snapshot>() <= 256);
        assert!(core::mem::size_of::<tcp::TcpOptions>() <= 64);
        assert!(core::mem::size_of::<Counters>() <= 1024);
    }
}
