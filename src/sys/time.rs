// SPDX-License-Identifier: GPL-2.0

//! Clocks and sleeping. Every function here has no precondition but the
//! one its name states (sleeping needs process context).

use crate::bindings;

/// The monotonic clock, ns (`ktime_get_ns`).
pub(crate) fn ktime_ns() -> u64 {
    // SAFETY: reads the clock; any context.
    unsafe { bindings::handoff_ktime_get_ns() }
}

/// TCP's clock, ns (`tcp_clock_ns`: `local_clock`, per CPU).
pub(crate) fn tcp_clock_ns() -> u64 {
    // SAFETY: reads the clock; any context.
    unsafe { bindings::handoff_tcp_clock_ns() }
}

/// TCP's seconds clock (`tcp_seconds`, for `ts_recent_stamp`).
pub(crate) fn tcp_seconds() -> u32 {
    // SAFETY: reads the clock; any context.
    unsafe { bindings::handoff_tcp_seconds() }
}

/// `tcp_jiffies32`.
pub(crate) fn tcp_jiffies32() -> u32 {
    // SAFETY: reads a global counter; any context.
    unsafe { bindings::handoff_tcp_jiffies32() }
}

/// Sleeps at least `ms` milliseconds (`msleep`). Process context only: a
/// caller in atomic context would be a bug the kernel reports
/// (`might_sleep`).
pub(crate) fn msleep(ms: u32) {
    // SAFETY: sleeping is memory-safe; see above for the context.
    unsafe { bindings::msleep(ms) };
}
