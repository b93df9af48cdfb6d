//! The `info` command: a pure read of a live connection's state (for the
//! host's `getsockopt(TCP_INFO)`), answered with one `info` event carrying
//! the same snapshot `peek` (and a `restore`) would export, without taking
//! the connection back or changing it in any way.

mod common;

use common::*;
use firmware_sim::msg::{Command, Refusal, MSG_LEN};
use firmware_sim::wire::tcp::{ACK, PSH};
use firmware_sim::{CmdError, Counters, Engine, StepStats};

const PP: u16 = 40000;
const T0: u64 = 1_000_000;
const MS: u64 = 1000;

/// `before` plus exactly one answered `info` command.
fn plus_one_info(before: &Counters) -> Counters {
    Counters {
        cmd_total: before.cmd_total + 1,
        cmd_info: before.cmd_info + 1,
        ev_total: before.ev_total + 1,
        ..*before
    }
}

/// Counters with the `info` traffic taken out, to compare a run with
/// queries against one without.
fn without_info(c: &Counters) -> Counters {
    Counters {
        cmd_total: c.cmd_total - c.cmd_info,
        ev_total: c.ev_total - c.cmd_info,
        cmd_info: 0,
        ..*c
    }
}

#[test]
fn info_matches_peek_and_changes_nothing() {
    let len = 300_000;
    let data = Rng::new(31).bytes(len);
    let mut w = World::new(WorldCfg {
        link: LinkCfg::lossy(2),
        seed: 31,
        to_peer: data.clone(),
        to_nic: data.clone(),
        ..Default::default()
    });
    assert!(w.run_until(60_000_000, |w| w.peer_rx.len() >= len / 2
        && w.app.received.len() >= len / 2));
    let cid = w.cid();
    let snap = w.engine.peek(cid).unwrap();
    // Enough traffic that the interesting TCP_INFO fields are live.
    assert!(snap.srtt_us > 0 && snap.rto_us > 0, "{snap:?}");
    assert!(snap.total_retrans > 0, "{snap:?}");
    assert_ne!(snap.snd_una, w.snd_base());
    assert!(snap.cwnd > 0 && snap.ssthresh > 0);
    let ctr = *w.engine.counters();
    let live = w.engine.live_conns();
    assert!(w.host.events.is_empty() && w.host.tx.is_empty());

    let cookie = 0xc0ff_ee00_1234_5678;
    assert_eq!(
        w.engine
            .command(w.now, &enc(Command::Info { cid, cookie }), &mut w.host),
        Ok(MSG_LEN)
    );
    // Exactly one event, the cookie echoed, the snapshot `peek`'s.
    assert_eq!(w.host.events, vec![OwnedEvent::Info { cid, cookie, snap }]);
    let OwnedEvent::Info { snap: got, .. } = w.host.events[0] else {
        unreachable!()
    };
    assert_eq!(
        (
            got.srtt_us,
            got.rttvar_us,
            got.rto_us,
            got.cwnd,
            got.ssthresh,
            got.snd_una,
            got.snd_nxt,
            got.rcv_nxt,
            got.snd_wnd,
            got.rcv_adv,
            got.total_retrans
        ),
        (
            snap.srtt_us,
            snap.rttvar_us,
            snap.rto_us,
            snap.cwnd,
            snap.ssthresh,
            snap.snd_una,
            snap.snd_nxt,
            snap.rcv_nxt,
            snap.snd_wnd,
            snap.rcv_adv,
            snap.total_retrans
        )
    );
    // Nothing sent, nothing changed, only the query counted.
    assert!(w.host.tx.is_empty(), "an info must not send anything");
    assert_eq!(w.engine.peek(cid), Some(snap));
    assert_eq!(*w.engine.counters(), plus_one_info(&ctr));
    assert_eq!(w.engine.live_conns(), live);
    w.engine.audit().unwrap();
    w.host.events.clear();

    // Through the ring as the host sends it, then the transfer completes.
    w.app.push(Command::Info { cid, cookie: 7 });
    w.tick();
    assert_eq!(w.app.infos.len(), 1);
    assert_eq!((w.app.infos[0].0, w.app.infos[0].1), (cid, 7));
    let ok = w.run_until(120_000_000, |w| {
        w.peer_rx.len() == len && w.app.received.len() == len
    });
    assert!(ok, "{:?}", w.engine.counters());
    assert_eq!(sha(&w.peer_rx), sha(&data));
    assert_eq!(sha(&w.app.received), sha(&data));
    assert_eq!(w.engine.counters().cmd_info, 2);
}

