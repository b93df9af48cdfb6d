//! Test harness: a simulated wire, a smoltcp peer, and a model of the host's
//! bypass layer driving the firmware through its ring messages.
//!
//! Everything is deterministic: time is simulated and every random choice
//! (loss, duplication, jitter) comes from a seeded xorshift generator.
#![allow(dead_code, clippy::too_many_arguments)]

use std::cell::Cell;
use std::collections::VecDeque;

use firmware_sim::memory::{BufRef, ChunkMeta, NicMemoryLayout, WHEEL_SLOTS};
use firmware_sim::msg::{
    errno, Command, CtrlCmd, CtrlEvent, HostEvent, Refusal, ResourceKind, RestoreReason, MSG_PSH,
};
use firmware_sim::snapshot::{SnapFlags, Snapshot, TcpState};
use firmware_sim::wire::{checksum, tcp};
use firmware_sim::{Arena, ConnSlot, DmaError, Engine, Event, HostMemory, LookupEntry, NicPort};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp as stcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

pub const ENGINE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const ENGINE_V4: [u8; 4] = [198, 18, 0, 1];
pub const PEER_V4: [u8; 4] = [198, 18, 0, 2];
pub const ENGINE_V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const PEER_V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
pub const ENGINE_PORT: u16 = 80;

thread_local! {
    static SIM_MS: Cell<u32> = const { Cell::new(0) };
}

fn smoltcp_tsval() -> u32 {
    // smoltcp's clock for timestamps, offset so it differs from ours.
    SIM_MS.with(|c| c.get()).wrapping_add(0x1000_0000)
}

/// xorshift64* — tiny, seeded, good enough for fault injection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability ppm / 1e6.
    pub fn chance(&mut self, ppm: u32) -> bool {
        self.below(1_000_000) < u64::from(ppm)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// One direction of the simulated wire.
#[derive(Debug, Clone, Copy)]
pub struct LinkCfg {
    pub delay_us: u64,
    /// Extra random delay in [0, jitter): reorders frames.
    pub jitter_us: u64,
    pub loss_ppm: u32,
    pub dup_ppm: u32,
    /// Bits per second (serialization delay).
    pub rate_bps: u64,
}

impl Default for LinkCfg {
    fn default() -> Self {
        LinkCfg {
            delay_us: 1000,
            jitter_us: 0,
            loss_ppm: 0,
            dup_ppm: 0,
            rate_bps: 100_000_000,
        }
    }
}

impl LinkCfg {
    pub fn lossy(loss_pct: u32) -> Self {
        LinkCfg {
            loss_ppm: loss_pct * 10_000,
            ..Self::default()
        }
    }
}

/// Frames in flight in one direction, delivered by due time (ties in the
/// order they were sent).
#[derive(Debug)]
pub struct DueQueue<T> {
    frames: Vec<(u64, u64, T)>,
    sent: u64,
}

impl<T> DueQueue<T> {
    pub fn new() -> Self {
        DueQueue {
            frames: Vec::new(),
            sent: 0,
        }
    }

    pub fn push(&mut self, due: u64, frame: T) {
        self.sent += 1;
        self.frames.push((due, self.sent, frame));
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// Frames due by `now`, in delivery order.
    pub fn take_due(&mut self, now: u64) -> Vec<T> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.frames.len() {
            if self.frames[i].0 <= now {
                due.push(self.frames.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|d| (d.0, d.1));
        due.into_iter().map(|d| d.2).collect()
    }

    /// The first `n` frames in delivery order, due or not.
    pub fn take_first(&mut self, n: usize) -> Vec<T> {
        self.frames.sort_by_key(|d| (d.0, d.1));
        let n = n.min(self.frames.len());
        self.frames.drain(..n).map(|d| d.2).collect()
    }
}

impl<T> Default for DueQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Default)]
pub struct Link {
    pub cfg: LinkCfg,
    q: DueQueue<Vec<u8>>,
    busy_until: u64,
    pub dropped: u64,
    pub sent: u64,
}

impl Link {
    pub fn new(cfg: LinkCfg) -> Self {
        Link {
            cfg,
            ..Default::default()
        }
    }
    pub fn send(&mut self, now: u64, frame: Vec<u8>, rng: &mut Rng) {
        self.sent += 1;
        let start = self.busy_until.max(now);
        self.busy_until = start + (frame.len() as u64 * 8 * 1_000_000) / self.cfg.rate_bps.max(1);
        if rng.chance(self.cfg.loss_ppm) {
            self.dropped += 1;
            return;
        }
        let at = self.busy_until + self.cfg.delay_us + rng.below(self.cfg.jitter_us);
        if rng.chance(self.cfg.dup_ppm) {
            self.q.push(at + rng.below(1000), frame.clone());
        }
        self.q.push(at, frame);
    }
    pub fn take_due(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.q.take_due(now)
    }
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// smoltcp device backed by two queues.
#[derive(Default)]
pub struct SimDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<Vec<u8>>,
}

pub struct RxTok(Vec<u8>);
pub struct TxTok<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        self.0.push(b);
        r
    }
}

