// SPDX-License-Identifier: GPL-2.0

//! Sockets: `struct sock` behind [`Sock`], its lock behind [`SockGuard`],
//! and a system call's message behind [`Msg`].

use core::ffi::{c_int, c_long, c_uint};
use core::ptr;

use kernel::prelude::*;
use kernel::types::Opaque;

use crate::bindings;

/// A TCP socket (`struct sock`, inside its `tcp_sock`).
///
/// # Invariants
///
/// A `&Sock` points at a live TCP socket for as long as it is borrowed
/// (the module only handles TCP sockets: those its ULP is attached to).
#[repr(transparent)]
pub(crate) struct Sock(Opaque<bindings::sock>);

/// The two halves of a socket's `sk_shutdown`.
#[derive(Clone, Copy)]
pub(crate) struct Shutdown(u8);

impl Shutdown {
    /// No more receiving (`SHUT_RD`, or the peer's FIN seen natively).
    pub(crate) fn rd(self) -> bool {
        self.0 & bindings::RCV_SHUTDOWN as u8 != 0
    }

    /// No more sending (`SHUT_WR`).
    pub(crate) fn wr(self) -> bool {
        self.0 & bindings::SEND_SHUTDOWN as u8 != 0
    }
}

impl Sock {
    /// # Safety
    ///
    /// `sk` points at a live socket for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(sk: *mut bindings::sock) -> &'a Sock {
        // SAFETY: `Sock` is a transparent wrapper of `struct sock`; the
        // contract gives the type invariant.
        unsafe { &*sk.cast::<Sock>() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.get()
    }

    /// Whether an error is pending (`sk_err`), read without the lock as
    /// native TCP's wait conditions read it.
    pub(crate) fn has_error(&self) -> bool {
        // SAFETY: the socket is live (type invariant); `sk_err` is an int
        // written and read locklessly by the socket layer.
        unsafe { ptr::read_volatile(&(*self.as_ptr()).sk_err) != 0 }
    }

    /// Sets the socket's pending error (`errno`, positive), as the stack
    /// does from softirq context before it wakes the socket.
    pub(crate) fn set_error(&self, errno: u32) {
        // SAFETY: as in `has_error`.
        unsafe { ptr::write_volatile(&mut (*self.as_ptr()).sk_err, errno as c_int) };
    }

    /// `sk_shutdown`, read without the lock (as `tcp_poll` does).
    pub(crate) fn shutdown(&self) -> Shutdown {
        // SAFETY: as in `has_error`; a byte read.
        Shutdown(unsafe { ptr::read_volatile(&(*self.as_ptr()).sk_shutdown) })
    }

    /// Marks the receiving side shut (the peer's FIN arrived on the NIC).
    pub(crate) fn shut_rd(&self) {
        // SAFETY: as in `has_error`; readers take any of the two values.
        unsafe { (*self.as_ptr()).sk_shutdown |= bindings::RCV_SHUTDOWN as u8 };
    }

    /// The socket's network namespace.
    pub(crate) fn net(&self) -> *mut bindings::net {
        // SAFETY: the socket is live (type invariant).
        unsafe { bindings::handoff_sock_net(self.as_ptr()) }
    }

    /// Wakes the socket's waiters for `mask` ([`super::sk_wake`]).
    pub(crate) fn wake(&self, mask: u32) {
        // SAFETY: the socket is live (type invariant).
        unsafe { super::sk_wake(self.as_ptr(), mask) };
    }

    /// The socket's `SOCK_NOSPACE` mark.
    pub(crate) fn nospace(&self) -> super::NoSpace {
        // SAFETY: the socket is live while the mark is used (it borrows
        // nothing longer than the caller's `&self`).
        unsafe { super::NoSpace::of(self.as_ptr()) }
    }

    /// Takes the socket lock (`lock_sock`; may sleep).
    pub(crate) fn lock(&self) -> SockGuard<'_> {
        // SAFETY: the socket is live (type invariant); process context is
        // the caller's (every caller is a system call or a work item).
        unsafe { bindings::handoff_lock_sock(self.as_ptr()) };
        // INVARIANT: locked just above.
        SockGuard(self)
    }
}

/// The socket lock (`lock_sock`), held for the life of the value.
///
/// # Invariants
///
/// The current task holds the lock of `self.0`.
pub(crate) struct SockGuard<'a>(&'a Sock);

impl core::ops::Deref for SockGuard<'_> {
    type Target = Sock;
    fn deref(&self) -> &Sock {
        self.0
    }
}

