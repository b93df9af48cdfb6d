//! Per-connection control state and the pure parts of the TCP algorithms
//! (RTT estimation, congestion control, window advertisement).
//!
//! A [`ConnSlot`] is the firmware's protocol control block. It is the fixed
//! per-connection cost of the NIC memory model, so it is kept small (see
//! [`super::memory::NicMemoryLayout::PER_CONN_BYTES`]): 32-bit sequence and
//! window fields, 32-bit millisecond timer deadlines compared with wrapping
//! arithmetic, and 32-bit indices into the shared reference and staging
//! pools instead of embedded buffers.

use super::lookup::FlowKey;
use super::memory::NIL;
use super::seq;
use super::snapshot::{SnapFlags, Snapshot, TcpState};
use super::wire::tcp::MAX_WINDOW;

/// Flag bits of [`ConnSlot::flags`].
pub(super) mod fl {
    pub const TS_OK: u16 = 1 << 0;
    pub const SACK_OK: u16 = 1 << 1;
    pub const NODELAY: u16 = 1 << 2;
    pub const KEEPALIVE: u16 = 1 << 3;
    /// Host closed for writing: our FIN sits at `snd_una + snd_queued`.
    pub const FIN_QUEUED: u16 = 1 << 4;
    pub const IN_RECOVERY: u16 = 1 << 5;
    /// Send an ACK at the next output pass.
    pub const ACK_NOW: u16 = 1 << 6;
    /// On the engine's dirty list for this step.
    pub const DIRTY: u16 = 1 << 7;
    /// The peer's FIN arrived out of order at `rcv_fin_seq`.
    pub const RCV_FIN_OOO: u16 = 1 << 8;
    /// The peer's FIN was processed; report it once staged data is delivered.
    pub const FIN_EVENT: u16 = 1 << 9;
    /// An RTT sample is being timed (no timestamps): `rtt_seq`, `rtt_ms`.
    pub const RTT_TIMING: u16 = 1 << 10;
    /// The last in-order segment carried PSH.
    pub const PSH: u16 = 1 << 11;
    /// Window may have opened enough to be worth an update.
    pub const WND_UPDATE: u16 = 1 << 12;
    /// Data was refused for lack of staging since the last report: one
    /// `resource` event per flush, not one per dropped segment.
    pub const STAGING_FULL: u16 = 1 << 13;
    /// A `RestoreRequest` was sent for this connection and it has not been
    /// restored or freed yet (the slot is reset when it is, which clears
    /// this, so a reused slot starts unasked).
    pub const RESTORE_ASKED: u16 = 1 << 14;
}

/// Timer bits of [`ConnSlot::timers`].
pub(super) mod tm {
    pub const RTO: u8 = 1 << 0;
    pub const DELACK: u8 = 1 << 1;
    pub const PERSIST: u8 = 1 << 2;
    pub const KEEP: u8 = 1 << 3;
}

/// Minimum RTO (Linux's 200 ms rather than RFC 6298's conservative 1 s).
pub(super) const RTO_MIN_US: u32 = 200_000;
/// Maximum RTO (RFC 6298 §2.5 allows capping at ≥ 60 s).
pub(super) const RTO_MAX_US: u32 = 120_000_000;
/// Retransmissions before giving up (Linux tcp_retries2).
pub(super) const MAX_RETRIES: u8 = 15;
/// Delayed ACK timeout (ms), Linux's minimum.
pub(super) const DELACK_MS: u32 = 40;
/// Clock granularity G of RFC 6298 (1 ms timer wheel).
const CLOCK_G_US: u32 = 1000;

