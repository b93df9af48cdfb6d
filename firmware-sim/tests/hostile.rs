//! Hostile and edge-case input against an engine-only setup: every case
//! must be absorbed without a panic, counted, and leave the connection
//! state consistent.

mod common;

use common::*;
use firmware_sim::msg::{
    Command, CtrlCmd, CtrlEvent, Refusal, ResourceKind, RestoreReason, MSG_LEN,
};
use firmware_sim::snapshot::TcpState;
use firmware_sim::wire::tcp::{ACK, FIN, PSH, RST, SYN};
use firmware_sim::{CmdError, Engine, Verdict};

const PP: u16 = 40000;
const T0: u64 = 1_000_000;

fn rx(e: &mut Engine<'static>, h: &mut Host, t: u64, f: &[u8]) -> Verdict {
    let v = e.receive(t, f, h);
    e.poll(t, h);
    v
}

fn data_seg(seq: u32, payload: &[u8]) -> Vec<u8> {
    frame_to_nic(false, seq, 1000, ACK | PSH, 1000, &[], payload, PP)
}

#[test]
fn bad_checksums_are_dropped_and_counted() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let before = e.peek(cid).unwrap();
    let good = data_seg(5000, b"hello");
    // Flip a bit in the IPv4 header (TTL) and in the TCP payload.
    let mut bad_ip = good.clone();
    bad_ip[22] ^= 1;
    let mut bad_tcp = good.clone();
    *bad_tcp.last_mut().unwrap() ^= 0x20;
    assert_eq!(rx(&mut e, &mut h, T0, &bad_ip), Verdict::Dropped);
    assert_eq!(rx(&mut e, &mut h, T0, &bad_tcp), Verdict::Dropped);
    let c = e.counters();
    assert_eq!((c.drop_ip_csum, c.drop_tcp_csum), (1, 1));
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, before.rcv_nxt);
    assert!(h.tx.is_empty(), "no response to corrupt frames");
    // IPv6 has no header checksum: a corrupt TCP checksum is caught.
    let (mut e6, mut h6, _) = engine_with_conn(test_snapshot(true, PP, false));
    let mut f = frame_to_nic(true, 5000, 1000, ACK, 1000, &[], b"x", PP);
    *f.last_mut().unwrap() ^= 1;
    assert_eq!(rx(&mut e6, &mut h6, T0, &f), Verdict::Dropped);
    assert_eq!(e6.counters().drop_tcp_csum, 1);
}

#[test]
fn every_truncation_is_safe() {
    for v6 in [false, true] {
        let (mut e, mut h, cid) = engine_with_conn(test_snapshot(v6, PP, true));
        let mut opts = ts_opt(200, 7000);
        opts.extend_from_slice(&[1, 1, 1, 0]);
        let f = frame_to_nic(v6, 5000, 1000, ACK, 1000, &opts, b"payload!", PP);
        for len in 0..f.len() {
            let v = rx(&mut e, &mut h, T0, &f[..len]);
            assert_ne!(v, Verdict::Consumed, "truncated to {len}");
        }
        assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5000);
        assert_eq!(rx(&mut e, &mut h, T0, &f), Verdict::Consumed);
        assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5008);
        let c = e.counters();
        assert!(c.rx_pass_through + c.drop_malformed + c.drop_tcp_csum > 0);
    }
}

#[test]
fn bogus_options_are_tolerated_and_counted() {
    let table: &[&[u8]] = &[
        &[8, 0, 0, 0],             // zero length
        &[8, 1, 0, 0],             // length 1
        &[8, 40, 0, 0],            // overruns the header
        &[2, 3, 5, 1],             // MSS with wrong length
        &[5, 7, 0, 0, 0, 0, 0, 0], // SACK with a partial block
        &[99, 2, 1, 1],            // unknown but well-formed: fine
    ];
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let mut seq = 5000;
    for (i, o) in table.iter().enumerate() {
        let f = frame_to_nic(false, seq, 1000, ACK, 1000, o, b"ab", PP);
        assert_eq!(rx(&mut e, &mut h, T0, &f), Verdict::Consumed, "case {i}");
        seq += 2;
    }
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, seq);
    assert_eq!(e.counters().rx_bad_options, 5);
}

