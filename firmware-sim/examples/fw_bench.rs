//! Firmware instruction-count benchmark (run under callgrind by bench.sh).
//!
//! Two firmware instances, A and B, are wired back to back with N offloaded
//! connections between them; A's host streams data, B's host receives it
//! into posted buffers. After a warm-up, a measured phase runs inside
//! `bench_measured` (callgrind collects only there). Within it every call
//! into firmware A goes through `bench_step_a` and into B through
//! `bench_step_b`; the host side of each (DMA copies, frame and event
//! hand-off, which are hardware or host work in the model) goes through
//! `hosta_*` / `hostb_*`. bench.sh subtracts the host functions' inclusive
//! cost from the firmware's and divides by the packet counts printed here.
//!
//! Usage: fw_bench <conns> [measured_packets]

use std::hint::black_box;

use firmware_sim::memory::{BufRef, ChunkMeta, WHEEL_SLOTS};
use firmware_sim::msg::{Command, Event};
use firmware_sim::snapshot::{SnapFlags, Snapshot, TcpState};
use firmware_sim::{
    Arena, ConnSlot, DmaError, Engine, HostMemory, LookupEntry, NicMemoryLayout, NicPort,
};

const MSS: u16 = 1448;
const SEND_CHUNK: u16 = 16384;
const POST_LEN: u16 = 16384;

#[derive(Clone, Copy)]
enum Ev {
    Done(u32),
    Recv(u32, u64, u16),
    Ack(u32, u32),
}

struct Host {
    /// Calls made by firmware A / B: distinct side effects keep the
    /// linker from folding the hosta_* and hostb_* twins together, so
    /// callgrind can attribute them.
    calls: [u64; 2],
    mem: Vec<u8>,
    tx: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    events: Vec<Ev>,
}

impl Host {
    fn new(bytes: usize) -> Self {
        Host {
            calls: [0; 2],
            mem: vec![0x5a; bytes],
            tx: Vec::new(),
            spare: Vec::new(),
            events: Vec::new(),
        }
    }
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let a = addr as usize;
        buf.copy_from_slice(self.mem.get(a..a + buf.len()).ok_or(DmaError)?);
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        let a = addr as usize;
        self.mem
            .get_mut(a..a + data.len())
            .ok_or(DmaError)?
            .copy_from_slice(data);
        Ok(())
    }
    fn transmit(&mut self, frame: &[u8]) -> bool {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(frame);
        self.tx.push(b);
        true
    }
    fn event(&mut self, ev: &Event<'_>) {
        match *ev {
            Event::HandoffDone {
                result: Ok(cid), ..
            } => self.events.push(Ev::Done(cid)),
            Event::Recv { cid, addr, len, .. } => self.events.push(Ev::Recv(cid, addr, len)),
            Event::Ack { cid, len } => self.events.push(Ev::Ack(cid, len)),
            _ => {}
        }
    }
}

/// Host side of firmware A (excluded from the firmware count).
struct HostA(Host);
/// Host side of firmware B (excluded from the firmware count).
struct HostB(Host);

#[inline(never)]
#[no_mangle]
fn hosta_dma_read(h: &mut Host, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
    h.calls[0] += 1;
    h.read(addr, buf)
}
#[inline(never)]
#[no_mangle]
fn hosta_dma_write(h: &mut Host, addr: u64, data: &[u8]) -> Result<(), DmaError> {
    h.calls[0] += 1;
    h.write(addr, data)
}
#[inline(never)]
#[no_mangle]
fn hosta_transmit(h: &mut Host, frame: &[u8]) -> bool {
    h.calls[0] += 1;
    h.transmit(frame)
}
#[inline(never)]
#[no_mangle]
fn hosta_event(h: &mut Host, ev: &Event<'_>) {
    h.calls[0] += 1;
    h.event(ev)
}
#[inline(never)]
#[no_mangle]
fn hostb_dma_read(h: &mut Host, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
    h.calls[1] += 1;
    h.read(addr, buf)
}
#[inline(never)]
#[no_mangle]
fn hostb_dma_write(h: &mut Host, addr: u64, data: &[u8]) -> Result<(), DmaError> {
    h.calls[1] += 1;
    h.write(addr, data)
}
#[inline(never)]
#[no_mangle]
fn hostb_transmit(h: &mut Host, frame: &[u8]) -> bool {
    h.calls[1] += 1;
    h.transmit(frame)
}
#[inline(never)]
#[no_mangle]
fn hostb_event(h: &mut Host, ev: &Event<'_>) {
    h.calls[1] += 1;
    h.event(ev)
}

