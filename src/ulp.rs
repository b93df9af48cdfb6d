// SPDX-License-Identifier: GPL-2.0

//! The `handoff` TCP ULP and the protocol tables it swaps in (the kTLS
//! recipe: per-family copies of the base `proto`/`proto_ops` with the
//! operations we take over replaced; `sk_prot` and `sk_socket->ops` are
//! switched with WRITE_ONCE under the socket lock).
//!
//! Three ways onto a socket:
//! - `setsockopt(fd, IPPROTO_TCP, TCP_ULP, "handoff")` on an established
//!   socket: [`ulp_init`] hands it off at once; a refusal is the errno.
//! - the accept policy (`accept.rs`): the socket gets the *pending*
//!   protocol, and is handed off by its first system call
//!   ([`pending_enter`]); a refusal leaves it native, without the ULP.
//! - after a handoff, the *bypass* protocol (`bypass/`).
//!
//! `release` (socket destruction) frees the record and puts the base
//! protocol back.

use core::ffi::{c_int, c_long};
use core::ptr;
use core::sync::atomic::Ordering;

use kernel::alloc::{flags, KBox};
use kernel::prelude::*;

use crate::bindings;
use crate::bypass;
use crate::conn::Conn;
use crate::conn::Phase;
use crate::cstatic::CStatic;
use crate::errno;

const V4: usize = 0;
const V6: usize = 1;

// SAFETY: an all-zero `tcp_ulp_ops` has no callbacks and no name;
// `Registration::new` fills it in before registering it.
const NO_ULP: bindings::tcp_ulp_ops = unsafe { core::mem::zeroed() };
// SAFETY: an all-zero `proto` is an inert table (no callbacks);
// `Registration::new` copies the base protocol into it before publishing.
const NO_PROTO: bindings::proto = unsafe { core::mem::zeroed() };
// SAFETY: as for `NO_PROTO`; the IPv6 table is built before first use
// (`install_bypass`).
const NO_OPS: bindings::proto_ops = unsafe { core::mem::zeroed() };

static ULP: CStatic<bindings::tcp_ulp_ops> = CStatic::new(NO_ULP);
static BYPASS_PROT: [CStatic<bindings::proto>; 2] =
    [CStatic::new(NO_PROTO), CStatic::new(NO_PROTO)];
static PENDING_PROT: [CStatic<bindings::proto>; 2] =
    [CStatic::new(NO_PROTO), CStatic::new(NO_PROTO)];
static BYPASS_OPS: [CStatic<bindings::proto_ops>; 2] = [CStatic::new(NO_OPS), CStatic::new(NO_OPS)];
/// `BYPASS_OPS[V6]` is built from the first IPv6 socket's ops
/// (`inet6_stream_ops` is not exported).
static V6_OPS_BUILT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// Serialises building `BYPASS_OPS[V6]`.
// SAFETY: an all-zero spinlock is initialised by `Registration::new`
// before any use.
static V6_OPS_LOCK: CStatic<bindings::spinlock_t> = CStatic::new(unsafe { core::mem::zeroed() });

fn family_of(base: *const bindings::proto) -> Option<usize> {
    if ptr::eq(base, ptr::addr_of!(bindings::tcp_prot)) {
        Some(V4)
    } else if ptr::eq(base, ptr::addr_of!(bindings::tcpv6_prot)) {
        Some(V6)
    } else {
        None
    }
}

/// True if `sk` runs plain TCP (IPv4 or IPv6), the only base we stack on.
///
/// # Safety
///
/// `sk` is a live socket.
pub(crate) unsafe fn is_plain_tcp(sk: *mut bindings::sock) -> bool {
    // SAFETY: by the contract.
    family_of(unsafe { (*sk).__sk_common.skc_prot }).is_some()
}

fn build_bypass_prot(base: &bindings::proto) -> bindings::proto {
    let mut p = *base;
    p.close = Some(bypass::bypass_close);
    p.sendmsg = Some(bypass::bypass_sendmsg);
    p.recvmsg = Some(bypass::bypass_recvmsg);
    p.shutdown = Some(bypass::bypass_shutdown);
    p.setsockopt = Some(bypass::bypass_setsockopt);
    p.getsockopt = Some(bypass::bypass_getsockopt);
    p.keepalive = Some(bypass::bypass_keepalive);
    p.ioctl = Some(bypass::bypass_ioctl);
    p.disconnect = Some(bypass_disconnect);
    // These act on the (parked) host TCP state; the NIC does the work.
    p.splice_eof = None;
    p.release_cb = None;
    p
}

