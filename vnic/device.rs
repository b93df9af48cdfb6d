// SPDX-License-Identifier: GPL-2.0

//! The host side of an hnic device: `net_device_ops`, the NAPI poll that
//! drains the RX ring, and the device's setup.

use core::ffi::c_int;
use core::ptr;
use core::sync::atomic::{fence, Ordering};

use kernel::alloc::KBox;
use kernel::error::from_result;

use super::counters::Ctr;
use super::nic::{firmware_cpu, Nic, TxDesc, MAX_MTU, RX_CSUM_OK};
use crate::bindings;

/// The `netdev_priv()` area of an hnic device.
#[repr(C)]
pub(crate) struct HnicPriv {
    napi: bindings::napi_struct,
    nic: *mut Nic,
    debugfs: *mut bindings::dentry,
}

/// # Safety
///
/// `dev` must be an hnic device (its private area is a `HnicPriv`).
unsafe fn priv_of(dev: *const bindings::net_device) -> *mut HnicPriv {
    // SAFETY: by the contract, `netdev_priv` points at our `HnicPriv`.
    unsafe { bindings::handoff_netdev_priv(dev).cast() }
}

/// The NAPI instance of an hnic device.
///
/// # Safety
///
/// `dev` must be a live hnic device.
pub(crate) unsafe fn napi_of(dev: *mut bindings::net_device) -> *mut bindings::napi_struct {
    // SAFETY: by the contract the private area is a `HnicPriv`; taking a
    // field address does not read it.
    unsafe { ptr::addr_of_mut!((*priv_of(dev)).napi) }
}

/// The NIC of an hnic device, between `ndo_init` and `priv_destructor`.
///
/// # Safety
///
/// `dev` must be an hnic device whose `ndo_init` succeeded and whose
/// `priv_destructor` has not run (true for every caller holding a device
/// reference, e.g. sysfs, ethtool and netlink handlers).
pub(crate) unsafe fn nic_of<'a>(dev: *const bindings::net_device) -> &'a Nic {
    // SAFETY: by the contract `nic` was set by `ndo_init` and is freed only
    // by `priv_destructor`.
    unsafe { &*(*priv_of(dev)).nic }
}

unsafe extern "C" fn hnic_init(dev: *mut bindings::net_device) -> c_int {
    from_result(|| {
        // SAFETY: module parameters are read-only at runtime.
        let kib = unsafe { bindings::handoff_param_nic_mem_kib } as usize;
        let nic = KBox::into_raw(Nic::new(dev, kib * 1024)?);
        // SAFETY: `dev` is the hnic device being registered: its private
        // area is ours and zeroed; `nic` is live until `hnic_uninit`.
        unsafe {
            let p = priv_of(dev);
            (*p).nic = nic;
            bindings::handoff_netif_napi_add(dev, ptr::addr_of_mut!((*p).napi), Some(hnic_poll));
            (*p).debugfs = super::debugfs::create(dev, &*nic);
            if let Err(e) = (*nic).start_firmware(firmware_cpu()) {
                bindings::handoff_netif_napi_del(ptr::addr_of_mut!((*p).napi));
                super::debugfs::remove((*p).debugfs);
                drop(KBox::from_raw(nic));
                (*p).nic = ptr::null_mut();
                return Err(e);
            }
        }
        Ok(0)
    })
}

unsafe extern "C" fn hnic_uninit(dev: *mut bindings::net_device) {
    // SAFETY: `ndo_uninit` runs once, after a successful `ndo_init`, with
    // the device closed (NAPI disabled, no transmit): the firmware is
    // stopped before anything it uses goes away. The `Nic` itself stays
    // until `priv_destructor`, since sysfs readers (iflink) and ethtool may
    // still look at it until the device's last reference is gone.
    unsafe {
        let p = priv_of(dev);
        if (*p).nic.is_null() {
            return;
        }
        super::debugfs::remove((*p).debugfs);
        (*p).debugfs = ptr::null_mut();
        let nic = &*(*p).nic;
        nic.stop_firmware();
        // The connections the firmware ran are lost with it.
        super::offload::reset_all(nic, kernel::c_str!("device removed"));
        nic.drain_tx();
        bindings::handoff_netif_napi_del(ptr::addr_of_mut!((*p).napi));
    }
}

/// `priv_destructor`: frees the NIC once nothing can reach the device.
unsafe extern "C" fn hnic_destructor(dev: *mut bindings::net_device) {
    // SAFETY: called once by the core after the last reference to `dev`
    // is dropped, just before the net_device is freed.
    unsafe {
        let p = priv_of(dev);
        if !(*p).nic.is_null() {
            drop(KBox::from_raw((*p).nic));
            (*p).nic = ptr::null_mut();
        }
    }
}