#[test]
fn out_of_window_and_wrapped_sequence_numbers() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let cases = [
        5000u32.wrapping_add(1 << 31),
        5000u32.wrapping_sub(70_000),
        5000 + 65535 + 10,
        4000,
    ];
    for s in cases {
        h.tx.clear();
        rx(&mut e, &mut h, T0, &data_seg(s, b"zzzz"));
        // Answered with a pure ACK of rcv_nxt, data not taken.
        assert_eq!(h.tx.len(), 1);
        let (_, ack, flags, _, n) = parse_out(&h.tx[0]);
        assert_eq!((ack, flags & ACK, n), (5000, ACK, 0));
    }
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5000);
    assert_eq!(e.counters().drop_out_of_window, 4);
}

#[test]
fn ack_of_unsent_data_is_dropped() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000, 1_000_000, ACK, 1000, &[], b"abc", PP),
    );
    assert_eq!(e.counters().drop_bad_ack, 1);
    assert_eq!(
        e.peek(cid).unwrap().rcv_nxt,
        5000,
        "the segment is discarded whole"
    );
    // Too old an ACK (below snd_una - max_snd_wnd) is challenged.
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(
            false,
            5000,
            1000u32.wrapping_sub(100_000),
            ACK,
            1000,
            &[],
            b"",
            PP,
        ),
    );
    assert_eq!(e.counters().drop_bad_ack, 2);
    assert_eq!(e.counters().challenge_acks, 1);
}

#[test]
fn rst_rfc5961() {
    // In window but not exact: challenge ACK, connection survives.
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5100, 0, RST, 0, &[], b"", PP),
    );
    assert_eq!(e.counters().challenge_acks, 1);
    assert!(e.peek(cid).is_some());
    // Out of window: ignored.
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000 + 200_000, 0, RST, 0, &[], b"", PP),
    );
    assert_eq!(e.counters().drop_rst, 1);
    assert!(e.peek(cid).is_some());
    // SYN on a synchronized connection: challenge ACK.
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000, 0, SYN, 0, &[], b"", PP),
    );
    assert_eq!(e.counters().challenge_acks, 2);
    // Exact: reset, reported, freed.
    h.events.clear();
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000, 0, RST, 0, &[], b"", PP),
    );
    assert!(e.peek(cid).is_none());
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Ctrl {
            ev: CtrlEvent::PeerRst,
            ..
        }
    )));
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Ctrl {
            ev: CtrlEvent::Freed,
            ..
        }
    )));
    assert_eq!(e.live_conns(), 0);
    // Stale cid is refused.
    let r = e.command(T0, &enc(Command::Recvd { cid, len: 1 }), &mut h);
    assert_eq!(r, Err(CmdError::Refused(Refusal::BadCid)));
}

#[test]
fn paws_drops_old_timestamps() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, true));
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000, 1000, ACK, 1000, &ts_opt(200, 7000), b"new", PP),
    );
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5003);
    assert_eq!(e.peek(cid).unwrap().ts_recent, 200);
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5003, 1000, ACK, 1000, &ts_opt(150, 7000), b"old", PP),
    );
    assert_eq!(e.counters().drop_paws, 1);
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5003);
}

#[test]
fn malformed_ring_messages() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let mut rng = Rng::new(99);
    for i in 0..2000 {
        let mut m = rng.bytes(1 + (i % 200));
        if i % 3 == 0 {
            // Valid kind, random fields.
            m[0] = 1 + (rng.below(7) as u8);
        }
        let _ = e.command(T0, &m, &mut h);
    }
    // A batch with garbage between valid commands still executes the valid ones.
    let mut batch = enc(Command::Ctrl {
        cid,
        cmd: CtrlCmd::NoDelay,
        arg: 1,
    });
    batch.extend_from_slice(&[0xee; MSG_LEN]);
    batch.extend_from_slice(&enc(Command::Recvd { cid, len: 0 }));
    batch.extend_from_slice(&[1, 2, 3]);
    let st = e.step(T0, std::iter::empty(), &batch, &mut h);
    assert_eq!(st.commands, 2);
    assert_eq!(st.command_errors, 2);
    assert!(e.counters().cmd_malformed > 100);
    assert!(e
        .peek(cid)
        .is_some_and(|s| s.flags.has(firmware_sim::SnapFlags::NODELAY)));
}

