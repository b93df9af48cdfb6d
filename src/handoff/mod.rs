// SPDX-License-Identifier: GPL-2.0

//! Handoff (paper §3.2): moving an established connection from the host
//! stack to the NIC, and finishing the host socket once the NIC lets go.
//!
//! The sequence, all under the socket lock:
//!
//! 1. Admission: the socket is synchronized (ESTABLISHED or CLOSE_WAIT), its
//!    route leaves through an hnic device that is up, the next hop's MAC is
//!    known, and the namespace's `max_conns` is not reached.
//! 2. Capture: the `tcp_sock` state becomes a firmware [`Snapshot`]; the
//!    bytes from `snd_una` to `write_seq` (retransmit and write queues) and
//!    the received-but-unread bytes are copied into the bypass rings. Data
//!    already queued on either side moves with the connection.
//! 3. Park: a socket filter that drops everything is attached, so a segment
//!    that still reaches the host stack is never processed by the stale
//!    `tcp_sock` (the peer retransmits it to the NIC); segments already in
//!    the backlog are dropped too (`parked_backlog_rcv`).
//! 4. `handoff` command; wait for `handoff_done` (bounded).
//! 5. On success: purge the host queues and stop the host timers; the ULP
//!    then switches the socket to the bypass operations and the connection
//!    enters `Offloaded`, giving the NIC the queued data and receive space
//!    (`ulp::handed_off`). On refusal: undo 3, the socket continues
//!    natively.

pub(crate) use crate::conn::refused::Refused;

pub(crate) mod capture;
pub(crate) mod events;
pub(crate) mod restore;

use core::ptr;
use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::bindings;
use crate::conn::Conn;
use crate::firmware::msg::{self, SNAPSHOT_MSG_LEN};
use crate::firmware::Command;
use crate::policy;
use crate::stats::{self, Stat};
use crate::sys::{Sock, SockGuard};
use crate::vnic;

use capture::*;
pub(crate) use restore::{
    finish, hand_back_buffered, restore, route_still_via_nic, show_nic_view, DrainBy,
};

/// How long a handoff waits for the NIC's answer before it gives up and
/// the connection stays on the host.
const HANDOFF_TIMEOUT_MS: u32 = 1000;
/// How often, 10 ms apart, a handoff retries a full command ring (the
/// firmware drains it every poll) before it gives up as timed out.
const CMD_RING_FULL_RETRIES: u32 = 100;

/// Counts a refusal; the errno it means.
fn refuse(net: *mut bindings::net, r: Refused) -> Error {
    let (e, s) = r.errno_and_counter();
    stats::inc(net, s);
    e
}

/// A place in the namespace's `offloaded` count, taken at admission
/// (atomically against `net.handoff.max_conns`, so concurrent handoffs
/// cannot overshoot it) and given back unless the handoff succeeds.
struct Place {
    net: *mut bindings::net,
    kept: bool,
}

impl Place {
    fn take(net: *mut bindings::net) -> Option<Place> {
        let limit = match policy::max_conns(net) {
            0 => u64::MAX,
            m => u64::from(m),
        };
        // `then`, not `then_some`: a Place built and dropped on refusal
        // would give back a place it never took.
        stats::inc_below(net, Stat::Offloaded, limit).then(|| Place { net, kept: false })
    }

    /// The connection is handed off: its place is the phase's from here,
    /// given back when it leaves the NIC (`crate::conn::phase::enter`).
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.kept {
            stats::dec(self.net, Stat::Offloaded);
        }
    }
}

fn tcp(sk: *mut bindings::sock) -> *mut bindings::tcp_sock {
    sk.cast()
}