fn build_pending_prot(base: &bindings::proto) -> bindings::proto {
    let mut p = *base;
    p.close = Some(pending_close);
    p.sendmsg = Some(pending_sendmsg);
    p.recvmsg = Some(pending_recvmsg);
    p.ioctl = Some(pending_ioctl);
    p.shutdown = Some(pending_shutdown);
    p
}

fn build_bypass_ops(base: &bindings::proto_ops) -> bindings::proto_ops {
    let mut o = *base;
    o.poll = Some(bypass::bypass_poll);
    // Reads go through recvmsg: copy_splice_read() is the fallback for a
    // NULL splice_read; the zero-copy and sockmap paths read the host queue.
    o.splice_read = None;
    o.read_sock = None;
    o.read_skb = None;
    o.sendmsg_locked = None;
    o.peek_len = None;
    o.set_rcvlowat = None;
    o.mmap = Some(bindings::sock_no_mmap);
    o
}

unsafe extern "C" fn bypass_disconnect(_sk: *mut bindings::sock, _flags: c_int) -> c_int {
    errno::EOPNOTSUPP().to_errno()
}

/// Switches `c`'s socket to the bypass operations.
///
/// # Safety
///
/// The caller holds the socket lock; `c` was just handed off.
unsafe fn install_bypass(c: &mut Conn) {
    let Some(fam) = family_of(c.base_prot) else {
        return;
    };
    let sk = c.sk;
    // SAFETY: by the contract; the tables are static and complete.
    unsafe {
        bindings::handoff_set_sk_prot(sk, BYPASS_PROT[fam].get());
        let sock = (*sk).sk_socket;
        if !sock.is_null() {
            c.base_ops = (*sock).ops;
            if fam == V6 && !V6_OPS_BUILT.load(Ordering::Acquire) {
                bindings::handoff_spin_lock_bh(V6_OPS_LOCK.get());
                if !V6_OPS_BUILT.load(Ordering::Relaxed) {
                    *BYPASS_OPS[V6].get() = build_bypass_ops(&*c.base_ops);
                    V6_OPS_BUILT.store(true, Ordering::Release);
                }
                bindings::handoff_spin_unlock_bh(V6_OPS_LOCK.get());
            }
            bindings::handoff_set_sock_ops(sock, BYPASS_OPS[fam].get());
        }
    }
}

/// A new record for `sk`, boxed at its final address and registered in
/// its namespace; its one reference is the socket's.
pub(crate) fn new_record(
    sk: *mut bindings::sock,
    phase: Phase,
    gfp: kernel::alloc::Flags,
) -> Result<*mut Conn> {
    let mut c = KBox::new(Conn::new(sk, phase), gfp)?;
    // A restored socket runs native TCP through the pending table: its
    // calls decide under the socket lock (`pending_enter`) whether the
    // connection is on a NIC, so none can slip into native TCP on a socket
    // a concurrent re-handoff just parked (base `tcp_sendmsg` would queue
    // the data there, where nothing sends it).
    c.dormant_prot = family_of(c.base_prot).map_or(ptr::null_mut(), |f| PENDING_PROT[f].get());
    c.init_in_place(crate::handoff::events::conn_work);
    crate::conn::registry::register(&c);
    Ok(KBox::into_raw(c))
}

/// Attaches the ULP to an accepted socket in the *pending* state (atomic
/// context: the accept kretprobe). `false` if it could not.
///
/// # Safety
///
/// `sk` is a live plain-TCP socket without a ULP, not yet visible to the
/// application.
pub(crate) unsafe fn attach_pending(sk: *mut bindings::sock) -> bool {
    let Ok(c) = new_record(sk, Phase::Pending, flags::GFP_ATOMIC) else {
        return false;
    };
    // SAFETY: by the contract; the record and tables are complete.
    unsafe {
        let fam = family_of((*sk).__sk_common.skc_prot).unwrap_or(V4);
        let icsk = sk.cast::<bindings::inet_connection_sock>();
        (*icsk).icsk_ulp_data = c.cast();
        (*icsk).icsk_ulp_ops = ULP.get();
        bindings::handoff_set_sk_prot(sk, PENDING_PROT[fam].get());
    }
    true
}