impl Device for SimDevice {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;
    fn receive(&mut self, _t: Instant) -> Option<(RxTok, TxTok<'_>)> {
        let f = self.rx.pop_front()?;
        Some((RxTok(f), TxTok(&mut self.tx)))
    }
    fn transmit(&mut self, _t: Instant) -> Option<TxTok<'_>> {
        Some(TxTok(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

/// An event as the host decoded it from the event ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    HandoffDone {
        cookie: u64,
        result: Result<u32, Refusal>,
    },
    Restore {
        cid: u32,
        cookie: u64,
        reason: RestoreReason,
        snap: Snapshot,
    },
    Recv {
        cid: u32,
        addr: u64,
        len: u16,
        flags: u8,
    },
    Ack {
        cid: u32,
        len: u64,
    },
    Ctrl {
        cid: u32,
        ev: CtrlEvent,
        arg: u64,
    },
    Resource {
        cid: u32,
        kind: ResourceKind,
        num: u64,
    },
    RecvData {
        cid: u32,
        data: Vec<u8>,
    },
    Info {
        cid: u32,
        cookie: u64,
        snap: Snapshot,
    },
}

/// Host memory plus the NIC's ports as seen from the host. Events go
/// through the real binary encoding.
pub struct Host {
    pub mem: Vec<u8>,
    pub tx: Vec<Vec<u8>>,
    pub events: Vec<OwnedEvent>,
    pub passed: Vec<Vec<u8>>,
    pub tx_full: bool,
}

impl Host {
    pub fn new(mem_bytes: usize) -> Self {
        Host {
            mem: vec![0; mem_bytes],
            tx: Vec::new(),
            events: Vec::new(),
            passed: Vec::new(),
            tx_full: false,
        }
    }
}

impl HostMemory for Host {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let a = usize::try_from(addr).map_err(|_| DmaError)?;
        let src = self
            .mem
            .get(a..a.checked_add(buf.len()).ok_or(DmaError)?)
            .ok_or(DmaError)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        let a = usize::try_from(addr).map_err(|_| DmaError)?;
        let dst = self
            .mem
            .get_mut(a..a.checked_add(data.len()).ok_or(DmaError)?)
            .ok_or(DmaError)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

impl NicPort for Host {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        if self.tx_full {
            return false;
        }
        self.tx.push(frame.to_vec());
        true
    }
    fn pass_through(&mut self, frame: &[u8]) {
        self.passed.push(frame.to_vec());
    }
    fn event(&mut self, ev: &Event<'_>) {
        let mut buf = vec![0u8; ev.encoded_len()];
        let n = ev.encode(&mut buf).expect("encode");
        let (he, m) = HostEvent::decode(&buf[..n]).expect("decode own event");
        assert_eq!(m, n);
        self.events.push(match he {
            HostEvent::HandoffDone { cookie, result } => OwnedEvent::HandoffDone { cookie, result },
            HostEvent::Restore {
                cid,
                cookie,
                reason,
                snap,
            } => OwnedEvent::Restore {
                cid,
                cookie,
                reason,
                snap,
            },
            HostEvent::Recv {
                cid,
                addr,
                len,
                flags,
            } => OwnedEvent::Recv {
                cid,
                addr,
                len,
                flags,
            },
            HostEvent::Ack { cid, len } => OwnedEvent::Ack { cid, len },
            HostEvent::Ctrl { cid, ev, arg } => OwnedEvent::Ctrl { cid, ev, arg },
            HostEvent::Resource { cid, kind, num } => OwnedEvent::Resource { cid, kind, num },
            HostEvent::RecvData { cid, data } => OwnedEvent::RecvData {
                cid,
                data: data.to_vec(),
            },
            HostEvent::Info { cid, cookie, snap } => OwnedEvent::Info { cid, cookie, snap },
        });
    }
}

/// Leaked arena so an `Engine<'static>` can live in a struct.
pub fn leak_engine(layout: NicMemoryLayout, seed: u32, now_us: u64) -> Engine<'static> {
    let arena = Arena {
        conns: Box::leak(vec![ConnSlot::EMPTY; layout.max_conns].into_boxed_slice()),
        lookup: Box::leak(vec![LookupEntry::default(); layout.lookup_entries].into_boxed_slice()),
        refs: Box::leak(vec![BufRef::EMPTY; layout.refs].into_boxed_slice()),
        chunks: Box::leak(vec![ChunkMeta::EMPTY; layout.chunks].into_boxed_slice()),
        staging: Box::leak(vec![0u8; layout.staging_bytes].into_boxed_slice()),
        scratch: Box::leak(vec![0u8; layout.scratch_bytes].into_boxed_slice()),
        wheel: Box::leak(vec![0u32; WHEEL_SLOTS].into_boxed_slice()),
    };
    Engine::new(layout, arena, seed, now_us).expect("engine")
}

