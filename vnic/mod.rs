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

/// The registered `hnic` link kind; unregistering deletes all pairs.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        debugfs::init();
        if let Err(e) = link::register() {
            debugfs::exit();
            return Err(e);
        }
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        link::unregister();
        debugfs::exit();
    }
}
