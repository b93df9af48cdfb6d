// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/hnic/<ifname>/`: the wire's fault knobs, the rings'
//! producer/consumer indices and the firmware's live connection count
//! (read-only), and `command`, which posts raw OS -> NIC messages
//! (Documentation/hnic.rst). Knobs of a device shape the
//! frames *it* sends.

use core::ptr;

use kernel::prelude::*;

use super::nic::{Nic, CMD_SLOT};
use crate::bindings;
use crate::cstatic::CStatic;

static ROOT: CStatic<*mut bindings::dentry> = CStatic::new(ptr::null_mut());

// SAFETY: an all-zero `file_operations` supports nothing; `init` fills in
// `open` and `write` before any file uses it.
static COMMAND_FOPS: CStatic<bindings::file_operations> =
    CStatic::new(unsafe { core::mem::zeroed() });
// SAFETY: as above; `init` fills in `open` and `write`.
static FAIL_FOPS: CStatic<bindings::file_operations> = CStatic::new(unsafe { core::mem::zeroed() });

/// `fail` (write-only): any write makes the NIC fail without notice: the
/// firmware loses every offloaded connection's state and the host resets
/// them (paper §3.4: state that cannot be retrieved is lost), and the NIC
/// takes no further handoffs. Frames of other connections still pass.
unsafe extern "C" fn fail_write(
    file: *mut bindings::file,
    _buf: *const core::ffi::c_char,
    len: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: as in `command_write`.
    let nic = unsafe { &*(*file).private_data.cast::<Nic>() };
    if nic
        .fail
        .compare_exchange(
            0,
            1,
            core::sync::atomic::Ordering::AcqRel,
            core::sync::atomic::Ordering::Relaxed,
        )
        .is_ok()
    {
        nic.doorbell();
        super::offload::reset_all(nic, kernel::c_str!("NIC failure injected (debugfs fail)"));
    }
    len as isize
}

/// `command` (write-only): each write is one OS -> NIC message, posted on
/// the command ring exactly as the bypass layer will post them; a test
/// hook in the spirit of netdevsim's.
unsafe extern "C" fn command_write(
    file: *mut bindings::file,
    buf: *const core::ffi::c_char,
    len: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    let mut msg = [0u8; CMD_SLOT];
    if len == 0 || len > CMD_SLOT {
        return EINVAL.to_errno() as isize;
    }
    // SAFETY: `simple_open` stored the `Nic` given to debugfs_create_file
    // in `private_data`; debugfs keeps the file's operations from running
    // once `remove` (before the NIC is freed) has returned. `buf` is a user
    // pointer of `len` bytes, copied with copy_from_user.
    unsafe {
        let nic = &*(*file).private_data.cast::<Nic>();
        if bindings::handoff_copy_from_user(msg.as_mut_ptr().cast(), buf.cast(), len as _) != 0 {
            return EFAULT.to_errno() as isize;
        }
        match nic.submit(&msg[..len]) {
            Ok(()) => len as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// Creates `/sys/kernel/debug/hnic` (module init).
pub(crate) fn init() {
    // SAFETY: module init, single-threaded; debugfs copes with errors by
    // returning an error pointer that later calls accept. The fops are not
    // yet visible to anyone.
    unsafe {
        let fops = COMMAND_FOPS.get();
        (*fops).open = Some(bindings::simple_open);
        (*fops).write = Some(command_write);
        let fail = FAIL_FOPS.get();
        (*fail).open = Some(bindings::simple_open);
        (*fail).write = Some(fail_write);
        *ROOT.get() = bindings::debugfs_create_dir(c"hnic".as_ptr(), ptr::null_mut());
    }
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
            kernel::pr_warn!(
                "hnic: no debugfs directory for {} (name taken?); its knobs are unavailable\n",
                name
            );
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
            (c"dump_conns", nic.dump_conns.as_ptr()),
            (c"pressure_slots", nic.pressure_slots.as_ptr()),
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
        let data = nic as *const Nic as *mut core::ffi::c_void;
        bindings::debugfs_create_file(c"command".as_ptr(), 0o200, dir, data, COMMAND_FOPS.get());
        bindings::debugfs_create_file(c"fail".as_ptr(), 0o200, dir, data, FAIL_FOPS.get());
        dir
    }
}

pub(crate) fn remove(dir: *mut bindings::dentry) {
    // SAFETY: `dir` came from `create` (or is an error/null pointer, which
    // debugfs_remove ignores).
    unsafe { bindings::debugfs_remove(dir) };
}
