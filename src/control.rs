// SPDX-License-Identifier: GPL-2.0

//! Operator control of individual connections: the namespace's registry of
//! sockets that carry the `handoff` ULP, and the write-only sysctls
//! `net.handoff.restore` and `net.handoff.offload` that take connections
//! back to the host or hand them (again) to the NIC (Documentation/
//! sysctl.rst).
//!
//! A selector is `all`, a socket cookie (decimal, or hex with `0x`), or a
//! 4-tuple `LOCAL REMOTE`, each `addr:port` (`[addr]:port` for IPv6).

use core::cell::UnsafeCell;
use core::ffi::{c_int, c_void};
use core::ptr;

use kernel::alloc::{flags::GFP_KERNEL, KVec};
use kernel::prelude::*;

use crate::bindings;
use crate::bypass::{self, Conn, Phase};
use crate::errno;

/// Every record (every socket carrying our ULP), in all namespaces.
struct Registry {
    lock: UnsafeCell<bindings::spinlock_t>,
    head: UnsafeCell<bindings::list_head>,
    /// Records on the list.
    count: core::sync::atomic::AtomicUsize,
}

// SAFETY: the list is only touched under `lock`.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    // SAFETY: all-zero is a valid pre-init spinlock/list head; `init` runs
    // first thing at module load.
    lock: UnsafeCell::new(unsafe { core::mem::zeroed() }),
    // SAFETY: as above.
    head: UnsafeCell::new(unsafe { core::mem::zeroed() }),
    count: core::sync::atomic::AtomicUsize::new(0),
};

/// Initialises the registry (module init, before anything can register).
pub(crate) fn init() {
    // SAFETY: module init is single-threaded and nothing uses it yet.
    unsafe {
        bindings::handoff_spin_lock_init(REGISTRY.lock.get());
        bindings::handoff_init_list_head(REGISTRY.head.get());
    }
}

fn with<R>(f: impl FnOnce(*mut bindings::list_head) -> R) -> R {
    // SAFETY: initialised by `init`; the lock serialises the list.
    unsafe { bindings::handoff_spin_lock_bh(REGISTRY.lock.get()) };
    let r = f(REGISTRY.head.get());
    // SAFETY: taken above.
    unsafe { bindings::handoff_spin_unlock_bh(REGISTRY.lock.get()) };
    r
}

/// Adds a new record (any context).
pub(crate) fn register(c: &Conn) {
    with(|head| {
        // SAFETY: `c.link` is not on any list yet; the lock is held.
        unsafe { bindings::handoff_list_add_tail(c.link.get(), head) };
        REGISTRY
            .count
            .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    });
}

/// Removes a record before it is freed (any context).
pub(crate) fn unregister(c: &Conn) {
    with(|_| {
        // SAFETY: `c.link` is on the list; the lock is held.
        unsafe { bindings::handoff_list_del_init(c.link.get()) };
        REGISTRY
            .count
            .fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
    });
}

/// What a selector names.
#[derive(Clone, Copy)]
enum Selector {
    All,
    Cookie(u64),
    Tuple {
        v6: bool,
        local: [u8; 16],
        lport: u16,
        remote: [u8; 16],
        rport: u16,
    },
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    let (digits, radix) = match s {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        _ => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = (b as char).to_digit(radix)?;
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// `addr:port` or `[addr]:port`.
fn parse_endpoint(s: &[u8]) -> Option<(bool, [u8; 16], u16)> {
    let (addr, port, v6) = if let Some(rest) = s.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']')?;
        let port = rest.get(close + 1..)?.strip_prefix(b":")?;
        (&rest[..close], port, true)
    } else {
        let colon = s.iter().rposition(|&b| b == b':')?;
        (&s[..colon], &s[colon + 1..], false)
    };
    let port = u16::try_from(parse_u64(port).filter(|&p| p > 0 && p < 65536)?).ok()?;
    let mut out = [0u8; 16];
    let mut end: *const core::ffi::c_char = ptr::null();
    // SAFETY: `addr` is a valid buffer of its length; the parsers write at
    // most 4 / 16 bytes to `out` and stop at the given length.
    let ok = unsafe {
        if v6 {
            bindings::in6_pton(
                addr.as_ptr().cast(),
                addr.len() as c_int,
                out.as_mut_ptr(),
                -1,
                &mut end,
            )
        } else {
            bindings::in4_pton(
                addr.as_ptr().cast(),
                addr.len() as c_int,
                out.as_mut_ptr(),
                -1,
                &mut end,
            )
        }
    };
    (ok == 1 && end == addr.as_ptr().wrapping_add(addr.len()).cast()).then_some((v6, out, port))
}