/// The firmware's control block for one offloaded connection.
///
/// All fields are plain integers so the all-default value ([`ConnSlot::EMPTY`])
/// is a free slot and arenas can be initialized by copying it.
#[derive(Debug, Clone, Copy)]
pub struct ConnSlot {
    pub(super) key: FlowKey,
    pub(super) tag: u32,
    pub(super) gen: u8,
    pub(super) state: TcpState,
    pub(super) flags: u16,
    pub(super) local_mac: [u8; 6],
    pub(super) remote_mac: [u8; 6],
    pub(super) ttl: u8,
    pub(super) tos: u8,
    pub(super) snd_wscale: u8,
    pub(super) rcv_wscale: u8,
    pub(super) mss: u16,
    pub(super) rxt_shift: u8,
    pub(super) dupacks: u8,
    pub(super) keep_cnt: u8,
    pub(super) keep_sent: u8,
    pub(super) segs_unacked: u8,
    pub(super) timers: u8,

    pub(super) snd_una: u32,
    pub(super) snd_nxt: u32,
    pub(super) snd_max: u32,
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: u32,
    pub(super) snd_wl2: u32,
    pub(super) recover: u32,
    pub(super) cwnd: u32,
    pub(super) ssthresh: u32,
    /// Bytes held in send refs from `snd_una` on (the FIN not included).
    pub(super) snd_queued: u32,
    pub(super) sref_head: u32,
    pub(super) sref_tail: u32,
    /// Bytes at the front of the head send ref that are already acked.
    pub(super) sref_head_off: u32,
    /// Transmit cursor: a send ref and the sequence number of its first byte.
    pub(super) cur_ref: u32,
    pub(super) cur_seq: u32,
    /// Bytes acked but not yet reported with an `ack` event.
    pub(super) acked_pending: u32,

    pub(super) rcv_nxt: u32,
    pub(super) rcv_buf: u32,
    pub(super) rcv_unread: u32,
    pub(super) rcv_adv: u32,
    pub(super) last_ack_sent: u32,
    pub(super) rcv_fin_seq: u32,
    pub(super) post_head: u32,
    pub(super) post_tail: u32,
    /// Free bytes in posted buffers.
    pub(super) post_free: u32,
    /// In-order staged data (FIFO of chunks).
    pub(super) inq_head: u32,
    pub(super) inq_tail: u32,
    /// Bytes in the in-order queue.
    pub(super) inq_bytes: u32,
    /// Out-of-order chunks, sorted by sequence, disjoint.
    pub(super) ooo_head: u32,
    /// Staging chunks held (both queues).
    pub(super) chunks_held: u16,

    pub(super) ts_recent: u32,
    pub(super) ts_recent_ms: u32,
    pub(super) ts_offset: u32,
    pub(super) srtt_us: u32,
    pub(super) rttvar_us: u32,
    pub(super) rto_us: u32,
    pub(super) rtt_seq: u32,
    pub(super) rtt_ms: u32,
    pub(super) keep_idle_ms: u32,
    pub(super) keep_intvl_ms: u32,
    /// Last accepted segment (ms); ACKs of our data arrive in segments, so
    /// this is also the last time data was acknowledged.
    pub(super) last_rx_ms: u32,
    /// Milliseconds from `last_rx_ms` to the last data transmission if that
    /// was later, else 0 (saturating): the last activity is
    /// `last_rx_ms + tx_after_rx`. 16 bits fit in the slot's padding, so the
    /// per-connection cost is unchanged; a connection that has only
    /// transmitted, never received, for over 65 s counts as idle since then.
    pub(super) tx_after_rx: u16,

    pub(super) rto_at: u32,
    pub(super) delack_at: u32,
    pub(super) persist_at: u32,
    pub(super) keep_at: u32,
    /// Earliest armed deadline; the wheel slot is `timer_at % WHEEL_SLOTS`.
    pub(super) timer_at: u32,
    pub(super) tw_prev: u32,
    pub(super) tw_next: u32,
    /// Wheel slot the connection is linked into, `u16::MAX` if none.
    pub(super) tw_slot: u16,
    /// Next connection on the dirty list, or on the free-slot list.
    pub(super) link: u32,
    pub(super) total_retrans: u32,
    /// Bytes the host may still re-enqueue with `send` although the FIN is
    /// already queued: a connection handed off after `close()` brings its
    /// unacknowledged data back this way (the snapshot's `snd_queued`).
    pub(super) reenqueue: u32,
    /// Bytes the peer acknowledged before the host had re-enqueued them
    /// after a handoff: the next `send` refs skip that many bytes.
    pub(super) ack_debt: u32,
    /// Fast recovery: next sequence number a SACK-driven retransmission
    /// starts from (everything from `snd_una` below it was resent).
    pub(super) rexmit_nxt: u32,
}