impl HostMemory for HostA {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        hosta_dma_read(&mut self.0, addr, buf)
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        hosta_dma_write(&mut self.0, addr, data)
    }
}
impl NicPort for HostA {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        hosta_transmit(&mut self.0, frame)
    }
    fn pass_through(&mut self, _frame: &[u8]) {}
    fn event(&mut self, ev: &Event<'_>) {
        hosta_event(&mut self.0, ev)
    }
}
impl HostMemory for HostB {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        hostb_dma_read(&mut self.0, addr, buf)
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        hostb_dma_write(&mut self.0, addr, data)
    }
}
impl NicPort for HostB {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        hostb_transmit(&mut self.0, frame)
    }
    fn pass_through(&mut self, _frame: &[u8]) {}
    fn event(&mut self, ev: &Event<'_>) {
        hostb_event(&mut self.0, ev)
    }
}

fn engine(layout: NicMemoryLayout, seed: u32) -> Engine<'static> {
    let arena = Arena {
        conns: Box::leak(vec![ConnSlot::EMPTY; layout.max_conns].into_boxed_slice()),
        lookup: Box::leak(vec![LookupEntry::default(); layout.lookup_entries].into_boxed_slice()),
        refs: Box::leak(vec![BufRef::EMPTY; layout.refs].into_boxed_slice()),
        chunks: Box::leak(vec![ChunkMeta::EMPTY; layout.chunks].into_boxed_slice()),
        staging: Box::leak(vec![0u8; layout.staging_bytes].into_boxed_slice()),
        scratch: Box::leak(vec![0u8; layout.scratch_bytes].into_boxed_slice()),
        wheel: Box::leak(vec![0u32; WHEEL_SLOTS].into_boxed_slice()),
    };
    Engine::new(layout, arena, seed, 0).expect("engine")
}

fn addr_of(i: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[198, 18, (i >> 8) as u8, i as u8]);
    a
}

/// Mirror-image snapshots for connection `i` (A sends, B receives).
fn snapshots(i: usize, rcv_buf: u32) -> (Snapshot, Snapshot) {
    let a_ip = addr_of(1);
    let b_ip = addr_of(2);
    let port_a = 10_000 + (i % 50_000) as u16;
    let port_b = 80 + (i / 50_000) as u16;
    let iss_a = 0x1000_0000u32.wrapping_add(i as u32 * 7919);
    let iss_b = 0x2000_0000u32.wrapping_add(i as u32 * 104_729);
    let promise = rcv_buf.min(posts_per_conn(rcv_buf) * u32::from(POST_LEN));
    let base = Snapshot {
        ip_version: 4,
        state: TcpState::Established,
        flags: SnapFlags(SnapFlags::TIMESTAMPS | SnapFlags::SACK),
        mss: MSS,
        snd_wscale: 7,
        rcv_wscale: 7,
        cwnd: 10 * u32::from(MSS),
        ssthresh: u32::MAX,
        rcv_buf,
        rto_us: 200_000,
        ..Snapshot::default()
    };
    let a = Snapshot {
        local_port: port_a,
        remote_port: port_b,
        local_addr: a_ip,
        remote_addr: b_ip,
        local_mac: [2, 0, 0, 0, 0, 0xa],
        remote_mac: [2, 0, 0, 0, 0, 0xb],
        snd_una: iss_a,
        snd_nxt: iss_a,
        snd_max: iss_a,
        snd_wnd: promise,
        max_snd_wnd: promise,
        snd_wl1: iss_b,
        snd_wl2: iss_a,
        recover: iss_a,
        rcv_nxt: iss_b,
        rcv_adv: iss_b.wrapping_add(rcv_buf),
        ts_val: 1,
        ts_recent: 1,
        ..base
    };
    let b = Snapshot {
        local_port: port_b,
        remote_port: port_a,
        local_addr: b_ip,
        remote_addr: a_ip,
        local_mac: [2, 0, 0, 0, 0, 0xb],
        remote_mac: [2, 0, 0, 0, 0, 0xa],
        snd_una: iss_b,
        snd_nxt: iss_b,
        snd_max: iss_b,
        snd_wnd: rcv_buf,
        max_snd_wnd: rcv_buf,
        snd_wl1: iss_a,
        snd_wl2: iss_b,
        recover: iss_b,
        rcv_nxt: iss_a,
        // The window promised at handoff is covered by the buffers the
        // host posts right after it.
        rcv_adv: iss_a.wrapping_add(promise),
        ts_val: 1,
        ts_recent: 1,
        ..base
    };
    (a, b)
}