/// Two identical deterministic worlds, one queried every few ticks: they
/// must stay identical (state, wire traffic, delivered data, counters
/// other than the queries), and a final restore must hand back the same
/// snapshot.
#[test]
fn info_queries_do_not_perturb_the_connection() {
    let len = 256 * 1024;
    let data = Rng::new(32).bytes(len);
    let cfg = || WorldCfg {
        link: LinkCfg {
            jitter_us: 1500,
            loss_ppm: 20_000,
            ..LinkCfg::default()
        },
        seed: 32,
        to_peer: data.clone(),
        to_nic: data.clone(),
        ..Default::default()
    };
    let mut a = World::new(cfg());
    let mut b = World::new(cfg());
    let cid = a.cid();
    assert_eq!(b.cid(), cid);
    let mut asked = 0u64;
    let mut ticks = 0u64;
    let done = |w: &World| w.peer_rx.len() == len && w.app.received.len() == len;
    while !(done(&a) && done(&b)) {
        ticks += 1;
        assert!(ticks < 240_000, "stalled: {:?}", a.engine.counters());
        if ticks.is_multiple_of(7) {
            a.app.push(Command::Info { cid, cookie: ticks });
            asked += 1;
        }
        a.tick();
        b.tick();
        assert_eq!(a.engine.peek(cid), b.engine.peek(cid), "tick {ticks}");
        assert_eq!(
            (a.to_peer.sent, a.to_nic.sent),
            (b.to_peer.sent, b.to_nic.sent),
            "tick {ticks}"
        );
        assert_eq!(
            (a.peer_rx.len(), a.app.received.len(), a.app.acked),
            (b.peer_rx.len(), b.app.received.len(), b.app.acked)
        );
    }
    assert_eq!(sha(&a.peer_rx), sha(&data));
    assert_eq!(sha(&a.app.received), sha(&data));
    assert!(a.engine.counters().retransmits > 0);
    // Every query answered once, in order, for the right connection.
    assert_eq!(a.engine.counters().cmd_info, asked);
    assert_eq!(a.app.infos.len() as u64, asked);
    assert!(a
        .app
        .infos
        .iter()
        .enumerate()
        .all(|(i, &(c, cookie, _))| c == cid && cookie == 7 * (i as u64 + 1)));
    assert!(a.app.infos.iter().any(|(_, _, s)| s.srtt_us > 0));
    assert!(b.app.infos.is_empty());
    assert_eq!(without_info(a.engine.counters()), *b.engine.counters());
    // The connection hands back the same state.
    for w in [&mut a, &mut b] {
        w.app.push(Command::Restore { cid, cookie: 9 });
        w.tick();
        assert_eq!(w.engine.live_conns(), 0);
    }
    assert!(a.app.restored.is_some());
    assert_eq!(a.app.restored, b.app.restored);
}

fn seg(seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    frame_to_nic(false, seq, ack, ACK | PSH, 65535, &[], payload, PP)
}