/// Marks a restored socket for handoff at its next system call (the
/// `offload` knob). Its connection stays native until then, so a system
/// call already asleep in native TCP is not stranded.
///
/// # Safety
///
/// The caller holds the socket lock; `c` is the socket's record, restored.
pub(crate) unsafe fn install_pending(c: &mut Conn) {
    let Some(fam) = family_of(c.base_prot) else {
        return;
    };
    // SAFETY: by the contract; no NIC knows the connection.
    unsafe {
        crate::conn::phase::reset(c, Phase::Pending);
        bindings::handoff_set_sk_prot(c.sk, PENDING_PROT[fam].get());
    }
}

/// Removes the ULP from a socket that stays on the host (refused, or
/// closed before its handoff).
///
/// # Safety
///
/// The caller holds the socket lock; no NIC knows the connection.
pub(crate) unsafe fn detach(sk: *mut bindings::sock) {
    // SAFETY: by the contract.
    unsafe {
        let icsk = sk.cast::<bindings::inet_connection_sock>();
        let c = (*icsk).icsk_ulp_data.cast::<Conn>();
        if c.is_null() {
            return;
        }
        (*c).install_base();
        (*icsk).icsk_ulp_ops = ptr::null();
        (*icsk).icsk_ulp_data = ptr::null_mut();
        crate::conn::put_record(c);
    }
}

/// Hands off a pending socket: `Ok` once on the NIC or while the handoff
/// must wait (it stays pending, `EAGAIN` from `handoff::offload`); on a
/// refusal the ULP is removed and the socket stays native.
///
/// # Safety
///
/// As for `handoff::offload`; `c` is the record of the locked `c.sk`,
/// which the caller must not use after an error (it is freed).
pub(crate) unsafe fn offload_or_detach(c: &mut Conn) -> Result {
    let sk = c.sk;
    // SAFETY: by the contract.
    match unsafe { crate::handoff::offload(c) } {
        Err(e) if e == EAGAIN => Ok(()),
        Err(e) => {
            // SAFETY: locked socket that no NIC knows.
            unsafe { detach(sk) };
            Err(e)
        }
        // SAFETY: by the contract; just handed off.
        Ok(()) => Ok(unsafe { handed_off(c) }),
    }
}

/// `handoff::offload` succeeded: the socket switches to the bypass
/// operations, then the connection enters `Offloaded` (which wakes every
/// waiter to re-evaluate its readiness against them).
///
/// # Safety
///
/// The caller holds the socket lock; `c` is its record, just handed off.
unsafe fn handed_off(c: &mut Conn) {
    // SAFETY: by the contract.
    unsafe { install_bypass(c) };
    if let Some(nic) = c.nic() {
        crate::handoff::events::start(c, nic);
    }
}

/// The base protocol a pending table stands in for.
fn base_of_pending(prot: *const bindings::proto) -> Option<*mut bindings::proto> {
    if ptr::eq(prot, PENDING_PROT[V4].get()) {
        Some(ptr::addr_of_mut!(bindings::tcp_prot))
    } else if ptr::eq(prot, PENDING_PROT[V6].get()) {
        Some(ptr::addr_of_mut!(bindings::tcpv6_prot))
    } else {
        None
    }
}

/// Hands off a pending socket if it still is; on refusal it stays native,
/// and one whose handoff must wait (not yet established, or another call
/// sleeps in native TCP) stays pending. Returns, with the socket still
/// locked, the protocol that serves this call: the bypass after a handoff,
/// base TCP otherwise, never the pending table (calling it again would
/// recurse).
///
/// # Safety
///
/// `sk` is live and runs the pending protocol (or did until a concurrent
/// caller handed it off or detached it).
unsafe fn pending_enter(sk: *mut bindings::sock) -> *mut bindings::proto {
    // SAFETY: by the contract.
    unsafe {
        bindings::handoff_lock_sock(sk);
        offload_locked(sk)
    }
}

/// `pending_enter` for a caller that already holds the socket lock.
///
/// # Safety
///
/// As for `pending_enter`; the caller holds the socket lock.
unsafe fn offload_locked(sk: *mut bindings::sock) -> *mut bindings::proto {
    // SAFETY: by the contract.
    unsafe {
        // Segments that arrived while we own the socket wait in its
        // backlog, the final ACK of a child accepted in SYN_RECV among
        // them: process them natively first, as release_sock would.
        bindings::handoff_sk_flush_backlog(sk);
        let icsk = sk.cast::<bindings::inet_connection_sock>();
        let c = (*icsk).icsk_ulp_data.cast::<Conn>();
        let established = u32::from((*sk).__sk_common.skc_state) != bindings::TCP_SYN_RECV;
        if established
            && (*icsk).icsk_ulp_ops == ULP.get()
            && !c.is_null()
            && crate::conn::phase::phase_locked(&*c) == Phase::Pending
        {
            // Not now (EAGAIN): it stays pending and this call is served
            // natively; a refusal was counted and the socket stays native.
            let _ = offload_or_detach(&mut *c);
        }
        let prot = (*sk).__sk_common.skc_prot;
        base_of_pending(prot).unwrap_or(prot)
    }
}

