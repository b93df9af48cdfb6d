// SPDX-License-Identifier: GPL-2.0

//! The offload policy of a network namespace: which accepted connections to
//! hand off, and how many at most. Set through `net.handoff.{enabled,ports,
//! max_conns}` (documented in Documentation/sysctl.rst), read lock-free on
//! the accept path.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use kernel::prelude::*;

use crate::bindings;
use crate::netns;
use crate::text::{self, PortSpec, Range};

/// A namespace's policy, embedded in its `NetState`. All-zero is the
/// initial state (disabled, no port, no limit) except for `Ports::lock`,
/// which [`Policy::init`] initialises.
pub(crate) struct Policy {
    /// `net.handoff.enabled`: 0 or 1, written by `proc_dointvec_minmax`.
    pub(crate) enabled: AtomicI32,
    /// `net.handoff.max_conns`: 0 (no limit) ..= [`MAX_CONNS`], written by
    /// `proc_dointvec_minmax`.
    pub(crate) max_conns: AtomicI32,
    /// `net.handoff.ports`.
    pub(crate) ports: Ports,
}

/// Largest `net.handoff.max_conns`.
pub(crate) const MAX_CONNS: i32 = 1 << 24;

impl Policy {
    /// Finishes initialising a zeroed policy at its final address.
    ///
    /// # Safety
    ///
    /// Called once, before the policy is shared (in `net_init`).
    pub(crate) unsafe fn init(&mut self) {
        // SAFETY: the lock is at its final address and unused yet
        // (contract).
        unsafe { bindings::handoff_spin_lock_init(self.ports.lock.get()) };
    }
}

/// The set of local ports whose accepted connections are offloaded.
///
/// Lookups are lock-free: an `all` flag and a bitmap of 65536 bits, read
/// with atomic loads. Writers serialise on `lock` and publish the new
/// bitmap word by word, so a lookup that races with a write sees, for each
/// port, either the old or the new setting. A port in both the old and the
/// new set matches throughout: a switch to `all` only sets the flag (the
/// bitmap is ignored while it is set), a switch to a list first writes the
/// bitmap, then clears the flag with release ordering.
pub(crate) struct Ports {
    all: AtomicBool,
    bits: [AtomicU64; text::WORDS],
    /// Serialises writers, and readers of the whole set (the sysctl read).
    lock: UnsafeCell<bindings::spinlock_t>,
}

/// `Ports::lock` held, released on drop.
struct Guard<'a>(&'a Ports);

impl Ports {
    fn lock(&self) -> Guard<'_> {
        // SAFETY: `Policy::init` initialised the lock before the policy was
        // shared. BH is disabled for good measure; the critical sections
        // are short and never sleep.
        unsafe { bindings::handoff_spin_lock_bh(self.lock.get()) };
        Guard(self)
    }

    /// Whether `port` is in the set. Lock-free; any context.
    pub(crate) fn contains(&self, port: u16) -> bool {
        // Acquire pairs with the release in `set`: once the flag reads
        // clear from a list write, that write's bitmap is visible.
        if self.all.load(Ordering::Acquire) {
            return true;
        }
        let p = usize::from(port);
        self.bits[p / 64].load(Ordering::Relaxed) & (1u64 << (p % 64)) != 0
    }

    /// Replaces the set by `spec`, whose list entries are in `ranges`.
    pub(crate) fn set(&self, spec: PortSpec, ranges: &[Range]) {
        let _guard = self.lock();
        match spec {
            PortSpec::All => self.all.store(true, Ordering::Release),
            PortSpec::List(n) => {
                let ranges = &ranges[..n];
                for (w, word) in self.bits.iter().enumerate() {
                    word.store(text::bitmap_word(ranges, w), Ordering::Relaxed);
                }
                self.all.store(false, Ordering::Release);
            }
        }
    }

    /// Writes the normalized text of the set to `out` (see
    /// [`text::format_ports`]); returns its length. `ERANGE` if it does not
    /// fit, which cannot happen with `text::MAX_LEN` bytes.
    pub(crate) fn format(&self, out: &mut [u8]) -> Result<usize> {
        let _guard = self.lock();
        let all = self.all.load(Ordering::Relaxed);
        text::format_ports(all, |w| self.bits[w].load(Ordering::Relaxed), out).map_err(|_| ERANGE)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard exists only while `lock` holds the spinlock.
        unsafe { bindings::handoff_spin_unlock_bh(self.0.lock.get()) };
    }
}

/// The policy of `net`.
///
/// `net` must be a live namespace (for instance `sock_net()` of a socket
/// the caller holds) while the module's pernet operations are registered.
fn of<'a>(net: *const bindings::net) -> &'a Policy {
    // SAFETY: by this module's API contract (see the function docs) `net` is
    // live and has our `NetState`, which stays allocated until the namespace
    // is freed; the policy is only mutated through atomics and its lock.
    unsafe { &(*netns::net_state(net)).policy }
}

/// True if an accepted connection on `local_port` in `net` should be
/// offloaded: `net.handoff.enabled` is 1 and `net.handoff.ports` contains
/// the port. Lock-free; callable in atomic context.
///
/// `net` must be a live namespace, e.g. `sock_net()` of the listener.
// Used by the bypass layer.
#[allow(dead_code)]
pub(crate) fn offload_on_accept(net: *const bindings::net, local_port: u16) -> bool {
    let policy = of(net);
    policy.enabled.load(Ordering::Relaxed) != 0 && policy.ports.contains(local_port)
}

/// The namespace's `net.handoff.max_conns` (0 = unlimited). Lock-free.
///
/// `net` must be a live namespace.
pub(crate) fn max_conns(net: *const bindings::net) -> u32 {
    // Never negative: `proc_dointvec_minmax` keeps it in 0..=MAX_CONNS.
    of(net).max_conns.load(Ordering::Relaxed) as u32
}
