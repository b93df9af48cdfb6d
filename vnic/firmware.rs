// SPDX-License-Identifier: GPL-2.0

//! The NIC firmware: one kthread per hnic device, pinned to its own CPU,
//! running the firmware-sim engine over the device's rings.
//!
//! Each pass of the loop moves frames host → wire (TX ring, checksum
//! completion, wire knobs), wire → lookup layer → host (RX ring, checksum
//! verification, interrupt), and runs the engine's timers. With nothing to
//! do the thread sleeps until a doorbell, the next frame due on the wire,
//! or a 100 ms housekeeping tick (carrier and knob changes).

use core::ffi::{c_int, c_void};

use kernel::alloc::{flags::GFP_KERNEL, VVec};
use kernel::prelude::*;

use super::counters::Ctr;
use super::nic::{Nic, TxDesc, FRAME_SLOT, RX_CSUM_OK};
use super::wire::WireSender;
use crate::bindings;
use crate::firmware as fw;
use crate::firmware::wire::checksum;

/// Frames moved per direction per pass, so one busy direction cannot
/// starve the other.
const BUDGET: usize = 64;
/// Longest sleep without a doorbell: carrier and knob changes are noticed
/// within this.
const HOUSEKEEPING_US: u32 = 100_000;
/// Timer resolution while offloaded connections are live.
const TIMER_TICK_US: u32 = 1_000;
/// Free event-ring slots needed to run a pass that may raise events: a
/// budget of commands or frames raises at most a few events each.
const EVT_RESERVE: u32 = 4 * BUDGET as u32;

/// The firmware's memory regions, sized by `NicMemoryLayout`.
struct NicMemory {
    conns: VVec<fw::ConnSlot>,
    lookup: VVec<fw::LookupEntry>,
    refs: VVec<fw::BufRef>,
    chunks: VVec<fw::ChunkMeta>,
    staging: VVec<u8>,
    scratch: VVec<u8>,
    wheel: VVec<u32>,
}

impl NicMemory {
    fn new(l: &fw::NicMemoryLayout) -> Result<Self> {
        Ok(NicMemory {
            conns: VVec::from_elem(fw::ConnSlot::EMPTY, l.max_conns, GFP_KERNEL)?,
            lookup: VVec::from_elem(fw::LookupEntry::default(), l.lookup_entries, GFP_KERNEL)?,
            refs: VVec::from_elem(fw::BufRef::EMPTY, l.refs, GFP_KERNEL)?,
            chunks: VVec::from_elem(fw::ChunkMeta::EMPTY, l.chunks, GFP_KERNEL)?,
            staging: VVec::from_elem(0u8, l.staging_bytes, GFP_KERNEL)?,
            scratch: VVec::from_elem(0u8, l.scratch_bytes, GFP_KERNEL)?,
            wheel: VVec::from_elem(0u32, l.wheel_slots, GFP_KERNEL)?,
        })
    }

    /// The regions as the engine's arena.
    ///
    /// # Safety
    ///
    /// The returned slices alias `self`'s buffers: the caller must drop
    /// everything that holds them before `self`, and must not touch `self`
    /// meanwhile. (`Firmware` declares `engine` before `memory`, so it is
    /// dropped first.)
    unsafe fn arena(&mut self) -> fw::Arena<'static> {
        // SAFETY: each VVec's heap buffer stays put while the VVec is
        // neither grown nor dropped, which the contract guarantees.
        unsafe {
            fw::Arena {
                conns: core::slice::from_raw_parts_mut(self.conns.as_mut_ptr(), self.conns.len()),
                lookup: core::slice::from_raw_parts_mut(
                    self.lookup.as_mut_ptr(),
                    self.lookup.len(),
                ),
                refs: core::slice::from_raw_parts_mut(self.refs.as_mut_ptr(), self.refs.len()),
                chunks: core::slice::from_raw_parts_mut(
                    self.chunks.as_mut_ptr(),
                    self.chunks.len(),
                ),
                staging: core::slice::from_raw_parts_mut(
                    self.staging.as_mut_ptr(),
                    self.staging.len(),
                ),
                scratch: core::slice::from_raw_parts_mut(
                    self.scratch.as_mut_ptr(),
                    self.scratch.len(),
                ),
                wheel: core::slice::from_raw_parts_mut(self.wheel.as_mut_ptr(), self.wheel.len()),
            }
        }
    }
}

