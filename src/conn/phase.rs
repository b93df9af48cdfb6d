// SPDX-License-Identifier: GPL-2.0

//! Where a connection is in its life with the NIC ([`Phase`]), and the one
//! function that changes it ([`enter`]).

use kernel::alloc::VVec;
use kernel::prelude::*;

use super::refused::Refused;
use crate::bindings;
use crate::errno;
use crate::firmware::{msg, Command, Snapshot};
use crate::stats::{self, Stat};
use crate::vnic::Nic;

use super::*;

/// Where a connection is in its life with the NIC, with what each phase
/// needs. Every change goes through [`enter`], which checks the move and
/// does what every move must do.
///
/// ```text
///            +---------+  handoff   +------------+ done  +-----------+
///  accept -> | Pending | ---------> | HandingOff | ----> | Offloaded |
///            +---------+            +------------+       +-----------+
///               ^    ^   refused / timed out |              |  NIC let go
///    `offload`  |    +-----------------------+              v  (freed, handed
///            +----------+   buffered data to native    +----------+ back,
///            | Restored | <--------------------------- | Released | failed,
///            +----------+   (`restore`, `finish`)      +----------+ restored)
///               |  `offload all` at once: -> HandingOff
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Marked by the accept policy or by `offload`; handed off at the
    /// first system call (or at once by `offload all`).
    Pending,
    /// `handoff` sent; `outcome` is the NIC's answer once it arrived: the
    /// connection's `cid`, or the refusal as an errno. The connection
    /// holds a place in the `offloaded` gauge from here.
    HandingOff {
        outcome: Option<Result<u32, Refused>>,
    },
    /// Running on the NIC as `cid`.
    Offloaded { cid: u32, leaving: Leaving },
    /// The NIC let go of it; the host socket is being finished (closed,
    /// TIME_WAIT) or taken back, buffered data still readable. `snap` is
    /// the state the NIC handed back, if it did.
    Released {
        why: Release,
        snap: Option<Snapshot>,
    },
    /// Taken back by the host: native TCP runs it again; the ULP stays
    /// attached, dormant, so it can be handed off again.
    Restored,
}

/// Whether, and how, an offloaded connection is on its way back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Leaving {
    /// It stays.
    No,
    /// The NIC asked for it back (memory pressure); its work item
    /// restores it.
    NicAsked,
    /// A batch restore is letting the NIC's flight drain (`quiesce`): no
    /// new data goes to the NIC.
    Draining,
    /// The host asked for it back: a restore is under way and waits on
    /// `done`.
    Restoring,
}

/// Why the NIC let go of a connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Release {
    /// It closed on the NIC (`freed`), or the NIC handed it back unasked
    /// (TIME_WAIT).
    Closed,
    /// The NIC stopped without notice: the state is lost, the connection
    /// is reset (paper §3.4).
    Failed,
    /// The host asked for it (restore): the restore takes it from here.
    Returned,
    /// A restore gave up waiting for it and withdrew it from the NIC.
    Abandoned,
}

impl Phase {
    /// The NIC's id of the connection, once the NIC accepted it.
    pub(crate) fn cid(&self) -> Option<u32> {
        match *self {
            Phase::HandingOff {
                outcome: Some(Ok(cid)),
            }
            | Phase::Offloaded { cid, .. } => Some(cid),
            _ => None,
        }
    }

    /// On the NIC (or on its way there): counted in the `offloaded` gauge.
    pub(crate) fn on_nic(&self) -> bool {
        matches!(self, Phase::HandingOff { .. } | Phase::Offloaded { .. })
    }

    /// Offloaded, and no restore under way.
    pub(crate) fn on_nic_for_good(&self) -> bool {
        matches!(
            self,
            Phase::Offloaded {
                leaving: Leaving::No | Leaving::NicAsked | Leaving::Draining,
                ..
            }
        )
    }

    /// Offloaded and taking new data (no restore under way or coming).
    pub(crate) fn takes_data(&self) -> bool {
        matches!(
            self,
            Phase::Offloaded {
                leaving: Leaving::No | Leaving::NicAsked,
                ..
            }
        )
    }

    /// Offloaded, whatever comes next.
    pub(crate) fn is_offloaded(&self) -> bool {
        matches!(self, Phase::Offloaded { .. })
    }

    /// Released by the NIC, not yet given to native TCP.
    pub(crate) fn is_released(&self) -> bool {
        matches!(self, Phase::Released { .. })
    }