#[test]
fn connection_table_full_and_duplicates() {
    let mut e = leak_engine(small_layout(), 1, 0);
    let mut h = Host::new(4096);
    let n = small_layout().max_conns;
    for i in 0..n {
        e.command(
            0,
            &enc(Command::Handoff {
                cookie: i as u64,
                snap: test_snapshot(i % 2 == 0, 1000 + i as u16, false),
            }),
            &mut h,
        )
        .unwrap();
    }
    assert_eq!(e.live_conns(), n);
    let r = e.command(
        0,
        &enc(Command::Handoff {
            cookie: 99,
            snap: test_snapshot(false, 9999, false),
        }),
        &mut h,
    );
    assert_eq!(r, Err(CmdError::Refused(Refusal::NoConnSlot)));
    assert!(h.events.contains(&OwnedEvent::HandoffDone {
        cookie: 99,
        result: Err(Refusal::NoConnSlot)
    }));
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Resource {
            kind: ResourceKind::ConnSlots,
            num: 0,
            ..
        }
    )));
    assert_eq!(e.counters().refuse_conn_slots, 1);
    // Free one, then the same tuple twice: second is a duplicate.
    let (mut e, mut h, _cid) = engine_with_conn(test_snapshot(false, PP, false));
    let r = e.command(
        0,
        &enc(Command::Handoff {
            cookie: 5,
            snap: test_snapshot(false, PP, false),
        }),
        &mut h,
    );
    assert_eq!(r, Err(CmdError::Refused(Refusal::Duplicate)));
    // A snapshot that fails validation.
    let mut bad = test_snapshot(false, 1, false);
    bad.snd_nxt = bad.snd_una.wrapping_sub(1);
    let r = e.execute(
        Command::Handoff {
            cookie: 6,
            snap: bad,
        },
        &mut h,
    );
    assert_eq!(r, Err(CmdError::Refused(Refusal::BadSnapshot)));
}

#[test]
fn send_refs_exhausted_is_refused_with_resource_event() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let mut refused = 0;
    for i in 0..(small_layout().refs + 5) {
        if e.command(
            T0,
            &enc(Command::Send {
                cid,
                addr: 0,
                len: 100,
                flags: 0,
            }),
            &mut h,
        )
        .is_err()
        {
            refused += 1;
        } else {
            assert!(i < small_layout().refs);
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(e.counters().refuse_refs, 5);
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Resource {
            kind: ResourceKind::Refs,
            num: 0,
            ..
        }
    )));
}