/// State only the firmware thread touches.
pub(crate) struct Firmware {
    // Declared before `memory`: it borrows it and must be dropped first.
    engine: fw::Engine<'static>,
    memory: NicMemory,
    wire: WireSender,
    /// Where a TX frame is assembled ("fetched by DMA") before the wire.
    frame: VVec<u8>,
    /// Events were posted since the last interrupt.
    evt_posted: bool,
    /// When the engine's timers last ran (ns).
    last_poll_ns: u64,
}

impl Firmware {
    pub(crate) fn new(nic_mem: usize, seed: u64) -> Result<Self> {
        let layout = fw::NicMemoryLayout::for_size(nic_mem).map_err(|_| EINVAL)?;
        let mut memory = NicMemory::new(&layout)?;
        // SAFETY: `memory` moves into the same `Firmware` as the engine and
        // outlives it (field order); nothing else touches it.
        let arena = unsafe { memory.arena() };
        let now_us = now_ns() / 1000;
        let engine = fw::Engine::new(layout, arena, seed as u32, now_us).map_err(|_| EINVAL)?;
        Ok(Firmware {
            engine,
            memory,
            wire: WireSender::new(seed ^ now_ns(), FRAME_SLOT)?,
            frame: VVec::from_elem(0u8, FRAME_SLOT, GFP_KERNEL)?,
            evt_posted: false,
            last_poll_ns: 0,
        })
    }

    /// Replaces the engine with a fresh one over the same memory: every
    /// offloaded connection's state is gone (the `fail` knob).
    fn reset_engine(&mut self) {
        let layout = *self.engine.layout();
        // SAFETY: the old engine, the only other user of `memory`, is
        // overwritten right below and never used again; the new one takes
        // its place (same field, same drop order).
        let arena = unsafe { self.memory.arena() };
        if let Ok(e) = fw::Engine::new(layout, arena, now_ns() as u32, now_ns() / 1000) {
            self.engine = e;
        }
    }

    /// The oldest frame waiting on this NIC's wire queue.
    fn wire_head(nic: &Nic) -> Option<super::ring::FrameDesc> {
        // SAFETY: `Firmware` is only used by the firmware thread of `nic`,
        // the single consumer of its wire queue.
        unsafe { nic.wire_in.peek() }
    }

    /// Is there anything to do at `now`? Includes a carrier that no longer
    /// matches the ends' state and knobs (noticed on a doorbell or, for
    /// knob writes, which ring none, at the next housekeeping tick).
    fn has_work(&self, nic: &Nic, now: u64) -> bool {
        carrier_wanted(nic) != carrier_ok(nic)
            || nic.dump_conns.load(core::sync::atomic::Ordering::Relaxed) != 0
            || nic.fail.load(core::sync::atomic::Ordering::Relaxed) == 1
            // The engine's timers (retransmission, delayed ACK, keepalive)
            // run on a 1 ms tick while it holds connections.
            || (self.engine.live_conns() > 0 && now.saturating_sub(self.last_poll_ns) >= u64::from(TIMER_TICK_US) * 1000)
            || (!nic.cmd.is_empty() && nic.evt.free() >= EVT_RESERVE)
            || (nic.tx.used() > 0 && nic.peer().map_or(true, |p| !p.wire_in.is_full_for_sender()))
            || Self::wire_head(nic).is_some_and(|d| d.due_ns <= now)
            || self.wire.held_deadline().is_some_and(|t| t <= now)
    }

    /// How long to sleep at `now`, in jiffies.
    fn sleep_jiffies(&self, nic: &Nic, now: u64) -> i64 {
        let mut until_us = HOUSEKEEPING_US as u64;
        if let Some(d) = Self::wire_head(nic) {
            until_us = until_us.min(d.due_ns.saturating_sub(now) / 1000);
        }
        if let Some(t) = self.wire.held_deadline() {
            until_us = until_us.min(t.saturating_sub(now) / 1000);
        }
        if self.engine.live_conns() > 0 {
            until_us = until_us.min(TIMER_TICK_US as u64);
        }
        // SAFETY: pure conversion.
        let j = unsafe { bindings::handoff_usecs_to_jiffies(until_us as u32) };
        j.max(1) as i64
    }

