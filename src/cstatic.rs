// SPDX-License-Identifier: GPL-2.0

//! A static whose storage is handed to C, which may write it.

use core::cell::UnsafeCell;

/// Storage for a C structure that must live at a fixed address for the
/// module's lifetime (ops tables the kernel links into its own lists).
///
/// Rust never forms references to the contents once C may see them; it only
/// passes the raw pointer from [`CStatic::get`].
#[repr(transparent)]
pub(crate) struct CStatic<T>(UnsafeCell<T>);

// SAFETY: the contents are only reached through raw pointers given to C,
// which serialises its own accesses (under `pernet_ops_rwsem` for pernet
// operations), and from module init/exit, which never run concurrently.
unsafe impl<T> Sync for CStatic<T> {}

impl<T> CStatic<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The address C sees.
    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}