#[test]
fn staging_when_host_posts_nothing_then_catches_up() {
    let mut snap = test_snapshot(false, PP, false);
    snap.rcv_adv = snap.rcv_nxt; // nothing promised yet
    let (mut e, mut h, cid) = engine_with_conn(snap);
    e.set_stage_cap(4); // 8 KiB
                        // Window reflects staging only.
    rx(
        &mut e,
        &mut h,
        T0,
        &frame_to_nic(false, 5000, 1000, ACK, 1000, &[], b"", PP),
    );
    e.command(T0, &enc(Command::Recvd { cid, len: 0 }), &mut h)
        .unwrap();
    e.poll(T0, &mut h);
    let (_, _, _, wnd, _) = parse_out(h.tx.last().unwrap());
    assert_eq!(wnd, 8192);
    let mut seq = 5000;
    for _ in 0..9 {
        rx(&mut e, &mut h, T0, &data_seg(seq, &[7u8; 1000]));
        seq += 1000;
    }
    let s = e.peek(cid).unwrap();
    assert_eq!(
        s.rcv_nxt,
        5000 + 8192,
        "exactly the staging budget was taken"
    );
    rx(&mut e, &mut h, T0, &data_seg(seq, &[7u8; 1000]));
    assert!(e.counters().drop_out_of_window > 0);
    let (_, ack, _, wnd, _) = parse_out(h.tx.last().unwrap());
    assert_eq!((ack, wnd), (5000 + 8192, 0), "zero window advertised");
    // Host posts a buffer: staged data is delivered, window reopens.
    h.events.clear();
    e.command(
        T0,
        &enc(Command::Post {
            cid,
            addr: 0x1000,
            len: 16384,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    let got: u32 = h
        .events
        .iter()
        .map(|ev| {
            if let OwnedEvent::Recv { len, .. } = ev {
                u32::from(*len)
            } else {
                0
            }
        })
        .sum();
    assert_eq!(got, 8192);
    assert!(h.mem[0x1000..0x1000 + 8192].iter().all(|&b| b == 7));
    let (_, _, _, wnd, _) = parse_out(h.tx.last().unwrap());
    assert!(wnd > 0);
}

#[test]
fn restore_hands_back_staged_bytes_inline() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    rx(&mut e, &mut h, T0, &data_seg(5000, b"staged bytes"));
    // Out-of-order data is dropped on restore (never acked, peer resends).
    rx(&mut e, &mut h, T0, &data_seg(6000, b"later"));
    h.events.clear();
    e.command(T0, &enc(Command::Restore { cid, cookie: 77 }), &mut h)
        .unwrap();
    let data: Vec<u8> = h
        .events
        .iter()
        .filter_map(|ev| {
            if let OwnedEvent::RecvData { data, .. } = ev {
                Some(data.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(data, b"staged bytes");
    let snap = h
        .events
        .iter()
        .find_map(|ev| {
            if let OwnedEvent::Restore {
                snap, cookie: 77, ..
            } = ev
            {
                Some(*snap)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(snap.rcv_nxt, 5012);
    assert_eq!(snap.rcv_unread, 12);
    assert_eq!(e.live_conns(), 0);
    assert_eq!(
        e.free_chunks(),
        small_layout().chunks as u32,
        "every chunk returned"
    );
    assert_eq!(e.free_refs(), small_layout().refs as u32);
}

#[test]
fn retransmission_gives_up_with_etimedout() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    h.mem[..100].fill(1);
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 100,
            flags: 0,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 1);
    let mut t = T0;
    let mut gaps = Vec::new();
    let mut last = t;
    while e.peek(cid).is_some() && t < T0 + 3_600_000_000 {
        t += 10_000;
        let n = h.tx.len();
        e.poll(t, &mut h);
        if h.tx.len() > n {
            gaps.push((t - last) / 1000);
            last = t;
        }
    }
    assert!(e.peek(cid).is_none());
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Ctrl {
            ev: CtrlEvent::TimedOut,
            arg: 110,
            ..
        }
    )));
    // Exponential backoff: each gap about double the previous until the cap.
    assert!(gaps.len() >= 10, "{gaps:?}");
    assert!(
        gaps[1] >= gaps[0] * 2 - 20 && gaps[2] >= gaps[1] * 2 - 20,
        "{gaps:?}"
    );
    assert_eq!(e.counters().tx_rsts, 1);
}

#[test]
fn keepalive_probes_then_times_out() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    e.command(
        T0,
        &enc(Command::Ctrl {
            cid,
            cmd: CtrlCmd::KeepAlive,
            arg: 1000,
        }),
        &mut h,
    )
    .unwrap();
    let mut t = T0;
    while e.peek(cid).is_some() && t < T0 + 2_000_000_000 {
        t += 50_000;
        e.poll(t, &mut h);
        if t == T0 + 1_500_000 {
            // The peer answers the first probe: idle timer restarts.
            assert_eq!(e.counters().keepalive_probes, 1);
            let (s, _, _, _, _) = parse_out(h.tx.last().unwrap());
            assert_eq!(s, 999, "probe is snd_una - 1");
            rx(
                &mut e,
                &mut h,
                t,
                &frame_to_nic(false, 5000, 1000, ACK, 1000, &[], b"", PP),
            );
        }
    }
    assert!(e.peek(cid).is_none());
    assert_eq!(e.counters().keepalive_probes, 1 + 9);
}

#[test]
fn forward_command_processes_host_frames() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let f = data_seg(5000, b"forwarded");
    h.mem[0x800..0x800 + f.len()].copy_from_slice(&f);
    e.command(
        T0,
        &enc(Command::Post {
            cid,
            addr: 0x4000,
            len: 4096,
        }),
        &mut h,
    )
    .unwrap();
    e.command(
        T0,
        &enc(Command::Forward {
            cid,
            addr: 0x800,
            len: f.len() as u16,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    assert_eq!(e.peek(cid).unwrap().rcv_nxt, 5009);
    assert_eq!(&h.mem[0x4000..0x4009], b"forwarded");
    // A forward from an unmapped address is a DMA error, not a panic.
    e.command(
        T0,
        &enc(Command::Forward {
            cid,
            addr: u64::MAX - 3,
            len: 100,
        }),
        &mut h,
    )
    .unwrap();
    assert_eq!(e.counters().dma_errors, 1);
}

#[test]
fn out_of_order_reassembly_and_fin() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    e.command(
        T0,
        &enc(Command::Post {
            cid,
            addr: 0x4000,
            len: 4096,
        }),
        &mut h,
    )
    .unwrap();
    // Segments of "0123456789ABCDEF" + FIN, delivered scrambled with overlaps.
    let msg = b"0123456789ABCDEF";
    let pieces: &[(usize, usize, bool)] = &[
        (12, 16, true),
        (4, 8, false),
        (6, 13, false),
        (8, 10, false),
        (0, 5, false),
    ];
    for &(a, b, fin) in pieces {
        let flags = ACK | if fin { FIN } else { 0 };
        rx(
            &mut e,
            &mut h,
            T0,
            &frame_to_nic(
                false,
                5000 + a as u32,
                1000,
                flags,
                1000,
                &[],
                &msg[a..b],
                PP,
            ),
        );
    }
    let s = e.peek(cid).unwrap();
    assert_eq!(s.rcv_nxt, 5000 + 16 + 1);
    assert_eq!(s.state, TcpState::CloseWait);
    assert_eq!(&h.mem[0x4000..0x4010], msg);
    assert!(h.events.iter().any(|ev| matches!(
        ev,
        OwnedEvent::Ctrl {
            ev: CtrlEvent::PeerFin,
            ..
        }
    )));
    assert!(e.counters().rx_ooo_segs >= 3);
}

#[test]
fn fast_retransmit_and_newreno_recovery() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    for (i, b) in h.mem[..20_000].iter_mut().enumerate() {
        *b = i as u8;
    }
    for k in 0..5 {
        e.command(
            T0,
            &enc(Command::Send {
                cid,
                addr: k * 4000,
                len: 4000,
                flags: 0,
            }),
            &mut h,
        )
        .unwrap();
    }
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 10, "initial window of 10 segments");
    h.tx.clear();
    // Segment 1 lost: three duplicate ACKs.
    for _ in 0..3 {
        rx(
            &mut e,
            &mut h,
            T0 + 1000,
            &frame_to_nic(false, 5000, 1000, ACK, 65535, &[], b"", PP),
        );
    }
    assert_eq!(e.counters().fast_retransmits, 1);
    let (s, _, _, _, n) = parse_out(&h.tx[0]);
    assert_eq!((s, n), (1000, 1000));
    // Partial ACK (covers segment 1 only) retransmits segment 2 at once.
    h.tx.clear();
    rx(
        &mut e,
        &mut h,
        T0 + 2000,
        &frame_to_nic(false, 5000, 2000, ACK, 65535, &[], b"", PP),
    );
    let (s, _, _, _, _) = parse_out(&h.tx[0]);
    assert_eq!(s, 2000);
    // Full ACK ends recovery.
    rx(
        &mut e,
        &mut h,
        T0 + 3000,
        &frame_to_nic(false, 5000, 11_000, ACK, 65535, &[], b"", PP),
    );
    let snap = e.peek(cid).unwrap();
    assert!(!snap.flags.has(firmware_sim::SnapFlags::IN_RECOVERY));
    assert_eq!(e.counters().recoveries, 1);
    // Ack events report exactly the acked bytes, coalesced.
    let acked: u64 = h
        .events
        .iter()
        .map(|ev| {
            if let OwnedEvent::Ack { len, .. } = ev {
                *len
            } else {
                0
            }
        })
        .sum();
    assert_eq!(acked, 10_000);
}

#[test]
fn handoff_after_close_with_unacked_data_and_fin() {
    // FIN_WAIT1: 100 bytes and the FIN sent, none acknowledged.
    let mut snap = test_snapshot(false, PP, false);
    snap.state = TcpState::FinWait1;
    snap.snd_nxt = 1101;
    snap.snd_max = 1101;
    snap.snd_queued = 100;
    let (mut e, mut h, cid) = engine_with_conn(snap);
    h.mem[..100].fill(9);
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 100,
            flags: 0,
        }),
        &mut h,
    )
    .unwrap();
    // Anything beyond the announced bytes is new data after close: refused.
    let r = e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 1,
            flags: 0,
        }),
        &mut h,
    );
    assert_eq!(r, Err(CmdError::Refused(Refusal::Shutdown)));
    // The RTO retransmits data and FIN together.
    let mut t = T0;
    while h.tx.is_empty() {
        t += 10_000;
        e.poll(t, &mut h);
    }
    let (s, _, flags, _, n) = parse_out(&h.tx[0]);
    assert_eq!((s, n, flags & FIN), (1000, 100, FIN));
    // Partial ack of the data, then the FIN.
    rx(
        &mut e,
        &mut h,
        t,
        &frame_to_nic(false, 5000, 1100, ACK, 1000, &[], b"", PP),
    );
    assert_eq!(e.peek(cid).unwrap().state, TcpState::FinWait1);
    rx(
        &mut e,
        &mut h,
        t,
        &frame_to_nic(false, 5000, 1101, ACK, 1000, &[], b"", PP),
    );
    assert_eq!(e.peek(cid).unwrap().state, TcpState::FinWait2);
    // Peer's FIN: TIME_WAIT, handed back.
    h.events.clear();
    rx(
        &mut e,
        &mut h,
        t,
        &frame_to_nic(false, 5000, 1101, ACK | FIN, 1000, &[], b"", PP),
    );
    assert!(e.peek(cid).is_none());
    assert!(h.events.iter().any(|ev| matches!(ev, OwnedEvent::Restore { reason: RestoreReason::TimeWait, snap, .. } if snap.state == TcpState::TimeWait && snap.rcv_nxt == 5001)));
    let acked: u64 = h
        .events
        .iter()
        .map(|ev| {
            if let OwnedEvent::Ack { len, .. } = ev {
                *len
            } else {
                0
            }
        })
        .sum();
    assert_eq!(acked, 0, "acks were reported before");
}

