// SPDX-License-Identifier: GPL-2.0

//! Restore (paper §3.3): taking a connection back from the NIC and
//! installing its state in the host `tcp_sock`; finishing a socket the NIC
//! let go of; the NIC's live view for `getsockopt(TCP_INFO)`.

use core::ffi::c_int;
use core::ptr;
use core::sync::atomic::Ordering;

use kernel::prelude::*;

use super::capture::*;
use super::*;
use crate::bindings;
use crate::conn::Conn;
use crate::conn::Phase;
use crate::errno;
use crate::firmware::{SnapFlags, Snapshot, TcpState};
use crate::stats::{self, Stat};

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
    if c.nic().is_none() {
        return;
    }
    let snap = crate::conn::phase::final_snap(c);
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
                tp.rx_opt.ts_recent_stamp = crate::sys::time::tcp_seconds() as c_int;
                // The host socket is still ESTABLISHED: pass it through
                // FIN_WAIT2, as native TCP reaches TIME_WAIT, so the MIB
                // counts a close (CurrEstab down), not a reset
                // (EstabResets), when `tcp_done` below closes it.
                bindings::tcp_set_state(sk, bindings::TCP_FIN_WAIT2 as c_int);
                bindings::tcp_time_wait(sk, bindings::TCP_TIME_WAIT as c_int, 0);
            }
        }
        // SAFETY: locked socket; closes it (and destroys it if orphaned).
        _ => unsafe { bindings::tcp_done(sk) },
    }
}

/// Whether the route of offloaded connection `c` still leaves through the
/// device running it, looked up afresh (`fresh_route`). (The host stack
/// does not send on an offloaded socket; the next handoff, or the host
/// after a restore, uses the new route.)
///
/// # Safety
///
/// The caller holds the socket lock of `c.sk`.
pub(crate) unsafe fn route_still_via_nic(c: &Conn) -> bool {
    // SAFETY: by the contract.
    let dst = unsafe { super::fresh_route(c.sk) };
    if dst.is_null() {
        return false;
    }
    // SAFETY: `dst` is referenced; the reference is dropped once read.
    unsafe {
        let dev = bindings::handoff_dst_dev(dst);
        bindings::handoff_dst_release(dst);
        dev == c.dev
    }
}