impl ConnSlot {
    /// A free slot.
    pub const EMPTY: ConnSlot = ConnSlot {
        key: FlowKey {
            local_addr: [0; 16],
            remote_addr: [0; 16],
            local_port: 0,
            remote_port: 0,
            v6: false,
        },
        tag: 0,
        gen: 0,
        state: TcpState::Closed,
        flags: 0,
        local_mac: [0; 6],
        remote_mac: [0; 6],
        ttl: 0,
        tos: 0,
        snd_wscale: 0,
        rcv_wscale: 0,
        mss: 536,
        rxt_shift: 0,
        dupacks: 0,
        keep_cnt: 0,
        keep_sent: 0,
        segs_unacked: 0,
        timers: 0,
        snd_una: 0,
        snd_nxt: 0,
        snd_max: 0,
        snd_wnd: 0,
        max_snd_wnd: 0,
        snd_wl1: 0,
        snd_wl2: 0,
        recover: 0,
        cwnd: 0,
        ssthresh: 0,
        snd_queued: 0,
        sref_head: NIL,
        sref_tail: NIL,
        sref_head_off: 0,
        cur_ref: NIL,
        cur_seq: 0,
        acked_pending: 0,
        rcv_nxt: 0,
        rcv_buf: 0,
        rcv_unread: 0,
        rcv_adv: 0,
        last_ack_sent: 0,
        rcv_fin_seq: 0,
        post_head: NIL,
        post_tail: NIL,
        post_free: 0,
        inq_head: NIL,
        inq_tail: NIL,
        inq_bytes: 0,
        ooo_head: NIL,
        chunks_held: 0,
        ts_recent: 0,
        ts_recent_ms: 0,
        ts_offset: 0,
        srtt_us: 0,
        rttvar_us: 0,
        rto_us: RTO_MIN_US,
        rtt_seq: 0,
        rtt_ms: 0,
        keep_idle_ms: 0,
        keep_intvl_ms: 0,
        last_rx_ms: 0,
        tx_after_rx: 0,
        rto_at: 0,
        delack_at: 0,
        persist_at: 0,
        keep_at: 0,
        timer_at: 0,
        tw_prev: NIL,
        tw_next: NIL,
        tw_slot: u16::MAX,
        link: NIL,
        total_retrans: 0,
        reenqueue: 0,
        ack_debt: 0,
        rexmit_nxt: 0,
    };

    #[inline]
    pub(super) fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    #[inline]
    pub(super) fn set(&mut self, f: u16) {
        self.flags |= f;
    }

    #[inline]
    pub(super) fn clear(&mut self, f: u16) {
        self.flags &= !f;
    }

    /// True if the slot holds a live connection.
    pub fn is_live(&self) -> bool {
        self.state != TcpState::Closed
    }

