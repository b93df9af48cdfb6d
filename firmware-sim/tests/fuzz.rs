//! Property-based fuzzing inside `cargo test`: arbitrary frames (random,
//! and mutations of valid segments) and commands (random bytes and
//! well-formed commands with random fields) against an engine holding
//! live connections. After every operation the engine's accounting must
//! audit clean. The case count is fixed so the suite stays fast; for long
//! runs set `FW_PROPTEST_CASES`, `FW_FUZZ_ITERS` and `FW_FUZZ_SEED`, or use
//! `fuzz/` (cargo-fuzz).

mod common;

use common::*;
use firmware_sim::msg::{Command, CtrlCmd};
use firmware_sim::wire::tcp::{ACK, FIN, PSH, RST, SYN};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Raw(Vec<u8>),
    Seg {
        v6: bool,
        seq_off: i32,
        ack_off: i32,
        flags: u8,
        wnd: u16,
        opts: Vec<u8>,
        len: u16,
        flip: Option<(u16, u8)>,
        cut: Option<u16>,
    },
    RawCmd(Vec<u8>),
    Cmd {
        which: u8,
        cid_sel: u8,
        addr: u64,
        len: u16,
        arg: u64,
    },
    Tick(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Raw),
        (
            any::<bool>(),
            prop_oneof![-70_000i32..70_000, any::<i32>()],
            prop_oneof![-70_000i32..70_000, any::<i32>()],
            prop_oneof![
                Just(ACK),
                Just(ACK | PSH),
                Just(ACK | FIN),
                Just(RST),
                Just(SYN),
                Just(ACK | RST),
                any::<u8>()
            ],
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..3)
                .prop_flat_map(|v| proptest::collection::vec(any::<u8>(), v.len() * 4)),
            0u16..3000,
            proptest::option::of((any::<u16>(), any::<u8>())),
            proptest::option::of(any::<u16>()),
        )
            .prop_map(
                |(v6, seq_off, ack_off, flags, wnd, opts, len, flip, cut)| Op::Seg {
                    v6,
                    seq_off,
                    ack_off,
                    flags,
                    wnd,
                    opts,
                    len,
                    flip,
                    cut
                }
            ),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Op::RawCmd),
        (
            0u8..9,
            any::<u8>(),
            prop_oneof![0u64..0x20_0000, any::<u64>()],
            any::<u16>(),
            prop_oneof![0u64..5000, any::<u64>()]
        )
            .prop_map(|(which, cid_sel, addr, len, arg)| Op::Cmd {
                which,
                cid_sel,
                addr,
                len,
                arg
            }),
        prop_oneof![0u32..1000, 0u32..2_000_000].prop_map(Op::Tick),
    ]
}