    /// One pass of the firmware loop.
    fn run(&mut self, nic: &Nic, now: u64) {
        let link_up = self.update_carrier(nic);
        // Events are never dropped for want of room: work that can raise
        // them (commands, received frames) waits while the event ring is
        // nearly full, until NAPI has taken events off.
        self.engine.set_pressure_slots(
            nic.pressure_slots
                .load(core::sync::atomic::Ordering::Relaxed),
        );
        let evt_room = nic.evt.free() >= EVT_RESERVE;
        if evt_room {
            self.commands(nic, now);
        } else {
            nic.ctr.inc(Ctr::FwEvtBackpressure);
        }
        self.transmit(nic, link_up, now);
        let delivered = if evt_room { self.receive(nic, now) } else { 0 };
        if self.engine.live_conns() > 0 && nic.evt.free() >= EVT_RESERVE {
            self.last_poll_ns = now;
            let Firmware {
                engine,
                wire,
                evt_posted,
                ..
            } = self;
            let mut io = FwIo {
                nic,
                wire,
                now_ns: now,
                evt_posted,
            };
            engine.poll(now / 1000, &mut io);
        }
        if delivered > 0 || self.evt_posted {
            self.evt_posted = false;
            nic.interrupt();
        }
        // Whatever reached the peer's wire this pass -- the host's frames,
        // the engine's own segments, released held-back frames -- wakes it
        // once (without it the engine's segments waited for the peer's
        // housekeeping tick).
        if self.wire.take_landed() {
            if let Some(p) = nic.peer() {
                p.doorbell();
            }
        }
        nic.live_conns.store(
            self.engine.live_conns() as u32,
            core::sync::atomic::Ordering::Relaxed,
        );
        if nic.fail.load(core::sync::atomic::Ordering::Relaxed) == 1 {
            // Injected failure: the engine loses every connection's state.
            nic.fail.store(2, core::sync::atomic::Ordering::Relaxed);
            self.reset_engine();
        }
        if nic
            .dump_conns
            .swap(0, core::sync::atomic::Ordering::Relaxed)
            != 0
        {
            super::offload::dump(nic, |cid| self.engine.peek(cid));
        }
        let ctr = self.engine.counters();
        for (i, slot) in nic.fw_tcp.iter().enumerate() {
            slot.store(
                ctr.get(i).unwrap_or(0),
                core::sync::atomic::Ordering::Relaxed,
            );
        }
    }

    /// OS -> NIC: executes the command ring's messages.
    fn commands(&mut self, nic: &Nic, now: u64) {
        let Firmware {
            engine,
            wire,
            evt_posted,
            ..
        } = self;
        for _ in 0..BUDGET {
            let mut io = FwIo {
                nic,
                wire,
                now_ns: now,
                evt_posted,
            };
            // SAFETY: the firmware thread is the command ring's single
            // consumer.
            let done = unsafe {
                nic.cmd
                    .pop_with(|msg, _| engine.command(now / 1000, msg, &mut io))
            };
            match done {
                None => break,
                Some(Ok(_)) => nic.ctr.inc(Ctr::FwCmdOk),
                Some(Err(fw::CmdError::Malformed(_))) => nic.ctr.inc(Ctr::FwCmdMalformed),
                Some(Err(fw::CmdError::Refused(_))) => nic.ctr.inc(Ctr::FwCmdRefused),
            }
        }
    }

    /// Carrier follows both ends being up and neither link knob down.
    fn update_carrier(&mut self, nic: &Nic) -> bool {
        let up = carrier_wanted(nic);
        // SAFETY: `dev` is registered while the firmware runs; carrier
        // changes may be made from any context.
        unsafe {
            if up != carrier_ok(nic) {
                if up {
                    bindings::netif_carrier_on(nic.dev);
                } else {
                    bindings::netif_carrier_off(nic.dev);
                    self.wire.drop_held();
                }
            }
        }
        up
    }