pub fn small_layout() -> NicMemoryLayout {
    NicMemoryLayout::with_counts(16, 1024, 256).unwrap()
}

pub const SEND_BASE: u64 = 0x10_0000;
pub const RECV_BASE: u64 = 0x100;
pub const RECV_BUF: u32 = 4096;
pub const RECV_BUFS: u64 = 64;

/// The host's bypass layer for one offloaded connection: it owns the
/// application's data in host memory and turns events into commands.
#[derive(Debug, Default)]
pub struct Bypass {
    pub cid: Option<u32>,
    pub to_send: Vec<u8>,
    /// Offset (into `to_send`) of snd_una: everything before was acked.
    pub acked: usize,
    /// Bytes already enqueued with `send`.
    pub issued: usize,
    pub max_outstanding: usize,
    pub close_when_sent: bool,
    pub close_issued: bool,
    pub received: Vec<u8>,
    /// Posted buffers in order: (addr, len, filled).
    pub posted: VecDeque<(u64, u32, u32)>,
    pub consume: bool,
    pub unconsumed: u64,
    pub peer_fin: bool,
    pub peer_rst: bool,
    pub timed_out: bool,
    pub freed: bool,
    pub restored: Option<Snapshot>,
    pub cmds: Vec<u8>,
    pub refusals: Vec<Refusal>,
    pub resources: Vec<(ResourceKind, u64)>,
    /// `info` replies: (cid, cookie, snapshot).
    pub infos: Vec<(u32, u64, Snapshot)>,
}

impl Bypass {
    pub fn new(data: Vec<u8>) -> Self {
        Bypass {
            to_send: data,
            max_outstanding: 256 * 1024,
            consume: true,
            ..Default::default()
        }
    }

    pub fn push(&mut self, c: Command) {
        let mut b = vec![0u8; c.encoded_len()];
        c.encode(&mut b).unwrap();
        self.cmds.extend_from_slice(&b);
    }

    /// Places the data to send in host memory.
    pub fn load(&self, host: &mut Host) {
        let a = SEND_BASE as usize;
        host.mem[a..a + self.to_send.len()].copy_from_slice(&self.to_send);
    }

    /// Commands after a successful handoff: post receive buffers, re-enqueue
    /// everything from snd_una on (paper: the NIC keeps references only).
    pub fn after_handoff(&mut self, cid: u32) {
        self.cid = Some(cid);
        self.posted.clear();
        for i in 0..RECV_BUFS {
            let addr = RECV_BASE + i * u64::from(RECV_BUF);
            self.push(Command::Post {
                cid,
                addr,
                len: RECV_BUF as u16,
            });
            self.posted.push_back((addr, RECV_BUF, 0));
        }
        self.issued = self.acked;
        self.close_issued = false;
        self.pump();
    }

    /// Issues `send` commands while the outstanding budget allows.
    pub fn pump(&mut self) {
        let Some(cid) = self.cid else { return };
        while self.issued < self.to_send.len() && self.issued - self.acked < self.max_outstanding {
            let n = (self.to_send.len() - self.issued).min(4096 - (self.issued % 4096));
            let flags = if self.issued + n == self.to_send.len() {
                MSG_PSH
            } else {
                0
            };
            self.push(Command::Send {
                cid,
                addr: SEND_BASE + self.issued as u64,
                len: n as u16,
                flags,
            });
            self.issued += n;
        }
        if self.close_when_sent && self.issued == self.to_send.len() && !self.close_issued {
            self.close_issued = true;
            self.push(Command::Ctrl {
                cid,
                cmd: CtrlCmd::Close,
                arg: 0,
            });
        }
    }

