// SPDX-License-Identifier: GPL-2.0

//! tcp_handoff: TCP offload through connection handoff.
//!
//! The OS side of the design in `Documentation/`: it owns the per-network-
//! namespace control plane (`net.handoff.*` sysctls). Later parts (the bypass
//! ULP, handoff/restore, the hnic driver) hang off the same module.

mod accept;
mod bindings;
mod bypass;
mod conn;
mod control;
mod cstatic;
mod errno;
/// The NIC firmware (`firmware-sim/`), compiled into the module.
#[path = "../firmware-sim/src/lib.rs"]
#[allow(unused_attributes, unused_imports, dead_code, unreachable_pub)]
mod firmware;
mod handoff;
mod netns;
mod policy;
mod route;
mod stats;
mod sys;
mod sysctl;
mod text;
mod ulp;
#[path = "../vnic/mod.rs"]
mod vnic;

use kernel::prelude::*;

/// Version reported by `net.handoff.version` and on load.
pub(crate) const VERSION: &CStr = kernel::c_str!("0.1.0");

module! {
    type: TcpHandoff,
    name: "tcp_handoff",
    author: "tcp-handoff developers",
    description: "TCP offload through connection handoff",
    license: "GPL",
}

struct TcpHandoff {
    // Dropped in declaration order: the accept probe first (no new
    // offloads), then the ULP, hnic devices, and the sysctls last.
    _accept: accept::Registration,
    _ulp: ulp::Registration,
    _hnic: vnic::Registration,
    _pernet: netns::PernetRegistration,
}

impl kernel::Module for TcpHandoff {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        conn::registry::init();
        let pernet = netns::PernetRegistration::new()?;
        let hnic = vnic::Registration::new(control::restore_device)?;
        let ulp = ulp::Registration::new()?;
        let accept = accept::Registration::new()?;
        pr_info!("version {} loaded\n", VERSION);
        Ok(TcpHandoff {
            _accept: accept,
            _ulp: ulp,
            _hnic: hnic,
            _pernet: pernet,
        })
    }
}

impl Drop for TcpHandoff {
    fn drop(&mut self) {
        // `_pernet` is dropped after this body runs: the sysctls of every
        // namespace are gone once the module's exit returns.
        pr_info!("version {} unloading\n", VERSION);
        // No new offloads from here: the accept probe goes first (field
        // order), then every connection comes back to the host before the
        // ULP and the devices go.
        self._accept.stop();
        self._ulp.stop();
        control::shutdown();
    }
}