    /// Host → wire.
    fn transmit(&mut self, nic: &Nic, link_up: bool, now: u64) {
        let peer = nic.peer();
        let mut moved = 0;
        while moved < BUDGET {
            // Backpressure: leave frames in the TX ring (which then stops
            // the queue) rather than drop them when the wire is full.
            if let Some(p) = peer {
                if link_up && p.wire_in.is_full_for_sender() {
                    break;
                }
            }
            // SAFETY: the firmware thread is the TX ring's single consumer.
            let Some(TxDesc(skb)) = (unsafe { nic.tx.pop() }) else {
                break;
            };
            moved += 1;
            let sent = match peer {
                Some(p) if link_up => self.transmit_one(nic, p, skb, now),
                _ => {
                    nic.ctr.inc(Ctr::FwTxLinkDown);
                    false
                }
            };
            // SAFETY: the TX ring handed us ownership of `skb`. Frames that
            // did not make it onto the wire are freed as drops.
            unsafe {
                if sent {
                    bindings::handoff_dev_consume_skb_any(skb);
                } else {
                    bindings::handoff_dev_kfree_skb_any(skb);
                }
            }
        }
        if moved > 0 {
            // Pairs with the fence in `hnic_start_xmit`: either it sees the
            // room we made, or we see the queue it stopped.
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            // SAFETY: `dev` is registered while the firmware runs. Waking
            // the queue raises NET_TX; with softirqs off around it, they run
            // here rather than waiting for ksoftirqd.
            unsafe {
                if bindings::handoff_netif_queue_stopped(nic.dev) && !nic.tx.is_full() {
                    bindings::handoff_local_bh_disable();
                    bindings::handoff_netif_wake_queue(nic.dev);
                    bindings::handoff_local_bh_enable();
                }
            }
        }
        if let Some(p) = peer {
            self.wire
                .release_held(&nic.faults, &p.wire_in, &nic.ctr, now, false);
        }
    }

    /// Copies one frame out of host memory onto the wire; `false` if it
    /// could not be sent (counted).
    fn transmit_one(
        &mut self,
        nic: &Nic,
        peer: &Nic,
        skb: *mut bindings::sk_buff,
        now: u64,
    ) -> bool {
        // SAFETY: we own `skb` (from the TX ring) until we free it.
        let len = unsafe { (*skb).len } as usize;
        let Some(frame) = self.frame.get_mut(..len) else {
            nic.ctr.inc(Ctr::FwTxTooBig);
            return false;
        };
        // SAFETY: `frame` has room for `len` bytes, the skb's length.
        let err =
            unsafe { bindings::skb_copy_bits(skb, 0, frame.as_mut_ptr().cast(), len as c_int) };
        if err != 0 {
            nic.ctr.inc(Ctr::FwTxTooBig);
            return false;
        }
        nic.ctr.add(Ctr::TxDmaBytes, len as u64);
        // SAFETY: reading checksum metadata of an skb we own.
        let partial =
            unsafe { bindings::handoff_skb_ip_summed(skb) } == bindings::CHECKSUM_PARTIAL as u8;
        if partial {
            // SAFETY: as above.
            let (start, off) = unsafe {
                (
                    bindings::handoff_skb_checksum_start_offset(skb),
                    bindings::handoff_skb_csum_offset(skb),
                )
            };
            if complete_checksum(frame, start as usize, off as usize) {
                nic.ctr.inc(Ctr::TxCsumPartial);
            }
        }
        self.wire
            .send(frame, &nic.faults, &peer.wire_in, &nic.ctr, now);
        true
    }