    /// Applies the events the NIC raised.
    pub fn on_events(&mut self, host: &mut Host) {
        let evs = std::mem::take(&mut host.events);
        for e in evs {
            match e {
                OwnedEvent::HandoffDone { result, .. } => match result {
                    Ok(cid) => self.after_handoff(cid),
                    Err(r) => self.refusals.push(r),
                },
                OwnedEvent::Recv { cid, addr, len, .. } => {
                    assert_eq!(Some(cid), self.cid);
                    let (baddr, blen, filled) = self
                        .posted
                        .front_mut()
                        .expect("recv without a posted buffer");
                    assert_eq!(
                        addr,
                        *baddr + u64::from(*filled),
                        "recv must fill posted buffers in order"
                    );
                    *filled += u32::from(len);
                    assert!(*filled <= *blen);
                    let a = addr as usize;
                    self.received
                        .extend_from_slice(&host.mem[a..a + usize::from(len)]);
                    let full = *filled == *blen;
                    let baddr = *baddr;
                    if full {
                        self.posted.pop_front();
                    }
                    self.unconsumed += u64::from(len);
                    if full {
                        // The application has the data; recycle the buffer.
                        self.push(Command::Post {
                            cid,
                            addr: baddr,
                            len: RECV_BUF as u16,
                        });
                        self.posted.push_back((baddr, RECV_BUF, 0));
                    }
                }
                OwnedEvent::RecvData { data, .. } => {
                    self.received.extend_from_slice(&data);
                    self.unconsumed += data.len() as u64;
                }
                OwnedEvent::Ack { len, .. } => {
                    self.acked += len as usize;
                    assert!(
                        self.acked <= self.issued,
                        "acked {} > issued {}",
                        self.acked,
                        self.issued
                    );
                }
                OwnedEvent::Ctrl { ev, arg, .. } => match ev {
                    CtrlEvent::PeerFin => self.peer_fin = true,
                    CtrlEvent::PeerRst => self.peer_rst = true,
                    CtrlEvent::TimedOut => {
                        assert_eq!(arg, errno::ETIMEDOUT);
                        self.timed_out = true
                    }
                    CtrlEvent::Freed => {
                        self.freed = true;
                        self.cid = None;
                    }
                    _ => panic!("unexpected ctrl event {ev:?}"),
                },
                OwnedEvent::Resource { kind, num, .. } => self.resources.push((kind, num)),
                OwnedEvent::Restore { snap, .. } => {
                    self.restored = Some(snap);
                    self.cid = None;
                }
                // A query's answer changes nothing on the host side either.
                OwnedEvent::Info { cid, cookie, snap } => self.infos.push((cid, cookie, snap)),
            }
        }
        if self.consume && self.unconsumed > 0 {
            if let Some(cid) = self.cid {
                self.push(Command::Recvd {
                    cid,
                    len: self.unconsumed as u32,
                });
                self.unconsumed = 0;
            }
        }
        self.pump();
    }
}

/// The peer: one smoltcp interface with one TCP socket.
pub struct Peer {
    pub iface: Interface,
    pub dev: SimDevice,
    pub sockets: SocketSet<'static>,
    pub handle: SocketHandle,
    pub v6: bool,
}

impl Peer {
    pub fn new(v6: bool, rx_buf: usize, tx_buf: usize, timestamps: bool) -> Self {
        let mut dev = SimDevice::default();
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(PEER_MAC)));
        cfg.random_seed = 7;
        let mut iface = Interface::new(cfg, &mut dev, Instant::from_micros(0));
        iface.update_ip_addrs(|a| {
            if v6 {
                a.push(IpCidr::new(
                    IpAddress::from(std::net::Ipv6Addr::from(PEER_V6)),
                    64,
                ))
                .unwrap();
            } else {
                a.push(IpCidr::new(
                    IpAddress::from(std::net::Ipv4Addr::from(PEER_V4)),
                    24,
                ))
                .unwrap();
            }
        });
        let mut sock = stcp::Socket::new(
            stcp::SocketBuffer::new(vec![0; rx_buf]),
            stcp::SocketBuffer::new(vec![0; tx_buf]),
        );
        if timestamps {
            sock.set_tsval_generator(Some(smoltcp_tsval));
        }
        let mut sockets = SocketSet::new(vec![]);
        let handle = sockets.add(sock);
        Peer {
            iface,
            dev,
            sockets,
            handle,
            v6,
        }
    }

    pub fn sock(&mut self) -> &mut stcp::Socket<'static> {
        self.sockets.get_mut::<stcp::Socket>(self.handle)
    }

    pub fn poll(&mut self, now_us: u64) {
        SIM_MS.with(|c| c.set((now_us / 1000) as u32));
        self.iface.poll(
            Instant::from_micros(now_us as i64),
            &mut self.dev,
            &mut self.sockets,
        );
    }
}

/// Builds a frame from the engine's address (neighbor discovery helpers
/// and the handshake use it).
fn eth(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ENGINE_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp(op: u16, tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&ENGINE_MAC);
    p.extend_from_slice(&ENGINE_V4);
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa);
    eth(if op == 1 { [0xff; 6] } else { tha }, 0x0806, &p)
}

fn neighbor_advert(dst: [u8; 16], solicited: bool) -> Vec<u8> {
    let mut icmp = vec![136u8, 0, 0, 0];
    icmp.extend_from_slice(
        &(if solicited {
            0x6000_0000u32
        } else {
            0x2000_0000u32
        })
        .to_be_bytes(),
    );
    icmp.extend_from_slice(&ENGINE_V6);
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&ENGINE_MAC);
    let ps = checksum::pseudo_v6(&ENGINE_V6, &dst, 58, icmp.len() as u32);
    let c = !checksum::add(ps, &icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[58, 255]);
    ip.extend_from_slice(&ENGINE_V6);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&icmp);
    eth(PEER_MAC, 0x86dd, &ip)
}

