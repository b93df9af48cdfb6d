// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state.
//!
//! Every namespace gets its own [`NetState`], allocated by the kernel's pernet
//! machinery (`pernet_operations.size`), holding that namespace's sysctl
//! table. Knobs are per namespace because the policy they express (which
//! connections to hand off) is.

use core::ffi::{c_int, c_uint};
use core::ptr;

use kernel::error::to_result;
use kernel::prelude::*;

use crate::bindings;
use crate::cstatic::CStatic;
use crate::sysctl;

/// What tcp_handoff keeps per network namespace.
#[repr(C)]
pub(crate) struct NetState {
    /// Registration of `table`, null when registration failed.
    sysctl_header: *mut bindings::ctl_table_header,
    /// This namespace's copy of the sysctl table: entries point at fields of
    /// this struct, so each namespace needs its own.
    table: [bindings::ctl_table; sysctl::ENTRIES],
}

/// Index into `net->gen` the kernel assigns at registration.
static NET_ID: CStatic<c_uint> = CStatic::new(0);

// SAFETY: an all-zero `pernet_operations` is its documented empty state (no
// callbacks, no id, no size); `PernetRegistration::new` fills it in before
// handing it to the kernel.
static PERNET_OPS: CStatic<bindings::pernet_operations> =
    CStatic::new(unsafe { core::mem::zeroed() });

/// This namespace's [`NetState`].
///
/// # Safety
///
/// `net` must be a live namespace for which `net_init` has run (or is
/// running) and `net_exit` has not completed.
unsafe fn net_state(net: *mut bindings::net) -> *mut NetState {
    // SAFETY: `NET_ID` was written by `register_pernet_subsys` before any
    // init callback ran and is never written again while registered.
    let id = unsafe { *NET_ID.get() };
    // SAFETY: by the function's contract `net` is live and its generic array
    // holds our `size`-byte slot at `id`.
    unsafe { bindings::handoff_net_generic(net, id).cast() }
}

unsafe extern "C" fn net_init(net: *mut bindings::net) -> c_int {
    // SAFETY: the kernel calls `init` with a live namespace whose zeroed
    // `NetState` slot has already been allocated.
    let state = unsafe { &mut *net_state(net) };
    state.table = sysctl::table();
    // SAFETY: `state.table` lives as long as the namespace, i.e. until
    // `net_exit` unregisters it; the path is a NUL-terminated literal.
    let header = unsafe {
        bindings::register_net_sysctl_sz(
            net,
            c"net/handoff".as_ptr(),
            state.table.as_mut_ptr(),
            sysctl::ENTRIES,
        )
    };
    if header.is_null() {
        pr_err!("tcp_handoff: cannot register net.handoff sysctls\n");
        return ENOMEM.to_errno();
    }
    state.sysctl_header = header;
    0
}

unsafe extern "C" fn net_exit(net: *mut bindings::net) {
    // SAFETY: `exit` runs once per namespace whose `init` succeeded, before
    // the kernel frees the slot.
    let state = unsafe { &mut *net_state(net) };
    if !state.sysctl_header.is_null() {
        // SAFETY: the header came from `register_net_sysctl_sz` in
        // `net_init` and is unregistered exactly once, here.
        unsafe { bindings::unregister_net_sysctl_table(state.sysctl_header) };
        state.sysctl_header = ptr::null_mut();
    }
}

/// Registration of tcp_handoff's pernet operations; undone on drop.
pub(crate) struct PernetRegistration(());

impl PernetRegistration {
    /// Registers the per-namespace state, running `net_init` for every
    /// namespace that exists now and every one created later.
    pub(crate) fn new() -> Result<Self> {
        let ops = PERNET_OPS.get();
        // SAFETY: module init is single-threaded and the ops are not yet
        // visible to the kernel, so writing them cannot race.
        unsafe {
            (*ops).init = Some(net_init);
            (*ops).exit = Some(net_exit);
            (*ops).id = NET_ID.get();
            (*ops).size = core::mem::size_of::<NetState>();
        }
        // SAFETY: `ops` points to a static that outlives the registration,
        // which `Drop` undoes before the module text goes away.
        to_result(unsafe { bindings::register_pernet_subsys(ops) })?;
        Ok(PernetRegistration(()))
    }
}

impl Drop for PernetRegistration {
    fn drop(&mut self) {
        // SAFETY: `new` registered these ops successfully; this runs once.
        unsafe { bindings::unregister_pernet_subsys(PERNET_OPS.get()) };
    }
}
