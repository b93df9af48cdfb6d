// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/hnic/<ifname>/`: the wire's fault knobs, and the
//! rings' producer/consumer indices and the firmware's live connection
//! count, read-only (Documentation/hnic.rst). Knobs of a device shape the
//! frames *it* sends.

use core::ptr;

use super::nic::Nic;
use crate::bindings;
use crate::cstatic::CStatic;

static ROOT: CStatic<*mut bindings::dentry> = CStatic::new(ptr::null_mut());

/// Creates `/sys/kernel/debug/hnic` (module init).
pub(crate) fn init() {
    // SAFETY: module init, single-threaded; debugfs copes with errors by
    // returning an error pointer that later calls accept.
    unsafe { *ROOT.get() = bindings::debugfs_create_dir(c"hnic".as_ptr(), ptr::null_mut()) };
}

/// Removes it (module exit, after every device is gone).
pub(crate) fn exit() {
    // SAFETY: module exit; no device directory remains.
    unsafe { bindings::debugfs_remove(*ROOT.get()) };
}

/// The knob directory of `dev`.
pub(crate) fn create(dev: *mut bindings::net_device, nic: &Nic) -> *mut bindings::dentry {
    // SAFETY: `dev->name` is NUL-terminated; the knobs point into `nic`,
    // which outlives the directory (`remove` runs before the NIC is freed).
    unsafe {
        let dir = bindings::debugfs_create_dir((*dev).name.as_ptr(), *ROOT.get());
        if kernel::error::from_err_ptr(dir).is_err() {
            // Most likely an hnic of the same name in another namespace.
            let name = kernel::str::CStr::from_char_ptr((*dev).name.as_ptr().cast());
            kernel::pr_warn!("hnic: no debugfs directory for {} (name taken?); its knobs are unavailable\n", name);
            return dir;
        }
        let f = &nic.faults;
        let knobs = [
            (c"loss_ppm", f.loss_ppm.as_ptr()),
            (c"dup_ppm", f.dup_ppm.as_ptr()),
            (c"reorder_ppm", f.reorder_ppm.as_ptr()),
            (c"delay_us", f.delay_us.as_ptr()),
            (c"rate_mbit", f.rate_mbit.as_ptr()),
            (c"link_down", f.link_down.as_ptr()),
        ];
        for (name, value) in knobs {
            bindings::debugfs_create_u32(name.as_ptr(), 0o600, dir, value);
        }
        let (tx_head, tx_tail) = nic.tx.index_ptrs();
        let (rx_head, rx_tail) = nic.rx.index_ptrs();
        let (wire_head, wire_tail) = nic.wire_in.index_ptrs();
        let state = [
            (c"tx_ring_head", tx_head),
            (c"tx_ring_tail", tx_tail),
            (c"rx_ring_head", rx_head),
            (c"rx_ring_tail", rx_tail),
            (c"wire_queue_head", wire_head),
            (c"wire_queue_tail", wire_tail),
            (c"fw_live_conns", nic.live_conns.as_ptr()),
        ];
        for (name, value) in state {
            bindings::debugfs_create_u32(name.as_ptr(), 0o400, dir, value);
        }
        dir
    }
}

pub(crate) fn remove(dir: *mut bindings::dentry) {
    // SAFETY: `dir` came from `create` (or is an error/null pointer, which
    // debugfs_remove ignores).
    unsafe { bindings::debugfs_remove(dir) };
}
