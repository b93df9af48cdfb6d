//! NIC-initiated restore under memory pressure (the paper's
//! `ch_os_restore`): `Engine::set_pressure_slots` and the `ctrl`
//! `RestoreRequest` event. Engine-only, simulated time in 1 ms polls.

mod common;

use common::*;
use firmware_sim::engine::{PRESSURE_INTERVAL_MS, PRESSURE_MIN_IDLE_MS};
use firmware_sim::msg::{Command, CtrlCmd, CtrlEvent, Refusal, RestoreReason};
use firmware_sim::wire::tcp::{ACK, FIN, RST};
use firmware_sim::{CmdError, Engine, NicMemoryLayout};

const T0: u64 = 1_000_000;
const MS: u64 = 1000;
const PORT0: u16 = 40000;
const REQ: CtrlEvent = CtrlEvent::RestoreRequest;

struct Rig {
    e: Engine<'static>,
    h: Host,
    /// cid of connection i (peer port PORT0 + i), in slot i.
    cids: Vec<u32>,
    now: u64,
}

impl Rig {
    /// `n` connections handed off at T0 into slots 0..n of `layout`.
    fn new(layout: NicMemoryLayout, n: usize) -> Self {
        let mut e = leak_engine(layout, 1, T0);
        let mut h = Host::new(1 << 20);
        let mut cids = Vec::new();
        for i in 0..n {
            let snap = test_snapshot(false, PORT0 + i as u16, false);
            e.command(
                T0,
                &enc(Command::Handoff {
                    cookie: i as u64,
                    snap,
                }),
                &mut h,
            )
            .unwrap();
            match h.events.pop() {
                Some(OwnedEvent::HandoffDone {
                    result: Ok(cid), ..
                }) => {
                    assert_eq!(cid & 0xff_ffff, i as u32, "slot i");
                    cids.push(cid);
                }
                other => panic!("{other:?}"),
            }
        }
        e.poll(T0, &mut h);
        h.events.clear();
        h.tx.clear();
        Rig {
            e,
            h,
            cids,
            now: T0,
        }
    }

    fn small(n: usize) -> Self {
        Self::new(small_layout(), n)
    }

    /// A pure ACK from the peer of connection `i` at the current time.
    fn touch(&mut self, i: usize) {
        let s = self.e.peek(self.cids[i]).unwrap();
        let f = frame_to_nic(
            false,
            s.rcv_nxt,
            s.snd_una,
            ACK,
            65535,
            &[],
            b"",
            PORT0 + i as u16,
        );
        self.e.receive(self.now, &f, &mut self.h);
        self.e.poll(self.now, &mut self.h);
    }

    /// Polls every millisecond until `ms` have passed; returns the restore
    /// requests seen as (time since the start of this call in ms, cid, arg).
    fn run(&mut self, ms: u64) -> Vec<(u64, u32, u64)> {
        let start = self.now;
        let mut out = Vec::new();
        for _ in 0..ms {
            self.now += MS;
            self.e.poll(self.now, &mut self.h);
            out.extend(
                take_requests(&mut self.h)
                    .into_iter()
                    .map(|(cid, arg)| ((self.now - start) / MS, cid, arg)),
            );
            self.e.audit().unwrap();
        }
        out
    }

    /// Polls once now (no time passes).
    fn poll_now(&mut self) -> Vec<(u32, u64)> {
        self.e.poll(self.now, &mut self.h);
        self.e.audit().unwrap();
        take_requests(&mut self.h)
    }

    fn advance(&mut self, ms: u64) {
        let reqs = self.run(ms);
        assert!(reqs.is_empty(), "{reqs:?}");
    }

    fn cmd(&mut self, c: Command) -> Result<usize, CmdError> {
        self.e.command(self.now, &enc(c), &mut self.h)
    }
}

/// Removes the RestoreRequest events from the host's event log.
fn take_requests(h: &mut Host) -> Vec<(u32, u64)> {
    let mut reqs = Vec::new();
    h.events.retain(|ev| match *ev {
        OwnedEvent::Ctrl { cid, ev, arg } if ev == REQ => {
            reqs.push((cid, arg));
            false
        }
        _ => true,
    });
    reqs
}