/// Receive buffers the host keeps posted per connection: enough for the
/// whole window, so data goes straight to host memory (zero-copy receive,
/// paper §3.2) and staging is only a fallback.
fn posts_per_conn(window: u32) -> u32 {
    (window / u32::from(POST_LEN)).clamp(2, 8)
}

fn push(cmds: &mut Vec<u8>, c: Command) {
    let at = cmds.len();
    cmds.resize(at + c.encoded_len(), 0);
    c.encode(&mut cmds[at..]).expect("encode");
}

struct Bench {
    a: Engine<'static>,
    b: Engine<'static>,
    ha: HostA,
    hb: HostB,
    cmds_a: Vec<u8>,
    cmds_b: Vec<u8>,
    a_to_b: Vec<Vec<u8>>,
    b_to_a: Vec<Vec<u8>>,
    /// Per A-slot: bytes enqueued and not yet acked.
    outstanding: Vec<u32>,
    /// Per B-slot: bytes received and not yet reported consumed.
    unread: Vec<u32>,
    window: u32,
    cids_a: Vec<u32>,
    now: u64,
    send_addr: u64,
}

#[inline(never)]
#[no_mangle]
fn bench_step_a(e: &mut Engine<'static>, now: u64, frames: &[Vec<u8>], cmds: &[u8], h: &mut HostA) {
    e.step(now, frames.iter().map(|f| f.as_slice()), cmds, h);
}

#[inline(never)]
#[no_mangle]
fn bench_step_b(e: &mut Engine<'static>, now: u64, frames: &[Vec<u8>], cmds: &[u8], h: &mut HostB) {
    e.step(now, frames.iter().map(|f| f.as_slice()), cmds, h);
}

impl Bench {
    fn new(conns: usize) -> Self {
        let layout = NicMemoryLayout::for_size(firmware_sim::DEFAULT_MEMORY).expect("layout");
        assert!(layout.max_conns >= conns);
        let window = (4u32 << 20) / conns as u32;
        let window = window.clamp(16 << 10, 128 << 10);
        let mut bench = Bench {
            a: engine(layout, 1),
            b: engine(layout, 2),
            ha: HostA(Host::new(1 << 20)),
            hb: HostB(Host::new(8 * usize::from(POST_LEN) + 16)),
            cmds_a: Vec::new(),
            cmds_b: Vec::new(),
            a_to_b: Vec::new(),
            b_to_a: Vec::new(),
            outstanding: vec![0; layout.max_conns],
            unread: vec![0; layout.max_conns],
            window,
            cids_a: Vec::new(),
            now: 0,
            send_addr: 0,
        };
        for i in 0..conns {
            let (sa, sb) = snapshots(i, window);
            push(
                &mut bench.cmds_a,
                Command::Handoff {
                    cookie: i as u64,
                    snap: sa,
                },
            );
            push(
                &mut bench.cmds_b,
                Command::Handoff {
                    cookie: i as u64,
                    snap: sb,
                },
            );
        }
        bench
    }

    /// Host reactions to events: refill sends, recycle receive buffers.
    fn host_work(&mut self) {
        for ev in std::mem::take(&mut self.ha.0.events) {
            match ev {
                Ev::Done(cid) => self.cids_a.push(cid),
                Ev::Ack(cid, len) => {
                    let s = (cid & 0xff_ffff) as usize;
                    self.outstanding[s] -= len;
                    self.refill(cid);
                }
                Ev::Recv(..) => {}
            }
        }
        for ev in std::mem::take(&mut self.hb.0.events) {
            match ev {
                Ev::Done(cid) => {
                    // Every connection's buffers alias the same host pages:
                    // the benchmark measures the firmware, not the data.
                    for k in 0..u64::from(posts_per_conn(self.window)) {
                        push(
                            &mut self.cmds_b,
                            Command::Post {
                                cid,
                                addr: k * u64::from(POST_LEN),
                                len: POST_LEN,
                            },
                        );
                    }
                }
                Ev::Recv(cid, addr, len) => {
                    let s = (cid & 0xff_ffff) as usize;
                    self.unread[s] += u32::from(len);
                    // A buffer is complete when its last byte was written.
                    if (addr + u64::from(len)) % u64::from(POST_LEN) == 0 {
                        let base = addr + u64::from(len) - u64::from(POST_LEN);
                        push(
                            &mut self.cmds_b,
                            Command::Post {
                                cid,
                                addr: base,
                                len: POST_LEN,
                            },
                        );
                        push(
                            &mut self.cmds_b,
                            Command::Recvd {
                                cid,
                                len: self.unread[s],
                            },
                        );
                        self.unread[s] = 0;
                    }
                }
                Ev::Ack(..) => {}
            }
        }
    }

