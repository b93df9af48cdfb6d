// SPDX-License-Identifier: GPL-2.0

//! hnic: the virtio-like virtual offload NIC (Documentation/hnic.rst).
//!
//! Devices come in pairs joined by a wire. Each device has a NIC with its
//! own firmware thread and memory; the host reaches it only through rings
//! (`nic.rs`), counted as bus traffic (`counters.rs`).

mod counters;
mod debugfs;
mod device;
mod ethtool;
mod events;
mod firmware;
mod link;
mod nic;
pub(crate) mod offload;
mod ring;
mod wire;

use kernel::prelude::*;

use crate::bindings;
pub(crate) use counters::Ctr;
pub(crate) use nic::Nic;
pub(crate) use offload::{Guard, Region};

/// The NIC behind `dev`, if `dev` is an hnic device.
///
/// The caller keeps `dev` alive (a reference, or a route holding one) for
/// as long as it uses the result.
pub(crate) fn nic_of_dev<'a>(dev: *mut bindings::net_device) -> Option<&'a Nic> {
    // SAFETY: `dev` is live (see above); only our devices carry our ops,
    // and their private area holds the `Nic` until they are freed.
    unsafe { ((*dev).netdev_ops == &device::NETDEV_OPS).then(|| device::nic_of(dev)) }
}

// SAFETY: an all-zero notifier_block has no callback; `Registration::new`
// sets it before registering.
static NOTIFIER: crate::cstatic::CStatic<bindings::notifier_block> =
    crate::cstatic::CStatic::new(unsafe { core::mem::zeroed() });

/// Device events: before an hnic device goes down (`ip link set down`,
/// deletion, namespace teardown) its offloaded connections are restored to
/// the host stack, while its firmware and NAPI still run.
unsafe extern "C" fn netdev_event(
    _nb: *mut bindings::notifier_block,
    event: core::ffi::c_ulong,
    info: *mut core::ffi::c_void,
) -> core::ffi::c_int {
    if event != bindings::netdev_cmd_NETDEV_GOING_DOWN as core::ffi::c_ulong {
        return bindings::NOTIFY_DONE as core::ffi::c_int;
    }
    // SAFETY: the notifier chain passes a netdev_notifier_info; RTNL is
    // held, so the device stays registered during the call.
    let dev = unsafe { bindings::handoff_netdev_notifier_info_to_dev(info) };
    if let Some(nic) = nic_of_dev(dev) {
        let n = device_down(nic);
        if n > 0 {
            // SAFETY: as above; the name is NUL-terminated.
            let name = unsafe { kernel::str::CStr::from_char_ptr((*dev).name.as_ptr().cast()) };
            pr_info!(
                "{}: going down: {} offloaded connection(s) restored to the host\n",
                name,
                n
            );
        }
    }
    bindings::NOTIFY_DONE as core::ffi::c_int
}

/// What the OS side does when a device goes down or away: it restores every
/// connection on the NIC and says how many. Set by `Registration::new`,
/// before any device exists; read only afterwards.
static ON_DEVICE_DOWN: crate::cstatic::CStatic<Option<fn(&Nic) -> u32>> =
    crate::cstatic::CStatic::new(None);

/// Tells the OS side that `nic`'s device goes down or away, while its
/// firmware and NAPI still run.
pub(crate) fn device_down(nic: &Nic) -> u32 {
    // SAFETY: written once in module init, before any device exists (see
    // the static); only read since.
    unsafe { *ON_DEVICE_DOWN.get() }.map_or(0, |f| f(nic))
}

/// The registered `hnic` link kind; unregistering deletes all pairs.
pub(crate) struct Registration(());

impl Registration {
    /// Registers the driver; `on_device_down` is the OS side's upcall for a
    /// device going down or away ([`device_down`]).
    pub(crate) fn new(on_device_down: fn(&Nic) -> u32) -> Result<Self> {
        // SAFETY: module init, single-threaded; no device exists yet.
        unsafe { *ON_DEVICE_DOWN.get() = Some(on_device_down) };
        debugfs::init();
        if let Err(e) = link::register() {
            debugfs::exit();
            return Err(e);
        }
        // SAFETY: module init; the block is static and unregistered in
        // `drop` before the module goes away.
        let r = unsafe {
            (*NOTIFIER.get()).notifier_call = Some(netdev_event);
            kernel::error::to_result(bindings::register_netdevice_notifier(NOTIFIER.get()))
        };
        if let Err(e) = r {
            link::unregister();
            debugfs::exit();
            return Err(e);
        }
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`.
        unsafe { bindings::unregister_netdevice_notifier(NOTIFIER.get()) };
        link::unregister();
        debugfs::exit();
    }
}
