// SPDX-License-Identifier: GPL-2.0

//! One hnic device's NIC: its rings, its firmware thread and the firmware's
//! memory. The host side (`device.rs`) and the firmware (`firmware.rs`)
//! meet only here, through the rings and counters.
//!
//! Ring ownership (single producer / single consumer each):
//! - `tx`: produced by `ndo_start_xmit` (serialised by the TX queue lock),
//!   consumed by this NIC's firmware thread.
//! - `rx`: produced by this NIC's firmware thread, consumed by NAPI poll
//!   (one NAPI instance, never concurrent with itself).
//! - `wire_in`: produced by the *peer's* firmware thread, consumed by this
//!   NIC's firmware thread.
//! - `cmd`: produced by the host under `cmd_lock` (any number of callers),
//!   consumed by the firmware thread.
//! - `evt`: produced by the firmware thread, consumed by NAPI poll.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::error::from_err_ptr;
use kernel::prelude::*;

use super::counters::{Counters, Ctr};
use super::firmware::Firmware;
use super::offload::Offload;
use super::ring::{FrameRing, Ring};
use super::wire::Faults;
use crate::bindings;

/// Largest MTU the firmware handles (its frame slots are `FRAME_SLOT`).
pub(crate) const MAX_MTU: u32 = 9000;
/// Bytes per frame slot: MTU + Ethernet header + VLAN tag, rounded up.
pub(crate) const FRAME_SLOT: usize = 9216;
/// Ring sizes (entries, powers of two).
pub(crate) const TX_RING: u32 = 256;
pub(crate) const RX_RING: u32 = 256;
pub(crate) const WIRE_QUEUE: u32 = 512;
/// Command ring (OS -> NIC) and event ring (NIC -> OS): entries, and bytes
/// per message slot (a handoff carries a 176-byte snapshot message; a
/// recv_data event carries staged bytes).
pub(crate) const CMD_RING: u32 = 256;
pub(crate) const CMD_SLOT: usize = 256;
pub(crate) const EVT_RING: u32 = 4096;
/// An event slot holds the largest event: `recv_data` with one staging
/// chunk (16-byte header + 2048 bytes), rounded up to a cache line.
pub(crate) const EVT_SLOT: usize =
    (crate::firmware::msg::MSG_LEN + crate::firmware::memory::CHUNK_BYTES).next_multiple_of(64);

/// RX descriptor flag: the firmware verified the L4 checksum.
pub(crate) const RX_CSUM_OK: u32 = 1;

/// A frame handed to the NIC: the skb is its "DMA address".
#[derive(Clone, Copy)]
pub(crate) struct TxDesc(pub(crate) *mut bindings::sk_buff);

// SAFETY: the skb is owned by whoever holds the descriptor: the ring moves
// it from the driver to the firmware thread.
unsafe impl Send for TxDesc {}

pub(crate) struct Nic {
    pub(crate) dev: *mut bindings::net_device,
    /// The other end of the pair; null before pairing and after `unpair`.
    pub(crate) peer: AtomicPtr<Nic>,
    pub(crate) tx: Ring<TxDesc>,
    pub(crate) rx: FrameRing,
    pub(crate) wire_in: FrameRing,
    pub(crate) cmd: FrameRing,
    pub(crate) evt: FrameRing,
    /// Serialises the host's producers of `cmd`.
    cmd_lock: UnsafeCell<bindings::spinlock_t>,
    pub(crate) faults: Faults,
    pub(crate) ctr: Counters,
    /// NAPI may be scheduled ("interrupts enabled").
    pub(crate) irq_armed: AtomicBool,
    /// Connections the firmware runs, as it last published.
    pub(crate) live_conns: AtomicU32,
    task: AtomicPtr<bindings::task_struct>,
    /// Touched only by the firmware thread while it runs, and by
    /// `Nic::new`/`Drop` when it does not.
    fw: UnsafeCell<Firmware>,
    /// The firmware's NIC memory size in bytes.
    pub(crate) nic_mem: usize,
    /// Host side of the offload bus: connections by cid, DMA windows.
    pub(crate) offload: Offload,
    /// The firmware TCP engine's counters, as it last published them
    /// (`ethtool -S`: `fw_tcp_*`).
    pub(crate) fw_tcp: [AtomicU64; FW_TCP_COUNTERS],
    /// debugfs `dump_conns`: non-zero asks the firmware to log every
    /// offloaded connection's state (its and the host's view) once.
    pub(crate) dump_conns: AtomicU32,
    /// debugfs `fail`: 1 = the firmware loses its connections' state at
    /// its next pass (then 2: failed).
    pub(crate) fail: AtomicU32,
    /// debugfs `pressure_slots`: below this many free connection slots the
    /// firmware asks the host to take idle connections back (0 = never;
    /// Documentation/firmware.rst).
    pub(crate) pressure_slots: AtomicU32,
}

