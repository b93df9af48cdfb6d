// SPDX-License-Identifier: GPL-2.0

//! A connection's record (paper §3: the host's side of an offloaded
//! connection): [`Conn`], the ULP data of its socket, with the state that
//! system calls, NAPI and the firmware's DMA share ([`Shared`]), its phase
//! ([`phase`]: the one door for every change) and its host rings
//! ([`rings`]).
//!
//! Shared state has its own lock (`Conn::lock`, a BH spinlock whose guard
//! hands out `&mut Shared`), which nests inside the NIC's table lock: NAPI
//! and the firmware's DMA find a connection under the table lock, then
//! take its own. User copies happen outside it, on ring regions no one
//! else touches at the time (the NIC only reads `[head, sent)` of the send
//! ring and only writes `[tail, posted)` of the receive ring).

use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use kernel::alloc::{KBox, VVec};

use crate::bindings;
use crate::firmware::Snapshot;
use crate::stats::{self, Stat};
use crate::sys::{BhGuard, BhSpinLock, Sock};
use crate::vnic::{Nic, Region};

pub(crate) mod commands;
pub(crate) mod phase;
pub(crate) mod refused;
pub(crate) mod registry;
pub(crate) mod rings;

pub(crate) use phase::Phase;

/// Default ring sizes (bytes). Large enough for the window a 2-CPU guest
/// can fill; see Documentation/handoff.rst.
pub(crate) const SEND_RING: usize = 128 * 1024;
pub(crate) const RECV_RING: usize = 128 * 1024;

pub(crate) use crate::vnic::offload::{POST_REFS, SEND_REFS};

/// State shared by system calls, NAPI and the firmware's DMA; guarded by
/// the record's lock ([`Conn::lock`]).
pub(crate) struct Shared {
    /// Changed only through [`phase::enter`].
    pub(in crate::conn) phase: Phase,
    pub(crate) snd_head: u64,
    pub(crate) snd_sent: u64,
    pub(crate) snd_tail: u64,
    /// Ends of `send` references the NIC holds (a FIFO).
    pub(crate) snd_refs: [u64; SEND_REFS],
    pub(crate) snd_nrefs: usize,
    pub(crate) rcv_head: u64,
    pub(crate) rcv_tail: u64,
    pub(crate) rcv_posted: u64,
    pub(crate) post_refs: [u64; POST_REFS],
    pub(crate) post_nrefs: usize,
    /// Bytes consumed and not yet reported with `recvd`.
    pub(crate) rcv_unreported: u64,
    pub(crate) peer_fin: bool,
    /// `close`/`shutdown(SHUT_WR)`: send FIN once every byte is handed over.
    pub(crate) close_pending: bool,
    pub(crate) fin_sent: bool,
    /// A command could not be posted (ring full): retry from process context.
    pub(crate) need_push: bool,
    /// The NIC's live view, from its `info` event.
    pub(crate) info: Option<Snapshot>,
}

impl Shared {
    /// The connection's phase (changed only by [`phase::enter`]).
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Empty rings, in `phase`.
    pub(crate) fn fresh(phase: Phase) -> Self {
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
    pub(crate) fn cid(&self) -> u32 {
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
    /// The table a restored socket runs (the ULP's pending table for its
    /// family), chosen when the record is made.
    pub(crate) dormant_prot: *mut bindings::proto,
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
    /// fit in the receive ring: in order after it, as skbs (filled by NAPI
    /// under the NIC's table lock; drained by `handoff::install` once no
    /// NIC knows the connection).
    pub(crate) overflow: UnsafeCell<bindings::sk_buff_head>,
    pub(crate) done: UnsafeCell<bindings::completion>,
    /// Completed by the NIC's `info` event (`getsockopt(TCP_INFO)`).
    pub(crate) info_done: UnsafeCell<bindings::completion>,
    pub(crate) work: UnsafeCell<bindings::work_struct>,
    /// The state system calls, NAPI and the firmware's DMA share. Its lock
    /// nests inside the NIC's table lock (`vnic/offload.rs`), never the
    /// other way round.
    shared: BhSpinLock<Shared>,
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
    /// Entry in the namespace's registry of records (`conn/registry.rs`).
    pub(crate) link: UnsafeCell<bindings::list_head>,
}

// SAFETY: system calls, NAPI, the firmware thread and work items all reach
// a record. What they share is synchronised: `shared` by its own lock, the
// counters atomically, `overflow` under the NIC's table lock (and owned by
// the socket-lock holder once no NIC knows the connection), the
// completions and the work item by the kernel's own locking, `link` by the
// registry's lock. The raw pointers (`sk`, `net`, `base_prot`, `base_ops`,
// `dev`) and the rings are written only under the socket lock while no NIC
// knows the connection, and read by others only while it does.
unsafe impl Sync for Conn {}

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
            dormant_prot: ptr::null_mut(),
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
            shared: BhSpinLock::new(Shared::fresh(phase)),
            refs: AtomicU32::new(1),
            // SAFETY: an all-zero list_head is overwritten by the registry
            // (`conn::registry::register`) before use.
            link: UnsafeCell::new(unsafe { core::mem::zeroed() }),
        }
    }

    /// Initialises the completion and the work item at their final address.
    pub(crate) fn init_in_place(&self, work: unsafe extern "C" fn(*mut bindings::work_struct)) {
        // SAFETY: called once, right after the record is boxed, before any
        // other thread can see it.
        unsafe {
            self.shared.init(bindings::handoff_conn_lock_init);
            bindings::handoff_init_completion(self.done.get());
            bindings::handoff_init_completion(self.info_done.get());
            bindings::handoff_init_work(self.work.get(), Some(work));
            bindings::handoff_skb_queue_head_init(self.overflow.get());
        }
    }

    /// The record's socket.
    pub(crate) fn sock(&self) -> &Sock {
        // SAFETY: the record is the socket's ULP data, freed only when the
        // socket is destroyed: the socket outlives every borrow of the
        // record.
        unsafe { Sock::from_raw(self.sk) }
    }

    /// The NIC, for holders of the socket lock (see the field).
    pub(crate) fn nic(&self) -> Option<&Nic> {
        let p = self.nic.load(Ordering::Acquire);
        // SAFETY: a non-null `nic` comes with a device reference that keeps
        // the `Nic` alive; it is dropped only by `finish`, which runs under
        // the socket lock our callers hold.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Puts the base operations back.
    ///
    /// # Safety
    ///
    /// The caller holds the socket lock (or the socket is being destroyed).
    pub(crate) unsafe fn install_base(&self) {
        // SAFETY: by the contract; `base_prot` and `base_ops` are the
        // socket's own tables, saved when ours were installed.
        unsafe {
            bindings::handoff_set_sk_prot(self.sk, self.base_prot);
            let sock = (*self.sk).sk_socket;
            if !sock.is_null() && !self.base_ops.is_null() {
                bindings::handoff_set_sock_ops(sock, self.base_ops);
            }
        }
    }

    /// Puts the dormant table on a restored socket ([`Conn::dormant_prot`]).
    ///
    /// # Safety
    ///
    /// The caller holds the socket lock; the connection is restored.
    pub(crate) unsafe fn install_dormant(&self) {
        if !self.dormant_prot.is_null() {
            // SAFETY: by the contract; the table is static and complete.
            unsafe { bindings::handoff_set_sk_prot(self.sk, self.dormant_prot) };
        }
    }

    /// Locks the shared state.
    pub(crate) fn lock(&self) -> BhGuard<'_, Shared> {
        self.shared.lock()
    }

    pub(crate) fn stat(&self, s: Stat) {
        stats::inc(self.net, s);
    }

    pub(crate) fn ring(&self, region: Region) -> (*mut u8, usize) {
        let r = if region == Region::Send {
            &self.snd
        } else {
            &self.rcv
        };
        (r.as_ptr() as *mut u8, r.len())
    }
}

