// SPDX-License-Identifier: GPL-2.0

//! The accept policy: unmodified servers get their connections offloaded.
//!
//! A kretprobe on `inet_csk_accept` (the paper hooked FreeBSD's
//! `tcp_usr_accept`) sees each accepted socket before the application gets
//! its file. If the namespace's policy (`net.handoff.enabled`,
//! `net.handoff.ports`) selects the listening port, the socket gets the
//! `handoff` ULP in its *pending* state; the handoff itself needs a
//! sleeping context and happens at the socket's first system call
//! (`ulp.rs`). The probe handler runs in atomic context: it only looks and
//! marks.

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;

use crate::bindings;
use crate::cstatic::CStatic;
use crate::policy;
use crate::stats::{self, Stat};

/// Probe instances: each accept in flight holds one, and a returned one is
/// recycled only after an RCU grace period, so a burst of accepts needs
/// many (a missed one leaves its connection native, and is reported).
const MAX_ACTIVE: c_int = 1024;

// SAFETY: an all-zero kretprobe is its documented unregistered state;
// `Registration::new` fills it in before registering it.
static PROBE: CStatic<bindings::kretprobe> = CStatic::new(unsafe { core::mem::zeroed() });
static REGISTERED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn accept_ret(
    _ri: *mut bindings::kretprobe_instance,
    regs: *mut bindings::pt_regs,
) -> c_int {
    // SAFETY: the kretprobe core passes the registers at the probed
    // function's return.
    let sk = unsafe { bindings::handoff_regs_return_value(regs) } as *mut bindings::sock;
    if sk.is_null() {
        return 0;
    }
    // SAFETY: inet_csk_accept returned `sk` with the reference the
    // accepting task now owns; the task is still in accept(), so the
    // socket is alive and not yet visible to the application.
    unsafe {
        if u32::from((*sk).sk_protocol) != bindings::IPPROTO_TCP
            || !crate::ulp::is_plain_tcp(sk)
            || !(*sk.cast::<bindings::inet_connection_sock>())
                .icsk_ulp_ops
                .is_null()
        {
            return 0;
        }
        // SYN_RECV too: the child is queued for accept before the ACK that
        // completed it is processed (`tcp_child_process` on another CPU),
        // so accept() can return it a moment before it is established.
        let state = u32::from((*sk).__sk_common.skc_state);
        if state != bindings::TCP_ESTABLISHED
            && state != bindings::TCP_CLOSE_WAIT
            && state != bindings::TCP_SYN_RECV
        {
            return 0;
        }
        let net = bindings::handoff_sock_net(sk);
        let port = (*sk).__sk_common.__bindgen_anon_3.__bindgen_anon_1.skc_num;
        if !policy::offload_on_accept(net, port) {
            return 0;
        }
        stats::inc(net, Stat::AcceptPolicyMatched);
        if !crate::ulp::attach_pending(sk) {
            stats::inc(net, Stat::RefusedNoMemory);
        }
    }
    0
}

/// The registered accept probe; unregistered on drop.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        let p = PROBE.get();
        // SAFETY: module init is single-threaded; the probe is not yet
        // registered; the symbol name is a static NUL-terminated string.
        unsafe {
            (*p).kp.symbol_name = c"inet_csk_accept".as_ptr();
            (*p).handler = Some(accept_ret);
            (*p).maxactive = MAX_ACTIVE;
            kernel::error::to_result(bindings::register_kretprobe(p))?;
        }
        REGISTERED.store(true, Ordering::Release);
        Ok(Registration(()))
    }
}

impl Registration {
    /// Unregisters the probe now (also done on drop).
    pub(crate) fn stop(&self) {
        if REGISTERED.swap(false, Ordering::AcqRel) {
            // SAFETY: registered in `new`; unregistering waits for running
            // handlers.
            let missed = unsafe {
                bindings::unregister_kretprobe(PROBE.get());
                (*PROBE.get()).nmissed
            };
            if missed > 0 {
                pr_warn!(
                    "accept probe missed {} accepts (more than {} at once)\n",
                    missed,
                    MAX_ACTIVE
                );
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop();
    }
}