/// A connection with an RTT sample, staged (undelivered) data and a
/// delayed ACK pending, at `T0 + 10 ms`.
fn busy_engine() -> (Engine<'static>, Host, u32) {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    h.mem[..500].fill(0x42);
    e.command(
        T0,
        &enc(Command::Send {
            cid,
            addr: 0,
            len: 500,
            flags: 0,
        }),
        &mut h,
    )
    .unwrap();
    e.poll(T0, &mut h);
    assert_eq!(h.tx.len(), 1);
    // 10 ms later the peer acknowledges it and sends 3 bytes; no buffer is
    // posted, so they are staged, and one segment only delays the ACK.
    let t = T0 + 10 * MS;
    e.receive(t, &seg(5000, 1500, b"abc"), &mut h);
    e.poll(t, &mut h);
    (e, h, cid)
}

#[test]
fn info_leaves_pending_ack_and_staged_data_alone() {
    let (mut a, mut ha, cid) = busy_engine();
    let (mut b, mut hb, _) = busy_engine();
    assert_eq!(ha.tx, hb.tx);
    assert_eq!(ha.events, hb.events);
    ha.tx.clear();
    ha.events.clear();
    hb.tx.clear();
    hb.events.clear();
    let t = T0 + 10 * MS;
    let snap = a.peek(cid).unwrap();
    assert!(snap.srtt_us > 0, "{snap:?}");
    assert_eq!((snap.snd_una, snap.rcv_nxt), (1500, 5003));
    let ctr = *a.counters();

    a.command(t, &enc(Command::Info { cid, cookie: 0 }), &mut ha)
        .unwrap();
    a.command(
        t,
        &enc(Command::Info {
            cid,
            cookie: u64::MAX,
        }),
        &mut ha,
    )
    .unwrap();
    assert_eq!(
        ha.events,
        vec![
            OwnedEvent::Info {
                cid,
                cookie: 0,
                snap
            },
            OwnedEvent::Info {
                cid,
                cookie: u64::MAX,
                snap
            }
        ]
    );
    assert!(ha.tx.is_empty(), "the delayed ACK stays delayed");
    assert_eq!(a.peek(cid), Some(snap));
    assert_eq!(without_info(a.counters()), ctr);
    assert_eq!(a.counters().cmd_info, 2);
    a.audit().unwrap();
    ha.events.clear();

    // A poll at the same time: nothing is due in either engine.
    a.poll(t, &mut ha);
    b.poll(t, &mut hb);
    assert!(ha.tx.is_empty() && ha.events.is_empty() && hb.tx.is_empty() && hb.events.is_empty());
    // The delayed ACK fires in both, byte for byte the same frame.
    a.poll(t + 50 * MS, &mut ha);
    b.poll(t + 50 * MS, &mut hb);
    assert_eq!(ha.tx.len(), 1);
    assert_eq!(ha.tx, hb.tx);
    // The staged bytes were not delivered by the query: a restore hands
    // them back inline, and the same snapshot, in both.
    a.command(
        t + 50 * MS,
        &enc(Command::Restore { cid, cookie: 5 }),
        &mut ha,
    )
    .unwrap();
    b.command(
        t + 50 * MS,
        &enc(Command::Restore { cid, cookie: 5 }),
        &mut hb,
    )
    .unwrap();
    assert!(
        ha.events.contains(&OwnedEvent::RecvData {
            cid,
            data: b"abc".to_vec()
        }),
        "{:?}",
        ha.events
    );
    assert_eq!(ha.events, hb.events);
    assert_eq!(without_info(a.counters()), *b.counters());
}

