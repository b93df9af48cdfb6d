// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around the kernel's C API, in the shape of
//! `rust/kernel/net/phy.rs`: the raw bindings (`crate::bindings`) are used
//! here, each call argued where it is made, so that the logic modules need
//! not be.
//!
//! What is here: sockets, their lock and a call's message (`sock.rs`), a
//! BH spinlock whose guard hands out `&mut T` (`lock.rs`), clocks and
//! sleeping (`time.rs`), wake-ups, `SOCK_NOSPACE` and `WARN_ON` (below).
//! The logic modules still make raw calls elsewhere (skbs, net devices,
//! work items, the `tcp_sock` writes of capture and install); those move
//! here in the same shape.

use core::fmt;
use core::ptr;

use kernel::prelude::*;

use crate::bindings;

mod lock;
mod sock;
pub(crate) mod time;
pub(crate) use lock::{BhGuard, BhSpinLock};
pub(crate) use sock::{Msg, Sock, SockGuard};

/// Reports a broken invariant: the message, then the kernel's `WARN_ON`
/// (a `WARNING:` line with a backtrace, which fails every test run).
pub(crate) fn warn(msg: fmt::Arguments<'_>) {
    pr_err!("{}", msg);
    // SAFETY: `WARN_ON(1)` has no preconditions; it is callable in any
    // context.
    unsafe { bindings::handoff_warn_on() };
}

/// The `SOCK_NOSPACE` flag of a socket's `struct socket`: set by a writer
/// that found no room (as `tcp_poll` and `sk_stream_wait_memory` do), and
/// tested and cleared by whoever frees room, which must then wake it
/// (`sk_stream_write_space`).
///
/// # Invariants
///
/// `sk` is a live socket for the lifetime of the value.
pub(crate) struct NoSpace(*mut bindings::sock);

impl NoSpace {
    /// # Safety
    ///
    /// `sk` is a live socket as long as the value is used.
    pub(crate) unsafe fn of(sk: *mut bindings::sock) -> Self {
        NoSpace(sk)
    }

    /// Runs `f` on the flags word of the socket's `struct socket`, if it
    /// still has one (an orphan has none).
    fn with_flags<R>(&self, f: impl FnOnce(*mut core::ffi::c_ulong) -> R) -> Option<R> {
        // `struct socket` lives in an inode the VFS frees after an RCU grace
        // period, and `sock_orphan` clears `sk_socket` before that: read
        // under RCU, the pointer is null or points at a live socket.
        // SAFETY: no preconditions; paired with the unlock below.
        unsafe { bindings::handoff_rcu_read_lock() };
        // SAFETY: `sk` is live (type invariant); see above for `sk_socket`.
        let sock = unsafe { ptr::read_volatile(&(*self.0).sk_socket) };
        // SAFETY: a non-null `sock` is live until the unlock (see above).
        let r = (!sock.is_null()).then(|| f(unsafe { &raw mut (*sock).flags }));
        // SAFETY: locked above.
        unsafe { bindings::handoff_rcu_read_unlock() };
        r
    }

    /// Marks that a writer found no room.
    pub(crate) fn set(&self) {
        // SAFETY: `f` points at the live flags word (`with_flags`).
        self.with_flags(|f| unsafe {
            bindings::handoff_set_bit(i64::from(bindings::SOCK_NOSPACE), f)
        });
    }

    /// Whether a writer found no room since the mark was last taken;
    /// clears it.
    pub(crate) fn take(&self) -> bool {
        // SAFETY: as in `set`.
        self.with_flags(|f| unsafe {
            bindings::handoff_test_and_clear_bit(i64::from(bindings::SOCK_NOSPACE), f)
        })
        .unwrap_or(false)
    }
}

/// Wakes the waiters of socket `sk` for the events in `mask`, and its
/// async (`SIGIO`) owners, as `sock_def_readable` and
/// `sk_stream_write_space` do for native TCP.
///
/// # Safety
///
/// `sk` is a live socket.
pub(crate) unsafe fn sk_wake(sk: *mut bindings::sock, mask: u32) {
    let (how, band) = if mask & bindings::POLLOUT != 0 {
        (bindings::SOCK_WAKE_SPACE, bindings::POLL_OUT)
    } else {
        (bindings::SOCK_WAKE_WAITD, bindings::POLL_IN)
    };
    // SAFETY: `sk` is live (contract). Its wait queue is freed after an RCU
    // grace period, so it stays valid until the unlock; waking from any
    // context is allowed.
    unsafe {
        bindings::handoff_rcu_read_lock();
        let wq = bindings::handoff_sk_wq_rcu(sk);
        if bindings::handoff_skwq_has_sleeper(wq) {
            bindings::handoff_wake_up_interruptible_sync_poll(wq, mask);
        }
        bindings::handoff_sk_wake_async_rcu(sk, how as i32, band as i32);
        bindings::handoff_rcu_read_unlock();
    }
}