impl Drop for SockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken in `Sock::lock` (type invariant).
        unsafe { bindings::release_sock(self.0.as_ptr()) };
    }
}

impl<'a> SockGuard<'a> {
    /// The socket's TCP state, for reading.
    pub(crate) fn tcp(&self) -> &bindings::tcp_sock {
        // SAFETY: a TCP socket (type invariant of `Sock`) is the first
        // member of its `tcp_sock`; the lock keeps writers out.
        unsafe { &*self.as_ptr().cast::<bindings::tcp_sock>() }
    }

    /// The socket's connection-level state, for reading.
    pub(crate) fn icsk(&self) -> &bindings::inet_connection_sock {
        // SAFETY: as in `tcp`; a `tcp_sock` starts with its
        // `inet_connection_sock`.
        unsafe { &*self.as_ptr().cast::<bindings::inet_connection_sock>() }
    }

    /// A socket filter is attached.
    pub(crate) fn has_filter(&self) -> bool {
        // SAFETY: locked, live socket; the pointer is only compared.
        !unsafe { (*self.as_ptr()).sk_filter }.is_null()
    }

    /// `SO_KEEPALIVE` is on.
    pub(crate) fn keepalive_on(&self) -> bool {
        self.flag(bindings::sock_flags_SOCK_KEEPOPEN)
    }

    /// The socket's connection state (`TCP_ESTABLISHED`, ...).
    pub(crate) fn state(&self) -> u32 {
        // SAFETY: locked, live socket.
        u32::from(unsafe { (*self.as_ptr()).__sk_common.skc_state })
    }

    /// The peer's FIN was received natively (`SOCK_DONE`).
    pub(crate) fn done(&self) -> bool {
        self.flag(bindings::sock_flags_SOCK_DONE)
    }

    /// The peer's IPv6 address is an IPv4-mapped one (`::ffff:a.b.c.d`).
    pub(crate) fn peer_v4_mapped(&self) -> bool {
        // SAFETY: locked, live socket; `in6_addr` is 16 plain bytes.
        let a: [u8; 16] =
            unsafe { core::mem::transmute((*self.as_ptr()).__sk_common.skc_v6_daddr) };
        a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff
    }

    /// The lock a caller up the stack holds (a callback the socket layer
    /// calls under it), lent for the call: it is not released when the
    /// value goes.
    ///
    /// # Safety
    ///
    /// The current task holds the lock of `sock` for the life of the value.
    pub(crate) unsafe fn already_locked(sock: &'a Sock) -> core::mem::ManuallyDrop<Self> {
        // INVARIANT: by the contract.
        core::mem::ManuallyDrop::new(SockGuard(sock))
    }

    /// Takes the pending error: `-errno`, or 0 (`sock_error`).
    pub(crate) fn take_error(&self) -> c_int {
        // SAFETY: locked, live socket (type invariant).
        unsafe { bindings::handoff_sock_error(self.as_ptr()) }
    }

    /// The send timeout of this call (0 if `nonblock`).
    pub(crate) fn sndtimeo(&self, nonblock: bool) -> c_long {
        // SAFETY: as in `take_error`.
        unsafe { bindings::handoff_sock_sndtimeo(self.as_ptr(), nonblock) }
    }

    /// The receive timeout of this call (0 if `nonblock`).
    pub(crate) fn rcvtimeo(&self, nonblock: bool) -> c_long {
        // SAFETY: as in `take_error`.
        unsafe { bindings::handoff_sock_rcvtimeo(self.as_ptr(), nonblock) }
    }

    fn flag(&self, flag: u32) -> bool {
        // SAFETY: as in `take_error`.
        unsafe { bindings::handoff_sock_flag(self.as_ptr(), flag as c_int) }
    }

    /// `SO_LINGER` with a zero time: close resets the connection.
    pub(crate) fn linger_zero(&self) -> bool {
        // SAFETY: as in `take_error`; a plain field of the locked socket.
        self.flag(bindings::sock_flags_SOCK_LINGER)
            && unsafe { (*self.as_ptr()).sk_lingertime } == 0
    }

    /// `SO_KEEPALIVE` is on: its idle time in ms.
    pub(crate) fn keepalive_ms(&self) -> Option<u64> {
        self.flag(bindings::sock_flags_SOCK_KEEPOPEN)
            .then(|| self.keepalive_time_ms())
    }

