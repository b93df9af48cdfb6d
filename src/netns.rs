// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state.
//!
//! Every namespace gets its own [`NetState`], allocated zeroed by the kernel's
//! pernet machinery (`pernet_operations.size`), holding that namespace's
//! sysctl table, offload policy and statistics. Knobs are per namespace
//! because the policy they express (which connections to hand off) is.

use core::ffi::{c_int, c_uint};
use core::ptr;

use kernel::error::to_result;
use kernel::prelude::*;

use crate::bindings;
use crate::cstatic::CStatic;
use crate::policy;
use crate::route;
use crate::stats;
use crate::sysctl;

/// What tcp_handoff keeps per network namespace.
#[repr(C)]
pub(crate) struct NetState {
    /// Registration of `table`, set by a successful `net_init`.
    sysctl_header: *mut bindings::ctl_table_header,
    /// This namespace's copy of the sysctl table: entries point at fields of
    /// this struct, so each namespace needs its own.
    table: [bindings::ctl_table; sysctl::ENTRIES],
    /// The `net.handoff.*` knobs the table points at.
    pub(crate) policy: policy::Policy,
    /// Counters of `/proc/net/handoff_stat`; all-zero is their start.
    pub(crate) stats: stats::Stats,
    /// Route changes restore connections moved off their hnic (`route.rs`).
    route: route::RouteWatch,
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
/// running). The state stays allocated, though no longer registered with
/// sysctl or procfs, from `net_exit` until the namespace is freed.
///
/// Callable in atomic context (`net_generic` only takes the RCU read lock).
pub(crate) unsafe fn net_state(net: *const bindings::net) -> *mut NetState {
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
    let state = unsafe { net_state(net) };
    {
        // SAFETY: nothing else can reach this namespace's state before the
        // sysctl table and the proc entry are registered below, so this is
        // the only reference; it ends before they are.
        let state = unsafe { &mut *state };
        // SAFETY: once, before the policy is shared (see above).
        unsafe { state.policy.init() };
        state.table = sysctl::table(&state.policy, net);
    }
    // From here on the sysctl and proc handlers may run concurrently: only
    // raw-pointer field accesses, and `sysctl_header` is only touched by
    // `net_init` and `net_exit`, which the kernel never runs concurrently
    // for one namespace.
    //
    // SAFETY: the table lives as long as the namespace, i.e. until
    // `net_exit` unregisters it; the path is a NUL-terminated literal.
    let header = unsafe {
        bindings::register_net_sysctl_sz(
            net,
            c"net/handoff".as_ptr(),
            ptr::addr_of_mut!((*state).table).cast(),
            sysctl::ENTRIES,
        )
    };
    if header.is_null() {
        pr_err!("cannot register net.handoff sysctls\n");
        return ENOMEM.to_errno();
    }
    // SAFETY: `state` is valid (the kernel allocated it before `init`), and
    // no reference to `sysctl_header` exists (see above).
    unsafe { (*state).sysctl_header = header };
    // SAFETY: `net` is being initialised; `net_exit` removes the entry.
    if let Err(e) = unsafe { stats::create_proc(net) } {
        pr_err!("cannot create /proc/net/handoff_stat\n");
        // SAFETY: registered just above, and `net_exit` will not run for a
        // namespace whose init failed.
        unsafe { bindings::unregister_net_sysctl_table(header) };
        return e.to_errno();
    }
    // SAFETY: the watch is zeroed and not yet shared (nothing but
    // `net_exit` reaches it); it stays in place until `net_exit` stops it.
    unsafe { (*state).route.start(net) };
    0
}

unsafe extern "C" fn net_exit(net: *mut bindings::net) {
    // SAFETY: `init` succeeded for this namespace, so the watch started.
    unsafe { (*net_state(net)).route.stop() };
    // SAFETY: `exit` runs once per namespace whose `init` succeeded (so the
    // proc entry exists), before the kernel frees the slot.
    unsafe { stats::remove_proc(net) };
    // SAFETY: as above; `sysctl_header` is only accessed by `net_init` and
    // `net_exit`, which never run concurrently for one namespace.
    let header = unsafe { (*net_state(net)).sysctl_header };
    if !header.is_null() {
        // SAFETY: the header came from `register_net_sysctl_sz` in
        // `net_init` and is unregistered exactly once, here.
        unsafe { bindings::unregister_net_sysctl_table(header) };
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
