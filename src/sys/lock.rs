// SPDX-License-Identifier: GPL-2.0

//! A spinlock taken with bottom halves disabled, guarding its data the way
//! `kernel::sync::SpinLock` does (a guard that hands out `&mut T` through
//! `DerefMut`). The kernel crate's lock takes plain `spin_lock`, which a
//! lock NAPI also takes (softirq) cannot use.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use kernel::types::Opaque;

use crate::bindings;

/// `spin_lock_bh` around a `T`.
///
/// # Invariants
///
/// `lock` was initialised by [`BhSpinLock::init`] before the first
/// [`BhSpinLock::lock`]; `data` is only reached through a [`BhGuard`].
pub(crate) struct BhSpinLock<T> {
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises every access to `data`, from any thread.
unsafe impl<T: Send> Sync for BhSpinLock<T> {}
// SAFETY: moving the lock moves its data; it is initialised only at its
// final address (`init`), after which it is not moved.
unsafe impl<T: Send> Send for BhSpinLock<T> {}

impl<T> BhSpinLock<T> {
    /// A lock to be initialised with [`BhSpinLock::init`] once at its final
    /// address.
    pub(crate) const fn new(data: T) -> Self {
        BhSpinLock {
            lock: Opaque::uninit(),
            data: UnsafeCell::new(data),
        }
    }

    /// Initialises the spinlock. `init` is a `spin_lock_init` shim: each
    /// call site of the macro is its own lockdep class, so each kind of
    /// lock has its own shim.
    ///
    /// # Safety
    ///
    /// Called once, at the value's final address, before any `lock` and
    /// while no other thread can reach the value.
    pub(crate) unsafe fn init(&self, init: unsafe extern "C" fn(*mut bindings::spinlock_t)) {
        // SAFETY: by the contract.
        unsafe { init(self.lock.get()) };
    }

    /// Takes the lock (any context; bottom halves stay disabled until the
    /// guard goes).
    pub(crate) fn lock(&self) -> BhGuard<'_, T> {
        // SAFETY: initialised (type invariant).
        unsafe { bindings::handoff_spin_lock_bh(self.lock.get()) };
        // INVARIANT: locked just above.
        BhGuard(self)
    }
}

/// The lock of a [`BhSpinLock`], held for the life of the value.
///
/// # Invariants
///
/// The current thread holds `self.0`'s lock.
pub(crate) struct BhGuard<'a, T>(&'a BhSpinLock<T>);

impl<T> Deref for BhGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held (type invariant): no one else reaches
        // the data.
        unsafe { &*self.0.data.get() }
    }
}

impl<T> DerefMut for BhGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.0.data.get() }
    }
}

impl<T> Drop for BhGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: held (type invariant).
        unsafe { bindings::handoff_spin_unlock_bh(self.0.lock.get()) };
    }
}
