// SPDX-License-Identifier: GPL-2.0

//! `ethtool -S hnicN`: the bus, firmware and wire counters, then gauges of
//! ring occupancy and NIC resources.

use core::ffi::{c_char, c_int};

use super::counters::{COUNT, NAMES};
use super::device::nic_of;
use super::nic::{self, Nic};
use crate::bindings;

const GAUGES: &[&str] = &[
    "ring_tx_used",
    "ring_rx_used",
    "wire_queue_used",
    "ring_tx_size",
    "ring_rx_size",
    "wire_queue_size",
    "fw_nic_mem_bytes",
    "fw_max_conns",
    "fw_live_conns",
    "fw_cpu",
];

fn gauges(nic: &Nic, out: &mut [u64]) {
    let values = [
        u64::from(nic.tx.used()),
        u64::from(nic.rx.used()),
        u64::from(nic.wire_in.used()),
        u64::from(nic::TX_RING),
        u64::from(nic::RX_RING),
        u64::from(nic::WIRE_QUEUE),
        nic.nic_mem as u64,
        nic.max_conns() as u64,
        u64::from(nic.live_conns.load(core::sync::atomic::Ordering::Relaxed)),
        u64::from(nic::firmware_cpu()),
    ];
    for (o, v) in out.iter_mut().zip(values) {
        *o = v;
    }
}

const ETH_GSTRING_LEN: usize = 32;

unsafe extern "C" fn get_sset_count(_dev: *mut bindings::net_device, sset: c_int) -> c_int {
    if sset == bindings::ethtool_stringset_ETH_SS_STATS as c_int {
        (COUNT + GAUGES.len() + nic::FW_TCP_COUNTERS) as c_int
    } else {
        -(bindings::EOPNOTSUPP as c_int)
    }
}

unsafe extern "C" fn get_strings(_dev: *mut bindings::net_device, sset: u32, buf: *mut u8) {
    if sset != bindings::ethtool_stringset_ETH_SS_STATS {
        return;
    }
    let fw_tcp = crate::firmware::Counters::NAMES
        .iter()
        .map(|n| ("fw_tcp_", *n));
    let names = NAMES.iter().chain(GAUGES).map(|n| ("", *n)).chain(fw_tcp);
    for (i, (prefix, name)) in names.enumerate() {
        let mut at = 0;
        for part in [prefix, name] {
            let n = part.len().min(ETH_GSTRING_LEN - 1 - at);
            // SAFETY: the core sized `buf` for `get_sset_count` strings of
            // ETH_GSTRING_LEN bytes each (zeroed); `at + n` stays below it.
            unsafe {
                core::ptr::copy_nonoverlapping(part.as_ptr(), buf.add(i * ETH_GSTRING_LEN + at), n)
            };
            at += n;
        }
        // SAFETY: as above; `at` < ETH_GSTRING_LEN.
        unsafe { *buf.add(i * ETH_GSTRING_LEN + at) = 0 };
    }
}

unsafe extern "C" fn get_ethtool_stats(
    dev: *mut bindings::net_device,
    _stats: *mut bindings::ethtool_stats,
    data: *mut u64,
) {
    // SAFETY: ethtool runs under RTNL on a registered hnic device.
    let nic = unsafe { nic_of(dev) };
    // SAFETY: `data` has room for `get_sset_count` values.
    let out = unsafe {
        core::slice::from_raw_parts_mut(data, COUNT + GAUGES.len() + nic::FW_TCP_COUNTERS)
    };
    let (counters, rest) = out.split_at_mut(COUNT);
    nic.ctr.snapshot(counters);
    let (g, fw_tcp) = rest.split_at_mut(GAUGES.len());
    gauges(nic, g);
    for (o, c) in fw_tcp.iter_mut().zip(nic.fw_tcp.iter()) {
        *o = c.load(core::sync::atomic::Ordering::Relaxed);
    }
}

unsafe extern "C" fn get_drvinfo(
    _dev: *mut bindings::net_device,
    info: *mut bindings::ethtool_drvinfo,
) {
    fn put(dst: &mut [c_char], s: &[u8]) {
        for (d, c) in dst.iter_mut().zip(s.iter().chain(core::iter::once(&0))) {
            *d = *c as c_char;
        }
    }
    // SAFETY: `info` is the caller's buffer.
    unsafe {
        put(&mut (*info).driver, b"hnic");
        put(&mut (*info).version, crate::VERSION.as_bytes());
        put(&mut (*info).fw_version, b"firmware-sim");
        put(&mut (*info).bus_info, b"virtual");
    }
}

/// The hnic ethtool operations.
pub(crate) static ETHTOOL_OPS: bindings::ethtool_ops = bindings::ethtool_ops {
    get_drvinfo: Some(get_drvinfo),
    get_link: Some(bindings::ethtool_op_get_link),
    get_sset_count: Some(get_sset_count),
    get_strings: Some(get_strings),
    get_ethtool_stats: Some(get_ethtool_stats),
    // SAFETY: an all-zero `ethtool_ops` supports nothing else.
    ..unsafe { core::mem::zeroed() }
};
