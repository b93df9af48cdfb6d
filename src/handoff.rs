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
//! 5. On success: purge the host queues, stop the host timers, switch the
//!    socket to the bypass operations, give the NIC the queued data and
//!    receive space. On refusal: undo 3, the socket continues natively.

use core::ffi::c_int;
use core::ptr;
use core::sync::atomic::Ordering;

use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::prelude::*;

use crate::bindings;
use crate::bypass::{self, Conn, Phase};
use crate::errno;
use crate::firmware::msg::{self, SNAPSHOT_MSG_LEN};
use crate::firmware::{Command, SnapFlags, Snapshot, TcpState};
use crate::policy;
use crate::stats::{self, Stat};
use crate::vnic;

/// How long a handoff waits for the NIC's answer before it gives up and
/// the connection stays on the host.
const HANDOFF_TIMEOUT_MS: u32 = 1000;
/// How often, 10 ms apart, a handoff retries a full command ring (the
/// firmware drains it every poll) before it gives up as timed out.
const CMD_RING_FULL_RETRIES: u32 = 100;

/// Why a handoff did not happen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refused {
    /// Not established (or no longer).
    NotEstablished,
    /// In a state handoff does not carry (repair mode, microsecond
    /// timestamps, urgent data).
    Unusual,
    /// A socket filter is attached (the parked socket needs the slot).
    Filter,
    /// `net.handoff.max_conns` reached.
    MaxConns,
    /// The host could not allocate what the handoff needs.
    NoMemory,
    /// The snapshot does not encode.
    BadSnapshot,
    /// The route does not leave through an hnic device.
    NoDevice,
    /// The device is down, or went away during the handoff.
    DeviceDown,
    /// No resolved neighbour for the next hop.
    NoNeighbour,
    /// The NIC did not answer in time (or its command ring stayed full).
    TimedOut,
    /// The NIC answered for a handoff it does not know.
    BadAnswer,
    /// The NIC refused.
    Nic(msg::Refusal),
}