unsafe extern "C" fn hnic_open(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: an initialised hnic device, opened under RTNL.
    let nic = unsafe { nic_of(dev) };
    // SAFETY: NAPI was added in `ndo_init` and is disabled while closed.
    unsafe {
        bindings::napi_enable(napi_of(dev));
        bindings::handoff_netif_wake_queue(dev);
    }
    nic.irq_armed.store(true, Ordering::Release);
    nic.doorbell();
    if let Some(p) = nic.peer() {
        p.doorbell();
    }
    0
}

unsafe extern "C" fn hnic_stop(dev: *mut bindings::net_device) -> c_int {
    // SAFETY: an initialised hnic device, closed under RTNL.
    let nic = unsafe { nic_of(dev) };
    // SAFETY: NAPI was enabled by `hnic_open`.
    unsafe {
        bindings::handoff_netif_stop_queue(dev);
        bindings::napi_disable(napi_of(dev));
    }
    nic.doorbell();
    if let Some(p) = nic.peer() {
        p.doorbell();
    }
    0
}

unsafe extern "C" fn hnic_start_xmit(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    // SAFETY: the stack calls us for an open, initialised hnic device.
    let nic = unsafe { nic_of(dev) };
    // SAFETY: the stack hands us a valid skb.
    let len = u64::from(unsafe { (*skb).len });
    // SAFETY: hnic devices have exactly one TX queue (enforced at creation)
    // and the core serialises `ndo_start_xmit` on its lock: we are the
    // ring's single producer.
    if !unsafe { nic.tx.push(TxDesc(skb)) } {
        // Not reached while the queue is stopped on a full ring.
        nic.ctr.inc(Ctr::TxRingFull);
        // SAFETY: we are in the device's xmit path.
        unsafe { bindings::handoff_netif_stop_queue(dev) };
        return bindings::netdev_tx_NETDEV_TX_BUSY;
    }
    nic.ctr.inc(Ctr::TxDesc);
    nic.ctr.inc(Ctr::HostTxPackets);
    nic.ctr.add(Ctr::HostTxBytes, len);
    // SAFETY: queue state calls from the xmit path.
    let stopped = unsafe {
        if nic.tx.is_full() {
            nic.ctr.inc(Ctr::TxRingFull);
            bindings::handoff_netif_stop_queue(dev);
            // The firmware may have drained the ring before it could see
            // the queue stopped; pairs with its fence after consuming.
            fence(Ordering::SeqCst);
            if !nic.tx.is_full() {
                bindings::handoff_netif_wake_queue(dev);
            }
            true
        } else {
            false
        }
    };
    // SAFETY: reads per-CPU xmit state of this xmit call.
    if stopped || !unsafe { bindings::handoff_netdev_xmit_more() } {
        nic.ctr.inc(Ctr::TxDoorbell);
        nic.doorbell();
    }
    bindings::netdev_tx_NETDEV_TX_OK
}

unsafe extern "C" fn hnic_get_stats64(
    dev: *mut bindings::net_device,
    s: *mut bindings::rtnl_link_stats64,
) {
    // SAFETY: stats are read between init and uninit.
    let nic = unsafe { nic_of(dev) };
    let c = &nic.ctr;
    // SAFETY: `s` is the caller's stats buffer.
    unsafe {
        (*s).tx_packets = c.get(Ctr::HostTxPackets);
        (*s).tx_bytes = c.get(Ctr::HostTxBytes);
        (*s).rx_packets = c.get(Ctr::HostRxPackets);
        (*s).rx_bytes = c.get(Ctr::HostRxBytes);
        (*s).tx_dropped = c.get(Ctr::FwTxLinkDown) + c.get(Ctr::FwTxTooBig);
        (*s).rx_dropped =
            c.get(Ctr::FwRxRingFull) + c.get(Ctr::FwRxDevDown) + c.get(Ctr::RxAllocFail);
    }
}

unsafe extern "C" fn hnic_get_iflink(dev: *const bindings::net_device) -> c_int {
    // SAFETY: the caller holds a reference to `dev` (sysfs, netlink), so
    // its `Nic` is alive; the peer is read inside an RCU read-side section
    // (see `Nic::peer`).
    unsafe {
        let nic = nic_of(dev);
        bindings::handoff_rcu_read_lock();
        let ifindex = nic.peer().map_or(0, |p| (*p.dev).ifindex);
        bindings::handoff_rcu_read_unlock();
        ifindex
    }
}

