// SPDX-License-Identifier: GPL-2.0

//! Operator control of individual connections: the write-only sysctls
//! `net.handoff.restore` and `net.handoff.offload` that take connections
//! back to the host or hand them (again) to the NIC (Documentation/
//! sysctl.rst).
//!
//! What they name is a selector (`selector.rs`). The other ways
//! connections come back without being asked for are in `triggers.rs`
//! (device, route) and `unload.rs` (module unload).

pub(crate) mod selector;
pub(crate) mod triggers;
pub(crate) mod unload;

use core::ffi::{c_int, c_void};
use core::ptr;

use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::prelude::*;

use crate::bindings;
use crate::conn::registry::each_record;
use crate::conn::Phase;
use crate::errno;
use crate::handoff::DrainBy;
use selector::Selector;
pub(crate) use triggers::{restore_device, route_changed};
pub(crate) use unload::shutdown;

/// # Safety
///
/// `sk` is a live socket.
unsafe fn matches(sel: &Selector, sk: *mut bindings::sock) -> bool {
    match *sel {
        Selector::All => true,
        // The cookie exists once someone asked for it (ss, SO_COOKIE): a
        // selector can only name a cookie that was shown. Zero means none.
        // SAFETY: by the contract; skc_cookie is an atomic64_t.
        Selector::Cookie(v) => v != 0 && unsafe { cookie_of(sk) } == v,
        Selector::Tuple {
            v6,
            local,
            lport,
            remote,
            rport,
        } => {
            // SAFETY: by the contract; plain-data unions of the socket.
            unsafe {
                let common = &(*sk).__sk_common;
                let ports = &common.__bindgen_anon_3.__bindgen_anon_1;
                if ports.skc_num != lport || u16::from_be(ports.skc_dport) != rport {
                    return false;
                }
                if v6 {
                    let l: [u8; 16] = core::mem::transmute(common.skc_v6_rcv_saddr);
                    let r: [u8; 16] = core::mem::transmute(common.skc_v6_daddr);
                    l == local && r == remote
                } else {
                    let a = &common.__bindgen_anon_1.__bindgen_anon_1;
                    a.skc_rcv_saddr.to_ne_bytes() == local[..4]
                        && a.skc_daddr.to_ne_bytes() == remote[..4]
                }
            }
        }
    }
}

