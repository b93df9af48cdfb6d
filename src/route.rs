// SPDX-License-Identifier: GPL-2.0

//! Route changes as a restore trigger: a connection whose route no longer
//! leaves through the hnic device running it comes back to the host
//! (Documentation/handoff.rst, "Restore").
//!
//! Each namespace listens to its FIB (`register_fib_notifier`, IPv4 and
//! IPv6 routes, rules and nexthops). The notifier runs in atomic context
//! and only schedules the namespace's work item; the work item checks the
//! namespace's offloaded connections in process context
//! (`control::route_changed`), where a restore may wait for the NIC.

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_ulong, c_void};
use core::ptr;

use kernel::prelude::*;

use crate::bindings;

/// A namespace's route watch; lives in its `NetState` (zeroed until
/// [`RouteWatch::start`]).
#[repr(C)]
pub(crate) struct RouteWatch {
    nb: UnsafeCell<bindings::notifier_block>,
    work: UnsafeCell<bindings::work_struct>,
    net: *mut bindings::net,
    registered: bool,
}

impl RouteWatch {
    /// Starts listening to `net`'s FIB. A namespace whose FIB cannot be
    /// watched (the registration's dump keeps changing) keeps working
    /// without this trigger, with a line in dmesg.
    ///
    /// # Safety
    ///
    /// `self` is the zeroed watch of `net`'s `NetState` (which stays at its
    /// address until [`RouteWatch::stop`]); called from `net_init`.
    pub(crate) unsafe fn start(&mut self, net: *mut bindings::net) {
        self.net = net;
        // SAFETY: our own work item and notifier block, not yet visible to
        // anyone; `net` is being initialised.
        unsafe {
            bindings::handoff_init_work(self.work.get(), Some(route_work));
            (*self.nb.get()).notifier_call = Some(fib_event);
            let err = bindings::register_fib_notifier(
                net,
                self.nb.get(),
                Some(dump_retry),
                ptr::null_mut(),
            );
            if err != 0 {
                pr_warn!("route changes in a namespace will not restore its connections (FIB notifier: error {})\n", err);
                return;
            }
        }
        self.registered = true;
    }

    /// Stops listening; no work item runs once this returns.
    ///
    /// # Safety
    ///
    /// Called once from `net_exit`, after `start` ran for this watch.
    pub(crate) unsafe fn stop(&self) {
        if self.registered {
            // SAFETY: registered by `start` on the same namespace.
            unsafe { bindings::unregister_fib_notifier(self.net, self.nb.get()) };
        }
        // SAFETY: initialised by `start`; no notifier can queue it again.
        unsafe { bindings::cancel_work_sync(self.work.get()) };
    }
}

/// A FIB change (or, at registration, an existing entry): check the
/// namespace's connections soon. Atomic context.
unsafe extern "C" fn fib_event(
    nb: *mut bindings::notifier_block,
    _event: c_ulong,
    _info: *mut c_void,
) -> c_int {
    // SAFETY: `nb` is the `nb` field of a started `RouteWatch`; its work
    // item was initialised before the notifier was registered.
    unsafe {
        let watch = nb
            .cast::<u8>()
            .sub(core::mem::offset_of!(RouteWatch, nb))
            .cast::<RouteWatch>();
        bindings::handoff_schedule_work((*watch).work.get());
    }
    bindings::NOTIFY_DONE as c_int
}

/// The registration's dump was inconsistent and is retried: nothing to
/// undo (the work item it may have queued only checks routes).
unsafe extern "C" fn dump_retry(_nb: *mut bindings::notifier_block) {}

unsafe extern "C" fn route_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a started `RouteWatch`, which
    // `stop` keeps alive until this has returned (`cancel_work_sync`).
    let net = unsafe {
        let watch = work
            .cast::<u8>()
            .sub(core::mem::offset_of!(RouteWatch, work))
            .cast::<RouteWatch>();
        (*watch).net
    };
    // Routes change under RTNL, and a deletion is announced before the
    // entry leaves the table: once RTNL was ours, the change that queued
    // this work is complete and lookups see it.
    // SAFETY: process context, no locks held.
    unsafe {
        bindings::rtnl_lock();
        bindings::rtnl_unlock();
    }
    crate::control::route_changed(net);
}
