// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace statistics, shown as `/proc/net/handoff_stat`
//! (documented in Documentation/sysctl.rst).
//!
//! The counters live in the namespace's `NetState`, zeroed by the pernet
//! machinery. Updates are relaxed atomic additions: lock-free, callable from
//! process and softirq context alike.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

use crate::bindings;
use crate::netns;
use crate::text;

macro_rules! stats {
    ($($id:ident => $name:literal,)*) => {
        /// One statistic of a namespace. Names and order are stable: they
        /// are the lines of `/proc/net/handoff_stat`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub(crate) enum Stat { $($id,)* }

        impl Stat {
            /// Every statistic, in order.
            pub(crate) const ALL: &'static [Stat] = &[$(Stat::$id,)*];

            /// Number of statistics.
            pub(crate) const COUNT: usize = Self::ALL.len();

            /// The lowercase snake_case name shown in `/proc/net/handoff_stat`.
            pub(crate) const fn name(self) -> &'static str {
                match self { $(Stat::$id => $name,)* }
            }
        }
    };
}

stats! {
    Offloaded => "offloaded",
    HandoffAttempts => "handoff_attempts",
    Handoffs => "handoffs",
    RefusedNoConnSlot => "refused_no_conn_slot",
    RefusedDuplicate => "refused_duplicate",
    RefusedBadSnapshot => "refused_bad_snapshot",
    RefusedNoRefs => "refused_no_refs",
    RefusedMaxConns => "refused_max_conns",
    RefusedNoDevice => "refused_no_device",
    RefusedDeviceDown => "refused_device_down",
    RefusedNoNeighbour => "refused_no_neighbour",
    RefusedState => "refused_state",
    RefusedFilter => "refused_filter",
    RefusedNoMemory => "refused_no_memory",
    RefusedTimeout => "refused_timeout",
    AcceptPolicyMatched => "accept_policy_matched",
    NicReleased => "nic_released",
    NicResets => "nic_resets",
    TxBytes => "tx_bytes",
    RxBytes => "rx_bytes",
    BypassSendmsg => "bypass_sendmsg",
    BypassRecvmsg => "bypass_recvmsg",
    BypassPoll => "bypass_poll",
    BypassClose => "bypass_close",
    BypassShutdown => "bypass_shutdown",
    BypassSetsockopt => "bypass_setsockopt",
    BypassIoctl => "bypass_ioctl",
    CmdSend => "cmd_send",
    CmdPost => "cmd_post",
    CmdRecvd => "cmd_recvd",
    CmdCtrl => "cmd_ctrl",
    EvtRecv => "evt_recv",
    EvtAck => "evt_ack",
    EvtCtrl => "evt_ctrl",
    RacingSegmentsDropped => "racing_segments_dropped",
    Restores => "restores",
    RestoreFailures => "restore_failures",
    NicRestoreRequests => "nic_restore_requests",
}

/// A namespace's counters. All-zero is the initial state.
#[repr(transparent)]
pub(crate) struct Stats([AtomicU64; Stat::COUNT]);

impl Stats {
    fn counter(&self, s: Stat) -> &AtomicU64 {
        &self.0[s as usize]
    }
}

/// The counters of `net`.
///
/// `net` must be a live namespace (for instance `sock_net()` of a socket
/// the caller holds, or `dev_net()` of a registered device) while the
/// module's pernet operations are registered.
fn of<'a>(net: *const bindings::net) -> &'a Stats {
    // SAFETY: by this module's API contract (see the function docs) `net` is
    // live and has our `NetState`, which stays allocated until the namespace
    // is freed; the counters are atomics, so shared references are fine.
    unsafe { &(*netns::net_state(net)).stats }
}

/// Adds `n` to `s` in `net`. Lock-free; any context.
///
/// `net` must be a live namespace, as for every function of this module.
// Used by the bypass and handoff layers.
#[allow(dead_code)]
#[inline]
pub(crate) fn add(net: *const bindings::net, s: Stat, n: u64) {
    of(net).counter(s).fetch_add(n, Ordering::Relaxed);
}

/// Adds one to `s` in `net`. Lock-free; any context.
#[inline]
pub(crate) fn inc(net: *const bindings::net, s: Stat) {
    add(net, s, 1);
}

/// Subtracts one from `s` in `net`, for gauges ([`Stat::Offloaded`]).
/// Lock-free; any context. Each `dec` must pair with an earlier `inc`.
#[inline]
pub(crate) fn dec(net: *const bindings::net, s: Stat) {
    of(net).counter(s).fetch_sub(1, Ordering::Relaxed);
}

/// Adds one to the gauge `s` in `net` unless it is already at `limit`;
/// whether it did. Atomic against concurrent callers, so a limit holds
/// exactly (`max_conns`).
pub(crate) fn inc_below(net: *const bindings::net, s: Stat, limit: u64) -> bool {
    of(net)
        .counter(s)
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            (v < limit).then_some(v + 1)
        })
        .is_ok()
}

/// `show` of `/proc/net/handoff_stat`: one `name value` line per statistic.
unsafe extern "C" fn show(seq: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: the file was created by `proc_create_net_single`, whose open
    // stores the namespace (with a reference held) in the seq_file.
    let net = unsafe { bindings::handoff_seq_file_single_net(seq) };
    let stats = of(net);
    for &s in Stat::ALL {
        let mut line = [0u8; 64];
        let mut digits = [0u8; 20];
        let name = s.name().as_bytes();
        let value = text::decimal(stats.counter(s).load(Ordering::Relaxed), &mut digits);
        let len = name.len() + 1 + value.len() + 1;
        line[..name.len()].copy_from_slice(name);
        line[name.len()] = b' ';
        line[name.len() + 1..len - 1].copy_from_slice(value);
        line[len - 1] = b'\n';
        // SAFETY: `seq` is the live seq_file `show` was called with and
        // `line[..len]` is initialised. On overflow the seq_file core
        // retries with a larger buffer, so the result needs no handling.
        unsafe { bindings::seq_write(seq, line.as_ptr().cast(), len) };
    }
    0
}

/// Creates `/proc/net/handoff_stat` in `net`.
///
/// # Safety
///
/// `net` is a namespace whose `net_init` is running; [`remove_proc`] is
/// called before its `NetState` is freed.
pub(crate) unsafe fn create_proc(net: *mut bindings::net) -> Result {
    // SAFETY: `net` is live (contract), so `proc_net` is its /proc/net
    // directory; the name is a NUL-terminated literal and `show` stays valid
    // until `remove_proc` (module text outlives every namespace's state).
    let pde = unsafe {
        bindings::proc_create_net_single(
            c"handoff_stat".as_ptr(),
            0o444,
            (*net).proc_net,
            Some(show),
            core::ptr::null_mut(),
        )
    };
    if pde.is_null() {
        return Err(ENOMEM);
    }
    Ok(())
}

/// Removes `/proc/net/handoff_stat` from `net`, waiting for readers.
///
/// # Safety
///
/// `net` is a namespace for which [`create_proc`] succeeded and this was not
/// called yet.
pub(crate) unsafe fn remove_proc(net: *mut bindings::net) {
    // SAFETY: the entry exists (contract) and `proc_net` is still live.
    unsafe { bindings::remove_proc_entry(c"handoff_stat".as_ptr(), (*net).proc_net) };
}

// Every stat name plus a value fits a `show` line.
const _: () = {
    let mut i = 0;
    while i < Stat::COUNT {
        assert!(Stat::ALL[i].name().len() + 22 <= 64);
        assert!(Stat::ALL[i] as usize == i);
        i += 1;
    }
};
