// SPDX-License-Identifier: GPL-2.0

//! The registry of connection records: every socket that carries the
//! `handoff` ULP, in all namespaces, for the control knobs, the device and
//! route triggers and module unload to find.

use core::cell::UnsafeCell;

use crate::bindings;
use crate::conn::Conn;

/// Every record (every socket carrying our ULP), in all namespaces.
struct Registry {
    lock: UnsafeCell<bindings::spinlock_t>,
    head: UnsafeCell<bindings::list_head>,
    /// Records on the list.
    count: core::sync::atomic::AtomicUsize,
}

// SAFETY: the list is only touched under `lock`.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    // SAFETY: all-zero is a valid pre-init spinlock/list head; `init` runs
    // first thing at module load.
    lock: UnsafeCell::new(unsafe { core::mem::zeroed() }),
    // SAFETY: as above.
    head: UnsafeCell::new(unsafe { core::mem::zeroed() }),
    count: core::sync::atomic::AtomicUsize::new(0),
};

/// Initialises the registry (module init, before anything can register).
pub(crate) fn init() {
    // SAFETY: module init is single-threaded and nothing uses it yet.
    unsafe {
        bindings::handoff_spin_lock_init(REGISTRY.lock.get());
        bindings::handoff_init_list_head(REGISTRY.head.get());
    }
}

fn with<R>(f: impl FnOnce(*mut bindings::list_head) -> R) -> R {
    // SAFETY: initialised by `init`; the lock serialises the list.
    unsafe { bindings::handoff_spin_lock_bh(REGISTRY.lock.get()) };
    let r = f(REGISTRY.head.get());
    // SAFETY: taken above.
    unsafe { bindings::handoff_spin_unlock_bh(REGISTRY.lock.get()) };
    r
}

/// Adds a new record (any context).
pub(crate) fn register(c: &Conn) {
    with(|head| {
        // SAFETY: `c.link` is not on any list yet; the lock is held.
        unsafe { bindings::handoff_list_add_tail(c.link.get(), head) };
        REGISTRY
            .count
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    });
}

/// Removes a record before it is freed (any context).
pub(crate) fn unregister(c: &Conn) {
    with(|_| {
        // SAFETY: `c.link` is on the list; the lock is held.
        unsafe { bindings::handoff_list_del_init(c.link.get()) };
        REGISTRY
            .count
            .fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
    });
}

/// Calls `f` on every registered record, under the registry lock, until it
/// returns `false`; `true` if it saw them all. `f` runs in atomic context.
pub(crate) fn each_record(mut f: impl FnMut(&Conn) -> bool) -> bool {
    with(|head| {
        // SAFETY: the lock is held; every entry is the `link` of a live
        // record whose socket is alive (records leave the list before
        // their socket's last reference is dropped).
        unsafe {
            let mut p = (*head).next;
            while p != head {
                if !f(&*(p as *const u8)
                    .sub(core::mem::offset_of!(Conn, link))
                    .cast::<Conn>())
                {
                    return false;
                }
                p = (*p).next;
            }
        }
        true
    })
}

/// Records on the registry (module unload waits for none).
pub(crate) fn count() -> usize {
    REGISTRY.count.load(core::sync::atomic::Ordering::Acquire)
}

/// Set once module unload has started (`control::unload::shutdown`).
static UNLOADING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether module unload has started.
pub(crate) fn unloading() -> bool {
    UNLOADING.load(core::sync::atomic::Ordering::Acquire)
}

/// Module unload has started: records being made from here are refused.
pub(crate) fn start_unloading() {
    UNLOADING.store(true, core::sync::atomic::Ordering::Release);
}