/// Hands off `c`'s socket.
///
/// # Safety
///
/// `c` is the boxed record of `c.sk` (stable address), the caller holds
/// the socket lock, and no NIC knows the connection yet.
pub(crate) unsafe fn offload(c: &mut Conn) -> Result {
    let sk = c.sk;
    let net = c.net;
    // SAFETY: by the contract.
    if c.native_calls.load(Ordering::Acquire) > 0 || unsafe { blocked_in_native(sk) } {
        // Another system call is inside native TCP, or sleeps there (it
        // started before the socket was marked): it would carry on there
        // after the move.
        // Not now; the next call that enters through the pending protocol
        // tries again.
        return Err(EAGAIN);
    }
    stats::inc(net, Stat::HandoffAttempts);
    // SAFETY: the caller holds the lock of `sk`, a live TCP socket, for
    // the whole call (the contract); the guard does not release it.
    let sock = unsafe { SockGuard::already_locked(Sock::from_raw(sk)) };
    // SAFETY: as above.
    let family = unsafe { (*sk).__sk_common.skc_family };
    if movable_state(&sock).is_none() {
        return Err(refuse(net, Refused::NotEstablished));
    }
    let tp = sock.tcp();
    if tp.repair() != 0 || tp.tcp_usec_ts() != 0 || tp.urg_data != 0 {
        return Err(refuse(net, Refused::Unusual));
    }
    if sock.has_filter() {
        return Err(refuse(net, Refused::Filter));
    }
    let Some(place) = Place::take(net) else {
        return Err(refuse(net, Refused::MaxConns));
    };
    // SAFETY: as above.
    let route = unsafe { Route::of(sk, family) }?;
    let nic = route.nic;

    // Segments that arrive while this system call owns the socket wait in
    // its backlog: process them natively before the capture, so that their
    // data moves with the connection (parked, they would be dropped and
    // the peer would resend them only after its RTO). Everything that may
    // sleep comes before the socket is parked, so flush after it and park
    // with nothing slow in between.
    let filter = ParkFilter::new().map_err(|_| refuse(net, Refused::NoMemory))?;
    let mut rounds = 0;
    let (tcp_state, queued, unread) = loop {
        // SAFETY: as above.
        unsafe { bindings::handoff_sk_flush_backlog(sk) };
        let Some(tcp_state) = movable_state(&sock) else {
            return Err(refuse(net, Refused::NotEstablished));
        };
        let (queued, unread) = queue_lengths(&sock);
        if crate::conn::rings::rings_fit(c, queued as usize, unread as usize) {
            break (tcp_state, queued, unread);
        }
        rounds += 1;
        if rounds > 4 {
            // Data keeps outgrowing the rings: not now, at the next call.
            return Err(EAGAIN);
        }
        if crate::conn::rings::alloc_rings(c, queued as usize, unread as usize).is_err() {
            return Err(refuse(net, Refused::NoMemory));
        }
    };

    // Park: from here the host's tcp_sock does not change.
    // SAFETY: locked socket without a filter (checked above).
    unsafe { park(sk, c, filter) };

    // Capture.
    // SAFETY: as above; the rings were sized for these lengths.
    unsafe {
        copy_send_queue(sk, &mut c.snd[..queued as usize]);
        copy_recv_queue(sk, &mut c.rcv[..unread as usize]);
    }
    let snap = capture(&sock, tcp_state, &route, c.rcv.len() as u32, unread);
    let mut msg = [0u8; SNAPSHOT_MSG_LEN];
    let cookie = c as *const Conn as u64;
    if (Command::Handoff { cookie, snap })
        .encode(&mut msg)
        .is_err()
    {
        // SAFETY: parked above; no NIC knows the connection.
        unsafe { unpark(sk, c) };
        return Err(refuse(net, Refused::BadSnapshot));
    }
    crate::conn::rings::set_initial(c, u64::from(queued), u64::from(unread));

    // Hand off.
    // SAFETY: `route.dev` is the live device of the route we hold; the
    // reference keeps its `Nic` alive until `finish` or the undo below.
    unsafe { bindings::handoff_dev_hold(route.dev) };
    c.dev = route.dev;
    c.nic
        .store(nic as *const vnic::Nic as *mut vnic::Nic, Ordering::Release);
    // The place in the gauge is the phase's from here (`conn::phase::enter`).
    place.keep();
    crate::conn::phase::begin_handoff(c);
    let r = submit_and_wait(c, nic, &msg);
    drop(route);
    match r {
        Ok(()) => {
            // SAFETY: locked socket, handed off.
            unsafe {
                purge_queues(sk);
                bindings::handoff_tcp_clear_xmit_timers(sk);
            }
            // The caller switches the socket to the bypass operations and
            // starts the connection (`ulp::handed_off`).
            Ok(())
        }
        Err(e) => {
            // SAFETY: locked socket we parked above; the NIC does not run
            // the connection (refused, timed out and withdrawn, or gone).
            unsafe {
                unpark(sk, c);
                c.nic.store(ptr::null_mut(), Ordering::Release);
                crate::conn::phase::handoff_failed(c);
                bindings::handoff_dev_put(c.dev);
            }
            c.dev = ptr::null_mut();
            c.snd = kernel::alloc::VVec::new();
            c.rcv = kernel::alloc::VVec::new();
            Err(refuse(net, e))
        }
    }
}