const PORTS: [u16; 2] = [40000, 40001];

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut e = leak_engine(
        firmware_sim::NicMemoryLayout::with_counts(4, 64, 16).unwrap(),
        3,
        1_000_000,
    );
    let mut h = Host::new(0x20_0000);
    let mut cids = Vec::new();
    for (i, v6) in [false, true].into_iter().enumerate() {
        let mut snap = test_snapshot(v6, PORTS[i], i == 0);
        // SACK on, so random option bytes reach the SACK recovery path.
        snap.flags.0 |= firmware_sim::SnapFlags::SACK;
        e.execute(
            Command::Handoff {
                cookie: i as u64,
                snap,
            },
            &mut h,
        )
        .unwrap();
    }
    // The memory-pressure policy runs too (restore requests, the audit
    // checks their accounting): free 2 of 4 is under this watermark.
    e.set_pressure_slots(3);
    for ev in h.events.drain(..) {
        if let OwnedEvent::HandoffDone {
            result: Ok(cid), ..
        } = ev
        {
            cids.push(cid);
        }
    }
    let mut now = 1_000_000u64;
    for op in ops {
        match op {
            Op::Raw(f) => {
                e.receive(now, &f, &mut h);
            }
            Op::Seg {
                v6,
                seq_off,
                ack_off,
                flags,
                wnd,
                opts,
                len,
                flip,
                cut,
            } => {
                let port = PORTS[usize::from(v6)];
                let (rcv, snd) = match e.peek(cids[usize::from(v6)]) {
                    Some(s) => (s.rcv_nxt, s.snd_una),
                    None => (5000, 1000),
                };
                let payload = vec![0x5a; usize::from(len)];
                let mut f = frame_to_nic(
                    v6,
                    rcv.wrapping_add(seq_off as u32),
                    snd.wrapping_add(ack_off as u32),
                    flags,
                    wnd,
                    &opts,
                    &payload,
                    port,
                );
                if let Some((i, x)) = flip {
                    let n = f.len();
                    f[usize::from(i) % n] ^= x;
                }
                if let Some(c) = cut {
                    f.truncate(usize::from(c) % (f.len() + 1));
                }
                e.receive(now, &f, &mut h);
            }
            Op::RawCmd(m) => {
                e.step(now, std::iter::empty(), &m, &mut h);
            }
            Op::Cmd {
                which,
                cid_sel,
                addr,
                len,
                arg,
            } => {
                let cid = match cid_sel % 4 {
                    0 | 1 => cids[usize::from(cid_sel % 2)],
                    2 => u32::from(cid_sel) << 24,
                    _ => arg as u32,
                };
                let cmd = match which {
                    0 => Command::Send {
                        cid,
                        addr,
                        len: len.max(1),
                        flags: (arg & 3) as u8,
                    },
                    1 => Command::Recvd {
                        cid,
                        len: arg as u32,
                    },
                    2 => Command::Post {
                        cid,
                        addr,
                        len: len.max(1),
                    },
                    3 => Command::Ctrl {
                        cid,
                        cmd: [
                            CtrlCmd::Close,
                            CtrlCmd::NoDelay,
                            CtrlCmd::KeepAlive,
                            CtrlCmd::Abort,
                        ][(arg % 4) as usize],
                        arg,
                    },
                    4 => Command::Forward {
                        cid,
                        addr,
                        len: len.max(1),
                    },
                    5 => Command::Restore { cid, cookie: arg },
                    6 => Command::Handoff {
                        cookie: arg,
                        snap: test_snapshot(arg % 2 == 0, len, arg % 3 == 0),
                    },
                    7 => Command::Info { cid, cookie: arg },
                    _ => Command::Recvd { cid, len: 0 },
                };
                // `info` is a pure read: on a live cid exactly one event,
                // carrying what `peek` sees, and nothing changes; on any
                // other cid a refusal and no event.
                let peeked = if let Command::Info { cid, .. } = cmd {
                    Some(e.peek(cid))
                } else {
                    None
                };
                let r = e.execute(cmd, &mut h);
                if let (Some(want), Command::Info { cid, cookie }) = (peeked, cmd) {
                    match want {
                        Some(snap) => {
                            prop_assert_eq!(r, Ok(()));
                            prop_assert_eq!(
                                &h.events,
                                &vec![OwnedEvent::Info { cid, cookie, snap }]
                            );
                            prop_assert_eq!(e.peek(cid), Some(snap));
                            prop_assert!(h.tx.is_empty());
                        }
                        None => {
                            prop_assert_eq!(
                                r,
                                Err(firmware_sim::CmdError::Refused(
                                    firmware_sim::msg::Refusal::BadCid
                                ))
                            );
                            prop_assert!(h.events.is_empty());
                        }
                    }
                }
            }
            Op::Tick(dt) => {
                now += u64::from(dt);
            }
        }
        e.poll(now, &mut h);
        if let Err(msg) = e.audit() {
            return Err(TestCaseError::fail(msg));
        }
        h.events.clear();
        h.tx.clear();
        h.passed.clear();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: env_or("FW_PROPTEST_CASES", 1024), max_shrink_iters: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_and_commands(ops in proptest::collection::vec(op(), 1..64)) {
        run(ops)?;
    }
}

/// Reads a count from the environment (for long local runs).
fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seeded hand-rolled fuzzer for volume: mutated copies of real segments.
/// `FW_FUZZ_ITERS` and `FW_FUZZ_SEED` make long runs, e.g.
/// `FW_FUZZ_ITERS=100000 cargo test --release -p firmware-sim --test fuzz`.
#[test]
fn seeded_mutation_fuzz() {
    let mut rng = common::Rng::new(u64::from(env_or("FW_FUZZ_SEED", 0xf022)));
    for _ in 0..env_or("FW_FUZZ_ITERS", 600) {
        let mut ops = Vec::new();
        for _ in 0..40 {
            let v6 = rng.below(2) == 1;
            let opts_n = rng.below(3) as usize * 4;
            ops.push(Op::Seg {
                v6,
                seq_off: (rng.below(140_000) as i32) - 70_000,
                ack_off: (rng.below(20_000) as i32) - 10_000,
                flags: [ACK, ACK | PSH, ACK | FIN, RST, SYN][rng.below(5) as usize],
                wnd: rng.next_u64() as u16,
                opts: rng.bytes(opts_n),
                len: rng.below(2000) as u16,
                flip: if rng.below(4) == 0 {
                    Some((rng.next_u64() as u16, rng.next_u64() as u8))
                } else {
                    None
                },
                cut: if rng.below(8) == 0 {
                    Some(rng.next_u64() as u16)
                } else {
                    None
                },
            });
            if rng.below(4) == 0 {
                ops.push(Op::Cmd {
                    which: rng.below(9) as u8,
                    cid_sel: rng.next_u64() as u8,
                    addr: rng.below(0x20_0000),
                    len: rng.next_u64() as u16,
                    arg: rng.below(5000),
                });
            }
            if rng.below(3) == 0 {
                ops.push(Op::Tick(rng.below(300_000) as u32));
            }
        }
        run(ops).unwrap();
    }
}