#[test]
fn info_does_not_deliver_or_flush() {
    // A buffer is posted for the staged bytes but not yet flushed (that is
    // the next poll's job): a query in between must not deliver them.
    let (mut a, mut ha, cid) = busy_engine();
    let (mut b, mut hb, _) = busy_engine();
    let t = T0 + 10 * MS;
    for (e, h) in [(&mut a, &mut ha), (&mut b, &mut hb)] {
        h.tx.clear();
        h.events.clear();
        e.command(
            t,
            &enc(Command::Post {
                cid,
                addr: 0x1000,
                len: 4096,
            }),
            h,
        )
        .unwrap();
    }
    let snap = a.peek(cid).unwrap();
    let ctr = *a.counters();
    a.command(t, &enc(Command::Info { cid, cookie: 11 }), &mut ha)
        .unwrap();
    assert_eq!(
        ha.events,
        vec![OwnedEvent::Info {
            cid,
            cookie: 11,
            snap
        }]
    );
    assert!(ha.tx.is_empty());
    assert_eq!(*a.counters(), plus_one_info(&ctr), "no DMA, no output");
    assert_eq!(
        ha.mem[0x1000..0x1003],
        [0, 0, 0],
        "nothing written to the posted buffer"
    );
    assert_eq!(a.peek(cid), Some(snap));
    a.audit().unwrap();
    ha.events.clear();
    a.poll(t, &mut ha);
    b.poll(t, &mut hb);
    assert!(
        ha.events
            .iter()
            .any(|ev| matches!(ev, OwnedEvent::Recv { len: 3, .. })),
        "{:?}",
        ha.events
    );
    assert_eq!(ha.events, hb.events);
    assert_eq!(ha.tx, hb.tx);
    assert_eq!(a.peek(cid), b.peek(cid));
    assert_eq!(without_info(a.counters()), *b.counters());
}

#[test]
fn info_on_unknown_cid_is_refused_like_restore() {
    let (mut e, mut h, cid) = engine_with_conn(test_snapshot(false, PP, false));
    let bad = [cid.wrapping_add(1 << 24), cid + 1, 0x00ff_fff0, u32::MAX];
    for (i, &x) in bad.iter().enumerate() {
        let ctr = *e.counters();
        let info = e.command(T0, &enc(Command::Info { cid: x, cookie: 1 }), &mut h);
        let restore = e.command(T0, &enc(Command::Restore { cid: x, cookie: 1 }), &mut h);
        assert_eq!(info, Err(CmdError::Refused(Refusal::BadCid)), "cid {x:#x}");
        assert_eq!(info, restore);
        assert!(h.events.is_empty() && h.tx.is_empty(), "{:?}", h.events);
        let c = e.counters();
        assert_eq!(
            (c.cmd_info, c.cmd_restore, c.cmd_bad_cid),
            (ctr.cmd_info + 1, ctr.cmd_restore + 1, ctr.cmd_bad_cid + 2)
        );
        assert_eq!(c.cmd_info, i as u64 + 1);
        assert_eq!(e.live_conns(), 1);
        e.audit().unwrap();
    }
    // In a batch, the refused query is skipped and the next one answered.
    let mut batch = enc(Command::Info {
        cid: bad[0],
        cookie: 1,
    });
    batch.extend(enc(Command::Info { cid, cookie: 2 }));
    let st = e.step(T0, std::iter::empty(), &batch, &mut h);
    assert_eq!(
        st,
        StepStats {
            commands: 1,
            command_errors: 1,
            ..StepStats::default()
        }
    );
    let snap = e.peek(cid).unwrap();
    assert_eq!(
        h.events,
        vec![OwnedEvent::Info {
            cid,
            cookie: 2,
            snap
        }]
    );
    h.events.clear();
    // Once restored, the cid is stale for both.
    e.command(T0, &enc(Command::Restore { cid, cookie: 3 }), &mut h)
        .unwrap();
    h.events.clear();
    h.tx.clear();
    assert_eq!(
        e.command(T0, &enc(Command::Info { cid, cookie: 4 }), &mut h),
        Err(CmdError::Refused(Refusal::BadCid))
    );
    assert_eq!(
        e.command(T0, &enc(Command::Restore { cid, cookie: 4 }), &mut h),
        Err(CmdError::Refused(Refusal::BadCid))
    );
    assert!(h.events.is_empty() && h.tx.is_empty());
    assert_eq!(e.live_conns(), 0);
    assert_eq!(e.counters().cmd_info, bad.len() as u64 + 3);
    e.audit().unwrap();
}
