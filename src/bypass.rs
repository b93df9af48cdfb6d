// SPDX-License-Identifier: GPL-2.0

//! The bypass layer (paper §3.1): the protocol operations of a socket whose
//! connection runs on the NIC.
//!
//! An offloaded socket keeps its user data in two host rings, one per
//! direction ([`Conn`]); the NIC holds only `(address, length)` references
//! into them (`vnic/offload.rs` resolves and checks every access):
//!
//! ```text
//!  send ring:   head ........ sent ........ tail          (positions, u64)
//!               |  NIC holds refs  | not yet told to NIC |
//!               acked by `ack`      `send` commands       sendmsg appends
//!
//!  recv ring:   head ........ tail ........ posted
//!               | readable     | posted to the NIC (`post`), not yet filled
//!               recvmsg consumes (`recvd`)   `recv` events move tail
//! ```
//!
//! Each system call turns into commands on the NIC's command ring; each
//! event from the NIC (taken off by NAPI) updates these positions and wakes
//! the socket's waiters. The host `tcp_sock` stays parked: hashed (so `ss`
//! lists it and its port stays owned), timers stopped, and every segment
//! that still reaches it dropped (`handoff.rs`).
//!
//! Shared state ([`Shared`]) is protected by the NIC's offload lock; user
//! copies happen outside it, on ring regions no one else touches at the
//! time (the NIC only reads `[head, sent)` of the send ring and only writes
//! `[tail, posted)` of the receive ring).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_long, c_uint, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use kernel::alloc::{flags::GFP_KERNEL, VVec};
use kernel::prelude::*;

use crate::bindings;
use crate::errno;
use crate::firmware::msg::{CtrlEvent, ResourceKind, MSG_LEN, MSG_PSH};
use crate::firmware::{msg, Command, HostEvent, Snapshot};
use crate::handoff::Refused;
use crate::stats::{self, Stat};
use crate::vnic::{offload, Guard, Nic, Region};