    /// Installs a validated snapshot into a free slot (pools are untouched:
    /// the slot starts with empty lists). `now_ms` is the NIC clock.
    pub(super) fn install(&mut self, s: &Snapshot, now_ms: u32) {
        let gen = self.gen;
        *self = ConnSlot::EMPTY;
        self.gen = gen;
        self.key = FlowKey {
            local_addr: s.local_addr,
            remote_addr: s.remote_addr,
            local_port: s.local_port,
            remote_port: s.remote_port,
            v6: s.ip_version == 6,
        };
        self.state = s.state;
        let f = s.flags;
        let mut flags = 0;
        for (sb, cb) in [
            (SnapFlags::TIMESTAMPS, fl::TS_OK),
            (SnapFlags::SACK, fl::SACK_OK),
            (SnapFlags::NODELAY, fl::NODELAY),
            (SnapFlags::KEEPALIVE, fl::KEEPALIVE),
            (SnapFlags::FIN_QUEUED, fl::FIN_QUEUED),
            (SnapFlags::IN_RECOVERY, fl::IN_RECOVERY),
        ] {
            if f.has(sb) {
                flags |= cb;
            }
        }
        // A FIN sent but not yet acknowledged is, in our model, a FIN queued
        // at the end of the send data: mark it so acks and retransmissions
        // account for it. (In FIN_WAIT2 and TIME_WAIT it is acknowledged.)
        if matches!(
            s.state,
            TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck
        ) {
            flags |= fl::FIN_QUEUED;
        }
        if s.state.fin_received() {
            // The host has already seen the FIN (it was ESTABLISHED->CLOSE_WAIT
            // on its side), so no event is due.
        }
        self.flags = flags;
        if flags & fl::FIN_QUEUED != 0 {
            self.reenqueue = s.snd_queued;
        }
        self.local_mac = s.local_mac;
        self.remote_mac = s.remote_mac;
        self.ttl = s.ttl;
        self.tos = s.tos;
        self.snd_wscale = s.snd_wscale;
        self.rcv_wscale = s.rcv_wscale;
        self.mss = s.mss;
        self.rxt_shift = s.rxt_shift.min(MAX_RETRIES);
        self.dupacks = s.dupacks;
        self.keep_cnt = s.keep_cnt;
        self.snd_una = s.snd_una;
        self.snd_nxt = s.snd_nxt;
        self.snd_max = s.snd_max;
        self.snd_wnd = s.snd_wnd;
        self.max_snd_wnd = s.max_snd_wnd.max(s.snd_wnd);
        self.snd_wl1 = s.snd_wl1;
        self.snd_wl2 = s.snd_wl2;
        self.recover = s.recover;
        let mss = u32::from(s.mss);
        // RFC 5681 §3.1: never below one segment; an unknown (0) cwnd starts
        // at the RFC 6928 initial window.
        self.cwnd = if s.cwnd == 0 {
            10 * mss
        } else {
            s.cwnd.max(mss)
        };
        self.ssthresh = s.ssthresh.max(2 * mss);
        self.rcv_nxt = s.rcv_nxt;
        self.rcv_buf = s.rcv_buf;
        self.rcv_unread = s.rcv_unread.min(s.rcv_buf);
        // The right edge the peer was told is a promise; keep it (never
        // shrink), but only if it is ahead of rcv_nxt.
        self.rcv_adv = seq::max(s.rcv_adv, s.rcv_nxt);
        self.last_ack_sent = s.rcv_nxt;
        self.ts_recent = s.ts_recent;
        self.ts_recent_ms = now_ms.wrapping_sub(s.ts_recent_age_ms);
        // Our TSval is now_ms + ts_offset: continue the sender's clock.
        self.ts_offset = s.ts_val.wrapping_sub(now_ms);
        self.srtt_us = s.srtt_us;
        self.rttvar_us = s.rttvar_us;
        self.rto_us = s.rto_us.clamp(RTO_MIN_US, RTO_MAX_US);
        self.keep_idle_ms = s.keep_idle_ms.max(1);
        self.keep_intvl_ms = s.keep_intvl_ms.max(1);
        self.last_rx_ms = now_ms;
        self.total_retrans = s.total_retrans;
    }