/// The NIC's RTT estimate, slow-start threshold and RTO written into the
/// `tcp_sock` (`mss` > 0: the NIC counts bytes, the host segments).
pub(crate) fn set_path_state(
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
pub(crate) const INFO_TIMEOUT_MS: u32 = 100;

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
    if !crate::conn::phase::phase_locked(c).is_offloaded() || begin_info(c, nic).is_err() {
        return;
    }
    // SAFETY: initialised completion, completed by the `info` event.
    unsafe {
        bindings::wait_for_completion_timeout(
            c.info_done.get(),
            bindings::__msecs_to_jiffies(INFO_TIMEOUT_MS),
        );
    }
    let Some(snap) = end_info(c) else {
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
pub(crate) const RESTORE_TIMEOUT_MS: u32 = 2000;
/// How long a restore lets the NIC's flight drain (ms).
pub(crate) const QUIESCE_MS: u64 = 500;

/// When the NIC's flights must have drained: a restore waits until then at
/// most. A batch (device down, `restore all`, unload) drains every
/// connection at once and shares one deadline, so the whole batch waits
/// `QUIESCE_MS` at most (under RTNL for a device going down), not each
/// connection in turn.
#[derive(Clone, Copy)]
pub(crate) struct DrainBy(u64);

impl DrainBy {
    /// `QUIESCE_MS` from now.
    pub(crate) fn from_now() -> Self {
        DrainBy(crate::sys::time::ktime_ns() + QUIESCE_MS * 1_000_000)
    }

    fn passed(self) -> bool {
        let now = crate::sys::time::ktime_ns();
        now >= self.0
    }
}

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
pub(crate) unsafe fn restore(c: &mut Conn, drain: DrainBy) -> Result {
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
    crate::conn::phase::begin_quiesce(c)?;
    while !crate::conn::phase::quiesced(c) && !drain.passed() {
        crate::sys::time::msleep(1);
    }
    if let Err(e) = crate::conn::phase::begin_restore(c, nic) {
        if crate::conn::phase::phase_locked(c).is_released() {
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
    let Some(snap) = crate::conn::phase::end_restore(c, nic) else {
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
        c.install_base();
        let r = install(c, &snap);
        unpark(sk, c);
        crate::conn::phase::reset(c, Phase::Restored);
        c.install_dormant();
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
pub(crate) unsafe fn install(c: &Conn, snap: &Snapshot) -> Result {
    let sk = c.sk;
    // SAFETY: by the contract.
    let ((snd_a, snd_b), (rcv_a, rcv_b), fin_wanted) = unsafe {
        let (snd, rcv) = crate::conn::rings::live_bytes(c);
        (
            (snd[0], snd[1]),
            (rcv[0], rcv[1]),
            crate::conn::rings::fin_wanted(c),
        )
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
        let now_ns = crate::sys::time::tcp_clock_ns();
        tp.tcp_clock_cache = now_ns;
        tp.tcp_mstamp = now_ns / 1000;
        tp.tcp_wstamp_ns = tp.tcp_wstamp_ns.max(now_ns);
        tp.tsoffset = snap.ts_val.wrapping_sub(ns_to_ts(now_ns));
        tp.rx_opt.ts_recent = snap.ts_recent;
        tp.rx_opt.ts_recent_stamp =
            crate::sys::time::tcp_seconds().wrapping_sub(snap.ts_recent_age_ms / 1000) as c_int;
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
    let now = crate::sys::time::tcp_jiffies32();
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
pub(crate) unsafe fn queue_received(
    sk: *mut bindings::sock,
    mut seq: u32,
    pieces: [&[u8]; 2],
) -> Result {
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
    if c.nic().is_none() && crate::conn::phase::phase_locked(c).is_released() {
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
pub(crate) unsafe fn reset_loss_recovery(
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

/// Appends the bytes the NIC handed back beyond the ring to the receive
/// queue, from `seq` on.
///
/// # Safety
///
/// The caller holds the socket lock; no NIC knows `c`.
pub(crate) unsafe fn append_overflow(c: &Conn, mut seq: u32) {
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
pub(crate) unsafe fn give_to_native(c: &Conn, rcv_nxt: Option<u32>) {
    // SAFETY: by the contract.
    unsafe {
        let (_, rcv) = crate::conn::rings::live_bytes(c);
        let extra = queue_bytes(c.overflow.get());
        let unread = (rcv[0].len() + rcv[1].len()) as u32;
        let tp = &mut *tcp(c.sk);
        let end = rcv_nxt.unwrap_or(tp.rcv_nxt.wrapping_add(unread).wrapping_add(extra));
        tp.rcv_nxt = end;
        tp.copied_seq = end.wrapping_sub(unread).wrapping_sub(extra);
        let _ = queue_received(c.sk, tp.copied_seq, rcv);
        append_overflow(c, end.wrapping_sub(extra));
        crate::conn::phase::mark_native(c);
        c.install_base();
    }
}

/// Asks the NIC for the connection's live state (`info`); its event
/// completes `info_done`.
pub(crate) fn begin_info(c: &Conn, nic: &vnic::Nic) -> Result {
    let mut guard = c.lock();
    let s = &mut *guard;
    if !s.phase().on_nic_for_good() {
        return Err(errno::EALREADY());
    }
    s.info = None;
    // SAFETY: the completion was initialised; nothing waits on it now (the
    // caller holds the socket lock, like every other asker).
    unsafe { bindings::handoff_reinit_completion(c.info_done.get()) };
    nic.submit_cmd(&Command::Info {
        cid: s.cid(),
        cookie: c as *const Conn as u64,
    })
}

/// The state the NIC's `info` event carried, if it arrived.
pub(crate) fn end_info(c: &Conn) -> Option<Snapshot> {
    c.lock().info.take()
}