fn submit_and_wait(c: &Conn, nic: &vnic::Nic, msg: &[u8]) -> Result<(), Refused> {
    // SAFETY: the completion was initialised; nothing waits on it now.
    unsafe { bindings::handoff_reinit_completion(c.done.get()) };
    let mut ring_full = 0;
    loop {
        // A burst of handoffs waits for the ones in flight rather than
        // being refused (it would stay on the host for good).
        nic.offload
            .reserve_pending(&nic.ctr, HANDOFF_TIMEOUT_MS)
            .map_err(|_| Refused::TimedOut)?;
        let g = nic.offload.lock();
        nic.offload.add_pending(&g, c).map_err(|e| {
            if e == ENOSPC {
                Refused::Nic(msg::Refusal::NoConnSlot)
            } else {
                Refused::DeviceDown
            }
        })?;
        match nic.submit(msg) {
            Ok(()) => break,
            Err(e) => {
                nic.offload.remove_pending(&g, c);
                if e != EBUSY {
                    return Err(Refused::BadSnapshot);
                }
            }
        }
        drop(g);
        ring_full += 1;
        if ring_full > CMD_RING_FULL_RETRIES {
            return Err(Refused::TimedOut);
        }
        crate::sys::time::msleep(10);
    }
    // SAFETY: plain conversions; the completion was initialised and is
    // completed by NAPI (`handoff_result`) or `nic_failed`.
    let left = unsafe {
        bindings::wait_for_completion_timeout(
            c.done.get(),
            bindings::__msecs_to_jiffies(HANDOFF_TIMEOUT_MS),
        )
    };
    let g = nic.offload.lock();
    if left == 0 && nic.offload.remove_pending(&g, c) {
        // Withdrawn before the NIC answered; a late `handoff_done` finds no
        // one waiting and takes the connection back from the NIC.
        return Err(Refused::TimedOut);
    }
    // `None`: completed between the timeout and the lock; a result is set.
    crate::conn::phase::take_result(c).unwrap_or(Err(Refused::TimedOut))
}

/// The route of `sk` looked up afresh, referenced (null: there is none),
/// as TCP does when its cached one went stale (`icsk_af_ops->rebuild_header`).
/// The cached one is dropped first, because a deleted route's cached
/// entries are only marked dead once the kernel frees them, after a grace
/// period.
///
/// # Safety
///
/// `sk` is a live TCP socket whose lock the caller holds.
unsafe fn fresh_route(sk: *mut bindings::sock) -> *mut bindings::dst_entry {
    // SAFETY: a TCP socket's af_ops are set for its life; the lock is held
    // as `rebuild_header` requires.
    unsafe {
        let af = (*sk.cast::<bindings::inet_connection_sock>()).icsk_af_ops;
        let Some(rebuild) = af.as_ref().and_then(|af| af.rebuild_header) else {
            return bindings::handoff_sk_dst_get(sk);
        };
        bindings::handoff_sk_dst_reset(sk);
        if rebuild(sk) != 0 {
            return ptr::null_mut();
        }
        bindings::handoff_sk_dst_get(sk)
    }
}

/// The route of a socket, if it leaves through an hnic device.
pub(crate) struct Route<'a> {
    dst: *mut bindings::dst_entry,
    dev: *mut bindings::net_device,
    nic: &'a vnic::Nic,
    local_mac: [u8; 6],
    remote_mac: [u8; 6],
    v6: bool,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        // SAFETY: the reference taken by `sk_dst_get` in `of`.
        unsafe { bindings::handoff_dst_release(self.dst) };
    }
}