/// Default ring sizes (bytes). Large enough for the window a 2-CPU guest
/// can fill; see Documentation/handoff.rst.
pub(crate) const SEND_RING: usize = 128 * 1024;
pub(crate) const RECV_RING: usize = 128 * 1024;
/// Largest `send`/`post` reference (the message's 16-bit length).
const MAX_REF: u64 = 65535;
/// Granule in which receive space is posted to the NIC.
const POST_CHUNK: u64 = 32 * 1024;
/// NIC references one connection may hold at once: `send`s in flight and
/// posted receive buffers. `vnic` sizes admission with their sum.
pub(crate) const SEND_REFS: usize = 4;
pub(crate) const POST_REFS: usize = 4;

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
    fn cid(&self) -> Option<u32> {
        match *self {
            Phase::HandingOff {
                outcome: Some(Ok(cid)),
            }
            | Phase::Offloaded { cid, .. } => Some(cid),
            _ => None,
        }
    }

    /// On the NIC (or on its way there): counted in the `offloaded` gauge.
    fn on_nic(&self) -> bool {
        matches!(self, Phase::HandingOff { .. } | Phase::Offloaded { .. })
    }

    /// Offloaded, and no restore under way.
    fn on_nic_for_good(&self) -> bool {
        matches!(
            self,
            Phase::Offloaded {
                leaving: Leaving::No | Leaving::NicAsked | Leaving::Draining,
                ..
            }
        )
    }

    /// Offloaded and taking new data (no restore under way or coming).
    fn takes_data(&self) -> bool {
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
    fn may_become(&self, next: &Phase) -> bool {
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
/// "Readiness across phases"): every waiter that may be asleep on the old
/// phase's readiness is woken to re-evaluate it against the new one.
///
/// The caller holds the NIC lock while a NIC knows the connection, or is
/// its only user (socket locked, no NIC knows it).
fn enter(c: &Conn, s: &mut Shared, next: Phase) {
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

/// State shared by system calls, NAPI and the firmware's DMA; guarded by
/// the NIC's offload lock.
pub(crate) struct Shared {
    /// Changed only through [`enter`].
    phase: Phase,
    snd_head: u64,
    snd_sent: u64,
    snd_tail: u64,
    /// Ends of `send` references the NIC holds (a FIFO).
    snd_refs: [u64; SEND_REFS],
    snd_nrefs: usize,
    rcv_head: u64,
    rcv_tail: u64,
    rcv_posted: u64,
    post_refs: [u64; POST_REFS],
    post_nrefs: usize,
    /// Bytes consumed and not yet reported with `recvd`.
    rcv_unreported: u64,
    peer_fin: bool,
    /// `close`/`shutdown(SHUT_WR)`: send FIN once every byte is handed over.
    close_pending: bool,
    fin_sent: bool,
    /// A command could not be posted (ring full): retry from process context.
    need_push: bool,
    /// The NIC's live view, from its `info` event.
    info: Option<Snapshot>,
}

impl Shared {
    /// Empty rings, in `phase`.
    fn fresh(phase: Phase) -> Self {
        Shared {
            phase,
            snd_head: 0,
            snd_sent: 0,
            snd_tail: 0,
            snd_refs: [0; SEND_REFS],
            snd_nrefs: 0,
            rcv_head: 0,
            rcv_tail: 0,
            rcv_posted: 0,
            post_refs: [0; POST_REFS],
            post_nrefs: 0,
            rcv_unreported: 0,
            peer_fin: false,
            close_pending: false,
            fin_sent: false,
            need_push: false,
            info: None,
        }
    }

    /// The NIC's id of the connection (`u32::MAX`, which no NIC hands out,
    /// before it has one).
    fn cid(&self) -> u32 {
        self.phase.cid().unwrap_or(u32::MAX)
    }
}

/// An offloaded (or to-be-offloaded) connection: the ULP data of its socket
/// (`icsk_ulp_data`), freed when the socket is destroyed.
pub(crate) struct Conn {
    pub(crate) sk: *mut bindings::sock,
    pub(crate) net: *mut bindings::net,
    /// The protocol and socket operations to go back to.
    pub(crate) base_prot: *mut bindings::proto,
    pub(crate) base_ops: *const bindings::proto_ops,
    pub(crate) base_backlog_rcv:
        Option<unsafe extern "C" fn(*mut bindings::sock, *mut bindings::sk_buff) -> c_int>,
    /// Set at handoff (socket locked), with a device reference; cleared,
    /// and the reference dropped, by `finish` (socket locked) once the NIC
    /// let go. Holders of the socket lock may therefore use it freely.
    pub(crate) nic: AtomicPtr<Nic>,
    pub(crate) dev: *mut bindings::net_device,
    pub(crate) snd: VVec<u8>,
    pub(crate) rcv: VVec<u8>,
    /// Bytes the NIC handed back at a restore (`recv_data`) that did not
    /// fit in the receive ring: in order after it, as skbs (shared state,
    /// under the NIC lock; drained by `handoff::install`).
    pub(crate) overflow: UnsafeCell<bindings::sk_buff_head>,
    pub(crate) done: UnsafeCell<bindings::completion>,
    /// Completed by the NIC's `info` event (`getsockopt(TCP_INFO)`).
    pub(crate) info_done: UnsafeCell<bindings::completion>,
    pub(crate) work: UnsafeCell<bindings::work_struct>,
    shared: UnsafeCell<Shared>,
    /// References to the record: the socket's (dropped by the ULP's
    /// release) and one per scheduled work item.
    pub(crate) refs: AtomicU32,
    /// System calls that decided under the socket lock to continue in
    /// native TCP and are still inside it ([`NativeCall`]): no handoff
    /// until they are out, or one would run TCP on the parked socket.
    pub(crate) native_calls: AtomicU32,
    /// The tasks of those calls, so that module unload can make them
    /// leave our code ([`kick_native_calls`]); a call that finds every
    /// slot taken is counted but cannot be kicked.
    native_tasks: [AtomicPtr<bindings::task_struct>; NATIVE_TASK_SLOTS],
    /// Entry in the namespace's registry of records (`control.rs`).
    pub(crate) link: UnsafeCell<bindings::list_head>,
}

impl Conn {
    /// A fresh connection record for `sk` (not yet on any NIC).
    pub(crate) fn new(sk: *mut bindings::sock, phase: Phase) -> Self {
        Conn {
            sk,
            // SAFETY: `sk` is a live socket (caller's reference).
            net: unsafe { bindings::handoff_sock_net(sk) },
            // SAFETY: as above; sk_prot is set for every live socket.
            base_prot: unsafe { (*sk).__sk_common.skc_prot },
            base_ops: ptr::null(),
            base_backlog_rcv: None,
            native_calls: AtomicU32::new(0),
            native_tasks: [const { AtomicPtr::new(ptr::null_mut()) }; NATIVE_TASK_SLOTS],
            nic: AtomicPtr::new(ptr::null_mut()),
            dev: ptr::null_mut(),
            snd: VVec::new(),
            rcv: VVec::new(),
            // SAFETY: initialised by `init_in_place` before use.
            overflow: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            // SAFETY: all-zero completion/work are valid before the init
            // calls `init_in_place` makes at the final address.
            done: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            // SAFETY: as above.
            info_done: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            // SAFETY: as above.
            work: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            shared: UnsafeCell::new(Shared::fresh(phase)),
            refs: AtomicU32::new(1),
            // SAFETY: an all-zero list_head is overwritten by the registry
            // (`control::register`) before use.
            link: UnsafeCell::new(unsafe { core::mem::zeroed() }),
        }
    }

    /// Initialises the completion and the work item at their final address.
    pub(crate) fn init_in_place(&self) {
        // SAFETY: called once, right after the record is boxed, before any
        // other thread can see it.
        unsafe {
            bindings::handoff_init_completion(self.done.get());
            bindings::handoff_init_completion(self.info_done.get());
            bindings::handoff_init_work(self.work.get(), Some(conn_work));
            bindings::handoff_skb_queue_head_init(self.overflow.get());
        }
    }

    /// The NIC, for holders of the socket lock (see the field).
    pub(crate) fn nic(&self) -> Option<&Nic> {
        let p = self.nic.load(Ordering::Acquire);
        // SAFETY: a non-null `nic` comes with a device reference that keeps
        // the `Nic` alive; it is dropped only by `finish`, which runs under
        // the socket lock our callers hold.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The shared state.
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn st<'g>(&'g self, _g: &'g Guard<'_>) -> &'g mut Shared {
        // SAFETY: the guard proves this connection's NIC lock is held.
        unsafe { &mut *self.shared.get() }
    }

    /// The shared state before the connection is visible to any NIC.
    ///
    /// # Safety
    ///
    /// No NIC may know the connection (before `add_pending`, or after the
    /// NIC let go and no event can arrive any more).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn st_unshared(&self) -> &mut Shared {
        // SAFETY: by the contract nothing else accesses it.
        unsafe { &mut *self.shared.get() }
    }

    fn stat(&self, s: Stat) {
        stats::inc(self.net, s);
    }

    fn ring(&self, region: Region) -> (*mut u8, usize) {
        let r = if region == Region::Send {
            &self.snd
        } else {
            &self.rcv
        };
        (r.as_ptr() as *mut u8, r.len())
    }
}

/// The record of `sk`, if it carries our ULP.
///
/// # Safety
///
/// `sk` is a live TCP socket whose ULP, if ours, has a record.
pub(crate) unsafe fn conn_of<'a>(sk: *mut bindings::sock) -> Option<&'a Conn> {
    // SAFETY: by the contract; the record lives until the socket is
    // destroyed.
    unsafe { record_ptr(sk).map(|c| &*c) }
}

/// The record of `sk` as a raw pointer (for callers that need it mutably:
/// the socket lock makes them its only user).
///
/// # Safety
///
/// As for [`conn_of`].
pub(crate) unsafe fn record_ptr(sk: *mut bindings::sock) -> Option<*mut Conn> {
    let icsk = sk.cast::<bindings::inet_connection_sock>();
    // SAFETY: as in `conn_of`.
    unsafe {
        if (*icsk).icsk_ulp_ops != crate::ulp::ops() {
            return None;
        }
        let c = (*icsk).icsk_ulp_data.cast::<Conn>();
        (!c.is_null()).then_some(c)
    }
}

/// `cid` of a connection in a NIC table.
pub(crate) fn cid_of(c: &Conn, g: &Guard<'_>) -> Option<u32> {
    c.st(g).phase.cid()
}

/// Offset of stream position `pos` in a ring of `cap` bytes. Rings are
/// never empty while in use; a zero `cap` gives 0 rather than a
/// division-by-zero panic path in the NAPI poll (which objtool cannot see
/// the end of).
fn ring_off(pos: u64, cap: u64) -> u64 {
    pos.checked_rem(cap).unwrap_or(0)
}

fn copy_in_ring(base: *mut u8, cap: usize, pos: u64, data: &[u8]) {
    let off = ring_off(pos, cap as u64) as usize;
    let first = data.len().min(cap - off);
    // SAFETY: `base` is a `cap`-byte ring; both pieces lie inside it and the
    // caller owns the range (see the module docs).
    unsafe {
        ptr::copy_nonoverlapping(data.as_ptr(), base.add(off), first);
        ptr::copy_nonoverlapping(data.as_ptr().add(first), base, data.len() - first);
    }
}

/// How far ring offset `off` lies past stream position `from` (modulo the
/// ring of `cap` bytes).
fn ring_distance(off: usize, from: u64, cap: usize) -> u64 {
    ring_off(
        off as u64 + cap as u64 - ring_off(from, cap as u64),
        cap as u64,
    )
}

/// Firmware DMA read from a ring (`offload::dma_read`): only bytes the NIC
/// was given by `send` and has not acknowledged back. Anything else would
/// read space the application may be refilling: wrong bytes on the wire
/// under a checksum the NIC computes over them.
pub(crate) fn ring_read(
    c: &Conn,
    g: &Guard<'_>,
    region: Region,
    off: usize,
    buf: &mut [u8],
) -> Result {
    let (base, cap) = c.ring(region);
    let s = c.st(g);
    if region != Region::Send
        || !s.phase.is_offloaded()
        || off.checked_add(buf.len()).map_or(true, |e| e > cap)
    {
        return Err(EFAULT);
    }
    // The read must fall inside [head, sent) (modulo the ring).
    if s.snd_head + ring_distance(off, s.snd_head, cap) + buf.len() as u64 > s.snd_sent {
        return Err(EFAULT);
    }
    // SAFETY: bounds checked above; the send ring is only freed with the
    // socket, after the NIC let go (no table entry, so no DMA).
    unsafe { ptr::copy_nonoverlapping(base.add(off), buf.as_mut_ptr(), buf.len()) };
    Ok(())
}

/// Firmware DMA write into a ring (`offload::dma_write`): only into space
/// posted and not yet filled.
pub(crate) fn ring_write(
    c: &Conn,
    g: &Guard<'_>,
    region: Region,
    off: usize,
    data: &[u8],
) -> Result {
    let (base, cap) = c.ring(region);
    let s = c.st(g);
    if region != Region::Recv
        || !s.phase.is_offloaded()
        || off.checked_add(data.len()).map_or(true, |e| e > cap)
    {
        return Err(EFAULT);
    }
    // The write must fall inside [tail, posted) (modulo the ring).
    if s.rcv_tail + ring_distance(off, s.rcv_tail, cap) + data.len() as u64 > s.rcv_posted {
        return Err(EFAULT);
    }
    // SAFETY: bounds checked; that range belongs to the NIC until `recv`.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), base.add(off), data.len()) };
    Ok(())
}

fn encode_and_submit(nic: &Nic, cmd: &Command) -> Result {
    let mut buf = [0u8; MSG_LEN];
    let n = cmd.encode(&mut buf).map_err(|_| EINVAL)?;
    nic.submit(&buf[..n])
}

/// Asks the NIC to hand `cid` back (used for handoffs nobody waits for).
pub(crate) fn submit_restore(nic: &Nic, cid: u32) -> Result {
    encode_and_submit(nic, &Command::Restore { cid, cookie: 0 })
}

/// Runs `f` on the shared state: under the NIC lock while a NIC holds the
/// connection, directly once it let go (no event or DMA reaches it then).
/// Callers hold the socket lock, which orders them with `finish`.
fn locked<R>(c: &Conn, f: impl FnOnce(&mut Shared, Option<&Nic>) -> R) -> R {
    match c.nic() {
        Some(nic) => {
            let g = nic.offload.lock();
            f(c.st(&g), Some(nic))
        }
        // SAFETY: no NIC knows the connection any more (see above).
        None => f(unsafe { c.st_unshared() }, None),
    }
}

fn ctrl(c: &Conn, s: &mut Shared, nic: &Nic, cmd: msg::CtrlCmd, arg: u64) -> Result {
    encode_and_submit(
        nic,
        &Command::Ctrl {
            cid: s.cid(),
            cmd,
            arg,
        },
    )?;
    c.stat(Stat::CmdCtrl);
    Ok(())
}

/// Hands everything the NIC may take over: `send` references for written
/// bytes, receive space, consumed-byte reports, and the FIN once all data
/// went. Stops at the first full command ring (`need_push`, retried from
/// process context).
fn push(c: &Conn, s: &mut Shared, nic: &Nic, psh: bool) {
    if !s.phase.takes_data() {
        return;
    }
    let cid = s.cid();
    let cap = c.snd.len() as u64;
    while s.snd_nrefs < SEND_REFS && s.snd_sent < s.snd_tail {
        let off = ring_off(s.snd_sent, cap);
        let n = (s.snd_tail - s.snd_sent).min(cap - off).min(MAX_REF);
        let last = s.snd_sent + n == s.snd_tail;
        let cmd = Command::Send {
            cid,
            addr: offload::host_addr(cid, Region::Send, off as u32),
            len: n as u16,
            flags: if last && psh { MSG_PSH } else { 0 },
        };
        if encode_and_submit(nic, &cmd).is_err() {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdSend);
        s.snd_refs[s.snd_nrefs] = s.snd_sent + n;
        s.snd_nrefs += 1;
        s.snd_sent += n;
    }
    if s.close_pending && s.snd_sent == s.snd_tail {
        if ctrl(c, s, nic, msg::CtrlCmd::Close, 0).is_err() {
            return retry_later(c, s);
        }
        s.close_pending = false;
        s.fin_sent = true;
    }
    let rcap = c.rcv.len() as u64;
    if s.rcv_unreported >= (rcap / 8).max(1) || (s.rcv_unreported > 0 && s.rcv_head == s.rcv_tail) {
        if encode_and_submit(
            nic,
            &Command::Recvd {
                cid,
                len: s.rcv_unreported as u32,
            },
        )
        .is_err()
        {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdRecvd);
        s.rcv_unreported = 0;
    }
    while s.post_nrefs < POST_REFS && !s.peer_fin {
        let free = rcap - (s.rcv_posted - s.rcv_head);
        let off = ring_off(s.rcv_posted, rcap);
        let n = free.min(rcap - off).min(POST_CHUNK);
        // Post whole chunks, or the last piece before the ring wraps.
        if n == 0 || (n < POST_CHUNK && n != rcap - off) {
            break;
        }
        let cmd = Command::Post {
            cid,
            addr: offload::host_addr(cid, Region::Recv, off as u32),
            len: n as u16,
        };
        if encode_and_submit(nic, &cmd).is_err() {
            return retry_later(c, s);
        }
        c.stat(Stat::CmdPost);
        s.post_refs[s.post_nrefs] = s.rcv_posted + n;
        s.post_nrefs += 1;
        s.rcv_posted += n;
    }
    s.need_push = false;
}

fn retry_later(c: &Conn, s: &mut Shared) {
    if !s.need_push {
        s.need_push = true;
        schedule(c);
    }
}

fn pop_refs(refs: &mut [u64], n: &mut usize, upto: u64) {
    let mut k = 0;
    while k < *n && refs[k] <= upto {
        k += 1;
    }
    refs.copy_within(k..*n, 0);
    *n -= k;
}

fn wake(c: &Conn, mask: u32) {
    // SAFETY: `sk` is alive while its record is (the record is freed when
    // the socket is destroyed).
    unsafe { crate::sys::sk_wake(c.sk, mask) };
}

/// Whether a writer may write: a quarter of the send ring free (the
/// bypass layer's `sk_stream_is_writeable`).
fn writable(c: &Conn, s: &Shared) -> bool {
    let cap = c.snd.len() as u64;
    cap - (s.snd_tail - s.snd_head) >= cap / 4
}

fn nospace(c: &Conn) -> crate::sys::NoSpace {
    // SAFETY: `sk` is alive while its record is (see `wake`).
    unsafe { crate::sys::NoSpace::of(c.sk) }
}

/// Wakes every waiter of the socket (its connection changed hands).
pub(crate) fn wake_all(c: &Conn) {
    wake(c, EPOLL_ALL);
}

fn set_sk_err(c: &Conn, errno: u32) {
    // SAFETY: see `wake`; the socket layer reads sk_err locklessly.
    unsafe { ptr::write_volatile(&mut (*c.sk).sk_err, errno as c_int) };
}

fn schedule(c: &Conn) {
    // SAFETY: the work item was initialised in `init_in_place`; the worker
    // runs with a socket reference and a record reference, taken here.
    unsafe {
        bindings::handoff_sock_hold(c.sk);
        c.refs.fetch_add(1, Ordering::Relaxed);
        if !bindings::handoff_schedule_work(c.work.get()) {
            c.refs.fetch_sub(1, Ordering::Relaxed);
            bindings::handoff_sock_put(c.sk);
        }
    }
}

/// `SIOCINQ` and `SIOCOUTQ` are `FIONREAD` and `TIOCOUTQ` (asm-generic
/// ioctls, macros bindgen does not see).
const SIOCINQ: u32 = 0x541b;
const SIOCOUTQ: u32 = 0x5411;

const EPOLLIN: u32 = bindings::POLLIN | bindings::POLLRDNORM;
const EPOLLOUT: u32 = bindings::POLLOUT | bindings::POLLWRNORM;
const EPOLL_ALL: u32 =
    EPOLLIN | EPOLLOUT | bindings::POLLERR | bindings::POLLHUP | bindings::POLLRDHUP;

/// The host's view of a connection, for `dump_conns`.
pub(crate) fn describe(c: &Conn, g: &Guard<'_>) -> HostView {
    let s = c.st(g);
    HostView([
        s.snd_head,
        s.snd_sent,
        s.snd_tail,
        s.snd_nrefs as u64,
        s.rcv_head,
        s.rcv_tail,
        s.rcv_posted,
        s.post_nrefs as u64,
    ])
}

/// Ring positions, printed as `snd head/sent/tail refs rcv head/tail/posted refs`.
pub(crate) struct HostView([u64; 8]);

impl core::fmt::Display for HostView {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v = &self.0;
        write!(
            f,
            "snd {}/{}/{} refs {} rcv {}/{}/{} posts {}",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
        )
    }
}

