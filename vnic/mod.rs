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
mod ring;
mod wire;

use kernel::prelude::*;

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
