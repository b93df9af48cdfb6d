// SPDX-License-Identifier: GPL-2.0

//! The `net.handoff.*` sysctl knobs (documented in Documentation/sysctl.rst).

use core::ffi::{c_int, c_void};
use core::ptr;
use core::slice;

use kernel::prelude::*;

use crate::bindings;
use crate::policy::{self, Policy, Ports};
use crate::text::{self, Range};

/// Number of entries in each namespace's `net.handoff` table.
pub(crate) const ENTRIES: usize = 6;

/// Bounds for `proc_dointvec_minmax`, which only reads them (`extra1` and
/// `extra2` are `void *` in C, hence the casts to `*mut` below).
static ZERO: c_int = 0;
static ONE: c_int = 1;
static MAX_CONNS: c_int = policy::MAX_CONNS;

fn bound(v: &'static c_int) -> *mut c_void {
    (v as *const c_int).cast_mut().cast()
}

/// A fresh copy of the table, for one namespace whose policy is `policy`.
///
/// The entries point into `policy`, which must stay at its address until the
/// table is unregistered. Writable entries point into the namespace's state,
/// not at module data, so `ensure_safe_net_sysctl` keeps them writable in
/// every namespace.
pub(crate) fn table(policy: &Policy, net: *mut bindings::net) -> [bindings::ctl_table; ENTRIES] {
    let version = crate::VERSION.as_bytes_with_nul();
    [
        bindings::ctl_table {
            procname: c"version".as_ptr(),
            // `proc_dostring` only reads through `data` because the entry is
            // read-only (0444): no write reaches the handler.
            data: version.as_ptr() as *mut c_void,
            maxlen: version.len() as c_int,
            mode: 0o444,
            proc_handler: Some(bindings::proc_dostring),
            ..Default::default()
        },
        bindings::ctl_table {
            procname: c"enabled".as_ptr(),
            data: policy.enabled.as_ptr().cast(),
            maxlen: core::mem::size_of::<c_int>() as c_int,
            mode: 0o644,
            proc_handler: Some(bindings::proc_dointvec_minmax),
            extra1: bound(&ZERO),
            extra2: bound(&ONE),
            ..Default::default()
        },
        bindings::ctl_table {
            procname: c"ports".as_ptr(),
            data: (&policy.ports as *const Ports).cast_mut().cast(),
            // Informational only: `proc_ports` enforces the limit.
            maxlen: (text::MAX_LEN + 1) as c_int,
            mode: 0o644,
            proc_handler: Some(proc_ports),
            ..Default::default()
        },
        bindings::ctl_table {
            procname: c"max_conns".as_ptr(),
            data: policy.max_conns.as_ptr().cast(),
            maxlen: core::mem::size_of::<c_int>() as c_int,
            mode: 0o644,
            proc_handler: Some(bindings::proc_dointvec_minmax),
            extra1: bound(&ZERO),
            extra2: bound(&MAX_CONNS),
            ..Default::default()
        },
        // Write-only actions on connections (`control/`); `extra1` names
        // the namespace, a non-null `extra2` selects "offload".
        bindings::ctl_table {
            procname: c"restore".as_ptr(),
            data: ptr::null_mut(),
            maxlen: 256,
            mode: 0o200,
            proc_handler: Some(crate::control::proc_control),
            extra1: net.cast(),
            ..Default::default()
        },
        bindings::ctl_table {
            procname: c"offload".as_ptr(),
            data: ptr::null_mut(),
            maxlen: 256,
            mode: 0o200,
            proc_handler: Some(crate::control::proc_control),
            extra1: net.cast(),
            extra2: bound(&ONE),
            ..Default::default()
        },
    ]
}

/// Writes `input` (the whole value, from file position `pos`) to `ports`.
///
/// All or nothing: invalid text is `EINVAL` and leaves the set unchanged.
/// Only whole writes at position 0 are accepted (a continuation write, at
/// `pos != 0`, is `EINVAL`), unlike `proc_dostring`, which appends.
fn write_ports(ports: &Ports, input: &[u8], pos: i64) -> Result {
    if pos != 0 {
        return Err(EINVAL);
    }
    let mut ranges = [Range::default(); text::MAX_ITEMS];
    let spec = text::parse_ports(input, &mut ranges).map_err(|_| EINVAL)?;
    ports.set(spec, &ranges);
    Ok(())
}

/// Reads the normalized value of `ports` from file position `pos` into
/// `out`, followed by a newline if there is room, as `proc_dostring` does.
/// Returns the number of bytes written.
fn read_ports(ports: &Ports, out: &mut [u8], pos: i64) -> Result<usize> {
    let mut value = [0u8; text::MAX_LEN + 1];
    let len = ports.format(&mut value)?;
    let pos = usize::try_from(pos).map_err(|_| EINVAL)?;
    if pos > len {
        return Ok(0);
    }
    let n = (len - pos).min(out.len());
    out[..n].copy_from_slice(&value[pos..pos + n]);
    if n < out.len() {
        out[n] = b'\n';
        return Ok(n + 1);
    }
    Ok(n)
}

/// `proc_handler` of `net.handoff.ports`.
///
/// # Safety
///
/// Called by the sysctl core only: `ctl` is the `ports` entry of a table
/// from [`table`] (its `data` a live [`Ports`]), `buffer` a kernel buffer of
/// `*lenp` bytes, `lenp` and `ppos` valid.
unsafe extern "C" fn proc_ports(
    ctl: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: `ctl` is our `ports` entry (contract), whose `data` points to
    // the namespace's `Ports`, live while the table is registered; `Ports`
    // is only mutated through atomics and its lock.
    let ports = unsafe { &*(*ctl).data.cast::<Ports>() };
    // SAFETY: `lenp` and `ppos` are valid (contract).
    let (len, pos) = unsafe { (*lenp, *ppos) };
    if len == 0 {
        return 0;
    }
    // SAFETY: `buffer` holds `len` bytes (contract); since 5.8 it is a
    // kernel buffer, not a user pointer, and nothing else uses it during
    // this call.
    let buf = unsafe { slice::from_raw_parts_mut(buffer.cast::<u8>(), len) };
    let result = if write != 0 {
        // The whole buffer is consumed.
        write_ports(ports, buf, pos).map(|()| len)
    } else {
        read_ports(ports, buf, pos)
    };
    match result {
        Ok(n) => {
            // SAFETY: `lenp` and `ppos` are valid (contract).
            unsafe {
                *lenp = n;
                *ppos += n as bindings::loff_t;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}