impl Route<'_> {
    /// # Safety
    ///
    /// `sk` is a live, locked TCP socket of `family`.
    unsafe fn of(sk: *mut bindings::sock, family: u16) -> Result<Self> {
        // SAFETY: by the contract.
        let net = unsafe { bindings::handoff_sock_net(sk) };
        // SAFETY: as above; a non-null dst comes with a reference.
        let mut dst = unsafe { bindings::handoff_sk_dst_get(sk) };
        // SAFETY: a non-null `dst` is referenced; its device lives at least
        // as long.
        let via_nic =
            !dst.is_null() && vnic::nic_of_dev(unsafe { bindings::handoff_dst_dev(dst) }).is_some();
        if !via_nic {
            // The cached route may be one a link flap left behind (its
            // device is then the blackhole device): look it up again, as
            // TCP does when it next sends.
            if !dst.is_null() {
                // SAFETY: the reference taken above.
                unsafe { bindings::handoff_dst_release(dst) };
            }
            // SAFETY: by the contract.
            dst = unsafe { fresh_route(sk) };
        }
        if dst.is_null() {
            return Err(refuse(net, Refused::NoDevice));
        }
        // SAFETY: `dst` is referenced; its device lives at least as long.
        let dev = unsafe { bindings::handoff_dst_dev(dst) };
        let Some(nic) = (!dev.is_null()).then(|| vnic::nic_of_dev(dev)).flatten() else {
            // SAFETY: the reference taken above.
            unsafe { bindings::handoff_dst_release(dst) };
            return Err(refuse(net, Refused::NoDevice));
        };
        let mut route = Route {
            dst,
            dev,
            nic,
            local_mac: [0; 6],
            remote_mac: [0; 6],
            v6: false,
        };
        // SAFETY: `dev` is alive (held by the route).
        let up = unsafe {
            bindings::handoff_netif_running(dev) && bindings::handoff_netif_carrier_ok(dev)
        };
        if !up {
            return Err(refuse(net, Refused::DeviceDown));
        }
        // SAFETY: an Ethernet device's address is ETH_ALEN bytes.
        unsafe { ptr::copy_nonoverlapping((*dev).dev_addr, route.local_mac.as_mut_ptr(), 6) };
        // SAFETY: `sk` is live (contract).
        let mapped = unsafe { SockGuard::already_locked(Sock::from_raw(sk)) }.peer_v4_mapped();
        route.v6 = u32::from(family) == bindings::AF_INET6 && !mapped;
        // SAFETY: live socket; the neighbour lookup key is the peer address
        // (hnic links are on-link, no gateway).
        let n = unsafe {
            let daddr: *const core::ffi::c_void = if route.v6 {
                ptr::addr_of!((*sk).__sk_common.skc_v6_daddr).cast()
            } else {
                ptr::addr_of!(
                    (*sk)
                        .__sk_common
                        .__bindgen_anon_1
                        .__bindgen_anon_1
                        .skc_daddr
                )
                .cast()
            };
            bindings::handoff_dst_neigh_lookup(dst, daddr)
        };
        if n.is_null() {
            return Err(refuse(net, Refused::NoNeighbour));
        }
        // SAFETY: `n` is referenced until released below.
        let valid = unsafe { u32::from((*n).nud_state) & bindings::NUD_VALID != 0 };
        if valid {
            // SAFETY: as above.
            unsafe { bindings::handoff_neigh_ha_snapshot(route.remote_mac.as_mut_ptr(), n, dev) };
        }
        // SAFETY: the reference from the lookup.
        unsafe { bindings::handoff_neigh_release(n) };
        if !valid {
            return Err(refuse(net, Refused::NoNeighbour));
        }
        Ok(route)
    }
}

/// Whether a system call sleeps on the socket inside native TCP (a blocking
/// `recvmsg`/`sendmsg`/`connect` waits with `woken_wake_function` or
/// `autoremove_wake_function`; poll and epoll entries use their own).
///
/// # Safety
///
/// `sk` is a live socket whose lock the caller holds.
unsafe fn blocked_in_native(sk: *mut bindings::sock) -> bool {
    // SAFETY: by the contract; the wait queue head lives with the socket's
    // `socket_wq`; its list is walked under its own lock.
    unsafe {
        if (*sk).sk_socket.is_null() {
            return false;
        }
        let wq = bindings::handoff_sk_sleep(sk);
        let flags = bindings::handoff_wq_lock(wq);
        let head = ptr::addr_of_mut!((*wq).head);
        let mut p = (*head).next;
        let mut found = false;
        while p != head {
            let e = (p as *mut u8)
                .sub(core::mem::offset_of!(bindings::wait_queue_entry, entry))
                .cast::<bindings::wait_queue_entry>();
            // Compared by address: these are the kernel's exported functions.
            let f = (*e).func.map_or(0, |f| f as usize);
            let woken =
                bindings::woken_wake_function as unsafe extern "C" fn(_, _, _, _) -> _ as usize;
            let autoremove = bindings::autoremove_wake_function
                as unsafe extern "C" fn(_, _, _, _) -> _ as usize;
            if f == woken || f == autoremove {
                found = true;
                break;
            }
            p = (*p).next;
        }
        bindings::handoff_wq_unlock(wq, flags);
        found
    }
}