impl Refused {
    /// The one table of refusals: the errno an explicit
    /// `setsockopt(TCP_ULP)` returns and the counter bumped
    /// (`/proc/net/handoff_stat`, Documentation/handoff.rst).
    fn errno_and_counter(self) -> (Error, Stat) {
        use msg::Refusal as Nic;
        match self {
            Refused::NotEstablished => (errno::ENOTCONN(), Stat::RefusedState),
            Refused::Unusual => (errno::EOPNOTSUPP(), Stat::RefusedState),
            Refused::Filter => (EBUSY, Stat::RefusedFilter),
            Refused::MaxConns => (ENOSPC, Stat::RefusedMaxConns),
            Refused::NoMemory => (ENOMEM, Stat::RefusedNoMemory),
            Refused::BadSnapshot => (EINVAL, Stat::RefusedBadSnapshot),
            Refused::NoDevice => (ENODEV, Stat::RefusedNoDevice),
            Refused::DeviceDown => (errno::ENETDOWN(), Stat::RefusedDeviceDown),
            Refused::NoNeighbour => (errno::EHOSTUNREACH(), Stat::RefusedNoNeighbour),
            Refused::TimedOut => (errno::ETIMEDOUT(), Stat::RefusedTimeout),
            Refused::BadAnswer => (EIO, Stat::RefusedState),
            Refused::Nic(Nic::NoConnSlot) => (ENOSPC, Stat::RefusedNoConnSlot),
            Refused::Nic(Nic::Duplicate) => (EEXIST, Stat::RefusedDuplicate),
            Refused::Nic(Nic::BadSnapshot) => (EINVAL, Stat::RefusedBadSnapshot),
            Refused::Nic(Nic::NoRefs) => (errno::ENOBUFS(), Stat::RefusedNoRefs),
            Refused::Nic(Nic::BadCid | Nic::Unsupported | Nic::Shutdown | Nic::Unknown(_)) => {
                (errno::EOPNOTSUPP(), Stat::RefusedState)
            }
        }
    }
}

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
    /// given back when it leaves the NIC (`bypass::enter`).
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
    // SAFETY: by the contract, `sk` is a live, locked TCP socket.
    let family = unsafe { (*sk).__sk_common.skc_family };
    // SAFETY: as above.
    if unsafe { movable_state(sk) }.is_none() {
        return Err(refuse(net, Refused::NotEstablished));
    }
    // SAFETY: as above.
    let odd = unsafe {
        let tp = &*tcp(sk);
        tp.repair() != 0 || tp.tcp_usec_ts() != 0 || tp.urg_data != 0
    };
    if odd {
        return Err(refuse(net, Refused::Unusual));
    }
    // SAFETY: as above.
    if !unsafe { (*sk).sk_filter }.is_null() {
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
        // SAFETY: as above.
        let Some(tcp_state) = (unsafe { movable_state(sk) }) else {
            return Err(refuse(net, Refused::NotEstablished));
        };
        // SAFETY: as above.
        let (queued, unread) = unsafe { queue_lengths(sk) };
        if bypass::rings_fit(c, queued as usize, unread as usize) {
            break (tcp_state, queued, unread);
        }
        rounds += 1;
        if rounds > 4 {
            // Data keeps outgrowing the rings: not now, at the next call.
            return Err(EAGAIN);
        }
        if bypass::alloc_rings(c, queued as usize, unread as usize).is_err() {
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
    // SAFETY: as above.
    let snap = unsafe { capture(sk, tcp_state, &route, c.rcv.len() as u32, unread) };
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
    // SAFETY: no NIC knows the connection yet.
    unsafe { bypass::set_initial(c, u64::from(queued), u64::from(unread)) };

    // Hand off.
    // SAFETY: `route.dev` is the live device of the route we hold; the
    // reference keeps its `Nic` alive until `finish` or the undo below.
    unsafe { bindings::handoff_dev_hold(route.dev) };
    c.dev = route.dev;
    c.nic
        .store(nic as *const vnic::Nic as *mut vnic::Nic, Ordering::Release);
    // The place in the gauge is the phase's from here (`bypass::enter`).
    place.keep();
    // SAFETY: still unknown to the NIC.
    unsafe { bypass::begin_handoff(c) };
    let r = submit_and_wait(c, nic, &msg);
    drop(route);
    match r {
        Ok(()) => {
            // SAFETY: locked socket, handed off.
            unsafe {
                purge_queues(sk);
                bindings::handoff_tcp_clear_xmit_timers(sk);
                crate::ulp::install_bypass(c);
            }
            // Offloaded from here; waiters re-evaluate their readiness.
            bypass::start(c, nic);
            Ok(())
        }
        Err(e) => {
            // SAFETY: locked socket we parked above; the NIC does not run
            // the connection (refused, timed out and withdrawn, or gone).
            unsafe {
                unpark(sk, c);
                c.nic.store(ptr::null_mut(), Ordering::Release);
                bypass::handoff_failed(c);
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
    let me = c as *const Conn as *mut Conn;
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
        nic.offload.add_pending(&g, me).map_err(|e| {
            if e == ENOSPC {
                Refused::Nic(msg::Refusal::NoConnSlot)
            } else {
                Refused::DeviceDown
            }
        })?;
        match nic.submit(msg) {
            Ok(()) => break,
            Err(e) => {
                nic.offload.remove_pending(&g, me);
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
        // SAFETY: process context (the socket lock may sleep too).
        unsafe { bindings::msleep(10) };
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
    if left == 0 && nic.offload.remove_pending(&g, me) {
        // Withdrawn before the NIC answered; a late `handoff_done` finds no
        // one waiting and takes the connection back from the NIC.
        return Err(Refused::TimedOut);
    }
    // `None`: completed between the timeout and the lock; a result is set.
    bypass::take_result(c, &g).unwrap_or(Err(Refused::TimedOut))
}

/// The route of a socket, if it leaves through an hnic device.
struct Route<'a> {
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
        let dst = unsafe { bindings::handoff_sk_dst_get(sk) };
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
        let mapped = unsafe { is_v4_mapped(sk) };
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

/// # Safety
///
/// `sk` is a live socket.
unsafe fn is_v4_mapped(sk: *mut bindings::sock) -> bool {
    // SAFETY: by the contract; in6_addr is 16 plain bytes.
    let a: [u8; 16] = unsafe { core::mem::transmute((*sk).__sk_common.skc_v6_daddr) };
    a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff
}

/// Bytes from `snd_una` on the host still holds, and received bytes not yet
/// read. After the peer's FIN (CLOSE_WAIT), `rcv_nxt` counts it too; it is
/// no byte to read (as in `tcp_inq`).
///
/// # Safety
///
/// `sk` is a live, locked TCP socket.
unsafe fn queue_lengths(sk: *mut bindings::sock) -> (u32, u32) {
    // SAFETY: by the contract.
    let (tp, fin_in) = unsafe {
        (
            &*tcp(sk),
            bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_DONE as c_int),
        )
    };
    let unread = tp.rcv_nxt.wrapping_sub(tp.copied_seq);
    (
        tp.write_seq.wrapping_sub(tp.snd_una),
        if fin_in {
            unread.saturating_sub(1)
        } else {
            unread
        },
    )
}

/// Copies `skb`'s payload overlapping `[from, from + out.len())` (sequence
/// space) into `out`.
///
/// # Safety
///
/// `skb` is a live TCP skb.
unsafe fn copy_overlap(skb: *mut bindings::sk_buff, from: u32, out: &mut [u8]) -> usize {
    // SAFETY: by the contract.
    let (seq, len) = unsafe { (bindings::handoff_tcp_skb_seq(skb), (*skb).len) };
    let end = seq.wrapping_add(len);
    let lo = if (seq.wrapping_sub(from) as i32) < 0 {
        from
    } else {
        seq
    };
    let hi_limit = from.wrapping_add(out.len() as u32);
    let hi = if (end.wrapping_sub(hi_limit) as i32) > 0 {
        hi_limit
    } else {
        end
    };
    let n = hi.wrapping_sub(lo) as i32;
    if n <= 0 {
        return 0;
    }
    let dst = lo.wrapping_sub(from) as usize;
    // SAFETY: `[lo - seq, lo - seq + n)` is inside the skb's payload and
    // `[dst, dst + n)` inside `out` (clamped above).
    let r = unsafe {
        bindings::skb_copy_bits(
            skb,
            lo.wrapping_sub(seq) as c_int,
            out.as_mut_ptr().add(dst).cast(),
            n,
        )
    };
    if r == 0 {
        n as usize
    } else {
        0
    }
}

/// # Safety
///
/// `sk` is a live, locked TCP socket; `out` is `write_seq - snd_una` long.
unsafe fn copy_send_queue(sk: *mut bindings::sock, out: &mut [u8]) {
    // SAFETY: by the contract; both queues are stable under the lock.
    unsafe {
        let una = (*tcp(sk)).snd_una;
        let mut skb = bindings::handoff_tcp_rtx_queue_head(sk);
        while !skb.is_null() {
            copy_overlap(skb, una, out);
            skb = bindings::handoff_skb_rb_next(skb);
        }
        let q = ptr::addr_of_mut!((*sk).sk_write_queue);
        let mut skb = bindings::handoff_skb_peek(q);
        while !skb.is_null() {
            copy_overlap(skb, una, out);
            skb = bindings::handoff_skb_peek_next(skb, q);
        }
    }
}

/// # Safety
///
/// `sk` is a live, locked TCP socket; `out` is `rcv_nxt - copied_seq` long.
unsafe fn copy_recv_queue(sk: *mut bindings::sock, out: &mut [u8]) {
    // SAFETY: by the contract.
    unsafe {
        let from = (*tcp(sk)).copied_seq;
        let q = ptr::addr_of_mut!((*sk).sk_receive_queue);
        let mut skb = bindings::handoff_skb_peek(q);
        while !skb.is_null() {
            copy_overlap(skb, from, out);
            skb = bindings::handoff_skb_peek_next(skb, q);
        }
    }
}

/// Frees the host's copies of the data that moved to the NIC (the shape of
/// `tcp_write_queue_purge`, which is not exported).
///
/// # Safety
///
/// `sk` is a live, locked TCP socket that was handed off.
unsafe fn purge_queues(sk: *mut bindings::sock) {
    // SAFETY: by the contract.
    unsafe {
        loop {
            let skb = bindings::handoff_tcp_rtx_queue_head(sk);
            if skb.is_null() {
                break;
            }
            bindings::handoff_tcp_rtx_queue_unlink_and_free(skb, sk);
        }
        let q = ptr::addr_of_mut!((*sk).sk_write_queue);
        loop {
            let skb = bindings::handoff_skb_peek(q);
            if skb.is_null() {
                break;
            }
            bindings::handoff_tcp_unlink_write_queue(skb, sk);
            bindings::handoff_tcp_skb_tsorted_anchor_cleanup(skb);
            bindings::handoff_tcp_wmem_free_skb(sk, skb);
        }
        let tp = &mut *tcp(sk);
        bindings::handoff_init_list_head(&mut tp.tsorted_sent_queue);
        bindings::handoff_tcp_clear_all_retrans_hints(tp);
        tp.highest_sack = ptr::null_mut();
        tp.packets_out = 0;
        tp.sacked_out = 0;
        tp.lost_out = 0;
        tp.retrans_out = 0;
        bindings::handoff_skb_queue_purge(ptr::addr_of_mut!((*sk).sk_receive_queue));
        // skb_rbtree_purge() is not exported: the same loop.
        loop {
            let node = bindings::rb_first(&tp.out_of_order_queue);
            if node.is_null() {
                break;
            }
            bindings::rb_erase(node, &mut tp.out_of_order_queue);
            bindings::handoff_dev_kfree_skb_any(bindings::handoff_rb_to_skb(node));
        }
        tp.ooo_last_skb = ptr::null_mut();
        tp.rx_opt.num_sacks = 0;
        tp.copied_seq = tp.rcv_nxt;
        bindings::handoff_sk_mem_reclaim(sk);
    }
}

/// The firmware snapshot of a synchronized `tcp_sock`.
///
/// # Safety
///
/// `sk` is a live, locked TCP socket.
unsafe fn capture(
    sk: *mut bindings::sock,
    state: TcpState,
    route: &Route<'_>,
    rcv_buf: u32,
    unread: u32,
) -> Snapshot {
    // SAFETY: by the contract.
    let (tp, icsk) = unsafe { (&*tcp(sk), &*sk.cast::<bindings::inet_connection_sock>()) };
    let inet = &icsk.icsk_inet;
    let common = &inet.sk.__sk_common;
    let mut snap = Snapshot {
        state,
        ..Snapshot::default()
    };
    // SAFETY: reading the plain-data unions of a live socket.
    unsafe {
        snap.local_port = common.__bindgen_anon_3.__bindgen_anon_1.skc_num;
        snap.remote_port = u16::from_be(common.__bindgen_anon_3.__bindgen_anon_1.skc_dport);
        if route.v6 {
            snap.ip_version = 6;
            snap.local_addr = core::mem::transmute(common.skc_v6_rcv_saddr);
            snap.remote_addr = core::mem::transmute(common.skc_v6_daddr);
        } else {
            snap.ip_version = 4;
            let a = &common.__bindgen_anon_1.__bindgen_anon_1;
            snap.local_addr[..4].copy_from_slice(&a.skc_rcv_saddr.to_ne_bytes());
            snap.remote_addr[..4].copy_from_slice(&a.skc_daddr.to_ne_bytes());
        }
    }
    snap.local_mac = route.local_mac;
    snap.remote_mac = route.remote_mac;
    snap.ttl = if !route.v6 && inet.uc_ttl > 0 {
        inet.uc_ttl as u8
    } else {
        64
    };
    snap.tos = if route.v6 { 0 } else { inet.tos };
    let opt = &tp.rx_opt;
    if opt.wscale_ok() != 0 {
        snap.snd_wscale = opt.snd_wscale() as u8;
        snap.rcv_wscale = opt.rcv_wscale() as u8;
    }
    let mss = tp.mss_cache.max(64);
    snap.mss = mss.min(u32::from(u16::MAX)) as u16;
    snap.rxt_shift = icsk.icsk_backoff;
    snap.snd_una = tp.snd_una;
    snap.snd_nxt = tp.snd_nxt;
    snap.snd_max = tp.snd_nxt;
    snap.snd_wnd = tp.snd_wnd;
    snap.max_snd_wnd = tp.max_window;
    snap.snd_wl1 = tp.snd_wl1;
    snap.snd_wl2 = tp.snd_una;
    // The NewReno recovery point only means something inside recovery,
    // which a handoff does not carry over (no IN_RECOVERY flag); outside it
    // must not lie ahead, or fast retransmit stays disabled (RFC 6582 §4).
    snap.recover = tp.snd_una;
    // SAFETY: inline accessors of the locked socket.
    let cwnd = unsafe { bindings::handoff_tcp_snd_cwnd(tp) };
    snap.cwnd = cwnd.saturating_mul(mss);
    snap.ssthresh = if tp.snd_ssthresh >= 0x7fff_ffff {
        u32::MAX
    } else {
        tp.snd_ssthresh.saturating_mul(mss)
    };
    snap.rcv_nxt = tp.rcv_nxt;
    snap.rcv_buf = rcv_buf;
    snap.rcv_unread = unread;
    // The NIC may accept data up to the right edge it inherits, and all of
    // it must fit in the host's receive ring when it comes back at a
    // restore: the edge is clamped to the ring's free space. (If the host
    // had advertised more, segments beyond are dropped by the NIC and
    // retransmitted by the peer.)
    let edge = tp.rcv_wup.wrapping_add(tp.rcv_wnd);
    let room = rcv_buf.saturating_sub(unread);
    snap.rcv_adv = if edge.wrapping_sub(tp.rcv_nxt) as i32 > room as i32 {
        tp.rcv_nxt.wrapping_add(room)
    } else {
        edge
    };
    let mut flags = 0u8;
    if opt.tstamp_ok() != 0 {
        flags |= SnapFlags::TIMESTAMPS;
        snap.ts_recent = opt.ts_recent;
        // SAFETY: clock read.
        let now_s = unsafe { bindings::handoff_tcp_seconds() };
        snap.ts_recent_age_ms = now_s
            .wrapping_sub(opt.ts_recent_stamp as u32)
            .saturating_mul(1000);
        // The NIC continues from the later of the clock now and the last
        // departure time this socket stamped a segment with
        // (`tcp_wstamp_ns`, raised to every segment's time by
        // `__tcp_transmit_skb`): `tcp_clock_ns` is `local_clock`, which may
        // run behind on this CPU the clock another CPU sent a TSval with,
        // and a TSval below one the peer has seen is dropped by its PAWS
        // check. (Not the cached `tcp_mstamp` alone: seconds old on an idle
        // connection.)
        // SAFETY: clock read.
        let now_ns = unsafe { bindings::handoff_tcp_clock_ns() };
        let sent_ns = now_ns.max(tp.tcp_wstamp_ns).max(tp.tcp_clock_cache);
        snap.ts_val = ns_to_ts(sent_ns).wrapping_add(tp.tsoffset);
    }
    if opt.sack_ok() != 0 {
        flags |= SnapFlags::SACK;
    }
    if tp.nonagle() & 1 != 0 {
        flags |= SnapFlags::NODELAY;
    }
    // SAFETY: flag and option reads of the locked socket.
    unsafe {
        if bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_KEEPOPEN as c_int) {
            flags |= SnapFlags::KEEPALIVE;
        }
        snap.keep_idle_ms =
            bindings::jiffies_to_msecs(bindings::handoff_keepalive_time_when(tp) as _);
        snap.keep_intvl_ms =
            bindings::jiffies_to_msecs(bindings::handoff_keepalive_intvl_when(tp) as _);
        snap.keep_cnt = bindings::handoff_keepalive_probes(tp).clamp(1, 255) as u8;
        snap.rto_us = bindings::jiffies_to_usecs(icsk.icsk_rto as _);
    }
    snap.flags = SnapFlags(flags);
    snap.srtt_us = tp.srtt_us >> 3;
    snap.rttvar_us = tp.mdev_us >> 2;
    snap.total_retrans = tp.total_retrans;
    snap
}

/// The TCP state a handoff carries over, if the socket is in one that can
/// move.
///
/// # Safety
///
/// `sk` is a live, locked TCP socket.
unsafe fn movable_state(sk: *mut bindings::sock) -> Option<TcpState> {
    // SAFETY: by the contract.
    match u32::from(unsafe { (*sk).__sk_common.skc_state }) {
        bindings::TCP_ESTABLISHED => Some(TcpState::Established),
        bindings::TCP_CLOSE_WAIT => Some(TcpState::CloseWait),
        _ => None,
    }
}

/// The parked socket's filter, a classic BPF program that accepts nothing;
/// allocated before the socket is parked (parking must not sleep), freed
/// here unless `park` gives it to the socket.
struct ParkFilter(Option<KBox<bindings::sk_filter>>);

impl ParkFilter {
    fn new() -> Result<Self> {
        let mut insn = [bindings::sock_filter {
            code: (bindings::BPF_RET | bindings::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        }];
        let mut fprog = bindings::sock_fprog_kern {
            len: 1,
            filter: insn.as_mut_ptr(),
        };
        let mut prog: *mut bindings::bpf_prog = ptr::null_mut();
        // SAFETY: `fprog` describes one valid instruction; the kernel copies it.
        kernel::error::to_result(unsafe { bindings::bpf_prog_create(&mut prog, &mut fprog) })?;
        // SAFETY: an all-zero sk_filter is filled in by the publish shim (its
        // refcount) and here (its program).
        let mut fp: KBox<bindings::sk_filter> =
            match KBox::new(unsafe { core::mem::zeroed() }, GFP_KERNEL) {
                Ok(fp) => fp,
                Err(e) => {
                    // SAFETY: created above, not published.
                    unsafe { bindings::bpf_prog_destroy(prog) };
                    return Err(e.into());
                }
            };
        fp.prog = prog;
        Ok(ParkFilter(Some(fp)))
    }

    /// Hands the filter over: the socket owns it from now on
    /// (sk_detach_filter or the socket's destruction kfree()s it after an
    /// RCU grace period).
    fn into_raw(mut self) -> *mut bindings::sk_filter {
        self.0.take().map_or(ptr::null_mut(), KBox::into_raw)
    }
}

impl Drop for ParkFilter {
    fn drop(&mut self) {
        if let Some(fp) = self.0.take() {
            // SAFETY: created by `new` and never published.
            unsafe { bindings::bpf_prog_destroy(fp.prog) };
        }
    }
}

/// # Safety
///
/// `sk` is a live, locked TCP socket without a filter.
unsafe fn park(sk: *mut bindings::sock, c: &mut Conn, filter: ParkFilter) {
    let fp = filter.into_raw();
    // SAFETY: by the contract; `fp` is a complete, unpublished filter.
    unsafe {
        bindings::handoff_sk_filter_publish(sk, fp);
        c.base_backlog_rcv = (*sk).sk_backlog_rcv;
        (*sk).sk_backlog_rcv = Some(bypass::parked_backlog_rcv);
    }
}

/// # Safety
///
/// `sk` is a live, locked socket parked by [`park`].
unsafe fn unpark(sk: *mut bindings::sock, c: &Conn) {
    // SAFETY: by the contract (the filter is ours and not locked).
    unsafe {
        bindings::sk_detach_filter(sk);
        (*sk).sk_backlog_rcv = c.base_backlog_rcv;
    }
}

/// The NIC let go of the connection (closed, reset, failed, or handed back
/// in TIME_WAIT): unpark the host socket and close it the native way. If
/// the application already closed it, this destroys the socket and frees
/// `c`: the caller must not touch `c` afterwards.
///
/// # Safety
///
/// The caller holds the socket lock of `c.sk` and a socket reference.
pub(crate) unsafe fn finish(c: &Conn) {
    let sk = c.sk;
    let Some(nic) = c.nic() else { return };
    let snap = {
        let g = nic.offload.lock();
        bypass::final_snap(c, &g)
    };
    // No event or DMA reaches the connection any more (it left the NIC's
    // table before the work was scheduled): drop the NIC.
    c.nic.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: the reference taken at handoff; the pointer is no longer used.
    unsafe { bindings::handoff_dev_put(c.dev) };
    // SAFETY: locked socket, parked at handoff.
    unsafe { unpark(sk, c) };
    // An application that still holds the socket reads what is buffered
    // natively from here on (including bytes the NIC handed back beyond the
    // ring), and its later calls go to native TCP.
    // SAFETY: locked socket; no NIC knows the connection.
    unsafe {
        if !bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_DEAD as c_int) {
            give_to_native(c, snap.as_ref().map(|s| s.rcv_nxt));
        }
    }
    match snap {
        Some(s) if s.state == TcpState::TimeWait => {
            // SAFETY: locked socket; these are the fields tcp_time_wait()
            // copies into the TIME_WAIT socket.
            unsafe {
                let tp = &mut *tcp(sk);
                tp.rcv_nxt = s.rcv_nxt;
                tp.snd_nxt = s.snd_nxt;
                tp.snd_una = s.snd_una;
                tp.write_seq = s.snd_nxt;
                tp.rx_opt.ts_recent = s.ts_recent;
                tp.rx_opt.ts_recent_stamp = bindings::handoff_tcp_seconds() as c_int;
                bindings::tcp_time_wait(sk, bindings::TCP_TIME_WAIT as c_int, 0);
            }
        }
        // SAFETY: locked socket; closes it (and destroys it if orphaned).
        _ => unsafe { bindings::tcp_done(sk) },
    }
}

/// Whether the route of offloaded connection `c` still leaves through the
/// device running it. The route is looked up afresh, as TCP does when its
/// cached one went stale (`icsk_af_ops->rebuild_header`): the cached one
/// is dropped first, because a deleted route's cached entries are only
/// marked dead once the kernel frees them, after a grace period. (The host
/// stack does not send on an offloaded socket; the next handoff, or the
/// host after a restore, uses the new route.)
///
/// # Safety
///
/// The caller holds the socket lock of `c.sk`.
pub(crate) unsafe fn route_still_via_nic(c: &Conn) -> bool {
    let sk = c.sk;
    // SAFETY: by the contract; a TCP socket's af_ops are set for its life.
    unsafe {
        let af = (*sk.cast::<bindings::inet_connection_sock>()).icsk_af_ops;
        let Some(rebuild) = af.as_ref().and_then(|af| af.rebuild_header) else {
            return true;
        };
        bindings::handoff_sk_dst_reset(sk);
        if rebuild(sk) != 0 {
            // No route at all any more.
            return false;
        }
        let dst = bindings::handoff_sk_dst_get(sk);
        if dst.is_null() {
            return false;
        }
        let dev = bindings::handoff_dst_dev(dst);
        bindings::handoff_dst_release(dst);
        dev == c.dev
    }
}

/// The NIC's RTT estimate, slow-start threshold and RTO written into the
/// `tcp_sock` (`mss` > 0: the NIC counts bytes, the host segments).
fn set_path_state(
    tp: &mut bindings::tcp_sock,
    icsk: &mut bindings::inet_connection_sock,
    snap: &Snapshot,
    mss: u32,
) {
    // `checked_div`: callers pass mss >= 64, but a plain division keeps a
    // panic path that objtool sees falling off the function.
    tp.snd_ssthresh = if snap.ssthresh == u32::MAX {
        0x7fff_ffff
    } else {
        snap.ssthresh.checked_div(mss).unwrap_or(2).max(2)
    };
    if snap.srtt_us > 0 {
        tp.srtt_us = snap.srtt_us << 3;
        tp.mdev_us = snap.rttvar_us << 2;
        tp.mdev_max_us = tp.mdev_us;
        tp.rttvar_us = tp.mdev_us;
    }
    // SAFETY: pure conversion.
    let rto = unsafe { bindings::handoff_usecs_to_jiffies(snap.rto_us) } as u32;
    let hz = bindings::HZ;
    icsk.icsk_rto = rto.clamp(hz / 5, 120 * hz);
}

/// How long `getsockopt(TCP_INFO)` waits for the NIC's view.
const INFO_TIMEOUT_MS: u32 = 100;

/// `getsockopt(TCP_INFO)` on an offloaded socket: the NIC's live RTT,
/// congestion window, slow-start threshold, RTO, send window and
/// retransmission count are written into the parked `tcp_sock`, whose
/// fields `tcp_get_info` reports (nothing else reads them while the NIC
/// runs the connection, and a restore overwrites them from the NIC's final
/// state). A NIC that does not answer within [`INFO_TIMEOUT_MS`] leaves
/// the view of the last answer (or of the handoff).
///
/// # Safety
///
/// The caller holds the socket lock of `c.sk`.
pub(crate) unsafe fn show_nic_view(c: &Conn) {
    let Some(nic) = c.nic() else { return };
    if !bypass::phase_locked(c).is_offloaded() || bypass::begin_info(c, nic).is_err() {
        return;
    }
    // SAFETY: initialised completion, completed by the `info` event.
    unsafe {
        bindings::wait_for_completion_timeout(
            c.info_done.get(),
            bindings::__msecs_to_jiffies(INFO_TIMEOUT_MS),
        );
    }
    let Some(snap) = bypass::end_info(c, nic) else {
        return;
    };
    // SAFETY: by the contract (locked socket).
    let (tp, icsk) = unsafe {
        (
            &mut *tcp(c.sk),
            &mut *c.sk.cast::<bindings::inet_connection_sock>(),
        )
    };
    let mss = u32::from(snap.mss).max(1);
    set_path_state(tp, icsk, &snap, mss);
    // SAFETY: inline setter on the locked socket.
    unsafe { bindings::handoff_tcp_snd_cwnd_set(tp, (snap.cwnd / mss).max(1)) };
    tp.snd_wnd = snap.snd_wnd;
    tp.total_retrans = snap.total_retrans;
    icsk.icsk_retransmits = snap.rxt_shift;
}

/// How long a restore waits for the NIC's state before it gives up and
/// resets the connection (the NIC is presumed failed).
const RESTORE_TIMEOUT_MS: u32 = 2000;
/// How long a restore lets the NIC's flight drain (ms).
const QUIESCE_MS: u32 = 500;

/// Takes an offloaded connection back to the host stack (paper §3.3,
/// `restore`): the NIC returns the connection's state, the host installs it
/// into the `tcp_sock` and the socket runs native TCP again. The
/// application notices nothing. `EALREADY` if the connection is not on a
/// NIC. On a NIC that does not answer the connection is reset
/// (`ETIMEDOUT`).
///
/// # Safety
///
/// `c` is the record of `c.sk`, whose lock the caller holds.
pub(crate) unsafe fn restore(c: &mut Conn) -> Result {
    let sk = c.sk;
    let net = c.net;
    let Some(nic) = c.nic() else {
        return Err(errno::EALREADY());
    };
    // Let the NIC's flight drain first: with nothing unacknowledged on the
    // NIC, the host continues exactly where the NIC stopped. (Resending an
    // unacknowledged flight would put the peer's ACKs beyond the host's
    // rewound snd_nxt, where tcp_ack() ignores them.) A flight that does
    // not drain in time (loss, a stalled peer) is resent.
    bypass::begin_quiesce(c, nic)?;
    for _ in 0..QUIESCE_MS {
        if bypass::quiesced(c, nic) {
            break;
        }
        // SAFETY: process context; events arrive through NAPI meanwhile.
        unsafe { bindings::msleep(1) };
    }
    if let Err(e) = bypass::begin_restore(c, nic) {
        if bypass::phase_locked(c).is_released() {
            // The NIC let go of it while its flight drained: finish it as
            // the NIC left it.
            // SAFETY: socket locked; the connection left the NIC's table.
            unsafe { finish(c) };
        }
        return Err(e);
    }
    // SAFETY: initialised completion, completed by the `restore` event.
    unsafe {
        bindings::wait_for_completion_timeout(
            c.done.get(),
            bindings::__msecs_to_jiffies(RESTORE_TIMEOUT_MS),
        );
    }
    let Some(snap) = bypass::end_restore(c, nic) else {
        pr_warn!(
            "the NIC did not return a connection within {} ms; resetting it\n",
            RESTORE_TIMEOUT_MS
        );
        stats::inc(net, Stat::RestoreFailures);
        // SAFETY: socket locked; the connection left the NIC's table.
        unsafe {
            ptr::write_volatile(&mut (*sk).sk_err, bindings::ECONNRESET as c_int);
            finish(c);
        }
        return Err(errno::ETIMEDOUT());
    };
    if snap.state == TcpState::TimeWait {
        // Nothing left to run: close it the native way.
        // SAFETY: socket locked; `finish` installs TIME_WAIT.
        unsafe { finish(c) };
        return Ok(());
    }
    c.nic.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: the reference taken at handoff; nothing uses the NIC now.
    unsafe { bindings::handoff_dev_put(c.dev) };
    c.dev = ptr::null_mut();
    // SAFETY: socket locked; no NIC knows the connection; the socket goes
    // back to the native operations before native code runs on it.
    let r = unsafe {
        crate::ulp::install_base(c);
        let r = install(c, &snap);
        unpark(sk, c);
        bypass::reset(c, Phase::Restored);
        crate::ulp::install_dormant(c);
        r
    };
    match r {
        Ok(()) => stats::inc(net, Stat::Restores),
        Err(_) => stats::inc(net, Stat::RestoreFailures),
    }
    r
}

/// Writes the state the NIC returned into the `tcp_sock` and queues the
/// data the host still holds: unread received bytes become readable in
/// order, unacknowledged and unsent bytes go back on the write queue and
/// are sent again from `snd_una` (go-back-N: the peer discards what it
/// already has).
///
/// # Safety
///
/// The caller holds the socket lock; the socket runs the native
/// operations; no NIC knows the connection.
unsafe fn install(c: &Conn, snap: &Snapshot) -> Result {
    let sk = c.sk;
    // SAFETY: by the contract.
    let ((snd_a, snd_b), (rcv_a, rcv_b), fin_wanted) = unsafe {
        let (snd, rcv) = bypass::live_bytes(c);
        ((snd[0], snd[1]), (rcv[0], rcv[1]), bypass::fin_wanted(c))
    };
    let unacked = (snd_a.len() + snd_b.len()) as u32;
    let unread = (rcv_a.len() + rcv_b.len()) as u32;
    // SAFETY: by the contract.
    let (tp, icsk) = unsafe {
        (
            &mut *tcp(sk),
            &mut *sk.cast::<bindings::inet_connection_sock>(),
        )
    };
    let mss = tp.mss_cache.max(64);

    // Receive side: the bytes the application has not read stay readable.
    tp.rcv_nxt = snap.rcv_nxt;
    tp.rcv_wup = snap.rcv_nxt;
    let adv = snap.rcv_adv.wrapping_sub(snap.rcv_nxt);
    tp.rcv_wnd = if (adv as i32) > 0 {
        adv.max(tp.rcv_wnd)
    } else {
        tp.rcv_wnd
    };
    // SAFETY: by the contract (no NIC: the overflow queue is ours).
    let extra = unsafe { queue_bytes(c.overflow.get()) };
    tp.copied_seq = snap.rcv_nxt.wrapping_sub(unread).wrapping_sub(extra);
    // SAFETY: by the contract.
    unsafe {
        queue_received(sk, tp.copied_seq, [rcv_a, rcv_b])?;
        // Bytes handed back beyond the ring follow, in order.
        append_overflow(c, snap.rcv_nxt.wrapping_sub(extra));
    }

    // Send side: everything from snd_una is (re)sent by the host.
    let una = snap.snd_una;
    tp.snd_una = una;
    tp.snd_nxt = una;
    tp.write_seq = una;
    tp.pushed_seq = una;
    tp.snd_up = una;
    tp.snd_sml = una;
    tp.snd_wnd = snap.snd_wnd;
    tp.max_window = tp.max_window.max(snap.max_snd_wnd);
    tp.snd_wl1 = snap.snd_wl1;
    tp.total_retrans = snap.total_retrans;

    // The peer keeps seeing one clock: continue the NIC's TSvals.
    if snap.flags.has(SnapFlags::TIMESTAMPS) {
        // The host stamps segments with the socket's cached clock, at
        // least its last departure time (`__tcp_transmit_skb`): bring both
        // to now, so that an ACK sent before anything refreshes the cache
        // (`tcp_cleanup_rbuf` after a read) does not carry a TSval from
        // before the handoff, and one sent from a CPU whose `local_clock`
        // lags this one's stays at or above the NIC's last TSval.
        // SAFETY: clock read.
        let now_ns = unsafe { bindings::handoff_tcp_clock_ns() };
        tp.tcp_clock_cache = now_ns;
        tp.tcp_mstamp = now_ns / 1000;
        tp.tcp_wstamp_ns = tp.tcp_wstamp_ns.max(now_ns);
        tp.tsoffset = snap.ts_val.wrapping_sub(ns_to_ts(now_ns));
        // SAFETY: clock reads.
        unsafe {
            tp.rx_opt.ts_recent = snap.ts_recent;
            tp.rx_opt.ts_recent_stamp =
                bindings::handoff_tcp_seconds().wrapping_sub(snap.ts_recent_age_ms / 1000) as c_int;
        }
    }
    // Congestion and RTT state carry over.
    // The bytes the NIC had in flight go out again at once: until the
    // resend passes the NIC's snd_max, the peer's ACKs lie beyond our
    // rewound snd_nxt and tcp_ack() ignores them (with any data they
    // carry), so a window smaller than that would wait for its own timer
    // forever. The window covers them; congestion control takes over from
    // there.
    let in_flight = snap.snd_max.wrapping_sub(snap.snd_una).div_ceil(mss);
    // SAFETY: inline setter on the locked socket.
    unsafe { bindings::handoff_tcp_snd_cwnd_set(tp, (snap.cwnd / mss).max(in_flight + 2).max(2)) };
    // The connection was busy on the NIC, not idle: without this the host's
    // idea of the last send (from before the handoff) would make its first
    // send restart slow start (RFC 2861), shrinking the window again.
    // SAFETY: clock read.
    let now = unsafe { bindings::handoff_tcp_jiffies32() };
    tp.lsndtime = now;
    tp.rcv_tstamp = now;
    icsk.icsk_ack.lrcvtime = now;
    set_path_state(tp, icsk, snap, mss);
    // SAFETY: the locked socket's own congestion operations.
    unsafe { reset_loss_recovery(sk, tp, icsk) };

    // Connection state. States past our FIN are rebuilt by queueing the FIN
    // again (shutdown below); FIN_WAIT2 needs nothing resent.
    let base = match snap.state {
        TcpState::Established | TcpState::FinWait1 => bindings::TCP_ESTABLISHED,
        TcpState::CloseWait | TcpState::LastAck | TcpState::Closing => bindings::TCP_CLOSE_WAIT,
        TcpState::FinWait2 => bindings::TCP_FIN_WAIT2,
        TcpState::Closed | TcpState::TimeWait => bindings::TCP_CLOSE,
    };
    // SAFETY: locked socket.
    unsafe {
        if u32::from((*sk).__sk_common.skc_state) != base {
            bindings::tcp_set_state(sk, base as c_int);
        }
        if snap.state.fin_received() {
            (*sk).sk_shutdown |= bindings::RCV_SHUTDOWN as u8;
        }
    }
    if base == bindings::TCP_FIN_WAIT2 {
        // SAFETY: as above.
        unsafe { (*sk).sk_shutdown |= bindings::SEND_SHUTDOWN as u8 };
        return Ok(());
    }
    // SAFETY: as above. tcp_sendmsg_locked refuses a shut sending side:
    // lift it while the data is queued again, the FIN follows.
    unsafe {
        (*sk).sk_shutdown &= !(bindings::SEND_SHUTDOWN as u8);
        if unacked > 0 {
            let need = (unacked as c_int)
                .saturating_mul(2)
                .saturating_add(64 * 1024);
            if (*sk).sk_sndbuf < need {
                (*sk).sk_sndbuf = need;
            }
            let mut iov = [
                bindings::kvec {
                    iov_base: snd_a.as_ptr() as *mut _,
                    iov_len: snd_a.len(),
                },
                bindings::kvec {
                    iov_base: snd_b.as_ptr() as *mut _,
                    iov_len: snd_b.len(),
                },
            ];
            let mut msg: bindings::msghdr = core::mem::zeroed();
            bindings::iov_iter_kvec(
                &mut msg.msg_iter,
                bindings::ITER_SOURCE,
                iov.as_mut_ptr(),
                2,
                unacked as usize,
            );
            msg.msg_flags = bindings::MSG_DONTWAIT;
            let sent = bindings::tcp_sendmsg_locked(sk, &mut msg, unacked as usize);
            if sent != unacked as c_int {
                pr_err!("restore re-queued {} of {} bytes\n", sent, unacked);
                return Err(ENOMEM);
            }
        }
        if fin_wanted || snap.state.fin_sent() {
            ((*c.base_prot).shutdown.expect("tcp shutdown"))(sk, bindings::SEND_SHUTDOWN as c_int);
            (*sk).sk_shutdown |= bindings::SEND_SHUTDOWN as u8;
        }
        if bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_KEEPOPEN as c_int) {
            bindings::inet_csk_reset_keepalive_timer(
                sk,
                bindings::handoff_keepalive_time_when(tp) as _,
            );
        }
    }
    Ok(())
}

/// Appends `pieces` to the socket's receive queue as in-order data from
/// `seq` on, readable by native `recvmsg`.
///
/// # Safety
///
/// The caller holds the socket lock.
unsafe fn queue_received(sk: *mut bindings::sock, mut seq: u32, pieces: [&[u8]; 2]) -> Result {
    for piece in pieces {
        for chunk in piece.chunks(32 * 1024) {
            // SAFETY: locked socket; a fresh skb we fill and hand to the
            // receive queue (which owns it from then on).
            unsafe {
                let skb = bindings::handoff_alloc_skb(chunk.len() as u32);
                if skb.is_null() {
                    return Err(ENOMEM);
                }
                bindings::handoff_skb_put_data(skb, chunk.as_ptr().cast(), chunk.len() as u32);
                bindings::handoff_tcp_skb_set(skb, seq, seq.wrapping_add(chunk.len() as u32), 0x10);
                let _ = bindings::handoff_sk_rmem_schedule(sk, skb, (*skb).truesize as c_int);
                bindings::handoff_skb_set_owner_r(skb, sk);
                bindings::handoff_skb_queue_tail(ptr::addr_of_mut!((*sk).sk_receive_queue), skb);
            }
            seq = seq.wrapping_add(chunk.len() as u32);
        }
    }
    Ok(())
}

/// Before the ULP leaves a socket the NIC already let go of but that has
/// not been finished yet (module unload): its buffered bytes go native.
///
/// # Safety
///
/// The caller holds the socket lock of `c.sk`; no NIC knows `c`.
pub(crate) unsafe fn hand_back_buffered(c: &Conn) {
    if c.nic().is_none() && bypass::phase_locked(c).is_released() {
        // SAFETY: by the contract.
        unsafe { give_to_native(c, None) };
    }
}

/// Clears the host's loss recovery for a restored connection, whose flight
/// `install` sends again from `snd_una` as new data: no retransmission of
/// the host's is outstanding, and the congestion state is the NIC's
/// (`cwnd`, `ssthresh`).
///
/// What the socket held instead belongs to other episodes: an RTO count
/// (`icsk_retransmits`) from its last native period or copied from the
/// NIC by `getsockopt(TCP_INFO)` ([`show_nic_view`]), a `CA_Loss` episode
/// with its undo marker, and a first-retransmission time
/// (`retrans_stamp`) of another episode or 0 (none natively, or cleared
/// by an ACK while `CA_Open`). `retransmits_timed_out` measures the RTO
/// count's episode from `retrans_stamp`: from 0, once the machine had been
/// up longer than `tcp_retries2`'s span (about 18 minutes), the restored
/// connection failed with ETIMEDOUT at its first RTO instead of
/// retransmitting, and the peer got a reset for its next segment.
///
/// # Safety
///
/// The caller holds the lock of `sk`, whose `tcp_sock` and
/// `inet_connection_sock` `tp` and `icsk` are.
unsafe fn reset_loss_recovery(
    sk: *mut bindings::sock,
    tp: &mut bindings::tcp_sock,
    icsk: &mut bindings::inet_connection_sock,
) {
    icsk.icsk_backoff = 0;
    icsk.icsk_retransmits = 0;
    icsk.icsk_probes_out = 0;
    tp.retrans_stamp = 0;
    tp.undo_marker = 0;
    tp.undo_retrans = -1;
    tp.rto_stamp = 0;
    tp.tlp_high_seq = 0;
    let open = bindings::tcp_ca_state_TCP_CA_Open as u8;
    if icsk.icsk_ca_state() != open {
        // What `tcp_set_ca_state` (not exported) does.
        // SAFETY: a locked socket's congestion operations are set and
        // live; `set_state` is called with the socket locked.
        if let Some(set_state) = unsafe { (*icsk.icsk_ca_ops).set_state } {
            // SAFETY: as above.
            unsafe { set_state(sk, open) };
        }
        icsk.set_icsk_ca_state(open);
    }
}

/// A millisecond TCP timestamp from a `tcp_clock_ns` time, as
/// `tcp_ns_to_ts` computes it (usec-TS connections are not handed off).
fn ns_to_ts(ns: u64) -> u32 {
    (ns / 1_000_000) as u32
}

/// Bytes in an skb queue.
///
/// # Safety
///
/// `q` is a valid queue nobody else touches meanwhile.
unsafe fn queue_bytes(q: *mut bindings::sk_buff_head) -> u32 {
    let mut n = 0u32;
    // SAFETY: by the contract.
    unsafe {
        let mut skb = bindings::handoff_skb_peek(q);
        while !skb.is_null() {
            n += (*skb).len;
            skb = bindings::handoff_skb_peek_next(skb, q);
        }
    }
    n
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

/// Appends the bytes the NIC handed back beyond the ring to the receive
/// queue, from `seq` on.
///
/// # Safety
///
/// The caller holds the socket lock; no NIC knows `c`.
unsafe fn append_overflow(c: &Conn, mut seq: u32) {
    let sk = c.sk;
    // SAFETY: by the contract, the overflow queue is ours.
    unsafe {
        loop {
            let skb = bindings::handoff_skb_dequeue(c.overflow.get());
            if skb.is_null() {
                break;
            }
            let n = (*skb).len;
            bindings::handoff_tcp_skb_set(skb, seq, seq.wrapping_add(n), 0x10);
            let _ = bindings::handoff_sk_rmem_schedule(sk, skb, (*skb).truesize as c_int);
            bindings::handoff_skb_set_owner_r(skb, sk);
            bindings::handoff_skb_queue_tail(ptr::addr_of_mut!((*sk).sk_receive_queue), skb);
            seq = seq.wrapping_add(n);
        }
    }
}

/// Moves the bytes still unread in the bypass rings to the socket's receive
/// queue and puts the native operations back (the NIC let go while the
/// application holds the socket). `rcv_nxt` is the NIC's, if it returned
/// its state.
///
/// # Safety
///
/// The caller holds the socket lock; no NIC knows `c`.
unsafe fn give_to_native(c: &Conn, rcv_nxt: Option<u32>) {
    // SAFETY: by the contract.
    unsafe {
        let (_, rcv) = bypass::live_bytes(c);
        let extra = queue_bytes(c.overflow.get());
        let unread = (rcv[0].len() + rcv[1].len()) as u32;
        let tp = &mut *tcp(c.sk);
        let end = rcv_nxt.unwrap_or(tp.rcv_nxt.wrapping_add(unread).wrapping_add(extra));
        tp.rcv_nxt = end;
        tp.copied_seq = end.wrapping_sub(unread).wrapping_sub(extra);
        let _ = queue_received(c.sk, tp.copied_seq, rcv);
        append_overflow(c, end.wrapping_sub(extra));
        bypass::mark_native(c);
        crate::ulp::install_base(c);
    }
}