#[test]
fn resources_are_advertised() {
    let (mut e, mut h, _cid) = engine_with_conn(test_snapshot(false, PP, false));
    e.advertise_resources(&mut h);
    let l = small_layout();
    let want = [
        (ResourceKind::ConnSlots, (l.max_conns - 1) as u64),
        (ResourceKind::Refs, l.refs as u64),
        (
            ResourceKind::Staging,
            (l.chunks * firmware_sim::memory::CHUNK_BYTES) as u64,
        ),
    ];
    for (kind, num) in want {
        assert!(
            h.events.contains(&OwnedEvent::Resource {
                cid: u32::MAX,
                kind,
                num
            }),
            "{kind:?} {num} {:?}",
            h.events
        );
    }
}

fn sack_opt(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
    for &(l, r) in blocks {
        o.extend_from_slice(&l.to_be_bytes());
        o.extend_from_slice(&r.to_be_bytes());
    }
    o
}

#[test]
fn sack_recovery_repairs_several_holes_per_round_trip() {
    let mut snap = test_snapshot(false, PP, false);
    snap.flags.0 |= firmware_sim::SnapFlags::SACK;
    let (mut e, mut h, cid) = engine_with_conn(snap);
    for k in 0..3 {
        e.command(
            T0,
            &enc(Command::Send {
                cid,
                addr: k * 4000,
                len: 4000,
                flags: 0,
            }),
            &mut h,
        )
        .unwrap();
    }
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 10, "ten 1000-byte segments from seq 1000");
    h.tx.clear();
    // Segments at 1000, 3000 and 5000 are lost; the peer SACKs the rest.
    let dup = |blocks: &[(u32, u32)]| {
        frame_to_nic(false, 5000, 1000, ACK, 65535, &sack_opt(blocks), b"", PP)
    };
    let t = T0 + 1000;
    rx(&mut e, &mut h, t, &dup(&[(2000, 3000)]));
    rx(&mut e, &mut h, t, &dup(&[(2000, 3000), (4000, 5000)]));
    rx(
        &mut e,
        &mut h,
        t,
        &dup(&[(2000, 3000), (4000, 5000), (6000, 8000)]),
    );
    // Third duplicate: fast retransmit of the first hole.
    let seqs: Vec<u32> =
        h.tx.iter()
            .map(|f| parse_out(f).0)
            .filter(|&s| s < 11_000)
            .collect();
    assert_eq!(seqs, vec![1000]);
    h.tx.clear();
    // Further duplicates (more segments arriving) walk the other holes.
    rx(
        &mut e,
        &mut h,
        t,
        &dup(&[(2000, 3000), (4000, 5000), (6000, 9000)]),
    );
    rx(
        &mut e,
        &mut h,
        t,
        &dup(&[(2000, 3000), (4000, 5000), (6000, 10_000)]),
    );
    let rexmits: Vec<u32> =
        h.tx.iter()
            .map(|f| parse_out(f))
            .filter(|p| p.4 > 0 && p.0 < 11_000)
            .map(|p| p.0)
            .collect();
    assert_eq!(
        rexmits,
        vec![3000, 5000],
        "both remaining holes resent without waiting for partial ACKs"
    );
    assert_eq!(e.counters().sack_retransmits, 2);
    // Bogus blocks (beyond snd_max, reversed) are ignored, not acted on.
    h.tx.clear();
    rx(&mut e, &mut h, t, &dup(&[(50_000, 60_000), (9000, 8000)]));
    assert_eq!(e.counters().sack_retransmits, 2);
    e.audit().unwrap();
}