/// Unsolicited announcement so the peer knows the engine's MAC.
pub fn announce(v6: bool) -> Vec<u8> {
    if v6 {
        neighbor_advert(PEER_V6, false)
    } else {
        arp(1, [0; 6], PEER_V4)
    }
}

/// Answers ARP requests / neighbor solicitations for the engine's address.
pub fn neighbor_reply(frame: &[u8]) -> Option<Vec<u8>> {
    if frame.len() < 14 {
        return None;
    }
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    if et == 0x0806 && frame.len() >= 42 && frame[20..22] == [0, 1] && frame[38..42] == ENGINE_V4 {
        let mut sha = [0u8; 6];
        sha.copy_from_slice(&frame[22..28]);
        let mut spa = [0u8; 4];
        spa.copy_from_slice(&frame[28..32]);
        return Some(arp(2, sha, spa));
    }
    if et == 0x86dd
        && frame.len() >= 14 + 40 + 24
        && frame[20] == 58
        && frame[54] == 135
        && frame[62..78] == ENGINE_V6
    {
        let mut src = [0u8; 16];
        src.copy_from_slice(&frame[22..38]);
        return Some(neighbor_advert(src, true));
    }
    None
}

pub fn is_tcp(frame: &[u8]) -> bool {
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    (et == 0x0800 && frame.get(23) == Some(&6)) || (et == 0x86dd && frame.get(20) == Some(&6))
}

/// Splits a TCP frame from the peer into (ip header bytes, tcp bytes).
fn tcp_of(frame: &[u8]) -> &[u8] {
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    if et == 0x0800 {
        let ihl = usize::from(frame[14] & 0xf) * 4;
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        &frame[14 + ihl..14 + total]
    } else {
        let pl = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
        &frame[54..54 + pl]
    }
}