    /// Exports the connection as a snapshot at NIC time `now_ms`.
    pub(super) fn export(&self, now_ms: u32) -> Snapshot {
        let mut flags = 0u8;
        for (cb, sb) in [
            (fl::TS_OK, SnapFlags::TIMESTAMPS),
            (fl::SACK_OK, SnapFlags::SACK),
            (fl::NODELAY, SnapFlags::NODELAY),
            (fl::KEEPALIVE, SnapFlags::KEEPALIVE),
            (fl::IN_RECOVERY, SnapFlags::IN_RECOVERY),
        ] {
            if self.has(cb) {
                flags |= sb;
            }
        }
        if self.has(fl::FIN_QUEUED) && !self.state.fin_sent() {
            flags |= SnapFlags::FIN_QUEUED;
        }
        Snapshot {
            ip_version: if self.key.v6 { 6 } else { 4 },
            state: self.state,
            flags: SnapFlags(flags),
            local_port: self.key.local_port,
            remote_port: self.key.remote_port,
            local_addr: self.key.local_addr,
            remote_addr: self.key.remote_addr,
            local_mac: self.local_mac,
            remote_mac: self.remote_mac,
            ttl: self.ttl,
            tos: self.tos,
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            mss: self.mss,
            rxt_shift: self.rxt_shift,
            dupacks: self.dupacks,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_max: self.snd_max,
            snd_wnd: self.snd_wnd,
            max_snd_wnd: self.max_snd_wnd,
            snd_wl1: self.snd_wl1,
            snd_wl2: self.snd_wl2,
            recover: self.recover,
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            rcv_nxt: self.rcv_nxt,
            rcv_buf: self.rcv_buf,
            rcv_unread: self.rcv_unread,
            rcv_adv: self.rcv_adv,
            ts_recent: self.ts_recent,
            ts_recent_age_ms: now_ms.wrapping_sub(self.ts_recent_ms),
            ts_val: self.ts_val(now_ms),
            srtt_us: self.srtt_us,
            rttvar_us: self.rttvar_us,
            rto_us: self.rto_us,
            keep_idle_ms: self.keep_idle_ms,
            keep_intvl_ms: self.keep_intvl_ms,
            keep_cnt: self.keep_cnt,
            snd_queued: self.snd_queued,
            total_retrans: self.total_retrans,
        }
    }

    /// Records an accepted segment at `now_ms`.
    #[inline]
    pub(super) fn note_rx(&mut self, now_ms: u32) {
        self.last_rx_ms = now_ms;
        self.tx_after_rx = 0;
    }

    /// Records a data transmission at `now_ms`.
    #[inline]
    pub(super) fn note_tx(&mut self, now_ms: u32) {
        // The clock never runs backwards, so this is the true distance.
        let d = now_ms.wrapping_sub(self.last_rx_ms);
        self.tx_after_rx = d.min(u32::from(u16::MAX)) as u16;
    }

    /// Milliseconds since the last segment received, data transmitted or
    /// data acknowledged (modulo 2^32 ms, like every millisecond clock here).
    #[inline]
    pub(super) fn idle_ms(&self, now_ms: u32) -> u32 {
        now_ms.wrapping_sub(self.last_rx_ms.wrapping_add(u32::from(self.tx_after_rx)))
    }

    /// TSval to send at `now_ms`.
    #[inline]
    pub(super) fn ts_val(&self, now_ms: u32) -> u32 {
        now_ms.wrapping_add(self.ts_offset)
    }

    /// End of the data the host has enqueued: what can be sent.
    #[inline]
    pub(super) fn data_end(&self) -> u32 {
        self.snd_una.wrapping_add(self.snd_queued)
    }

    /// Sequence number of our FIN (valid when FIN_QUEUED). It is not
    /// `data_end()` right after the handoff of a closed connection: the
    /// host is still re-enqueueing the data before the FIN (`reenqueue`
    /// bytes to come, of which `ack_debt` are acknowledged already and so
    /// lie below `snd_una`). Taking `data_end()` for it then made any ACK
    /// look like the ACK of the FIN, and sent the FIN ahead of the data.
    #[inline]
    pub(super) fn fin_seq(&self) -> u32 {
        self.data_end()
            .wrapping_add(self.reenqueue)
            .wrapping_sub(self.ack_debt)
    }