fn parse(input: &[u8]) -> Result<Selector> {
    let s = input.strip_suffix(b"\n").unwrap_or(input);
    let s = s.trim_ascii();
    if s == b"all" {
        return Ok(Selector::All);
    }
    if let Some(v) = parse_u64(s) {
        return Ok(Selector::Cookie(v));
    }
    let mut parts = s
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let (Some(l), Some(r), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(EINVAL);
    };
    let (lv6, local, lport) = parse_endpoint(l).ok_or(EINVAL)?;
    let (rv6, remote, rport) = parse_endpoint(r).ok_or(EINVAL)?;
    if lv6 != rv6 {
        return Err(EINVAL);
    }
    Ok(Selector::Tuple {
        v6: lv6,
        local,
        lport,
        remote,
        rport,
    })
}

/// # Safety
///
/// `sk` is a live socket.
unsafe fn matches(sel: &Selector, sk: *mut bindings::sock) -> bool {
    match *sel {
        Selector::All => true,
        // The cookie exists once someone asked for it (ss, SO_COOKIE): a
        // selector can only name a cookie that was shown. Zero means none.
        // SAFETY: by the contract; skc_cookie is an atomic64_t.
        Selector::Cookie(v) => v != 0 && unsafe { cookie_of(sk) } == v,
        Selector::Tuple {
            v6,
            local,
            lport,
            remote,
            rport,
        } => {
            // SAFETY: by the contract; plain-data unions of the socket.
            unsafe {
                let common = &(*sk).__sk_common;
                let ports = &common.__bindgen_anon_3.__bindgen_anon_1;
                if ports.skc_num != lport || u16::from_be(ports.skc_dport) != rport {
                    return false;
                }
                if v6 {
                    let l: [u8; 16] = core::mem::transmute(common.skc_v6_rcv_saddr);
                    let r: [u8; 16] = core::mem::transmute(common.skc_v6_daddr);
                    l == local && r == remote
                } else {
                    let a = &common.__bindgen_anon_1.__bindgen_anon_1;
                    a.skc_rcv_saddr.to_ne_bytes() == local[..4]
                        && a.skc_daddr.to_ne_bytes() == remote[..4]
                }
            }
        }
    }
}

/// Held sockets of the registry that `sel` names in `net` (any namespace
/// if `net` is null).
/// Calls `f` on every registered record, under the registry lock, until it
/// returns `false`; `true` if it saw them all. `f` runs in atomic context.
fn each_record(mut f: impl FnMut(&Conn) -> bool) -> bool {
    with(|head| {
        // SAFETY: the lock is held; every entry is the `link` of a live
        // record whose socket is alive (records leave the list before
        // their socket's last reference is dropped).
        unsafe {
            let mut p = (*head).next;
            while p != head {
                if !f(&*(p as *const u8)
                    .sub(core::mem::offset_of!(Conn, link))
                    .cast::<Conn>())
                {
                    return false;
                }
                p = (*p).next;
            }
        }
        true
    })
}