/// Builds a TCP frame from the engine's side with raw option bytes (the
/// handshake needs SYN options, which the firmware never emits).
pub fn tcp_frame(
    v6: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    opts: &[u8],
    payload: &[u8],
    peer_port: u16,
) -> Vec<u8> {
    let hl = 20 + opts.len();
    assert!(hl.is_multiple_of(4));
    let mut t = vec![0u8; hl];
    t[0..2].copy_from_slice(&ENGINE_PORT.to_be_bytes());
    t[2..4].copy_from_slice(&peer_port.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = ((hl / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&window.to_be_bytes());
    t[20..].copy_from_slice(opts);
    t.extend_from_slice(payload);
    if v6 {
        let ps = checksum::pseudo_v6(&ENGINE_V6, &PEER_V6, 6, t.len() as u32);
        tcp::fill_checksum(&mut t, ps);
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(t.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[6, 64]);
        ip.extend_from_slice(&ENGINE_V6);
        ip.extend_from_slice(&PEER_V6);
        ip.extend_from_slice(&t);
        eth(PEER_MAC, 0x86dd, &ip)
    } else {
        let ps = checksum::pseudo_v4(&ENGINE_V4, &PEER_V4, 6, t.len() as u16);
        tcp::fill_checksum(&mut t, ps);
        let r = firmware_sim::wire::ipv4::Ipv4Repr {
            src: ENGINE_V4,
            dst: PEER_V4,
            protocol: 6,
            payload_len: t.len() as u16,
            ttl: 64,
            tos: 0,
        };
        let mut ip = vec![0u8; 20];
        r.emit(&mut ip, 1).unwrap();
        ip.extend_from_slice(&t);
        eth(PEER_MAC, 0x0800, &ip)
    }
}

/// Our handshake parameters.
pub const OUR_WSCALE: u8 = 7;
pub const OUR_MSS: u16 = 1460;
pub const RCV_BUF: u32 = 1 << 20;

/// Lets smoltcp connect to the "host" (played by this function, as the OS
/// would in a real accept), then returns the ESTABLISHED snapshot to hand off.
/// `ts_now` is the host's TSval clock at handoff time.
pub fn passive_open(
    peer: &mut Peer,
    now_us: u64,
    peer_port: u16,
    iss: u32,
    sack: bool,
) -> Snapshot {
    let v6 = peer.v6;
    let remote: IpAddress = if v6 {
        IpAddress::from(std::net::Ipv6Addr::from(ENGINE_V6))
    } else {
        IpAddress::from(std::net::Ipv4Addr::from(ENGINE_V4))
    };
    peer.dev.rx.push_back(announce(v6));
    peer.poll(now_us);
    peer.dev.tx.clear();
    let cx = peer.iface.context();
    peer.sockets
        .get_mut::<stcp::Socket>(peer.handle)
        .connect(cx, (remote, ENGINE_PORT), peer_port)
        .unwrap();
    peer.poll(now_us);
    let syn = peer
        .dev
        .tx
        .drain(..)
        .find(|f| is_tcp(f))
        .expect("SYN from smoltcp");
    let t = tcp::Packet::new_checked(tcp_of(&syn)).unwrap();
    assert_eq!(t.flags() & (tcp::SYN | tcp::ACK), tcp::SYN);
    let o = tcp::TcpOptions::parse(t.options());
    let irs = t.seq();
    let our_ts: u32 = 5000;
    // SYN-ACK with MSS, window scale, SACK-permitted and timestamps as offered.
    // Like Linux, size the MSS so that a full segment with the 12-byte
    // timestamp option still fits the MTU (smoltcp 0.12 does not subtract
    // option space from the MSS it honours, so the advertisement must).
    let ts_room: u16 = if o.ts.is_some() { 12 } else { 0 };
    let mut opts = vec![2, 4];
    opts.extend_from_slice(&(OUR_MSS - ts_room).to_be_bytes());
    if o.wscale.is_some() {
        opts.extend_from_slice(&[1, 3, 3, OUR_WSCALE]);
    }
    if o.sack_perm && sack {
        opts.extend_from_slice(&[1, 1, 4, 2]);
    }
    if let Some((tv, _)) = o.ts {
        opts.extend_from_slice(&[1, 1, 8, 10]);
        opts.extend_from_slice(&our_ts.to_be_bytes());
        opts.extend_from_slice(&tv.to_be_bytes());
    }
    while opts.len() % 4 != 0 {
        opts.push(1);
    }
    peer.dev.rx.push_back(tcp_frame(
        v6,
        iss,
        irs.wrapping_add(1),
        tcp::SYN | tcp::ACK,
        65535,
        &opts,
        &[],
        peer_port,
    ));
    peer.poll(now_us);
    let ack = peer
        .dev
        .tx
        .drain(..)
        .find(|f| is_tcp(f))
        .expect("ACK from smoltcp");
    let a = tcp::Packet::new_checked(tcp_of(&ack)).unwrap();
    assert_eq!(a.ack(), iss.wrapping_add(1));
    assert_eq!(peer.sock().state(), stcp::State::Established);
    let ao = tcp::TcpOptions::parse(a.options());
    let ws_ok = o.wscale.is_some();
    let snd_wscale = if ws_ok { o.wscale.unwrap() } else { 0 };
    let mut flags = 0;
    if o.ts.is_some() {
        flags |= SnapFlags::TIMESTAMPS;
    }
    if o.sack_perm && sack {
        flags |= SnapFlags::SACK;
    }
    let mut local_addr = [0u8; 16];
    let mut remote_addr = [0u8; 16];
    if v6 {
        local_addr = ENGINE_V6;
        remote_addr = PEER_V6;
    } else {
        local_addr[..4].copy_from_slice(&ENGINE_V4);
        remote_addr[..4].copy_from_slice(&PEER_V4);
    }
    let wnd = u32::from(a.window()) << snd_wscale;
    Snapshot {
        ip_version: if v6 { 6 } else { 4 },
        state: TcpState::Established,
        flags: SnapFlags(flags),
        local_port: ENGINE_PORT,
        remote_port: peer_port,
        local_addr,
        remote_addr,
        local_mac: ENGINE_MAC,
        remote_mac: PEER_MAC,
        ttl: 64,
        tos: 0,
        snd_wscale,
        rcv_wscale: if ws_ok { OUR_WSCALE } else { 0 },
        mss: o.mss.unwrap_or(536).min(OUR_MSS) - ts_room,
        snd_una: iss.wrapping_add(1),
        snd_nxt: iss.wrapping_add(1),
        snd_max: iss.wrapping_add(1),
        snd_wnd: wnd,
        max_snd_wnd: wnd,
        snd_wl1: a.seq(),
        snd_wl2: a.ack(),
        recover: iss,
        cwnd: 10 * u32::from(OUR_MSS),
        ssthresh: u32::MAX,
        rcv_nxt: irs.wrapping_add(1),
        rcv_buf: RCV_BUF,
        rcv_unread: 0,
        rcv_adv: irs.wrapping_add(1).wrapping_add(65535),
        ts_recent: ao.ts.map_or(0, |t| t.0),
        ts_recent_age_ms: 0,
        ts_val: our_ts + 1,
        srtt_us: 0,
        rttvar_us: 0,
        rto_us: 1_000_000,
        ..Snapshot::default()
    }
}

/// The whole simulation: engine + host bypass on one side, smoltcp on the
/// other, a lossy wire between.
pub struct World {
    pub now: u64,
    pub rng: Rng,
    pub to_peer: Link,
    pub to_nic: Link,
    pub peer: Peer,
    pub engine: Engine<'static>,
    pub host: Host,
    pub app: Bypass,
    /// Bytes smoltcp has received.
    pub peer_rx: Vec<u8>,
    /// Bytes smoltcp still has to send / has sent.
    pub peer_tx: Vec<u8>,
    pub peer_tx_off: usize,
    pub peer_reads: bool,
    pub peer_close_when_sent: bool,
    pub tick_us: u64,
    pub peer_port: u16,
    pub iss: u32,
}

pub struct WorldCfg {
    pub v6: bool,
    pub link: LinkCfg,
    pub seed: u64,
    pub to_peer: Vec<u8>,
    pub to_nic: Vec<u8>,
    pub peer_rx_buf: usize,
    pub timestamps: bool,
    /// Grant SACK-permitted. smoltcp 0.12 overflows (debug panic) building
    /// SACK blocks when our sequence numbers are >= 2^31, so tests that
    /// wrap the sequence space turn SACK off.
    pub sack: bool,
    pub iss: u32,
}

impl Default for WorldCfg {
    fn default() -> Self {
        WorldCfg {
            v6: false,
            link: LinkCfg::default(),
            seed: 1,
            to_peer: Vec::new(),
            to_nic: Vec::new(),
            peer_rx_buf: 256 * 1024,
            timestamps: true,
            sack: true,
            iss: 0x1000_0000,
        }
    }
}

impl World {
    /// Establishes the connection, hands it off, and returns the world with
    /// the engine running it.
    pub fn new(cfg: WorldCfg) -> Self {
        let mut peer = Peer::new(cfg.v6, cfg.peer_rx_buf, 256 * 1024, cfg.timestamps);
        let peer_port = 40000;
        let snap = passive_open(&mut peer, 0, peer_port, cfg.iss, cfg.sack);
        let iss = cfg.iss;
        let engine = leak_engine(small_layout(), 0x5eed, 0);
        let mut host = Host::new((SEND_BASE as usize) + cfg.to_peer.len() + 4096);
        let mut app = Bypass::new(cfg.to_peer);
        app.load(&mut host);
        app.push(Command::Handoff { cookie: 1, snap });
        let mut w = World {
            now: 0,
            rng: Rng::new(cfg.seed),
            to_peer: Link::new(cfg.link),
            to_nic: Link::new(cfg.link),
            peer,
            engine,
            host,
            app,
            peer_rx: Vec::new(),
            peer_tx: cfg.to_nic,
            peer_tx_off: 0,
            peer_reads: true,
            peer_close_when_sent: false,
            tick_us: 500,
            peer_port,
            iss,
        };
        w.tick();
        assert!(w.app.cid.is_some(), "handoff refused: {:?}", w.app.refusals);
        w
    }

    pub fn cid(&self) -> u32 {
        self.app.cid.expect("connection is offloaded")
    }

    /// One simulation tick.
    pub fn tick(&mut self) {
        self.now += self.tick_us;
        let now = self.now;
        // Peer side.
        for f in self.to_peer.take_due(now) {
            self.peer.dev.rx.push_back(f);
        }
        {
            let s = self.peer.sock();
            if s.can_send() && self.peer_tx_off < self.peer_tx.len() {
                let n = s.send_slice(&self.peer_tx[self.peer_tx_off..]).unwrap();
                self.peer_tx_off += n;
            }
        }
        if self.peer_close_when_sent && self.peer_tx_off == self.peer_tx.len() {
            self.peer.sock().close();
        }
        self.peer.poll(now);
        if self.peer_reads {
            let mut buf = vec![0u8; 65536];
            while self.peer.sock().can_recv() {
                let n = self.peer.sock().recv_slice(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                self.peer_rx.extend_from_slice(&buf[..n]);
            }
            self.peer.poll(now);
        }
        for f in std::mem::take(&mut self.peer.dev.tx) {
            if let Some(r) = neighbor_reply(&f) {
                self.peer.dev.rx.push_back(r);
                continue;
            }
            self.to_nic.send(now, f, &mut self.rng);
        }
        // NIC side.
        let frames = self.to_nic.take_due(now);
        let cmds = std::mem::take(&mut self.app.cmds);
        self.engine.step(
            now,
            frames.iter().map(|f| f.as_slice()),
            &cmds,
            &mut self.host,
        );
        for f in std::mem::take(&mut self.host.tx) {
            self.to_peer.send(now, f, &mut self.rng);
        }
        self.app.on_events(&mut self.host);
        if let Err(e) = self.engine.audit() {
            panic!("engine audit failed: {e}");
        }
    }

    /// Runs until `done` or the simulated deadline; returns whether done.
    pub fn run_until(&mut self, max_us: u64, mut done: impl FnMut(&mut World) -> bool) -> bool {
        let end = self.now + max_us;
        while self.now < end {
            self.tick();
            if done(self) {
                return true;
            }
        }
        false
    }

    /// Restore the connection from the engine and hand it to a fresh engine
    /// instance (as after a NIC reset or a move to another NIC).
    pub fn migrate(&mut self) {
        let cid = self.cid();
        self.app.push(Command::Restore { cid, cookie: 42 });
        self.tick();
        let snap = self.app.restored.take().expect("restore event");
        self.engine = leak_engine(small_layout(), 0xbeef, self.now);
        self.app.acked = (snap.snd_una.wrapping_sub(self.snd_base())) as usize;
        self.app.push(Command::Handoff { cookie: 2, snap });
        self.tick();
        assert!(self.app.cid.is_some());
    }

    /// Sequence number of the first data byte we send.
    pub fn snd_base(&self) -> u32 {
        self.iss.wrapping_add(1)
    }
}

pub fn sha(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// Builds a frame from the peer to the engine (the reverse of `tcp_frame`).
pub fn frame_to_nic(
    v6: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    opts: &[u8],
    payload: &[u8],
    peer_port: u16,
) -> Vec<u8> {
    let hl = 20 + opts.len();
    let mut t = vec![0u8; hl];
    t[0..2].copy_from_slice(&peer_port.to_be_bytes());
    t[2..4].copy_from_slice(&ENGINE_PORT.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = ((hl.div_ceil(4)) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&window.to_be_bytes());
    t[20..].copy_from_slice(opts);
    t.extend_from_slice(payload);
    let mut f = Vec::new();
    f.extend_from_slice(&ENGINE_MAC);
    f.extend_from_slice(&PEER_MAC);
    if v6 {
        let ps = checksum::pseudo_v6(&PEER_V6, &ENGINE_V6, 6, t.len() as u32);
        tcp::fill_checksum(&mut t, ps);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(t.len() as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&PEER_V6);
        f.extend_from_slice(&ENGINE_V6);
    } else {
        let ps = checksum::pseudo_v4(&PEER_V4, &ENGINE_V4, 6, t.len() as u16);
        tcp::fill_checksum(&mut t, ps);
        let r = firmware_sim::wire::ipv4::Ipv4Repr {
            src: PEER_V4,
            dst: ENGINE_V4,
            protocol: 6,
            payload_len: t.len() as u16,
            ttl: 64,
            tos: 0,
        };
        let mut ip = vec![0u8; 20];
        r.emit(&mut ip, 9).unwrap();
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&ip);
    }
    f.extend_from_slice(&t);
    f
}

/// A snapshot for engine-only tests (no smoltcp): ESTABLISHED, IPv4 or 6.
pub fn test_snapshot(v6: bool, peer_port: u16, ts: bool) -> Snapshot {
    let mut local_addr = [0u8; 16];
    let mut remote_addr = [0u8; 16];
    if v6 {
        local_addr = ENGINE_V6;
        remote_addr = PEER_V6;
    } else {
        local_addr[..4].copy_from_slice(&ENGINE_V4);
        remote_addr[..4].copy_from_slice(&PEER_V4);
    }
    Snapshot {
        ip_version: if v6 { 6 } else { 4 },
        state: TcpState::Established,
        flags: SnapFlags(if ts { SnapFlags::TIMESTAMPS } else { 0 }),
        local_port: ENGINE_PORT,
        remote_port: peer_port,
        local_addr,
        remote_addr,
        local_mac: ENGINE_MAC,
        remote_mac: PEER_MAC,
        mss: 1000,
        snd_una: 1000,
        snd_nxt: 1000,
        snd_max: 1000,
        snd_wnd: 65535,
        max_snd_wnd: 65535,
        snd_wl1: 5000,
        snd_wl2: 1000,
        recover: 999,
        cwnd: 10_000,
        rcv_nxt: 5000,
        rcv_buf: 64 * 1024,
        rcv_adv: 5000 + 65535,
        ts_recent: 100,
        ts_val: 7000,
        ..Snapshot::default()
    }
}

/// Engine with one connection handed off; returns (engine, host, cid).
pub fn engine_with_conn(snap: Snapshot) -> (Engine<'static>, Host, u32) {
    let mut e = leak_engine(small_layout(), 1, 1_000_000);
    let mut h = Host::new(1 << 20);
    let mut cmd = vec![0u8; firmware_sim::msg::SNAPSHOT_MSG_LEN];
    Command::Handoff { cookie: 3, snap }
        .encode(&mut cmd)
        .unwrap();
    e.step(1_000_000, std::iter::empty(), &cmd, &mut h);
    let cid = match h.events.remove(0) {
        OwnedEvent::HandoffDone {
            result: Ok(cid),
            cookie: 3,
        } => cid,
        other => panic!("{other:?}"),
    };
    h.events.clear();
    h.tx.clear();
    (e, h, cid)
}

pub fn enc(c: Command) -> Vec<u8> {
    let mut b = vec![0u8; c.encoded_len()];
    c.encode(&mut b).unwrap();
    b
}

pub fn ts_opt(val: u32, ecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&val.to_be_bytes());
    o.extend_from_slice(&ecr.to_be_bytes());
    o
}

/// Parses a frame the engine sent: (seq, ack, flags, window, payload len).
pub fn parse_out(frame: &[u8]) -> (u32, u32, u8, u16, usize) {
    let t = tcp::Packet::new_checked(tcp_of(frame)).unwrap();
    (t.seq(), t.ack(), t.flags(), t.window(), t.payload().len())
}
