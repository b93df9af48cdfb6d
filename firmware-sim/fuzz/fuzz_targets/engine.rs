//! Drives an engine holding two live connections (IPv4 and IPv6) with a
//! byte-coded program of frames, mutated valid segments, commands and
//! clock ticks, auditing its accounting after every step.
#![no_main]

use firmware_sim::memory::{BufRef, ChunkMeta, NicMemoryLayout, WHEEL_SLOTS};
use firmware_sim::msg::Command;
use firmware_sim::snapshot::{SnapFlags, Snapshot};
use firmware_sim::wire::{checksum, ethernet, ipv4, ipv6, tcp};
use firmware_sim::{Arena, ConnSlot, DmaError, Engine, Event, HostMemory, LookupEntry, NicPort};
use libfuzzer_sys::fuzz_target;

struct Host(Vec<u8>);

impl HostMemory for Host {
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let a = usize::try_from(addr).map_err(|_| DmaError)?;
        buf.copy_from_slice(self.0.get(a..a.checked_add(buf.len()).ok_or(DmaError)?).ok_or(DmaError)?);
        Ok(())
    }
    fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<(), DmaError> {
        let a = usize::try_from(addr).map_err(|_| DmaError)?;
        self.0.get_mut(a..a.checked_add(data.len()).ok_or(DmaError)?).ok_or(DmaError)?.copy_from_slice(data);
        Ok(())
    }
}

impl NicPort for Host {
    fn transmit(&mut self, _frame: &[u8]) -> bool {
        true
    }
    fn pass_through(&mut self, _frame: &[u8]) {}
    fn event(&mut self, ev: &Event<'_>) {
        let mut b = vec![0u8; ev.encoded_len()];
        ev.encode(&mut b).unwrap();
    }
}

const LOCAL4: [u8; 4] = [198, 18, 0, 1];
const PEER4: [u8; 4] = [198, 18, 0, 2];
const LOCAL6: [u8; 16] = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const PEER6: [u8; 16] = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn snap(v6: bool) -> Snapshot {
    let (mut l, mut r) = ([0u8; 16], [0u8; 16]);
    if v6 {
        l = LOCAL6;
        r = PEER6;
    } else {
        l[..4].copy_from_slice(&LOCAL4);
        r[..4].copy_from_slice(&PEER4);
    }
    Snapshot {
        ip_version: if v6 { 6 } else { 4 },
        flags: SnapFlags(if v6 { 0 } else { SnapFlags::TIMESTAMPS }),
        local_port: 80,
        remote_port: 40000,
        local_addr: l,
        remote_addr: r,
        mss: 1000,
        snd_una: 1000,
        snd_nxt: 1000,
        snd_max: 1000,
        snd_wnd: 65535,
        rcv_nxt: 5000,
        rcv_buf: 65536,
        rcv_adv: 5000 + 65535,
        ..Snapshot::default()
    }
}

fn segment(v6: bool, seq: u32, ack: u32, flags: u8, opts: &[u8], payload_len: usize) -> Vec<u8> {
    let tl = 20 + opts.len() / 4 * 4;
    let ip_len = if v6 { 40 } else { 20 };
    let mut f = vec![0u8; 14 + ip_len + tl + payload_len];
    let et = if v6 { ethernet::ETHERTYPE_IPV6 } else { ethernet::ETHERTYPE_IPV4 };
    ethernet::EthernetRepr { src: [2, 0, 0, 0, 0, 2], dst: [2, 0, 0, 0, 0, 1], ethertype: et }.emit(&mut f).unwrap();
    let seg_len = (tl + payload_len) as u16;
    let ps = if v6 {
        ipv6::Ipv6Repr { src: PEER6, dst: LOCAL6, next_header: 6, payload_len: seg_len, hop_limit: 64, traffic_class: 0 }.emit(&mut f[14..]).unwrap();
        checksum::pseudo_v6(&PEER6, &LOCAL6, 6, u32::from(seg_len))
    } else {
        ipv4::Ipv4Repr { src: PEER4, dst: LOCAL4, protocol: 6, payload_len: seg_len, ttl: 64, tos: 0 }.emit(&mut f[14..], 1).unwrap();
        checksum::pseudo_v4(&PEER4, &LOCAL4, 6, seg_len)
    };
    let t = &mut f[14 + ip_len..];
    tcp::TcpRepr { src_port: 40000, dst_port: 80, seq, ack, flags, window: 1000, ts: None }.emit(t).unwrap();
    t[12] = ((tl / 4) as u8) << 4;
    t[20..tl].copy_from_slice(&opts[..tl - 20]);
    tcp::fill_checksum(t, ps);
    f
}

fuzz_target!(|data: &[u8]| {
    let layout = NicMemoryLayout::with_counts(4, 64, 16).unwrap();
    let mut conns = vec![ConnSlot::EMPTY; layout.max_conns];
    let mut lookup = vec![LookupEntry::default(); layout.lookup_entries];
    let mut refs = vec![BufRef::EMPTY; layout.refs];
    let mut chunks = vec![ChunkMeta::EMPTY; layout.chunks];
    let mut staging = vec![0u8; layout.staging_bytes];
    let mut scratch = vec![0u8; layout.scratch_bytes];
    let mut wheel = vec![0u32; WHEEL_SLOTS];
    let arena = Arena { conns: &mut conns, lookup: &mut lookup, refs: &mut refs, chunks: &mut chunks, staging: &mut staging, scratch: &mut scratch, wheel: &mut wheel };
    let mut e = Engine::new(layout, arena, 7, 0).unwrap();
    let mut h = Host(vec![0u8; 1 << 16]);
    for v6 in [false, true] {
        let _ = e.execute(Command::Handoff { cookie: 0, snap: snap(v6) }, &mut h);
    }
    let mut now = 0u64;
    let mut it = data;
    while let [tag, n, rest @ ..] = it {
        let n = usize::from(*n).min(rest.len());
        let (arg, tail) = rest.split_at(n);
        it = tail;
        match tag % 4 {
            0 => {
                e.receive(now, arg, &mut h);
            }
            1 => {
                e.step(now, core::iter::empty(), arg, &mut h);
            }
            2 => now += u64::from(u16::from_le_bytes([arg.first().copied().unwrap_or(0), arg.get(1).copied().unwrap_or(0)])) * 100,
            _ => {
                let word = |i: usize| u32::from_le_bytes([0, 1, 2, 3].map(|k| arg.get(i + k).copied().unwrap_or(0)));
                let v6 = tag & 4 != 0;
                let seq = 5000u32.wrapping_add(word(0) % 140_000).wrapping_sub(70_000);
                let ack = 1000u32.wrapping_add(word(4) % 20_000).wrapping_sub(10_000);
                let flags = arg.get(8).copied().unwrap_or(0x10);
                let opts = arg.get(9..n.min(49)).unwrap_or(&[]);
                let len = (word(12) % 1500) as usize;
                e.receive(now, &segment(v6, seq, ack, flags, opts, len), &mut h);
            }
        }
        e.poll(now, &mut h);
        e.audit().unwrap();
    }
});