    /// The TCP keepalive idle time in ms (`keepalive_time_when`).
    pub(crate) fn keepalive_time_ms(&self) -> u64 {
        // SAFETY: as in `take_error`; a TCP socket (every socket this
        // module locks is one) is a `tcp_sock`.
        unsafe {
            u64::from(bindings::jiffies_to_msecs(
                bindings::handoff_keepalive_time_when(self.as_ptr().cast()) as _,
            ))
        }
    }

    /// `TCP_NODELAY` is set.
    pub(crate) fn nodelay(&self) -> bool {
        // SAFETY: as in `keepalive_time_ms`.
        unsafe { (*self.as_ptr().cast::<bindings::tcp_sock>()).nonagle() & 1 != 0 }
    }

    /// Stops the host's TCP timers (the NIC runs the connection).
    pub(crate) fn clear_xmit_timers(&self) {
        // SAFETY: as in `keepalive_time_ms`.
        unsafe { bindings::handoff_tcp_clear_xmit_timers(self.as_ptr()) };
    }

    /// Writing after the send side closed: `-EPIPE`, and `SIGPIPE` unless
    /// `MSG_NOSIGNAL` is in `flags` (`sk_stream_error`).
    pub(crate) fn epipe(&self, flags: u32) -> c_int {
        // SAFETY: as in `take_error`.
        unsafe {
            bindings::sk_stream_error(self.as_ptr(), flags as c_int, -(bindings::EPIPE as c_int))
        }
    }

    /// What `tcp_close` does to a socket the NIC will finish: both sides
    /// shut, orphaned (no `struct socket` any more) and counted as an
    /// orphan until it is destroyed (`inet_csk_destroy_sock` uncounts it).
    pub(crate) fn orphan(&self) {
        // SAFETY: as in `take_error`.
        unsafe {
            (*self.as_ptr()).sk_shutdown = bindings::SHUTDOWN_MASK as u8;
            bindings::handoff_sock_orphan(self.as_ptr());
            bindings::handoff_orphan_count_inc(self.as_ptr());
        }
    }

    /// Sleeps until `cond` holds, with the lock released while asleep (the
    /// shape of `sk_wait_event`): `EAGAIN` once `timeo` runs out, the
    /// signal's errno on a signal. `timeo` keeps what is left.
    pub(crate) fn wait(&mut self, timeo: &mut c_long, mut cond: impl FnMut() -> bool) -> Result {
        let sk = self.as_ptr();
        // SAFETY: an all-zero entry is overwritten by the init call below.
        let mut wait: bindings::wait_queue_entry = unsafe { core::mem::zeroed() };
        // SAFETY: `wait` lives on this stack frame until it is removed
        // below; `sk` is locked and live (type invariant).
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
            // SAFETY: we hold the lock (type invariant) and retake it before
            // `cond` runs again, so the invariant holds again on return.
            // `wait` is queued.
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
}

/// The message of a `sendmsg`/`recvmsg` call: its flags and its data
/// iterator.
///
/// # Invariants
///
/// `self.0` is the call's `msghdr`, valid and used by no one else for the
/// life of the value.
pub(crate) struct Msg(*mut bindings::msghdr);

impl Msg {
    /// # Safety
    ///
    /// `m` is the `msghdr` of the running system call, which gives it to us
    /// for as long as the value lives.
    pub(crate) unsafe fn from_raw(m: *mut bindings::msghdr) -> Self {
        Msg(m)
    }

    /// The `MSG_*` flags of `sendmsg` (`recvmsg` passes them separately).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: valid `msghdr` (type invariant).
        unsafe { (*self.0).msg_flags }
    }

    /// Copies up to `n` bytes of the caller's data to `dst`; how many.
    ///
    /// # Safety
    ///
    /// `dst` is valid for `n` bytes of writes and nobody else accesses
    /// them meanwhile.
    pub(crate) unsafe fn copy_from_user(&mut self, dst: *mut u8, n: usize) -> usize {
        // SAFETY: by the contract and the type invariant.
        unsafe { bindings::handoff_copy_from_iter(dst.cast(), n, &mut (*self.0).msg_iter) }
    }

    /// Copies up to `n` bytes from `src` to the caller; how many.
    ///
    /// # Safety
    ///
    /// `src` is valid for `n` bytes of reads and nobody writes them
    /// meanwhile.
    pub(crate) unsafe fn copy_to_user(&mut self, src: *const u8, n: usize) -> usize {
        // SAFETY: by the contract and the type invariant.
        unsafe { bindings::handoff_copy_to_iter(src.cast(), n, &mut (*self.0).msg_iter) }
    }
}