/// Number of firmware TCP engine counters.
pub(crate) const FW_TCP_COUNTERS: usize = crate::firmware::Counters::NAMES.len();

// SAFETY: shared state is atomics and SPSC rings (see the module docs);
// `fw` is only accessed by the firmware thread (see `Nic::firmware`).
unsafe impl Sync for Nic {}
// SAFETY: see `Sync`.
unsafe impl Send for Nic {}

impl Nic {
    /// Allocates the NIC of `dev` with `nic_mem` bytes of firmware memory.
    pub(crate) fn new(dev: *mut bindings::net_device, nic_mem: usize) -> Result<KBox<Nic>> {
        let fw = Firmware::new(nic_mem, dev as usize as u64)?;
        let layout = crate::firmware::NicMemoryLayout::for_size(nic_mem).map_err(|_| EINVAL)?;
        let per_conn = super::offload::SEND_REFS + super::offload::POST_REFS;
        let capacity = layout.max_conns.min(layout.refs / per_conn) as u32;
        // SAFETY: `init` runs below, once the NIC is at its final address.
        let offload = unsafe { Offload::new(layout.max_conns, capacity) }?;
        let nic = KBox::new(
            Nic {
                dev,
                peer: AtomicPtr::new(ptr::null_mut()),
                tx: Ring::new(TX_RING, TxDesc(ptr::null_mut()))?,
                rx: FrameRing::new(RX_RING, FRAME_SLOT)?,
                wire_in: FrameRing::new(WIRE_QUEUE, FRAME_SLOT)?,
                cmd: FrameRing::new(CMD_RING, CMD_SLOT)?,
                evt: FrameRing::new(EVT_RING, EVT_SLOT)?,
                // SAFETY: all-zero is a valid pre-init spinlock_t; it is
                // initialised below, at its final address, before any use.
                cmd_lock: UnsafeCell::new(unsafe { core::mem::zeroed() }),
                faults: Faults::new(),
                ctr: Counters::new(),
                irq_armed: AtomicBool::new(true),
                live_conns: AtomicU32::new(0),
                task: AtomicPtr::new(ptr::null_mut()),
                fw: UnsafeCell::new(fw),
                nic_mem,
                offload,
                fw_tcp: [const { AtomicU64::new(0) }; FW_TCP_COUNTERS],
                dump_conns: AtomicU32::new(0),
                pressure_slots: AtomicU32::new(0),
                fail: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the lock is at its final (heap) address and unused yet.
        unsafe { bindings::handoff_cmd_lock_init(nic.cmd_lock.get()) };
        nic.offload.init();
        Ok(nic)
    }

    /// Encodes `cmd` and posts it ([`Nic::submit`]).
    pub(crate) fn submit_cmd(&self, cmd: &crate::firmware::Command) -> Result {
        let mut buf = [0u8; crate::firmware::msg::MSG_LEN];
        let n = cmd.encode(&mut buf).map_err(|_| EINVAL)?;
        self.submit(&buf[..n])
    }

    /// Posts one command message (OS -> NIC) and rings the doorbell.
    /// `EBUSY` when the command ring is full (counted), `EINVAL` when the
    /// message is larger than a slot.
    pub(crate) fn submit(&self, msg: &[u8]) -> Result {
        if msg.is_empty() || msg.len() > CMD_SLOT {
            return Err(EINVAL);
        }
        // SAFETY: `cmd_lock` was initialised in `new`; holding it makes us
        // the command ring's only producer. BH is disabled so a softirq
        // producer on this CPU cannot deadlock against us.
        let pushed = unsafe {
            bindings::handoff_spin_lock_bh(self.cmd_lock.get());
            let pushed = self.cmd.push(msg, 0, 0);
            bindings::handoff_spin_unlock_bh(self.cmd_lock.get());
            pushed
        };
        if !pushed {
            self.ctr.inc(Ctr::CmdRingFull);
            return Err(EBUSY);
        }
        self.ctr.inc(Ctr::TxCmd);
        self.ctr.add(Ctr::TxCmdBytes, msg.len() as u64);
        self.doorbell();
        Ok(())
    }

    /// The firmware's private state.
    ///
    /// # Safety
    ///
    /// Only the firmware thread of this NIC may call this, and only while
    /// it runs (between `start_firmware` and `stop_firmware`).
    pub(crate) unsafe fn firmware(&self) -> &mut Firmware {
        // SAFETY: by the contract there is exactly one caller at a time.
        unsafe { &mut *self.fw.get() }
    }

    /// The peer NIC.
    ///
    /// Callers are the firmware threads of the pair (stopped by `dellink`
    /// after it clears both pointers and before either device is
    /// unregistered), RTNL holders (`dellink` runs under RTNL too), and
    /// readers inside an RCU read-side section (a peer's `Nic` is freed by
    /// its `priv_destructor`, after unregistration's grace period).
    pub(crate) fn peer(&self) -> Option<&Nic> {
        let p = self.peer.load(Ordering::Acquire);
        // SAFETY: see above: every caller context keeps a non-null peer alive.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Starts the firmware thread `<ifname>-fw` on `cpu`.
    pub(crate) fn start_firmware(&self, cpu: u32) -> Result {
        let name = kernel::c_str!("%s-fw");
        // SAFETY: `fw_main` only uses `self` through `&Nic`; `self` outlives
        // the thread because `stop_firmware` runs before the NIC is freed.
        // `dev->name` is NUL-terminated.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(super::firmware::fw_main),
                self as *const Nic as *mut c_void,
                -1,
                name.as_char_ptr().cast(),
                (*self.dev).name.as_ptr(),
            )
        };
        let task = from_err_ptr(task)?;
        // SAFETY: `task` was just created and has not run yet.
        unsafe { bindings::kthread_bind(task, cpu) };
        self.task.store(task, Ordering::Release);
        // SAFETY: `task` is a valid, new kthread.
        unsafe { bindings::wake_up_process(task) };
        Ok(())
    }

    /// Stops the firmware thread; idempotent. Sleeps (RTNL may be held).
    pub(crate) fn stop_firmware(&self) {
        let task = self.task.swap(ptr::null_mut(), Ordering::AcqRel);
        if !task.is_null() {
            // SAFETY: `task` is our kthread; it only exits when asked to
            // (it loops until `kthread_should_stop`), so it is still alive.
            unsafe { bindings::kthread_stop(task) };
        }
    }

    /// Connections the NIC memory holds (fixed at creation).
    pub(crate) fn max_conns(&self) -> usize {
        // Pure function of the memory size; recomputing it keeps the
        // firmware's own state out of reach of other threads.
        crate::firmware::NicMemoryLayout::for_size(self.nic_mem).map_or(0, |l| l.max_conns)
    }

    /// Doorbell: wakes the firmware thread (also after state changes such
    /// as open, stop and pairing, so the carrier is re-evaluated at once).
    pub(crate) fn doorbell(&self) {
        // SAFETY: task_structs are freed through RCU: a task seen non-null
        // inside the read-side section stays valid until it ends, even if
        // `stop_firmware` reaps it meanwhile (waking an exited task is a
        // no-op).
        unsafe {
            bindings::handoff_rcu_read_lock();
            let task = self.task.load(Ordering::Acquire);
            if !task.is_null() {
                bindings::wake_up_process(task);
            }
            bindings::handoff_rcu_read_unlock();
        }
    }

    /// Interrupt: schedules NAPI if the host has interrupts armed.
    pub(crate) fn interrupt(&self) {
        // Pairs with the fence in `hnic_poll`: either NAPI sees the frames
        // just published, or we see it re-armed.
        fence(Ordering::SeqCst);
        if self.irq_armed.swap(false, Ordering::SeqCst) {
            self.ctr.inc(Ctr::RxInterrupt);
            // SAFETY: `dev` is registered while its firmware runs; NAPI was
            // added in `ndo_init`. Softirqs must be off around
            // napi_schedule from process context, and run on re-enable.
            unsafe {
                bindings::handoff_local_bh_disable();
                bindings::handoff_napi_schedule(super::device::napi_of(self.dev));
                bindings::handoff_local_bh_enable();
            }
        }
    }

    /// Frees skbs still queued for transmission.
    ///
    /// # Safety
    ///
    /// The firmware thread is stopped and the device can no longer
    /// transmit (closed, being unregistered): we are the ring's only user.
    pub(crate) unsafe fn drain_tx(&self) {
        // SAFETY: by the contract we are the only consumer; each popped skb
        // was owned by the ring and is referenced by nobody else.
        unsafe {
            while let Some(TxDesc(skb)) = self.tx.pop() {
                bindings::handoff_dev_kfree_skb_any(skb);
            }
        }
    }

    pub(crate) fn running(&self) -> bool {
        // SAFETY: `dev` is valid for the NIC's lifetime.
        unsafe { bindings::handoff_netif_running(self.dev) }
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        self.stop_firmware();
        // SAFETY: the firmware is stopped, and a `Nic` is only dropped once
        // its device has been unregistered (or never was): `&mut self`
        // leaves no other user of the TX ring.
        unsafe { self.drain_tx() };
    }
}

/// Picks the firmware CPU: the `fw_cpu` parameter if it names an online
/// CPU, else the highest-numbered online CPU.
pub(crate) fn firmware_cpu() -> u32 {
    // SAFETY: module parameters are plain ints, read-only at runtime (0444).
    let wanted: c_int = unsafe { bindings::handoff_param_fw_cpu };
    // SAFETY: queries of the CPU masks; `wanted` is range-checked against
    // nr_cpu_ids before it indexes the online mask.
    unsafe {
        if wanted >= 0
            && (wanted as u32) < bindings::handoff_nr_cpu_ids()
            && bindings::handoff_cpu_online(wanted as u32)
        {
            return wanted as u32;
        }
        bindings::handoff_last_online_cpu()
    }
}