    /// Wire → lookup layer → host. Returns frames delivered to the RX ring.
    fn receive(&mut self, nic: &Nic, now: u64) -> usize {
        let running = nic.running();
        let mut delivered = 0;
        let mut taken = 0;
        let Firmware {
            engine,
            wire,
            evt_posted,
            ..
        } = self;
        while taken < BUDGET {
            match Self::wire_head(nic) {
                Some(d) if d.due_ns <= now => {}
                _ => break,
            }
            taken += 1;
            let mut io = FwIo {
                nic,
                wire,
                now_ns: now,
                evt_posted,
            };
            // SAFETY: the firmware thread is its wire queue's single
            // consumer.
            let ok = unsafe {
                nic.wire_in.pop_with(|frame, _| {
                    nic.ctr.inc(Ctr::WireRxFrames);
                    if !running {
                        nic.ctr.inc(Ctr::FwRxDevDown);
                        return false;
                    }
                    match engine.receive(now / 1000, frame, &mut io) {
                        fw::Verdict::PassThrough => deliver(nic, frame),
                        fw::Verdict::Consumed => {
                            nic.ctr.inc(Ctr::FwConsumed);
                            false
                        }
                        fw::Verdict::Dropped => {
                            nic.ctr.inc(Ctr::FwDropped);
                            false
                        }
                    }
                })
            };
            if ok == Some(true) {
                delivered += 1;
            }
        }
        // Room on the wire again: a sender held back by backpressure may go.
        if taken > 0 {
            if let Some(p) = nic.peer() {
                if p.tx.used() > 0 {
                    p.doorbell();
                }
            }
        }
        delivered
    }
}

/// Carrier wanted: both ends up, neither end's `link_down` knob set.
fn carrier_wanted(nic: &Nic) -> bool {
    nic.running()
        && !nic.faults.link_down()
        && nic
            .peer()
            .is_some_and(|p| p.running() && !p.faults.link_down())
}

fn carrier_ok(nic: &Nic) -> bool {
    // SAFETY: `dev` is registered while its firmware runs.
    unsafe { bindings::handoff_netif_carrier_ok(nic.dev) }
}

/// Hands a pass-through frame to the host's RX ring. Only the firmware
/// thread of `nic` calls this (it is the RX ring's producer).
fn deliver(nic: &Nic, frame: &[u8]) -> bool {
    nic.ctr.inc(Ctr::FwPassThrough);
    let flags = match l4_checksum_ok(frame) {
        Some(true) => {
            nic.ctr.inc(Ctr::FwRxCsumOk);
            RX_CSUM_OK
        }
        Some(false) => {
            nic.ctr.inc(Ctr::FwRxCsumBad);
            0
        }
        None => 0,
    };
    // SAFETY: called only from `nic`'s firmware thread (see above), the RX
    // ring's single producer.
    if unsafe { nic.rx.push(frame, flags, 0) } {
        nic.ctr.inc(Ctr::RxDesc);
        nic.ctr.add(Ctr::RxDmaBytes, frame.len() as u64);
        true
    } else {
        nic.ctr.inc(Ctr::FwRxRingFull);
        false
    }
}

/// Completes a CHECKSUM_PARTIAL frame: the stack seeded the field with the
/// pseudo-header sum; the device sums from `start` to the end.
fn complete_checksum(frame: &mut [u8], start: usize, off: usize) -> bool {
    let Some(field) = start.checked_add(off) else {
        return false;
    };
    if field + 2 > frame.len() || start > frame.len() {
        return false;
    }
    let mut sum = checksum::checksum(&frame[start..]);
    if sum == 0 {
        sum = 0xffff; // a computed zero is sent as all-ones (RFC 768)
    }
    frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// Verifies the TCP/UDP checksum of an Ethernet frame, if it carries one
/// the firmware understands (no IPv4 fragments, no IPv6 extension headers).
fn l4_checksum_ok(frame: &[u8]) -> Option<bool> {
    use crate::firmware::wire::{ethernet, ipv4, ipv6};
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    let (pseudo, proto, l4) = match eth.ethertype() {
        0x0800 => {
            let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
            if ip.is_fragment() {
                return None;
            }
            let l4 = ip.payload_slice();
            let proto = ip.protocol();
            (
                checksum::pseudo_v4(&ip.src_addr(), &ip.dst_addr(), proto, l4.len() as u16),
                proto,
                l4,
            )
        }
        0x86dd => {
            let ip = ipv6::Packet::new_checked(eth.payload()).ok()?;
            let l4 = ip.payload_slice();
            let proto = ip.next_header();
            (
                checksum::pseudo_v6(&ip.src_addr(), &ip.dst_addr(), proto, l4.len() as u32),
                proto,
                l4,
            )
        }
        _ => return None,
    };
    match proto {
        TCP if l4.len() >= 20 => {}
        // An IPv4 UDP checksum of zero means "none".
        UDP if l4.len() >= 8 && !(eth.ethertype() == 0x0800 && l4[6] == 0 && l4[7] == 0) => {}
        _ => return None,
    }
    Some(checksum::add(pseudo, l4) == 0xffff)
}

/// What the engine reaches: host memory (the copy engine), the wire and
/// the event ring.
struct FwIo<'a> {
    nic: &'a Nic,
    wire: &'a mut WireSender,
    now_ns: u64,
    evt_posted: &'a mut bool,
}