/// Counts a call `pending_enter` lets through to base TCP (socket still
/// locked), so no handoff happens under it once the lock is let go.
fn native_call<'a>(
    serve: *const bindings::proto,
    held: Option<&'a Conn>,
) -> Option<crate::conn::NativeCall<'a>> {
    held.filter(|_| family_of(serve).is_some())
        .map(crate::conn::NativeCall::enter)
}

unsafe extern "C" fn pending_sendmsg(
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    len: usize,
) -> c_int {
    // SAFETY: called by the socket layer on a live socket; `serve` is the
    // bypass or the base protocol.
    unsafe {
        let held = crate::conn::conn_of(sk).map(crate::conn::Held::new);
        let serve = pending_enter(sk);
        if family_of(serve).is_some() {
            // Native TCP, without letting go of the lock: a handoff cannot
            // slip in before the data is queued (`tcp_sendmsg` is this
            // call between lock_sock and release_sock).
            let native = native_call(serve, held.as_deref());
            let r = bindings::tcp_sendmsg_locked(sk, m, len);
            bindings::release_sock(sk);
            return native.map_or(r, |n| n.result(r));
        }
        bindings::release_sock(sk);
        ((*serve).sendmsg.expect("sendmsg"))(sk, m, len)
    }
}

unsafe extern "C" fn pending_recvmsg(
    sk: *mut bindings::sock,
    m: *mut bindings::msghdr,
    len: usize,
    flags: c_int,
    addr_len: *mut c_int,
) -> c_int {
    // SAFETY: as in `pending_sendmsg`.
    unsafe {
        let held = crate::conn::conn_of(sk).map(crate::conn::Held::new);
        let serve = pending_enter(sk);
        let native = native_call(serve, held.as_deref());
        bindings::release_sock(sk);
        let r = ((*serve).recvmsg.expect("recvmsg"))(sk, m, len, flags, addr_len);
        native.as_ref().map_or(r, |n| n.result(r))
    }
}

unsafe extern "C" fn pending_ioctl(sk: *mut bindings::sock, cmd: c_int, karg: *mut c_int) -> c_int {
    // SAFETY: as in `pending_sendmsg`.
    unsafe {
        let held = crate::conn::conn_of(sk).map(crate::conn::Held::new);
        let serve = pending_enter(sk);
        let _native = native_call(serve, held.as_deref());
        bindings::release_sock(sk);
        ((*serve).ioctl.expect("ioctl"))(sk, cmd, karg)
    }
}

/// `shutdown(2)`, called by `inet_shutdown` with the socket locked and
/// `sk_shutdown` already set: hand the socket off first, as its other
/// calls do. Served natively, the FIN would take it past the states a
/// handoff can move (ESTABLISHED, CLOSE_WAIT), and a server that shuts
/// down its write side before its first read would stay on the host.
unsafe extern "C" fn pending_shutdown(sk: *mut bindings::sock, how: c_int) {
    // SAFETY: called by the socket layer on a live, locked socket; `serve`
    // is the bypass or the base protocol, both with a shutdown handler.
    unsafe {
        let _held = crate::conn::conn_of(sk).map(crate::conn::Held::new);
        let serve = offload_locked(sk);
        ((*serve).shutdown.expect("shutdown"))(sk, how)
    }
}

unsafe extern "C" fn pending_close(sk: *mut bindings::sock, timeout: c_long) {
    // SAFETY: called by the socket layer on a live socket never handed
    // off, or restored (no NIC knows it).
    unsafe {
        let _held = crate::conn::conn_of(sk).map(crate::conn::Held::new);
        bindings::handoff_lock_sock(sk);
        let base = crate::conn::conn_of(sk).map(|c| c.base_prot);
        detach(sk);
        bindings::release_sock(sk);
        let base = base.unwrap_or((*sk).__sk_common.skc_prot);
        ((*base).close.expect("close"))(sk, timeout);
    }
}

