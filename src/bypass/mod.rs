// SPDX-License-Identifier: GPL-2.0

//! The bypass layer (paper §3.1): the protocol operations of a socket whose
//! connection runs on the NIC.
//!
//! An offloaded socket keeps its user data in the two host rings of its
//! record (`conn/rings.rs`); each system call turns into commands on the
//! NIC's command ring (`conn/commands.rs`), and each event from the NIC
//! (`handoff/events.rs`) moves the ring positions and wakes the socket's
//! waiters. The host `tcp_sock` stays parked: hashed (so `ss` lists it and
//! its port stays owned), timers stopped, and every segment that still
//! reaches it dropped (`handoff/capture.rs`).

use core::ffi::{c_int, c_long, c_uint};

use kernel::prelude::*;

use crate::bindings;
use crate::conn::commands::*;
use crate::conn::phase::*;
use crate::conn::rings::*;
use crate::conn::*;
use crate::errno;
use crate::firmware::msg;
use crate::stats::Stat;
use crate::sys::{Msg, Sock, SockGuard};

/// `SIOCINQ` and `SIOCOUTQ` are `FIONREAD` and `TIOCOUTQ` (asm-generic
/// ioctls, macros bindgen does not see).
const SIOCINQ: u32 = 0x541b;
const SIOCOUTQ: u32 = 0x5411;

/// The record of a socket running our protocol.
///
/// # Safety
///
/// `sk` is a live socket whose `sk_prot` is one of ours.
unsafe fn record(sk: *mut bindings::sock) -> Held {
    // SAFETY: our protocols are only installed on sockets carrying our ULP
    // record, and removed before the record is freed.
    Held::new(
        unsafe { crate::conn::conn_of(sk) }.expect("bypass protocol on a socket without record"),
    )
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
    // protocol and the call's message.
    let (held, mut msg) = unsafe { (record(sk), Msg::from_raw(m)) };
    let c: &Conn = &held;
    c.stat(Stat::BypassSendmsg);
    let flags = msg.flags();
    if flags & bindings::MSG_OOB != 0 {
        return errno::EOPNOTSUPP().to_errno();
    }
    let (outcome, native) = {
        let mut sock = c.sock().lock();
        let outcome = send_locked(c, &mut sock, &mut msg, size, flags);
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
                r if copied > 0 => {
                    // This call reports the bytes it took; a socket error
                    // native TCP consumed (`sock_error`) is the next
                    // call's, as it would have been on a native socket.
                    if let Some(e) = consumed_socket_error(r) {
                        c.sock().set_error(e);
                    }
                    copied as c_int
                }
                r => native.as_ref().map_or(r, |n| n.result(r)),
            }
        }
    }
}

/// The errno of a connection error that `tcp_sendmsg` took from `sk_err`
/// and returned as `r`: the errors TCP posts there (a reset, a refusal, a
/// timeout, an ICMP unreachable). Its own failures (`EPIPE`, `EAGAIN`,
/// `EFAULT`, a signal's) are not socket errors.
fn consumed_socket_error(r: c_int) -> Option<u32> {
    let e = r.checked_neg().filter(|&e| e > 0)? as u32;
    let posted = [
        bindings::ECONNRESET,
        bindings::ECONNREFUSED,
        bindings::ECONNABORTED,
        bindings::ETIMEDOUT,
        bindings::EHOSTUNREACH,
        bindings::ENETUNREACH,
        bindings::EHOSTDOWN,
        bindings::ENETDOWN,
    ];
    posted.contains(&e).then_some(e)
}