impl fw::HostMemory for FwIo<'_> {
    // Host buffers reach the NIC only through `send`/`post` commands of the
    // bypass layer; `offload.rs` resolves and checks every address.
    fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> core::result::Result<(), fw::DmaError> {
        super::offload::dma_read(self.nic, addr, buf).map_err(|_| fw::DmaError)
    }

    fn dma_write(&mut self, addr: u64, data: &[u8]) -> core::result::Result<(), fw::DmaError> {
        super::offload::dma_write(self.nic, addr, data).map_err(|_| fw::DmaError)
    }
}

impl fw::NicPort for FwIo<'_> {
    fn transmit(&mut self, frame: &[u8]) -> bool {
        match self.nic.peer() {
            Some(p) if !p.wire_in.is_full_for_sender() => {
                self.wire.send(
                    frame,
                    &self.nic.faults,
                    &p.wire_in,
                    &self.nic.ctr,
                    self.now_ns,
                );
                true
            }
            _ => false,
        }
    }

    fn pass_through(&mut self, frame: &[u8]) {
        deliver(self.nic, frame);
    }

    fn event(&mut self, ev: &fw::Event<'_>) {
        // SAFETY: `FwIo` only exists on the firmware thread of `nic`, the
        // event ring's single producer.
        let posted = unsafe { self.nic.evt.push_with(|slot| ev.encode(slot).ok()) };
        if posted {
            self.nic.ctr.inc(Ctr::RxEvt);
            self.nic.ctr.add(Ctr::RxEvtBytes, ev.encoded_len() as u64);
            *self.evt_posted = true;
        } else {
            self.nic.ctr.inc(Ctr::FwEvtRingFull);
        }
    }
}

fn now_ns() -> u64 {
    crate::sys::time::ktime_ns()
}

/// The firmware thread.
///
/// # Safety
///
/// `data` is the `Nic` that started this thread, alive until
/// `Nic::stop_firmware` has returned.
pub(crate) unsafe extern "C" fn fw_main(data: *mut c_void) -> c_int {
    // SAFETY: by the function's contract.
    let nic = unsafe { &*data.cast::<Nic>() };
    // SAFETY: this is the firmware thread of `nic`, the only user of its
    // firmware state while it runs.
    let fw = unsafe { nic.firmware() };
    loop {
        // SAFETY: plain task-state and scheduling calls on the current task.
        unsafe { bindings::handoff_set_current_state_interruptible() };
        // Checked after setting the state: kthread_stop's wake-up cannot be
        // lost between the check and the sleep.
        // SAFETY: we are a kthread.
        if unsafe { bindings::kthread_should_stop() } {
            // SAFETY: as above.
            unsafe { bindings::handoff_set_current_state_running() };
            break;
        }
        let now = now_ns();
        if !fw.has_work(nic, now) {
            // SAFETY: sleeping in TASK_INTERRUPTIBLE set above.
            unsafe { bindings::schedule_timeout(fw.sleep_jiffies(nic, now)) };
            nic.ctr.add(Ctr::FwIdleNs, now_ns().saturating_sub(now));
            continue;
        }
        // SAFETY: as above.
        unsafe { bindings::handoff_set_current_state_running() };
        fw.run(nic, now);
        nic.ctr.inc(Ctr::FwWakeups);
        nic.ctr.add(Ctr::FwBusyNs, now_ns().saturating_sub(now));
        // SAFETY: may sleep; we hold no locks.
        unsafe { bindings::handoff_cond_resched() };
    }
    0
}
