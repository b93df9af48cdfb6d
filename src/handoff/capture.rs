// SPDX-License-Identifier: GPL-2.0

//! Capture (paper §3.2): what of a `tcp_sock` moves to the NIC, its queued
//! data, and the parking of the host socket while the NIC runs it.

use core::ffi::c_int;
use core::ptr;

use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::prelude::*;

use super::*;
use crate::bindings;
use crate::conn::Conn;
use crate::firmware::{SnapFlags, Snapshot, TcpState};
use crate::sys::SockGuard;

/// Bytes from `snd_una` on the host still holds, and received bytes not yet
/// read. After the peer's FIN (CLOSE_WAIT), `rcv_nxt` counts it too; it is
/// no byte to read (as in `tcp_inq`).
///
pub(crate) fn queue_lengths(sock: &SockGuard<'_>) -> (u32, u32) {
    let (tp, fin_in) = (sock.tcp(), sock.done());
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
pub(crate) unsafe fn copy_overlap(skb: *mut bindings::sk_buff, from: u32, out: &mut [u8]) -> usize {
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
pub(crate) unsafe fn copy_send_queue(sk: *mut bindings::sock, out: &mut [u8]) {
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
pub(crate) unsafe fn copy_recv_queue(sk: *mut bindings::sock, out: &mut [u8]) {
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
pub(crate) unsafe fn purge_queues(sk: *mut bindings::sock) {
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
pub(crate) fn capture(
    sock: &SockGuard<'_>,
    state: TcpState,
    route: &Route<'_>,
    rcv_buf: u32,
    unread: u32,
) -> Snapshot {
    let (tp, icsk) = (sock.tcp(), sock.icsk());
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
        let now_s = crate::sys::time::tcp_seconds();
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
        let now_ns = crate::sys::time::tcp_clock_ns();
        let sent_ns = now_ns.max(tp.tcp_wstamp_ns).max(tp.tcp_clock_cache);
        snap.ts_val = ns_to_ts(sent_ns).wrapping_add(tp.tsoffset);
    }
    if opt.sack_ok() != 0 {
        flags |= SnapFlags::SACK;
    }
    if tp.nonagle() & 1 != 0 {
        flags |= SnapFlags::NODELAY;
    }
    if sock.keepalive_on() {
        flags |= SnapFlags::KEEPALIVE;
    }
    // SAFETY: inline accessors and conversions over the locked socket's
    // `tcp_sock` (they read its fields and the namespace's defaults).
    unsafe {
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
pub(crate) fn movable_state(sock: &SockGuard<'_>) -> Option<TcpState> {
    match sock.state() {
        bindings::TCP_ESTABLISHED => Some(TcpState::Established),
        bindings::TCP_CLOSE_WAIT => Some(TcpState::CloseWait),
        _ => None,
    }
}

/// The parked socket's filter, a classic BPF program that accepts nothing;
/// allocated before the socket is parked (parking must not sleep), freed
/// here unless `park` gives it to the socket.
pub(crate) struct ParkFilter(Option<KBox<bindings::sk_filter>>);

impl ParkFilter {
    pub(crate) fn new() -> Result<Self> {
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
    pub(crate) fn into_raw(mut self) -> *mut bindings::sk_filter {
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
pub(crate) unsafe fn park(sk: *mut bindings::sock, c: &mut Conn, filter: ParkFilter) {
    let fp = filter.into_raw();
    // The publishing half of the kernel's (static) `__sk_attach_prog`: the
    // socket's reference, the option memory `sk_filter_uncharge` gives back
    // when the filter comes off (`unpark`, or the socket's destruction),
    // then the pointer.
    // SAFETY: by the contract; `fp` is a complete filter nobody else sees
    // yet, with its program.
    unsafe {
        bindings::handoff_refcount_set(&mut (*fp).refcnt, 1);
        let size = bindings::handoff_bpf_prog_size((*(*fp).prog).len) as i32;
        bindings::handoff_atomic_add(size, &mut (*sk).sk_omem_alloc);
        bindings::handoff_rcu_assign_sk_filter(sk, fp);
        c.base_backlog_rcv = (*sk).sk_backlog_rcv;
        (*sk).sk_backlog_rcv = Some(parked_backlog_rcv);
    }
}

/// # Safety
///
/// `sk` is a live, locked socket parked by [`park`].
pub(crate) unsafe fn unpark(sk: *mut bindings::sock, c: &Conn) {
    // SAFETY: by the contract (the filter is ours and not locked).
    unsafe {
        bindings::sk_detach_filter(sk);
        (*sk).sk_backlog_rcv = c.base_backlog_rcv;
    }
}

/// A millisecond TCP timestamp from a `tcp_clock_ns` time, as
/// `tcp_ns_to_ts` computes it (usec-TS connections are not handed off).
pub(crate) fn ns_to_ts(ns: u64) -> u32 {
    (ns / 1_000_000) as u32
}

/// Bytes in an skb queue.
///
/// # Safety
///
/// `q` is a valid queue nobody else touches meanwhile.
pub(crate) unsafe fn queue_bytes(q: *mut bindings::sk_buff_head) -> u32 {
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

/// Segments that reach the parked host socket while it is owned by a
/// system call land in its backlog; they are stale by the time it is
/// released, so they are dropped (the peer retransmits to the NIC).
pub(crate) unsafe extern "C" fn parked_backlog_rcv(
    sk: *mut bindings::sock,
    skb: *mut bindings::sk_buff,
) -> c_int {
    // SAFETY: called by the socket layer with a live socket and an skb we
    // now own.
    unsafe {
        stats::inc(
            crate::sys::Sock::from_raw(sk).net(),
            Stat::RacingSegmentsDropped,
        );
        bindings::handoff_dev_kfree_skb_any(skb);
    }
    0
}