#[test]
fn policy_is_off_by_default() {
    // Table full, every connection idle for a long time, refusals of both
    // kinds: still nothing is asked back.
    let mut r = Rig::new(NicMemoryLayout::with_counts(4, 2, 4).unwrap(), 4);
    r.advance(500);
    let snap = test_snapshot(false, 9999, false);
    assert_eq!(
        r.cmd(Command::Handoff { cookie: 9, snap }),
        Err(CmdError::Refused(Refusal::NoConnSlot))
    );
    for _ in 0..3 {
        let _ = r.cmd(Command::Post {
            cid: r.cids[0],
            addr: 0x1000,
            len: 100,
        });
    }
    assert_eq!(r.e.counters().refuse_refs, 1);
    r.advance(500);
    // Turned on and off again: off.
    r.e.set_pressure_slots(2);
    r.e.set_pressure_slots(0);
    r.advance(500);
    assert_eq!(r.e.counters().restore_requests, 0);
    assert_eq!(r.e.restore_requests_outstanding(), 0);
}

#[test]
fn idle_longest_first_one_per_interval_until_watermark() {
    // 10 of 16 slots live (6 free). Connection i last heard from the peer
    // at T0 + (10 - i) ms: the higher the slot, the longer idle.
    let mut r = Rig::small(10);
    for i in (0..10).rev() {
        r.now = T0 + (10 - i as u64) * MS;
        r.touch(i);
    }
    r.advance(190);
    assert_eq!(r.now, T0 + 200 * MS);
    // Watermark 9: three requests bring free (6) + outstanding to 9.
    r.e.set_pressure_slots(9);
    let reqs = r.run(100);
    let idle0 = 200 - 1 + 1; // connection 9: last heard at T0 + 1 ms, asked at T0 + 201 ms
    assert_eq!(
        reqs,
        vec![
            (1, r.cids[9], idle0),
            (
                1 + u64::from(PRESSURE_INTERVAL_MS),
                r.cids[8],
                idle0 - 1 + u64::from(PRESSURE_INTERVAL_MS)
            ),
            (
                1 + 2 * u64::from(PRESSURE_INTERVAL_MS),
                r.cids[7],
                idle0 - 2 + 2 * u64::from(PRESSURE_INTERVAL_MS)
            ),
        ]
    );
    assert_eq!(r.e.restore_requests_outstanding(), 3);
    assert_eq!(r.e.counters().restore_requests, 3);
    // The asked connections keep running normally.
    r.touch(9);
    assert!(r.e.peek(r.cids[9]).is_some());
    // One slot more on the watermark: one request more, to the next idlest.
    r.e.set_pressure_slots(10);
    let reqs = r.run(100);
    assert_eq!(
        reqs.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![r.cids[6]]
    );
    assert_eq!(r.e.restore_requests_outstanding(), 4);
    assert_eq!(r.e.live_conns(), 10);
}

#[test]
fn equal_idle_times_go_by_lowest_slot() {
    let mut r = Rig::small(5);
    r.advance(150);
    r.touch(0);
    r.touch(3);
    r.e.set_pressure_slots(16);
    let reqs = r.run(5 * u64::from(PRESSURE_INTERVAL_MS));
    let order: Vec<u32> = reqs.iter().map(|q| q.1).collect();
    assert_eq!(order, vec![r.cids[1], r.cids[2], r.cids[4]], "{reqs:?}");
}

#[test]
fn recently_active_connections_are_not_asked() {
    // Free 13 of 16, watermark 16: the policy wants three requests.
    let mut r = Rig::small(3);
    r.h.mem[..200].fill(0x61);
    r.advance(100);
    // Connection 1 transmits data at T0 + 100 ms (nothing is acknowledged
    // afterwards: the peer is silent); connection 2 hears from the peer at
    // T0 + 130 ms.
    r.cmd(Command::Send {
        cid: r.cids[1],
        addr: 0,
        len: 200,
        flags: 0,
    })
    .unwrap();
    r.e.poll(r.now, &mut r.h);
    assert_eq!(r.h.tx.len(), 1, "data went out");
    r.advance(30);
    r.touch(2);
    r.e.set_pressure_slots(16);
    // T0 + 130: only connection 0 has been idle for 100 ms.
    let reqs = r.poll_now();
    assert_eq!(reqs, vec![(r.cids[0], 130)]);
    // Connection 1 becomes a candidate when its transmission is 100 ms old
    // (T0 + 200), connection 2 at T0 + 230; the scans in between find none.
    let reqs = r.run(120);
    let want_1 = (70, r.cids[1], u64::from(PRESSURE_MIN_IDLE_MS));
    let want_2 = (100, r.cids[2], u64::from(PRESSURE_MIN_IDLE_MS));
    assert_eq!(reqs, vec![want_1, want_2]);
    assert_eq!(r.e.counters().restore_requests, 3);
}