    /// Bytes sent and not yet acknowledged (RFC 5681 FlightSize).
    #[inline]
    pub(super) fn flight(&self) -> u32 {
        seq::diff(self.snd_nxt, self.snd_una)
    }

    /// Feeds one RTT sample (µs) into the RFC 6298 §2 estimator.
    pub(super) fn rtt_sample(&mut self, r: u32) {
        let r = r.max(1);
        if self.srtt_us == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2;
        } else {
            let delta = self.srtt_us.abs_diff(r);
            // rttvar = 3/4 rttvar + 1/4 |srtt - r|; srtt = 7/8 srtt + 1/8 r
            self.rttvar_us = ((u64::from(self.rttvar_us) * 3 + u64::from(delta)) / 4) as u32;
            self.srtt_us = ((u64::from(self.srtt_us) * 7 + u64::from(r)) / 8) as u32;
        }
        let rto =
            u64::from(self.srtt_us) + u64::from(CLOCK_G_US.max(self.rttvar_us.saturating_mul(4)));
        self.rto_us = (rto.min(u64::from(RTO_MAX_US)) as u32).max(RTO_MIN_US);
    }

    /// The current RTO with exponential backoff (RFC 6298 §5.5), in ms.
    pub(super) fn rto_ms(&self) -> u32 {
        let us = u64::from(self.rto_us) << self.rxt_shift.min(16);
        (us.min(u64::from(RTO_MAX_US)) / 1000) as u32
    }

    /// Slow start / congestion avoidance growth for `acked` new bytes
    /// (RFC 5681 §3.1, byte counting limited to one SMSS per ACK).
    pub(super) fn cc_on_ack(&mut self, acked: u32) {
        let mss = u32::from(self.mss);
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(mss));
        } else {
            let inc = (u64::from(mss) * u64::from(mss) / u64::from(self.cwnd.max(1))).max(1);
            self.cwnd = self.cwnd.saturating_add(inc as u32);
        }
    }

    /// Congestion response to a loss signal (RFC 5681 eq. 4).
    pub(super) fn cc_on_loss(&mut self) {
        let mss = u32::from(self.mss);
        self.ssthresh = (self.flight() / 2).max(2 * mss);
    }

    /// The window field to put in an outgoing segment, given the bytes the
    /// firmware and host can currently absorb. Updates `rcv_adv`.
    ///
    /// The right edge never moves left (RFC 9293 §3.8.6.2.2), and moves right
    /// only by at least one MSS or half the buffer (receiver SWS avoidance,
    /// RFC 9293 §3.8.6.2.2 / RFC 1122 §4.2.3.3).
    pub(super) fn window_field(&mut self, space: u32) -> u16 {
        let ws = u32::from(self.rcv_wscale);
        let space = space.min(MAX_WINDOW << ws);
        let cand = self.rcv_nxt.wrapping_add(space);
        let threshold = u32::from(self.mss).min(self.rcv_buf / 2).max(1);
        if seq::gt(cand, self.rcv_adv)
            && (seq::diff(cand, self.rcv_adv) >= threshold || space == self.rcv_buf)
        {
            self.rcv_adv = cand;
        } else if seq::lt(self.rcv_adv, self.rcv_nxt) {
            self.rcv_adv = self.rcv_nxt;
        }
        let adv = seq::diff(self.rcv_adv, self.rcv_nxt);
        // Round up so the scaled window never falls short of the promise,
        // and make the promise what the peer will actually read from the
        // field, so data up to that edge is accepted, not trimmed.
        let field = ((u64::from(adv) + (1u64 << ws) - 1) >> ws).min(u64::from(MAX_WINDOW));
        self.rcv_adv = self.rcv_nxt.wrapping_add((field as u32) << ws);
        field as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnSlot {
        let s = Snapshot {
            mss: 1000,
            rcv_buf: 64_000,
            rcv_nxt: 100,
            rcv_adv: 100,
            cwnd: 0,
            ..Snapshot::default()
        };
        let mut c = ConnSlot::EMPTY;
        c.install(&s, 5);
        c
    }

    #[test]
    fn slot_is_small() {
        let n = core::mem::size_of::<ConnSlot>();
        assert!(n <= 320, "ConnSlot is {n} bytes");
    }

    #[test]
    fn install_export_roundtrip() {
        let s = Snapshot {
            mss: 1448,
            rcv_buf: 1 << 20,
            snd_una: 10,
            snd_nxt: 20,
            snd_max: 30,
            cwnd: 14480,
            ssthresh: 30000,
            ts_val: 777,
            ts_recent: 99,
            ts_recent_age_ms: 3,
            flags: SnapFlags(SnapFlags::TIMESTAMPS | SnapFlags::NODELAY),
            rcv_adv: 5000,
            rto_us: 300_000,
            ..Snapshot::default()
        };
        let mut c = ConnSlot::EMPTY;
        c.install(&s, 1_000);
        let e = c.export(1_010);
        assert_eq!(e.ts_val, 787, "TSval continues the sender's clock");
        assert_eq!(e.ts_recent_age_ms, 13);
        let mut want = s;
        want.ts_val = 787;
        want.ts_recent_age_ms = 13;
        assert_eq!(e, want);
    }

    #[test]
    fn rtt_estimator_rfc6298() {
        let mut c = conn();
        c.rtt_sample(100_000);
        assert_eq!((c.srtt_us, c.rttvar_us), (100_000, 50_000));
        assert_eq!(c.rto_us, 300_000);
        c.rtt_sample(100_000);
        assert_eq!(c.srtt_us, 100_000);
        assert_eq!(c.rttvar_us, 37_500);
        // Tiny RTTs are floored at RTO_MIN.
        let mut c = conn();
        c.rtt_sample(10);
        assert_eq!(c.rto_us, RTO_MIN_US);
        // Backoff doubles and is capped.
        c.rxt_shift = 3;
        assert_eq!(c.rto_ms(), 1600);
        c.rxt_shift = 15;
        assert_eq!(c.rto_ms(), RTO_MAX_US / 1000);
    }

    #[test]
    fn congestion_control() {
        let mut c = conn();
        assert_eq!(c.cwnd, 10_000);
        c.ssthresh = 12_000;
        c.cc_on_ack(5000); // slow start: +1 MSS max
        assert_eq!(c.cwnd, 11_000);
        c.cc_on_ack(500);
        assert_eq!(c.cwnd, 11_500);
        c.cc_on_ack(1000);
        c.cc_on_ack(1000); // now above ssthresh: +mss^2/cwnd
        assert_eq!(c.cwnd, 12_500 + 80);
        c.snd_una = 0;
        c.snd_nxt = 10_000;
        c.cc_on_loss();
        assert_eq!(c.ssthresh, 5000);
        c.snd_nxt = 100;
        c.cc_on_loss();
        assert_eq!(c.ssthresh, 2000);
    }

    #[test]
    fn window_never_shrinks_and_avoids_sws() {
        let mut c = conn();
        assert_eq!(c.window_field(64_000), 64_000);
        assert_eq!(c.rcv_adv, 64_100);
        // Space shrinks (host is slow): the promise stands.
        assert_eq!(c.window_field(1000), 64_000);
        c.rcv_nxt = 64_100;
        assert_eq!(c.window_field(0), 0);
        // A small opening is not advertised (SWS avoidance)...
        assert_eq!(c.window_field(500), 0);
        // ...a full MSS is.
        assert_eq!(c.window_field(1000), 1000);
        // Scaled windows round up.
        let mut c = conn();
        c.rcv_wscale = 7;
        assert_eq!(c.window_field(1000), 8);
        assert_eq!(c.window_field(64_000), 500);
    }
}