/// The connection's phase (socket lock held by the caller).
pub(crate) fn phase_locked(c: &Conn) -> Phase {
    locked(c, |s, _| s.phase)
}

/// Stops handing the NIC new data, so its flight can drain before it is
/// asked for the connection back. `EALREADY` if the connection is not (or
/// no longer) running there.
pub(crate) fn begin_quiesce(c: &Conn, nic: &Nic) -> Result {
    let g = nic.offload.lock();
    let s = c.st(&g);
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
pub(crate) fn pre_quiesce(c: &Conn, nic: &Nic) {
    let g = nic.offload.lock();
    let s = c.st(&g);
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
pub(crate) fn quiesced(c: &Conn, nic: &Nic) -> bool {
    let g = nic.offload.lock();
    let s = c.st(&g);
    !s.phase.is_offloaded() || s.snd_head >= s.snd_sent
}

/// Asks the NIC for the connection back (after `begin_quiesce`).
pub(crate) fn begin_restore(c: &Conn, nic: &Nic) -> Result {
    let g = nic.offload.lock();
    let s = c.st(&g);
    if !s.phase.is_offloaded() {
        return Err(errno::EALREADY());
    }
    // SAFETY: the completion was initialised; nothing waits on it now.
    unsafe { bindings::handoff_reinit_completion(c.done.get()) };
    encode_and_submit(
        nic,
        &Command::Restore {
            cid: s.cid(),
            cookie: c as *const Conn as u64,
        },
    )
}

/// Asks the NIC for the connection's live state (`info`); its event
/// completes `info_done`.
pub(crate) fn begin_info(c: &Conn, nic: &Nic) -> Result {
    let g = nic.offload.lock();
    let s = c.st(&g);
    if !s.phase.on_nic_for_good() {
        return Err(errno::EALREADY());
    }
    s.info = None;
    // SAFETY: the completion was initialised; nothing waits on it now (the
    // caller holds the socket lock, like every other asker).
    unsafe { bindings::handoff_reinit_completion(c.info_done.get()) };
    encode_and_submit(
        nic,
        &Command::Info {
            cid: s.cid(),
            cookie: c as *const Conn as u64,
        },
    )
}

/// The state the NIC's `info` event carried, if it arrived.
pub(crate) fn end_info(c: &Conn, nic: &Nic) -> Option<Snapshot> {
    let g = nic.offload.lock();
    c.st(&g).info.take()
}

/// The state the NIC returned, once its `restore` event arrived (`None`:
/// not yet; the caller then gives up: the entry is withdrawn so a late
/// event finds nobody). The state stays recorded for `finish`.
pub(crate) fn end_restore(c: &Conn, nic: &Nic) -> Option<Snapshot> {
    let g = nic.offload.lock();
    let s = c.st(&g);
    match s.phase {
        Phase::Released { snap, .. } => snap,
        _ => {
            nic.offload.unlink(&g, s.cid(), c);
            let _ = ctrl(c, s, nic, msg::CtrlCmd::Abort, 0);
            let next = Phase::Released {
                why: Release::Abandoned,
                snap: None,
            };
            enter(c, s, next);
            None
        }
    }
}

/// Ring contents the host must take back at restore: `(send, recv)` as
/// (first piece, second piece) of each ring's live bytes.
///
/// # Safety
///
/// No NIC knows the connection any more, and the caller holds the socket
/// lock (so no system call touches the rings).
pub(crate) unsafe fn live_bytes(c: &Conn) -> ([&[u8]; 2], [&[u8]; 2]) {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    fn pieces(r: &[u8], head: u64, tail: u64) -> [&[u8]; 2] {
        let cap = r.len() as u64;
        if cap == 0 || tail <= head {
            return [&[], &[]];
        }
        let off = ring_off(head, cap) as usize;
        let n = (tail - head) as usize;
        let first = n.min(r.len() - off);
        [&r[off..off + first], &r[..n - first]]
    }
    (
        pieces(&c.snd, s.snd_head, s.snd_tail),
        pieces(&c.rcv, s.rcv_head, s.rcv_tail),
    )
}

/// Whether the application shut the sending side (FIN wanted).
///
/// # Safety
///
/// As for [`live_bytes`].
pub(crate) unsafe fn fin_wanted(c: &Conn) -> bool {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    s.close_pending || s.fin_sent
}

/// The connection's buffered bytes went to native TCP: the bypass layer
/// holds nothing more, and a system call still in it continues natively.
///
/// # Safety
///
/// As for [`live_bytes`].
pub(crate) unsafe fn mark_native(c: &Conn) {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
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
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    *s = Shared::fresh(s.phase);
    enter(c, s, next);
}

/// The handoff's outcome arrived (NAPI).
pub(crate) fn handoff_result(c: &Conn, g: &Guard<'_>, r: Result<u32, Refused>) {
    let s = c.st(g);
    enter(c, s, Phase::HandingOff { outcome: Some(r) });
}

/// The handoff's outcome, once it arrived: `Ok` if the NIC took the
/// connection (even if it let go of it since).
pub(crate) fn take_result(c: &Conn, g: &Guard<'_>) -> Option<Result<(), Refused>> {
    match c.st(g).phase {
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
pub(crate) fn nic_failed(c: &Conn, g: &Guard<'_>) {
    let s = c.st(g);
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
fn released(c: &Conn, s: &mut Shared, snap: Option<Snapshot>) {
    let why = match s.phase {
        Phase::Offloaded {
            leaving: Leaving::Restoring,
            ..
        } => Release::Returned,
        _ => Release::Closed,
    };
    enter(c, s, Phase::Released { why, snap });
}

/// Applies one NIC event to its connection (NAPI, lock held).
pub(crate) fn on_event(nic: &Nic, c: &Conn, g: &Guard<'_>, ev: &HostEvent<'_>) {
    let s = c.st(g);
    match *ev {
        HostEvent::Recv { addr, len, .. } => {
            c.stat(Stat::EvtRecv);
            let cap = c.rcv.len() as u64;
            let expect =
                offload::host_addr(s.cid(), Region::Recv, ring_off(s.rcv_tail, cap) as u32);
            let len = u64::from(len);
            if addr != expect || s.rcv_tail + len > s.rcv_posted {
                nic.ctr.inc(crate::vnic::Ctr::HostEvtBadRecv);
                pr_warn!("recv event outside the posted buffers (cid {:#x} addr {:#x} len {}; expected {:#x}, ring head {} tail {} posted {})\n",
                    s.cid(), addr, len, expect, s.rcv_head, s.rcv_tail, s.rcv_posted);
                return;
            }
            s.rcv_tail += len;
            pop_refs(&mut s.post_refs, &mut s.post_nrefs, s.rcv_tail);
            stats::add(c.net, Stat::RxBytes, len);
            wake(c, EPOLLIN);
        }
        HostEvent::RecvData { data, .. } => {
            let len = data.len() as u64;
            // SAFETY: the overflow queue is shared state (lock held).
            let spilled = unsafe { !bindings::handoff_skb_queue_empty(c.overflow.get()) };
            if spilled || s.rcv_tail - s.rcv_head + len > c.rcv.len() as u64 {
                // More than the ring holds (the NIC honoured a window edge
                // the host advertised before the handoff): keep it aside.
                // SAFETY: atomic allocation; the skb goes to our queue.
                let ok = unsafe {
                    let skb = bindings::handoff_alloc_skb_atomic(data.len() as u32);
                    if !skb.is_null() {
                        bindings::handoff_skb_put_data(
                            skb,
                            data.as_ptr().cast(),
                            data.len() as u32,
                        );
                        bindings::handoff_skb_queue_tail(c.overflow.get(), skb);
                    }
                    !skb.is_null()
                };
                if !ok {
                    nic.ctr.inc(crate::vnic::Ctr::HostEvtBadRecv);
                    pr_warn!(
                        "no memory for {} bytes handed back by the NIC (cid {:#x})\n",
                        len,
                        s.cid()
                    );
                }
                stats::add(c.net, Stat::RxBytes, len);
                return;
            }
            let (base, rcap) = c.ring(Region::Recv);
            copy_in_ring(base, rcap, s.rcv_tail, data);
            s.rcv_tail += len;
            // The NIC is handing the connection back: posted space is void.
            s.rcv_posted = s.rcv_tail;
            s.post_nrefs = 0;
            stats::add(c.net, Stat::RxBytes, len);
            wake(c, EPOLLIN);
        }
        HostEvent::Ack { len, .. } => {
            c.stat(Stat::EvtAck);
            // Bytes acknowledged before their `send` arrived are skipped by
            // the NIC when it does; the host still sends them in order.
            s.snd_head = (s.snd_head + len).min(s.snd_tail);
            pop_refs(&mut s.snd_refs, &mut s.snd_nrefs, s.snd_head);
            stats::add(c.net, Stat::TxBytes, len);
            push(c, s, nic, true);
            // As `sk_stream_write_space`: a writer that found no room (it
            // set SOCK_NOSPACE, natively or here) is woken once a quarter
            // of the ring is free, whenever it went to sleep.
            if writable(c, s) && nospace(c).take() {
                wake(c, EPOLLOUT);
            }
        }
        HostEvent::Ctrl { ev, arg, cid } => {
            c.stat(Stat::EvtCtrl);
            match ev {
                CtrlEvent::PeerFin => {
                    // Peer FIN, after all data before it was delivered.
                    s.peer_fin = true;
                    // SAFETY: see `wake`; sk_shutdown is read locklessly.
                    unsafe { (*c.sk).sk_shutdown |= bindings::RCV_SHUTDOWN as u8 };
                    wake(c, EPOLLIN | bindings::POLLRDHUP);
                }
                CtrlEvent::PeerRst | CtrlEvent::TimedOut => {
                    // Peer reset / retransmissions gave up: the errno native
                    // TCP reports (ECONNRESET / errno::ETIMEDOUT()).
                    set_sk_err(c, arg as u32);
                    wake(c, EPOLL_ALL);
                }
                CtrlEvent::Freed => {
                    nic.offload.unlink(g, cid, c);
                    released(c, s, None);
                }
                CtrlEvent::RestoreRequest => {
                    // The NIC is short of memory and this connection has
                    // been idle the longest (Documentation/firmware.rst):
                    // take it back, from process context.
                    c.stat(Stat::NicRestoreRequests);
                    if let Phase::Offloaded {
                        cid,
                        leaving: Leaving::No,
                    } = s.phase
                    {
                        let next = Phase::Offloaded {
                            cid,
                            leaving: Leaving::NicAsked,
                        };
                        enter(c, s, next);
                    }
                }
                CtrlEvent::Unknown(_) => nic.ctr.inc(crate::vnic::Ctr::HostEvtUnknownCode),
            }
        }
        HostEvent::Restore { cid, snap, .. } => {
            nic.offload.unlink(g, cid, c);
            released(c, s, Some(snap));
        }
        HostEvent::Resource { kind, num, cid } => match kind {
            ResourceKind::Refs if num == 0 => {
                // A reference we sent was refused: the stream would have a
                // hole, so the connection cannot continue. Abort it.
                pr_warn!("NIC out of buffer references, resetting cid {:#x}\n", cid);
                set_sk_err(c, bindings::ENOBUFS);
                let _ = ctrl(c, s, nic, msg::CtrlCmd::Abort, 0);
                wake(c, EPOLL_ALL);
            }
            ResourceKind::Unknown(_) => nic.ctr.inc(crate::vnic::Ctr::HostEvtUnknownCode),
            _ => {}
        },
        HostEvent::Info { snap, .. } => {
            s.info = Some(snap);
            // SAFETY: initialised; a getsockopt may wait on it.
            unsafe { bindings::complete(c.info_done.get()) };
        }
        HostEvent::HandoffDone { .. } => {}
    }
}

/// Deferred work of a connection (process context): finish a socket the
/// NIC let go of, or retry commands that found the ring full.
unsafe extern "C" fn conn_work(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` field of a `Conn`; `schedule` took a
    // socket reference and a record reference, so both are alive until
    // we drop them at the end.
    let c = unsafe {
        &*(work as *const u8)
            .sub(core::mem::offset_of!(Conn, work))
            .cast::<Conn>()
    };
    let sk = c.sk;
    // SAFETY: `sk` is alive (our reference).
    unsafe { bindings::handoff_lock_sock(sk) };
    // The NIC let go (Released) and the socket still has it: finish.
    let nic_gone = locked(c, |s, nic| {
        if let (true, Some(nic)) = (s.need_push, nic) {
            push(c, s, nic, true);
        }
        s.phase.is_released() && nic.is_some()
    });
    if nic_gone {
        // SAFETY: we hold the socket lock and a reference.
        unsafe { crate::handoff::finish(c) };
    } else if locked(c, |s, nic| {
        nic.is_some()
            && matches!(
                s.phase,
                Phase::Offloaded {
                    leaving: Leaving::NicAsked,
                    ..
                }
            )
    }) {
        // SAFETY: we hold the socket lock, which serialises every use of
        // the record's host-side fields (as in `control::apply_one`); an
        // offloaded socket carries our record.
        if let Some(cm) = unsafe { record_ptr(sk) } {
            // SAFETY: as above.
            if let Err(e) = unsafe { crate::handoff::restore(&mut *cm) } {
                pr_warn!("restore the NIC asked for failed: error {}\n", e.to_errno());
            }
        }
    }
    // SAFETY: lock and references taken above (the record's last use).
    unsafe {
        bindings::release_sock(sk);
        crate::ulp::put_record(c as *const Conn as *mut Conn);
        bindings::handoff_sock_put(sk);
    }
}

/// Waits on the socket until `cond` holds, with the socket lock released
/// while sleeping (the shape of `sk_wait_event`).
fn wait_for(sk: *mut bindings::sock, timeo: &mut c_long, mut cond: impl FnMut() -> bool) -> Result {
    // SAFETY: an all-zero entry is overwritten by the init call below.
    let mut wait: bindings::wait_queue_entry = unsafe { core::mem::zeroed() };
    // SAFETY: `wait` lives on this stack frame until it is removed below;
    // `sk` is locked by the caller and alive.
    unsafe {
        bindings::handoff_init_wait_woken(&mut wait);
        bindings::add_wait_queue(bindings::handoff_sk_sleep(sk), &mut wait);
    }
    let r = loop {
        if cond() {
            break Ok(());
        }
        if *timeo == 0 {
            break Err(EAGAIN);
        }
        // SAFETY: plain query of the current task.
        if unsafe { bindings::handoff_signal_pending() } {
            // SAFETY: pure function of `timeo`.
            break Err(Error::from_errno(unsafe {
                bindings::handoff_sock_intr_errno(*timeo)
            }));
        }
        // SAFETY: the caller holds the socket lock; it is retaken before
        // `cond` runs again. `wait` is queued.
        unsafe {
            bindings::release_sock(sk);
            *timeo =
                bindings::wait_woken(&mut wait, bindings::TASK_INTERRUPTIBLE as c_uint, *timeo);
            bindings::handoff_lock_sock(sk);
        }
    };
    // SAFETY: queued above.
    unsafe { bindings::remove_wait_queue(bindings::handoff_sk_sleep(sk), &mut wait) };
    r
}

/// The record of a socket running our protocol.
///
/// # Safety
///
/// `sk` is a live socket whose `sk_prot` is one of ours.
unsafe fn record(sk: *mut bindings::sock) -> Held {
    // SAFETY: our protocols are only installed on sockets carrying our ULP
    // record, and removed before the record is freed.
    Held::new(unsafe { conn_of(sk) }.expect("bypass protocol on a socket without record"))
}

/// A reference to a record for the length of a system call: the record
/// (and, through the registry, the module) stays until the call has left
/// our code, even if the connection is restored or the module unloads
/// meanwhile (`control::shutdown` waits for the registry to drain).
pub(crate) struct Held(*const Conn);

impl Held {
    pub(crate) fn new(c: &Conn) -> Held {
        c.refs.fetch_add(1, Ordering::Relaxed);
        Held(c)
    }
}

impl core::ops::Deref for Held {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // SAFETY: our reference keeps the record alive.
        unsafe { &*self.0 }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `new`.
        unsafe { crate::ulp::put_record(self.0 as *mut Conn) };
    }
}

/// Concurrent native calls per socket whose task is remembered (a reader
/// and a writer, with room to spare).
const NATIVE_TASK_SLOTS: usize = 4;

/// A system call on its way into native TCP, counted in
/// `Conn::native_calls` from the moment it decides (socket locked) until
/// native TCP returns.
pub(crate) struct NativeCall<'a> {
    c: &'a Conn,
    slot: Option<usize>,
}

impl<'a> NativeCall<'a> {
    /// Call with the socket locked, before letting go of the lock.
    pub(crate) fn enter(c: &'a Conn) -> Self {
        c.native_calls.fetch_add(1, Ordering::AcqRel);
        // SAFETY: plain query of the current task.
        let me = unsafe { bindings::handoff_current() };
        let slot = c.native_tasks.iter().position(|t| {
            t.compare_exchange(ptr::null_mut(), me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        NativeCall { c, slot }
    }

    /// The native call's result as this system call returns it. A call
    /// that module unload interrupted ([`kick_native_calls`]) restarts from
    /// user space through the base operations (by then back on the
    /// socket), out of our code: `-EINTR` (a finite timeout) becomes
    /// `-ERESTARTNOINTR` unless a real signal is pending too. `-ERESTARTSYS`
    /// (no timeout) restarts by itself.
    pub(crate) fn result(&self, r: c_int) -> c_int {
        let eintr = -(bindings::EINTR as c_int);
        // SAFETY: plain query of the current task.
        if r == eintr
            && crate::control::unloading()
            && !unsafe { bindings::handoff_task_sigpending() }
        {
            return -(bindings::ERESTARTNOINTR as c_int);
        }
        r
    }
}

impl Drop for NativeCall<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.c.native_tasks[i].store(ptr::null_mut(), Ordering::Release);
        }
        self.c.native_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Module unload, once every socket is back on its base operations: makes
/// the system calls of `c` asleep in native TCP from inside our code
/// return, as a signal would (TIF_NOTIFY_SIGNAL, the flag io_uring uses to
/// break a task out of an interruptible wait, then a wake-up of the
/// socket's sleepers); [`NativeCall::result`] has them restart.
///
/// # Safety
///
/// Called under the registry lock with `c` registered: `c` and its socket
/// are alive (a call holding a slot is inside a system call on the
/// socket), and a task read from a slot is freed only after an RCU grace
/// period, which the lock's disabled bottom halves hold off.
pub(crate) unsafe fn kick_native_calls(c: &Conn) -> bool {
    let mut kicked = false;
    for t in c.native_tasks.iter() {
        let task = t.load(Ordering::Acquire);
        if !task.is_null() {
            // SAFETY: see the function's contract; a task that left our
            // code meanwhile takes one harmless trip through signal
            // delivery on its way back to user space.
            unsafe { bindings::handoff_set_notify_signal_flag(task) };
            kicked = true;
        }
    }
    if kicked {
        // SAFETY: live socket (see the contract), still attached to its
        // file while a call on it is in progress.
        unsafe { bindings::handoff_wake_up_interruptible_all(bindings::handoff_sk_sleep(c.sk)) };
    }
    kicked
}

/// Socket lock held for the life of the value.
struct SockLock(*mut bindings::sock);

impl SockLock {
    /// # Safety
    ///
    /// `sk` is live for the life of the value.
    unsafe fn new(sk: *mut bindings::sock) -> Self {
        // SAFETY: by the contract.
        unsafe { bindings::handoff_lock_sock(sk) };
        SockLock(sk)
    }
}

impl Drop for SockLock {
    fn drop(&mut self) {
        // SAFETY: taken in `new`.
        unsafe { bindings::release_sock(self.0) };
    }
}

fn ret_len(copied: usize, e: Error) -> c_int {
    if copied > 0 {
        copied as c_int
    } else {
        e.to_errno()
    }
}

/// How a bypass call ends: a result, or "the connection was restored
/// meanwhile: continue natively" (after `copied` bytes).
enum Outcome {
    Done(c_int),
    Native(usize),
}

/// `sendmsg`, `write`, `send`, `sendfile`, `splice` to the socket.
pub(crate) unsafe extern "C" fn bypass_sendmsg(
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    size: usize,
) -> c_int {
    // SAFETY: the socket layer calls us with a live socket running our
    // protocol and a message valid for the call.
    let (held, flags) = unsafe { (record(sk), (*m).msg_flags) };
    let c: &Conn = &held;
    c.stat(Stat::BypassSendmsg);
    if flags & bindings::MSG_OOB != 0 {
        return errno::EOPNOTSUPP().to_errno();
    }
    let (outcome, native) = {
        // SAFETY: live socket.
        let _lock = unsafe { SockLock::new(sk) };
        // SAFETY: `sk` is live, `m` valid (see above).
        let outcome = unsafe { send_locked(c, sk, m, size, flags) };
        let native = matches!(outcome, Outcome::Native(_)).then(|| NativeCall::enter(c));
        (outcome, native)
    };
    match outcome {
        Outcome::Done(r) => r,
        // SAFETY: restored: the base protocol owns the socket again; the
        // iterator has advanced past what we took.
        Outcome::Native(copied) => {
            match unsafe { ((*c.base_prot).sendmsg.expect("tcp sendmsg"))(sk, m, size - copied) } {
                r if r >= 0 => copied as c_int + r,
                _ if copied > 0 => copied as c_int,
                r => native.as_ref().map_or(r, |n| n.result(r)),
            }
        }
    }
}

/// # Safety
///
/// `sk` is live and locked, `m` valid for the call.
unsafe fn send_locked(
    c: &Conn,
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    size: usize,
    flags: u32,
) -> Outcome {
    // SAFETY: by the contract.
    let mut timeo =
        unsafe { bindings::handoff_sock_sndtimeo(sk, flags & bindings::MSG_DONTWAIT != 0) };
    let mut copied = 0usize;
    loop {
        if phase_locked(c) == Phase::Restored {
            return Outcome::Native(copied);
        }
        let cap = c.snd.len() as u64;
        // SAFETY: `sk` is locked.
        let err = unsafe { bindings::handoff_sock_error(sk) };
        if err != 0 {
            return Outcome::Done(if copied > 0 { copied as c_int } else { err });
        }
        // SAFETY: lockless read, as tcp_sendmsg does.
        let shut = unsafe { (*sk).sk_shutdown } & bindings::SEND_SHUTDOWN as u8 != 0;
        let (space, tail, closed) = locked(c, |s, _| {
            (
                cap - (s.snd_tail - s.snd_head),
                s.snd_tail,
                !s.phase.is_offloaded() || s.close_pending || s.fin_sent,
            )
        });
        if closed || shut {
            if copied > 0 {
                return Outcome::Done(copied as c_int);
            }
            // SAFETY: EPIPE, plus SIGPIPE unless MSG_NOSIGNAL, as native TCP.
            return Outcome::Done(unsafe {
                bindings::sk_stream_error(sk, flags as c_int, -(bindings::EPIPE as c_int))
            });
        }
        if copied == size {
            return Outcome::Done(copied as c_int);
        }
        if space == 0 {
            // Before the wait looks at the ring: an ack after that look
            // sees the mark and wakes us.
            nospace(c).set();
            let r = wait_for(sk, &mut timeo, || {
                // SAFETY: lockless read of a live socket's error.
                let err = unsafe { ptr::read_volatile(&(*sk).sk_err) } != 0;
                err || locked(c, |s, _| {
                    s.snd_tail - s.snd_head < cap || !s.phase.is_offloaded()
                })
            });
            if let Err(e) = r {
                return Outcome::Done(ret_len(copied, e));
            }
            continue;
        }
        let off = ring_off(tail, cap) as usize;
        let n = (size - copied).min(space as usize).min(c.snd.len() - off);
        // SAFETY: `[tail, head + cap)` of the send ring is ours (the NIC
        // reads only `[head, sent)`) and `off + n` is inside the ring; the
        // iterator is the caller's.
        let got = unsafe {
            bindings::handoff_copy_from_iter(
                c.snd.as_ptr().add(off) as *mut c_void,
                n,
                &mut (*m).msg_iter,
            )
        };
        if got == 0 {
            return Outcome::Done(ret_len(copied, EFAULT));
        }
        copied += got;
        let more = flags & bindings::MSG_MORE != 0;
        locked(c, |s, nic| {
            s.snd_tail += got as u64;
            if let Some(nic) = nic {
                push(c, s, nic, copied == size && !more);
            }
        });
    }
}

/// `recvmsg`, `read`, `recv` (MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, SO_RCVTIMEO).
pub(crate) unsafe extern "C" fn bypass_recvmsg(
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    len: usize,
    flags: c_int,
    addr_len: *mut c_int,
) -> c_int {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    c.stat(Stat::BypassRecvmsg);
    let uflags = flags as u32;
    if uflags & bindings::MSG_OOB != 0 {
        return EINVAL.to_errno();
    }
    if uflags & bindings::MSG_ERRQUEUE != 0 {
        return EAGAIN.to_errno();
    }
    let (outcome, native) = {
        // SAFETY: live socket.
        let _lock = unsafe { SockLock::new(sk) };
        // SAFETY: as in `bypass_sendmsg`.
        let outcome = unsafe { recv_locked(c, sk, m, len, uflags) };
        let native = matches!(outcome, Outcome::Native(0)).then(|| NativeCall::enter(c));
        (outcome, native)
    };
    match outcome {
        Outcome::Done(r) => r,
        // Restored while we waited: what is left comes from native TCP.
        Outcome::Native(0) => {
            // SAFETY: as in `bypass_sendmsg`.
            let r = unsafe {
                ((*c.base_prot).recvmsg.expect("tcp recvmsg"))(sk, m, len, flags, addr_len)
            };
            native.as_ref().map_or(r, |n| n.result(r))
        }
        Outcome::Native(copied) => copied as c_int,
    }
}

/// # Safety
///
/// `sk` is live and locked, `m` valid for the call.
unsafe fn recv_locked(
    c: &Conn,
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    len: usize,
    flags: u32,
) -> Outcome {
    let peek = flags & bindings::MSG_PEEK != 0;
    // SAFETY: by the contract.
    let mut timeo =
        unsafe { bindings::handoff_sock_rcvtimeo(sk, flags & bindings::MSG_DONTWAIT != 0) };
    let target = if flags & bindings::MSG_WAITALL != 0 {
        len
    } else {
        len.min(1)
    };
    let mut copied = 0usize;
    loop {
        if phase_locked(c) == Phase::Restored {
            return Outcome::Native(copied);
        }
        let cap = c.rcv.len() as u64;
        let skip = if peek { copied as u64 } else { 0 };
        // The end of the stream is read in the same snapshot as the data:
        // NAPI delivers the last bytes and then the peer's FIN (which sets
        // RCV_SHUTDOWN) under this lock, so a FIN seen after an empty
        // `avail` read outside it may have bytes in front of it.
        let (avail, head, done) = locked(c, |s, _| {
            let head = s.rcv_head + skip;
            // SAFETY: `sk` is live (the contract); a byte read.
            let shut_rd = unsafe { (*sk).sk_shutdown } & bindings::RCV_SHUTDOWN as u8 != 0;
            (
                s.rcv_tail.saturating_sub(head),
                head,
                s.peer_fin || s.phase.is_released() || shut_rd,
            )
        });
        if avail > 0 && copied < len {
            let off = ring_off(head, cap) as usize;
            let n = (avail as usize).min(len - copied).min(c.rcv.len() - off);
            // SAFETY: `[head, tail)` of the receive ring is filled and only
            // we consume it (socket lock); `off + n` is inside the ring.
            let got = unsafe {
                bindings::handoff_copy_to_iter(
                    c.rcv.as_ptr().add(off).cast(),
                    n,
                    &mut (*m).msg_iter,
                )
            };
            if got == 0 {
                return Outcome::Done(ret_len(copied, EFAULT));
            }
            copied += got;
            if !peek {
                locked(c, |s, nic| {
                    s.rcv_head += got as u64;
                    s.rcv_unreported += got as u64;
                    if let Some(nic) = nic {
                        push(c, s, nic, false);
                    }
                });
            }
            continue;
        }
        if copied >= target {
            return Outcome::Done(copied as c_int);
        }
        // SAFETY: `sk` is locked.
        let err = unsafe { bindings::handoff_sock_error(sk) };
        if err != 0 {
            return Outcome::Done(if copied > 0 { copied as c_int } else { err });
        }
        if done {
            return Outcome::Done(copied as c_int);
        }
        let r = wait_for(sk, &mut timeo, || {
            // SAFETY: as in `bypass_sendmsg`.
            let err = unsafe { ptr::read_volatile(&(*sk).sk_err) } != 0;
            err || locked(c, |s, _| {
                s.rcv_tail > s.rcv_head + skip
                    || s.peer_fin
                    || matches!(s.phase, Phase::Released { .. } | Phase::Restored)
            })
        });
        if let Err(e) = r {
            return Outcome::Done(ret_len(copied, e));
        }
    }
}

/// poll/select/epoll readiness, computed as `tcp_poll` does.
pub(crate) unsafe extern "C" fn bypass_poll(
    file: *mut bindings::file,
    sock: *mut bindings::socket,
    wait: *mut bindings::poll_table_struct,
) -> c_uint {
    // SAFETY: the socket layer calls us with a live socket.
    let sk = unsafe { (*sock).sk };
    // SAFETY: arguments from the socket layer.
    unsafe { bindings::handoff_sock_poll_wait(file, sock, wait) };
    // SAFETY: live socket (our ops imply our record until they are
    // switched back, under the socket lock we take here).
    let _lock = unsafe { SockLock::new(sk) };
    // SAFETY: as above.
    let Some(held) = (unsafe { conn_of(sk) }).map(Held::new) else {
        return bindings::POLLERR;
    };
    let c: &Conn = &held;
    c.stat(Stat::BypassPoll);
    if phase_locked(c) == Phase::Restored {
        // Restored since the caller looked up our ops: ask native TCP.
        drop(_lock);
        // SAFETY: arguments from the socket layer; the socket runs native
        // TCP again.
        return unsafe { bindings::tcp_poll(file, sock, wait) };
    }
    // SAFETY: reads of the locked socket.
    let (shutdown, err) = unsafe { ((*sk).sk_shutdown, ptr::read_volatile(&(*sk).sk_err)) };
    let rd_shut = shutdown & bindings::RCV_SHUTDOWN as u8 != 0;
    let mut mask = locked(c, |s, _| {
        let mut mask = 0;
        let gone = s.phase.is_released();
        let wr_shut =
            shutdown & bindings::SEND_SHUTDOWN as u8 != 0 || s.fin_sent || s.close_pending;
        if s.rcv_tail > s.rcv_head || s.peer_fin || rd_shut || gone {
            mask |= EPOLLIN;
        }
        if s.peer_fin || rd_shut {
            mask |= bindings::POLLRDHUP;
        }
        if wr_shut || gone || writable(c, s) {
            mask |= EPOLLOUT;
        } else {
            // As `tcp_poll`: mark the writer, then look again, so an ack
            // in between either sees the mark or is seen here.
            nospace(c).set();
            if writable(c, s) {
                mask |= EPOLLOUT;
            }
        }
        if (s.peer_fin && wr_shut) || gone {
            mask |= bindings::POLLHUP;
        }
        mask
    });
    if err != 0 {
        mask |= bindings::POLLERR;
    }
    mask
}

/// `shutdown(2)`: `inet_shutdown` already set `sk_shutdown` and holds the
/// socket lock.
pub(crate) unsafe extern "C" fn bypass_shutdown(sk: *mut bindings::sock, how: c_int) {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    c.stat(Stat::BypassShutdown);
    if how & bindings::SEND_SHUTDOWN as c_int != 0 {
        locked(c, |s, nic| {
            if let (Some(nic), false) = (nic, s.fin_sent) {
                s.close_pending = true;
                push(c, s, nic, true);
            }
        });
    }
    wake(c, EPOLLIN | EPOLLOUT);
}

/// `close(2)` of the last file reference.
pub(crate) unsafe extern "C" fn bypass_close(sk: *mut bindings::sock, timeout: c_long) {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    c.stat(Stat::BypassClose);
    // SAFETY: live socket.
    unsafe { bindings::handoff_lock_sock(sk) };
    // SAFETY: plain flag reads of the locked socket.
    let linger0 = unsafe {
        bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_LINGER as c_int)
            && (*sk).sk_lingertime == 0
    };
    let on_nic = locked(c, |s, nic| {
        let Some(nic) = nic.filter(|_| s.phase.is_offloaded()) else {
            return false;
        };
        if linger0 || s.rcv_tail > s.rcv_head {
            // Native TCP resets a connection closed with unread data or
            // with a zero linger time.
            let _ = ctrl(c, s, nic, msg::CtrlCmd::Abort, 0);
        } else if !s.fin_sent {
            s.close_pending = true;
            push(c, s, nic, true);
        }
        true
    });
    if !on_nic {
        // The NIC already let go. If the cleanup work has not run yet, run
        // it now: native close must see the connection's final state
        // (closed, or TIME_WAIT), not the stale one of the handoff, from
        // which it would send a FIN with old sequence numbers.
        if locked(c, |s, nic| s.phase.is_released() && nic.is_some()) {
            // SAFETY: locked above, and `held` keeps the record; the
            // application has not closed the socket, so `finish` does not
            // destroy it.
            unsafe { crate::handoff::finish(c) };
        }
        // The host socket is closed (or in TIME_WAIT); native close tears
        // it down.
        // SAFETY: locked above; the base close takes the lock itself.
        unsafe {
            crate::ulp::install_base(c);
            let base = c.base_prot;
            bindings::release_sock(sk);
            ((*base).close.expect("tcp close"))(sk, timeout);
        }
        return;
    }
    // The NIC finishes the connection; `finish` destroys the orphan then.
    // SAFETY: locked socket; orphaning is what tcp_close does at this point
    // (inet_csk_destroy_sock undoes the orphan count).
    unsafe {
        (*sk).sk_shutdown = bindings::SHUTDOWN_MASK as u8;
        bindings::handoff_sock_orphan(sk);
        bindings::handoff_orphan_count_inc(sk);
        bindings::release_sock(sk);
    }
}

/// Socket options are read from the host socket; `TCP_INFO` first brings
/// the fields it reports up to the NIC's live view
/// (`handoff::show_nic_view`).
pub(crate) unsafe extern "C" fn bypass_getsockopt(
    sk: *mut bindings::sock,
    level: c_int,
    optname: c_int,
    optval: *mut core::ffi::c_char,
    optlen: *mut c_int,
) -> c_int {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    if level == bindings::SOL_TCP as c_int && optname == bindings::TCP_INFO as c_int {
        // SAFETY: live socket; `tcp_get_info` below takes the lock itself.
        let _lock = unsafe { SockLock::new(sk) };
        // SAFETY: locked socket, `c` its record.
        unsafe { crate::handoff::show_nic_view(c) };
    }
    // SAFETY: the base protocol's handler with the caller's arguments.
    unsafe {
        ((*c.base_prot).getsockopt.expect("tcp getsockopt"))(sk, level, optname, optval, optlen)
    }
}

/// TCP-level socket options: applied to the host socket (so getsockopt
/// reads them back) and forwarded to the NIC where it implements them.
pub(crate) unsafe extern "C" fn bypass_setsockopt(
    sk: *mut bindings::sock,
    level: c_int,
    optname: c_int,
    optval: bindings::sockptr_t,
    optlen: c_uint,
) -> c_int {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    c.stat(Stat::BypassSetsockopt);
    // SAFETY: the base protocol's handler with the caller's arguments.
    let r = unsafe {
        ((*c.base_prot).setsockopt.expect("tcp setsockopt"))(sk, level, optname, optval, optlen)
    };
    if r != 0 || level != bindings::SOL_TCP as c_int {
        return r;
    }
    // SAFETY: live socket.
    let _lock = unsafe { SockLock::new(sk) };
    // The base handler may have armed host timers (keepalive): the parked
    // socket must run none.
    // SAFETY: locked socket.
    unsafe { bindings::handoff_tcp_clear_xmit_timers(sk) };
    let cmd = match optname as u32 {
        // SAFETY: reading options of the locked socket.
        bindings::TCP_NODELAY => Some((
            msg::CtrlCmd::NoDelay,
            u64::from(unsafe { (*sk.cast::<bindings::tcp_sock>()).nonagle() } & 1),
        )),
        // SAFETY: as above.
        bindings::TCP_KEEPIDLE => {
            unsafe { keepalive_arg(sk) }.map(|a| (msg::CtrlCmd::KeepAlive, a))
        }
        _ => None,
    };
    if let Some((cmd, arg)) = cmd {
        locked(c, |s, nic| {
            if let (Some(nic), true) = (nic, s.phase.is_offloaded()) {
                let _ = ctrl(c, s, nic, cmd, arg);
            }
        });
    }
    0
}

/// `SO_KEEPALIVE` (sock_setsockopt calls it, socket locked, before it sets
/// the flag). The host's keepalive timer must not run: the NIC keeps alive.
pub(crate) unsafe extern "C" fn bypass_keepalive(sk: *mut bindings::sock, valbool: c_int) {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    // SAFETY: as above.
    let arg = if valbool != 0 {
        unsafe { keepalive_time_ms(sk) }
    } else {
        0
    };
    locked(c, |s, nic| {
        if let (Some(nic), true) = (nic, s.phase.is_offloaded()) {
            let _ = ctrl(c, s, nic, msg::CtrlCmd::KeepAlive, arg);
        }
    });
}

/// # Safety
///
/// `sk` is a live, locked TCP socket.
unsafe fn keepalive_time_ms(sk: *mut bindings::sock) -> u64 {
    // SAFETY: by the contract.
    unsafe {
        u64::from(bindings::jiffies_to_msecs(
            bindings::handoff_keepalive_time_when(sk.cast()) as _,
        ))
    }
}

/// # Safety
///
/// `sk` is a live, locked TCP socket.
unsafe fn keepalive_arg(sk: *mut bindings::sock) -> Option<u64> {
    // SAFETY: by the contract.
    unsafe {
        bindings::handoff_sock_flag(sk, bindings::sock_flags_SOCK_KEEPOPEN as c_int)
            .then(|| keepalive_time_ms(sk))
    }
}

/// SIOCINQ / SIOCOUTQ / SIOCOUTQNSD from the bypass rings.
pub(crate) unsafe extern "C" fn bypass_ioctl(
    sk: *mut bindings::sock,
    cmd: c_int,
    karg: *mut c_int,
) -> c_int {
    // SAFETY: as in `bypass_sendmsg`.
    let held = unsafe { record(sk) };
    let c: &Conn = &held;
    c.stat(Stat::BypassIoctl);
    let v = {
        // SAFETY: live socket.
        let _lock = unsafe { SockLock::new(sk) };
        locked(c, |s, _| match cmd as u32 {
            SIOCINQ => Some(s.rcv_tail - s.rcv_head),
            SIOCOUTQ => Some(s.snd_tail - s.snd_head),
            bindings::SIOCOUTQNSD => Some(s.snd_tail - s.snd_sent),
            _ => None,
        })
    };
    match v {
        // SAFETY: `karg` is the kernel copy sk_ioctl provides.
        Some(v) => unsafe { *karg = v.min(c_int::MAX as u64) as c_int },
        // SAFETY: anything else is the base protocol's.
        None => return unsafe { ((*c.base_prot).ioctl.expect("tcp ioctl"))(sk, cmd, karg) },
    }
    0
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
        stats::inc(bindings::handoff_sock_net(sk), Stat::RacingSegmentsDropped);
        bindings::handoff_dev_kfree_skb_any(skb);
    }
    0
}

/// The ring sizes for `queued` bytes to send and `unread` bytes received
/// at handoff: the defaults, or room for the data plus half a default.
fn ring_sizes(queued: usize, unread: usize) -> (usize, usize) {
    (
        SEND_RING.max((queued + SEND_RING / 2).next_power_of_two()),
        RECV_RING.max((unread + RECV_RING / 2).next_power_of_two()),
    )
}

/// Whether `c`'s rings (from an earlier `alloc_rings`) are the size the
/// data queued now needs.
pub(crate) fn rings_fit(c: &Conn, queued: usize, unread: usize) -> bool {
    ring_sizes(queued, unread) == (c.snd.len(), c.rcv.len())
}

/// Allocates the host rings for a handoff: `send` will hold `queued`
/// (bytes from the snapshot's `snd_una` on), `recv` will hold `unread`.
pub(crate) fn alloc_rings(c: &mut Conn, queued: usize, unread: usize) -> Result {
    let (snd, rcv) = ring_sizes(queued, unread);
    c.snd = VVec::from_elem(0u8, snd, GFP_KERNEL)?;
    c.rcv = VVec::from_elem(0u8, rcv, GFP_KERNEL)?;
    Ok(())
}

/// Sets the ring positions after the rings were filled at handoff.
///
/// # Safety
///
/// As for [`Conn::st_unshared`].
pub(crate) unsafe fn set_initial(c: &Conn, queued: u64, unread: u64) {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    s.snd_tail = queued;
    s.rcv_tail = unread;
    s.rcv_posted = unread;
}

/// After `handoff_done`, with the bypass operations installed: the
/// connection enters `Offloaded` (waking every waiter to re-evaluate its
/// readiness), and the NIC gets the queued data, receive space and a window
/// update (which also carries the ACK the host may have delayed). Nothing
/// to do if the NIC let go of it meanwhile (its work item finishes it).
pub(crate) fn start(c: &Conn, nic: &Nic) {
    let g = nic.offload.lock();
    let s = c.st(&g);
    let Phase::HandingOff {
        outcome: Some(Ok(cid)),
    } = s.phase
    else {
        return;
    };
    let next = Phase::Offloaded {
        cid,
        leaving: Leaving::No,
    };
    enter(c, s, next);
    push(c, s, nic, true);
    if encode_and_submit(nic, &Command::Recvd { cid, len: 0 }).is_ok() {
        c.stat(Stat::CmdRecvd);
    }
}

/// The state the NIC handed back with the connection, if it did.
pub(crate) fn final_snap(c: &Conn, g: &Guard<'_>) -> Option<Snapshot> {
    match c.st(g).phase {
        Phase::Released { snap, .. } => snap,
        _ => None,
    }
}

/// Enters `HandingOff`: the connection's place in the `offloaded` gauge,
/// taken at admission, is given back by [`enter`] when it leaves the NIC.
///
/// # Safety
///
/// As for [`Conn::st_unshared`].
pub(crate) unsafe fn begin_handoff(c: &Conn) {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    enter(c, s, Phase::HandingOff { outcome: None });
}

/// The handoff did not happen (refused, timed out, device gone): the
/// connection stays native, `Pending` for the next try.
///
/// # Safety
///
/// As for [`Conn::st_unshared`] (the NIC does not run the connection).
pub(crate) unsafe fn handoff_failed(c: &Conn) {
    // SAFETY: by the contract.
    let s = unsafe { c.st_unshared() };
    enter(c, s, Phase::Pending);
}