/// NAPI poll: RX ring → stack.
unsafe extern "C" fn hnic_poll(napi: *mut bindings::napi_struct, budget: c_int) -> c_int {
    // SAFETY: our NAPI instance, embedded in an initialised hnic device.
    let dev = unsafe { (*napi).dev };
    // SAFETY: as above.
    let nic = unsafe { nic_of(dev) };
    let budget = budget.max(0);
    // Events first: they are few and small, and the host's view of its
    // connections should not lag behind their data.
    let mut events = 0;
    while events < EVENT_BUDGET {
        // SAFETY: NAPI poll is the event ring's single consumer.
        if unsafe { nic.evt.pop_with(|msg, _| super::events::dispatch(nic, msg)) }.is_none() {
            break;
        }
        events += 1;
    }
    if events == EVENT_BUDGET {
        // More events wait: stay scheduled.
        return budget;
    }
    let mut done = 0;
    while done < budget {
        // SAFETY: NAPI poll is the RX ring's single consumer (one NAPI
        // instance, never run concurrently with itself); `napi` and `dev`
        // are ours.
        let taken = unsafe {
            nic.rx
                .pop_with(|frame, d| to_stack(nic, napi, dev, frame, d.flags))
        };
        if taken.is_none() {
            break;
        }
        done += 1;
    }
    // SAFETY: completing our own NAPI poll with `done` < budget.
    if done < budget && unsafe { bindings::napi_complete_done(napi, done) } {
        nic.irq_armed.store(true, Ordering::SeqCst);
        // A frame that landed after the ring looked empty raised no
        // interrupt (they were disarmed): poll again for it. The fence
        // pairs with the one in `Nic::interrupt`.
        fence(Ordering::SeqCst);
        if (!nic.rx.is_empty() || !nic.evt.is_empty())
            && nic.irq_armed.swap(false, Ordering::SeqCst)
        {
            // SAFETY: in softirq context, our NAPI.
            unsafe { bindings::handoff_napi_schedule(napi) };
        }
    }
    done
}

/// Builds an skb for one RX-ring frame and hands it to GRO.
///
/// # Safety
///
/// Called from `napi`'s poll, `dev` being its device.
unsafe fn to_stack(
    nic: &Nic,
    napi: *mut bindings::napi_struct,
    dev: *mut bindings::net_device,
    frame: &[u8],
    flags: u32,
) {
    if frame.len() < ETH_HLEN {
        // eth_type_trans needs a whole Ethernet header.
        nic.ctr.inc(Ctr::RxRunt);
        return;
    }
    // SAFETY: NAPI context; `napi` is ours.
    let skb = unsafe { bindings::napi_alloc_skb(napi, frame.len() as u32) };
    if skb.is_null() {
        nic.ctr.inc(Ctr::RxAllocFail);
        return;
    }
    // SAFETY: `skb` is new with room for `frame.len()` bytes; `skb_put`
    // returns where they go. The device's features decide whether the
    // firmware's checksum verdict is trusted (ethtool -K rx off).
    unsafe {
        let dst = bindings::skb_put(skb, frame.len() as u32);
        ptr::copy_nonoverlapping(frame.as_ptr(), dst.cast::<u8>(), frame.len());
        bindings::handoff_skb_set_protocol_eth(skb, dev);
        let rxcsum = (*dev).features & (1u64 << bindings::NETIF_F_RXCSUM_BIT) != 0;
        if flags & RX_CSUM_OK != 0 && rxcsum {
            bindings::handoff_skb_set_ip_summed(skb, bindings::CHECKSUM_UNNECESSARY as u8);
        }
        bindings::napi_gro_receive(napi, skb);
    }
    nic.ctr.inc(Ctr::HostRxPackets);
    nic.ctr.add(Ctr::HostRxBytes, frame.len() as u64);
}

const ETH_HLEN: usize = 14;
/// Events handled per NAPI poll before yielding.
const EVENT_BUDGET: usize = 64;

/// The hnic device operations.
pub(crate) static NETDEV_OPS: bindings::net_device_ops = bindings::net_device_ops {
    ndo_init: Some(hnic_init),
    ndo_uninit: Some(hnic_uninit),
    ndo_open: Some(hnic_open),
    ndo_stop: Some(hnic_stop),
    ndo_start_xmit: Some(hnic_start_xmit),
    ndo_get_stats64: Some(hnic_get_stats64),
    ndo_get_iflink: Some(hnic_get_iflink),
    // SAFETY: an all-zero `net_device_ops` has every other callback absent.
    ..unsafe { core::mem::zeroed() }
};

/// `rtnl_link_ops.setup`: a fresh hnic net_device.
pub(crate) unsafe extern "C" fn hnic_setup(dev: *mut bindings::net_device) {
    let features = (1u64 << bindings::NETIF_F_HW_CSUM_BIT)
        | (1u64 << bindings::NETIF_F_RXCSUM_BIT)
        | (1u64 << bindings::NETIF_F_SG_BIT)
        | (1u64 << bindings::NETIF_F_HIGHDMA_BIT);
    // SAFETY: `dev` is being allocated by the core and not yet visible.
    unsafe {
        bindings::ether_setup(dev);
        (*dev).netdev_ops = &NETDEV_OPS;
        (*dev).ethtool_ops = &super::ethtool::ETHTOOL_OPS;
        (*dev).needs_free_netdev = true;
        (*dev).priv_destructor = Some(hnic_destructor);
        // The firmware reads skbs after xmit returns: no shared skbs.
        bindings::handoff_netdev_priv_flags_clear(
            dev,
            bindings::netdev_priv_flags_IFF_TX_SKB_SHARING as u64,
        );
        (*dev).features |= features;
        (*dev).hw_features |= features;
        (*dev).max_mtu = MAX_MTU;
    }
}