    /// Whether `self -> next` is a move the life of a connection allows.
    pub(crate) fn may_become(&self, next: &Phase) -> bool {
        use Leaving::*;
        use Phase::*;
        match (*self, *next) {
            (Pending | Restored, HandingOff { outcome: None }) => true,
            // The NIC's answer arrives (no move of its own, but the same door).
            (HandingOff { outcome: None }, HandingOff { outcome: Some(_) }) => true,
            (HandingOff { .. }, Pending | Released { .. }) => true,
            (
                HandingOff {
                    outcome: Some(Ok(a)),
                },
                Offloaded { cid, leaving: No },
            ) => a == cid,
            (
                Offloaded {
                    cid: a,
                    leaving: from,
                },
                Offloaded { cid, leaving: to },
            ) => {
                a == cid
                    && matches!(
                        (from, to),
                        (No, NicAsked | Draining)
                            | (NicAsked, No | Draining)
                            | (No | NicAsked | Draining, Restoring)
                    )
            }
            (Offloaded { .. }, Released { .. }) => true,
            (Released { .. }, Restored) => true,
            (Restored, Pending) => true,
            _ => false,
        }
    }
}

/// The one door for phase changes. It refuses a move the connection's life
/// does not allow (a bug: warned about, with both phases), and on every
/// move it keeps the `offloaded` gauge (a place taken at admission is
/// given back when the connection leaves the NIC), bumps the move's
/// counters and applies the readiness contract (Documentation/handoff.rst,
/// "Phases and readiness"): every waiter that may be asleep on the old
/// phase's readiness is woken to re-evaluate it against the new one.
///
/// `s` is `c`'s state, borrowed from its lock's guard ([`Conn::lock`]).
pub(crate) fn enter(c: &Conn, s: &mut Shared, next: Phase) {
    let from = s.phase;
    if !from.may_become(&next) {
        crate::sys::warn(format_args!(
            "connection phase {:?} -> {:?} refused\n",
            from, next
        ));
        return;
    }
    s.phase = next;
    if from.on_nic() && !next.on_nic() {
        stats::dec(c.net, Stat::Offloaded);
    }
    match next {
        Phase::Offloaded {
            leaving: Leaving::No,
            ..
        } if !from.is_offloaded() => {
            c.stat(Stat::Handoffs);
            // Waiters asleep on native TCP's readiness (poll, select,
            // epoll, a blocking call on a full send buffer or an empty
            // receive queue) re-evaluate it against the bypass layer's.
            wake_all(c);
        }
        Phase::Offloaded {
            leaving: Leaving::NicAsked,
            ..
        } => schedule(c),
        Phase::Released { why, .. } => {
            match why {
                Release::Closed => {
                    c.stat(Stat::NicReleased);
                    wake(c, EPOLLIN | EPOLLOUT | bindings::POLLHUP);
                    schedule(c);
                }
                Release::Failed => {
                    set_sk_err(c, bindings::ECONNRESET);
                    c.stat(Stat::NicResets);
                    wake(c, EPOLL_ALL);
                    schedule(c);
                }
                Release::Returned | Release::Abandoned => {}
            }
            if matches!(
                from,
                Phase::Offloaded {
                    leaving: Leaving::Restoring,
                    ..
                }
            ) {
                // The restore waiting for it takes it from here.
                // SAFETY: initialised in `init_in_place`; the restore
                // thread waits on it.
                unsafe { bindings::complete(c.done.get()) };
            }
        }
        Phase::HandingOff { outcome: Some(_) } => {
            // SAFETY: initialised; the handoff thread waits on it.
            unsafe { bindings::complete(c.done.get()) };
        }
        // System calls asleep in the bypass layer continue natively.
        Phase::Restored => wake_all(c),
        _ => {}
    }
}

/// The connection's phase (socket lock held by the caller).
pub(crate) fn phase_locked(c: &Conn) -> Phase {
    locked(c, |s, _| s.phase)
}

/// Stops handing the NIC new data, so its flight can drain before it is
/// asked for the connection back. `EALREADY` if the connection is not (or
/// no longer) running there.
pub(crate) fn begin_quiesce(c: &Conn) -> Result {
    let mut guard = c.lock();
    let s = &mut *guard;
    match s.phase {
        Phase::Offloaded { cid, .. } if s.phase.on_nic_for_good() => {
            let next = Phase::Offloaded {
                cid,
                leaving: Leaving::Restoring,
            };
            enter(c, s, next);
            Ok(())
        }
        _ => Err(errno::EALREADY()),
    }
}

/// Starts draining the NIC's flight ahead of a restore of many
/// connections (so they drain together, not one after the other).
pub(crate) fn pre_quiesce(c: &Conn) {
    let mut guard = c.lock();
    let s = &mut *guard;
    if let Phase::Offloaded {
        cid,
        leaving: Leaving::No | Leaving::NicAsked,
    } = s.phase
    {
        let next = Phase::Offloaded {
            cid,
            leaving: Leaving::Draining,
        };
        enter(c, s, next);
    }
}

/// Whether every byte the NIC was given has been acknowledged (or the
/// connection left the NIC meanwhile).
pub(crate) fn quiesced(c: &Conn) -> bool {
    let mut guard = c.lock();
    let s = &mut *guard;
    !s.phase.is_offloaded() || s.snd_head >= s.snd_sent
}