fn collect(net: *mut bindings::net, sel: &Selector) -> Result<KVec<*mut bindings::sock>> {
    let mut cap = 64;
    loop {
        let mut out = KVec::with_capacity(cap, GFP_KERNEL)?;
        let complete = each_record(|c| {
            // SAFETY: a registered record's socket is alive (see above).
            if (net.is_null() || c.net == net) && unsafe { matches(sel, c.sk) } {
                if out.len() == out.capacity() {
                    return false;
                }
                // SAFETY: as above.
                unsafe { bindings::handoff_sock_hold(c.sk) };
                let _ = out.push(c.sk, kernel::alloc::flags::GFP_ATOMIC);
            }
            true
        });
        if complete {
            return Ok(out);
        }
        for &sk in out.iter() {
            // SAFETY: held above.
            unsafe { bindings::handoff_sock_put(sk) };
        }
        cap *= 4;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Restore,
    Offload,
}

/// Stops feeding the NIC new data for `sk` (a restore follows).
///
/// # Safety
///
/// `sk` is live (held by the caller).
unsafe fn pre_quiesce(sk: *mut bindings::sock) {
    // SAFETY: by the contract.
    unsafe {
        bindings::handoff_lock_sock(sk);
        if let Some(c) = bypass::conn_of(sk) {
            if let Some(nic) = c.nic() {
                bypass::pre_quiesce(c, nic);
            }
        }
        bindings::release_sock(sk);
    }
}

/// Applies `op` to one socket (process context).
///
/// # Safety
///
/// `sk` is live (held by the caller).
unsafe fn apply_one(op: Op, sk: *mut bindings::sock) -> Result {
    // SAFETY: by the contract.
    unsafe { bindings::handoff_lock_sock(sk) };
    // SAFETY: locked; our ULP's record if the ULP is still ours.
    let r = match unsafe { bypass::record_ptr(sk) } {
        None => Err(ENOENT),
        Some(c) => {
            // SAFETY: the record is ours and the socket is locked.
            unsafe {
                let c = &mut *c;
                match (op, c.nic().is_some(), bypass::phase_locked(c)) {
                    (Op::Restore, true, Phase::Offloaded { .. }) => crate::handoff::restore(c),
                    (Op::Restore, _, _) => Err(errno::EALREADY()),
                    (Op::Offload, false, Phase::Restored) => {
                        crate::ulp::install_pending(c);
                        // At once, unless a system call is in native TCP
                        // on it: then at its next call (`ulp.rs`).
                        crate::ulp::offload_or_detach(c)
                    }
                    (Op::Offload, _, _) => Err(errno::EALREADY()),
                }
            }
        }
    };
    // SAFETY: locked above.
    unsafe { bindings::release_sock(sk) };
    r
}

fn apply(net: *mut bindings::net, op: Op, input: &[u8]) -> Result {
    let sel = parse(input)?;
    let socks = collect(net, &sel)?;
    if op == Op::Restore && socks.len() > 1 {
        // Let every NIC flight drain at once before restoring one by one.
        for &sk in socks.iter() {
            // SAFETY: held by `collect`.
            unsafe { pre_quiesce(sk) };
        }
    }
    let mut result = if matches!(sel, Selector::All) {
        Ok(())
    } else {
        Err(ENOENT)
    };
    let mut any_ok = false;
    for &sk in socks.iter() {
        // SAFETY: held by `collect`.
        let r = unsafe { apply_one(op, sk) };
        // SAFETY: as above.
        unsafe { bindings::handoff_sock_put(sk) };
        match (&sel, r) {
            (_, Ok(())) => any_ok = true,
            // `all` acts on what it can; refusals are counted.
            (Selector::All, Err(_)) => {}
            (_, Err(e)) => result = Err(e),
        }
    }
    if any_ok && !matches!(sel, Selector::All) {
        result = Ok(());
    }
    result
}

/// `proc_handler` of `net.handoff.restore` and `net.handoff.offload`
/// (write-only; `extra1` is the namespace, `extra2` non-null for offload).
///
/// # Safety
///
/// Called by the sysctl core only, with a kernel buffer of `*lenp` bytes.
pub(crate) unsafe extern "C" fn proc_control(
    ctl: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    if write == 0 {
        return EPERM.to_errno();
    }
    // SAFETY: by the contract.
    let (len, pos, net, offload) = unsafe {
        (
            *lenp,
            *ppos,
            (*ctl).extra1.cast::<bindings::net>(),
            !(*ctl).extra2.is_null(),
        )
    };
    if pos != 0 || len == 0 || len > 256 {
        return EINVAL.to_errno();
    }
    // SAFETY: `buffer` holds `len` bytes.
    let input = unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), len) };
    match apply(net, if offload { Op::Offload } else { Op::Restore }, input) {
        Ok(()) => {
            // SAFETY: valid pointers (contract).
            unsafe { *ppos += len as bindings::loff_t };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Restores every offloaded connection on `nic` (device going down):
/// process context, RTNL held by the caller.
pub(crate) fn restore_device(nic: &crate::vnic::Nic) -> u32 {
    let mut n = 0;
    loop {
        let socks = nic.offload.held_sockets();
        if socks.is_empty() {
            return n;
        }
        for &sk in socks.iter() {
            // SAFETY: held by `held_sockets`.
            unsafe { pre_quiesce(sk) };
        }
        let mut progress = false;
        for &sk in socks.iter() {
            // SAFETY: held by `held_sockets`.
            if unsafe { apply_one(Op::Restore, sk) }.is_ok() {
                n += 1;
                progress = true;
            }
            // SAFETY: as above.
            unsafe { bindings::handoff_sock_put(sk) };
        }
        if !progress {
            return n;
        }
    }
}

/// The socket's cookie, 0 if nobody asked for one yet (`SO_COOKIE`, `ss`).
///
/// # Safety
///
/// `sk` is a live socket.
unsafe fn cookie_of(sk: *mut bindings::sock) -> u64 {
    // SAFETY: by the contract; skc_cookie is an atomic64_t.
    (unsafe { ptr::read_volatile(&(*sk).__sk_common.skc_cookie.counter) }) as u64
}

/// A route changed in `net` (`route.rs`): each of the namespace's
/// offloaded connections whose route no longer leaves through the hnic
/// device running it comes back to the host, and stays there until
/// `net.handoff.offload` hands it to the device its route now uses.
/// Process context.
pub(crate) fn route_changed(net: *mut bindings::net) {
    let Ok(socks) = collect(net, &Selector::All) else {
        return;
    };
    for &sk in socks.iter() {
        // SAFETY: held by `collect`; the record is used under the socket
        // lock, as everywhere.
        unsafe {
            bindings::handoff_lock_sock(sk);
            if let Some(c) = bypass::record_ptr(sk) {
                let c = &mut *c;
                if c.nic().is_some()
                    && bypass::phase_locked(c).is_offloaded()
                    && !crate::handoff::route_still_via_nic(c)
                {
                    let cookie = cookie_of(sk);
                    match crate::handoff::restore(c) {
                        Ok(()) => pr_info!("route of connection {} left its hnic device: restored to the host\n", cookie),
                        Err(e) => pr_warn!("route of connection {} left its hnic device; restore failed: error {}\n",
                            cookie, e.to_errno()),
                    }
                }
            }
            bindings::release_sock(sk);
            bindings::handoff_sock_put(sk);
        }
    }
}

/// Set once module unload has started (`shutdown`).
static UNLOADING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether module unload has started.
pub(crate) fn unloading() -> bool {
    UNLOADING.load(core::sync::atomic::Ordering::Acquire)
}

/// Interrupts every system call still asleep in native TCP from inside our
/// code (`bypass::kick_native_calls`); returns how many records had one.
fn kick_native_calls() -> usize {
    let mut n = 0;
    each_record(|c| {
        // SAFETY: called under the registry lock with `c` registered.
        if unsafe { bypass::kick_native_calls(c) } {
            n += 1;
        }
        true
    });
    n
}

/// Module unload: every connection comes back to the host, every socket
/// loses the ULP, and no system call is left in our code when this
/// returns. The accept probe and the ULP are already unregistered.
pub(crate) fn shutdown() {
    UNLOADING.store(true, core::sync::atomic::Ordering::Release);
    let mut restored = 0u32;
    loop {
        let Ok(socks) = collect(ptr::null_mut(), &Selector::All) else {
            break;
        };
        if socks.is_empty() {
            break;
        }
        // A record a system call still holds stays registered after its
        // socket lets go of it: once a pass finds only those, the wait
        // below (which sleeps) takes over from this loop (which does not).
        let mut detached = false;
        for &sk in socks.iter() {
            // SAFETY: held by `collect`.
            unsafe {
                bindings::handoff_lock_sock(sk);
                if let Some(c) = bypass::record_ptr(sk) {
                    detached = true;
                    let c = &mut *c;
                    if c.nic().is_some() && bypass::phase_locked(c).is_offloaded() {
                        if crate::handoff::restore(c).is_ok() {
                            restored += 1;
                        }
                    }
                    crate::handoff::hand_back_buffered(c);
                    crate::ulp::detach(sk);
                }
                bindings::release_sock(sk);
                bindings::handoff_sock_put(sk);
            }
        }
        if !detached {
            break;
        }
    }
    if restored > 0 {
        pr_info!(
            "{} offloaded connection(s) restored to the host before unload\n",
            restored
        );
    }
    // A caller that read one of our operation pointers before it was
    // switched back has entered our code by the end of a grace period
    // (no preemption point in between) and holds a record reference
    // (`bypass::Held`): wait for those to drain.
    // SAFETY: plain RCU barrier.
    unsafe { bindings::synchronize_rcu() };
    // A call asleep in native TCP (a reader the restore woke and sent on
    // natively, say) would keep us waiting for its data: interrupt it, and
    // keep doing so, as calls may still be on their way into native TCP.
    let mut waited = 0u32;
    let mut kicked = 0usize;
    while REGISTRY.count.load(core::sync::atomic::Ordering::Acquire) > 0 {
        kicked = kicked.max(kick_native_calls());
        // SAFETY: sleeping is fine in module exit.
        unsafe { bindings::msleep(10) };
        waited += 1;
        if waited % 500 == 0 {
            pr_warn!(
                "unload waits for {} system call(s) still in the bypass layer\n",
                REGISTRY.count.load(core::sync::atomic::Ordering::Relaxed)
            );
        }
    }
    if kicked > 0 {
        pr_info!(
            "system calls asleep in native TCP on {} socket(s) restarted outside the module\n",
            kicked
        );
    }
}
