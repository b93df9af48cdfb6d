//! Firmware statistics, in the spirit of `ethtool -S`.
//!
//! Plain `u64` fields so the hot path increments them with one instruction;
//! [`Counters::NAMES`] and [`Counters::get`] expose them generically for the
//! kernel's stats export without any formatting in the firmware.

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// All firmware counters.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Counter names, in [`Counters::get`] order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// The `i`-th counter (see [`Counters::NAMES`]).
            pub fn get(&self, i: usize) -> Option<u64> {
                let all = [$(self.$name),*];
                all.get(i).copied()
            }
        }
    };
}

counters! {
    /// Frames offered to the engine.
    rx_frames,
    /// Frames returned to the host because no offloaded connection matched.
    rx_pass_through,
    /// Segments accepted for an offloaded connection.
    rx_segs,
    /// Payload bytes accepted in order.
    rx_bytes,
    /// Segments dropped: IPv4 header checksum.
    drop_ip_csum,
    /// Segments dropped: TCP checksum.
    drop_tcp_csum,
    /// Segments dropped: truncated or malformed headers for an offloaded tuple.
    drop_malformed,
    /// Segments whose options were malformed (processed, options truncated).
    rx_bad_options,
    /// Segments dropped: outside the receive window.
    drop_out_of_window,
    /// Segments dropped: PAWS (RFC 7323 §5).
    drop_paws,
    /// Segments dropped: ACK of unsent data or too old (RFC 5961 §5).
    drop_bad_ack,
    /// Segments dropped: no ACK flag.
    drop_no_ack,
    /// RSTs ignored (out of window).
    drop_rst,
    /// In-order data dropped because staging memory was exhausted.
    drop_no_staging,
    /// Out-of-order data not kept because staging memory was exhausted.
    drop_ooo_no_staging,
    /// Out-of-order segments queued for reassembly.
    rx_ooo_segs,
    /// Duplicate (already received) segments.
    rx_dup_segs,
    /// Challenge ACKs sent (RFC 5961).
    challenge_acks,
    /// Segments transmitted.
    tx_segs,
    /// Payload bytes transmitted (including retransmissions).
    tx_bytes,
    /// Pure ACKs transmitted.
    tx_acks,
    /// Frames the wire refused (transmit ring full).
    tx_ring_full,
    /// Segments retransmitted.
    retransmits,
    /// Retransmission timeouts.
    rto_fired,
    /// Fast retransmits (three duplicate ACKs).
    fast_retransmits,
    /// Entries into NewReno fast recovery.
    recoveries,
    /// Zero-window probes sent.
    persist_probes,
    /// Keepalive probes sent.
    keepalive_probes,
    /// Delayed ACK timer expiries.
    delack_fired,
    /// SACK blocks received.
    sack_blocks,
    /// Retransmissions chosen from SACK information during recovery.
    sack_retransmits,
    /// RSTs sent.
    tx_rsts,
    /// Bytes read from host memory.
    dma_read_bytes,
    /// Bytes written to host memory.
    dma_write_bytes,
    /// DMA operations that failed.
    dma_errors,
    /// Commands received.
    cmd_total,
    /// `handoff` commands.
    cmd_handoff,
    /// `restore` commands.
    cmd_restore,
    /// `send` commands.
    cmd_send,
    /// `recvd` commands.
    cmd_recvd,
    /// `ctrl` commands.
    cmd_ctrl,
    /// `forward` commands.
    cmd_forward,
    /// `post` commands.
    cmd_post,
    /// Commands that failed to decode.
    cmd_malformed,
    /// Commands naming a cid that is not live.
    cmd_bad_cid,
    /// Events emitted.
    ev_total,
    /// `handoff_done` events.
    ev_handoff_done,
    /// `restore` events.
    ev_restore,
    /// `recv` events.
    ev_recv,
    /// `recv_data` events.
    ev_recv_data,
    /// `ack` events.
    ev_ack,
    /// `ctrl` events.
    ev_ctrl,
    /// `resource` events.
    ev_resource,
    /// Refusals: connection table full.
    refuse_conn_slots,
    /// Refusals: duplicate 4-tuple.
    refuse_duplicate,
    /// Refusals: invalid snapshot.
    refuse_bad_snapshot,
    /// Refusals: reference pool empty.
    refuse_refs,
    /// Refusals: command not valid in this state.
    refuse_state,
    /// Connections handed off to the NIC.
    conns_offloaded,
    /// Connections handed back to the host.
    conns_restored,
    /// Connections freed on the NIC (closed, reset, timed out).
    conns_freed,
    /// `ctrl` RestoreRequest events: the NIC asked the host to take a
    /// connection back under memory pressure.
    restore_requests,
    /// `info` commands (queries of a live connection's state; each one on a
    /// live cid is answered with one `info` event).
    cmd_info,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_values() {
        let c = Counters {
            rx_frames: 1,
            conns_freed: 9,
            restore_requests: 7,
            cmd_info: 5,
            ..Counters::default()
        };
        assert_eq!(Counters::NAMES[0], "rx_frames");
        assert_eq!(c.get(0), Some(1));
        // New counters are appended: the order is the `ethtool -S` order.
        let last = Counters::NAMES.len() - 1;
        assert_eq!(Counters::NAMES[last], "cmd_info");
        assert_eq!(c.get(last), Some(5));
        assert_eq!(Counters::NAMES[last - 1], "restore_requests");
        assert_eq!(c.get(last - 1), Some(7));
        assert_eq!(Counters::NAMES[last - 2], "conns_freed");
        assert_eq!(c.get(last - 2), Some(9));
        assert_eq!(c.get(last + 1), None);
    }
}