/// Asks the NIC for the connection back (after `begin_quiesce`).
pub(crate) fn begin_restore(c: &Conn, nic: &Nic) -> Result {
    let mut guard = c.lock();
    let s = &mut *guard;
    if !s.phase.is_offloaded() {
        return Err(errno::EALREADY());
    }
    // SAFETY: the completion was initialised; nothing waits on it now.
    unsafe { bindings::handoff_reinit_completion(c.done.get()) };
    nic.submit_cmd(&Command::Restore {
        cid: s.cid(),
        cookie: c as *const Conn as u64,
    })
}

/// The state the NIC returned, once its `restore` event arrived (`None`:
/// not yet; the caller then gives up: the entry is withdrawn so a late
/// event finds nobody). The state stays recorded for `finish`.
pub(crate) fn end_restore(c: &Conn, nic: &Nic) -> Option<Snapshot> {
    // The table lock first (the record's nests inside it): leaving the
    // table and the phase change are one step for the NIC's events.
    let g = nic.offload.lock();
    let mut guard = c.lock();
    let s = &mut *guard;
    match s.phase {
        Phase::Released { snap, .. } => snap,
        _ => {
            nic.offload.unlink(&g, s.cid(), c);
            let abort = Command::Ctrl {
                cid: s.cid(),
                cmd: msg::CtrlCmd::Abort,
                arg: 0,
            };
            if nic.submit_cmd(&abort).is_ok() {
                c.stat(Stat::CmdCtrl);
            }
            let next = Phase::Released {
                why: Release::Abandoned,
                snap: None,
            };
            enter(c, s, next);
            None
        }
    }
}

/// The connection's buffered bytes went to native TCP: the bypass layer
/// holds nothing more, and a system call still in it continues natively.
/// (No NIC knows the connection any more.)
pub(crate) fn mark_native(c: &Conn) {
    let mut guard = c.lock();
    let s = &mut *guard;
    s.rcv_head = s.rcv_tail;
    enter(c, s, Phase::Restored);
}

/// Empties the record's rings and moves it to `next` (after a restore:
/// `Restored`, then `Pending` for the next handoff).
///
/// # Safety
///
/// As for [`live_bytes`].
pub(crate) unsafe fn reset(c: &mut Conn, next: Phase) {
    c.snd = VVec::new();
    c.rcv = VVec::new();
    let mut guard = c.lock();
    let s = &mut *guard;
    *s = Shared::fresh(s.phase);
    enter(c, s, next);
}

/// The handoff's outcome arrived (NAPI).
pub(crate) fn handoff_result(c: &Conn, r: Result<u32, Refused>) {
    let mut guard = c.lock();
    let s = &mut *guard;
    enter(c, s, Phase::HandingOff { outcome: Some(r) });
}

/// The handoff's outcome, once it arrived: `Ok` if the NIC took the
/// connection (even if it let go of it since).
pub(crate) fn take_result(c: &Conn) -> Option<Result<(), Refused>> {
    match c.lock().phase {
        Phase::HandingOff {
            outcome: Some(Err(e)),
        } => Some(Err(e)),
        Phase::HandingOff {
            outcome: Some(Ok(_)),
        }
        | Phase::Released { .. } => Some(Ok(())),
        _ => None,
    }
}

/// The NIC stopped without notice (device deleted, firmware failure): the
/// state is lost, the connection is reset (paper §3.4).
pub(crate) fn nic_failed(c: &Conn) {
    let mut guard = c.lock();
    let s = &mut *guard;
    let next = match s.phase {
        Phase::HandingOff { outcome: None } => Phase::HandingOff {
            outcome: Some(Err(Refused::DeviceDown)),
        },
        Phase::HandingOff {
            outcome: Some(Ok(_)),
        }
        | Phase::Offloaded { .. } => Phase::Released {
            why: Release::Failed,
            snap: None,
        },
        _ => return,
    };
    enter(c, s, next);
}

/// The NIC let go of the connection (`freed`, or `restore` with its state).
pub(crate) fn released(c: &Conn, s: &mut Shared, snap: Option<Snapshot>) {
    let why = match s.phase {
        Phase::Offloaded {
            leaving: Leaving::Restoring,
            ..
        } => Release::Returned,
        _ => Release::Closed,
    };
    enter(c, s, Phase::Released { why, snap });
}

/// The state the NIC handed back with the connection, if it did.
pub(crate) fn final_snap(c: &Conn) -> Option<Snapshot> {
    match c.lock().phase {
        Phase::Released { snap, .. } => snap,
        _ => None,
    }
}

/// Enters `HandingOff`: the connection's place in the `offloaded` gauge,
/// taken at admission, is given back by [`enter`] when it leaves the NIC.
pub(crate) fn begin_handoff(c: &Conn) {
    let mut guard = c.lock();
    let s = &mut *guard;
    enter(c, s, Phase::HandingOff { outcome: None });
}

/// The handoff did not happen (refused, timed out, device gone): the
/// connection stays native, `Pending` for the next try (the NIC does not
/// run it).
pub(crate) fn handoff_failed(c: &Conn) {
    let mut guard = c.lock();
    let s = &mut *guard;
    enter(c, s, Phase::Pending);
}
