// SPDX-License-Identifier: GPL-2.0

//! Module unload: every connection back to the host, every socket back on
//! its base operations, and no task left inside the module's code.

use core::ptr;

use kernel::prelude::*;

use crate::bindings;
use crate::conn::registry::each_record;

use super::*;

// `shutdown`'s wait holds only if a task cannot be preempted between
// reading one of our operation pointers and taking its record reference:
// true when RCU read-side sections are not preemptible (the kernels that
// `kernel/tcp-handoff.config` and `kernel/debug.config` build), false with
// `CONFIG_PREEMPT_RCU`. Such a kernel fails the build here rather than
// unload unsafely.
#[cfg(CONFIG_PREEMPT_RCU)]
compile_error!("tcp_handoff's module unload needs non-preemptible RCU (src/control/unload.rs)");

/// Interrupts every system call still asleep in native TCP from inside our
/// code (`crate::conn::kick_native_calls`); returns how many records had one.
pub(crate) fn kick_native_calls() -> usize {
    let mut n = 0;
    each_record(|c| {
        // SAFETY: called under the registry lock with `c` registered.
        if unsafe { crate::conn::kick_native_calls(c) } {
            n += 1;
        }
        true
    });
    n
}

/// Module unload: every connection comes back to the host, every socket
/// loses the ULP, and no system call is left in our code when this
/// returns. The accept probe and the ULP are already unregistered.
pub(crate) fn shutdown() {
    crate::conn::registry::start_unloading();
    let mut restored = 0u32;
    loop {
        let Ok(socks) = collect(ptr::null_mut(), &Selector::All) else {
            break;
        };
        if socks.is_empty() {
            break;
        }
        // A record a system call still holds stays registered after its
        // socket lets go of it: once a pass finds only those, the wait
        // below (which sleeps) takes over from this loop (which does not).
        let mut detached = false;
        for &sk in socks.iter() {
            // SAFETY: held by `collect`.
            unsafe { pre_quiesce(sk) };
        }
        let drain = DrainBy::from_now();
        for &sk in socks.iter() {
            // SAFETY: held by `collect`.
            unsafe {
                bindings::handoff_lock_sock(sk);
                if let Some(c) = crate::conn::record_ptr(sk) {
                    detached = true;
                    let c = &mut *c;
                    if c.nic().is_some() && crate::conn::phase::phase_locked(c).is_offloaded() {
                        if crate::handoff::restore(c, drain).is_ok() {
                            restored += 1;
                        }
                    }
                    crate::handoff::hand_back_buffered(c);
                    crate::ulp::detach(sk);
                }
                bindings::release_sock(sk);
                bindings::handoff_sock_put(sk);
            }
        }
        if !detached {
            break;
        }
    }
    if restored > 0 {
        pr_info!(
            "{} offloaded connection(s) restored to the host before unload\n",
            restored
        );
    }
    // A caller that read one of our operation pointers before it was
    // switched back has entered our code by the end of a grace period
    // (no preemption point in between: see the build check at the top) and
    // holds a record reference (`crate::conn::Held`): wait for those to
    // drain.
    // SAFETY: plain RCU barrier.
    unsafe { bindings::synchronize_rcu() };
    // A call asleep in native TCP (a reader the restore woke and sent on
    // natively, say) would keep us waiting for its data: interrupt it, and
    // keep doing so, as calls may still be on their way into native TCP.
    let mut waited = 0u32;
    let mut kicked = 0usize;
    while crate::conn::registry::count() > 0 {
        kicked = kicked.max(kick_native_calls());
        crate::sys::time::msleep(10);
        waited += 1;
        if waited % 500 == 0 {
            pr_warn!(
                "unload waits for {} system call(s) still in the bypass layer\n",
                crate::conn::registry::count()
            );
        }
    }
    if kicked > 0 {
        pr_info!(
            "system calls asleep in native TCP on {} socket(s) restarted outside the module\n",
            kicked
        );
    }
}