/// `setsockopt(TCP_ULP, "handoff")`: hand the socket off now (socket locked
/// by the caller). A refusal is returned and the socket stays native.
unsafe extern "C" fn ulp_init(sk: *mut bindings::sock) -> c_int {
    // SAFETY: tcp_set_ulp calls us with a live, locked TCP socket.
    if !unsafe { is_plain_tcp(sk) } {
        return errno::EOPNOTSUPP().to_errno();
    }
    let c = match new_record(sk, Phase::Pending, flags::GFP_KERNEL) {
        Ok(c) => c,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: the record is ours; tcp_set_ulp publishes the ULP after we
    // return 0, and the data must be in place before our protocol runs.
    unsafe {
        let icsk = sk.cast::<bindings::inet_connection_sock>();
        (*icsk).icsk_ulp_data = c.cast();
        match crate::handoff::offload(&mut *c) {
            Ok(()) => {
                handed_off(&mut *c);
                0
            }
            Err(e) => {
                (*icsk).icsk_ulp_data = ptr::null_mut();
                crate::conn::put_record(c);
                e.to_errno()
            }
        }
    }
}

/// Socket destruction (`tcp_cleanup_ulp`).
unsafe extern "C" fn ulp_release(sk: *mut bindings::sock) {
    // SAFETY: called once per socket carrying our ULP, while it is
    // destroyed; the record is ours.
    unsafe {
        let icsk = sk.cast::<bindings::inet_connection_sock>();
        let c = (*icsk).icsk_ulp_data.cast::<Conn>();
        if c.is_null() {
            return;
        }
        (*icsk).icsk_ulp_data = ptr::null_mut();
        if let Some(nic) = (*c).nic() {
            // Cannot happen while we hold a socket reference for the NIC;
            // never leave the NIC pointing at freed memory if it does.
            pr_err!("socket destroyed while offloaded; aborting its NIC connection\n");
            let g = nic.offload.lock();
            nic.offload.remove_pending(&g, &*c);
            if let Some(cid) = crate::conn::cid_of(&*c) {
                nic.offload.unlink(&g, cid, &*c);
            }
            drop(g);
            bindings::handoff_dev_put((*c).dev);
        }
        (*c).install_base();
        crate::conn::put_record(c);
    }
}

/// Registration of the ULP and protocol tables; undone on drop.
pub(crate) struct Registration(());

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: module init is single-threaded and none of the tables is
        // visible yet; tcp_prot/tcpv6_prot/inet_stream_ops are the kernel's
        // (read-only use).
        unsafe {
            *BYPASS_PROT[V4].get() = build_bypass_prot(&*ptr::addr_of!(bindings::tcp_prot));
            *BYPASS_PROT[V6].get() = build_bypass_prot(&*ptr::addr_of!(bindings::tcpv6_prot));
            *PENDING_PROT[V4].get() = build_pending_prot(&*ptr::addr_of!(bindings::tcp_prot));
            *PENDING_PROT[V6].get() = build_pending_prot(&*ptr::addr_of!(bindings::tcpv6_prot));
            *BYPASS_OPS[V4].get() = build_bypass_ops(&*ptr::addr_of!(bindings::inet_stream_ops));
            bindings::handoff_spin_lock_init(V6_OPS_LOCK.get());
            let u = &mut *ULP.get();
            let name = b"handoff\0";
            for (d, s) in u.name.iter_mut().zip(name.iter()) {
                *d = *s as _;
            }
            // No module reference per socket (tcp_set_ulp takes one from
            // `owner`): unloading restores every connection and detaches
            // the ULP instead (`control::shutdown`).
            u.owner = ptr::null_mut();
            u.init = Some(ulp_init);
            u.release = Some(ulp_release);
            crate::conn::set_ulp_ops(ULP.get());
            kernel::error::to_result(bindings::tcp_register_ulp(ULP.get()))?;
        }
        REGISTERED.store(true, Ordering::Release);
        Ok(Registration(()))
    }
}

static REGISTERED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

impl Registration {
    /// Unregisters the ULP now: no new `setsockopt(TCP_ULP)` finds it.
    /// Sockets that carry it keep working until `control::shutdown`
    /// detaches them. Idempotent (also done on drop).
    pub(crate) fn stop(&self) {
        if REGISTERED.swap(false, core::sync::atomic::Ordering::AcqRel) {
            // SAFETY: registered in `new`, unregistered once.
            unsafe { bindings::tcp_unregister_ulp(ULP.get()) };
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop();
    }
}