/// Held sockets of the registry that `sel` names in `net` (any namespace
/// if `net` is null).
fn collect(net: *mut bindings::net, sel: &Selector) -> Result<KVec<*mut bindings::sock>> {
    let mut cap = 64;
    loop {
        let mut out = KVec::with_capacity(cap, GFP_KERNEL)?;
        let complete = each_record(|c| {
            // SAFETY: a registered record's socket is alive (see above).
            if (net.is_null() || c.net == net) && unsafe { matches(sel, c.sk) } {
                if out.len() == out.capacity() {
                    return false;
                }
                // SAFETY: as above.
                unsafe { bindings::handoff_sock_hold(c.sk) };
                let _ = out.push(c.sk, kernel::alloc::flags::GFP_ATOMIC);
            }
            true
        });
        if complete {
            return Ok(out);
        }
        for &sk in out.iter() {
            // SAFETY: held above.
            unsafe { bindings::handoff_sock_put(sk) };
        }
        cap *= 4;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Restore,
    Offload,
}

/// Stops feeding the NIC new data for `sk` (a restore follows).
///
/// # Safety
///
/// `sk` is live (held by the caller).
unsafe fn pre_quiesce(sk: *mut bindings::sock) {
    // SAFETY: by the contract.
    unsafe {
        bindings::handoff_lock_sock(sk);
        if let Some(c) = crate::conn::conn_of(sk) {
            crate::conn::phase::pre_quiesce(c);
        }
        bindings::release_sock(sk);
    }
}

/// Applies `op` to one socket (process context).
///
/// # Safety
///
/// `sk` is live (held by the caller).
unsafe fn apply_one(op: Op, sk: *mut bindings::sock, drain: DrainBy) -> Result {
    // SAFETY: by the contract.
    unsafe { bindings::handoff_lock_sock(sk) };
    // SAFETY: locked; our ULP's record if the ULP is still ours.
    let r = match unsafe { crate::conn::record_ptr(sk) } {
        None => Err(ENOENT),
        Some(c) => {
            // SAFETY: the record is ours and the socket is locked.
            unsafe {
                let c = &mut *c;
                match (op, c.nic().is_some(), crate::conn::phase::phase_locked(c)) {
                    (Op::Restore, true, Phase::Offloaded { .. }) => {
                        crate::handoff::restore(c, drain)
                    }
                    (Op::Restore, _, _) => Err(errno::EALREADY()),
                    (Op::Offload, false, Phase::Restored) => {
                        crate::ulp::install_pending(c);
                        // At once, unless a system call is in native TCP
                        // on it: then at its next call (`ulp.rs`).
                        crate::ulp::offload_or_detach(c)
                    }
                    (Op::Offload, _, _) => Err(errno::EALREADY()),
                }
            }
        }
    };
    // SAFETY: locked above.
    unsafe { bindings::release_sock(sk) };
    r
}

fn apply(net: *mut bindings::net, op: Op, input: &[u8]) -> Result {
    let sel = selector::parse(input).ok_or(EINVAL)?;
    let socks = collect(net, &sel)?;
    if op == Op::Restore && socks.len() > 1 {
        // Let every NIC flight drain at once before restoring one by one.
        for &sk in socks.iter() {
            // SAFETY: held by `collect`.
            unsafe { pre_quiesce(sk) };
        }
    }
    // One drain deadline for the whole batch.
    let drain = DrainBy::from_now();
    let mut result = if matches!(sel, Selector::All) {
        Ok(())
    } else {
        Err(ENOENT)
    };
    let mut any_ok = false;
    for &sk in socks.iter() {
        // SAFETY: held by `collect`.
        let r = unsafe { apply_one(op, sk, drain) };
        // SAFETY: as above.
        unsafe { bindings::handoff_sock_put(sk) };
        match (&sel, r) {
            (_, Ok(())) => any_ok = true,
            // `all` acts on what it can; refusals are counted.
            (Selector::All, Err(_)) => {}
            (_, Err(e)) => result = Err(e),
        }
    }
    if any_ok && !matches!(sel, Selector::All) {
        result = Ok(());
    }
    result
}

/// `proc_handler` of `net.handoff.restore` and `net.handoff.offload`
/// (write-only; `extra1` is the namespace, `extra2` non-null for offload).
///
/// # Safety
///
/// Called by the sysctl core only, with a kernel buffer of `*lenp` bytes.
pub(crate) unsafe extern "C" fn proc_control(
    ctl: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    if write == 0 {
        return EPERM.to_errno();
    }
    // SAFETY: by the contract.
    let (len, pos, net, offload) = unsafe {
        (
            *lenp,
            *ppos,
            (*ctl).extra1.cast::<bindings::net>(),
            !(*ctl).extra2.is_null(),
        )
    };
    if pos != 0 || len == 0 || len > 256 {
        return EINVAL.to_errno();
    }
    // SAFETY: `buffer` holds `len` bytes.
    let input = unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), len) };
    match apply(net, if offload { Op::Offload } else { Op::Restore }, input) {
        Ok(()) => {
            // SAFETY: valid pointers (contract).
            unsafe { *ppos += len as bindings::loff_t };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The socket's cookie, 0 if nobody asked for one yet (`SO_COOKIE`, `ss`).
///
/// # Safety
///
/// `sk` is a live socket.
unsafe fn cookie_of(sk: *mut bindings::sock) -> u64 {
    // SAFETY: by the contract; skc_cookie is an atomic64_t.
    (unsafe { ptr::read_volatile(&(*sk).__sk_common.skc_cookie.counter) }) as u64
}