fn send_locked(
    c: &Conn,
    sock: &mut SockGuard<'_>,
    msg: &mut Msg,
    size: usize,
    flags: u32,
) -> Outcome {
    let mut timeo = sock.sndtimeo(flags & bindings::MSG_DONTWAIT != 0);
    let mut copied = 0usize;
    loop {
        // As `tcp_sendmsg_locked`: bytes already copied are reported, and
        // the error stays for the next call (checked before a restored
        // socket's remainder goes to native TCP, which would take it).
        if copied > 0 && sock.has_error() {
            return Outcome::Done(copied as c_int);
        }
        if phase_locked(c) == Phase::Restored {
            return Outcome::Native(copied);
        }
        let cap = c.snd.len() as u64;
        let err = sock.take_error();
        if err != 0 {
            return Outcome::Done(err);
        }
        let shut = sock.shutdown().wr();
        let (space, tail, closed) = locked(c, |s, _| {
            (
                cap - (s.snd_tail - s.snd_head),
                s.snd_tail,
                !s.phase().is_offloaded() || s.close_pending || s.fin_sent,
            )
        });
        if closed || shut {
            if copied > 0 {
                return Outcome::Done(copied as c_int);
            }
            return Outcome::Done(sock.epipe(flags));
        }
        if copied == size {
            return Outcome::Done(copied as c_int);
        }
        if space == 0 {
            // Before the wait looks at the ring: an ack after that look
            // sees the mark and wakes us.
            nospace(c).set();
            let sk = c.sock();
            let r = sock.wait(&mut timeo, || {
                sk.has_error()
                    || locked(c, |s, _| {
                        s.snd_tail - s.snd_head < cap || !s.phase().is_offloaded()
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
        // reads only `[head, sent)`, and the socket lock keeps other calls
        // out) and `off + n` is inside the ring.
        let got = unsafe { msg.copy_from_user(c.snd.as_ptr().add(off) as *mut u8, n) };
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
        // SAFETY: the call's message.
        let mut msg = unsafe { Msg::from_raw(m) };
        let mut sock = c.sock().lock();
        let outcome = recv_locked(c, &mut sock, &mut msg, len, uflags);
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

fn recv_locked(
    c: &Conn,
    sock: &mut SockGuard<'_>,
    msg: &mut Msg,
    len: usize,
    flags: u32,
) -> Outcome {
    let peek = flags & bindings::MSG_PEEK != 0;
    let mut timeo = sock.rcvtimeo(flags & bindings::MSG_DONTWAIT != 0);
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
            let shut_rd = sock.shutdown().rd();
            (
                s.rcv_tail.saturating_sub(head),
                head,
                s.peer_fin || s.phase().is_released() || shut_rd,
            )
        });
        if avail > 0 && copied < len {
            let off = ring_off(head, cap) as usize;
            let n = (avail as usize).min(len - copied).min(c.rcv.len() - off);
            // SAFETY: `[head, tail)` of the receive ring is filled and only
            // we consume it (socket lock); `off + n` is inside the ring.
            let got = unsafe { msg.copy_to_user(c.rcv.as_ptr().add(off), n) };
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
        // As `tcp_recvmsg_locked`: bytes already copied are reported, and
        // the error stays for the next call.
        if copied > 0 && sock.has_error() {
            return Outcome::Done(copied as c_int);
        }
        let err = sock.take_error();
        if err != 0 {
            return Outcome::Done(err);
        }
        if done {
            return Outcome::Done(copied as c_int);
        }
        let sk = c.sock();
        let r = sock.wait(&mut timeo, || {
            sk.has_error()
                || locked(c, |s, _| {
                    s.rcv_tail > s.rcv_head + skip
                        || s.peer_fin
                        || matches!(s.phase(), Phase::Released { .. } | Phase::Restored)
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
    // SAFETY: live socket (the caller's file holds it).
    let sko = unsafe { Sock::from_raw(sk) };
    // Our ops imply our record until they are switched back, under the
    // socket lock taken here.
    let lock = sko.lock();
    // SAFETY: live socket, locked.
    let Some(held) = (unsafe { crate::conn::conn_of(sk) }).map(Held::new) else {
        return bindings::POLLERR;
    };
    let c: &Conn = &held;
    c.stat(Stat::BypassPoll);
    if phase_locked(c) == Phase::Restored {
        // Restored since the caller looked up our ops: ask native TCP.
        drop(lock);
        // SAFETY: arguments from the socket layer; the socket runs native
        // TCP again.
        return unsafe { bindings::tcp_poll(file, sock, wait) };
    }
    let (shutdown, err) = (sko.shutdown(), sko.has_error());
    let rd_shut = shutdown.rd();
    let mut mask = locked(c, |s, _| {
        let mut mask = 0;
        let gone = s.phase().is_released();
        let wr_shut = shutdown.wr() || s.fin_sent || s.close_pending;
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
    if err {
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
    let sock = c.sock().lock();
    let linger0 = sock.linger_zero();
    let on_nic = locked(c, |s, nic| {
        let Some(nic) = nic.filter(|_| s.phase().is_offloaded()) else {
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
        if locked(c, |s, nic| s.phase().is_released() && nic.is_some()) {
            // SAFETY: locked above, and `held` keeps the record; the
            // application has not closed the socket, so `finish` does not
            // destroy it.
            unsafe { crate::handoff::finish(c) };
        }
        // The host socket is closed (or in TIME_WAIT); native close tears
        // it down.
        // SAFETY: locked above.
        unsafe { c.install_base() };
        let base = c.base_prot;
        // The base close takes the lock itself.
        drop(sock);
        // SAFETY: the base protocol's close, with the caller's arguments.
        unsafe { ((*base).close.expect("tcp close"))(sk, timeout) };
        return;
    }
    // The NIC finishes the connection; `finish` destroys the orphan then.
    sock.orphan();
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
        // `tcp_get_info` below takes the lock itself.
        let _lock = c.sock().lock();
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
    let sock = c.sock().lock();
    // The base handler may have armed host timers (keepalive): the parked
    // socket must run none.
    sock.clear_xmit_timers();
    let cmd = match optname as u32 {
        bindings::TCP_NODELAY => Some((msg::CtrlCmd::NoDelay, u64::from(sock.nodelay()))),
        bindings::TCP_KEEPIDLE => sock.keepalive_ms().map(|a| (msg::CtrlCmd::KeepAlive, a)),
        _ => None,
    };
    if let Some((cmd, arg)) = cmd {
        locked(c, |s, nic| {
            if let (Some(nic), true) = (nic, s.phase().is_offloaded()) {
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
    // SAFETY: `sock_setsockopt` holds the socket lock around this call.
    let sock = unsafe { SockGuard::already_locked(c.sock()) };
    let arg = if valbool != 0 {
        sock.keepalive_time_ms()
    } else {
        0
    };
    locked(c, |s, nic| {
        if let (Some(nic), true) = (nic, s.phase().is_offloaded()) {
            let _ = ctrl(c, s, nic, msg::CtrlCmd::KeepAlive, arg);
        }
    });
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
        let _lock = c.sock().lock();
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