/// The ULP's operations: what `icsk_ulp_ops` points to on a socket that
/// carries a record. Set once, before the ULP is registered.
static ULP_OPS: AtomicPtr<bindings::tcp_ulp_ops> = AtomicPtr::new(ptr::null_mut());

/// Records the ULP's operations (`ulp::Registration`, before any socket
/// can carry them).
pub(crate) fn set_ulp_ops(ops: *const bindings::tcp_ulp_ops) {
    ULP_OPS.store(ops.cast_mut(), Ordering::Release);
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
        if (*icsk).icsk_ulp_ops != ULP_OPS.load(Ordering::Acquire) {
            return None;
        }
        let c = (*icsk).icsk_ulp_data.cast::<Conn>();
        (!c.is_null()).then_some(c)
    }
}

/// `cid` of a connection in a NIC table.
pub(crate) fn cid_of(c: &Conn) -> Option<u32> {
    c.lock().phase.cid()
}

/// Runs `f` on the locked shared state, with the connection's NIC if it
/// has one. Callers hold the socket lock, which orders them with `finish`
/// (which drops the NIC).
pub(crate) fn locked<R>(c: &Conn, f: impl FnOnce(&mut Shared, Option<&Nic>) -> R) -> R {
    f(&mut c.lock(), c.nic())
}

pub(crate) fn wake(c: &Conn, mask: u32) {
    c.sock().wake(mask);
}

pub(crate) fn nospace(c: &Conn) -> crate::sys::NoSpace {
    c.sock().nospace()
}

/// Wakes every waiter of the socket (its connection changed hands).
pub(crate) fn wake_all(c: &Conn) {
    wake(c, EPOLL_ALL);
}

pub(crate) fn set_sk_err(c: &Conn, errno: u32) {
    c.sock().set_error(errno);
}

pub(crate) fn schedule(c: &Conn) {
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

pub(crate) const EPOLLIN: u32 = bindings::POLLIN | bindings::POLLRDNORM;
pub(crate) const EPOLLOUT: u32 = bindings::POLLOUT | bindings::POLLWRNORM;
pub(crate) const EPOLL_ALL: u32 =
    EPOLLIN | EPOLLOUT | bindings::POLLERR | bindings::POLLHUP | bindings::POLLRDHUP;

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
        unsafe { put_record(self.0 as *mut Conn) };
    }
}

/// Concurrent native calls per socket whose task is remembered (a reader
/// and a writer, with room to spare).
pub(crate) const NATIVE_TASK_SLOTS: usize = 4;

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
        if r == eintr && registry::unloading() && !unsafe { bindings::handoff_task_sigpending() } {
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

/// Drops a reference to a record; the last one unregisters and frees it.
///
/// # Safety
///
/// `c` came from `ulp::new_record`; the caller owns one of its references.
pub(crate) unsafe fn put_record(c: *mut Conn) {
    // SAFETY: by the contract the record is alive until this reference
    // is gone.
    unsafe {
        if (*c).refs.fetch_sub(1, core::sync::atomic::Ordering::AcqRel) == 1 {
            crate::conn::registry::unregister(&*c);
            bindings::handoff_skb_queue_purge((*c).overflow.get());
            drop(KBox::from_raw(c));
        }
    }
}