#[test]
fn only_established_and_close_wait_are_asked() {
    let mut r = Rig::small(3);
    // Connection 0: the host closed it (FIN sent, FIN_WAIT1).
    r.cmd(Command::Ctrl {
        cid: r.cids[0],
        cmd: CtrlCmd::Close,
        arg: 0,
    })
    .unwrap();
    r.e.poll(r.now, &mut r.h);
    // Connection 1: the peer closed it (CLOSE_WAIT).
    let f = frame_to_nic(false, 5000, 1000, ACK | FIN, 65535, &[], b"", PORT0 + 1);
    r.e.receive(r.now, &f, &mut r.h);
    r.e.poll(r.now, &mut r.h);
    r.advance(200);
    r.e.set_pressure_slots(16);
    let reqs = r.run(100);
    let asked: Vec<u32> = reqs.iter().map(|q| q.1).collect();
    assert_eq!(asked, vec![r.cids[1], r.cids[2]], "FIN_WAIT1 is left alone");
}

#[test]
fn no_conn_slot_refusal_asks_even_with_enough_outstanding() {
    let mut r = Rig::small(16);
    r.advance(200);
    r.e.set_pressure_slots(1);
    // Free 0 < 1: one request, then free + outstanding = 1 stops it.
    let reqs = r.run(50);
    assert_eq!(
        reqs.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![r.cids[0]]
    );
    // A handoff refused for lack of a slot asks once more, at the next poll...
    let snap = test_snapshot(false, 9999, false);
    assert_eq!(
        r.cmd(Command::Handoff { cookie: 9, snap }),
        Err(CmdError::Refused(Refusal::NoConnSlot))
    );
    assert_eq!(r.poll_now(), vec![(r.cids[1], 250)]);
    // ...and only once per refusal.
    r.advance(50);
    assert_eq!(r.e.restore_requests_outstanding(), 2);
    // Two refusals within one interval: one request.
    for cookie in [10, 11] {
        let snap = test_snapshot(false, 9999, false);
        assert!(r.cmd(Command::Handoff { cookie, snap }).is_err());
    }
    let reqs = r.run(50);
    assert_eq!(
        reqs.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![r.cids[2]]
    );
    assert_eq!(r.e.counters().restore_requests, 3);
    // A refusal with the policy off is forgotten, not acted on later.
    r.e.set_pressure_slots(0);
    let snap = test_snapshot(false, 9999, false);
    assert!(r.cmd(Command::Handoff { cookie: 12, snap }).is_err());
    r.advance(20);
    r.e.set_pressure_slots(1);
    r.advance(50);
}

