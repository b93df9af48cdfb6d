// SPDX-License-Identifier: GPL-2.0

//! What restores connections without an operator asking: the device
//! running them going down or away, and a route change that takes them off
//! their device.

use kernel::prelude::*;

use crate::bindings;

use super::*;

/// Restores every offloaded connection on `nic` (device going down):
/// process context, RTNL held by the caller.
pub(crate) fn restore_device(nic: &crate::vnic::Nic) -> u32 {
    let mut n = 0;
    loop {
        let socks = nic.offload.held_sockets();
        if socks.is_empty() {
            return n;
        }
        for &sk in socks.iter() {
            // SAFETY: held by `held_sockets`.
            unsafe { pre_quiesce(sk) };
        }
        // Their flights drain together: the RTNL hold is bounded by one
        // drain, not one per connection.
        let drain = DrainBy::from_now();
        let mut progress = false;
        for &sk in socks.iter() {
            // SAFETY: held by `held_sockets`.
            if unsafe { apply_one(Op::Restore, sk, drain) }.is_ok() {
                n += 1;
                progress = true;
            }
            // SAFETY: as above.
            unsafe { bindings::handoff_sock_put(sk) };
        }
        if !progress {
            return n;
        }
    }
}

/// A route changed in `net` (`route.rs`): each of the namespace's
/// offloaded connections whose route no longer leaves through the hnic
/// device running it comes back to the host, and stays there until
/// `net.handoff.offload` hands it to the device its route now uses.
/// Process context.
pub(crate) fn route_changed(net: *mut bindings::net) {
    let Ok(socks) = collect(net, &Selector::All) else {
        return;
    };
    for &sk in socks.iter() {
        // SAFETY: held by `collect`; the record is used under the socket
        // lock, as everywhere.
        unsafe {
            bindings::handoff_lock_sock(sk);
            if let Some(c) = crate::conn::record_ptr(sk) {
                let c = &mut *c;
                if c.nic().is_some()
                    && crate::conn::phase::phase_locked(c).is_offloaded()
                    && !crate::handoff::route_still_via_nic(c)
                {
                    let cookie = cookie_of(sk);
                    match crate::handoff::restore(c, DrainBy::from_now()) {
                        Ok(()) => pr_info!("route of connection {} left its hnic device: restored to the host\n", cookie),
                        Err(e) => pr_warn!("route of connection {} left its hnic device; restore failed: error {}\n",
                            cookie, e.to_errno()),
                    }
                }
            }
            bindings::release_sock(sk);
            bindings::handoff_sock_put(sk);
        }
    }
}