    fn refill(&mut self, cid: u32) {
        let s = (cid & 0xff_ffff) as usize;
        while self.outstanding[s] + u32::from(SEND_CHUNK) <= 2 * self.window {
            push(
                &mut self.cmds_a,
                Command::Send {
                    cid,
                    addr: self.send_addr,
                    len: SEND_CHUNK,
                    flags: 0,
                },
            );
            self.send_addr = (self.send_addr + u64::from(SEND_CHUNK)) % (1 << 19);
            self.outstanding[s] += u32::from(SEND_CHUNK);
        }
    }

    fn recycle(h: &mut Host, frames: &mut Vec<Vec<u8>>) {
        h.spare.append(frames);
    }

    /// One round: A runs, then B, then the hosts react.
    fn round(&mut self, measured: bool) {
        self.now += 50;
        let cmds_a = std::mem::take(&mut self.cmds_a);
        let in_a = std::mem::take(&mut self.b_to_a);
        if measured {
            bench_step_a(&mut self.a, self.now, &in_a, &cmds_a, &mut self.ha);
        } else {
            self.a.step(
                self.now,
                in_a.iter().map(|f| f.as_slice()),
                &cmds_a,
                &mut self.ha,
            );
        }
        let mut in_a = in_a;
        Self::recycle(&mut self.hb.0, &mut in_a);
        self.a_to_b = std::mem::take(&mut self.ha.0.tx);
        let cmds_b = std::mem::take(&mut self.cmds_b);
        let in_b = std::mem::take(&mut self.a_to_b);
        if measured {
            bench_step_b(&mut self.b, self.now, &in_b, &cmds_b, &mut self.hb);
        } else {
            self.b.step(
                self.now,
                in_b.iter().map(|f| f.as_slice()),
                &cmds_b,
                &mut self.hb,
            );
        }
        let mut in_b = in_b;
        Self::recycle(&mut self.ha.0, &mut in_b);
        self.b_to_a = std::mem::take(&mut self.hb.0.tx);
        self.host_work();
    }
}

#[inline(never)]
#[no_mangle]
fn bench_measured(b: &mut Bench, packets: u64) -> u64 {
    let start = b.b.counters().rx_segs;
    let mut rounds = 0;
    while b.b.counters().rx_segs - start < packets {
        b.round(true);
        rounds += 1;
    }
    black_box(rounds)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let packets: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut b = Bench::new(conns);
    // Handoffs first, then B posts its buffers, then A starts sending.
    b.round(false);
    b.round(false);
    for cid in std::mem::take(&mut b.cids_a) {
        b.refill(cid);
    }
    // Warm-up: every connection past slow start's first windows.
    let warm = (conns as u64 * 40).max(4000);
    while b.b.counters().rx_segs < warm {
        b.round(false);
    }
    let (a0, b0) = (*b.a.counters(), *b.b.counters());
    bench_measured(&mut b, packets);
    let (a1, b1) = (*b.a.counters(), *b.b.counters());
    let tx_data = (a1.tx_segs - a1.tx_acks) - (a0.tx_segs - a0.tx_acks);
    let rx_data = b1.rx_segs - b0.rx_segs;
    assert_eq!(b.a.live_conns(), conns);
    if a1.retransmits != 0 || std::env::var_os("FW_BENCH_DEBUG").is_some() {
        eprintln!("A {a1:?}\nB {b1:?}");
    }
    assert_eq!(a1.retransmits, 0, "lossless bench should not retransmit");
    println!("conns {conns}");
    println!("a_tx_data_segs {tx_data}");
    println!("a_rx_segs {}", a1.rx_segs - a0.rx_segs);
    println!("a_tx_segs {}", a1.tx_segs - a0.tx_segs);
    println!("b_rx_segs {}", b1.rx_segs - b0.rx_segs);
    println!("b_rx_data_segs {rx_data}");
    println!("b_tx_segs {}", b1.tx_segs - b0.tx_segs);
    println!("b_ev_recv {}", b1.ev_recv - b0.ev_recv);
    println!("a_ev_ack {}", a1.ev_ack - a0.ev_ack);
    println!("a_cmd_send {}", a1.cmd_send - a0.cmd_send);
}