#[test]
fn no_refs_refusal_asks_even_above_the_watermark() {
    // 3 of 16 slots live, only 8 references. Connection 2 arrives late, so
    // it is never idle long enough here.
    let mut r = Rig::new(NicMemoryLayout::with_counts(16, 8, 16).unwrap(), 2);
    r.advance(150);
    let snap = test_snapshot(false, PORT0 + 2, false);
    r.cmd(Command::Handoff { cookie: 2, snap }).unwrap();
    match r.h.events.pop() {
        Some(OwnedEvent::HandoffDone {
            result: Ok(cid), ..
        }) => r.cids.push(cid),
        other => panic!("{other:?}"),
    }
    r.e.set_pressure_slots(2);
    r.advance(30);
    // The host posts on connection 2 until the reference pool runs dry.
    let mut refused = 0;
    for i in 0..10u64 {
        if r.cmd(Command::Post {
            cid: r.cids[2],
            addr: 0x1000 + i * 0x100,
            len: 0x100,
        })
        .is_err()
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
    assert_eq!(r.poll_now(), vec![(r.cids[0], 180)]);
    // A refusal 3 ms after that request waits for the interval to pass.
    r.advance(3);
    assert!(r
        .cmd(Command::Post {
            cid: r.cids[2],
            addr: 0x9000,
            len: 0x100
        })
        .is_err());
    let reqs = r.run(50);
    assert_eq!(
        reqs,
        vec![(u64::from(PRESSURE_INTERVAL_MS) - 3, r.cids[1], 190)]
    );
    assert_eq!(r.e.counters().refuse_refs, 3);
    assert_eq!(r.e.restore_requests_outstanding(), 2);
}

#[test]
fn restore_by_the_host_frees_the_slot_and_stops_the_policy() {
    // 15 of 16 live, watermark 2: one request needed.
    let mut r = Rig::small(15);
    r.advance(200);
    r.e.set_pressure_slots(2);
    let reqs = r.run(30);
    assert_eq!(
        reqs.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![r.cids[0]]
    );
    // The host takes it back with an ordinary restore.
    let cid = r.cids[0];
    r.cmd(Command::Restore { cid, cookie: 77 }).unwrap();
    assert!(r.h.events.iter().any(|ev| matches!(ev, OwnedEvent::Restore { cid: c, cookie: 77, reason: RestoreReason::HostRequest, .. } if *c == cid)));
    assert_eq!(r.e.live_conns(), 14);
    assert_eq!(r.e.restore_requests_outstanding(), 0);
    assert_eq!(r.e.counters().conns_restored, 1);
    // Free 2 >= 2: nothing more, however long everything stays idle.
    r.advance(500);
    // A connection asked back and then reset by its peer is no longer
    // outstanding either.
    r.e.set_pressure_slots(3);
    let reqs = r.run(30);
    assert_eq!(
        reqs.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![r.cids[1]]
    );
    let f = frame_to_nic(false, 5000, 0, RST, 0, &[], b"", PORT0 + 1);
    r.e.receive(r.now, &f, &mut r.h);
    assert_eq!(r.e.restore_requests_outstanding(), 0);
    r.advance(500);
    assert_eq!(r.e.counters().restore_requests, 2);
    assert_eq!(r.e.live_conns(), 13);
}

#[test]
fn ignored_request_is_not_repeated() {
    // 15 of 16 live, watermark 3: two requests, which the host ignores.
    let mut r = Rig::small(15);
    r.advance(200);
    r.e.set_pressure_slots(3);
    let reqs = r.run(2000);
    let mut asked: Vec<u32> = reqs.iter().map(|q| q.1).collect();
    assert_eq!(asked, vec![r.cids[0], r.cids[1]]);
    assert_eq!(r.e.restore_requests_outstanding(), 2);
    // The table fills up: free 0 + 2 outstanding < 3 asks one more.
    let snap = test_snapshot(false, PORT0 + 15, false);
    r.cmd(Command::Handoff { cookie: 15, snap }).unwrap();
    asked.extend(r.run(50).iter().map(|q| q.1));
    assert_eq!(asked.last(), Some(&r.cids[2]));
    // Every refusal asks once more, never a connection asked before.
    for k in 0..5 {
        let snap = test_snapshot(false, 9999, false);
        assert!(r
            .cmd(Command::Handoff {
                cookie: 100 + k,
                snap
            })
            .is_err());
        let reqs = r.run(20);
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        asked.push(reqs[0].1);
    }
    assert_eq!(asked, r.cids[..8].to_vec());
    assert_eq!(r.e.restore_requests_outstanding(), 8);
    assert_eq!(r.e.counters().restore_requests, 8);
    // The asked connections still work: data in, posted, acknowledged.
    r.cmd(Command::Post {
        cid: r.cids[0],
        addr: 0x4000,
        len: 4096,
    })
    .unwrap();
    let f = frame_to_nic(false, 5000, 1000, ACK, 65535, &[], b"still here", PORT0);
    r.e.receive(r.now, &f, &mut r.h);
    r.e.poll(r.now, &mut r.h);
    assert_eq!(&r.h.mem[0x4000..0x400a], b"still here");
    assert_eq!(r.e.peek(r.cids[0]).unwrap().rcv_nxt, 5010);
    r.advance(1000);
    assert_eq!(r.e.live_conns(), 16);
}

#[test]
fn reused_slot_starts_unasked() {
    let mut r = Rig::small(1);
    r.advance(200);
    r.e.set_pressure_slots(16);
    assert_eq!(r.run(1), vec![(1, r.cids[0], 201)]);
    let old = r.cids[0];
    r.cmd(Command::Restore {
        cid: old,
        cookie: 1,
    })
    .unwrap();
    assert_eq!(r.e.restore_requests_outstanding(), 0);
    // The same tuple comes back into the same slot with a new cid.
    let snap = test_snapshot(false, PORT0, false);
    r.cmd(Command::Handoff { cookie: 5, snap }).unwrap();
    let new = match r.h.events.pop() {
        Some(OwnedEvent::HandoffDone {
            result: Ok(cid), ..
        }) => cid,
        other => panic!("{other:?}"),
    };
    assert_eq!(new & 0xff_ffff, old & 0xff_ffff);
    assert_ne!(new, old);
    let reqs = r.run(200);
    assert_eq!(
        reqs,
        vec![(
            u64::from(PRESSURE_MIN_IDLE_MS),
            new,
            u64::from(PRESSURE_MIN_IDLE_MS)
        )]
    );
}
