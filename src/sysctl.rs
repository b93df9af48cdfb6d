// SPDX-License-Identifier: GPL-2.0

//! The `net.handoff.*` sysctl knobs (documented in Documentation/sysctl.rst).

use core::ffi::c_int;

use crate::bindings;

/// Number of entries in each namespace's `net.handoff` table.
pub(crate) const ENTRIES: usize = 1;

/// A fresh copy of the table, for one namespace.
pub(crate) fn table() -> [bindings::ctl_table; ENTRIES] {
    let version = crate::VERSION.as_bytes_with_nul();
    [bindings::ctl_table {
        procname: c"version".as_ptr(),
        // `proc_dostring` only reads through `data` because the entry is
        // read-only (0444): no write reaches the handler.
        data: version.as_ptr() as *mut core::ffi::c_void,
        maxlen: version.len() as c_int,
        mode: 0o444,
        proc_handler: Some(bindings::proc_dostring),
        ..Default::default()
    }]
}
